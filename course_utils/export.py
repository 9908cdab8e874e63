"""Merge an adapter, export with the onnxruntime-genai model builder, and generate with onnxruntime-genai.

The export calls the builder's command line (``python -m onnxruntime_genai.models.builder``),
the same interface Olive's ModelBuilder pass drives, into a temporary folder that is
renamed into place only when the build succeeds.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator, Sequence

from course_utils.runs import atomic_directory

PRECISIONS = ("fp32", "fp16", "int4")


def supported_architectures() -> list[str]:
    """Architectures the installed builder exports, read from its source so the list matches the version."""
    spec = importlib.util.find_spec("onnxruntime_genai.models.builder")
    if spec is None or spec.origin is None:
        raise ImportError("onnxruntime-genai is not installed: pip install -r requirements.txt")
    source = Path(spec.origin).read_text(encoding="utf-8")
    return sorted(set(re.findall(r'config\.architectures\[0\] == "(\w+)"', source)))


def check_exportable(model_dir: Path) -> str:
    """The model's architecture, or a ValueError naming the ones the builder supports."""
    config = json.loads((Path(model_dir) / "config.json").read_text())
    architecture = (config.get("architectures") or ["(none given)"])[0]
    supported = supported_architectures()
    if architecture not in supported:
        raise ValueError(
            f"the onnxruntime-genai builder cannot export {architecture}; it supports: {', '.join(supported)}"
        )
    return architecture


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
) -> Path:
    """Run the onnxruntime-genai model builder on a Hugging Face folder; returns the ONNX folder.

    For int4, `quantize_embeddings` also quantizes the embedding table (the builder's
    ``op_types_to_quantize=MatMul/Gather``), a large share of a small model's weights.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)} (got {precision!r})")
    check_exportable(model_dir)
    with atomic_directory(output_dir) as staging:
        command = [sys.executable, "-m", "onnxruntime_genai.models.builder", "-i", str(model_dir),
                   "-o", str(staging), "-p", precision, "-e", execution_provider,
                   "-c", str(staging / ".builder-cache")]
        if precision == "int4" and quantize_embeddings:
            command += ["--extra_options", "op_types_to_quantize=MatMul/Gather"]
        finished = subprocess.run(command, capture_output=True, text=True)
        if finished.returncode != 0:
            raise RuntimeError(f"the model builder failed ({precision}):\n{finished.stderr[-3000:]}")
        shutil.rmtree(staging / ".builder-cache", ignore_errors=True)
    return Path(output_dir)


def load_onnx(onnx_dir: Path) -> Any:
    """An onnxruntime_genai.Model for an exported folder."""
    import onnxruntime_genai as og

    return og.Model(str(onnx_dir))


def stream_tokens(model: Any, input_ids: Sequence[int], max_new_tokens: int, **search: Any) -> Iterator[int]:
    """Yield new token ids one at a time from onnxruntime-genai (greedy unless search options say otherwise)."""
    import onnxruntime_genai as og

    params = og.GeneratorParams(model)
    params.set_search_options(max_length=len(input_ids) + max_new_tokens, **{"do_sample": False, **search})
    generator = og.Generator(model, params)
    generator.append_tokens(list(input_ids))
    while not generator.is_done():
        generator.generate_next_token()
        yield int(generator.get_next_tokens()[0])


def generate_tokens(model: Any, input_ids: Sequence[int], max_new_tokens: int, **search: Any) -> list[int]:
    """All new token ids from stream_tokens, as a list."""
    return list(stream_tokens(model, input_ids, max_new_tokens, **search))


def onnx_answers(model: Any, tokenizer: Any, prompts: Sequence[str], max_new_tokens: int = 8) -> list[str]:
    """Greedy answers from an ONNX model to already-templated prompts, decoded without special tokens."""
    answers = []
    for prompt in prompts:
        ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        answers.append(tokenizer.decode(generate_tokens(model, ids, max_new_tokens), skip_special_tokens=True).strip())
    return answers


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
