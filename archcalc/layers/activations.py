"""Element-wise activations: shape unchanged, no parameters, no MACs (contract section 3)."""
from __future__ import annotations

from .base import LayerKind, choice, field_

ACTIVATION_NAMES = ("relu", "relu6", "leakyrelu", "tanh", "sigmoid", "softmax",
                    "gelu", "silu", "hardswish", "hardsigmoid", "elu")

_DOCS = {
    "relu": "max(0, x)",
    "relu6": "min(max(0, x), 6), as in MobileNet",
    "leakyrelu": "x for x > 0, αx otherwise",
    "tanh": "hyperbolic tangent",
    "sigmoid": "logistic function",
    "softmax": "normalised exponentials over the last axis",
    "gelu": "Gaussian error linear unit",
    "silu": "x·sigmoid(x) (swish)",
    "hardswish": "piecewise-linear swish, as in MobileNetV3",
    "hardsigmoid": "min(max(0, x/6 + 1/2), 1), PyTorch's Hardsigmoid, the gate of MobileNetV3's "
                   "squeeze-and-excitation",
    "elu": "exponential linear unit",
}

KINDS = [LayerKind(name=n, doc=f"Activation: {_DOCS[n]}. Shape unchanged, no parameters.",
                   group="activation") for n in ACTIVATION_NAMES]

# The fused-activation field that conv and dense share.
ACTIVATION_FIELD = field_(choice(*ACTIVATION_NAMES), None, doc="a fused activation (adds no params)")
