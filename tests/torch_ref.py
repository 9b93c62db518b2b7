"""Access to real PyTorch for tests that compare with it: skipped with a visible reason when
torch is missing, a failure under CI=true (CI installs torch==2.13.0, so missing is a bug)."""
from __future__ import annotations

import os

import pytest


def need_torch():
    try:
        import torch
    except ImportError:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("torch is not installed, but CI=true requires it")
        pytest.skip("torch is not installed: the PyTorch cross-checks did not run")
    return torch


def nchw_to_hwc(shape) -> tuple:
    """torch's (N, C, H, W) or (N, F) output -> archcalc's (H, W, C) or (F,)."""
    shape = tuple(shape)
    if len(shape) == 4:
        return (shape[2], shape[3], shape[1])
    return shape[1:]


def hwc_to_nchw(shape) -> tuple:
    if len(shape) == 3:
        return (1, shape[2], shape[0], shape[1])
    return (1,) + tuple(shape)


def param_count(module) -> int:
    return sum(p.numel() for p in module.parameters())


def buffer_count(module) -> int:
    return sum(b.numel() for name, b in module.named_buffers() if not name.endswith("num_batches_tracked"))
