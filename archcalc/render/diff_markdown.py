"""`archcalc diff --format markdown`: GitHub-flavoured Markdown for a pull-request comment."""
from __future__ import annotations

from . import diff_cells as cells
from .markdown import _table


def _joined(cell) -> str:
    return f"{cell[0]} → {cell[1]}" if isinstance(cell, tuple) else cell


def render_diff(diff, options=None) -> str:
    options = options or {}
    label_a, label_b = cells.side_labels(diff)
    lines = [f"### {label_a} → {label_b}", "", f"_{cells.mode_line(diff)}_", ""]
    story = cells.story_lines(diff)
    if story:
        lines += ["**What changed** (layers matched by name)", ""] + [f"- {line}" for line in story] + [""]
    lines += _table(("", label_a, label_b, "Change", "Ratio"),
                    [cells.total_cells(row) for row in diff.totals], {1, 2, 3, 4})
    lines += ["", "**By kind** (share of each network's total)", ""]
    lines += _table(("Kind", f"{label_a} params", f"{label_a} MACs", f"{label_b} params", f"{label_b} MACs"),
                    [cells.breakdown_cells(row, diff) for row in diff.breakdown], {1, 2, 3, 4})
    lines += ["", "**Resolution ladder** (spatial size → widest channels at that size)", ""]
    lines += _table(("", "Size", "Channels"),
                    [(label, *cells.ladder_cells(rungs))
                     for label, rungs in ((label_a, diff.ladders[0]), (label_b, diff.ladders[1]))], set())
    if diff.changes is not None:
        shown = cells.visible_changes(diff, options.get("all", False))
        lines += ["", f"**Layers**: {cells.counts_line(diff, len(shown))}", ""]
        if shown:
            columns = ("Change", "Layer", "Kind", "Settings", "Output", "Params", "ΔParams", "ΔMACs")
            rows = []
            for change in shown:
                row = cells.change_cells(change)
                row["Layer"] = _joined(row["Layer"])
                row["Layer"] = f"`{row['Layer']}`" if row["Layer"] else ""
                rows.append(tuple(_joined(row[title]) for title in columns))
            lines += _table(columns, rows, {4, 5, 6, 7})
    results = options.get("gates") or ()
    if results:
        lines += ["", "**Gates**", ""]
        lines += [f"- {'❌' if r.failed else '✅'} {cells.gate_message(r)}" for r in results]
    return "\n".join(lines) + "\n"
