"""Shape-keeping and reshaping kinds without weights: batchnorm, dropout, lrn, flatten, identity."""
from __future__ import annotations

from .base import POSITIVE_INT, RATE, LayerKind, RuleError, Torch, field_, fmt_shape
from .pool import whole_window


def _channels(shape) -> int:
    return shape[-1]


def _batchnorm_export(inp):
    if len(inp) == 2:
        raise RuleError("not-exportable", f"batchnorm over the features of a token sequence "
                        f"{fmt_shape(inp)} has no single PyTorch module (BatchNorm1d normalises "
                        "axis 1, the tokens)", hint="use layernorm, as Transformers do")
    return Torch(f"nn.BatchNorm{2 if len(inp) == 3 else 1}d({_channels(inp)})")


BATCHNORM = LayerKind(
    name="batchnorm",
    doc="Batch normalisation over channels: 2·C parameters (γ, β) and 2·C buffers "
        "(running mean and variance).",
    params=lambda inp, out, f: 2 * _channels(inp),
    buffers=lambda inp, out, f: 2 * _channels(inp),
    group="norm",
    export=lambda inp, out, f: _batchnorm_export(inp),
)

DROPOUT = LayerKind(
    name="dropout",
    doc="Dropout (training only); shape unchanged.",
    primary="rate",
    fields={"rate": field_(RATE, 0.5, doc="probability of dropping a value")},
    describe=lambda f: f"p={f['rate']:g}",
    group="other",
    export=lambda inp, out, f: Torch(f"nn.Dropout(p={f['rate']!r})"),
)

LRN = LayerKind(
    name="lrn",
    doc="Local response normalisation across channels (AlexNet); no parameters.",
    primary="size",
    fields={"size": field_(POSITIVE_INT, 5, doc="number of neighbouring channels")},
    describe=lambda f: f"size {f['size']}",
    group="norm",
    # the spec gives only the size; α, β and k are PyTorch's defaults (they change no count)
    export=lambda inp, out, f: Torch(f"nn.LocalResponseNorm({f['size']})"),
)


def _flatten(inp, f):
    n = 1
    for x in inp:
        n *= x
    return (n,)


FLATTEN = LayerKind(name="flatten", doc="[H, W, C] -> [H·W·C].", shape=_flatten, window=whole_window,
                    group="other", export=lambda inp, out, f: Torch("nn.Flatten()"))

IDENTITY = LayerKind(name="identity", doc="Passes its input through unchanged.", group="other",
                     export=lambda inp, out, f: Torch("nn.Identity()"))

KINDS = [BATCHNORM, DROPOUT, LRN, FLATTEN, IDENTITY]
