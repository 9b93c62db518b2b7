"""The compiled node tree (pass 1's output, the walk's input): ``Leaf``, ``Seq``,
``Composite`` and ``BROKEN``, and the keys every entry takes.

Its own module so that the composite units (archcalc/composites/), which build and walk
these nodes, and the compiler, which asks the units, import it without importing each other.
"""
from __future__ import annotations

COMMON_KEYS = ("name", "expect", "frozen", "ignore", "when")
LEAF_KEYS = ("name", "expect", "ignore", "when")  # a kind without parameters has nothing to freeze


# ------------------------------------------------------------------------------ the node tree
class Leaf:
    __slots__ = ("kind", "fields", "name", "mark", "field_marks", "expect", "expect_mark", "frozen",
                 "ignore", "source")

    def __init__(self, kind, fields, name, mark, field_marks, expect, expect_mark, frozen=False):
        self.ignore = ()  # ((code, mark), ...): warnings of this layer to ignore
        self.frozen = frozen  # `frozen: true`: its parameters are not trained
        self.source = None  # `from: NAME`: (name, mark) of the tensor this layer reads
        self.kind = kind
        self.fields = fields
        self.name = name
        self.mark = mark
        self.field_marks = field_marks
        self.expect = expect
        self.expect_mark = expect_mark


class Broken:
    """Stands where an entry failed to compile (its error is already reported): its output
    is unknown, so the shape flow stops there instead of carrying on as if it were absent."""

    __slots__ = ()
    name = None
    size = 0


BROKEN = Broken()


class Seq:
    __slots__ = ("items", "size", "names")

    def __init__(self, items):
        self.items = items
        self.size = sum(item.size if not isinstance(item, Leaf) else 1 for item in items)
        self.names = tuple(item.name for item in items if item.name)  # explicit, to reserve


class Composite:
    """A composite entry (repeat, parallel, residual, join, aux) or a block call (kind = the
    block's name). ``unit`` is its ``CompositeKind`` (archcalc/composites/): what it accepts
    and how it is compiled, walked and exported; a block call's is ``composites.BLOCK``."""

    __slots__ = ("unit", "kind", "name", "mark", "expect", "expect_mark", "size", "frozen", "ignore",
                 "times", "body", "branches", "branch_names", "merge", "slices", "split",
                 "source", "sources", "scoped", "args")

    def __init__(self, unit, kind, name, mark, expect, expect_mark):
        self.unit = unit
        self.frozen = False       # `frozen: true` freezes every layer inside
        self.ignore = ()          # ((code, mark), ...): warnings of the layers inside to ignore
        self.source = None        # `from: NAME`: (name, mark) of the tensor it reads
        self.sources = None       # join: [(name, mark), …] of the tensors it merges
        self.kind = kind
        self.name = name
        self.mark = mark
        self.expect = expect
        self.expect_mark = expect_mark
        self.times = 1
        self.body = None          # Seq, for repeat and block calls
        self.branches = None      # list[Seq], for parallel and residual
        self.branch_names = None
        self.merge = None
        # channel split (parallel): per branch ((start, stop), mark) or None for all channels,
        # or `split` = ("equal" | [sizes], mark), resolved against the input at evaluation
        self.slices = None
        self.split = None
        # unnamed, whether it opens a scope: its unit's ``opens_scope`` (a repeat and a residual
        # are sugar), or a parallel's `scope: false` (neither it nor its unnamed branches do)
        self.scoped = unit.opens_scope
        self.args = None          # block calls: argument name -> value (what the call resolved)
        self.size = 0
