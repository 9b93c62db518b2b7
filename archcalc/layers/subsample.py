"""subsample — LeNet-5's trainable subsampling (S2, S4; LeCun et al. 1998, section II.B).

Each output unit averages a size×size window of one map, multiplies it by the map's
trainable coefficient and adds the map's trainable bias (then a squashing function, the
optional fused `activation`). Output by the window rule, channels kept; params 2 per map
(coefficient and bias; 1 without bias); MACs 0, as for pooling and batchnorm's per-channel
affine (the fvcore convention of contract section 3); connections per output unit: the
window's inputs plus the bias, 14·14·6·(2·2 + 1) = 5,880 for S2.
"""
from __future__ import annotations

from .activations import ACTIVATION_FIELD, fused_activation, fused_count, fused_saves
from .base import (BOOL, PAIR, Counted, LayerKind, NotRead, Onnx, Torch, describe_bias_activation, field_, numel,
                   pair_text, require_volume)
from .conv import window_axes, window_shape, window_warnings


def shape(inp, f):
    require_volume(inp, "subsample")
    h, w = window_shape(inp, f, "size", "subsample")
    return (h, w, inp[2])


def params(inp, out, f):
    return inp[2] * (2 if f["bias"] else 1)


def connections(inp, out, f):
    kh, kw = f["size"]
    return out[0] * out[1] * out[2] * (kh * kw + (1 if f["bias"] else 0))


def describe(f):
    kh, kw = f["size"]
    sh, sw = f["stride"] or f["size"]
    return f"{kh}×{kw}/{sh if sh == sw else f'{sh}×{sw}'}" + describe_bias_activation(f)


def explain(layer):
    c = layer.input[2]
    kh, kw = layer.fields["size"]
    out = layer.output
    bias = layer.fields["bias"]
    return {"params": (f"{c}·{2 if bias else 1}",
                       f"{'a coefficient and a bias' if bias else 'a coefficient'} per map"),
            "connections": f"{out[0]}·{out[1]}·{out[2]}·({kh}·{kw}{' + 1' if bias else ''})"}


def export(inp, out, f):
    """Average pooling times a coefficient per map plus a bias per map: element-wise, so
    PyTorch counts no MACs, as archcalc does."""
    size = pair_text(*f["size"])
    stride = f", stride={pair_text(*f['stride'])}" if f["stride"] is not None and \
        pair_text(*f["stride"]) != size else ""
    bias = "" if f["bias"] else ", bias=False"
    return Torch(f"Subsample2d({inp[2]}, {size}{stride}{bias})",
                 call=fused_activation(f, "{m}({x})", out), helpers={"Subsample2d": _SUBSAMPLE})


def _per_map(shape) -> int | None:
    """The maps of a learned tensor of one value per map shaped to broadcast over (N, C, H, W):
    (1, C, 1, 1), (C, 1, 1) or (C,) on a 1×1 map; else None."""
    shape = tuple(shape or ())
    if len(shape) == 4 and shape[0] == 1:
        shape = shape[1:]
    return int(shape[0]) if len(shape) == 3 and shape[1:] == (1, 1) else None


def _from_onnx(node):
    """As exported (Subsample2d): an AveragePool, a Mul by the coefficients viewed as
    (1, C, 1, 1), and an Add of the biases so viewed (the pattern's last node); without bias
    the Mul is the last."""
    scale = node if node.op == "Mul" else node.source(node.inputs[1 - node.constant_operand()]) \
        if node.constant_operand() is not None else None
    pool = scale.source(scale.inputs[1 - scale.constant_operand()]) \
        if scale is not None and scale.op == "Mul" and scale.constant_operand() is not None else None
    expected = {"AveragePool": 1} if node.op == "Mul" else {"AveragePool": 1, "Mul": 1}
    if pool is None or pool.op != "AveragePool" or node.between != expected or pool.inputs[0] != node.reads:
        raise NotRead("not a trainable subsampling")
    maps = {_per_map(scale.learned(scale.constant_operand()))}
    if node.op == "Add":
        maps.add(_per_map(node.learned(node.constant_operand())))
    kernel = list(pool.attrs.get("kernel_shape", []))
    window = pool.window()
    if None in maps or len(maps) != 1 or len(kernel) != 2 or window["padding"] != [0, 0, 0, 0] \
            or pool.attrs.get("ceil_mode", 0) or any(d != 1 for d in pool.attrs.get("dilations", [1, 1])):
        raise NotRead("not a trainable subsampling")
    node.expect("channels", maps.pop())
    stride = {} if window["stride"] == kernel else {"stride": window["stride"]}
    return {"size": kernel, **stride, "bias": node.op == "Add"}


_SUBSAMPLE = '''class Subsample2d(nn.Module):
    """LeNet-5's trainable subsampling: each window's average, times a coefficient per map,
    plus a bias per map."""

    def __init__(self, channels, kernel_size, stride=None, bias=True):
        super().__init__()
        self.pool = nn.AvgPool2d(kernel_size, stride=stride)
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels)) if bias else None

    def forward(self, x):
        x = self.pool(x) * self.weight.view(1, -1, 1, 1)
        return x if self.bias is None else x + self.bias.view(1, -1, 1, 1)
'''


SUBSAMPLE = LayerKind(
    name="subsample",
    doc="LeNet-5's trainable subsampling: the average of each window times a trainable "
        "coefficient per map, plus a trainable bias per map.",
    primary="size",
    fields={
        "size": field_(PAIR, (2, 2), doc="window size, int or [h, w]"),
        "stride": field_(PAIR, None, doc="stride, int or [sh, sw]; defaults to the window size",
                         default_from="size"),
        "bias": field_(BOOL, True, doc="add a trainable bias per map"),
        "activation": ACTIVATION_FIELD,
    },
    shape=shape,
    params=params,
    connections=connections,
    describe=describe,
    explain=explain,
    warnings=lambda inp, out, f: window_warnings(inp, out, f, "size", "subsample"),
    window=lambda inp, f: window_axes(inp, f, "size"),
    group="pool",
    export=export,
    onnx=(Onnx(("Add", "Mul"), _from_onnx, pattern=True),),
    # as exported: the average pool saves its input; the product by the coefficients saves
    # the pooled tensor, a tensor of its own (one value per output); the bias adds nothing
    saves=lambda inp, out, f: ("input", ("new", numel(out))) + fused_saves(f),
    count_as={
        # Subsample2d is not a module the tools know: they see its nn.AvgPool2d (the product
        # and the sum are Tensor operators, which no tool counts)
        "ptflops": Counted(lambda inp, out, f: 2 * numel(inp) + fused_count(f, out),
                           "2 per input value: its nn.AvgPool2d's hook and the patched F.avg_pool2d"),
        "thop": Counted(lambda inp, out, f: numel(out), "1 per output value: its nn.AvgPool2d (count_avgpool)"),
    },
)

KINDS = [SUBSAMPLE]
