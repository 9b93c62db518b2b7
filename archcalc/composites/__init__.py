"""The composite registry: every composite kind, in one visible place.

Each module declares one ``CompositeKind`` record (archcalc/composites/base.py): the fields
it accepts, its schema and example, its aliases, and its compile, walk and export rules.
The compiler, the engine, export, the schema and the vocabulary ask these records and name
no composite. Adding a composite means writing one module and listing it here.
"""
from __future__ import annotations

from . import aux, join, parallel, repeat, residual
from .base import MERGES, CompositeKind
from .block import BLOCK

COMPOSITES: dict[str, CompositeKind] = {}
for _module in (repeat, parallel, residual, join, aux):
    assert _module.KIND.name not in COMPOSITES, _module.KIND.name
    COMPOSITES[_module.KIND.name] = _module.KIND

__all__ = ["BLOCK", "COMPOSITES", "MERGES", "CompositeKind"]
