"""bitsandbytes quantization for QLoRA: configs, the compute dtype per device, weight bytes and quantization error."""

from __future__ import annotations

import os
from typing import Any

import torch
from torch import nn

from course_utils.models import block_linear_layers

QUANT_TYPES = ("nf4", "fp4", "int8")


def compute_dtype(device: str) -> tuple[torch.dtype, str]:
    """The dtype QLoRA computes in on `device`, and a sentence saying why."""
    if device.startswith("cuda"):
        if torch.cuda.is_bf16_supported():
            return torch.bfloat16, "bf16: this GPU supports it, with fp32's range at half the bytes"
        return torch.float16, "fp16: this GPU has no bf16 (a T4, say); fp16 works, with loss scaling by the Trainer"
    return torch.float32, "fp32: on CPU, bitsandbytes dequantizes 4-bit weights to fp32 for each matrix product"


def bitsandbytes_config(bits: int, dtype: torch.dtype = torch.float32, double_quant: bool = True) -> Any:
    """BitsAndBytesConfig for 4-bit NF4 (with double quantization) or 8-bit (LLM.int8) weights."""
    from transformers import BitsAndBytesConfig

    if bits == 4:
        return BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=double_quant,
            bnb_4bit_compute_dtype=dtype,
        )
    if bits == 8:
        return BitsAndBytesConfig(load_in_8bit=True)
    raise ValueError(f"bits must be 4 or 8 (got {bits!r})")


def load_4bit(model_id: str, device: str | None = None, for_training: bool = False) -> Any:
    """`model_id` with 4-bit NF4 weights in this device's compute dtype; `for_training` also runs
    peft's prepare_model_for_kbit_training (lesson 04 shows these steps one by one)."""
    from course_utils import models

    device = device or models.default_device()
    dtype, _ = compute_dtype(device)
    model = models.load_model(model_id, device=device, quantization_config=bitsandbytes_config(4, dtype))
    if for_training:
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    return model


def bitsandbytes_usable() -> tuple[bool, str]:
    """Whether bitsandbytes can quantize here, and what to do if it cannot.

    COURSE_SIMULATE_NO_BITSANDBYTES=1 answers "no", so the lessons' fallback path can be tested anywhere.
    """
    from course_utils.doctor import OK, WARN, Finding, inspect_bitsandbytes

    if os.environ.get("COURSE_SIMULATE_NO_BITSANDBYTES") == "1":
        finding = Finding(WARN, "bitsandbytes", "simulated as unusable (COURSE_SIMULATE_NO_BITSANDBYTES=1)")
    else:
        finding = inspect_bitsandbytes()
    if finding.status == OK:
        return True, finding.detail
    return False, (
        f"{finding.detail}. QLoRA needs bitsandbytes: install the pinned version (pip install -r requirements.txt) "
        "on Linux or Windows with a CPU or an NVIDIA GPU. Meanwhile, lesson 03's LoRA is the same method without 4-bit."
    )


def linear_weight_bytes(model: nn.Module) -> int:
    """Bytes held by the linear layers' weights inside the blocks, quantization constants included."""
    total = 0
    for module in block_linear_layers(model).values():
        weight = module.weight
        total += weight.numel() * weight.element_size()
        state = getattr(weight, "quant_state", None)
        if state is not None:  # 4-bit: one scale (absmax) per block, themselves quantized with double quant
            total += state.absmax.numel() * state.absmax.element_size()
            nested = getattr(state, "state2", None)
            if nested is not None:
                total += nested.absmax.numel() * nested.absmax.element_size()
        scales = getattr(weight, "SCB", None)
        if scales is not None:  # 8-bit: one scale per row
            total += scales.numel() * scales.element_size()
    return total


def reconstruction_error(weight: torch.Tensor, quant_type: str, blocksize: int = 64) -> float:
    """Relative error ||W - dequantize(quantize(W))|| / ||W|| of a weight matrix for nf4, fp4 or int8."""
    import bitsandbytes.functional as bnb_functional

    if quant_type not in QUANT_TYPES:
        raise ValueError(f"quant_type must be one of {', '.join(QUANT_TYPES)} (got {quant_type!r})")
    weight = weight.detach().float().cpu().contiguous()
    if quant_type == "int8":
        quantized, state = bnb_functional.quantize_blockwise(weight, blocksize=blocksize)
        restored = bnb_functional.dequantize_blockwise(quantized, state)
    else:
        quantized, state = bnb_functional.quantize_4bit(weight, blocksize=blocksize, quant_type=quant_type)
        restored = bnb_functional.dequantize_4bit(quantized, state)
    return float((restored - weight).norm() / weight.norm())


def nf4_levels() -> torch.Tensor:
    """The 16 values an NF4 number can take, on the [-1, 1] scale of its block."""
    import bitsandbytes.functional as bnb_functional

    return bnb_functional.get_4bit_type("nf4", device="cpu")
