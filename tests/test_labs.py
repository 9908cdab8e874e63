"""Labs for instructors: course sweep, course search (Optuna, chosen on validation) and course report.

Most tests drive `tests/fixtures/lab_probe.ipynb`, a stand-in lesson that scores a setting in a second instead of
training and fails on purpose at lora_r = 13, through the same papermill path as `course run`. One test sweeps
lesson 03 itself for one point, so the lesson's own metric names are checked too.
"""

from __future__ import annotations

import csv
import json
import math
from collections import Counter
from pathlib import Path

import pytest

from course_utils import data
from course_utils.instructor import cli, labs, runner

ROOT = Path(__file__).resolve().parents[1]
PROBE = str(ROOT / "tests" / "fixtures" / "lab_probe.ipynb")
TEST_FILE = str((ROOT / "data" / "tone" / "test.jsonl").resolve())


def test_a_grid_expands_to_every_combination_and_rejects_a_parameter_given_twice():
    grid = labs.parse_grid([("lora_r", "2,8,32"), ("seed", "0,1")])
    assert grid == {"lora_r": [2, 8, 32], "seed": [0, 1]}
    points = labs.grid_points(grid)
    assert len(points) == 6 and points[0] == {"lora_r": 2, "seed": 0} and points[-1] == {"lora_r": 32, "seed": 1}
    assert labs.point_name({"lora_r": 8, "model_id": "org/model"}) == "lora_r=8,model_id=org_model"
    with pytest.raises(runner.UsageError, match="given twice"):
        labs.parse_grid([("seed", "0"), ("seed", "1")])


def test_names_joined_by_a_colon_move_together_and_must_each_get_a_value():
    grid = labs.parse_grid([("lora_r:lora_alpha", "2:4,8:16,32:64"), ("seed", "0,1")])
    assert labs.grid_parameters(grid) == ["lora_r", "lora_alpha", "seed"]
    points = labs.grid_points(grid)
    assert len(points) == 6 and points[0] == {"lora_r": 2, "lora_alpha": 4, "seed": 0}
    assert {(p["lora_r"], p["lora_alpha"]) for p in points} == {(2, 4), (8, 16), (32, 64)}
    with pytest.raises(runner.UsageError, match="'8' does not give 2 values joined by ':'"):
        labs.parse_grid([("lora_r:lora_alpha", "2:4,8")])
    with pytest.raises(runner.UsageError, match="lora_r is given twice"):
        labs.parse_grid([("lora_r:lora_alpha", "2:4"), ("lora_r", "8")])


@pytest.mark.parametrize("spec, message", [("lora_r=int:64:2", "LOW < HIGH"), ("lr=log:0:1", "above 0"),
                                           ("lora_r=int:2:6.5", "whole numbers"), ("lora_r=range:2:8", "KIND")])
def test_a_bad_search_space_is_refused_with_what_is_valid(spec, message):
    with pytest.raises(runner.UsageError, match=message):
        labs.parse_space([spec])


def test_a_search_space_reads_each_kind():
    space = labs.parse_space(["peft_learning_rate=log:1e-4:1e-2", "lora_r=int:2:64", "batch_size=choice:8,16,32"])
    assert space == {"peft_learning_rate": ("log", [1e-4, 1e-2]), "lora_r": ("int", [2, 64]),
                     "batch_size": ("choice", [8, 16, 32])}


def test_the_validation_split_is_stratified_seeded_and_disjoint():
    rows = data.load_tone(ROOT / "data" / "tone" / "train.jsonl")
    train, validation = data.validation_split(rows, 0.15, seed=3)
    assert len(validation) == round(0.15 * len(rows)) and len(train) + len(validation) == len(rows)
    shares = {label: n / len(validation) for label, n in Counter(r["tone"] for r in validation).items()}
    whole = {label: n / len(rows) for label, n in Counter(r["tone"] for r in rows).items()}
    assert shares.keys() == whole.keys() and all(abs(shares[k] - whole[k]) < 0.01 for k in whole)
    assert data.validation_split(rows, 0.15, seed=3) == (train, validation)
    assert data.validation_split(rows, 0.15, seed=4)[1] != validation
    assert Counter(map(json.dumps, train + validation)) == Counter(map(json.dumps, rows))


def test_the_validation_split_refuses_what_it_cannot_do(tmp_path):
    rows = [{"phrase": "a", "tone": "Joy"}, {"phrase": "b", "tone": "Joy"}, {"phrase": "c", "tone": "Rõõm"}]
    with pytest.raises(data.DataError, match="'Rõõm' has only one row"):
        data.validation_split(rows, 0.15, source="my.jsonl")
    with pytest.raises(data.DataError, match="validation_fraction must be between 0 and 1"):
        data.validation_split(rows, 1.5)


def test_the_t_interval_matches_a_hand_computation():
    low, high = labs.t_interval([0.5, 0.6, 0.7])
    half = 4.302653 * 0.1 / math.sqrt(3)  # t(0.975, 2 degrees of freedom) x the standard error
    assert low == pytest.approx(0.6 - half, abs=1e-6) and high == pytest.approx(0.6 + half, abs=1e-6)
    assert all(math.isnan(v) for v in labs.t_interval([0.5]))


def rows_of(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(path.open()))


@pytest.mark.labs
def test_a_two_by_two_sweep_gives_four_rows_a_summary_and_a_plot_and_a_rerun_skips_them(tmp_path, capsys):
    out = tmp_path / "ranks"
    args = ["sweep", PROBE, "-p", "lora_r", "8,16", "-p", "seed", "0,1", "--out", str(out)]
    assert cli.main(args) == 0
    table = rows_of(out / "sweep.csv")
    assert len(table) == 4 and {row["status"] for row in table} == {"ok"}
    assert [(row["lora_r"], row["seed"]) for row in table] == [("8", "0"), ("8", "1"), ("16", "0"), ("16", "1")]
    summary = rows_of(out / "summary.csv")
    assert [row["lora_r"] for row in summary] == ["8", "16"] and {row["lora_accuracy n"] for row in summary} == {"2"}
    for row in summary:  # the interval holds the mean of the two seeds
        assert float(row["lora_accuracy 95% low"]) < float(row["lora_accuracy mean"]) < float(row["lora_accuracy 95% high"])
    assert (out / "sweep.png").stat().st_size > 10_000
    stamps = {p: p.stat().st_mtime_ns for p in out.glob("points/*/point.json")}
    capsys.readouterr()
    assert cli.main(args) == 0
    assert capsys.readouterr().out.count("finished before, skipped") == 4
    assert {p: p.stat().st_mtime_ns for p in out.glob("points/*/point.json")} == stamps
    assert cli.main(["report", str(out)]) == 0
    report = (out / "report.md").read_text()
    assert "# Sweep: lab_probe" in report and "![the metrics against the swept parameter](sweep.png)" in report


@pytest.mark.labs
def test_a_point_that_fails_is_reported_and_the_others_finish(tmp_path, capsys):
    out = tmp_path / "failing"
    assert cli.main(["sweep", PROBE, "-p", "lora_r", "13,8,16", "--out", str(out)]) == 1
    table = {row["lora_r"]: row for row in rows_of(out / "sweep.csv")}
    assert table["13"]["status"] == "FAILED" and "RuntimeError: lora_r = 13 fails on purpose" in table["13"]["detail"]
    assert table["13"]["detail"].startswith("cell ")
    assert table["8"]["status"] == table["16"]["status"] == "ok"
    assert (out / "points" / "lora_r=13" / "lab_probe" / "lab_probe.failed.ipynb").exists()
    assert "FAILED lora_r=13: cell" in capsys.readouterr().out


@pytest.mark.labs
def test_a_bad_value_is_refused_before_any_point_runs(tmp_path, capsys):
    out = tmp_path / "bad"
    assert cli.main(["sweep", PROBE, "-p", "lora_r", "8,0", "--out", str(out)]) == 2
    assert "lora_r" in capsys.readouterr().err
    assert not (out / "points").exists()


@pytest.mark.labs
def test_a_search_resumes_from_its_study_and_never_reads_the_test_file_while_choosing(tmp_path, capsys):
    import optuna

    out = tmp_path / "search"
    space = ["-s", "peft_learning_rate=log:1e-4:1e-1", "-s", "lora_r=choice:8,13,16", "--metric", "lora_accuracy"]
    assert cli.main(["search", PROBE, "--trials", "3", "--sampler", "random", "--out", str(out), *space]) == 0
    study = optuna.load_study(study_name="lab_probe", storage=f"sqlite:///{out / 'study.db'}")
    assert len(study.trials) == 3
    assert cli.main(["search", PROBE, "--trials", "5", "--sampler", "random", "--out", str(out), *space]) == 0
    study = optuna.load_study(study_name="lab_probe", storage=f"sqlite:///{out / 'study.db'}")
    assert [t.number for t in study.trials] == [0, 1, 2, 3, 4]
    assert len({(t.params["lora_r"], t.params["peft_learning_rate"]) for t in study.trials}) == 5  # no repeats
    # A failing trial (lora_r 13) is marked failed in the study, and the search went on.
    for trial in study.trials:
        expected = optuna.trial.TrialState.FAIL if trial.params["lora_r"] == 13 else optuna.trial.TrialState.COMPLETE
        assert trial.state == expected, trial
    validation = str(out / "split" / "validation.jsonl")
    for folder in sorted((out / "trials").iterdir()):
        metrics_path = folder / "lab_probe" / "metrics.json"
        if metrics_path.exists():
            read = json.loads(metrics_path.read_text())["files_read"]
            assert read == [str(out / "split" / "train.jsonl"), validation] and TEST_FILE not in read
    final = json.loads((out / "final" / "lab_probe" / "metrics.json").read_text())
    assert final["files_read"] == [str(out / "split" / "train.jsonl"), TEST_FILE]  # the test file, once, at the end
    result = json.loads((out / "search.json").read_text())
    assert result["trials"] == 5 and result["best_params"] == study.best_trial.params
    assert result["best_validation"] == study.best_value and result["test"] == final["lora_accuracy"]
    assert (out / "history.png").exists() and (result["complete"] < 2 or (out / "importances.png").exists())
    assert cli.main(["report", str(out)]) == 0
    assert "test (read once, at the end)" in (out / "report.md").read_text()


@pytest.mark.labs
def test_a_sweep_of_lesson_03_collects_its_key_metrics(tmp_path):
    out = tmp_path / "lesson03"
    assert cli.main(["sweep", "03_lora", "-p", "lora_r", "2", "--set", "max_steps", "4", "--set", "n_test", "16",
                     "--set", "sweep_ranks", "", "--out", str(out)]) == 0  # a lesson's own parameter, held by --set
    (row,) = rows_of(out / "sweep.csv")
    assert row["status"] == "ok"
    point = json.loads(next(out.glob("points/*/03_lora/metrics.json")).read_text())
    assert point["sweep_ranks"] == "" and [rank["r"] for rank in point["rank_sweep"]] == [2]
    assert 0 <= float(row["lora_accuracy"]) <= 1 and float(row["adapter_mb"]) > 0 and float(row["lora_trainable_pct"]) > 0


@pytest.mark.labs
def test_a_sweep_on_validation_scores_on_the_split_and_never_reads_the_test_file(tmp_path):
    out = tmp_path / "choose"
    assert cli.main(["sweep", PROBE, "-p", "lora_r", "8,16", "--on-validation", "--out", str(out)]) == 0
    for metrics_path in out.glob("points/*/lab_probe/metrics.json"):
        read = json.loads(metrics_path.read_text())["files_read"]
        assert read == [str(out / "split" / "train.jsonl"), str(out / "split" / "validation.jsonl")]
    assert len(list(out.glob("points/*/lab_probe/metrics.json"))) == 2
    assert cli.main(["sweep", PROBE, "-p", "lora_r", "8", "--on-validation", "--set", "tone_test", TEST_FILE,
                     "--out", str(tmp_path / "refused")]) == 2


@pytest.mark.labs
def test_two_terminals_add_trials_to_one_study_and_stop_at_the_total(tmp_path):
    """Both start at once: they race to create the SQLite tables, then share the study's trial numbers."""
    import subprocess
    import sys

    import optuna

    out = tmp_path / "shared"
    command = [sys.executable, "-m", "course_utils", "search", PROBE, "--trials", "6", "--metric", "lora_accuracy",
               "--sampler", "random", "-s", "peft_learning_rate=log:1e-4:1e-1", "-s", "lora_r=int:14:32",
               "--out", str(out)]
    terminals = [subprocess.Popen(command + ["--seed", str(seed)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  text=True) for seed in (1, 2)]
    outputs = [terminal.communicate(timeout=300)[0] for terminal in terminals]
    assert [terminal.returncode for terminal in terminals] == [0, 0], outputs
    study = optuna.load_study(study_name="lab_probe", storage=f"sqlite:///{out / 'study.db'}")
    # Each terminal stops once the study holds 6 trials; one already running in the other terminal still finishes.
    assert 6 <= len(study.trials) <= 7 and all(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)
    assert sorted(p.name for p in (out / "trials").iterdir()) == [f"{t.number:03d}" for t in study.trials]
