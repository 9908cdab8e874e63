"""Structured extraction: a message in, a JSON record out. The record's schema, and the four scores of an answer.

A record is a JSON object, for example ``{"intent": "send_money", "recipient": "Hugo", "amount": 19.13,
"currency": "GBP"}``. The schema is read from the training records (`infer_schema`), so a learner's own fields work
too: which fields each intent has, and the JSON type of each field. An answer is scored four ways
(`extraction_scores`), from the most forgiving to the strictest:

- **parses**: the answer is one JSON object (a markdown code fence around it is allowed);
- **matches the schema**: its intent is known, it has exactly that intent's fields, each of the right type;
- **exact match**: it equals the reference record; the order of keys does not matter;
- **field precision / recall / F1**: over (field, value) pairs, summed over all answers (micro-averaged). An extra
  field costs precision, a missing one costs recall, a wrong value or type costs both; an answer that does not parse
  has no pairs.

Only the standard library's `json` is used: the schema here is a table of fields and types, which needs no
JSON-Schema validator.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

INTENT = "intent"  # the field that names what a record asks for; records without it have one schema for all
_FENCE = re.compile(r"^```(?:json)?\s*\n?(.*?)\n?\s*```$", re.DOTALL)


def json_type(value: Any) -> str:
    """The JSON type name of a parsed value: string, integer, number, boolean, null, array or object."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if value is None:
        return "null"
    return "array" if isinstance(value, list) else "object"


@dataclass(frozen=True)
class RecordSchema:
    """Per intent (None when records have no intent field), its fields in order; per field, the JSON types it takes."""

    fields: Mapping[str | None, tuple[str, ...]]
    types: Mapping[str, frozenset[str]]

    def problems(self, record: Any) -> list[str]:
        """What keeps `record` from matching the schema, in words; an empty list when it matches."""
        if not isinstance(record, dict):
            return [f"not a JSON object (got {json_type(record)})"]
        intent = record.get(INTENT) if None not in self.fields else None
        if intent not in self.fields:
            return [f"unknown {INTENT} {intent!r} (known: {', '.join(sorted(map(str, self.fields)))})"]
        expected = set(self.fields[intent])
        found: list[str] = []
        found += [f"missing field {name!r}" for name in self.fields[intent] if name not in record]
        found += [f"unexpected field {name!r}" for name in record if name not in expected]
        for name in sorted(expected & set(record)):
            allowed, kind = self.types[name], json_type(record[name])
            if kind not in allowed and not (kind == "integer" and "number" in allowed):
                found.append(f"field {name!r} is {kind}, expected {' or '.join(sorted(allowed))}")
        return found


def infer_schema(records: Sequence[Mapping[str, Any]]) -> RecordSchema:
    """The schema the training records follow: each intent's fields (in first-seen order) and each field's types.

    A field written sometimes as an integer and sometimes with a fraction is a number (an integer is accepted there).
    """
    if not records:
        raise ValueError("infer_schema needs at least one record")
    keyed = all(INTENT in record for record in records)
    fields: dict[str | None, dict[str, None]] = {}
    types: dict[str, set[str]] = {}
    for record in records:
        order = fields.setdefault(record[INTENT] if keyed else None, {})
        for name, value in record.items():
            order.setdefault(name, None)
            types.setdefault(name, set()).add(json_type(value))
    for kinds in types.values():
        if {"integer", "number"} <= kinds:
            kinds.discard("integer")
    return RecordSchema({intent: tuple(order) for intent, order in fields.items()},
                        {name: frozenset(kinds) for name, kinds in types.items()})


def instruction(message: str, schema: RecordSchema | None = None) -> str:
    """The user message of an extraction example: the request, after the schema in words when `schema` is given.

    With the schema (intents, fields, types) a model that was never trained on the task can know what to write
    (zero-shot and few-shot prompting). Without it the prompt is short, and only a model fine-tuned on records of
    this schema knows the fields: fine-tuning moves the schema from every prompt into the weights.
    """
    if schema is None:
        return f"Turn this request into one JSON object.\nRequest: {message}"

    def fields(intent: str | None) -> str:
        return ", ".join(f"{name} ({' or '.join(sorted(schema.types[name]))})"
                         for name in schema.fields[intent] if name != INTENT)

    if None in schema.fields:
        layout = f"Its fields: {fields(None)}."
    else:
        layout = (f'Its "{INTENT}" is one of {", ".join(map(str, schema.fields))}, and each intent has exactly these '
                  "fields:\n" + "\n".join(f"- {intent}: {fields(intent)}" for intent in schema.fields))
    return f"Turn this request into one JSON object. {layout}\nAnswer with the JSON object only.\nRequest: {message}"


def messages(row: Mapping[str, Any], schema: RecordSchema | None = None) -> dict[str, list[dict[str, str]]]:
    """An extraction row as a conversational prompt/completion pair; the completion is the record as compact JSON.

    `schema`: state it in the prompt (`instruction`), or None for the short prompt a fine-tuned model is trained on.
    """
    return {"prompt": [{"role": "user", "content": instruction(row["message"], schema)}],
            "completion": [{"role": "assistant", "content": json.dumps(row["record"], ensure_ascii=False)}]}


def parse_record(answer: str) -> dict[str, Any] | None:
    """The JSON object an answer holds, or None: the whole answer must be the object (inside a code fence or not)."""
    text = answer.strip()
    fenced = _FENCE.match(text)
    try:
        value = json.loads(fenced.group(1) if fenced else text)
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def _pairs(record: Mapping[str, Any] | None) -> set[tuple[str, str]]:
    """(field, value) pairs, each value written with its type: 4 and "4" differ, 25 and 25.0 do not."""
    if record is None:
        return set()
    pairs = set()
    for name, value in record.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = float(value)
        pairs.add((name, json.dumps(value, sort_keys=True, ensure_ascii=False)))
    return pairs


def _same_record(record: Mapping[str, Any] | None, reference: Mapping[str, Any]) -> bool:
    return record is not None and _pairs(record) == _pairs(reference)


def exact_matches(answers: Sequence[str], references: Sequence[Mapping[str, Any]]) -> list[bool]:
    """Per answer, whether it parses to its reference record (the order of keys aside; 25 and 25.0 are one number)."""
    return [_same_record(parse_record(answer), reference) for answer, reference in zip(answers, references)]


def extraction_scores(answers: Sequence[str], references: Sequence[Mapping[str, Any]],
                      schema: RecordSchema) -> dict[str, float]:
    """The shares of answers that parse, match the schema and match exactly; field-level precision, recall and F1."""
    if len(answers) != len(references) or not answers:
        raise ValueError(f"need one answer per reference and at least one (got {len(answers)} and {len(references)})")
    parsed = [parse_record(answer) for answer in answers]
    true_positives = predicted = gold = 0
    for record, reference in zip(parsed, references):
        mine, theirs = _pairs(record), _pairs(reference)
        true_positives += len(mine & theirs)
        predicted += len(mine)
        gold += len(theirs)
    precision = true_positives / predicted if predicted else 0.0
    recall = true_positives / gold if gold else 0.0
    n = len(answers)
    return {
        "parses": sum(record is not None for record in parsed) / n,
        "matches_schema": sum(record is not None and not schema.problems(record) for record in parsed) / n,
        "exact_match": sum(_same_record(record, reference) for record, reference in zip(parsed, references)) / n,
        "field_precision": precision,
        "field_recall": recall,
        "field_f1": 2 * precision * recall / (precision + recall) if precision + recall else 0.0,
    }
