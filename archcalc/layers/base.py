"""The vocabulary every layer kind is declared in: field types, the LayerKind record, and
the exceptions a rule raises to report a problem (the engine turns them into located
diagnostics and stamps the layer name on them).
"""
from __future__ import annotations

from typing import Callable

from ..limits import MAX_INTEGER
from ..metrics import AMP_DEVICES, AUTOCAST_WORDS, STORED_GROUPS

# The kinds' autocast vocabulary, re-exported so that a kind unit imports it from here and
# never from metrics: AUTOCAST_WORDS (how a kind types its tensors) and AMP_DEVICES (the
# devices a rule or a save word names: "cpu", "cuda")
__all__ = ["AMP_DEVICES", "AUTOCAST_WORDS"]

Shape = tuple  # (H, W, C) for a volume, (T, D) for a token sequence, (N,) for a flat vector


class TokenIds(tuple):
    """The shape of a token-id input, ``(T,)``: T integer ids, written ``input: {tokens: T}``.

    A tuple like every shape (``(128,)``), but never mistaken for a flat vector of 128
    features: only kinds with ``takes_ids`` (the token embedding) accept it, and tables write
    it ``128 ids``."""

    __slots__ = ()
    ids = True

    def __reduce__(self):
        return (TokenIds, (tuple(self),))


def is_ids(shape) -> bool:
    return getattr(shape, "ids", False)


class FieldError(Exception):
    """A field value is unacceptable. ``expected``/``found`` make 'expected X, found Y'."""

    def __init__(self, expected: str, found, code: str = "wrong-type"):
        super().__init__(expected)
        self.expected = expected
        self.found = found
        self.code = code


class RuleError(Exception):
    """A shape rule cannot produce an output. ``field`` names the field to point at."""

    def __init__(self, code: str, message: str, hint: str = "", field: str | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.hint = hint
        self.field = field


def describe_found(value) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, int):
        if not -MAX_INTEGER <= value <= MAX_INTEGER:  # str() of a huge int costs, or fails
            return f"an integer of about {int(value.bit_length() * 0.30103) + 1:,} digits"
        return f"the integer {value}"
    if isinstance(value, float):
        return f"the number {value!r}"
    if isinstance(value, str):
        return f"the string {value!r}" if len(value) <= 60 else f"the string {value[:50]!r}… " \
            f"({len(value):,} characters)"
    if isinstance(value, list):
        return f"a list of {len(value)} item{'s' if len(value) != 1 else ''}"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


# ---------------------------------------------------------------------------- field types
class FieldType:
    """How a field's YAML value is checked and normalised. ``schema`` is its JSON Schema.

    The records of this module are plain slotted classes, not dataclasses: creating a
    dataclass costs about a millisecond at import, and start-up time is a feature here."""

    __slots__ = ("name", "check", "schema")

    def __init__(self, name: str, check: Callable[[object], object], schema: dict):
        self.name = name
        self.check = check
        self.schema = schema


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _bounded(v, expected: str):
    """Every integer a field type accepts lies within limits.MAX_INTEGER (the loader refuses
    bigger literals; this also holds for values computed by expressions or new code)."""
    if not -MAX_INTEGER <= v <= MAX_INTEGER:
        raise FieldError(f"{expected} up to 10^18", v, code="number-too-large")
    return v


def _positive_int(v):
    if not _is_int(v):
        raise FieldError("a positive integer", v)
    if v < 1:
        raise FieldError("a positive integer", v, code="bad-value")
    return _bounded(v, "a positive integer")


def _nonneg_int(v):
    if not _is_int(v):
        raise FieldError("a non-negative integer", v)
    if v < 0:
        raise FieldError("a non-negative integer", v, code="bad-value")
    return _bounded(v, "a non-negative integer")


def _pair(v):
    """int or [a, b] of positive ints -> (a, b)."""
    if _is_int(v):
        return (_positive_int(v),) * 2
    if isinstance(v, list) and len(v) == 2 and all(_is_int(x) for x in v):
        return (_positive_int(v[0]), _positive_int(v[1]))
    raise FieldError("a positive integer or a list [height, width] of two", v)


def _padding(v):
    """'valid' | 'same' | int | [ph, pw] | [top, bottom, left, right] -> 'same' or a 4-tuple."""
    if isinstance(v, str):
        if v == "same":
            return "same"
        if v == "valid":
            return (0, 0, 0, 0)
        raise FieldError("'valid', 'same', an integer or a list of 2 or 4 integers", v, code="bad-value")
    if _is_int(v):
        p = _nonneg_int(v)
        return (p, p, p, p)
    if isinstance(v, list) and all(_is_int(x) for x in v):
        if len(v) == 2:
            ph, pw = (_nonneg_int(x) for x in v)
            return (ph, ph, pw, pw)
        if len(v) == 4:
            return tuple(_nonneg_int(x) for x in v)
    raise FieldError("'valid', 'same', an integer, [ph, pw] or [top, bottom, left, right]", v)


def _bool(v):
    if not isinstance(v, bool):
        raise FieldError("true or false", v)
    return v


def _rate(v):
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise FieldError("a number in [0, 1]", v)
    if not 0 <= v <= 1:
        raise FieldError("a number in [0, 1]", v, code="bad-value")
    return v


def _shape(v):
    if (isinstance(v, list) and len(v) in (1, 2, 3) and all(_is_int(x) for x in v)):
        if all(x >= 1 for x in v):
            return tuple(_bounded(x, "sizes") for x in v)
        raise FieldError("positive sizes", v, code="bad-value")
    raise FieldError("a shape [H, W, C], [T, D] or [N] of positive integers", v)


def _positive_number(v):
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise FieldError("a positive number", v)
    if not v > 0 or v != v or v == float("inf"):
        raise FieldError("a positive number", v, code="bad-value")
    return v


POSITIVE_NUMBER = FieldType("positive number", _positive_number, {"type": "number", "exclusiveMinimum": 0})
POSITIVE_INT = FieldType("positive int", _positive_int, {"type": "integer", "minimum": 1})
NONNEG_INT = FieldType("non-negative int", _nonneg_int, {"type": "integer", "minimum": 0})
PAIR = FieldType("int or [h, w]", _pair, {"oneOf": [
    {"type": "integer", "minimum": 1},
    {"type": "array", "items": {"type": "integer", "minimum": 1}, "minItems": 2, "maxItems": 2}]})
PADDING = FieldType("padding", _padding, {"oneOf": [
    {"enum": ["valid", "same"]}, {"type": "integer", "minimum": 0},
    {"type": "array", "items": {"type": "integer", "minimum": 0}, "minItems": 2, "maxItems": 2},
    {"type": "array", "items": {"type": "integer", "minimum": 0}, "minItems": 4, "maxItems": 4}]})
BOOL = FieldType("bool", _bool, {"type": "boolean"})
RATE = FieldType("rate", _rate, {"type": "number", "minimum": 0, "maximum": 1})
SHAPE = FieldType("shape", _shape, {"type": "array", "items": {"type": "integer", "minimum": 1},
                                    "minItems": 1, "maxItems": 3})


def choice(*options: str) -> FieldType:
    def check(v):
        if not isinstance(v, str):
            raise FieldError("one of " + ", ".join(repr(o) for o in options), v)
        if v not in options:
            raise FieldError("one of " + ", ".join(repr(o) for o in options), v, code="bad-value")
        return v

    return FieldType("choice", check, {"enum": list(options)})


class Field:
    __slots__ = ("type", "default", "required", "doc", "default_from")

    def __init__(self, type: FieldType, default: object = None, required: bool = False, doc: str = "",
                 default_from: str | None = None):
        self.type = type
        self.default = default
        self.required = required
        self.doc = doc
        # omitted, the field takes this other field's value (a pool's stride is its size), so
        # that `maxpool: 2` and `{size: 2, stride: 2}` resolve to the same settings
        self.default_from = default_from


REQUIRED = object()


def field_(type_: FieldType, default=REQUIRED, doc: str = "", default_from: str | None = None) -> Field:
    if default is REQUIRED:
        return Field(type_, None, True, doc)
    return Field(type_, default, False, doc, default_from)


# ------------------------------------------------------------------------------- ONNX rules
class NotRead(Exception):
    """An ONNX node that a kind's reader does not take as that kind; the message says why
    ("Clip to [0, 3]"). When no kind takes a node, the reader reports it as `unsupported-op`."""


class Onnx:
    """How a kind is read from ONNX: the op types it claims and ``read(node) -> fields``.

    ``node`` is the ONNX reader's view of one node (archcalc/readers/onnx_.py, ``NodeView``):
    ``node.op``, ``node.attrs`` (a dict), ``node.has(i)`` (input i given), ``node.weight(i)``
    (the shape of constant input i, or None), ``node.value(i)`` (a small constant's value, or
    None), ``node.window()`` (``stride`` and ``padding`` fields from ONNX's ``strides``,
    ``pads`` and ``auto_pad``) and ``node.expect(what, size)`` (the input size the weights were
    made for, checked once the shapes are known). ``read`` returns the kind's fields (``{}``
    for its defaults) or raises ``NotRead(why)``; several kinds may claim one op (Clip is
    relu6 or relu), tried in the registry's order. ``folds_pad``: a Pad of zeros before the
    node folds into its ``padding`` field. No kind reader imports onnx.

    ``node.layout`` is the layout of the node's input: "nchw" (ONNX's), "nhwc" after a
    Transpose that moved the channels last, "flat", "tokens" (a sequence (N, T, D), the
    features last) or "other".

    ``pattern``: ``read`` is given the *last* node of a subgraph that computes the kind from
    one tensor, ``node.reads`` (PyTorch's decomposition of local response normalisation ends
    in a Div); the nodes between that tensor and this one are all computed from it and from
    constants and feed nothing else. ``node.between`` counts their op types,
    ``node.attrs_between(op)`` and ``node.values_between(op)`` give their attributes and
    constant operands. The subgraph becomes one layer when ``read`` returns its fields.

    ``fold(node, fields) -> fields``: the op (an Add of a bias after a MatMul) is folded into
    the layer before it, of this kind, when that layer's output feeds only this node.
    ``node.constant_operand()`` is the index of a two-input op's constant input, and
    ``node.learned(i)`` its shape when it is a learned tensor (not a Constant node's value).

    A pattern's reader also has ``node.views_between(op)`` (the views of its nodes of type
    ``op``, in graph order), ``node.ops_in_order()`` (the op types of its nodes and of this one,
    in graph order) and ``node.learned_between()`` ((position in that order, shape) of each
    learned tensor they read, once each).

    ``layout``: the layout of a pattern's output when it is not its input's ("tokens": a
    sequence (N, T, D), the features last)."""

    __slots__ = ("fold", "folds_pad", "layout", "ops", "pattern", "read")

    def __init__(self, ops: tuple, read: Callable | None = None, folds_pad: bool = False,
                 pattern: bool = False, fold: Callable | None = None, layout: str | None = None):
        self.ops = tuple(ops)
        self.read = read if read is not None or fold is not None else (lambda node: {})
        self.folds_pad = folds_pad
        self.pattern = pattern
        self.fold = fold
        self.layout = layout


# ---------------------------------------------------------------------------- the kind record
def _zero(inp, out, f) -> int:
    return 0


def _same_shape(inp, f):
    return inp


def _no_settings(f) -> str:
    return ""


class LayerKind:
    """One leaf kind: its fields and its rules. Rules are pure functions of shapes and fields.

    shape(inp, fields) -> out            validates, then computes; raises RuleError
    params(inp, out, fields) -> int      learned parameters
    buffers(inp, out, fields) -> int     non-learned state (batch-norm running statistics)
    trainable(inp, out, fields) -> int   the part of params that training updates; None (the
                                         default) means all of them. A kind whose parameters are
                                         fixed by design (LeNet-5's RBF centres) returns 0; any
                                         layer can also be frozen with the common `frozen: true`
    macs(inp, out, fields) -> int        multiply-accumulates
    once_macs(inp, out, fields) -> int   the part of ``macs`` computed once per forward pass
                                         whatever the batch (Swin V2's position-bias MLP reads
                                         a fixed coordinates table); None (the default): none,
                                         every MAC is per sample
    connections(inp, out, fields) -> int LeCun et al.'s "connections" (1998): for every output
                                         unit, the inputs it sees plus its bias; None (the
                                         default) means the MACs (0 for weightless kinds)
    describe(fields) -> str              the settings shown in tables ("3×3/1, same")
    label(inp, fields) -> str            the arrow into the layer's box in `archcalc draw`: what
                                         shapes the volume ("conv 5×5/1, p2", "dw 3×3/2, p1");
                                         None (the default): the kind's name and the first part
                                         of ``describe``
    explain(layer) -> dict | None        `archcalc explain`'s arithmetic for the kind's own
                                         figures: {"params": "60·5·5 + 16", ...}, each written
                                         without its result (explain appends "= 1,516"), or
                                         (arithmetic, note); other keys are lines of their own;
                                         None or a missing key falls back to the generic lines
    warnings(inp, out, fields) -> iter   (code, message, hint) tuples for suspicious-but-legal use
    saves                                what autograd saves for backward, as data: a tuple of
                                         metrics.SAVE_WORDS ("input", "output", "indices", …) or
                                         saves(inp, out, fields) -> one (training ledger)
                                         the word "view": the output is the input's storage
                                         (flatten), so saving it saves the input
    casts(inp, out, fields) -> int       under autocast (`--amp`): the weight values cast to 16 bits
                                         for the layer's matmul or convolution, whose copy autograd
                                         saves (the weights, not the biases: addmm and convolution
                                         save no bias; a buffer a linear reads, as Swin V2's
                                         coordinates table), once per layer whatever the batch;
                                         None (the default): none
    input_casts(inp, out, fields) -> int the part of ``casts`` a matmul saves only for its
                                         input's gradient (a linear's weight: addmm saves it
                                         when the input needs a gradient): not saved where the
                                         layer reads the network input, which needs none;
                                         None (the default): no such part (a convolution saves
                                         its weight's copy whatever its input)
    autocast                             how autocast (`--amp`) types the layer's tensors, per
                                         device: None (the default: its input's dtype), "low"
                                         (convolution, matmul: 16-bit, an fp32 input cast and
                                         the copy saved), "fp32" (autocast's fp32 ops), "widen"
                                         (an fp32 parameter makes the output fp32), "upcast"
                                         (fp32 inside from an fp32 copy, the input's dtype out:
                                         RMS norm) — one word or
                                         {"cpu": word, "cuda": word} (metrics.AUTOCAST_WORDS)
    fused(inp, out, fields) -> saves     under a fused attention kernel (`--attention fused`: flash
                                         or memory-efficient), what the layer saves instead of
                                         ``saves`` (the same words) — one function or
                                         {"cpu": function, "cuda": function} where the
                                         devices' kernels save differently; None (the
                                         default): no difference
    stores                               whether the output counts as a stored activation (default:
                                         the group is conv, dense, pool or norm; metrics.py)
    weighted                             counts towards `depth`
    window(inp, fields) -> axes | None   the spatial window per axis, ((e, s, p_begin), (e, s,
                                         p_begin)) with e the effective kernel, for the receptive
                                         field; None (the default) for kinds that act per position
    takes_ids                            accepts the token ids of `input: {tokens: T}` (the token
                                         embedding); every other kind refuses them, located
    count_as                             {convention: Counted(rule, why)}: what another tool
                                         (fvcore, ptflops, thop, torch; archcalc/conventions.py)
                                         counts for the layer as `archcalc export` writes it,
                                         rule(inp, out, fields) -> int, and why, from the tool's
                                         source; a convention not listed counts ``macs``
    kv_cache(inp, out, fields) -> int    values the layer keeps per token when generating (keys
                                         and values of causal attention); None: none
    reference                            a field naming an earlier layer (a tied head's
                                         embedding); ``check_reference(layer, other)`` returns
                                         (code, message, hint) or None once both are analysed
    export(inp, out, fields) -> Torch    how `archcalc export` writes the layer in PyTorch; None
                                         (the default) makes exporting a spec that uses the kind a
                                         located `not-exportable` error
    onnx                                 the ONNX ops read as this kind: a tuple of ``Onnx``
                                         records (op types and a reader of their fields); the
                                         ONNX reader knows no kind but through these
    aliases                              the words of PyTorch and Keras that mean this kind
                                         (normalised as vocabulary.normalise does: `conv2d`,
                                         `linear`), for did-you-mean

    The export rule
    ---------------
    ``export(inp, out, fields)`` returns ``Torch(module, call="{m}({x})")``:

    * ``module`` is the Python expression that constructs the layer's ``nn.Module``, written
      for PyTorch's channels-first layout (``nn.Conv2d(3, 64, kernel_size=3, padding=1)``).
      The exporter assigns it to an attribute named after the layer, so the layer's
      parameters appear in ``state_dict()`` as ``<layer name>.weight``; every layer is a
      module, so a forward hook sees its output (the referee compares it with ``out``).
    * ``call`` is the forward expression: ``{x}`` stands for the input tensor and ``{m}`` for
      the module (``self.conv1``). Anything around the module call goes here: an explicit
      ``F.pad({x}, (0, 1, 0, 1))`` for asymmetric padding, ``torch.flatten({x}, 1)`` before a
      linear layer fed a 1×1×C volume, a fused activation (``fused_activation`` in
      activations.py wraps it).
    * ``inp`` and ``out`` are archcalc's channels-last shapes (``(H, W, C)`` or ``(N,)``); the
      module takes ``(N, C, H, W)`` or ``(N, features)``.
    * Numbers may be *symbolic*: inside a block's class, a value that comes from a block
      argument or from the block's input channels is a ``Sym``, an ``int`` whose ``str()`` is
      the Python expression (``width * 4``, ``in_channels``). Write numbers with ``{}`` in
      f-strings and compute with ``+ - * //``; never ``int(...)`` them or format them with a
      spec such as ``:,``. Comparisons use the value (the exporter generates one class per
      block and set of values, and merges the ones whose code comes out the same).
    * ``helpers`` maps a class name to the source of an ``nn.Module`` subclass the module
      expression needs and torch lacks (a conv with a connection table); each is written
      once, before the network's classes. Prefer torch's own modules.
    * ``parameter=True`` says that ``module`` is an ``nn.Parameter`` rather than a module
      (layerscale: ``Torch("nn.Parameter(torch.full((96, 1, 1), 1e-06))", call="{x} * {m}",
      parameter=True)``): its state_dict key is then the layer's name itself, as torchvision's
      ``features.1.0.layer_scale``.
    * When the layer cannot be written exactly in PyTorch, raise
      ``RuleError("not-exportable", message, hint, field=...)``: it becomes a located error.

    Text from a spec never becomes code. A rule writes numbers (ints, ``Sym``) as they are
    and every other field value through ``literal(value)`` — a string through
    ``py_str(text)``, a quoted and escaped literal — never with a bare ``{}`` or ``!r`` (a
    float ``inf`` would be the name ``inf``). Names (attributes, classes, variables,
    docstrings) are the exporter's business: it writes ``self.name`` only for a plain ASCII
    name, ``getattr``/``add_module`` with the exact string otherwise, so that state_dict
    keys are the spec's names. And the exporter checks every ``Torch`` a rule returns
    (``check_torch`` in archcalc/export.py) before writing it: ``module`` and ``call`` must
    each be one expression of calls, attributes, constants, tuples, lists, arithmetic and lambdas,
    over ``torch``, ``nn``, ``F``, ``float``, ``int``, the ``helpers`` it declares and the
    enclosing block's arguments; a helper's name must be a plain identifier that is not a
    builtin. Anything else is a located ``not-exportable`` error for the layer, so a new
    kind that forgets ``literal`` is refused, not run.

    Worked example, a layer that scales every value by a constant field ``factor``, written
    as one module (``nn.Module`` subclasses other than torch's are not available to the
    generated file, which needs only torch):

        def _export(inp, out, f):
            return Torch("nn.Identity()", call=f"{{m}}({{x}}) * {f['factor']}")

        SCALE = LayerKind(name="scale", doc="...", fields={"factor": ...}, export=_export)

    and dense's own rule is ``Torch(f"nn.Linear({features}, {f['units']}, bias=False)",
    call="{m}(torch.flatten({x}, 1))")`` for a 1×1×C input (`bias=False` only without bias).
    Composites (repeat, parallel, residual and the merges) are written by the exporter
    (archcalc/export.py), not by kinds.
    """

    __slots__ = ("name", "doc", "fields", "primary", "shape", "params", "buffers", "macs", "describe",
                 "warnings", "weighted", "window", "group", "trainable", "connections", "explain",
                 "stores", "export", "takes_ids", "kv_cache", "reference", "check_reference",
                 "extra", "saves", "onnx", "aliases", "label", "count_as", "casts", "fused", "once_macs",
                 "autocast", "input_casts")

    def __init__(self, name: str, doc: str, fields: dict | None = None, primary: str | None = None,
                 shape: Callable = _same_shape, params: Callable = _zero, buffers: Callable = _zero,
                 macs: Callable = _zero, describe: Callable = _no_settings,
                 warnings: Callable | None = None, weighted: bool = False,
                 window: Callable | None = None, group: str = "other",
                 trainable: Callable | None = None, connections: Callable | None = None,
                 explain: Callable | None = None, stores: bool | None = None,
                 export: Callable | None = None, takes_ids: bool = False,
                 kv_cache: Callable | None = None, reference: str | None = None,
                 check_reference: Callable | None = None, extra: Callable | None = None,
                 saves: tuple | Callable | None = None, onnx: tuple = (), aliases: tuple = (),
                 label: Callable | None = None, count_as: dict | None = None,
                 casts: Callable | None = None, fused: Callable | dict | None = None,
                 once_macs: Callable | None = None, autocast: str | dict | None = None,
                 input_casts: Callable | None = None):
        self.name = name
        self.label = label
        self.doc = doc
        self.fields = fields if fields is not None else {}
        self.primary = primary
        self.shape = shape
        self.params = params
        self.buffers = buffers
        self.macs = macs
        # the part of ``macs`` that does not grow with the batch (metrics.apply_batch)
        self.once_macs = once_macs
        self.describe = describe
        self.warnings = warnings
        self.weighted = weighted
        self.window = window
        self.trainable = trainable
        self.connections = connections
        self.explain = explain
        self.group = group  # for breakdowns: conv, dense, norm, pool, activation, other
        self.stores = stores if stores is not None else group in STORED_GROUPS
        self.export = export
        self.takes_ids = takes_ids
        self.kv_cache = kv_cache
        self.reference = reference
        self.check_reference = check_reference
        # extra(inp, out, fields) -> dict of further per-layer figures for JSON and explain
        # (attention's causal-half MACs); None: none
        self.extra = extra
        # what autograd saves for the backward pass: a tuple of metrics.SAVE_WORDS, or
        # saves(inp, out, fields) -> one; None: the input for conv and dense groups, the
        # output for the other storing kinds, nothing otherwise; the word "view" says the
        # output is the input's storage (flatten, identity)
        self.saves = saves if saves is not None else \
            ("input",) if group in ("conv", "dense") else ("output",) if self.stores else ()
        # how other tools count the kind (`--count-as`): convention name -> Counted; a
        # convention not listed counts the kind's own MACs (archcalc/conventions.py)
        self.count_as = count_as or {}
        self.onnx = tuple(onnx)
        self.aliases = tuple(aliases)
        # under autocast: the weight values copied to 16 bits and saved (metrics.ledger)
        self.casts = casts
        # the part of ``casts`` saved only when the layer's input needs a gradient
        self.input_casts = input_casts
        # under a fused attention kernel, per device (metrics.AMP_DEVICES): what it saves
        # instead of ``saves`` (the same words); None: no difference
        if fused is None or isinstance(fused, dict):
            assert fused is None or set(fused) == set(AMP_DEVICES), name
            self.fused = None if fused is None else tuple(fused[device] for device in AMP_DEVICES)
        else:
            self.fused = (fused, fused)
        # under autocast, per device (metrics.AMP_DEVICES): the dtype rule, one of
        # metrics.AUTOCAST_WORDS; None for both: the input's dtype throughout
        rules = autocast if isinstance(autocast, dict) else {"cpu": autocast, "cuda": autocast}
        assert set(rules) <= {"cpu", "cuda"} and all(r in AUTOCAST_WORDS for r in rules.values()), name
        self.autocast = (rules.get("cpu"), rules.get("cuda"))

    @property
    def has_params(self) -> bool:
        """False for kinds that never have parameters (nothing for `frozen` to freeze)."""
        return self.params is not _zero

    def __repr__(self) -> str:
        return f"LayerKind({self.name!r})"


class Counted:
    """How one tool counts a kind (LayerKind.count_as): ``rule(inp, out, fields) -> int``, the
    MACs the tool reports for the layer as exported, and ``why``, the tool's own rule in a few
    words (explain and docs/metrics.md quote it); ``once(inp, out, fields) -> int``, the part
    of ``rule`` the tool sees once per forward pass whatever the batch (None: none)."""

    __slots__ = ("rule", "why", "once")

    def __init__(self, rule: Callable, why: str, once: Callable | None = None):
        self.rule = rule
        self.why = why
        self.once = once

    def __repr__(self) -> str:
        return f"Counted({self.why!r})"


def numel(shape) -> int:
    """The values of a tensor of archcalc shape ``shape`` at batch 1."""
    n = 1
    for size in shape:
        n *= size
    return n


class Torch:
    """A layer written in PyTorch: the module's constructor expression and the forward call
    (``{m}`` the module, ``{x}`` the input). See LayerKind's docstring, "The export rule"."""

    __slots__ = ("module", "call", "helpers", "parameter", "tied")

    def __init__(self, module: str, call: str = "{m}({x})", helpers: dict | None = None,
                 parameter: bool = False, tied: str | None = None):
        self.module = module
        self.call = call
        self.helpers = helpers or {}  # class name -> its source, written once at the top of the file
        # `module` is an nn.Parameter, not a module: registered under the layer's name (the
        # state_dict key is the name itself, torchvision's `layer_scale`); `call` uses it as
        # a tensor. No forward hook sees such a layer.
        self.parameter = parameter
        # the full name of an earlier layer whose module ``{tied}`` in ``module`` stands for
        # (a head sharing the embedding's weight); it must be built in the same class
        self.tied = tied

    def __repr__(self) -> str:
        return f"Torch({self.module!r}, call={self.call!r})"


_ATOM, _MUL, _ADD = 3, 2, 1


class Sym(int):
    """An integer that remembers the Python expression it stands for (``width * 4``).

    The exporter gives block arguments and a block's input channels as ``Sym`` values, so
    the rules' f-strings write ``nn.Conv2d(in_channels, width * 4, ...)`` inside a block's
    class. It behaves as its value everywhere else (comparisons, ``range``, indexing), and
    ``+ - * // %`` on it build the expression. See LayerKind's docstring."""

    def __new__(cls, value: int, expr: str, precedence: int = _ATOM):
        self = int.__new__(cls, value)
        self.expr = expr
        self.precedence = precedence
        return self

    def __str__(self) -> str:
        return self.expr

    __repr__ = __str__

    def __format__(self, spec: str) -> str:
        return self.expr if not spec else format(int(self), spec)

    def __reduce__(self):
        return (Sym, (int(self), self.expr, self.precedence))


def _text(v, precedence: int, right: bool = False) -> str:
    own = v.precedence if isinstance(v, Sym) else (_ATOM if v >= 0 else _ADD)
    text = str(v)
    return f"({text})" if own < precedence or (right and own == precedence) else text


def _binary(op: str, precedence: int, fold):
    def forward(a, b):
        if not isinstance(b, int) or isinstance(b, bool):
            return NotImplemented
        value = fold(int(a), int(b))
        if op in ("+", "-") and not isinstance(b, Sym) and b == 0:
            return a
        if op in ("*", "//") and not isinstance(b, Sym) and b == 1:
            return a
        return Sym(value, f"{_text(a, precedence)} {op} {_text(b, precedence, right=True)}", precedence)

    def reflected(a, b):
        if not isinstance(b, int) or isinstance(b, bool):
            return NotImplemented
        value = fold(int(b), int(a))
        if op in ("+",) and b == 0 or op == "*" and b == 1:
            return a
        return Sym(value, f"{_text(b, precedence)} {op} {_text(a, precedence, right=True)}", precedence)

    return forward, reflected


Sym.__add__, Sym.__radd__ = _binary("+", _ADD, lambda a, b: a + b)
Sym.__sub__, Sym.__rsub__ = _binary("-", _ADD, lambda a, b: a - b)
Sym.__mul__, Sym.__rmul__ = _binary("*", _MUL, lambda a, b: a * b)
Sym.__floordiv__, Sym.__rfloordiv__ = _binary("//", _MUL, lambda a, b: a // b)
Sym.__mod__, Sym.__rmod__ = _binary("%", _MUL, lambda a, b: a % b)
Sym.__neg__ = lambda a: Sym(-int(a), f"-{_text(a, _ATOM)}", _ADD)


def concrete(value):
    """The plain value of a possibly symbolic number (for arithmetic whose result is written
    as a number, such as `same` padding; the generated class is then specific to it)."""
    return int(value) if isinstance(value, Sym) else value


def given(value, default) -> bool:
    """Whether an argument must be written: symbolic (a block argument), or not the default."""
    return isinstance(value, Sym) or value != default


def pair_text(a, b) -> str:
    """``3`` for (3, 3), ``(3, 5)`` otherwise: PyTorch's int-or-tuple arguments."""
    return str(a) if str(a) == str(b) else f"({a}, {b})"


def channel_dim(shape) -> int:
    """The channel (feature) axis of a tensor of archcalc shape ``shape`` in PyTorch's layout:
    1 for (N, C, H, W) and for (N, features); -1 for a token sequence (N, T, D)."""
    return -1 if len(shape) == 2 else 1


def require_volume(inp, kind: str):
    if len(inp) == 2:
        raise RuleError("needs-volume", f"{kind} needs an [H, W, C] input, but receives the token "
                        f"sequence {inp[0]}×{inp[1]} ([T, D])",
                        hint="token sequences take dense, attention and the token kinds; a volume "
                             "becomes tokens with `patches`, not back")
    if len(inp) != 3:
        raise RuleError("needs-volume", f"{kind} needs an [H, W, C] input, but receives the flat vector "
                        f"[{inp[0]}]", hint="remove the flatten before it, or use dense")


def describe_bias_activation(f) -> str:
    """The settings conv and dense share, as the tables show them: ', no bias, relu'."""
    text = "" if f["bias"] else ", no bias"
    return text + (f", {f['activation']}" if f["activation"] else "")


def fmt_shape(shape) -> str:
    if is_ids(shape):
        return f"{shape[0]} ids"
    return "×".join(str(x) for x in shape)


# ------------------------------------------------------------------ text into generated code
def py_str(text) -> str:
    """A double-quoted Python literal of ``text``: backslashes, quotes and every character
    that is not printable (control characters, line and paragraph separators, bidi marks)
    escaped, so the literal is always one line of valid Python whose value is ``text``.
    The one way a spec's string enters generated code (see LayerKind, "The export rule")."""
    return '"' + _escape(str(text)) + '"'


def _escape(text: str, doc: bool = False) -> str:
    out = []
    for i, ch in enumerate(text):
        if ch == "\\":
            out.append("\\\\")
        elif ch == '"' and (not doc or text[i + 1:i + 2] in ('"', "")):
            out.append('\\"')  # in a docstring, only a quote that could help close it
        elif ch.isprintable():
            out.append(ch)
        else:
            out.append(repr(ch)[1:-1])  # \x1b, \n, \u2028, \ud800 …
    return "".join(out)


def literal(value) -> str:
    """A field value as a Python literal for an export rule: an int (or ``Sym``) as itself,
    a float as its ``repr`` (``float("inf")``/``float("nan")`` for those), a bool or None
    as Python's, a string through ``py_str``, a list or tuple item by item."""
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value) if value == value and abs(value) != float("inf") else f'float("{value!r}")'
    if isinstance(value, str):
        return py_str(value)
    if isinstance(value, (list, tuple)):
        items = [literal(v) for v in value]
        if isinstance(value, tuple):
            return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"
        return "[" + ", ".join(items) + "]"
    raise TypeError(f"no Python literal for {type(value).__name__}")
