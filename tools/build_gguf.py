"""`make gguf`: llama.cpp for lesson 10, built from llama-cpp-python's pinned source archive, offline after one download.

    python tools/build_gguf.py            download (once), compile (once), install, extract the converter

1. The source archive (77 MB) is downloaded into .cache/wheels/ and its sha256 checked (course_utils/gguf.py).
2. It is compiled into a wheel for this CPU (CMake and a C++ compiler; no GPU flags), kept in .cache/wheels/: pip does
   not cache a wheel it built from a local archive, so without this every install would compile again.
3. requirements-gguf.txt is installed into the course's .venv from that wheel.
4. llama.cpp's converter (convert_hf_to_gguf.py, conversion/, gguf-py/, LICENSE) is extracted from the same archive into
   .cache/llama.cpp/, so the converter and the runtime are the same llama.cpp.
Each step is skipped when its result is already there; the seconds each took are printed and kept in
.cache/llama.cpp/build.json.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from course_utils import gguf  # noqa: E402
from course_utils.model_import import sha256_of  # noqa: E402

WHEELS = ROOT / ".cache" / "wheels"
# CPU only, tuned for this machine's instruction set; no tests or examples (they double the build time).
CMAKE_ARGS = "-DGGML_NATIVE=ON -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF"
CONVERTER_PARTS = ("convert_hf_to_gguf.py", "conversion/", "gguf-py/", "LICENSE")


def pip(*arguments: str, env: dict[str, str] | None = None) -> None:
    """Run this Python's pip; stop with its own message when it fails."""
    done = subprocess.run([sys.executable, "-m", "pip", *arguments], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        lines = [line for line in (done.stdout + done.stderr).splitlines() if not line.startswith("WARNING: Location")]
        sys.exit("pip " + " ".join(arguments[:2]) + " failed:\n" + "\n".join(lines[-25:]))


def source_archive() -> Path:
    """The pinned source archive, downloaded once and checked."""
    archive = WHEELS / gguf.SOURCE_ARCHIVE
    if not archive.exists():
        pip("download", "--no-deps", "--no-binary", ":all:", f"llama-cpp-python=={gguf.LLAMA_CPP_PYTHON_VERSION}",
            "-d", str(WHEELS))
    found = sha256_of(archive)
    if found != gguf.SOURCE_SHA256:
        archive.unlink()
        sys.exit(f"{archive.name}: sha256 {found}, expected {gguf.SOURCE_SHA256} (course_utils/gguf.py); removed it, "
                 "run `make gguf` again")
    return archive


def built_wheel() -> Path | None:
    """The wheel compiled from the archive, if an earlier build kept one."""
    return next(iter(sorted(WHEELS.glob(f"llama_cpp_python-{gguf.LLAMA_CPP_PYTHON_VERSION}-*.whl"))), None)


def compile_wheel(archive: Path) -> Path:
    """Compile the archive into a wheel for this CPU, into .cache/wheels/."""
    env = {**os.environ, "CMAKE_ARGS": CMAKE_ARGS, "CMAKE_BUILD_PARALLEL_LEVEL": str(os.cpu_count() or 1)}
    pip("wheel", "--no-deps", str(archive), "-w", str(WHEELS), env=env)
    wheel = built_wheel()
    if wheel is None:
        sys.exit(f"pip wheel finished but left no llama_cpp_python wheel in {WHEELS}")
    return wheel


def extract_converter(archive: Path) -> Path:
    """llama.cpp's converter from the archive into .cache/llama.cpp/ (written whole, then moved into place)."""
    target = gguf.converter_dir()
    prefix = f"llama_cpp_python-{gguf.LLAMA_CPP_PYTHON_VERSION}/vendor/llama.cpp/"
    with tempfile.TemporaryDirectory(dir=target.parent) as scratch, tarfile.open(archive) as tar:
        members = [member for member in tar.getmembers() if member.name.startswith(prefix)
                   and member.name[len(prefix):].startswith(CONVERTER_PARTS) and (member.isfile() or member.isdir())]
        for member in members:
            member.name = member.name[len(prefix):]
        tar.extractall(scratch, members=members, filter="data")
        shutil.rmtree(target, ignore_errors=True)
        os.replace(scratch, target)
    return target


def main() -> None:
    WHEELS.mkdir(parents=True, exist_ok=True)
    gguf.converter_dir().parent.mkdir(parents=True, exist_ok=True)
    seconds: dict[str, float] = {}

    started = time.perf_counter()
    archive = source_archive()
    seconds["download"] = time.perf_counter() - started
    print(f"source: {archive.name}, sha256 checked ({seconds['download']:.0f} s)", flush=True)

    wheel = built_wheel()
    if wheel is None:
        print("compiling llama.cpp for this CPU (about 5 minutes on 2 cores) ...", flush=True)
        started = time.perf_counter()
        wheel = compile_wheel(archive)
        seconds["compile"] = time.perf_counter() - started
        print(f"compiled: {wheel.name} ({seconds['compile']:.0f} s; kept, so the next install skips this)", flush=True)
    else:
        print(f"compiled earlier: {wheel.name}", flush=True)

    started = time.perf_counter()
    pip("install", "--quiet", "--find-links", str(WHEELS), "--only-binary", "llama-cpp-python",
        "-r", str(ROOT / "requirements-gguf.txt"))
    seconds["install"] = time.perf_counter() - started
    print(f"installed requirements-gguf.txt into {Path(sys.executable).parent.parent} ({seconds['install']:.0f} s)", flush=True)

    started = time.perf_counter()
    target = extract_converter(archive)
    seconds["converter"] = time.perf_counter() - started
    (target / "build.json").write_text(json.dumps({"version": gguf.LLAMA_CPP_PYTHON_VERSION, "wheel": wheel.name,
                                                   "cmake_args": CMAKE_ARGS, "seconds": seconds}, indent=1) + "\n")
    print(f"converter: {target} ({seconds['converter']:.1f} s)", flush=True)

    done = subprocess.run([sys.executable, "-c", "from course_utils import gguf; print(*gguf.environment_status())"],
                          cwd=ROOT, capture_output=True, text=True)
    print("check:", done.stdout.strip() or done.stderr.strip().splitlines()[-1:])
    if not done.stdout.startswith("True"):
        sys.exit(1)


if __name__ == "__main__":
    main()
