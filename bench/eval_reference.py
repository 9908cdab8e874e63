"""The course's evaluation as it was before the prompt's KV cache was shared across labels (commit c93ffd5), kept as
the reference that bench/eval_speed.py times the current code against."""

from __future__ import annotations

from typing import Any, Sequence

import torch

from course_utils.data import tone_instruction
from course_utils.evaluate import chat_prompts


@torch.no_grad()
def ranked_tone_accuracy_before(
    model: Any, tokenizer: Any, rows: Sequence[dict[str, str]], labels: Sequence[str], batch_size: int = 32
) -> float:
    """Accuracy when the model must pick a label: the one whose answer tokens it finds most likely."""
    prompts = chat_prompts(tokenizer, [tone_instruction(row["phrase"], labels) for row in rows])
    scores = torch.zeros(len(rows), len(labels))
    for label_index, label in enumerate(labels):
        for start in range(0, len(rows), batch_size):
            chunk = prompts[start : start + batch_size]
            prompt_lengths = [len(tokenizer(p, add_special_tokens=False)["input_ids"]) for p in chunk]
            batch = tokenizer([p + label for p in chunk], return_tensors="pt", padding=True, padding_side="right",
                              add_special_tokens=False).to(model.device)
            log_probs = torch.log_softmax(model(**batch).logits[:, :-1].float(), dim=-1)
            targets = batch["input_ids"][:, 1:]
            token_log_probs = log_probs.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
            for row, prompt_length in enumerate(prompt_lengths):
                answer_length = int(batch["attention_mask"][row].sum()) - prompt_length
                answer = token_log_probs[row, prompt_length - 1 : prompt_length - 1 + answer_length]
                scores[start + row, label_index] = answer.mean()
    picks = scores.argmax(dim=1).tolist()
    return sum(labels[pick] == row["tone"] for pick, row in zip(picks, rows)) / len(rows)
