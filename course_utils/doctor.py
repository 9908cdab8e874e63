"""`course doctor`: what this machine has, and whether it matches what the course was tested with."""

from __future__ import annotations

import importlib.metadata
import platform
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from course_utils import hosted
from course_utils.config import course_root

OK, WARN, FAIL = "OK", "WARN", "FAIL"


@dataclass(frozen=True)
class Finding:
    """One line of the doctor's report."""

    status: str
    name: str
    detail: str

    def __str__(self) -> str:
        return f"[{self.status}] {self.name}: {self.detail}"


def parse_pins(text: str) -> dict[str, str]:
    """`name==version` lines of a requirements file, in file order, by canonical name (comments, -e lines skipped);
    ValueError naming the line for a requirement that is not pinned."""
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    pins: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        requirement = Requirement(line)
        versions = [spec.version for spec in requirement.specifier if spec.operator == "=="]
        if len(versions) != 1:
            raise ValueError(f"requirements line {number}: expected name==version (got {line!r})")
        pins[canonicalize_name(requirement.name)] = versions[0]
    return pins


def pinned_versions(requirements: Path | None = None) -> dict[str, str]:
    """Package -> version for every `name==version` line of requirements.txt."""
    path = requirements or course_root() / "requirements.txt"
    return parse_pins(path.read_text()) if path.exists() else {}


def installed_version(package: str) -> str | None:
    """The installed version of `package`, or None when it is not installed."""
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def inspect_packages(pins: dict[str, str], ranges: dict[str, str] | None = None,
                   install: str = "pip install -r requirements.txt") -> list[Finding]:
    """[OK] at the pin or inside the tested range (pyproject.toml), [WARN] outside it, [FAIL] when missing."""
    ranges = {} if ranges is None else ranges
    findings = []
    for package, pinned in sorted(pins.items()):
        installed = installed_version(package)
        tested = ranges.get(package)
        if installed is None:
            findings.append(Finding(FAIL, package, f"not installed (pinned {pinned}); run: {install}"))
        elif installed.split("+")[0] == pinned:
            findings.append(Finding(OK, package, installed))
        elif tested and not hosted.outside_range(tested, installed):
            findings.append(Finding(OK, package, f"{installed}, in the tested range {hosted.describe_range(tested)} "
                                             f"(pinned {pinned})"))
        else:
            where = (f"outside what the course is tested with, {hosted.describe_range(tested)}" if tested
                     else "not the version the course is tested with")
            findings.append(Finding(WARN, package, f"{installed} installed, {where} (pinned {pinned})"))
    return findings


def package_findings() -> list[Finding]:
    """The packages this kind of machine should have: every pin here; on Colab or Kaggle only what the lessons
    import (requirements-hosted.txt), since the platform keeps its own torch, Jupyter and widgets."""
    pins = pinned_versions()
    if hosted.hosted_runtime():
        ranges = hosted.tested_ranges()
        return inspect_packages({name: pins[name] for name in ranges if name in pins}, ranges,
                              install="run the lesson's first cell, which installs requirements-hosted.txt")
    return inspect_packages(pins, hosted.tested_ranges(extras=("torch", "local", "test")))


def inspect_accelerator() -> list[Finding]:
    """Which device torch will use, and whether bf16 is available there."""
    import torch

    if torch.cuda.is_available():
        name = torch.cuda.get_device_name(0)
        bf16 = torch.cuda.is_bf16_supported()
        return [Finding(OK, "device", f"cuda ({name}); bf16 {'supported' if bf16 else 'not supported: fp16 is used'}")]
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return [Finding(OK, "device", "mps (Apple silicon); QLoRA needs CUDA or CPU")]
    from course_utils import compat

    found = [Finding(OK, "device", f"cpu ({torch.get_num_threads()} threads, {torch.backends.cpu.get_cpu_capability()} "
                                   "kernels); the ci and cpu profiles are made for this")]
    try:
        fast = compat.cpu_fast_bf16()
    except Exception as error:  # a torch without the query: say so, the device line above still holds
        return found + [Finding(WARN, "bf16 on this CPU", f"unknown ({type(error).__name__}: {error})")]
    found.append(Finding(OK, "bf16 on this CPU", "fast bf16 matrix products (oneDNN)" if fast else
                         "no fast bf16 matrix products: train in fp32, as the course's cpu profile does (a bf16 step "
                         "of SmolLM2 ran 30x slower than fp32 on such a CPU; lesson 08, section 6)"))
    return found


def inspect_bitsandbytes() -> Finding:
    """Whether bitsandbytes can quantize a small tensor to 4-bit NF4 here (what QLoRA needs)."""
    try:
        import torch
        from bitsandbytes.functional import quantize_4bit

        quantize_4bit(torch.randn(64, 64), quant_type="nf4")
    except Exception as error:  # any failure means QLoRA cannot run here; say why
        return Finding(WARN, "bitsandbytes", f"4-bit NF4 unusable ({type(error).__name__}: {error}); lesson 04 skips training")
    return Finding(OK, "bitsandbytes", "4-bit NF4 quantization works")


def inspect_resources() -> list[Finding]:
    """Memory and free disk, with a warning below what the cpu profile needs."""
    import psutil

    memory_gb = psutil.virtual_memory().total / 2**30
    free_gb = shutil.disk_usage(course_root()).free / 2**30
    return [
        Finding(OK if memory_gb >= 4 else WARN, "memory", f"{memory_gb:.1f} GB RAM"),
        Finding(OK if free_gb >= 2 else WARN, "disk", f"{free_gb:.1f} GB free at {course_root()}"),
    ]


def diagnose() -> list[Finding]:
    """Every finding of `course doctor` (one line each), in the order it prints them."""
    python_ok = sys.version_info[:2] == (3, 11)
    findings = [Finding(OK if python_ok else WARN, "python", f"{platform.python_version()} (course tested with 3.11)")]
    findings += package_findings()
    findings += inspect_accelerator()
    findings.append(inspect_bitsandbytes())
    findings += inspect_resources()
    findings += inspect_compat()
    findings.append(inspect_olive())
    findings.append(inspect_gguf())
    findings.append(inspect_real_model())
    return findings


def inspect_compat() -> list[Finding]:
    """[OK] when every reliance on a library's internals (course_utils/compat.py) holds, else a [WARN] for each."""
    from course_utils import compat

    problems = [problem for reliance in compat.RELIANCES if (problem := compat.verify_reliance(reliance))]
    if not problems:
        return [Finding(OK, "library internals", f"all {len(compat.RELIANCES)} private library behaviours the course "
                                              "relies on still work (course_utils/compat.py)")]
    return [Finding(WARN, "library internals", problem) for problem in problems]


def inspect_real_model() -> Finding:
    """The laptop profile's real SLM: its card, and whether its wheel is cached and its folder built."""
    from course_utils import model_import

    model = model_import.SMOLLM2
    card = f"{model.description} License {model.license}; from {model.package}=={model.version} on PyPI."
    if (model_import.packaged_folder(model) / "config.json").is_file():
        return Finding(OK, model.name, f"built at {model_import.packaged_folder(model)}. {card}")
    if model_import.cached_wheel(model):
        return Finding(OK, model.name, f"wheel cached; built on first use (about 40 s). {card}")
    return Finding(WARN, model.name, f"not fetched: run `course model fetch` (make setup does) while online. {card}")


def inspect_olive() -> Finding:
    """Whether .venv-olive, the Olive CLI's environment for lesson 05's section 8, is built and imports."""
    from course_utils.olive import environment_status

    works, detail = environment_status()
    return Finding(OK if works else WARN, "olive", detail)


def inspect_gguf() -> Finding:
    """Whether llama.cpp (llama-cpp-python and its converter, `make gguf`) is there for lesson 10."""
    from course_utils.gguf import environment_status

    works, detail = environment_status()
    return Finding(OK if works else WARN, "llama.cpp", detail)


def quiet_known_noise() -> None:
    """Hide one harmless warning: bitsandbytes on CPU asking for the optional `kernels` package.

    Installing `kernels` would make bitsandbytes download code from the Hugging Face hub,
    which the course never does; its built-in CPU path is what the lessons use.
    """
    import logging

    logging.getLogger("bitsandbytes.backends.cpu.ops").setLevel(logging.ERROR)


def summary_line() -> str:
    """One line for the top of a notebook: Python, device and the key library versions."""
    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    versions = " | ".join(
        f"{name} {installed_version(name) or 'missing'}" for name in ("torch", "transformers", "peft", "trl")
    )
    return f"python {platform.python_version()} | device {device} | {versions}"
