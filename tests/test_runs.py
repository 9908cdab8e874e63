"""Results: where metrics.json goes, and atomic writes that never corrupt the last good file."""

from __future__ import annotations

import json
import math

import pytest

from course_utils import config, runs


def test_metrics_go_under_out_dir_with_the_parameters(tmp_path) -> None:
    params = config.resolve_params("ci", out_dir=str(tmp_path))
    path = runs.write_metrics({"accuracy": 0.5, "counts": (1, 2)}, params, "01_intro")
    assert path == tmp_path / "01_intro" / "metrics.json"
    record = json.loads(path.read_text())
    assert record["accuracy"] == 0.5 and record["counts"] == [1, 2]
    assert record["params"]["profile"] == "ci" and record["notebook"] == "01_intro"


def test_default_run_dir_is_runs_profile() -> None:
    params = config.resolve_params("cpu")
    assert runs.run_dir(params, "03_lora") == config.course_root() / "runs" / "cpu" / "03_lora"


def test_a_failed_write_keeps_the_last_good_metrics(tmp_path) -> None:
    params = config.resolve_params("ci", out_dir=str(tmp_path))
    path = runs.write_metrics({"accuracy": 0.7}, params, "02_full_vs_peft")
    with pytest.raises(ValueError, match="not a finite number"):
        runs.write_metrics({"accuracy": math.nan}, params, "02_full_vs_peft")
    assert json.loads(path.read_text())["accuracy"] == 0.7
    assert [p.name for p in path.parent.iterdir()] == ["metrics.json"], "temporary file left behind"


def test_atomic_write_survives_an_interrupted_write(tmp_path, monkeypatch) -> None:
    target = tmp_path / "file.txt"
    runs.atomic_write_text(target, "good")

    def broken_replace(*_: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(runs.os, "replace", broken_replace)
    with pytest.raises(KeyboardInterrupt):
        runs.atomic_write_text(target, "half")
    assert target.read_text() == "good"
    assert [p.name for p in tmp_path.iterdir()] == ["file.txt"]


def test_results_get_the_usual_permissions_not_the_temporary_files(tmp_path) -> None:
    """A lab folder shared with a class: metrics.json and saved folders are as readable as a plain write makes them."""
    import os
    import stat

    old = os.umask(0o022)
    try:
        params = config.resolve_params("ci", out_dir=str(tmp_path))
        path = runs.write_metrics({"accuracy": 0.5}, params, "01_intro")
        with runs.atomic_directory(tmp_path / "adapter") as staging:
            (staging / "weights.bin").write_bytes(b"0")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "adapter").stat().st_mode) == 0o755


def _made_by_lesson_03(tmp_path, **overrides) -> None:
    """A stand-in for lesson 03's folder: its adapter and the metrics.json that records how it was made."""
    params = config.resolve_params("ci", out_dir=str(tmp_path), **overrides)
    (tmp_path / "03_lora" / "adapter-tone").mkdir(parents=True)
    runs.write_metrics({"lora_accuracy": 0.6}, params, "03_lora")


def test_an_artifact_is_reused_only_when_every_parameter_that_shapes_it_matches(tmp_path) -> None:
    from course_utils import artifacts

    _made_by_lesson_03(tmp_path, labels="joy,sadness,fear,surprise")
    same = config.resolve_params("ci", out_dir=str(tmp_path), labels="joy,sadness,fear,surprise", n_test=20)
    assert artifacts.reusable(same, "adapter-tone") == tmp_path / "03_lora" / "adapter-tone"
    # the label order is in every training prompt: lesson 06 with the labels in another order trains its own
    reordered = config.resolve_params("ci", out_dir=str(tmp_path), labels="surprise,fear,joy,sadness")
    assert artifacts.reusable(reordered, "adapter-tone") is None
    assert artifacts.reusable(config.resolve_params("ci", out_dir=str(tmp_path), labels="joy,sadness,fear,surprise",
                                                    gradient_accumulation_steps=2), "adapter-tone") is None


def test_the_reuse_key_leaves_out_only_what_cannot_change_an_artifact() -> None:
    from course_utils import artifacts

    key = artifacts.reuse_key(config.resolve_params("ci"), "adapter-extract")
    scoring_and_output = {"profile", "n_test", "n_shots", "n_extract", "tone_test", "qa_test", "extract_test",
                          "out_dir"}
    lesson_09_only = {"preference_train", "preference_test", "dpo_beta"}  # lesson 09 leaves no artifact to reuse
    assert set(key) == set(config.PARAMETER_NAMES) - scoring_and_output - lesson_09_only
    assert "labels" in key and "gradient_accumulation_steps" in key
    # Every other artifact leaves out what shapes the extract adapter alone.
    extract_only = {"extract_train", "extract_max_steps", "extract_learning_rate"}
    for artifact in ("adapter-tone", "checkpoint-full", "adapter-qlora", "merged-hf", "onnx-int4"):
        assert set(artifacts.reuse_key(config.resolve_params("ci"), artifact)) == set(key) - extract_only


def test_other_extraction_settings_keep_the_tone_adapter_and_not_the_extract_adapter(tmp_path) -> None:
    """Lesson 03 run with -p extract_max_steps 30: a later lesson at the profile's 100 reuses the tone adapter only."""
    from course_utils import artifacts

    _made_by_lesson_03(tmp_path, extract_max_steps=30, extract_learning_rate=3e-4)
    (tmp_path / "03_lora" / "adapter-extract").mkdir()
    later = config.resolve_params("ci", out_dir=str(tmp_path))
    assert artifacts.reusable(later, "adapter-tone") == tmp_path / "03_lora" / "adapter-tone"
    assert artifacts.reusable(later, "adapter-extract") is None
    same = config.resolve_params("ci", out_dir=str(tmp_path), extract_max_steps=30, extract_learning_rate=3e-4)
    assert artifacts.reusable(same, "adapter-extract") == tmp_path / "03_lora" / "adapter-extract"
