"""The same optimizer steps in one batch or in micro-batches with gradient accumulation, side by side in one run.

    python bench/micro_batch.py [--model smollm2-135m-instruct|course-tiny|PATH] [--steps 6] [--batch-size 8]
                                [--micro-batches 2] [--methods lora,full] [--rounds 2]

Each optimizer step sees `--batch-size` tone examples either way: "one batch" runs them in one forward and backward
pass, "micro-batches" in `--micro-batches` passes of `batch-size / micro-batches` each (`gradient_accumulation_steps`,
which lesson 08 shows gives the same loss curve). The two are trained from the same seed, on the same examples in
the same order, alternating (`--rounds` of each) so that a slow spell of the machine hits both. The table gives the
median seconds per optimizer step, the ratio, and how far apart the two loss curves are.
"""

from __future__ import annotations

import argparse
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
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--micro-batches", type=int, default=2)
    parser.add_argument("--methods", default="lora,full")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()

    from transformers import set_seed

    from course_utils import config, data, models, train

    params = config.resolve_params("cpu", model_id=args.model, batch_size=args.batch_size, max_steps=args.steps)
    tokenizer = models.load_tokenizer(params.model_id)
    rows = data.load_tone(params.tone_train)
    labels = data.label_set(rows)
    dataset = data.tone_dataset(rows, labels)
    ways = {"one batch": dict(per_device_train_batch_size=args.batch_size, gradient_accumulation_steps=1),
            "micro-batches": dict(per_device_train_batch_size=args.batch_size // args.micro_batches,
                                  gradient_accumulation_steps=args.micro_batches)}
    probe_before = speed_probe()
    out, results = [], {}
    with tempfile.TemporaryDirectory() as work:
        for method in args.methods.split(","):
            seconds: dict[str, list[float]] = {name: [] for name in ways}
            losses: dict[str, list[float]] = {}
            for _ in range(args.rounds):
                for name, options in ways.items():
                    set_seed(params.seed)
                    model = models.load_model(params.model_id)
                    peft = None if method == "full" else train.make_peft_config(method, model)
                    run = train.fine_tune(model, tokenizer, dataset, params, Path(work) / "trainer", peft,
                                          logging_steps=1, **options)
                    seconds[name].append(run.seconds / run.steps)
                    losses[name] = run.losses
            one, micro = (statistics.median(seconds[name]) for name in ways)
            gap = max(abs(a - b) for a, b in zip(losses["one batch"], losses["micro-batches"]))
            results[method] = {"losses": losses, "seconds_per_step": seconds}
            out.append({"method": method, "one batch s/step": one, "micro-batches s/step": micro,
                        "speedup": one / micro, "max loss gap": gap})
    report(f"micro_batch_{Path(params.model_id).name}", out,
           {"steps": args.steps, "batch_size": args.batch_size, "micro_batches": args.micro_batches,
            "rounds": args.rounds, "speed_probe_s": [probe_before, speed_probe()], "runs": results})


if __name__ == "__main__":
    main()
