"""Earlier lessons' trained models, reused when they match, or made now: so every lesson runs standalone.

Each function looks in the results folder of the lesson that makes the artifact. It reuses
the artifact only if that lesson's metrics.json records the same training parameters;
otherwise it trains or exports the artifact into the calling lesson's own folder.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

from course_utils.config import PARAMETER_NAMES, Params
from course_utils.lessons import maker_of
from course_utils.runs import run_dir

# The parameters that cannot change what a training or an export produces: how a lesson scores it (n_test, n_shots,
# the test files) and where results go. Every other field of Params is part of the reuse key, so a parameter added
# later (or one such as `labels`, whose order is in every training prompt) makes a lesson train its own artifact
# rather than silently reuse one made differently.
NOT_SHAPING = ("profile", "n_test", "n_shots", "n_extract", "tone_test", "qa_test", "extract_test", "out_dir",
               "preference_train", "preference_test", "dpo_beta")  # lesson 09's: it leaves no artifact to reuse


# The parameters that shape lesson 03's extract adapter alone: every other artifact is the same whatever they are, so a
# learner who tries other extraction settings in lesson 03 keeps the tone adapters, the exports and lesson 02's models.
EXTRACT_ONLY = ("extract_train", "extract_max_steps", "extract_learning_rate")


def reuse_key(params: Params | dict[str, Any], artifact: str = "") -> dict[str, Any]:
    """The parameters `artifact` must have been made with to be reused: every field of Params but NOT_SHAPING, and
    but EXTRACT_ONLY unless the artifact is the extract adapter."""
    values = vars(params) if isinstance(params, Params) else params
    left_out = NOT_SHAPING if artifact == "adapter-extract" else NOT_SHAPING + EXTRACT_ONLY
    return {name: values.get(name) for name in PARAMETER_NAMES if name not in left_out}


def reusable(params: Params, artifact: str) -> Path | None:
    """`artifact` from the lesson that makes it (course_utils.lessons) if it is there and was made with the same
    reuse key, else None."""
    folder = run_dir(params, maker_of(artifact).stem)
    path, metrics_file = folder / artifact, folder / "metrics.json"
    if not path.exists() or not metrics_file.exists():
        return None
    recorded = json.loads(metrics_file.read_text()).get("params", {})
    return path if reuse_key(recorded, artifact) == reuse_key(params, artifact) else None


def _train(params: Params, method: str, dataset: Any, target: Path, quantized: bool = False) -> Path:
    """Train `method` on `dataset` (prompt/completion pairs) at the current parameters; save the weights to `target`."""
    from transformers import set_seed

    from course_utils import models, train

    set_seed(params.seed)
    tokenizer = models.load_tokenizer(params.model_id)
    if quantized:
        from course_utils import quantization

        model = quantization.load_4bit(params.model_id, for_training=True)
    else:
        model = models.load_model(params.model_id)
    peft_config = None if method == "full" else train.make_peft_config(
        "lora", model, lora_r=params.lora_r, lora_alpha=params.lora_alpha, lora_dropout=params.lora_dropout,
        target_modules=params.target_modules, modules_to_save=params.modules_to_save)
    result = train.fine_tune(model, tokenizer, dataset, params, target.parent / "trainer", peft_config)
    train.save_weights(result.model, target)
    print(f"trained {target.name} now ({result.seconds:.1f} s): no matching one from an earlier lesson")
    return target


def _tone(rows: Sequence[dict[str, str]], labels: Sequence[str]) -> Any:
    from course_utils import data

    return data.tone_dataset(rows, labels)


def full_checkpoint(params: Params, rows: Sequence[dict[str, str]], labels: Sequence[str], work_dir: Path) -> Path:
    """Lesson 02's fully fine-tuned model, or one trained now."""
    return reusable(params, "checkpoint-full") or _train(
        params, "full", _tone(rows, labels), work_dir / "checkpoint-full")


def lora_adapter(params: Params, rows: Sequence[dict[str, str]], labels: Sequence[str], work_dir: Path) -> Path:
    """Lesson 03's tone adapter, or one trained now."""
    return reusable(params, "adapter-tone") or _train(params, "lora", _tone(rows, labels), work_dir / "adapter-tone")


def extract_adapter(params: Params, work_dir: Path) -> Path:
    """Lesson 03's second adapter (trained on the extraction requests, with the short prompt, at
    train.extraction_params), or one trained now."""
    from course_utils import data, train

    found = reusable(params, "adapter-extract")
    if found:
        return found
    requests = data.extract_dataset(data.load_extract(params.extract_train))
    return _train(train.extraction_params(params), "lora", requests, work_dir / "adapter-extract")


def qlora_adapter(params: Params, rows: Sequence[dict[str, str]], labels: Sequence[str], work_dir: Path) -> Path:
    """Lesson 04's QLoRA adapter, or one trained now on a 4-bit base."""
    return reusable(params, "adapter-qlora") or _train(
        params, "lora", _tone(rows, labels), work_dir / "adapter-qlora", quantized=True)


def merged_model(params: Params, adapter_dir: Path, work_dir: Path) -> Path:
    """Lesson 05's merged model, or the adapter merged now."""
    from course_utils import export, models

    found = reusable(params, "merged-hf")
    if found:
        return found
    tokenizer = models.load_tokenizer(params.model_id)
    return export.merge_adapter(models.load_model(params.model_id), adapter_dir, tokenizer, work_dir / "merged-hf")


def onnx_int4(params: Params, merged_dir: Path, work_dir: Path) -> Path:
    """Lesson 05's int4 ONNX export, or the merged model exported now."""
    from course_utils import export

    return reusable(params, "onnx-int4") or export.build_onnx(merged_dir, work_dir / "onnx-int4", "int4")


def load_adapter_model(params: Params, adapter_dir: Path, quantized: bool = False) -> Any:
    """The base model (4-bit when `quantized`) with the adapter in `adapter_dir` on top, in eval mode."""
    from peft import PeftModel

    from course_utils import models

    if quantized:
        from course_utils import quantization

        base = quantization.load_4bit(params.model_id)
    else:
        base = models.load_model(params.model_id)
    return PeftModel.from_pretrained(base, str(adapter_dir)).eval()
