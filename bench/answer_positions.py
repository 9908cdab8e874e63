"""trl's LM head scoring every position against only the answer's positions, on a CPU, side by side in one run.

    python bench/answer_positions.py [--model smollm2-135m-instruct|course-tiny|PATH] [--steps 6]
                                     [--methods lora,ia3,full,dpo,qlora] [--rounds 2]

trl 1.16's SFTTrainer sends the last hidden states through the LM head in vocabulary chunks. On CUDA it keeps only the
positions whose label counts (the answer's); on a CPU it scores every position, the prompt's included, and masks the
rest out afterwards. `compat.head_on_answer_positions()` makes it keep only the answer's positions on a CPU too;
`train.fine_tune` uses it for every method, lesson 09 around its DPO runs. Each method is trained from the same seed
on the same examples both ways, alternating (`--rounds` of each) so that a slow spell of the machine hits both, with
the profile's settings (cpu: 8 examples a step in 2 micro-batches of 4). The table gives the median seconds per
optimizer step, the ratio, and whether the trained weights are the same bit for bit (else the largest difference).

`dpo` is lesson 09's DPO with a fresh LoRA adapter (trl's DPOTrainer, which scores both answers of a pair and the
reference's through the same head): the lesson's pairs, 30-step schedule cut to `--steps`, half the profile's batch
in pairs (cpu: 4 pairs a step, in one pass), a tenth of its LoRA rate. `qlora` is LoRA on the 4-bit NF4 model
(`quantization.load_4bit`, lesson 04).
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import report, speed_probe  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--methods", default="lora,ia3,full,dpo,qlora")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()

    import torch
    from transformers import set_seed
    from trl import DPOConfig, DPOTrainer, SFTTrainer

    from course_utils import compat, config, data, models, quantization, train

    params = config.resolve_params("cpu", model_id=args.model, max_steps=args.steps)
    tokenizer = models.load_tokenizer(params.model_id)
    rows = data.load_tone(params.tone_train)
    labels = data.label_set(rows)
    dataset = data.tone_dataset(rows, labels)
    pairs = data.preference_dataset(data.load_preference(params.preference_train), labels)
    ways = {"every position": contextlib.nullcontext, "answer positions": compat.head_on_answer_positions}
    probe_before = speed_probe()
    out, results = [], {}
    with tempfile.TemporaryDirectory() as work:
        for method in args.methods.split(","):
            seconds: dict[str, list[float]] = {name: [] for name in ways}
            weights: dict[str, dict[str, torch.Tensor]] = {}
            for _ in range(args.rounds):
                for name, way in ways.items():
                    set_seed(params.seed)
                    model = (quantization.load_4bit(params.model_id, for_training=True) if method == "qlora"
                             else models.load_model(params.model_id))
                    peft = None if method == "full" else train.make_peft_config(
                        "lora" if method in ("dpo", "qlora") else method, model)
                    rate = params.learning_rate if method == "full" else params.peft_learning_rate
                    if method == "dpo":  # lesson 09's settings (its cell 13), on a CPU
                        dpo_args = DPOConfig(
                            output_dir=work, beta=0.1, loss_type=["sigmoid"], learning_rate=rate / 10,
                            max_steps=args.steps, per_device_train_batch_size=max(1, params.batch_size // 2),
                            max_length=params.max_length, lr_scheduler_type="cosine",
                            warmup_steps=max(1, args.steps // 10), activation_checkpointing=False, bf16=False,
                            use_cpu=True, report_to=[], save_strategy="no", seed=params.seed, data_seed=params.seed)
                        trainer = DPOTrainer(model=model, args=dpo_args, train_dataset=pairs,
                                             processing_class=tokenizer, peft_config=peft)
                    else:
                        trainer = SFTTrainer(model=model, args=train.sft_config(params, Path(work), args.steps, rate),
                                             train_dataset=dataset, processing_class=tokenizer, peft_config=peft)
                    with way():
                        result = trainer.train()
                    seconds[name].append(result.metrics["train_runtime"] / args.steps)
                    weights[name] = {n: p.detach().clone() for n, p in trainer.model.named_parameters()
                                     if p.requires_grad}
            every, answer = (statistics.median(seconds[name]) for name in ways)
            first, second = weights.values()
            gap = max((first[n] - second[n]).abs().max().item() for n in first)
            results[method] = {"seconds_per_step": seconds, "max_weight_difference": gap}
            out.append({"method": method, "every position s/step": every, "answer positions s/step": answer,
                        "speedup": every / answer, "trained weights": "bit-equal" if gap == 0 else f"{gap:.1e} apart"})
    report(f"answer_positions_{Path(params.model_id).name}", out,
           {"steps": args.steps, "rounds": args.rounds, "speed_probe_s": [probe_before, speed_probe()],
            "runs": results})


if __name__ == "__main__":
    main()
