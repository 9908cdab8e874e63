"""Launching a training script in several processes (torchrun), and checking accelerate config files.

Lesson 08 runs data-parallel and sharded training on CPU processes that talk over gloo.
`run_torchrun` starts them the way the lesson teaches (`torchrun --nproc_per_node N`), streams
their progress lines, and returns the JSON file the script wrote; a failed launch raises an error
with the processes' last lines. `read_accelerate_config` loads a config file with accelerate's own
loader and says what is wrong with a bad one, before anything trains.
"""

from __future__ import annotations

import collections
import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Sequence

from course_utils.config import share_of_batch  # noqa: F401  (lesson 08 calls it from here)

PROGRESS_PREFIX = "[rank "
"""Lines the training script prints with this prefix are shown while it runs; everything else is kept for errors."""

HOSTNAME_WARNING = re.compile(
    r"^\[W\d{4} [\d:.]+ socket\.cpp:\d+\] \[c10d\] The hostname of the client socket cannot be retrieved\. err=-?\d+$")
"""torch's c10d warning (torch 2.13) on a machine that cannot look up a name for its loopback socket (no network,
no DNS); it says nothing about the script, and torchrun works over loopback all the same, so `last_lines` leaves it
out. It reads: `[W1201 15:48:33.418992254 socket.cpp:207] [c10d] The hostname of the client socket cannot be
retrieved. err=-3`"""


def cpu_count() -> int:
    """Logical CPUs of this machine (1 when the OS does not say)."""
    return os.cpu_count() or 1


def check_num_processes(num_processes: Any) -> None:
    """Raise ValueError unless `num_processes` is a positive integer no larger than this machine's CPU count."""
    from course_utils.config import validate_value

    validate_value("num_processes", num_processes)


# Seconds a launch of several processes may take before it is stopped (lesson 08's takes about a minute at cpu).
LAUNCH_TIMEOUT_S = 300.0


def torchrun_command(script: Path, num_processes: int, script_args: Sequence[str]) -> list[str]:
    """The torchrun command line for `script` on this machine (standalone: a free local port, one node)."""
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(num_processes),
            str(script), *script_args]


def run_torchrun(
    script: Path, num_processes: int, script_args: Sequence[str], result_json: Path, timeout_s: float = LAUNCH_TIMEOUT_S
) -> dict[str, Any]:
    """Start `script` in `num_processes` processes with torchrun and return the JSON it writes to `result_json`.

    The script gets `--out result_json` after `script_args`. Its progress lines (those starting with
    "[rank ") are printed as they come. A non-zero exit, a timeout or a missing result raises
    RuntimeError with the last lines the processes printed.
    """
    check_num_processes(num_processes)
    script, result_json = Path(script), Path(result_json)
    if not script.is_file():
        raise FileNotFoundError(f"training script not found: {script}")
    result_json.parent.mkdir(parents=True, exist_ok=True)
    result_json.unlink(missing_ok=True)
    command = torchrun_command(script, num_processes, [*script_args, "--out", str(result_json)])
    what = f"torchrun {script.name} ({num_processes} process{'' if num_processes == 1 else 'es'})"
    output: collections.deque[str] = collections.deque(maxlen=2000)
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
    expired = threading.Event()

    def stop() -> None:
        expired.set()
        kill_process_tree(process.pid)

    timer = threading.Timer(timeout_s, stop)
    timer.start()
    try:
        assert process.stdout is not None
        for line in process.stdout:
            output.append(line.rstrip())
            if line.startswith(PROGRESS_PREFIX):
                print(line.rstrip(), flush=True)
        returncode = process.wait()
    finally:
        timer.cancel()
    if expired.is_set():
        raise RuntimeError(f"{what} ran over {timeout_s:.0f} s and was stopped; last lines:\n" + last_lines(list(output)))
    if returncode != 0 or not result_json.exists():
        problem = f"exited with code {returncode}" if returncode != 0 else f"wrote no {result_json.name}"
        raise RuntimeError(f"{what} {problem}; last lines:\n"
                           + last_lines(list(output)))
    result = json.loads(result_json.read_text(encoding="utf-8"))
    result["launch_seconds"] = time.perf_counter() - started
    return result


def kill_process_tree(pid: int) -> None:
    """Kill process `pid` and every process it started, by id (torchrun starts its workers in sessions of their own,
    so killing its process group would leave them running)."""
    import psutil

    try:
        parent = psutil.Process(pid)
        family = [*parent.children(recursive=True), parent]
    except psutil.NoSuchProcess:
        return
    for member in family:
        try:
            member.kill()
        except psutil.NoSuchProcess:
            pass


def last_lines(output: list[str], count: int = 25) -> str:
    """The processes' last `count` lines before torchrun's own report of a failure (its traceback says little),
    followed by the report's first line, which names the exit code and the rank that failed; without
    torch's c10d hostname warning (`HOSTNAME_WARNING`)."""
    output = [line for line in output if not HOSTNAME_WARNING.match(line)]
    report = next((i for i, line in enumerate(output) if "failed (exitcode" in line), None)
    if report is None:
        return "\n".join(output[-count:])
    return "\n".join(output[max(0, report - count):report] + [output[report]])


def read_accelerate_config(path: str | os.PathLike[str] | None) -> Any:
    """The accelerate config at `path` (relative paths from the course root), loaded by accelerate's own loader.

    That loader is the one `accelerate launch --config_file` uses.
    Raises ValueError naming the file and what is wrong: a missing file, YAML that does not parse,
    an unknown key or an unknown value (for example a misspelt `distributed_type`).
    """
    import yaml
    from accelerate.utils import DistributedType, SageMakerDistributedType

    from course_utils import compat
    from course_utils.config import resolve_course_path

    if path is None:
        raise ValueError("accelerate_config is None: name a config file, such as configs/accelerate/multi_gpu.yaml")
    path = resolve_course_path(path)
    if not path.is_file():
        raise ValueError(f"accelerate config {path} does not exist; create one with `accelerate config`")
    try:
        loaded = compat.load_accelerate_config_file(str(path))
    except yaml.YAMLError as error:
        raise ValueError(f"accelerate config {path} is not valid YAML: {error}") from error
    except (ValueError, TypeError) as error:
        message = str(error)
        if "DistributedType" in message:
            valid = ", ".join(member.value for member in DistributedType)
            message += f"; valid distributed_type values: {valid}"
        raise ValueError(f"accelerate config {path}: {message}") from error
    if not isinstance(loaded.distributed_type, (DistributedType, SageMakerDistributedType)):
        valid = ", ".join(member.value for member in DistributedType)
        raise ValueError(f"accelerate config {path}: distributed_type must be one of {valid} (got "
                         f"{loaded.distributed_type!r}; write 'NO' in quotes: YAML reads a bare NO as false)")
    if not isinstance(loaded.num_processes, int) or loaded.num_processes < 1:
        raise ValueError(f"accelerate config {path}: num_processes must be a positive integer "
                         f"(got {loaded.num_processes!r})")
    return loaded


def describe_accelerate_config(config: Any) -> dict[str, Any]:
    """The fields of a loaded accelerate config a reader compares: how many processes, on how many machines, and how."""
    if config.fsdp_config:
        sharding = f"FSDP version {config.fsdp_config.get('fsdp_version', 1)}"
    elif config.deepspeed_config:
        sharding = f"DeepSpeed ZeRO stage {config.deepspeed_config.get('zero_stage')}"
    else:
        sharding = "none (DDP or one process)"
    return {
        "distributed_type": str(getattr(config.distributed_type, "value", config.distributed_type)),
        "num_machines": config.num_machines,
        "num_processes": config.num_processes,
        "mixed_precision": config.mixed_precision,
        "sharding": sharding,
    }
