"""The rich view of `archcalc diff`: totals side by side, the kind breakdown, the resolution
ladders, and (two versions of one network) the layer-by-layer changes, then the gates."""
from __future__ import annotations

from . import diff_cells as cells


def render_diff(diff, options=None) -> str:
    from rich.text import Text

    from .terminal import make_console

    options = options or {}
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

    return Table(box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)


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
