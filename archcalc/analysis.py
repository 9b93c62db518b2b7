"""Plain data produced by the engine and consumed by reporters. No behaviour beyond sums."""
from __future__ import annotations

from dataclasses import dataclass, field

from .diagnostics import Diagnostic


class LayerResult:
    """One leaf layer as analysed. ``path`` is the tuple of enclosing scope names."""

    __slots__ = ("name", "kind", "input", "output", "params", "buffers", "macs", "fields",
                 "line", "column", "depth", "path")

    def __init__(self, name, kind, input, output, params, buffers, macs, fields, line, column, depth,
                 path):
        self.name = name
        self.kind = kind
        self.input = input
        self.output = output
        self.params = params
        self.buffers = buffers
        self.macs = macs
        self.fields = fields
        self.line = line
        self.column = column
        self.depth = depth
        self.path = path

    def as_dict(self) -> dict:
        return {"name": self.name, "kind": self.kind, "input": list(self.input),
                "output": list(self.output), "params": self.params, "buffers": self.buffers,
                "macs": self.macs}


@dataclass
class Group:
    """A scope in the layer tree (a block call, a named repeat or one of its iterations, a
    branch set): leaves ``start``..``end`` (exclusive) of ``Analysis.layers`` belong to it."""

    name: str
    kind: str
    level: int
    start: int
    end: int = -1
    input: tuple | None = None
    output: tuple | None = None


@dataclass
class Totals:
    params: int = 0
    buffers: int = 0
    macs: int = 0
    depth: int = 0
    layers: int = 0

    @property
    def flops(self) -> int:
        return 2 * self.macs

    def as_dict(self) -> dict:
        return {"params": self.params, "buffers": self.buffers, "macs": self.macs,
                "flops": self.flops, "depth": self.depth, "layers": self.layers}


@dataclass
class Analysis:
    name: str
    file: str
    input: tuple | None
    output: tuple | None
    title: str = ""
    reference: str = ""
    layers: list[LayerResult] = field(default_factory=list)
    groups: list[Group] = field(default_factory=list)
    totals: Totals = field(default_factory=Totals)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    source_text: str = ""

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "error"]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "warning"]

    @property
    def ok(self) -> bool:
        return not self.errors

    def source_line(self, number: int) -> str:
        lines = self.source_text.splitlines()
        return lines[number - 1] if 0 < number <= len(lines) else ""
