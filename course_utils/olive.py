"""Running the Olive CLI from its own environment, `.venv-olive` (`make olive`; pins in requirements-olive.txt).

Olive 0.13 needs transformers 4.57 and onnxruntime-genai 0.11, the course needs transformers 5 and
onnxruntime-genai 0.18, so Olive lives in a second virtual environment. The lesson calls its `olive`
command in a subprocess, as a learner would in a terminal, and loads what it writes with the course's
onnxruntime-genai.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from course_utils.config import course_root


class OliveError(RuntimeError):
    """An Olive command that failed; the message is Olive's own last error lines."""


@dataclass(frozen=True)
class OliveRun:
    """One finished Olive command."""

    command: str
    seconds: float
    output: str


# Olive 0.13 queues a telemetry heartbeat when it starts, before it reads --disable_telemetry or
# OLIVE_DISABLE_TELEMETRY, and sends it on exit: offline, each command then waited about 10 s on DNS
# lookups of its telemetry host (15 s against 5 s for a usage error, 2026-12-05). It skips the heartbeat
# only where it sees a CI variable (olive/telemetry/telemetry.py), so the course sets one for Olive.
# ORT_DISABLE_TELEMETRY: the onnxruntime in .venv-olive has telemetry of its own (see course_utils/__init__.py).
TELEMETRY_OFF = {"OLIVE_DISABLE_TELEMETRY": "1", "CI": os.environ.get("CI") or "1", "ORT_DISABLE_TELEMETRY": "1"}


def olive_executable() -> Path | None:
    """The `olive` command of .venv-olive, or None when the environment is not built."""
    path = course_root() / ".venv-olive" / "bin" / "olive"
    return path if path.exists() else None


def environment_status(timeout: float = 120) -> tuple[bool, str]:
    """(works, one line): whether .venv-olive exists and its Olive imports; for `course doctor` and lesson 05."""
    executable = olive_executable()
    if executable is None:
        return False, "not built: run `make olive` (about 1 minute; pins in requirements-olive.txt)"
    python = executable.parent / "python"
    probe = "import importlib.metadata as m; print(m.version('olive-ai'), m.version('transformers'))"
    try:
        done = subprocess.run([str(python), "-c", probe], capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return False, f"{python} did not answer in {timeout:.0f} s"
    if done.returncode != 0:
        return False, f"olive-ai does not import in .venv-olive: {done.stderr.strip().splitlines()[-1:]}"
    olive_version, transformers_version = done.stdout.split()
    return True, f"olive-ai {olive_version} with transformers {transformers_version} in .venv-olive"


def olive_error(output: str, lines: int = 3, limit: int = 400) -> str:
    """What a failed run says went wrong: its last `SomeError: message` line (at most `limit` characters), no traceback."""
    import re

    text = [line.rstrip() for line in output.splitlines() if line.strip()]
    raised = [line for line in text if re.match(r"^[\w.]*(Error|Exception)\b[^:]*: ", line)]
    message = raised[-1] if raised else "\n".join(text[-lines:])
    return message if len(message) <= limit else message[:limit] + " ..."


def run(arguments: list[str], cwd: Path, timeout: float = 600) -> OliveRun:
    """Run `olive ARGUMENTS...` offline from .venv-olive in `cwd`; raise OliveError with Olive's own message."""
    executable = olive_executable()
    if executable is None:
        raise FileNotFoundError("the Olive environment is missing: run `make olive` in the course folder")
    cwd = Path(cwd)
    cwd.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "PYTHONWARNINGS": "ignore"} | TELEMETRY_OFF
    started = time.perf_counter()
    done = subprocess.run([str(executable), *arguments, "--disable_telemetry"], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)
    output = done.stdout + done.stderr
    if done.returncode != 0:
        raise OliveError(olive_error(output))
    return OliveRun(shlex.join(["olive", *arguments]), time.perf_counter() - started, output)


def loadable_model_copy(model_dir: Path, output_dir: Path, chat_template: str | None = None) -> Path:
    """A copy of a Hugging Face folder whose tokenizer transformers 4.57 can load, for Olive.

    transformers 5 writes ``"tokenizer_class": "TokenizersBackend"``, a class transformers 4.57 does not
    have; the same tokenizer.json loads as ``PreTrainedTokenizerFast``. With `chat_template` (the course
    tokenizer's, which leaves out a default system message: `models.load_tokenizer`), the copy's
    ``chat_template.jinja`` is that template, so what Olive exports prompts as the course trained. Every other
    file is copied as is.
    """
    import shutil

    from course_utils.runs import atomic_directory

    with atomic_directory(output_dir) as staging:
        for path in Path(model_dir).iterdir():
            if path.is_file():
                shutil.copy2(path, staging / path.name)
        config_path = staging / "tokenizer_config.json"
        if config_path.exists():
            config = json.loads(config_path.read_text())
            if config.get("tokenizer_class") == "TokenizersBackend":
                config["tokenizer_class"] = "PreTrainedTokenizerFast"
            if chat_template is not None:
                config.pop("chat_template", None)  # one place for the template: the .jinja file below
            config_path.write_text(json.dumps(config, indent=2))
        if chat_template is not None:
            (staging / "chat_template.jinja").write_text(chat_template, encoding="utf-8")
    return Path(output_dir)
