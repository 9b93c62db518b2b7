"""Batch norms that the exporter folded into the layer before them.

PyTorch's default ONNX exporter (``torch.onnx.export(..., dynamo=True)``) runs onnxscript's
optimizer, whose rules ``FuseBatchNormIntoConv``, ``FuseBatchNormIntoConvTranspose`` and
``FuseBatchNormIntoGemm`` replace BatchNormalization(Conv(x)) by one Conv with rescaled
weights and the bias (B − μ)·γ/σ + β. The file then holds a different network: the batch
norm's γ and β (2·C parameters) and its running mean and variance (2·C buffers) are gone, and
a convolution that had no bias has one of C (named after its weight, ``<weight>_bias``; a
bias of zeros is dropped). The graph keeps one trace: each rewritten node's
``metadata_props`` name the rules that made it (``pkg.onnxscript.rewriter.rule_name``), and
carry the batch norm's own FX node (``pkg.torch.onnx.fx_node``), whose weight and bias read
``None`` when the batch norm had no affine parameters.

``folded(graph)`` finds those nodes and what each fold changed; the reader reports them as one
``folded-batchnorm`` warning, with the parameters before folding. Nothing here changes the
figures: they are the file's.
"""
from __future__ import annotations

RULE_KEY = "pkg.onnxscript.rewriter.rule_name"
FX_KEY = "pkg.torch.onnx.fx_node"
WORDS = {"Conv": "convolution", "ConvTranspose": "transposed convolution", "Gemm": "dense layer (Gemm)"}
RULES = ("FuseBatchNormIntoConv", "FuseBatchNormIntoConvTranspose", "FuseBatchNormIntoGemm")


class Fold:
    """One batch norm folded into ``node``: its channels, whether it had γ and β, and whether
    the node's bias is the fold's own (the layer had none)."""

    __slots__ = ("node", "channels", "affine", "bias_added")

    def __init__(self, node, channels: int, affine: bool, bias_added: bool):
        self.node = node
        self.channels = channels
        self.affine = affine
        self.bias_added = bias_added

    @property
    def params_before(self) -> int:
        """Parameters the network had here before folding, less those the file holds."""
        return (2 * self.channels if self.affine else 0) - (self.channels if self.bias_added else 0)


def _rules(node) -> list[str]:
    for entry in getattr(node, "metadata_props", ()):
        if entry.key == RULE_KEY and isinstance(entry.value, str):
            return [rule.strip() for rule in entry.value.split(",")]
    return []


def _affine(node) -> bool:
    """False when the batch norm's FX node shows no weight and bias (``affine=False``)."""
    for entry in getattr(node, "metadata_props", ()):
        if entry.key == FX_KEY and isinstance(entry.value, str):
            args = entry.value.partition("args = (")[2].split(", ")
            return not (len(args) > 2 and args[1] == "None" and args[2] == "None")
    return True


def _channels(graph, node, attrs) -> int | None:
    shape = graph.weight_shape(node.input[1]) if len(node.input) > 1 else None
    if not shape or len(shape) < 2 or not all(isinstance(d, int) and d > 0 for d in shape):
        return None
    if node.op_type == "Conv":
        return shape[0]
    if node.op_type == "ConvTranspose":
        return shape[1] * int(attrs.get("group", 1))
    if node.op_type == "Gemm":
        return shape[0] if attrs.get("transB", 0) else shape[1]
    return None


def folded(graph) -> list[Fold]:
    """Every node of ``graph`` (readers.onnx_._Graph) that a batch norm was folded into."""
    found = []
    for node in graph.graph.node:
        if not any(rule in RULES for rule in _rules(node)):
            continue
        try:
            channels = _channels(graph, node, graph.attrs(node))
        except (TypeError, ValueError):
            channels = None
        if channels is None:
            continue
        bias = node.input[2] if len(node.input) > 2 else ""
        # the fold names a bias it creates after the weight (`conv1.weight_bias`); the
        # optimizer may then share equal initializers, so any weight's name may stand first
        added = bias.endswith("_bias") and bias[:-len("_bias")] in graph.initializers
        found.append(Fold(node, channels, _affine(node), added))
    return found


def report(doc, converter, folds: list[Fold]):
    """One ``folded-batchnorm`` warning on ``doc``, at the first folded node: how many batch
    norms, and the parameters and buffers of the network before folding."""
    from ..diagnostics import make
    from ..engine import analyze
    from .located import Document

    totals = analyze(Document(doc.file, doc.text, doc.root, [])).totals
    params, buffers = totals.params, totals.buffers
    n = len(folds)
    ops = sorted({fold.node.op_type for fold in folds})
    into = " or ".join(WORDS[op] for op in ops)
    stats = sum(2 * fold.channels for fold in folds)
    before = (f": the file's network has {params:,} parameters and {buffers:,} buffers, the network "
              f"before folding had {params + sum(f.params_before for f in folds):,} and {buffers + stats:,}")
    first = folds[0].node
    doc.diagnostics.append(make(
        "folded-batchnorm",
        f"{n:,} batch norm{'s were' if n > 1 else ' was'} folded into the {into} before "
        f"{'each' if n > 1 else 'it'} when the file was written (onnxscript's "
        f"{', '.join('FuseBatchNormInto' + op for op in ops)}{'; the first here' if n > 1 else ''}){before}",
        converter.mark(first),
        hint="the figures are the folded network's; to read the batch norms, export with "
             "torch.onnx.export(model, args, path, dynamo=False, do_constant_folding=False)"))
