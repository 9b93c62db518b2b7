"""`residual`: `layers` plus a shortcut (the identity when omitted), merged by add — a
parallel of two branches, [layers, shortcut], that opens no scope of its own unnamed."""
from __future__ import annotations

from ..readers.located import LMap
from .base import CompositeKind


def compile(c, node, body, mark, env, stack, name):
    main = c.layer_list(body["layers"], body.value_marks["layers"], env, stack)
    local, piece = "shortcut", None
    if isinstance(body.get("shortcut"), LMap):  # {name, layers, channels}, as a branch
        short, local, piece = c.branch(body["shortcut"], body.value_marks["shortcut"], env, stack, "shortcut", name)
        if short is None:
            return None
    else:
        short = c.layer_list(body.get("shortcut"), body.value_marks.get("shortcut", mark), env, stack,
                             what="shortcut")
    node.branches = [main, short]
    node.branch_names = ["", local]
    if piece is not None:
        node.slices = [None, piece]
    node.merge = "add"
    return node


def walk(ev, node, state, scope, inner, span, group):
    return ev.branches(node, state, inner, span), group


def export(w, cls, node, shape, src, dst, path, scope, absorbed):
    return w.parallel(cls, node, shape, src, dst, scope)


def schema(layers, common, allow_references):
    return {"description": "`layers` plus a shortcut (identity when omitted), merged by add.",
            "type": "object",
            "properties": {"layers": layers, "shortcut": {"anyOf": [layers, {
                "type": "object", "required": ["layers"], "additionalProperties": False,
                "description": "a named shortcut (`downsample`), or one taking a slice of the "
                               "input's channels",
                "properties": {"layers": layers, "name": {"type": ["string", "integer"]},
                               "channels": allow_references({
                                   "type": "array", "minItems": 2, "maxItems": 2,
                                   "items": {"type": "integer", "minimum": 0}})}}]},
                           **common},
            "required": ["layers"], "additionalProperties": False}


KIND = CompositeKind(
    "residual", doc="`layers` plus a shortcut (identity when omitted), merged by add.",
    fields=("layers", "shortcut", "from"), required=("layers",),
    example="{layers: [...], shortcut: [...]}", schema=schema, compile=compile, walk=walk, export=export,
    aliases=("add",), opens_scope=False, module=False, single_block=False,
    branch_label="layers", shortcut="shortcut",
    writer_block=True)
