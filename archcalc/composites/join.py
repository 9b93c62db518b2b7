"""`join`: the outputs of earlier layers, named in `from`, merged by `merge`. It holds no
layers; its `from` is what it merges, not the one tensor it reads."""
from __future__ import annotations

from ..layers.base import describe_found
from ..readers.located import LList
from .base import MERGES, CompositeKind, merge_field


def compile(c, node, body, mark, env, stack, name):
    """`join: {from: [a, b, …], merge: concat}`: the named tensors, merged."""
    raw, fmark = body["from"], body.value_marks["from"]
    if not isinstance(raw, LList) or len(raw) < 2:
        c.error("wrong-type", f"join field `from` expects a list of two or more layer names, found "
                f"{describe_found(raw)}", fmark, layer=name, hint="e.g. `from: [conv1, conv3]`")
        return None
    sources = [c.reference(item, item_mark, env, "join", name) for item, item_mark in zip(raw, raw.item_marks)]
    if any(source is None for source in sources):
        return None
    merge, ok = merge_field(c, body, env, "join", name)
    if not ok:
        return None
    node.sources, node.merge, node.size = sources, merge, 1
    return node


def walk(ev, node, state, scope, inner, span, group):
    if span is not None:
        span.sources, span.merge = [name for name, _ in node.sources], node.merge
    where = inner.prefix[:-1] or node.kind
    outs = [ev.lookup(source, scope, where) for source in node.sources]
    if any(out is None for out in outs):
        return None, group
    labels = [name for name, _ in node.sources]
    held = (outs[0][0], outs[0][1], outs[0][2], True, outs[0][4])  # nothing is freed at the join
    return ev.merged(node, ev.combine(node, outs, labels, where, held), scope), group


def export(w, cls, node, shape, src, dst, path, scope, absorbed):
    return w.join(cls, node, dst, path)


def schema(layers, common, allow_references):
    return {"description": "Merge the outputs of earlier layers, named in `from`.",
            "type": "object",
            "properties": {"from": {"type": "array", "minItems": 2,
                                    "items": {"type": ["string", "integer"]},
                                    "description": "the names of the layers (or `input`) to merge, in order"},
                           "merge": allow_references({"enum": list(MERGES)}),
                           **{k: v for k, v in common.items() if k != "from"}},
            "required": ["from"], "additionalProperties": False}


KIND = CompositeKind(
    "join", doc="Merge the outputs of earlier layers, named in `from`.",
    fields=("from", "merge"), required=("from",), example="{from: [conv1, conv3], merge: concat}",
    schema=schema, compile=compile, walk=walk, export=export, source=False, module=False)
