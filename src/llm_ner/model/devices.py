"""Where a tagger runs (CUDA, Apple MPS or CPU) and with which float precision."""

from __future__ import annotations

import contextlib

import torch

from .config import check_device


def select_device(name: str = "auto") -> torch.device:
    """``auto`` takes CUDA, then MPS, then the CPU; an explicit name must be available."""
    check_device(name)
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} was requested but CUDA is not available")
    if name.startswith("cuda:") and int(name[5:]) >= torch.cuda.device_count():
        raise ValueError(f"device {name!r} was requested but CUDA has {torch.cuda.device_count()} device(s)")
    if name == "mps" and not torch.backends.mps.is_available():
        raise ValueError("device 'mps' was requested but MPS is not available")
    return torch.device(name)


def mixed_precision_dtype(device: torch.device, enabled: bool) -> torch.dtype | None:
    """bf16 where the GPU supports it (no loss scaling needed), else fp16; None = full precision.
    Only CUDA: CPU autocast is slower than fp32 for this model, and MPS support is partial."""
    if not enabled or device.type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def autocast(device: torch.device, dtype: torch.dtype | None):
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)
