"""`archcalc diff --format json`: both analyses' exact totals, the differences, the kind
breakdown, the ladders, the per-layer change list and the gates. Imports nothing heavy
(no rich): CI reads this."""
from __future__ import annotations

import json

from . import diff_cells as cells


def _shape(value):
    return list(value) if value is not None else None


def _plain(value):
    """Field values as JSON: tuples become lists."""
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


def _side(analysis) -> dict:
    from ..diff import total_values

    return {"name": analysis.name, "title": analysis.title, "file": analysis.file,
            "input": _shape(analysis.input), "output": _shape(analysis.output),
            "totals": total_values(analysis), "errors": len(analysis.errors),
            "warnings": len(analysis.warnings),
            "diagnostics": [d.as_dict() for d in analysis.diagnostics]}


def _difference(row) -> dict:
    if not row.numeric:
        return {"a": _shape(row.a), "b": _shape(row.b), "equal": row.a == row.b}
    return {"a": row.a, "b": row.b, "change": row.change,
            "ratio": float(row.ratio) if row.ratio is not None else None,
            "relative": float(row.relative) if row.relative is not None else None}


def _layer(layer) -> dict | None:
    if layer is None:
        return None
    from ..diff import settings_text

    return {"name": layer.name, "kind": layer.kind, "settings": settings_text(layer),
            "fields": {k: _plain(v) for k, v in layer.fields.items()},
            "input": _shape(layer.input), "output": _shape(layer.output),
            "params": layer.params, "buffers": layer.buffers, "macs": layer.macs}


def _change(change) -> dict:
    return {"status": change.status, "name": change.name, "renamed": change.renamed,
            "a": _layer(change.a), "b": _layer(change.b),
            "fields": [{"field": f.field, "a": _plain(f.a), "b": _plain(f.b)} for f in change.fields],
            "moved": list(change.moved),
            "delta": {"params": change.delta("params"), "buffers": change.delta("buffers"),
                      "macs": change.delta("macs")}}


def _gate(result) -> dict:
    gate = result.gate
    return {"rule": gate.text, "total": gate.total, "measure": gate.measure, "op": gate.op,
            "threshold": float(gate.value) if gate.value.denominator != 1 else gate.value.numerator,
            "a": result.a, "b": result.b, "change": result.change, "failed": result.failed}


def diff_dict(diff, options=None) -> dict:
    options = options or {}
    show_all = options.get("all", False)
    return {
        "mode": diff.mode,
        "mode_reason": diff.mode_reason,
        "count_as": diff.a.totals.count_as,
        "a": _side(diff.a),
        "b": _side(diff.b),
        "differences": {row.key: _difference(row) for row in diff.totals},
        "breakdown": [{"group": row.group,
                       "a": {"params": row.a.params, "buffers": row.a.buffers, "macs": row.a.macs,
                             "layers": row.a.layers},
                       "b": {"params": row.b.params, "buffers": row.b.buffers, "macs": row.b.macs,
                             "layers": row.b.layers}} for row in diff.breakdown],
        "ladders": {side: [{"height": r.height, "width": r.width, "channels": r.channels,
                            "layers": r.layers} for r in rungs]
                    for side, rungs in zip(("a", "b"), diff.ladders)},
        "story": cells.story_lines(diff),
        "counts": diff.counts() if diff.changes is not None else None,
        "changes": None if diff.changes is None else
        [_change(c) for c in diff.changes if show_all or c.status != "unchanged"],
        "gates": [_gate(r) for r in options.get("gates") or ()],
    }


def render_diff(diff, options=None) -> str:
    return json.dumps(diff_dict(diff, options), indent=2, ensure_ascii=False) + "\n"
