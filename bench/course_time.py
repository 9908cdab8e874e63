"""Seconds per lesson and in total for the whole course at a profile (targets on 2 cores: 5 minutes at ci, 60 at cpu).

    python bench/course_time.py [--profile ci]

The machine's speed is probed before and after the lessons (`common.speed_probe`): the same machine runs up to 1.5x
slower on some hours, so a total is read beside the probe of its own run.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import report, speed_probe  # noqa: E402

from course_utils.instructor import runner  # noqa: E402


TARGET_SECONDS = {"ci": 300, "cpu": 3600}  # every lesson together: the ci course, and issue 25's laptop budget


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="ci")
    args = parser.parse_args()
    rows = []
    probe_before = speed_probe()
    print(f"speed probe: {probe_before:.3f} s", flush=True)
    with tempfile.TemporaryDirectory() as out:
        for stem in runner.available_notebooks():
            outcome = runner.run_notebook(stem, args.profile, {}, Path(out), progress=False)
            rows.append({"notebook": stem, "status": outcome.status, "seconds": round(outcome.seconds, 1)})
            print(f"{stem}: {outcome.status} {outcome.seconds:.1f} s", flush=True)
    total = sum(row["seconds"] for row in rows)
    probe_after = speed_probe()
    rows.append({"notebook": "total", "status": "", "seconds": round(total, 1)})
    target = TARGET_SECONDS.get(args.profile)
    report(f"course_time_{args.profile}", rows, {"total_seconds": total, "target_seconds": target,
                                                 "speed_probe_seconds": [probe_before, probe_after]})
    verdict = "no target" if target is None else f"{'within' if total <= target else 'OVER'} its target of {target} s"
    print(f"\ntotal {total:.0f} s, {verdict}; speed probe {probe_before:.3f} s before, {probe_after:.3f} s after "
          "(lower is faster)")


if __name__ == "__main__":
    main()
