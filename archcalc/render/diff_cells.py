"""The text of each cell of `archcalc diff`, shared by the table and Markdown reporters.

Plain strings only (no rich), so that both reporters say the same thing. A cell that
differs between A and B is a pair ``(a_text, b_text)``; the table stacks the two, the
Markdown joins them with an arrow.
"""
from __future__ import annotations

import os

from ..diff import (
    ADDED,
    REMOVED,
    Diff,
    GateResult,
    KindRow,
    LayerChange,
    TotalRow,
    settings_text,
)
from . import numbers
from .problems import clean

TOTAL_LABELS = {"input": "Input", "output": "Output", "params": "Params", "buffers": "Buffers",
                "macs": "MACs", "flops": "FLOPs", "depth": "Depth", "layers": "Layers",
                "activations": "Activations", "aux_params": "Aux params", "aux_macs": "Aux MACs",
                "kv_cache_values": "KV cache per token", "kv_cache_bytes": "KV cache bytes",
                "count_as": "MACs counted as", "exact_macs": "MACs (archcalc)"}
# Totals that are counts of things, shown exactly; everything else in human units.
_COUNTS = {"depth", "layers", "kv_cache_values"}
GROUP_LABELS = {"conv": "conv", "dense": "dense", "attention": "attention", "embedding": "embedding",
                "norm": "norm", "pool": "pool",
                "activation": "activation", "other": "other"}


def side_labels(diff: Diff) -> tuple[str, str]:
    """How A and B are called: their names, else their file names, else A and B."""
    a, b = diff.a, diff.b
    if a.name and b.name and a.name != b.name:
        return clean(a.name), clean(b.name)
    fa, fb = os.path.basename(a.file or ""), os.path.basename(b.file or "")
    if fa and fb and fa != fb:
        return clean(fa), clean(fb)
    return "A", "B"


def mode_line(diff: Diff) -> str:
    if diff.mode == "versions":
        return (f"Compared as two versions of one network ({diff.mode_reason}); "
                "--mode networks compares them as separate networks.")
    return (f"Compared as two networks ({diff.mode_reason}); "
            "--mode versions aligns them layer by layer.")


def total_label(key: str) -> str:
    return TOTAL_LABELS.get(key, key.replace("_", " ").capitalize())


def _amount(key: str, value) -> str:
    if value is None:
        return "—"
    if isinstance(value, tuple) or isinstance(value, list):
        return numbers.shape(value)
    if isinstance(value, str):  # the convention of `--count-as`
        return value
    if key.endswith("_bytes"):
        return numbers.human(value) + "B"
    return numbers.exact(value)


def _change(key: str, change: int) -> str:
    if change == 0:
        return "0"
    if key in _COUNTS:
        return f"{change:+,}"
    text = numbers.signed(change)
    return text + "B" if key.endswith("_bytes") else text


def total_cells(row: TotalRow) -> tuple[str, str, str, str, str]:
    """(label, A, B, change, ratio)."""
    if not row.numeric:
        same = row.a == row.b
        return (total_label(row.key), _amount(row.key, row.a), _amount(row.key, row.b),
                "" if same or row.a is None or row.b is None else "changed", "")
    return (total_label(row.key), _amount(row.key, row.a), _amount(row.key, row.b),
            _change(row.key, row.change), numbers.ratio(row.b, row.a))


def breakdown_cells(row: KindRow, diff: Diff) -> tuple[str, ...]:
    """(group, A params, A MACs, B params, B MACs), each amount with its share of that
    network's total: '123.6 M (89.4%)'."""
    ta, tb = diff.a.totals, diff.b.totals
    cells = [GROUP_LABELS.get(row.group, row.group)]
    for sums, totals in ((row.a, ta), (row.b, tb)):
        if not sums.layers:
            cells += ["—", "—"]
            continue
        cells += [_with_share(sums.params, totals.params), _with_share(sums.macs, totals.macs)]
    return tuple(cells)


def _with_share(part: int, whole: int) -> str:
    share = _share(part, whole)
    return f"{numbers.human(part)} ({share})" if share else numbers.human(part)


def _share(part: int, whole: int) -> str:
    return numbers.share(part, whole) if part else ""


def ladder_cells(rungs) -> tuple[str, str]:
    """('227 → 55 → 27 → 13 → 6', '3 → 96 → 256 → 384 → 256'); a non-square size shows as
    H×W."""
    if not rungs:
        return "— (no spatial input)", ""
    sizes = " → ".join(str(r.height) if r.height == r.width else f"{r.height}×{r.width}" for r in rungs)
    return sizes, " → ".join(str(r.channels) for r in rungs)


# --------------------------------------------------------------------------- changes
def _value_text(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "none"
    if isinstance(value, (tuple, list)):
        if value and all(isinstance(v, (tuple, list)) for v in value):
            # a table of rows (a conv's connection table): its size, not its text
            return f"{len(value)} rows, {sum(len(v) for v in value)} entries"
        if value and len(set(value)) == 1:
            return str(value[0])
        return "×".join(str(v) for v in value)
    return str(value)


def _pair_or_one(a: str, b: str):
    return a if a == b else (a, b)


def change_cells(change: LayerChange) -> dict:
    """Cells by column: Change, Layer, Kind, Settings, Output, Params, MACs, ΔParams, ΔMACs.
    A value that differs between the versions is a pair (old, new)."""
    a, b = change.a, change.b
    one = b or a
    status = "" if change.status == "unchanged" else change.status
    if change.status in (ADDED, REMOVED):
        return {"Change": status, "Layer": clean(one.name), "Kind": one.kind,
                "Settings": clean(settings_text(one)), "Output": numbers.shape(one.output),
                "Params": _count(one.params), "MACs": numbers.human(one.macs),
                "ΔParams": _delta(change.delta("params"), exact=True),
                "ΔMACs": _delta(change.delta("macs"))}
    if change.kind_changed:
        settings = (clean(settings_text(a)), clean(settings_text(b)))
    elif change.fields:
        settings = ", ".join(f"{f.field} {clean(_value_text(f.a))} → {clean(_value_text(f.b))}"
                             for f in change.fields)
    else:
        settings = clean(settings_text(b))
    return {"Change": status,
            "Layer": _pair_or_one(clean(a.name), clean(b.name)) if change.renamed else clean(b.name),
            "Kind": _pair_or_one(a.kind, b.kind),
            "Settings": settings,
            "Output": _pair_or_one(numbers.shape(a.output), numbers.shape(b.output)),
            "Params": _pair_or_one(_count(a.params), _count(b.params)),
            "MACs": _pair_or_one(numbers.human(a.macs), numbers.human(b.macs)),
            "ΔParams": _delta(change.delta("params"), exact=True),
            "ΔMACs": _delta(change.delta("macs"))}


def _count(n: int) -> str:
    return numbers.exact(n) if n else ""


def _delta(n: int, exact: bool = False) -> str:
    if n == 0:
        return ""
    return f"{n:+,}" if exact else numbers.signed(n)


def counts_line(diff: Diff, shown: int) -> str:
    counts = diff.counts()
    parts = [f"{n} {status}" for status, n in counts.items() if n]
    total = sum(counts.values())
    hidden = total - shown
    tail = f"; {hidden} unchanged not shown (--all shows them)" if hidden else ""
    return (", ".join(parts) or "no layers") + tail


def visible_changes(diff: Diff, show_all: bool) -> list[LayerChange]:
    return [c for c in diff.changes or () if show_all or c.status != "unchanged"]


# ----------------------------------------------------------------------------- gates
def gate_message(result: GateResult) -> str:
    """'params>+5% failed: params 62,378,344 → 138,357,544, change +75,979,200 (+121.8%),
    more than +5%'."""
    gate = result.gate
    verdict = "failed" if result.failed else "passed"
    relative = numbers.relative(result.change, result.a)
    text = (f"{gate.text} {verdict}: {gate.total} {result.a:,} → {result.b:,}, "
            f"change {result.change:+,}" + (f" ({relative})" if relative else ""))
    bound = gate.operator_text if result.failed else f"not {gate.operator_text}"
    if gate.measure == "level":
        return f"{text}; {result.b:,} is {bound} {gate.threshold_text}"
    return f"{text}, {bound} {gate.threshold_text}"


# ----------------------------------------------------------------------------- the marks
def side_marks(diff) -> tuple[dict, dict]:
    """What happened to each layer, by name, on each side (A's, B's): removed, added, changed
    or affected for two versions of one network; for two networks told as a story (AlexNet
    2012 against torchvision's), the like-named weighted layers that differ are changed and
    those only one side has are removed (A) or added (B)."""
    marks: tuple[dict, dict] = ({}, {})
    if diff.changes is not None:
        for change in diff.changes:
            if change.status in ("changed", "added", "removed", "affected"):
                if change.a is not None:
                    marks[0][change.a.name] = change.status
                if change.b is not None:
                    marks[1][change.b.name] = change.status
        return marks
    told = diff.story
    if told is None:
        return marks
    for pair in told.pairs:
        if (pair.params, pair.macs, pair.trainable) != ((pair.params[0],) * 2, (pair.macs[0],) * 2,
                                                       (pair.trainable[0],) * 2):
            marks[0].update((x.name, "changed") for x in pair.a)
            marks[1].update((y.name, "changed") for y in pair.b)
    marks[0].update((x.name, "removed") for x in told.only_a)
    marks[1].update((y.name, "added") for y in told.only_b)
    return marks


# ----------------------------------------------------------------------------- the story
def _side_text(layers, other) -> str:
    """'2× conv 5×5/1, p2 over 48 channels': what one side's like-named layers are."""
    from .table import settings_text

    first = layers[0]
    text = f"{first.kind} {settings_text(first)}".strip()
    if len(first.input) == 3 and len(other[0].input) == 3 and first.input[-1] != other[0].input[-1]:
        text += f" over {first.input[-1]} channels"
    return f"{len(layers)}× {text}" if len(layers) > 1 else text


def _change_text(what: str, a: int, b: int, exact: bool = True) -> str:
    if a == b:
        return f"{what} {a:,} on both sides"
    if exact:
        return f"{what} {a:,} → {b:,} ({b - a:+,})"
    return f"{what} {numbers.human(a)} → {numbers.human(b)} ({numbers.signed(b - a)})"


def story_lines(diff) -> list[str]:
    """A few sentences: each like-named weighted layer that differs, the layers only split
    differently, the ones only one side has, and the sum of the differences."""
    told = diff.story
    if told is None:
        return []
    label_a, label_b = side_labels(diff)
    lines, split, dp, dm = [], [], 0, 0
    for pair in told.pairs:
        (pa, pb), (ma, mb), (ta, tb) = pair.params, pair.macs, pair.trainable
        if not (pa or pb or ma or mb):
            continue
        text_a, text_b = _side_text(pair.a, pair.b), _side_text(pair.b, pair.a)
        if (pa, ma, ta) == (pb, mb, tb):
            if len(pair.a) != len(pair.b):
                split.append(pair.name)
            elif text_a != text_b:
                lines.append(f"{pair.name}: {text_a} → {text_b}: {_change_text('params', pa, pb)}")
            continue
        line = f"{pair.name}: {text_a} → {text_b}: {_change_text('params', pa, pb)}"
        if ma != mb:
            line += f", {_change_text('MACs', ma, mb, exact=False)}"
        if (ta, tb) != (pa, pb):
            line += f", {_change_text('trainable', ta, tb)}"
        lines.append(line)
        dp, dm = dp + pb - pa, dm + mb - ma
    if split:
        towers = label_a if any(len(p.a) > len(p.b) for p in told.pairs if p.name in split) else label_b
        lines.append(f"the same parameters, split across branches in {towers}: {', '.join(split)}")
    for side, label in ((told.only_a, label_a), (told.only_b, label_b)):
        if side:
            lines.append(f"only in {label}: " + ", ".join(f"{layer.name} ({layer.kind}, {layer.params:,} params)"
                                                       for layer in side))
    if sum(1 for line in lines if "(+" in line or "(-" in line) >= 2:
        lines.append(f"in all, these layers: params {dp:+,}, MACs {dm:+,}")
    return lines


def story_wrapped(diff, width: int) -> list[str]:
    """The story for a terminal: each sentence wrapped with a hanging indent."""
    import textwrap

    lines = []
    for line in story_lines(diff):
        lines += textwrap.wrap(line, max(width, 40), initial_indent="  ", subsequent_indent="      ",
                               break_on_hyphens=False)
    return lines

