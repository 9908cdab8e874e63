"""Training speed and memory of full / LoRA / QLoRA on a 135 M-parameter Llama shape, next to the estimator.

Each method runs in its own process so resident memory is measured cleanly.

    python bench/training.py [--steps 6] [--batch-size 4] [--seq-len 128] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import report, smollm2_135m_folder  # noqa: E402

METHODS = ("full", "lora", "qlora")


def measure(method: str, steps: int, batch_size: int, seq_len: int, device: str) -> dict:
    """One method in this process: load, train, and the estimate for the same shape."""
    import torch

    from course_utils import config, data, memory, models, quantization, train

    folder = str(smollm2_135m_folder())
    on_gpu = device == "cuda"
    weight_bytes = 0.5 if method == "qlora" else (2 if on_gpu else 4)
    before_mb = torch.cuda.memory_allocated() / 2**20 if on_gpu else memory.rss_mb()  # measured before any weights load
    with memory.PeakMemory(device) as load:
        if method == "qlora":
            model = quantization.load_4bit(folder, device=device, for_training=True)
        else:
            model = models.load_model(folder, dtype=torch.bfloat16 if on_gpu else torch.float32, device=device)
    from transformers import AutoConfig

    total_params = sum(p.numel() for p in memory.model_from_config(AutoConfig.from_pretrained(folder)).parameters())
    tokenizer = models.load_tokenizer(folder)
    rows = data.load_tone("data/tone/train.jsonl", limit=batch_size * steps)
    params = config.resolve_params("cpu", batch_size=batch_size, max_length=seq_len)
    peft_config = None if method == "full" else train.make_peft_config("lora", model, lora_r=8, lora_alpha=16)
    result = train.fine_tune(model, tokenizer, data.tone_dataset(rows, data.label_set(rows)), "full" if method == "full" else "lora",
                             params, Path("runs/bench/trainer"), peft_config, max_steps=steps,
                             pad_to_multiple_of=seq_len, disable_tqdm=True, logging_strategy="no")
    estimate = memory.estimate_training_memory(model.config, total_params, result.trainable_params, batch_size, seq_len,
                                               weight_bytes=weight_bytes, activation_bytes=2 if on_gpu else 4)
    measured = result.peak_memory_mb - before_mb
    return {"method": method, "tokens_per_s": result.tokens_per_second, "s_per_step": result.seconds_per_step,
            "load_peak_mb": load.peak_mb - before_mb, "train_peak_mb": measured,
            "estimate_mb": estimate.total_mb, "error_pct": 100 * (estimate.total_mb - measured) / measured}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--seq-len", type=int, default=128)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--child", choices=METHODS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print("RESULT " + json.dumps(measure(args.child, args.steps, args.batch_size, args.seq_len, args.device)))
        return
    rows = []
    for method in METHODS:
        command = [sys.executable, __file__, "--child", method, "--steps", str(args.steps), "--batch-size",
                   str(args.batch_size), "--seq-len", str(args.seq_len), "--device", args.device]
        finished = subprocess.run(command, capture_output=True, text=True)
        lines = [line for line in finished.stdout.splitlines() if line.startswith("RESULT ")]
        if not lines:
            raise SystemExit(f"{method} failed:\n{finished.stderr[-3000:]}")
        rows.append(json.loads(lines[0][len("RESULT "):]))
        print(f"{method}: done", flush=True)
    report(f"training_{args.device}", rows, {"shape": "SmolLM2-135M (random init)", "batch_size": args.batch_size,
                                              "seq_len": args.seq_len, "steps": args.steps})


if __name__ == "__main__":
    main()
