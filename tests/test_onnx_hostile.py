"""Hostile and malformed ONNX models (issue #22 items 2–6 and 10): built here with the onnx
package, each kept as a fixture of the attack that found it. Every one is answered with a
located diagnostic and a documented exit code, at once, never a traceback, never a hang,
never a file read outside the model, never a node dropped without a word."""
from __future__ import annotations

import json
import os
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from test_onnx import _model, _save, need

CI = os.environ.get("CI") == "true"


@pytest.fixture
def onnx():
    return need("onnx")


def _conv_relu(onnx, **conv):
    from onnx import helper

    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], name="conv", kernel_shape=[3, 3], **conv),
             helper.make_node("Relu", ["c"], ["y"], name="relu")]
    return _model(onnx, nodes, {"w": [4, 3, 3, 3]}, shape=(1, 3, 8, 8))


# ------------------------------------------------------------------------------ external data
def test_external_data_is_never_read(run_process, onnx, tmp_path):
    """A Reshape whose target shape lives in 'external data' at secret.txt: the file beside
    the model (or in the current directory) must never be opened, let alone printed."""
    from onnx import TensorProto, helper

    secret = b"TOP-SECRET-" * 8
    (tmp_path / "secret.txt").write_bytes(secret)
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], name="conv", kernel_shape=[1, 1]),
             helper.make_node("Reshape", ["c", "shape"], ["y"], name="reshape")]
    model = _model(onnx, nodes, {"w": [4, 3, 1, 1]}, shape=(1, 3, 2, 2))
    shape = helper.make_tensor("shape", TensorProto.INT64, [2], [1, 16])
    shape.ClearField("int64_data")
    shape.data_location = TensorProto.EXTERNAL
    shape.external_data.add(key="location", value="secret.txt")
    shape.external_data.add(key="length", value=str(len(secret)))
    model.graph.initializer.append(shape)
    path = tmp_path / "m.onnx"
    path.write_bytes(model.SerializeToString())
    for args in (["show", path], ["show", path, "--format", "json"], ["explain", path], ["validate", path],
                 ["import", path]):
        result = run_process(*args, timeout=30)
        assert b"TOP-SECRET" not in (result.out + result.err).encode(), args
        assert "Traceback" not in result.err
    result = run_process("validate", path)
    # the shape is unknown, so the Reshape cannot be followed: said, with no figures
    assert result.code == 1 and "Reshape to None" in result.out


# --------------------------------------------------------------------------------- cycles
@pytest.mark.parametrize("args", [["show"], ["show", "--format", "json"], ["validate"], ["explain"],
                                  ["import"], ["diff", "{m}"]])
def test_a_cyclic_graph_is_a_located_error_at_once(run_process, onnx, tmp_path, args):
    from onnx import helper

    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], name="conv", kernel_shape=[1, 1]),
             helper.make_node("Add", ["c", "y"], ["a"], name="add"),
             helper.make_node("Relu", ["a"], ["y"], name="relu")]
    path = _save(onnx, tmp_path, _model(onnx, nodes, {"w": [4, 3, 1, 1]}))
    command = [a.replace("{m}", str(path)) for a in args]
    started = time.monotonic()
    result = run_process(command[0], path, *command[1:], timeout=20)  # it used to hang here
    assert time.monotonic() - started < 10
    assert result.code == 1 and "Traceback" not in result.err
    # node 2 of the graph (Add) is on line 3 of the listing
    text = result.out + result.err
    assert (f"{path}:3:1" in text or "line 3:" in text) and "bad-onnx" in text


# ------------------------------------------------------------------------------ malformed nodes
def _malformed(onnx):
    from onnx import helper

    conv = helper.make_node("Conv", ["x", "w"], ["c"], name="conv", kernel_shape=[1, 1])
    w = {"w": [4, 3, 1, 1]}
    no_output = helper.make_node("Relu", ["c"], [], name="noout")
    identity = helper.make_node("Identity", [], ["y"], name="ident")
    gemm = helper.make_node("Gemm", ["f"], ["y"], name="gemm")
    return {
        "no-output": (_model(onnx, [conv, no_output, helper.make_node("Relu", ["c"], ["y"], name="r")], w), 3),
        "identity-without-input": (_model(onnx, [conv, identity], w), 3),
        "gemm-one-input": (_model(onnx, [conv, helper.make_node("Flatten", ["c"], ["f"], name="flat"), gemm], w), 4),
        "group-abc": (_model(onnx, [helper.make_node("Conv", ["x", "w"], ["y"], name="conv", kernel_shape=[1, 1],
                                                     group="abc")], w), 2),
        "lrn-size-five": (_model(onnx, [conv, helper.make_node("LRN", ["c"], ["y"], name="lrn", size="five")], w), 3),
        "pads-of-three": (_model(onnx, [helper.make_node("Conv", ["x", "w"], ["y"], name="conv", kernel_shape=[1, 1],
                                                         pads=[1, 1, 1])], w), 2),
        "undefined-input": (_model(onnx, [helper.make_node("Conv", ["x", "nowhere"], ["y"], name="conv",
                                                           kernel_shape=[1, 1])], {}), 2),
    }


@pytest.mark.parametrize("case", ["no-output", "identity-without-input", "gemm-one-input", "group-abc",
                                  "lrn-size-five", "pads-of-three", "undefined-input"])
def test_malformed_nodes_are_located_diagnostics(cli, onnx, tmp_path, case):
    model, line = _malformed(onnx)[case]
    path = _save(onnx, tmp_path, model)
    result = cli("validate", path, "--format", "parsable")
    assert result.code == 1, result.out
    assert f"{path}:{line}:1: [error] bad-onnx" in result.out, result.out
    assert "internal error" not in result.out + result.err


def test_one_bad_file_never_aborts_a_validate_batch(cli, onnx, tmp_path):
    for case, (model, _) in _malformed(onnx).items():
        _save(onnx, tmp_path, model, f"{case}.onnx")
    (tmp_path / "good.yaml").write_text("input: [8]\nlayers: [dense: 2]\n")
    paths = sorted(str(p) for p in tmp_path.iterdir())
    result = cli("validate", *paths, "--format", "json")
    data = json.loads(result.out)  # one JSON document for the whole batch
    files = data["files"] if isinstance(data, dict) else data
    assert len(files) == len(paths)
    assert result.code == 1


# ------------------------------------------------------------------------- nothing dropped
def test_a_node_fed_by_constants_only_is_not_dropped(cli, onnx, tmp_path):
    """conv → Add(·, ConstantOfShape) → conv: onnx's checker accepts it; archcalc answered
    1 layer, 108 params, 6×6×4 with exit 0 (truly 2 convs: 3·3·3·4 = 108 and 3·3·4·64 + 64 =
    2,368 + … ) — it must say that it cannot follow it."""
    from onnx import TensorProto, helper

    nodes = [helper.make_node("Conv", ["x", "w1"], ["c1"], name="conv1", kernel_shape=[3, 3], ),
             helper.make_node("ConstantOfShape", ["shape"], ["k"], name="zeros"),
             helper.make_node("Add", ["c1", "k"], ["a"], name="add"),
             helper.make_node("Conv", ["a", "w2"], ["y"], name="conv2", kernel_shape=[3, 3])]
    model = _model(onnx, nodes, {"w1": [4, 3, 3, 3], "w2": [64, 4, 3, 3]}, shape=(1, 3, 8, 8))
    model.graph.initializer.append(helper.make_tensor("shape", TensorProto.INT64, [4], [1, 4, 6, 6]))
    path = _save(onnx, tmp_path, model)
    result = cli("show", path, "--format", "json")
    assert result.code == 1
    data = json.loads(result.out)
    assert data["diagnostics"] and data["totals"]["params"] in (None, 0) or not data.get("complete", True)


@pytest.mark.parametrize("weights, shape, nodes, message", [
    # a conv weight made for 5 input channels on a 3-channel input
    ({"w": [4, 5, 3, 3]}, (1, 3, 8, 8), [("Conv", ["x", "w"], {"kernel_shape": [3, 3]})],
     "has a weight made for 5 input channels, but its input has 3"),
    # Gemm [10, 4096] (transB) after a flatten of 3·8·8 = 192 features
    ({"w": [10, 4096]}, (1, 3, 8, 8), [("Flatten", ["x"], {}), ("Gemm", ["f", "w"], {"transB": 1})],
     "has a weight made for 4,096 input features, but its input has 192"),
])
def test_weights_that_contradict_the_data_are_flagged(cli, onnx, tmp_path, weights, shape, nodes, message):
    from onnx import helper

    made, previous = [], None
    for i, (op, inputs, attrs) in enumerate(nodes):
        out = "y" if i == len(nodes) - 1 else "f"
        made.append(helper.make_node(op, inputs, [out], name=op.lower(), **attrs))
    path = _save(onnx, tmp_path, _model(onnx, made, weights, shape=shape))
    result = cli("validate", path, "--format", "parsable")
    assert result.code == 1 and "bad-onnx" in result.out and message in result.out, result.out


# ----------------------------------------------------------------------------- size bound
def test_the_node_count_is_checked_before_converting(cli, onnx, tmp_path, monkeypatch):
    from onnx import helper

    from archcalc import limits

    monkeypatch.setattr(limits, "MAX_ONNX_NODES", 10)
    nodes = [helper.make_node("Relu", ["x" if i == 0 else f"r{i - 1}"], [f"r{i}" if i < 10 else "y"],
                              name=f"r{i}") for i in range(11)]
    path = _save(onnx, tmp_path, _model(onnx, nodes, {}))
    result = cli("validate", path, "--format", "parsable")
    assert result.code == 1
    assert f"{path}:1:1: [error] too-large the model has more than 10 nodes; archcalc reads models of at most 10" in result.out


def _wire_model(nodes: int) -> bytes:
    """A ModelProto written on the protobuf wire by hand (field numbers from onnx.proto:
    ModelProto.ir_version 1, graph 7, opset_import 8; GraphProto.node 1, name 2; NodeProto
    input 1, output 2, op_type 4): ``nodes`` Relu nodes."""
    def varint(n):
        out = bytearray()
        while True:
            n, b = n >> 7, n & 0x7F
            out.append(b | 0x80 if n else b)
            if not n:
                return bytes(out)

    def field(number, payload):
        return varint(number << 3 | 2) + varint(len(payload)) + payload

    node = field(1, b"x") + field(2, b"y") + field(4, b"Relu")
    graph = field(1, node) * nodes + field(2, b"g")
    return varint(1 << 3) + varint(8) + field(7, graph) + field(8, varint(2 << 3) + varint(17))


def test_millions_of_nodes_are_refused_before_onnx_parses_them(cli, onnx, tmp_path, monkeypatch):
    from archcalc.limits import MAX_ONNX_NODES

    path = tmp_path / "huge.onnx"
    path.write_bytes(_wire_model(10 * MAX_ONNX_NODES))  # 2,000,000 nodes, 28 MB

    def parse(*args, **kwargs):
        raise AssertionError("onnx parsed a model past the node limit")

    monkeypatch.setattr(onnx, "load", parse)
    monkeypatch.setattr(onnx, "load_model_from_string", parse)
    result = cli("validate", str(path), "--format", "parsable")
    assert result.code == 1, result.out + result.err
    assert f"[error] too-large the model has more than {MAX_ONNX_NODES:,} nodes" in result.out


def test_the_wire_count_agrees_with_onnx(onnx):
    from archcalc.readers.onnx_scan import count_nodes

    data = _wire_model(1234)
    assert len(onnx.load_model_from_string(data).graph.node) == 1234 == count_nodes(data, 10**6)
    assert count_nodes(data, 100) == 100  # stops at the limit


def test_bytes_that_are_not_protobuf_are_still_not_onnx(cli, onnx, tmp_path):
    path = tmp_path / "junk.onnx"
    path.write_bytes(b"\x0f\xff\xff garbage")
    result = cli("show", str(path))
    assert result.code == 2 and "is not a readable ONNX model" in result.err, result.err


def test_the_node_limit_is_documented():
    from conftest import ROOT

    from archcalc.limits import MAX_ONNX_NODES

    assert f"{MAX_ONNX_NODES:,} nodes" in (ROOT / "README.md").read_text(encoding="utf-8")


def test_node_names_are_never_expressions(cli, onnx, tmp_path):
    from onnx import helper

    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], name="$width", kernel_shape=[1, 1]),
             helper.make_node("Relu", ["c"], ["y"], name="${1 + 1}")]
    path = _save(onnx, tmp_path, _model(onnx, nodes, {"w": [4, 3, 1, 1]}))
    result = cli("show", path, "--format", "json")
    assert result.code == 0, result.out + result.err
    # conv 3→4 k1 without a bias input: 3·4 = 12 parameters
    assert json.loads(result.out)["totals"]["params"] == 12


def test_escape_sequences_from_op_types_and_file_names(run_process, onnx, tmp_path):
    from onnx import helper

    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], name="conv", kernel_shape=[1, 1]),
             helper.make_node("Evil\x1b[2J\x1b]0;t\x07", ["c"], ["y"], name="n\x1b[31m")]
    model = _model(onnx, nodes, {"w": [4, 3, 1, 1]})
    for name in ("m.onnx", "a\x1bb.onnx", "a\x7fb.onnx", "a\x85b.onnx", "a\u2028b.onnx"):
        path = _save(onnx, tmp_path, model, name)
        for args in (["show", path, "--format", "markdown"], ["explain", path], ["validate", path],
                     ["import", path]):
            result = run_process(*args)
            text = result.out + result.err
            assert not any(ch in text for ch in "\x1b\x07\x7f\x85\u2028"), (name, args)
    ok = [helper.make_node("Conv", ["x", "w"], ["y"], name="conv", kernel_shape=[1, 1])]
    path = _save(onnx, tmp_path, _model(onnx, ok, {"w": [4, 3, 1, 1]}), "a\x85b\u2028c\x1bd.onnx")
    imported = run_process("import", path)
    assert imported.code == 0
    spec = tmp_path / "imported.yaml"
    spec.write_text(imported.out, encoding="utf-8")
    again = run_process("show", spec, "--format", "json")  # the spec import writes is still a spec
    assert again.code == 0 and json.loads(again.out)["totals"]["params"] == 12  # 3·4, no bias


def test_a_missing_file_is_not_called_a_missing_network(run_process, tmp_path):
    """A file deleted while `validate` ran was 'no such built-in network' with 100 names."""
    missing = tmp_path / "gone.yaml"
    result = run_process("validate", missing)
    assert result.code == 2
    assert result.err == f"archcalc: error: no such file: {str(missing)!r}\n"


# --------------------------------------------------------------------------------- fuzzing
def _validate_json(path):
    from click.testing import CliRunner

    from archcalc.cli import main

    result = CliRunner().invoke(main, ["validate", str(path), "--format", "json"],
                                env={"GITHUB_ACTIONS": "", "NO_COLOR": "1"}, catch_exceptions=True)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.exit_code in (0, 1, 2)
    assert "internal error" not in result.stdout + result.stderr, result.stdout + result.stderr
    json.loads(result.stdout)


_MUTATIONS = ["clear outputs", "clear inputs", "op type", "string attribute", "int list attribute",
              "self loop", "reverse", "rename input", "drop initializer"]


@given(data=st.data())
@settings(max_examples=120 if CI else 20, deadline=None, database=None,  # fresh draws each run
          suppress_health_check=[HealthCheck.too_slow])
def test_fuzz_onnx_graphs(data):
    """Structural mutations of a valid model (the attack's malformed nodes, cycles, renamed
    tensors, strange op types and attributes, lost weights): validate always answers, in
    JSON, with a documented exit code."""
    onnx = need("onnx")
    from onnx import helper

    from test_onnx import _small

    model = _small(onnx)
    nodes = model.graph.node
    for _ in range(data.draw(st.integers(1, 3))):
        node = nodes[data.draw(st.integers(0, len(nodes) - 1))]
        what = data.draw(st.sampled_from(_MUTATIONS))
        if what == "clear outputs":
            del node.output[:]
        elif what == "clear inputs":
            del node.input[:]
        elif what == "op type":
            node.op_type = data.draw(st.sampled_from(["Evil\x1b[2J", "", "Conv", "Gemm", "Add", "LRN", "Loop"]))
        elif what == "string attribute":
            node.attribute.append(helper.make_attribute(
                data.draw(st.sampled_from(["group", "size", "kernel_shape", "pads", "axis", "transB"])), "abc"))
        elif what == "int list attribute":
            node.attribute.append(helper.make_attribute(
                data.draw(st.sampled_from(["pads", "strides", "kernel_shape", "dilations"])),
                data.draw(st.lists(st.integers(-3, 10**6), min_size=1, max_size=5))))
        elif what == "self loop" and node.output:
            node.input.append(node.output[0])
        elif what == "reverse":
            reordered = list(nodes)[::-1]
            del nodes[:]
            nodes.extend(reordered)
        elif what == "rename input" and node.input:
            node.input[0] = data.draw(st.sampled_from(["nowhere", "y", "x", ""]))
        elif what == "drop initializer" and model.graph.initializer:
            del model.graph.initializer[0]
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "fuzz.onnx")
        with open(path, "wb") as out:
            out.write(model.SerializeToString())
        _validate_json(path)


@given(cuts=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), min_size=1, max_size=8),
       truncate=st.booleans())
@settings(max_examples=80 if CI else 15, deadline=None, database=None)
def test_fuzz_onnx_bytes(cuts, truncate):
    onnx = need("onnx")
    from test_onnx import _small

    data = bytearray(_small(onnx).SerializeToString())
    for where, value in cuts:
        data[where % len(data)] = value
    if truncate:
        data = data[: len(data) // 2]
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "fuzz.onnx")
        with open(path, "wb") as out:
            out.write(bytes(data))
        _validate_json(path)


def test_an_input_that_is_never_a_first_input_is_named(cli, onnx, tmp_path):
    # y = W · x written as MatMul(W, x): the data input is MatMul's second input, so archcalc
    # (which follows each node's first input) reads x as a weight exported as an input; the
    # message says so, naming x, rather than "the model has 0 data inputs"
    from onnx import helper

    nodes = [helper.make_node("MatMul", ["w", "x"], ["y"], name="mm")]
    path = _save(onnx, tmp_path, _model(onnx, nodes, {"w": [4, 8]}, shape=(8, 1)))
    result = cli("validate", path, "--format", "parsable")
    assert result.code == 1, result.out + result.err
    assert "0 data inputs" not in result.out
    assert "no graph input is the first (data) input of a node" in result.out and "'x'" in result.out


def test_weights_are_dropped_before_parsing_and_shapes_kept(onnx):
    # a 3×3 conv of 64 → 64 channels: a 64·64·3·3·4 = 147,456-byte weight; slim keeps its
    # dims and name and drops its payload; a 4-value int64 shape (32 bytes) keeps its values
    import numpy as np
    from onnx import helper, numpy_helper

    from archcalc.readers.onnx_scan import slim

    w = numpy_helper.from_array(np.ones((64, 64, 3, 3), dtype=np.float32), "w")
    shape = numpy_helper.from_array(np.array([1, -1, 2, 2], dtype=np.int64), "shape")
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], name="conv", kernel_shape=[3, 3]),
             helper.make_node("Reshape", ["c", "shape"], ["y"], name="r")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 64, 8, 8])],
                              [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, None)], [w, shape])
    data = helper.make_model(graph).SerializeToString()
    small = slim(data)
    assert len(data) > 147_456 > 10 * len(small)
    parsed = onnx.load_model_from_string(small)
    tensors = {t.name: t for t in parsed.graph.initializer}
    assert list(tensors["w"].dims) == [64, 64, 3, 3] and tensors["w"].raw_data == b""
    assert numpy_helper.to_array(tensors["shape"]).tolist() == [1, -1, 2, 2]
    assert [n.op_type for n in parsed.graph.node] == ["Conv", "Reshape"]
