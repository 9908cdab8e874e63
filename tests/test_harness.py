"""Lesson 06's harness: metrics from scikit-learn, rouge-score and sacrebleu, bootstrap intervals, clear errors."""

from __future__ import annotations

import pytest

from course_utils import evaluate

LABELS = ["neg", "pos"]
ROWS = [{"phrase": "good", "tone": "pos"}, {"phrase": "bad", "tone": "neg"},
        {"phrase": "fine", "tone": "pos"}, {"phrase": "awful", "tone": "neg"}]


def test_classification_report_counts_invalid_answers_as_wrong() -> None:
    report = evaluate.classification_report(["pos", "neg", None, "pos"], ROWS, LABELS)
    assert report["accuracy"] == 0.5
    assert report["precision"] == {"neg": 1.0, "pos": 0.5} and report["recall"] == {"neg": 0.5, "pos": 0.5}
    assert report["confusion"] == [[1, 1, 0], [0, 1, 1], [0, 0, 0]]  # rows: neg, pos, (invalid)
    assert 0 < report["macro_f1"] < 1


def test_bootstrap_interval_contains_the_mean_and_repeats_with_the_seed() -> None:
    correct = [True] * 60 + [False] * 40
    low, high = evaluate.bootstrap_ci(correct, seed=3)
    assert low < 0.6 < high and high - low < 0.25
    assert evaluate.bootstrap_ci(correct, seed=3) == (low, high)
    assert evaluate.bootstrap_ci([True] * 10) == (1.0, 1.0)


def test_generation_scores_are_100_for_exact_answers_and_low_for_wrong_ones() -> None:
    exact = evaluate.generation_scores(["The opposite of hot is cold."], ["The opposite of hot is cold."])
    assert exact["rougeL"] == pytest.approx(100) and exact["bleu"] == pytest.approx(100)
    wrong = evaluate.generation_scores(["banana"], ["The opposite of hot is cold."])
    assert wrong["rougeL"] == 0 and wrong["bleu"] < 1


def fake_variant(answers: list[str]) -> evaluate.Variant:
    return evaluate.Variant("fake", lambda prompts, n: answers[: len(prompts)], size_mb=1.0)


def test_score_variant_with_user_labels(tiny_model_and_tokenizer) -> None:
    _, tokenizer = tiny_model_and_tokenizer
    result = evaluate.score_variant(fake_variant(["pos", "neg", "maybe", "pos"]), tokenizer, ROWS, LABELS, seed=1)
    assert result["accuracy"] == 0.5 and result["invalid_rate"] == 0.25
    assert result["accuracy_ci"][0] <= 0.5 <= result["accuracy_ci"][1]
    assert result["perplexity"] is None and result["rougeL"] is None and result["size_mb"] == 1.0


def test_empty_test_split_is_a_clear_error(tiny_model_and_tokenizer) -> None:
    _, tokenizer = tiny_model_and_tokenizer
    with pytest.raises(ValueError, match="the tone test split is empty"):
        evaluate.score_variant(fake_variant([]), tokenizer, [], LABELS)


def test_perplexity_is_low_on_text_the_model_was_pretrained_on(tiny_model_and_tokenizer) -> None:
    model, tokenizer = tiny_model_and_tokenizer
    seen = evaluate.perplexity(model, tokenizer, ["I am grateful because the band played our favourite song."])
    unseen = evaluate.perplexity(model, tokenizer, ["Quarterly revenue projections exceeded consensus estimates."])
    assert 1 < seen < unseen
