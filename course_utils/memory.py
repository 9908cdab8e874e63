"""Training memory: an analytic estimate (weights, gradients, optimizer states, activations) and measurement.

The estimate counts bytes the way the lessons explain them. The measurement is the
peak resident memory of this process on CPU (sampled in a background thread), or
``torch.cuda.max_memory_allocated`` on a GPU.
"""

from __future__ import annotations

import threading
import time
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from typing import Any

import torch

from course_utils import compat
from course_utils.compat import TRL_VOCAB_CHUNK  # trl's chunk of vocabulary columns (checked in compat)
from course_utils.models import block_linear_layers

MB = 2**20


@dataclass(frozen=True)
class MemoryEstimate:
    """Estimated training memory by part, in MB."""

    weights_mb: float
    gradients_mb: float
    optimizer_mb: float
    activations_mb: float

    @property
    def total_mb(self) -> float:
        return self.weights_mb + self.gradients_mb + self.optimizer_mb + self.activations_mb

    def as_dict(self) -> dict[str, float]:
        return {**asdict(self), "total_mb": self.total_mb}



LM_HEADS = {
    "full": "the model computes every logit and autograd keeps them and their log-softmax (model(..., labels=...))",
    "trl-cpu": f"trl's SFTTrainer: {TRL_VOCAB_CHUNK} vocabulary columns at a time; on CPU one chunk's backward holds 8 fp32 copies",
    "trl-cuda": f"trl's SFTTrainer on CUDA: {TRL_VOCAB_CHUNK} columns at a time, one buffer (a Triton kernel works in place)",
}


def logits_bytes(lm_head: str, tokens: int, vocab: int, activation_bytes: float = 4.0) -> float:
    """Bytes the language-model head (hidden states -> one score per vocabulary word) holds at its peak."""
    if lm_head not in LM_HEADS:
        raise ValueError(f"lm_head must be one of {sorted(LM_HEADS)} (got {lm_head!r})")
    if lm_head == "full":
        return 2 * tokens * vocab * activation_bytes
    columns = min(vocab, TRL_VOCAB_CHUNK)
    return 8 * tokens * columns * 4.0 if lm_head == "trl-cpu" else tokens * columns * activation_bytes


def estimate_training_memory(
    config: Any,
    total_params: int,
    trainable_params: int,
    batch_size: int,
    seq_len: int,
    weight_bytes: float = 4.0,
    activation_bytes: float = 4.0,
    quantized_params: int = 0,
    lm_head: str = "full",
    head_tokens: int | None = None,
) -> MemoryEstimate:
    """Bytes for a decoder-only transformer trained with AdamW (two fp32 states per trainable weight).

    Weights: `weight_bytes` each, except `quantized_params` 4-bit ones (QLoRA's linear layers) at 0.5.
    Activations per token and layer: about 8 hidden + 4 intermediate values kept for the backward
    pass (norms, attention inputs and outputs, the MLP's gate/up/product), plus what the LM head
    holds for the vocabulary (`lm_head`, one of `LM_HEADS`) at `head_tokens` positions: None for every
    position (batch_size x seq_len), or the answer's positions alone where trl drops the rest (on CUDA, and
    on a CPU inside `compat.head_on_answer_positions`). The parts are added up, so the total is an upper
    bound: in full fine-tuning the backward pass frees activations as gradients appear.
    """
    hidden, layers = config.hidden_size, config.num_hidden_layers
    tokens = batch_size * seq_len
    if head_tokens is not None and not 0 < head_tokens <= tokens:
        raise ValueError(f"head_tokens must be between 1 and batch_size x seq_len = {tokens} (got {head_tokens})")
    per_layer = tokens * (8 * hidden + 4 * config.intermediate_size) * activation_bytes
    scored = tokens if head_tokens is None else head_tokens
    activations = layers * per_layer + logits_bytes(lm_head, scored, config.vocab_size, activation_bytes)
    return MemoryEstimate(
        weights_mb=((total_params - quantized_params) * weight_bytes + quantized_params * 0.5) / MB,
        gradients_mb=trainable_params * 4 / MB,
        optimizer_mb=trainable_params * 8 / MB,
        activations_mb=activations / MB,
    )


def rss_mb() -> float:
    """Resident memory of this process now, in MB."""
    import psutil

    return psutil.Process().memory_info().rss / MB


def return_freed_memory() -> bool:
    """Collect garbage, then ask the C allocator to hand the memory freed objects left behind back to the system.

    Resident memory counts what the allocator holds, not only what is alive: glibc keeps freed blocks for reuse. Call
    this before measuring with PeakMemory so that each measurement starts from live memory. Uses glibc's
    `malloc_trim(0)`; returns False where there is none (macOS, Windows, musl), and then only garbage is collected.
    """
    import ctypes
    import ctypes.util
    import gc

    gc.collect()
    try:
        trim = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return False
    trim(0)
    return True


class PeakMemory:
    """Context manager: peak memory while the block runs (RSS on CPU, allocated memory on CUDA), in MB."""

    def __init__(self, device: str = "cpu", interval_s: float = 0.005) -> None:
        self.device, self.interval_s = device, interval_s
        self.start_mb = self.peak_mb = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak_mb = max(self.peak_mb, rss_mb())
            time.sleep(self.interval_s)

    def __enter__(self) -> "PeakMemory":
        if self.device.startswith("cuda"):
            torch.cuda.reset_peak_memory_stats()
            self.start_mb = torch.cuda.memory_allocated() / MB
        else:
            self.start_mb = self.peak_mb = rss_mb()
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        if self.device.startswith("cuda"):
            self.peak_mb = torch.cuda.max_memory_allocated() / MB
        else:
            self._stop.set()
            if self._thread:
                self._thread.join()
            self.peak_mb = max(self.peak_mb, rss_mb())

    @property
    def increase_mb(self) -> float:
        """How far the peak rose above the memory in use when the block started."""
        return self.peak_mb - self.start_mb


def tensor_mb(model: Any, optimizer: Any = None) -> float:
    """MB held now by the model's weights, buffers and gradients and the optimizer's states (each storage once)."""
    tensors = [*model.parameters(), *model.buffers()]
    tensors += [p.grad for p in model.parameters() if p.grad is not None]
    if optimizer is not None:
        tensors += [v for state in optimizer.state.values() for v in state.values() if isinstance(v, torch.Tensor)]
    storages = {t.untyped_storage().data_ptr(): t.untyped_storage().nbytes() for t in tensors}
    return sum(storages.values()) / MB


class TensorMemory:
    """Context manager: the peak MB held by PyTorch tensors while the block runs, overall and by phase.

    On CUDA this is ``torch.cuda.max_memory_allocated``. PyTorch keeps no such counter on CPU, so
    there the block runs under ``torch.profiler`` with ``profile_memory=True`` and the peak is read
    from its allocation events. Tensors that already exist when the block starts (the weights, the
    optimizer states) are not in those events: pass their size as `baseline_mb` (see `tensor_mb`).
    Call `phase(name)` to start a named phase; `peaks` then holds each phase's peak.

    This counts what the estimator counts: tensors. Resident memory (`PeakMemory`) is higher,
    because the C allocator keeps some freed memory and the interpreter and libraries count too.
    """

    def __init__(self, device: str = "cpu", baseline_mb: float = 0.0) -> None:
        self.device, self.baseline_mb = device, baseline_mb
        self.peaks: dict[str, float] = {}
        self._cuda = device.startswith("cuda")
        self._profiler: Any = None
        self._phase: tuple[str, Any] | None = None
        self._overall_mb = baseline_mb

    def start(self) -> "TensorMemory":
        """Start measuring (what `with TensorMemory(...)` does); a Trainer callback calls it from one hook."""
        if self._cuda:
            torch.cuda.reset_peak_memory_stats()
        else:
            from torch.profiler import ProfilerActivity, profile

            self._profiler = profile(activities=[ProfilerActivity.CPU], profile_memory=True)
            self._profiler.start()
        return self

    def phase(self, name: str) -> None:
        """End the current phase (if any) and start `name`."""
        self._end_phase()
        self._phase = (name, ExitStack())
        if not self._cuda:
            self._phase[1].enter_context(torch.profiler.record_function(f"phase:{name}"))

    def _end_phase(self) -> None:
        if self._phase is None:
            return
        name, marker = self._phase
        self._phase = None
        if self._cuda:
            self.peaks[name] = torch.cuda.max_memory_allocated() / MB
            torch.cuda.reset_peak_memory_stats()
        else:
            marker.close()

    def stop(self) -> None:
        """Stop measuring and read the peaks (what leaving the `with` block does)."""
        self._end_phase()
        if self._cuda:
            self._overall_mb = torch.cuda.max_memory_allocated() / MB
            return
        self._profiler.stop()
        events = compat.profiler_events(self._profiler)
        phases = [(e.name()[len("phase:"):], e.start_ns(), e.end_ns()) for e in events if e.name().startswith("phase:")]
        allocated = 0
        for event in events:
            if event.name() != "[memory]" or event.device_type() != torch.autograd.DeviceType.CPU:
                continue
            allocated += event.nbytes()
            now = self.baseline_mb + allocated / MB
            self._overall_mb = max(self._overall_mb, now)
            for name, start, end in phases:
                if start <= event.start_ns() <= end:
                    self.peaks[name] = max(self.peaks.get(name, self.baseline_mb), now)

    def __enter__(self) -> "TensorMemory":
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    @property
    def peak_mb(self) -> float:
        """The highest tensor memory reached in the block, in MB."""
        return max([self._overall_mb, *self.peaks.values()])


def saved_activations_mb(model: Any, batch: dict[str, torch.Tensor]) -> float:
    """MB of tensors autograd keeps for the backward pass during one forward pass with loss (weights excluded).

    This is the "activations" part of training memory, measured exactly rather than sampled:
    every tensor saved for backward passes through a saved-tensors hook, counted once per storage.
    """
    weights = {p.untyped_storage().data_ptr() for p in model.parameters()}
    storages: dict[int, int] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in weights:
            storages[storage.data_ptr()] = storage.nbytes()
        return tensor

    model.train()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        loss = model(**batch, labels=batch["input_ids"]).loss
    del loss
    model.eval()
    return sum(storages.values()) / MB


def lora_parameter_count(model: Any, rank: int) -> int:
    """Weights LoRA of rank `rank` adds on every linear layer in the blocks: rank x (inputs + outputs) each."""
    return sum(rank * (module.in_features + module.out_features) for module in block_linear_layers(model).values())


def quantizable_parameter_count(model: Any) -> int:
    """Weights of the linear layers in the blocks: what QLoRA stores in 4 bits (the `quantized_params` estimate)."""
    return sum(module.weight.numel() for module in block_linear_layers(model).values())


def model_from_config(config: Any) -> Any:
    """A model built on the meta device: its shapes and parameter count, with no memory and no download."""
    from transformers import AutoModelForCausalLM

    with torch.device("meta"):
        return AutoModelForCausalLM.from_config(config)
