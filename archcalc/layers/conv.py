"""conv — 2-D convolution.

Output per axis by the window rule; params kh·kw·(C/groups)·filters (+ filters with bias);
MACs H_out·W_out·filters·kh·kw·(C/groups).
"""
from __future__ import annotations

from . import window
from .activations import ACTIVATION_NAMES
from .base import (BOOL, PADDING, PAIR, POSITIVE_INT, LayerKind, RuleError, choice, field_,
                   require_volume)


def resolve_axes(inp, f, kernel_key: str):
    """Per-axis (n, k, s, d, pb, pe) for a windowed layer, resolving `same` padding."""
    kh, kw = f[kernel_key]
    sh, sw = f["stride"] or f[kernel_key]
    dh, dw = f.get("dilation") or (1, 1)
    pad = f["padding"]
    if pad == "same":
        pt, pb_ = window.same_padding(inp[0], window.effective_kernel(kh, dh), sh)
        pl, pr = window.same_padding(inp[1], window.effective_kernel(kw, dw), sw)
    else:
        pt, pb_, pl, pr = pad
    return ((inp[0], kh, sh, dh, pt, pb_), (inp[1], kw, sw, dw, pl, pr))


def window_shape(inp, f, kernel_key: str, what: str, ceil: bool = False):
    """Spatial output (H, W) of a windowed layer, with a located error when it is empty."""
    out = []
    for axis_name, (n, k, s, d, pb, pe) in zip(("height", "width"), resolve_axes(inp, f, kernel_key)):
        o = window.axis_output(n, k, s, d, pb, pe, ceil)
        if o < 1:
            e = window.effective_kernel(k, d)
            bracket = "⌈⌉" if ceil else "⌊⌋"
            raise RuleError(
                "nonpositive-output",
                f"{what} output {axis_name} {bracket[0]}({n} + {pb + pe} − {e})/{s}{bracket[1]} + 1 = {o} "
                f"is not positive: the {e}-wide window is larger than the padded input ({n + pb + pe})",
                hint="use a smaller kernel, more padding ('same'), or a larger input",
                field=kernel_key)
        out.append(o)
    return out


def shape(inp, f):
    require_volume(inp, "conv")
    c, filters, groups = inp[2], f["filters"], f["groups"]
    if c % groups or filters % groups:
        bad = []
        if c % groups:
            bad.append(f"{c} input channels")
        if filters % groups:
            bad.append(f"{filters} filters")
        raise RuleError("groups-mismatch",
                        f"groups must divide input channels and filters, but {groups} does not divide "
                        + " or ".join(bad),
                        hint=f"choose groups among the common divisors of {c} and {filters}",
                        field="groups")
    h, w = window_shape(inp, f, "kernel", "conv")
    return (h, w, filters)


def params(inp, out, f):
    kh, kw = f["kernel"]
    weights = kh * kw * (inp[2] // f["groups"]) * f["filters"]
    return weights + (f["filters"] if f["bias"] else 0)


def macs(inp, out, f):
    kh, kw = f["kernel"]
    return out[0] * out[1] * out[2] * kh * kw * (inp[2] // f["groups"])


def window_warnings(inp, out, f, kernel_key: str, what: str):
    """Warn when real input rows/columns at the end are never covered by any window."""
    kh, kw = f[kernel_key]
    for axis_name, (n, k, s, d, pb, pe), o in zip(("rows", "columns"), resolve_axes(inp, f, kernel_key),
                                                  out):
        lost = window.dropped_input(n, k, s, d, pb, pe, o)
        if not lost:
            continue
        e = window.effective_kernel(k, d)
        exact = (n + pb + pe - e) / s + 1
        pad = window.exact_padding(n + pb + pe, k, s, d)
        hint = ""
        if pad is not None and f.get("padding") != "same":
            hint = (f"padding {pad} more {axis_name[:-1]}{'s' if pad > 1 else ''} "
                    f"(total {pb + pe + pad}) would make this layer exact: "
                    f"({n} + {pb + pe + pad} − {e})/{s} + 1 = {(n + pb + pe + pad - e) // s + 1}")
        yield ("window-drops-input",
               f"{what} {kh}×{kw}/{s} over {n} {axis_name}: "
               f"({n} + {pb + pe} − {e})/{s} + 1 = {exact:g} is floored to {o}, so the last {lost} input "
               f"{axis_name[:-1] if lost == 1 else axis_name} {'is' if lost == 1 else 'are'} never seen",
               hint)


def describe(f):
    kh, kw = f["kernel"]
    sh, sw = f["stride"]
    text = f"{kh}×{kw}/{sh if sh == sw else f'{sh}×{sw}'}"
    pad = f["padding"]
    if pad == "same":
        text += ", same"
    elif pad == (0, 0, 0, 0):
        pass  # valid is the default: say nothing
    elif len(set(pad)) == 1:
        text += f", p{pad[0]}"
    else:
        text += ", p" + ",".join(map(str, pad))
    if f["dilation"] != (1, 1):
        text += f", dil {f['dilation'][0]}"
    if f["groups"] != 1:
        text += f", g{f['groups']}"
    if not f["bias"]:
        text += ", -bias"
    if f["activation"]:
        text += f", {f['activation']}"
    return text


CONV = LayerKind(
    name="conv",
    doc="2-D convolution over an [H, W, C] volume.",
    primary="filters",
    fields={
        "filters": field_(POSITIVE_INT, doc="number of output channels"),
        "kernel": field_(PAIR, doc="kernel size, int or [kh, kw]"),
        "stride": field_(PAIR, (1, 1), doc="stride, int or [sh, sw]"),
        "padding": field_(PADDING, (0, 0, 0, 0),
                          doc="'valid', 'same', int, [ph, pw] or [top, bottom, left, right]"),
        "dilation": field_(PAIR, (1, 1), doc="dilation, int or [dh, dw]"),
        "groups": field_(POSITIVE_INT, 1, doc="channel groups; must divide input channels and filters"),
        "bias": field_(BOOL, True, doc="add a bias per filter"),
        "activation": field_(choice(*ACTIVATION_NAMES), None, doc="a fused activation (adds no params)"),
    },
    shape=shape,
    params=params,
    macs=macs,
    describe=describe,
    warnings=lambda inp, out, f: window_warnings(inp, out, f, "kernel", "conv"),
    weighted=True,
    group="conv",
)

KINDS = [CONV]
