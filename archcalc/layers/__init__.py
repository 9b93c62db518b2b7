"""The layer registry: every leaf kind, in one visible place.

Each module declares its kinds as ``LayerKind`` records (fields with types and defaults,
and pure shape/params/buffers/MACs rules). Adding a kind means writing one record and
listing its module here.
"""
from __future__ import annotations

from . import (activations, attention, conv, dense, layernorm, maxvit, misc, mlp, norm, pool, rbf,
               resize, subsample, swin, tokens)
from .base import LayerKind

REGISTRY: dict[str, LayerKind] = {}
for _module in (conv, pool, dense, misc, norm, layernorm, resize, activations, subsample, rbf, tokens,
                attention, mlp, swin, maxvit):
    for _kind in _module.KINDS:
        assert _kind.name not in REGISTRY, _kind.name
        REGISTRY[_kind.name] = _kind

# The composites (repeat, parallel, residual, join, aux) are units of their own, registered
# in archcalc/composites/.


def settings_text(layer, marks: bool = True) -> str:
    """The one settings text of an analysed layer, for every report (table, Markdown, CSV,
    HTML, the picture, diff, explain): its kind's own ``describe`` ("3×3/1, p1"), and with
    ``marks`` whether training leaves its parameters alone ("frozen") and whether it belongs
    to an auxiliary head ("aux head"). "" for a kind that is not registered or fields a spec
    error left incomplete: a describe rule never breaks a report."""
    kind = REGISTRY.get(layer.kind)
    try:
        text = kind.describe(layer.fields) if kind is not None else ""
    except Exception:  # noqa: BLE001 - fields incomplete after a spec error
        text = ""
    if marks and getattr(layer, "frozen", False) and layer.params:
        text = f"{text}, frozen" if text else "frozen"
    if marks and getattr(layer, "aux", False):
        text = f"{text}, aux head" if text else "aux head"
    return text
