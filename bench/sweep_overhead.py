"""A sweep point against a plain `course run` of the same lesson and parameters (target: under 10 % overhead).

    python bench/sweep_overhead.py [--lesson 03_lora] [--repeats 2] [-p max_steps 4 ...]

Alternates the two (run, sweep, run, sweep, ...) so that drift on a noisy machine falls on both, and compares
the medians. A sweep point adds only its bookkeeping (point.json, the tables, the summary and the plot).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import report  # noqa: E402

from course_utils.instructor import labs, runner  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lesson", default="03_lora")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("-p", "--param", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"))
    args = parser.parse_args()
    fixed = {name: runner.parse_value(value) for name, value in args.param}
    seconds: dict[str, list[float]] = {"course run": [], "course sweep (1 point)": []}
    for repeat in range(args.repeats):
        with tempfile.TemporaryDirectory() as out:
            started = time.perf_counter()
            outcome = runner.run_notebook(args.lesson, "ci", fixed, Path(out) / "run", progress=False)
            seconds["course run"].append(time.perf_counter() - started)
            assert outcome.status == "ok", outcome.detail
            started = time.perf_counter()
            table = labs.run_sweep(args.lesson, {"seed": [0]}, Path(out) / "sweep", "ci", fixed)
            seconds["course sweep (1 point)"].append(time.perf_counter() - started)
            assert (table["status"] == "ok").all()
        print(f"repeat {repeat + 1}: " + ", ".join(f"{k} {v[-1]:.1f} s" for k, v in seconds.items()), flush=True)
    medians = {name: statistics.median(values) for name, values in seconds.items()}
    overhead = medians["course sweep (1 point)"] / medians["course run"] - 1
    rows = [{"how": name, "median seconds": round(median, 2), "runs": [round(v, 1) for v in seconds[name]]}
            for name, median in medians.items()]
    report("sweep_overhead", rows, {"lesson": args.lesson, "overhead": overhead, "target": 0.10})
    print(f"\nsweep point overhead: {overhead:+.1%} against a target of under 10 %: "
          f"{'within' if overhead < 0.10 else 'OVER'} target")


if __name__ == "__main__":
    main()
