"""`repeat`: the layers, `times` times in a row (with `index: i`, written out in place)."""
from __future__ import annotations

from ..layers.base import NONNEG_INT, POSITIVE_INT, describe_found
from ..limits import MAX_LEAVES
from ..nodes import COMMON_KEYS, Composite, Leaf, Seq
from .base import CompositeKind


def compile(c, node, body, mark, env, stack, name):
    # written out in place, an indexed repeat may have no iteration (a stage of one block)
    count = NONNEG_INT if "index" in body else POSITIVE_INT
    times, ok = c.check_field(count, body["times"], body.value_marks["times"], env, "repeat", "times", name)
    if "index" in body:
        return _indexed(c, body, times if ok else None, mark, env, stack, name)
    node.body = c.layer_list(body["layers"], body.value_marks["layers"], env, stack)
    if not ok:
        return None
    node.times = times
    node.size = times * (node.body.size + 1)
    return node


def _indexed(c, body, times, mark, env, stack, name):
    """`repeat` with `index: i`: the layers are compiled once per iteration with `i` bound to
    0, 1, …, and written out in place (a Seq the caller splices): no scope of its own, so
    the layers name themselves from the index (`name: "${i + 1}"`)."""
    imark = body.value_marks["index"]
    var = body["index"]
    if not (isinstance(var, str) and var.isidentifier()):
        c.error("wrong-type", f"repeat field `index` expects an argument name, found "
                f"{describe_found(var)}", imark, layer=name,
                hint="e.g. `index: i`, then `name: \"${i + 1}\"` inside")
        return None
    for key in COMMON_KEYS + ("from",):
        if key in body and key != "when":
            c.error("bad-value", f"a repeat with `index` is written out in place, so it takes no "
                    f"`{key}`", body.key_marks[key], layer=name,
                    hint=f"give `{key}` to the layers inside, or enclose them in a named block")
            return None
    if times is None:
        return None
    items = []
    before = len(c.diagnostics)
    for i in range(times):
        inner = dict(env)
        inner[var] = (i, imark)
        seq = c.layer_list(body["layers"], body.value_marks["layers"], inner, stack)
        if len(c.diagnostics) > before:
            return None  # reported once, not once per iteration
        if i == 0 and times * (seq.size + 1) > MAX_LEAVES:
            c.error("too-large", f"this repeat expands to {times * (seq.size + 1):,} layers and "
                    f"scopes (limit {MAX_LEAVES:,})", mark, layer=name, hint="use a smaller `times`")
            return None
        items.extend(seq.items)
    return Seq(items)


def walk(ev, node, state, scope, inner, span, group):
    """Unnamed, the body's layers are named in the enclosing scope, iteration after
    iteration; named, each iteration is a scope of its own (`layer1.0`, `layer1.1`, …)."""
    out = state
    if node.name is not None:
        kind, module = _iteration_kind(node)
    for i in range(node.times):
        if out is None:
            break
        if i == 1 and span is not None:
            span.first_end = len(ev.layers)
        if node.name is None:
            out = ev.seq(node.body, out, inner)
        else:
            iteration = inner.child(str(i))
            sub = ev.open_group(iteration, kind, out, module)
            out = ev.seq(node.body, out, iteration, absorb=True)
            sub.end, sub.output = len(ev.layers), out and out[0]
    return out, group


def _iteration_kind(node):
    """An iteration's group kind (its lone entry's kind, else the repeat's) and whether it is
    a module of its own."""
    items = node.body.items
    if len(items) == 1:
        if isinstance(items[0], Leaf):
            return items[0].kind.name, True
        if isinstance(items[0], Composite):
            return items[0].kind, items[0].unit.module
    return node.kind, True


def export(w, cls, node, shape, src, dst, path, scope, absorbed):
    """Unnamed: its iterations written out; named: an ``nn.Sequential`` of them."""
    if node.name is None:
        var = src
        for _ in range(int(node.times)):
            shape, var = w.seq(cls, node.body, shape, var, dst, path)
        return shape, var
    return w.named_repeat(cls, node, shape, src, dst, path, scope[-1])


def schema(layers, common, allow_references):
    return {"description": "The layers, `times` times in a row.", "type": "object",
            "properties": {"times": allow_references({"type": "integer", "minimum": 0,
                                                      "description": "0 only with `index`"}),
                           "layers": layers,
                           "index": {"type": "string",
                                     "description": "an argument bound to the iteration (0, 1, …); "
                                                    "the iterations are written out in place"},
                           **common},
            "required": ["times", "layers"], "additionalProperties": False}


KIND = CompositeKind(
    "repeat", doc="The layers, `times` times in a row.",
    fields=("times", "layers", "index", "from"), required=("times", "layers"),
    example="{times: 2, layers: [...]}", schema=schema, compile=compile, walk=walk, export=export,
    opens_scope=False, absorbed=False, multiplies=True, single_block=False,
    writer_block=True, writer_entries=("layers", 1))
