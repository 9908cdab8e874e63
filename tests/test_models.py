"""The embedded model (built, cached, deterministic, exportable) and loading other architectures."""

from __future__ import annotations

import hashlib
import json
import platform
import shutil
from pathlib import Path

import pytest
import torch

from course_utils import models

LLAMA_LIKE = ["down_proj", "gate_proj", "k_proj", "o_proj", "q_proj", "up_proj", "v_proj"]


def tiny_config(architecture: str):
    """A random-init config of a real architecture, small for testing efficiency."""
    from transformers import GemmaConfig, LlamaConfig, Phi3Config, Qwen2Config

    shape = dict(vocab_size=128, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                 num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64)
    configs = {"llama": LlamaConfig, "qwen2": Qwen2Config, "phi3": Phi3Config, "gemma": GemmaConfig}
    extra = {"gemma": {"head_dim": 8}, "phi3": {"pad_token_id": 0}}.get(architecture, {})
    return configs[architecture](**shape, **extra)


@pytest.mark.parametrize(("architecture", "expected"), [
    ("llama", LLAMA_LIKE),
    ("qwen2", LLAMA_LIKE),
    ("gemma", LLAMA_LIKE),
    ("phi3", ["down_proj", "gate_up_proj", "o_proj", "qkv_proj"]),
])
def test_other_architectures_load_from_a_folder_and_get_lora_targets(tmp_path, architecture, expected) -> None:
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    AutoModelForCausalLM.from_config(tiny_config(architecture)).save_pretrained(tmp_path)
    model = models.load_model(str(tmp_path), device="cpu")
    assert model.config.model_type == architecture
    targets = models.find_lora_target_modules(model)
    assert targets == expected
    peft_model = get_peft_model(model, LoraConfig(r=2, target_modules=targets, task_type="CAUSAL_LM"))
    counts = models.count_parameters(peft_model)
    assert 0 < counts["trainable"] < counts["total"]
    logits = peft_model(input_ids=torch.tensor([[1, 2, 3]])).logits
    assert logits.shape == (1, 3, 128)


def test_missing_model_folder_says_it_does_not_exist() -> None:
    with pytest.raises(FileNotFoundError, match="model_id: local path /no/such/dir does not exist"):
        models.load_model("/no/such/dir")


def test_folder_without_config_is_explained(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="has no config.json"):
        models.load_model(str(tmp_path))


def test_only_safetensors_weights_are_loaded(tmp_path) -> None:
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_config(tiny_config("llama"))
    model.config.save_pretrained(tmp_path)
    torch.save(model.state_dict(), tmp_path / "pytorch_model.bin")  # a pickle: never loaded
    with pytest.raises(OSError, match="could not be loaded"):
        models.load_model(str(tmp_path))


def test_uncached_hub_id_fails_offline_with_a_hint() -> None:
    with pytest.raises(OSError, match="HF_HUB_OFFLINE=1"):
        models.load_model("course-kit-tests/no-such-model")


def test_local_folder_is_the_model_folder_or_a_clear_error(tiny_model_path: Path) -> None:
    assert models.local_folder("course-tiny") == tiny_model_path
    assert models.local_folder(str(tiny_model_path)) == tiny_model_path
    with pytest.raises(OSError, match="'course-kit-tests/no-such-model' has no local copy .*HF_HUB_OFFLINE=1"):
        models.local_folder("course-kit-tests/no-such-model")


def test_course_tiny_is_a_small_llama_with_chat_template(tiny_model_path: Path, tiny_model_and_tokenizer) -> None:
    model, tokenizer = tiny_model_and_tokenizer
    files = {path.name for path in tiny_model_path.iterdir()}
    assert "model.safetensors" in files and "tokenizer.json" in files
    assert not any(name.endswith((".bin", ".pt", ".pth")) for name in files)
    assert model.config.model_type == "llama"
    assert 100_000 <= models.count_parameters(model)["total"] < 1_000_000
    # The onnxruntime-genai int4 quantizer works on blocks of 32 values.
    for size in (model.config.hidden_size, model.config.intermediate_size, model.config.vocab_size):
        assert size % 32 == 0, size
    text = tokenizer.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False, add_generation_prompt=True)
    assert text == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
    assert tokenizer.eos_token == "<|im_end|>" and tokenizer.pad_token == "<|pad|>"
    assert models.find_lora_target_modules(model) == LLAMA_LIKE


def test_course_tiny_has_no_default_system_message_to_drop(tiny_model_path: Path) -> None:
    tokenizer = models.load_tokenizer(str(tiny_model_path))
    assert tokenizer.dropped_system_message is None and tokenizer.chat_template == models.CHAT_TEMPLATE
    assert models.default_system_message(tokenizer) is None


def test_a_default_system_message_is_dropped_and_the_empty_system_turn_kept(tiny_model_path: Path, tmp_path) -> None:
    tokenizer = models.load_tokenizer(str(tiny_model_path))
    default = "Be brief."
    tokenizer.chat_template = ("{% if messages[0]['role'] != 'system' %}{{ '<|im_start|>system\n" + default
                               + "<|im_end|>\n' }}{% endif %}" + models.CHAT_TEMPLATE)
    folder = tmp_path / "with-default"
    shutil.copytree(tiny_model_path, folder)
    tokenizer.save_pretrained(folder)
    user = [{"role": "user", "content": "hi"}]
    kept = models.load_tokenizer(str(folder), keep_default_system=True)
    assert kept.dropped_system_message is None and models.default_system_message(kept) == default
    dropped = models.load_tokenizer(str(folder))
    assert dropped.dropped_system_message == default and models.default_system_message(dropped) is None
    empty_turn = kept.apply_chat_template([{"role": "system", "content": ""}, *user], tokenize=False,
                                          add_generation_prompt=True)
    assert dropped.apply_chat_template(user, tokenize=False, add_generation_prompt=True) == empty_turn
    # a conversation with its own system message is rendered as before
    own = [{"role": "system", "content": "Answer in French."}, *user]
    assert dropped.apply_chat_template(own, tokenize=False) == kept.apply_chat_template(own, tokenize=False)


def test_a_default_not_written_once_in_the_template_is_left_alone(tiny_model_path: Path) -> None:
    tokenizer = models.load_tokenizer(str(tiny_model_path))
    # the default, "ok", is written twice (once in a comment), so a plain replacement could change the wrong text
    tokenizer.chat_template = ("{% if messages[0]['role'] != 'system' %}{{ '<|im_start|>system\\nok<|im_end|>\\n' }}"
                               "{% endif %}{# ok #}" + models.CHAT_TEMPLATE)
    before = tokenizer.chat_template
    assert models.drop_default_system_message(tokenizer) is None and tokenizer.chat_template == before


def test_course_tiny_pretraining_lowered_the_loss(tiny_model_path: Path) -> None:
    losses = json.loads((tiny_model_path / "course_tiny.json").read_text())["pretrain_losses"]
    assert losses[-1] < 0.3 * losses[0], losses


def test_course_tiny_is_cached(tiny_model_path: Path) -> None:
    stamp = (tiny_model_path / "model.safetensors").stat().st_mtime_ns
    assert models.build_course_tiny() == tiny_model_path
    assert models.resolve_model_path("course-tiny") == str(tiny_model_path)
    assert (tiny_model_path / "model.safetensors").stat().st_mtime_ns == stamp


@pytest.mark.slow
def test_course_tiny_build_is_deterministic(tmp_path) -> None:
    recipe = models.TinyRecipe(pretrain_steps=4)
    first = models.build_course_tiny(recipe, cache_dir=tmp_path / "a")
    second = models.build_course_tiny(recipe, cache_dir=tmp_path / "b")
    for name in ("model.safetensors", "tokenizer.json", "config.json"):
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
    assert not [p for p in (tmp_path / "a").iterdir() if p.name.startswith(".")], "temporary build folder left behind"


# course-tiny's weights as built with the portable kernels (course_utils.numerics). Measured 2026-12-04 on an Intel
# Xeon with AVX-512, built with 1 and with 2 threads, and the same bytes on an AMD EPYC (AVX2) that evening. Before the
# portable kernels, an AMD EPYC and this Xeon built different weights from the same code, and the ci profile's pinned
# accuracies moved by up to 25 points. If this fails on another x86-64 CPU, the portable kernels did not give the
# same bytes there.
COURSE_TINY_SHA256 = "f5b5b036d60143dbf0acbc0e3d6ee784a0b4a23156d67d29a4089b02e675596b"


def test_course_tiny_weights_are_the_bytes_pinned_for_x86_64(tiny_model_path: Path) -> None:
    if platform.machine().lower() not in ("x86_64", "amd64"):
        pytest.skip(f"the digest is pinned for x86-64 CPUs; this is {platform.machine()}")
    digest = hashlib.sha256((tiny_model_path / "model.safetensors").read_bytes()).hexdigest()
    assert digest == COURSE_TINY_SHA256, f"course-tiny built to other weights on this CPU ({platform.processor()})"


@pytest.mark.slow
def test_course_tiny_exports_with_the_onnxruntime_genai_builder(tiny_model_path, tiny_model_and_tokenizer, tmp_path):
    from course_utils import export

    model, tokenizer = tiny_model_and_tokenizer
    folders = {p: export.build_onnx(tiny_model_path, tmp_path / p, p) for p in ("fp32", "int8", "int4")}
    for folder in folders.values():
        assert {"model.onnx", "genai_config.json", "tokenizer.json"} <= {p.name for p in folder.iterdir()}
        assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "temporary export folder left behind"
    ids = tokenizer("I am so happy because", add_special_tokens=False)["input_ids"]
    expected = model.generate(torch.tensor([ids]), max_new_tokens=8, do_sample=False,
                              pad_token_id=tokenizer.pad_token_id)[0, len(ids):].tolist()
    assert export.generate_tokens(export.load_onnx(folders["fp32"]), ids, 8) == expected
    # int4: every block-quantized weight at 4 bits except the output head, kept at 8 (export.build_onnx's int8_head).
    bits = export.weight_bits(folders["int4"])
    assert bits.pop("/lm_head/MatMul_Q8") == 8 and any("embed_tokens" in name for name in bits)
    assert set(bits.values()) == {4}
    # int8: every linear layer's weight at 8 bits; the builder leaves the embedding table in fp32.
    bits = export.weight_bits(folders["int8"])
    assert set(bits.values()) == {8} and not any("embed_tokens" in name for name in bits)
    assert export.weight_bits(folders["fp32"]) == {}
