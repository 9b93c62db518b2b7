"""The contract's JSON (SPEC-CONTRACT.md section 5). Imports nothing heavy."""
from __future__ import annotations

import json

from ..ignores import ignored_dicts
from ..metrics import memory_dict, token_figures


def show_dict(analysis, rows: bool = True) -> dict:
    """The show object. When the network could not be walked to its output (an error stopped
    the shape flow), its totals are unknown, not zero: every total is null and `complete` is
    false, so a script that reads totals without the exit code cannot take them for figures."""
    complete = analysis.output is not None
    totals = analysis.totals.as_dict()
    memory = memory_dict(analysis, analysis.totals.optimizer or "sgd_momentum")
    if not complete:
        totals = dict.fromkeys(totals)
        if analysis.totals.count_as is not None:  # the convention asked for is known, its count not
            totals["count_as"] = analysis.totals.count_as
        memory = {key: (value if key in ("batch", "dtype", "bytes_per_value") else None)
                  for key, value in memory.items()}
        memory["ledger"] = None
    return {
        "name": analysis.name,
        "title": analysis.title,
        "reference": analysis.reference,
        "input": list(analysis.input) if analysis.input else None,
        "output": list(analysis.output) if analysis.output else None,
        "complete": complete,
        "totals": totals,
        "memory": memory,
        **({"tokens": token_figures(analysis.totals) if complete else None}
           if analysis.totals.seq is not None else {}),
        "layers": _layers(analysis) if rows else None,
        "diagnostics": [d.as_dict() for d in analysis.diagnostics],
        "ignored": ignored_dicts(analysis),
    }


def _layers(analysis) -> list:
    return list(_layer_rows(analysis))


def _layer_rows(analysis):
    from ..metrics import layer_saved_bytes

    if not analysis.totals.show_connections:
        return (dict(layer.as_dict(), saved_bytes=layer_saved_bytes(analysis, layer)) for layer in analysis.layers)
    return (dict(layer.as_dict(), connections=layer.connections, saved_bytes=layer_saved_bytes(analysis, layer))
            for layer in analysis.layers)


def render_show(analysis, options=None) -> str:
    return dumps(show_dict(analysis))


def stream_show(analysis, options, write) -> None:
    """``render_show``'s text, written in pieces as it is made: a network of 300,000 layers
    never holds its whole JSON text in memory."""
    data = show_dict(analysis, rows=False)
    keys = list(data)
    write("{\n")
    for i, key in enumerate(keys):
        end = ",\n" if i < len(keys) - 1 else "\n"
        if key == "layers":
            write('  "layers": ')
            rows = _layer_rows(analysis)
            _write_rows(rows, "  ", write)
            write(end)
        else:
            write(_entry(key, data[key]) + end)
    write("}\n")


def render_list(rows, options=None) -> str:
    return _rows(rows, "") + "\n"


def dumps(data: dict) -> str:
    """Indented at the top level; each item of a list of objects (a layer, a diagnostic) on
    one compact line: readable, diff-friendly, and fast for 100,000 layers (``indent`` would
    put every number of every shape on a line of its own)."""
    return "{\n" + ",\n".join(_entry(key, value) for key, value in data.items()) + "\n}\n"


# One encoder for every row: json.dumps with non-default arguments builds a new encoder per
# call, which dominated the time of a 300,000-row network.
_ENCODE = json.JSONEncoder(ensure_ascii=False).encode


def _entry(key, value) -> str:
    if isinstance(value, list) and value and isinstance(value[0], dict):
        text = _rows(value, "  ")
    else:
        text = _ENCODE(value)
    return f"  {_ENCODE(key)}: {text}"


def _rows(items: list, indent: str) -> str:
    parts: list[str] = []
    _write_rows(items, indent, parts.append)
    return "".join(parts)


def _write_rows(items, indent: str, write, chunk: int = 2000) -> None:
    """``[``, one compact object per line, ``]``; written ``chunk`` rows at a time."""
    encode = _ENCODE
    first = True
    batch: list[str] = []
    for item in items:
        batch.append(f"{indent}  {encode(item)}")
        if len(batch) == chunk:
            write(("[\n" if first else ",\n") + ",\n".join(batch))
            first, batch = False, []
    if batch:
        write(("[\n" if first else ",\n") + ",\n".join(batch))
        first = False
    write("[]" if first else f"\n{indent}]")
