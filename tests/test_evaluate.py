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


# A learner's own labels: capitalised (the Olive example's Sad/Joy/Fear/Surprise), accented (Hungarian, Estonian),
# several words, digits, hyphens, and labels that share a prefix. Each answer maps to the label as written.
OWN_LABEL_CASES = [
    (["Fear", "Joy", "Sad", "Surprise"], [("Sad", "Sad"), ("joy", "Joy"), ("FEAR!", "Fear"), ("Surprised", None),
                                          ("**Joy**", "Joy"), ("Sadly", None)]),
    (["szomorú", "öröm", "rõõm", "félelem"], [("Szomorú.", "szomorú"), ("ÖRÖM", "öröm"), ("rõõm", "rõõm"),
                                              ("Rõõm", "rõõm"),  # the same letters, decomposed
                                              ("szomoru", None)]),  # a missing accent is another word
    (["very negative", "negative", "positive", "very positive"], [("Very  negative", "very negative"),
                                                                  ("negative", "negative"), ("very", None),
                                                                  ("very positive, clearly", "very positive")]),
    (["1 star", "5 stars", "5 stars plus"], [("5 stars", "5 stars"), ("5 Stars Plus!", "5 stars plus"),
                                             ("5 starsplus", None), ("1 star", "1 star")]),
    (["well-known", "well"], [("Well-known", "well-known"), ("well, well", "well"), ("Well known", "well")]),
]


@pytest.mark.parametrize(("labels", "cases"), OWN_LABEL_CASES, ids=["capitalised", "accented", "multi-word",
                                                                     "digits", "hyphen-prefix"])
def test_parse_label_matches_any_label_set_and_reports_it_as_written(labels, cases) -> None:
    for answer, expected in cases:
        assert evaluate.parse_label(answer, labels) == expected, (answer, labels)


def test_parse_label_prefers_the_longest_label_whatever_the_order() -> None:
    for labels in (["very", "very sad"], ["very sad", "very"]):
        assert evaluate.parse_label("Very sad indeed", labels) == "very sad"
        assert evaluate.parse_label("very, very", labels) == "very"


def test_classification_report_keeps_labels_as_written() -> None:
    labels = ["Félelem", "Rõõm", "Very sad"]
    rows = [{"phrase": "x", "tone": label} for label in labels]
    predictions = [evaluate.parse_label(answer, labels) for answer in ("félelem", "Rõõm!", "nothing")]
    report = evaluate.classification_report(predictions, rows, labels)
    assert report["accuracy"] == pytest.approx(2 / 3)
    assert list(report["recall"]) == labels and report["recall"]["Rõõm"] == 1.0
    assert report["confusion"][2] == [0, 0, 0, 1]  # "Very sad" answered invalidly: the last column


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


def test_scoring_helpers_leave_the_callers_tokenizer_as_it_was(tiny_model_and_tokenizer) -> None:
    """A helper must not change its caller's objects: the padding side is given per call, never set."""
    model, tokenizer = tiny_model_and_tokenizer
    rows = data.load_tone("data/tone/test.jsonl", limit=4)
    for side in ("right", "left"):
        tokenizer.padding_side = side
        evaluate.tone_accuracy(model, tokenizer, rows, LABELS)
        evaluate.ranked_tone_accuracy(model, tokenizer, rows, LABELS)
        evaluate.perplexity(model, tokenizer, [row["phrase"] for row in rows])
        assert tokenizer.padding_side == side


def test_greedy_tokens_are_the_answers_before_decoding(tiny_model_and_tokenizer) -> None:
    model, tokenizer = tiny_model_and_tokenizer
    prompts = evaluate.chat_prompts(tokenizer, ["Phrase: we won!", "Phrase: the bridge is swaying."])
    rows = evaluate.greedy_tokens(model, tokenizer, prompts, max_new_tokens=5, batch_size=1)
    assert [len(row) for row in rows] == [5, 5]
    assert [tokenizer.decode(row, skip_special_tokens=True).strip() for row in rows] == evaluate.generate_answers(
        model, tokenizer, prompts, max_new_tokens=5)


@pytest.mark.parametrize(("answer", "expected"), [
    ("The tone of this phrase is joy.", "joy"), ("**Fear**, clearly", "fear"), ("joy", "joy"),
    ("joy or sadness", None), ("Joyful news", None), ("The tone of this phrase is one of", None), ("", None),
])
def test_lenient_label_reads_the_one_label_an_answer_names(answer: str, expected: str | None) -> None:
    assert evaluate.lenient_label(answer, LABELS) == expected


def test_lenient_label_does_not_count_a_label_inside_a_longer_one() -> None:
    assert evaluate.lenient_label("it is very sad", ["very sad", "sad", "happy"]) == "very sad"
    assert evaluate.lenient_label("sad, or very sad", ["very sad", "sad"]) is None


@pytest.mark.filterwarnings("error::FutureWarning")  # the KV cache goes by the keyword this transformers takes
def test_label_scores_with_a_shared_prompt_cache_match_scoring_each_label_in_full(tiny_model_and_tokenizer) -> None:
    """The cached scorer against the plain one: every label's tokens appended to the prompt, one forward each."""
    import torch

    model, tokenizer = tiny_model_and_tokenizer
    rows = data.load_tone("data/tone/test.jsonl", limit=6)
    labels = [*LABELS, "very surprised indeed"]  # a label of several tokens
    prompts = evaluate.chat_prompts(tokenizer, [data.tone_instruction(r["phrase"], labels) for r in rows])
    cached = evaluate.label_scores(model, tokenizer, prompts, labels, batch_size=4)
    with torch.no_grad():
        for i, prompt in enumerate(prompts):
            prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
            for j, label in enumerate(labels):
                label_ids = tokenizer(label, add_special_tokens=False)["input_ids"]
                logits = model(torch.tensor([prompt_ids + label_ids])).logits[0].float()
                log_probs = torch.log_softmax(logits[len(prompt_ids) - 1 : -1], dim=-1)
                expected = log_probs.gather(-1, torch.tensor(label_ids).unsqueeze(-1)).mean()
                assert float(cached[i, j]) == pytest.approx(float(expected), abs=1e-4), (i, label)  # fp32 sums


def test_tone_accuracy_reports_strict_and_lenient_scores(tiny_model_and_tokenizer) -> None:
    model, tokenizer = tiny_model_and_tokenizer
    rows = data.load_tone("data/tone/test.jsonl", limit=12)
    result = evaluate.tone_accuracy(model, tokenizer, rows, LABELS)
    lenient = [evaluate.lenient_label(answer, LABELS) for answer in result["answers"]]
    assert result["lenient_predictions"] == lenient
    assert result["lenient_accuracy"] == sum(p == r["tone"] for p, r in zip(lenient, rows)) / 12


def test_few_shot_prompts_put_solved_examples_first_as_earlier_turns(tiny_model_and_tokenizer) -> None:
    model, tokenizer = tiny_model_and_tokenizer
    rows = data.load_tone("data/tone/train.jsonl")
    labels = data.label_set(rows)
    shots = data.few_shot_examples(rows, labels, 2, seed=0)
    assert [shot["tone"] for shot in shots] == ["fear", "joy"], "the labels in turn"
    assert shots == data.few_shot_examples(rows, labels, 2, seed=0) != data.few_shot_examples(rows, labels, 2, seed=1)
    question = rows[5]
    prompt = evaluate.tone_prompts(tokenizer, [question], labels, shots)[0]
    first, second = (data.tone_instruction(shot["phrase"], labels) for shot in shots)
    assert prompt.index(first) < prompt.index("fear<|im_end|>") < prompt.index(second) < prompt.index("joy<|im_end|>")
    assert prompt.endswith(data.tone_instruction(question["phrase"], labels) + "<|im_end|>\n<|im_start|>assistant\n")
    assert evaluate.tone_prompts(tokenizer, [question], labels) == evaluate.chat_prompts(
        tokenizer, [data.tone_instruction(question["phrase"], labels)]), "no shots: the zero-shot prompt"
    result = evaluate.tone_accuracy(model, tokenizer, rows[:4], labels, shots=shots[:1])
    assert len(result["answers"]) == 4 and 0 <= result["accuracy"] <= 1


def test_too_many_examples_for_the_model_stop_with_the_reason(tiny_model_and_tokenizer) -> None:
    model, tokenizer = tiny_model_and_tokenizer
    rows = data.load_tone("data/tone/train.jsonl")
    labels = data.label_set(rows)
    with pytest.raises(ValueError, match=r"with 4 few-shot examples the longest prompt is \d+ tokens.*256 positions; "
                                         r"use fewer examples \(n_shots\)"):
        evaluate.tone_accuracy(model, tokenizer, rows[:2], labels, shots=data.few_shot_examples(rows, labels, 4))
    with pytest.raises(data.DataError, match="n_shots is 3, but label 'a' has too few training rows"):
        data.few_shot_examples([{"phrase": "p", "tone": "a"}, {"phrase": "q", "tone": "b"}], ["a", "b"], 3)


def test_bar_chart_draws_an_error_bar_per_interval() -> None:
    from course_utils import plots

    figure = plots.bar_chart({"a": 0.5, "b long label name": 0.9}, "accuracy", "t", reference=0.25,
                             intervals={"a": (0.4, 0.6)}, reference_label="chance (25 %)")
    axis = figure.axes[0]
    assert len(axis.patches) == 2 and len(axis.containers) == 2  # the bars, and one error bar
    assert [label.get_rotation() for label in axis.get_xticklabels()] == [30, 30]
    assert [text.get_text() for text in axis.get_legend().get_texts()] == ["chance (25 %)"]


def test_common_prefix_length_leaves_every_row_a_token_of_its_own() -> None:
    assert evaluate.common_prefix_length([[1, 2, 3, 4], [1, 2, 5]]) == 2
    assert evaluate.common_prefix_length([[1, 2], [1, 2, 3]]) == 1
    assert evaluate.common_prefix_length([[7, 8], [9]]) == 0


@pytest.mark.filterwarnings("error::FutureWarning")  # the KV cache goes by the keyword this transformers takes
def test_sharing_the_few_shot_prefix_gives_the_answers_of_plain_generation(tiny_model_and_tokenizer) -> None:
    model, tokenizer = tiny_model_and_tokenizer
    rows = data.load_tone("data/tone/train.jsonl")
    labels = data.label_set(rows)
    prompts = evaluate.tone_prompts(tokenizer, rows[:40], labels, data.few_shot_examples(rows, labels, 1))
    plain = evaluate.greedy_tokens(model, tokenizer, prompts, max_new_tokens=6, batch_size=16)
    shared = evaluate.greedy_tokens(model, tokenizer, prompts, max_new_tokens=6, batch_size=16, share_prefix=True)
    assert shared == plain
    assert evaluate.common_prefix_length([tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts]) > 100


@pytest.mark.filterwarnings("error::FutureWarning")
def test_tone_accuracy_shares_the_zero_shot_prefix_and_answers_as_plain_generation(tiny_model_and_tokenizer) -> None:
    model, tokenizer = tiny_model_and_tokenizer
    rows = data.load_tone("data/tone/test.jsonl")[:40]
    labels = data.label_set(rows)
    prompts = evaluate.tone_prompts(tokenizer, rows, labels)
    assert evaluate.common_prefix_length([tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts]) > 5
    plain = evaluate.generate_answers(model, tokenizer, prompts, max_new_tokens=evaluate.TONE_ANSWER_TOKENS,
                                      batch_size=16)
    assert evaluate.tone_accuracy(model, tokenizer, rows, labels, batch_size=16)["answers"] == plain


def test_answer_perplexity_is_the_models_loss_on_the_answer_tokens_alone(tiny_model_and_tokenizer) -> None:
    import torch

    model, tokenizer = tiny_model_and_tokenizer
    prompt = evaluate.chat_prompts(tokenizer, ["Turn this request into one JSON object.\nRequest: Wake me at 7."])[0]
    answer = '{"intent": "set_alarm", "time": "07:00"}'
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    answer_ids = tokenizer(answer + tokenizer.eos_token, add_special_tokens=False)["input_ids"]
    ids = torch.tensor([prompt_ids + answer_ids])
    labels = torch.tensor([[-100] * len(prompt_ids) + answer_ids])
    with torch.no_grad():
        expected = float(torch.exp(model(input_ids=ids, labels=labels).loss))
    # Alone, and padded in a batch beside a longer pair: the same number.
    assert evaluate.answer_perplexity(model, tokenizer, [prompt], [answer]) == pytest.approx(expected, rel=1e-4)
    longer = evaluate.chat_prompts(tokenizer, ["Turn this request into one JSON object.\nRequest: " + "x " * 30])[0]
    both = evaluate.answer_perplexity(model, tokenizer, [prompt, longer], [answer, answer])
    assert both != pytest.approx(expected, rel=1e-4)  # the mean over both answers' tokens
    alone = [evaluate.answer_perplexity(model, tokenizer, [p], [answer]) for p in (prompt, longer)]
    assert min(alone) <= both <= max(alone)


def test_answer_perplexity_runs_the_prompts_shared_tokens_once_and_gives_each_rows_loss(tiny_model_and_tokenizer) -> None:
    import math

    import torch

    model, tokenizer = tiny_model_and_tokenizer
    requests = ["Wake me at 7.", "Send 20 euros to Ada.", "Book a table for 4 at Nopi on Friday."]
    prompts = evaluate.chat_prompts(tokenizer, [f"Turn this request into one JSON object.\nRequest: {r}" for r in requests])
    answers = ['{"intent": "set_alarm"}', '{"intent": "send_money", "amount": 20}', '{"intent": "book_table"}']
    rows = [tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts]
    assert evaluate.common_prefix_length(rows) > 5  # the template and the task: shared, so run once
    summed, counted = 0.0, 0
    for prompt_ids, answer in zip(rows, answers):  # each pair alone, the whole prompt through the model
        answer_ids = tokenizer(answer + tokenizer.eos_token, add_special_tokens=False)["input_ids"]
        with torch.no_grad():
            loss = model(input_ids=torch.tensor([prompt_ids + answer_ids]),
                         labels=torch.tensor([[-100] * len(prompt_ids) + answer_ids])).loss
        summed, counted = summed + float(loss) * len(answer_ids), counted + len(answer_ids)
    expected = math.exp(summed / counted)
    assert evaluate.answer_perplexity(model, tokenizer, prompts, answers) == pytest.approx(expected, rel=1e-4)
    assert evaluate.answer_perplexity(model, tokenizer, prompts, answers, batch_size=2) == pytest.approx(expected, rel=1e-4)
    same = [prompts[0]] * 2  # identical prompts: all but the last token shared
    alone = evaluate.answer_perplexity(model, tokenizer, prompts[:1], answers[:1])
    assert evaluate.answer_perplexity(model, tokenizer, same, answers[:1] * 2) == pytest.approx(alone, rel=1e-4)


def test_extraction_report_scores_each_answer_and_refuses_a_prompt_the_model_cannot_read(
        tiny_model_and_tokenizer) -> None:
    from course_utils import extraction

    model, tokenizer = tiny_model_and_tokenizer
    train = data.load_extract("data/extract/train.jsonl")
    schema = extraction.infer_schema([row["record"] for row in train])
    budget = evaluate.extraction_answer_tokens(tokenizer, [row["record"] for row in train])
    rows = data.load_extract("data/extract/test.jsonl", limit=3)
    report = evaluate.extraction_report(model, tokenizer, rows, schema, budget)
    scored = extraction.extraction_scores(report["answers"], [row["record"] for row in rows], schema)
    assert {key: report[key] for key in scored} == scored and len(report["exact"]) == 3
    assert 0 <= report["cut_off"] <= 1 and report["record_perplexity"] > 1
    prompts = evaluate.extraction_prompts(tokenizer, rows[:1], schema, shots=train[:1])
    # The example first, with the request alone; the schema stated once, in the question.
    assert prompts[0].index(extraction.instruction(train[0]["message"])) < prompts[0].index('Its "intent" is one of')
    assert prompts[0].count('Its "intent" is one of') == 1
    with pytest.raises(ValueError, match=r"with the schema stated the longest prompt is \d+ tokens.*256 positions; "
                                         r"this model cannot be prompted this way"):
        evaluate.extraction_report(model, tokenizer, rows, schema, budget, state_schema=True)
