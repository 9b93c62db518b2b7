"""The contract's JSON (SPEC-CONTRACT.md section 5). Imports nothing heavy."""
from __future__ import annotations

import json

from ..ignores import ignored_dicts
from ..metrics import memory_dict


def show_dict(analysis) -> dict:
    """The show object. When the network could not be walked to its output (an error stopped
    the shape flow), its totals are unknown, not zero: every total is null and `complete` is
    false, so a script that reads totals without the exit code cannot take them for figures."""
    complete = analysis.output is not None
    totals = analysis.totals.as_dict()
    memory = memory_dict(analysis.totals)
    if not complete:
        totals = dict.fromkeys(totals)
        memory = {key: (value if key in ("batch", "dtype", "bytes_per_value") else None)
                  for key, value in memory.items()}
    return {
        "name": analysis.name,
        "title": analysis.title,
        "reference": analysis.reference,
        "input": list(analysis.input) if analysis.input else None,
        "output": list(analysis.output) if analysis.output else None,
        "complete": complete,
        "totals": totals,
        "memory": memory,
        "layers": _layers(analysis),
        "diagnostics": [d.as_dict() for d in analysis.diagnostics],
        "ignored": ignored_dicts(analysis),
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
