"""Scoring models: generated answers, accuracy, invalid-answer rate, label ranking, and lesson 06's harness.

Accuracy is measured the way a user meets the model: greedy generation from the chat
prompt, and the start of the answer compared with the labels (`parse_label`). An answer
that does not start with one of the labels counts as wrong and is also reported as the
invalid rate.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import torch

from course_utils import compat
from course_utils.data import common_prefix_length, label_key, tone_messages
from course_utils.memory import MB


def chat_prompts(tokenizer: Any, user_messages: Sequence[str]) -> list[str]:
    """Each user message wrapped in the tokenizer's chat template, ready for the assistant's answer."""
    return [
        tokenizer.apply_chat_template([{"role": "user", "content": text}], tokenize=False, add_generation_prompt=True)
        for text in user_messages
    ]


def tone_prompts(tokenizer: Any, rows: Sequence[dict[str, str]], labels: Sequence[str],
                 shots: Sequence[dict[str, str]] = ()) -> list[str]:
    """Each row's question through the chat template; `shots` go first, as earlier questions answered by their label."""
    earlier: list[dict[str, str]] = []
    for shot in shots:
        pair = tone_messages(shot, labels)
        earlier += pair["prompt"] + pair["completion"]
    return [tokenizer.apply_chat_template(earlier + tone_messages(row, labels)["prompt"], tokenize=False,
                                          add_generation_prompt=True) for row in rows]


@torch.no_grad()
def _greedy_tokens_from_shared_prefix(model: Any, tokenizer: Any, prompts: Sequence[str], max_new_tokens: int,
                                      batch_size: int) -> list[list[int]]:
    """`greedy_tokens` for prompts that start alike: the shared tokens run once, each batch starts from their cache.

    A batch is laid out as [shared prefix][left padding][the prompt's own tokens]; the attention mask hides the
    padding and generate numbers the positions from that mask, so each row sees what it would see alone.
    """
    import copy

    from transformers import DynamicCache

    token_rows = [tokenizer(prompt, add_special_tokens=False)["input_ids"] for prompt in prompts]
    shared = common_prefix_length(token_rows)
    if shared == 0:  # nothing in common: the plain path
        return greedy_tokens(model, tokenizer, prompts, max_new_tokens, batch_size)
    prefix = torch.tensor([token_rows[0][:shared]], device=model.device)
    prefix_cache = DynamicCache(config=model.config)
    model(input_ids=prefix, **compat.cache_argument(model, prefix_cache), use_cache=True, logits_to_keep=1)
    answers: list[list[int]] = []
    for start in range(0, len(token_rows), batch_size):
        batch = [row[shared:] for row in token_rows[start : start + batch_size]]
        width = max(len(row) for row in batch)
        own = torch.tensor([[tokenizer.pad_token_id] * (width - len(row)) + row for row in batch], device=model.device)
        own_mask = torch.tensor([[0] * (width - len(row)) + [1] * len(row) for row in batch], device=model.device)
        cache = copy.deepcopy(prefix_cache)
        cache.batch_repeat_interleave(len(batch))
        input_ids = torch.cat([prefix.expand(len(batch), -1), own], dim=1)
        mask = torch.cat([torch.ones(len(batch), shared, dtype=own_mask.dtype, device=model.device), own_mask], dim=1)
        output = model.generate(input_ids=input_ids, attention_mask=mask, **compat.cache_argument(model, cache),
                                max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=tokenizer.pad_token_id)
        answers += output[:, input_ids.shape[1] :].tolist()
    return answers


@torch.no_grad()
def greedy_tokens(
    model: Any, tokenizer: Any, prompts: Sequence[str], max_new_tokens: int = 8, batch_size: int = 32,
    share_prefix: bool = False,
) -> list[list[int]]:
    """The new token ids of greedy answers to already-templated `prompts`, batched with left padding.

    Each row runs to `max_new_tokens`: after an end-of-sequence token, generate pads it with the pad id.
    The caller's tokenizer is not changed (the padding side is given per call). `share_prefix`: the tokens every
    prompt starts with (a few-shot prompt's examples) run through the model once, not once per prompt.
    """
    if share_prefix and len(prompts) > 1:
        return _greedy_tokens_from_shared_prefix(model, tokenizer, prompts, max_new_tokens, batch_size)
    rows: list[list[int]] = []
    for start in range(0, len(prompts), batch_size):
        batch = tokenizer(list(prompts[start : start + batch_size]), return_tensors="pt", padding=True,
                          padding_side="left", add_special_tokens=False).to(model.device)
        output = model.generate(**batch, max_new_tokens=max_new_tokens, do_sample=False,
                                pad_token_id=tokenizer.pad_token_id)
        rows += output[:, batch["input_ids"].shape[1] :].tolist()
    return rows


def generate_answers(
    model: Any, tokenizer: Any, prompts: Sequence[str], max_new_tokens: int = 8, batch_size: int = 32,
    share_prefix: bool = False,
) -> list[str]:
    """Greedy answers to already-templated `prompts` (`greedy_tokens`), as text without special tokens."""
    new_tokens = greedy_tokens(model, tokenizer, prompts, max_new_tokens, batch_size, share_prefix)
    return [text.strip() for text in tokenizer.batch_decode(new_tokens, skip_special_tokens=True)]


def parse_label(answer: str, labels: Sequence[str]) -> str | None:
    """The label the answer starts with, as written in `labels`, or None when it starts with none (invalid).

    Compared as `data.label_key` writes both (case, Unicode form and spacing ignored), after any leading
    spaces or punctuation; the label must end where a word ends ("joy." gives joy, "joyful" gives nothing),
    and the longest label that matches wins ("very sad" before "very").
    """
    text = label_key(answer)
    starts = (text, re.sub(r"^[\W_]+", "", text))  # as given, then without leading punctuation ("**Joy**")
    for label in sorted(labels, key=lambda name: len(label_key(name)), reverse=True):
        key = label_key(label)
        for start in starts:
            if key and start.startswith(key) and (len(start) == len(key) or not start[len(key)].isalnum()):
                return label
    return None


def lenient_label(answer: str, labels: Sequence[str]) -> str | None:
    """The one label named anywhere in the answer as a whole word, or None when it names none or several.

    "The tone of this phrase is joy." gives joy; "joy or sadness" gives None. This reads what a model knows
    when it does not answer in the required format; the strict `parse_label` is what a program can use.
    """
    text = label_key(answer)
    found = set()
    for label in sorted(labels, key=lambda name: len(label_key(name)), reverse=True):
        pattern = r"(?<!\w)" + re.escape(label_key(label)) + r"(?!\w)"
        if re.search(pattern, text):
            found.add(label)
            text = re.sub(pattern, " ", text)  # "very sad" is not also "sad"
    return found.pop() if len(found) == 1 else None


def check_prompt_lengths(model: Any, tokenizer: Any, prompts: Sequence[str], max_new_tokens: int, cause: str,
                         advice: str = "use fewer examples (n_shots)") -> None:
    """ValueError when the longest prompt plus its answer would not fit the model's positions, naming `cause`."""
    limit = getattr(model.config, "max_position_embeddings", None)
    longest = max(len(tokenizer(prompt, add_special_tokens=False)["input_ids"]) for prompt in prompts)
    if limit and longest + max_new_tokens > limit:
        raise ValueError(f"with {cause} the longest prompt is {longest} tokens, and with its answer it would not fit "
                         f"the model's {limit} positions; {advice}")


# Tokens a tone answer may take: a label and the end-of-turn token need far fewer; a model answering in a sentence
# ("The tone of this phrase is joy.") needs about this many for the lenient score to read it.
TONE_ANSWER_TOKENS = 16
# Tokens the harness (lesson 06) lets a variant answer with: a label and the end-of-turn token, the format the
# fine-tunes learned; and a qa answer, a short sentence.
LABEL_ANSWER_TOKENS = 8
QA_ANSWER_TOKENS = 24


def tone_accuracy(
    model: Any, tokenizer: Any, rows: Sequence[dict[str, str]], labels: Sequence[str], batch_size: int = 32,
    max_new_tokens: int = TONE_ANSWER_TOKENS, shots: Sequence[dict[str, str]] = (),
) -> dict[str, Any]:
    """Held-out accuracy of greedy answers, strict and lenient, the invalid rate, and every answer for inspection.

    strict (`accuracy`): the answer starts with the right label (`parse_label`), the format fine-tuning teaches;
    lenient (`lenient_accuracy`): the right label is the only one the answer names (`lenient_label`).
    `shots`: solved examples put before every question as earlier turns of the chat (few-shot prompting).
    """
    prompts = tone_prompts(tokenizer, rows, labels, shots)
    if shots:
        check_prompt_lengths(model, tokenizer, prompts, max_new_tokens, f"{len(shots)} few-shot examples")
    # Every prompt starts alike (the template's system turn, the task and the labels; with shots, the examples too):
    # those tokens run once, not once per phrase. The answers are the same token for token (tests/test_evaluate.py),
    # and on the real SLM at the cpu profile scoring 200 phrases takes 0.4-0.6 of the time (bench/few_shot_speed.py).
    answers = generate_answers(model, tokenizer, prompts, max_new_tokens=max_new_tokens, batch_size=batch_size,
                               share_prefix=True)
    predictions = [parse_label(answer, labels) for answer in answers]
    lenient = [lenient_label(answer, labels) for answer in answers]
    correct = sum(pred == row["tone"] for pred, row in zip(predictions, rows))
    return {
        "accuracy": correct / len(rows),
        "lenient_accuracy": sum(pred == row["tone"] for pred, row in zip(lenient, rows)) / len(rows),
        "invalid_rate": sum(pred is None for pred in predictions) / len(rows),
        "answers": answers,
        "predictions": predictions,
        "lenient_predictions": lenient,
    }


@torch.no_grad()
def label_scores(model: Any, tokenizer: Any, prompts: Sequence[str], labels: Sequence[str],
                 batch_size: int = 32) -> torch.Tensor:
    """Mean log-probability of each label's tokens as the answer to each templated prompt: (prompts, labels).

    Each batch of prompts runs through the model once (left-padded, keeping its KV cache); every label is then
    scored as a continuation of that cache, which is cropped back after each label. Only the label tokens'
    positions are turned into log-probabilities, not the whole vocabulary at every prompt position.
    """
    from transformers import DynamicCache

    label_ids = [tokenizer(label, add_special_tokens=False)["input_ids"] for label in labels]
    scores = torch.zeros(len(prompts), len(labels))
    for start in range(0, len(prompts), batch_size):
        batch = tokenizer(list(prompts[start : start + batch_size]), return_tensors="pt", padding=True,
                          padding_side="left", add_special_tokens=False).to(model.device)
        rows = batch["input_ids"].shape[0]
        cache = DynamicCache(config=model.config)
        first = model(**batch, **compat.cache_argument(model, cache), use_cache=True, logits_to_keep=1).logits
        first = first[:, -1].float()
        first_log_probs = torch.log_softmax(first, dim=-1)
        for index, ids in enumerate(label_ids):
            total = first_log_probs[:, ids[0]].cpu()
            if len(ids) > 1:
                follow = torch.tensor([ids[:-1]] * rows, device=model.device)
                mask = torch.cat([batch["attention_mask"], torch.ones_like(follow)], dim=1)
                logits = model(input_ids=follow, attention_mask=mask, **compat.cache_argument(model, cache),
                               use_cache=True).logits
                log_probs = torch.log_softmax(logits.float(), dim=-1)
                targets = torch.tensor(ids[1:], device=model.device).expand(rows, -1)
                total = total + log_probs.gather(-1, targets.unsqueeze(-1)).squeeze(-1).sum(dim=1).cpu()
                cache.crop(-(len(ids) - 1))  # drop the label tokens again: the cache holds the prompt only
            scores[start : start + rows, index] = total / len(ids)
    return scores


def ranked_tone_picks(
    model: Any, tokenizer: Any, rows: Sequence[dict[str, str]], labels: Sequence[str], batch_size: int = 32
) -> list[str]:
    """For each row, the label whose answer tokens the model finds most likely (`label_scores`)."""
    prompts = tone_prompts(tokenizer, rows, labels)
    return [labels[pick] for pick in label_scores(model, tokenizer, prompts, labels, batch_size).argmax(dim=1).tolist()]


def ranked_tone_accuracy(
    model: Any, tokenizer: Any, rows: Sequence[dict[str, str]], labels: Sequence[str], batch_size: int = 32
) -> float:
    """Accuracy when the model must pick a label: the one whose answer tokens it finds most likely."""
    picks = ranked_tone_picks(model, tokenizer, rows, labels, batch_size)
    return sum(pick == row["tone"] for pick, row in zip(picks, rows)) / len(rows)


def extraction_prompts(tokenizer: Any, rows: Sequence[dict[str, Any]], schema: Any = None,
                       shots: Sequence[dict[str, Any]] = ()) -> list[str]:
    """Each extraction row's request through the chat template (`extraction.messages`): with the schema stated when
    `schema` is given, else the short prompt; `shots` go first, as earlier requests answered by their records."""
    from course_utils import extraction

    earlier: list[dict[str, str]] = []
    for shot in shots:
        pair = extraction.messages(shot, None)  # the examples show the fields; the schema, if any, is stated once
        earlier += pair["prompt"] + pair["completion"]
    return [tokenizer.apply_chat_template(earlier + extraction.messages(row, schema)["prompt"], tokenize=False,
                                          add_generation_prompt=True) for row in rows]


def extraction_answer_tokens(tokenizer: Any, records: Sequence[dict[str, Any]]) -> int:
    """Tokens an extraction answer may take: the longest of `records` written as compact JSON, and half as much
    again, so a model that writes a record with spaces or line breaks has room to close it; `cut_off` in
    `extraction_report` says how many answers still ran out of tokens."""
    import json

    longest = max(len(tokenizer(json.dumps(record, ensure_ascii=False), add_special_tokens=False)["input_ids"])
                  for record in records)
    return longest + longest // 2


def extraction_report(model: Any, tokenizer: Any, rows: Sequence[dict[str, Any]], schema: Any, max_new_tokens: int,
                      state_schema: bool = False, shots: Sequence[dict[str, Any]] = (), batch_size: int = 32,
                      seed: int = 0) -> dict[str, Any]:
    """Greedy answers to extraction rows, scored by `extraction.extraction_scores` against each row's record.

    `state_schema`: put the schema in every prompt (what a model never trained on the task needs); `shots`: solved
    examples first (few-shot). Adds the perplexity of the expected records (`answer_perplexity`: it shows progress
    before any answer is right), the bootstrap interval of exact match, the mean prompt length in tokens, the
    seconds per answer, the share of answers cut off at `max_new_tokens` without ending, and the answers. A prompt
    too long for the model's positions is refused (ValueError).
    """
    import time

    from course_utils import extraction

    prompts = extraction_prompts(tokenizer, rows, schema if state_schema else None, shots)
    cause = "the schema stated" if state_schema else f"{len(shots)} examples" if shots else "the request alone"
    check_prompt_lengths(model, tokenizer, prompts, max_new_tokens, cause,
                         "this model cannot be prompted this way (a model with more positions can)")
    started = time.perf_counter()
    new_tokens = greedy_tokens(model, tokenizer, prompts, max_new_tokens, batch_size, share_prefix=True)
    seconds = (time.perf_counter() - started) / len(rows)
    answers = [text.strip() for text in tokenizer.batch_decode(new_tokens, skip_special_tokens=True)]
    ends = {tokenizer.eos_token_id, tokenizer.pad_token_id}  # generate pads a row once it has ended
    cut_off = sum(not ends & set(tokens) for tokens in new_tokens) / len(rows)
    references = [row["record"] for row in rows]
    exact = extraction.exact_matches(answers, references)
    lengths = [len(tokenizer(prompt, add_special_tokens=False)["input_ids"]) for prompt in prompts]
    expected = [extraction.messages(row)["completion"][0]["content"] for row in rows]  # each record as trained on
    return {**extraction.extraction_scores(answers, references, schema),
            "record_perplexity": answer_perplexity(model, tokenizer, prompts, expected, batch_size),
            "exact_match_ci": list(bootstrap_ci(exact, seed=seed)), "prompt_tokens": sum(lengths) / len(lengths),
            "seconds_per_answer": seconds, "cut_off": cut_off, "answers": answers, "exact": exact}


def answer_report(model: Any, tokenizer: Any, rows: Sequence[dict[str, str]], labels: Sequence[str],
                  plain_texts: Sequence[str] = (), seed: int = 0) -> dict[str, Any]:
    """What preference tuning changes, for one model (lesson 09): the share of answers that start with a label, strict
    accuracy with its bootstrap interval, lenient accuracy, the mean answer length in tokens, and the perplexity
    of `plain_texts` (how far the model drifted on text it was not tuned on; None without texts)."""
    scored = tone_accuracy(model, tokenizer, rows, labels)
    correct = [prediction == row["tone"] for prediction, row in zip(scored["predictions"], rows)]
    lengths = [len(tokenizer(answer, add_special_tokens=False)["input_ids"]) for answer in scored["answers"]]
    return {
        "format_share": 1 - scored["invalid_rate"],
        "accuracy": scored["accuracy"],
        "accuracy_ci": list(bootstrap_ci(correct, seed=seed)),
        "lenient_accuracy": scored["lenient_accuracy"],
        "answer_tokens": sum(lengths) / len(lengths),
        "perplexity": perplexity(model, tokenizer, plain_texts) if plain_texts else None,
        "answers": scored["answers"],
    }


# --- One harness for every model variant (lesson 06) -------------------------------------------------------------


@dataclass
class Variant:
    """A model to score: how it answers templated prompts, its size, and (for PyTorch models) the model itself."""

    name: str
    answer: Callable[[Sequence[str], int], list[str]]
    size_mb: float
    torch_model: Any = None


def torch_variant(name: str, model: Any, tokenizer: Any) -> Variant:
    """A PyTorch model as a Variant (greedy answers through `generate`); size = its weights in memory, adapter included.

    The prompts' shared first tokens run once, as the ONNX variants run theirs (`export.greedy_token_lists`), so
    that their latencies compare like with like; the answers are those of each prompt run whole.
    """
    size_mb = model.get_memory_footprint() / MB
    return Variant(name, lambda prompts, n: generate_answers(model, tokenizer, prompts, max_new_tokens=n,
                                                             share_prefix=True), size_mb, model)


def onnx_variant(name: str, onnx_dir: Any, tokenizer: Any) -> Variant:
    """An onnxruntime-genai export as a Variant (same prompts, same greedy decoding, the shared first tokens once)."""
    from pathlib import Path

    from course_utils import export

    model = export.load_onnx(onnx_dir)
    size = sum(f.stat().st_size for f in Path(onnx_dir).glob("model.onnx*")) / MB
    return Variant(name, lambda prompts, n: export.onnx_answers(model, tokenizer, prompts, max_new_tokens=n), size)


def bootstrap_ci(correct: Sequence[bool], seed: int = 0, resamples: int = 2000, level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap confidence interval of the mean of `correct`."""
    import numpy as np

    values = np.asarray(correct, dtype=float)
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, len(values), size=(resamples, len(values)))].mean(axis=1)
    tail = (1 - level) / 2 * 100
    return float(np.percentile(means, tail)), float(np.percentile(means, 100 - tail))


def _summed_loss(logits: torch.Tensor, labels: torch.Tensor) -> tuple[float, int]:
    """The summed next-token cross-entropy of `labels` (-100 where not scored) under `logits`, and how many tokens."""
    targets = labels[:, 1:]
    loss = torch.nn.functional.cross_entropy(logits[:, :-1].float().reshape(-1, logits.shape[-1]), targets.reshape(-1),
                                             ignore_index=-100, reduction="sum")
    return float(loss), int((targets != -100).sum())


@torch.no_grad()
def perplexity(model: Any, tokenizer: Any, texts: Sequence[str], batch_size: int = 32) -> float:
    """exp(mean negative log-likelihood per predicted token) of plain `texts`: lower means less surprised."""
    total_loss, total_tokens = 0.0, 0
    for start in range(0, len(texts), batch_size):
        batch = tokenizer(list(texts[start : start + batch_size]), return_tensors="pt", padding=True,
                          padding_side="right").to(model.device)
        labels = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
        loss, tokens = _summed_loss(model(**batch).logits, labels)
        total_loss += loss
        total_tokens += tokens
    return float(torch.exp(torch.tensor(total_loss / total_tokens)))


@torch.no_grad()
def answer_perplexity(model: Any, tokenizer: Any, prompts: Sequence[str], answers: Sequence[str],
                      batch_size: int = 32) -> float:
    """exp(mean negative log-likelihood per token) of each expected answer, and the end-of-turn token after it, given
    its templated prompt: how likely the model finds the right answer, even when its own greedy answer is wrong.

    The tokens every prompt starts with (a stated schema, few-shot examples) run through the model once, and each
    batch continues from their cache, as `greedy_tokens(share_prefix=True)` does: on SmolLM2's few-shot extraction
    prompts (513 tokens, 480 of them shared) that is most of the work.
    """
    import copy

    from transformers import DynamicCache

    end = tokenizer.eos_token or ""
    prompt_rows = [tokenizer(prompt, add_special_tokens=False)["input_ids"] for prompt in prompts]
    answer_rows = [tokenizer(answer + end, add_special_tokens=False)["input_ids"] for answer in answers]
    # The last token of every prompt stays out of the prefix: its logits score the answer's first token.
    shared = min(common_prefix_length(prompt_rows), min(map(len, prompt_rows)) - 1) if len(prompt_rows) > 1 else 0
    prefix_cache = None
    if shared > 0:
        prefix_cache = DynamicCache(config=model.config)
        prefix = torch.tensor([prompt_rows[0][:shared]], device=model.device)
        model(input_ids=prefix, **compat.cache_argument(model, prefix_cache), use_cache=True, logits_to_keep=1)
    total_loss, total_tokens = 0.0, 0
    pad = tokenizer.pad_token_id
    for start in range(0, len(prompt_rows), batch_size):
        rows, targets = [], []
        batch = slice(start, start + batch_size)
        for prompt_ids, answer_ids in zip(prompt_rows[batch], answer_rows[batch]):
            rows.append(prompt_ids[shared:] + answer_ids)
            targets.append([-100] * (len(prompt_ids) - shared) + answer_ids)
        width = max(len(row) for row in rows)
        input_ids = torch.tensor([row + [pad] * (width - len(row)) for row in rows], device=model.device)
        mask = torch.tensor([[1] * (shared + len(row)) + [0] * (width - len(row)) for row in rows], device=model.device)
        labels = torch.tensor([row + [-100] * (width - len(row)) for row in targets], device=model.device)
        cached = {}
        if prefix_cache is not None:
            cache = copy.deepcopy(prefix_cache)
            cache.batch_repeat_interleave(len(rows))
            cached = compat.cache_argument(model, cache) | {"use_cache": True}
        loss, tokens = _summed_loss(model(input_ids=input_ids, attention_mask=mask, **cached).logits, labels)
        total_loss += loss
        total_tokens += tokens
    return float(torch.exp(torch.tensor(total_loss / total_tokens)))


def generation_scores(answers: Sequence[str], references: Sequence[str]) -> dict[str, float]:
    """ROUGE-L F1 (rouge-score) and corpus BLEU (sacrebleu) of answers against references; both 0 to 100."""
    import sacrebleu
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    rouge = [scorer.score(ref, ans)["rougeL"].fmeasure for ans, ref in zip(answers, references)]
    return {"rougeL": 100 * sum(rouge) / len(rouge), "bleu": sacrebleu.corpus_bleu(list(answers), [list(references)]).score}


def classification_report(predictions: Sequence[str | None], rows: Sequence[dict[str, str]],
                          labels: Sequence[str]) -> dict[str, Any]:
    """Accuracy, macro-F1, per-class precision/recall and the confusion matrix (scikit-learn); invalid = "(invalid)"."""
    from sklearn.metrics import confusion_matrix, f1_score, precision_recall_fscore_support

    truth = [row["tone"] for row in rows]
    predicted = [p if p is not None else "(invalid)" for p in predictions]
    precision, recall, _, _ = precision_recall_fscore_support(truth, predicted, labels=list(labels), zero_division=0)
    return {
        "accuracy": sum(p == t for p, t in zip(predicted, truth)) / len(truth),
        "macro_f1": float(f1_score(truth, predicted, labels=list(labels), average="macro", zero_division=0)),
        "precision": dict(zip(labels, map(float, precision))),
        "recall": dict(zip(labels, map(float, recall))),
        "confusion": confusion_matrix(truth, predicted, labels=[*labels, "(invalid)"]).tolist(),
    }


def score_variant(variant: Variant, tokenizer: Any, tone_rows: Sequence[dict[str, str]], labels: Sequence[str],
                  qa_rows: Sequence[dict[str, str]] = (), text_rows: Sequence[str] = (), seed: int = 0) -> dict[str, Any]:
    """Every lesson-06 metric for one variant, on the same data with the same greedy decoding."""
    import time

    if not tone_rows:
        raise ValueError("the tone test split is empty: give a test file with at least one row (tone_test)")
    prompts = tone_prompts(tokenizer, tone_rows, labels)
    started = time.perf_counter()
    answers = variant.answer(prompts, LABEL_ANSWER_TOKENS)
    latency_ms = 1000 * (time.perf_counter() - started) / len(prompts)
    predictions = [parse_label(answer, labels) for answer in answers]
    report = classification_report(predictions, tone_rows, labels)
    correct = [p == row["tone"] for p, row in zip(predictions, tone_rows)]
    result: dict[str, Any] = {
        "name": variant.name,
        **report,
        "accuracy_ci": list(bootstrap_ci(correct, seed=seed)),
        "invalid_rate": sum(p is None for p in predictions) / len(predictions),
        "perplexity": perplexity(variant.torch_model, tokenizer, text_rows) if variant.torch_model and text_rows else None,
        "rougeL": None,
        "bleu": None,
        "latency_ms": latency_ms,
        "size_mb": variant.size_mb,
        "answers": answers,
    }
    if qa_rows:
        qa_answers = variant.answer(chat_prompts(tokenizer, [row["input"] for row in qa_rows]), QA_ANSWER_TOKENS)
        result.update(generation_scores(qa_answers, [row["output"] for row in qa_rows]))
    return result
