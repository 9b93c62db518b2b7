"""ONNX models in: `archcalc show|validate|import MODEL.onnx`.

Figures are checked against hand arithmetic (graphs built with onnx.helper) and against
PyTorch counting the very module it exported (parameters, batch-norm statistics and
FlopCounterMode's MACs). onnx and torch are optional here and required in CI.
"""
from __future__ import annotations

import importlib
import json
import os
import warnings

import pytest


def need(module: str):
    try:
        return importlib.import_module(module)
    except ImportError:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{module} is required in CI (.ci/run installs it)")
        pytest.skip(f"{module} is not installed (pip install {module}) — ONNX tests not run")


@pytest.fixture
def onnx():
    return need("onnx")


@pytest.fixture
def torch():
    return need("torch")


# ---------------------------------------------------------------------------- hand-built graphs
def _model(onnx, nodes, inits, shape=(1, 3, 32, 32), opset=17, name="g"):
    from onnx import TensorProto, helper

    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(shape))]
    outputs = [helper.make_tensor_value_info(nodes[-1].output[0], TensorProto.FLOAT, None)]
    initializers = [helper.make_tensor(n, TensorProto.FLOAT, dims, [0.0] * _numel(dims))
                    for n, dims in inits.items()]
    graph = helper.make_graph(nodes, name, inputs, outputs, initializers)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def _numel(dims):
    n = 1
    for d in dims:
        n *= d
    return n


def _save(onnx, tmp_path, model, name="m.onnx"):
    path = tmp_path / name
    onnx.save(model, str(path))
    return path


def _small(onnx):
    from onnx import helper

    nodes = [
        helper.make_node("Pad", ["x", "pads"], ["p"], name="pad"),
        helper.make_node("Conv", ["p", "w1", "b1"], ["c"], name="conv", kernel_shape=[3, 3]),
        helper.make_node("Clip", ["c", "zero", "six"], ["r"], name="act"),
        helper.make_node("MaxPool", ["r"], ["m"], name="pool", kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Flatten", ["m"], ["f"], name="flat", axis=1),
        helper.make_node("Gemm", ["f", "w2", "b2"], ["y"], name="fc", transB=1),
    ]
    model = _model(onnx, nodes, {"w1": [8, 3, 3, 3], "b1": [8], "w2": [10, 2048], "b2": [10]})
    from onnx import TensorProto

    model.graph.initializer.extend([
        helper.make_tensor("pads", TensorProto.INT64, [8], [0, 0, 1, 1, 0, 0, 1, 1]),
        helper.make_tensor("zero", TensorProto.FLOAT, [], [0.0]),
        helper.make_tensor("six", TensorProto.FLOAT, [], [6.0])])
    return model


def test_hand_built_graph_figures(cli, onnx, tmp_path):
    path = _save(onnx, tmp_path, _small(onnx))
    result = cli("show", path, "--format", "json")
    assert result.code == 0, result.out + result.err
    data = json.loads(result.out)
    # Pad 1 folded into the conv: 32 + 2 − 3 + 1 = 32; conv 3·3·3·8 + 8 = 224 params,
    # 32·32·8·27 = 221,184 MACs; Clip(0, 6) is relu6; pool 2/2 -> 16×16×8 = 2,048 features;
    # fc 2048·10 + 10 = 20,490 params, 20,480 MACs
    assert data["input"] == [32, 32, 3]
    assert data["output"] == [10]
    assert data["totals"]["params"] == 224 + 20490
    assert data["totals"]["macs"] == 221184 + 20480
    kinds = [(layer["name"], layer["kind"]) for layer in data["layers"]]
    assert kinds == [("conv", "conv"), ("act", "relu6"), ("pool", "maxpool"), ("flat", "flatten"),
                     ("fc", "dense")]
    assert data["layers"][0]["output"] == [32, 32, 8]


def test_unsupported_ops_are_listed_with_counts(cli, onnx, tmp_path):
    from onnx import helper

    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], name="conv", kernel_shape=[1, 1]),
             helper.make_node("Erf", ["c"], ["e1"], name="erf1"),
             helper.make_node("Erf", ["e1"], ["e2"], name="erf2"),
             helper.make_node("Floor", ["e2"], ["y"], name="floor")]
    path = _save(onnx, tmp_path, _model(onnx, nodes, {"w": [4, 3, 1, 1]}))
    result = cli("validate", path)
    assert result.code == 1
    assert "unsupported-op" in result.out
    assert "Erf (2 nodes, the first here)" in result.out
    assert "Floor" in result.out
    # located at the node's line in the graph listing: line 1 is the header, node i at i + 2
    assert f"{path}:3:1:" in result.out
    json_result = cli("show", path, "--format", "json")
    assert json_result.code == 1
    data = json.loads(json_result.out)
    assert {d["code"] for d in data["diagnostics"]} == {"unsupported-op"}


def test_a_graph_that_is_not_series_parallel_is_wired_by_name(cli, onnx, tmp_path):
    from onnx import helper

    # a feeds b, cat1 and cat2, and b feeds both concats: DenseNet's wiring, no nested branches
    nodes = [helper.make_node("Conv", ["x", "w"], ["a"], name="a", kernel_shape=[1, 1]),
             helper.make_node("Relu", ["a"], ["b"], name="b"),
             helper.make_node("Concat", ["a", "b"], ["c1"], name="cat1", axis=1),
             helper.make_node("Concat", ["a", "b", "c1"], ["y"], name="cat2", axis=1)]
    path = _save(onnx, tmp_path, _model(onnx, nodes, {"w": [4, 3, 1, 1]}))
    result = cli("show", path, "--format", "json")
    assert result.code == 0, result.out
    data = json.loads(result.out)
    # a: 32×32×4 (1·1·3·4 = 12 params, 32·32·4·3 = 12,288 MACs); cat1 = a ‖ b: 8 channels;
    # cat2 = a ‖ b ‖ cat1: 4 + 4 + 8 = 16 channels
    assert data["output"] == [32, 32, 16]
    assert (data["totals"]["params"], data["totals"]["macs"]) == (12, 12288)
    spec = tmp_path / "m.yaml"
    assert cli("import", path, "-o", spec).code == 0
    text = spec.read_text()
    assert "join:" in text and 'from: ["a", "b", "cat1"]' in text
    again = json.loads(cli("show", spec, "--format", "json").out)
    assert (again["output"], again["totals"]["params"], again["diagnostics"]) == ([32, 32, 16], 12, [])


def test_symbolic_input_asks_for_input(cli, onnx, tmp_path):
    from onnx import helper

    nodes = [helper.make_node("Conv", ["x", "w"], ["y"], name="conv", kernel_shape=[3, 3])]
    model = _model(onnx, nodes, {"w": [4, 3, 3, 3]}, shape=("N", 3, "H", "W"))
    path = _save(onnx, tmp_path, model)
    result = cli("validate", path)
    assert result.code == 1 and "symbolic-input" in result.out and "--input" in result.out
    result = cli("show", path, "--input", "10x10x3", "--format", "json")
    assert result.code == 0, result.out
    # 10 − 3 + 1 = 8; 3·3·3·4 = 108 params (no bias), 8·8·4·27 = 6,912 MACs
    data = json.loads(result.out)
    assert (data["output"], data["totals"]["params"], data["totals"]["macs"]) == ([8, 8, 4], 108, 6912)


def test_unknown_opset(cli, onnx, tmp_path):
    from onnx import helper

    nodes = [helper.make_node("Relu", ["x"], ["y"], name="r")]
    model = _model(onnx, nodes, {}, opset=99)
    path = tmp_path / "m.onnx"
    path.write_bytes(model.SerializeToString())
    result = cli("validate", path)
    assert result.code == 1 and "unknown-opset" in result.out and "opset 99" in result.out


@pytest.mark.parametrize("content", [b"", b"\x00\x01garbage\xff" * 10, b"name: not onnx\n"])
def test_not_an_onnx_file_is_exit_2(run_process, onnx, tmp_path, content):
    path = tmp_path / "bad.onnx"
    path.write_bytes(content)
    result = run_process("show", path)
    assert result.code == 2, result
    assert "Traceback" not in result.err
    assert "not a readable ONNX model" in result.err or "holds no ONNX graph" in result.err


def test_truncated_model_is_exit_2(run_process, onnx, tmp_path):
    data = _small(onnx).SerializeToString()
    path = tmp_path / "cut.onnx"
    path.write_bytes(data[: len(data) // 2])
    result = run_process("show", path)
    assert result.code in (1, 2) and "Traceback" not in result.err


def _conv_slice(onnx, tmp_path):
    """x 1×3×8×8 → 1×1 conv to 4 channels → Slice of rows 1..7 and columns 2..8: a crop,
    whose input size comes from ONNX's shape inference."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], name="conv", kernel_shape=[1, 1]),
             helper.make_node("Slice", ["c", "starts", "ends", "axes"], ["y"], name="crop")]
    inits = [numpy_helper.from_array(np.zeros((4, 3, 1, 1), np.float32), "w"),
             numpy_helper.from_array(np.array([1, 2], np.int64), "starts"),
             numpy_helper.from_array(np.array([7, 8], np.int64), "ends"),
             numpy_helper.from_array(np.array([2, 3], np.int64), "axes")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    return _save(onnx, tmp_path, helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]))


def test_reading_needs_no_onnx_package(cli, tmp_path, monkeypatch):
    import sys

    onnx = need("onnx")  # to write the file; reading it then goes without
    path = _save(onnx, tmp_path, _small(onnx))
    expected = cli("show", path, "--format", "json")
    monkeypatch.setitem(sys.modules, "onnx", None)  # import onnx now raises ImportError
    result = cli("show", path, "--format", "json")
    assert result.code == 0 and expected.code == 0, result.err
    assert json.loads(result.out)["totals"] == json.loads(expected.out)["totals"]


def test_shape_inference_without_the_onnx_package_names_the_extra(cli, tmp_path, monkeypatch):
    import sys

    onnx = need("onnx")
    path = _conv_slice(onnx, tmp_path)
    with_package = cli("show", path, "--format", "json")
    assert with_package.code == 0, with_package.out + with_package.err
    # the crop keeps rows 1..7 and columns 2..8 of the 8×8×4 conv output: 6×6×4
    assert json.loads(with_package.out)["output"] == [6, 6, 4]
    monkeypatch.setitem(sys.modules, "onnx", None)
    result = cli("show", path)
    assert result.code == 2
    assert "pip install 'archcalc[onnx]'" in result.err and "shape inference" in result.err


# ---------------------------------------------------------------------------- PyTorch round trips
def _export(torch, module, shape, path):
    module.eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (torch.zeros(*shape),), str(path), dynamo=False,
                          do_constant_folding=False)


def _torch_figures(torch, module, shape):
    from torch.utils.flop_counter import FlopCounterMode

    params = sum(p.numel() for p in module.parameters())
    buffers = sum(b.numel() for n, b in module.named_buffers() if not n.endswith("num_batches_tracked"))
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        out = module.eval()(torch.zeros(*shape))
    return params, buffers, counter.get_total_flops() // 2, list(out.shape)


def _small_resnet(torch):
    nn = torch.nn

    class Block(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(cout)
            self.relu = nn.ReLU()
            self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(cout)
            self.downsample = None if stride == 1 and cin == cout else nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

        def forward(self, x):
            y = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
            return self.relu(y + (x if self.downsample is None else self.downsample(x)))

    class Branches(nn.Module):
        def __init__(self, cin):
            super().__init__()
            self.a = nn.Conv2d(cin, 8, 1)
            self.b = nn.Sequential(nn.MaxPool2d(3, 1, 1), nn.Conv2d(cin, 4, 1))

        def forward(self, x):
            return torch.cat([self.a(x), self.b(x), x], 1)

    return nn.Sequential(
        nn.Conv2d(3, 16, 3, 1, 1), nn.BatchNorm2d(16), nn.ReLU6(),
        Block(16, 16, 1), Block(16, 16, 1), Block(16, 16, 1), Block(16, 32, 2), Block(32, 32, 1),
        Branches(32), nn.AvgPool2d(2, ceil_mode=True), nn.Dropout(0.2),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(44, 10), nn.Softmax(dim=1))


def test_torch_export_round_trip(cli, torch, onnx, tmp_path):
    module = _small_resnet(torch)
    shape = (1, 3, 24, 24)
    path = tmp_path / "net.onnx"
    _export(torch, module, shape, path)
    params, buffers, macs, out = _torch_figures(torch, module, shape)
    result = cli("show", path, "--format", "json")
    assert result.code == 0, result.out
    data = json.loads(result.out)
    assert data["totals"]["params"] == params
    assert data["totals"]["buffers"] == buffers
    assert data["totals"]["macs"] == macs
    assert data["output"] == out[1:]


def test_import_writes_a_spec_with_the_same_figures(cli, torch, onnx, tmp_path):
    module = _small_resnet(torch)
    shape = (1, 3, 24, 24)
    path = tmp_path / "net.onnx"
    _export(torch, module, shape, path)
    params, buffers, macs, out = _torch_figures(torch, module, shape)
    spec = tmp_path / "net.yaml"
    result = cli("import", path, "-o", spec)
    assert result.code == 0, result.err
    text = spec.read_text()
    # the three identical residual blocks are one block called in a repeat
    assert "repeat:" in text and "blocks:" in text
    assert f"params: {params}" in text and f"macs: {macs}" in text
    result = cli("show", spec, "--format", "json")
    assert result.code == 0, result.out
    data = json.loads(result.out)
    assert (data["totals"]["params"], data["totals"]["buffers"], data["totals"]["macs"]) == \
        (params, buffers, macs)
    assert data["diagnostics"] == []
    # -o does not overwrite a different file without --force
    spec.write_text("something else\n")
    result = cli("import", path, "-o", spec)
    assert result.code == 2 and "--force" in result.err
    assert cli("import", path, "-o", spec, "--force").code == 0


def test_weights_as_graph_inputs(cli, torch, onnx, tmp_path):
    """export_params=False leaves the weights as graph inputs with declared shapes."""
    module = _small_resnet(torch).eval()
    shape = (1, 3, 16, 16)
    path = tmp_path / "noweights.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (torch.zeros(*shape),), str(path), dynamo=False,
                          do_constant_folding=False, export_params=False)
    params, buffers, macs, _ = _torch_figures(torch, module, shape)
    data = json.loads(cli("show", path, "--format", "json").out)
    assert (data["totals"]["params"], data["totals"]["buffers"], data["totals"]["macs"]) == \
        (params, buffers, macs)


# ---------------------------------------------------------------------------- the documented examples
def _doc_models(onnx):
    from onnx import helper

    # a convolution that PyTorch's dynamo exporter folded a batch norm into (onnxscript names
    # the rule on the node; the bias is the fold's own, named after the weight)
    folded = helper.make_node("Conv", ["x", "w", "w_bias"], ["y"], name="conv", kernel_shape=[3, 3])
    rule = folded.metadata_props.add()
    rule.key, rule.value = "pkg.onnxscript.rewriter.rule_name", "FuseBatchNormIntoConv"

    return {
        "unsupported": _model(onnx, [
            helper.make_node("Conv", ["x", "w"], ["c"], name="conv", kernel_shape=[1, 1]),
            helper.make_node("Erf", ["c"], ["e1"], name="erf1"),
            helper.make_node("Erf", ["e1"], ["y"], name="erf2")], {"w": [4, 3, 1, 1]}),
        "cyclic": _model(onnx, [
            helper.make_node("Conv", ["x", "w"], ["c"], name="conv", kernel_shape=[1, 1]),
            helper.make_node("Add", ["c", "y"], ["a"], name="add"),
            helper.make_node("Relu", ["a"], ["y"], name="relu")], {"w": [4, 3, 1, 1]}),
        "symbolic": _model(onnx, [helper.make_node("Conv", ["x", "w"], ["y"], name="conv", kernel_shape=[3, 3])],
                           {"w": [4, 3, 3, 3]}, shape=("N", 3, "H", "W")),
        "future": _model(onnx, [helper.make_node("Relu", ["x"], ["y"], name="r")], {}, opset=99),
        "folded": _model(onnx, [folded], {"w": [8, 3, 3, 3], "w_bias": [8]}),
    }


def test_documented_onnx_examples_are_what_archcalc_prints(cli, onnx, tmp_path, monkeypatch):
    import re

    from conftest import ROOT

    doc = (ROOT / "docs" / "diagnostics.md").read_text(encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    for stem, model in _doc_models(onnx).items():
        (tmp_path / f"{stem}.onnx").write_bytes(model.SerializeToString())
        shown = re.search(rf"\$ archcalc validate {stem}\.onnx --format parsable\n(.*?)```", doc, re.S)
        assert shown, stem
        printed = cli("validate", f"{stem}.onnx", "--format", "parsable").out.splitlines()[:-1]
        assert printed == shown.group(1).rstrip("\n").splitlines()[:len(printed)], stem


def test_folded_names_are_made_unique_on_each_level():
    from archcalc.spec_writer import unique_names

    # two stages' repeats both named after what their members share ('conv'), and a block
    # call already called 'conv_2': the later repeat becomes conv_3, nothing else changes
    entries = [{"repeat": {"name": "conv", "times": 2, "layers": ["relu"]}},
               {"add_block1": {"name": "conv_2", "filters": 8}},
               {"repeat": {"name": "conv", "times": 3, "layers": ["relu"]}},
               "relu", {"conv": {"filters": 4}}]
    names = [e["repeat"]["name"] if "repeat" in e else None for e in unique_names(entries)
             if isinstance(e, dict)]
    assert names == ["conv", None, "conv_3", None]
    assert entries[1]["add_block1"]["name"] == "conv_2"


def test_folded_names_are_made_unique_inside_nested_branches(cli, tmp_path):
    """A U-Net as the dynamo exporter writes it: each level's skip is a parallel whose second
    branch holds the next level and, around it, runs that fold into repeats named after what
    their members share ('node', twice in one branch): the later one of each branch becomes
    node_2, and the spec written validates (it did not: 'duplicate-name')."""
    import yaml

    from archcalc.spec_writer import unique_names

    def run(n):
        return {"repeat": {"name": "node", "times": 2, "layers": [{"conv": {"filters": n, "kernel": 3,
                                                                             "padding": 1}}]}}

    inner = {"parallel": {"name": "cat_1", "merge": "concat", "branches": [[], [run(8), run(8)]]}}
    outer = {"parallel": {"name": "cat_2", "merge": "concat", "branches": [[], [run(4), inner, run(4)]]}}
    layers = unique_names([run(4), outer])
    branch = layers[1]["parallel"]["branches"][1]
    assert [branch[0]["repeat"]["name"], branch[2]["repeat"]["name"]] == ["node", "node_2"]
    assert [e["repeat"]["name"] for e in branch[1]["parallel"]["branches"][1]] == ["node", "node_2"]
    spec = tmp_path / "nested.yaml"
    spec.write_text(yaml.safe_dump({"name": "nested", "input": [8, 8, 3], "layers": layers}))
    done = cli("validate", str(spec))
    assert (done.code, "duplicate-name" in done.out + done.err) == (0, False), done.out + done.err


def test_import_does_not_write_a_spec_that_contradicts_itself(cli, torch, onnx, tmp_path, monkeypatch):
    module = _small_resnet(torch)
    path = tmp_path / "net.onnx"
    _export(torch, module, (1, 3, 24, 24), path)
    from archcalc import spec_writer

    writes = spec_writer.to_yaml
    # a writer that pins one parameter too many: the written spec would fail its own `expect`
    monkeypatch.setattr(spec_writer, "to_yaml", lambda *a, **k: writes(*a, **k).replace("  params: ", "  params: 1"))
    spec = tmp_path / "net.yaml"
    result = cli("import", path, "-o", spec)
    assert result.code == 1, result.err
    assert "does not check itself" in result.err and "expect" in result.err
    assert not spec.exists()


@pytest.mark.parametrize(("opset", "axes", "keepdims", "holds"), [
    (18, [-1, -2], 1, True),  # what PyTorch's dynamo exporter writes (axes as an input)
    (13, [2, 3], 1, True),  # axes as an attribute, before opset 18
    (18, [1], 1, False),  # the mean over the channels is no pooling
    (18, [2, 3], 0, False),  # dropping H and W is not followed
])
def test_reducemean_over_h_and_w_is_a_global_average_pool(cli, onnx, tmp_path, opset, axes, keepdims, holds):
    from onnx import TensorProto, helper

    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], name="conv", kernel_shape=[3, 3]),
             helper.make_node("ReduceMean", ["c", "axes"] if opset >= 18 else ["c"], ["y"], name="mean",
                              keepdims=keepdims, **({} if opset >= 18 else {"axes": axes}))]
    model = _model(onnx, nodes, {"w": [8, 3, 3, 3]}, shape=(1, 3, 10, 10), opset=opset)
    if opset >= 18:
        model.graph.initializer.append(helper.make_tensor("axes", TensorProto.INT64, [len(axes)], axes))
    result = cli("show", _save(onnx, tmp_path, model), "--format", "json")
    if not holds:
        assert result.code == 1 and "ReduceMean" in result.err + result.out
        return
    assert result.code == 0, result.err
    data = json.loads(result.out)
    # conv 3x3, 3 -> 8 channels, no bias, on 10x10 -> 8x8x8: 8·3·3·3 = 216 params,
    # 8·8·8 outputs × 27 MACs = 13,824; the mean keeps H and W as 1x1
    assert data["totals"]["params"] == 216 and data["totals"]["macs"] == 13824
    assert data["output"] == [1, 1, 8]
    assert [layer["kind"] for layer in data["layers"]] == ["conv", "globalavgpool"]
