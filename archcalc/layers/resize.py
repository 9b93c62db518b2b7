"""convtranspose, upsample, crop — the kinds that make a volume larger, or cut it to size
(decoders, U-Net).

convtranspose, per axis (PyTorch's ConvTranspose2d):
    out = (n − 1)·s − p_begin − p_end + d·(k − 1) + output_padding + 1
params kh·kw·(C_in/groups)·filters (+ filters with bias), as conv; MACs counted as PyTorch's
FlopCounterMode counts them: C_in·(filters/groups)·kh·kw·H_in·W_in (every input position
times every kernel tap, whether or not the tap lands inside the output).

Receptive field (metrics.py, the fourth number u per axis): an upsampling layer advances
1/u of an input position per output position, so the jump is divided by u.
"""
from __future__ import annotations

from . import window
from .activations import ACTIVATION_FIELD, fused_count
from .base import (
    BOOL,
    PADDING,
    PAIR,
    POSITIVE_INT,
    Counted,
    FieldError,
    FieldType,
    LayerKind,
    NotRead,
    Onnx,
    RuleError,
    choice,
    describe_bias_activation,
    field_,
    require_volume,
)


def _nonneg_pair(v):
    """int or [h, w] of non-negative ints -> (h, w), within the limits every integer field has."""
    from .base import _bounded

    if isinstance(v, int) and not isinstance(v, bool):
        if v < 0:
            raise FieldError("a non-negative integer or [h, w]", v, code="bad-value")
        return (_bounded(v, "a non-negative integer"),) * 2
    if isinstance(v, list) and len(v) == 2 and all(isinstance(x, int) and not isinstance(x, bool) for x in v):
        if min(v) < 0:
            raise FieldError("a non-negative integer or [h, w]", v, code="bad-value")
        return (_bounded(v[0], "a non-negative integer"), _bounded(v[1], "a non-negative integer"))
    raise FieldError("a non-negative integer or a list [h, w] of two", v)


NONNEG_PAIR = FieldType("int or [h, w] (≥ 0)", _nonneg_pair, {"oneOf": [
    {"type": "integer", "minimum": 0},
    {"type": "array", "items": {"type": "integer", "minimum": 0}, "minItems": 2, "maxItems": 2}]})


# ------------------------------------------------------------------------------ convtranspose
def _t_axes(inp, f):
    """Per axis (n, k, s, d, p_begin, p_end, output_padding)."""
    (kh, kw), (sh, sw), (dh, dw) = f["kernel"], f["stride"], f["dilation"]
    pt, pb, pl, pr = f["padding"]
    oh, ow = f["output_padding"]
    return ((inp[0], kh, sh, dh, pt, pb, oh), (inp[1], kw, sw, dw, pl, pr, ow))


def transposed_output(n, k, s, d, pb, pe, op) -> int:
    return (n - 1) * s - pb - pe + d * (k - 1) + op + 1


def _t_shape(inp, f):
    require_volume(inp, "convtranspose")
    if f["padding"] == "same":
        raise RuleError("bad-value", "convtranspose has no `same` padding (PyTorch's ConvTranspose2d "
                        "neither): its padding removes rows and columns from the output",
                        hint="give the padding as an integer, [ph, pw] or [top, bottom, left, right]; "
                             "for out = n·s use kernel = stride and padding 0",
                        field="padding")
    c, filters, groups = inp[2], f["filters"], f["groups"]
    if c % groups or filters % groups:
        bad = [f"{c} input channels"] * bool(c % groups) + [f"{filters} filters"] * bool(filters % groups)
        raise RuleError("groups-mismatch", f"groups must divide input channels and filters, but {groups} "
                        "does not divide " + " or ".join(bad),
                        hint=f"choose groups among the common divisors of {c} and {filters}", field="groups")
    out = []
    for name, (n, k, s, d, pb, pe, op) in zip(("height", "width"), _t_axes(inp, f)):
        if op >= max(s, d):
            raise RuleError("bad-value", f"convtranspose output_padding {op} ({name}) must be smaller than "
                            f"the stride ({s}) or the dilation ({d}), as PyTorch requires",
                            hint="output_padding only picks among the sizes a stride makes possible",
                            field="output_padding")
        o = transposed_output(n, k, s, d, pb, pe, op)
        if o < 1:
            raise RuleError("nonpositive-output",
                            f"convtranspose output {name} ({n} − 1)·{s} − {pb + pe} + {d}·({k} − 1) + {op} + 1 "
                            f"= {o} is not positive: the padding removes more than the layer makes",
                            hint="use less padding", field="padding")
        out.append(o)
    return (out[0], out[1], filters)


def _t_params(inp, out, f):
    kh, kw = f["kernel"]
    return kh * kw * (inp[2] // f["groups"]) * f["filters"] + (f["filters"] if f["bias"] else 0)


def _t_macs(inp, out, f):
    kh, kw = f["kernel"]
    return inp[2] * (f["filters"] // f["groups"]) * kh * kw * inp[0] * inp[1]


def _t_module_values(out, f) -> int:
    """The values nn.ConvTranspose2d itself outputs: with unequal padding it gets the smaller
    side and the output is sliced afterwards (``_t_export``), so it makes more than ``out``."""
    pt, pb, pl, pr = f["padding"]
    return (out[0] + abs(pt - pb)) * (out[1] + abs(pl - pr)) * out[2]


def _t_bias(out, f) -> int:
    return _t_module_values(out, f) if f["bias"] else 0


def _t_thop(inp, out, f):
    # calculate_conv2d_flops with the transposed weight (C_in, filters/groups, kh, kw): every
    # output value times C_in/groups·kh·kw
    kh, kw = f["kernel"]
    return _t_module_values(out, f) * (inp[2] // f["groups"]) * kh * kw


def _t_window(inp, f):
    """A transposed convolution is a stride-1 convolution over its input spread out by the
    stride: (e, 1, e − 1 − p_begin, s) for metrics.through_upsampling."""
    axes = []
    for n, k, s, d, pb, pe, op in _t_axes(inp, f):
        e = window.effective_kernel(k, d)
        axes.append((e, 1, e - 1 - pb, s))
    return tuple(axes)


def _t_label(inp, f):
    """The picture's arrow: `convT 2×2/2↑` with its padding, output padding, dilation and
    groups — every fact of its geometry (`convT 4×4/2↑, p1`)."""
    return "convT " + _t_geometry(f)


def _t_describe(f):
    return _t_geometry(f) + describe_bias_activation(f)


def _t_geometry(f):
    kh, kw = f["kernel"]
    sh, sw = f["stride"]
    text = f"{kh}×{kw}/{sh if sh == sw else f'{sh}×{sw}'}↑"
    pad = f["padding"]
    if pad != (0, 0, 0, 0) and pad != "same":
        text += ", p" + (str(pad[0]) if len(set(pad)) == 1 else ",".join(map(str, pad)))
    if f["output_padding"] != (0, 0):
        op = f["output_padding"]
        text += f", op{op[0] if op[0] == op[1] else f'{op[0]},{op[1]}'}"
    if f["dilation"] != (1, 1):
        text += f", dil {f['dilation'][0]}"
    if f["groups"] != 1:
        text += f", g{f['groups']}"
    return text


def _t_explain(layer):
    inp, out, f = layer.input, layer.output, layer.fields
    axes = _t_axes(inp, f)
    texts = [f"({n} − 1)·{s} − {pb + pe} + {d}·({k} − 1) + {op} + 1 = {o}"
             for (n, k, s, d, pb, pe, op), o in zip(axes, out)]
    size = texts[0] if axes[0] == axes[1] else f"height {texts[0]}; width {texts[1]}"
    lines = {"output": f"{size} → {out[0]}×{out[1]}×{out[2]}"}
    kh, kw = f["kernel"]
    g = f["groups"]
    per = f"({inp[2]}/{g})" if g != 1 else str(inp[2])
    lines["params"] = f"{kh}·{kw}·{per}·{f['filters']}" + (f" + {f['filters']}" if f["bias"] else "")
    filters = f"({f['filters']}/{g})" if g != 1 else str(f["filters"])
    lines["MACs"] = (f"{inp[2]}·{filters}·{kh}·{kw}·{inp[0]}·{inp[1]}",
                     "every input position times every tap, as PyTorch counts")
    return lines


def _t_export(inp, out, f):
    """nn.ConvTranspose2d pads both sides alike: with unequal sides it gets the smaller, and
    the output is sliced by the difference."""
    from .activations import fused_activation
    from .base import Torch, given, pair_text

    pt, pb, pl, pr = f["padding"]
    ph, pw = min(pt, pb), min(pl, pr)
    args = [str(inp[2]), str(f["filters"]), f"kernel_size={pair_text(*f['kernel'])}"]
    if any(given(v, 1) for v in f["stride"]):
        args.append(f"stride={pair_text(*f['stride'])}")
    if given(ph, 0) or given(pw, 0):
        args.append(f"padding={pair_text(ph, pw)}")
    if any(given(v, 0) for v in f["output_padding"]):
        args.append(f"output_padding={pair_text(*f['output_padding'])}")
    if given(f["groups"], 1):
        args.append(f"groups={f['groups']}")
    if not f["bias"]:
        args.append("bias=False")
    if any(given(v, 1) for v in f["dilation"]):
        args.append(f"dilation={pair_text(*f['dilation'])}")
    call = "{m}({x})"
    extra = (pt - ph, pb - ph, pl - pw, pr - pw)
    if any(extra):
        rows = f"{extra[0]}:{'-' + str(extra[1]) if extra[1] else ''}"
        cols = f"{extra[2]}:{'-' + str(extra[3]) if extra[3] else ''}"
        call = f"{{m}}({{x}})[:, :, {rows}, {cols}]"
    return Torch(f"nn.ConvTranspose2d({', '.join(args)})", call=fused_activation(f, call, out))


def _t_saves(inp, out, f):
    """The transposed convolution saves its input; a fused activation its output or its
    input — with unequal padding sides, the slice of a larger output (``_t_export``), whose
    whole storage is what is saved."""
    from .activations import fused_saves

    fused = fused_saves(f)
    if "pre" not in fused:
        return ("input",) + fused
    pt, pb, pl, pr = f["padding"]
    ph, pw = min(pt, pb), min(pl, pr)
    whole = (out[0] + pt + pb - 2 * ph) * (out[1] + pl + pr - 2 * pw) * out[2]
    return ("input", ("new", whole))


def _t_from_onnx(node):
    """ONNX ConvTranspose: the weight (C_in, filters/groups, kh, kw); pads are removed from
    the output as the padding field says (an explicit `output_shape` is not followed)."""
    w = node.weight(1)
    a = node.attrs
    if w is None or len(w) != 4 or "output_shape" in a or node.layout == "nhwc":
        raise NotRead("not a 2-D transposed convolution with a known weight shape")
    auto = a.get("auto_pad", b"NOTSET")
    if (auto.decode() if isinstance(auto, bytes) else auto) not in ("NOTSET", "VALID"):
        raise NotRead("auto_pad SAME")
    pads = list(a.get("pads", [0, 0, 0, 0]))
    if len(pads) != 4:
        raise ValueError(f"pads has {len(pads)} values; a 2-D window takes 4")
    groups = int(a.get("group", 1))
    node.expect("input channels", int(w[0]))
    return {"filters": int(w[1]) * groups, "kernel": [int(w[2]), int(w[3])],
            "stride": list(a.get("strides", [1, 1])), "padding": [int(pads[0]), int(pads[2]), int(pads[1]), int(pads[3])],
            "output_padding": list(a.get("output_padding", [0, 0])), "dilation": list(a.get("dilations", [1, 1])),
            "groups": groups, "bias": node.has(2)}


CONVTRANSPOSE = LayerKind(
    name="convtranspose",
    autocast="low",
    aliases=("convtranspose2d", "conv2dtranspose", "deconvolution", "deconv"),
    doc="2-D transposed convolution (PyTorch's ConvTranspose2d, 'up-convolution', 'deconvolution') "
        "over an [H, W, C] volume: out = (n − 1)·s − p_begin − p_end + d·(k − 1) + output_padding + 1.",
    primary="filters",
    fields={
        "filters": field_(POSITIVE_INT, doc="number of output channels"),
        "kernel": field_(PAIR, doc="kernel size, int or [kh, kw]"),
        "stride": field_(PAIR, (1, 1), doc="stride (the upsampling factor), int or [sh, sw]"),
        "padding": field_(PADDING, (0, 0, 0, 0),
                          doc="rows/columns removed from the output: int, [ph, pw] or [top, bottom, "
                              "left, right] (no 'same')"),
        "output_padding": field_(NONNEG_PAIR, (0, 0), doc="extra rows/columns at the end, smaller than "
                                                          "the stride or the dilation"),
        "dilation": field_(PAIR, (1, 1), doc="dilation, int or [dh, dw]"),
        "groups": field_(POSITIVE_INT, 1, doc="channel groups; must divide input channels and filters"),
        "bias": field_(BOOL, True, doc="add a bias per filter"),
        "activation": ACTIVATION_FIELD,
    },
    shape=_t_shape,
    params=_t_params,
    macs=_t_macs,
    describe=_t_describe,
    label=_t_label,
    explain=_t_explain,
    weighted=True,
    window=_t_window,
    group="conv",
    export=_t_export,
    saves=_t_saves,
    casts=lambda inp, out, f: _t_params(inp, out, f) - (f["filters"] if f["bias"] else 0),
    count_as={
        "ptflops": Counted(lambda inp, out, f: _t_macs(inp, out, f) + _t_bias(out, f) + fused_count(f, out),
                           "MACs over the input positions + 1 per output value with a bias "
                           "(conv_flops_counter_hook, transpose=True)"),
        "ptflops-aten": Counted(lambda inp, out, f: _t_macs(inp, out, f) + _t_bias(out, f),
                                "MACs + 1 per output value with a bias (aten.convolution)"),
        "thop": Counted(_t_thop, "C_in/groups·kh·kw per output value (count_convNd reads the "
                                 "transposed weight as a conv's)"),
    },
    onnx=(Onnx(("ConvTranspose",), _t_from_onnx),),
)


# ---------------------------------------------------------------------------------- upsample
def _up_shape(inp, f):
    require_volume(inp, "upsample")
    if (f["factor"] is None) == (f["size"] is None):
        raise RuleError("bad-value", "upsample needs exactly one of `factor` and `size`" +
                        (", not both" if f["factor"] is not None else ""),
                        hint="`upsample: 2` doubles H and W; `upsample: {size: [64, 64]}` resizes to 64×64",
                        field="size" if f["size"] is not None else None)
    if f["align_corners"] and f["mode"] != "bilinear":
        raise RuleError("bad-value", "align_corners applies to bilinear upsampling only",
                        hint="remove it, or set `mode: bilinear`", field="align_corners")
    if f["size"] is not None:
        return (f["size"][0], f["size"][1], inp[2])
    fh, fw = f["factor"]
    return (inp[0] * fh, inp[1] * fw, inp[2])


def _up_window(inp, f):
    """For metrics.through_upsampling, per axis with the integer factor u (size / input, when
    whole): nearest copies input ⌊o/u⌋ — a transposed convolution with kernel u and stride u,
    (u, 1, u − 1, u). Bilinear (align_corners false) reads the two inputs around
    (o + ½)/u − ½, which in the spread-out coordinates lie within [o + ½ − 1.5u, o + ½ + 0.5u]:
    p = ⌈1.5u⌉ − 1 before, ⌊(u + 1)/2⌋ after. A size that is not a whole multiple of the input,
    or align_corners (sample points at o·(n − 1)/(m − 1)), has no such description: no field."""
    if len(inp) != 3:
        return None
    out = _up_shape(inp, f)
    axes = []
    for n, m in ((inp[0], out[0]), (inp[1], out[1])):
        if m % n or f["align_corners"]:
            axes.append((0, 1, 0, 1))
            continue
        u = m // n
        if f["mode"] == "nearest":
            axes.append((u, 1, u - 1, u))
        else:
            before, after = -(-3 * u // 2) - 1, (u + 1) // 2
            axes.append((before + after + 1, 1, before, u))
    return tuple(axes)


def _up_describe(f):
    if f["size"] is not None:
        text = f"→ {f['size'][0]}×{f['size'][1]}"
    else:
        fh, fw = f["factor"]
        text = f"×{fh}" if fh == fw else f"×{fh}×{fw}"
    if f["mode"] != "nearest":
        text += f", {f['mode']}"
    if f["align_corners"]:
        text += ", corners"
    return text


def _up_explain(layer):
    inp, out, f = layer.input, layer.output, layer.fields
    if f["size"] is not None:
        text = f"{inp[0]}×{inp[1]} resized to {out[0]}×{out[1]} ({f['mode']})"
    else:
        fh, fw = f["factor"]
        text = f"{inp[0]}·{fh} = {out[0]}, {inp[1]}·{fw} = {out[1]} ({f['mode']})"
    return {"upsampling": text}


def _up_export(inp, out, f):
    from .base import Torch, literal, pair_text

    how = f"size={pair_text(*f['size'])}" if f["size"] is not None else \
        f"scale_factor={pair_text(*f['factor'])}"
    mode = f", mode={literal(f['mode'])}" if f["mode"] != "nearest" else ""
    corners = ", align_corners=True" if f["align_corners"] else ""
    return Torch(f"nn.Upsample({how}{mode}{corners})")


UPSAMPLE = LayerKind(
    name="upsample",
    aliases=("upsampling2d", "upsamplingnearest2d", "upsamplingbilinear2d", "interpolate"),
    doc="Upsampling (PyTorch's Upsample / F.interpolate): nearest or bilinear, by an integer "
        "factor or to a size; channels kept, no parameters, no MACs.",
    primary="factor",
    fields={
        "factor": field_(PAIR, None, doc="integer scale factor, int or [fh, fw]"),
        "size": field_(PAIR, None, doc="the output size, int or [h, w] (instead of factor)"),
        "mode": field_(choice("nearest", "bilinear"), "nearest", doc="interpolation"),
        "align_corners": field_(BOOL, False, doc="bilinear only: PyTorch's align_corners"),
    },
    shape=_up_shape,
    describe=_up_describe,
    label=lambda inp, f: "upsample " + _up_describe(f),   # `upsample ×2, bilinear`: all of it
    explain=_up_explain,
    window=_up_window,
    group="other",
    stores=True,
    export=_up_export,
    saves=(),  # nearest and bilinear backward need only the sizes
    count_as={
        "fvcore": Counted(lambda inp, out, f: (4 if f["mode"] == "bilinear" else 1) * _values(out),
                          "1 per output value nearest, 4 bilinear (aten::upsample_*2d)"),
        "ptflops": Counted(lambda inp, out, f: 2 * _values(out),
                           "2 per output value: upsample_flops_counter_hook and the patched F.interpolate"),
        "thop": Counted(lambda inp, out, f: (11 if f["mode"] == "bilinear" else 1) * _values(out),
                        "1 per output value nearest, 11 bilinear (calculate_upsample)"),
    },
)


def _values(shape) -> int:
    n = 1
    for size in shape:
        n *= size
    return n


# -------------------------------------------------------------------------------------- crop
def _crop_offsets(inp, f):
    h, w = f["size"]
    if f["offset"] is not None:
        return f["offset"]
    return ((inp[0] - h) // 2, (inp[1] - w) // 2)


def _crop_shape(inp, f):
    require_volume(inp, "crop")
    h, w = f["size"]
    if h > inp[0] or w > inp[1]:
        raise RuleError("bad-crop", f"crop to {h}×{w} does not fit the {inp[0]}×{inp[1]} input",
                        hint="a crop can only make a volume smaller; check the sizes of the branch it "
                             "is meant to match", field="size")
    top, left = _crop_offsets(inp, f)
    if top + h > inp[0] or left + w > inp[1]:
        raise RuleError("bad-crop", f"crop of {h}×{w} at offset [{top}, {left}] reaches row "
                        f"{top + h} and column {left + w} of the {inp[0]}×{inp[1]} input",
                        hint=f"the offset may be at most [{inp[0] - h}, {inp[1] - w}]", field="offset")
    return (h, w, inp[2])


def _crop_explain(layer):
    inp, out, f = layer.input, layer.output, layer.fields
    top, left = _crop_offsets(inp, f)
    if f["offset"] is None:
        how = f"top ⌊({inp[0]} − {out[0]})/2⌋ = {top}, left ⌊({inp[1]} − {out[1]})/2⌋ = {left}"
    else:
        how = f"top {top}, left {left} (given)"
    return {"crop": f"rows {top}…{top + out[0] - 1}, columns {left}…{left + out[1] - 1}: {how}"}


def _crop_export(inp, out, f):
    """A slice of the input, through an nn.Identity so that a forward hook sees the layer."""
    from .base import Torch

    top, left = _crop_offsets(inp, f)
    return Torch("nn.Identity()", call=f"{{m}}({{x}}[:, :, {top}:{top + out[0]}, {left}:{left + out[1]}])")


def _slice(node):
    """An ONNX Slice over height and width with step 1 (opset 10's inputs): {axis: (start,
    stop)} with the bounds clamped to the input, whose size shape inference gives."""
    if node.layout != "nchw" or not node.has(3):
        raise NotRead("a Slice of other than height and width")
    starts, ends, axes = node.value(1), node.value(2), node.value(3)
    steps = node.value(4) if node.has(4) else None
    dims = node.input_shape()
    if not all(isinstance(v, list) for v in (starts, ends, axes)) or dims is None or len(dims) != 4 \
            or steps is not None and (not isinstance(steps, list) or any(s != 1 for s in steps)):
        raise NotRead("a Slice whose bounds, steps or input size are not known constants")
    cut = {}
    for start, end, axis in zip(starts, ends, axes):
        axis = axis + 4 if axis < 0 else axis
        if axis not in (2, 3):
            raise NotRead("a Slice of other than height and width")
        n = dims[axis]
        start, end = (max(0, min(n, v + n if v < 0 else v)) for v in (start, end))
        cut[axis] = (start, end)
    return cut, dims


def _crop_from_onnx(node):
    """A Slice of the height and width: a crop at the offset of its starts."""
    cut, dims = _slice(node)
    (top, bottom), (left, right) = cut.get(2, (0, dims[2])), cut.get(3, (0, dims[3]))
    if bottom <= top or right <= left:
        raise NotRead("an empty Slice")
    return {"size": [bottom - top, right - left], "offset": [top, left]}


def _crop_fold(node, fields):
    """A second Slice after a crop (PyTorch writes x[:, :, a:b, c:d] as one Slice per axis):
    the crop of both."""
    cut, dims = _slice(node)
    (top, bottom), (left, right) = cut.get(2, (0, dims[2])), cut.get(3, (0, dims[3]))
    top0, left0 = fields["offset"]
    if bottom <= top or right <= left:
        raise NotRead("an empty Slice")
    return {"size": [bottom - top, right - left], "offset": [top0 + top, left0 + left]}


CROP = LayerKind(
    name="crop",
    aliases=("cropping2d",),
    doc="Crops a volume to [h, w], centred (the smaller margin first) or at a given offset: "
        "U-Net's copy-and-crop. Channels kept, no parameters.",
    primary="size",
    fields={
        "size": field_(PAIR, doc="the output size, int or [h, w]"),
        "offset": field_(NONNEG_PAIR, None, doc="[top, left] of the kept window; default centred"),
    },
    shape=_crop_shape,
    describe=lambda f: f"→ {f['size'][0]}×{f['size'][1]}" + (f" at {f['offset'][0]},{f['offset'][1]}"
                                                              if f["offset"] is not None else ""),
    explain=_crop_explain,
    window=lambda inp, f: ((1, 1, -_crop_offsets(inp, f)[0]), (1, 1, -_crop_offsets(inp, f)[1]))
    if len(inp) == 3 else None,
    group="other",
    stores=True,
    export=_crop_export,
    saves=("view",),  # x[:, :, a:b, c:d] is a view: its storage is the input's
    onnx=(Onnx(("Slice",), _crop_from_onnx), Onnx(("Slice",), fold=_crop_fold)),
)

KINDS = [CONVTRANSPOSE, UPSAMPLE, CROP]


