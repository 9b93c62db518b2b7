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
        "layers": [layer.as_dict() for layer in analysis.layers],
        "diagnostics": [d.as_dict() for d in analysis.diagnostics],
    }


def render_show(analysis, options=None) -> str:
    return json.dumps(show_dict(analysis), indent=2) + "\n"


def render_list(rows, options=None) -> str:
    return json.dumps(rows, indent=2) + "\n"
