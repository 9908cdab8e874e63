"""Kernels that give the same float32 results on every x86-64 CPU, for course-tiny's build and the ci profile.

PyTorch picks its CPU kernels by what the CPU offers: AVX-512 on an Intel Xeon and on one AMD EPYC, AVX2 on another
EPYC. Each sums in its own order, so float32 results differ in the last bits, and course-tiny, pretrained from random
weights for 1,500 steps, ends as a different model: on 2026-12-03/04 the ci profile's full fine-tuning scored 56 % on
an EPYC and 43.5 % on a Xeon from the same code. Two documented switches, set before a process starts, take the
CPU's choice away (checked on an Intel Xeon, 2026-12-04: the same weights built with 1 and 2 threads; fresh clones
have since built the pinned bytes on AMD EPYCs with and without AVX-512, tests/test_models.py):

- ``MKL_CBWR=COMPATIBLE``: oneMKL's conditional numerical reproducibility, SSE2 code on every x86-64 CPU (oneMKL's
  guide: branches other than AUTO and COMPATIBLE are available only on Intel processors);
- ``ATEN_CPU_CAPABILITY=default``: PyTorch's own kernels without AVX2 or AVX-512.

They cost speed (lesson 02 at ci: 54 s instead of 34 s on a Xeon), so only course-tiny's build and the ci profile
use them; the laptop and gpu profiles run the fastest kernels. They do not reach ONNX Runtime, llama.cpp or oneDNN's
bf16 products, which choose their own kernels, and reach bitsandbytes only where it asks PyTorch for the CPU's
capability (it then takes its paths without AVX-512).

A third switch goes with them: ``TORCHDYNAMO_DISABLE=1``, which ``torch.compile`` reads at each call
(torch/_dynamo/eval_frame.py, ``_optimize``) and which makes it hand back the function it was given. Compiled code is
built by this machine's C++ compiler for this CPU (``-march=native``), so it could differ by CPU; nothing compiled
runs at ci today, and the switch keeps it that way. What it changes now is time: bitsandbytes, which peft imports,
wraps a few of its fallback functions in ``torch.compile`` as it loads, and that imports TorchInductor's compiler
(``torch._inductor.compile_fx``). Skipping it saves 0.9 to 1.5 s in every process that imports peft (2026-12-05, an
AMD EPYC: lesson 03's imports in a fresh process 4.3 s against 5.8 s; each lesson's first two cells under papermill
4.1 s against 5.0 s), and the ten lessons' ci metrics were the same with it and without. A lesson
that teaches ``torch.compile`` would have to unset ``TORCHDYNAMO_DISABLE`` before compiling, and its ci results could
then depend on the CPU. `portable_kernels_active` asks for all three.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping

PORTABLE_KERNELS: dict[str, str] = {"MKL_CBWR": "COMPATIBLE", "ATEN_CPU_CAPABILITY": "default",
                                    "TORCHDYNAMO_DISABLE": "1"}


def portable_env(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """`env` (default: this process's) with the portable kernels set, for a new process."""
    return {**(os.environ if env is None else env), **PORTABLE_KERNELS}


def portable_kernels_active() -> bool:
    """Whether this process was started with the portable kernels (the first two are read as the libraries load)."""
    return all(os.environ.get(name) == value for name, value in PORTABLE_KERNELS.items())


@contextlib.contextmanager
def portable_kernels_for_children() -> Iterator[None]:
    """Inside the block, processes started from this one (a notebook's kernel) get the portable kernels."""
    saved = {name: os.environ.get(name) for name in PORTABLE_KERNELS}
    os.environ.update(PORTABLE_KERNELS)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
