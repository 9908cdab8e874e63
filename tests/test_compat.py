"""Library internals the course relies on (course_utils/compat.py): each holds with the installed versions."""

import pytest

from course_utils import compat, doctor


@pytest.mark.parametrize("reliance", compat.RELIANCES, ids=lambda r: r.package)
def test_each_reliance_holds_with_the_installed_version(reliance: compat.Reliance) -> None:
    assert compat.verify_reliance(reliance) is None


def test_a_broken_reliance_names_the_package_both_versions_and_what_it_affects() -> None:
    def gone() -> None:
        raise AttributeError("module 'trl.trainer.utils' has no attribute '_CHUNKED_LOGPROB_CHUNK_SIZE'")

    broken = compat.Reliance("a private chunk size", "trl", "1.16.0", "lesson 02's memory estimate", gone)
    message = compat.verify_reliance(broken)
    assert message == (f"a private chunk size no longer holds with trl {compat.installed('trl')} (checked with "
                       "1.16.0): AttributeError: module 'trl.trainer.utils' has no attribute "
                       "'_CHUNKED_LOGPROB_CHUNK_SIZE'. Affects lesson 02's memory estimate.")


def test_doctor_reports_the_reliances(monkeypatch) -> None:
    assert [c.status for c in doctor.inspect_compat()] == [doctor.OK]
    broken = compat.Reliance("x", "torch", "0.0.1", "nothing", lambda: (_ for _ in ()).throw(KeyError("y")))
    monkeypatch.setattr(compat, "RELIANCES", (*compat.RELIANCES, broken))
    (warning,) = [c for c in doctor.inspect_compat() if c.status == doctor.WARN]
    assert warning.name == "library internals" and "x no longer holds with torch" in warning.detail


def test_the_cache_keyword_follows_the_installed_transformers() -> None:
    import inspect

    from transformers import LlamaConfig, LlamaForCausalLM

    model = LlamaForCausalLM(LlamaConfig(vocab_size=32, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                         num_attention_heads=2, num_key_value_heads=2))
    (name,) = compat.cache_argument(model, object())
    assert name in inspect.signature(LlamaForCausalLM.forward).parameters


def test_the_head_on_answer_positions_is_put_back_after_an_error() -> None:
    import torch
    from trl.trainer import utils

    original = utils._use_triton
    with pytest.raises(RuntimeError, match="a failing step"):
        with compat.head_on_answer_positions():
            assert utils._use_triton(torch.device("cpu"))  # inside: the answer's positions only, on a CPU too
            raise RuntimeError("a failing step")
    assert utils._use_triton is original and not utils._use_triton(torch.device("cpu"))


def test_the_head_on_answer_positions_says_when_trl_has_no_switch(monkeypatch) -> None:
    """The block yields True where it set trl's switch; on a trl without `_use_triton` it yields False and adds none."""
    from trl.trainer import utils

    with compat.head_on_answer_positions() as changed:
        assert changed
    monkeypatch.delattr(utils, "_use_triton")
    with compat.head_on_answer_positions() as changed:
        assert not changed and not hasattr(utils, "_use_triton")
