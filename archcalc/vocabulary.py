"""Did-you-mean: the words people bring from PyTorch and Keras, mapped to archcalc's.

Data only, read at the moment a word is unknown. The words for a kind are declared by the
kind itself (``aliases``); a mapping whose target is not among the options (a field of the
kind at hand) is skipped. A word is normalised before lookup (case, `_`, `-`, `.`,
a `nn.` / `layers.` prefix are ignored), so `Conv2d`, `conv2d` and `nn.Conv2d` are one word.

The spelling fallback (difflib) is strict enough that `reshape` does not become `repeat`
nor `attention` become `flatten`.
"""
from __future__ import annotations


def kind_words() -> dict[str, tuple[str, ...]]:
    """Every foreign word for a kind (normalised word -> archcalc kinds, the first registered
    one wins): the leaf kinds' own ``aliases`` (archcalc/layers/), then the composites'
    (archcalc/composites/)."""
    from .composites import COMPOSITES
    from .layers import REGISTRY

    words: dict[str, tuple[str, ...]] = {}
    for kind in (*REGISTRY.values(), *COMPOSITES.values()):
        for word in kind.aliases:
            words[word] = words.get(word, ()) + (kind.name,)
    return words


# words with no archcalc counterpart: what to say instead of a misleading suggestion
# (skipped when the word itself becomes a registered kind)
KIND_NOTES: dict[str, str] = {
    "reshape": "archcalc has no `reshape` kind: every shape follows from the layers before it",
    "view": "archcalc has no `view` kind: every shape follows from the layers before it",
    "permute": "archcalc has no `permute` kind: volumes are always [H, W, C]",
    "transpose": "archcalc has no `transpose` kind: volumes are always [H, W, C]",
    "attention": "this version of archcalc has no `attention` kind",
    "multiheadattention": "this version of archcalc has no `attention` kind",
    "input": "the input is the top-level `input: [H, W, C]`, not a layer",
    "inputlayer": "the input is the top-level `input: [H, W, C]`, not a layer",
    "activation": "write the activation's own kind (`- relu`), or `activation: relu` on a conv or dense",
    # constructs the vocabulary cannot express: say so, and name the nearest supported one
    "multiply": "an element-wise product of branches is `parallel` with `merge: mul` (or `join` with "
                "`merge: mul`)",
    "mul": "an element-wise product of branches is `parallel` with `merge: mul` (or `join` with `merge: mul`)",
    "squeezeexcitation": "squeeze-and-excitation is a `parallel` with `merge: mul`: branches `[]` and "
                         "`[globalavgpool, conv 1×1, relu, conv 1×1, sigmoid]`",
    "squeezeexcite": "squeeze-and-excitation is a `parallel` with `merge: mul`: branches `[]` and "
                     "`[globalavgpool, conv 1×1, relu, conv 1×1, sigmoid]`",
    "lstm": "archcalc cannot express recurrent layers (no kind loops over time steps); the nearest "
            "supported construct is `dense` on a [T, D] token sequence, per step",
    "gru": "archcalc cannot express recurrent layers (no kind loops over time steps); the nearest "
           "supported construct is `dense` on a [T, D] token sequence, per step",
    "rnn": "archcalc cannot express recurrent layers (no kind loops over time steps); the nearest "
           "supported construct is `dense` on a [T, D] token sequence, per step",
    "pixelshuffle": "archcalc cannot express a pixel shuffle (channels moved into space); the nearest "
                    "supported upsampling constructs are `upsample` and `convtranspose`",
    "depthtospace": "archcalc cannot express depth-to-space (channels moved into space); the nearest "
                    "supported upsampling constructs are `upsample` and `convtranspose`",
    "pixelunshuffle": "archcalc cannot express space-to-depth; the nearest supported construct is a "
                      "strided `conv` (kernel = stride) that also moves space into channels",
    "spacetodepth": "archcalc cannot express space-to-depth; the nearest supported construct is a "
                    "strided `conv` (kernel = stride) that also moves space into channels",
    "maxunpool2d": "archcalc cannot express unpooling with indices; the nearest supported construct is "
                   "`upsample` (nearest), which has the same output shape",
    "zeropad2d": "padding is a field, not a layer: give the next conv or pool `padding: [top, bottom, "
                 "left, right]`",
    "zeropadding2d": "padding is a field, not a layer: give the next conv or pool `padding: [top, bottom, "
                     "left, right]`",
    "pad": "padding is a field, not a layer: give the next conv or pool `padding: [top, bottom, left, right]`",
    "deformconv2d": "archcalc cannot express deformable convolution (sampling offsets that a side branch "
                    "computes); the nearest supported construct is `conv`, plus a `conv` for the offsets",
    "roialign": "archcalc cannot express region pooling (its output depends on boxes, not shapes); the "
                "nearest supported construct is `adaptivemaxpool` to the pooled size",
    "roipool": "archcalc cannot express region pooling (its output depends on boxes, not shapes); the "
               "nearest supported construct is `adaptivemaxpool` to the pooled size",
    "lambda": "a Keras Lambda is arbitrary code: write the layers it computes",
}

# 1-D and 3-D layers: archcalc's volumes are 2-D
for _word, _kind in (("conv3d", "conv"), ("convtranspose3d", "convtranspose"), ("conv3dtranspose", "convtranspose"),
                     ("maxpool3d", "maxpool"), ("maxpooling3d", "maxpool"), ("avgpool3d", "avgpool"),
                     ("averagepooling3d", "avgpool"), ("batchnorm3d", "batchnorm"),
                     ("adaptiveavgpool3d", "adaptiveavgpool"), ("adaptivemaxpool3d", "adaptivemaxpool"),
                     ("upsampling3d", "upsample"), ("instancenorm3d", "instancenorm")):
    KIND_NOTES[_word] = ("archcalc cannot express 3-D volumes (depth × height × width); the nearest "
                         f"supported construct is the 2-D `{_kind}` on [H, W, C], slice by slice")
for _word in ("conv1d", "maxpool1d", "avgpool1d", "convtranspose1d", "maxpooling1d", "averagepooling1d"):
    KIND_NOTES[_word] = ("archcalc's volumes are 2-D: a 1-D layer is the 2-D kind with a height of 1 "
                         "(input [1, W, C], kernel [1, k])")

# normalised foreign field -> archcalc field (only when the kind has that field)
FIELD_WORDS: dict[str, tuple[str, ...]] = {
    "outchannels": ("filters", "channels"), "numfilters": ("filters",), "nfilters": ("filters",),
    "kernelsize": ("kernel", "size"), "ksize": ("kernel", "size"), "kernelshape": ("kernel",),
    "poolsize": ("size",), "poolingsize": ("size",), "windowsize": ("size",),
    "strides": ("stride",), "dilationrate": ("dilation",), "dilations": ("dilation",),
    "outfeatures": ("units",), "outputdim": ("units",), "hiddensize": ("units",),
    "usebias": ("bias",), "p": ("rate",), "droprate": ("rate",), "ceilmode": ("ceil",),
    "featuregroupcount": ("groups",), "numgroups": ("groups",), "pad": ("padding",),
}

FIELD_NOTES: dict[str, str] = {
    "inchannels": "remove it: archcalc takes the input channels from the layer before",
    "infeatures": "remove it: archcalc takes the input features from the layer before",
    "inputshape": "remove it: the network's input is the top-level `input: [H, W, C]`",
    "inputdim": "remove it: archcalc takes the input size from the layer before",
    "paddingmode": "archcalc counts shapes and parameters; the padding mode changes neither",
    "inplace": "archcalc counts shapes and parameters; in-place changes neither",
    "dataformat": "archcalc is always channels-last ([H, W, C])",
}


def normalise(word) -> str:
    text = str(word).strip().lower()
    for prefix in ("torch.nn.", "nn.", "tf.keras.layers.", "keras.layers.", "layers."):
        if text.startswith(prefix):
            text = text[len(prefix):]
    return text.replace("_", "").replace("-", "").replace(".", "").replace(" ", "")


def _spelling(word: str, options, cutoff: float = 0.7) -> str | None:
    import difflib

    close = difflib.get_close_matches(word, list(options), n=1, cutoff=cutoff)
    return close[0] if close else None


def _suggest(word, options, words: dict, notes: dict) -> str:
    options = [str(o) for o in options]
    key = normalise(word)
    by_key = {normalise(o): o for o in options}
    if key in by_key and by_key[key] != str(word):  # `Softmax`, `leaky_relu`
        return f"did you mean {by_key[key]!r}?"
    for target in words.get(key, ()):
        if target in options:
            return f"did you mean {target!r} (archcalc's name for `{word}`)?"
    if key in notes:
        return notes[key]
    # PyTorch's dimension suffixes: BatchNorm1d, Dropout3d, MaxPool1d
    stem = key[:-2] if key[-2:] in ("1d", "2d", "3d") else key
    if stem != key and stem in by_key:
        return f"did you mean {by_key[stem]!r}?"
    close = _spelling(str(word), options) or _spelling(key, by_key)
    if close is not None:
        return f"did you mean {by_key.get(close, close)!r}?"
    return ""


def suggest_kind(word, options) -> str:
    """The hint for an unknown layer kind: a did-you-mean, a note, or ''."""
    return _suggest(word, options, kind_words(), KIND_NOTES)


def suggest_field(word, options) -> str:
    """The hint for an unknown field of a kind whose accepted fields are ``options``."""
    return _suggest(word, options, FIELD_WORDS, FIELD_NOTES)
