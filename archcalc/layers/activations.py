"""Element-wise activations: shape unchanged, no parameters, no MACs (contract section 3)."""
from __future__ import annotations

from .base import (
    Counted,
    LayerKind,
    NotRead,
    Onnx,
    RuleError,
    Torch,
    channel_dim,
    choice,
    field_,
    numel,
)

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

# PyTorch: (the module, the function applied to "{x}"); "{dim}" is the channel axis.
_TORCH = {
    "relu": ("nn.ReLU()", "F.relu({x})"),
    "relu6": ("nn.ReLU6()", "F.relu6({x})"),
    "leakyrelu": ("nn.LeakyReLU()", "F.leaky_relu({x})"),
    "tanh": ("nn.Tanh()", "torch.tanh({x})"),
    "sigmoid": ("nn.Sigmoid()", "torch.sigmoid({x})"),
    "softmax": ("nn.Softmax(dim={dim})", "F.softmax({x}, dim={dim})"),
    "gelu": ("nn.GELU()", "F.gelu({x})"),
    "silu": ("nn.SiLU()", "F.silu({x})"),
    "hardswish": ("nn.Hardswish()", "F.hardswish({x})"),
    "hardsigmoid": ("nn.Hardsigmoid()", "F.hardsigmoid({x})"),
    "elu": ("nn.ELU()", "F.elu({x})"),
}


# What each activation's backward needs (metrics.SAVE_WORDS): its output or its input,
# as PyTorch's autograd formulas save them (relu, tanh, sigmoid and softmax their result).
SAVES = {n: ("output",) if n in ("relu", "tanh", "sigmoid", "softmax") else ("input",)
         for n in ACTIVATION_NAMES}


def fused_saves(f) -> tuple:
    """What a fused ``activation`` adds to its layer's saves: the layer's output (relu) or
    the pre-activation tensor, a tensor of its own (silu, gelu, …)."""
    name = f.get("activation")
    if not name:
        return ()
    return ("output",) if SAVES[name] == ("output",) else ("pre",)


def fused_activation(f, call: str, out) -> str:
    """Wrap a forward ``call`` in the layer's fused ``activation`` field, if it has one:
    ``F.relu({m}({x}))``. ``out`` is the layer's output shape (softmax needs its axis)."""
    name = f.get("activation")
    if not name:
        return call
    if name not in _TORCH:
        raise RuleError("not-exportable", f"the activation {name!r} has no PyTorch form in archcalc export",
                        field="activation")
    return _TORCH[name][1].replace("{dim}", str(channel_dim(out))).replace("{x}", call)


# --count-as ptflops: the module backend hooks nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.ELU and
# nn.GELU (relu_flops_counter_hook: one per output value) and also patches F.relu, F.relu6,
# F.elu, F.gelu, F.silu and F.softmax (one per input value, _numel_functional_flops_hook).
# A module whose forward calls a patched function is counted twice: ReLU, ELU, GELU (ReLU6
# calls F.hardtanh, LeakyReLU F.leaky_relu, neither patched); SiLU and Softmax have no hook
# but call a patched function: once. Tanh, Sigmoid, Hardswish, Hardsigmoid: never.
PTFLOPS_MODULE = {"relu": 2, "elu": 2, "gelu": 2, "relu6": 1, "leakyrelu": 1, "silu": 1, "softmax": 1}
PTFLOPS_FUNCTIONS = ("relu", "relu6", "elu", "gelu", "silu", "softmax")


def fused_count(f, out) -> int:
    """What ptflops counts for a layer's fused ``activation`` (exported as ``F.relu(...)``):
    one per output value when the function is one ptflops patches, else 0."""
    return numel(out) if f.get("activation") in PTFLOPS_FUNCTIONS else 0


def _count_as(name) -> dict:
    rules = {}
    if name in PTFLOPS_MODULE:
        k = PTFLOPS_MODULE[name]
        how = {2: f"2 per value: the nn module's hook and the patched F.{name} it calls",
               1: "1 per value: " + ("the module's hook (its F. function is not patched)"
                                    if name in ("relu6", "leakyrelu") else f"the patched F.{name}")}[k]
        rules["ptflops"] = Counted(lambda inp, out, f, k=k: k * numel(inp), how)
    if name == "softmax":
        # thop's count_softmax: per row of n values, n exponentials, n − 1 additions, n divisions
        def thop(inp, out, f):
            n = inp[-1]  # nn.Softmax(dim=…) over the channels or features: the last axis here
            return (numel(inp) // n) * (3 * n - 1)
        rules["thop"] = Counted(thop, "(3n − 1) per row of n values (count_softmax)")
    return rules
# the words of PyTorch and Keras for an activation, besides its own name (did-you-mean)
_ALIASES = {"silu": ("swish",), "relu6": ("hardtanh",), "hardswish": ("hswish",), "hardsigmoid": ("hsigmoid",),
            "sigmoid": ("logistic",), "softmax": ("logsoftmax",)}

# ONNX: the op of each activation that has one of its own
_ONNX_OPS = {"relu": "Relu", "sigmoid": "Sigmoid", "tanh": "Tanh", "softmax": "Softmax",
             "leakyrelu": "LeakyRelu", "elu": "Elu", "gelu": "Gelu", "hardswish": "HardSwish",
             "hardsigmoid": "HardSigmoid"}


def _softmax_from_onnx(node):
    if node.attrs.get("axis", -1) not in (-1, 1):
        raise NotRead("softmax over an axis other than the channels")
    return {}


def _clip(bounds):
    """A Clip to ``bounds`` (low, high; None for no bound): relu6 is [0, 6], relu [0, none].
    The bounds are inputs from opset 11, attributes before."""
    def read(node):
        low = node.value(1) if len(node.inputs) > 1 else node.attrs.get("min")
        high = node.value(2) if len(node.inputs) > 2 else node.attrs.get("max")
        if (low, high) != bounds:
            raise NotRead(f"Clip to [{low}, {high}] (only [0, 6], relu6, and [0, none], relu, are known)")
        return {}
    return Onnx(("Clip",), read)


def _silu_decomposed(node):
    """x·sigmoid(x): a Mul of x by a Sigmoid of x (how exporters write SiLU before opset 24)."""
    if node.between != {"Sigmoid": 1}:
        raise NotRead("not x·sigmoid(x)")
    return {}


def _onnx(name):
    rules = []
    if name == "silu":
        rules.append(Onnx(("Mul",), _silu_decomposed, pattern=True))
    if name in _ONNX_OPS:
        rules.append(Onnx((_ONNX_OPS[name],), _softmax_from_onnx if name == "softmax" else None))
    if name in ("relu", "relu6"):
        rules.append(_clip((0, None) if name == "relu" else (0, 6)))
    return tuple(rules)


def _export(name):
    if name not in _TORCH:
        return None  # exporting it is a located `not-exportable` error
    module = _TORCH[name][0]
    return lambda inp, out, f: Torch(module.replace("{dim}", str(channel_dim(inp))))


# Under autocast (metrics.AUTOCAST_WORDS): softmax is on CUDA's fp32 list (not the CPU's); the
# others keep their input's dtype.
AUTOCAST = {"softmax": {"cuda": "fp32"}}

KINDS = [LayerKind(name=n, doc=f"Activation: {_DOCS[n]}. Shape unchanged, no parameters.",
                   group="activation", export=_export(n), saves=SAVES[n], onnx=_onnx(n),
                   aliases=_ALIASES.get(n, ()), count_as=_count_as(n), autocast=AUTOCAST.get(n))
         for n in ACTIVATION_NAMES]

# The fused-activation field that conv and dense share.
ACTIVATION_FIELD = field_(choice(*ACTIVATION_NAMES), None, doc="a fused activation (adds no params)")
