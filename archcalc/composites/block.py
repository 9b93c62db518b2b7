"""A block call (``- bottleneck: {filters: 64}``): a composite too, of the spec's own making.
Not a kind a spec names (the spec's `blocks` do), so not in ``COMPOSITES``; the compiler
builds its node (``Compiler.block_call``), and this record says how it is walked and exported."""
from __future__ import annotations

from .base import CompositeKind


def walk(ev, node, state, scope, inner, span, group):
    return ev.seq(node.body, state, inner, absorb=True), group


def export(w, cls, node, shape, src, dst, path, scope, absorbed):
    """One class per distinct call, or its layers inline where it was absorbed."""
    return w.block_call(cls, node, shape, src, dst, scope, inline=absorbed)


BLOCK = CompositeKind(
    "block", doc="A call of one of the spec's blocks.", fields=(), required=(), example="", schema=None,
    compile=None, walk=walk, export=export, span=False)
