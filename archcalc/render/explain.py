"""`archcalc explain`: each layer's numbers with the arithmetic written out as a lecture
writes it — ⌊(227 + 0 − 11)/4⌋ + 1 = 55, 11·11·3·96 + 96 = 34,944 — plus the
receptive-field recurrence and the layer's diagnostics with their hints. Plain text only.

The formulas are re-derived here from the layer's fields and input, by the same rules as
the layer kinds (contract section 3); every result printed is the engine's own number, so
an explanation can never disagree with `show`.
"""
from __future__ import annotations

import textwrap

from ..layers import REGISTRY
from ..layers.conv import resolve_axes
from ..layers.pool import whole_window
from ..layers.window import effective_kernel
from . import numbers

_LABEL = 14  # width of the label column


def _line(label: str, text: str) -> str:
    return f"  {label:<{_LABEL}}{text}"


def _dot(*factors) -> str:
    return "·".join(str(f) for f in factors)


def _window_key(layer) -> str | None:
    """The field holding a sliding window's size, or None for other kinds."""
    kind = REGISTRY[layer.kind]
    if kind.window is None or kind.window is whole_window or len(layer.input) != 3 \
            or "stride" not in kind.fields:  # adaptive pooling: bins, not a sliding window
        return None
    return "kernel" if "kernel" in layer.fields else "size"


# --------------------------------------------------------------------------- output size
def _axis_arithmetic(n, k, s, d, pb, pe, ceil, out) -> str:
    e = effective_kernel(k, d)
    open_, close = ("⌈", "⌉") if ceil else ("⌊", "⌋")
    text = f"{open_}({n} + {pb + pe} − {e})/{s}{close} + 1"
    if (n + pb + pe - e) % s:
        quotient = (n + pb + pe - e) / s
        text += f" = {open_}{quotient:g}{close} + 1"
    return f"{text} = {out}"


def _output_lines(layer) -> list[str]:
    kind = REGISTRY[layer.kind]
    inp, out, f = layer.input, layer.output, layer.fields
    key = _window_key(layer)
    if key is not None:
        axes = resolve_axes(inp, f, key)
        lines = []
        dilations = [d for (_, _, _, d, _, _) in axes]
        if any(d != 1 for d in dilations):
            for name, (n, k, s, d, pb, pe) in _axis_names(axes):
                lines.append(_line("dilated k" if name == "" else f"dilated k ({name[0]})",
                                   f"{d}·({k} − 1) + 1 = {effective_kernel(k, d)}"))
        if f.get("padding") == "same":
            pads = ", ".join(f"{pb} + {pe}" for (_, _, _, _, pb, pe) in axes)
            lines.append(_line("same padding", f"{pads} (output ⌈n/s⌉, the smaller half first)"))
        ceil = bool(f.get("ceil"))
        for name, axis in _axis_names(axes):
            index = 0 if name != "width" else 1
            label = "output size" if name == "" else f"output {name}"
            lines.append(_line(label, _axis_arithmetic(*axis, ceil, out[index])))
        channels = f"{out[2]} filters" if "filters" in f else f"{inp[2]} channels kept"
        lines.append(_line("output", f"{numbers.shape(out)} ({channels})"))
        return lines
    if kind.window is whole_window and len(inp) == 3:
        if len(out) == 1:
            return [_line("output", f"{_dot(*inp)} = {out[0]:,} values in a row")]
        return [_line("output", f"{numbers.shape(inp)} pooled over all {inp[0]}·{inp[1]} positions "
                                f"= {numbers.shape(out)}")]
    if tuple(out) == tuple(inp):
        return [_line("output", f"{numbers.shape(out)} (unchanged)")]
    return [_line("output", numbers.shape(out))]


def _axis_names(axes):
    """One row when both axes compute the same, else one per axis."""
    if axes[0] == axes[1]:
        return [("", axes[0])]
    return [("height", axes[0]), ("width", axes[1])]


# -------------------------------------------------------------------------- params, MACs
def _params_lines(layer) -> list[str]:
    """The generic lines, for a kind whose ``explain`` does not write its arithmetic."""
    return [_line("params", f"{layer.params:,}")]


def _buffers_lines(layer) -> list[str]:
    return [_line("buffers", f"{layer.buffers:,}")] if layer.buffers else []


def _macs_lines(layer) -> list[str]:
    if layer.macs:
        return [_line("MACs", f"{layer.macs:,}")]
    return [_line("MACs", "0 (by the counting convention only weight layers multiply-accumulate)")]


def _activation_lines(layer, totals) -> list[str]:
    if not layer.activations:
        return [_line("activations", "0 new values (computed in place, or a view)")]
    batch = totals.batch
    scale = f"{batch}·" if batch != 1 else ""
    size = numbers.byte_size(layer.activations * totals.bytes_per_value)
    product = f"{scale}{_dot(*layer.output)} = " if scale or len(layer.output) > 1 else ""
    return [_line("activations", f"{product}{layer.activations:,} values, {size} in {totals.dtype}")]


# ------------------------------------------------------------------------ receptive field
def _field_lines(layer) -> list[str]:
    rf = layer.receptive_field
    if rf is None:
        if layer.field is None and len(layer.input) == 3 and len(layer.output) == 3:
            return [_line("receptive", "not reported: an upsampling before made the jump a fraction of "
                                       "an input pixel")]
        return []
    kind = REGISTRY[layer.kind]
    axes = kind.window(layer.input, layer.fields) if kind.window is not None else None
    start = str(rf.start[0]) if rf.start[0] == rf.start[1] else f"({rf.start[0]}, {rf.start[1]})"
    summary = f"{numbers.shape(rf.size)} pixels, jump {_pair(rf.jump)}, start {start}"
    if not axes or all(a == (1, 1, 0) for a in axes):
        return [_line("receptive", f"{summary} (as its input)")]
    if len(axes[0]) == 4:  # upsampling: the jump is divided (metrics.py)
        (e, s, pb, u) = axes[0]
        return [_line("receptive", f"{summary} (upsampling: the jump is divided by {u // s if u % s == 0 else f'{u}/{s}'}"
                                   f", each output sees at most {e} input position{'s' if e > 1 else ''})")]
    lines = []
    labels = [""] if axes[0] == axes[1] and rf.size[0] == rf.size[1] and rf.start[0] == rf.start[1] \
        else ["height", "width"]
    for index, name in enumerate(labels):
        e, s, pb = axes[index]
        r, j, a = rf.size[index], rf.jump[index], rf.start[index]
        j_in = j // s
        r_in, a_in = r - (e - 1) * j_in, a + pb * j_in
        label = "receptive" if not name else f"receptive ({name[0]})"
        lines.append(_line(label, f"r = {r_in} + ({e} − 1)·{j_in} = {r},  j = {j_in}·{s} = {j},  "
                                  f"start = {a_in} − {pb}·{j_in} = {a}"))
    if kind.window is whole_window:
        lines.append(_line("", "one window over the whole volume: the layer sees the whole input"))
    else:
        lines.append(_line("", summary))
    return lines


def _pair(values) -> str:
    return str(values[0]) if values[0] == values[1] else f"{values[0]}×{values[1]}"


# --------------------------------------------------------------------------------- report
def diagnostic_lines(diagnostics, width: int) -> list[str]:
    lines = []
    for d in diagnostics:
        head = f"{d.severity}[{d.code}] line {d.line}: {d.message}"
        lines += textwrap.wrap(head, width - 2, initial_indent="  ", subsequent_indent="    ")
        if d.hint:
            lines += textwrap.wrap(f"hint: {d.hint}", width - 2, initial_indent="    ",
                                   subsequent_indent="      ")
    return lines


_RESULTS = {"params": "params", "buffers": "buffers", "MACs": "macs", "connections": "connections"}


def _kind_lines(layer, batch: int):
    """The kind's own arithmetic (its ``explain`` rule), with the engine's results appended:
    {label: lines}. Empty when the kind has no rule, or none for this layer."""
    rule = REGISTRY[layer.kind].explain
    texts = rule(layer) if rule is not None else None
    if not texts:
        return {}
    out = {}
    once = texts.get("MACs once")  # the part computed once per forward pass (LayerKind.once_macs)
    for label, text in texts.items():
        attribute = _RESULTS.get(label)
        if label == "MACs once":
            continue
        if attribute is None:
            out[label] = [_line(label, text)]
            continue
        text, note = text if isinstance(text, tuple) else (text, "")
        if label == "MACs" and batch != 1:
            text = f"{batch}·({text})" if " + " in text or " − " in text else f"{batch}·{text}"
        if label == "MACs" and once is not None:
            once_text, once_note = once if isinstance(once, tuple) else (once, "")
            text += f" + {once_text}"
            note = f"{note}; {once_note}" if note and once_note else note or once_note
        note = f" ({note})" if note else ""
        out[label] = [_line(label, f"{text} = {getattr(layer, attribute):,}{note}")]
    return out


def explain_layer(layer, analysis, width: int = 100) -> str:
    from ..layers import settings_text

    settings = settings_text(layer, marks=False)
    head = f"{layer.name}: {layer.kind}" + (f" {settings}" if settings else "") + f"  (line {layer.line})"
    lines = [head, _line("input", numbers.shape(layer.input))]
    own = _kind_lines(layer, analysis.totals.batch)
    # a kind whose output is not a sliding window's (convtranspose) writes its own
    lines += own.pop("output", None) or _output_lines(layer)
    for label, rows in own.items():
        if label not in _RESULTS:
            lines += rows
    lines += own.get("params") or _params_lines(layer)
    lines += own.get("buffers") or _buffers_lines(layer)
    lines += own.get("MACs") or _macs_lines(layer)
    if analysis.totals.show_connections:
        lines += own.get("connections") or [_line("connections", f"{layer.connections:,}")]
    lines += _activation_lines(layer, analysis.totals)
    lines += _field_lines(layer)
    lines += diagnostic_lines([d for d in analysis.diagnostics if d.layer == layer.name], width)
    return "\n".join(lines) + "\n"


def header(analysis) -> str:
    name = analysis.name or "(unnamed spec)"
    title = f"{name} — {analysis.title}" if analysis.title else name
    return f"{title}\ninput {numbers.shape(analysis.input)}\n"


def render(analysis, layers, extra_diagnostics=(), width: int = 100) -> str:
    """The header, every selected layer, then diagnostics that belong to no selected layer."""
    parts = [header(analysis)]
    parts += [explain_layer(layer, analysis, width) for layer in layers]
    if extra_diagnostics:
        parts.append("\n".join(["other diagnostics:"] + diagnostic_lines(extra_diagnostics, width)) + "\n")
    return "\n".join(parts)


def render_code(code: str, entry, width: int = 100) -> str:
    severity, summary, explanation = entry
    lines = [f"{code} ({severity}): {summary}", ""]
    lines += textwrap.wrap(explanation, width)
    return "\n".join(lines) + "\n"
