"""The layer registry: every leaf kind, in one visible place.

Each module declares its kinds as ``LayerKind`` records (fields with types and defaults,
and pure shape/params/buffers/MACs rules). Adding a kind means writing one record and
listing its module here.
"""
from __future__ import annotations

from . import (activations, attention, conv, dense, layernorm, misc, mlp, norm, pool, rbf, resize,
               subsample, swin, tokens)
from .base import LayerKind

REGISTRY: dict[str, LayerKind] = {}
for _module in (conv, pool, dense, misc, norm, layernorm, resize, activations, subsample, rbf, tokens,
                attention, mlp, swin):
    for _kind in _module.KINDS:
        assert _kind.name not in REGISTRY, _kind.name
        REGISTRY[_kind.name] = _kind

# Composite kinds are handled by the engine itself; their names are reserved here so that
# blocks cannot shadow them and did-you-mean can suggest them.
COMPOSITES = ("repeat", "parallel", "residual", "join", "aux")

# How a `parallel` merges its branches: concat joins channels; add and mul are element-wise
# and broadcast like PyTorch (per axis equal sizes, or one of them 1).
MERGES = ("concat", "add", "mul")
