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


def test_a_split_that_is_not_stratified(capsys):
    rows = [{"phrase": str(i), "tone": "a" if i < 80 else "b"} for i in range(100)]
    first_rows = lambda rows, fraction, seed: (rows[int(fraction * len(rows)):], rows[: int(fraction * len(rows))])  # noqa: E731
    assert "each label" in verdict(capsys, checks.stratified_split(first_rows, rows))


def test_field_accuracy_that_leaves_out_unparsed_answers_or_compares_text(capsys):
    references = [{"intent": "a", "day": "monday"}, {"intent": "b", "amount": 3}]

    def parsed_only(answers, references):
        kept = [(answer, reference) for answer, reference in zip(answers, references) if answer is not None]
        return {name: sum(a.get(name) == r[name] for a, r in kept if name in r) / max(1, sum(name in r for _, r in kept))
                for name in {name for reference in references for name in reference}}

    assert "did not parse" in verdict(capsys, checks.field_accuracy(parsed_only, [None, None], references))

    def as_text(answers, references):
        counts = {}
        for answer, reference in zip(answers, references):
            for name, value in reference.items():
                hit = isinstance(answer, dict) and str(answer.get(name)) == str(value)
                counts[name] = counts.get(name, []) + [hit]
        return {name: sum(hits) / len(hits) for name, hits in counts.items()}

    assert '"25" differ' in verdict(capsys, checks.field_accuracy(as_text, [{"intent": "a", "day": "monday"}, None],
                                                                  references))


def test_a_diagnosis_that_misses_divergence(capsys):
    def diagnose(train, validation):
        return "overfitting" if validation[-1] > min(validation) else "healthy"

    assert "diverging" in verdict(capsys, checks.diagnosis(diagnose))


def test_a_fixed_pipeline_that_still_has_no_end_or_leaves_it_out_of_the_loss(capsys):
    from course_utils import data, models

    tokenizer = models.load_tokenizer("course-tiny")
    rows, labels = [{"phrase": "I won the prize!", "tone": "joy"}], ["joy", "sadness"]

    def pipeline(end: str, end_in_loss: bool = True):
        def tokenize(row):
            prompt = tokenizer.apply_chat_template(data.tone_messages(row, labels)["prompt"], tokenize=False,
                                                   add_generation_prompt=True)
            prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
            answer_ids = tokenizer(row["tone"] + end, add_special_tokens=False)["input_ids"]
            mask = [0] * len(prompt_ids) + [1] * len(answer_ids)
            if not end_in_loss:
                mask[-1] = 0
            return {"input_ids": prompt_ids + answer_ids, "completion_mask": mask}
        return tokenize

    assert checks.end_of_answer(pipeline(tokenizer.eos_token), tokenizer, rows, labels)
    capsys.readouterr()
    assert "no end" in verdict(capsys, checks.end_of_answer(pipeline(""), tokenizer, rows, labels))
    assert "inside the completion mask" in verdict(capsys, checks.end_of_answer(
        pipeline(tokenizer.eos_token, end_in_loss=False), tokenizer, rows, labels))
    assert "one entry per token" in verdict(capsys, checks.end_of_answer(
        lambda row: {"input_ids": [1, 2], "completion_mask": [0]}, tokenizer, rows, labels))


def test_macro_f1_that_is_the_accuracy(capsys):
    accuracy = lambda predicted, truth, labels: sum(p == t for p, t in zip(predicted, truth)) / len(truth)  # noqa: E731
    out = verdict(capsys, checks.macro_f1(accuracy, ["a", "b", "b", "a"], ["a", "b", "a", "a"], ["a", "b"]))
    assert "accuracy" in out


def test_parity_that_counts_padding_as_a_difference(capsys):
    assert "padding" in verdict(capsys, checks.parity(lambda a, b, eos: a == b, 2))


def tiny_llama():
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    return LlamaForCausalLM(LlamaConfig(vocab_size=50, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                        num_attention_heads=2, num_key_value_heads=2))


def tiny_batch(rows: int = 8) -> dict:
    ids = torch.randint(3, 50, (rows, 10), generator=torch.Generator().manual_seed(0))
    mask = torch.ones_like(ids)
    for row, length in ((0, 6), (3, 4), (5, 8)):  # right padding, so the rows hold different numbers of tokens
        mask[row, length:] = 0
    return {"input_ids": ids, "attention_mask": mask, "labels": ids.masked_fill(mask == 0, -100)}


def adam_loop(zero_grad: bool = True, factor: float = 1.0):
    def train_steps(model, batch, steps, learning_rate):
        optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=factor * learning_rate)
        losses = []
        for _ in range(steps):
            loss = model(**batch).loss
            loss.backward()
            optimizer.step()
            if zero_grad:
                optimizer.zero_grad()
            losses.append(loss.item())
        return losses
    return train_steps


def test_a_training_loop_that_forgets_zero_grad_trains_everything_or_steps_too_far(capsys):
    from peft import LoraConfig, get_peft_model

    def make_model():
        return get_peft_model(tiny_llama(), LoraConfig(r=4, target_modules=["q_proj", "v_proj"]))

    batch = tiny_batch()
    assert checks.training_loop(adam_loop(), make_model, batch, steps=20, learning_rate=1e-2)
    capsys.readouterr()
    assert "zero_grad" in verdict(capsys, checks.training_loop(adam_loop(zero_grad=False), make_model, batch, 20, 1e-2))
    assert "not as AdamW's" in verdict(capsys, checks.training_loop(adam_loop(factor=3), make_model, batch, 20, 1e-2))

    def everything(model, batch, steps, learning_rate):
        model.requires_grad_(True)
        return adam_loop()(model, batch, steps, learning_rate)

    assert "frozen base model moved" in verdict(capsys, checks.training_loop(everything, make_model, batch, 20, 1e-2))
    assert "Python float per step" in verdict(capsys, checks.training_loop(lambda *_: [None] * 20, make_model, batch,
                                                                        20, 1e-2))


def test_accumulation_that_averages_the_micro_batches_or_sums_their_means(capsys):
    def by_count(model, micro_batches):
        counts = [int((micro["labels"][:, 1:] != -100).sum()) for micro in micro_batches]
        for micro, count in zip(micro_batches, counts):
            (model(**micro).loss * count / sum(counts)).backward()

    def mean_of_means(model, micro_batches):
        for micro in micro_batches:
            (model(**micro).loss / len(micro_batches)).backward()

    def sum_of_means(model, micro_batches):
        for micro in micro_batches:
            model(**micro).loss.backward()

    model, batch = tiny_llama(), tiny_batch()
    assert checks.accumulated_gradient(by_count, model, batch, [3, 5])
    capsys.readouterr()
    out = verdict(capsys, checks.accumulated_gradient(mean_of_means, model, batch, [3, 5]))
    assert "number of micro-batches" in out
    assert "times too large" in verdict(capsys, checks.accumulated_gradient(sum_of_means, model, batch, [3, 5]))
    assert "no gradient" in verdict(capsys, checks.accumulated_gradient(lambda m, micro: None, model, batch, [3, 5]))
    with pytest.raises(ValueError, match="add up"):
        checks.accumulated_gradient(by_count, model, batch, [3, 4])


def test_a_loss_scaler_that_never_skips_forgets_to_unscale_or_to_round(capsys):
    gradients = torch.tensor([1e-9, 1e-4, 0.5, 8.5, -3.0])

    def scaler(fp16, unscale=True, skip=True):
        def step(gradients, scale):
            scaled = (gradients * scale).half().float() if fp16 else gradients * scale
            if skip and not torch.isfinite(scaled).all():
                return None, scale / 2
            return (scaled / scale if unscale else scaled), scale
        return step

    assert checks.loss_scaler(scaler(True), gradients)
    assert "4,096" in capsys.readouterr().out  # 8.5 x 8,192 overflows fp16 (largest 65,504): 4,096 is the first fit
    assert "return None" in verdict(capsys, checks.loss_scaler(scaler(True, skip=False), gradients))
    assert "divide the gradients" in verdict(capsys, checks.loss_scaler(scaler(True, unscale=False), gradients))
    assert ".half()" in verdict(capsys, checks.loss_scaler(scaler(False), gradients))
    assert "halved" in verdict(capsys, checks.loss_scaler(lambda g, s: (None, s) if s > 4096 else (g, s), gradients))


def test_a_check_reports_an_exception_in_the_learners_code_and_goes_on(capsys):
    assert "KeyError" in verdict(capsys, checks.diagnosis(lambda train, validation: {}["x"]))


@pytest.mark.parametrize("check", [checks.lora_share, checks.diagnosis])
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


def test_a_solution_that_calls_the_helper_computing_the_answer_is_refused_before_it_runs(capsys):
    from course_utils import data

    rows, labels = [{"phrase": "I won!", "tone": "joy"}], ["joy", "sadness"]
    def by_helper(tokenizer, row, labels):
        return data.conversation_text(tokenizer, row, labels)

    out = verdict(capsys, checks.chat_text(by_helper, None, rows, labels))  # refused unread: no tokenizer is needed
    assert "calls `conversation_text`" in out and "write it by hand" in out and "course solution 1.1" in out
    # through an alias and a helper of the learner's own, as a notebook cell would define them
    cell = ("shortcut = data.conversation_text\n"
            "def helper(tokenizer, row, labels):\n    return shortcut(tokenizer, row, labels)\n"
            "def format_row(tokenizer, row, labels):\n    return helper(tokenizer, row, labels)\n")
    namespace = {"data": data}
    exec(cell, namespace)
    assert "calls `conversation_text`" in verdict(capsys, checks.chat_text(namespace["format_row"], None, rows, labels))
    # a library function imported inside the learner's function
    exec("def by_sklearn(predicted, truth, labels):\n    from sklearn.metrics import f1_score\n"
         "    return f1_score(truth, predicted, labels=labels, average='macro')\n", namespace)
    out = verdict(capsys, checks.macro_f1(namespace["by_sklearn"], ["joy"], ["joy"], ["joy"]))
    assert "calls `f1_score`" in out


def test_the_giveaways_name_real_exercises_and_leave_the_lessons_own_library_calls_open():
    from test_exercises import LESSONS, instructor

    from course_utils.instructor import handout

    numbers = {handout.exercise_title(instructor(stem).cells[index]).split()[1]
               for stem in LESSONS for index in handout.exercise_cells(instructor(stem))}
    assert set(checks.GIVEAWAYS) <= numbers
    allowed = {"apply_chat_template", "named_modules", "Generator", "GeneratorParams", "parameters", "numel"}
    assert not allowed & {name for names in checks.GIVEAWAYS.values() for name in names}
    assert checks.giveaway("1.1", lambda tokenizer, row, labels: tokenizer.apply_chat_template(row)) is None


def test_a_collator_that_puts_loss_on_the_prompt_or_the_padding(capsys):
    from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

    examples = [{"input_ids": [5, 6, 7, 9], "completion_mask": [0, 0, 1, 1]},
                {"input_ids": [8, 4], "completion_mask": [0, 1]}]
    prepared = [{"input_ids": e["input_ids"],
                 "labels": [t if m else -100 for t, m in zip(e["input_ids"], e["completion_mask"])]} for e in examples]
    expected = DataCollatorForLanguageModeling(pad_token_id=0)(prepared)  # trl's own collator

    def collate(loss_on_prompt=False, pad_label=-100):
        def run(examples, pad_token_id):
            longest = max(len(e["input_ids"]) for e in examples)
            out = {"input_ids": [], "attention_mask": [], "labels": []}
            for e in examples:
                ids, pad = e["input_ids"], longest - len(e["input_ids"])
                out["input_ids"].append(ids + [pad_token_id] * pad)
                out["attention_mask"].append([1] * len(ids) + [0] * pad)
                out["labels"].append([t if m or loss_on_prompt else -100 for t, m in zip(ids, e["completion_mask"])]
                                     + [pad_label] * pad)
            return out
        return run

    assert checks.collator(collate(), examples, 0, expected)
    capsys.readouterr()
    assert "prompt's labels must be -100" in verdict(capsys, checks.collator(collate(loss_on_prompt=True), examples, 0,
                                                                             expected))
    assert "padding carries no loss" in verdict(capsys, checks.collator(collate(pad_label=0), examples, 0, expected))
    one_token = {"input_ids": [[1]], "attention_mask": [[1]], "labels": [[1]]}
    assert "longest example" in verdict(capsys, checks.collator(lambda e, p: one_token, examples, 0, expected))


def test_accumulation_counted_without_the_shift_and_a_scaler_that_misses_nan(capsys):
    def unshifted(model, micro_batches):
        counts = [int((micro["labels"] != -100).sum()) for micro in micro_batches]
        for micro, count in zip(micro_batches, counts):
            (model(**micro).loss * count / sum(counts)).backward()

    out = verdict(capsys, checks.accumulated_gradient(unshifted, tiny_llama(), tiny_batch(), [3, 5]))
    assert "labels[:, 1:]" in out

    def inf_only(gradients, scale):
        held = (gradients * scale).half()
        if held.isinf().any():
            return None, scale / 2
        return held.float() / scale, scale

    assert "nan" in verdict(capsys, checks.loss_scaler(inf_only, torch.tensor([1e-9, 1e-4, 0.5, 8.5, -3.0])))


def test_a_choice_by_overlapping_intervals_or_by_dict_order_on_a_tie(capsys):
    from course_utils.evaluate import bootstrap_ci

    def overlap(correct, size_mb, seed):  # "the intervals overlap": too lenient
        accuracy = {name: sum(v) / len(v) for name, v in correct.items()}
        best = max(accuracy, key=lambda name: (accuracy[name], -size_mb[name]))
        low = bootstrap_ci(correct[best], seed=seed)[0]
        keep = [name for name in correct if bootstrap_ci(correct[name], seed=seed)[1] >= low]
        return min(keep, key=lambda name: (size_mb[name], -accuracy[name]))

    assert "below the best" in verdict(capsys, checks.variant_choice(overlap, {"a": [True] * 10}, {"a": 1.0}))

    def by_order(correct, size_mb, seed):  # the rule, with the size ties left to dict order
        accuracy = {name: sum(v) / len(v) for name, v in correct.items()}
        best = max(accuracy, key=lambda name: (accuracy[name], -size_mb[name]))
        low = bootstrap_ci(correct[best], seed=seed)[0]
        return min((name for name in correct if accuracy[name] >= low), key=lambda name: size_mb[name])

    tie = {"worse": [True] * 85 + [False] * 15, "better": [True] * 90 + [False] * 10}
    out = verdict(capsys, checks.variant_choice(by_order, tie, {"worse": 500.0, "better": 500.0}))
    assert "6.3" in out


def test_accumulation_that_puts_the_micro_batches_back_together(capsys):
    def concatenated(model, micro_batches):
        whole = {key: torch.cat([micro[key] for micro in micro_batches]) for key in micro_batches[0]}
        model(**whole).loss.backward()

    out = verdict(capsys, checks.accumulated_gradient(concatenated, tiny_llama(), tiny_batch(), [3, 5]))
    assert "on its own" in out


@pytest.mark.parametrize("exercise", sorted(checks.GIVEAWAYS))
def test_every_giveaway_is_refused_with_a_sentence(exercise, capsys):
    """For each exercise with a giveaway, a solution that calls it (here through a module attribute) gets no mark."""
    name = checks.GIVEAWAYS[exercise][0]
    namespace = {"helpers": type("Helpers", (), {name: staticmethod(lambda *args: None)})}
    exec(f"def solution(*args):\n    return helpers.{name}(*args)\n", namespace)
    ok, _ = checks.attempt(exercise, namespace["solution"])
    out = capsys.readouterr().out
    assert ok is False and f"calls `{name}`" in out and "write it by hand" in out


def test_a_collator_that_masks_the_padding_by_id_when_pad_is_the_end_token(capsys):
    from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

    end = 2  # SmolLM2's pad token is its end of turn
    examples = [{"input_ids": [5, 6, 7, end], "completion_mask": [0, 0, 1, 1]},
                {"input_ids": [8, end], "completion_mask": [0, 1]}]
    prepared = [{"input_ids": e["input_ids"],
                 "labels": [t if m else -100 for t, m in zip(e["input_ids"], e["completion_mask"])]} for e in examples]
    expected = DataCollatorForLanguageModeling(pad_token_id=end)(prepared)

    def by_id(examples, pad_token_id):
        longest = max(len(e["input_ids"]) for e in examples)
        ids = torch.tensor([e["input_ids"] + [pad_token_id] * (longest - len(e["input_ids"])) for e in examples])
        mask = torch.tensor([[1] * len(e["input_ids"]) + [0] * (longest - len(e["input_ids"])) for e in examples])
        completion = torch.tensor([e["completion_mask"] + [0] * (longest - len(e["input_ids"])) for e in examples])
        labels = ids.masked_fill(completion == 0, -100).masked_fill(ids == pad_token_id, -100)
        return {"input_ids": ids, "attention_mask": mask, "labels": labels}

    assert "by position, not by id" in verdict(capsys, checks.collator(by_id, examples, end, expected))
