"""Scoring a model on the tone task: generated answers, accuracy, invalid-answer rate, label ranking.

Accuracy is measured the way a user meets the model: greedy generation from the chat
prompt, and the first word of the answer compared with the label. An answer that is
not one of the labels counts as wrong and is also reported as the invalid rate.
"""

from __future__ import annotations

import re
from difflib import SequenceMatcher
from typing import Any, Sequence

import torch

from course_utils.data import tone_instruction


def chat_prompts(tokenizer: Any, user_messages: Sequence[str]) -> list[str]:
    """Each user message wrapped in the tokenizer's chat template, ready for the assistant's answer."""
    return [
        tokenizer.apply_chat_template([{"role": "user", "content": text}], tokenize=False, add_generation_prompt=True)
        for text in user_messages
    ]


@torch.no_grad()
def generate_answers(
    model: Any, tokenizer: Any, prompts: Sequence[str], max_new_tokens: int = 8, batch_size: int = 32
) -> list[str]:
    """Greedy answers to already-templated `prompts`, batched with left padding; only the new text."""
    tokenizer.padding_side = "left"
    answers: list[str] = []
    for start in range(0, len(prompts), batch_size):
        batch = tokenizer(
            list(prompts[start : start + batch_size]), return_tensors="pt", padding=True, add_special_tokens=False
        ).to(model.device)
        output = model.generate(
            **batch,
            max_new_tokens=max_new_tokens,
            do_sample=False,
            pad_token_id=tokenizer.pad_token_id,
        )
        new_tokens = output[:, batch["input_ids"].shape[1] :]
        answers += [text.strip() for text in tokenizer.batch_decode(new_tokens, skip_special_tokens=True)]
    return answers


def parse_label(answer: str, labels: Sequence[str]) -> str | None:
    """The label an answer gives (its first word, case and punctuation ignored), or None if it gives none."""
    words = re.findall(r"[a-z]+", answer.lower())
    return words[0] if words and words[0] in labels else None


def tone_accuracy(
    model: Any, tokenizer: Any, rows: Sequence[dict[str, str]], labels: Sequence[str], batch_size: int = 32
) -> dict[str, Any]:
    """Held-out accuracy and invalid-answer rate of greedy answers, with every answer kept for inspection."""
    prompts = chat_prompts(tokenizer, [tone_instruction(row["phrase"], labels) for row in rows])
    answers = generate_answers(model, tokenizer, prompts, batch_size=batch_size)
    predictions = [parse_label(answer, labels) for answer in answers]
    correct = sum(pred == row["tone"] for pred, row in zip(predictions, rows))
    invalid = sum(pred is None for pred in predictions)
    return {
        "accuracy": correct / len(rows),
        "invalid_rate": invalid / len(rows),
        "answers": answers,
        "predictions": predictions,
    }


@torch.no_grad()
def ranked_tone_accuracy(
    model: Any, tokenizer: Any, rows: Sequence[dict[str, str]], labels: Sequence[str], batch_size: int = 32
) -> float:
    """Accuracy when the model must pick a label: the one whose answer tokens it finds most likely."""
    prompts = chat_prompts(tokenizer, [tone_instruction(row["phrase"], labels) for row in rows])
    tokenizer.padding_side = "right"
    scores = torch.zeros(len(rows), len(labels))
    for label_index, label in enumerate(labels):
        for start in range(0, len(rows), batch_size):
            chunk = prompts[start : start + batch_size]
            prompt_lengths = [len(tokenizer(p, add_special_tokens=False)["input_ids"]) for p in chunk]
            batch = tokenizer(
                [p + label for p in chunk], return_tensors="pt", padding=True, add_special_tokens=False
            ).to(model.device)
            log_probs = torch.log_softmax(model(**batch).logits[:, :-1].float(), dim=-1)
            targets = batch["input_ids"][:, 1:]
            token_log_probs = log_probs.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
            for row, prompt_length in enumerate(prompt_lengths):
                answer_length = int(batch["attention_mask"][row].sum()) - prompt_length
                answer = token_log_probs[row, prompt_length - 1 : prompt_length - 1 + answer_length]
                scores[start + row, label_index] = answer.mean()
    picks = scores.argmax(dim=1).tolist()
    return sum(labels[pick] == row["tone"] for pick, row in zip(picks, rows)) / len(rows)


def qa_scores(model: Any, tokenizer: Any, rows: Sequence[dict[str, str]], batch_size: int = 32) -> dict[str, Any]:
    """Greedy answers to qa rows: exact-match rate and mean character similarity (difflib ratio, 0 to 1)."""
    prompts = chat_prompts(tokenizer, [row["input"] for row in rows])
    answers = generate_answers(model, tokenizer, prompts, max_new_tokens=24, batch_size=batch_size)
    normalize = lambda text: " ".join(text.lower().split())  # noqa: E731
    exact = [normalize(a) == normalize(r["output"]) for a, r in zip(answers, rows)]
    similarity = [SequenceMatcher(None, normalize(a), normalize(r["output"])).ratio() for a, r in zip(answers, rows)]
    return {"exact_match": sum(exact) / len(rows), "similarity": sum(similarity) / len(rows), "answers": answers}
