"""dense — fully connected layer on a flat vector (or a 1×1×C volume), or applied at every
position of a token sequence [T, D] or of a volume [H, W, C] (PyTorch's nn.Linear on the last
axis, as ConvNeXt applies it channels-last).

params in·units (+ units with bias); MACs in·units, T·in·units on [T, in], H·W·in·units on
[H, W, in].
"""
from __future__ import annotations

from .activations import ACTIVATION_FIELD, fused_activation, fused_count, fused_saves
from .base import (
    BOOL,
    POSITIVE_INT,
    Counted,
    LayerKind,
    NotRead,
    Onnx,
    Torch,
    describe_bias_activation,
    field_,
    numel,
)


def features(inp) -> int:
    """The input features: N of [N], C of [1, 1, C], D of a token sequence [T, D]."""
    return inp[-1]


def positions(inp) -> int:
    """How many times the layer is applied: T for a token sequence [T, D], H·W for a volume
    [H, W, C] (once for [1, 1, C], which is a flat vector), else once."""
    if len(inp) == 3:
        return inp[0] * inp[1]
    return inp[0] if len(inp) == 2 else 1


def per_position(inp) -> bool:
    """A volume larger than 1×1: the layer is applied at each of its positions."""
    return len(inp) == 3 and (inp[0], inp[1]) != (1, 1)


def shape(inp, f):
    if per_position(inp):
        return (inp[0], inp[1], f["units"])
    if len(inp) == 2:
        return (inp[0], f["units"])
    return (f["units"],)


def params(inp, out, f):
    return features(inp) * f["units"] + (f["units"] if f["bias"] else 0)


def macs(inp, out, f):
    return positions(inp) * features(inp) * f["units"]


def _bias(inp, out, f) -> int:
    return numel(out) if f["bias"] else 0


def _ptflops(inp, out, f) -> int:
    hooked = 0 if per_position(inp) else macs(inp, out, f) + _bias(inp, out, f)
    return hooked + fused_count(f, out)


def connections(inp, out, f):
    """LeCun et al.'s count: every input a unit sees, plus its bias, for every output unit
    (at every position of a sequence or volume)."""
    return positions(inp) * (features(inp) * f["units"] + (f["units"] if f["bias"] else 0))


def describe(f):
    return f"{f['units']} units" + describe_bias_activation(f)


def export(inp, out, f):
    """nn.Linear; a 1×1×C volume is flattened first (PyTorch's Linear acts on the last axis);
    on a larger volume, Linear2d (an nn.Linear, so its weight is (units, C) as torchvision's
    ConvNeXt keeps it) moves the channels last and back around the product."""
    bias = "" if f["bias"] else ", bias=False"
    if per_position(inp):
        return Torch(f"Linear2d({features(inp)}, {f['units']}{bias})",
                     call=fused_activation(f, "{m}({x})", out), helpers={"Linear2d": _LINEAR2D})
    x = "torch.flatten({x}, 1)" if len(inp) == 3 else "{x}"  # a token sequence: every token
    return Torch(f"nn.Linear({features(inp)}, {f['units']}{bias})",
                 call=fused_activation(f, f"{{m}}({x})", out))


_LINEAR2D = '''class Linear2d(nn.Linear):
    """nn.Linear at every position of an (N, C, H, W) tensor: the channels are its features."""

    def forward(self, x):
        return F.linear(x.permute(0, 2, 3, 1), self.weight, self.bias).permute(0, 3, 1, 2)
'''


def _explain(layer):
    """in·units + units; MACs in·units, once per token of a sequence and per position of a
    volume larger than 1×1."""
    f, inp = layer.fields, layer.input
    where = f"{inp[0]}·{inp[1]}·" if per_position(inp) else f"{inp[0]}·" if len(inp) == 2 else ""
    return {"params": f"{features(inp)}·{f['units']}" + (f" + {f['units']}" if f["bias"] else ""),
            "MACs": f"{where}{features(inp)}·{f['units']}",
            "connections": f"{where}{f['units']}·({features(inp)}{' + 1' if f['bias'] else ''})"}


def _from_gemm(node):
    """ONNX Gemm: A·B (+ C), B the weight, (in, units) or with transB (units, in)."""
    b = node.weight(1)
    if node.attrs.get("transA", 0) or b is None or len(b) != 2:
        raise NotRead("a Gemm whose second input is not a weight matrix")
    units, inputs = (b[0], b[1]) if node.attrs.get("transB", 0) else (b[1], b[0])
    node.expect("input features", int(inputs))
    return {"units": int(units), "bias": node.has(2)}


def _from_matmul(node):
    """ONNX MatMul by a weight (in, units) on the last axis; no bias (an Add after it)."""
    b = node.weight(1)
    if b is None or len(b) != 2:
        raise NotRead("a product of two activations")
    if node.shared(1) is not None:
        raise NotRead("a weight an earlier layer reads (tied)")
    if node.layout not in ("nhwc", "flat", "tokens"):
        raise NotRead("a product over an axis other than the channels")
    node.expect("input features", int(b[0]))
    return {"units": int(b[1]), "bias": False}


def _bias_from_onnx(node, fields):
    """An Add of a learned (units,) vector after a MatMul: the layer's bias."""
    i = node.constant_operand()
    shape = node.learned(i) if i is not None else None
    if fields.get("bias") or shape is None or tuple(shape) != (fields["units"],):
        raise NotRead("an Add of a constant that is not the bias of the layer before")
    return {"bias": True}


DENSE = LayerKind(
    name="dense",
    autocast="low",
    aliases=("linear", "lazylinear", "fc", "fullyconnected", "innerproduct"),
    doc="Fully connected layer: [N] (or [1, 1, N]) -> [units]; on a token sequence or a volume, "
        "applied at every position on the last axis: [T, D] -> [T, units], [H, W, C] -> [H, W, units].",
    primary="units",
    fields={
        "units": field_(POSITIVE_INT, doc="number of outputs"),
        "bias": field_(BOOL, True, doc="add a bias per unit"),
        "activation": ACTIVATION_FIELD,
    },
    shape=shape,
    params=params,
    macs=macs,
    connections=connections,
    describe=describe,
    explain=_explain,
    weighted=True,
    group="dense",
    export=export,
    saves=lambda inp, out, f: ("input",) + fused_saves(f),
    casts=lambda inp, out, f: features(inp) * f["units"],
    input_casts=lambda inp, out, f: features(inp) * f["units"],
    count_as={
        "ptflops": Counted(_ptflops, "nn.Linear: (in + 1 with a bias)·units per position "
                                     "(linear_flops_counter_hook); Linear2d, a subclass, is not "
                                     "hooked and its F.linear is not patched: 0; a fused ReLU "
                                     "(…) + 1 per value"),
        "ptflops-aten": Counted(lambda inp, out, f: macs(inp, out, f) + _bias(inp, out, f),
                                "MACs + 1 per output value with a bias (aten.addmm)"),
        "thop": Counted(lambda inp, out, f: 0 if per_position(inp) else macs(inp, out, f),
                        "in·units per position for nn.Linear (count_linear), no bias; "
                        "Linear2d, a subclass, is not hooked: 0"),
    },
    onnx=(Onnx(("Gemm",), _from_gemm), Onnx(("MatMul",), _from_matmul), Onnx(("Add",), fold=_bias_from_onnx)),
)

KINDS = [DENSE]
