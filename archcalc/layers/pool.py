"""maxpool, avgpool — windowed pooling; globalavgpool, globalmaxpool — pool a volume to 1×1×C.

Pooling keeps channels, has no parameters and, by the fvcore/torchvision convention the
contract adopts, no MACs.
"""
from __future__ import annotations

from . import window
from .base import (
    BOOL,
    PADDING,
    PAIR,
    Counted,
    LayerKind,
    NotRead,
    Onnx,
    RuleError,
    Torch,
    concrete,
    field_,
    given,
    numel,
    pair_text,
    require_volume,
)
from .conv import (
    resolve_axes,
    torch_padding,
    window_axes,
    window_shape,
    window_warnings,
)


def pool_shape(kind):
    def shape(inp, f):
        require_volume(inp, kind)
        h, w = window_shape(inp, f, "size", kind, ceil=f["ceil"])
        return (h, w, inp[2])
    return shape


def describe(f):
    kh, kw = f["size"]
    sh, sw = f["stride"] or f["size"]
    text = f"{kh}×{kw}/{sh if sh == sw else f'{sh}×{sw}'}"
    pad = f["padding"]
    if pad == "same":
        text += ", same"
    elif pad != (0, 0, 0, 0):
        text += ", p" + (str(pad[0]) if len(set(pad)) == 1 else ",".join(map(str, pad)))
    if f["ceil"]:
        text += ", ceil"
    return text


def pool_export(module: str, pad_value: str):
    """nn.MaxPool2d / nn.AvgPool2d. PyTorch pads both sides alike and at most half the window;
    other padding is an explicit F.pad (with ``pad_value``: -inf for max, so padding never
    wins; zeros for average, which PyTorch's own padding counts too) and no pooling padding."""
    def export(inp, out, f):
        size = f["size"]
        args = [pair_text(*size)]
        if f["stride"] is not None and str(pair_text(*f["stride"])) != args[0]:
            args.append(f"stride={pair_text(*f['stride'])}")
        padding, pads = torch_padding(inp, f, "size")
        if padding is not None and any(2 * concrete(p) > concrete(k) for p, k in zip(padding, size)):
            pads = (padding[1], padding[1], padding[0], padding[0])
            padding = None
        if padding is not None and any(given(v, 0) for v in padding):
            args.append(f"padding={pair_text(*padding)}")
        if f["ceil"]:
            args.append("ceil_mode=True")
        x = "{x}"
        if pads is not None:
            # PyTorch's ceil mode drops a last window that starts in its own end padding, which
            # after F.pad is input: the outputs must still agree.
            axes = resolve_axes(tuple(concrete(v) for v in inp), _concrete_fields(f), "size")
            left, right, top, bottom = (concrete(p) for p in pads)
            for (n, k, s, d, _, _), (pb, pe), o in zip(axes, ((top, bottom), (left, right)), out):
                if window.axis_output(n + pb + pe, k, s, d, 0, 0, f["ceil"]) != o:
                    raise RuleError("not-exportable",
                                    f"{module} with ceil mode and this padding has no exact PyTorch "
                                    "form: PyTorch would keep a last window that starts in the padding",
                                    hint="pad both sides alike (at most half the window), or drop "
                                         "`ceil`", field="padding")
            value = f", value={pad_value}" if pad_value != "0" else ""
            x = f"F.pad({{x}}, ({', '.join(map(str, pads))}){value})"
        return Torch(f"nn.{module}({', '.join(args)})", call=f"{{m}}({x})")
    return export


def pooled_values(inp, f) -> int:
    """The values the exported nn.MaxPool2d / nn.AvgPool2d receives: the input, padded first
    when the padding is an explicit F.pad (pool_export's rule)."""
    padding, pads = torch_padding(inp, f, "size")
    if padding is not None and any(2 * concrete(p) > concrete(k) for p, k in zip(padding, f["size"])):
        pads = (padding[1], padding[1], padding[0], padding[0])
    if pads is None:
        return numel(inp)
    left, right, top, bottom = (concrete(p) for p in pads)
    return (inp[0] + top + bottom) * (inp[1] + left + right) * inp[2]


# --count-as ptflops: pool_flops_counter_hook counts the module's input values, and the
# F.max_pool2d / F.avg_pool2d / F.adaptive_*_pool2d the module calls is patched to count them again
_PTFLOPS_POOL = "2 per input value: the module's hook and the patched F.{} it calls"


def _concrete_fields(f):
    return {k: tuple(concrete(x) for x in v) if isinstance(v, tuple) else v for k, v in f.items()}


def _pool_from_onnx(node):
    """ONNX MaxPool/AveragePool (2-D, not dilated)."""
    kernel = list(node.attrs.get("kernel_shape", []))
    if len(kernel) != 2 or node.layout == "nhwc":
        raise NotRead("not a 2-D pooling")
    if any(d != 1 for d in node.attrs.get("dilations", [1, 1])):
        raise NotRead("dilated pooling")
    return {"size": kernel, **node.window(), "ceil": bool(node.attrs.get("ceil_mode", 0))}


def _mean_from_onnx(node):
    """ReduceMean over H and W that keeps them: PyTorch's default (dynamo) exporter writes
    global average pooling so (axes an input from opset 18, an attribute before)."""
    axes = node.value(1) if node.has(1) else node.attrs.get("axes")
    axes = [axes] if isinstance(axes, int) else axes
    if node.attrs.get("keepdims", 1) != 1 or not isinstance(axes, list) or sorted(axes) not in ([-2, -1], [2, 3]):
        raise NotRead(f"ReduceMean over axes {axes!r} (only the mean over H and W that keeps them, a global "
                      "average pool, is followed)")
    return {}


def _pool(kind: str, what: str) -> LayerKind:
    return LayerKind(
        name=kind,
        doc=f"{what} pooling over windows; channels kept, no parameters.",
        primary="size",
        fields={
            "size": field_(PAIR, doc="window size, int or [h, w]"),
            "stride": field_(PAIR, None, doc="stride, int or [sh, sw]; defaults to the window size",
                             default_from="size"),
            "padding": field_(PADDING, (0, 0, 0, 0), doc="same forms as conv"),
            "ceil": field_(BOOL, False, doc="ceil instead of floor, dropping a last window that starts "
                                            "in the end padding (PyTorch's rule)"),
        },
        shape=pool_shape(kind),
        describe=describe,
        label=lambda inp, f: f"{kind} {describe(f)}",   # `maxpool 3×3/2, p1`: all of it shapes
        warnings=lambda inp, out, f: window_warnings(inp, out, f, "size", kind, ceil=f["ceil"]),
        window=lambda inp, f: window_axes(inp, f, "size"),
        group="pool",
        export=pool_export(*{"maxpool": ("MaxPool2d", 'float("-inf")'),
                             "avgpool": ("AvgPool2d", "0")}[kind]),
        saves=("input", "indices") if kind == "maxpool" else ("input",),
        count_as={"ptflops": Counted(lambda inp, out, f: 2 * pooled_values(inp, f),
                                     _PTFLOPS_POOL.format(f"{kind[:3]}_pool2d")),
                  **({"thop": Counted(lambda inp, out, f: numel(out), "1 per output value (count_avgpool)")}
                     if kind == "avgpool" else {})},
        onnx=(Onnx((f"{what}Pool",), _pool_from_onnx, folds_pad=True),),
        aliases={"maxpool": ("maxpool2d", "maxpooling2d", "maxpooling"),
                 "avgpool": ("avgpool2d", "averagepooling2d", "averagepool")}[kind],
    )


def whole_window(inp, f):
    """One window over the whole volume (global pooling, flatten): each output sees everything."""
    if len(inp) != 3:
        return None
    return ((inp[0], inp[0], 0), (inp[1], inp[1], 0))


def _global(kind: str, what: str) -> LayerKind:
    def shape(inp, f):
        require_volume(inp, kind)
        return (1, 1, inp[2])

    module = "nn.AdaptiveAvgPool2d(1)" if what == "average" else "nn.AdaptiveMaxPool2d(1)"
    return LayerKind(name=kind, doc=f"Global {what} pooling: [H, W, C] -> [1, 1, C].",
                     shape=shape, window=whole_window, group="pool",
                     export=lambda inp, out, f: Torch(module),
                     saves=() if what == "average" else ("input", "indices"),
                     count_as=adaptive_counts(what),
                     onnx=(Onnx(("GlobalAveragePool",)), Onnx(("ReduceMean",), _mean_from_onnx))
                     if what == "average" else (Onnx(("GlobalMaxPool",)),),
                     aliases=("globalaveragepooling2d", "globalaveragepool", "gap") if what == "average"
                     else ("globalmaxpooling2d",))


def _thop_adaptive(inp, out, f) -> int:
    # count_adap_avgpool, in its own float64 arithmetic: kernel = (h/oh)·(w/ow), then
    # int((kernel + 1)·output values), truncated
    kernel = (inp[0] / out[0]) * (inp[1] / out[1])
    return int((kernel + 1) * numel(out))


def adaptive_counts(what: str) -> dict:
    """--count-as rules of nn.AdaptiveAvgPool2d / nn.AdaptiveMaxPool2d (global pooling too)."""
    name = "adaptive_avg_pool2d" if what == "average" else "adaptive_max_pool2d"
    rules = {"ptflops": Counted(lambda inp, out, f: 2 * numel(inp), _PTFLOPS_POOL.format(name))}
    if what == "average":
        rules["fvcore"] = Counted(lambda inp, out, f: numel(inp),
                                  "1 per input value (aten::adaptive_avg_pool2d, elementwise_flop_counter(1, 0))")
        rules["thop"] = Counted(_thop_adaptive, "(h·w/(oh·ow) + 1) per output value (count_adap_avgpool)")
    return rules


def _adaptive_shape(kind):
    def shape(inp, f):
        require_volume(inp, kind)
        return (f["size"][0], f["size"][1], inp[2])
    return shape


def _bins_text(n: int, o: int) -> str:
    if n % o == 0:
        return f"{o} bin{'s' if o > 1 else ''} of {n}/{o} = {n // o} (a {n // o}-wide window, stride {n // o})"
    sizes = sorted({end - start for start, end in window.adaptive_bins(n, o)}) if o <= 4096 else []
    widths = " or ".join(map(str, sizes)) + " wide" if sizes else "of unequal widths"
    return (f"bin i covers [⌊i·{n}/{o}⌋, ⌈(i+1)·{n}/{o}⌉): {o} bins {widths}, starting "
            f"⌊{n}/{o}⌋ or ⌈{n}/{o}⌉ apart (the receptive field is an upper bound)")


def _adaptive_explain(layer):
    inp, out = layer.input, layer.output
    if (inp[0], out[0]) == (inp[1], out[1]):
        return {"bins": _bins_text(inp[0], out[0])}
    return {"bins (h)": _bins_text(inp[0], out[0]), "bins (w)": _bins_text(inp[1], out[1])}


def _adaptive_export(module: str):
    def export(inp, out, f):
        from .base import Torch, pair_text

        return Torch(f"nn.{module}({pair_text(*f['size'])})")
    return export


def _adaptive_saves(what: str):
    """What PyTorch's adaptive pooling saves for backward: the max its input and an int64
    index per output value; the average its input — nothing at 1×1, which PyTorch computes
    as a mean (as global average pooling)."""
    if what == "max":
        return ("input", "indices")
    return lambda inp, out, f: () if tuple(f["size"]) == (1, 1) else ("input",)


def _adaptive(kind: str, what: str) -> LayerKind:
    return LayerKind(
        name=kind,
        doc=f"Adaptive {what} pooling to a fixed [h, w] (PyTorch's Adaptive{what.capitalize()}Pool2d): "
            "output bin i of an axis of n covers [⌊i·n/o⌋, ⌈(i+1)·n/o⌉); channels kept, no parameters.",
        primary="size",
        fields={"size": field_(PAIR, doc="output size, int or [h, w]")},
        shape=_adaptive_shape(kind),
        describe=lambda f: f"→ {f['size'][0]}×{f['size'][1]}",
        window=lambda inp, f: (window.adaptive_window(inp[0], f["size"][0]),
                               window.adaptive_window(inp[1], f["size"][1])) if len(inp) == 3 else None,
        explain=_adaptive_explain,
        group="pool",
        export=_adaptive_export(f"Adaptive{'Avg' if what == 'average' else 'Max'}Pool2d"),
        saves=_adaptive_saves(what),
        count_as=adaptive_counts(what),
        aliases=(f"adaptive{'avg' if what == 'average' else 'max'}pool2d",),
    )


KINDS = [_pool("maxpool", "Max"), _pool("avgpool", "Average"),
         _global("globalavgpool", "average"), _global("globalmaxpool", "max"),
         _adaptive("adaptiveavgpool", "average"), _adaptive("adaptivemaxpool", "max")]
