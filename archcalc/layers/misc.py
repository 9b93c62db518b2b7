"""Shape-keeping and reshaping kinds without weights: batchnorm, dropout, lrn, flatten, identity."""
from __future__ import annotations

from .base import (
    POSITIVE_INT,
    POSITIVE_NUMBER,
    RATE,
    Counted,
    LayerKind,
    NotRead,
    Onnx,
    RuleError,
    Torch,
    choice,
    field_,
    fmt_shape,
    literal,
    numel,
    require_volume,
)
from .pool import whole_window


def _channels(shape) -> int:
    return shape[-1]


# PyTorch's defaults (nn.BatchNorm2d): written out only when a spec differs from them
BATCHNORM_EPS, BATCHNORM_MOMENTUM = 1e-5, 0.1


def _batchnorm_export(inp, out, f):
    if len(inp) == 2:
        raise RuleError("not-exportable", f"batchnorm over the features of a token sequence "
                        f"{fmt_shape(inp)} has no single PyTorch module (BatchNorm1d normalises "
                        "axis 1, the tokens)", hint="use layernorm, as Transformers do")
    # numbers written with repr(): a float's repr is a Python literal of the same value
    options = "" if f["eps"] == BATCHNORM_EPS else f", eps={literal(float(f['eps']))}"
    if f["momentum"] != BATCHNORM_MOMENTUM:
        options += f", momentum={literal(float(f['momentum']))}"
    return Torch(f"nn.BatchNorm{2 if len(inp) == 3 else 1}d({_channels(inp)}{options})")


def _batchnorm_describe(f) -> str:
    parts = [] if f["eps"] == BATCHNORM_EPS else [f"eps {f['eps']:g}"]
    if f["momentum"] != BATCHNORM_MOMENTUM:
        parts.append(f"momentum {f['momentum']:g}")
    return ", ".join(parts)


BATCHNORM = LayerKind(
    name="batchnorm",
    aliases=("batchnorm2d", "batchnormalization", "bn"),
    doc="Batch normalisation over channels: 2·C parameters (γ, β) and 2·C buffers "
        "(running mean and variance).",
    fields={
        "eps": field_(POSITIVE_NUMBER, BATCHNORM_EPS, doc="added to the variance (PyTorch's default "
                      "1e-5; Inception-v3 uses 0.001); changes no count, exported"),
        "momentum": field_(RATE, BATCHNORM_MOMENTUM, doc="the running statistics' update rate (PyTorch's "
                           "default 0.1; MobileNetV3 uses 0.01); changes no count, exported"),
    },
    params=lambda inp, out, f: 2 * _channels(inp),
    buffers=lambda inp, out, f: 2 * _channels(inp),
    describe=_batchnorm_describe,
    group="norm",
    export=_batchnorm_export,
    saves=("input", "channels"),
    count_as={
        # eval mode (inference folds batch norm into the conv before it; these tools do not)
        "fvcore": Counted(lambda inp, out, f: 2 * numel(inp),
                          "2 per value (aten::batch_norm in eval mode with γ, β: batchnorm_flop_jit)"),
        "ptflops": Counted(lambda inp, out, f: 2 * numel(inp), "2 per value with affine (bn_flops_counter_hook)"),
        "thop": Counted(lambda inp, out, f: 4 * numel(inp),
                        "4 per value: 2 (calculate_norm), doubled for affine (count_normalization)"),
    },
    explain=lambda layer: {"params": (f"2·{_channels(layer.input)}", "γ and β per channel"),
                           "buffers": (f"2·{_channels(layer.input)}", "running mean and variance")},
    onnx=(Onnx(("BatchNormalization",)),),
)

DROPOUT = LayerKind(
    name="dropout",
    aliases=("dropout2d", "alphadropout", "spatialdropout2d"),
    doc="Dropout (training only); shape unchanged.",
    primary="rate",
    fields={"rate": field_(RATE, 0.5, doc="probability of dropping a value")},
    describe=lambda f: f"p={f['rate']:g}",
    group="other",
    export=lambda inp, out, f: Torch(f"nn.Dropout(p={literal(f['rate'])})"),
    saves=lambda inp, out, f: ("mask",) if f["rate"] else ("view",),  # p = 0 returns its input
    onnx=(Onnx(("Dropout",), lambda node: {"rate": _dropout_rate(node)}),),
)


def _dropout_rate(node) -> float:
    """The ratio: an input from opset 12, an attribute before (0.5 when neither is known)."""
    ratio = node.value(1) if node.has(1) else node.attrs.get("ratio", 0.5)
    return float(ratio) if isinstance(ratio, (int, float)) else 0.5

LRN = LayerKind(
    name="lrn",
    autocast="widen",
    aliases=("localresponsenorm", "localresponsenormalization"),
    doc="Local response normalisation across channels (AlexNet); no parameters.",
    primary="size",
    fields={"size": field_(POSITIVE_INT, 5, doc="number of neighbouring channels")},
    describe=lambda f: f"size {f['size']}",
    group="norm",
    # the spec gives only the size; α, β and k are PyTorch's defaults (they change no count)
    export=lambda inp, out, f: Torch(f"nn.LocalResponseNorm({f['size']})"),
    saves=lambda inp, out, f: _lrn_saves(inp, f),
    count_as={"ptflops": Counted(
        # F.local_response_norm: input.mul(input), avg_pool3d over the channels padded by
        # size − 1, .mul(alpha), .add(k): Tensor.mul, F.avg_pool3d, Tensor.mul and Tensor.add,
        # each patched to count its input's values
        lambda inp, out, f: 4 * numel(inp) + (f["size"] - 1) * inp[0] * inp[1],
        "4 per value + (size − 1)·H·W: the patched Tensor.mul, F.avg_pool3d (over the padded "
        "channels), Tensor.mul and Tensor.add inside F.local_response_norm")},
    onnx=(Onnx(("LRN",), lambda node: {"size": int(node.attrs.get("size", 5))}),
          Onnx(("Div",), lambda node: _lrn_decomposed(node), pattern=True)),
)


def _lrn_decomposed(node):
    """PyTorch's local_response_norm, as its exporters write it: x / (k + α·avg_pool3d(x² padded
    across the channels), (size, 1, 1))^β — a Div of x by what an AveragePool of kernel
    (size, 1, 1) and a Pow compute from x. α, β and k change no count (archcalc's lrn keeps
    only the size)."""
    pools = node.attrs_between("AveragePool")
    if node.inputs[0] != node.reads or len(pools) != 1 or node.between["Pow"] != 1:
        raise NotRead("not local response normalisation")
    kernel = list(pools[0].get("kernel_shape", []))
    if len(kernel) != 3 or kernel[1:] != [1, 1]:
        raise NotRead("not local response normalisation")
    return {"size": int(kernel[0])}


def _lrn_saves(inp, f):
    """PyTorch composes local_response_norm of smaller operations: besides the input they
    save the squares padded with size − 1 channels, (C + size − 1)·H·W, the average over the
    window and its power, 2·C·H·W."""
    if len(inp) != 3:
        return ("input",)
    h, w, c = inp
    # under autocast the padded squares are fp32 on the CPU (avg_pool3d is on its fp32 list),
    # the power's input and output on both devices (CUDA's pow; after the CPU's fp32 average)
    return ("input", ("new", (c + f["size"] - 1) * h * w, ("cpu",)), ("new", 2 * c * h * w, ("cpu", "cuda")))


def _flatten(inp, f):
    n = 1
    for x in inp:
        n *= x
    return (n,)


def _flatten_from_onnx(node):
    """ONNX Flatten from axis 1, or a Reshape to (batch, features)."""
    if node.op == "Flatten":
        if node.attrs.get("axis", 1) != 1:
            raise NotRead("Flatten from an axis other than 1")
        return {}
    target = node.value(1) if node.has(1) else None
    if isinstance(target, list) and len(target) == 2 and (target[1] == -1 or target[0] in (1, -1, 0)):
        return {}
    raise NotRead(f"Reshape to {target!r} (only flattening to [batch, features] is followed)")


FLATTEN = LayerKind(name="flatten", doc="[H, W, C] -> [H·W·C].", shape=_flatten, window=whole_window,
                    group="other", export=lambda inp, out, f: Torch("nn.Flatten()"), saves=("view",),
                    onnx=(Onnx(("Flatten", "Reshape"), _flatten_from_onnx),))

# a Concat of one tensor passes it through
IDENTITY = LayerKind(name="identity", doc="Passes its input through unchanged.", group="other",
                     export=lambda inp, out, f: Torch("nn.Identity()"), saves=("view",),
                     aliases=("identity", "noop"),
                     onnx=(Onnx(("Identity", "Concat"), lambda node: _one_input(node)),
                           Onnx(("Gather",), lambda node: _whole_view(node), pattern=True)))


def _one_input(node):
    if len([name for name in node.inputs if name]) != 1:
        raise NotRead("a Concat with a constant")
    return {}


def _whole_view(node):
    """torch's as_strided of a whole tensor as the dynamo exporter writes it (ConvNeXt's
    LayerNorm2d over a pooled 1×1 map): a Reshape to [-1], then a Gather along axis 0 of
    constant indices shaped as the tensor — each value taken once, the shape kept."""
    flat = node.source(node.inputs[0])
    indices = node.weight(1)
    if node.between != {"Reshape": 1} or flat is None or flat.value(1) != [-1] or node.attrs.get("axis", 0) != 0 \
            or indices is None or tuple(indices) != tuple(node.shape(node.reads) or ()):
        raise NotRead("not a view of the whole tensor")
    return {}

DROPPATH = LayerKind(
    name="droppath",
    aliases=("stochasticdepth",),
    doc="Stochastic depth / drop path (torchvision's StochasticDepth): in training, drops a "
        "residual branch for a whole sample (`row`) or the whole batch (`batch`) with probability "
        "`rate`; the identity at inference. Shape unchanged, no parameters.",
    primary="rate",
    fields={"rate": field_(RATE, doc="probability of dropping the branch"),
            "mode": field_(choice("row", "batch"), "row", doc="drop per sample (`row`) or per batch")},
    describe=lambda f: f"p={f['rate']:g}" + (", batch" if f["mode"] == "batch" else ""),
    group="other",
    export=lambda inp, out, f: _droppath_export(inp, out, f),
)


def _droppath_export(inp, out, f):
    """The identity: what stochastic depth is at inference (the exported module does not drop
    branches in training either)."""
    from .base import Torch

    return Torch("nn.Identity()")


def _shuffle_shape(inp, f):
    require_volume(inp, "channelshuffle")
    c, groups = inp[2], f["groups"]
    if c % groups:
        raise RuleError("groups-mismatch",
                        f"channelshuffle's groups must divide the {c} input channels, but {groups} does "
                        f"not ({c} = {groups}·{c // groups} + {c % groups})",
                        hint="a shuffle reads the channels as a groups × (C/groups) grid and transposes it",
                        field="groups")
    return inp


def _shuffle_export(inp, out, f):
    from .base import Torch

    return Torch(f"nn.ChannelShuffle({f['groups']})")


def _shuffle_from_onnx(node):
    """A channel shuffle as torchvision writes it and the dynamo exporter exports it (the
    pattern's last node a Reshape): a Reshape of (N, C, H, W) to (N, groups, C/groups, H, W),
    a Transpose of those two axes (perm [0, 2, 1, 3, 4]) and a Reshape back to four axes —
    with constant targets (computed from Shape nodes, the groups would be unknown)."""
    swap = node.source(node.inputs[0])
    split = swap.source(swap.inputs[0]) if swap is not None and swap.op == "Transpose" else None
    grid, back = (split.value(1) if split is not None and split.op == "Reshape" else None), node.value(1)
    if node.between != {"Reshape": 1, "Transpose": 1} or split is None or split.inputs[0] != node.reads \
            or list(swap.attrs.get("perm", [])) != [0, 2, 1, 3, 4] \
            or not isinstance(grid, list) or len(grid) != 5 or not isinstance(back, list) or len(back) != 4 \
            or grid[1] < 1 or grid[2] < 1 or back[1] not in (-1, grid[1] * grid[2]):
        raise NotRead("not a channel shuffle")
    node.expect("channels", grid[1] * grid[2])
    return {"groups": int(grid[1])}


CHANNELSHUFFLE = LayerKind(
    name="channelshuffle",
    doc="Channel shuffle (ShuffleNet, PyTorch's ChannelShuffle): the C channels, read as a "
        "groups × C/groups grid, are transposed, so each group's channels spread over all groups. "
        "Shape unchanged, no parameters; the permuted copy is stored.",
    primary="groups",
    fields={"groups": field_(POSITIVE_INT, doc="number of groups; must divide the channels")},
    shape=_shuffle_shape,
    describe=lambda f: f"{f['groups']} groups",
    explain=lambda layer: {"shuffle": f"{layer.input[2]} channels read as {layer.fields['groups']}×"
                                      f"{layer.input[2] // layer.fields['groups']}, transposed to "
                                      f"{layer.input[2] // layer.fields['groups']}×{layer.fields['groups']}"},
    group="other",
    stores=True,
    saves=(),  # a permuted copy (view, transpose, contiguous): nothing for backward
    export=lambda inp, out, f: _shuffle_export(inp, out, f),
    onnx=(Onnx(("Reshape",), _shuffle_from_onnx, pattern=True),),
)

KINDS = [BATCHNORM, DROPOUT, LRN, FLATTEN, IDENTITY, DROPPATH, CHANNELSHUFFLE]
