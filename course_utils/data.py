"""Shipped datasets: loading jsonl or JSON-array files, validation with file:line errors, prompt formatting.

A row with a missing field fails as ``data/tone/train.jsonl:17: missing field "tone"``,
so a learner who brings their own file knows exactly which line to fix.

Labels are the learner's own: any case, any script, several words, digits or punctuation.
Two labels that differ only in case or spacing ("Joy" and "joy") cannot be told apart in
an answer, so such a file is refused with the lines of both spellings.
"""

from __future__ import annotations

import json
import random
import unicodedata
from collections import Counter
from pathlib import Path
from typing import Any, Sequence

from course_utils.config import resolve_course_path

TONE_FIELDS = ("phrase", "tone")
QA_FIELDS = ("input", "output")
EXTRACT_FIELDS = ("message", "record")
PREFERENCE_FIELDS = ("phrase", "chosen", "rejected")


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
    return [row for _, row in _numbered_records(path, required_fields)]


def _numbered_records(path: str | Path, required_fields: Sequence[str]) -> list[tuple[int, dict[str, Any]]]:
    """(line, row) pairs of a data file, every row checked for `required_fields`."""
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
        rows.append((number, row))
    if not rows:
        raise DataError(f"{path}: holds no rows")
    return rows


def label_key(label: str) -> str:
    """How labels and answers are compared: Unicode-normalised (NFKC), case-folded, runs of spaces as one."""
    return " ".join(unicodedata.normalize("NFKC", label).casefold().split())


def load_tone(path: str | Path, limit: int | None = None) -> list[dict[str, str]]:
    """Tone rows ({"phrase", "tone"}), optionally only the first `limit`; labels must be distinguishable."""
    numbered = _numbered_records(path, TONE_FIELDS)
    first_seen: dict[str, tuple[str, int]] = {}
    for number, row in numbered:
        label, line = first_seen.setdefault(label_key(row["tone"]), (row["tone"], number))
        if label != row["tone"]:
            raise DataError(
                f'{path}:{number}: label "{row["tone"]}" is label "{label}" (line {line}) written differently; '
                "labels are matched ignoring case and spacing, so write each label one way"
            )
    rows = [row for _, row in numbered]
    return rows[:limit] if limit else rows


# The share of each label held out of a training file to choose settings on (lessons 06-07, course sweep/search).
VALIDATION_FRACTION = 0.15


def validation_split(rows: Sequence[dict[str, str]], fraction: float = VALIDATION_FRACTION, seed: int = 0,
                     source: str = "the training data") -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """(train, validation): a stratified, seeded split of tone rows (sklearn's train_test_split, stratify=labels).

    Every choice made while developing (a rank, a learning rate, when to stop) is made on validation; the test
    set is read once, for the final number.
    """
    from sklearn.model_selection import train_test_split

    if not 0 < fraction < 1:
        raise DataError(f"validation_fraction must be between 0 and 1, exclusive (got {fraction!r})")
    counts = Counter(row["tone"] for row in rows)
    rare = sorted(label for label, n in counts.items() if n < 2)
    if rare:
        raise DataError(f"{source}: label {rare[0]!r} has only one row; a stratified validation split needs at "
                        "least two rows of every label")
    try:
        train, validation = train_test_split(list(rows), test_size=fraction, random_state=seed,
                                             stratify=[row["tone"] for row in rows])
    except ValueError as error:  # too few rows for the fraction and the number of labels
        raise DataError(f"{source}: cannot hold out {fraction:.0%} of {len(rows)} rows with every one of "
                        f"{len(counts)} labels in both parts ({error})") from None
    return list(train), list(validation)


def load_qa(path: str | Path, limit: int | None = None) -> list[dict[str, str]]:
    """Instruction rows ({"input", "output"}), optionally only the first `limit`."""
    rows = read_records(path, QA_FIELDS)
    return rows[:limit] if limit else rows


def load_preference(path: str | Path, limit: int | None = None) -> list[dict[str, str]]:
    """Preference rows ({"phrase", "chosen", "rejected"}, and "tone" and "failure" when given), the first `limit`.

    A pair whose two answers are the same teaches nothing and is refused with its line.
    """
    rows = []
    for number, row in _numbered_records(path, PREFERENCE_FIELDS):
        if label_key(row["chosen"]) == label_key(row["rejected"]):
            raise DataError(f'{path}:{number}: "chosen" and "rejected" are the same answer ({row["chosen"]!r}); '
                            "a preference pair needs an answer wanted and a different one not wanted")
        rows.append(row)
    return rows[:limit] if limit else rows


def load_extract(path: str | Path, limit: int | None = None) -> list[dict[str, Any]]:
    """Extraction rows ({"message": text, "record": a JSON object}), optionally only the first `limit`.

    The record may also be written as a string holding the object (``"record": "{\\"intent\\": ...}"``); it is parsed
    here, and a record that is not a JSON object stops the lesson with its file and line.
    """
    rows = []
    for number, row in _numbered_records(path, ()):
        for field in EXTRACT_FIELDS:
            if field not in row:
                raise DataError(f'{path}:{number}: missing field "{field}" (each row needs message, record)')
        if not isinstance(row["message"], str) or not row["message"].strip():
            raise DataError(f'{path}:{number}: field "message" must be a non-empty string')
        record = row["record"]
        if isinstance(record, str):
            try:
                record = json.loads(record)
            except json.JSONDecodeError as error:
                raise DataError(f'{path}:{number}: field "record" is not valid JSON ({error.msg}); write the record '
                                'as a JSON object, for example {"intent": "set_alarm", "time": "07:30"}') from None
        if not isinstance(record, dict) or not record:
            raise DataError(f'{path}:{number}: field "record" must be a non-empty JSON object (got {record!r:.60})')
        rows.append({**row, "record": record})
    return rows[:limit] if limit else rows


def label_set(rows: Sequence[dict[str, str]], field: str = "tone") -> list[str]:
    """The distinct labels in `rows`, as written, sorted (ignoring case) so every lesson lists them in the same order."""
    return check_distinct_labels(sorted({row[field] for row in rows}, key=lambda label: (label_key(label), label)))


def parse_label_list(text: str) -> list[str]:
    """A label set given as text ("Joy, Very sad, Rõõm"), split on commas, as written; at least two, distinguishable."""
    labels = [name.strip() for name in text.split(",") if name.strip()]
    if len(labels) < 2:
        raise DataError(f"labels must name at least two comma-separated labels (got {text!r})")
    return check_distinct_labels(labels, "the labels parameter")


def check_distinct_labels(labels: Sequence[str], source: str = "the data") -> list[str]:
    """`labels` as a list; DataError when two are the same once case and spacing are ignored."""
    seen: dict[str, str] = {}
    for label in labels:
        other = seen.setdefault(label_key(label), label)
        if other != label or labels.count(label) > 1:
            raise DataError(f'{source}: labels "{other}" and "{label}" are the same once case and spacing are ignored')
    return list(labels)


def tone_instruction(phrase: str, labels: Sequence[str]) -> str:
    """The user message of a tone example: the task, the allowed answers, then the phrase.

    Labels of one word are listed as they are; when a label has several words, every label is quoted.
    """
    one_word = all(len(label.split()) == 1 for label in labels)
    shown = list(labels) if one_word else [f'"{label}"' for label in labels]
    choices = ", ".join(shown[:-1]) + f" or {shown[-1]}" if len(shown) > 1 else shown[0]
    task = "Answer with one word" if one_word else "Answer with one of these labels"
    return f"What is the tone of this phrase? {task}: {choices}.\nPhrase: {phrase}"


def few_shot_examples(rows: Sequence[dict[str, str]], labels: Sequence[str], count: int,
                      seed: int = 0) -> list[dict[str, str]]:
    """A few-shot prompt's `count` solved examples: training rows picked at random (seeded), the labels in turn."""
    rng = random.Random(seed)
    pools = {label: [row for row in rows if row["tone"] == label] for label in labels}
    shots = []
    for index in range(count):
        pool = pools[labels[index % len(labels)]]
        if not pool:
            raise DataError(f"n_shots is {count}, but label {labels[index % len(labels)]!r} has too few training rows")
        shots.append(pool.pop(rng.randrange(len(pool))))
    return shots


def tone_messages(row: dict[str, str], labels: Sequence[str]) -> dict[str, list[dict[str, str]]]:
    """A tone row as a conversational prompt/completion pair (trl's prompt-completion format)."""
    return {
        "prompt": [{"role": "user", "content": tone_instruction(row["phrase"], labels)}],
        "completion": [{"role": "assistant", "content": row["tone"]}],
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


def preference_messages(row: dict[str, str], labels: Sequence[str]) -> dict[str, list[dict[str, str]]]:
    """A preference row in trl's conversational preference format: the tone prompt, the chosen and rejected answers."""
    return {
        "prompt": [{"role": "user", "content": tone_instruction(row["phrase"], labels)}],
        "chosen": [{"role": "assistant", "content": row["chosen"]}],
        "rejected": [{"role": "assistant", "content": row["rejected"]}],
    }


def preference_dataset(rows: Sequence[dict[str, str]], labels: Sequence[str]) -> Any:
    """A datasets.Dataset of preference pairs, ready for trl's DPOTrainer and ORPOTrainer."""
    from datasets import Dataset

    return Dataset.from_list([preference_messages(row, labels) for row in rows])


# Tokens an extraction example (request and record) may train on: course-tiny's longest is 180 tokens and SmolLM2's
# 115, so the tone lessons' max_length of 128 would cut course-tiny's records short.
EXTRACT_MAX_LENGTH = 256


def extract_dataset(rows: Sequence[dict[str, Any]], schema: Any = None) -> Any:
    """A datasets.Dataset of extraction prompt/completion pairs (`extraction.messages`), ready for trl's SFTTrainer.

    `schema`: an `extraction.RecordSchema` to state in every prompt, or None for the short prompt (one line of
    instruction and the request).
    """
    from datasets import Dataset

    from course_utils import extraction

    return Dataset.from_list([extraction.messages(row, schema) for row in rows])


def common_prefix_length(token_rows: Sequence[Sequence[int]]) -> int:
    """How many leading tokens every row shares, leaving each row at least one token of its own."""
    length = 0
    while all(len(row) > length + 1 for row in token_rows) and len({row[length] for row in token_rows}) == 1:
        length += 1
    return length
