"""Kernels that give the same float32 results on every x86-64 CPU, for course-tiny's build and the ci profile.

PyTorch picks its CPU kernels by what the CPU offers: AVX-512 on an Intel Xeon, AVX2 on an AMD EPYC. Each sums in
its own order, so float32 results differ in the last bits, and course-tiny, pretrained from random weights for 1,500
steps, ends as a different model: on 2026-12-03/04 the ci profile's full fine-tuning scored 56 % on an EPYC and
43.5 % on a Xeon from the same code. Documented switches, set before a process starts, take the CPU's choice
away (the first two checked on an Intel Xeon, 2026-12-04: the same weights built with 1 and 2 threads; fresh
clones have since built the pinned bytes on AMD EPYCs with and without AVX-512, tests/test_models.py):

- ``MKL_CBWR=COMPATIBLE``: oneMKL's conditional numerical reproducibility, SSE2 code on every x86-64 CPU (oneMKL's
  guide: branches other than AUTO and COMPATIBLE are available only on Intel processors);
- ``ATEN_CPU_CAPABILITY=default``: PyTorch's own kernels without AVX2 or AVX-512;
- ``TORCHDYNAMO_DISABLE=1``: ``torch.compile`` hands back the function it is given, uncompiled. Compiled code is
  generated for the CPU it runs on (TorchInductor writes C++ for its vector width), so it would be a third source
  of CPU-dependent results. No lesson compiles, but bitsandbytes, which peft imports, calls ``torch.compile`` on a
  few of its fallback functions as it loads, and that call imports TorchInductor: 1.5 s of every process that
  imports peft (4.3 s against 5.8 s for lesson 03's imports, 2026-12-05, an AMD EPYC; lessons 03, 04 and 06 at ci
  wrote the same metrics either way). A lesson that teaches ``torch.compile`` would have to run without it.

The first two cost speed (lesson 02 at ci: 54 s instead of 34 s on a Xeon), so only course-tiny's build and the ci
profile use them; the laptop and gpu profiles run the fastest kernels. They do not reach ONNX Runtime, bitsandbytes,
llama.cpp or oneDNN's bf16 products, which choose their own kernels.
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
    """Whether this process was started with the portable kernels (they are read when the libraries load)."""
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
