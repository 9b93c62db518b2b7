"""`residual`: `layers` plus a shortcut (the identity when omitted), merged by add — a
parallel of two branches, [layers, shortcut], that opens no scope of its own unnamed."""
from __future__ import annotations

from ..readers.located import LMap
from .base import CompositeKind, channels_schema
from .parallel import export, walk  # a parallel of two branches, walked and written as one


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


def schema(layers, common, allow_references):
    return {"description": "`layers` plus a shortcut (identity when omitted), merged by add.",
            "type": "object",
            "properties": {"layers": layers, "shortcut": {"anyOf": [layers, {
                "type": "object", "required": ["layers"], "additionalProperties": False,
                "description": "a named shortcut (`downsample`), or one taking a slice of the "
                               "input's channels",
                "properties": {"layers": layers, "name": {"type": ["string", "integer"]},
                               "channels": channels_schema(allow_references)}}]},
                           **common},
            "required": ["layers"], "additionalProperties": False}


KIND = CompositeKind(
    "residual", doc="`layers` plus a shortcut (identity when omitted), merged by add.",
    fields=("layers", "shortcut", "from"), required=("layers",),
    example="{layers: [...], shortcut: [...]}", schema=schema, compile=compile, walk=walk, export=export,
    aliases=("add",), opens_scope=False, module=False, single_block=False,
    branch_label="layers", shortcut="shortcut",
    writer_block=True)
