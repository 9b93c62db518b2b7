"""The contract's JSON (SPEC-CONTRACT.md section 5). Imports nothing heavy."""
from __future__ import annotations

import json
from json.encoder import encode_basestring as _string

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


def _row_texts(analysis, indent: str):
    """Each layer's row as ``_write_rows`` writes it (``_ENCODE`` of ``_layer_rows``' dict),
    made by formatting instead of building a dict per row: a third of the time for 300,000
    layers. A row holding anything but plain integers, strings and shapes of integers
    (tests/test_json_stream.py compares) is encoded the general way."""
    from ..metrics import layer_saved_bytes

    connections = analysis.totals.show_connections
    shapes: dict = {}
    kinds: dict = {}

    def shape(value):
        text = shapes.get(value)
        if text is None:
            if type(value) is not tuple or not all(type(n) is int for n in value):
                raise TypeError
            text = shapes[value] = "[" + ", ".join(map(str, value)) + "]"
        return text

    for layer in analysis.layers:
        row = None
        kind = kinds.get(layer.kind)
        if kind is None:
            kind = kinds[layer.kind] = _string(layer.kind) if type(layer.kind) is str else None
        params, trainable, buffers, macs, activations = \
            layer.params, layer.trainable, layer.buffers, layer.macs, layer.activations
        saved = layer_saved_bytes(analysis, layer)
        field = layer.field
        if kind is not None and type(layer.name) is str and layer.exact_macs is None and not layer.aux \
                and type(params) is int and type(trainable) is int and type(buffers) is int \
                and type(macs) is int and type(activations) is int and type(saved) is int \
                and (not connections or type(layer.connections) is int):
            try:
                if field is None:
                    field_text = "null"
                else:
                    rh, rw, jh, jw, ah, aw = field
                    if not (type(rh) is int and type(rw) is int and type(jh) is int and type(jw) is int
                            and type(ah) is int and type(aw) is int):
                        raise TypeError
                    field_text = f'{{"size": [{rh}, {rw}], "jump": [{jh}, {jw}], "start": [{ah}, {aw}]}}'
                extra = f', "connections": {layer.connections}' if connections else ""
                row = (f'{indent}  {{"name": {_string(layer.name)}, "kind": {kind}, "input": {shape(layer.input)}, '
                       f'"output": {shape(layer.output)}, "params": {params}, "trainable_params": {trainable}, '
                       f'"buffers": {buffers}, "macs": {macs}, "activations": {activations}, '
                       f'"receptive_field": {field_text}{extra}, "saved_bytes": {saved}}}')
            except (TypeError, ValueError):
                row = None
        if row is None:
            fields = dict(layer.as_dict(), connections=layer.connections) if connections else layer.as_dict()
            row = f"{indent}  {_ENCODE(dict(fields, saved_bytes=saved))}"
        yield row


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
            _write_texts(_row_texts(analysis, "  "), "  ", write)
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
    _write_texts((f"{indent}  {encode(item)}" for item in items), indent, write, chunk)


def _write_texts(texts, indent: str, write, chunk: int = 2000) -> None:
    """``_write_rows`` of rows already encoded (each with its indent)."""
    first = True
    batch: list[str] = []
    for text in texts:
        batch.append(text)
        if len(batch) == chunk:
            write(("[\n" if first else ",\n") + ",\n".join(batch))
            first, batch = False, []
    if batch:
        write(("[\n" if first else ",\n") + ",\n".join(batch))
        first = False
    write("[]" if first else f"\n{indent}]")
