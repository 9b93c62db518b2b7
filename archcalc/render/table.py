"""The rich table for `archcalc show` and `archcalc list`.

One row per leaf layer, with rows for the scopes that contain them (block calls, named
repeats and their iterations, branch sets) drawn as a tree with subtotals. ``depth``
collapses scopes nested deeper than it into their subtotal row, as torchinfo's ``depth``.
"""
from __future__ import annotations

import io
import os
import sys

from ..layers import REGISTRY
from . import numbers


def make_console(width: int | None):
    """A console that renders to a string: colour only when stdout is a terminal and NO_COLOR
    is unset; width from --width, else the terminal, else COLUMNS, else 100."""
    from rich.console import Console

    is_tty = sys.stdout.isatty()
    if width is None:
        if is_tty:
            width = os.get_terminal_size(sys.stdout.fileno()).columns
        else:
            columns = os.environ.get("COLUMNS", "")
            width = int(columns) if columns.isdigit() and int(columns) >= 40 else 100
    return Console(file=io.StringIO(), width=width, force_terminal=is_tty,
                   no_color=bool(os.environ.get("NO_COLOR")) or not is_tty, highlight=False,
                   emoji=False, soft_wrap=False)


def _rows(analysis, depth):
    """Yield ('group', group) and ('leaf', index, layer) in display order.

    A group deeper than ``depth`` is not shown; a group at exactly ``depth`` is shown
    collapsed (its members hidden)."""
    groups = sorted(analysis.groups, key=lambda g: (g.start, -(g.end - g.start), g.level))
    gi = 0
    hidden_until = -1
    for index, layer in enumerate(analysis.layers):
        while gi < len(groups) and groups[gi].start == index:
            group = groups[gi]
            gi += 1
            if index < hidden_until:
                continue
            if depth is not None and group.level >= depth:
                yield ("group", group, True)
                hidden_until = max(hidden_until, group.end)
            else:
                yield ("group", group, False)
        if index < hidden_until:
            continue
        yield ("leaf", index, layer)
    # groups that hold no leaves (empty bodies) are not shown


def _placement(layer, group_names) -> tuple[int, str]:
    """(indent level, name relative to the innermost shown group): a leaf inside a branch of
    inception 3a shows as 'branch2.conv1' under the row of 3a."""
    for level in range(len(layer.path), 0, -1):
        scope = layer.path[level - 1]
        if scope in group_names:
            return level, layer.name[len(scope) + 1:]
    return 0, layer.name


# Column sets tried from the widest down until the table fits the console: shares go
# first, then settings; numbers are never cut.
_PLANS = (
    ("#", "Layer", "Kind", "Settings", "Output", "Params", "%P", "MACs", "%M"),
    ("#", "Layer", "Kind", "Settings", "Output", "Params", "MACs"),
    ("#", "Layer", "Kind", "Output", "Params", "MACs"),
    ("Layer", "Output", "Params", "MACs"),
)
_RIGHT = {"#", "Output", "Params", "%P", "MACs", "%M"}


def render_show(analysis, options=None) -> str:
    options = options or {}
    console = make_console(options.get("width"))
    rows = list(_show_rows(analysis, options.get("depth")))
    for plan in _PLANS:
        if _minimum_width(rows, plan) <= console.width:
            break
    console.print(_build_table(analysis, rows, plan, console.width))
    console.print()
    console.print(_footer(analysis))
    text = _strip(console.file.getvalue())
    if analysis.diagnostics:
        text += "\n" + render_diagnostics(analysis)
    return text


def _show_rows(analysis, depth):
    """Each row as (cells by column title, style)."""
    from rich.text import Text

    totals = analysis.totals
    layers = analysis.layers
    group_names = {g.name for g in analysis.groups}
    for row in _rows(analysis, depth):
        if row[0] == "group":
            group, collapsed = row[1], row[2]
            members = layers[group.start:group.end]
            params = sum(m.params for m in members)
            macs = sum(m.macs for m in members)
            level, local = _group_placement(group, group_names)
            span = f"{group.start + 1}–{group.end}" if collapsed and group.end > group.start + 1 else \
                (str(group.start + 1) if collapsed else "")
            yield ({"#": span,
                    "Layer": Text("  " * level + ("▸ " if collapsed else "▾ ") + local, style="bold"),
                    "Kind": Text(group.kind, style="italic"),
                    "Settings": Text(f"{len(members)} layers", style="dim") if collapsed else "",
                    "Output": numbers.shape(group.output),
                    "Params": numbers.exact(params), "%P": numbers.share(params, totals.params),
                    "MACs": numbers.human(macs), "%M": numbers.share(macs, totals.macs)},
                   None if collapsed else "dim")
            continue
        _, index, layer = row
        level, local = _placement(layer, group_names)
        yield ({"#": str(index + 1), "Layer": "  " * level + local, "Kind": layer.kind,
                "Settings": REGISTRY[layer.kind].describe(layer.fields),
                "Output": numbers.shape(layer.output),
                "Params": numbers.exact(layer.params) if layer.params else "",
                "%P": numbers.share(layer.params, totals.params) if layer.params else "",
                "MACs": numbers.human(layer.macs) if layer.macs else "",
                "%M": numbers.share(layer.macs, totals.macs) if layer.macs else ""},
               None)


_GAP = 2  # spaces between two columns
# How narrow a text column may get before the next plan (fewer columns) is preferred.
_SHRINK_TO = {"Layer": 14, "Kind": 7, "Settings": 10}


def _natural_widths(rows, plan) -> dict:
    return {title: max([_cell_len(cells[title]) for cells, _ in rows] + [len(title)]) for title in plan}


def _minimum_width(rows, plan) -> int:
    """Numbers at full width, text columns at their shrink limit, two spaces between columns."""
    widths = _natural_widths(rows, plan)
    return _GAP * (len(plan) - 1) + sum(min(w, _SHRINK_TO.get(t, w)) for t, w in widths.items())


def _fitted_widths(rows, plan, width) -> dict:
    """Shrink Settings, then Layer, then Kind (rich only shrinks wrapping columns)."""
    widths = _natural_widths(rows, plan)
    excess = _GAP * (len(plan) - 1) + sum(widths.values()) - width
    for title in ("Settings", "Layer", "Kind"):
        if excess <= 0 or title not in widths:
            continue
        cut = min(excess, widths[title] - min(widths[title], _SHRINK_TO[title]))
        widths[title] -= cut
        excess -= cut
    return widths


def _cell_len(cell) -> int:
    return cell.cell_len if hasattr(cell, "cell_len") else len(cell)


def _build_table(analysis, rows, plan, width):
    from rich import box
    from rich.table import Table

    # no edges; the box's one-space divider plus one space of padding separate the columns
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, padding=(0, 1, 0, 0),
                  title=_title(analysis), title_justify="left", title_style="bold")
    widths = _fitted_widths(rows, plan, width)
    for title in plan:
        table.add_column(title, justify="right" if title in _RIGHT else "left", no_wrap=True,
                         overflow="ellipsis", style="dim" if title in ("#", "%P", "%M") else None,
                         width=widths[title])
    for cells, style in rows:
        table.add_row(*(cells[title] for title in plan), style=style)
    return table


def _group_placement(group, group_names) -> tuple[int, str]:
    name = group.name
    cut = name.rfind(".")
    while cut > 0:
        if name[:cut] in group_names:
            return group.level, name[cut + 1:]
        cut = name.rfind(".", 0, cut)
    return group.level, name


def _strip(text: str) -> str:
    """rich pads every line to the console width; trailing blanks only get in the way."""
    return "\n".join(line.rstrip() for line in text.split("\n"))


def _title(analysis) -> str:
    title = analysis.name
    if analysis.title:
        title += f" — {analysis.title}"
    return title


def _footer(analysis):
    from rich.text import Text

    t = analysis.totals
    text = Text()
    text.append("Params  ", style="bold")
    text.append(f"{numbers.human(t.params):>8}  ({numbers.exact(t.params)})")
    if t.buffers:
        text.append(f"   buffers {numbers.exact(t.buffers)}")
    text.append("\nMACs    ", style="bold")
    text.append(f"{numbers.human(t.macs):>8}  ({numbers.exact(t.macs)})   FLOPs {numbers.human(t.flops)}")
    text.append("\nShape   ", style="bold")
    text.append(f"{numbers.shape(analysis.input)} → {numbers.shape(analysis.output)}   "
                f"depth {t.depth} weight layers   {t.layers} layers")
    errors, warnings = len(analysis.errors), len(analysis.warnings)
    if errors or warnings:
        text.append("\nStatus  ", style="bold")
        text.append(f"{errors} error{'s' if errors != 1 else ''}",
                    style="bold red" if errors else None)
        text.append(f", {warnings} warning{'s' if warnings != 1 else ''}",
                    style="yellow" if warnings else None)
    return text


def render_diagnostics(analysis) -> str:
    """Located diagnostics with the source line and a caret (the validate reporters' 'pretty'
    style, kept here so `show` needs no other module)."""
    out = []
    for d in analysis.diagnostics:
        where = f"{d.file}:{d.line}:{d.column}"
        layer = f" [{d.layer}]" if d.layer else ""
        out.append(f"{where}: {d.severity}: {d.message} ({d.code}){layer}")
        line = analysis.source_line(d.line)
        if line:
            out.append(f"  {d.line:>4} | {line}")
            out.append(f"       | {' ' * (d.column - 1)}^")
        if d.hint:
            out.append(f"  hint: {d.hint}")
    return "\n".join(out) + "\n"


def render_list(rows, options=None) -> str:
    from rich import box
    from rich.table import Table

    options = options or {}
    console = make_console(options.get("width"))
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    for title, justify in (("Name", "left"), ("Title", "left"), ("Input", "right"), ("Params", "right"),
                           ("MACs", "right"), ("Depth", "right")):
        table.add_column(title, justify=justify, overflow="fold")
    for r in rows:
        table.add_row(r["name"], r["title"], numbers.shape(r["input"]), numbers.human(r["params"]),
                      numbers.human(r["macs"]), str(r["depth"]))
    console.print(table)
    return _strip(console.file.getvalue())
