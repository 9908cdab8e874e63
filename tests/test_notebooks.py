"""Every lesson runs at the ci profile with papermill, and its metrics.json holds what its prose claims.

Each lesson has a check function below; a new notebook without one fails, so no lesson is only "it ran".
Thresholds are written next to each assertion, with the reason.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Callable

import pytest

from course_utils import config, lessons
from course_utils.instructor import runner

NOTEBOOKS = runner.available_notebooks()


@pytest.fixture(scope="session")
def run_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One results folder for the session, so a later lesson can reuse an earlier one's artifacts."""
    return tmp_path_factory.mktemp("runs-ci")


def images_in(notebook: Path) -> int:
    cells = json.loads(notebook.read_text())["cells"]
    return sum("image/png" in output.get("data", {}) for c in cells for output in c.get("outputs", []))


def check_01_intro(metrics: dict[str, Any], executed: Path) -> None:
    assert metrics["chance_accuracy"] == 0.25
    # Shipped data sizes, and the held-out split shares no phrase with training.
    assert metrics["n_train"] >= 1000 and metrics["n_test"] == 200 and metrics["split_overlap"] == 0
    assert metrics["labels"] == ["fear", "joy", "sadness", "surprise"]
    # "Every example fits in under 128 tokens with either model" (course-tiny: 103; SmolLM2: 72, 88 with its default
    # system message).
    assert 0 < metrics["max_tokens"] < 128
    # Section 6: the classical classifier "gets every one right" of its training phrases and scores 29 % on the test
    # phrases at both profiles (it uses no language model; measured 29 %, interval 23 % to 35 %, which holds chance):
    # the words the prose names are among the six top words it printed.
    assert metrics["classical_train_accuracy"] == 1.0
    assert metrics["classical_accuracy"] == pytest.approx(0.29, abs=0.005)
    assert metrics["classical_ci"] == pytest.approx([0.23, 0.35], abs=0.005) and metrics["classical_ci"][0] <= 0.25
    top = metrics["classical_top_words"]
    assert {"proud", "for"} <= set(top["joy"]) and {"footsteps", "is"} <= set(top["fear"])
    assert {"lonely", "grandmother"} <= set(top["sadness"]) and {"baffled"} <= set(top["surprise"])
    # "Fine-tuning, in lesson 02, ... well above the classifier" (asserted by check_02 too): when lesson 02 had run.
    assert all(accuracy > metrics["classical_ci"][1] for accuracy in metrics["fine_tuned_lesson_02"].values())
    if metrics["params"]["model_id"] == config.COURSE_TINY:
        # "course-tiny reads at most 256 tokens, so at the ci profile it gets one example (n_shots = 1), which leaves
        # room for the answer": measured 176 tokens, and the 16 of an answer fit.
        assert metrics["context_window"] == 256
        assert metrics["system_message_tokens"] is None  # "Course-tiny's template ... writes no system turn"
        assert metrics["n_shots"] == 1 and metrics["few_shot_longest_prompt"] + 16 <= 256
        # "does no better with an example in its prompt: 0 % strict and lenient" (measured 0 % and 0 %).
        assert metrics["few_shot_accuracy"] == 0.0 and metrics["few_shot_lenient_accuracy"] == 0.0
        # "near zero": the base model has never seen the task. Measured 0.0 at ci; allow up to 10 %.
        assert metrics["base_accuracy"] <= 0.10 and metrics["base_lenient_accuracy"] <= 0.10
        # "most answers are invalid": measured 100 %; at least 80 %.
        assert metrics["base_invalid_rate"] >= 0.80
        # "no better than chance" when choosing among 4 balanced labels: 25 % +- 10 points.
        assert metrics["base_ranked_accuracy"] == pytest.approx(0.25, abs=0.10)
        # "254 K parameters in 2 layers", a separate head.
        assert metrics["model_params"] == 254_272 and metrics["tied_head"] is False
        # Pretraining curve, length histogram, the baseline bar chart and the alternatives' chart are drawn.
        assert images_in(executed) >= 4
        return
    # The real SLM (the cpu profile, and the real tier). "134.5 million in 30 layers", the head tied.
    assert metrics["params"]["model_id"] == config.SMOLLM2_135M
    assert metrics["model_params"] == 134_515_008 and metrics["tied_head"] is True
    # Section 4: "the course's models.load_tokenizer removes the sentence ... about a fifth of each example's tokens":
    # the first training example, 79 tokens with SmolLM2's default system message and 63 without (2026-12-05).
    assert metrics["system_message_tokens"] == [79, 63]
    # "strict accuracy is 0 % and every answer is invalid": measured exactly that (greedy, so it repeats).
    assert metrics["base_accuracy"] == 0.0 and metrics["base_invalid_rate"] == 1.0
    # "67 % of its answers name exactly one label, and that label is right 57 % of the time: lenient accuracy 38 %":
    # measured 67 %, 56.7 % and 38 % on the 200 phrases (2026-12-05, without the default system message; 64 %, 62.5 %
    # and 40 % with it); allow 5 points either way for a different CPU's rounding.
    assert metrics["base_names_one_label"] == pytest.approx(0.67, abs=0.05)
    assert metrics["base_lenient_accuracy"] / metrics["base_names_one_label"] == pytest.approx(0.57, abs=0.05)
    assert metrics["base_lenient_accuracy"] == pytest.approx(0.38, abs=0.05)
    # "Forced to choose by likelihood, it does no better than chance: 29 %, and the interval (23 % to 35 %) holds 25 %"
    # (with the default system message it had picked 35 %, interval 28.5 % to 41.5 %).
    low, high = metrics["base_ranked_ci"]
    assert metrics["base_ranked_accuracy"] == pytest.approx(0.29, abs=0.05) and low <= 0.25 <= high
    assert [low, high] == pytest.approx([0.23, 0.35], abs=0.05)
    # Section 6, few-shot: "with four examples, about a third of its answers (32 %) are now a label ... mostly fear
    # (27 of 64) ... almost never joy ... 17 % strict, below chance (the interval, 12 % to 22.5 %, stays under 25 %)".
    # Measured exactly that (greedy, 2026-12-05): 64 labels, 27 of them fear, 2 joy.
    # "SmolLM2 reads 8,192 and gets one per label (n_shots = 4)".
    assert metrics["n_shots"] == 4 and metrics["context_window"] == 8192
    assert 1 - metrics["few_shot_invalid_rate"] == pytest.approx(0.32, abs=0.05)
    answered = metrics["few_shot_answered_labels"]
    assert answered.get("fear", 0) == max(answered.values()) and answered.get("joy", 0) <= 0.1 * sum(answered.values())
    assert metrics["few_shot_accuracy"] == pytest.approx(0.17, abs=0.03) and metrics["few_shot_ci"][1] < 0.25
    assert metrics["few_shot_ci"] == pytest.approx([0.12, 0.225], abs=0.03)
    # "its lenient score is 16.5 %, below the 38 % its zero-shot sentences named".
    assert metrics["few_shot_lenient_accuracy"] == pytest.approx(0.165, abs=0.03)
    assert metrics["few_shot_lenient_accuracy"] < metrics["base_lenient_accuracy"]
    assert images_in(executed) >= 3  # length histogram, the baseline bars, the alternatives (no pretraining curve)


def check_02_full_vs_peft(metrics: dict[str, Any], executed: Path) -> None:
    methods = metrics["methods"]
    fields = {"trainable_params", "trainable_pct", "seconds_per_step", "tokens_per_second", "peak_memory_mb",
              "checkpoint_mb", "accuracy"}
    assert set(methods) == {"full", "lora", "ia3"} and all(fields <= set(m) for m in methods.values())
    base = metrics["base_accuracy"]
    real = metrics["params"]["model_id"] != config.COURSE_TINY  # SmolLM2 at the cpu profile
    assert base <= 0.10
    # "LoRA learns the task well above the base model": measured 56 % vs 0 % at ci (2026-12-04), 83 % vs 0 % on SmolLM2
    # (cpu, 2026-12-05); require +30 points.
    assert methods["lora"]["accuracy"] >= base + 0.30
    # "So on SmolLM2 full fine-tuning scored highest in these few steps": 99.5 % on SmolLM2. On course-tiny it no
    # longer does (87 % against LoRA's 59.5 % on the earlier tone data; 42 % against 56 % now): asserted below.
    if real:
        assert methods["full"]["accuracy"] >= methods["lora"]["accuracy"]
    # Lesson 01 section 6: "Fine-tuning, in lesson 02, ... well above the classifier": the bag-of-words classifier scores
    # 29 % (interval 23 % to 35 %) at both profiles; full and LoRA score above the top of that interval (measured 42 %
    # and 56 % at ci, 99.5 % and 83 % on SmolLM2), and below 100 %.
    assert 0.35 < methods["full"]["accuracy"] < 1.0 and methods["lora"]["accuracy"] > 0.35
    if not real:
        # "it scored 42 %, 14 points below LoRA's 56 % (measured on 2026-12-04, one seed)": greedy, with the portable
        # kernels (course_utils.numerics), so it repeats on any x86-64 CPU; 3 points for a library's rounding.
        assert methods["full"]["accuracy"] == pytest.approx(0.42, abs=0.03)
        assert methods["lora"]["accuracy"] == pytest.approx(0.56, abs=0.03)
        assert methods["lora"]["accuracy"] >= methods["full"]["accuracy"]
        # "Full fine-tuning fits the training phrases closest (its training loss ends near 0.008)"; LoRA's "ends near
        # 2.9, above a guess among four labels (ln 4 = 1.4), yet it answers with the right label more than half the
        # time": measured final losses 0.0083 and 2.87, LoRA's accuracy 56 %.
        assert methods["full"]["final_loss"] < 0.01 < methods["lora"]["final_loss"]
        lora_loss = methods["lora"]["final_loss"]
        assert lora_loss == pytest.approx(2.9, abs=0.1) and lora_loss > math.log(4)
        assert methods["lora"]["accuracy"] > 0.5
    # Trainable share: IA3 < LoRA < full (= 100 %).
    assert methods["ia3"]["trainable_pct"] < methods["lora"]["trainable_pct"] < methods["full"]["trainable_pct"] == 100
    # "many times smaller": measured 10x at ci (0.095 MB against 0.97 MB), 55x on SmolLM2 (9.4 MB against 513 MB);
    # require at least 5x. IA3 saves the smallest file.
    assert methods["lora"]["checkpoint_mb"] <= 0.2 * methods["full"]["checkpoint_mb"]
    assert methods["ia3"]["checkpoint_mb"] < methods["lora"]["checkpoint_mb"]
    assert methods["ia3"]["final_loss"] > methods["lora"]["final_loss"]  # ci: 6.43 against 2.87; cpu: 0.99 against 0.17
    if real:
        # Lesson 01 section 6: "takes SmolLM2 to 99.5 % (full) and 83 % (LoRA) in 30 steps".
        assert metrics["params"]["max_steps"] == 30
        # "full fine-tuning reaches 99.5 %, LoRA 83 % and IA3 17.5 %" (measured 2026-12-05, without SmolLM2's default
        # system message; 98.5 %, 84 % and 23 % with it; greedy, so it repeats here; 3 points for another CPU);
        # "LoRA trains 1.8 % of the weights and saves a 9.4 MB adapter against a 513 MB checkpoint; IA3 trains 0.04 %
        # and saves 0.24 MB"; "the three measured peaks are close too (within a third of each other)": 4.2-4.7 GB on
        # 2026-12-05 (AMD EPYC with AVX2 only; 4.5-4.9 GB with the default system message), each step in one pass.
        accuracy = [methods[name]["accuracy"] for name in ("full", "lora", "ia3")]
        assert accuracy == pytest.approx([0.995, 0.83, 0.175], abs=0.03)
        assert methods["lora"]["trainable_pct"] == pytest.approx(1.78, abs=0.01)
        assert methods["ia3"]["trainable_pct"] == pytest.approx(0.04, abs=0.005)
        sizes = [methods[name]["checkpoint_mb"] for name in ("lora", "full", "ia3")]
        assert sizes == pytest.approx([9.4, 513, 0.24], rel=0.02)
        peaks = [m["peak_memory_mb"] for m in methods.values()]
        assert max(peaks) <= 4 / 3 * min(peaks)
    else:
        # IA3 "moves least: its loss falls, yet stays far above the others', and it does not yet answer with a label"
        # (measured 0 %, 2026-12-04; loss 11.7 -> 6.43, against LoRA's 2.87: asserted above).
        assert methods["ia3"]["accuracy"] <= 0.10
    # "Fewer than one token in ten carries the loss." (ci: 5 of 85 tokens, 6 %; cpu: 4 of 63, 6 %)
    assert 0 < metrics["loss_token_share"] < 0.10
    # Gradients + optimizer states: full needs about 11x LoRA's at ci, 55x on SmolLM2 (printed); at least 5x.
    assert metrics["gradient_and_optimizer_ratio"] >= 5
    assert all(m["tokens_per_second"] > 0 and m["peak_memory_mb"] > 0 for m in methods.values())
    # Section 3 writes one LoRA run out with LoraConfig, SFTConfig and SFTTrainer; "train.fine_tune does exactly what
    # the cells above did": the same loss curve, number for number (exact equality: same seed, same CPU kernels).
    assert metrics["wrapper_matches_written_out"] is True
    steps = metrics["params"]["max_steps"]
    assert len(metrics["written_out_losses"]) == steps // max(1, steps // 20) and metrics["written_out_losses"][-1] < metrics["written_out_losses"][0]
    settings = metrics["course_settings"]  # the settings table: what the course chooses over trl's defaults
    assert settings["lr_scheduler_type"] == "cosine" and settings["max_length"] == 128
    assert settings["warmup_steps"] == max(1, metrics["params"]["max_steps"] // 10)  # 10 % of the steps
    assert settings["completion_only_loss"] is True and settings["activation_checkpointing"] is False
    assert settings["use_cpu"] is True and settings["bf16"] is False  # fp32 on this CPU, as the precision note says
    assert images_in(executed) >= 3  # bars, loss curves, memory breakdown


def check_03_lora(metrics: dict[str, Any], executed: Path) -> None:
    # LoRA beats the base by a clear margin: measured 56 % vs 0 % (ci, 2026-12-04), 83 % vs 0 % on SmolLM2 (cpu,
    # 2026-12-05); require +30 points.
    assert metrics["lora_accuracy"] >= metrics["base_accuracy"] + 0.30
    # Adapter "10x smaller" than the full checkpoint (printed); require at least 5x.
    assert metrics["adapter_mb"] <= 0.2 * metrics["full_checkpoint_mb"]
    assert metrics["lora_trainable_pct"] < 100
    assert metrics["target_modules"] == ["down_proj", "gate_proj", "k_proj", "o_proj", "q_proj", "up_proj", "v_proj"]
    real = metrics["params"]["model_id"] != config.COURSE_TINY  # SmolLM2 at the cpu profile
    # Reloading gives the same answers; merging agrees to float32 rounding (under 1e-4 of the largest logit; for
    # course-tiny under 1e-4 absolute too (measured 1.1e-5), while SmolLM2's 30 layers measured 8.9e-5 on 2026-12-05,
    # "close to an absolute bound of 1e-4", and went over it with the default system message: 1.6e-4 on 2026-12-03,
    # 1.15e-4 on 2026-12-05) and keeps the accuracy, while the base differs "by whole units" (>= 1; measured 21 at ci,
    # 22 on SmolLM2).
    assert metrics["reload_same_answers"] and metrics["reload_accuracy"] == metrics["lora_accuracy"]
    assert metrics["merge_relative_diff"] <= 1e-4
    assert metrics["merge_max_abs_diff"] <= (1e-3 if real else 1e-4)
    if real:  # "Yet that is only a few millionths of its largest logit" (measured 2.3e-6, 2026-12-05)
        assert metrics["merge_relative_diff"] < 1e-5
    assert metrics["base_max_abs_diff"] >= 1.0
    assert metrics["merged_accuracy"] == metrics["lora_accuracy"]
    # Section 3: the hand-written LoRA layer computes what peft's lora.Linear computes (to 1e-6), starts as the base
    # layer (B = 0), and only A and B are trainable.
    by_hand = metrics["lora_by_hand"]
    assert by_hand["max_abs_diff"] <= 1e-6 and by_hand["starts_as_base"] is True and by_hand["trainable"] == ["A", "B"]
    # Rank sweep: r / 4, r and 4 r, r being section 2's adapter (r / 4 not for a real model on a CPU, below). Adapter
    # size grows with rank. Accuracy claims rest on intervals (one seed, 200 phrases: measured 55.5 % -> 56 % -> 32.5 %
    # at ci on 2026-12-04, each about +-7 points; 37.5 % -> 83 % -> 96.5 % on SmolLM2 on 2026-12-05), so the orderings
    # the prose names are asserted through the paired steps below, not from the accuracies alone.
    # "For a real model on a CPU (SmolLM2 at the cpu profile) the default trains only the larger rank".
    real_on_cpu = real and metrics["params"]["profile"] == "cpu"
    sweep = {row["r"]: row for row in metrics["rank_sweep"]}
    assert list(sweep) == ([8, 32] if real_on_cpu else [2, 8, 32])
    assert sweep[8]["accuracy"] == metrics["lora_accuracy"] and sweep[8]["adapter_mb"] == metrics["adapter_mb"]
    assert sweep[8]["adapter_mb"] < sweep[32]["adapter_mb"]
    assert sweep[32]["trainable_params"] == 4 * sweep[8]["trainable_params"]
    if not real_on_cpu:
        assert sweep[2]["adapter_mb"] < sweep[8]["adapter_mb"]
        assert sweep[32]["trainable_params"] == 16 * sweep[2]["trainable_params"]
    for row in sweep.values():
        low, high = row["accuracy_ci"]
        # "uncertain by several points (by fewer near 100 %, as SmolLM2's r = 32 shows at the cpu profile)": over 5
        # points wide between 10 % and 90 %, where every ci row lies; SmolLM2's r = 32 (96.5 %) is pinned below.
        near_edge = not 0.10 < row["accuracy"] < 0.90
        assert low <= row["accuracy"] <= high and high - low < 0.25 and (near_edge or 0.05 < high - low)
    # The paired table: each step's difference, its interval, and "shown by this run" exactly when it excludes zero.
    steps = metrics["rank_steps"]
    pairs = [(8, 32)] if real_on_cpu else [(2, 8), (8, 32)]
    assert [step["step"] for step in steps] == [f"r {smaller} -> {larger}" for smaller, larger in pairs]
    for step, (smaller, larger) in zip(steps, pairs):
        assert step["difference"] == pytest.approx(sweep[larger]["accuracy"] - sweep[smaller]["accuracy"])
        low, high = step["interval"]
        assert low <= step["difference"] <= high
        assert step["shown by this run"] == (low > 0 or high < 0)
    if real:
        # "accuracy went from 83 % at r = 8 to 96.5 % at r = 32, and the step's paired interval excludes zero (+13.5
        # points, 8.5 to 19)" (30 steps, one seed, measured 2026-12-05; greedy, so it repeats on this CPU: allow 3
        # points for another's rounding). Takeaways: "r = 32 beat r = 8 by 13.5 points in one seed". (r = 2, in an
        # earlier run that day: 37.5 %, the step from 2 to 8 +45.5 points, interval 38 to 53; -p sweep_ranks 2,32.)
        assert [sweep[r]["accuracy"] for r in (8, 32)] == pytest.approx([0.83, 0.965], abs=0.03)
        assert all(step["shown by this run"] for step in steps)
        assert all(step["difference"] > 0 for step in steps)
        assert steps[-1]["difference"] == pytest.approx(0.135, abs=0.03)
        assert steps[-1]["interval"] == pytest.approx([0.085, 0.19], abs=0.03)
        # Near 100 % the interval narrows: r = 32's 96.5 % has [94 %, 99 %] (5 points wide; 3 points for rounding).
        assert sweep[32]["accuracy_ci"] == pytest.approx([0.94, 0.99], abs=0.03)
        # "LoRA at r = 8 trains 1.8 % of the weights".
        assert metrics["lora_trainable_pct"] == pytest.approx(1.78, abs=0.01)
        # "this adapter trains ... 60 steps of 8 requests at 1e-3"; "all of its answers to 60 held-out requests are
        # valid JSON (one with the tone adapter); its field F1 is 0.78 and 52 % of the records are exactly right. Its
        # record perplexity fell from 6.0 with the tone adapter to 1.06" (AMD EPYC, 2026-12-05; greedy: 5 points, or
        # 10 % of a perplexity, for another CPU). With the default system message (2026-12-03 and 2026-12-04) it
        # measured F1 0.82, exact 52 %, no valid JSON with the tone adapter, perplexity 6.1.
        extract, tone = metrics["multi_adapter"]["extract"], metrics["multi_adapter"]["tone"]
        assert (metrics["params"]["extract_max_steps"], metrics["params"]["extract_learning_rate"]) == (60, 1e-3)
        assert metrics["n_extract"] == 60 and tone["valid JSON"] == pytest.approx(1 / 60)
        assert extract["valid JSON"] >= 0.95
        assert extract["field F1"] == pytest.approx(0.78, abs=0.05)
        assert extract["exact match"] == pytest.approx(0.517, abs=0.05)
        assert tone["record perplexity"] == pytest.approx(6.0, rel=0.1)
        assert extract["record perplexity"] == pytest.approx(1.06, rel=0.1)
    else:
        # "55.5 % at r = 2, 56 % at r = 8 and 32.5 % at r = 32: the step from 2 to 8 is too small for this run to
        # show (its interval holds zero), the step from 8 to 32 lost 23.5 points and its interval excludes zero"
        # (measured 2026-12-04: +0.5 points, interval -7 to +7; -23.5, interval -30 to -17; greedy, with the portable
        # kernels, so it repeats on any x86-64 CPU: allow 3 points for a library's rounding).
        assert [sweep[r]["accuracy"] for r in (2, 8, 32)] == pytest.approx([0.555, 0.56, 0.325], abs=0.03)
        assert [step["shown by this run"] for step in steps] == [False, True]
        assert steps[1]["difference"] < 0 and steps[1]["interval"][1] < -0.10  # a loss of over 10 points, at least
        # "(+0.5 points, paired interval -7 to +7)", "(-23.5 points, interval -30 to -17)" (measured exactly so).
        assert [step["difference"] for step in steps] == pytest.approx([0.005, -0.235], abs=0.03)
        assert [step["interval"] for step in steps] == [pytest.approx([-0.07, 0.07], abs=0.03),
                                                         pytest.approx([-0.30, -0.17], abs=0.03)]
    # Each adapter is best at its own task on one shared base: the tone adapter at tone accuracy, the extract adapter
    # at making the expected records likely (ci, 2026-12-04: tone accuracy 56 % and 0 %; record perplexity 22,414 with
    # the tone adapter and 20.5 with the extract adapter).
    switch = metrics["multi_adapter"]
    assert metrics["multi_adapter_ok"] is True
    assert switch["extract"]["record perplexity"] < switch["tone"]["record perplexity"]
    assert switch["tone"]["tone accuracy"] > switch["extract"]["tone accuracy"]
    if not real:
        # "course-tiny writes no valid JSON at all": its pretraining text holds no brace, quote or underscore, and
        # LoRA, which leaves the embeddings as they are, does not teach them in 100 steps; "the record perplexity fell
        # from over 20,000 ... to about 20" (measured 22,414 and 20.5; 300 steps: loss 2.2, still no valid JSON).
        assert switch["extract"]["valid JSON"] == 0.0 and switch["tone"]["valid JSON"] == 0.0
        assert switch["tone"]["record perplexity"] > 20_000 and switch["extract"]["record perplexity"] < 30
    assert images_in(executed) >= 1  # rank sweep plot


def check_04_qlora(metrics: dict[str, Any], executed: Path) -> None:
    assert metrics["bnb_usable"] is True, "bitsandbytes 4-bit must work on the CI machine"
    linear, footprint = metrics["linear_weights_mb"], metrics["footprint_mb"]
    # "4-bit linear weights take about an eighth of fp32": measured 0.129x; the bar is 0.3x, ours 0.15x.
    assert linear["nf4"] <= 0.15 * linear["fp32"]
    assert linear["bf16"] == pytest.approx(0.5 * linear["fp32"])
    assert footprint["nf4"] < footprint["int8"] < footprint["fp32"]
    # NF4 beats FP4 "on every matrix here"; int8's error is about ten times smaller (at least 5x). course-tiny at ci
    # (2026-12-04): NF4 0.0915, FP4 0.121, int8 0.0095 (9.7x smaller), NF4 lower on all 14 matrices.
    assert metrics["nf4_error"] < metrics["fp4_error"] and metrics["nf4_beats_fp4_share"] == 1.0
    assert metrics["int8_error"] * 5 < metrics["nf4_error"]
    if metrics["params"]["model_id"] != config.COURSE_TINY:
        # SmolLM2 at the cpu profile: "its whole NF4 footprint is 159 MB against 513 MB in fp32 (31 %), while its
        # linear weights take 13 %"; "NF4's mean error 0.094 against FP4's 0.126, lower on all 210 matrices".
        assert footprint["nf4"] / footprint["fp32"] == pytest.approx(0.31, abs=0.01)
        assert linear["nf4"] / linear["fp32"] == pytest.approx(0.13, abs=0.01)
        assert (metrics["nf4_error"], metrics["fp4_error"]) == pytest.approx((0.094, 0.126), abs=0.002)
    # QLoRA "learns the task, far above the base model" (+30 points at least; measured 60.5 % vs 0 % at ci on
    # 2026-12-04), and the paired 95 % interval of QLoRA - LoRA "rules out a loss of more than half a point" (measured
    # +4.5 points, 60.5 % against 56 %, interval [-0.5, +10]; on 2026-12-03, before the portable kernels, 64.5 %
    # against 59 %, [-2.5, +13.5]); on an AMD EPYC with AVX2 only (2026-12-05), whose bitsandbytes kernels round
    # otherwise, 63.5 % against 56 %, [+2, +13.5]. The bound keeps 4.5 points of slack (a loss over 5 points is ruled
    # out), and the lower end is pinned around the two CPUs' -0.5 and +2 points. Where the point falls is not
    # asserted: it moves with the steps, the seed and the CPU.
    assert metrics["qlora_accuracy"] >= metrics["base_accuracy"] + 0.30
    assert metrics["qlora_minus_lora"] == pytest.approx(metrics["qlora_accuracy"] - metrics["lora_accuracy"])
    low, high = metrics["qlora_minus_lora_ci"]
    if metrics["params"]["model_id"] == config.COURSE_TINY:
        assert low <= metrics["qlora_minus_lora"] <= high and low > -0.05
        assert -0.025 <= low <= 0.04  # "rules out a loss of more than half a point" (-0.5 and +2 points measured)
    else:
        # SmolLM2, each step in one pass of 8: "QLoRA scored 68.5 % against LoRA's 84 %, and the interval of the
        # difference, -22 to -9 points, shows a cost: at least 9 and up to 22 points" (measured on 2026-12-03 at night;
        # greedy on this CPU; allow 3 points elsewhere). The bounds keep the 1.5 points of slack the earlier ones had.
        # Earlier runs, each a rounding of the same steps: in two micro-batches of 4, 66 %, interval -25.5 to -11.5; on
        # the earlier tone data 61 % against 68 %, interval -12.5 to -1.5, and in one batch of 8, 62.5 %, -11 to 0.
        # On an AMD EPYC (AVX2, 2026-12-04 evening), with its own fastest kernels: 65.5 %, interval -25.5 to -12; on an
        # AMD EPYC with AVX2 only (2026-12-05): 68.5 %, interval -22.5 to -9 (the lesson's table of runs). All of
        # these had SmolLM2's default system message in every prompt. Without it, as the course prompts now (lesson 01
        # section 4; the table's last row, AMD EPYC with AVX2 only, 2026-12-05): "61.5 % against LoRA's 83 %,
        # -29.5 to -14 points", and on an AMD EPYC with AVX-512 (2026-12-05, the table's last row) 58.5 %, -32.5 to -17,
        # so "every run shows a cost: at least 9 points, and up to 22 to 32.5". The bounds keep the 1.5 points of slack
        # the earlier ones had, and QLoRA's accuracy 3 points around the two runs without the message.
        assert metrics["lora_accuracy"] == pytest.approx(0.83, abs=0.03)
        assert 0.555 <= metrics["qlora_accuracy"] <= 0.645
        assert low <= metrics["qlora_minus_lora"] <= high and low >= -0.34 and high < -0.125
    # printed, never asserted as faster or slower: a timing ("0.93 to 1.34 times ... in five runs up to 2026-12-03, and
    # 2.24 times ... on an AMD EPYC with AVX2 only", 2.27 times there without the default system message; 2.84 times on
    # that EPYC at ci)
    assert metrics["qlora_step_time_ratio"] > 0
    assert metrics["methods"]["qlora"]["trainable_params"] == metrics["methods"]["lora"]["trainable_params"]
    # Gradient checkpointing "cuts the saved activations to a fraction" (measured 29 %: 10.5 of 36.6 MB at ci on
    # 2026-12-04; require under half), and lesson 02's estimate is within 15 % of the measured activations
    # (measured 9 %).
    activations = metrics["activations_mb"]
    assert activations["with_checkpointing"] < 0.5 * activations["without_checkpointing"]
    assert activations["estimate"] == pytest.approx(activations["without_checkpointing"], rel=0.15)
    assert set(metrics["peak_memory_mb"]) == {"lora", "qlora"}
    if metrics["params"]["model_id"] != config.COURSE_TINY and metrics["params"]["profile"] == "cpu":
        # Resident memory, each method loaded after the other's model was let go (2026-12-05, AMD EPYC with AVX2 only):
        # "Loading the fp32 model barely raises resident memory" (14 MB: its file is mapped, read at the first step);
        # the QLoRA load "raises memory by more than the 4-bit model holds" (542 MB against 159 MB); "QLoRA's training
        # peak came out about as high as LoRA's (within a tenth)" (2,954 against 2,978 MB). With the default system
        # message the same day: 2 MB, 574 MB, and 3,123 against 3,033 MB.
        peaks = metrics["peak_memory_mb"]
        assert peaks["lora"]["load_increase_mb"] < 0.1 * footprint["fp32"]
        assert peaks["qlora"]["load_increase_mb"] > footprint["nf4"]
        assert peaks["qlora"]["train_peak_mb"] == pytest.approx(peaks["lora"]["train_peak_mb"], rel=0.1)
    assert images_in(executed) >= 2  # weight-memory bars, NF4 histogram


def check_05_export(metrics: dict[str, Any], executed: Path) -> None:
    size = metrics["size_mb"]
    # The bar: int4 ONNX <= 0.35x fp32 ONNX. The prose says "about a fifth" (measured 0.23x at ci on
    # 2026-12-03).
    assert size["onnx_int4"] <= 0.25 * size["onnx_fp32"]
    # "int8 ONNX is about half of fp32" (measured 0.49x, course-tiny and SmolLM2).
    assert size["onnx_int8"] == pytest.approx(0.5 * size["onnx_fp32"], rel=0.1)
    assert size["onnx_fp32"] == pytest.approx(size["hf_fp32"], rel=0.1)
    # fp32 parity: adapter = merged = ONNX fp32 on every held-out prompt, and never the base model.
    assert metrics["greedy_match_fp32"] == 1.0 and metrics["n_parity"] == 50
    assert metrics["base_match_fp32"] == 0.0
    # "One weight stays at 8 bits: the output head"; every other quantized weight (embeddings included) at 4.
    bits = dict(metrics["int4_weight_bits"])
    assert bits.pop("/lm_head/MatMul_Q8") == 8 and set(bits.values()) == {4}
    assert any("embed_tokens" in name for name in bits)
    assert metrics["lora_accuracy"] >= 0.4
    if metrics["params"]["model_id"] == config.COURSE_TINY:
        # "On course-tiny, int8 and int4 both stay within a few points of LoRA's accuracy (56 % and 58.5 % against
        # 56 %)": measured 0 and +2.5 points on 2026-12-04 (+0.5 and -4.5 on 2026-12-03 before the portable kernels,
        # 0 and +2 points on the earlier tone data); allow 5.
        assert abs(metrics["int8_accuracy"] - metrics["lora_accuracy"]) <= 0.05
        assert abs(metrics["int4_accuracy"] - metrics["lora_accuracy"]) <= 0.05
        # "int8 and int4 are no faster than fp32" on course-tiny (measured 1.01x and 1.00x on 2026-12-03, 0.97x each
        # before); a timing, so allow 1.3x.
        speed = metrics["tokens_per_second"]
        assert max(speed["ort_int8"], speed["ort_int4"]) <= 1.3 * speed["ort_fp32"]
    else:
        # SmolLM2: "int4 ... scored 33.5 % against LoRA's 83 %" (measured on 2026-12-05 on an AMD EPYC with AVX2 only,
        # without the default system message; greedy; allow 3 points for another CPU).
        assert (metrics["int4_accuracy"], metrics["lora_accuracy"]) == pytest.approx((0.335, 0.83), abs=0.03)
        # "while int8 scored 84.5 %" (2026-12-05, without the default system message), and with it "int8 81.5 to 85 %"
        # on three CPUs (84.5 % on 2026-12-03, 85 % on 2026-12-04, 83 % on an AMD EPYC with AVX-512 and 81.5 % on one
        # with AVX2, 2026-12-05), "to within 3 points" of LoRA (+1.5 points on 2026-12-05). "The order held on all
        # three": onnxruntime-genai fp32 faster than PyTorch (measured 1.6x on the Xeon with both threads, 2026-12-04,
        # 2x and 2.7x on the EPYCs), and "int4 three to five times as fast as PyTorch" (3.1x and 4.5-5.3x; a timing, so
        # 2x asserted). On the Xeon with one thread (before export.load_onnx set two) fp32 ran at
        # 0.95x PyTorch, which the second assert below would catch. "int8 about 1.4 to 2 times fp32 and int4 1.9 to 2.4
        # times": 1.8x and 2.0x on the Xeon, 2x and 2.3x on the first EPYC, 1.44x and 1.90x in the lesson's run on an
        # EPYC with AVX2 only (bench/export_speed.py on that run's exports, three rounds: int8 1.36-1.76x, int4
        # 1.95-2.33x); a ratio of one run, so 1.3x and 1.5x asserted.
        assert 0.815 - 1e-9 <= metrics["int8_accuracy"] <= 0.85 + 1e-9
        assert abs(metrics["int8_accuracy"] - metrics["lora_accuracy"]) <= 0.03 + 1e-9
        speed = metrics["tokens_per_second"]
        assert speed["ort_int4"] >= 1.5 * speed["ort_fp32"] and speed["ort_int8"] >= 1.3 * speed["ort_fp32"]
        assert speed["ort_fp32"] > speed["torch_fp32"] and speed["ort_int4"] >= 2 * speed["torch_fp32"]
    if metrics["params"]["model_id"] == config.COURSE_TINY:
        # "onnxruntime-genai is faster than PyTorch's generate in every precision" on course-tiny, by a ratio that
        # varies between machines: measured 18x on an earlier machine, 1.47x and 1.51x (two runs) on 2026-12-01, where
        # an earlier bound of 2x failed, and 2.4x on 2026-12-03; so the lesson claims only "faster", and this asserts
        # that.
        assert metrics["ort_speedup_vs_torch"] > 1
    assert metrics["architecture"] == "LlamaForCausalLM"
    # Section 7: on one switchable ONNX model, each active adapter (and none) reproduces its PyTorch model token for
    # token, and "each adapter file is a small fraction of the base model's size" (measured 8 %; require <= 20 %).
    assert metrics["adapter_switch_match"] == {"none": 1.0, "tone": 1.0, "extract": 1.0}
    assert all(mb <= 0.2 * metrics["switchable_onnx_mb"] for mb in metrics["adapter_mb"].values())
    # "Does int4 keep the records?": the fp32 model with the extract adapter is the reference; int4 beside it.
    records = metrics["extract_records"]
    assert list(records) == ["fp32 + extract adapter", "int4, merged"]
    assert records["fp32 + extract adapter"]["same_answer_as_fp32"] == 1.0
    if metrics["params"]["model_id"] == config.COURSE_TINY:
        # Course-tiny writes no valid JSON (lesson 03), in either precision.
        assert all(run["parses"] == 0.0 for run in records.values())
        assert metrics["extract_int4_exact_drop"] == {"difference": 0.0, "interval": [0.0, 0.0]}
    else:
        # SmolLM2 (AMD EPYC with AVX2 only, 2026-12-05, 50 requests, the adapter of 60 steps at 1e-3): "the fp32 model
        # with the extract adapter wrote valid JSON for all 50 requests and the exact record for 58 % (field F1 0.81).
        # The int4 export of the merged model mostly kept the format (92 % valid JSON) but not the content: exact match
        # 18 %, field F1 0.61, and 24 % of its answers were the fp32 model's"; "int4 decoded faster" (159 against 46
        # tokens per second in a run on 2026-12-04; 155 against 47 in a second; 148 against 44 on 2026-12-05). Greedy:
        # 6 points for another CPU's rounding, 8 for the share of equal answers.
        fp32, int4 = records["fp32 + extract adapter"], records["int4, merged"]
        assert fp32["parses"] >= 0.95 and int4["parses"] == pytest.approx(0.92, abs=0.06)
        assert fp32["exact_match"] == pytest.approx(0.58, abs=0.06)
        assert fp32["field_f1"] == pytest.approx(0.81, abs=0.05)
        assert int4["exact_match"] == pytest.approx(0.18, abs=0.06)
        assert int4["field_f1"] == pytest.approx(0.61, abs=0.06)
        assert int4["exact_match"] < fp32["exact_match"] - 0.2  # "fell from 58 % to 18 %": the content, not the format
        assert int4["same_answer_as_fp32"] == pytest.approx(0.24, abs=0.08)
        # "40 points, with a paired interval of 28 to 54 points, so the run shows the drop" (2026-12-05).
        drop = metrics["extract_int4_exact_drop"]
        assert drop["difference"] == pytest.approx(0.40, abs=0.08)
        assert drop["interval"] == pytest.approx([0.28, 0.54], abs=0.08)
        assert drop["interval"][0] > 0
        assert int4["tokens_per_second"] > fp32["tokens_per_second"]
    # Section 8, the Olive CLI: CI builds .venv-olive (make test depends on make olive), so there it must have run.
    olive = metrics["olive"]
    assert olive["ran"] == (config.course_root() / ".venv-olive" / "bin" / "olive").exists()
    if olive["ran"]:
        accuracy = olive["accuracy"]
        # "Olive's int4 model loads ... and generates"; its adapter file "changes" the answers (measured: 71 % at ci on
        # 2026-12-04, 81 % on 2026-12-03, nearly all before).
        assert olive["adapter_file_kb"] > 0 and olive["answers_changed_by_adapter"] >= 0.5
        assert olive["accuracy_without_adapter"] < accuracy["olive auto-opt int4 + adapter file"] - 0.3
        # course-tiny: "Olive's auto-opt scores 55 %, Olive's config workflow 56 % and section 3's builder call
        # 58.5 %, all three within 5 points of the adapter in PyTorch (56 %)" (measured 2026-12-04 with the portable
        # kernels. On 2026-12-03, on another course-tiny built by an AMD EPYC's kernels, Olive's two scored 51 %, 8
        # points below 59 %, and the course's 54.5 %; on the earlier tone data 58.5 %, 61 % and 62 % against 59.5 %).
        # ONNX Runtime picks its own kernels on each CPU: allow 3 points around each.
        lora = accuracy["section 2's adapter, PyTorch"]
        routes = ("olive auto-opt int4 + adapter file", "olive run --config (merge, int4)", "section 3: course int4 export")
        if metrics["params"]["model_id"] == config.COURSE_TINY:
            scores = [accuracy[name] for name in routes]
            assert all(abs(score - lora) <= 0.05 for score in scores), (scores, lora)
            assert [accuracy[name] for name in routes] == pytest.approx([0.55, 0.56, 0.585], abs=0.03)
            assert lora == pytest.approx(0.56, abs=0.03)
        else:
            # SmolLM2: "44 % (auto-opt), 36 % (the config workflow) and 33.5 % (section 3), against 83 % in PyTorch"
            # (2026-12-05; the export is deterministic; allow 3 points for another CPU). "Every int4 route lost about
            # half of the fine-tune or more, Olive's and the course's alike (they kept 53 %, 43 % and 40 % of its
            # accuracy)"; require at most 60 % kept, and at least 39 % (on an AMD EPYC with AVX-512, 2026-12-05: 44 %,
            # 37.5 % and 33 %, keeping 53 %, 45 % and 39.8 %). (With the default system message, 2026-12-03: 38 %, 46 %
            # and 43 % against 84 %. On the earlier tone data Olive's routes, 46.5 % and 38 %, had lost less than the
            # course's 28 %.)
            assert [accuracy[name] for name in routes] == pytest.approx([0.44, 0.36, 0.335], abs=0.03)
            assert all(0.39 <= accuracy[name] / lora <= 0.6 for name in routes), [accuracy[name] for name in routes]
            assert lora == pytest.approx(0.83, abs=0.03)
            assert olive["adapter_file_kb"] / 1024 == pytest.approx(3.8, abs=0.1)
        # "The adapter olive finetune trained ... scores far lower": measured 4.5 % against 56 % at ci and 24.5 % against
        # 84 % at cpu on 2026-12-04 (25 % against 83 % at cpu on 2026-12-05, without the default system message), in
        # fp32 (in bf16 11.5 % and 23.5 %; 4-24 % in four runs on the earlier tone data; Olive's training does not
        # repeat from run to run); require 15 points lower. "about the same in bf16" is a one-day measurement by hand
        # (README, as the lesson says), not asserted: the lesson trains only in fp32.
        # It runs by default on course-tiny only; another model trains it only with olive_finetune True (SmolLM2:
        # "3 to 7 minutes on 2 cores", 182 s on an AMD EPYC with AVX-512 on 2026-12-05, 450 s on an Intel Xeon).
        chosen = metrics["params"]["model_id"] == config.COURSE_TINY
        assert olive["finetune_ran"] == (chosen if metrics["olive_finetune"] is None else metrics["olive_finetune"])
        ran = olive["finetune_ran"]
        assert ran == ("olive finetune's adapter, PyTorch" in accuracy) == ("finetune" in olive["seconds"])
        if ran:
            assert accuracy["olive finetune's adapter, PyTorch"] <= lora - 0.15
        # "the course keeps [the head] at 8 bits and Olive quantizes to 4"; the embeddings: "the course quantizes [them]
        # to 4 bits and Olive keeps [them] in 32, so Olive's files are larger" (measured 0.48 and 0.41 MB against 0.23).
        assert olive["head_bits"] == {"olive": 4, "course": 8}
        assert olive["embeddings_quantized"] == {"olive": False, "course": True}
        sizes = olive["mb_on_disk"]
        assert min(sizes["olive auto-opt int4 + adapter file"], sizes["olive run --config (merge, int4)"]) > \
            sizes["section 3: course int4 export"]
        # "A mistake in a command comes back as Olive's own one-line message": the exception's line from Olive's
        # output, not the traceback (a real Olive failure; tests/test_olive.py tests the wrapper on a made-up one).
        message = olive["error_message"]
        assert message.startswith("ValueError: Can't find 'adapter_config.json'") and "\n" not in message
        assert "Traceback" not in message and len(message) <= 404
    assert images_in(executed) >= 1


def check_06_eval(metrics: dict[str, Any], executed: Path) -> None:
    variants = {v["name"]: v for v in metrics["variants"]}
    # Exercise 6.3's choice: a variant, chosen on the dev half and reported on the final half, whose interval is wider
    # than the same variant's on all the held-out phrases ("half the phrases give a wider interval"). At ci on
    # 2026-12-04: onnx_int4, 62 % on dev and 55 % on final, final interval [45, 64] against [52, 65.5] on all 200.
    choice = metrics["choice"]
    assert choice["shipped"] in variants and choice["final_ci"][0] <= choice["final_accuracy"] <= choice["final_ci"][1]
    whole = variants[choice["shipped"]]["accuracy_ci"]
    if metrics["params"]["model_id"] == config.COURSE_TINY:
        assert choice["final_ci"][1] - choice["final_ci"][0] > whole[1] - whole[0]
    else:
        # SmolLM2 at the cpu profile (2026-12-05, AMD EPYC, AVX2): "Near 100 % they need not ...: the shipped variant,
        # SmolLM2's full fine-tune, made no error on the final half, 100 % with an interval of [100, 100] %, narrower
        # than its [98.5, 100] % on all 200 phrases" (99 % on dev). Greedy, seeded bootstrap; 3 points for another CPU.
        assert choice["shipped"] == "full" and choice["final_accuracy"] == pytest.approx(1.0, abs=0.03)
        assert choice["final_ci"] == pytest.approx([1.0, 1.0], abs=0.03)
        assert whole == pytest.approx([0.985, 1.0], abs=0.03)
        assert choice["final_ci"][1] - choice["final_ci"][0] < whole[1] - whole[0]
    assert list(variants) == ["base", "full", "lora", "qlora", "merged", "onnx_int4"]
    fields = {"accuracy", "accuracy_ci", "macro_f1", "invalid_rate", "perplexity", "rougeL", "latency_ms", "size_mb"}
    assert all(fields <= set(v) for v in variants.values())
    base = variants["base"]
    # "the base model's answers all fall in the invalid column".
    assert base["invalid_rate"] == 1.0
    for name, variant in variants.items():
        # The bootstrap interval contains its point estimate.
        low, high = variant["accuracy_ci"]
        assert low <= variant["accuracy"] <= high, name
    # "Merged and LoRA give identical answers".
    assert variants["merged"]["accuracy"] == variants["lora"]["accuracy"]
    assert variants["merged"]["macro_f1"] == variants["lora"]["macro_f1"]
    assert variants["onnx_int4"]["perplexity"] is None  # perplexity is defined for PyTorch models only
    tuned = [v for name, v in variants.items() if name not in {"base", "onnx_int4"}]  # the PyTorch fine-tunes
    if metrics["params"]["model_id"] == config.COURSE_TINY:
        for variant in [*tuned, variants["onnx_int4"]]:
            # "Every fine-tuned variant ... scores far above it" (+30 points at least) and answers validly more often:
            # at ci on 2026-12-04, full 42 %, LoRA and merged 56 %, QLoRA 60 %, int4 ONNX 58.5 % against 0 %; invalid
            # answers 0-29 % against 100 %.
            assert variant["accuracy"] >= base["accuracy"] + 0.30, variant["name"]
            assert variant["invalid_rate"] < base["invalid_rate"], variant["name"]
        # "Every fine-tuned variant is more surprised by plain text" (perplexity rose: 1,400 to 3,290 against 28.2).
        assert all(v["perplexity"] > base["perplexity"] for v in tuned)
        # "int4 ONNX stays close to LoRA" (within 5 points: 58.5 % against 56 %); ROUGE-L "low for every variant"
        # (base 3.9, every fine-tune 0).
        assert abs(variants["onnx_int4"]["accuracy"] - variants["lora"]["accuracy"]) <= 0.05
        # Section 4: "the invalid column holds most of LoRA's errors: it answers most joy phrases with a word fragment"
        # (2026-12-05: 58 of its 88 errors; 45 of the 50 joy phrases).
        confusion, joy = variants["lora"]["confusion"], metrics["labels"].index("joy")
        errors = sum(map(sum, confusion)) - sum(confusion[i][i] for i in range(len(metrics["labels"])))
        assert sum(row[-1] for row in confusion) > errors / 2 and confusion[joy][-1] > sum(confusion[joy]) / 2
        assert all(v["rougeL"] is not None and v["rougeL"] < 20 for v in variants.values())
    else:
        # SmolLM2 at the cpu profile (2026-12-05, AMD EPYC with AVX2 only), greedy (allow 3 points, or 5 % of a
        # perplexity, for another CPU's rounding): "Full fine-tuning scores 99.5 %, LoRA and merged 83 %, QLoRA 61.5 %";
        # "int4 ONNX scores 33.5 %: the export lost more than half of the fine-tune" (with the default system message,
        # 2026-12-03: 98.5 %, 84 %, 67.5 % and 43 %);
        accuracy = {name: v["accuracy"] for name, v in variants.items()}
        expected = {"base": 0.0, "full": 0.995, "lora": 0.83, "qlora": 0.615, "merged": 0.83, "onnx_int4": 0.335}
        assert accuracy == pytest.approx(expected, abs=0.03)
        assert accuracy["onnx_int4"] < accuracy["lora"] / 2
        # "perplexity barely moved for full fine-tuning or LoRA (100.3 and 101.6 against the base's 102.3, within 2 %);
        # it rose for QLoRA (125)" (measured -2.0 % and -0.7 %; with the default system message -0.5 % and +0.5 %);
        for name in ("full", "lora"):
            assert variants[name]["perplexity"] == pytest.approx(base["perplexity"], rel=0.02), name
        perplexity = [variants[name]["perplexity"] for name in ("full", "lora", "qlora")]
        assert perplexity == pytest.approx([100.3, 101.6, 125], rel=0.05)
        assert variants["qlora"]["perplexity"] > base["perplexity"]
        assert base["perplexity"] == pytest.approx(102.3, rel=0.05)
        # "the base model answers the 28 qa instructions with ROUGE-L 36, the full fine-tune with 31"; the adapters
        # "lost nothing here: QLoRA answers with 42, LoRA and merged with 41, both above the base" (measured 36.5,
        # 31.0, 42.0 and 41.1; with the default system message 40.8, 34.0, 36.4 to 41.6 and 43.6). +-1 around each.
        assert base["rougeL"] == pytest.approx(36, abs=2)
        rouge = {name: variants[name]["rougeL"] for name in ("full", "qlora", "lora", "merged")}
        assert rouge == pytest.approx({"full": 31, "qlora": 42, "lora": 41.1, "merged": 41.1}, abs=1)
        assert rouge["full"] < base["rougeL"] < min(rouge["lora"], rouge["qlora"]) and rouge["lora"] == rouge["merged"]
    assert variants["onnx_int4"]["size_mb"] < variants["merged"]["size_mb"]
    # The harness repeats exactly with the same seed, and gives the LoRA model the numbers section 2 computes by hand
    # with scikit-learn, numpy's bootstrap and the model's own loss (perplexity to 1e-4: batches are summed).
    assert metrics["rerun_identical"] is True
    assert metrics["harness_matches_by_hand"] is True
    by_hand = metrics["by_hand"]
    assert by_hand["accuracy"] == variants["lora"]["accuracy"] and by_hand["macro_f1"] == variants["lora"]["macro_f1"]
    assert by_hand["perplexity"] == pytest.approx(variants["lora"]["perplexity"], rel=1e-4)
    # Section 9, extraction: course_utils.extraction gives the four scores computed by hand.
    assert metrics["extraction_matches_by_hand"] is True
    extracted = metrics["extraction"]
    tuned_extract = extracted["fine-tuned"]
    low, high = tuned_extract["exact_match_ci"]
    assert low <= tuned_extract["exact_match"] <= high
    if metrics["params"]["model_id"] == config.COURSE_TINY:
        # "Course-tiny reads at most 256 tokens, so neither prompt fits it: the run says so and records no score";
        # its adapter writes no valid JSON, but makes the records likely (record perplexity 20.5 at ci, 2026-12-04).
        assert list(extracted) == ["fine-tuned"] and metrics["extraction_margins"] == {}
        assert tuned_extract["parses"] == 0.0 and tuned_extract["record_perplexity"] < 30
        # "every field's share is 0"
        assert set(metrics["field_accuracy"]["fine-tuned"].values()) == {0.0} and metrics["time_misses_minutes_right"] == 0
    else:
        # SmolLM2, 60 requests, 4 examples, lesson 03's adapter of 60 steps at 1e-3 (AMD EPYC, AVX2, 2026-12-05;
        # greedy: 5 points for another CPU): zero-shot "no answer was valid JSON, and 95 % ran out of tokens"; few-shot
        # "70 % valid JSON, 13 % matching the schema, field F1 0.19, no exact match"; the adapter "valid JSON every
        # time, matched the schema 95 % of the time, reached field F1 0.78 and wrote the exact record for 52 %"; "its
        # lead over few-shot prompting, 52 points of exact match, has a paired interval of 40 to 63 points, so this run
        # shows it"; record perplexity "1.06 against 1.68"; "42 tokens against 497".
        zero, few = extracted["zero-shot"], extracted["few-shot"]
        assert metrics["n_extract"] == 60 and metrics["n_shots"] == 4
        assert (metrics["params"]["extract_max_steps"], metrics["params"]["extract_learning_rate"]) == (60, 1e-3)
        assert zero["parses"] == 0.0 and zero["cut_off"] == pytest.approx(0.95, abs=0.05)
        assert few["parses"] == pytest.approx(0.70, abs=0.05) and few["matches_schema"] == pytest.approx(0.13, abs=0.05)
        assert few["field_f1"] == pytest.approx(0.19, abs=0.05) and few["exact_match"] <= 0.05
        assert tuned_extract["parses"] >= 0.95
        assert tuned_extract["matches_schema"] == pytest.approx(0.95, abs=0.05)
        assert tuned_extract["field_f1"] == pytest.approx(0.78, abs=0.05)
        assert tuned_extract["exact_match"] == pytest.approx(0.517, abs=0.05)
        margin = metrics["extraction_margins"]["few-shot"]
        assert margin["shown by this run"] and margin["interval"] == pytest.approx([0.4, 0.633], abs=0.05)
        assert tuned_extract["record_perplexity"] < few["record_perplexity"]
        assert tuned_extract["record_perplexity"] == pytest.approx(1.06, rel=0.1)
        assert few["record_perplexity"] == pytest.approx(1.68, rel=0.1)
        assert tuned_extract["prompt_tokens"] == pytest.approx(42, abs=2)
        assert few["prompt_tokens"] == pytest.approx(497, abs=5)
        # Exercise 6.4's table: "the days, amounts, currencies and restaurants are all right; the time is right for only
        # 50 % of the 44 requests that hold one, the intent for 80 % of the 60, and the meeting's companion and place
        # for 22 % of 9"; "in all 22 of its wrong times the minutes are right"; the time is missed "more often than any
        # other field (22 of 44)".
        by_field, counts = metrics["field_accuracy"]["fine-tuned"], metrics["field_counts"]
        assert all(by_field[name] == 1.0 for name in ("day", "amount", "currency", "restaurant"))
        assert (counts["time"], counts["with"], counts["place"]) == (44, 9, 9)
        assert by_field["time"] == pytest.approx(0.50, abs=0.07) and by_field["intent"] == pytest.approx(0.80, abs=0.05)
        assert by_field["with"] == pytest.approx(0.22, abs=0.12) and by_field["place"] == pytest.approx(0.22, abs=0.12)
        misses = {name: round(counts[name] * (1 - share)) for name, share in by_field.items()}
        assert max(misses, key=misses.get) == "time" and misses["time"] == metrics["time_misses"]
        assert metrics["time_misses"] == pytest.approx(22, abs=3)
        assert metrics["time_misses_minutes_right"] >= metrics["time_misses"] - 2
    assert 0 < metrics["widest_ci"] < 0.3
    assert images_in(executed) >= 3  # confusion matrices, intervals, quality vs speed


def check_07_troubleshooting(metrics: dict[str, Any], executed: Path) -> None:
    tiny = metrics["params"]["model_id"] == config.COURSE_TINY
    # The SmolLM2 numbers the prose gives were measured at the cpu profile (its rates and batch of 8); at the gpu
    # profile (other rates, batches of 16) only the directions are claimed.
    smollm2_cpu = not tiny and metrics["params"]["profile"] == "cpu"
    # The demonstration runs are the ones the prose names for each kind of model. Section 1 (and 5d) runs course-tiny
    # at the cpu profile, as lesson 08's training runs do: "overfit_model" says which model ran it.
    runs = metrics["section_runs"]
    overfit_tiny = runs["overfit_model"] == config.COURSE_TINY
    assert overfit_tiny or not tiny  # course-tiny's lesson runs it throughout
    overfit_smollm2_cpu = not overfit_tiny and metrics["params"]["profile"] == "cpu"
    assert (runs["overfit_phrases"], runs["overfit_steps"]) == ((64, 200) if overfit_tiny else (8, 18))
    if overfit_tiny or overfit_smollm2_cpu:  # "64 phrases for 200 steps (50 passes)", "8 phrases for 18 steps"
        passes = runs["overfit_steps"] * runs["overfit_batch_size"] // runs["overfit_phrases"]
        assert passes == (50 if overfit_tiny else 18)
    assert runs["overfit_rate"] == (None if overfit_tiny else 3e-4)  # "six times that rate, 3e-4, held constant"
    assert runs["eos_steps"] == (40 if tiny else 10)
    # Every "after" is better than its "before", in the stated direction.
    overfit = metrics["overfitting"]
    assert overfit["val_loss_after"] < overfit["val_loss_before"]  # measured 0.093 < 0.134 (SmolLM2 0.117 < 0.267)
    # "the training loss goes to almost zero ... while the validation loss bottoms out early": course-tiny measured
    # 0.0006 at ci and at cpu (AMD EPYC with AVX-512, 2026-12-05), SmolLM2 below 0.00005 (printed as 0.0000), against
    # best validation losses of 0.093 and 0.117.
    assert overfit["train_loss_end"] < min(0.005, overfit["val_loss_after"] / 10), overfit["train_loss_end"]
    # "On course-tiny it ends the run early, at step 80 of 200 at the ci profile, and at the same step at the cpu
    # profile on an AMD EPYC with AVX-512" (ci: portable kernels; at the cpu profile course-tiny runs the CPU's fastest
    # kernels, which "on another CPU need not stop at the same step": one evaluation either way is allowed there);
    # SmolLM2 (cpu, -p model_id): "the patience ran out at step 18, the last: the run was not shortened"
    if tiny:
        assert (overfit["steps_after"], overfit["steps_before"]) == (80, 200)
    elif overfit_tiny:
        assert 60 <= overfit["steps_after"] <= 100 and overfit["steps_before"] == 200, overfit
    if overfit_smollm2_cpu:
        assert (overfit["steps_after"], overfit["steps_before"]) == (18, 18)
    # "On course-tiny it moves little, within 5 points": measured 55.5 -> 56.5 %; "on SmolLM2 it went up (87.5 % to
    # 94 % on the EPYC with AVX2 only, 84 % to 91.5 % on the one with AVX-512)" (cpu, 2026-12-05; before the default
    # system message was left out it went down, 72.5 % to 68 %)
    if overfit_smollm2_cpu:
        assert 0.835 <= overfit["accuracy_before"] <= 0.88 and 0.91 <= overfit["accuracy_after"] <= 0.945, overfit
        assert overfit["accuracy_after"] > overfit["accuracy_before"]
    if overfit_tiny:
        assert abs(overfit["accuracy_after"] - overfit["accuracy_before"]) <= 0.05
    lr = metrics["learning_rate"]
    assert lr["diverged_before"] and not lr["diverged_after"]
    if smollm2_cpu:  # "SmolLM2-135M at 5e-5 (full) and 3e-4 (PEFT) at the cpu profile, six times"
        assert (metrics["params"]["learning_rate"], metrics["params"]["peft_learning_rate"]) == (5e-5, 3e-4)
    assert lr["final_loss_after"] < lr["final_loss_before"]
    oom = metrics["oom"]
    # The estimator's activations are within 15 % of the exact measurement (measured +9 %; SmolLM2 +2 %).
    assert oom["estimated_mb"] == pytest.approx(oom["measured_mb"], rel=0.15)
    # Each memory fix lowers what it targets.
    assert oom["activations_after_mb"] < oom["activations_before_mb"]
    assert oom["smaller_batch_mb"] < oom["activations_before_mb"] and oom["shorter_sequences_mb"] < oom["activations_before_mb"]
    assert oom["linear_weights_nf4_mb"] < 0.2 * oom["linear_weights_fp32_mb"]
    plan = {(row["model"], row["method"]): row for row in metrics["memory_plan"]}
    # "Full fine-tuning of the 3.8 B shape needs several times a 16 GB card"; LoRA and QLoRA fit.
    # (measured 57 GB, 3.6 times 16; the plan is computed from shapes alone, so it is the same on every machine)
    assert plan[("Phi-3-mini (3.8B) shape", "full")]["estimate (GB)"] > 3 * 16
    # "LoRA removes those, QLoRA shrinks the weights too"
    for shape in ("Qwen2.5-0.5B shape", "Phi-3-mini (3.8B) shape"):
        assert plan[(shape, "qlora")]["estimate (GB)"] < plan[(shape, "lora")]["estimate (GB)"] < \
            plan[(shape, "full")]["estimate (GB)"]
    assert plan[("Phi-3-mini (3.8B) shape", "qlora")]["fits 16 GB?"] and plan[("Phi-3-mini (3.8B) shape", "lora")]["fits 16 GB?"]
    slow = metrics["slow"]
    # Padding to 128 tokens: "39 % with course-tiny's tokenizer, 53 % with SmolLM2's" (deterministic counts: course-tiny
    # measured 0.3945, 2026-12-03; SmolLM2 0.5287, 2026-12-05), and dynamic padding processes more real tokens per
    # second (measured 1.72x, 1.41x on 2026-12-04; SmolLM2 1.6x-2.0x, side by side in one process).
    assert slow["padding_share"] == pytest.approx(0.3945 if tiny else 0.5287, abs=0.005)
    assert slow["tokens_per_second_dynamic"] > slow["tokens_per_second_padded"]
    # Batches of 4: fewer real tokens per second than 16 for course-tiny (measured 0.41x, 0.29x, 0.47x); for SmolLM2,
    # since the head scores only the answer's positions, "batches of 8 ran at more real tokens per second than batches
    # of 4" (0.75x on 2026-12-03 evening, 6 steps, printed by the speed cell; a timing, so the prose states and this
    # asserts only the direction; before, batches of 4 had been the faster ones, 1.16x and 1.46x: README).
    assert slow["tokens_per_second_batch4"] < slow["tokens_per_second_dynamic"]
    template = metrics["template"]
    # measured 13.5 % -> 56 % (SmolLM2 0 -> 83 %)
    assert template["accuracy_after"] >= template["accuracy_before"] + 0.30
    eos = metrics["eos"]
    if tiny:
        # "every answer runs to the limit" (measured 20 -> 3.3 tokens)
        assert eos["mean_len_before"] == 20 and eos["mean_len_after"] < 8
    elif smollm2_cpu:
        # "5.9 tokens, against 3.1 with EOS" (measured 5.92 and 3.14, 2026-12-05): greedy, so allow 0.3 for another
        # CPU; "only in part": below the limit.
        assert (eos["mean_len_before"], eos["mean_len_after"]) == pytest.approx((5.92, 3.14), abs=0.3)
    completion = metrics["completion_only"]
    # measured 28.5 % -> 56 % (SmolLM2 at cpu: "40 % against 83 %, on both EPYCs", 2026-12-05)
    assert completion["accuracy_after"] > completion["accuracy_before"] + 0.10
    if smollm2_cpu:
        assert (completion["accuracy_before"], completion["accuracy_after"]) == pytest.approx((0.40, 0.83), abs=0.005)
    if tiny:  # "On course-tiny the gap is 27.5 points (28.5 % against 56 %, 2026-12-04)"
        assert (completion["accuracy_before"], completion["accuracy_after"]) == pytest.approx((0.285, 0.56), abs=0.005)
    leakage = metrics["leakage"]
    assert leakage["overlap_before"] == runs["overfit_phrases"] and leakage["overlap_after"] == 0
    # "a model can look better than it is": "77 % against 53 %" (64 + 64 phrases; 2026-12-04); SmolLM2 (8 + 8, cpu,
    # 2026-12-05) "shows no gap: 100 % on both"
    if overfit_tiny:
        assert leakage["accuracy_leaky"] > leakage["accuracy_clean"]
    if tiny or overfit_smollm2_cpu:
        measured = (0.766, 0.531) if tiny else (1.0, 1.0)
        assert (leakage["accuracy_leaky"], leakage["accuracy_clean"]) == pytest.approx(measured, abs=0.005)
    elif overfit_tiny:  # "at the cpu profile alike on an AMD EPYC with AVX-512"; elsewhere 3 phrases of 64 either way
        assert (leakage["accuracy_leaky"], leakage["accuracy_clean"]) == pytest.approx((0.766, 0.531), abs=0.05)
    assert metrics["environment"]["failures"] == 0
    assert images_in(executed) >= 3


def check_08_scale_out(metrics: dict[str, Any], executed: Path) -> None:
    import math

    # Gradient accumulation: 8 x 2 gives the batch-16 loss curve. Measured 9.5e-7 at ci (1.4e-6 on 2026-12-03; on an
    # Intel Xeon's AVX-512 kernels, at cpu, 6.7e-6) (float32 rounding); allow 1e-5.
    accumulation = metrics["accumulation"]
    assert accumulation["batch_size"] == 16 and accumulation["micro_batch"] * accumulation["steps"] == 16
    assert accumulation["max_abs_loss_diff"] <= 1e-5
    # "about half the tensor memory" of a step (measured 51 %); at most 75 %. Time per step is measured for both
    # (the prose makes no claim about it: a second process on the machine slows the 2-thread run many times over).
    assert accumulation["memory_ratio"] <= 0.75
    assert all(seconds > 0 for seconds in accumulation["median_step_seconds"].values())
    # The launcher trap, counted: asked for 2 CPU processes two ways, accelerate's launcher started 1, no WORLD_SIZE.
    assert len(metrics["launcher_trap"]) == 2
    assert all(row["started"] == 1 and row["WORLD_SIZE inside"] == [None] for row in metrics["launcher_trap"].values())
    # torchrun: a world size of 2 read inside both processes, MULTI_CPU over gloo, two different processes, each
    # holding the full model wrapped in DDP, with one thread each.
    ddp = metrics["ddp"]
    full_parameters = sum(math.prod(shape) for shape in metrics["fsdp"]["full_shapes"].values())
    assert [rank["world_size"] for rank in ddp["inside"]] == [2, 2]
    assert len({rank["pid"] for rank in ddp["inside"]}) == 2
    for rank in ddp["inside"]:
        assert (rank["distributed_type"], rank["backend"], rank["threads"]) == ("MULTI_CPU", "gloo", 1)
        assert rank["wrapped_as"] == "DistributedDataParallel" and rank["parameters"] == full_parameters
    # DDP = one process on the whole batch: step-0 gradient measured 3.0e-8 apart at ci on 2026-12-04 (largest entry
    # 0.14; 5.2e-8 and 0.18 on 2026-12-03): allow 1e-6; loss curves 9.5e-7 apart (1.4e-6 before; 1.17e-5 at cpu on
    # an Intel Xeon's AVX-512 kernels, which fails this): allow 1e-5. The ranks' averaged gradients are bit-identical.
    assert ddp["gradient_max_abs_diff_vs_one_process"] <= 1e-6 < ddp["gradient_max_abs"]  # 2.1e-7 relative
    assert ddp["max_abs_loss_diff_vs_one_process"] <= 1e-5
    assert ddp["gradient_max_diff_between_ranks"] == 0
    # The Trainer logs the loss over every rank's answer tokens (measured 1.2e-6 from the token-weighted mean, 9.5e-7
    # from one process's; allow 1e-5), equal to one process's; not rank 0's own loss (0.53 away) nor the plain mean of
    # the ranks' losses (0.057 away; 2026-12-04).
    logged = metrics["logged_loss"]
    assert logged["logged_by_trainer_step1"] == pytest.approx(logged["mean_over_all_answer_tokens"], abs=1e-5)
    assert logged["logged_by_trainer_step1"] == pytest.approx(logged["one_process_step1"], abs=1e-5)
    assert abs(logged["logged_by_trainer_step1"] - logged["rank0_own"]) > 1e-3
    assert abs(logged["logged_by_trainer_step1"] - logged["plain_mean_over_ranks"]) > 1e-3
    # Throughput: "far from the 2x two devices would give". Measured 0.86x-0.90x on a quiet machine (1.31x once, with
    # noise in the single-process timing; 2026-12-02: 1.07x at ci, 0.68x and 0.77x at cpu; 2026-12-03: 1.06x at ci;
    # 2026-12-04: 0.96x at ci with the portable kernels);
    # require below 1.5x. The single process is timed again right after the DDP run (a fresh-clone cpu run had timed it
    # only in section 1, at the start of the lesson, at 0.168 s a step against 0.046 s in the next run: 2.98x). Like
    # the other lessons' speed checks, this assumes nothing else runs on the machine: a second busy process slows the
    # 2-thread single process many times over (its threads wait for each other; measured 23x once), and not the 1-thread
    # DDP processes. One process uses 2 math threads, each DDP process 1.
    throughput = metrics["throughput"]
    assert 0 < throughput["ddp_vs_one_process"] < 1.5
    assert throughput["one_process"]["threads each"] >= 2 and throughput["ddp"]["threads each"] == 1
    # The Trainer's fsdp= option is ignored on CPU processes: not enabled, plain DDP, no sharded parameter.
    for rank in metrics["trainer_fsdp_flag"]:
        assert rank["is_fsdp_enabled"] is False and rank["wrapped_as"] == "DistributedDataParallel"
        assert rank["sharded_parameters"] == 0 and rank["distributed_type"] == "MULTI_CPU"
    # FSDP2 fully_shard, measured inside: every matrix cut in half along dim 0 (DTensor shards); each rank holds exactly
    # half the parameter and gradient bytes, and AdamW states of twice that; the update equals one process's
    # (measured 3.0e-8 at ci on 2026-12-04, 1.0e-7 before; allow 1e-6). DeepSpeed is not installed, so ZeRO is not run.
    fsdp = metrics["fsdp"]
    assert len(fsdp["per_rank"]) == 2 and fsdp["full_parameter_bytes"] == full_parameters * 4
    for rank in fsdp["per_rank"]:
        assert rank["parameter_type"] == "DTensor"
        for name, shape in fsdp["full_shapes"].items():
            assert rank["local_shapes"][name][0] * 2 == shape[0] and rank["local_shapes"][name][1:] == shape[1:], name
        assert rank["parameter_bytes"] * 2 == fsdp["full_parameter_bytes"] and rank["gradient_bytes"] == rank["parameter_bytes"]
        assert rank["optimizer_state_bytes"] == 2 * rank["parameter_bytes"]
        assert rank["updated_max_abs_diff_vs_one_process"] <= 1e-6
    assert metrics["deepspeed_installed"] is False
    # Mixed precision, on the profile's model (at cpu: SmolLM2, while the training runs above are course-tiny's).
    # trl's SFTConfig turns bf16 on by default. The rest is measured on one step (float32 vs bf16 autocast), and the
    # fp16 shares on its float32 gradients.
    precision = metrics["mixed_precision"]
    assert precision["trl_default_bf16"] is True
    assert precision["seconds_fp32"] > 0 and precision["seconds_bf16"] > 0  # printed, not compared: hardware decides
    # "... and both precisions are compared on the batch's first 4 phrases" where bf16 is slow; else the whole batch.
    assert precision["compared_phrases"] == (metrics["params"]["batch_size"] if precision["fast_bf16"] else 4)
    if metrics["params"]["profile"] == "cpu":
        assert precision["model_id"] == config.SMOLLM2_135M
        # "the gradients change by about 4 %" (with SmolLM2's default system message: 3.8 % on AMD EPYCs, 2026-12-03
        # and 2026-12-05, and on an Intel Xeon, 2026-12-04; 4.0 % on an AMD EPYC without fast bf16 kernels, 2026-12-05;
        # without it, on that EPYC: 3.6 %), "the loss ... between about 0.02 % and 0.2 % on the four CPUs measured"
        # (with the system message: 0.0199 % on the Xeon with avx512_bf16; 0.19 % and 0.187 % on two EPYCs; without it,
        # 0.079 % on the EPYC without fast bf16 kernels, 0.060 % there with it: neither the maker nor the instructions
        # decide it, so one range for every CPU). "On all four CPUs, and on course-tiny, the gradients moved at least
        # ten times as much as the loss" (measured 20x on two EPYCs, 191x on the Xeon, 46x on the third EPYC: 66x
        # there with the system message).
        assert 0.02 < precision["gradient_rel_change"] < 0.08
        assert 1e-4 < precision["loss_rel_change"] < 3e-3
        # "Where PyTorch has no fast bf16 matrix products ... bf16 is far slower: one step of SmolLM2 on the whole batch
        # of 16 phrases took 195 s against 5.8 s in float32, 34 times as long" (AMD EPYC with AVX2, 2026-12-05). Such a
        # CPU now compares 4 phrases: 40.3 s against 1.58 s, 26x, with oneDNN held to AVX2 on an AVX-512 EPYC
        # (ONEDNN_MAX_CPU_ISA=AVX2). Ratios of one run, so 5x asserted. With them, hardware decides: not compared.
        if precision.get("fast_bf16") is False:
            assert precision["seconds_bf16"] > 5 * precision["seconds_fp32"]
        assert precision["gradient_rel_change"] >= 10 * precision["loss_rel_change"]
        # "about 5 % of SmolLM2's" round to 0 in fp16 (measured 5.3 %); "41 %" lose precision (41.2 %); scaled by
        # 65,536, "a few in a million" still round to 0 (measured 3.2e-6) and "1" overflows (measured 1; 15 with the
        # system message).
        assert 0.03 < precision["fp16_underflow_share"] < 0.07 and 0.33 < precision["fp16_subnormal_share"] < 0.48
        assert 0 < precision["fp16_underflow_share_scaled"] < 1e-5 and precision["fp16_overflow_scaled"] == 1
        # Exercise 8.2's rule, run from GradScaler's 65,536: "on SmolLM2 the same two" skips, 65,536 and 32,768 (the
        # largest gradient, 2.7, fits fp16's 65,504 at 16,384; with the system message 3 skips: 7.9 fit only at 8,192).
        assert precision["scaler_skipped_at"] == [2.0**16, 2.0**15] and precision["scaler_scale_that_fits"] == 2.0**14
        assert precision["largest_gradient"] * precision["scaler_scale_that_fits"] <= 65504
    else:
        assert precision["model_id"] == metrics["params"]["model_id"] == config.COURSE_TINY
        # "under 0.1 %" and "about 1.5 %" (measured 0.015 % and 1.5 % on 2026-12-04; 0.051 % and 1.2 % on 2026-12-03):
        # the gradients move more than the loss. bf16 matrix products go through oneDNN, which the portable kernels do
        # not pin (it picks avx512_bf16 where the CPU has it), so these stay ranges.
        assert precision["loss_rel_change"] < 1e-3 and 5e-3 < precision["gradient_rel_change"] < 2e-2
        # "... and on course-tiny, the gradients moved at least ten times as much as the loss" (measured 102x)
        assert precision["gradient_rel_change"] >= 10 * precision["loss_rel_change"]
        # "0.035 %" round to 0 in fp16 (measured 0.0346 %; float32 gradients, portable kernels); scaled by 65,536
        # none does, and "42" overflow.
        assert 3.0e-4 < precision["fp16_underflow_share"] < 4.0e-4 and precision["fp16_underflow_share_scaled"] == 0
        assert precision["fp16_overflow_scaled"] == 42
        # "On course-tiny that is two skips": 65,536 and 32,768 overflow, 16,384 fits (the largest gradient, 2.5,
        # x 32,768 is 81,951, over fp16's 65,504; x 16,384 is 40,976).
        assert precision["scaler_skipped_at"] == [2.0**16, 2.0**15] and precision["scaler_scale_that_fits"] == 2.0**14
    # TensorBoard: one event file per run (DDP: rank 0 only), 20 losses each, equal to what the Trainer logged
    # (measured 0.0; allow float32 storage, 1e-5).
    assert len(metrics["tensorboard"]) == 3
    for run in metrics["tensorboard"].values():
        assert run["event_files"] == 1 and run["points"] == 20 and run["max_abs_diff_vs_trainer"] <= 1e-5
    # The four shipped accelerate configs load with accelerate's loader; a misspelt one is refused with what is valid.
    assert {name: c["distributed_type"] for name, c in metrics["accelerate_configs"].items()} == {
        "multi_gpu.yaml": "MULTI_GPU", "multi_node_deepspeed_zero3.yaml": "DEEPSPEED",
        "multi_node_fsdp.yaml": "FSDP", "single_gpu.yaml": "NO"}
    assert "MULTI_GPUS" in metrics["bad_config_error"] and "valid distributed_type values" in metrics["bad_config_error"]
    # Throughput bars, FSDP bytes per rank, the fp16 histogram, the curves read back from TensorBoard.
    assert images_in(executed) >= 4


def check_09_preference(metrics: dict[str, Any], executed: Path) -> None:
    reports = metrics["reports"]
    real = metrics["params"]["model_id"] != config.COURSE_TINY
    # Section 6: DPO from the base and DPO with the SFT term run on course-tiny and on a GPU (on SmolLM2 on a CPU each
    # would add about 2 minutes).
    for parameter in ("base_dpo", "sft_term"):  # None: the lesson's default; True or False: what the run asked for
        ran = metrics[f"run_{parameter}"]
        if metrics[parameter] is not None:
            assert ran is metrics[parameter]
        elif not real:
            assert ran
        elif metrics["params"]["profile"] == "cpu":
            assert not ran
    from_sft = ["SFT + DPO", "SFT + DPO + SFT term"] if metrics["run_sft_term"] else ["SFT + DPO"]
    from_base = ["base + DPO", "base + ORPO"] if metrics["run_base_dpo"] else ["base + ORPO"]
    assert list(reports) == ["base", "SFT (lesson 03)", *from_sft, *from_base]
    # "30 steps" of half lesson 03's batch in pairs, as many sequences as its SFT step (8 on course-tiny, 4 at cpu).
    assert metrics["preference_steps"] == min(30, metrics["params"]["max_steps"])
    assert metrics["pairs_per_step"] == metrics["params"]["batch_size"] // 2
    # Section 2: "the base model answers in sentences (a format share of 0)".
    assert reports["base"]["format_share"] == 0
    sft, dpo, with_sft = reports["SFT (lesson 03)"], reports["SFT + DPO"], reports.get("SFT + DPO + SFT term")
    # Section 5 / exercise 9.1: the DPO loss by hand is trl's, to 1e-5 (measured: equal to the last printed digit).
    assert metrics["by_hand_loss_diff"] < 1e-5
    # Section 4: the margin starts at 0 (policy = reference) and grows.
    assert abs(metrics["dpo_margin_first"]) < 1e-6 and metrics["dpo_margin_last"] > 0.1
    for report in reports.values():
        low, high = report["accuracy_ci"]
        assert 0 <= report["format_share"] <= 1 and low <= report["accuracy"] <= high
        assert report["perplexity"] > 1 and report["answer_tokens"] > 0
    # Section 9: the DPO adapter is saved without trl's "ref" copy, with lesson 03's rank and layers.
    assert metrics["exported_same_shape"] and "adapter_model.safetensors" in metrics["exported_adapter_files"]
    # Section 9 exports the DPO-tuned adapter on course-tiny (export_onnx None), and skips it on SmolLM2. "the fp32
    # export gave the PyTorch model's answer to all 200 held-out phrases ... int4 ... the same answer to 81.5 % of
    # them ... 65.5 % of its answers start with a label (69.5 % in PyTorch), and 57 % are right (58 %)" (ci, 2026-12-04).
    exported = metrics["exported_onnx"]
    assert exported["ran"] == (not real)
    if not real:
        pytorch, fp32, int4 = exported["pytorch"], exported["fp32"], exported["int4"]
        assert fp32["same_answer_as_pytorch"] == 1.0 and fp32["format_share"] == pytest.approx(pytorch["format_share"])
        assert pytorch["format_share"] == reports["SFT + DPO"]["format_share"]
        assert pytorch["accuracy"] == reports["SFT + DPO"]["accuracy"]
        assert int4["same_answer_as_pytorch"] == pytest.approx(0.815, abs=0.03)
        assert (int4["format_share"], pytorch["format_share"]) == pytest.approx((0.655, 0.695), abs=0.005)
        assert (int4["accuracy"], pytorch["accuracy"]) == pytest.approx((0.57, 0.58), abs=0.005)
    assert not any(name.startswith("ref") for name in metrics["exported_adapter_files"])
    # Section 4: the held-out pairs by failure kind (28 sentences, 24 of each other kind), the policy after DPO from SFT.
    held_out = metrics["held_out"]
    assert {kind: row["pairs"] for kind, row in held_out.items()} == {"echo": 24, "hedge": 24, "sentence": 28,
                                                                      "wrong label": 24}
    format_kinds = ("echo", "hedge", "sentence")
    # "moved every held-out echo, hedge and sentence the right way" (both models)
    assert all(held_out[kind]["moved_right"] == 1.0 for kind in format_kinds)
    margins = [held_out[kind]["margin"] for kind in format_kinds]
    # Exercise 9.2: the SFT model's wrong answers on 200 training phrases became pairs.
    assert 0 < metrics["own_pairs"] < 200
    assert images_in(executed) >= 2  # the reward curves and the format / accuracy bars
    if not real:
        # Section 7 on course-tiny (2026-12-04, portable kernels): "the margin rose from 0 to 4.3, yet the format share
        # and accuracy stayed where SFT had them (71 % to 69.5 %, 56 % to 58 %)"; "the chosen answers became less
        # likely too (-12.5 to -14.4), the rejected ones fell much further (-121.3 to -177.6)"; "perplexity rose
        # nearly sixteenfold" (1,400 -> 21,997); "with the SFT term: 81.5 % in the format and 69.5 % accuracy, 13.5
        # points above SFT". Greedy and seeded, so these repeat; allow 3 points for a library's rounding. (On
        # 2026-12-03, on an AMD EPYC's course-tiny, DPO alone had lowered both: 88.5 % -> 81 %, 59 % -> 41 %.)
        assert metrics["dpo_margin_last"] == pytest.approx(4.3, abs=0.3)  # measured 4.32
        assert (sft["format_share"], sft["accuracy"]) == pytest.approx((0.71, 0.56), abs=0.03)
        assert (dpo["format_share"], dpo["accuracy"]) == pytest.approx((0.695, 0.58), abs=0.03)
        assert (with_sft["format_share"], with_sft["accuracy"]) == pytest.approx((0.815, 0.695), abs=0.03)
        # DPO alone moved neither by more than a few points (measured -1.5 and +2); the SFT term gained over 10 on both
        # SFT and DPO alone (measured +13.5 and +11.5).
        assert abs(dpo["format_share"] - sft["format_share"]) <= 0.05 and abs(dpo["accuracy"] - sft["accuracy"]) <= 0.05
        assert with_sft["accuracy"] > max(sft["accuracy"], dpo["accuracy"]) + 0.10
        # Section 2: SFT's mistakes are "mostly answers that start with no label (58 of 88), the rest wrong labels in
        # the format (30)".
        assert 1 - sft["format_share"] > sft["format_share"] - sft["accuracy"]
        assert metrics["dpo_logps_chosen_change"] < 0 and metrics["dpo_logps_rejected_change"] < 10 * metrics["dpo_logps_chosen_change"]
        assert metrics["dpo_logps_chosen_change"] == pytest.approx(-14.44 + 12.51, abs=0.3)  # measured -1.92
        assert metrics["dpo_logps_rejected_change"] == pytest.approx(-177.59 + 121.28, abs=3)  # measured -56.3
        assert dpo["perplexity"] > 15 * sft["perplexity"]  # measured 15.7 times
        # Section 2: "on course-tiny it jumps" (the SFT model's perplexity of the plain phrases against the base's:
        # measured 1,400 against 28.2, 50 times).
        assert sft["perplexity"] > 40 * reports["base"]["perplexity"]
        # "Over three seeds ... 58 %, 67 % and 60 %, and with the SFT term 69.5 %, 69 % and 67.5 %: ahead of DPO
        # alone at every seed."
        by_seed = metrics["accuracy_by_seed"]
        assert len(by_seed) == 3
        assert all(runs["SFT + DPO + SFT term"] > runs["SFT + DPO"] for runs in by_seed.values())
        assert [by_seed[seed]["SFT + DPO"] for seed in ("0", "1", "2")] == pytest.approx([0.58, 0.67, 0.60], abs=0.03)
        with_term = [by_seed[seed]["SFT + DPO + SFT term"] for seed in ("0", "1", "2")]
        assert with_term == pytest.approx([0.695, 0.69, 0.675], abs=0.03)
        # "From the base model, DPO raised its margin to 2.2 without a single answer in the format"; "ORPO began to
        # learn it: 15.5 % of its answers start with a label" (measured 2.22; ORPO 15.5 %, 8.5 % right).
        assert reports["base + DPO"]["reward_margin"] == pytest.approx(2.2, abs=0.3)
        assert reports["base + DPO"]["format_share"] == 0
        assert reports["base + ORPO"]["format_share"] == pytest.approx(0.155, abs=0.03)
        # Section 4: "mean margins 4.0 to 10.1 ... two thirds of the wrong labels (16 of 24), with a margin of 0.2"
        # (measured 3.954 (hedge) to 10.133 (echo); 0.201).
        assert (min(margins), max(margins)) == pytest.approx((3.95, 10.13), abs=0.1)
        assert held_out["wrong label"]["moved_right"] == pytest.approx(16 / 24, abs=0.1)  # 16 of 24; two pairs' leeway
        assert held_out["wrong label"]["margin"] == pytest.approx(0.20, abs=0.05)
    else:
        # Section 7 on SmolLM2 (cpu, one seed, 30 steps of 4 pairs; 2026-12-05): SFT 100 % in the format, 83 % accurate
        # (78-88 %); DPO alone 100 % and 80.5 % (75-86 %), margin 0.80, chosen -1.10 -> -0.81 (rose a little),
        # rejected -14.13 -> -36.80; base + ORPO 92.5 % in the format, 54 %, perplexity 102.3 -> 83.8; DPO's perplexity
        # within 1 % of SFT's 101.6 (102.2). Greedy and seeded; allow 3 points (0.1 for margins) for rounding.
        assert (sft["format_share"], sft["accuracy"]) == pytest.approx((1.0, 0.83), abs=0.03)
        assert sft["accuracy_ci"] == pytest.approx([0.775, 0.88], abs=0.03)
        assert (dpo["format_share"], dpo["accuracy"]) == pytest.approx((1.0, 0.805), abs=0.03)
        assert sft["accuracy"] > dpo["accuracy"]
        # Takeaways: "DPO alone ... inside SFT's interval (78-88 %)".
        assert sft["accuracy_ci"][0] <= dpo["accuracy"]
        if with_sft is not None:  # -p sft_term true: "88 % (84-92 %)", "at the top of that interval" (2026-12-05)
            assert (with_sft["format_share"], with_sft["accuracy"]) == pytest.approx((1.0, 0.88), abs=0.03)
            assert with_sft["accuracy"] > sft["accuracy"] and with_sft["accuracy"] <= sft["accuracy_ci"][1]
            assert with_sft["accuracy_ci"] == pytest.approx([0.835, 0.925], abs=0.03)
            assert with_sft["accuracy_ci"][0] < sft["accuracy_ci"][1]  # "one seed, and the intervals overlap"
        assert metrics["dpo_margin_last"] == pytest.approx(0.80, abs=0.1)  # measured 0.795
        # "the chosen answers' log-probability rose a little (-1.10 to -0.81)": measured +0.296, rejected -22.68
        assert metrics["dpo_logps_chosen_change"] == pytest.approx(-0.81 + 1.10, abs=0.05)
        assert metrics["dpo_logps_rejected_change"] == pytest.approx(-36.80 + 14.13, abs=1)
        # "(interval 75-86 %)": the interval the table prints (75 % measured).
        assert dpo["accuracy_ci"] == pytest.approx([0.75, 0.86], abs=0.03)
        orpo = reports["base + ORPO"]
        assert (orpo["format_share"], orpo["accuracy"]) == pytest.approx((0.925, 0.54), abs=0.03)
        assert reports["base"]["format_share"] == 0
        assert reports["base"]["lenient_accuracy"] == pytest.approx(0.38, abs=0.03)
        assert orpo["perplexity"] == pytest.approx(84, abs=2)
        assert reports["base"]["perplexity"] == pytest.approx(102, abs=2)
        for tuned in [dpo, *([with_sft] if with_sft else [])]:
            assert tuned["perplexity"] == pytest.approx(sft["perplexity"], rel=0.01)  # measured 0.6 % and 0.4 % above
        assert sft["perplexity"] == pytest.approx(101.6, abs=2)  # measured 101.58
        # Section 4: "margins 0.51 to 1.05 ... only two thirds of the wrong labels (16 of 24), with a mean margin near 0
        # (0.020)": a margin that small leaves each pair's sign to noise, so two pairs' leeway. Measured 0.515
        # (sentence) to 1.052 (echo).
        assert (min(margins), max(margins)) == pytest.approx((0.51, 1.05), abs=0.03)
        assert held_out["wrong label"]["moved_right"] == pytest.approx(16 / 24, abs=0.1)
        assert held_out["wrong label"]["margin"] == pytest.approx(0.020, abs=0.01)  # measured 0.0199


def check_10_gguf(metrics: dict[str, Any], executed: Path) -> None:
    tiny = metrics["params"]["model_id"] == config.COURSE_TINY
    # Section 2, at every profile (the shipped file is the same): "5.744 bits per weight in its tensors", 210 Q4_1
    # matrices, one Q8_0 (the embedding) and 61 F32 norms.
    assert metrics["shipped_bits_per_weight"] == pytest.approx(5.744, abs=0.001)
    assert metrics["shipped_tensor_types"] == {"Q4_1": 210, "F32": 61, "Q8_0": 1}
    # Section 2: "The template in the file is the one the model was trained with" (SmolLM2's own file; at cpu).
    if metrics["params"]["model_id"] == config.SMOLLM2_135M:
        assert metrics["shipped_template_is_tokenizers"] is True
    # Section 8: the Modelfile gives the tokenizer's prompt for every held-out question; its stop is <|im_end|>.
    assert metrics["modelfile_match"] == 1.0 and metrics["modelfile_stops"] == ["<|im_end|>"]
    # Section 6 always scores PyTorch and ONNX int4 (lesson 05's), whether llama.cpp is there or not.
    assert {"PyTorch fp32 (merged)", "ONNX int4"} <= set(metrics["scores"])
    if tiny:
        # Section 6 on course-tiny, with llama.cpp or without: "PyTorch's 56 % ... and ONNX int4 58.5 %" (2026-12-04).
        # PyTorch runs on the portable kernels, so its score repeats on any x86-64 CPU; ONNX Runtime picks its own
        # kernels by CPU (measured only on an Intel Xeon for this course-tiny): 3 points, as lessons 05 and 06 allow.
        assert metrics["scores"]["PyTorch fp32 (merged)"]["accuracy"] == pytest.approx(0.56, abs=0.005)
        assert metrics["scores"]["ONNX int4"]["accuracy"] == pytest.approx(0.585, abs=0.03)
    if not metrics["llama_cpp_ran"]:
        assert metrics["files"] == {} and "make gguf" in metrics["llama_cpp"]
        return
    files, scores, trap = metrics["files"], metrics["scores"], metrics["trap"]
    # Section 4: "the converter refuses course-tiny: BPE pre-tokenizer was not recognized"; SmolLM2 converts as it is.
    if tiny:
        assert "pre-tokenizer was not recognized" in metrics["converter_refusal"] and metrics["pre_tokenizer"] == "gpt-2"
    else:
        assert metrics["converter_refusal"] is None and metrics["pre_tokenizer"] is None
    # Section 4's table: f16 about 16 bits per weight, q8_0 about 8.5; each file smaller than the one before.
    assert files["f16"]["bits_per_weight"] == pytest.approx(16.0, abs=0.1)
    assert files["q8_0"]["bits_per_weight"] == pytest.approx(8.5, abs=0.1)
    assert files["f16"]["mb"] > files["q8_0"]["mb"] > files["Q4_K_M"]["mb"]
    # "Q4_K_M spends more than the 4.5 bits of its Q4_K blocks: 6.33 bits on course-tiny, 6.17 on SmolLM2"; "12 of its 16 matrices are Q5_0
    # and only 2 are K-quants" (course-tiny); "16 Q4_K and 14 Q6_K, and 166 of its 211 matrices are Q5_0" (SmolLM2).
    q4_types = files["Q4_K_M"]["tensor_types"]
    if tiny:
        assert files["Q4_K_M"]["bits_per_weight"] == pytest.approx(6.33, abs=0.01)
        assert q4_types.get("Q5_0") == 12 and q4_types.get("Q8_0") == 2
        assert q4_types.get("Q4_K", 0) + q4_types.get("Q6_K", 0) == 2
    else:  # "... and its 15 Q8_0 are where Q6_K was asked"
        assert files["Q4_K_M"]["bits_per_weight"] == pytest.approx(6.17, abs=0.01)
        assert (q4_types["Q5_0"], q4_types["Q4_K"], q4_types["Q6_K"], q4_types["Q8_0"]) == (166, 16, 14, 15)
    # Section 5: the template in the file is the tokenizer's, and llama.cpp tokenizes every prompt the same way.
    assert metrics["template_same"] is True and metrics["tokenizer_match"] == 1.0
    # Section 6: "at f16 every greedy answer is PyTorch's" (measured 100 % at both profiles), and so its accuracy.
    assert metrics["parity"]["f16"] == 1.0
    torch_scores = scores["PyTorch fp32 (merged)"]
    assert scores["GGUF f16"]["accuracy"] == torch_scores["accuracy"]
    # "q8_0 and Q4_K_M score inside PyTorch's interval" (one seed).
    low, high = torch_scores["accuracy_ci"]
    assert all(low <= scores[f"GGUF {name}"]["accuracy"] <= high for name in ("q8_0", "Q4_K_M"))
    speed = metrics["tokens_per_second"]
    if tiny:
        # "q8_0 to 98 % and Q4_K_M to 92.5 %; the three files within a point of PyTorch's 56 % (56 / 55.5 / 56.5 %)"
        # (measured 2026-12-04 with llama.cpp, `make test-gguf`; up to four prompts' rounding either way on another CPU:
        # llama.cpp picks its own kernels)
        assert metrics["parity"]["q8_0"] == pytest.approx(0.98, abs=0.02)
        assert metrics["parity"]["Q4_K_M"] == pytest.approx(0.925, abs=0.02)
        assert all(round(abs(scores[f"GGUF {name}"]["accuracy"] - torch_scores["accuracy"]), 6) <= 0.01
                   for name in ("f16", "q8_0", "Q4_K_M"))
    else:
        # The table's current run (AMD EPYC with AVX2 only, 2026-12-05, without the default system message): answers
        # the same "100 / 96.5 / 89 %"; PyTorch "83 % (78-88 %)" (0.775-0.88); "q8_0 / Q4_K_M 80.5 / 85 %", "by four
        # or five answers of 200"; ONNX int4 "33.5 %", "less than half of the fine-tune" (lesson 05's check asserts
        # 33.5 % within 3 points; here: far below Q4_K_M's). With the message: 95.5-96 / 92.5 %, PyTorch 84 % (79-89 %),
        # q8_0 81.5-82 %, Q4_K_M 86-87 %, ONNX int4 40-43 % on three CPUs. The accuracy ranges keep the widths of the
        # earlier ones (one answer for q8_0, two for Q4_K_M, six for ONNX int4), around this run's and the second
        # current run's (AMD EPYC with AVX-512, 2026-12-05: q8_0 82 %, Q4_K_M 86.5 %, "two (q8_0) and seven (Q4_K_M)"
        # answers of 200 from PyTorch's; parity 100 / 95.5 / 88 %).
        assert metrics["parity"]["q8_0"] == pytest.approx(0.965, abs=0.03)
        assert metrics["parity"]["Q4_K_M"] == pytest.approx(0.89, abs=0.03)
        assert torch_scores["accuracy"] == pytest.approx(0.83, abs=0.005)
        assert torch_scores["accuracy_ci"] == pytest.approx([0.775, 0.88], abs=0.005)
        assert 0.8025 - 1e-9 <= scores["GGUF q8_0"]["accuracy"] <= 0.8225 + 1e-9
        assert 0.845 - 1e-9 <= scores["GGUF Q4_K_M"]["accuracy"] <= 0.87 + 1e-9
        assert scores["GGUF q8_0"]["accuracy"] < torch_scores["accuracy"] < scores["GGUF Q4_K_M"]["accuracy"]
        assert all(0.01 - 1e-9 <= abs(scores[f"GGUF {name}"]["accuracy"] - torch_scores["accuracy"]) <= 0.035 + 1e-9
                   for name in ("q8_0", "Q4_K_M"))
        assert 0.32 - 1e-9 <= scores["ONNX int4"]["accuracy"] <= 0.35 + 1e-9
        assert scores["ONNX int4"]["accuracy"] < scores["GGUF Q4_K_M"]["accuracy"] - 0.2
        assert scores["ONNX int4"]["accuracy"] < torch_scores["accuracy"] / 2
        # "every GGUF file decodes several times faster than PyTorch (3.6 to 4.3 times and 4.5 to 5.2 times in the two
        # current runs, 3.7 to 6.6 times in the three earlier ones)" (current: AMD EPYCs with AVX2 only and with
        # AVX-512, 2026-12-05; earlier: 4.2-5.8 and 5.7-6.6 times, and 3.7-4.7 on the AVX2 EPYC with the default
        # system message): at least three times, a ratio within one run. Their order among themselves changed between
        # runs, and is not claimed.
        assert min(speed[f"GGUF {name}"] for name in files) > 3 * speed["PyTorch fp32 (merged)"]
    # Section 7: without the template no answer is right, and almost all are empty (the first token ends the turn);
    # without the stop every answer runs to the 48-token limit, though its first word is still the label; "on SmolLM2
    # it took five to nine times as long" (measured 8.9, 8.0 and 6.3 times, and 5.1 on an AMD EPYC with AVX2 only,
    # 2026-12-05; 5.7 there without the default system message; asserted: over 3 times, within one run).
    # On course-tiny an answer takes about a millisecond either way, so no time is claimed there (2.8-5.3 times).
    right, bare, no_stop = (trap["the model's template, stop at end of turn"], trap["no template"],
                            trap["the model's template, no stop"])
    assert bare["accuracy"] == 0.0
    assert no_stop["tokens / answer"] == 48 and right["tokens / answer"] < 10
    if tiny:
        # course-tiny (2026-12-04): "without the template it answers with fragments of a label's letters (`urprise`),
        # 4 % of them empty"; "without the stop its label runs into the words after it: a program that reads the
        # first word scores 50 % against 58 %" (measured 0.5 and 0.58; 58 % and 70 % start with a label). llama.cpp
        # picks its own kernels: 3 points.
        assert bare["empty answers"] < 0.5 and bare["starts with a label"] == 0.0
        assert (no_stop["accuracy"], right["accuracy"]) == pytest.approx((0.50, 0.58), abs=0.03)
        assert no_stop["accuracy"] < right["accuracy"]
    else:
        # SmolLM2: "for almost every question the first token ends the turn", and the first word is still the label.
        assert bare["empty answers"] >= 0.9
        assert no_stop["accuracy"] == right["accuracy"]
    if not tiny:
        assert no_stop["ms / answer"] > 3 * right["ms / answer"]
    assert metrics["stops_end_turns"] is True


CHECKS: dict[str, Callable[[dict[str, Any], Path], None]] = {stem: globals()[f"check_{stem}"] for stem in lessons.STEMS}


def run_lesson(stem: str, profile: str, out: Path, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Execute one lesson like `course run`; its metrics.json, after checking it ran at `profile`."""
    outcome = runner.run_notebook(stem, profile, overrides or {}, out, progress=False)
    assert outcome.status == "ok", f"{stem}: {outcome.detail}"
    metrics = json.loads((out / stem / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["params"]["profile"] == profile and metrics["notebook"] == stem
    # Every exercise's check passed with the instructor's solution (tests/test_exercises.py checks how they are marked).
    assert len(metrics["exercises"]) >= 2 and all(metrics["exercises"].values()), metrics["exercises"]
    return metrics


@pytest.mark.notebooks
@pytest.mark.parametrize("stem", NOTEBOOKS)
def test_lesson_runs_at_ci_profile_and_keeps_its_claims(stem: str, run_out: Path) -> None:
    assert stem in CHECKS, f"add check_{stem} to tests/test_notebooks.py: assert the numbers the lesson claims"
    CHECKS[stem](run_lesson(stem, "ci", run_out), run_out / stem / f"{stem}.ipynb")
    # what later lessons reuse is where course_utils.artifacts looks for it (the lesson table names it)
    missing = [name for name in lessons.lesson(stem).artifacts if not (run_out / stem / name).is_dir()]
    assert missing == [], f"{stem} did not leave {missing} in its run folder"


@pytest.fixture(scope="session")
def tier_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One results folder per opt-in tier and session, shared by its lessons (later ones reuse earlier artifacts)."""
    return tmp_path_factory.mktemp("runs-tier")


@pytest.mark.cpu
@pytest.mark.parametrize("stem", NOTEBOOKS)
def test_lesson_keeps_its_claims_at_the_laptop_profile(stem: str, tier_out: Path) -> None:
    """The claims hold where learners run the course on a laptop (`--profile cpu`), with the same check functions."""
    CHECKS[stem](run_lesson(stem, "cpu", tier_out / "cpu"), tier_out / "cpu" / stem / f"{stem}.ipynb")


@pytest.mark.gpu_path
@pytest.mark.parametrize("stem", NOTEBOOKS)
def test_the_gpu_profile_runs_end_to_end_on_a_cpu_at_two_steps(stem: str, tier_out: Path) -> None:
    """The gpu profile's path (its model shape, settings, full test set, plots, metrics) with only CUDA switched off.

    The model is a random-init folder of SmolLM2-135M's shape (no hub here), so no accuracy is asserted: what is
    checked is that every cell runs with the gpu profile's values and writes what the lesson reports.
    """
    from course_utils import config, models

    folder = str(models.build_smollm2_shape())
    accepted = runner.notebook_parameters(stem)
    overrides = {name: value for name, value in {"model_id": folder, "max_steps": 2}.items() if name in accepted}
    out = tier_out / "gpu_path"
    metrics = run_lesson(stem, "gpu", out, overrides)
    assert metrics["params"]["model_id"] == folder
    assert metrics["params"]["batch_size"] == config.PROFILES["gpu"]["batch_size"]
    assert metrics["params"]["n_test"] is None  # the gpu profile scores the whole test set
    if "n_test" in metrics:
        assert metrics["n_test"] == 200
    assert images_in(out / stem / f"{stem}.ipynb") >= 1


@pytest.mark.notebooks
def test_qlora_lesson_skips_its_4bit_cells_cleanly_without_bitsandbytes(tmp_path: Path, monkeypatch) -> None:
    """Issue: where bitsandbytes is unusable, lesson 04 says why and skips the 4-bit cells instead of crashing."""
    monkeypatch.setenv("COURSE_SIMULATE_NO_BITSANDBYTES", "1")
    outcome = runner.run_notebook("04_qlora", "ci", {}, tmp_path, progress=False)
    assert outcome.status == "ok", outcome.detail
    metrics = json.loads((tmp_path / "04_qlora" / "metrics.json").read_text())
    assert metrics["bnb_usable"] is False and "qlora_accuracy" not in metrics
    assert set(metrics["footprint_mb"]) == {"fp32", "bf16"} and metrics["lora_accuracy"] >= 0.4
    executed = (tmp_path / "04_qlora" / "04_qlora.ipynb").read_text()
    assert "simulated as unusable" in executed and "pip install -r requirements.txt" in executed


@pytest.mark.notebooks
def test_eval_lesson_scores_every_other_variant_without_bitsandbytes(run_out: Path, monkeypatch) -> None:
    """Where bitsandbytes is unusable, lesson 06 says why, leaves out the QLoRA variant only, and still asserts its claims.

    It reuses the session's results folder (after the lesson tests, earlier lessons' artifacts are there), and
    makes whatever is missing when run alone.
    """
    monkeypatch.setenv("COURSE_SIMULATE_NO_BITSANDBYTES", "1")
    outcome = runner.run_notebook("06_eval", "ci", {}, run_out, progress=False)
    assert outcome.status == "ok", outcome.detail
    metrics = json.loads((run_out / "06_eval" / "metrics.json").read_text())
    assert [v["name"] for v in metrics["variants"]] == ["base", "full", "lora", "merged", "onnx_int4"]
    executed = (run_out / "06_eval" / "06_eval.ipynb").read_text()
    assert "QLoRA skipped" in executed and "simulated as unusable" in executed


@pytest.mark.notebooks
def test_lora_lesson_learns_and_scores_a_learners_own_capitalised_accented_labels(tmp_path: Path) -> None:
    """Issue: labels such as Sad/Joy or Hungarian szomorú scored 0 % although the model answered them right.

    Two of the shipped tones renamed in Hungarian (capitalised, accented), as a JSON array (the Olive example's
    shape), then lesson 03 at the ci profile (100 steps): the answers must be matched to the labels as written.
    Course-tiny pretrained on English only, so it never wrote the bytes of Ö or ú: with the adapters alone it scored
    0 % (2026-12-03, its answers bits of the labels' bytes), and the output layer must train too (modules_to_save).
    """
    from course_utils import data

    names = {"joy": "Öröm", "sadness": "Szomorú"}
    files = {}
    for split in ("train", "test"):
        rows = [{"phrase": row["phrase"], "tone": names[row["tone"]]}
                for row in data.load_tone(f"data/tone/{split}.jsonl") if row["tone"] in names]
        files[split] = tmp_path / f"{split}.json"
        files[split].write_text(json.dumps(rows, ensure_ascii=False, indent=1), encoding="utf-8")
    # No rank sweep (section 6): this test asserts nothing about it, and its two trainings took 24 s of the 52.
    overrides = {"tone_train": str(files["train"]), "tone_test": str(files["test"]), "modules_to_save": "lm_head",
                 "sweep_ranks": ""}
    outcome = runner.run_notebook("03_lora", "ci", overrides, tmp_path / "runs", progress=False)
    assert outcome.status == "ok", outcome.detail
    metrics = json.loads((tmp_path / "runs" / "03_lora" / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["labels"] == ["Szomorú", "Öröm"]
    # Measured 76 % on the 100 held-out phrases (chance: 50 %; 2026-12-04 with the portable kernels; 82 % on
    # 2026-12-03 on an AMD EPYC's course-tiny; 94 % without modules_to_save on the first course-tiny, pretrained 300
    # steps); before the scoring fix it read 0 %. Require 75 %.
    assert metrics["lora_accuracy"] >= 0.75 and metrics["base_accuracy"] == 0.0
    # The model's answers are reported as the data writes the labels, both of them.
    assert metrics["predicted_labels"] == ["Szomorú", "Öröm"]
    assert metrics["multi_adapter_ok"] is True
