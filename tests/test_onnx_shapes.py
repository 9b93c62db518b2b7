"""The shapes ONNX's shape inference leaves unknown, completed (archcalc/readers/onnx_shapes.py):
the TorchScript exporter's F.pad to whole windows, its pads computed from the volume's Shape
with Mod, then the windows' Reshape whose target is computed from the padded volume's Shape."""
from __future__ import annotations

import pytest
from test_onnx import need  # CI=true: a missing onnx fails, never skips


@pytest.fixture()
def helper():
    return need("onnx").helper


def _run(helper, nodes, shapes, values):
    from archcalc.readers.onnx_shapes import Completion

    def attrs(node):
        return {a.name: helper.get_attribute_value(a) for a in node.attribute}

    Completion(shapes, values, attrs).run(nodes)
    return shapes, values


def test_the_torchscript_window_padding_and_the_windows_reshape(helper):
    """x: (1, 10, 10, 3), channels last; windows of 4. torch's pad list for F.pad(x, (0, 0, 0,
    pw, 0, ph)) is [0, 0, 0, pw, 0, ph], padded with zeros to 8, viewed as pairs, the pairs
    reversed (a Slice of step −1), transposed and flattened: ONNX's [begins…, ends…]."""
    make = helper.make_node
    nodes = [
        make("Shape", ["x"], ["s"]),
        make("Gather", ["s", "one"], ["h"], axis=0),            # 10
        make("Mod", ["h", "four"], ["r"]),                       # 10 mod 4 = 2
        make("Sub", ["four", "r"], ["t"]),                       # 4 − 2 = 2
        make("Mod", ["t", "four"], ["p"]),                       # 2 mod 4 = 2
        make("Unsqueeze", ["p", "axis0"], ["pu"]),
        make("Concat", ["zeros3", "pu", "zero1", "pu", "zeros2"], ["torch_pads"], axis=0),  # [0,0,0,2,0,2,0,0]
        make("Reshape", ["torch_pads", "pairs"], ["paired"]),    # [[0,0],[0,2],[0,2],[0,0]]
        make("Slice", ["paired", "minus1", "very_negative", "axis0", "minus1"], ["flipped"]),
        make("Transpose", ["flipped"], ["columns"], perm=[1, 0]),  # [[0,0,0,0],[0,2,2,0]]
        make("Reshape", ["columns", "flat"], ["pads"]),          # [0,0,0,0, 0,2,2,0]
        make("Pad", ["x", "pads"], ["padded"], mode="constant"),  # (1, 12, 12, 3)
        make("Shape", ["padded"], ["ps"]),
        make("Gather", ["ps", "one"], ["ph"], axis=0),           # 12
        make("Div", ["ph", "four"], ["windows"]),                 # 12 / 4 = 3
        make("Unsqueeze", ["windows", "axis0"], ["wu"]),
        make("Concat", ["batch", "wu", "four1", "wu", "four1", "three1"], ["target"], axis=0),  # [1,3,4,3,4,3]
        make("Reshape", ["padded", "target"], ["cut"]),
        make("Transpose", ["cut"], ["grouped"], perm=[0, 1, 3, 2, 4, 5]),  # (1, 3, 3, 4, 4, 3)
        make("Reshape", ["grouped", "tokens"], ["windowed"]),    # 9 windows of 16 tokens: (9, 16, 3)
        make("MatMul", ["windowed", "w"], ["projected"]),        # (9, 16, 3)·(3, 6) = (9, 16, 6)
        make("Slice", ["projected", "zero1", "five1", "minus1"], ["kept"]),  # the first 5 of 6 features
    ]
    values = {"one": ((), [1]), "four": ((), [4]), "axis0": ((1,), [0]), "zeros3": ((3,), [0, 0, 0]),
              "zero1": ((1,), [0]), "zeros2": ((2,), [0, 0]), "pairs": ((2,), [-1, 2]), "minus1": ((1,), [-1]),
              "very_negative": ((1,), [-(2 ** 62)]), "flat": ((1,), [-1]), "batch": ((1,), [1]),
              "four1": ((1,), [4]), "three1": ((1,), [3]), "tokens": ((3,), [-1, 16, 3]), "five1": ((1,), [5])}
    shapes = {"x": (1, 10, 10, 3), "w": (3, 6), **{name: dims for name, (dims, _) in values.items()}}
    shapes, values = _run(helper, nodes, shapes, values)
    assert values["torch_pads"][1] == [0, 0, 0, 2, 0, 2, 0, 0]
    assert values["pads"] == ((8,), [0, 0, 0, 0, 0, 2, 2, 0])
    assert shapes["padded"] == (1, 12, 12, 3)
    assert values["target"][1] == [1, 3, 4, 3, 4, 3]
    assert shapes["grouped"] == (1, 3, 3, 4, 4, 3)
    assert shapes["windowed"] == (9, 16, 3)
    assert shapes["projected"] == (9, 16, 6)
    assert shapes["kept"] == (9, 16, 5)


def test_a_roll_a_mask_and_a_broadcast(helper):
    """torch.roll(x, −1, dim=1) as Slices and a Concat, a mask built by ScatterND (its data's
    shape), and the scores plus a (1, 2, 4, 4) bias broadcast over (3, 2, 4, 4)."""
    make = helper.make_node
    nodes = [
        make("Slice", ["x", "one1", "big1", "axis1"], ["tail"]),     # x[:, 1:]: (1, 4, 6)
        make("Slice", ["x", "zero1", "one1", "axis1"], ["head"]),    # x[:, :1]: (1, 1, 6)
        make("Concat", ["tail", "head"], ["rolled"], axis=1),        # (1, 5, 6)
        make("ScatterND", ["rolled", "idx", "upd"], ["scattered"]),  # (1, 5, 6)
        make("Add", ["scores", "bias"], ["biased"]),                  # (3, 2, 4, 4)
        make("Where", ["mask", "fill", "biased"], ["masked"]),        # mask (3, 1, 4, 4): (3, 2, 4, 4)
        make("Softmax", ["masked"], ["p"], axis=-1),
    ]
    values = {"one1": ((1,), [1]), "big1": ((1,), [2 ** 62]), "axis1": ((1,), [1]), "zero1": ((1,), [0])}
    shapes = {"x": (1, 5, 6), "idx": (2, 2), "upd": (2, 6), "scores": (3, 2, 4, 4), "bias": (1, 2, 4, 4),
              "mask": (3, 1, 4, 4), "fill": (), **{name: dims for name, (dims, _) in values.items()}}
    shapes, _ = _run(helper, nodes, shapes, values)
    assert shapes["tail"] == (1, 4, 6) and shapes["head"] == (1, 1, 6) and shapes["rolled"] == (1, 5, 6)
    assert shapes["scattered"] == (1, 5, 6)
    assert shapes["masked"] == (3, 2, 4, 4) and shapes["p"] == (3, 2, 4, 4)


def test_what_neither_knows_stays_unknown(helper):
    """A Reshape whose target is computed from an input no one knows: no shape, no crash."""
    make = helper.make_node
    nodes = [make("Reshape", ["x", "target"], ["y"]), make("Relu", ["y"], ["z"]),
             make("Mod", ["a", "b"], ["c"])]  # b = 0: a division by zero is no value, no crash
    shapes, values = _run(helper, nodes, {"x": (1, 4)}, {"a": ((), [3]), "b": ((), [0])})
    assert "y" not in shapes and "z" not in shapes and "c" not in values


def test_a_hostile_files_sizes_stay_bounded(helper):
    """Constants that would make the evaluation endless (a Range of 2⁶² numbers, a power of
    a power, a Gather of a table by many indices) are not evaluated: no value, at once."""
    make = helper.make_node
    nodes = [make("Range", ["zero", "huge", "one"], ["r"]),
             make("Pow", ["two", "huge"], ["p"]),
             make("Mul", ["huge", "huge"], ["m"]), make("Mul", ["m", "m"], ["mm"]),
             make("ConstantOfShape", ["negative"], ["c"]),
             make("Gather", ["table", "indices"], ["g"], axis=0)]
    values = {"zero": ((), [0]), "one": ((), [1]), "two": ((), [2]), "huge": ((), [2 ** 62]),
              "negative": ((1,), [-5]), "table": ((4000, 2), [0] * 8000), "indices": ((4000,), [0] * 4000)}
    _, values = _run(helper, nodes, {}, values)
    assert not {"r", "p", "m", "mm", "c", "g"} & set(values)
