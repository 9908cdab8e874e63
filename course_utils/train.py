"""Thin wrappers over trl's SFTTrainer and peft: one call trains full, LoRA or IA³ on prompt/completion data.

The loss is on the completion only (trl's default for prompt/completion datasets):
the model learns to write the answer, not to repeat the question.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Sequence

from course_utils import compat
from course_utils.config import Params, share_of_batch
from course_utils.memory import MB, PeakMemory
from course_utils.models import count_parameters, find_lora_target_modules
from course_utils.runs import atomic_directory

METHODS = ("full", "lora", "ia3")


@dataclass
class TrainResult:
    """What a training run produced and measured."""

    model: Any
    method: str
    steps: int
    seconds: float
    tokens_seen: int
    peak_memory_mb: float
    memory_increase_mb: float
    trainable_params: int
    total_params: int
    losses: list[float] = field(default_factory=list)
    log_history: list[dict[str, float]] = field(default_factory=list)
    head_on_answer_positions: bool = False  # trained in compat.head_on_answer_positions on a trl that has its switch

    def curve(self, key: str = "loss") -> tuple[list[int], list[float]]:
        """(steps, values) of a logged quantity, such as "loss" or "eval_loss"."""
        points = [(entry["step"], entry[key]) for entry in self.log_history if key in entry]
        return [step for step, _ in points], [value for _, value in points]

    @property
    def seconds_per_step(self) -> float:
        return self.seconds / self.steps

    @property
    def tokens_per_second(self) -> float:
        return self.tokens_seen / self.seconds

    @property
    def trainable_pct(self) -> float:
        return 100.0 * self.trainable_params / self.total_params


def check_method(method: str) -> None:
    """Raise ValueError unless `method` is one the course trains."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)} (got {method!r})")


def make_peft_config(
    method: str,
    model: Any,
    lora_r: int = 8,
    lora_alpha: float = 16,
    lora_dropout: float = 0.0,
    target_modules: Sequence[str] | str | None = None,
    modules_to_save: Sequence[str] | str | None = None,
) -> Any:
    """The peft config for `method` (None for full fine-tuning); LoRA targets every linear layer by default.

    `target_modules` may be a list or a comma-separated string such as "q_proj,v_proj". `modules_to_save` names
    layers outside the blocks (the output head, the input embedding) that train in full beside the adapters and are
    saved with them: what labels made of tokens the model never wrote need (peft's `modules_to_save`).
    """
    from peft import IA3Config, LoraConfig

    check_method(method)
    if method == "full":
        return None
    if method == "ia3":
        if modules_to_save:
            raise ValueError(f"modules_to_save goes with method 'lora' only (got {modules_to_save!r} with 'ia3')")
        return IA3Config(task_type="CAUSAL_LM")  # peft's per-architecture default targets
    if not isinstance(lora_r, int) or isinstance(lora_r, bool) or lora_r <= 0:
        raise ValueError(f"lora_r must be a positive integer (got {lora_r!r})")
    available = find_lora_target_modules(model)
    targets = _layer_names(target_modules) or available
    unknown = [name for name in targets if name not in available]
    if unknown:
        raise ValueError(
            f"target_modules {unknown} match no linear layer of this model; its linear layers are: {available}"
        )
    return LoraConfig(
        r=lora_r, lora_alpha=lora_alpha, lora_dropout=lora_dropout, target_modules=targets, task_type="CAUSAL_LM",
        modules_to_save=_modules_to_save(model, modules_to_save),
    )


def _modules_to_save(model: Any, names: Sequence[str] | str | None) -> list[str] | None:
    """`names` as a list, checked against the layers outside the blocks that can train in full (ValueError if not).

    A model whose output head is tied to its input embedding (SmolLM2) is refused: peft would train a separate copy
    of one of them, and saving the merged model ties the head back to the untrained embedding, losing the training.
    """
    names = _layer_names(names)
    if names is None:
        return None
    try:
        layers = {model.get_input_embeddings(), model.get_output_embeddings()} - {None}
    except NotImplementedError:  # a model class that does not say which layers are its embeddings
        layers = set()
    savable = sorted({name.rsplit(".", 1)[-1] for name, module in model.named_modules() if module in layers})
    unknown = [name for name in names if name not in savable]
    if unknown:
        raise ValueError(f"modules_to_save {unknown}: only the input embedding and the output head can be named here "
                         f"(this model: {savable}); layers inside the blocks take adapters through target_modules")
    if getattr(getattr(model, "config", None), "tie_word_embeddings", False):
        raise ValueError(f"modules_to_save {list(names)}: this model ties its output head to its input embedding "
                         "(tie_word_embeddings), so a trained copy of one would be lost when the merged model is "
                         "saved and loaded again; leave modules_to_save at None for it")
    return names


def _layer_names(names: Sequence[str] | str | None) -> list[str] | None:
    """Layer names as a list: a comma-separated string such as "q_proj, v_proj" is split; None stays None."""
    if names is None:
        return None
    return [name.strip() for name in names.split(",")] if isinstance(names, str) else list(names)


def sft_config(params: Params, output_dir: Path, max_steps: int, learning_rate: float, **overrides: Any) -> Any:
    """SFTConfig with the course's settings: completion-only loss, short sequences, no checkpoints, seeded.

    Each optimizer step takes `params.batch_size` examples, in `params.gradient_accumulation_steps` micro-batches
    of equal size (ValueError naming the parameter when they do not divide the batch).
    """
    import torch
    from trl import SFTConfig

    on_gpu = torch.cuda.is_available()
    accumulation = params.gradient_accumulation_steps
    settings: dict[str, Any] = dict(
        output_dir=str(output_dir),
        max_steps=max_steps,
        per_device_train_batch_size=share_of_batch(params.batch_size, accumulation, "gradient_accumulation_steps"),
        gradient_accumulation_steps=accumulation,
        learning_rate=learning_rate,
        lr_scheduler_type="cosine",
        warmup_steps=max(1, max_steps // 10),
        logging_steps=max(1, max_steps // 20),
        max_length=params.max_length,
        completion_only_loss=True,
        activation_checkpointing=False,  # trl turns it on by default; lessons 04 and 07 measure what it saves
        save_strategy="no",
        report_to=[],
        seed=params.seed,
        data_seed=params.seed,
        use_cpu=not on_gpu,
        bf16=on_gpu and torch.cuda.is_bf16_supported(),
        fp16=on_gpu and not torch.cuda.is_bf16_supported(),
        include_num_input_tokens_seen="non_padding",
        dataloader_num_workers=0,
    )
    settings.update(overrides)
    return SFTConfig(**settings)


def fine_tune(
    model: Any,
    tokenizer: Any,
    train_dataset: Any,
    params: Params,
    output_dir: Path,
    peft_config: Any = None,
    max_steps: int | None = None,
    learning_rate: float | None = None,
    eval_dataset: Any = None,
    callbacks: list[Any] | None = None,
    **config_overrides: Any,
) -> TrainResult:
    """Train `model` with SFTTrainer: full fine-tuning, or the adapter `peft_config` describes; time and measure it.

    The learning rate is params.learning_rate for full fine-tuning and params.peft_learning_rate with a peft
    config, unless `learning_rate` is given. `config_overrides` go to SFTConfig (for example
    `eval_strategy="steps"` with an `eval_dataset`).
    """
    from trl import SFTTrainer

    method = "full" if peft_config is None else str(peft_config.peft_type.value).lower()  # "lora", "ia3"
    steps = max_steps or params.max_steps
    rate = learning_rate or (params.learning_rate if method == "full" else params.peft_learning_rate)
    args = sft_config(params, output_dir, steps, rate, **config_overrides)
    trainer = SFTTrainer(
        model=model,
        args=args,
        train_dataset=train_dataset,
        eval_dataset=eval_dataset,
        processing_class=tokenizer,
        peft_config=peft_config,
        callbacks=callbacks,
    )
    counts = count_parameters(trainer.model)
    device = str(trainer.model.device)
    # On a CPU, score only the answer's positions in trl's LM head, as trl does on a GPU. Where the head trains nothing
    # (LoRA, IA3, QLoRA) the weights are the same bit for bit; where it trains (full fine-tuning, modules_to_save
    # lm_head) its weight's gradient adds the same terms in another order, about 1e-7 apart. Steps on SmolLM2 ran
    # 1.55x (LoRA) and 1.61x (full) faster (bench/answer_positions.py).
    with PeakMemory(device) as memory, compat.head_on_answer_positions() as answer_positions_only:
        started = time.perf_counter()
        trainer.train()
        seconds = time.perf_counter() - started
    trainer.model.eval()
    return TrainResult(
        model=trainer.model,
        method=method,
        steps=trainer.state.global_step,
        seconds=seconds,
        tokens_seen=int(trainer.state.num_input_tokens_seen),
        peak_memory_mb=memory.peak_mb,
        memory_increase_mb=memory.increase_mb,
        trainable_params=int(counts["trainable"]),
        total_params=int(counts["total"]),
        losses=[entry["loss"] for entry in trainer.state.log_history if "loss" in entry],
        log_history=list(trainer.state.log_history),
        head_on_answer_positions=answer_positions_only,
    )


def extraction_params(params: Params) -> Params:
    """`params` as the extraction adapter trains with them: extract_max_steps steps at extract_learning_rate (each,
    when None, the tone adapter's max_steps or peft_learning_rate), on up to data.EXTRACT_MAX_LENGTH tokens per example,
    since a request and its record are longer than a tone example."""
    from course_utils.data import EXTRACT_MAX_LENGTH

    return replace(params, max_steps=params.extract_max_steps or params.max_steps,
                   peft_learning_rate=params.extract_learning_rate or params.peft_learning_rate,
                   max_length=max(params.max_length, EXTRACT_MAX_LENGTH))


def folder_size_mb(path: Path) -> float:
    """Total size of the files in a folder, in MB."""
    return sum(file.stat().st_size for file in Path(path).rglob("*") if file.is_file()) / MB


def save_weights(model: Any, output_dir: Path) -> Path:
    """save_pretrained (safetensors) into `output_dir`, atomically; returns the folder (`folder_size_mb` sizes it).

    A peft model saves only its adapter; a plain model saves every weight.
    """
    with atomic_directory(output_dir) as staging:
        model.save_pretrained(str(staging), safe_serialization=True)
    return Path(output_dir)


def divergence(log_history: list[dict[str, float]], factor: float = 3.0) -> str | None:
    """A sentence saying where training diverged (loss NaN/inf, or above `factor` x its first value), or None."""
    import math

    losses = [(entry["step"], entry["loss"]) for entry in log_history if "loss" in entry]
    if not losses:
        return None
    first = losses[0][1]
    for step, loss in losses:
        if not math.isfinite(loss):
            return f"diverged at step {step}: the loss is {loss}"
        if loss > factor * first:
            return f"diverged at step {step}: loss {loss:.3g} is over {factor:g}x its first value ({first:.3g})"
    return None
