"""`aux`: an auxiliary head (Inception's AuxLogits). Its layers see the input and their
parameters count, but it feeds nothing: the next entry reads what came before it, and it
runs in training only, so its MACs and memory stay out of the forward totals."""
from __future__ import annotations

from .base import CompositeKind


def compile(c, node, body, mark, env, stack, name):
    node.body = c.layer_list(body["layers"], body.value_marks["layers"], env, stack)
    node.size = node.body.size + 1
    return node


def walk(ev, node, state, scope, inner, span, group):
    """Its MACs go to ``aux_macs``; its activations, memory and depth stay out of the forward
    totals. The output is the input's state, unchanged, for the layers after it; the group
    and the span record the head's own output."""
    saved = (ev.macs, ev.activations, ev.merge_activations, ev.live, ev.peak, ev.after_softmax)
    params, start = ev.params, len(ev.layers)
    head = ev.seq(node.body, (state[0], state[1], state[2], True, state[4]), inner)
    ev.aux_macs += ev.macs - saved[0]
    ev.aux_params += ev.params - params
    ev.macs, ev.activations, ev.merge_activations, ev.live, ev.peak, ev.after_softmax = saved
    for layer in ev.layers[start:]:
        if layer is not None:
            layer.aux = True
            layer.activations = 0
    if head is None:
        out = shown = None
    else:
        if node.expect is not None:
            ev.check_expect(node, head[0], node.name or node.kind)
        out, shown = state, head[0]
    if span is not None:
        span.branches = [(span.start, len(ev.layers))]
    if group is not None:
        group.end, group.output = len(ev.layers), shown
    return out, None


def export(w, cls, node, shape, src, dst, path, scope, absorbed):
    """Its modules are built (their parameters count), but it runs in training only, as
    torchvision's Inception-v3 runs AuxLogits."""
    return w.aux(cls, node, shape, src, scope)


def schema(layers, common, allow_references):
    return {"description": "An auxiliary head: its layers see the input, their params count, but "
                           "its output feeds nothing and its MACs are not in the forward total.",
            "type": "object", "properties": {"layers": layers, **common},
            "required": ["layers"], "additionalProperties": False}


KIND = CompositeKind(
    "aux", doc="An auxiliary head: its layers see the input, their params count, but its output feeds "
               "nothing and its MACs are not in the forward total.",
    fields=("layers", "from"), required=("layers",), example="{name: aux, layers: [...]}",
    schema=schema, compile=compile, walk=walk, export=export, feeds=False, module=False)
