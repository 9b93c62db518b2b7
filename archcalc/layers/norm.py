"""groupnorm, instancenorm — normalisations that, unlike batchnorm, use each sample's own
statistics; layerscale — ConvNeXt's learned per-channel scale.

Channels are the last axis ([H, W, C] or [N]). Parameters are the affine γ and β, one each
per channel; buffers only where PyTorch keeps running statistics (instance norm with
`track_running_stats`). No MACs (the fvcore/torchvision convention counts conv and dense).
"""
from __future__ import annotations

from .base import (
    BOOL,
    POSITIVE_INT,
    POSITIVE_NUMBER,
    Counted,
    LayerKind,
    NotRead,
    Onnx,
    RuleError,
    field_,
    numel,
    require_volume,
)


def _channels(shape) -> int:
    return shape[-1]


def _groupnorm_shape(inp, f):
    c, groups = _channels(inp), f["groups"]
    if c % groups:
        divisors = [d for d in range(1, min(c, 4096) + 1) if c % d == 0]
        near = sorted(divisors, key=lambda d: (abs(d - groups), d))[:2]
        raise RuleError("groups-mismatch",
                        f"groupnorm's groups must divide the {c} input channels, but {groups} does not "
                        f"({c} = {groups}·{c // groups} + {c % groups})",
                        hint="the nearest divisors of " + f"{c}: " + " or ".join(map(str, sorted(near))),
                        field="groups")
    return inp


def _affine(inp, out, f) -> int:
    return 2 * _channels(inp) if f["affine"] else 0


def _groupnorm_explain(layer):
    c, f = _channels(layer.input), layer.fields
    lines = {"params": (f"2·{c}", "γ and β per channel") if f["affine"] else ("0", "affine: false"),
             "groups": f"{f['groups']} groups of {c}/{f['groups']} = {c // f['groups']} channels, each "
                       "normalised over its channels and positions with the sample's own statistics "
                       "(no buffers)"}
    return lines


def _groupnorm_export(inp, out, f):
    from .base import Torch

    affine = "" if f["affine"] else ", affine=False"
    return Torch(f"nn.GroupNorm({f['groups']}, {_channels(inp)}{affine})")


GROUPNORM = LayerKind(
    name="groupnorm",
    autocast={"cuda": "fp32"},
    aliases=("groupnormalization",),
    doc="Group normalisation (PyTorch's GroupNorm): the channels are split into `groups` groups, "
        "each normalised over its channels and all positions, per sample. 2·C parameters (γ, β) "
        "with `affine`, no buffers.",
    primary="groups",
    fields={
        "groups": field_(POSITIVE_INT, doc="number of channel groups; must divide the channels"),
        "affine": field_(BOOL, True, doc="learn γ and β per channel"),
    },
    shape=_groupnorm_shape,
    params=_affine,
    describe=lambda f: f"{f['groups']} groups" + ("" if f["affine"] else ", no affine"),
    explain=_groupnorm_explain,
    export=_groupnorm_export,
    group="norm",
    # native_group_norm: its input, and the mean and reciprocal std of each group of each
    # sample (2·groups values: fp32 with γ and β, in the input's dtype without, as PyTorch's
    # CPU kernel keeps them for a 16-bit input; measured); under CPU autocast it keeps a
    # 16-bit input's dtype, on CUDA it is on autocast's fp32 list
    saves=lambda inp, out, f: ("input", ("fp32" if f["affine"] else "new", 2 * f["groups"])),
    count_as={
        "fvcore": Counted(lambda inp, out, f: (5 if f["affine"] else 4) * numel(inp),
                          "5 per value with affine, 4 without (aten::group_norm, norm_flop_counter(2))"),
        "ptflops": Counted(lambda inp, out, f: (2 if f["affine"] else 1) * numel(inp),
                           "2 per value with affine, 1 without (bn_flops_counter_hook)"),
    },
)


def _instancenorm_shape(inp, f):
    require_volume(inp, "instancenorm")
    return inp


def _instancenorm_explain(layer):
    c, f = _channels(layer.input), layer.fields
    lines = {"params": (f"2·{c}", "γ and β per channel") if f["affine"] else ("0", "affine: false")}
    if f["track_running_stats"]:
        lines["buffers"] = (f"2·{c}", "running mean and variance")
    else:
        lines["statistics"] = "each sample's own, also at inference (no buffers)"
    return lines


def _instancenorm_describe(f) -> str:
    parts = ["affine"] if f["affine"] else []
    if f["track_running_stats"]:
        parts.append("stats")
    return ", ".join(parts)


def _instancenorm_saves(inp, out, f):
    """Batch norm over the (1, N·C, H, W) view saves its input and per channel of every sample
    the mean and inverse std, and with ``track_running_stats`` the running mean and variance
    repeated per sample (2·C + 2·C values a sample): fp32 with γ — whose per-sample repeat, C
    values, is saved too —, in the input's dtype without (PyTorch's CPU batch norm keeps a
    16-bit input's statistics in 16 bits when no fp32 weight comes with it; measured)."""
    c = _channels(inp)
    stats = 2 * c + (2 * c if f["track_running_stats"] else 0)
    return ("input", ("fp32", c + stats)) if f["affine"] else ("input", ("new", stats))


def _instancenorm_export(inp, out, f):
    from .base import Torch

    extra = (", affine=True" if f["affine"] else "") + \
        (", track_running_stats=True" if f["track_running_stats"] else "")
    return Torch(f"nn.InstanceNorm2d({_channels(inp)}{extra})")


INSTANCENORM = LayerKind(
    name="instancenorm",
    aliases=("instancenorm2d",),
    doc="Instance normalisation (PyTorch's InstanceNorm2d): each channel of each sample normalised "
        "over its positions. PyTorch's defaults: no affine parameters, no running statistics; "
        "`affine: true` adds 2·C parameters (γ, β), `track_running_stats: true` 2·C buffers.",
    fields={
        "affine": field_(BOOL, False, doc="learn γ and β per channel (2·C params)"),
        "track_running_stats": field_(BOOL, False, doc="keep running mean and variance (2·C buffers)"),
    },
    shape=_instancenorm_shape,
    params=_affine,
    buffers=lambda inp, out, f: 2 * _channels(inp) if f["track_running_stats"] else 0,
    count_as={
        "fvcore": Counted(lambda inp, out, f: (5 if f["affine"] else 4) * numel(inp),
                          "5 per value with affine, 4 without (aten::instance_norm, norm_flop_counter(1))"),
        "ptflops": Counted(lambda inp, out, f: (2 if f["affine"] else 1) * numel(inp),
                           "2 per value with affine, 1 without (bn_flops_counter_hook)"),
        "thop": Counted(lambda inp, out, f: (4 if f["affine"] else 2) * numel(inp),
                        "2 per value (calculate_norm), doubled with affine (count_normalization)"),
    },
    describe=_instancenorm_describe,
    explain=_instancenorm_explain,
    export=_instancenorm_export,
    group="norm",
    # No autocast list names instance_norm: it keeps its input's dtype (the default, None)
    saves=_instancenorm_saves,
)


def _layerscale_export(inp, out, f):
    """A bare nn.Parameter named after the layer, as torchvision's ConvNeXt keeps its
    `layer_scale` (state_dict key `features.1.0.layer_scale`, shape (C, 1, 1) on a volume; (C,)
    on features), multiplied into the input in forward. A parameter is not a module: no
    forward hook sees this layer, its output is the next layer's input."""
    from .base import Torch, literal

    c = _channels(inp)
    shape = f"({c}, 1, 1)" if len(inp) == 3 else f"({c},)"
    return Torch(f"nn.Parameter(torch.full({shape}, {literal(float(f['init']))}))", call="{x} * {m}",
                 parameter=True)


def _layerscale_from_onnx(node):
    """A Mul by a learned γ of one value per channel: (C, 1, 1) or (1, C, 1, 1) on an (N, C,
    H, W) tensor, (C,) on channels-last or flat ones (torchvision's ConvNeXt layer_scale)."""
    i = node.constant_operand()
    shape = tuple(node.learned(i) or ()) if i is not None else ()
    nchw = node.layout == "nchw"
    if nchw and len(shape) == 4 and shape[0] == 1:
        shape = shape[1:]
    if not (nchw and len(shape) == 3 and shape[1:] == (1, 1) or not nchw and len(shape) == 1):
        raise NotRead("a product with a constant that is not a learned per-channel scale")
    node.expect("channels", int(shape[0]))
    return {}


LAYERSCALE = LayerKind(
    name="layerscale",
    autocast="widen",
    doc="Layer scale (ConvNeXt, CaiT): multiplies each channel by a learned γ, initialised to "
        "`init`. C parameters; shape unchanged.",
    primary="init",
    fields={"init": field_(POSITIVE_NUMBER, 1e-6, doc="the initial value of every γ (affects no count)")},
    params=lambda inp, out, f: _channels(inp),
    describe=lambda f: f"γ₀={f['init']:g}",
    explain=lambda layer: {"params": (f"1·{_channels(layer.input)}", "one γ per channel")},
    export=_layerscale_export,
    group="norm",
    saves=("input",),  # x * γ keeps x for γ's gradient (and γ, a parameter)
    onnx=(Onnx(("Mul",), _layerscale_from_onnx),),
)

KINDS = [GROUPNORM, INSTANCENORM, LAYERSCALE]
