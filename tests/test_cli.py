"""`course run` and `course doctor`: bad input fails fast and clearly; a failing lesson is reported."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from course_utils import doctor
from course_utils.instructor import runner


def course(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run `python -m course_utils ARGS` as a user would run `course ARGS`."""
    return subprocess.run([sys.executable, "-m", "course_utils", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=300)


def test_course_console_script_is_installed() -> None:
    script = Path(sys.executable).parent / "course"
    assert script.exists(), "the README's set-up installs the `course` command next to python"
    result = subprocess.run([str(script), "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "run" in result.stdout and "doctor" in result.stdout


def test_negative_max_steps_fails_before_running() -> None:
    result = course("run", "01_intro", "-p", "max_steps", "-1")
    assert result.returncode != 0
    assert "max_steps must be a positive integer (got -1)" in result.stderr


def test_missing_model_path_fails_before_running() -> None:
    result = course("run", "01_intro", "-p", "model_id", "/no/such/dir")
    assert result.returncode != 0
    assert "model_id is a local path that does not exist: /no/such/dir" in result.stderr


def test_unknown_parameter_and_notebook_list_what_is_valid() -> None:
    with pytest.raises(ValueError, match="valid parameters are: profile, model_id"):
        runner.validate_overrides(["01_intro"], "ci", {"lora_rank": 4})
    with pytest.raises(runner.UsageError, match="unknown notebook '99_nope'; available: 01_intro"):
        runner.select_notebooks(["99_nope"])


def test_parameter_a_notebook_does_not_take_is_refused() -> None:
    with pytest.raises(runner.UsageError, match="01_intro does not take parameter max_steps; it takes: .*model_id"):
        runner.validate_overrides(["01_intro"], "ci", {"max_steps": 5})


def test_every_lesson_parameter_can_be_set_with_p() -> None:
    """A name in a parameters cell is a field of Params or one of config.LESSON_VALIDATORS: -p checks and passes it."""
    from course_utils import config

    for stem in runner.available_notebooks():
        own = runner.notebook_parameters(stem) - set(config.PARAMETER_NAMES)
        missing = own - set(config.LESSON_VALIDATORS)
        assert not missing, f"{stem}: add {missing} to config.LESSON_VALIDATORS"
    with pytest.raises(ValueError) as unknown:  # the error lists each, with its lesson
        config.validate_value("nope", 1)
    assert all(f"{name} ({lesson})" in str(unknown.value) for name, (lesson, _) in config.LESSON_VALIDATORS.items())


def test_each_lesson_parameter_is_declared_by_the_lesson_it_names() -> None:
    from course_utils import config

    for name, (lesson, _) in config.LESSON_VALIDATORS.items():
        assert name in runner.notebook_parameters(runner.select_notebooks([lesson])[0]), (name, lesson)


def test_a_relative_path_is_passed_to_the_lesson_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Lessons run in notebooks/, so `-p model_id my-model` (a folder here) reaches them as an absolute path."""
    (tmp_path / "my-model").mkdir()
    (tmp_path / "mine.jsonl").write_text("{}\n")
    monkeypatch.chdir(tmp_path)
    fixed = runner.absolute_paths({"model_id": "my-model", "tone_train": "mine.jsonl", "speed_model_id": None,
                                   "labels": "my-model", "extract_test": "absent.jsonl"})
    assert fixed == {"model_id": str(tmp_path / "my-model"), "tone_train": str(tmp_path / "mine.jsonl"),
                     "speed_model_id": None, "labels": "my-model", "extract_test": "absent.jsonl"}


def test_a_lessons_own_parameter_is_checked_and_taken_only_where_it_is_declared() -> None:
    runner.validate_overrides(["07_troubleshooting"], "cpu", {"memory_budget_gb": 8, "max_steps": 5})
    runner.validate_overrides(["05_export"], "ci", {"n_parity": 4, "speed_model_id": None})
    with pytest.raises(ValueError, match="speed_model_id must be None .* or a local model folder"):
        runner.validate_overrides(["05_export"], "ci", {"speed_model_id": "Qwen/Qwen2.5-0.5B-Instruct"})
    runner.validate_overrides(["03_lora"], "ci", {"sweep_ranks": "4,16"})
    runner.validate_overrides(["09_preference"], "cpu", {"base_dpo": True})
    runner.validate_overrides(["09_preference"], "cpu", {"sft_term": True})
    with pytest.raises(ValueError, match=r"sft_term must be True, False or None"):
        runner.validate_overrides(["09_preference"], "cpu", {"sft_term": 1.5})
    runner.validate_overrides(["05_export"], "cpu", {"olive_finetune": True})
    with pytest.raises(ValueError, match=r"olive_finetune must be True, False or None"):
        runner.validate_overrides(["05_export"], "cpu", {"olive_finetune": "yes"})
    with pytest.raises(ValueError, match=r"memory_budget_gb must be a positive number of gigabytes \(got 0\)"):
        runner.validate_overrides(["07_troubleshooting"], "ci", {"memory_budget_gb": 0})
    with pytest.raises(ValueError, match='sweep_ranks must be None .* or comma-separated positive ranks, like "2,32"'):
        runner.validate_overrides(["03_lora"], "ci", {"sweep_ranks": "2,x"})
    with pytest.raises(runner.UsageError, match="03_lora does not take parameter memory_budget_gb"):
        runner.validate_overrides(["03_lora"], "ci", {"memory_budget_gb": 8})
    result = course("run", "07", "-p", "memory_budget_gb", "-3")
    assert result.returncode != 0
    assert "memory_budget_gb must be a positive number of gigabytes (got -3)" in result.stderr


def test_profile_and_out_are_options_not_parameters() -> None:
    with pytest.raises(runner.UsageError, match="set out_dir with --out"):
        runner.validate_overrides(["01_intro"], "ci", {"out_dir": "x"})


def test_notebooks_are_chosen_by_stem_or_prefix() -> None:
    assert runner.select_notebooks(["01"]) == ["01_intro"]
    assert runner.select_notebooks(["notebooks/01_intro.ipynb"]) == ["01_intro"]
    assert runner.select_notebooks([]) == runner.available_notebooks()


@pytest.mark.parametrize(("text", "value"), [
    ("-1", -1), ("3", 3), ("2e-4", 2e-4), ("None", None), ("true", True), ("course-tiny", "course-tiny"),
])
def test_parameter_values_are_typed_like_papermill(text: str, value: object) -> None:
    assert runner.parse_value(text) == value


def test_summary_table_shows_status_seconds_and_key_metrics() -> None:
    table = runner.format_summary([
        runner.Outcome("01_intro", "ok", 12.34, metrics={"base_accuracy": 0.0, "n_train": 1200, "labels": ["a"]}),
        runner.Outcome("02_full_vs_peft", "FAILED", 3.0, detail="cell 4: ValueError: boom"),
    ])
    lines = table.splitlines()
    assert lines[0].split() == ["notebook", "status", "seconds", "key", "metrics"]
    assert "01_intro" in lines[2] and "ok" in lines[2] and "12.3" in lines[2] and "base_accuracy=0" in lines[2]
    assert "n_train=1200" in lines[2] and "labels" not in lines[2]
    assert "FAILED" in lines[3] and "cell 4: ValueError: boom" in lines[3]


def test_nested_metrics_fill_the_summary_when_there_are_few_top_level_numbers() -> None:
    shown = runner.key_metrics({"params": {"seed": 0}, "eos": {"mean_len_before": 20.0, "mean_len_after": 4.4}, "n": 3})
    assert shown == {"n": 3, "eos.mean_len_before": 20.0, "eos.mean_len_after": 4.4}


def write_notebook(path: Path, body: str) -> None:
    notebook = new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    parameters = new_code_cell('profile = "ci"  # profile\nout_dir = None  # results folder')
    parameters.metadata["tags"] = ["parameters"]
    notebook.cells = [parameters, new_code_cell(body)]
    nbformat.write(notebook, path)


@pytest.mark.slow
def test_a_failing_notebook_is_reported_and_the_others_still_run(tmp_path: Path) -> None:
    (tmp_path / "notebooks").mkdir()
    write_notebook(tmp_path / "notebooks" / "01_bad.ipynb", 'raise ValueError("lesson broke here")')
    write_notebook(tmp_path / "notebooks" / "02_good.ipynb",
                   "import json, pathlib\np = pathlib.Path(out_dir, '02_good')\np.mkdir(parents=True, exist_ok=True)\n"
                   "(p / 'metrics.json').write_text(json.dumps({'accuracy': 0.75}))")
    out = tmp_path / "out"
    result = course("run", "--out", str(out), env={"COURSE_ROOT": str(tmp_path)})
    assert result.returncode == 1, result.stdout + result.stderr
    assert "01_bad FAILED" in result.stdout and "ValueError: lesson broke here" in result.stdout
    assert "02_good ok" in result.stdout and "accuracy=0.75" in result.stdout
    assert (out / "01_bad" / "01_bad.failed.ipynb").exists()
    assert json.loads((out / "02_good" / "metrics.json").read_text()) == {"accuracy": 0.75}
    assert (out / "02_good" / "02_good.ipynb").exists()
    # the kernels' start-up warning about unencrypted local sockets is not shown (runner.KERNEL_ARGUMENTS)
    assert "WARNING" not in result.stderr and "without encryption" not in result.stdout + result.stderr

    stopped = course("run", "--out", str(tmp_path / "out2"), "--fail-fast", env={"COURSE_ROOT": str(tmp_path)})
    assert stopped.returncode == 1 and "02_good" not in stopped.stdout


def test_doctor_prints_ok_lines_and_exits_zero() -> None:
    result = course("doctor")
    assert result.returncode == 0, result.stdout
    torch = doctor.pinned_versions()["torch"]  # requirements.txt's pin
    assert "[OK] python" in result.stdout and f"[OK] torch: {torch}" in result.stdout
    assert "[OK] bitsandbytes: 4-bit NF4 quantization works" in result.stdout
    assert "[OK] device: cpu" in result.stdout or "[OK] device: cuda" in result.stdout
    if "[OK] device: cpu" in result.stdout:  # and whether bf16 would be fast here (lesson 08, section 6)
        from course_utils import compat

        expected = "fast bf16 matrix products (oneDNN)" if compat.cpu_fast_bf16() else "no fast bf16 matrix products"
        assert f"[OK] bf16 on this CPU: {expected}" in result.stdout
