"""dense — fully connected layer on a flat vector (or a 1×1×C volume), or applied to every
token of a token sequence [T, D] (PyTorch's nn.Linear on the last axis).

params in·units (+ units with bias); MACs in·units, T·in·units on [T, in].
"""
from __future__ import annotations

from .activations import ACTIVATION_FIELD, fused_activation
from .base import (
    BOOL,
    POSITIVE_INT,
    LayerKind,
    RuleError,
    Torch,
    describe_bias_activation,
    field_,
    fmt_shape,
)


def features(inp) -> int:
    """The input features: N of [N], C of [1, 1, C], D of a token sequence [T, D]."""
    return inp[-1]


def positions(inp) -> int:
    """How many times the layer is applied: T for a token sequence [T, D], else once."""
    return inp[0] if len(inp) == 2 else 1


def shape(inp, f):
    if len(inp) == 3 and (inp[0], inp[1]) != (1, 1):
        n = inp[0] * inp[1] * inp[2]
        raise RuleError("needs-flat-input",
                        f"dense needs a flat input, but receives the volume {fmt_shape(inp)}",
                        hint=f"insert `- flatten` before it ({fmt_shape(inp)} = {n:,} features) or a "
                             "global pooling layer")
    if len(inp) == 2:
        return (inp[0], f["units"])
    return (f["units"],)


def params(inp, out, f):
    return features(inp) * f["units"] + (f["units"] if f["bias"] else 0)


def macs(inp, out, f):
    return positions(inp) * features(inp) * f["units"]


def connections(inp, out, f):
    """LeCun et al.'s count: every input a unit sees, plus its bias."""
    return features(inp) * f["units"] + (f["units"] if f["bias"] else 0)


def describe(f):
    return f"{f['units']} units" + describe_bias_activation(f)


def export(inp, out, f):
    """nn.Linear; a 1×1×C volume is flattened first (PyTorch's Linear acts on the last axis)."""
    bias = "" if f["bias"] else ", bias=False"
    x = "torch.flatten({x}, 1)" if len(inp) == 3 else "{x}"  # a token sequence: every token
    return Torch(f"nn.Linear({features(inp)}, {f['units']}{bias})",
                 call=fused_activation(f, f"{{m}}({x})", out))


DENSE = LayerKind(
    name="dense",
    doc="Fully connected layer: [N] (or [1, 1, N]) -> [units]; on a token sequence, applied to "
        "every token: [T, D] -> [T, units].",
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
    explain=lambda layer: {"connections": f"{layer.fields['units']}·({features(layer.input)}"
                                          f"{' + 1' if layer.fields['bias'] else ''})"},
    weighted=True,
    group="dense",
    export=export,
)

KINDS = [DENSE]
