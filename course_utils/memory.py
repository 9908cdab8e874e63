"""Training memory: an analytic estimate (weights, gradients, optimizer states, activations) and measurement.

The estimate counts bytes the way the lessons explain them. The measurement is the
peak resident memory of this process on CPU (sampled in a background thread), or
``torch.cuda.max_memory_allocated`` on a GPU.
"""

from __future__ import annotations

import threading
import time
from dataclasses import asdict, dataclass
from typing import Any

import torch

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


def estimate_training_memory(
    config: Any,
    total_params: int,
    trainable_params: int,
    batch_size: int,
    seq_len: int,
    weight_bytes: float = 4.0,
    activation_bytes: float = 4.0,
) -> MemoryEstimate:
    """Bytes for a decoder-only transformer trained with AdamW (two fp32 states per trainable weight).

    Activations per token and layer: about 8 hidden + 4 intermediate values kept for the backward
    pass (norms, attention inputs and outputs, the MLP's gate/up/product), plus the logits and their
    log-softmax over the vocabulary at the end. ``weight_bytes=0.5`` models 4-bit weights.
    """
    hidden, layers = config.hidden_size, config.num_hidden_layers
    intermediate, vocab = config.intermediate_size, config.vocab_size
    tokens = batch_size * seq_len
    per_layer = tokens * (8 * hidden + 4 * intermediate)
    activations = (layers * per_layer + 2 * tokens * vocab) * activation_bytes
    return MemoryEstimate(
        weights_mb=total_params * weight_bytes / MB,
        gradients_mb=trainable_params * 4 / MB,
        optimizer_mb=trainable_params * 8 / MB,
        activations_mb=activations / MB,
    )


def rss_mb() -> float:
    """Resident memory of this process now, in MB."""
    import psutil

    return psutil.Process().memory_info().rss / MB


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
    output_layer = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    return sum(
        rank * (module.in_features + module.out_features)
        for module in model.modules()
        if isinstance(module, torch.nn.Linear) and module is not output_layer
    )


def model_from_config(config: Any) -> Any:
    """A model built on the meta device: its shapes and parameter count, with no memory and no download."""
    from transformers import AutoModelForCausalLM

    with torch.device("meta"):
        return AutoModelForCausalLM.from_config(config)
