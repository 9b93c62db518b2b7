"""Plain data produced by the engine and consumed by reporters. No behaviour beyond sums."""
from __future__ import annotations

from typing import NamedTuple

from .diagnostics import Diagnostic
from .metrics import SAVED_ZERO


class ReceptiveField(NamedTuple):
    """Per spatial axis (height, width): the input pixels one output position depends on.

    ``size`` is the span seen by one output position (padding included, never clipped),
    ``jump`` the distance in input pixels between neighbouring output positions (the
    effective stride), ``start`` the input coordinate of the first pixel seen by output
    position 0 (0-based; negative means padding). Position i sees
    ``start + i·jump … start + i·jump + size − 1``.
    """

    size: tuple
    jump: tuple
    start: tuple

    def as_dict(self) -> dict:
        return {"size": list(self.size), "jump": list(self.jump), "start": list(self.start)}


class LayerResult:
    """One leaf layer as analysed. ``path`` is the tuple of enclosing scope names."""

    __slots__ = ("name", "kind", "input", "output", "params", "buffers", "macs", "fields",
                 "line", "column", "depth", "path", "activations", "field", "trainable", "frozen",
                 "connections", "aux", "saved", "exact_macs", "casts", "fused", "once_macs", "exact_once_macs",
                 "saved_tensors", "shared_tensors")

    def __init__(self, name, kind, input, output, params, buffers, macs, fields, line, column, depth,
                 path, activations=0, field=None, trainable=None, frozen=False, connections=0):
        self.name = name
        self.kind = kind
        self.input = input
        self.output = output
        self.params = params
        self.buffers = buffers
        self.macs = macs
        self.fields = fields
        self.line = line
        self.column = column
        self.depth = depth
        self.path = path
        # values this layer's output adds to memory (0 for in-place kinds; see metrics.py)
        self.activations = activations
        # the parameters training updates: all of them unless the layer is frozen (`frozen:
        # true`, itself or a composite around it) or its kind fixes them (rbf)
        self.trainable = params if trainable is None else trainable
        self.frozen = frozen
        self.connections = connections  # LeCun et al.'s figure: inputs seen plus bias, per unit
        self.field = field  # the receptive field as metrics.py's plain tuple; see receptive_field
        # inside an auxiliary head (`aux`): its params count, its MACs and activations are not in
        # the forward totals (the head runs in training only)
        self.aux = False
        # what autograd saves for backward that no earlier layer saved already: a tally
        # (metrics.py, SAVED_ZERO's order), at the batch
        self.saved = SAVED_ZERO
        # under autocast, the weight values cast to 16 bits and saved (LayerKind.casts); under
        # a fused attention kernel: what it saves more than the math path, a signed tally per
        # sample (metrics.SAVED_ZERO's order; LayerKind.fused) for each device (CPU, CUDA:
        # metrics.AMP_DEVICES), None when the kind has none
        self.casts = 0
        self.fused = None
        # the ids of the tensors it saves first (the engine's), and (id, values per sample,
        # autocast dtype bits) of those it saves that an earlier layer saved first: for
        # --checkpoint, where the earlier one may be inside a block that keeps nothing
        self.saved_tensors = ()
        self.shared_tensors = ()
        # under another tool's convention (`--count-as`, archcalc/conventions.py), ``macs`` is
        # the tool's count and this archcalc's own; None otherwise
        self.exact_macs = None
        # the part of ``macs`` (and of ``exact_macs``) computed once per forward pass whatever
        # the batch (LayerKind.once_macs, Counted.once): metrics.apply_batch does not scale it
        self.once_macs = 0
        self.exact_once_macs = 0

    @property
    def receptive_field(self) -> ReceptiveField | None:
        """None when the network's input is a flat vector."""
        if self.field is None:
            return None
        rh, rw, jh, jw, ah, aw = self.field
        return ReceptiveField((rh, rw), (jh, jw), (ah, aw))

    def as_dict(self) -> dict:
        return {"name": self.name, "kind": self.kind, "input": list(self.input),
                "output": list(self.output), "params": self.params,
                "trainable_params": self.trainable, "buffers": self.buffers,
                "macs": self.macs, "activations": self.activations,
                "receptive_field": self.field and self.receptive_field.as_dict(),
                **({"exact_macs": self.exact_macs} if self.exact_macs is not None else {}),
                **({"aux": True} if self.aux else {})}


class MergeResult:
    """Where branches meet: after ``after`` leaves of ``Analysis.layers``, ``op`` (add, concat,
    mul) makes ``output``; ``path`` is the scope it happens in (as a leaf's ``path``)."""

    __slots__ = ("after", "op", "output", "path", "saved", "saved_tensors", "shared_tensors")

    def __init__(self, after: int, op: str, output: tuple, path: tuple, saved=None):
        self.saved = SAVED_ZERO if saved is None else saved  # `mul` saves both operands
        # as a layer's: the ids of the operands it saves first, and (id, values, autocast dtype
        # bits) of those an earlier layer saved first (`--checkpoint` keeps them once)
        self.saved_tensors = ()
        self.shared_tensors = ()
        self.after = after
        self.op = op
        self.output = output
        self.path = path

    def __repr__(self) -> str:
        return f"MergeResult(after={self.after}, {self.op!r}, {self.output})"


class Group:
    """A scope in the layer tree (a block call, a named repeat or one of its iterations, a
    branch set): leaves ``start``..``end`` (exclusive) of ``Analysis.layers`` belong to it.

    The classes here are plain slotted classes, not dataclasses: creating a dataclass costs
    about a millisecond at import, and `archcalc show --format json` has a start-up budget."""

    __slots__ = ("name", "kind", "level", "start", "end", "input", "output", "tensor", "module")

    def __init__(self, name: str, kind: str, level: int, start: int, end: int = -1,
                 input: tuple | None = None, output: tuple | None = None, tensor: tuple | None = None,
                 module: bool = True):
        self.name = name
        self.kind = kind
        self.level = level
        self.start = start
        self.end = end
        self.input = input
        self.output = output
        # the input tensor as the engine knows it: (id, values per sample of its storage — a
        # view's is the whole tensor's —, fp32 under autocast: bit 1 the CPU, bit 2 CUDA)
        self.tensor = tensor
        # whether PyTorch sees it as a module of its own (archcalc export writes a branch set's
        # and an auxiliary head's layers one by one): its composite's ``module``, True for a block
        self.module = module

    def __repr__(self) -> str:
        return f"Group({self.name!r}, {self.kind!r}, level={self.level}, {self.start}..{self.end})"


class Span:
    """A composite as the engine walked it, for drawings: a ``repeat`` or a branch set
    (``parallel``, ``residual``) over leaves ``start``..``end`` (exclusive) of
    ``Analysis.layers``. Scopes (``Group``) say what is named; spans say how it is wired.

    ``after`` is the number of groups opened before this span (a group and a span over the
    same leaves nest in that order). A repeat has ``times`` and ``first_end``, the end of its
    first iteration; a branch set has ``branches``, one (start, end) per branch in the order
    written (start == end: the identity), and ``merge``. A ``join`` (merge ``sources`` by name)
    and a ``from`` (the next entry reads ``sources[0]`` instead of the previous output) hold
    no leaves: start == end, where they happen. An ``aux`` head is one branch that feeds
    nothing (no merge). ``output`` is the shape it produces
    (None when the walk stopped inside it)."""

    __slots__ = ("kind", "start", "end", "after", "times", "first_end", "branches", "merge", "output",
                 "sources", "aux")

    def __init__(self, kind: str, start: int, after: int, aux: bool = False):
        self.kind = kind
        self.aux = aux  # an auxiliary head: one branch that feeds nothing (its composite's ``feeds``)
        self.start = start
        self.end = start
        self.after = after
        self.times = 1
        self.first_end = start
        self.branches = None
        self.merge = None
        self.output = None
        self.sources = None  # `join` (its inputs) and `from` (the tensor an entry reads): names

    def __repr__(self) -> str:
        return f"Span({self.kind!r}, {self.start}..{self.end})"


class Totals:
    """Whole-network totals. Memory (metrics.py states the conventions): counts are values,
    scaled by ``batch``; bytes are counts times ``bytes_per_value``."""

    __slots__ = ("params", "buffers", "macs", "depth", "layers", "activations", "merge_activations",
                 "peak_activations", "input_values", "batch", "dtype", "bytes_per_value",
                 "trainable_params", "connections", "show_connections", "aux_params", "aux_macs",
                 "kv_values", "embedding_params", "seq", "active_params", "token_macs", "extras",
                 "saved", "amp", "optimizer", "checkpoint", "attention", "count_as", "exact_macs", "count_notes")

    def __init__(self, params: int = 0, buffers: int = 0, macs: int = 0, depth: int = 0,
                 layers: int = 0, activations: int = 0, merge_activations: int = 0,
                 peak_activations: int = 0, input_values: int = 0, batch: int = 1,
                 dtype: str = "fp32", bytes_per_value: int = 4, trainable_params: int | None = None,
                 connections: int = 0):
        self.params = params                        # every parameter, trained or not
        # the parameters training updates (frozen layers and fixed kinds excluded)
        self.trainable_params = params if trainable_params is None else trainable_params
        # LeCun et al.'s "connections" (see docs/metrics.md): reported (JSON totals, `expect`
        # checks, diff) only for a spec that pins it or when asked (`show --connections`)
        self.connections = connections
        self.show_connections = False
        # auxiliary heads (`aux`): their params are part of ``params``; their MACs are not in
        # ``macs`` (the forward pass at inference), but reported here
        self.aux_params = 0
        self.aux_macs = 0
        # token models: values the keys and values of causal attention keep per token when
        # generating (the KV cache), the parameters of the token and position embeddings, the
        # sequence length T of the token input (None for other inputs), and the parameters one
        # token uses (top-k experts of a mixture; None: all of them)
        self.kv_values = 0
        self.embedding_params = 0
        self.seq = None
        self.active_params = None
        self.token_macs = 0  # the part of ``macs`` (batch 1) on token sequences: grows with T
        self.saved = SAVED_ZERO  # what autograd saves for backward, deduplicated (metrics.py)
        self.amp = None        # mixed precision of the training ledger: None, "bf16" or "fp16"
        self.optimizer = None  # the optimizer the ledger shows (show --optimizer); None: sgd_momentum
        self.checkpoint = False  # activation checkpointing per top-level block (--checkpoint)
        self.attention = "math"  # which attention kernel the ledger counts (--attention)
        self.extras = {}     # the kinds' further figures summed (attention: attention_hd, causal_hd)
        # `--count-as`: the convention ``macs`` follows (None: archcalc's own), archcalc's own
        # total beside it, and what the tool misses on this network (conventions.notes)
        self.count_as = None
        self.exact_macs = None
        self.count_notes = []
        self.buffers = buffers
        self.macs = macs
        self.depth = depth
        self.layers = layers
        self.activations = activations              # every stored output of a forward pass, merges included
        self.merge_activations = merge_activations  # the part of ``activations`` made by merges
        self.peak_activations = peak_activations    # the most values alive at once during inference
        self.input_values = input_values            # the network input batch
        self.batch = batch
        self.dtype = dtype
        self.bytes_per_value = bytes_per_value

    def __repr__(self) -> str:
        return f"Totals({self.as_dict()})"

    @property
    def flops(self) -> int:
        return 2 * self.macs

    def as_dict(self) -> dict:
        b = self.bytes_per_value
        values = {"params": self.params, "trainable_params": self.trainable_params}
        if self.show_connections:
            values["connections"] = self.connections
        values.update({"buffers": self.buffers, "macs": self.macs,
                       "flops": self.flops, "depth": self.depth, "layers": self.layers,
                       "activations": self.activations, "activation_bytes": self.activations * b,
                       "param_bytes": self.params * b, "peak_activation_bytes": self.peak_activations * b})
        if self.count_as is not None:
            values.update({"count_as": self.count_as, "exact_macs": self.exact_macs,
                           "count_notes": list(self.count_notes)})
        if self.aux_params or self.aux_macs:
            values.update({"aux_params": self.aux_params, "aux_macs": self.aux_macs})
        if self.seq is not None:
            values.update({"embedding_params": self.embedding_params,
                           "non_embedding_params": self.params - self.embedding_params})
        if self.active_params is not None:
            values["active_params"] = self.active_params
        return values


class Analysis:
    __slots__ = ("name", "file", "input", "output", "title", "reference", "layers", "groups", "totals",
                 "diagnostics", "source_text", "ignored", "merges", "program", "blocks", "spans")

    def __init__(self, name: str, file: str, input: tuple | None, output: tuple | None,
                 title: str = "", reference: str = "", layers: list[LayerResult] | None = None,
                 groups: list[Group] | None = None, totals: Totals | None = None,
                 diagnostics: list[Diagnostic] | None = None, source_text: str = "",
                 spans: list[Span] | None = None):
        self.name = name
        self.file = file
        self.input = input
        self.output = output
        self.title = title
        self.reference = reference
        self.layers = layers if layers is not None else []
        self.groups = groups if groups is not None else []
        self.totals = totals if totals is not None else Totals()
        self.diagnostics = diagnostics if diagnostics is not None else []
        self.source_text = source_text
        self.spans = spans if spans is not None else []  # how composites are wired (drawings)
        # warnings an `ignore` (the spec's or --ignore) took out of `diagnostics`: (Diagnostic,
        # what ignored it: "file:line:column" of the spec's ignore, or "--ignore")
        self.ignored: list = []
        self.merges: list[MergeResult] = []  # where branches meet, for the table's merge rows
        # the compiled node tree and the valid block definitions (name -> (definition, mark)),
        # for `archcalc export`, which writes the tree's structure; None before compiling
        self.program = None
        self.blocks = None

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "error"]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "warning"]
