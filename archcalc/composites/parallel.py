"""`parallel`: every branch sees the same input (or a slice of its channels); the outputs
are merged by `merge` (concat, add or mul)."""
from __future__ import annotations

from ..layers.base import BOOL, describe_found
from ..readers.located import LList
from .base import MERGES, CompositeKind, channels_schema, merge_field


def compile(c, node, body, mark, env, stack, name):
    merge, ok = merge_field(c, body, env, "parallel", name)
    if not ok:
        return None
    if "scope" in body:
        scoped, ok = c.check_field(BOOL, body["scope"], body.value_marks["scope"], env, "parallel", "scope", name)
        if not ok:
            return None
        if not scoped and name is not None:
            c.error("bad-value", "a parallel with `scope: false` has no name of its own",
                    body.value_marks["scope"], layer=name,
                    hint="drop `name` (its layers are named in the enclosing scope) or `scope: false`")
            return None
        node.scoped = scoped
    branches, bmark = body["branches"], body.value_marks["branches"]
    if not isinstance(branches, LList) or not branches:
        c.error("wrong-type", "parallel field `branches` expects a non-empty list of layer "
                f"lists, found {describe_found(branches)}", bmark,
                hint="e.g. `branches: [[conv: {filters: 64, kernel: 1}], []]`")
        return None
    node.branches, node.branch_names, node.slices = [], [], []
    for i, (b, m) in enumerate(zip(branches, branches.item_marks), 1):
        seq, local, piece = c.branch(b, m, env, stack, f"branch{i}" if node.scoped else "", name)
        if seq is None:
            return None
        node.branches.append(seq)
        node.branch_names.append(local)
        node.slices.append(piece)
    node.merge = merge
    if "split" in body:
        if not c.split_of(node, body, env, name):
            return None
    if not any(node.slices):
        node.slices = None
    return node


def walk(ev, node, state, scope, inner, span, group):
    return ev.branches(node, state, inner, span), group


def export(w, cls, node, shape, src, dst, path, scope, absorbed):
    """Explicit ``forward`` code: each branch, then the merge."""
    return w.parallel(cls, node, shape, src, dst, scope)


def schema(layers, common, allow_references):
    return {"description": "Every branch sees the same input; outputs are merged.",
            "type": "object",
            "properties": {"branches": {"type": "array", "minItems": 1, "items": {"anyOf": [
                               layers,
                               {"type": "object", "required": ["layers"], "additionalProperties": False,
                                "description": "a branch with a name, or taking a slice of the "
                                               "input's channels",
                                "properties": {
                                    "layers": layers,
                                    "name": {"type": ["string", "integer"],
                                             "description": "the branch's scope name (default branchN)"},
                                    "scope": allow_references({
                                        "type": "boolean",
                                        "description": "false: the branch's layers are named in "
                                                       "the parallel's scope"}),
                                    "channels": channels_schema(
                                        allow_references, "[start, stop): the input channels this "
                                                          "branch sees (stop exclusive)")}}]}},
                           "merge": allow_references({"enum": list(MERGES)}),
                           "scope": allow_references({
                               "type": "boolean",
                               "description": "false: the parallel and its unnamed branches open no "
                                              "scope; their layers are named in the enclosing one"}),
                           "split": allow_references({"anyOf": [
                               {"enum": ["equal"]},
                               {"type": "array", "minItems": 1,
                                "items": {"type": "integer", "minimum": 1}}],
                               "description": "divide the input channels among the branches in "
                                              "order: `equal` parts or one count per branch"}),
                           **common},
            "required": ["branches"], "additionalProperties": False}


KIND = CompositeKind(
    "parallel", doc="Every branch sees the same input; outputs are merged.",
    fields=("branches", "merge", "split", "scope", "from"), required=("branches",),
    example="{branches: [[...], [...]]}", schema=schema, compile=compile, walk=walk, export=export,
    aliases=("concatenate", "concat", "cat"), module=False, single_block=False,
    writer_block=True, writer_entries=("branches", 2), branch_set=True)
