"""`archcalc show SPEC --chart`: a bar per layer for parameters, MACs and activation memory.

Plain block characters (no colour, no rich), so it reads the same on a terminal, in a pipe
and in a golden file. Each column is scaled to its own heaviest layer, whose bar fills the
column; any non-zero value gets at least the thinnest bar (▏), so a cheap layer never looks
free. Layers that add nothing to any of the three (activations, dropout, flatten) are not
drawn; the footer says how many.
"""
from __future__ import annotations

from . import numbers
from .table import render_diagnostics
from .terminal import console_width

# index = eighths of a cell
_PARTIAL = ("", "▏", "▎", "▍", "▌", "▋", "▊", "▉")
_VALUE_WIDTH = 8
_MAX_NAME = 28
_MIN_BAR = 5


def bar(value: int, largest: int, width: int) -> str:
    """``value`` as a bar of ``width`` cells when ``largest`` fills them, in eighths of a cell."""
    if value <= 0 or largest <= 0:
        return ""
    eighths = max(1, (2 * value * width * 8 + largest) // (2 * largest))  # rounded, never 0
    return "█" * (eighths // 8) + _PARTIAL[eighths % 8]


def metrics_of(analysis):
    """(title, value of a layer, formatter) for each drawn column."""
    per_value = analysis.totals.bytes_per_value
    counted = analysis.totals.count_as  # --count-as: the convention the MACs follow
    return (("params", lambda layer: layer.params, numbers.human),
            ("MACs" if counted is None else f"MACs ({counted})", lambda layer: layer.macs, numbers.human),
            ("activations", lambda layer: layer.activations * per_value, numbers.byte_size))


def render_show(analysis, options=None) -> str:
    options = options or {}
    width = console_width(options.get("width"))
    columns = metrics_of(analysis)
    drawn = [layer for layer in analysis.layers
             if any(value(layer) for _, value, _ in columns)]
    name_width = min(max([len(layer.name) for layer in drawn] + [5]), _MAX_NAME)
    bar_width = max(_MIN_BAR, (width - name_width - 3 * (3 + _VALUE_WIDTH)) // 3)
    largest = [max((value(layer) for layer in drawn), default=0) for _, value, _ in columns]

    totals = analysis.totals
    lines = [f"{analysis.name or '(unnamed spec)'}: parameters, MACs and activation memory per layer "
             f"(batch {totals.batch}, {totals.dtype})", ""]
    header = " " * name_width
    for title, _, _ in columns:
        header += "  " + title.ljust(bar_width + 1 + _VALUE_WIDTH)
    lines.append(header.rstrip())
    for layer in drawn:
        name = layer.name if len(layer.name) <= name_width else layer.name[:name_width - 1] + "…"
        line = name.ljust(name_width)
        for (_, value, fmt), top in zip(columns, largest):
            amount = value(layer)
            line += "  " + bar(amount, top, bar_width).ljust(bar_width) + " " + \
                (fmt(amount) if amount else "").rjust(_VALUE_WIDTH)
        lines.append(line.rstrip())
    total_line = "total".ljust(name_width)
    for (_, value, fmt), total in zip(columns, (totals.params, totals.macs,
                                                totals.activations * totals.bytes_per_value)):
        total_line += "  " + " " * bar_width + " " + fmt(total).rjust(_VALUE_WIDTH)
    lines += ["", total_line.rstrip()]
    notes = []
    if totals.merge_activations:
        merged = numbers.byte_size(totals.merge_activations * totals.bytes_per_value)
        notes.append(f"the activation total includes {merged} stored by branch merges, which are "
                     "not layers")
    hidden = len(analysis.layers) - len(drawn)
    if hidden:
        notes.append(f"{hidden} layer{'s' if hidden != 1 else ''} without parameters, MACs or "
                     "stored activations not drawn")
    lines += [f"({note})" for note in notes]
    text = "\n".join(lines) + "\n"
    if analysis.diagnostics:
        text += "\n" + render_diagnostics(analysis)
    return text
