"""Build located values (``LMap``/``LList`` with marks) from plain Python values.

The YAML loader is one source of located values; importers (ONNX graphs, Hugging Face
configs) are others. They build the same tree a hand-written spec gives, so the engine, its
diagnostics and every view work on imported models unchanged. Each importer decides what a
location means (an ONNX node's line in a listing of the graph, a key of ``config.json``).
"""
from __future__ import annotations

from .diagnostics import Mark
from .source import LList, LMap


def located(value, mark: Mark, marks: dict | None = None):
    """``value`` (dicts, lists, scalars) as located values, every position at ``mark``.

    ``marks`` may map ``id()`` of a dict or list inside ``value`` to a more precise mark for
    it and everything below it (an ONNX node's line)."""
    if marks and id(value) in marks:
        mark = marks[id(value)]
    if isinstance(value, dict):
        out = LMap()
        out.mark = mark
        out.key_marks = {}
        out.value_marks = {}
        for key, item in value.items():
            inner = located(item, mark, marks)
            out[key] = inner
            out.key_marks[key] = mark
            out.value_marks[key] = getattr(inner, "mark", mark)
        return out
    if isinstance(value, (list, tuple)):
        out = LList()
        out.mark = mark
        out.item_marks = []
        for item in value:
            inner = located(item, mark, marks)
            out.append(inner)
            out.item_marks.append(getattr(inner, "mark", mark))
        return out
    return value
