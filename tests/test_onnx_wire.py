"""The pure-Python ONNX decoder (archcalc/readers/onnx_wire.py) against the onnx package as
referee: the same bytes decoded by both give the same fields, attribute values and tensor
values; malformed bytes raise DecodeError and nothing else, in bounded time."""
from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_onnx import need

from archcalc.readers import onnx_wire


@pytest.fixture(scope="module")
def onnx():
    return need("onnx")


def equal(x, y) -> bool:
    return x == y or (isinstance(x, float) and math.isnan(x) and math.isnan(y))


def same(ours, theirs, path="model"):
    """Every field of our schema equal to the onnx package's, recursively."""
    for name, kind, repeated in type(ours).FIELDS.values():
        a, b = getattr(ours, name), getattr(theirs, name)
        if repeated:
            b = list(b)
            assert len(a) == len(b), f"{path}.{name}: {len(a)} != {len(b)}"
            for i, (x, y) in enumerate(zip(a, b)):
                if isinstance(kind, type):
                    same(x, y, f"{path}.{name}[{i}]")
                else:
                    assert equal(x, y), f"{path}.{name}[{i}]: {x!r} != {y!r}"
        elif isinstance(kind, type):
            assert ours.HasField(name) == theirs.HasField(name), f"{path}.{name} presence"
            same(a, b, f"{path}.{name}")
        else:
            assert equal(a, b), f"{path}.{name}: {a!r} != {b!r}"


def every_attribute_model(onnx):
    """A model using every attribute type the decoder reads, negative ints, a subgraph,
    symbolic and fixed dims, external-data metadata and tensors of several data types."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    sub = helper.make_graph([helper.make_node("Identity", ["a"], ["b"], name="inner")], "then",
                            [], [helper.make_tensor_value_info("b", TensorProto.FLOAT, [1])])
    t = numpy_helper.from_array(np.array([[1.5, -2.0], [3.25, 1e-8]], dtype=np.float32), "t")
    node = helper.make_node("Custom", ["x", "", "w"], ["y", "z"], name="every", domain="my.domain",
                            f=0.1, i=-7, s=b"\x00bytes\xff", t=t, g=sub, floats=[1.0, -0.5, float("inf")],
                            ints=[-1, 0, 2 ** 40, -(2 ** 62)], strings=[b"a", b"\xc3\xa9"],
                            tensors=[t, t], graphs=[sub])
    external = TensorProto(name="far", data_type=TensorProto.FLOAT, dims=[2, 3])
    external.data_location = TensorProto.EXTERNAL
    external.external_data.add(key="location", value="weights.bin")
    inits = [
        numpy_helper.from_array(np.arange(6, dtype=np.int64).reshape(2, 3) - 3, "i64"),
        numpy_helper.from_array(np.array([0.5, -1.25], dtype=np.float16), "f16"),
        numpy_helper.from_array(np.array([1.0, 2.5e-3], dtype=np.float64), "f64"),
        numpy_helper.from_array(np.array([True, False]), "b"),
        numpy_helper.from_array(np.array([-3, 7], dtype=np.int8), "i8"),
        numpy_helper.from_array(np.array(4, dtype=np.int64), "scalar"),
        helper.make_tensor("typed_f", TensorProto.FLOAT, [3], [1.0, 2.0, -3.5]),
        helper.make_tensor("typed_i64", TensorProto.INT64, [2], [-(2 ** 40), 5]),
        helper.make_tensor("typed_i32", TensorProto.INT32, [2], [-5, 6]),
        helper.make_tensor("bf16", TensorProto.BFLOAT16, [2], [1.5, -2.0]),
        external,
    ]
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3, 224, 224]),
              helper.make_tensor_value_info("w", TensorProto.FLOAT, [0, 1])]
    graph = helper.make_graph([node], "g", inputs, [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              inits, value_info=[helper.make_tensor_value_info("z", TensorProto.INT64, [2])])
    model = helper.make_model(graph, producer_name="tests", producer_version="1.0",
                              opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("my.domain", 1)])
    model.doc_string = "é and \u2028"
    return model


def test_every_field_decodes_as_onnx_decodes_it(onnx):
    data = every_attribute_model(onnx).SerializeToString()
    same(onnx_wire.load_model_from_string(data), onnx.load_model_from_string(data))


def test_attribute_values_are_onnx_helpers(onnx):
    data = every_attribute_model(onnx).SerializeToString()
    ours = onnx_wire.load_model_from_string(data).graph.node[0].attribute
    theirs = onnx.load_model_from_string(data).graph.node[0].attribute
    for a, b in zip(ours, theirs):
        x, y = onnx_wire.helper.get_attribute_value(a), onnx.helper.get_attribute_value(b)
        if isinstance(y, list) and y and hasattr(y[0], "SerializeToString"):
            for u, v in zip(x, y):
                same(u, v, a.name)
        elif hasattr(y, "SerializeToString"):
            same(x, y, a.name)
        else:
            assert x == y, a.name


def test_tensor_values_are_numpy_helpers(onnx):
    from onnx import numpy_helper

    data = every_attribute_model(onnx).SerializeToString()
    ours = {t.name: t for t in onnx_wire.load_model_from_string(data).graph.initializer}
    for tensor in onnx.load_model_from_string(data).graph.initializer:
        if tensor.name == "far":
            with pytest.raises(ValueError):
                onnx_wire.numpy_helper.to_array(ours["far"])
            continue
        expected = numpy_helper.to_array(tensor)
        got = onnx_wire.numpy_helper.to_array(ours[tensor.name])
        assert (got.size, got.ndim) == (expected.size, expected.ndim), tensor.name
        assert got.reshape(-1).tolist() == [v.item() if hasattr(v, "item") else v
                                            for v in expected.astype("float64" if tensor.name == "bf16" else expected.dtype)
                                            .reshape(-1).tolist()], tensor.name


def test_an_exported_network_decodes_as_onnx_decodes_it(onnx, cli, tmp_path):
    from torch_ref import need_torch

    torch = need_torch()
    result = cli("export", "resnet18")
    namespace: dict = {}
    exec(compile(result.out, "<export>", "exec"), namespace)  # noqa: S102 - our own output
    path = tmp_path / "r18.onnx"
    torch.onnx.export(namespace["build"]().eval(), torch.randn(1, 3, 224, 224), str(path), dynamo=False)
    data = path.read_bytes()
    same(onnx_wire.load_model_from_string(data), onnx.load_model_from_string(data))


def _ld(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field (lengths here stay under 2^14: two varint bytes)."""
    n = len(payload)
    length = bytes([n]) if n < 128 else bytes([n & 0x7F | 0x80, n >> 7])
    return bytes([number << 3 | 2]) + length + payload


def test_deep_nesting_is_refused_without_recursion_error():
    # If nodes nested 500 deep, written on the wire by hand (onnx itself refuses to build
    # past protobuf's depth of 100): GraphProto.node 1 → NodeProto.attribute 5 →
    # AttributeProto.g 6 → GraphProto …
    graph = _ld(2, b"leaf")
    for _ in range(500):
        attribute = _ld(1, b"then_branch") + _ld(6, graph)
        graph = _ld(1, _ld(4, b"If") + _ld(5, attribute))
    with pytest.raises(onnx_wire.DecodeError, match="nested more than"):
        onnx_wire.load_model_from_string(_ld(7, graph))


def _conv_model() -> bytes:
    """A one-Conv model written on the wire by hand (onnx.proto's field numbers), so that the
    fuzzing runs without the onnx package: NodeProto input 1, output 2, name 3, op_type 4,
    attribute 5 (name 1, type 20 = INTS 7, ints 8 packed); TensorProto dims 1, data_type 2,
    name 8, raw_data 9; GraphProto node 1, name 2, initializer 5; ModelProto ir_version 1,
    graph 7, opset_import 8 (version 2)."""
    attribute = _ld(1, b"kernel_shape") + b"\xa0\x01\x07" + _ld(8, b"\x03\x03")
    node = _ld(1, b"x") + _ld(1, b"w") + _ld(2, b"y") + _ld(3, b"c") + _ld(4, b"Conv") + _ld(5, attribute)
    tensor = b"\x08\x04\x08\x03\x08\x03\x08\x03\x10\x01" + _ld(8, b"w") + _ld(9, bytes(4 * 108))
    graph = _ld(1, node) + _ld(2, b"g") + _ld(5, tensor)
    return b"\x08\x08" + _ld(7, graph) + _ld(8, b"\x10\x11")


def test_the_hand_written_model_decodes():
    model = onnx_wire.load_model_from_string(_conv_model())
    node = model.graph.node[0]
    assert (node.op_type, list(node.input), list(node.output), model.opset_import[0].version) == \
        ("Conv", ["x", "w"], ["y"], 17)
    assert onnx_wire.helper.get_attribute_value(node.attribute[0]) == [3, 3]
    assert list(model.graph.initializer[0].dims) == [4, 3, 3, 3]


@settings(max_examples=300, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(st.data())
def test_damaged_bytes_raise_decode_error_or_decode(data):
    """Cut, flipped or random bytes: a DecodeError or a model, nothing else."""
    import random

    rng = random.Random(data.draw(st.integers(0, 2 ** 32 - 1)))
    raw = bytearray(_conv_model())
    how = rng.randrange(3)
    if how == 0:
        raw = raw[:rng.randrange(len(raw))]
    elif how == 1:
        for _ in range(rng.randrange(1, 8)):
            raw[rng.randrange(len(raw))] = rng.randrange(256)
    else:
        raw = bytearray(rng.randbytes(rng.randrange(1, 400)))
    try:
        onnx_wire.load_model_from_string(bytes(raw))
    except onnx_wire.DecodeError:
        pass
