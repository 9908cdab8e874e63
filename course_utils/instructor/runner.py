"""The notebook runner every instructor tool shares: lessons by stem, -p values, papermill, the summary table.

`course run` (cli.py), the labs' sweeps and searches, grading and the student versions all execute or find
lessons through here, so each runs a notebook the same way.
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from course_utils import numerics
from course_utils.config import COURSE_TINY, PATH_PARAMETERS, course_root, resolve_params, validate_value

RESERVED = {"profile": "--profile", "out_dir": "--out"}


class UsageError(ValueError):
    """A command line that cannot run, with what is valid in the message."""


# Arguments for every lesson's kernel. ipykernel 7 logs a warning at each start that its local TCP sockets are not
# encrypted (nothing leaves this machine: the kernel listens on 127.0.0.1); at log level ERROR a kernel's real errors
# still print, and a lesson's own output goes to its notebook as before.
KERNEL_ARGUMENTS = ["--IPKernelApp.log_level=ERROR"]


@dataclass
class Outcome:
    """What happened to one notebook in a run."""

    stem: str
    status: str
    seconds: float
    detail: str = ""
    metrics: dict[str, Any] = field(default_factory=dict)


def notebooks_dir() -> Path:
    """The folder holding the lessons."""
    return course_root() / "notebooks"


def available_notebooks() -> list[str]:
    """Stems of every lesson, in reading order."""
    return sorted(path.stem for path in notebooks_dir().glob("*.ipynb"))


def select_notebooks(names: Sequence[str]) -> list[str]:
    """Stems for `names` (a full stem or a unique prefix such as "01"); all lessons when empty."""
    available = available_notebooks()
    if not names:
        return available
    chosen = []
    for name in names:
        name = Path(name).stem
        matches = [stem for stem in available if stem == name] or [s for s in available if s.startswith(name)]
        if len(matches) != 1:
            raise UsageError(f"unknown notebook {name!r}; available: {', '.join(available)}")
        chosen.append(matches[0])
    return chosen


def parse_value(text: str) -> Any:
    """A -p value as Python: None, true/false, int, float, else the string itself."""
    lowered = text.strip().lower()
    if lowered in {"none", "null"}:
        return None
    if lowered in {"true", "false"}:
        return lowered == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def notebook_path(name: str) -> Path:
    """A lesson's notebook from its stem or a unique prefix, or any notebook file given by its path."""
    if name.endswith(".ipynb") and Path(name).is_file():
        return Path(name).resolve()
    return notebooks_dir() / f"{select_notebooks([name])[0]}.ipynb"


def notebook_parameters(stem: str | Path) -> set[str]:
    """Names assigned in the notebook's `parameters` cell (a lesson's stem, or a notebook's path)."""
    import papermill

    path = stem if isinstance(stem, Path) else notebooks_dir() / f"{stem}.ipynb"
    return set(papermill.inspect_notebook(str(path)))


def validate_overrides(stems: Sequence[str | Path], profile: str, overrides: dict[str, Any]) -> None:
    """Fail before any kernel starts when a -p name or value is not valid for the chosen notebooks."""
    for name, value in overrides.items():
        if name in RESERVED:
            raise UsageError(f"set {name} with {RESERVED[name]}, not -p")
        validate_value(name, value)
    resolve_params(profile, **overrides)
    for stem in stems:
        accepted = notebook_parameters(stem)
        unknown = sorted(set(overrides) - accepted)
        if unknown:
            raise UsageError(
                f"{Path(stem).stem} does not take parameter {', '.join(unknown)}; it takes: {', '.join(sorted(accepted))}"
            )


def _failure_detail(error: Exception) -> str:
    """`cell N: ErrorName: message` for a papermill failure, else the error itself."""
    cell = getattr(error, "exec_count", None) or getattr(error, "cell_index", None)
    name, value = getattr(error, "ename", type(error).__name__), getattr(error, "evalue", str(error))
    message = str(value).strip().splitlines()[-1] if str(value).strip() else ""
    return f"cell {cell}: {name}: {message}" if cell is not None else f"{name}: {message}"


def key_metrics(metrics: dict[str, Any], limit: int = 4) -> dict[str, Any]:
    """The first few numbers of a metrics.json for the summary table: top-level ones first, then one level down."""
    is_number = lambda value: isinstance(value, (int, float)) and not isinstance(value, bool)  # noqa: E731
    numbers = {k: v for k, v in metrics.items() if is_number(v)}
    for key, value in metrics.items():
        if isinstance(value, dict) and key != "params":
            numbers.update({f"{key}.{k}": v for k, v in value.items() if is_number(v)})
    return dict(list(numbers.items())[:limit])


def absolute_paths(overrides: dict[str, Any]) -> dict[str, Any]:
    """`overrides` with each file or folder named relative to this folder made absolute: lessons run in notebooks/."""
    fixed = dict(overrides)
    for name in PATH_PARAMETERS:
        value = fixed.get(name)
        if isinstance(value, str) and value and Path(value).expanduser().exists():
            fixed[name] = str(Path(value).expanduser().resolve())
    return fixed


def run_notebook(stem: str, profile: str, overrides: dict[str, Any], out: Path, progress: bool,
                 source: Path | None = None) -> Outcome:
    """Execute one lesson (or the notebook at `source`) with papermill into out/stem/.

    The last good executed notebook survives a failure.
    """
    import papermill

    from course_utils.runs import read_metrics

    target = out / stem
    target.mkdir(parents=True, exist_ok=True)
    partial = target / f".{stem}.running.ipynb"
    parameters = {"profile": profile, "out_dir": str(out), **absolute_paths(overrides)}
    started = time.perf_counter()
    # course-tiny at ci: the same float results on any x86-64 CPU, so the pinned numbers hold on each (numerics)
    portable = profile == "ci" and overrides.get("model_id", COURSE_TINY) == COURSE_TINY
    try:
        with numerics.portable_kernels_for_children() if portable else contextlib.nullcontext():
            papermill.execute_notebook(
                str(source or notebooks_dir() / f"{stem}.ipynb"),
                str(partial),
                parameters=parameters,
                cwd=str(notebooks_dir()),
                kernel_name="python3",
                progress_bar=progress,
                log_output=False,
                # Every cell has run by then; a graceful shutdown waits about 3 s for torch's interpreter to exit.
                shutdown_kernel="immediate",
                extra_arguments=KERNEL_ARGUMENTS,
            )
    except Exception as error:  # report the failing cell and carry on with the other notebooks
        if partial.exists():
            os.replace(partial, target / f"{stem}.failed.ipynb")
        return Outcome(stem, "FAILED", time.perf_counter() - started, _failure_detail(error))
    os.replace(partial, target / f"{stem}.ipynb")
    metrics_path = target / "metrics.json"
    metrics = read_metrics(metrics_path) if metrics_path.exists() else {}
    status = "ok" if metrics else "NO METRICS"
    return Outcome(stem, status, time.perf_counter() - started, "" if metrics else "metrics.json not written", metrics)


def format_summary(outcomes: Sequence[Outcome]) -> str:
    """A plain-text table: notebook, status, seconds, key metrics (or why it failed)."""
    rows = [("notebook", "status", "seconds", "key metrics")]
    for outcome in outcomes:
        shown = ", ".join(
            f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in key_metrics(outcome.metrics).items()
        )
        rows.append((outcome.stem, outcome.status, f"{outcome.seconds:.1f}", outcome.detail or shown))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = [f"{r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:>{widths[2]}}  {r[3]}" for r in rows]
    lines.insert(1, "-" * max(len(line) for line in lines))
    return "\n".join(lines)
