"""GGUF and llama.cpp (lesson 10): convert a merged model with llama.cpp's own converter, quantize it, run it.

`make gguf` builds llama-cpp-python from its pinned source archive (CPU) and installs it, with the converter's one
extra need (sentencepiece), into the course's .venv: none of them disagrees with the course's pins, so no second
environment is needed, unlike Olive's. From the same archive it extracts llama.cpp's converter
(`convert_hf_to_gguf.py`, its `conversion/` package and its own `gguf-py`) into .cache/llama.cpp/. Pins and the
archive's checksum: requirements-gguf.txt and the constants below (tests/test_gguf.py checks they agree).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from course_utils.config import course_root

LLAMA_CPP_PYTHON_VERSION = "0.3.36"
SOURCE_ARCHIVE = f"llama_cpp_python-{LLAMA_CPP_PYTHON_VERSION}.tar.gz"
SOURCE_SHA256 = "832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e"
QUANTIZED_TYPE = "Q4_K_M"  # the type lesson 10's quantizer makes from the f16 file
BUILD_HINT = "run `make gguf` in the course folder (about 6 minutes the first time: it compiles llama.cpp)"


class ConversionError(RuntimeError):
    """The converter failed; the message is its own last error line."""


@dataclass(frozen=True)
class ConverterRun:
    """One finished conversion: the command, how long it took, and what it printed."""

    command: list[str]
    seconds: float
    output: str


def converter_dir() -> Path:
    """Where `make gguf` extracts llama.cpp's converter: .cache/llama.cpp/ of the course."""
    return course_root() / ".cache" / "llama.cpp"


def converter_script() -> Path:
    """llama.cpp's convert_hf_to_gguf.py (it exists once `make gguf` has run)."""
    return converter_dir() / "convert_hf_to_gguf.py"


def environment_status() -> tuple[bool, str]:
    """(works, one line): whether llama-cpp-python imports at the pinned version and the converter is extracted.

    COURSE_SIMULATE_NO_LLAMA_CPP=1 answers "no", so lesson 10's path without llama.cpp can be tested anywhere.
    """
    import importlib.metadata as metadata
    import importlib.util

    if os.environ.get("COURSE_SIMULATE_NO_LLAMA_CPP") == "1":
        return False, f"simulated as missing (COURSE_SIMULATE_NO_LLAMA_CPP=1); to build it, {BUILD_HINT}"

    try:
        version = metadata.version("llama-cpp-python")
    except metadata.PackageNotFoundError:
        return False, f"llama-cpp-python is not installed: {BUILD_HINT}"
    if version != LLAMA_CPP_PYTHON_VERSION:
        return False, f"llama-cpp-python {version} is installed, the course pins {LLAMA_CPP_PYTHON_VERSION}: {BUILD_HINT}"
    if importlib.util.find_spec("sentencepiece") is None:
        return False, f"sentencepiece (which llama.cpp's converter imports) is missing: {BUILD_HINT}"
    if not converter_script().is_file() or not (converter_dir() / "conversion").is_dir():
        return False, f"llama.cpp's converter is not in {converter_dir()}: {BUILD_HINT}"
    try:
        import llama_cpp  # noqa: F401  (loads the compiled library)
    except (ImportError, OSError) as error:
        return False, f"llama-cpp-python {version} does not load ({error}): {BUILD_HINT}"
    return True, f"llama-cpp-python {version} (llama.cpp compiled for this CPU) and its converter in {converter_dir()}"


def converter_error(output: str, limit: int = 400) -> str:
    """What a failed conversion says went wrong: its last `SomeError: message` line, else its last line (read as
    lesson 05 reads a failed Olive command's output, olive.olive_error)."""
    from course_utils.olive import olive_error

    return olive_error(output, lines=1, limit=limit)


def convert(model_dir: Path, output_file: Path, outtype: str = "f16", pre_tokenizer: str | None = None,
            timeout: float = 900) -> ConverterRun:
    """Convert a Hugging Face model folder to one GGUF file with llama.cpp's converter, in a subprocess.

    `outtype` is the converter's --outtype (f16, q8_0, ...). `pre_tokenizer` names the BPE pre-tokenizer when the
    converter does not recognise the tokenizer (scripts/gguf_convert.py). Raises ConversionError with its message.
    """
    if not converter_script().is_file():
        raise FileNotFoundError(f"llama.cpp's converter is missing ({converter_script()}): {BUILD_HINT}")
    output_file = Path(output_file)
    output_file.parent.mkdir(parents=True, exist_ok=True)
    partial = output_file.with_name(output_file.name + ".partial")
    command = [sys.executable, str(course_root() / "scripts" / "gguf_convert.py"), str(converter_script())]
    if pre_tokenizer:
        command += ["--pre-tokenizer", pre_tokenizer]
    command += ["--", str(model_dir), "--outfile", str(partial), "--outtype", outtype]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONWARNINGS": "ignore"}
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)
    output = done.stdout + done.stderr
    if done.returncode != 0:
        partial.unlink(missing_ok=True)
        raise ConversionError(converter_error(output))
    os.replace(partial, output_file)  # a complete file, or none
    return ConverterRun(command, time.perf_counter() - started, output)


def quantize(source: Path, target: Path, type_name: str = QUANTIZED_TYPE, threads: int | None = None) -> Path:
    """Quantize a GGUF file with llama.cpp's quantizer (what the `llama-quantize` tool calls); lesson 10 shows the call."""
    import ctypes

    import llama_cpp

    ftype = getattr(llama_cpp, f"LLAMA_FTYPE_MOSTLY_{type_name.upper()}", None)
    if ftype is None:
        known = sorted(name.removeprefix("LLAMA_FTYPE_MOSTLY_") for name in dir(llama_cpp)
                       if name.startswith("LLAMA_FTYPE_MOSTLY_"))
        raise ValueError(f"type_name must be a llama.cpp quantization type ({', '.join(known)}); got {type_name!r}")
    target = Path(target)
    partial = target.with_name(target.name + ".partial")
    settings = llama_cpp.llama_model_quantize_default_params()
    settings.ftype = ftype
    settings.nthread = threads or os.cpu_count() or 1
    status = llama_cpp.llama_model_quantize(str(source).encode(), str(partial).encode(), ctypes.byref(settings))
    if status != 0:
        partial.unlink(missing_ok=True)
        raise RuntimeError(f"llama.cpp could not quantize {source} to {type_name} (status {status})")
    os.replace(partial, target)
    return target


def tensor_types(path: Path) -> dict[str, int]:
    """How many tensors of each storage type (F32, F16, Q8_0, Q4_K, ...) a GGUF file holds, read with gguf-py."""
    from collections import Counter

    from gguf import GGUFReader

    return dict(Counter(tensor.tensor_type.name for tensor in GGUFReader(str(path)).tensors).most_common())


def metadata_text(path: Path, key: str) -> str | None:
    """A string field of a GGUF file's metadata (such as tokenizer.chat_template), or None when it is absent."""
    from gguf import GGUFReader

    field = GGUFReader(str(path)).get_field(key)
    return None if field is None else field.contents()


def load(path: Path, threads: int | None = None, context: int = 256) -> Any:
    """A llama_cpp.Llama for one GGUF file, quiet, with `threads` CPU threads (default: as many as torch uses).

    `context`: tokens of prompt and answer it holds; 256, course-tiny's whole window, fits every lesson prompt.
    """
    import llama_cpp
    import torch

    threads = threads or torch.get_num_threads()
    return llama_cpp.Llama(model_path=str(path), n_ctx=context, n_threads=threads, n_threads_batch=threads,
                           seed=0, verbose=False)


def greedy_ids(llm: Any, prompt_ids: Sequence[int], max_new_tokens: int, stop_ids: Sequence[int] = (),
               whole_prompt: bool = False) -> list[int]:
    """Greedy new token ids after `prompt_ids`, stopping after a token in `stop_ids` (kept) or at `max_new_tokens`.

    The stop set is the caller's: a server stops at the tokens it counts as the end of a turn, and lesson 10
    shows what happens when that set is wrong. llama-cpp-python keeps the previous prompt's key/value cache and
    reuses its longest shared start; `whole_prompt=True` clears it first, so every prompt runs whole, as it would
    alone. (Lesson 06's harness runs the PyTorch and ONNX variants' shared first tokens once, so per-answer latencies
    of GGUF files and of those variants do not compare like with like; lesson 10 says so.)
    """
    if whole_prompt:
        llm.reset()
    produced: list[int] = []
    for token in llm.generate(list(prompt_ids), temp=0.0):
        produced.append(int(token))
        if token in stop_ids or len(produced) >= max_new_tokens:
            break
    return produced


def end_of_turn_ids(llm: Any) -> list[int]:
    """The tokens llama.cpp counts as the end of generation (end of text, end of turn) for this file's vocabulary."""
    import llama_cpp

    vocab = llama_cpp.llama_model_get_vocab(llm.model)
    return [token for token in range(llm.n_vocab()) if llama_cpp.llama_vocab_is_eog(vocab, token)]


def answers(llm: Any, tokenizer: Any, prompts: Sequence[str], max_new_tokens: int = 8) -> list[str]:
    """Greedy answers to already-templated prompts (tokenized by the course's tokenizer), decoded as lesson 05 does;
    each prompt runs whole."""
    stops = end_of_turn_ids(llm)
    return [tokenizer.decode(greedy_ids(llm, tokenizer(prompt, add_special_tokens=False)["input_ids"],
                                        max_new_tokens, stops, whole_prompt=True), skip_special_tokens=True).strip()
            for prompt in prompts]


def decode_speed(llm: Any, prompt_ids: Sequence[int], new_tokens: int, repeats: int = 3) -> float:
    """Best-of-`repeats` tokens/s for exactly `new_tokens` greedy tokens, the prompt included (as lesson 05 times)."""
    best = 0.0
    for _ in range(repeats):
        started = time.perf_counter()
        produced = greedy_ids(llm, prompt_ids, new_tokens, whole_prompt=True)
        best = max(best, len(produced) / (time.perf_counter() - started))
    return best


def gguf_variant(name: str, path: Path, tokenizer: Any, threads: int | None = None) -> Any:
    """A GGUF file as a lesson-06 Variant (evaluate.score_variant): greedy answers from llama.cpp, size on disk."""
    from course_utils.evaluate import Variant
    from course_utils.memory import MB

    llm = load(path, threads)
    return Variant(name, lambda prompts, n: answers(llm, tokenizer, prompts, max_new_tokens=n), Path(path).stat().st_size / MB)


# --- Ollama ----------------------------------------------------------------------------------------------------------
def ollama_template(tokenizer: Any) -> str:
    """The tokenizer's chat template for one question, as an Ollama TEMPLATE (Go template with .System, .Prompt).

    Rendered from the tokenizer's own Jinja template with placeholders, so it is the text the model was trained on.
    The course's tokenizers have no default system message (`models.load_tokenizer`), so their TEMPLATE has no
    `.System`.
    """
    from course_utils.models import PROMPT_SLOT, SYSTEM_SLOT, default_system_message

    system = default_system_message(tokenizer)
    messages = [{"role": "user", "content": PROMPT_SLOT}]
    if system is not None:
        messages.insert(0, {"role": "system", "content": SYSTEM_SLOT})
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    return text.replace(SYSTEM_SLOT, "{{ .System }}").replace(PROMPT_SLOT, "{{ .Prompt }}")


def modelfile(gguf_name: str, tokenizer: Any, stops: Sequence[str]) -> str:
    """An Ollama Modelfile for a GGUF file beside it: its template, default system prompt, stop tokens, greedy."""
    if not stops:
        raise ValueError("stops must name at least one token that ends a turn (the tokenizer's end-of-turn token)")
    from course_utils.models import default_system_message

    lines = [f"FROM ./{gguf_name}", f'TEMPLATE """{ollama_template(tokenizer)}"""']
    system = default_system_message(tokenizer)
    if system is not None:
        lines.append(f'SYSTEM """{system}"""')
    lines += [f'PARAMETER stop "{stop}"' for stop in stops]
    lines.append("PARAMETER temperature 0")
    return "\n".join(lines) + "\n"


def render_modelfile(text: str, prompt: str) -> str:
    """What Ollama would send the model for one question under this Modelfile (its TEMPLATE with SYSTEM and the prompt)."""
    import re

    template = re.search(r'^TEMPLATE """(.*?)"""$', text, re.S | re.M)
    system = re.search(r'^SYSTEM """(.*?)"""$', text, re.S | re.M)
    if template is None:
        raise ValueError("the Modelfile has no TEMPLATE \"\"\"...\"\"\" block")
    rendered = template.group(1).replace("{{ .Prompt }}", prompt)
    return rendered.replace("{{ .System }}", system.group(1) if system else "")


def modelfile_stops(text: str) -> list[str]:
    """The stop strings of a Modelfile's PARAMETER stop lines, in order."""
    import re

    return re.findall(r'^PARAMETER stop "(.*)"$', text, re.M)
