"""Training wrappers: clear errors for bad methods, ranks and target modules; a short real training run."""

from __future__ import annotations

import dataclasses

import pytest

from course_utils import config, data, train


def test_unknown_method_lists_the_valid_ones(tiny_model_and_tokenizer) -> None:
    model, _ = tiny_model_and_tokenizer
    with pytest.raises(ValueError, match=r"method must be one of full, lora, ia3 \(got 'qlora4'\)"):
        train.make_peft_config("qlora4", model)


@pytest.mark.parametrize("rank", [0, -4])
def test_lora_rank_must_be_positive(tiny_model_and_tokenizer, rank: int) -> None:
    model, _ = tiny_model_and_tokenizer
    with pytest.raises(ValueError, match=rf"lora_r must be a positive integer \(got {rank}\)"):
        train.make_peft_config("lora", model, lora_r=rank)
    with pytest.raises(ValueError, match="lora_r must be a positive integer"):
        config.resolve_params("ci", lora_r=rank)


def test_target_modules_that_match_nothing_list_the_real_layers(tiny_model_and_tokenizer) -> None:
    model, _ = tiny_model_and_tokenizer
    with pytest.raises(ValueError, match=r"target_modules \['qkv_proj'\] match no linear layer of this model; "
                                         r"its linear layers are: \['down_proj', 'gate_proj', 'k_proj'"):
        train.make_peft_config("lora", model, target_modules="q_proj,qkv_proj")


def test_modules_to_save_name_the_layers_that_can_train_in_full(tiny_model_and_tokenizer) -> None:
    model, _ = tiny_model_and_tokenizer
    with pytest.raises(ValueError, match=r"modules_to_save \['q_proj'\]: only the input embedding and the output head "
                                         r"can be named here \(this model: \['embed_tokens', 'lm_head'\]\); layers "
                                         r"inside the blocks take adapters through target_modules"):
        train.make_peft_config("lora", model, modules_to_save="lm_head,q_proj")
    assert train.make_peft_config("lora", model, modules_to_save="lm_head").modules_to_save == ["lm_head"]
    assert train.make_peft_config("lora", model).modules_to_save is None
    with pytest.raises(ValueError, match="modules_to_save goes with method 'lora' only"):
        train.make_peft_config("ia3", model, modules_to_save="lm_head")


def test_modules_to_save_is_refused_where_the_head_is_tied_to_the_embedding() -> None:
    """SmolLM2 ties its head: a trained copy would be lost when the merged model is saved and loaded again."""
    from transformers import LlamaConfig, LlamaForCausalLM

    tied = LlamaForCausalLM(LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                                        num_attention_heads=2, num_key_value_heads=2, tie_word_embeddings=True))
    with pytest.raises(ValueError, match=r"modules_to_save \['lm_head'\]: this model ties its output head to its "
                                         r"input embedding \(tie_word_embeddings\)"):
        train.make_peft_config("lora", tied, modules_to_save="lm_head")


def test_lora_config_defaults_to_every_linear_layer_and_reads_strings(tiny_model_and_tokenizer) -> None:
    model, _ = tiny_model_and_tokenizer
    every = train.make_peft_config("lora", model, lora_r=4, lora_alpha=8)
    assert set(every.target_modules) == {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}
    assert (every.r, every.lora_alpha) == (4, 8)
    assert set(train.make_peft_config("lora", model, target_modules="q_proj, v_proj").target_modules) == {"q_proj", "v_proj"}
    assert train.make_peft_config("full", model) is None


def test_fine_tune_trains_a_lora_adapter_and_measures_the_run(tiny_model_path, tmp_path) -> None:
    from course_utils import models

    params = config.resolve_params("ci", max_steps=3, batch_size=4, out_dir=str(tmp_path))
    model, tokenizer = models.load_model_and_tokenizer(str(tiny_model_path))
    rows = data.load_tone("data/tone/train.jsonl", limit=16)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    result = train.fine_tune(model, tokenizer, data.tone_dataset(rows, data.label_set(rows)), params, tmp_path,
                             train.make_peft_config("lora", model))
    assert result.steps == 3 and result.tokens_seen > 0 and result.seconds > 0
    assert 0 < result.trainable_pct < 100 and result.peak_memory_mb > 0
    lora_weights = [p for n, p in result.model.named_parameters() if "lora_B" in n]
    assert lora_weights and any(p.abs().sum() > 0 for p in lora_weights), "LoRA B matrices never moved from zero"
    base_after = dict(result.model.get_base_model().named_parameters())
    assert all(base_after[n].equal(before[n]) for n in before if n in base_after), "the frozen base changed"
    folder = train.save_weights(result.model, tmp_path / "adapter")
    assert folder == tmp_path / "adapter" and (folder / "adapter_model.safetensors").exists()
    assert 0 < train.folder_size_mb(folder) < 0.5


@pytest.mark.parametrize("method", ["lora", "ia3", "full"])
def test_training_scores_only_the_answers_positions_and_trains_the_same_weights(
        tiny_model_path, tmp_path, monkeypatch, method: str) -> None:
    """fine_tune drops the prompt's positions from the LM head on a CPU (compat.head_on_answer_positions): far fewer
    rows reach the head, and the weights are trl's own path's: bit for bit where the head trains nothing (LoRA, IA3),
    within 1e-5 where it trains (full fine-tuning: its gradient adds the same terms in another order; 1.7e-7
    measured)."""
    import torch
    from transformers import set_seed
    from trl import SFTTrainer
    from trl.trainer import utils as trl_utils

    from course_utils import models

    rows_scored: list[int] = []  # rows of hidden states that reach trl's chunked head, call by call
    chunked = trl_utils._ChunkedLogProbFunction

    class Counting:
        @staticmethod
        def apply(hidden, *rest):
            rows_scored.append(hidden.shape[0])
            return chunked.apply(hidden, *rest)

    monkeypatch.setattr(trl_utils, "_ChunkedLogProbFunction", Counting)
    params = config.resolve_params("ci", max_steps=3, batch_size=4, out_dir=str(tmp_path))
    tokenizer = models.load_tokenizer(str(tiny_model_path))
    rows = data.load_tone("data/tone/train.jsonl", limit=16)
    dataset = data.tone_dataset(rows, data.label_set(rows))
    original = trl_utils._use_triton
    trained_weights, scored = {}, {}
    for way in ("trl's own path", "fine_tune"):
        set_seed(0)
        model = models.load_model(str(tiny_model_path))
        peft_config = None if method == "full" else train.make_peft_config(method, model)
        rows_scored.clear()
        if way == "fine_tune":
            result = train.fine_tune(model, tokenizer, dataset, params, tmp_path / "a", peft_config)
            assert result.head_on_answer_positions and result.method == method
            trained = result.model
        else:
            rate = params.learning_rate if method == "full" else params.peft_learning_rate
            args = train.sft_config(params, tmp_path / "b", 3, rate)
            trainer = SFTTrainer(model=model, args=args, train_dataset=dataset, processing_class=tokenizer,
                                 peft_config=peft_config)
            trainer.train()
            trained = trainer.model
        scored[way] = sum(rows_scored)
        trained_weights[way] = {n: p.detach().clone() for n, p in trained.named_parameters() if p.requires_grad}
    assert trl_utils._use_triton is original  # put back after the run
    # The answers are a few tokens of each example's 80-odd: the head scores a small share of the positions.
    assert 0 < scored["fine_tune"] < 0.2 * scored["trl's own path"]
    first, second = trained_weights.values()
    assert first.keys() == second.keys()
    if method == "full":
        assert max((first[n] - second[n]).abs().max().item() for n in first) < 1e-5
    else:
        assert all(torch.equal(first[n], second[n]) for n in first)


def test_save_weights_keeps_the_last_good_checkpoint_when_saving_fails(tmp_path) -> None:
    class Broken:
        def save_pretrained(self, folder: str, safe_serialization: bool) -> None:
            (tmp_path / "half-written").write_text("")
            raise RuntimeError("disk full")

    class Good:
        def save_pretrained(self, folder: str, safe_serialization: bool) -> None:
            (__import__("pathlib").Path(folder) / "adapter_model.safetensors").write_text("good")

    train.save_weights(Good(), tmp_path / "adapter")
    with pytest.raises(RuntimeError, match="disk full"):
        train.save_weights(Broken(), tmp_path / "adapter")
    assert (tmp_path / "adapter" / "adapter_model.safetensors").read_text() == "good"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adapter", "half-written"]


def test_saved_activations_are_measured_and_checkpointing_shrinks_them(tiny_model_path) -> None:
    from course_utils import memory, models

    model, tokenizer = models.load_model_and_tokenizer(str(tiny_model_path))
    batch = dict(tokenizer(["I am so happy"] * 4, return_tensors="pt", padding="max_length", max_length=32))
    without = memory.saved_activations_mb(model, batch)
    assert without == memory.saved_activations_mb(model, batch), "the measurement is exact, so it repeats"
    model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": True})
    assert 0 < memory.saved_activations_mb(model, batch) < without
    estimate = memory.estimate_training_memory(model.config, 1, 1, batch_size=4, seq_len=32)
    assert estimate.activations_mb == pytest.approx(without, rel=0.25)


def test_lora_on_the_gpu_profiles_model_shape_trains_under_two_percent() -> None:
    """Lessons 02 and 03 say LoRA r=8 on every linear layer of SmolLM2-135M trains under 2 % of its weights."""
    from transformers import LlamaConfig

    from course_utils import memory

    smollm2_135m = LlamaConfig(vocab_size=49152, hidden_size=576, intermediate_size=1536, num_hidden_layers=30,
                               num_attention_heads=9, num_key_value_heads=3, tie_word_embeddings=True)
    skeleton = memory.model_from_config(smollm2_135m)
    total = sum(p.numel() for p in skeleton.parameters())
    assert 130e6 < total < 140e6
    assert 1.0 < 100 * memory.lora_parameter_count(skeleton, 8) / total < 2.0
    # QLoRA quantizes the blocks' linear layers (q, o: 576 x 576; k, v: 576 x 192; gate, up, down: 576 x 1536),
    # not the embedding table that the output head shares, nor the norms.
    per_block = 2 * 576 * 576 + 2 * 576 * 192 + 3 * 576 * 1536
    assert memory.quantizable_parameter_count(skeleton) == 30 * per_block
    assert total == 30 * per_block + 49152 * 576 + (2 * 30 + 1) * 576


def test_a_step_runs_in_the_micro_batches_asked_for_and_a_split_that_does_not_divide_is_refused(tmp_path) -> None:
    # Every profile runs each step's batch in one pass (bench/micro_batch.py: on 2 cores, micro-batches of 4 were
    # slower once the head scored only the answer's positions); gradient_accumulation_steps splits it when asked.
    for profile in ("ci", "cpu", "gpu"):
        one = train.sft_config(config.resolve_params(profile), tmp_path, 30, 3e-4)
        assert (one.per_device_train_batch_size, one.gradient_accumulation_steps) == (config.PROFILES[profile]["batch_size"], 1)
    split = train.sft_config(config.resolve_params("cpu", gradient_accumulation_steps=2), tmp_path, 30, 3e-4)
    assert (split.per_device_train_batch_size, split.gradient_accumulation_steps) == (4, 2)
    # Course-tiny at the cpu profile takes the settings it was tuned with: one pass of 16.
    tiny = train.sft_config(config.resolve_params("cpu", model_id=config.COURSE_TINY), tmp_path, 30, 3e-4)
    assert (tiny.per_device_train_batch_size, tiny.gradient_accumulation_steps) == (16, 1)
    # A split that does not divide the batch fails at the top of a lesson (resolve_params), and in sft_config itself.
    uneven = r"batch_size \(8\) must be a multiple of gradient_accumulation_steps \(3\)"
    with pytest.raises(ValueError, match=uneven):
        config.resolve_params("cpu", gradient_accumulation_steps=3)
    with pytest.raises(ValueError, match=uneven):
        train.sft_config(dataclasses.replace(config.resolve_params("cpu"), gradient_accumulation_steps=3), tmp_path, 30, 3e-4)
