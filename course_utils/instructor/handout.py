"""Student versions of the lessons: solutions cut out with nbgrader's preprocessors, outputs cleared.

The instructor's notebooks in `notebooks/` are the ones CI runs. An exercise is marked the way nbgrader marks
one, so the same notebooks also work with nbgrader itself:

- the exercise cell (tag ``exercise``) holds the solution between ``### BEGIN SOLUTION`` and
  ``### END SOLUTION``, and one ``# Hint: ...`` comment line;
- the cell after it (tag ``check``) gives the learner feedback through `course_utils.checks`;
- a cell tagged ``hidden-tests`` holds the grader's tests between ``### BEGIN HIDDEN TESTS`` and
  ``### END HIDDEN TESTS``; the student version drops it.

In the student version each solution becomes ``raise NotImplementedError("<the hint>")``. A learner who is stuck
reveals one solution on purpose with ``course solution 3.2`` (`solution`).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

EXERCISE, CHECK, HIDDEN = "exercise", "check", "hidden-tests"
HINT_PREFIX = "# Hint:"
_STUB = "raise NotImplementedError(__HINT__)"


def tags(cell: Any) -> list[str]:
    """The cell's tags (an empty list when it has none)."""
    return list(cell.get("metadata", {}).get("tags", []))


def exercise_cells(notebook: Any) -> list[int]:
    """Indices of the exercise cells, in order."""
    return [index for index, cell in enumerate(notebook.cells) if EXERCISE in tags(cell)]


def exercise_title(cell: Any) -> str:
    """`Exercise 2.1` from the cell's first line (`# Exercise 2.1: ...`)."""
    first = cell.source.strip().splitlines()[0] if cell.source.strip() else ""
    return first.lstrip("# ").split(":")[0].strip() or "exercise"


def hint(cell: Any) -> str:
    """The text of the cell's `# Hint:` line, or a plain instruction when it has none."""
    for line in cell.source.splitlines():
        if line.strip().startswith(HINT_PREFIX):
            return line.strip()[len(HINT_PREFIX):].strip()
    return "write your code here"


def solved_source(cell: Any) -> str:
    """The exercise cell as a learner who solved it would write it: the source without nbgrader's markers."""
    markers = ("### BEGIN SOLUTION", "### END SOLUTION")
    return "\n".join(line for line in cell.source.splitlines() if line.strip() not in markers)


def exercise_ids(stems: list[str]) -> dict[str, tuple[str, Any]]:
    """Every exercise of the instructor's lessons, `"3.2": (lesson stem, exercise cell)`, in reading order."""
    import nbformat

    from course_utils.instructor.runner import notebooks_dir

    found: dict[str, tuple[str, Any]] = {}
    for stem in stems:
        notebook = nbformat.read(notebooks_dir() / f"{stem}.ipynb", as_version=4)
        for index in exercise_cells(notebook):
            cell = notebook.cells[index]
            found[exercise_title(cell).removeprefix("Exercise").strip()] = (stem, cell)
    return found


def solution(exercise: str, stems: list[str]) -> tuple[str, str]:
    """(lesson stem, solution code) of one exercise such as "3.2", read from the instructor's notebook."""
    found = exercise_ids(stems)
    key = exercise.strip().removeprefix("Exercise").strip()
    if key not in found:
        raise ValueError(f"unknown exercise {exercise!r}; valid exercises: {', '.join(found)}")
    stem, cell = found[key]
    return stem, solved_source(cell)


def student_notebook(instructor: Any) -> Any:
    """A copy of an instructor notebook with solutions and hidden tests removed and outputs cleared."""
    from nbgrader.preprocessors import ClearHiddenTests, ClearOutput, ClearSolutions

    notebook = copy.deepcopy(instructor)
    resources: dict[str, Any] = {"language": "python"}
    hints = {index: hint(notebook.cells[index]) for index in exercise_cells(notebook)}
    notebook, resources = ClearSolutions(enforce_metadata=False, code_stub={"python": _STUB}).preprocess(
        notebook, resources)
    notebook, resources = ClearHiddenTests(enforce_metadata=False).preprocess(notebook, resources)
    notebook, resources = ClearOutput().preprocess(notebook, resources)
    for index, text in hints.items():
        cell = notebook.cells[index]
        message = f"{exercise_title(cell)} is yours to write. Hint: {text}"
        cell.source = cell.source.replace("__HINT__", repr(message))
    notebook.cells = [cell for cell in notebook.cells if not (HIDDEN in tags(cell))]
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.execution_count = None
    return notebook


def write_student_versions(stems: list[str], out: Path, parameters: dict[str, Any] | None = None) -> list[Path]:
    """Write the student version of each lesson to out/<stem>.ipynb (atomically); returns the paths.

    `parameters` (already validated) are injected after the parameters cell, the way papermill injects them.
    """
    import nbformat
    from papermill.parameterize import parameterize_notebook

    from course_utils.instructor.runner import notebooks_dir
    from course_utils.runs import atomic_write_text

    written = []
    for stem in stems:
        instructor = nbformat.read(notebooks_dir() / f"{stem}.ipynb", as_version=4)
        if not exercise_cells(instructor):
            raise ValueError(f"{stem} has no exercise cells (tag {EXERCISE!r}): nothing to hand out")
        version = student_notebook(instructor)
        if parameters:
            for cell in version.cells:  # papermill reads every cell's tags, and records the parameters
                cell.metadata.setdefault("tags", [])
            version.metadata.setdefault("papermill", {})
            version = parameterize_notebook(version, parameters, comment="The lab's parameters")
            for cell in version.cells:
                if "injected-parameters" in tags(cell):
                    cell.id = "injected-parameters"  # a stable id, so every copy of the lab is the same file
        path = Path(out) / f"{stem}.ipynb"
        atomic_write_text(path, nbformat.writes(version) + "\n")
        written.append(path)
    return written
