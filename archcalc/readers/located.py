"""The located-value model every reader produces: ``Mark`` (a 1-based position), ``LMap`` and
``LList`` (a dict and a list that carry the marks of their items), ``Document`` (one loaded
spec), and ``located()``, which builds such a tree from plain Python values.

The YAML loader is one source of located values; importers (ONNX graphs, Hugging Face
configs) are others. They build the same tree a hand-written spec gives, so the engine, its
diagnostics and every view work on imported models unchanged. Each importer decides what a
location means (an ONNX node's line in a listing of the graph, a key of ``config.json``).
"""
from __future__ import annotations

from typing import NamedTuple


class Mark(NamedTuple):
    """A 1-based position in a spec file (YAML marks are 0-based; +1 happens once, in the loader)."""

    file: str
    line: int
    column: int


NO_MARK = Mark("", 0, 0)


class Refused:
    """Stands for a value the loader refused and reported (a forbidden tag, an integer too
    long to read). It is not null, so that it is not mistaken for a value left empty on
    purpose; the engine drops whatever else it would say about the same place."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "REFUSED"


REFUSED = Refused()


class no_cyclic_gc:
    """Pause Python's cyclic garbage collector while a value or node tree is built and walked.

    The trees hold no reference cycles, but the collector, triggered by allocations, walks
    every object again and again as they grow: without this, a 10,000-layer spec costs twice
    as much per layer as a 1,000-layer one. Reference counting still frees everything."""

    def __enter__(self):
        import gc

        self.was_enabled = gc.isenabled()
        gc.disable()

    def __exit__(self, *exc):
        import gc

        if self.was_enabled:
            gc.enable()


class LMap(dict):
    """A YAML mapping: ``mark`` of the mapping, ``key_marks``/``value_marks`` per key."""

    __slots__ = ("mark", "key_marks", "value_marks")


class LList(list):
    """A YAML sequence: ``mark`` of the sequence, ``item_marks`` per item."""

    __slots__ = ("mark", "item_marks")


class Document:
    """One loaded spec: the located value tree plus what is needed to show source lines."""

    __slots__ = ("file", "text", "root", "diagnostics")

    def __init__(self, file: str, text: str, root=None, diagnostics: list | None = None):
        self.file = file
        self.text = text
        self.root = root
        self.diagnostics = diagnostics if diagnostics is not None else []


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
