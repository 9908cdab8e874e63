"""Scoring on the tone task: answer parsing, accuracy bookkeeping, reruns give identical numbers."""

from __future__ import annotations

import pytest

from course_utils import data, evaluate

LABELS = ["fear", "joy", "sadness", "surprise"]


@pytest.mark.parametrize(("answer", "expected"), [
    ("joy", "joy"), ("Joy.", "joy"), ("  SADNESS!", "sadness"), ("fear and joy", "fear"),
    ("happy", None), ("", None), ("the joy", None),
])
def test_parse_label_reads_the_first_word(answer: str, expected: str | None) -> None:
    assert evaluate.parse_label(answer, LABELS) == expected


def test_tone_accuracy_counts_correct_and_invalid_answers(tiny_model_and_tokenizer) -> None:
    model, tokenizer = tiny_model_and_tokenizer
    rows = data.load_tone("data/tone/test.jsonl", limit=24)
    result = evaluate.tone_accuracy(model, tokenizer, rows, LABELS, batch_size=8)
    assert len(result["answers"]) == len(result["predictions"]) == 24
    correct = sum(p == r["tone"] for p, r in zip(result["predictions"], rows))
    assert result["accuracy"] == correct / 24
    assert result["invalid_rate"] == sum(p is None for p in result["predictions"]) / 24
    again = evaluate.tone_accuracy(model, tokenizer, rows, LABELS, batch_size=5)
    assert again["answers"] == result["answers"], "batching changed greedy answers"


def test_ranked_accuracy_of_the_base_model_is_near_chance(tiny_model_and_tokenizer) -> None:
    model, tokenizer = tiny_model_and_tokenizer
    rows = data.load_tone("data/tone/test.jsonl")
    accuracy = evaluate.ranked_tone_accuracy(model, tokenizer, rows, LABELS)
    assert accuracy == pytest.approx(0.25, abs=0.1)  # chance for 4 balanced labels, +-0.1
    assert evaluate.ranked_tone_accuracy(model, tokenizer, rows, LABELS) == accuracy
