"""Export helpers: the builder's supported architectures and clear errors for what it cannot export."""

from __future__ import annotations

import json
import os
import shlex
import sys
from pathlib import Path

import pytest

from course_utils import export


def test_supported_architectures_are_read_from_the_installed_builder() -> None:
    supported = export.supported_architectures()
    assert {"LlamaForCausalLM", "Qwen2ForCausalLM", "Phi3ForCausalLM", "GemmaForCausalLM"} <= set(supported)


def test_unsupported_architecture_names_the_supported_ones(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"architectures": ["GPT2LMHeadModel"]}))
    with pytest.raises(ValueError, match=r"cannot export GPT2LMHeadModel; it supports: .*LlamaForCausalLM.*Qwen2ForCausalLM"):
        export.build_onnx(tmp_path, tmp_path / "out", "int4")
    assert not (tmp_path / "out").exists()


def _phi3_folder(folder: Path, **settings: object) -> Path:
    """A Phi-3 config.json of course-tiny's size (the check reads the config only: no weights needed)."""
    from transformers import Phi3Config

    Phi3Config(vocab_size=1024, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
               num_key_value_heads=4, pad_token_id=0, architectures=["Phi3ForCausalLM"], **settings).save_pretrained(folder)
    return folder


def test_a_phi3_config_the_builder_would_send_down_its_long_rope_path_is_refused_in_one_sentence(tmp_path: Path) -> None:
    """Issue: max_position_embeddings != original_max_position_embeddings made the builder fail with KeyError 'multi_cache'."""
    folder = _phi3_folder(tmp_path / "phi3", max_position_embeddings=256, original_max_position_embeddings=128)
    with pytest.raises(ValueError) as caught:
        export.build_onnx(folder, tmp_path / "out", "int4")
    message = str(caught.value)
    assert message.startswith(f"{folder / 'config.json'}: max_position_embeddings (256) differs from "
                              "original_max_position_embeddings (128)")
    assert "longrope" in message and "\n" not in message and "Traceback" not in message
    assert not (tmp_path / "out").exists()


def test_phi3_configs_the_builder_can_export_pass_the_check(tmp_path: Path) -> None:
    same = _phi3_folder(tmp_path / "same", max_position_embeddings=128, original_max_position_embeddings=128)
    long_rope = _phi3_folder(tmp_path / "long", max_position_embeddings=256, original_max_position_embeddings=128,
                             rope_scaling={"type": "longrope", "short_factor": [1.0] * 8, "long_factor": [2.0] * 8})
    assert export.check_exportable(same) == export.check_exportable(long_rope) == "Phi3ForCausalLM"


def test_unknown_precision_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"precision must be one of fp32, fp16, int8, int4 \(got 'int3'\)"):
        export.build_onnx(tmp_path, tmp_path / "out", "int3")


def test_a_failed_build_keeps_the_last_good_export(tiny_model_path: Path, tmp_path: Path, monkeypatch) -> None:
    good = tmp_path / "onnx"
    good.mkdir()
    (good / "model.onnx").write_text("last good")
    from onnxruntime_genai.models import builder

    def failing_build(*arguments, **options):
        print("Reading embedding layer")  # what the builder prints is kept for the error
        raise Exception("out of disk space")

    monkeypatch.setattr(builder, "create_model", failing_build)
    with pytest.raises(RuntimeError, match=r"(?s)the model builder failed \(fp32\): Exception: out of disk space.*embedding"):
        export.build_onnx(tiny_model_path, good, "fp32")
    assert (good / "model.onnx").read_text() == "last good"
    assert [p.name for p in tmp_path.iterdir()] == ["onnx"]


def test_the_builder_command_is_the_export_build_onnx_makes(tiny_model_path: Path, tmp_path: Path) -> None:
    command = export.builder_command(tiny_model_path, tmp_path / "onnx-int4", "int4")
    assert command[:3] == [sys.executable, "-m", "onnxruntime_genai.models.builder"]
    assert command[command.index("-p") + 1] == "int4" and command[command.index("-o") + 1] == str(tmp_path / "onnx-int4")
    extra = command[command.index("--extra_options") + 1:]
    assert extra == export.builder_options(tiny_model_path, "int4")
    assert "op_types_to_quantize=MatMul/Gather" in extra and "matmul_mixed_precision=last_matmul:int8" in extra
    assert "--extra_options" not in export.builder_command(tiny_model_path, tmp_path / "o", "fp32")
    # the line the lesson prints: one shell word per argument, even in a folder with a space, and telemetry off
    line = export.builder_shell_line(tiny_model_path, tmp_path / "my exports" / "onnx-int4", "int4")
    assert line.startswith("ORT_DISABLE_TELEMETRY=1 ") and shlex.split(line)[1:] == export.builder_command(
        tiny_model_path, tmp_path / "my exports" / "onnx-int4", "int4")


def _random_adapter(base_path: Path, folder: Path, rank: int, seed: int) -> object:
    """A LoRA adapter with random, non-zero weights (no training needed), saved to `folder`; returns the peft model."""
    import torch
    from peft import LoraConfig, get_peft_model

    from course_utils import models

    torch.manual_seed(seed)
    config = LoraConfig(r=rank, lora_alpha=2 * rank, target_modules=["q_proj", "v_proj", "down_proj"], init_lora_weights=False)
    model = get_peft_model(models.load_model(str(base_path)), config).eval()
    model.save_pretrained(str(folder))
    return model


@pytest.mark.slow
def test_adapters_of_different_ranks_switch_on_one_onnx_model(tiny_model_path: Path, tmp_path: Path) -> None:
    """Builder export with the adapter kept apart -> switchable graph + adapter files -> og.Adapters.

    With an adapter active, onnxruntime-genai gives that adapter's PyTorch tokens; with none, the base model's.
    """
    import torch

    from course_utils import models

    tokenizer = models.load_tokenizer(str(tiny_model_path))
    peft_models = {"r8": _random_adapter(tiny_model_path, tmp_path / "r8", 8, 0),
                   "r2": _random_adapter(tiny_model_path, tmp_path / "r2", 2, 1)}
    apart = {name: export.build_onnx(tiny_model_path, tmp_path / f"onnx-{name}", "fp32", adapter_dir=tmp_path / name)
             for name in peft_models}  # each with its adapter kept apart
    assert sorted(apart) == ["r2", "r8"] and all((folder / "model.onnx").exists() for folder in apart.values())
    switchable = export.load_onnx(export.make_adapters_switchable(apart["r8"], tmp_path / "switchable"))
    files = {name: export.write_onnx_adapter(folder, tmp_path / f"{name}.onnx_adapter") for name, folder in apart.items()}
    adapters = export.load_adapters(switchable, files)
    ids = tokenizer("I can't believe we won the final!", add_special_tokens=False)["input_ids"]

    def torch_tokens(model: object) -> list[int]:
        with torch.no_grad():
            out = model.generate(torch.tensor([ids]), max_new_tokens=6, min_new_tokens=6, do_sample=False,
                                 pad_token_id=tokenizer.pad_token_id)
        return out[0, len(ids):].tolist()

    outputs = {}
    for name, model in peft_models.items():
        outputs[name] = export.generate_tokens(switchable, ids, 6, (adapters, name), min_length=len(ids) + 6)
        assert outputs[name] == torch_tokens(model), name
    base = export.generate_tokens(switchable, ids, 6, min_length=len(ids) + 6)
    assert base == torch_tokens(models.load_model(str(tiny_model_path)))
    assert len({tuple(tokens) for tokens in [base, *outputs.values()]}) == 3, "each adapter changes the answer"

    # greedy_token_lists runs the prompts' shared first tokens once and rewinds to them: the same tokens as
    # generate_tokens one prompt at a time, with an adapter or none; prompts with nothing shared rewind to 0.
    chat = [tokenizer.apply_chat_template([{"role": "user", "content": text}], tokenize=False, add_generation_prompt=True)
            for text in ("I can't believe we won!", "The train is late again.", "Oh no, not the dentist", "hi")]
    for prompts in (chat, ["Tone: joy", "Nothing shared here", "a"]):
        rows = [tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts]
        for active in (None, (adapters, "r8"), (adapters, "r2")):
            expected = [export.generate_tokens(switchable, ids, 5, active) for ids in rows]
            assert export.greedy_token_lists(switchable, rows, 5, active) == expected, (prompts[0], active)
    assert export.greedy_token_lists(switchable, [], 5) == []


def test_an_export_without_an_adapter_has_no_lora_matrices(tmp_path: Path) -> None:
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "plain",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    onnx.save(helper.make_model(graph), str(tmp_path / "model.onnx"))
    with pytest.raises(ValueError, match=r"has no LoRA matrices: build it with build_onnx\(\.\.\., adapter_dir=ADAPTER\)"):
        export.write_onnx_adapter(tmp_path, tmp_path / "x.onnx_adapter")
    with pytest.raises(ValueError, match="has no LoRA matrices"):
        export.make_adapters_switchable(tmp_path, tmp_path / "switchable")
    assert not (tmp_path / "x.onnx_adapter").exists() and not (tmp_path / "switchable").exists()


@pytest.mark.slow
def test_a_model_with_tied_embeddings_exports_to_int4_with_its_head_at_8_bits(tiny_model_path: Path, tmp_path: Path) -> None:
    """Found by the gpu_path tier: SmolLM2 ties its head to its embeddings, and the builder's shared table
    with an 8-bit head wrote a model onnxruntime refused. A tiny tied Llama must export, load and generate."""
    import onnxruntime_genai as og
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(str(tiny_model_path))
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=True,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id)
    LlamaForCausalLM(config).save_pretrained(tmp_path / "tied", safe_serialization=True)
    tokenizer.save_pretrained(tmp_path / "tied")
    assert export.ties_embeddings(tmp_path / "tied") and not export.ties_embeddings(tiny_model_path)

    onnx_dir = export.build_onnx(tmp_path / "tied", tmp_path / "int4", "int4")
    bits = export.weight_bits(onnx_dir)
    assert {bits[name] for name in bits if "lm_head" in name} == {8}
    assert {bits[name] for name in bits if "embed_tokens" in name} == {4}
    model = og.Model(str(onnx_dir))  # what failed: "'lm_head.MatMul.weight_Q8G32' is not a graph input"
    generator_params = og.GeneratorParams(model)
    generator_params.set_search_options(max_length=8)
    generator = og.Generator(model, generator_params)
    generator.append_tokens([[tokenizer.bos_token_id or 1]])
    generator.generate_next_token()
    assert generator.get_next_tokens()[0] < len(tokenizer)


def test_onnx_models_load_on_pytorchs_thread_count_without_changing_the_folder(tiny_model_path: Path, tmp_path: Path,
                                                                               monkeypatch) -> None:
    """onnxruntime picked one thread on the 2-core Intel Xeon; load_onnx asks for PyTorch's count (or `threads`)."""
    import onnxruntime_genai as og
    import torch

    onnx_dir = export.build_onnx(tiny_model_path, tmp_path / "onnx", "fp32")
    config_text = (onnx_dir / "genai_config.json").read_text()
    overlays = []

    class Spy(og.Config):
        def overlay(self, text: str) -> None:
            overlays.append(json.loads(text)["model"]["decoder"]["session_options"])
            super().overlay(text)

    monkeypatch.setattr(og, "Config", Spy)
    one_thread, default = export.load_onnx(onnx_dir, threads=1), export.load_onnx(onnx_dir)
    assert overlays == [{"intra_op_num_threads": 1}, {"intra_op_num_threads": torch.get_num_threads()}]
    ids = [5, 6, 7, 8]
    assert export.generate_tokens(one_thread, ids, 8) == export.generate_tokens(default, ids, 8)
    assert (onnx_dir / "genai_config.json").read_text() == config_text
    with pytest.raises(ValueError, match=r"threads must be a positive number of CPU threads \(got 0\)"):
        export.load_onnx(onnx_dir, threads=0)


@pytest.mark.parametrize(("before", "after"), [(None, "1"), ("0", "0")])
def test_importing_the_course_turns_onnx_runtimes_telemetry_off_unless_the_user_chose(before, after):
    # onnxruntime and onnxruntime-genai send usage events by default on Linux; lesson 05's kernel looked the host up.
    import subprocess
    import sys

    env = {key: value for key, value in os.environ.items() if key != "ORT_DISABLE_TELEMETRY"}
    if before is not None:
        env["ORT_DISABLE_TELEMETRY"] = before
    probe = "import os, course_utils; print(os.environ['ORT_DISABLE_TELEMETRY'])"
    done = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == after
