"""One Olive command offline, with Olive's own telemetry switch only and with the course's environment, side by side.

    python bench/olive_start.py [--rounds 3]

Olive 0.13 queues a telemetry heartbeat when it starts, before it reads `--disable_telemetry` or
`OLIVE_DISABLE_TELEMETRY`, and sends it on exit; offline, the send waits on DNS lookups of its host. It skips the
heartbeat only where it sees a CI variable, so `course_utils.olive.run` sets one (`olive.TELEMETRY_OFF`). The command
timed is lesson 05's on-purpose mistake (`olive auto-opt` with an adapter folder that does not exist) on a copy of
course-tiny: it fails after Olive has started and loaded the model, so it times Olive's start and exit alone. The
two ways alternate (`--rounds` of each) so that a slow spell of the machine hits both; the table gives the median
seconds and the ratio.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import report  # noqa: E402

CI_VARIABLES = ("CI", "TF_BUILD", "GITHUB_ACTIONS", "JENKINS_URL", "CODEBUILD_BUILD_ID", "BUILDKITE",
                "SYSTEM_TEAMFOUNDATIONCOLLECTIONURI")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    from course_utils import models, olive

    executable = olive.olive_executable()
    if executable is None:
        sys.exit("the Olive environment is missing: run `make olive` first")
    plain = {key: value for key, value in os.environ.items() if key not in CI_VARIABLES}
    plain |= {"HF_HUB_OFFLINE": "1", "PYTHONWARNINGS": "ignore"}
    ways = {"Olive's switch only": plain | {"OLIVE_DISABLE_TELEMETRY": "1"},
            "course_utils.olive": plain | olive.TELEMETRY_OFF}
    seconds: dict[str, list[float]] = {name: [] for name in ways}
    with tempfile.TemporaryDirectory() as work:
        base = olive.loadable_model_copy(models.build_course_tiny(), Path(work) / "base-model")
        command = [str(executable), "auto-opt", "-m", str(base), "--adapter_path", str(Path(work) / "no-such-adapter"),
                   "--device", "cpu", "--provider", "CPUExecutionProvider", "--use_model_builder", "--use_ort_genai",
                   "--precision", "int4", "-o", str(Path(work) / "bad-run"), "--disable_telemetry"]
        for _ in range(args.rounds):
            for name, env in ways.items():
                started = time.perf_counter()
                done = subprocess.run(command, cwd=work, env=env, capture_output=True, text=True)
                seconds[name].append(time.perf_counter() - started)
                if "no-such-adapter" not in done.stdout + done.stderr:
                    sys.exit(f"{name}: Olive did not fail on the missing adapter as expected:\n{done.stderr[-2000:]}")
    slow, fast = (statistics.median(seconds[name]) for name in ways)
    rows = [{"environment": name, "median s": round(statistics.median(values), 2),
             "runs": ", ".join(f"{v:.1f}" for v in values)} for name, values in seconds.items()]
    rows.append({"environment": "ratio (Olive's switch only / course)", "median s": round(slow / fast, 2), "runs": ""})
    report("olive_start", rows)


if __name__ == "__main__":
    main()
