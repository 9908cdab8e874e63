"""The exercise checks: a typical wrong answer gets a sentence that points at the mistake, and never the solution.

The right answers are the instructor's solutions in the notebooks; the notebook tests run them through these checks.
"""

from __future__ import annotations

import pytest
import torch

from course_utils import checks


def verdict(capsys, result: bool) -> str:
    out = capsys.readouterr().out
    assert result is False and "not yet" in out, out
    return out


def test_lora_share_without_the_adapter_in_the_total(capsys):
    out = verdict(capsys, checks.lora_share(lambda d_in, d_out, r: r * (d_in + d_out) / (d_in * d_out)))
    assert "include the adapter" in out


def test_lora_delta_with_the_wrong_scale_and_the_wrong_order(capsys):
    layer = type("Layer", (), {})()
    generator = torch.Generator().manual_seed(0)
    A, B = torch.randn(4, 12, generator=generator), torch.randn(6, 4, generator=generator)
    layer.lora_A = {"default": torch.nn.Linear(12, 4, bias=False)}
    layer.lora_B = {"default": torch.nn.Linear(4, 6, bias=False)}
    layer.lora_A["default"].weight.data, layer.lora_B["default"].weight.data = A, B
    layer.lora_alpha = {"default": 8}
    layer.get_delta_weight = lambda name: 2 * B @ A
    assert "wrong factor" in verdict(capsys, checks.lora_delta(lambda A, B, alpha, r: B @ A, layer))
    assert "wrong factor" in verdict(capsys, checks.lora_delta(lambda A, B, alpha, r: r / alpha * B @ A, layer))
    assert "read the correction off" in verdict(capsys, checks.lora_delta(lambda A, B, alpha, r: B @ A + 1, layer))
    assert "shape" in verdict(capsys, checks.lora_delta(lambda A, B, alpha, r: A.T @ B.T, layer))


def test_bootstrap_that_never_resamples_is_too_narrow(capsys):
    mean = lambda correct, resamples, seed: (sum(correct) / len(correct),) * 2  # noqa: E731
    assert "too narrow" in verdict(capsys, checks.bootstrap(mean))


def test_a_split_that_is_not_stratified(capsys):
    rows = [{"phrase": str(i), "tone": "a" if i < 80 else "b"} for i in range(100)]
    first_rows = lambda rows, fraction, seed: (rows[int(fraction * len(rows)):], rows[: int(fraction * len(rows))])  # noqa: E731
    assert "each label" in verdict(capsys, checks.stratified_split(first_rows, rows))


def test_a_diagnosis_that_misses_divergence(capsys):
    def diagnose(train, validation):
        return "overfitting" if validation[-1] > min(validation) else "healthy"

    assert "diverging" in verdict(capsys, checks.diagnosis(diagnose))


def test_a_batch_search_that_overshoots_the_budget(capsys):
    assert "does not fit" in verdict(capsys, checks.largest_batch(lambda estimate, budget: 512, lambda b: b / 10, 8))


def test_macro_f1_that_is_the_accuracy(capsys):
    accuracy = lambda predicted, truth, labels: sum(p == t for p, t in zip(predicted, truth)) / len(truth)  # noqa: E731
    out = verdict(capsys, checks.macro_f1(accuracy, ["a", "b", "b", "a"], ["a", "b", "a", "a"], ["a", "b"]))
    assert "accuracy" in out


def test_parity_that_counts_padding_as_a_difference(capsys):
    assert "padding" in verdict(capsys, checks.parity(lambda a, b, eos: a == b, 2))


def test_bytes_per_rank_without_optimizer_states(capsys):
    out = verdict(capsys, checks.bytes_per_rank(lambda n, p, sharded: 8 * n / p, 1000, 2, 8000))
    assert "AdamW" in out


def test_a_check_reports_an_exception_in_the_learners_code_and_goes_on(capsys):
    assert "KeyError" in verdict(capsys, checks.diagnosis(lambda train, validation: {}["x"]))


@pytest.mark.parametrize("check", [checks.bootstrap, checks.lora_share, checks.diagnosis])
def test_no_message_contains_code_to_copy(check, capsys):
    with pytest.raises(NotImplementedError):
        check(lambda *_: (_ for _ in ()).throw(NotImplementedError("Hint: x")))
    out = capsys.readouterr().out
    assert "def " not in out and "return " not in out


def test_a_split_that_shuffles_the_callers_list_or_ignores_the_seed(capsys):
    import random

    rows = [{"phrase": str(i), "tone": "a" if i < 80 else "b"} for i in range(100)]

    def in_place(rows, fraction, seed):
        random.Random(seed).shuffle(rows)
        return checks_reference_split(rows, fraction, seed)

    def unseeded(rows, fraction, seed):
        return checks_reference_split(rows, fraction, random.random())

    assert "shuffle a copy" in verdict(capsys, checks.stratified_split(in_place, rows))
    assert "random.Random(seed)" in verdict(capsys, checks.stratified_split(unseeded, rows))


def checks_reference_split(rows, fraction, seed):
    import random

    generator, train, validation = random.Random(seed), [], []
    for label in sorted({row["tone"] for row in rows}):
        group = [row for row in rows if row["tone"] == label]
        generator.shuffle(group)
        cut = round(fraction * len(group))
        validation, train = validation + group[:cut], train + group[cut:]
    return train, validation


def test_macro_f1_that_divides_by_zero_for_a_label_never_predicted(capsys):
    def unguarded(predicted, truth, labels):
        scores = []
        for label in labels:
            tp = sum(p == t == label for p, t in zip(predicted, truth))
            precision = tp / sum(p == label for p in predicted)
            recall = tp / sum(t == label for t in truth)
            scores.append(2 * precision * recall / (precision + recall))
        return sum(scores) / len(scores)

    assert "ZeroDivisionError" in verdict(capsys, checks.macro_f1(unguarded, ["a", "b"], ["a", "b"], ["a", "b"]))
