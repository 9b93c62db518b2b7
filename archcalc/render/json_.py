"""The contract's JSON (SPEC-CONTRACT.md section 5). Imports nothing heavy."""
from __future__ import annotations

import json

from ..metrics import memory_dict


def show_dict(analysis) -> dict:
    return {
        "name": analysis.name,
        "title": analysis.title,
        "reference": analysis.reference,
        "input": list(analysis.input) if analysis.input else None,
        "output": list(analysis.output) if analysis.output else None,
        "totals": analysis.totals.as_dict(),
        "memory": memory_dict(analysis.totals),
        "layers": _layers(analysis),
        "diagnostics": [d.as_dict() for d in analysis.diagnostics],
    }


def _layers(analysis) -> list:
    if not analysis.totals.show_connections:
        return [layer.as_dict() for layer in analysis.layers]
    rows = []
    for layer in analysis.layers:
        row = layer.as_dict()
        row["connections"] = layer.connections
        rows.append(row)
    return rows


def render_show(analysis, options=None) -> str:
    return dumps(show_dict(analysis))


def render_list(rows, options=None) -> str:
    return _rows(rows, "") + "\n"


def dumps(data: dict) -> str:
    """Indented at the top level; each item of a list of objects (a layer, a diagnostic) on
    one compact line: readable, diff-friendly, and fast for 100,000 layers (``indent`` would
    put every number of every shape on a line of its own)."""
    parts = []
    for key, value in data.items():
        if isinstance(value, list) and value and isinstance(value[0], dict):
            text = _rows(value, "  ")
        else:
            text = json.dumps(value, ensure_ascii=False)
        parts.append(f"  {json.dumps(key)}: {text}")
    return "{\n" + ",\n".join(parts) + "\n}\n"


def _rows(items: list, indent: str) -> str:
    if not items:
        return "[]"
    lines = ",\n".join(f"{indent}  {json.dumps(item, ensure_ascii=False)}" for item in items)
    return f"[\n{lines}\n{indent}]"
