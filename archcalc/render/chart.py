"""`archcalc show SPEC --chart`: a bar per layer (with `--depth N`, per block at level N) for
parameters, MACs and activation memory, then a bar per kind.

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


class Row:
    """One bar row: a layer, a block collapsed at ``--depth``, or every layer of one kind."""

    __slots__ = ("name", "layers")

    def __init__(self, name, layers):
        self.name = name
        self.layers = layers


def stage_rows(analysis, depth) -> list[Row]:
    """A row per layer; with ``depth`` N, every block at nesting level N is one row (its
    layers summed) and the layers outside such blocks keep their own — the rows of
    `show --depth N`'s table with the blocks closed."""
    layers = analysis.layers
    if depth is None:
        return [Row(layer.name, [layer]) for layer in layers]
    owner = [None] * len(layers)
    for g in analysis.groups:
        if g.level == depth and g.end > g.start:
            for i in range(g.start, g.end):
                owner[i] = g
    rows, last = [], None
    for i, layer in enumerate(layers):
        g = owner[i]
        if g is not None and g is last:
            rows[-1].layers.append(layer)
        else:
            rows.append(Row(f"{g.name} ({g.kind})" if g is not None else layer.name, [layer]))
        last = g
    return rows


def kind_rows(analysis) -> list[Row]:
    """A row per kind, the heaviest in MACs (then parameters) first."""
    by_kind: dict = {}
    for layer in analysis.layers:
        by_kind.setdefault(layer.kind, []).append(layer)
    rows = [Row(f"{kind} ×{len(members)}", members) for kind, members in by_kind.items()]
    rows.sort(key=lambda r: (-sum(m.macs for m in r.layers), -sum(m.params for m in r.layers), r.name))
    return rows


def bar_lines(rows, columns, width) -> list[str]:
    """The header and one line per row with something to draw; (lines, rows not drawn)."""
    sums = [[sum(value(m) for m in row.layers) for _, value, _ in columns] for row in rows]
    drawn = [(row, amounts) for row, amounts in zip(rows, sums) if any(amounts)]
    name_width = min(max([len(row.name) for row, _ in drawn] + [5]), _MAX_NAME)
    bar_width = max(_MIN_BAR, (width - name_width - 3 * (3 + _VALUE_WIDTH)) // 3)
    largest = [max((amounts[k] for _, amounts in drawn), default=0) for k in range(len(columns))]
    header = " " * name_width
    for title, _, _ in columns:
        header += "  " + title.ljust(bar_width + 1 + _VALUE_WIDTH)
    lines = [header.rstrip()]
    for row, amounts in drawn:
        name = row.name if len(row.name) <= name_width else row.name[:name_width - 1] + "…"
        line = name.ljust(name_width)
        for (_, _, fmt), amount, top in zip(columns, amounts, largest):
            line += "  " + bar(amount, top, bar_width).ljust(bar_width) + " " + \
                (fmt(amount) if amount else "").rjust(_VALUE_WIDTH)
        lines.append(line.rstrip())
    return lines, name_width, bar_width, len(rows) - len(drawn)


def render_show(analysis, options=None) -> str:
    options = options or {}
    width = console_width(options.get("width"))
    columns = metrics_of(analysis)
    depth = options.get("depth")
    rows = stage_rows(analysis, depth)
    body, name_width, bar_width, hidden = bar_lines(rows, columns, width)

    totals = analysis.totals
    per = "layer" if depth is None else f"block at depth {depth} (and layer outside one)"
    lines = [f"{analysis.name or '(unnamed spec)'}: parameters, MACs and activation memory per {per} "
             f"(batch {totals.batch}, {totals.dtype})", ""]
    lines += body
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
    if hidden:
        what = "layer" if depth is None else "row"
        notes.append(f"{hidden} {what}{'s' if hidden != 1 else ''} without parameters, MACs or "
                     "stored activations not drawn")
    lines += [f"({note})" for note in notes]
    lines += ["", "by kind (every layer of the kind, ×count)", ""]
    lines += bar_lines(kind_rows(analysis), columns, width)[0]
    text = "\n".join(lines) + "\n"
    if analysis.diagnostics:
        text += "\n" + render_diagnostics(analysis)
    return text
