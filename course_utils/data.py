"""Shipped datasets: loading jsonl or JSON-array files, validation with file:line errors, prompt formatting.

A row with a missing field fails as ``data/tone/train.jsonl:17: missing field "tone"``,
so a learner who brings their own file knows exactly which line to fix.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

from course_utils.config import resolve_course_path

TONE_FIELDS = ("phrase", "tone")
QA_FIELDS = ("input", "output")


class DataError(ValueError):
    """A data file that cannot be used, with the file and line in the message."""


def _json_array_items(text: str, path: Path) -> list[tuple[int, Any]]:
    """(line, item) pairs of a JSON array, so errors can name the line of each item."""
    decoder = json.JSONDecoder()
    position = text.index("[") + 1
    items: list[tuple[int, Any]] = []
    while True:
        while position < len(text) and text[position] in " \t\r\n,":
            position += 1
        if position >= len(text) or text[position] == "]":
            return items
        line = text.count("\n", 0, position) + 1
        try:
            item, position = decoder.raw_decode(text, position)
        except json.JSONDecodeError as error:
            raise DataError(f"{path}:{line}: not valid JSON ({error.msg})") from error
        items.append((line, item))


def read_records(path: str | Path, required_fields: Sequence[str] = ()) -> list[dict[str, Any]]:
    """Rows of a .jsonl file (one object per line) or a .json file holding an array of objects."""
    resolved = resolve_course_path(path)
    if not resolved.is_file():
        raise DataError(f"{path}: no such data file")
    text = resolved.read_text(encoding="utf-8")
    if text.lstrip().startswith("["):
        numbered = _json_array_items(text, resolved)
    else:
        numbered = []
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                numbered.append((number, json.loads(line)))
            except json.JSONDecodeError as error:
                raise DataError(f"{path}:{number}: not valid JSON ({error.msg})") from error
    rows = []
    for number, row in numbered:
        if not isinstance(row, dict):
            raise DataError(f"{path}:{number}: expected a JSON object, got {type(row).__name__}")
        for field in required_fields:
            if field not in row:
                raise DataError(f'{path}:{number}: missing field "{field}" (each row needs {", ".join(required_fields)})')
            if not isinstance(row[field], str) or not row[field].strip():
                raise DataError(f'{path}:{number}: field "{field}" must be a non-empty string')
        rows.append(row)
    if not rows:
        raise DataError(f"{path}: holds no rows")
    return rows


def load_tone(path: str | Path, limit: int | None = None) -> list[dict[str, str]]:
    """Tone rows ({"phrase", "tone"}), optionally only the first `limit`."""
    rows = read_records(path, TONE_FIELDS)
    return rows[:limit] if limit else rows


def load_qa(path: str | Path, limit: int | None = None) -> list[dict[str, str]]:
    """Instruction rows ({"input", "output"}), optionally only the first `limit`."""
    rows = read_records(path, QA_FIELDS)
    return rows[:limit] if limit else rows


def label_set(rows: Sequence[dict[str, str]], field: str = "tone") -> list[str]:
    """The distinct labels in `rows`, sorted so every lesson lists them in the same order."""
    return sorted({row[field] for row in rows})


def tone_instruction(phrase: str, labels: Sequence[str]) -> str:
    """The user message of a tone example: the task, the allowed answers, then the phrase."""
    choices = ", ".join(labels[:-1]) + f" or {labels[-1]}" if len(labels) > 1 else labels[0]
    return f"What is the tone of this phrase? Answer with one word: {choices}.\nPhrase: {phrase}"


def tone_messages(row: dict[str, str], labels: Sequence[str]) -> dict[str, list[dict[str, str]]]:
    """A tone row as a conversational prompt/completion pair (trl's prompt-completion format)."""
    return {
        "prompt": [{"role": "user", "content": tone_instruction(row["phrase"], labels)}],
        "completion": [{"role": "assistant", "content": row["tone"]}],
    }


def qa_messages(row: dict[str, str]) -> dict[str, list[dict[str, str]]]:
    """A qa row as a conversational prompt/completion pair."""
    return {
        "prompt": [{"role": "user", "content": row["input"]}],
        "completion": [{"role": "assistant", "content": row["output"]}],
    }


def conversation_text(tokenizer: Any, row: dict[str, str], labels: Sequence[str]) -> str:
    """A tone row as the full string the model trains on: prompt and answer through the chat template."""
    messages = tone_messages(row, labels)
    return tokenizer.apply_chat_template(messages["prompt"] + messages["completion"], tokenize=False)


def padded_batch(tokenizer: Any, rows: Sequence[dict[str, str]], labels: Sequence[str], length: int) -> dict[str, Any]:
    """Tone rows as one batch of tensors, every sequence padded (or cut) to `length` tokens."""
    texts = [conversation_text(tokenizer, row, labels) for row in rows]
    return dict(tokenizer(texts, return_tensors="pt", padding="max_length", max_length=length, truncation=True,
                          add_special_tokens=False))


def tone_dataset(rows: Sequence[dict[str, str]], labels: Sequence[str]) -> Any:
    """A datasets.Dataset of tone prompt/completion pairs, ready for trl's SFTTrainer."""
    from datasets import Dataset

    return Dataset.from_list([tone_messages(row, labels) for row in rows])


def qa_dataset(rows: Sequence[dict[str, str]]) -> Any:
    """A datasets.Dataset of qa prompt/completion pairs, ready for trl's SFTTrainer."""
    from datasets import Dataset

    return Dataset.from_list([qa_messages(row) for row in rows])
