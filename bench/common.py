"""Shared bits of the benchmark scripts: the machine description, a markdown table, JSON results, the 135 M shape."""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path
from typing import Any, Sequence

ROOT = Path(__file__).resolve().parents[1]


def machine() -> dict[str, Any]:
    """CPU model, cores, RAM, GPU (if any) and the library versions that matter for the numbers."""
    import psutil
    import torch

    from course_utils.doctor import installed_version

    cpu = platform.processor() or "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        names = [line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines() if line.startswith("model name")]
        cpu = names[0] if names else cpu
    return {
        "date": time.strftime("%Y-%m-%d"),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "ram_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "python": platform.python_version(),
        **{name: installed_version(name) for name in ("torch", "transformers", "peft", "trl", "bitsandbytes",
                                                       "onnxruntime", "onnxruntime-genai")},
    }


def speed_probe(repeats: int = 3) -> float:
    """Seconds for a fixed torch workload on this machine's threads (the median of `repeats`; lower is faster).

    A training step of a small MLP in float32 (about 0.5 s on 2 cores). The same machine runs from one hour to the
    next at speeds that differ by up to 1.5x; a benchmark that prints this before and after its runs says which
    kind of hour it ran in, and a time divided by it can be set beside another hour's.
    """
    import statistics

    import torch

    generator = torch.Generator().manual_seed(0)
    layers = torch.nn.Sequential(torch.nn.Linear(1024, 4096), torch.nn.GELU(), torch.nn.Linear(4096, 1024))
    inputs = torch.randn(512, 1024, generator=generator)
    times = []
    for _ in range(repeats + 1):  # the first is a warm-up
        start = time.perf_counter()
        for _ in range(4):
            layers.zero_grad()
            layers(inputs).square().mean().backward()
        times.append(time.perf_counter() - start)
    return statistics.median(times[1:])


def markdown_table(rows: Sequence[dict[str, Any]]) -> str:
    """Rows of dicts as a markdown table (floats to 3 significant digits)."""
    columns = list(rows[0])
    show = lambda value: f"{value:.3g}" if isinstance(value, float) else str(value)  # noqa: E731
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(show(row[c]) for c in columns) + " |" for row in rows]
    return "\n".join(lines)


def report(name: str, rows: Sequence[dict[str, Any]], extra: dict[str, Any] | None = None) -> Path:
    """Print the machine and the table, and write both as JSON to runs/bench/<name>.json."""
    from course_utils.runs import atomic_write_text

    described = machine()
    print(f"\n## {name} ({described['date']})\n")
    print(", ".join(f"{k}: {v}" for k, v in described.items() if v is not None))
    print()
    print(markdown_table(rows))
    path = ROOT / "runs" / "bench" / f"{name}.json"
    atomic_write_text(path, json.dumps({"machine": described, "rows": list(rows), **(extra or {})}, indent=2))
    print(f"\nwritten: {path}")
    return path


def smollm2_135m_folder(cache: Path | None = None) -> Path:
    """A random-init Llama with SmolLM2-135M's shape and course-tiny's tokenizer (`models.build_smollm2_shape`)."""
    from course_utils import models

    return models.build_smollm2_shape(cache)
