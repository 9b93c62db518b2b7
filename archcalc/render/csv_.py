"""CSV for `show` and `list`: one row per leaf layer, exact integers, for spreadsheets and scripts."""
from __future__ import annotations

import csv
import io



def _shape(s) -> str:
    return "x".join(map(str, s)) if s else ""


def render_show(analysis, options=None) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    from .table import settings_text

    writer.writerow(("index", "name", "kind", "settings", "input", "output", "params", "buffers", "macs",
                     "trainable_params"))
    for i, layer in enumerate(analysis.layers):
        writer.writerow((i + 1, layer.name, layer.kind, settings_text(layer),
                         _shape(layer.input), _shape(layer.output), layer.params, layer.buffers,
                         layer.macs, layer.trainable))
    return out.getvalue()


def render_list(rows, options=None) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(("name", "title", "input", "output", "params", "macs", "depth", "layers"))
    for r in rows:
        writer.writerow((r["name"], r["title"], _shape(r["input"]), _shape(r["output"]), r["params"],
                         r["macs"], r["depth"], r["layers"]))
    return out.getvalue()
