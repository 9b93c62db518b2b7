"""The counting tools themselves, run as a user runs them, on a module `archcalc export`
wrote: the referees of `--count-as` (tests/test_count_as.py).

Each runner takes the exported module's source and returns the tool's total MACs for one
input of the spec's shape (batch 1), the network built on the CPU as a user builds it (the
tools need real tensors: fvcore traces the model, ptflops patches functions a real forward
calls; Swin's relative-position index must hold real indices). The last network built is
kept, and each tool counts a fresh copy of it (the tools leave hooks, buffers and attributes
behind).
"""
from __future__ import annotations

import contextlib
import io
import os
import warnings

import pytest

TOOLS = ("torch", "fvcore", "ptflops", "ptflops-aten", "thop")
# the pip distribution each convention needs (.ci/run pins them)
DISTRIBUTIONS = {"torch": "torch", "fvcore": "fvcore", "ptflops": "ptflops", "ptflops-aten": "ptflops",
                 "thop": "thop"}
_IMPORT = {"torch": "torch", "fvcore": "fvcore.nn", "ptflops": "ptflops", "thop": "thop"}


def require(tool: str):
    """Import what ``tool`` needs: skipped locally when missing, a failure under CI=true
    (.ci/run installs it)."""
    import importlib

    distribution = DISTRIBUTIONS[tool]
    try:
        importlib.import_module("torch")
        return importlib.import_module(_IMPORT[distribution])
    except ImportError:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{distribution} is not installed, but CI=true requires it (.ci/run installs it)")
        pytest.skip(f"{distribution} is not installed (pip install {distribution} runs this referee)")


_BUILT: dict[str, tuple] = {}


def build(source: str):
    """(network in eval mode on the CPU, input tensor) from an exported module's source: a
    fresh copy of the last network built from the same source."""
    import copy

    import torch

    if source not in _BUILT:
        _BUILT.clear()
        namespace = {"__name__": "exported_for_count"}
        exec(compile(source, "<archcalc export>", "exec"), namespace)  # noqa: S102 - our own output
        torch.manual_seed(0)
        with torch.no_grad():
            net = namespace["build"]()
        net.eval()
        dtype = namespace.get("INPUT_DTYPE", torch.float32)
        shape = namespace["INPUT_SHAPE"]
        x = torch.zeros(shape, dtype=dtype) if dtype != torch.float32 else torch.rand(shape)
        _BUILT[source] = (net, x)
    net, x = _BUILT[source]
    return copy.deepcopy(net), x


def count_torch(net, x) -> int:
    """torch.utils.flop_counter.FlopCounterMode as a user runs it on a CPU: no_grad, PyTorch's
    default attention kernels (nothing switched off), FLOPs / 2."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        net(x)
    return counter.get_total_flops() // 2


def count_fvcore(net, x) -> int:
    from fvcore.nn import FlopCountAnalysis

    analysis = FlopCountAnalysis(net, x)
    analysis.unsupported_ops_warnings(False)
    analysis.uncalled_modules_warnings(False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return int(analysis.total())


def _ptflops(net, x, backend: str) -> int:
    from ptflops import get_model_complexity_info

    with contextlib.redirect_stdout(io.StringIO()) as said, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        macs, _ = get_model_complexity_info(net, tuple(x.shape[1:]), as_strings=False,
                                            print_per_layer_stat=False, backend=backend,
                                            input_constructor=lambda _shape: x)
    assert macs is not None, f"ptflops ({backend}) failed: {said.getvalue()[-2000:]}"
    return int(macs)


def count_ptflops(net, x) -> int:
    return _ptflops(net, x, "pytorch")


def count_ptflops_aten(net, x) -> int:
    return _ptflops(net, x, "aten")


def count_thop(net, x) -> int:
    from thop import profile

    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        macs, _ = profile(net, inputs=(x,), verbose=False)
    total = int(macs)
    assert total == macs, f"thop's float total {macs!r} is not a whole number"
    return total


RUNNERS = {"torch": count_torch, "fvcore": count_fvcore, "ptflops": count_ptflops,
           "ptflops-aten": count_ptflops_aten, "thop": count_thop}


def count(tool: str, source: str, batch: int = 1) -> int:
    """``tool``'s total MACs for the exported module ``source`` (a fresh network each time:
    the tools leave hooks, buffers and attributes behind), on ``batch`` copies of the input."""
    import torch

    net, x = build(source)
    if batch != 1:
        x = x.expand(batch, *x.shape[1:]).contiguous()
    with torch.inference_mode(False):
        return RUNNERS[tool](net, x)
