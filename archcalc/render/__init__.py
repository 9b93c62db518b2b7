"""Reporters, chosen by name from one registry. Each is imported only when used, so the JSON
path never imports rich.

A reporter module exposes ``render_show(analysis, options) -> str`` for `show`, and may
expose ``render_list(rows, options)``.
"""
from __future__ import annotations

import importlib

SHOW_REPORTERS = {
    "table": "archcalc.render.table",
    "json": "archcalc.render.json_",
    "markdown": "archcalc.render.markdown",
    "csv": "archcalc.render.csv_",
    "html": "archcalc.render.html",
}


def reporter(name: str, registry=SHOW_REPORTERS):
    return importlib.import_module(registry[name])
