"""Overhead of course_utils.train.fine_tune against the same training written with trl and peft directly.

Both train LoRA on course-tiny with identical SFTConfig values; runs alternate, and the median is compared.

    python bench/overhead.py [--steps 40] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, report  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    from peft import LoraConfig
    from transformers import set_seed
    from trl import SFTConfig, SFTTrainer

    from course_utils import config, data, models, train

    params = config.resolve_params("ci", max_steps=args.steps)
    tokenizer = models.load_tokenizer()
    rows = data.load_tone("data/tone/train.jsonl")
    dataset = data.tone_dataset(rows, data.label_set(rows))
    work = ROOT / "runs" / "bench" / "overhead"
    targets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]

    def with_course_utils() -> float:
        set_seed(0)
        model = models.load_model()
        peft_config = train.make_peft_config("lora", model)
        started = time.perf_counter()
        train.fine_tune(model, tokenizer, dataset, params, work, peft_config, disable_tqdm=True,
                        logging_strategy="no")
        return time.perf_counter() - started

    def with_trl_and_peft() -> float:
        set_seed(0)
        model = models.load_model()
        started = time.perf_counter()
        trainer = SFTTrainer(
            model=model, processing_class=tokenizer, train_dataset=dataset,
            peft_config=LoraConfig(r=8, lora_alpha=16, target_modules=targets, task_type="CAUSAL_LM"),
            args=SFTConfig(output_dir=str(work), max_steps=args.steps, per_device_train_batch_size=params.batch_size,
                           learning_rate=params.peft_learning_rate, lr_scheduler_type="cosine",
                           warmup_steps=max(1, args.steps // 10), logging_steps=max(1, args.steps // 20),
                           max_length=params.max_length, completion_only_loss=True, activation_checkpointing=False,
                           save_strategy="no", report_to=[], seed=0, data_seed=0, use_cpu=True,
                           include_num_input_tokens_seen="non_padding", disable_tqdm=True,
                           logging_strategy="no"),
        )
        trainer.train()
        return time.perf_counter() - started

    timings = {"course_utils": [], "trl+peft": []}
    for _ in range(args.repeats):
        timings["course_utils"].append(with_course_utils())
        timings["trl+peft"].append(with_trl_and_peft())
    medians = {name: statistics.median(values) for name, values in timings.items()}
    overhead = 100 * (medians["course_utils"] / medians["trl+peft"] - 1)
    rows = [{"path": name, "median_s": medians[name], "s_per_step": medians[name] / args.steps,
             "runs_s": ", ".join(f"{t:.2f}" for t in timings[name])} for name in timings]
    report("overhead", rows, {"overhead_pct": overhead, "target_pct": 5})
    print(f"\ncourse_utils overhead: {overhead:+.1f} % (target <= 5 %)")


if __name__ == "__main__":
    main()
