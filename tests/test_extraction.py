"""The extraction scores on hand-made answers: invalid JSON, a missing field, an extra field, wrong types, key order."""

from __future__ import annotations

import json

import pytest

from course_utils import extraction

RECORDS = [
    {"intent": "send_money", "recipient": "Hugo", "amount": 19.13, "currency": "GBP"},
    {"intent": "send_money", "recipient": "Ana", "amount": 25, "currency": "EUR"},
    {"intent": "book_table", "restaurant": "Luigi's", "people": 4, "day": "friday", "time": "19:30"},
]
REFERENCE = {"intent": "book_table", "restaurant": "Luigi's", "people": 4, "day": "friday", "time": "19:30"}


@pytest.fixture
def schema() -> extraction.RecordSchema:
    return extraction.infer_schema(RECORDS)


def scores(answer: str, schema: extraction.RecordSchema) -> dict[str, float]:
    return extraction.extraction_scores([answer], [REFERENCE], schema)


def test_the_schema_is_read_from_the_records(schema) -> None:
    assert schema.fields == {"send_money": ("intent", "recipient", "amount", "currency"),
                             "book_table": ("intent", "restaurant", "people", "day", "time")}
    assert schema.types["amount"] == {"number"}, "19.13 and 25 together make a number field"
    assert schema.types["people"] == {"integer"}


def test_a_perfect_answer_in_another_key_order_scores_one_everywhere(schema) -> None:
    answer = '{"time": "19:30", "people": 4, "intent": "book_table", "day": "friday", "restaurant": "Luigi\'s"}'
    assert scores(answer, schema) == {"parses": 1.0, "matches_schema": 1.0, "exact_match": 1.0,
                                      "field_precision": 1.0, "field_recall": 1.0, "field_f1": 1.0}


def test_a_code_fence_is_allowed_but_text_around_the_object_is_not(schema) -> None:
    fenced = ('```json\n{"intent": "book_table", "restaurant": "Luigi\'s", "people": 4, "day": "friday", '
              '"time": "19:30"}\n```')
    assert scores(fenced, schema)["exact_match"] == 1.0
    assert extraction.parse_record('Sure! {"intent": "book_table"}') is None
    assert extraction.parse_record("[1, 2]") is None, "a JSON array is not a record"


@pytest.mark.parametrize("answer", ['{"intent": "book_table", "people": 4', "book_table", ""])
def test_invalid_json_scores_zero_everywhere(schema, answer: str) -> None:
    assert set(scores(answer, schema).values()) == {0.0}


def test_a_missing_field_costs_recall_not_precision(schema) -> None:
    result = scores('{"intent": "book_table", "restaurant": "Luigi\'s", "people": 4, "day": "friday"}', schema)
    assert result["parses"] == 1.0 and result["matches_schema"] == 0.0 and result["exact_match"] == 0.0
    assert result["field_precision"] == 1.0 and result["field_recall"] == pytest.approx(4 / 5)
    assert schema.problems({k: v for k, v in REFERENCE.items() if k != "time"}) == ["missing field 'time'"]


def test_an_extra_field_costs_precision_not_recall(schema) -> None:
    result = scores('{"intent": "book_table", "restaurant": "Luigi\'s", "people": 4, "day": "friday", '
                    '"time": "19:30", "notes": "window seat"}', schema)
    assert result["matches_schema"] == 0.0 and result["exact_match"] == 0.0
    assert result["field_precision"] == pytest.approx(5 / 6) and result["field_recall"] == 1.0
    assert result["field_f1"] == pytest.approx(2 * (5 / 6) / (5 / 6 + 1))


def test_a_wrong_type_is_a_wrong_value_and_breaks_the_schema(schema) -> None:
    answer = '{"intent": "book_table", "restaurant": "Luigi\'s", "people": "4", "day": "friday", "time": "19:30"}'
    result = scores(answer, schema)
    assert result["parses"] == 1.0 and result["matches_schema"] == 0.0 and result["exact_match"] == 0.0
    assert result["field_precision"] == result["field_recall"] == pytest.approx(4 / 5)
    record = extraction.parse_record(answer)
    assert schema.problems(record) == ["field 'people' is string, expected integer"]
    assert schema.problems({**REFERENCE, "people": True}) == ["field 'people' is boolean, expected integer"]


def test_an_integer_is_a_number_but_a_number_is_not_an_integer(schema) -> None:
    assert schema.problems({"intent": "send_money", "recipient": "Ana", "amount": 25, "currency": "EUR"}) == []
    assert schema.problems({**REFERENCE, "people": 4.5}) == ["field 'people' is number, expected integer"]
    money = {"intent": "send_money", "recipient": "Ana", "amount": 25, "currency": "EUR"}
    assert extraction.extraction_scores(['{"intent": "send_money", "recipient": "Ana", "amount": 25.0, '
                                         '"currency": "EUR"}'], [money], schema)["exact_match"] == 1.0


def test_an_unknown_intent_and_a_non_object_are_named(schema) -> None:
    assert schema.problems({"intent": "order_pizza"})[0].startswith("unknown intent 'order_pizza' (known: book_table")
    assert schema.problems(["a"]) == ["not a JSON object (got array)"]


def test_records_without_an_intent_have_one_schema() -> None:
    schema = extraction.infer_schema([{"name": "Ana", "age": 30}, {"name": "Tom", "age": 41}])
    assert schema.fields == {None: ("name", "age")}
    assert schema.problems({"name": "Eve", "age": 22}) == []
    assert schema.problems({"name": "Eve"}) == ["missing field 'age'"]


def test_scores_are_micro_averaged_over_answers(schema) -> None:
    references = [REFERENCE, RECORDS[0]]
    answers = ['{"intent": "book_table", "restaurant": "Luigi\'s", "people": 4, "day": "friday", "time": "19:30"}',
               "not json"]
    result = extraction.extraction_scores(answers, references, schema)
    assert result["parses"] == result["exact_match"] == 0.5
    assert result["field_precision"] == 1.0 and result["field_recall"] == pytest.approx(5 / 9)


def test_exact_matches_are_per_answer_and_agree_with_the_share(schema) -> None:
    references = [REFERENCE, REFERENCE, REFERENCE]
    answers = [json.dumps(dict(reversed(list(REFERENCE.items())))), "not json", json.dumps({**REFERENCE, "x": 1})]
    assert extraction.exact_matches(answers, references) == [True, False, False]
    assert extraction.extraction_scores(answers, references, schema)["exact_match"] == 1 / 3


def test_mismatched_lengths_are_refused(schema) -> None:
    with pytest.raises(ValueError, match="one answer per reference"):
        extraction.extraction_scores(["{}"], [], schema)


def test_the_instruction_states_the_schema_and_the_completion_is_the_record(schema) -> None:
    text = extraction.instruction("Pay Ana 25 euros.", schema)
    assert '"intent" is one of send_money, book_table' in text
    assert "- send_money: recipient (string), amount (number), currency (string)\n" in text
    assert "- book_table: restaurant (string), people (integer), day (string), time (string)\n" in text
    assert text.endswith("Answer with the JSON object only.\nRequest: Pay Ana 25 euros.")
    pair = extraction.messages({"message": "Pay Ana 25 euros.", "record": RECORDS[1]}, schema)
    assert pair["prompt"] == [{"role": "user", "content": text}]
    answer = pair["completion"][0]["content"]
    assert answer == '{"intent": "send_money", "recipient": "Ana", "amount": 25, "currency": "EUR"}'
    assert extraction.extraction_scores([answer], [RECORDS[1]], schema)["exact_match"] == 1.0
    flat = extraction.infer_schema([{"name": "Ana", "age": 30}])
    assert "Its fields: name (string), age (integer).\n" in extraction.instruction("m", flat)


def test_without_a_schema_the_prompt_is_the_request_alone(schema) -> None:
    """The prompt a fine-tuned model is trained on: the schema lives in its weights, not in every prompt."""
    short = extraction.instruction("Pay Ana 25 euros.")
    assert short == "Turn this request into one JSON object.\nRequest: Pay Ana 25 euros."
    pair = extraction.messages({"message": "Pay Ana 25 euros.", "record": RECORDS[1]})
    assert pair["prompt"][0]["content"] == extraction.instruction("Pay Ana 25 euros.")
    assert len(extraction.instruction("m")) < len(extraction.instruction("m", schema)) / 3
