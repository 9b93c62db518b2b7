"""The ONNX round trip (issue 24): a built-in → `archcalc export` → PyTorch →
`torch.onnx.export` (the TorchScript exporter, ``dynamo=False``, ``do_constant_folding=False``,
so batch norm stays a BatchNormalization node) → `archcalc show MODEL.onnx` gives the figures
PyTorch itself counts on the exported module — parameters (``numel`` of every parameter), MACs
(``FlopCounterMode``'s total ÷ 2) and the output shape (a forward pass) — and `archcalc import`
of the same file writes a spec that validates and gives them again.

Budget: exporting a network to ONNX costs seconds (weights are real tensors), so this runs a
documented sample of small built-ins, chosen to cover the ops the zoo's families export to
(plain convolutions, depthwise and grouped ones, inverted residuals with squeeze-and-excitation
and hard activations, concatenating fire and dense blocks, RegNet's groups), about a minute
on two cores. The cases archcalc cannot read yet are strict xfails that name archcalc's gap:
they fail loudly the day the gap is closed, so the list cannot go stale. Where PyTorch itself
cannot export (ShuffleNet's ``channel_shuffle``), the xfail says so.
NOT covered yet (issue 24 asks for it): every built-in, every spec in specs/ and docs/, and the
dynamo exporter (it needs ``onnxscript``, which CI does not install).
"""
from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import warnings

import pytest
from test_onnx import need  # CI=true: a missing torch or onnx fails, never skips

ARCHCALC_GAP = "archcalc's ONNX reader refuses "
CASES = {
    "lenet5": None,
    "resnet18": None,
    "mobilenet_v2": None,
    "mobilenet_v3_small": None,
    "efficientnet_b0": None,
    "mnasnet0_5": None,
    "squeezenet1_0": None,
    "regnet_x_400mf": None,
    "densenet121": None,
    "alexnet": ARCHCALC_GAP + "LRN's decomposition (Add with a constant operand, Pow, Div)",
    "lenet5-1998": ARCHCALC_GAP + "the connection table's Gather and the subsampling's constant Mul/Add",
    "googlenet": ARCHCALC_GAP + "the input transform's Mul/Add with a constant operand",
    "convnext_tiny": ARCHCALC_GAP + "Transpose, LayerNormalization and layer scale's Mul with a constant",
    "shufflenet_v2_x0_5": "PyTorch cannot export aten::channel_shuffle to ONNX (TorchScript exporter)",
}


def _run(*args):
    return subprocess.run([sys.executable, "-m", "archcalc", *args], capture_output=True, text=True)


def _figures(done):
    assert done.returncode == 0, done.stderr[-2000:]
    data = json.loads(done.stdout)
    return data["totals"]["params"], data["totals"]["macs"], data["output"]


def _pytorch_count(model, x):
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    params = sum(p.numel() for p in model.parameters())
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        out = model(x)
    return params, counter.get_total_flops() // 2, list(out.shape[1:])


@pytest.mark.parametrize("name", [pytest.param(name, marks=[pytest.mark.xfail(reason=why, strict=True)]
                                               if why else []) for name, why in CASES.items()])
def test_a_built_in_survives_export_onnx_and_import(name, tmp_path):
    torch = need("torch")
    need("onnx")
    module_path = tmp_path / "model.py"
    done = _run("export", name, "-o", str(module_path))
    assert done.returncode == 0, done.stderr
    spec = importlib.util.spec_from_file_location(f"roundtrip_{name.replace('-', '_')}", module_path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model = module.build().eval()
    height, width, channels = json.loads(_run("show", name, "-f", "json").stdout)["input"]
    x = torch.zeros(1, channels, height, width)
    params, macs, output = _pytorch_count(model, x)

    onnx_path = tmp_path / "model.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (x,), str(onnx_path), dynamo=False, do_constant_folding=False)
    assert _figures(_run("show", str(onnx_path), "-f", "json")) == (params, macs, output)

    written = tmp_path / "imported.yaml"
    done = _run("import", str(onnx_path), "-o", str(written))
    assert done.returncode == 0, done.stderr[-2000:]
    checked = _run("validate", str(written), "-f", "json")
    assert json.loads(checked.stdout)["summary"]["errors"] == 0, checked.stdout[-2000:]
    assert _figures(_run("show", str(written), "-f", "json")) == (params, macs, output)
