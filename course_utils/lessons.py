"""The one table of the lessons: stem, title, what each leaves for later lessons, and what a lab reads from it.

`artifacts` (which lesson made a model a later lesson reuses), the labs (which numbers a sweep collects and a
search maximises), the tests and `course run` read it. A lesson's notebook is `notebooks/<stem>.ipynb`; its last
cell writes `runs/<profile>/<stem>/metrics.json` under that stem (tests/test_conventions.py checks both).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Lesson:
    """One lesson: its stem and title, the artifacts it leaves in its run folder, and its lab metrics."""

    stem: str
    title: str
    artifacts: tuple[str, ...] = ()  # folders in runs/<profile>/<stem>/ that later lessons reuse (artifacts.py)
    sweep_metrics: tuple[str, ...] = ()  # what `course sweep` collects when the instructor names none
    search_metric: str | None = None  # what `course search` maximises when the instructor names none


LESSONS: tuple[Lesson, ...] = (
    Lesson("01_intro", "Introduction: what fine-tuning is, and where we start from"),
    Lesson("02_full_vs_peft", "Full fine-tuning vs PEFT", artifacts=("checkpoint-full",),
           sweep_metrics=("methods.full.accuracy", "methods.lora.accuracy", "methods.ia3.accuracy"),
           search_metric="methods.lora.accuracy"),
    Lesson("03_lora", "LoRA, up close", artifacts=("adapter-tone", "adapter-extract"),
           sweep_metrics=("lora_accuracy", "adapter_mb", "lora_trainable_pct"), search_metric="lora_accuracy"),
    Lesson("04_qlora", "QLoRA: LoRA on a 4-bit model", artifacts=("adapter-qlora",),
           sweep_metrics=("lora_accuracy", "qlora_accuracy", "qlora_minus_lora"), search_metric="qlora_accuracy"),
    Lesson("05_export", "Export: merge → ONNX fp32 / int8 / int4 → onnxruntime-genai",
           artifacts=("merged-hf", "onnx-int4")),
    Lesson("06_eval", "Evaluation: one harness for every variant"),
    Lesson("07_troubleshooting", "Troubleshooting: reproduce, diagnose, fix, measure"),
    Lesson("08_scale_out", "Scale out: gradient accumulation, data parallel and sharded training"),
    Lesson("09_preference", "Preference tuning: DPO and ORPO, measured on the format they teach",
           sweep_metrics=("dpo.format_share", "dpo.accuracy", "orpo.format_share"), search_metric="dpo.accuracy"),
    Lesson("10_gguf", "GGUF and llama.cpp: the other edge format, and the chat-template trap"),
)
STEMS: tuple[str, ...] = tuple(lesson.stem for lesson in LESSONS)


def lesson(stem: str) -> Lesson | None:
    """The lesson with this stem, or None for another notebook (a lab's own, say)."""
    return next((entry for entry in LESSONS if entry.stem == stem), None)


def maker_of(artifact: str) -> Lesson:
    """The lesson that leaves `artifact` for later lessons; KeyError naming the known artifacts otherwise."""
    for entry in LESSONS:
        if artifact in entry.artifacts:
            return entry
    known = ", ".join(name for entry in LESSONS for name in entry.artifacts)
    raise KeyError(f"no lesson makes {artifact!r}; the artifacts lessons leave are: {known}")
