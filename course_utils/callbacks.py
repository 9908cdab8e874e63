"""Trainer callbacks that measure a run from inside: time and tensor memory per optimizer step, and a gradient snapshot.

Lesson 08 passes them to SFTTrainer in the notebook and in the torchrun script alike, so a single
process and each DDP process are measured the same way.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import torch
from transformers import TrainerCallback

from course_utils import memory


class StepMeter(TrainerCallback):
    """Seconds of every optimizer step (all its micro-batches, the gradient sync and the update), and the
    peak tensor memory of step `profile_step` (0-based) measured with `memory.TensorMemory`.

    The profiled step runs slower under the profiler, so it is left out of the timing. `profile_step=None`
    times every step and measures no memory.
    """

    def __init__(self, profile_step: int | None = 1) -> None:
        self.profile_step = profile_step
        self.step_seconds: list[float] = []
        self.peak_mb: float | None = None
        self._meter: Any = None
        self._started = 0.0

    def on_step_begin(self, args: Any, state: Any, control: Any, model: Any = None, optimizer: Any = None,
                      **_: Any) -> None:
        if state.global_step == self.profile_step:
            device = str(next(model.parameters()).device)
            baseline = 0.0 if device.startswith("cuda") else memory.tensor_mb(model, optimizer)
            self._meter = memory.TensorMemory(device, baseline_mb=baseline).start()
        self._started = time.perf_counter()

    def on_step_end(self, args: Any, state: Any, control: Any, **_: Any) -> None:
        seconds = time.perf_counter() - self._started
        if self._meter is not None:
            self._meter.stop()
            self.peak_mb, self._meter = self._meter.peak_mb, None
        else:
            self.step_seconds.append(seconds)

    @property
    def median_step_seconds(self) -> float:
        """The median seconds per optimizer step (the profiled step left out)."""
        return statistics.median(self.step_seconds)


class GradientSnapshot(TrainerCallback):
    """A copy of every gradient, flattened into one vector, just before the optimizer update of step `step`.

    The Trainer has clipped the gradients by then (`max_grad_norm`), and under DDP they are the averaged
    gradients every process applies.
    """

    def __init__(self, step: int = 0) -> None:
        self.step = step
        self.gradient: torch.Tensor | None = None

    def on_pre_optimizer_step(self, args: Any, state: Any, control: Any, model: Any = None, **_: Any) -> None:
        if state.global_step == self.step:
            grads = [p.grad.detach().flatten() for p in model.parameters() if p.grad is not None]
            self.gradient = torch.cat(grads).to("cpu", copy=True)
