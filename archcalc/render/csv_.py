"""CSV for `show` and `list`: one row per leaf layer, exact integers, for spreadsheets and scripts."""
from __future__ import annotations

import csv
import io



def _shape(s) -> str:
    """Every size in the CSV is written one way: 224x224x3 (shapes, receptive fields)."""
    return "x".join(map(str, s)) if s else ""


# show's options that add table columns add the same CSV columns:
# option -> [(column, value of a layer, value of the totals row)]
_OPTIONAL = {
    "connections": [("connections", lambda layer, b: layer.connections, lambda t: t.connections)],
    "memory": [("activations", lambda layer, b: layer.activations, lambda t: t.activations),
               ("activation_bytes", lambda layer, b: layer.activations * b,
                lambda t: t.activations * t.bytes_per_value)],
    "rf": [("receptive_field", lambda layer, b: _shape(layer.receptive_field and layer.receptive_field.size),
            lambda t: ""),
           ("jump", lambda layer, b: _shape(layer.receptive_field and layer.receptive_field.jump),
            lambda t: "")],
}


def render_show(analysis, options=None) -> str:
    """One row per leaf layer; the table's optional columns (--memory, --rf, --connections)
    when asked for; with --totals a last row `total` (its index empty) holding the totals."""
    options = options or {}
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    from .table import settings_text

    extra = [column for option, columns in _OPTIONAL.items() if options.get(option) for column in columns]
    if options.get("memory"):  # what each layer saves for backward (the training ledger's share)
        from ..metrics import layer_saved_bytes, ledger

        extra.append(("saved_bytes", lambda layer, b: layer_saved_bytes(analysis, layer),
                      lambda t: ledger(analysis)["saved_activations"]))
    if analysis.totals.count_as is not None:  # --count-as: `macs` is the tool's; say whose, and ours
        name = analysis.totals.count_as
        extra += [("count_as", lambda layer, b: name, lambda t: name),
                  ("exact_macs", lambda layer, b: layer.exact_macs if layer.exact_macs is not None else layer.macs,
                   lambda t: t.exact_macs)]
    writer.writerow(("index", "name", "kind", "settings", "input", "output", "params", "buffers", "macs",
                     "trainable_params") + tuple(name for name, _, _ in extra))
    b = analysis.totals.bytes_per_value
    for i, layer in enumerate(analysis.layers):
        writer.writerow((i + 1, layer.name, layer.kind, settings_text(layer).replace("×", "x"),
                         _shape(layer.input), _shape(layer.output), layer.params, layer.buffers,
                         layer.macs, layer.trainable) + tuple(value(layer, b) for _, value, _ in extra))
    if options.get("totals") and analysis.output is not None:
        t = analysis.totals
        writer.writerow(("", "total", "", f"batch {t.batch} {t.dtype}", _shape(analysis.input),
                         _shape(analysis.output), t.params, t.buffers, t.macs, t.trainable_params)
                        + tuple(total(t) for _, _, total in extra))
    return out.getvalue()


def render_list(rows, options=None) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    counted = (options or {}).get("count_as")
    writer.writerow(("name", "title", "input", "output", "params", "macs", "depth", "layers", "family")
                    + (("count_as", "exact_macs") if counted else ()))
    for r in rows:
        writer.writerow((r["name"], r["title"], (f"{r['tokens']} ids" if r.get("tokens") else _shape(r["input"])), _shape(r["output"]), r["params"],
                         r["macs"], r["depth"], r["layers"], r["family"])
                        + ((counted, r.get("exact_macs")) if counted else ()))
    return out.getvalue()
