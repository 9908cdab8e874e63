"""bitsandbytes helpers: configs, compute dtype, weight bytes and the NF4-vs-FP4 error on normal weights."""

from __future__ import annotations

import pytest
import torch

from course_utils import models, quantization


def test_nf4_beats_fp4_on_normally_distributed_weights() -> None:
    weight = torch.randn(256, 128, generator=torch.Generator().manual_seed(0)) * 0.02
    nf4, fp4, int8 = (quantization.reconstruction_error(weight, kind) for kind in ("nf4", "fp4", "int8"))
    assert int8 < nf4 < fp4


def test_unknown_quant_type_and_bits_are_refused() -> None:
    with pytest.raises(ValueError, match="quant_type must be one of nf4, fp4, int8"):
        quantization.reconstruction_error(torch.ones(64, 64), "int3")
    with pytest.raises(ValueError, match=r"bits must be 4 or 8 \(got 2\)"):
        quantization.bitsandbytes_config(2)


def test_4bit_config_is_nf4_with_double_quant() -> None:
    config = quantization.bitsandbytes_config(4, torch.bfloat16)
    assert config.load_in_4bit and config.bnb_4bit_quant_type == "nf4" and config.bnb_4bit_use_double_quant
    assert config.bnb_4bit_compute_dtype == torch.bfloat16


def test_cpu_computes_in_fp32() -> None:
    dtype, reason = quantization.compute_dtype("cpu")
    assert dtype == torch.float32 and "CPU" in reason


def test_4bit_linear_weights_are_under_a_sixth_of_fp32(tiny_model_path) -> None:
    fp32 = models.load_model(str(tiny_model_path), dtype=torch.float32, device="cpu")
    nf4 = models.load_model(str(tiny_model_path), device="cpu",
                            quantization_config=quantization.bitsandbytes_config(4, torch.float32))
    ratio = quantization.linear_weight_bytes(nf4) / quantization.linear_weight_bytes(fp32)
    assert 0.125 < ratio < 1 / 6  # half a byte per weight plus the block scales


def test_nf4_levels_are_sixteen_values_from_minus_one_to_one() -> None:
    levels = quantization.nf4_levels()
    assert levels.numel() == 16 and levels.min() == -1 and levels.max() == 1 and 0 in levels.tolist()


def test_load_4bit_gives_nf4_linear_layers_ready_to_train(tiny_model_path) -> None:
    from bitsandbytes.nn import Linear4bit

    model = quantization.load_4bit(str(tiny_model_path), device="cpu", for_training=True)
    layers = [m for m in model.modules() if isinstance(m, Linear4bit)]
    assert len(layers) == 14 and layers[0].weight.quant_type == "nf4"
    assert not any(p.requires_grad for p in model.parameters()), "the 4-bit base stays frozen"
