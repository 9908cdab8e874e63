"""Learners start from student/: `make course` writes it, it holds no solution, and `course solution` reveals one.

Unit tests (no marker): `course student` and `course solution` only read the instructor's notebooks, in seconds.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import nbformat

from course_utils import checks
from course_utils.instructor import cli, grading, handout, runner

ROOT = Path(__file__).resolve().parents[1]
LESSONS = runner.available_notebooks()
MARKERS = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")
SOLUTION_BLOCK = re.compile(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", re.DOTALL)


def instructor_text(stem: str) -> str:
    """Every cell's source of an instructor's notebook, joined."""
    notebook = nbformat.read(runner.notebooks_dir() / f"{stem}.ipynb", as_version=4)
    return "\n".join(cell.source for cell in notebook.cells)


def solution_lines(stem: str) -> set[str]:
    """The lesson's solution lines (stripped) that appear nowhere else in its instructor's notebook."""
    text = instructor_text(stem)
    inside = {line.strip() for block in SOLUTION_BLOCK.findall(text) for line in block.splitlines() if line.strip()}
    outside = {line.strip() for line in SOLUTION_BLOCK.sub("", text).splitlines()}
    return inside - outside


def test_course_student_writes_one_notebook_per_lesson_and_no_solution(tmp_path: Path, capsys) -> None:
    assert cli.main(["student", "--out", str(tmp_path)]) == 0
    assert sorted(path.name for path in tmp_path.iterdir()) == [f"{stem}.ipynb" for stem in LESSONS]
    assert capsys.readouterr().out.count("wrote ") == len(LESSONS)
    checked = 0
    for stem in LESSONS:
        raw = (tmp_path / f"{stem}.ipynb").read_text()
        assert not [marker for marker in MARKERS if marker in raw], stem
        cells = nbformat.read(tmp_path / f"{stem}.ipynb", as_version=4).cells
        version = {line.strip() for cell in cells for line in cell.source.splitlines()}
        lines = solution_lines(stem)  # a hint may quote part of one (04's `scale = ...`): compare whole lines
        assert lines, f"{stem}: no solution line to look for"
        leaked = sorted(lines & version)
        assert not leaked, f"{stem}: solution lines in the student version: {leaked}"
        checked += len(lines)
    assert checked >= 16  # at least one line per exercise was looked for


def test_course_student_keep_leaves_a_learners_notebook_alone(tmp_path: Path, capsys) -> None:
    assert cli.main(["student", "01", "--out", str(tmp_path)]) == 0
    mine = tmp_path / "01_intro.ipynb"
    mine.write_text(mine.read_text().replace("NotImplementedError", "NotImplementedError  # my work"))
    before = mine.read_text()
    capsys.readouterr()
    assert cli.main(["student", "01", "02", "--out", str(tmp_path), "--keep"]) == 0
    out = capsys.readouterr().out
    assert mine.read_text() == before and "kept" in out and "01_intro" in out
    assert (tmp_path / "02_full_vs_peft.ipynb").exists() and "wrote" in out


def test_make_course_writes_student_before_running_the_lessons_and_git_ignores_it() -> None:
    makefile = (ROOT / "Makefile").read_text()
    recipe = re.search(r"^course:.*\n((?:\t.*\n)+)", makefile, re.MULTILINE)
    assert recipe, "no `course` target in the Makefile"
    commands = [line.strip() for line in recipe.group(1).splitlines()]
    assert commands[0].startswith("$(BIN)/course student --out student/"), commands
    assert commands[-1] == "$(BIN)/course run --profile $(PROFILE)", commands
    assert "student/" in (ROOT / ".gitignore").read_text().splitlines()
    assert ".venv/bin/jupyter lab student/" in (ROOT / "README.md").read_text()


def test_course_solution_prints_the_solution_of_one_exercise(capsys) -> None:
    assert cli.main(["solution", "3.2"]) == 0
    out = capsys.readouterr().out
    notebook = nbformat.read(runner.notebooks_dir() / "03_lora.ipynb", as_version=4)
    cell = next(c for c in notebook.cells if c.source.startswith("# Exercise 3.2:"))
    block = SOLUTION_BLOCK.search(cell.source)
    assert block and block.group(1).strip()
    assert all(line in out for line in block.group(1).splitlines()), out
    assert out.count("# Exercise 3.2:") == 1 and not [marker for marker in MARKERS if marker in out]


def test_course_solution_of_an_unknown_exercise_lists_the_valid_ones() -> None:
    result = subprocess.run([sys.executable, "-m", "course_utils", "solution", "9.9"], check=False,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and result.stdout == ""
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        "course: error: unknown exercise '9.9'; valid exercises: " + ", ".join(handout.exercise_ids(LESSONS))]
    assert "1.1, 1.2, 2.1" in result.stderr and "8.2" in result.stderr


def test_a_failing_check_ends_with_where_to_find_a_solution(capsys) -> None:
    assert checks.diagnosis(lambda train, validation: "healthy") is False  # a wrong answer, through a real check
    out = capsys.readouterr().out.strip()
    assert out.startswith("❌ Exercise 7.1: not yet.")
    assert out.endswith("Stuck? `course solution 7.1` shows a solution."), out
    assert checks.diagnosis(lambda *_: 1 / 0) is False  # the learner's code raised
    assert capsys.readouterr().out.strip().endswith("by zero. Stuck? `course solution 7.1` shows a solution.")
    assert checks.report("3.2", True, "it is right.") is True
    assert "Stuck?" not in capsys.readouterr().out  # a right answer gets no pointer


def test_grading_refuses_exercise_code_that_asks_for_a_solution() -> None:
    for code in ("!course solution 1.1", 'subprocess.run(["course", "solution", "1.1"])',
                 "exec(handout.solution('1.1', stems)[1])", "from course_utils.instructor import handout"):
        assert grading.READS_SOLUTIONS.search(code), code
    for stem in LESSONS:  # the instructor's solutions, as a learner would hand them in, are not refused
        for exercise in handout.exercise_ids([stem]).values():
            assert not grading.READS_SOLUTIONS.search(handout.solved_source(exercise[1])), stem
