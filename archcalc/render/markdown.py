"""GitHub-flavoured Markdown for `show` and `list` (pull-request comments, docs)."""
from __future__ import annotations

from . import numbers


def _table(header, rows, right) -> list[str]:
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join("---:" if i in right else "---" for i in range(len(header))) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |")
    return lines


def render_show(analysis, options=None) -> str:
    t = analysis.totals
    title = f"### {analysis.name}" + (f" — {analysis.title}" if analysis.title else "")
    from .table import settings_text

    merges = {}
    for merge in analysis.merges:
        merges.setdefault(merge.after, []).append(merge)
    rows = []
    for i, layer in enumerate(analysis.layers):
        rows.append((i + 1, f"`{layer.name}`", layer.kind, settings_text(layer),
                     numbers.shape(layer.output), numbers.exact(layer.params), numbers.exact(layer.macs)))
        rows += [("", f"⊕ {merge.op}", "merge", "", numbers.shape(merge.output), "", "")
                 for merge in merges.get(i + 1, ())]
    lines = [title, ""]
    if not analysis.layers and analysis.errors:
        # nothing was analysed: no empty table, no totals that would read as zeros
        lines += [f"No layer could be analysed: {len(analysis.errors)} error"
                  f"{'s' if len(analysis.errors) != 1 else ''}."]
        return "\n".join(lines + _diagnostics(analysis)) + "\n"
    macs = "MACs" if t.count_as is None else f"MACs ({t.count_as})"
    lines += _table(("#", "Layer", "Kind", "Settings", "Output", "Params", macs), rows, {0, 4, 5, 6})
    trainable = (f"**Trainable** {numbers.exact(t.trainable_params)} · "
                 if t.trainable_params != t.params else "")
    lines += ["", f"**Params** {numbers.exact(t.params)} ({numbers.human(t.params)}) · " + trainable +
              f"**Buffers** {numbers.exact(t.buffers)} · "
              f"**MACs** {numbers.exact(t.macs)} ({numbers.human(t.macs)}) · " + counted_as(t) +
              f"**FLOPs** {numbers.human(t.flops)} · **Depth** {t.depth} · "
              f"**Input** {numbers.shape(analysis.input)} → **Output** {numbers.shape(analysis.output)}"
              + (f" · **Batch** {t.batch} · **dtype** {t.dtype}" if t.batch != 1 or t.dtype != "fp32" else "")]
    if t.count_as is not None and t.count_notes:
        lines += [""] + [f"> Note: {note}" for note in t.count_notes]
    return "\n".join(lines + _diagnostics(analysis)) + "\n"


def counted_as(t) -> str:
    """`--count-as`: whose count the MACs are, and archcalc's own."""
    if t.count_as is None or t.exact_macs is None:
        return ""
    return f"as **{t.count_as}** counts (archcalc: {numbers.exact(t.exact_macs)}) · "


def _diagnostics(analysis) -> list[str]:
    if not analysis.diagnostics:
        return []
    return ["", "**Diagnostics**", ""] + [
        f"- {d.severity} `{d.code}` {d.file}:{d.line}:{d.column}" + (f" ({d.layer})" if d.layer else "")
        + f": {d.message}" + (f" — hint: {d.hint}" if d.hint else "") for d in analysis.diagnostics]


def render_list(rows, options=None) -> str:
    body = [(f"`{r['name']}`", r["title"], numbers.row_input(r), numbers.exact(r["params"]),
             numbers.exact(r["macs"]), r["depth"]) for r in rows]
    counted = (options or {}).get("count_as")
    macs = f"MACs ({counted})" if counted else "MACs"
    return "\n".join(_table(("Name", "Title", "Input", "Params", macs, "Depth"), body, {2, 3, 4, 5})) + "\n"
