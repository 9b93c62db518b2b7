"""Reporters, chosen from one registry keyed by (report, format). Each is imported only when
used, so the JSON path never imports rich.

Reports: ``show`` (``render_show(analysis, options) -> str``), ``list`` (``render_list(rows,
options)``), ``diff`` (``render_diff(diff, options)``) and ``problems`` (``render(reports,
summary, options)``: validate's output, and any command's errors). Every ``--format``
choice is ``formats(report)``, and the fast path's formats are ``fast_formats("show")``: a
new format is one module plus one entry here.
"""
from __future__ import annotations

from typing import NamedTuple


class Reporter(NamedTuple):
    target: str  #: "module:function"
    stream: str = ""  #: "module:function" that writes piece by piece (a huge network's JSON)
    fast: bool = False  #: imports neither click nor rich: `show` may answer it on the fast path


REPORTERS = {
    ("show", "table"): Reporter("archcalc.render.table:render_show"),
    ("show", "json"): Reporter("archcalc.render.json_:render_show", "archcalc.render.json_:stream_show", fast=True),
    ("show", "markdown"): Reporter("archcalc.render.markdown:render_show", fast=True),
    ("show", "csv"): Reporter("archcalc.render.csv_:render_show", fast=True),
    ("show", "html"): Reporter("archcalc.render.html:render_show"),
    ("list", "table"): Reporter("archcalc.render.table:render_list"),
    ("list", "json"): Reporter("archcalc.render.json_:render_list"),
    ("list", "markdown"): Reporter("archcalc.render.markdown:render_list"),
    ("list", "csv"): Reporter("archcalc.render.csv_:render_list"),
    ("list", "html"): Reporter("archcalc.render.html:render_list"),
    ("diff", "table"): Reporter("archcalc.render.diff_table:render_diff"),
    ("diff", "json"): Reporter("archcalc.render.diff_json:render_diff"),
    ("diff", "markdown"): Reporter("archcalc.render.diff_markdown:render_diff"),
    ("diff", "html"): Reporter("archcalc.render.html:render_diff"),
    ("diff", "svg"): Reporter("archcalc.render.diff_picture:render_diff"),
    ("problems", "pretty"): Reporter("archcalc.render.problems:render_pretty"),
    ("problems", "parsable"): Reporter("archcalc.render.problems:render_parsable"),
    ("problems", "github"): Reporter("archcalc.render.problems:render_github"),
    ("problems", "json"): Reporter("archcalc.render.problems:render_json"),
}


def formats(report: str) -> tuple:
    """The formats of ``report``, in the registry's order (the first is the default)."""
    return tuple(fmt for kind, fmt in REPORTERS if kind == report)


def fast_formats(report: str) -> tuple:
    return tuple(fmt for (kind, fmt), entry in REPORTERS.items() if kind == report and entry.fast)


def _load(target: str):
    import importlib

    module, _, function = target.partition(":")
    return getattr(importlib.import_module(module), function)


def reporter(report: str, fmt: str):
    """The function that renders ``report`` in ``fmt``."""
    return _load(REPORTERS[report, fmt].target)


def streamer(report: str, fmt: str):
    """The function that writes ``report`` in ``fmt`` piece by piece, or None."""
    stream = REPORTERS[report, fmt].stream
    return _load(stream) if stream else None
