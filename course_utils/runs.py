"""Where a lesson's results go (runs/<profile>/<notebook>/) and atomic writes of them.

Every artifact is written to a temporary file in the same folder and then renamed,
so a run that fails half-way never leaves a truncated metrics.json behind. Results get the
permissions a plain write would give them (the umask's), not the private ones of a temporary
file, so a lab folder shared with a class stays readable.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from course_utils.config import Params, course_root


def run_dir(params: Params, notebook: str) -> Path:
    """The folder for `notebook`'s results: <out_dir>/<notebook>, out_dir defaulting to runs/<profile>."""
    base = Path(params.out_dir) if params.out_dir else course_root() / "runs" / params.profile
    return base / notebook


def _usual_mode(requested: int) -> int:
    """`requested` (0o666 for a file, 0o777 for a folder) less the process's umask, as open() and mkdir() apply it."""
    umask = os.umask(0)
    os.umask(umask)
    return requested & ~umask


def atomic_write_text(path: Path, text: str) -> Path:
    """Write `text` to `path` through a temporary file and a rename; the old file survives a failure."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(text)
        os.chmod(temporary, _usual_mode(0o666))  # mkstemp creates it readable by its owner only
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


@contextmanager
def atomic_directory(path: Path) -> Iterator[Path]:
    """Yield a temporary folder beside `path`; if the block succeeds it replaces `path`, else it is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        os.chmod(staging, _usual_mode(0o777))  # mkdtemp creates it for its owner only
        yield staging
        if path.exists():
            retired = Path(tempfile.mkdtemp(prefix=f".{path.name}.old.", dir=path.parent))
            os.replace(path, retired / path.name)
            os.replace(staging, path)
            shutil.rmtree(retired, ignore_errors=True)
        else:
            os.replace(staging, path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _plain(value: Any) -> Any:
    """Numbers from numpy/torch as plain Python; NaN refused so metrics stay valid JSON."""
    if hasattr(value, "item") and callable(value.item):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"metric value {value} is not a finite number")
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


def write_metrics(metrics: dict[str, Any], params: Params, notebook: str) -> Path:
    """Write `metrics` (plus the parameters used) to run_dir/metrics.json atomically; returns the path."""
    record = {"notebook": notebook, "params": vars(params), **_plain(metrics)}
    path = run_dir(params, notebook) / "metrics.json"
    return atomic_write_text(path, json.dumps(record, indent=2, sort_keys=False) + "\n")


def read_metrics(path: Path) -> dict[str, Any]:
    """The metrics.json at `path`."""
    return json.loads(Path(path).read_text(encoding="utf-8"))
