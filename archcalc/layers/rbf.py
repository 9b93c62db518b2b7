"""rbf — LeNet-5's output layer of Euclidean radial basis function units (LeCun et al. 1998,
section II.B, equation 7): y_i = Σ_j (x_j − w_ij)².

Each of `units` outputs holds a parameter vector as long as its input, chosen by hand and
kept **fixed** (the paper's stylised 7×12 bitmaps of the ten digits): params in·units, of
which none are trainable; MACs in·units (one squared difference per input and unit);
connections in·units (no bias).
"""
from __future__ import annotations

from .base import POSITIVE_INT, Counted, LayerKind, NotRead, Onnx, RuleError, Torch, field_, fmt_shape
from .dense import features, per_position
from .dense import shape as _dense_shape


def shape(inp, f):
    """A flat vector (or a 1×1×N volume) -> [units]: LeNet-5's F6 outputs, flattened."""
    if per_position(inp):
        n = inp[0] * inp[1] * inp[2]
        raise RuleError("needs-flat-input", f"rbf needs a flat input, but receives the volume {fmt_shape(inp)}",
                        hint=f"insert `- flatten` before it ({fmt_shape(inp)} = {n:,} features) or a "
                             "global pooling layer")
    return _dense_shape(inp, f)


def params(inp, out, f):
    return features(inp) * f["units"]


def explain(layer):
    n, units = features(layer.input), layer.fields["units"]
    return {"params": (f"{n}·{units}", f"a fixed {n}-value centre per unit, not trained"),
            "MACs": (f"{n}·{units}", "one squared difference (x_j − w_ij)² per input and unit"),
            "connections": (f"{n}·{units}", "no bias")}


def export(inp, out, f):
    x = "{x}" if len(inp) == 1 else "torch.flatten({x}, 1)"
    return Torch(f"EuclideanRBF({features(inp)}, {f['units']})", call=f"{{m}}({x})",
                 helpers={"EuclideanRBF": _RBF})


# Σ_j (x_j − w_ij)² = Σ x² − 2·x·w_i + Σ w_i²: the same value, written with one matrix
# product, which is how PyTorch's counter sees the in·units multiply-accumulates.
_RBF = '''class EuclideanRBF(nn.Module):
    """LeNet-5's output units: y_i = sum_j (x_j - w_ij)^2 with fixed (untrained) centres w_i."""

    def __init__(self, in_features, units):
        super().__init__()
        self.centres = nn.Parameter(torch.zeros(units, in_features), requires_grad=False)

    def forward(self, x):
        w = self.centres
        return (x * x).sum(1, keepdim=True) - 2 * x @ w.t() + (w * w).sum(1)
'''


def _from_onnx(node):
    """As exported (EuclideanRBF): Σ x² − 2·x·wᵀ + Σ w², the last node an Add; one MatMul of
    the input by the centres (in, units), which give the units and the features. Σ w² is
    computed in the graph (TorchScript exporter) or a constant (dynamo's)."""
    products = [n for n in (node.source(t) for n in node.nodes_between for t in n.output) if n is not None
                and n.op == "MatMul"]
    # Σ W² is a ReduceSum of the centres, or a constant the exporter computed (dynamo)
    if node.op != "Add" or len(products) != 1 or node.between["Sub"] != 1 or node.between["ReduceSum"] not in (1, 2) \
            or set(node.between) - {"Mul", "Pow", "ReduceSum", "MatMul", "Sub", "Add"}:
        raise NotRead("not Euclidean RBF units")
    centres = products[0].learned(1)
    if centres is None or len(centres) != 2:
        raise NotRead("not Euclidean RBF units")
    node.expect("features", int(centres[0]))
    return {"units": int(centres[1])}


RBF = LayerKind(
    name="rbf",
    doc="Euclidean radial basis function units (LeNet-5's output): y_i = Σ_j (x_j − w_ij)², "
        "with fixed, non-trainable centres w_i.",
    primary="units",
    fields={"units": field_(POSITIVE_INT, doc="number of output units (one fixed centre each)")},
    shape=shape,
    params=params,
    macs=params,
    trainable=lambda inp, out, f: 0,
    casts=params,  # x @ w.t(): the fixed centres' 16-bit copy, which the product saves for x's gradient
    describe=lambda f: f"{f['units']} units, fixed centres",
    explain=explain,
    weighted=True,
    group="dense",
    export=export,
    onnx=(Onnx(("Add",), _from_onnx, pattern=True),),
    count_as={
        # `x @ w.t()` is the Tensor operator, not the torch.matmul ptflops patches; thop sees
        # no module it knows (fvcore's aten::matmul and the aten backend's mm count it)
        "ptflops": Counted(lambda inp, out, f: 0, "not seen: the product is Tensor.__matmul__, which "
                                                  "ptflops does not patch"),
        "thop": Counted(lambda inp, out, f: 0, "not seen: EuclideanRBF is no module thop knows"),
    },
)

KINDS = [RBF]
