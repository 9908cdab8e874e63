"""Grading submitted student notebooks: each exercise runs inside the instructor's lesson, with hidden tests.

A submission folder holds one folder per student, each with the lesson notebooks they filled in::

    submissions/alice/03_lora.ipynb
    submissions/bob/03_lora.ipynb

For each submitted lesson the grader takes the instructor's notebook, puts the student's exercise cells in
place of the solutions (matched by cell id; nothing else of the submission is run), and executes it with
papermill at the ci profile. Exercise, check and hidden-test cells are tagged ``raises-exception`` so that
one wrong exercise does not stop the others. An exercise scores 1 when its cell, its check and its hidden
tests all ran without an error, and the check's verdict was "right" (a check prints ❌ and returns False
rather than raising, so the grader asserts the verdict it stored in ``exercises``). A lesson that times out,
dies or cannot be read gets a row saying so, and the other gradings go on.
"""

from __future__ import annotations

import copy
import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from course_utils import numerics
from course_utils.instructor.handout import CHECK, EXERCISE, HIDDEN, exercise_cells, exercise_title, tags

# Code that opens the instructor's notebooks, prints a check's source or asks for a solution (`course solution`,
# `handout.solution`, anything from course_utils.instructor): the submission is refused, unread.
READS_SOLUTIONS = re.compile(r"\.ipynb|BEGIN SOLUTION|BEGIN HIDDEN TESTS|getsource|notebooks_dir|"
                             r"course_utils\.instructor|exercise_ids|\bsolution\s*\(|['\"]solution['\"]|course\s+solution")
# A check cell stores its verdict as `exercises["3.1"] = checks....(...)`.
VERDICT = re.compile(r'^\s*exercises\[("[^"]+")\]\s*=', re.MULTILINE)
NOT_YET = "the check said: not yet"  # the grader's assertion after a check cell
VERDICT_CHARS = 300  # a check's verdict, as long as the grade table shows it
CELL_TIMEOUT_S = 300  # seconds one cell of a submission may run before it is stopped and graded as it stands


@dataclass
class Grade:
    """One exercise of one student's lesson."""

    student: str
    lesson: str
    exercise: str
    points: int
    result: str


def graded_notebook(instructor: Any, submission: Any) -> tuple[Any, list[str]]:
    """The instructor's notebook with the submission's exercise cells in place; returns it and why any is missing."""
    notebook = copy.deepcopy(instructor)
    submitted = {cell.get("id"): cell for cell in submission.cells}
    missing = []
    for index in exercise_cells(notebook):
        cell = notebook.cells[index]
        answer = submitted.get(cell.get("id"))
        if answer is None or EXERCISE not in tags(answer):
            missing.append(exercise_title(cell))
            cell.source = 'raise NotImplementedError("this exercise cell is missing from the submission")'
        else:
            cell.source = answer.source
    for cell in notebook.cells:
        if {EXERCISE, CHECK, HIDDEN} & set(tags(cell)):
            cell.metadata.setdefault("tags", []).append("raises-exception")
        if CHECK in tags(cell):
            for key in VERDICT.findall(cell.source):
                cell.source += f'\nassert exercises.get({key}) is not False, "{NOT_YET}"'
    return notebook, missing


def _error_of(cell: Any) -> str | None:
    """`Name: message` of the first error output of an executed cell, or None; for a check's "not yet", its ❌ line."""
    outputs = cell.get("outputs", [])
    for output in outputs:
        if output.get("output_type") == "error":
            if NOT_YET in str(output.get("evalue", "")):
                printed = "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream")
                verdicts = [line.strip() for line in printed.splitlines() if line.startswith("❌")]
                return verdicts[0][:VERDICT_CHARS] if verdicts else NOT_YET
            return f"{output.get('ename')}: {str(output.get('evalue', '')).strip()[:200]}"
    return None


def exercise_results(executed: Any, titles: Sequence[str], stopped: str | None = None) -> list[tuple[str, int, str]]:
    """(exercise, points, result) for every exercise of an executed graded notebook, named by `titles`."""
    results = []
    indices = exercise_cells(executed)
    for number, index in enumerate(indices):
        end = indices[number + 1] if number + 1 < len(indices) else len(executed.cells)
        group = [executed.cells[index]] + [c for c in executed.cells[index + 1:end] if {CHECK, HIDDEN} & set(tags(c))]
        title = titles[number]
        if any(cell.get("execution_count") is None for cell in group):
            results.append((title, 0, stopped or "not reached: an earlier cell stopped the lesson"))
            continue
        errors = [(kind, _error_of(cell)) for kind, cell in zip(["your code", "the check", "hidden tests"], group)]
        failed = [(kind, error) for kind, error in errors if error]
        results.append((title, 0, f"fail in {failed[0][0]}: {failed[0][1]}") if failed else (title, 1, "pass"))
    return results


def grade_lesson(student: str, path: Path, out: Path, timeout: int = CELL_TIMEOUT_S,
                 parameters: dict[str, Any] | None = None) -> list[Grade]:
    """Grade one submitted lesson notebook; never raises for a bad submission."""
    import nbformat
    import papermill

    from course_utils.instructor.runner import KERNEL_ARGUMENTS, absolute_paths, notebooks_dir

    stem = path.stem
    instructor = nbformat.read(notebooks_dir() / f"{stem}.ipynb", as_version=4)
    titles = [exercise_title(instructor.cells[i]) for i in exercise_cells(instructor)]
    everyone = lambda points, result: [Grade(student, stem, t, points, result) for t in titles]  # noqa: E731
    try:
        submission = nbformat.read(path, as_version=4)
    except Exception as error:  # not a notebook at all
        return everyone(0, f"unreadable submission: {type(error).__name__}: {error}")
    answers = "\n".join(c.source for c in submission.cells if EXERCISE in tags(c))
    if READS_SOLUTIONS.search(answers):
        return everyone(0, "refused: the exercise code reads the instructor's notebooks or the checks' source")
    notebook, _ = graded_notebook(instructor, submission)
    work = Path(out) / student / stem
    work.mkdir(parents=True, exist_ok=True)
    source, executed_path = work / f".{stem}.graded.ipynb", work / f"{stem}.graded.ipynb"
    nbformat.write(notebook, source)
    stopped = None
    try:
        with numerics.portable_kernels_for_children():  # the ci profile's kernels, as `course run` gives it
            papermill.execute_notebook(str(source), str(executed_path),
                                       parameters={**absolute_paths(parameters or {}), "profile": "ci",
                                                   "out_dir": str(work)},
                                       cwd=str(notebooks_dir()), kernel_name="python3", progress_bar=False,
                                       log_output=False, execution_timeout=timeout, shutdown_kernel="immediate",
                                       extra_arguments=KERNEL_ARGUMENTS)
    except Exception as error:  # a cell outside the exercises failed, a cell timed out, or the kernel died
        name = type(error).__name__
        stopped = (f"timeout: a cell ran over {timeout} s" if "Timeout" in name or "timed out" in str(error).lower()
                   else f"not reached: the lesson stopped ({getattr(error, 'ename', name)})")
    finally:
        source.unlink(missing_ok=True)
    if not executed_path.exists():
        return everyone(0, stopped or "the lesson did not run")
    executed = nbformat.read(executed_path, as_version=4)
    return [Grade(student, stem, title, points, result) for title, points, result in exercise_results(executed, titles, stopped)]


def grade_folder(submissions: Path, out: Path, timeout: int = CELL_TIMEOUT_S, lessons: Sequence[str] = (),
                 parameters: dict[str, Any] | None = None) -> list[Grade]:
    """Grade every student's lessons under `submissions` (student/<lesson>.ipynb); writes out/grades.csv."""
    from course_utils.instructor.runner import available_notebooks
    from course_utils.runs import atomic_write_text

    submissions = Path(submissions)
    if not submissions.is_dir():
        raise FileNotFoundError(f"no submissions folder at {submissions}: expected STUDENT/<lesson>.ipynb inside it")
    known = set(lessons or available_notebooks())
    grades: list[Grade] = []
    for student in sorted(p for p in submissions.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for path in sorted(student.glob("*.ipynb")):
            if path.stem in known:
                grades += grade_lesson(student.name, path, out, timeout, parameters)
    table = io.StringIO()
    writer = csv.writer(table)
    writer.writerow(["student", "lesson", "exercise", "points", "result"])
    writer.writerows([g.student, g.lesson, g.exercise, g.points, g.result] for g in grades)
    atomic_write_text(Path(out) / "grades.csv", table.getvalue())
    return grades


def summary(grades: Sequence[Grade]) -> str:
    """Points per student and lesson, then every exercise that did not pass, with why."""
    totals: dict[tuple[str, str], list[int]] = {}
    for g in grades:
        totals.setdefault((g.student, g.lesson), []).append(g.points)
    lines = [f"{student:<16} {lesson:<20} {sum(points)}/{len(points)}" for (student, lesson), points in totals.items()]
    lines += [f"  {g.student} {g.lesson} {g.exercise}: {g.result}" for g in grades if g.points == 0]
    return "\n".join([f"{'student':<16} {'lesson':<20} points", *lines])
