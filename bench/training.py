"""Training speed and memory of full / LoRA / QLoRA on a 135 M-parameter Llama shape, next to the estimator.

Each method runs in its own process so resident memory is measured cleanly. Memory is measured as
tensors, the way the estimator counts it: on one training step, the peak in the forward pass, the
backward pass and the optimizer step (`course_utils.memory.TensorMemory`: the profiler's allocation
events on CPU, `torch.cuda.max_memory_allocated` on a GPU). Resident memory (RSS) is reported too.

    python bench/training.py [--steps 6] [--batch-size 4] [--seq-len 128] [--device cpu|cuda] [--return-freed-memory]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import report, smollm2_135m_folder  # noqa: E402
from transformers import TrainerCallback  # noqa: E402

METHODS = ("full", "lora", "qlora")
RETURN_FREED = {"MALLOC_MMAP_THRESHOLD_": "65536", "MALLOC_TRIM_THRESHOLD_": "0"}  # glibc: large blocks via mmap, trim at once


class StepMemory(TrainerCallback):
    """Trainer callback: times every step and measures tensor memory by phase on step `step` (0-based)."""

    def __init__(self, step: int, device: str) -> None:
        self.step, self.device = step, device
        self.meter: Any = None
        self.phases: dict[str, float] = {}
        self.peak_mb = 0.0
        self.step_seconds: list[float] = []

    def on_step_begin(self, args: Any, state: Any, control: Any, model: Any = None, optimizer: Any = None, **_: Any) -> None:
        from course_utils import memory

        self.started = time.perf_counter()
        if state.global_step == self.step:
            baseline = 0.0 if self.device == "cuda" else memory.tensor_mb(model, optimizer)
            self.meter = memory.TensorMemory(self.device, baseline_mb=baseline).start()
            self.hook = model.register_forward_hook(lambda *_: self.meter.phase("backward"))
            self.meter.phase("forward")

    def on_pre_optimizer_step(self, *_: Any, **__: Any) -> None:
        if self.meter is not None:
            self.meter.phase("optimizer")

    def on_optimizer_step(self, *_: Any, **__: Any) -> None:
        if self.meter is not None:
            self.meter.stop()
            self.hook.remove()
            self.phases, self.peak_mb, self.meter = dict(self.meter.peaks), self.meter.peak_mb, None

    def on_step_end(self, args: Any, state: Any, *_: Any, **__: Any) -> None:
        if state.global_step - 1 != self.step:  # the profiled step is slower, so it is left out of the timing
            self.step_seconds.append(time.perf_counter() - self.started)


def mean_answer_tokens(tokenizer: Any, rows: list[dict[str, str]]) -> float:
    """Mean tokens of the answer trl trains on (the templated conversation less its prompt), over `rows`."""
    from course_utils import data

    labels = data.label_set(rows)
    lengths = []
    for row in rows:
        messages = data.tone_messages(row, labels)
        prompt = tokenizer.apply_chat_template(messages["prompt"], tokenize=False, add_generation_prompt=True)
        whole = data.conversation_text(tokenizer, row, labels)
        lengths.append(len(tokenizer(whole, add_special_tokens=False)["input_ids"])
                       - len(tokenizer(prompt, add_special_tokens=False)["input_ids"]))
    return sum(lengths) / len(lengths)


def measure(method: str, steps: int, batch_size: int, seq_len: int, device: str) -> dict:
    """One method in this process: load, train, and the estimate for the same shape."""
    import torch
    from transformers import AutoConfig

    from course_utils import config, data, memory, models, quantization, train

    folder = str(smollm2_135m_folder())
    on_gpu = device == "cuda"
    with memory.PeakMemory(device) as load:
        if method == "qlora":
            model = quantization.load_4bit(folder, device=device, for_training=True)
        else:
            model = models.load_model(folder, dtype=torch.bfloat16 if on_gpu else torch.float32, device=device)
    shape = memory.model_from_config(AutoConfig.from_pretrained(folder))
    total_params = sum(p.numel() for p in shape.parameters())
    linear_params = memory.quantizable_parameter_count(shape)
    tokenizer = models.load_tokenizer(folder)
    rows = data.load_tone("data/tone/train.jsonl", limit=batch_size * steps)
    params = config.resolve_params("cpu", batch_size=batch_size, max_length=seq_len)
    peft_config = None if method == "full" else train.make_peft_config("lora", model, lora_r=8, lora_alpha=16)
    callback = StepMemory(step=1, device=device)
    result = train.fine_tune(model, tokenizer, data.tone_dataset(rows, data.label_set(rows)), params,
                             Path("runs/bench/trainer"), peft_config, max_steps=steps, callbacks=[callback],
                             pad_to_multiple_of=seq_len, disable_tqdm=True, logging_strategy="no")
    # Where trl's head scored only the answer's positions (train.fine_tune asks for it on a CPU too), the estimate
    # counts those positions: a batch's answer tokens, from the mean over the rows trained on.
    head_tokens = round(batch_size * mean_answer_tokens(tokenizer, rows)) if result.head_on_answer_positions else None
    estimate = memory.estimate_training_memory(model.config, total_params, result.trainable_params, batch_size, seq_len,
                                               weight_bytes=2 if on_gpu and method != "qlora" else 4, activation_bytes=2 if on_gpu else 4,
                                               quantized_params=linear_params if method == "qlora" else 0,
                                               lm_head=f"trl-{device}", head_tokens=head_tokens)
    seconds = sorted(callback.step_seconds)[len(callback.step_seconds) // 2]
    measured = callback.peak_mb
    return {"method": method, "tokens_per_s": result.tokens_seen / result.steps / seconds, "s_per_step": seconds,
            "load_rss_mb": load.increase_mb, **{f"{k}_mb": v for k, v in callback.phases.items()},
            "peak_mb": measured, "estimate_mb": estimate.total_mb, "error_pct": 100 * (estimate.total_mb - measured) / measured,
            "rss_peak_mb": result.peak_memory_mb - load.start_mb, "rss_file_mb": rss_file_mb(),
            "estimate_parts": estimate.as_dict()}


def rss_file_mb() -> float:
    """Resident memory backed by mapped files (safetensors weights, shared libraries) now, in MB (Linux only)."""
    status = Path("/proc/self/status")
    lines = [line.split()[1] for line in status.read_text().splitlines() if line.startswith("RssFile:")] if status.exists() else []
    return int(lines[0]) / 1024 if lines else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--seq-len", type=int, default=128)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--return-freed-memory", action="store_true",
                        help="run each method with glibc told to hand freed memory back to the OS at once, "
                             "so resident memory shows what the allocator would otherwise keep")
    parser.add_argument("--child", choices=METHODS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print("RESULT " + json.dumps(measure(args.child, args.steps, args.batch_size, args.seq_len, args.device)))
        return
    rows = []
    for method in METHODS:
        command = [sys.executable, __file__, "--child", method, "--steps", str(args.steps), "--batch-size",
                   str(args.batch_size), "--seq-len", str(args.seq_len), "--device", args.device]
        env = {**os.environ, **(RETURN_FREED if args.return_freed_memory else {})}
        finished = subprocess.run(command, capture_output=True, text=True, env=env)
        lines = [line for line in finished.stdout.splitlines() if line.startswith("RESULT ")]
        if not lines:
            raise SystemExit(f"{method} failed:\n{finished.stderr[-3000:]}")
        rows.append(json.loads(lines[0][len("RESULT "):]))
        print(f"{method}: done", flush=True)
    parts = {row["method"]: row.pop("estimate_parts") for row in rows}
    name = f"training_{args.device}" + ("_return_freed" if args.return_freed_memory else "")
    report(name, rows, {"estimate_parts_mb": parts, "shape": "SmolLM2-135M (random init)", "batch_size": args.batch_size,
                        "seq_len": args.seq_len, "steps": args.steps,
                        "malloc_env": RETURN_FREED if args.return_freed_memory else {}})


if __name__ == "__main__":
    main()
