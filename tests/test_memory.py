"""Memory: the tensor-memory measurement is exact, and the estimator's parts match what they claim to count."""

from __future__ import annotations

import pytest
import torch

from course_utils import memory
from course_utils.memory import MB


def test_tensor_memory_counts_each_phase_peak_on_top_of_the_tensors_already_there() -> None:
    before = torch.zeros(MB)  # 4 MB that exist before the block: passed as the baseline
    with memory.TensorMemory(baseline_mb=4.0) as meter:
        meter.phase("first")
        a = torch.ones(2 * MB)  # +8 MB
        b = a * 2  # +8 MB: 20 MB in all at the peak
        del a, b
        meter.phase("second")
        c = torch.ones(MB)  # +4 MB: 8 MB
        del c
    assert meter.peaks["first"] == pytest.approx(20.0, abs=0.01)
    assert meter.peaks["second"] == pytest.approx(8.0, abs=0.01)
    assert meter.peak_mb == pytest.approx(20.0, abs=0.01)
    del before


def test_tensor_mb_counts_weights_gradients_and_optimizer_states_once_each() -> None:
    model = torch.nn.Linear(256, 256, bias=False)
    model.register_buffer("shared", model.weight.data)  # the same storage again is not counted twice
    weights = 256 * 256 * 4 / MB
    assert memory.tensor_mb(model) == pytest.approx(weights)
    optimizer = torch.optim.AdamW(model.parameters())
    model(torch.ones(1, 256)).sum().backward()
    optimizer.step()
    # weights + gradient + AdamW's two states (its step counter is a few bytes).
    assert memory.tensor_mb(model, optimizer) == pytest.approx(4 * weights, rel=0.01)


def test_quantized_weights_are_counted_at_half_a_byte_and_the_rest_at_full_size() -> None:
    from transformers import LlamaConfig

    config = LlamaConfig(vocab_size=1000, hidden_size=64, intermediate_size=128, num_hidden_layers=2)
    full = memory.estimate_training_memory(config, 1_000_000, 0, 1, 1)
    qlora = memory.estimate_training_memory(config, 1_000_000, 0, 1, 1, quantized_params=600_000)
    assert full.weights_mb == pytest.approx(4_000_000 / MB)
    assert qlora.weights_mb == pytest.approx((400_000 * 4 + 600_000 * 0.5) / MB)


def test_an_unknown_lm_head_lists_the_valid_ones() -> None:
    with pytest.raises(ValueError, match=r"lm_head must be one of \['full', 'trl-cpu', 'trl-cuda'\] \(got 'fused'\)"):
        memory.logits_bytes("fused", 8, 100)


def test_the_chunked_head_estimate_matches_trl_on_cpu() -> None:
    """trl's SFTTrainer never builds all the logits; on CPU one vocabulary chunk's backward holds about 8 copies."""
    from trl.kernels import ChunkedLogProbFunction
    from trl.trainer import utils as trl_utils

    assert memory.TRL_VOCAB_CHUNK == trl_utils._CHUNKED_LOGPROB_CHUNK_SIZE, "trl changed its chunk size"
    tokens, hidden_size, vocab = 64, 32, 40_000  # a vocabulary wider than one chunk
    torch.manual_seed(0)
    hidden = torch.randn(tokens, hidden_size, requires_grad=True)
    weight, targets = torch.randn(vocab, hidden_size) * 0.02, torch.randint(0, vocab, (tokens,))
    with memory.TensorMemory() as meter:
        log_probs, *_ = ChunkedLogProbFunction.apply(hidden, weight, None, targets, 1.0, memory.TRL_VOCAB_CHUNK,
                                                      None, 1.0, ("entropy", "is_top1"))
        (-log_probs.sum()).backward()
    estimate = memory.logits_bytes("trl-cpu", tokens, vocab) / MB
    assert meter.peak_mb == pytest.approx(estimate, rel=0.10)  # measured 66 MB against 64 MB
    # A full head would keep all the logits and their log-softmax instead.
    assert memory.logits_bytes("full", tokens, vocab) == 2 * tokens * vocab * 4


def test_the_head_term_counts_only_the_positions_it_scores_and_refuses_an_impossible_count() -> None:
    """Inside compat.head_on_answer_positions (and on CUDA) trl's head scores the answer's positions alone."""
    from transformers import LlamaConfig

    config = LlamaConfig(vocab_size=40_000, hidden_size=64, intermediate_size=128, num_hidden_layers=2)
    every = memory.estimate_training_memory(config, 1_000, 1_000, 4, 128, lm_head="trl-cpu")
    answers = memory.estimate_training_memory(config, 1_000, 1_000, 4, 128, lm_head="trl-cpu", head_tokens=16)
    head = lambda positions: memory.logits_bytes("trl-cpu", positions, 40_000) / MB  # noqa: E731
    assert every.activations_mb - answers.activations_mb == pytest.approx(head(4 * 128) - head(16))
    assert memory.estimate_training_memory(config, 1_000, 1_000, 4, 128, lm_head="trl-cpu",
                                           head_tokens=4 * 128) == every
    for impossible in (0, 4 * 128 + 1):
        with pytest.raises(ValueError, match=rf"head_tokens must be between 1 and batch_size x seq_len = 512 "
                                             rf"\(got {impossible}\)"):
            memory.estimate_training_memory(config, 1_000, 1_000, 4, 128, head_tokens=impossible)


def test_return_freed_memory_lets_go_of_what_nothing_references() -> None:
    """Garbage in a reference cycle is collected, so resident memory measured next counts live objects only."""
    import platform
    import sys
    import weakref

    class Holder:
        pass

    holder = Holder()
    holder.itself, holder.tensor = holder, torch.ones(256, 1024)  # a cycle: only the collector frees it
    alive = weakref.ref(holder)
    del holder
    trimmed = memory.return_freed_memory()
    assert alive() is None
    assert isinstance(trimmed, bool)
    if sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc":
        assert trimmed is True  # glibc's malloc_trim ran
