"""The portable kernels: what a process started with them runs, and that the parent's environment is put back."""

from __future__ import annotations

import os
import subprocess
import sys

from course_utils import numerics

PROBE = "import torch; print(torch.backends.cpu.get_cpu_capability())"


def test_a_process_started_inside_the_block_runs_the_portable_kernels(monkeypatch) -> None:
    monkeypatch.delenv("MKL_CBWR", raising=False)
    monkeypatch.setenv("ATEN_CPU_CAPABILITY", "avx2")
    with numerics.portable_kernels_for_children():
        assert numerics.portable_kernels_active()
        inside = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True)
    assert inside.stdout.strip() == "DEFAULT"  # PyTorch's kernels without AVX2 or AVX-512
    # put back as they were: one unset, one with its own value
    assert "MKL_CBWR" not in os.environ and os.environ["ATEN_CPU_CAPABILITY"] == "avx2"
    assert not numerics.portable_kernels_active()


def test_portable_env_adds_the_kernels_to_the_environment_given() -> None:
    env = numerics.portable_env({"PATH": "/bin", "MKL_CBWR": "AVX2"})
    assert env == {"PATH": "/bin", "MKL_CBWR": "COMPATIBLE", "ATEN_CPU_CAPABILITY": "default",
                   "TORCHDYNAMO_DISABLE": "1"}


# Whether loading bitsandbytes (which peft imports) imported TorchInductor's compiler, then whether torch.compile
# handed back the function it was given
COMPILE_PROBE = ("import sys, torch, bitsandbytes; loaded = 'torch._inductor.compile_fx' in sys.modules; "
                 "f = lambda x: x; print(loaded, torch.compile(f) is f)")


def test_inside_the_block_torch_compile_is_a_no_op_and_bitsandbytes_leaves_inductors_compiler_unimported(
        monkeypatch) -> None:
    monkeypatch.delenv("TORCHDYNAMO_DISABLE", raising=False)
    outside = subprocess.run([sys.executable, "-c", COMPILE_PROBE], capture_output=True, text=True, check=True)
    with numerics.portable_kernels_for_children():
        inside = subprocess.run([sys.executable, "-c", COMPILE_PROBE], capture_output=True, text=True, check=True)
    # bitsandbytes' behaviour, not the course's: if it stops compiling as it loads, numerics.py's reason has changed
    assert outside.stdout.split() == ["True", "False"], "bitsandbytes no longer compiles at import: revisit numerics.py"
    assert inside.stdout.split() == ["False", "True"]
    assert "TORCHDYNAMO_DISABLE" not in os.environ
