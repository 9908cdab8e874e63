"""Every reliance on a library's private or version-specific behaviour, in one place.

Each one names the package and the version it was checked against, and a self-check (`verify`) that says, with the
installed version, when it no longer holds: `course doctor` runs them all, and so does tests/test_compat.py, so a
version bump that breaks one fails loudly instead of silently skewing a lesson's number.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import inspect
import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable


@dataclass(frozen=True)
class Reliance:
    """What the course relies on, in which package, checked against which version, and how to verify it again."""

    name: str
    package: str
    checked: str
    used_by: str
    verify: Callable[[], None]  # raises (AssertionError or any error) when the reliance no longer holds


# --- torch: the profiler's raw allocation events (private: `profiler.kineto_results`) ---------------------------------
def profiler_events(profiler: Any) -> list[Any]:
    """Every event a finished `torch.profiler.profile(profile_memory=True)` recorded, allocations included, in order.

    The public `key_averages()` aggregates events away; the allocation timeline lives in a private attribute.
    """
    return sorted(profiler.profiler.kineto_results.events(), key=lambda event: event.start_ns())


@contextmanager
def _native_stderr_silenced() -> Iterator[None]:
    """Send what C++ code writes to stderr (the profiler's start-up line) nowhere, for the length of the block."""
    sys.stderr.flush()
    saved = os.dup(2)
    with open(os.devnull, "w") as devnull:
        os.dup2(devnull.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def _verify_profiler_events() -> None:
    import torch
    from torch.profiler import ProfilerActivity, profile

    with _native_stderr_silenced(), profile(activities=[ProfilerActivity.CPU], profile_memory=True) as profiler:
        torch.ones(1024)
    allocations = [e for e in profiler_events(profiler) if e.name() == "[memory]" and e.nbytes() > 0]
    assert allocations, "no [memory] event with nbytes() > 0 in profiler.profiler.kineto_results.events()"
    assert allocations[0].device_type() == torch.autograd.DeviceType.CPU and allocations[0].end_ns() >= 0


# --- trl: how many vocabulary columns SFTTrainer's chunked log-probabilities score at once (private constant) -------
TRL_VOCAB_CHUNK = 32768


def _verify_trl_vocab_chunk() -> None:
    from trl.trainer import utils

    found = getattr(utils, "_CHUNKED_LOGPROB_CHUNK_SIZE", None)
    assert found == TRL_VOCAB_CHUNK, f"trl.trainer.utils._CHUNKED_LOGPROB_CHUNK_SIZE is {found}, not {TRL_VOCAB_CHUNK}"


# --- trl: whether its fused LM head scores only the answer's positions (private: `_use_triton` in trl.trainer.utils) --
@contextmanager
def head_on_answer_positions() -> Iterator[bool]:
    """Inside the block, trl's fused LM head scores only the positions that carry the loss, on a CPU too.

    trl 1.16's SFTTrainer and DPOTrainer send the last hidden states through the LM head in vocabulary chunks
    (trl.trainer.utils.add_fused_lm_head). On CUDA and XPU they first drop the positions whose label is -100 (the
    prompt and the padding); elsewhere they score every position, so that a compiled device (Neuron) does not see a
    new shape each batch. A CPU runs eagerly and pays only for the wasted work: SmolLM2's 49,152 columns at a prompt's
    70-odd positions, to score 2 or 3 answer tokens. trl decides with `_use_triton(device)` as bound in
    trl.trainer.utils; inside the block that binding also answers True for CPU tensors. trl's kernels keep their own
    binding (trl.kernels.chunked_logprob), so on a CPU they still run their PyTorch tiles. Each kept position's score,
    and so the loss, is the same; where the head trains nothing, so are the gradients and the trained weights, bit for
    bit. Where the head trains (full fine-tuning), its weight's gradient adds the same terms in another order, as on a
    GPU: the weights come out about 1e-7 apart (tests/test_train.py; bench/answer_positions.py measures the speed).
    Yields whether trl's switch was set: False on a trl without `_use_triton`, which keeps its own path. (On CUDA and
    XPU trl keeps only the answer's positions anyway; on other devices, such as MPS, the block changes nothing.)
    """
    from trl.trainer import utils

    original = getattr(utils, "_use_triton", None)
    if original is None:  # another trl: its own path, unchanged (the Reliance below says so in `course doctor`)
        yield False
        return
    utils._use_triton = lambda device: device.type == "cpu" or original(device)
    try:
        yield True
    finally:
        utils._use_triton = original


def _verify_head_on_answer_positions() -> None:
    from trl.trainer import utils

    source = inspect.getsource(utils.add_fused_lm_head)
    for line in ("compact = _use_triton(hidden_states.device)", "hidden_states[mask] if compact"):
        assert line in source, f"trl.trainer.utils.add_fused_lm_head no longer has `{line}`"
    assert callable(getattr(utils, "_use_triton", None)), "trl.trainer.utils has no _use_triton"
    # trl's kernels decide with their own binding, which the block leaves alone (their PyTorch tiles on a CPU)
    assert utils._ChunkedLogProbFunction.__module__.startswith("trl.kernels"), \
        "trl's chunked head is no longer in trl.kernels"


# --- onnxruntime-genai: which architectures its model builder exports (read from the builder's source) --------------
def builder_architectures() -> list[str]:
    """Architectures the installed onnxruntime-genai builder exports, read from its source (it has no public list)."""
    spec = importlib.util.find_spec("onnxruntime_genai.models.builder")
    if spec is None or spec.origin is None:
        raise ImportError("onnxruntime-genai is not installed: pip install -r requirements.txt")
    source = Path(spec.origin).read_text(encoding="utf-8")
    return sorted(set(re.findall(r'config\.architectures\[0\] == "(\w+)"', source)))


def _verify_builder_architectures() -> None:
    found = builder_architectures()
    missing = {"LlamaForCausalLM", "Qwen2ForCausalLM", "Phi3ForCausalLM"} - set(found)
    assert len(found) >= 10 and not missing, f"the builder's source lists {len(found)} architectures, without {missing}"


# --- accelerate: the loader behind `accelerate launch --config_file` (an internal module path) ------------------------
def load_accelerate_config_file(path: str) -> Any:
    """accelerate's own config loader, the one `accelerate launch --config_file` uses (not exported publicly)."""
    from accelerate.commands.config.config_args import load_config_from_file

    return load_config_from_file(path)


def _verify_accelerate_loader() -> None:
    from course_utils.config import course_root

    loaded = load_accelerate_config_file(str(course_root() / "configs" / "accelerate" / "multi_gpu.yaml"))
    assert loaded.num_processes >= 2 and hasattr(loaded, "distributed_type") and hasattr(loaded, "fsdp_config")


# --- transformers: the keyword a model call takes its KV cache by (renamed in 5.24) ---------------------------------
def cache_argument(model: Any, cache: Any) -> dict[str, Any]:
    """`{name: cache}` for a model call: `cache` where the model's forward takes it (transformers 5.24 on), else
    `past_key_values` (5.23; 5.24 still takes it with a FutureWarning). generate() takes the same name."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model  # a peft model: the model inside
    return {"cache" if "cache" in inspect.signature(type(base).forward).parameters else "past_key_values": cache}


def _verify_cache_argument() -> None:
    from transformers import LlamaForCausalLM

    names = inspect.signature(LlamaForCausalLM.forward).parameters
    assert "cache" in names or "past_key_values" in names, "LlamaForCausalLM.forward takes neither cache nor " \
                                                           "past_key_values"


# --- trl: DPO's reference, when the model is a PeftModel and no ref_model is given -----------------------------------
DPO_REFERENCE_ADAPTER = "ref"


@contextmanager
def reference_adapter(model: Any) -> Iterator[Any]:
    """Run `model` (a PeftModel that trl's DPOTrainer trained) as DPO's reference inside the block.

    Given a PeftModel and no `ref_model`, trl 1.16's DPOTrainer copies the adapter it starts from into a second, frozen
    adapter named "ref", and computes the reference log-probabilities with that adapter active (trl.trainer.utils.
    use_adapter). The block does the same; afterwards the trained adapter is active again.
    """
    from trl.trainer.utils import use_adapter

    with use_adapter(model, adapter_name=DPO_REFERENCE_ADAPTER):
        yield model


def _verify_reference_adapter() -> None:
    from trl import DPOTrainer
    from trl.trainer.utils import use_adapter  # noqa: F401  (the context manager reference_adapter enters)

    source = inspect.getsource(DPOTrainer)
    assert f'"{DPO_REFERENCE_ADAPTER}"' in source and "add_adapter" in source, \
        f'DPOTrainer no longer keeps its reference as a "{DPO_REFERENCE_ADAPTER}" adapter'


# --- torch: whether oneDNN has fast bf16 matrix products on this CPU (private: torch.ops.mkldnn) --------------------
def cpu_fast_bf16() -> bool:
    """Whether this CPU has oneDNN's fast bf16 matrix products (AVX-512 with bf16, or AMX), as torch itself decides.

    Without them PyTorch falls back to a generic bf16 product: on an AMD EPYC with AVX2 only, one SmolLM2 training step
    took 259 s in bf16 against 8.7 s in fp32 (lesson 08, 2026-12-05). torch has no public switch for this; it asks
    `torch.ops.mkldnn._is_mkldnn_bf16_supported()`, and so does this.
    """
    import torch

    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def _verify_cpu_fast_bf16() -> None:
    import torch

    operation = getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", None)
    assert operation is not None, "torch.ops.mkldnn has no _is_mkldnn_bf16_supported"
    assert isinstance(cpu_fast_bf16(), bool)


RELIANCES = (
    Reliance("the profiler's allocation events (profiler.profiler.kineto_results)", "torch", "2.13.0",
             "memory.TensorMemory: lessons 02, 04, 07 and 08's measured tensor memory", _verify_profiler_events),
    Reliance(f"SFTTrainer scores {TRL_VOCAB_CHUNK} vocabulary columns at once (_CHUNKED_LOGPROB_CHUNK_SIZE)", "trl",
             "1.16.0", "memory.logits_bytes: the memory estimate of lessons 02, 04 and 07", _verify_trl_vocab_chunk),
    Reliance("trl's fused LM head drops the positions without a label where _use_triton(device) is True", "trl",
             "1.16.0", "train.fine_tune (every method) and lesson 09's DPO: a CPU scores only the answer's positions",
             _verify_head_on_answer_positions),
    Reliance("the builder's exportable architectures, read from its source", "onnxruntime-genai", "0.18.0",
             "export.check_exportable: lesson 05's one-sentence refusal", _verify_builder_architectures),
    Reliance("accelerate's config-file loader (accelerate.commands.config.config_args)", "accelerate", "1.15.0",
             "distributed.read_accelerate_config: lesson 08", _verify_accelerate_loader),
    Reliance("a model call's KV-cache keyword (past_key_values; cache from 5.24)", "transformers", "5.23.0 and 5.24.0",
             "evaluate: shared-prefix generation and ranked scoring (lessons 01-07)", _verify_cache_argument),
    Reliance('DPOTrainer keeps a PeftModel\'s starting adapter as its reference, adapter "ref" (use_adapter)', "trl",
             "1.16.0", "compat.reference_adapter: lesson 09's DPO loss by hand", _verify_reference_adapter),
    Reliance("oneDNN's bf16 support query (torch.ops.mkldnn._is_mkldnn_bf16_supported)", "torch", "2.13.0",
             "compat.cpu_fast_bf16: lesson 08's bf16 step and `course doctor`'s device line", _verify_cpu_fast_bf16),
)


def installed(package: str) -> str:
    """The installed version of `package`, or 'not installed'."""
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def verify_reliance(reliance: Reliance) -> str | None:
    """None when `reliance` holds here, else one sentence: what broke, with the installed and the checked version."""
    try:
        reliance.verify()
    except Exception as error:  # any failure means the reliance no longer holds; say which and where
        return (f"{reliance.name} no longer holds with {reliance.package} {installed(reliance.package)} (checked "
                f"with {reliance.checked}): {type(error).__name__}: {error}. Affects {reliance.used_by}.")
    return None
