"""Shipped datasets and the loader: sizes, disjoint splits, file:line errors, user files with other labels."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest

from course_utils import data, extraction

ROOT = Path(__file__).resolve().parents[1]
SHIPPED_LABELS = ["fear", "joy", "sadness", "surprise"]


def normalized(text: str) -> str:
    return " ".join(text.lower().split())


def test_tone_splits_are_large_enough_and_balanced() -> None:
    train, test = data.load_tone("data/tone/train.jsonl"), data.load_tone("data/tone/test.jsonl")
    assert len(train) >= 1000 and len(test) >= 200
    assert data.label_set(train) == data.label_set(test) == SHIPPED_LABELS
    for rows in (train, test):
        counts = {label: sum(row["tone"] == label for row in rows) for label in SHIPPED_LABELS}
        assert len(set(counts.values())) == 1, counts


def test_no_phrase_is_in_both_tone_splits() -> None:
    train = {normalized(r["phrase"]) for r in data.load_tone("data/tone/train.jsonl")}
    test = [normalized(r["phrase"]) for r in data.load_tone("data/tone/test.jsonl")]
    assert len(set(test)) == len(test), "duplicate phrases inside the test split"
    assert not train & set(test)


def _names(phrase: str, word: str) -> bool:
    return re.search(rf"(?<![a-z]){re.escape(word)}(?![a-z])", phrase) is not None


def test_no_held_out_situation_feeling_word_or_pattern_of_the_tone_set_occurs_in_training() -> None:
    module = _make_data_module()
    train = [normalized(r["phrase"]) for r in data.load_tone("data/tone/train.jsonl")]
    test = data.load_tone("data/tone/test.jsonl")
    held_events = {tone: [normalized(e) for e in words["events"][-module.TONE_HELD_OUT_EVENTS:]]
                   for tone, words in module.TONES.items()}
    for tone, events in held_events.items():
        for event in events:
            assert not any(event in phrase for phrase in train), (tone, event)
        for cue in module.TONE_HELD_OUT_CUES[tone]:
            assert not any(_names(phrase, cue) for phrase in train), (tone, cue)
    # Every test phrase is about one of its tone's held-out situations and names one of its held-out feeling words.
    for row in test:
        phrase = normalized(row["phrase"])
        assert any(event in phrase for event in held_events[row["tone"]]), row
        assert any(_names(phrase, cue) for cue in module.TONE_HELD_OUT_CUES[row["tone"]]), row
    # The patterns only the test split uses occur there, and never in training.
    for marker in ("everyone thought i would be", "and honestly i am", "not at all: just"):
        assert not any(marker in phrase for phrase in train), marker
        assert sum(marker in normalized(r["phrase"]) for r in test) >= 10, marker


def test_most_tone_phrases_name_another_tones_feeling_word_against_the_label() -> None:
    """Negation and contrast: another tone's training feeling word in the phrase, pointing away from the label."""
    module = _make_data_module()
    train_cues = {tone: module.tone_cues(tone, held_out=False) for tone in module.TONES}
    for split in ("train", "test"):
        rows = data.load_tone(f"data/tone/{split}.jsonl")
        other = [any(_names(normalized(r["phrase"]), cue) for tone, cues in train_cues.items() if tone != r["tone"]
                     for cue in cues) for r in rows]
        assert sum(other) / len(rows) > 0.5, split


def test_a_bag_of_words_classifier_does_not_solve_the_tone_test_set() -> None:
    """The bound that keeps the set from becoming keyword-solvable again.

    On the first set, where each tone had its own feeling words and situations, CountVectorizer + LogisticRegression
    scored 100 %. On this one it scores 29 % (chance: 25 %; naive Bayes 26.5 %, tf-idf with bigrams 25.5 %, character
    n-grams 23.5 %): every test phrase names its tone with a feeling word training never uses, about a situation
    training never uses, and most name another tone's training feeling word, negated or contrasted, which points the
    classifier away. Above 50 % the words alone would again decide a clear share of the test set.
    """
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    train, test = data.load_tone("data/tone/train.jsonl"), data.load_tone("data/tone/test.jsonl")
    classifier = make_pipeline(CountVectorizer(), LogisticRegression(max_iter=2000))
    classifier.fit([r["phrase"] for r in train], [r["tone"] for r in train])
    accuracy = classifier.score([r["phrase"] for r in test], [r["tone"] for r in test])
    assert accuracy < 0.5, f"a bag-of-words classifier scores {accuracy:.1%} on the tone test set"


def test_qa_rows_have_input_and_output_and_disjoint_splits() -> None:
    train, test = data.load_qa("data/qa/train.jsonl"), data.load_qa("data/qa/test.jsonl")
    assert len(train) >= 100 and len(test) >= 20
    assert all(set(row) == {"input", "output"} for row in train + test)
    assert not {r["input"] for r in train} & {r["input"] for r in test}


def test_preference_pairs_come_from_the_tone_splits_and_never_share_a_phrase() -> None:
    tone = {split: {r["phrase"]: r["tone"] for r in data.load_tone(f"data/tone/{split}.jsonl")} for split in ("train", "test")}
    pairs = {split: data.load_preference(f"data/preference/{split}.jsonl") for split in ("train", "test")}
    assert len(pairs["train"]) >= 400 and len(pairs["test"]) >= 100
    for split, rows in pairs.items():
        assert all(tone[split][row["phrase"]] == row["tone"] == row["chosen"] for row in rows), split
        assert all(data.label_key(row["chosen"]) != data.label_key(row["rejected"]) for row in rows)
        kinds = {row["failure"] for row in rows}
        assert kinds == {"sentence", "hedge", "echo", "wrong label"}, kinds
        for row in rows:  # each kind of failure is what its name says
            if row["failure"] == "wrong label":
                assert row["rejected"] in SHIPPED_LABELS
            elif row["failure"] == "echo":
                assert row["rejected"] == row["phrase"]
            else:
                assert row["tone"] in row["rejected"] and row["rejected"] not in SHIPPED_LABELS
    assert not {r["phrase"] for r in pairs["train"]} & {r["phrase"] for r in pairs["test"]}


def test_a_preference_pair_with_the_same_answer_twice_is_refused_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "pairs.jsonl"
    path.write_text('{"phrase": "a", "chosen": "joy", "rejected": "fear"}\n{"phrase": "b", "chosen": "joy", '
                    '"rejected": " Joy"}\n', encoding="utf-8")
    with pytest.raises(data.DataError, match=r"pairs.jsonl:2: .chosen. and .rejected. are the same answer"):
        data.load_preference(path)


def test_make_data_reproduces_the_shipped_files(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("make_data", ROOT / "data" / "make_data.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main(tmp_path)
    for name in ("tone/train.jsonl", "tone/test.jsonl", "qa/train.jsonl", "qa/test.jsonl", "extract/train.jsonl",
                 "extract/validation.jsonl", "extract/test.jsonl", "preference/train.jsonl", "preference/test.jsonl"):
        assert (tmp_path / name).read_bytes() == (ROOT / "data" / name).read_bytes(), name


def test_missing_field_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"phrase": "a", "tone": "joy"}\n\n{"phrase": "b"}\n')
    with pytest.raises(data.DataError, match=rf'{path}:3: missing field "tone"'):
        data.load_tone(path)


def test_json_array_loads_and_reports_the_line_of_a_bad_item(tmp_path: Path) -> None:
    good = tmp_path / "good.json"
    good.write_text(json.dumps([{"phrase": "a", "tone": "joy"}, {"phrase": "b", "tone": "fear"}], indent=1))
    assert data.load_tone(good) == [{"phrase": "a", "tone": "joy"}, {"phrase": "b", "tone": "fear"}]
    bad = tmp_path / "bad.json"
    bad.write_text('[\n  {"phrase": "a", "tone": "joy"},\n  {"tone": "fear"}\n]\n')
    with pytest.raises(data.DataError, match=rf'{bad}:3: missing field "phrase"'):
        data.load_tone(bad)


@pytest.mark.parametrize(("content", "message"), [
    ('{"phrase": "a", "tone": "joy"}\n{oops\n', r":2: not valid JSON"),
    ('{"phrase": "a", "tone": ""}\n', r':1: field "tone" must be a non-empty string'),
    ('["just a string"]\n', r":1: expected a JSON object"),
    ("\n", r"holds no rows"),
])
def test_bad_files_get_clear_errors(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "rows.jsonl"
    path.write_text(content)
    with pytest.raises(data.DataError, match=message):
        data.load_tone(path)


def test_missing_file_is_named() -> None:
    with pytest.raises(data.DataError, match="no/such.jsonl: no such data file"):
        data.read_records("no/such.jsonl")


def test_user_labels_flow_into_the_instruction(tmp_path: Path) -> None:
    path = tmp_path / "mine.jsonl"
    path.write_text('{"phrase": "great film", "tone": "positive"}\n{"phrase": "dull", "tone": "negative"}\n')
    rows = data.load_tone(path)
    labels = data.label_set(rows)
    assert labels == ["negative", "positive"]
    pair = data.tone_messages(rows[0], labels)
    assert "Answer with one word: negative or positive." in pair["prompt"][0]["content"]
    assert pair["completion"] == [{"role": "assistant", "content": "positive"}]


def test_limit_takes_the_first_rows() -> None:
    assert len(data.load_tone("data/tone/test.jsonl", limit=10)) == 10


def test_conversation_text_and_padded_batch(tiny_model_and_tokenizer) -> None:
    _, tokenizer = tiny_model_and_tokenizer
    rows = data.load_tone("data/tone/train.jsonl", limit=3)
    text = data.conversation_text(tokenizer, rows[0], SHIPPED_LABELS)
    assert text.startswith("<|im_start|>user\nWhat is the tone") and text.endswith(f"{rows[0]['tone']}<|im_end|>\n")
    batch = data.padded_batch(tokenizer, rows, SHIPPED_LABELS, length=128)
    assert tuple(batch["input_ids"].shape) == (3, 128) and 0 < int(batch["attention_mask"].sum()) < 3 * 128


def test_own_labels_are_kept_as_written_and_sorted_ignoring_case(tmp_path: Path) -> None:
    path = tmp_path / "mine.json"
    rows = [{"phrase": "p", "tone": tone} for tone in ("Sad", "rõõm", "Very sad", "Joy", "Sad", "5 stars")]
    path.write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    assert data.label_set(data.load_tone(path)) == ["5 stars", "Joy", "rõõm", "Sad", "Very sad"]


@pytest.mark.parametrize(("first", "second"), [("Joy", "joy"), ("very sad", "Very  sad"), ("RÕÕM", "rõõm")])
def test_labels_that_differ_only_in_case_or_spacing_are_refused_with_both_lines(tmp_path: Path, first, second) -> None:
    path = tmp_path / "mine.jsonl"
    lines = [{"phrase": "a", "tone": first}, {"phrase": "b", "tone": "other"}, {"phrase": "c", "tone": second}]
    path.write_text("\n".join(json.dumps(row, ensure_ascii=False) for row in lines) + "\n", encoding="utf-8")
    with pytest.raises(data.DataError, match=rf'{path}:3: label "{second}" is label "{first}" \(line 1\) written differently'):
        data.load_tone(path)


def test_a_label_list_parameter_is_split_and_checked() -> None:
    assert data.parse_label_list("Joy, Very sad ,rõõm") == ["Joy", "Very sad", "rõõm"]
    with pytest.raises(data.DataError, match='labels "Joy" and "joy" are the same once case and spacing are ignored'):
        data.parse_label_list("Joy,joy,Sad")
    with pytest.raises(data.DataError, match="at least two"):
        data.parse_label_list("Joy")


def test_the_instruction_quotes_labels_only_when_one_has_several_words() -> None:
    assert "Answer with one word: fear, joy or sadness.\n" in data.tone_instruction("p", ["fear", "joy", "sadness"])
    assert 'Answer with one of these labels: "Very sad", "Joy" or "Rõõm".\n' in data.tone_instruction(
        "p", ["Very sad", "Joy", "Rõõm"])


def _make_data_module():
    spec = importlib.util.spec_from_file_location("make_data", ROOT / "data" / "make_data.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_extract_splits_are_large_enough_balanced_and_typed() -> None:
    splits = {split: data.load_extract(f"data/extract/{split}.jsonl") for split in ("train", "validation", "test")}
    assert [len(rows) for rows in splits.values()] >= [1000, 150, 200]
    schema = extraction.infer_schema([row["record"] for row in splits["train"]])
    assert len(schema.fields) == 6
    for split, rows in splits.items():
        intents = {row["record"]["intent"] for row in rows}
        assert intents == set(schema.fields), split
        counts = {intent: sum(row["record"]["intent"] == intent for row in rows) for intent in intents}
        assert len(set(counts.values())) == 1, (split, counts)
        assert all(schema.problems(row["record"]) == [] for row in rows), split
    messages = [row["message"] for rows in splits.values() for row in rows]
    assert len(set(messages)) == len(messages), "a message occurs twice in the extraction set"


def _phrasing_pattern(phrasing: str) -> re.Pattern:
    """A phrasing as a regular expression: its own words fixed, every {slot} any text."""
    parts = re.split(r"\{\w+\}", phrasing)
    return re.compile("^" + "(.+)".join(re.escape(part) for part in parts) + "$", re.IGNORECASE)


def test_no_held_out_value_or_phrasing_of_the_extract_set_occurs_in_training() -> None:
    module = _make_data_module()
    train = [row["message"] for row in data.load_extract("data/extract/train.jsonl")]
    held_out = data.load_extract("data/extract/validation.jsonl") + data.load_extract("data/extract/test.jsonl")
    for values in (module.EXTRACT_NAMES, module.EXTRACT_CITIES, module.EXTRACT_RESTAURANTS, module.EXTRACT_PLACES,
                   module.EXTRACT_TASKS):
        pools = module._pools(values)
        for value in pools["validation"] + pools["test"]:
            assert not any(value in message for message in train), value
        used = {v for row in held_out for v in row["record"].values()}
        assert used & set(pools["test"]), "the test split uses its held-out values"
    unseen_in_test = 0
    for intent, spec in module.EXTRACT_INTENTS.items():
        for phrasing in spec["phrasings"][module.PHRASINGS_FOR["train"].stop:]:
            pattern = _phrasing_pattern(phrasing)
            assert not any(pattern.match(message) for message in train), phrasing
        for phrasing in spec["phrasings"][module.PHRASINGS_FOR["test"]]:
            unseen_in_test += sum(bool(_phrasing_pattern(phrasing).match(row["message"]))
                                  for row in held_out if row["record"]["intent"] == intent)
    assert unseen_in_test >= 60, "about half of the 210 test rows use a phrasing training never shows"


def test_extract_records_may_be_strings_and_bad_records_name_their_line(tmp_path: Path) -> None:
    good = tmp_path / "mine.jsonl"
    good.write_text('{"message": "m", "record": "{\\"intent\\": \\"a\\", \\"n\\": 1}"}\n'
                    '{"message": "n", "record": {"intent": "b"}}\n')
    assert [row["record"] for row in data.load_extract(good)] == [{"intent": "a", "n": 1}, {"intent": "b"}]
    cases = [('{"message": "m", "record": "{\\"intent\\": "}\n', r':1: field "record" is not valid JSON'),
             ('{"message": "m"}\n', r':1: missing field "record"'),
             ('{"message": "m", "record": {}}\n{"message": "m", "record": [1]}\n', r":1: field \"record\" must be"),
             ('{"message": "", "record": {"a": 1}}\n', r':1: field "message" must be a non-empty string')]
    for content, message in cases:
        bad = tmp_path / "bad.jsonl"
        bad.write_text(content)
        with pytest.raises(data.DataError, match=rf"{bad}{message}"):
            data.load_extract(bad)
