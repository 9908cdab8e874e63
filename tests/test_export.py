"""Export helpers: the builder's supported architectures and clear errors for what it cannot export."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from course_utils import export


def test_supported_architectures_are_read_from_the_installed_builder() -> None:
    supported = export.supported_architectures()
    assert {"LlamaForCausalLM", "Qwen2ForCausalLM", "Phi3ForCausalLM", "GemmaForCausalLM"} <= set(supported)


def test_unsupported_architecture_names_the_supported_ones(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"architectures": ["GPT2LMHeadModel"]}))
    with pytest.raises(ValueError, match=r"cannot export GPT2LMHeadModel; it supports: .*LlamaForCausalLM.*Qwen2ForCausalLM"):
        export.build_onnx(tmp_path, tmp_path / "out", "int4")
    assert not (tmp_path / "out").exists()


def test_unknown_precision_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"precision must be one of fp32, fp16, int4 \(got 'int3'\)"):
        export.build_onnx(tmp_path, tmp_path / "out", "int3")


def test_a_failed_build_keeps_the_last_good_export(tiny_model_path: Path, tmp_path: Path, monkeypatch) -> None:
    good = tmp_path / "onnx"
    good.mkdir()
    (good / "model.onnx").write_text("last good")
    monkeypatch.setattr(export.sys, "executable", "/bin/false")  # the builder process fails
    with pytest.raises(RuntimeError, match="the model builder failed"):
        export.build_onnx(tiny_model_path, good, "fp32")
    assert (good / "model.onnx").read_text() == "last good"
    assert [p.name for p in tmp_path.iterdir()] == ["onnx"]
