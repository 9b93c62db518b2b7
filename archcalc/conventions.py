"""Other tools' counting conventions (`--count-as`): what fvcore, ptflops (its module and its
aten backend), thop and PyTorch's own FlopCounterMode report as MACs for the same network.

Each tool follows its own rules — batch norm counted or folded, activations and pooling
counted or not, a bias counted or not, attention seen or missed — and each rule is public in
its source. The rules are facts of the layer kinds (``LayerKind.count_as``, one
``Counted(rule, why)`` per tool where the tool differs from archcalc's exact MACs; see
archcalc/layers/); this module only names the conventions and sums the rules over a network.
The tools are run as a user runs them, on the module ``archcalc export`` writes, at batch 1
(tests/test_count_as.py runs the tools themselves and requires these totals exactly).
"""
from __future__ import annotations


class Convention:
    """One tool's convention: ``name`` (the --count-as value), ``tool`` (the call it stands
    for) and ``counts`` (a one-line summary of its rules, for tables and docs)."""

    __slots__ = ("name", "tool", "counts")

    def __init__(self, name: str, tool: str, counts: str):
        self.name = name
        self.tool = tool
        self.counts = counts


CONVENTIONS = {c.name: c for c in (
    Convention("fvcore", "fvcore 0.1.5: FlopCountAnalysis(model, x).total(), model in eval mode",
               "conv and matmul MACs without bias; batch norm 2 per value, layer/group norm 5, "
               "adaptive average pooling 1 per input value, upsampling; activations, pooling and "
               "element-wise ops not counted"),
    Convention("ptflops", "ptflops 0.7.5: get_model_complexity_info(model, shape, backend='pytorch')",
               "module hooks plus patched functionals: conv and linear MACs with bias, batch norm "
               "2 per value, layer norm 1, ReLU/GELU/ELU and pooling modules twice (hook and "
               "patched function), ReLU6/LeakyReLU once, SiLU and softmax once"),
    Convention("ptflops-aten", "ptflops 0.7.5: get_model_complexity_info(model, shape, backend='aten')",
               "aten.mm/addmm/bmm/convolution only: conv and matmul MACs plus one per output "
               "value where there is a bias; nothing else"),
    Convention("thop", "thop 0.1.1: profile(model, inputs=(x,))",
               "module hooks on torch's own module types: conv and linear MACs without bias, "
               "batch/layer norm 4 per value, average pooling; ReLU, max pooling, functionals, "
               "subclasses and unknown modules 0"),
    Convention("torch", "torch 2.13: FlopCounterMode on CPU, eval and no_grad, FLOPs / 2",
               "conv and matmul MACs without bias, as archcalc; the fused attention kernel "
               "(nn.MultiheadAttention's fast path) counts 0 on a CPU"),
)}

NAMES = tuple(CONVENTIONS)


class KindCount:
    """One kind under a convention: layers, archcalc's MACs, the tool's, and the tool's rule."""

    __slots__ = ("kind", "layers", "exact", "counted", "why")

    def __init__(self, kind: str, why: str):
        self.kind = kind
        self.layers = 0
        self.exact = 0
        self.counted = 0
        self.why = why

    @property
    def difference(self) -> int:
        return self.counted - self.exact


def _rule(layer, name: str):
    """The kind's Counted rule for convention ``name``, or None (the tool counts archcalc's MACs)."""
    from .layers import REGISTRY

    kind = REGISTRY.get(layer.kind)
    return kind.count_as.get(name) if kind is not None else None


def counts(layer, name: str, batch: int = 1) -> tuple[int, int]:
    """What the tool of convention ``name`` counts for one analysed layer at ``batch`` (the
    layer's ``macs`` already scaled to it; the kinds' rules are per sample), and the part of
    it counted once per forward pass whatever the batch (Counted.once; archcalc's own when
    the tool counts the kind's MACs). One lookup of the kind's rule for both."""
    counted = _rule(layer, name)
    if counted is None:
        return layer.macs, layer.once_macs
    once = counted.once(layer.input, layer.output, layer.fields) if counted.once is not None else 0
    return (counted.rule(layer.input, layer.output, layer.fields) - once) * batch + once, once


def by_kind(analysis, name: str, batch: int = 1) -> list[KindCount]:
    """Every kind of the network whose count under ``name`` has a rule of its own (the tool
    differs from archcalc, or may), in the order of first use; the layers of auxiliary heads
    are left out (the tools run the network in eval mode, where they do not run). ``batch``:
    the batch the layers' ``macs`` are scaled to, for layers not yet put under ``name``."""
    kinds: dict[str, KindCount] = {}
    for layer in analysis.layers:
        if layer.aux:
            continue
        counted = _rule(layer, name)
        entry = kinds.get(layer.kind)
        if entry is None:
            entry = kinds[layer.kind] = KindCount(layer.kind, counted.why if counted else "")
        entry.layers += 1
        exact = layer.exact_macs if layer.exact_macs is not None else layer.macs
        entry.exact += exact
        entry.counted += layer.macs if layer.exact_macs is not None else counts(layer, name, batch)[0]
    return list(kinds.values())


def notes(analysis, name: str) -> list[str]:
    """What the tool misses on this network, said beside its total: one line per kind the tool
    counts less of than archcalc (attention in a module-hook counter, the fused kernel)."""
    lines = []
    for entry in by_kind(analysis, name):
        if entry.counted < entry.exact:
            lines.append(f"{name} counts {entry.counted:,} of {entry.kind}'s {entry.exact:,} MACs "
                         f"({entry.why})")
    return lines


def restate_notes(analysis):
    """``totals.count_notes`` again after the analysis was scaled to a batch (metrics.apply_batch
    scales every layer's counts, not the sentences written from them)."""
    totals = analysis.totals
    if totals.count_as is not None and totals.exact_macs is not None:
        totals.count_notes = notes(analysis, totals.count_as)
    return analysis


def apply(analysis, name: str):
    """Put ``analysis`` under convention ``name``, in place, after its checks have run (a
    spec's `expect` and budgets pin archcalc's own count): every forward layer's ``macs``
    becomes the tool's, archcalc's kept as ``exact_macs``; ``totals.macs`` the tool's total."""
    if name not in CONVENTIONS:
        raise ValueError(f"unknown convention {name!r}; known: {', '.join(NAMES)}")
    totals = analysis.totals
    if analysis.output is None:
        totals.count_as = name
        return analysis
    total = 0
    for layer in analysis.layers:
        if layer.aux:
            continue
        counted, once = counts(layer, name)
        layer.exact_macs, layer.macs = layer.macs, counted
        layer.exact_once_macs, layer.once_macs = layer.once_macs, once
        total += counted
    totals.exact_macs, totals.macs = totals.macs, total
    totals.count_as = name
    totals.count_notes = notes(analysis, name)
    return analysis
