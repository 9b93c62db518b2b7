"""layernorm and rmsnorm — normalisation over the LAST axis, whatever the shape.

On a token sequence ``[T, D]`` that is each token's D features (Transformers); on a volume
``[H, W, C]`` each position's C channels (ConvNeXt's LayerNorm, PyTorch's
``nn.LayerNorm(C)`` applied channels-last); on a vector ``[N]`` its N features. Like every
normalisation they count no MACs (contract section 3).

params: layernorm C (γ) + C (β, with ``bias``); rmsnorm C (γ); none without ``affine``.
"""
from __future__ import annotations

from .base import (
    BOOL,
    POSITIVE_NUMBER,
    Counted,
    LayerKind,
    NotRead,
    Onnx,
    RuleError,
    Torch,
    field_,
    literal,
    numel,
)


def _describe(f, default_eps) -> str:
    parts = []
    if not f["affine"]:
        parts.append("no affine")
    elif "bias" in f and not f["bias"]:
        parts.append("no bias")
    if f["eps"] != default_eps:
        parts.append(f"eps {f['eps']:g}")
    return ", ".join(parts)


def _layernorm_params(inp, out, f) -> int:
    if not f["affine"]:
        return 0
    return inp[-1] * (2 if f["bias"] else 1)


def _options(f, default_eps, bias=True) -> str:
    text = "" if f["eps"] == default_eps else f", eps={literal(f['eps'])}"
    if not f["affine"]:
        text += ", elementwise_affine=False"
    elif bias and not f.get("bias", True):
        text += ", bias=False"
    return text


def _layernorm_export(inp, out, f):
    """nn.LayerNorm on the last axis; on a volume (N, C, H, W) the channels are axis 1, so
    LayerNorm2d (as torchvision's ConvNeXt) moves them last and back."""
    if len(inp) == 3:
        return Torch(f"LayerNorm2d({inp[-1]}{_options(f, 1e-5)})", helpers={"LayerNorm2d": _LAYERNORM2D})
    return Torch(f"nn.LayerNorm({inp[-1]}{_options(f, 1e-5)})")


_LAYERNORM2D = '''class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over the channels of an (N, C, H, W) tensor (torchvision's ConvNeXt)."""

    def forward(self, x):
        x = x.permute(0, 2, 3, 1)
        x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)
'''


def _values(shape) -> int:
    n = 1
    for size in shape:
        n *= size
    return n


def _rmsnorm_export(inp, out, f):
    if len(inp) == 3:
        raise RuleError("not-exportable", "rmsnorm over the channels of a volume has no PyTorch module "
                        "in archcalc export", hint="nn.RMSNorm normalises the last axis of a token sequence")
    return Torch(f"nn.RMSNorm({inp[-1]}{_options(f, 1e-6, bias=False)})")


def _layernorm_from_onnx(node):
    """ONNX LayerNormalization (opset 17) over the last axis, where the channels or features
    are (ConvNeXt moves the channels last with a Transpose first); γ and β optional."""
    if node.attrs.get("axis", -1) != -1 or node.layout not in ("nhwc", "flat", "tokens"):
        raise NotRead("LayerNormalization over an axis other than the channels")
    fields = {"affine": node.has(1), "bias": node.has(2)}
    # the float32 attribute, written as the number it was made from (1e-06, not 9.99999997e-07)
    eps = float(f"{float(node.attrs.get('epsilon', 1e-5)):.7g}")
    if eps != 1e-5:
        fields["eps"] = eps
    gamma = node.weight(1)
    if gamma is not None and len(gamma) == 1:
        node.expect("features", int(gamma[0]))
    return fields


LAYERNORM = LayerKind(
    name="layernorm",
    autocast={"cuda": "fp32"},
    aliases=("layernormalization",),
    doc="Layer normalisation over the last axis (D of [T, D], C of [H, W, C], N of [N]); "
        "shape unchanged.",
    fields={
        "affine": field_(BOOL, True, doc="learn a scale γ per feature (and β with `bias`)"),
        "bias": field_(BOOL, True, doc="learn a shift β per feature (with `affine`)"),
        "eps": field_(POSITIVE_NUMBER, 1e-5, doc="added to the variance (PyTorch's default 1e-5; "
                      "changes no count)"),
    },
    params=_layernorm_params,
    describe=lambda f: _describe(f, 1e-5),
    group="norm",
    export=_layernorm_export,
    saves=("input", "rows"),
    count_as={
        "fvcore": Counted(lambda inp, out, f: (5 if f["affine"] else 4) * numel(inp),
                          "5 per value with γ, 4 without (aten::layer_norm, norm_flop_counter(2))"),
        # nn.LayerNorm has `elementwise_affine`, not the `affine` bn_flops_counter_hook reads;
        # LayerNorm2d (a volume's, a subclass) is not hooked and F.layer_norm is not patched
        "ptflops": Counted(lambda inp, out, f: 0 if len(inp) == 3 else numel(inp),
                           "1 per value for nn.LayerNorm (bn_flops_counter_hook finds no `affine`); "
                           "LayerNorm2d, a subclass, is not hooked: 0"),
        "thop": Counted(lambda inp, out, f: 0 if len(inp) == 3 else (4 if f["affine"] else 2) * numel(inp),
                        "nn.LayerNorm 2 per value, doubled with elementwise_affine (count_normalization); "
                        "LayerNorm2d, a subclass, is not hooked: 0"),
    },
    onnx=(Onnx(("LayerNormalization",), _layernorm_from_onnx),),
)

def _rmsnorm_from_onnx(node):
    """nn.RMSNorm as the dynamo exporter decomposes it: x · 1/√(mean(x²) + eps) (Pow or Mul,
    ReduceMean over the last axis, Add of eps, Sqrt, Reciprocal or Div), then a Mul by a
    learned (D,) scale (or none: without affine)."""
    allowed = {"Pow", "ReduceMean", "Add", "Sqrt", "Reciprocal", "Div", "Mul"}
    if set(node.between) - allowed or node.between["ReduceMean"] != 1 or node.between["Sqrt"] != 1 \
            or node.between["Add"] != 1:
        raise NotRead("not a root-mean-square normalisation")
    i = node.constant_operand()
    gamma = node.learned(i) if i is not None else None
    if gamma is not None and len(gamma) != 1:
        raise NotRead("a scale that is not one per feature")
    eps = [v for v in node.values_between("Add") if isinstance(v, float)]
    if len(eps) != 1 or eps[0] <= 0:
        raise NotRead("no epsilon")
    fields = {"affine": gamma is not None}
    eps = float(f"{eps[0]:.7g}")  # the float32 constant, as the number it was made from
    if eps != 1e-6:
        fields["eps"] = eps
    if gamma is not None:
        node.expect("features", int(gamma[0]))
    return fields


RMSNORM = LayerKind(
    name="rmsnorm",
    aliases=("rmsnormalization",),
    doc="Root-mean-square normalisation over the last axis (Llama, T5); shape unchanged.",
    fields={
        "affine": field_(BOOL, True, doc="learn a scale γ per feature"),
        "eps": field_(POSITIVE_NUMBER, 1e-6, doc="added to the mean square (1e-6 as in Llama; "
                      "changes no count)"),
    },
    params=lambda inp, out, f: inp[-1] if f["affine"] else 0,
    describe=lambda f: _describe(f, 1e-6),
    group="norm",
    export=_rmsnorm_export,
    # nn.RMSNorm, composed (torch.rms_norm at opmath precision): its input, the reciprocal RMS
    # (one fp32 value per row) and, with γ, the normalised input γ multiplies (one per value).
    # Under autocast it computes in fp32 from an fp32 copy of a 16-bit input — the copy is
    # what it saves, and the normalised input is fp32 — and returns the input's dtype
    # (measured on the CPU, tests/test_training_memory.py; CUDA's is taken to be the same)
    autocast="upcast",
    saves=lambda inp, out, f: ("input", ("fp32", _values(out[:-1])))
    + ((("new", _values(out)),) if f["affine"] else ()),
    onnx=(Onnx(("Mul",), _rmsnorm_from_onnx, pattern=True),),
)

KINDS = [LAYERNORM, RMSNORM]
