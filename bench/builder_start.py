"""The onnxruntime-genai builder as a process of its own against in this process, side by side in one run.

    python bench/builder_start.py [--models course-tiny,smollm2-135m-instruct] [--precisions fp32,int8,int4]
                                  [--rounds 2]

`export.build_onnx` used to run `python -m onnxruntime_genai.models.builder` as a subprocess (two at a time); it now
calls the builder's `parse_extra_options` and `create_model` in the lesson's kernel, which has already imported torch
and transformers. Each export is built both ways from the same folder with the same options, alternating (`--rounds`
of each), and the files compared byte for byte. The table gives the median seconds, the ratio, and whether the
files were the same. The in-process column is timed after one import of the builder (printed apart).
"""

from __future__ import annotations

import argparse
import filecmp
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import report  # noqa: E402


def same_files(first: Path, second: Path) -> bool:
    names = sorted(p.name for p in first.iterdir())
    if names != sorted(p.name for p in second.iterdir()):
        return False
    return all(filecmp.cmp(first / name, second / name, shallow=False) for name in names if (first / name).is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="course-tiny,smollm2-135m-instruct")
    parser.add_argument("--precisions", default="fp32,int8,int4")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()

    import torch  # noqa: F401  (as in a lesson's kernel: torch and transformers already imported)
    import transformers  # noqa: F401

    from course_utils import export, models

    started = time.perf_counter()
    from onnxruntime_genai.models import builder  # noqa: F401

    import_seconds = time.perf_counter() - started
    print(f"importing the builder in this process: {import_seconds:.2f} s (once)")
    rows = []
    with tempfile.TemporaryDirectory() as work:
        for model_id in args.models.split(","):
            folder = models.local_folder(model_id)
            for precision in args.precisions.split(","):
                seconds: dict[str, list[float]] = {"process": [], "in process": []}
                same = True
                for round_ in range(args.rounds):
                    out = {way: Path(work) / f"{model_id}-{precision}-{way.replace(' ', '-')}-{round_}"
                           for way in seconds}
                    command = export.builder_command(folder, out["process"], precision)
                    began = time.perf_counter()
                    subprocess.run(command, capture_output=True, text=True, check=True)
                    seconds["process"].append(time.perf_counter() - began)
                    began = time.perf_counter()
                    export.build_onnx(folder, out["in process"], precision)
                    seconds["in process"].append(time.perf_counter() - began)
                    shutil.rmtree(out["process"] / ".builder-cache", ignore_errors=True)  # build_onnx drops it too
                    same = same and same_files(out["process"], out["in process"])
                process, here = (statistics.median(seconds[way]) for way in seconds)
                rows.append({"model": model_id, "precision": precision, "process s": round(process, 2),
                             "in process s": round(here, 2), "ratio": round(process / here, 1), "same files": same})
                print(rows[-1], flush=True)
    report("builder_start", rows, {"builder_import_seconds": import_seconds})


if __name__ == "__main__":
    main()
