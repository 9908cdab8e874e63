"""Seconds per lesson and in total for the whole course at a profile (target: every lesson together in 5 minutes on 2 cores).

    python bench/course_time.py [--profile ci]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import report  # noqa: E402

from course_utils.instructor import runner  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="ci")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as out:
        for stem in runner.available_notebooks():
            outcome = runner.run_notebook(stem, args.profile, {}, Path(out), progress=False)
            rows.append({"notebook": stem, "status": outcome.status, "seconds": round(outcome.seconds, 1)})
            print(f"{stem}: {outcome.status} {outcome.seconds:.1f} s", flush=True)
    total = sum(row["seconds"] for row in rows)
    rows.append({"notebook": "total", "status": "", "seconds": round(total, 1)})
    report(f"course_time_{args.profile}", rows, {"total_seconds": total, "target_seconds": 300})
    print(f"\ntotal {total:.0f} s against a target of 300 s: {'within' if total <= 300 else 'OVER'} target")


if __name__ == "__main__":
    main()
