"""Comparing two analyses: pure data in, pure data out (no printing, no rich, no exit).

``compare(a, b)`` returns a ``Diff``:

* ``totals`` — every total of both networks side by side, with the change (b − a) and the
  ratio (b / a) as exact integers and fractions;
* ``breakdown`` — params, buffers, MACs and layer counts per layer-kind group
  (``LayerKind.group``: conv, dense, norm, pool, activation, other);
* ``ladders`` — each network's resolution ladder: the distinct spatial sizes its tensors
  take, in order, each with the widest channel count seen at that size;
* ``changes`` — in "versions" mode (two versions of one network), the layer-by-layer
  alignment: added, removed, changed, renamed, affected (same settings, but its shapes or
  counts moved because of a change upstream) and unchanged layers.

``parse_gate("params>+5%")`` and ``Gate.check(diff)`` are the CI thresholds of
``archcalc diff --fail-on``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .analysis import Analysis, LayerResult, Totals
from .layers import REGISTRY

if TYPE_CHECKING:  # imported where used: `diff` starts in a budget (bench/bench.py)
    from fractions import Fraction

GROUPS = ("conv", "dense", "attention", "embedding", "norm", "pool", "activation", "other")
MODES = ("versions", "networks")

# Totals that may exist on Analysis itself rather than in Totals.as_dict() (activation
# memory is planned there); included whenever the analysis carries them as integers.
_OPTIONAL_TOTALS = ("activations",)
_TOKEN_TOTALS = ("kv_cache_values", "kv_cache_bytes")  # only for networks with a KV cache


# ----------------------------------------------------------------------------- totals
@dataclass(frozen=True)
class TotalRow:
    """One total of both networks. Shapes (input, output) have no change or ratio."""

    key: str
    a: object
    b: object

    @property
    def numeric(self) -> bool:
        return isinstance(self.a, int) and isinstance(self.b, int)

    @property
    def change(self) -> int | None:
        return self.b - self.a if self.numeric else None

    @property
    def ratio(self) -> Fraction | None:
        """b / a exactly; None for shapes and when a is 0."""
        from fractions import Fraction

        return Fraction(self.b, self.a) if self.numeric and self.a else None

    @property
    def relative(self) -> Fraction | None:
        """(b − a) / a exactly; None for shapes and when a is 0."""
        from fractions import Fraction

        return Fraction(self.b - self.a, self.a) if self.numeric and self.a else None


def total_values(analysis: Analysis) -> dict:
    """Every numeric total of an analysis, by key, in display order (under `--count-as`, the
    convention and archcalc's own MACs right after the tool's)."""
    values = dict(analysis.totals.as_dict())
    values.pop("count_notes", None)  # said beside the totals, not a total
    if "count_as" in values:
        ordered = {}
        for key, value in values.items():
            if key not in ("count_as", "exact_macs"):
                ordered[key] = value
            if key == "macs":
                ordered["count_as"], ordered["exact_macs"] = values["count_as"], values["exact_macs"]
        values = ordered
    if analysis.totals.kv_values:  # a causal token model: its KV cache (GQA shrinks it)
        from .metrics import kv_cache_bytes

        values["kv_cache_values"] = analysis.totals.kv_values
        values["kv_cache_bytes"] = kv_cache_bytes(analysis.totals)
    for key in _OPTIONAL_TOTALS:
        value = getattr(analysis, key, None)
        if key not in values and isinstance(value, int) and not isinstance(value, bool):
            values[key] = value
    return values


def _totals(a: Analysis, b: Analysis) -> list[TotalRow]:
    rows = [TotalRow("input", a.input, b.input), TotalRow("output", a.output, b.output)]
    va, vb = total_values(a), total_values(b)
    # A total only one side has (a newer engine on one side is impossible, but an optional
    # total can be missing) is shown with None on the other side.
    for key in list(va) + [k for k in vb if k not in va]:
        if key == "trainable_params" and all(v.get(key) in (None, v.get("params")) for v in (va, vb)):
            continue  # nothing frozen on either side: the row would repeat `params`
        if key in ("aux_params", "aux_macs"):  # present only where there are auxiliary heads
            rows.append(TotalRow(key, va.get(key, 0), vb.get(key, 0)))
            continue
        rows.append(TotalRow(key, va.get(key), vb.get(key)))
    return rows


# -------------------------------------------------------------------------- breakdown
@dataclass(frozen=True)
class GroupSums:
    params: int = 0
    buffers: int = 0
    macs: int = 0
    layers: int = 0


@dataclass(frozen=True)
class KindRow:
    group: str
    a: GroupSums
    b: GroupSums


def group_sums(analysis: Analysis) -> dict[str, GroupSums]:
    sums = {g: [0, 0, 0, 0] for g in GROUPS}
    for layer in analysis.layers:
        kind = REGISTRY.get(layer.kind)
        entry = sums.setdefault(kind.group if kind else "other", [0, 0, 0, 0])
        entry[0] += layer.params
        entry[1] += layer.buffers
        if not layer.aux:  # an auxiliary head's MACs are not in the forward total (totals.aux_macs)
            entry[2] += layer.macs
        entry[3] += 1
    return {g: GroupSums(*v) for g, v in sums.items()}


def _breakdown(a: Analysis, b: Analysis) -> list[KindRow]:
    """One row per group present in either network, in GROUPS order."""
    sa, sb = group_sums(a), group_sums(b)
    names = list(sa) + [g for g in sb if g not in sa]
    empty = GroupSums()
    return [KindRow(g, sa.get(g, empty), sb.get(g, empty)) for g in names
            if sa.get(g, empty).layers or sb.get(g, empty).layers]


# ----------------------------------------------------------------------------- ladder
@dataclass(frozen=True)
class Rung:
    """One spatial size of a network: ``channels`` is the widest volume at that size, and
    ``layers`` counts the leaf layers whose output has it."""

    height: int
    width: int
    channels: int
    layers: int


def ladder(analysis: Analysis) -> list[Rung]:
    """The distinct spatial sizes along the network, in order of first appearance.

    The input counts as the first tensor. Group outputs (the merge of a parallel block) count
    too, so a concatenation's full width is seen. Flat vectors have no spatial size and are
    left out; a 1×1 volume after global pooling is a rung of its own. Side computations are
    not rungs: a gate computed at a smaller size and broadcast back by an `add`/`mul` merge
    (squeeze-and-excitation's 1×1), and auxiliary heads, which feed nothing."""
    side = {index for index, layer in enumerate(analysis.layers) if layer.aux}
    for span in analysis.spans:
        out = span.output
        if span.merge in ("add", "mul") and out is not None and len(out) == 3:
            for index in range(span.start, span.end):
                shape = analysis.layers[index].output
                if shape is not None and len(shape) == 3 and shape[0] * shape[1] < out[0] * out[1]:
                    side.add(index)
    events: list[tuple[int, int, tuple]] = []  # (position, order, shape): merges after leaves
    if analysis.input is not None:
        events.append((-1, 0, analysis.input))
    for index, layer in enumerate(analysis.layers):
        if index not in side:
            events.append((index, 0, layer.output))
    for group in analysis.groups:
        if group.output is not None and group.end > group.start \
                and not all(index in side for index in range(group.start, group.end)):
            events.append((group.end - 1, 1, group.output))
    order: list[tuple[int, int]] = []
    widest: dict[tuple[int, int], int] = {}
    counts: dict[tuple[int, int], int] = {}
    for _, kind, shape in sorted(events, key=lambda e: (e[0], e[1])):
        if shape is None or len(shape) != 3:
            continue
        size = (shape[0], shape[1])
        if size not in widest:
            order.append(size)
            widest[size] = shape[2]
            counts[size] = 0
        widest[size] = max(widest[size], shape[2])
    for index, layer in enumerate(analysis.layers):
        if index not in side and layer.output is not None and len(layer.output) == 3:
            counts[(layer.output[0], layer.output[1])] += 1
    return [Rung(h, w, widest[(h, w)], counts[(h, w)]) for h, w in order]


# ---------------------------------------------------------------------------- changes
ADDED, REMOVED, CHANGED, RENAMED, AFFECTED, UNCHANGED = (
    "added", "removed", "changed", "renamed", "affected", "unchanged")
STATUSES = (CHANGED, ADDED, REMOVED, RENAMED, AFFECTED, UNCHANGED)


@dataclass(frozen=True)
class FieldChange:
    field: str
    a: object
    b: object


@dataclass(frozen=True)
class LayerChange:
    """One aligned pair. ``a`` is None for an added layer, ``b`` for a removed one.

    ``fields`` lists the settings that differ (a changed layer); ``moved`` names what differs
    although the settings are equal: 'input', 'output', 'params', 'buffers', 'macs'."""

    status: str
    a: LayerResult | None
    b: LayerResult | None
    fields: tuple = ()
    moved: tuple = ()
    renamed: bool = False

    @property
    def name(self) -> str:
        return (self.b or self.a).name

    @property
    def kind_changed(self) -> bool:
        return self.a is not None and self.b is not None and self.a.kind != self.b.kind

    def delta(self, attribute: str) -> int:
        """b − a of 'params', 'buffers' or 'macs'; a missing side counts as 0."""
        return (getattr(self.b, attribute) if self.b else 0) - (getattr(self.a, attribute) if self.a else 0)


_MEASURED = ("input", "output", "params", "buffers", "macs")


def settings_text(layer: LayerResult) -> str:
    """The kind's own short description of a layer's settings ("3×3/1, p1"): layers.settings_text,
    without marks (diff compares settings)."""
    from .layers import settings_text as text

    return text(layer, marks=False)


def _settings_key(layer: LayerResult):
    return (layer.kind, tuple(sorted((k, repr(v)) for k, v in layer.fields.items())))


def _looks_generated(name: str, kind: str) -> bool:
    """'block3.conv2' for a conv: the engine's pattern <scope.><kind><n>. Such names shift
    when a layer of the same kind is inserted before them, so they are no evidence of
    identity; 'fc6' or 'stem' are."""
    local = name.rsplit(".", 1)[-1]
    return re.fullmatch(re.escape(kind) + r"\d+", local) is not None


def _scope(name: str) -> str:
    return name.rsplit(".", 1)[0] if "." in name else ""


def _pair(x: LayerResult, y: LayerResult) -> LayerChange:
    fields = ()
    if x.kind == y.kind:
        keys = list(x.fields) + [k for k in y.fields if k not in x.fields]
        fields = tuple(FieldChange(k, x.fields.get(k), y.fields.get(k)) for k in keys
                       if x.fields.get(k) != y.fields.get(k))
        if x.frozen != y.frozen and (x.params or y.params):  # `frozen` is a common field
            fields += (FieldChange("frozen", x.frozen, y.frozen),)
    moved = tuple(m for m in _MEASURED if getattr(x, m) != getattr(y, m))
    renamed = x.name != y.name and not (
        _looks_generated(x.name, x.kind) and _looks_generated(y.name, y.kind)
        and _scope(x.name) == _scope(y.name))
    if x.kind != y.kind or fields:
        status = CHANGED
    elif moved:
        status = AFFECTED
    elif renamed:
        status = RENAMED
    else:
        status = UNCHANGED
    return LayerChange(status, x, y, fields, moved, renamed)


# Past this many layer pairs (len(A) × len(B)) between two anchors, after the common start
# and end are paired, the alignment is linear (_align_linear): difflib's matcher costs about
# len(A) × len(B) on long runs of equal layers (a `repeat` of 300,000), the cost must follow
# what is printed.
ALIGN_PAIRS = 4_000_000


def _align_segment(xs: list[LayerResult], ys: list[LayerResult]) -> list[LayerChange]:
    """The common start and end paired first (equal kind and settings: the iterations two
    `repeat`s share, in linear time), then sequence alignment over (kind, settings) between;
    a replaced stretch pairs layers of equal kind in order (changed settings), the rest are
    removed and added."""
    head = 0
    limit = min(len(xs), len(ys))
    while head < limit and _settings_key(xs[head]) == _settings_key(ys[head]):
        head += 1
    tail = 0
    while tail < limit - head and _settings_key(xs[-1 - tail]) == _settings_key(ys[-1 - tail]):
        tail += 1
    out = [_pair(xs[k], ys[k]) for k in range(head)]
    middle_x, middle_y = xs[head:len(xs) - tail], ys[head:len(ys) - tail]
    if len(middle_x) * len(middle_y) > ALIGN_PAIRS:
        out += _align_linear(middle_x, middle_y)
    else:
        out += _align_middle(middle_x, middle_y)
    out += [_pair(xs[len(xs) - tail + k], ys[len(ys) - tail + k]) for k in range(tail)]
    return out


def _align_linear(xs: list[LayerResult], ys: list[LayerResult]) -> list[LayerChange]:
    """A long stretch in linear time: layers of equal kind paired in order while both
    sides have them; where the kinds part, the longer side's layer is the one removed or
    added."""
    out: list[LayerChange] = []
    i = j = 0
    while i < len(xs) and j < len(ys):
        if xs[i].kind == ys[j].kind:
            out.append(_pair(xs[i], ys[j]))
            i, j = i + 1, j + 1
        elif len(xs) - i >= len(ys) - j:
            out.append(LayerChange(REMOVED, xs[i], None))
            i += 1
        else:
            out.append(LayerChange(ADDED, None, ys[j]))
            j += 1
    out.extend(LayerChange(REMOVED, x, None) for x in xs[i:])
    out.extend(LayerChange(ADDED, None, y) for y in ys[j:])
    return out


def _align_middle(xs: list[LayerResult], ys: list[LayerResult]) -> list[LayerChange]:
    out: list[LayerChange] = []
    import difflib  # here, not at import: `diff` starts in a budget (bench/bench.py)

    matcher = difflib.SequenceMatcher(None, [_settings_key(x) for x in xs],
                                      [_settings_key(y) for y in ys], autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            out.extend(_pair(xs[i1 + k], ys[j1 + k]) for k in range(i2 - i1))
            continue
        kinds = difflib.SequenceMatcher(None, [x.kind for x in xs[i1:i2]],
                                        [y.kind for y in ys[j1:j2]], autojunk=False)
        for tag2, p1, p2, q1, q2 in kinds.get_opcodes():
            if tag2 == "equal":
                out.extend(_pair(xs[i1 + p1 + k], ys[j1 + q1 + k]) for k in range(p2 - p1))
            else:
                out.extend(LayerChange(REMOVED, x, None) for x in xs[i1 + p1:i1 + p2])
                out.extend(LayerChange(ADDED, None, y) for y in ys[j1 + q1:j1 + q2])
    return out


def align(xs: list[LayerResult], ys: list[LayerResult]) -> list[LayerChange]:
    """Align two layer lists: first by the names both share (in an order both agree on),
    then, between those anchors, by sequence alignment over kind and settings."""
    names_y = {y.name for y in ys}
    names_x = {x.name for x in xs}
    distinctive_x = [i for i, x in enumerate(xs)
                     if x.name in names_y and not _looks_generated(x.name, x.kind)]
    distinctive_y = [j for j, y in enumerate(ys)
                     if y.name in names_x and not _looks_generated(y.name, y.kind)]
    import difflib

    matcher = difflib.SequenceMatcher(None, [xs[i].name for i in distinctive_x],
                                      [ys[j].name for j in distinctive_y], autojunk=False)
    anchors = [(distinctive_x[block.a + k], distinctive_y[block.b + k])
               for block in matcher.get_matching_blocks() for k in range(block.size)]
    out: list[LayerChange] = []
    previous_i = previous_j = 0
    for i, j in anchors + [(len(xs), len(ys))]:
        out.extend(_align_segment(xs[previous_i:i], ys[previous_j:j]))
        if i < len(xs):
            out.append(_pair(xs[i], ys[j]))
        previous_i, previous_j = i + 1, j + 1
    return out


# --------------------------------------------------------------------------- counterparts
@dataclass(frozen=True)
class Counterpart:
    """The layers of A and of B that carry one local name (the last part of the layer name,
    case ignored): LeNet-5 1998's C3 and lenet5's c3, or AlexNet 2012's two conv2 towers
    (`conv1-2.gpu1.conv2`, `conv1-2.gpu2.conv2`) and the single-tower conv2."""

    name: str
    a: tuple
    b: tuple

    @property
    def params(self) -> tuple[int, int]:
        return sum(x.params for x in self.a), sum(y.params for y in self.b)

    @property
    def trainable(self) -> tuple[int, int]:
        return sum(x.trainable for x in self.a), sum(y.trainable for y in self.b)

    @property
    def macs(self) -> tuple[int, int]:
        return sum(x.macs for x in self.a), sum(y.macs for y in self.b)


@dataclass(frozen=True)
class Story:
    """Two networks told as the changes of their like-named weighted layers (networks mode,
    when such names cover most of both): ``pairs`` in A's order, and the weighted layers
    only one side has."""

    pairs: tuple
    only_a: tuple
    only_b: tuple


def _local_names(analysis: Analysis) -> dict[str, list[LayerResult]] | None:
    """Local name (lower case) -> layers. A name repeated in different places is no
    evidence (VGG's block1.conv1, block2.conv1, …) and is dropped, unless the repeats are
    the branches of one parallel (towers)."""
    found: dict[str, list[LayerResult]] = {}
    for layer in analysis.layers:
        found.setdefault(layer.name.rsplit(".", 1)[-1].lower(), []).append(layer)
    kept = {}
    for name, layers in found.items():
        paths = {layer.path for layer in layers}
        if len(layers) == len(paths) and (len(layers) == 1 or (
                len({len(p) for p in paths}) == 1 and len({p[:-1] for p in paths}) == 1
                and all(len(p) >= 2 for p in paths))):
            kept[name] = layers
    return kept


def story(a: Analysis, b: Analysis) -> Story | None:
    """None unless like-named layers hold most of both networks' weighted layers."""
    names_a, names_b = _local_names(a), _local_names(b)
    weighted_a = [layer for layer in a.layers if layer.params or layer.macs]
    weighted_b = [layer for layer in b.layers if layer.params or layer.macs]
    shared = [name for name in names_a if name in names_b]
    if len(shared) < 2 or not weighted_a or not weighted_b:
        return None
    covered_a = {id(x) for name in shared for x in names_a[name]}
    covered_b = {id(y) for name in shared for y in names_b[name]}
    if 2 * sum(id(x) in covered_a for x in weighted_a) < len(weighted_a) or \
            2 * sum(id(y) in covered_b for y in weighted_b) < len(weighted_b):
        return None
    pairs = tuple(Counterpart(names_a[name][0].name.rsplit(".", 1)[-1], tuple(names_a[name]),
                              tuple(names_b[name])) for name in shared)
    return Story(pairs, tuple(x for x in weighted_a if id(x) not in covered_a),
                 tuple(y for y in weighted_b if id(y) not in covered_b))


# ------------------------------------------------------------------------------- mode
def guess_mode(a: Analysis, b: Analysis) -> tuple[str, str]:
    """('versions' | 'networks', why). Versions: the same spec name, or more than half of
    all layer names shared."""
    if a.name and a.name == b.name:
        return "versions", f"both are named {a.name!r}"
    names_a = {layer.name for layer in a.layers}
    names_b = {layer.name for layer in b.layers}
    union = names_a | names_b
    shared = len(names_a & names_b)
    if union and 2 * shared > len(union):
        return "versions", f"{shared} of {len(union)} layer names shared"
    return "networks", f"different names, {shared} of {len(union)} layer names shared"


# ------------------------------------------------------------------------------- diff
@dataclass
class Diff:
    a: Analysis
    b: Analysis
    mode: str
    mode_reason: str
    totals: list[TotalRow]
    breakdown: list[KindRow]
    ladders: tuple[list[Rung], list[Rung]]
    changes: list[LayerChange] | None = None
    story: Story | None = None  # networks mode: like-named layers compared (see ``story``)

    def total(self, key: str) -> TotalRow | None:
        return next((row for row in self.totals if row.key == key), None)

    def counts(self) -> dict[str, int]:
        """How many aligned entries have each status (versions mode)."""
        counts = {s: 0 for s in STATUSES}
        for change in self.changes or ():
            counts[change.status] += 1
        return counts


def compare(a: Analysis, b: Analysis, mode: str | None = None) -> Diff:
    """Compare A (old) with B (new). ``mode`` None chooses by ``guess_mode``."""
    if mode is None:
        mode, reason = guess_mode(a, b)
    else:
        reason = f"--mode {mode}"
    if a.totals.show_connections or b.totals.show_connections:
        # connections are computed for every network; one side's figure makes both comparable
        a.totals.show_connections = b.totals.show_connections = True
    changes = align(a.layers, b.layers) if mode == "versions" else None
    told = story(a, b) if mode == "networks" else None
    return Diff(a, b, mode, reason, _totals(a, b), _breakdown(a, b), (ladder(a), ladder(b)), changes,
                told)


# ------------------------------------------------------------------------------ gates
class GateSyntaxError(ValueError):
    """A --fail-on rule that does not parse; the message says what was expected."""


GATE_TOTALS = tuple(dict.fromkeys(tuple(Totals().as_dict()) + _OPTIONAL_TOTALS + _TOKEN_TOTALS))
_OPERATORS = {">": "more than", ">=": "at least", "<": "less than", "<=": "at most"}
_SUFFIXES = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12}
_GATE = re.compile(r"\s*([a-z_]+)\s*(>=|<=|>|<)\s*([+-]?)(\d+(?:\.\d+)?)\s*([kKmMgGtT]?)\s*(%?)\s*")


@dataclass(frozen=True)
class Gate:
    """``total op value``, one of three measures:

    * ``change``   — a signed value (``macs>+0``, ``params>+1M``): B − A is compared;
    * ``relative`` — a percentage (``params>+5%``, ``params<-10%``): (B − A) / A;
    * ``level``    — an unsigned value (``depth>20``): B itself.
    The rule fails (the gate closes) when the comparison holds."""

    text: str
    total: str
    op: str
    value: Fraction
    measure: str

    def check(self, diff: Diff) -> "GateResult":
        row = diff.total(self.total)
        if row is None or row.a is None or row.b is None:
            raise KeyError(self.total)
        from fractions import Fraction

        if self.measure == "level":
            measured = Fraction(row.b)
        elif self.measure == "change":
            measured = Fraction(row.change)
        elif row.a:
            measured = row.relative * 100
        else:  # from zero: any growth is infinitely large, none is 0 %
            measured = None if row.b else Fraction(0)
        if measured is None:
            failed = self.op in (">", ">=") if row.b > 0 else self.op in ("<", "<=")
        else:
            failed = {">": measured > self.value, ">=": measured >= self.value,
                      "<": measured < self.value, "<=": measured <= self.value}[self.op]
        return GateResult(self, row.a, row.b, failed)

    @property
    def threshold_text(self) -> str:
        sign = "+" if self.value >= 0 and self.measure != "level" else ""
        number = _fraction_text(self.value)
        return f"{sign}{number}{'%' if self.measure == 'relative' else ''}"

    @property
    def operator_text(self) -> str:
        return _OPERATORS[self.op]


@dataclass(frozen=True)
class GateResult:
    gate: Gate
    a: int
    b: int
    failed: bool

    @property
    def change(self) -> int:
        return self.b - self.a

    @property
    def relative(self) -> Fraction | None:
        from fractions import Fraction

        return Fraction(self.b - self.a, self.a) if self.a else None


def _fraction_text(value: Fraction) -> str:
    if value.denominator == 1:
        return f"{value.numerator:,}"
    return f"{float(value):,.6g}"


def parse_gate(text: str) -> Gate:
    """'params>+5%' -> Gate. Raises GateSyntaxError naming what was expected."""
    match = _GATE.fullmatch(text)
    if match is None:
        raise GateSyntaxError(
            f"expected TOTAL OP VALUE such as 'params>+5%', 'macs>+0' or 'depth>20', found {text!r}"
            " (OP is >, >=, < or <=; a signed VALUE compares the change B − A, a percentage the "
            "relative change, an unsigned number B itself; K, M, G, T multiply by 10^3, 10^6, "
            "10^9, 10^12)")
    total, op, sign, number, suffix, percent = match.groups()
    if total not in GATE_TOTALS:
        raise GateSyntaxError(f"unknown total {total!r} in {text!r}; expected one of "
                              + ", ".join(GATE_TOTALS))
    if percent and suffix:
        raise GateSyntaxError(f"a percentage takes no unit suffix, found {text!r}")
    from fractions import Fraction

    value = Fraction(number) * _SUFFIXES[suffix.lower()]
    if sign == "-":
        value = -value
    measure = "relative" if percent else ("change" if sign else "level")
    return Gate(text.strip(), total, op, value, measure)
