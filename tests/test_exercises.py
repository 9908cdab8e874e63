"""Exercises: how they are marked, the student versions (which must stop at their first exercise) and grading."""

from __future__ import annotations

import csv
import re

import nbformat
import pytest

from course_utils import checks
from course_utils.instructor import cli, grading, handout, runner

LESSONS = runner.available_notebooks()


def instructor(stem: str):
    return nbformat.read(runner.notebooks_dir() / f"{stem}.ipynb", as_version=4)


@pytest.mark.parametrize("stem", LESSONS)
def test_every_lesson_has_two_marked_exercises_each_with_a_hint_a_check_and_hidden_tests(stem):
    notebook = instructor(stem)
    indices = handout.exercise_cells(notebook)
    assert len(indices) >= 2, f"{stem}: at least two exercises"
    for index in indices:
        exercise, check, hidden = notebook.cells[index: index + 3]
        title = handout.exercise_title(exercise)
        assert re.fullmatch(r"Exercise \d+\.\d+", title), title  # 10.1 from lesson 10 on
        assert "### BEGIN SOLUTION" in exercise.source and "### END SOLUTION" in exercise.source, title
        assert handout.hint(exercise) != "write your code here", f"{title}: no '# Hint:' line"
        assert handout.tags(check) == [handout.CHECK] and "checks." in check.source, title
        assert handout.tags(hidden) == [handout.HIDDEN] and "### BEGIN HIDDEN TESTS" in hidden.source, title
        assert f'exercises["{title.split()[1]}"]' in check.source, f"{title}: its check must record the result"
        previous = notebook.cells[index - 1]
        assert previous.cell_type == "markdown" and previous.source.startswith(f"### {title} · "), title
    last = notebook.cells[-1].source
    assert '["exercises"] = exercises' in last and "assert all(exercises.values())" in last


def test_exercises_are_numbered_by_lesson_consecutively_and_there_are_at_least_eighteen():
    numbers = {stem: [handout.exercise_title(instructor(stem).cells[i]).split()[1]
                      for i in handout.exercise_cells(instructor(stem))] for stem in LESSONS}
    for stem, found in numbers.items():
        lesson = int(stem[:2])
        assert found == [f"{lesson}.{n}" for n in range(1, len(found) + 1)], f"{stem}: {found}"
    assert sum(map(len, numbers.values())) >= 18


@pytest.mark.parametrize("stem", LESSONS)
def test_the_student_version_cuts_solutions_and_hidden_tests_and_keeps_the_parameters(stem):
    original = instructor(stem)
    version = handout.student_notebook(original)
    text = "\n".join(cell.source for cell in version.cells)
    assert "BEGIN SOLUTION" not in text and "BEGIN HIDDEN TESTS" not in text
    assert not [c for c in version.cells if handout.HIDDEN in handout.tags(c)]
    assert not [c for c in version.cells if c.cell_type == "code" and (c.outputs or c.execution_count)]
    parameters = [c for c in version.cells if "parameters" in handout.tags(c)]
    assert len(parameters) == 1 and parameters[0].source == next(
        c.source for c in original.cells if "parameters" in handout.tags(c))
    for index in handout.exercise_cells(version):
        cell = version.cells[index]
        assert "raise NotImplementedError(" in cell.source and "Hint: " in cell.source
        assert "__HINT__" not in cell.source
    assert original.cells[0].source == version.cells[0].source  # the instructor's notebook is not changed


def test_course_student_writes_every_lesson(tmp_path, capsys):
    assert cli.main(["student", "--out", str(tmp_path)]) == 0
    assert sorted(p.stem for p in tmp_path.glob("*.ipynb")) == LESSONS
    assert "wrote" in capsys.readouterr().out


def test_a_check_reports_in_words_and_stops_at_a_stub(capsys):
    def stub(*_):
        raise NotImplementedError("Exercise 7.1 is yours to write. Hint: look up")

    with pytest.raises(NotImplementedError, match="Hint: look up"):
        checks.diagnosis(stub)
    assert "not written yet" in capsys.readouterr().out
    assert checks.diagnosis(lambda train, validation: "healthy") is False  # never sees overfitting
    assert "validation turns back up" in capsys.readouterr().out
    assert checks.diagnosis(lambda *_: 1 / 0) is False
    assert "ZeroDivisionError" in capsys.readouterr().out


@pytest.mark.exercises
@pytest.mark.parametrize("stem", LESSONS)
def test_the_student_version_runs_until_its_first_exercise_and_stops_there(stem, tmp_path):
    import papermill

    path = handout.write_student_versions([stem], tmp_path)[0]
    with pytest.raises(papermill.PapermillExecutionError) as raised:
        papermill.execute_notebook(str(path), str(tmp_path / "executed.ipynb"), parameters={"out_dir": str(tmp_path)},
                                   cwd=str(runner.notebooks_dir()), kernel_name="python3", progress_bar=False,
                                   shutdown_kernel="immediate")
    assert raised.value.ename == "NotImplementedError", raised.value.evalue
    executed = nbformat.read(tmp_path / "executed.ipynb", as_version=4)
    cells = executed.cells  # papermill adds cells of its own (injected parameters, error markers): go by tags
    failed = [i for i, c in enumerate(cells) if any(o.get("output_type") == "error" for o in c.get("outputs", []))]
    assert len(failed) == 1, failed
    exercises_before = [i for i in handout.exercise_cells(executed) if i <= failed[0]]
    assert handout.tags(cells[failed[0]])[0] in (handout.EXERCISE, handout.CHECK) and len(exercises_before) == 1
    assert all(c.get("execution_count") for c in cells[: failed[0]] if c.cell_type == "code")  # all ran before it
    assert "Hint:" in raised.value.evalue


# Lesson 01's two exercises answered in five ways, and once by copying the instructor's notebook. Each exercise is
# graded on its own, so a submission carries one case per exercise: three lessons run instead of five (each is a
# kernel and lesson 01 at the ci profile, about 12 s).
WRONG_1_1 = 'def format_row(tokenizer, row, labels):\n    return row["phrase"]\n'
# calls the course's helper that computes the answer: the check refuses it, so no point, whatever it returns
CALLS_THE_HELPER_1_1 = ("def format_row(tokenizer, row, labels):\n"
                        "    return data.conversation_text(tokenizer, row, labels)\n")
RAISES_1_2 = "def answer_start(tokenizer, row, labels):\n    return 1 // 0\n"
# right on the hidden tests' rows, wrong on the rows the check tries: the check's ❌ alone must cost the point
CHECK_SAYS_NO_1_2 = ("def answer_start(tokenizer, row, labels):\n    if row in train_rows[:3]:\n"
                     "        return 0\n"
                     "    prompt = [{'role': 'user', 'content': data.tone_instruction(row['phrase'], labels)}]\n"
                     "    text = tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)\n"
                     "    return len(tokenizer(text, add_special_tokens=False)['input_ids'])\n")
SUBMISSIONS = {
    "ada_correct": None,  # the instructor's own solutions
    "bob_wrong_then_check_says_no": {"1.1": WRONG_1_1, "1.2": CHECK_SAYS_NO_1_2},
    "cy_calls_the_helper_then_raises": {"1.1": CALLS_THE_HELPER_1_1, "1.2": RAISES_1_2},
    "dee_reads_solutions": {"1.1": 'import json\nsolution = json.load(open("../notebooks/01_intro.ipynb"))\n'},
}


def solved(source: str) -> str:
    """An exercise cell as a learner who got it right would hand it in: the solution, without nbgrader's markers."""
    return "\n".join(line for line in source.splitlines() if "### BEGIN SOLUTION" not in line and
                     "### END SOLUTION" not in line)


def make_submission(folder, name, answers):
    original = instructor("01_intro")
    notebook = handout.student_notebook(original)
    solutions = {cell.id: cell.source for cell in original.cells if handout.EXERCISE in handout.tags(cell)}
    for index in handout.exercise_cells(notebook):
        cell = notebook.cells[index]
        number = handout.exercise_title(cell).split()[1]
        cell.source = (answers or {}).get(number, solved(solutions[cell.id]))
    target = folder / name
    target.mkdir(parents=True)
    nbformat.write(notebook, target / "01_intro.ipynb")


@pytest.mark.exercises
def test_grading_scores_a_correct_a_wrong_and_a_failing_submission_and_refuses_a_copy(tmp_path, capsys):
    submissions = tmp_path / "submissions"
    for name, answers in SUBMISSIONS.items():
        make_submission(submissions, name, answers)
    (submissions / "eve_not_a_notebook").mkdir()
    (submissions / "eve_not_a_notebook" / "01_intro.ipynb").write_text("{ this is not json")
    assert cli.main(["grade", str(submissions), "--out", str(tmp_path / "grades"), "--timeout", "120"]) == 0
    rows = list(csv.DictReader((tmp_path / "grades" / "grades.csv").open()))
    points = {}
    for row in rows:
        points.setdefault(row["student"], {})[row["exercise"]] = (int(row["points"]), row["result"])
    assert {name: {exercise: p for exercise, (p, _) in grades.items()} for name, grades in points.items()} == {
        name: {"Exercise 1.1": p11, "Exercise 1.2": p12} for name, (p11, p12) in {
            "ada_correct": (1, 1), "bob_wrong_then_check_says_no": (0, 0), "cy_calls_the_helper_then_raises": (0, 0),
            "dee_reads_solutions": (0, 0), "eve_not_a_notebook": (0, 0)}.items()}
    bob, cy = points["bob_wrong_then_check_says_no"], points["cy_calls_the_helper_then_raises"]
    assert bob["Exercise 1.1"][1].startswith("fail in the check") or bob["Exercise 1.1"][1].startswith(
        "fail in hidden tests")
    assert bob["Exercise 1.2"][1].startswith("fail in the check: ❌ Exercise 1.2: not yet.")
    assert cy["Exercise 1.1"][1].startswith(
        "fail in the check: ❌ Exercise 1.1: not yet. your code calls `conversation_text`")
    assert "ZeroDivisionError" in cy["Exercise 1.2"][1]
    assert points["dee_reads_solutions"]["Exercise 1.1"][1].startswith("refused")
    assert points["eve_not_a_notebook"]["Exercise 1.1"][1].startswith("unreadable submission")
    out = capsys.readouterr().out
    assert "ada_correct" in out and "2/2" in out and "grades.csv" in out


def test_grading_a_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="STUDENT/<lesson>.ipynb"):
        grading.grade_folder(tmp_path / "nowhere", tmp_path / "grades")


def test_course_student_injects_a_labs_parameters_and_refuses_an_unknown_one(tmp_path, capsys):
    assert cli.main(["student", "03", "-p", "lora_r", "16", "--out", str(tmp_path)]) == 0
    version = nbformat.read(tmp_path / "03_lora.ipynb", as_version=4)
    injected = [c for c in version.cells if "injected-parameters" in handout.tags(c)]
    assert len(injected) == 1 and "lora_r = 16" in injected[0].source
    position = version.cells.index(injected[0])
    assert "parameters" in handout.tags(version.cells[position - 1])
    assert cli.main(["student", "03", "-p", "lora_rank", "16", "--out", str(tmp_path / "bad")]) == 2
    assert "lora_rank" in capsys.readouterr().err and not (tmp_path / "bad").exists()
