"""Merge an adapter, export with the onnxruntime-genai model builder, and generate with onnxruntime-genai.

The export calls the builder's own two functions, ``parse_extra_options`` and ``create_model``, which its
command line (``python -m onnxruntime_genai.models.builder``) and Olive's ModelBuilder pass call too, in this
process, into a temporary folder that is renamed into place only when the build succeeds.
"""

from __future__ import annotations

import json
import shlex
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Iterator, Sequence

from course_utils import compat
from course_utils.data import common_prefix_length
from course_utils.runs import atomic_directory

PRECISIONS = ("fp32", "fp16", "int8", "int4")


def supported_architectures() -> list[str]:
    """Architectures the installed builder exports, read from its source so the list matches the version."""
    return compat.builder_architectures()


# Architectures whose export the builder switches to a long-RoPE graph when the two context lengths differ.
LONG_ROPE_ARCHITECTURES = ("Phi3ForCausalLM", "Phi3SmallForCausalLM", "PhiMoEForCausalLM")


def check_exportable(model_dir: Path) -> str:
    """The model's architecture, or a ValueError saying in one sentence what the builder cannot export."""
    config_file = Path(model_dir) / "config.json"
    config = json.loads(config_file.read_text())
    architecture = (config.get("architectures") or ["(none given)"])[0]
    supported = supported_architectures()
    if architecture not in supported:
        raise ValueError(
            f"the onnxruntime-genai builder cannot export {architecture}; it supports: {', '.join(supported)}"
        )
    if architecture in LONG_ROPE_ARCHITECTURES:
        _check_long_rope(config_file)
    return architecture


def _check_long_rope(config_file: Path) -> None:
    """Refuse a Phi-3 config the builder would send down its long-RoPE path without the long-RoPE factors.

    The builder compares the two context lengths as transformers reads them (with the class defaults
    filled in), so the config is read the same way.
    """
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(str(config_file.parent), trust_remote_code=False)
    longest = getattr(config, "max_position_embeddings", None)
    original = getattr(config, "original_max_position_embeddings", longest)
    rope = getattr(config, "rope_parameters", None) or getattr(config, "rope_scaling", None) or {}
    has_factors = rope.get("rope_type", rope.get("type")) == "longrope" and {"short_factor", "long_factor"} <= set(rope)
    if longest != original and not has_factors:
        raise ValueError(
            f"{config_file}: max_position_embeddings ({longest}) differs from original_max_position_embeddings "
            f"({original}), so the onnxruntime-genai builder would export a long-RoPE model, which needs "
            f'rope_scaling of type "longrope" with short_factor and long_factor; set max_position_embeddings to '
            f"{original}, or add those factors"
        )


def ties_embeddings(model_dir: Path) -> bool:
    """Whether the model's output head is its embedding table (`tie_word_embeddings`, as transformers reads it)."""
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(str(model_dir), trust_remote_code=False)
    return bool(getattr(config.get_text_config(), "tie_word_embeddings", False))


def merge_adapter(base_model: Any, adapter_dir: Path, tokenizer: Any, output_dir: Path) -> Path:
    """Load the adapter onto `base_model`, fold it in with merge_and_unload, save model + tokenizer (safetensors)."""
    from peft import PeftModel

    merged = PeftModel.from_pretrained(base_model, str(adapter_dir)).merge_and_unload().eval()
    with atomic_directory(output_dir) as staging:
        merged.save_pretrained(str(staging), safe_serialization=True)
        tokenizer.save_pretrained(str(staging))
    return Path(output_dir)


def build_onnx(
    model_dir: Path,
    output_dir: Path,
    precision: str,
    execution_provider: str = "cpu",
    quantize_embeddings: bool = True,
    adapter_dir: Path | None = None,
    int8_head: bool = True,
    extra_options: Sequence[str] = (),
) -> Path:
    """Run the onnxruntime-genai model builder on a Hugging Face folder; returns the ONNX folder.

    For int4, `quantize_embeddings` also quantizes the embedding table (the builder's
    ``op_types_to_quantize=MatMul/Gather``), a large share of a small model's weights.
    int8 rounds each weight of the linear layers to one of 256 levels per block instead of 16;
    the builder (0.18) leaves the embedding table in fp32 there. On SmolLM2 fine-tuned by LoRA at
    the cpu profile, int8 kept the fine-tune (65 % against LoRA's 68 %) where int4 lost it
    (27.5 %), at 255 MB against int4's 113 MB and fp32's 515 MB (measured 2026-12-01).
    For int4, `int8_head` keeps the last MatMul, the output head, at 8 bits (the builder's
    ``matmul_mixed_precision=last_matmul:int8``; llama.cpp's 4-bit files do the same): with it
    in 4 bits, course-tiny trained at the cpu profile lost 14 points of accuracy, with it at
    8 bits none (measured 2026-11-24; ``pytest -m cpu`` checks it).
    A model that ties its output head to its embeddings (SmolLM2, Qwen2.5-0.5B) gets the builder's
    ``shared_embeddings=false`` with the 8-bit head: the builder's shared table cannot be 4-bit for
    the Gather and 8-bit for the MatMul, and onnxruntime refused the model it wrote ("Node input
    'lm_head.MatMul.weight_Q8G32' is not a graph input"). Stored apart, the SmolLM2-135M shape's int4
    export grew from 81 to 111 MB (measured 2026-11-25).
    With `adapter_dir` (a peft LoRA folder), the builder keeps the adapter as separate LoRA
    matrices beside each weight instead of merging it (its ``adapter_path`` option).
    `extra_options` are passed on to the builder as KEY=VALUE (``accuracy_level=1``, ``block_size=16``).
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)} (got {precision!r})")
    check_exportable(model_dir)
    extra = builder_options(model_dir, precision, quantize_embeddings, adapter_dir, int8_head, extra_options)
    with atomic_directory(output_dir) as staging:
        run_builder(model_dir, staging, precision, execution_provider, extra)
        shutil.rmtree(staging / ".builder-cache", ignore_errors=True)
    return Path(output_dir)


def builder_options(model_dir: Path, precision: str, quantize_embeddings: bool = True, adapter_dir: Path | None = None,
                    int8_head: bool = True, extra_options: Sequence[str] = ()) -> list[str]:
    """The builder's --extra_options (KEY=VALUE) that `build_onnx` passes for these arguments (its docstring: why)."""
    extra = ["op_types_to_quantize=MatMul/Gather"] if precision == "int4" and quantize_embeddings else []
    if precision == "int4" and int8_head:
        extra += ["matmul_mixed_precision=last_matmul:int8"]
        extra += ["shared_embeddings=false"] if ties_embeddings(model_dir) else []
    extra += [f"adapter_path={adapter_dir}"] if adapter_dir is not None else []
    return extra + list(extra_options)


def builder_command(model_dir: Path, output_dir: Path, precision: str, execution_provider: str = "cpu",
                    **options: Any) -> list[str]:
    """`build_onnx`'s export as the builder's command line (`options`: build_onnx's others), run by this Python."""
    command = [sys.executable, "-m", "onnxruntime_genai.models.builder", "-i", str(model_dir), "-o", str(output_dir),
               "-p", precision, "-e", execution_provider, "-c", str(Path(output_dir) / ".builder-cache")]
    extra = builder_options(model_dir, precision, **options)
    return command + (["--extra_options", *extra] if extra else [])


def builder_shell_line(model_dir: Path, output_dir: Path, precision: str, execution_provider: str = "cpu",
                       **options: Any) -> str:
    """`builder_command` as one line to paste into a terminal, from any folder: paths quoted, telemetry off."""
    return "ORT_DISABLE_TELEMETRY=1 " + shlex.join(
        builder_command(model_dir, output_dir, precision, execution_provider, **options))


def run_builder(model_dir: Path, output_dir: Path, precision: str, execution_provider: str,
                extra_options: Sequence[str]) -> None:
    """What `builder_command` runs, in this process: the builder's `parse_extra_options`, then `create_model`.

    In this process because a builder process spends most of its time importing torch and transformers, which
    the lesson's kernel has already imported: course-tiny's int4 export took 5.6 s as a process and 0.2 s here,
    after 0.8 s to import the builder once (2-core AMD EPYC, 2026-12-05). What the builder prints is kept and
    shown only if it fails (RuntimeError).
    """
    import contextlib
    import io

    from onnxruntime_genai.models import builder

    printed = io.StringIO()
    cache_dir = str(Path(output_dir) / ".builder-cache")
    arguments = (None, str(model_dir), str(output_dir), precision, execution_provider, cache_dir)
    try:
        with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed):
            options = builder.parse_extra_options(*arguments, list(extra_options))
            builder.create_model(*arguments, **options)
    except Exception as error:  # the builder raises plain Exceptions; say which export failed and what it printed
        raise RuntimeError(f"the model builder failed ({precision}): {type(error).__name__}: {error}\n"
                           f"{printed.getvalue()[-3000:]}") from error


def weight_bits(onnx_dir: Path) -> dict[str, int]:
    """Bits per weight of every block-quantized node in an ONNX export, by node name (the graph only, not the data)."""
    import onnx

    graph = onnx.load(str(Path(onnx_dir) / "model.onnx"), load_external_data=False).graph
    bits = {}
    for node in graph.node:
        if node.op_type in ("MatMulNBits", "GatherBlockQuantized"):
            attributes = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
            bits[node.name] = int(attributes.get("bits", 4))  # GatherBlockQuantized's default is 4
    return bits


def _is_lora(name: str) -> bool:
    return ".lora_A." in name or ".lora_B." in name


def lora_weights(onnx_dir: Path) -> dict[str, Any]:
    """The LoRA matrices of an export built with `adapter_dir`, by name (numpy arrays; B already holds alpha / r)."""
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(Path(onnx_dir) / "model.onnx")).graph
    weights = {init.name: numpy_helper.to_array(init) for init in graph.initializer if _is_lora(init.name)}
    if not weights:
        raise ValueError(f"{onnx_dir} has no LoRA matrices: build it with build_onnx(..., adapter_dir=ADAPTER)")
    return weights


def write_onnx_adapter(onnx_dir: Path, path: Path) -> Path:
    """Save an export's LoRA matrices as an onnxruntime adapter file (``.onnx_adapter``), written atomically."""
    import onnxruntime as ort

    arrays = lora_weights(onnx_dir)  # kept alive: the OrtValues below point into these arrays
    adapter = ort.AdapterFormat()
    adapter.set_adapter_version(1)
    adapter.set_model_version(1)
    adapter.set_parameters({name: ort.OrtValue.ortvalue_from_numpy(array) for name, array in arrays.items()})
    path = Path(path)
    staging = path.with_name(f".{path.name}.partial")
    adapter.export_adapter(str(staging))
    staging.replace(path)
    return path


def make_adapters_switchable(onnx_dir: Path, output_dir: Path) -> Path:
    """A copy of an export built with `adapter_dir` whose LoRA matrices are graph inputs an adapter file can set.

    Each matrix keeps a default value, with every B set to zero: with no adapter active the
    graph computes the base model. The rank is a free dimension, so adapters of any rank fit.
    """
    import numpy as np
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(Path(onnx_dir) / "model.onnx"))
    found = 0
    for init in model.graph.initializer:
        if not _is_lora(init.name):
            continue
        array, is_b = numpy_helper.to_array(init), ".lora_B." in init.name
        if is_b:
            init.CopyFrom(numpy_helper.from_array(np.zeros_like(array), init.name))
        shape = ["lora_rank" if axis == (0 if is_b else 1) else size for axis, size in enumerate(array.shape)]
        model.graph.input.append(onnx.helper.make_tensor_value_info(init.name, init.data_type, shape))
        found += 1
    if not found:
        raise ValueError(f"{onnx_dir} has no LoRA matrices: build it with build_onnx(..., adapter_dir=ADAPTER)")
    with atomic_directory(output_dir) as staging:
        for file in Path(onnx_dir).iterdir():
            if not file.name.startswith("model.onnx"):
                shutil.copy2(file, staging / file.name)
        onnx.save(model, str(staging / "model.onnx"), save_as_external_data=True, location="model.onnx.data")
    return Path(output_dir)


def load_adapters(model: Any, files: dict[str, Path]) -> Any:
    """An onnxruntime_genai.Adapters for `model` with each adapter file loaded under its name."""
    import onnxruntime_genai as og

    adapters = og.Adapters(model)
    for name, path in files.items():
        adapters.load(str(path), name)
    return adapters


def load_onnx(onnx_dir: Path, threads: int | None = None) -> Any:
    """An onnxruntime_genai.Model for an exported folder, on `threads` CPU threads (default: as many as PyTorch uses).

    Left to itself, onnxruntime picks its thread count from the physical cores it detects, and on the 2-core Intel
    Xeon CI machine it took one: SmolLM2's int4 export decoded 58 tokens per second there, and 95 with two threads
    (fp32: 20 against 33; bench/inference.py, 2026-12-04). PyTorch's count (``torch.get_num_threads()``, which ``OMP_NUM_THREADS``
    sets) keeps the two runtimes on the same cores when a lesson compares them. The exported folder is not changed:
    the count is overlaid on its ``genai_config.json`` (``session_options.intra_op_num_threads``) in memory.
    """
    import onnxruntime_genai as og
    import torch

    if threads is not None and threads < 1:
        raise ValueError(f"threads must be a positive number of CPU threads (got {threads})")
    config = og.Config(str(onnx_dir))
    session = {"intra_op_num_threads": threads or torch.get_num_threads()}
    config.overlay(json.dumps({"model": {"decoder": {"session_options": session}}}))
    return og.Model(config)


def stream_tokens(model: Any, input_ids: Sequence[int], max_new_tokens: int, adapter: tuple[Any, str] | None = None,
                  **search: Any) -> Iterator[int]:
    """Yield new token ids one at a time from onnxruntime-genai (greedy unless search options say otherwise).

    `adapter` is ``(adapters, name)`` to generate with one of the adapters loaded by `load_adapters`.
    """
    import onnxruntime_genai as og

    params = og.GeneratorParams(model)
    params.set_search_options(max_length=len(input_ids) + max_new_tokens, **{"do_sample": False, **search})
    generator = og.Generator(model, params)
    if adapter is not None:
        generator.set_active_adapter(*adapter)
    generator.append_tokens(list(input_ids))
    while not generator.is_done():
        generator.generate_next_token()
        yield int(generator.get_next_tokens()[0])


def generate_tokens(model: Any, input_ids: Sequence[int], max_new_tokens: int, adapter: tuple[Any, str] | None = None,
                    **search: Any) -> list[int]:
    """All new token ids from stream_tokens, as a list."""
    return list(stream_tokens(model, input_ids, max_new_tokens, adapter, **search))


def greedy_token_lists(model: Any, input_ids: Sequence[Sequence[int]], max_new_tokens: int,
                       adapter: tuple[Any, str] | None = None) -> list[list[int]]:
    """Greedy new token ids for each prompt, as `generate_tokens` gives them one prompt at a time, but faster.

    The prompts' common first tokens (the chat template's system turn, the task, the labels) run once: one
    generator keeps their KV cache and `rewind_to` goes back to it before each prompt's own tokens. Measured on
    SmolLM2's 200 tone prompts (74 tokens, 49 shared) on 2 cores: the same tokens at fp32, int8 and int4, in
    0.43-0.59 of the time (tests/test_export.py checks the tokens are the same).
    """
    import onnxruntime_genai as og

    if not input_ids:
        return []
    shared = common_prefix_length(input_ids)  # each prompt keeps at least one token of its own
    params = og.GeneratorParams(model)
    params.set_search_options(max_length=max(len(ids) for ids in input_ids) + max_new_tokens, do_sample=False)
    generator = og.Generator(model, params)
    if adapter is not None:
        generator.set_active_adapter(*adapter)
    if shared:
        generator.append_tokens(list(input_ids[0][:shared]))
    outputs = []
    for ids in input_ids:
        generator.rewind_to(shared)
        generator.append_tokens(list(ids[shared:]))
        new: list[int] = []
        while not generator.is_done() and len(new) < max_new_tokens:
            generator.generate_next_token()
            new.append(int(generator.get_next_tokens()[0]))
        outputs.append(new)
    return outputs


def onnx_answers(model: Any, tokenizer: Any, prompts: Sequence[str], max_new_tokens: int = 8,
                 adapter: tuple[Any, str] | None = None) -> list[str]:
    """Greedy answers from an ONNX model to already-templated prompts, decoded without special tokens.

    The prompts' shared first tokens run once (`greedy_token_lists`); the answers are `generate_tokens`'s.
    """
    ids = [tokenizer(prompt, add_special_tokens=False)["input_ids"] for prompt in prompts]
    return [tokenizer.decode(tokens, skip_special_tokens=True).strip()
            for tokens in greedy_token_lists(model, ids, max_new_tokens, adapter)]


def onnx_decode_speed(model: Any, input_ids: Sequence[int], new_tokens: int, repeats: int = 3) -> float:
    """Best-of-`repeats` decode speed (tokens/s) for exactly `new_tokens` tokens (end-of-text ignored)."""
    best = 0.0
    for _ in range(repeats):
        started = time.perf_counter()
        produced = generate_tokens(model, input_ids, new_tokens, min_length=len(input_ids) + new_tokens)
        best = max(best, len(produced) / (time.perf_counter() - started))
    return best


def torch_decode_speed(model: Any, input_ids: Sequence[int], new_tokens: int, repeats: int = 3) -> float:
    """Best-of-`repeats` decode speed (tokens/s) of PyTorch `generate` for exactly `new_tokens` greedy tokens."""
    import torch

    batch = torch.tensor([list(input_ids)], device=model.device)
    best = 0.0
    with torch.no_grad():
        for _ in range(repeats):
            started = time.perf_counter()
            output = model.generate(batch, max_new_tokens=new_tokens, min_new_tokens=new_tokens, do_sample=False)
            best = max(best, (output.shape[1] - batch.shape[1]) / (time.perf_counter() - started))
    return best
