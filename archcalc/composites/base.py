"""The record every composite is declared in: ``CompositeKind``.

A composite is an entry that holds other entries (``repeat``, ``parallel``, ``residual``,
``aux``) or merges earlier outputs (``join``). Like a leaf kind's ``LayerKind``, its record
holds every fact about it, so that the compiler, the engine, export, the spec writer, the
schema, the vocabulary and the memory ledger ask the record and name no composite:

* what a user writes: ``fields`` (the accepted ones, besides the common keys), ``required``,
  ``example`` (for "expects a mapping" hints), ``schema`` (its JSON Schema), ``aliases``
  (PyTorch and Keras words for it, for did-you-mean), ``doc``;
* how it is compiled: ``compile(compiler, node, body, mark, env, stack, name)`` fills the
  node (or returns a ``Seq`` written out in place, or None after a reported error);
  ``source``: whether `from: NAME` names the tensor it reads (a join's `from` is what it merges);
* how the engine walks it: ``walk(evaluator, node, state, scope, inner, span, group)`` (the
  enclosing scope and its own) returns the output state and the scope group still to close (None when the rule closed it);
  ``opens_scope`` (unnamed, does it open a scope of its own, or is it sugar),
  ``absorbed`` (a lone unnamed one in a block body or an iteration takes that scope),
  ``span`` (drawn: recorded as a ``Span``), ``feeds`` (does the next entry read its output;
  an auxiliary head feeds nothing), ``multiplies`` (it repeats its body: a view's size
  points at it);
* how export writes it: ``export(writer, cls, node, shape, src, dst, path, scope, absorbed)``;
  ``module`` (whether PyTorch sees it as an ``nn.Module`` of its own, which `--checkpoint`
  can wrap), ``single_block`` (as the lone body of a named repeat, whether an iteration may
  be its class);
* how its messages speak: ``branch_label`` (what an unnamed branch is called, else
  `branchN`), ``shortcut`` (the field holding the identity branch, for projection hints);
* how `archcalc import`'s spec writer (spec_writer.py) treats it: ``writer_block`` (written
  as a YAML block, its entries on lines of their own, else as one flow mapping),
  ``writer_entries`` ((field, nesting): the field whose entries are simplified, nesting 1 for
  a list of entries, 2 for a list of such lists; None: written as read), ``branch_set`` (its
  `branches` of the same structure fold into one block, with the leaves after it that
  belong to the same module — the modules an ONNX graph repeats).

The records are plain slotted classes, not dataclasses (start-up time; see layers/base.py).
"""
from __future__ import annotations

# How a `parallel` or a `join` merges: concat joins channels; add and mul are element-wise
# and broadcast like PyTorch (per axis equal sizes, or one of them 1).
MERGES = ("concat", "add", "mul")


def merge_field(c, body, env, kind: str, name):
    """A `merge` field (concat when omitted), checked: (merge, ok)."""
    if "merge" not in body:
        return "concat", True
    from ..layers.base import choice

    return c.check_field(choice(*MERGES), body["merge"], body.value_marks["merge"], env, kind, "merge", name)


def channels_schema(allow_references, description=None) -> dict:
    """The JSON Schema of a branch's `channels`: [start, stop) of the input's."""
    return allow_references({"type": "array", "minItems": 2, "maxItems": 2, "items": {"type": "integer", "minimum": 0},
                             **({"description": description} if description else {})})


class CompositeKind:
    __slots__ = ("name", "doc", "fields", "required", "example", "aliases", "schema", "compile", "source",
                 "walk", "opens_scope", "absorbed", "span", "feeds", "multiplies", "export", "module",
                 "single_block", "branch_label", "shortcut", "writer_block", "writer_entries",
                 "branch_set")

    def __init__(self, name: str, *, doc: str, fields: tuple, required: tuple, example: str, schema,
                 compile, walk, export, aliases: tuple = (), source: bool = True, opens_scope: bool = True,
                 absorbed: bool = True, span: bool = True, feeds: bool = True, multiplies: bool = False,
                 module: bool = True, single_block: bool = True, branch_label: str | None = None,
                 shortcut: str | None = None, writer_block: bool = False, writer_entries=None,
                 branch_set: bool = False):
        self.name = name
        self.doc = doc
        self.fields = fields
        self.required = required
        self.example = example
        self.aliases = aliases
        self.schema = schema  # (layers, common, allow_references) -> its JSON Schema
        self.compile = compile
        self.source = source
        self.walk = walk
        self.opens_scope = opens_scope
        self.absorbed = absorbed
        self.span = span
        self.feeds = feeds
        self.multiplies = multiplies
        self.export = export
        self.module = module
        self.single_block = single_block
        self.branch_label = branch_label
        self.shortcut = shortcut
        self.writer_block = writer_block
        self.writer_entries = writer_entries
        self.branch_set = branch_set

    def __repr__(self) -> str:
        return f"CompositeKind({self.name!r})"
