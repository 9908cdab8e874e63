"""Every lesson runs at the ci profile with papermill, and its metrics.json holds what its prose claims.

Each lesson has a check function below; a new notebook without one fails, so no lesson is only "it ran".
Thresholds are written next to each assertion, with the reason.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import pytest

from course_utils import cli

NOTEBOOKS = cli.available_notebooks()


@pytest.fixture(scope="session")
def run_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One results folder for the session, so a later lesson can reuse an earlier one's artifacts."""
    return tmp_path_factory.mktemp("runs-ci")


def images_in(notebook: Path) -> int:
    cells = json.loads(notebook.read_text())["cells"]
    return sum("image/png" in output.get("data", {}) for c in cells for output in c.get("outputs", []))


def check_01_intro(metrics: dict[str, Any], executed: Path) -> None:
    # "near zero": the base model has never seen the task. Measured 0.0 at ci; allow up to 10 %.
    assert metrics["base_accuracy"] <= 0.10
    # "most answers are invalid": measured 100 %; at least 80 %.
    assert metrics["base_invalid_rate"] >= 0.80
    # "no better than chance" when choosing among 4 balanced labels: 25 % +- 10 points.
    assert metrics["chance_accuracy"] == 0.25
    assert metrics["base_ranked_accuracy"] == pytest.approx(0.25, abs=0.10)
    # Shipped data sizes, and the held-out split shares no phrase with training.
    assert metrics["n_train"] >= 1000 and metrics["n_test"] == 200 and metrics["split_overlap"] == 0
    assert metrics["labels"] == ["fear", "joy", "sadness", "surprise"]
    # "a few hundred thousand parameters"; "every example fits in under 100 tokens".
    assert 100_000 <= metrics["model_params"] < 1_000_000
    assert 0 < metrics["max_tokens"] < 100
    # Pretraining curve, length histogram and the baseline bar chart are drawn.
    assert images_in(executed) >= 3


CHECKS: dict[str, Callable[[dict[str, Any], Path], None]] = {
    "01_intro": check_01_intro,
}


@pytest.mark.notebooks
@pytest.mark.parametrize("stem", NOTEBOOKS)
def test_lesson_runs_at_ci_profile_and_keeps_its_claims(stem: str, run_out: Path) -> None:
    assert stem in CHECKS, f"add check_{stem} to tests/test_notebooks.py: assert the numbers the lesson claims"
    outcome = cli.run_notebook(stem, "ci", {}, run_out, progress=False)
    assert outcome.status == "ok", f"{stem}: {outcome.detail}"
    metrics = json.loads((run_out / stem / "metrics.json").read_text())
    assert metrics["params"]["profile"] == "ci" and metrics["notebook"] == stem
    CHECKS[stem](metrics, run_out / stem / f"{stem}.ipynb")
