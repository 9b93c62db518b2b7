"""Diagnostics are data: a stable code, a severity, a location, a message and a hint.

The engine and the loader create them; reporters render them. Nothing here prints.
Every code a diagnostic can carry is listed in ``CATALOGUE`` with its severity and a
short explanation, which ``archcalc explain CODE`` and the docs show.
"""
from __future__ import annotations

from .readers.located import NO_MARK, Mark  # noqa: F401 - re-exported: where a diagnostic points

ERROR = "error"
WARNING = "warning"




class Diagnostic:
    """One problem. Immutable by convention; a plain class because dataclass creation costs
    milliseconds at import and archcalc's start-up is a feature."""

    __slots__ = ("code", "severity", "message", "hint", "file", "line", "column", "layer")

    def __init__(self, code: str, severity: str, message: str, hint: str = "", file: str = "",
                 line: int = 0, column: int = 0, layer: str | None = None):
        self.code = code
        self.severity = severity
        self.message = message
        self.hint = hint
        self.file = file
        self.line = line
        self.column = column
        self.layer = layer

    def _key(self) -> tuple:
        return (self.code, self.severity, self.message, self.hint, self.file, self.line, self.column,
                self.layer)

    def __eq__(self, other) -> bool:
        return isinstance(other, Diagnostic) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return (f"Diagnostic({self.code!r}, {self.severity!r}, {self.message!r}, file={self.file!r}, "
                f"line={self.line}, column={self.column}, layer={self.layer!r})")

    def replace(self, **changes) -> "Diagnostic":
        values = dict(zip(self.__slots__, self._key()))
        values.update(changes)
        return Diagnostic(**values)

    def as_dict(self) -> dict:
        return {
            "code": self.code,
            "severity": self.severity,
            "message": self.message,
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "layer": self.layer,
            "hint": self.hint,
        }


def make(code: str, message: str, mark: Mark | None, hint: str = "", layer: str | None = None,
         severity: str | None = None) -> Diagnostic:
    """Build a diagnostic whose severity comes from the catalogue unless overridden."""
    mark = mark or NO_MARK
    return Diagnostic(code, severity or CATALOGUE[code][0], message, hint,
                      mark.file, mark.line, mark.column, layer)


# code: (severity, one-line summary, explanation)
CATALOGUE: dict[str, tuple[str, str, str]] = {
    # --- reading the file -------------------------------------------------------------
    "yaml-syntax": (ERROR, "the file is not valid YAML",
                    "The YAML parser stopped at the given position. Fix the syntax there; a "
                    "common cause is a missing space after ':' or inconsistent indentation."),
    "file-encoding": (ERROR, "the file is not UTF-8 text",
                      "Spec files must be UTF-8 encoded text."),
    "empty-file": (ERROR, "the file holds no spec",
                   "The file is empty or holds only comments."),
    "forbidden-tag": (ERROR, "a YAML tag that archcalc refuses",
                      "Specs are loaded safely: tags such as !!python/object construct nothing and "
                      "are rejected. Remove the tag."),
    "duplicate-key": (ERROR, "a mapping repeats a key",
                      "YAML silently keeps the last of two equal keys; archcalc refuses, because the "
                      "first value is almost always a mistake."),
    "too-large": (ERROR, "the spec expands beyond archcalc's limits",
                  "YAML nodes (1,000,000, aliases expanded) and nesting (200 levels), the number of "
                  "leaf layers and scopes (block calls, branch sets, repeat iterations: 1,000,000), "
                  "nested block calls (64) and every computed dimension (10^18) are bounded so that "
                  "hostile files fail fast instead of exhausting memory."),
    "number-too-large": (ERROR, "an integer is beyond archcalc's limit of 10^18",
                         "Every integer in a spec, written or computed by an expression, lies within "
                         "±10^18 (no real network comes near); a literal longer than 64 characters is "
                         "refused before it is read."),
    # --- structure ----------------------------------------------------------------------
    "not-a-mapping": (ERROR, "the top level of a spec must be a mapping",
                      "A spec is a mapping with at least `input` and `layers`."),
    "missing-field": (ERROR, "a required field is missing",
                      "The kind or the top level requires this field; the message names it."),
    "unknown-field": (ERROR, "a field the kind does not accept",
                      "Each kind accepts a fixed set of fields (see `archcalc schema`). A typo is the "
                      "usual cause; the hint suggests the nearest accepted name."),
    "unknown-kind": (ERROR, "a layer kind that is neither built in nor a declared block",
                     "Use one of the kinds of `archcalc schema`, or declare a block under `blocks`."),
    "bad-entry": (ERROR, "a layer entry of the wrong form",
                  "A layer entry is a bare kind (`- relu`), a kind with its primary value "
                  "(`- dense: 4096`) or a kind with a mapping of fields, as a one-key mapping."),
    "wrong-type": (ERROR, "a value of the wrong type",
                   "The field expects another type; the message says what was expected and found."),
    "bad-value": (ERROR, "a value of the right type but outside its range",
                  "Sizes are positive integers, rates lie in [0, 1], and so on."),
    "duplicate-name": (ERROR, "two layers have the same name",
                       "Layer names must be unique in a network; rename one of them."),
    # --- blocks -------------------------------------------------------------------------
    "unknown-arg": (ERROR, "a block call passes an argument the block does not declare",
                    "Declare the argument under the block's `args`, or fix its spelling."),
    "missing-arg": (ERROR, "a block call omits a required argument",
                    "Arguments declared with a `null` default must be given at every call."),
    "undefined-reference": (ERROR, "`$name` names no argument of the enclosing block",
                            "References resolve against the arguments of the block being expanded."),
    "bad-expression": (ERROR, "an argument expression cannot be evaluated",
                       "`${...}` accepts integers, argument names, + - * // % and parentheses."),
    "block-recursion": (ERROR, "a block reaches itself",
                        "A block may use other blocks, but never itself, directly or indirectly."),
    "unknown-reference": (ERROR, "`from` or `join` names no earlier layer",
                          "`from: NAME` and `join: {from: [...]}` read the output of a layer or named "
                          "block written before them (or `input`); the name is looked up in the "
                          "enclosing scopes first, then in the whole network."),
    "bad-block": (ERROR, "a block definition is malformed",
                  "A block is a mapping with `layers` and optional `args`; its name must not be a "
                  "built-in kind."),
    # --- shapes -------------------------------------------------------------------------
    "bad-input": (ERROR, "the input shape is not [H, W, C], [T, D] or [N]",
                  "`input` is a list of positive integers: three for a volume, two for a token "
                  "sequence, one for a vector."),
    "channels-first-input": (WARNING, "the input looks channels-first",
                             "Shapes are channels-last, [H, W, C]. An input whose first size is a "
                             "typical channel count (1 to 4) and whose other two look like image "
                             "sides, such as [3, 224, 224], is probably PyTorch's (C, H, W): every "
                             "figure after it would be wrong. Write [224, 224, 3]."),
    "nonpositive-output": (ERROR, "a layer's output would have no rows or columns",
                           "The window is larger than the (padded) input. Pad more, use a smaller "
                           "kernel or stride, or feed a larger input."),
    "groups-mismatch": (ERROR, "groups must divide the channels they split",
                        "Grouped convolution (input channels and filters), group norm and channel "
                        "shuffle split channels evenly into groups."),
    "table-mismatch": (ERROR, "a conv's connection table does not fit its shapes",
                       "A connection table has one row per filter, each listing input-channel indices "
                       "below the input's channel count; it replaces `groups`, so the two cannot be "
                       "combined."),
    "bad-crop": (ERROR, "a crop does not fit its input",
                 "A crop keeps an [h, w] window of its input; the window must lie inside it."),
    "needs-flat-input": (ERROR, "an rbf layer received a volume",
                         "LeNet-5's rbf units read a flat vector: insert `flatten` (or a global pooling "
                         "layer) before them. (`dense` on a volume is applied at every position, as "
                         "PyTorch's nn.Linear on the last axis.)"),
    "needs-volume": (ERROR, "a spatial layer received a flat vector or a token sequence",
                     "Convolutions and pooling need an [H, W, C] input."),
    "needs-tokens": (ERROR, "a token layer received a volume or a flat vector",
                     ("Attention and the token kinds (classtoken, posembed, taketoken, meantokens, "
                     "lmhead) act on a token sequence [T, D]. A volume becomes tokens with `patches` "
                     "(after the patch conv); token ids with `embedding`.")),
    "needs-embedding": (ERROR, "a layer received token ids",
                        ("`input: {tokens: T}` is T integer ids, not features: a token embedding "
                        "(`embedding: {vocab: V, dim: D}`) turns them into the token sequence [T, D] "
                        "the other kinds take.")),
    "needs-ids": (ERROR, "a token embedding received something other than token ids",
                  ("`embedding` looks up token ids, so it takes the spec's `input: {tokens: T}`; "
                  "features ([T, D], [N]) are already embedded.")),
    "bad-heads": (ERROR, "attention's heads do not fit",
                  ("Without `head_dim` the heads divide the features D (head size D/heads); "
                  "`kv_heads` divides `heads`, each key/value head serving a whole group of query "
                  "heads.")),
    "seq-too-long": (ERROR, "the sequence is longer than the positions learned",
                     ("A learned position embedding has one row per position; the token sequence "
                     "(`input: {tokens: T}` or --seq) must not be longer.")),
    "bad-reference": (ERROR, "a layer names another layer that does not fit",
                      ("A tied LM head (`lmhead: {tied: NAME}`) names an earlier token embedding of "
                      "the same vocabulary and width, whose table it reuses.")),
    "bad-config": (ERROR, "a Hugging Face config.json cannot be read as a network",
                   ("The config's `model_type` must be one archcalc builds (llama, mistral, qwen2, "
                    "gemma, phi3, mixtral, gpt2, gpt_neox, bert), and the fields that type needs "
                    "(hidden size, layers, heads, vocabulary, intermediate size, ...) must be there, "
                    "as positive integers; the message names the field.")),
    "merge-mismatch": (ERROR, "branches cannot be merged",
                       "`add` and `mul` need shapes that are equal or broadcast (per axis equal "
                       "sizes, or one of them 1, as PyTorch broadcasts); `concat` needs equal spatial sizes."),
    "split-mismatch": (ERROR, "a parallel's channel split does not fit its input",
                       "A branch's `channels: [start, stop]` must lie inside the input's channels, "
                       "`split` counts must add up to them (one count per branch), and `split: equal` "
                       "needs a channel count the number of branches divides."),
    "expect-mismatch": (ERROR, "a layer's output differs from its `expect`",
                        "The pinned shape and the computed one disagree: either the spec or the "
                        "expectation is wrong."),
    "total-mismatch": (ERROR, "a pinned total differs from the computed one",
                       "The top-level `expect` block pins totals; they disagree with the network."),
    "budget-exceeded": (ERROR, "a total exceeds its budget",
                        "`expect.max_params`/`max_macs` or `--max-params`/`--max-macs` bound a total."),
    "window-drops-input": (WARNING, "a window leaves real input rows or columns unseen",
                           "The window arithmetic does not divide exactly, so the last input rows or "
                           "columns are never covered by any window (frameworks floor this silently). "
                           "Change the input size or the padding; the hint gives exact values."),
    "excess-padding": (WARNING, "a window is padded by more than half its size",
                       "A side padded by more than half the (effective) window produces border outputs "
                       "computed mostly, or only, from padding. It is legal for conv but rarely meant; "
                       "PyTorch refuses it for pooling. Use at most half the window per side."),
    "empty-layers": (ERROR, "`layers` holds no layer",
                     "A network needs at least one layer; an empty `layers` is usually a mistake in "
                     "indentation."),
    "unused-block": (WARNING, "a block is declared but never used",
                     "Nothing calls this block (directly or through another used block); remove it "
                     "or call it."),
    "unused-ignore": (WARNING, "an `ignore` in the spec ignores nothing",
                      "The spec ignores a warning code (at its top level or on a layer) but no such "
                      "warning arises where the ignore applies: the problem it was written for is "
                      "gone, or the ignore is on the wrong layer. Remove or move it, so that ignores "
                      "stay narrow and true."),
    # --- imported models (ONNX graphs, Hugging Face configs) ------------------------------
    "unsupported-op": (ERROR, "an ONNX op archcalc cannot follow",
                       "Every op of the graph must map to a layer kind for the figures to be exact; "
                       "archcalc lists each unsupported op with its count and gives no figures "
                       "rather than partial ones. docs/import.md lists the ops it follows."),
    "unknown-opset": (ERROR, "an ONNX opset archcalc does not know",
                      "Operator semantics change between opsets; convert the model to a known opset."),
    "symbolic-input": (ERROR, "the model's input size is not fixed",
                       "A dimension other than the batch is symbolic; give the size with --input."),
    "folded-batchnorm": (WARNING, "the ONNX file's batch norms were folded into the layers before them",
                         "PyTorch's default exporter (dynamo) optimises the graph: each batch norm after "
                         "a convolution (or a transposed convolution, or a Gemm) is folded into it, its "
                         "weights rescaled and a bias added. The file holds the folded network, whose "
                         "figures archcalc gives; the warning names how many were folded and the "
                         "parameters and buffers before folding (2·C parameters, γ and β, and 2·C "
                         "running statistics per batch norm, less the C of a bias the fold added)."),
    "activation-after-softmax": (WARNING, "a layer follows softmax",
                                 "Softmax normally ends a classifier; a layer after it is usually a mistake."),
    # --- export ----------------------------------------------------------------------------
    "bad-onnx": (ERROR, "the ONNX model is malformed",
                 "No valid ONNX model holds this: a node without an output or without the inputs "
                 "its operator requires, an input that nothing defines, an attribute of the wrong "
                 "type, a cycle, or a weight whose shape contradicts the data it multiplies. The "
                 "location is the node's line in the listing of the graph."),
    "not-exportable": (ERROR, "a layer cannot be written exactly in PyTorch",
                       "`archcalc export` writes only what PyTorch computes exactly as the spec says; "
                       "it never approximates. The message says what has no PyTorch form (a kind, a "
                       "combination of fields, a layer name that every torch.nn.Module already "
                       "uses as an attribute, or a Python special name such as __init__)."),
}
