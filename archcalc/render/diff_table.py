"""The table view of `archcalc diff`: totals side by side, the kind breakdown, the resolution
ladders, and (two versions of one network) the layer-by-layer changes, then the gates.

Drawn by rich on a terminal (colour) or where a line must wrap; piped plain text that fits
its width is laid out here without importing rich (``_plain``), character for character what
rich draws (tests/test_diff.py compares the two).
"""
from __future__ import annotations

from . import diff_cells as cells


def render_diff(diff, options=None) -> str:
    options = options or {}
    from .terminal import console_width, table_width, use_colour

    if not use_colour():
        width = table_width(options.get("width"))
        text = _plain(diff, options, console_width(1000 if width is None else width))
        if text is not None:
            return text
    return render_rich(diff, options)


def render_rich(diff, options) -> str:
    """The view drawn by rich: colour on a terminal, and lines wrapped at the width."""
    from rich.text import Text

    from .terminal import make_console

    console = make_console(options.get("width"), piped_unlimited=True)
    label_a, label_b = cells.side_labels(diff)
    title = Text()
    title.append(f"{label_a} → {label_b}", style="bold")
    console.print(title)
    console.print(Text(cells.mode_line(diff), style="dim"))
    story = cells.story_wrapped(diff, console.width)
    if story:
        console.print()
        console.print(Text("What changed (layers matched by name)", style="bold"))
        for line in story:
            console.print(Text(line), soft_wrap=True)
    sections = [("Totals", _totals_table(diff, label_a, label_b)),
                ("By kind (share of each network's total)", _breakdown_table(diff, label_a, label_b)),
                ("Resolution ladder (spatial size → widest channels at that size)",
                 _ladder_table(diff, label_a, label_b))]
    if diff.changes is not None:
        shown = cells.visible_changes(diff, options.get("all", False))
        sections.append((f"Layers: {cells.counts_line(diff, len(shown))}", _changes_table(shown)))
    console.print()
    for heading, table in sections:
        # Headings are printed, not table titles: a title would wrap at the table's width.
        console.print(Text(heading, style="bold"))
        console.print(table)
    results = options.get("gates") or ()
    if results:
        console.print(Text("Gates", style="bold"))
        for result in results:
            console.print(Text(("✗ " if result.failed else "✓ ") + cells.gate_message(result),
                               style="red" if result.failed else "green"))
    return "\n".join(line.rstrip() for line in console.file.getvalue().split("\n"))


def _table():
    from rich import box
    from rich.table import Table

    return _TextTable(Table(box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True))


class _TextTable:
    """A rich Table whose cells are plain text: a name such as ``a[bold]b`` is printed as
    written, never read as rich's console markup."""

    def __init__(self, table):
        self.table = table

    def add_column(self, title, **options):
        self.table.add_column(title, **options)

    def add_row(self, *cells, style=None):
        from rich.text import Text

        self.table.add_row(*(Text(cell) for cell in cells), style=style)

    def __rich__(self):
        return self.table


def _totals_table(diff, label_a, label_b):
    table = _table()
    table.add_column("", no_wrap=True)
    for title in (label_a, label_b, "Change", "Ratio"):
        table.add_column(title, justify="right", no_wrap=True, overflow="ellipsis")
    for row in diff.totals:
        label, a, b, change, ratio = cells.total_cells(row)
        table.add_row(label, a, b, change, ratio,
                      style="bold" if row.key in ("params", "macs") else None)
    return table


def _breakdown_table(diff, label_a, label_b):
    table = _table()
    table.add_column("Kind", no_wrap=True)
    for label in (label_a, label_b):
        table.add_column(f"{label} params", justify="right", no_wrap=True, overflow="ellipsis")
        table.add_column(f"{label} MACs", justify="right", no_wrap=True, overflow="ellipsis")
    for row in diff.breakdown:
        table.add_row(*cells.breakdown_cells(row, diff))
    return table


def _ladder_table(diff, label_a, label_b):
    table = _table()
    table.add_column("", no_wrap=True)
    table.add_column("Size", overflow="fold")
    table.add_column("Channels", overflow="fold")
    for label, rungs in ((label_a, diff.ladders[0]), (label_b, diff.ladders[1])):
        table.add_row(label, *cells.ladder_cells(rungs))
    return table


_CHANGE_COLUMNS = ("Change", "Layer", "Settings", "Output", "Params", "ΔParams", "ΔMACs")
_RIGHT = {"Output", "Params", "ΔParams", "ΔMACs"}
_STYLES = {"added": "green", "removed": "red", "changed": "yellow", "renamed": "cyan",
           "affected": None, "unchanged": "dim"}


def _changes_table(shown):
    table = _table()
    rows = [(_with_kind(cells.change_cells(change)), change.status) for change in shown]
    # Names are what a reader looks for: give them their width (up to 32) before settings.
    longest = max((len(line) for row, _ in rows for line in _stacked(row["Layer"]).split("\n")),
                  default=5)
    for title in _CHANGE_COLUMNS:
        table.add_column(title, justify="right" if title in _RIGHT else "left",
                         no_wrap=title in _RIGHT or title == "Change", overflow="fold",
                         min_width=min(longest, 32) if title == "Layer" else None)
    for row, status in rows:
        table.add_row(*(_stacked(row[title]) for title in _CHANGE_COLUMNS), style=_STYLES.get(status))
    return table


def _with_kind(row: dict) -> dict:
    """The kind leads the settings ("conv 3×3/1, p1"): one column fewer for the numbers."""
    kind, settings = row["Kind"], row["Settings"]
    if isinstance(kind, tuple) or isinstance(settings, tuple):
        ka, kb = kind if isinstance(kind, tuple) else (kind, kind)
        sa, sb = settings if isinstance(settings, tuple) else (settings, settings)
        row["Settings"] = (f"{ka} {sa}".strip(), f"{kb} {sb}".strip())
    else:
        row["Settings"] = f"{kind} {settings}".strip()
    return row


def _stacked(cell) -> str:
    """An (old, new) pair as two lines: old above, the new one below behind an arrow."""
    return f"{cell[0]}\n→ {cell[1]}" if isinstance(cell, tuple) else cell


# ------------------------------------------------------------------- plain text, no rich
# Characters besides ASCII that the cells hold and that take one column, in rich's count as
# in ours; text with any other character is left to rich (its width table decides).
_NARROW = frozenset("→×—Δ…✓✗−µ·≤≥")


def _plain(diff, options, width: int) -> str | None:
    """The view as rich draws it without colour, or None when a line or a table would not fit
    ``width`` (rich wraps it) or holds a character outside ASCII and _NARROW."""
    label_a, label_b = cells.side_labels(diff)
    lines = []

    def line(text, wraps=True):
        if not _narrow(text) or (wraps and len(text) > width):
            raise _Unfit
        lines.append(text)

    try:
        line(f"{label_a} → {label_b}")
        line(cells.mode_line(diff))
        story = cells.story_wrapped(diff, width)
        if story:
            line("")
            line("What changed (layers matched by name)")
            for text in story:
                line(text, wraps=False)  # printed with soft wrap: never cut
        sections = [
            ("Totals", [("", "")] + [(title, "right") for title in (label_a, label_b, "Change", "Ratio")],
             [cells.total_cells(row) for row in diff.totals]),
            ("By kind (share of each network's total)",
             [("Kind", "")] + [(f"{label} {what}", "right") for label in (label_a, label_b)
                               for what in ("params", "MACs")],
             [cells.breakdown_cells(row, diff) for row in diff.breakdown]),
            ("Resolution ladder (spatial size → widest channels at that size)",
             [("", ""), ("Size", ""), ("Channels", "")],
             [(label, *cells.ladder_cells(rungs)) for label, rungs in
              ((label_a, diff.ladders[0]), (label_b, diff.ladders[1]))]),
        ]
        if diff.changes is not None:
            shown = cells.visible_changes(diff, options.get("all", False))
            sections.append((f"Layers: {cells.counts_line(diff, len(shown))}",
                             [(title, "right" if title in _RIGHT else "") for title in _CHANGE_COLUMNS],
                             [tuple(_stacked(row[title]) for title in _CHANGE_COLUMNS) for row in
                              (_with_kind(cells.change_cells(change)) for change in shown)]))
        line("")
        for heading, columns, rows in sections:
            line(heading)
            lines.extend(_plain_table(list(columns), rows, width))
        results = options.get("gates") or ()
        if results:
            line("Gates")
        for result in results:
            line(("✗ " if result.failed else "✓ ") + cells.gate_message(result))
    except _Unfit:
        return None
    return "".join(text.rstrip() + "\n" for text in lines)


class _Unfit(Exception):
    """The plain layout does not apply: rich draws the view."""


def _narrow(text: str) -> bool:
    return text.isascii() or all(c.isascii() or c in _NARROW for c in text)


def _plain_table(columns, rows, width: int) -> list[str]:
    """rich's ``Table(box=SIMPLE_HEAD, pad_edge=False, collapse_padding=True)`` without
    colour: an edge space, cells two spaces apart, a rule under the header, blank lines above
    and below; a cell's lines (old, then → new) each justified in its column."""
    split = [[cell.split("\n") for cell in row] for row in rows]
    widths = []
    for i, (title, _) in enumerate(columns):
        texts = [title] + [piece for row in split for piece in row[i]]
        if not all(_narrow(text) for text in texts):
            raise _Unfit
        widths.append(max(len(text) for text in texts))
    total = sum(widths) + 2 * len(widths)  # an edge each side, and a padding and divider between
    if total > width:
        raise _Unfit

    def justified(text, i):
        if columns[i][1] == "right":
            text = text.rstrip()
            return " " * (widths[i] - len(text)) + text
        return text + " " * (widths[i] - len(text))

    out = ["", " " + "  ".join(justified(title, i) for i, (title, _) in enumerate(columns)),
           " " + "─" * (total - 2)]
    for row in split:
        for k in range(max(len(pieces) for pieces in row)):
            out.append(" " + "  ".join(justified(pieces[k] if k < len(pieces) else "", i)
                                       for i, pieces in enumerate(row)))
    out.append("")
    return out
