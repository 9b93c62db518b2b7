"""The token kinds: from an image or from token ids to a token sequence [T, D], and back out.

* ``embedding`` — the token embedding: T token ids (``input: {tokens: T}``) -> [T, dim];
  vocab·dim parameters (a table lookup: no MACs).
* ``patches`` — a volume's positions as tokens: [H, W, C] -> [H·W, C] (ViT, after the patch
  conv); nothing learned.
* ``classtoken`` — a learned token put first: [T, D] -> [T + 1, D]; D parameters.
* ``posembed`` — a learned position embedding added to every token: positions·D parameters
  (positions defaults to T; GPT-2 and BERT learn more positions than a short input uses).
* ``typeembed`` — BERT's token-type embedding: types·D parameters, type 0's row added.
* ``taketoken`` — one token as a vector: [T, D] -> [D] (the class token for ViT's head and
  BERT's pooler); ``meantokens`` — the mean over the tokens: [T, D] -> [D].
* ``lmhead`` — the language-model head, a bias-free projection of every token onto the
  vocabulary: [T, D] -> [T, vocab], T·D·vocab MACs; with ``tied: NAME`` it reuses the token
  embedding NAME's table, so its vocab·D parameters are counted once, there.
"""
from __future__ import annotations

from .base import (
    BOOL,
    Counted,
    NONNEG_INT,
    POSITIVE_INT,
    FieldType,
    LayerKind,
    NotRead,
    Onnx,
    RuleError,
    Torch,
    field_,
    fmt_shape,
)


def need_tokens(inp, kind: str):
    if len(inp) != 2:
        what = f"the volume {fmt_shape(inp)}" if len(inp) == 3 else f"the flat vector [{inp[0]}]"
        raise RuleError("needs-tokens", f"{kind} needs a token sequence [T, D], but receives {what}",
                        hint="a volume becomes tokens with `- patches`; token ids with `- embedding`")


def _name(v):
    from .base import FieldError

    if not isinstance(v, str) or not v:
        raise FieldError("the name of an earlier layer (a token embedding)", v)
    return v


LAYER_NAME = FieldType("layer name", _name, {"type": "string"})


# ------------------------------------------------------------------------- token embedding
def _embedding_export(inp, out, f):
    return Torch(f"nn.Embedding({f['vocab']}, {f['dim']})")


def _embedding_from_onnx(node):
    """nn.Embedding as exported: a Gather along axis 0 of a learned (vocab, dim) table at the
    token ids (the data)."""
    table = node.learned(0)
    if node.attrs.get("axis", 0) != 0 or table is None or len(table) != 2 or not node.has(1) \
            or node.weight(1) is not None:
        raise NotRead("not a table looked up at the data")
    return {"vocab": int(table[0]), "dim": int(table[1])}


EMBEDDING = LayerKind(
    name="embedding",
    autocast="widen",
    aliases=("embedding",),
    doc="Token embedding: the T token ids of `input: {tokens: T}` -> [T, dim]; a table of "
        "vocab·dim parameters, looked up (no MACs).",
    fields={
        "vocab": field_(POSITIVE_INT, doc="vocabulary size (rows of the table)"),
        "dim": field_(POSITIVE_INT, doc="features per token, D"),
    },
    shape=lambda inp, f: (inp[0], f["dim"]),
    params=lambda inp, out, f: f["vocab"] * f["dim"],
    describe=lambda f: f"{f['vocab']:,}×{f['dim']}",
    explain=lambda layer: {"params": f"{layer.fields['vocab']:,}·{layer.fields['dim']}",
                           "MACs": ("0", "a table lookup multiplies nothing")},
    takes_ids=True,
    group="embedding",
    export=_embedding_export,
    saves=(),  # a lookup: its backward needs only the ids (the network input)
    onnx=(Onnx(("Gather",), _embedding_from_onnx),),
)


# ------------------------------------------------------------------------- patches to tokens
_TOKENS = '''class ToTokens(nn.Module):
    """(N, C, H, W) -> (N, H*W, C): every position of the volume a token, row by row."""

    def forward(self, x):
        return x.flatten(2).transpose(1, 2)
'''


def _patches_shape(inp, f):
    if len(inp) != 3:
        raise RuleError("needs-volume", f"patches needs an [H, W, C] volume, but receives "
                        f"{fmt_shape(inp)}", hint="patches turns the patch conv's output grid into tokens")
    return (inp[0] * inp[1], inp[2])


def _patches_from_onnx(node):
    """x.flatten(2).transpose(1, 2) as PyTorch exports it: a Reshape of the (N, C, H, W)
    volume to (N, C, H·W) — its target a constant, or computed from the volume's Shape — then
    a Transpose to (N, H·W, C)."""
    if list(node.attrs.get("perm", [])) != [0, 2, 1] or node.between["Reshape"] != 1 \
            or set(node.between) - {"Reshape", "Shape", "Slice", "Concat", "Gather", "Unsqueeze"}:
        raise NotRead("not a volume's positions as tokens")
    (reshape,) = node.views_between("Reshape")
    volume, flat = node.shape(reshape.inputs[0]), node.shape(reshape.node.output[0])
    if reshape.inputs[0] != node.reads or volume is None or flat is None or len(volume) != 4 \
            or tuple(flat) != (volume[0], volume[1], volume[2] * volume[3]):
        raise NotRead("not a volume's positions as tokens")
    return {}


PATCHES = LayerKind(
    name="patches",
    doc="Patches to tokens: [H, W, C] -> [H·W, C], each position of the (patch conv's) grid a "
        "token, row by row; nothing learned.",
    shape=_patches_shape,
    # the picture's arrow: the grid of patches it reads, and how many tokens that makes
    # (`patches 14×14 → 196`); the patch size is on the patch conv's arrow before it
    label=lambda inp, f: f"patches {inp[0]}×{inp[1]} → {inp[0] * inp[1]}",
    export=lambda inp, out, f: Torch("ToTokens()", helpers={"ToTokens": _TOKENS}),
    saves=("view",),  # flatten and transpose: a view of the volume
    onnx=(Onnx(("Transpose",), _patches_from_onnx, pattern=True, layout="tokens"),),
)


# ------------------------------------------------------------------------- class token
def _classtoken_shape(inp, f):
    need_tokens(inp, "classtoken")
    return (inp[0] + 1, inp[1])


def _classtoken_from_onnx(node):
    """A Concat along the tokens of a learned (1, 1, D) token (expanded to the batch) and the
    sequence, the token first."""
    i = node.constant_operand()
    shape = node.learned(i) if i is not None else None
    if i != 0 or shape is None or len(shape) != 3 or tuple(shape[:2]) != (1, 1) \
            or node.attrs.get("axis") not in (1, -2) or node.layout != "tokens":
        raise NotRead("not a learned token put first")
    node.expect("features", int(shape[2]))
    return {}


CLASSTOKEN = LayerKind(
    name="classtoken",
    autocast="widen",
    doc="A learned class token put before the tokens: [T, D] -> [T + 1, D]; D parameters.",
    shape=_classtoken_shape,
    params=lambda inp, out, f: inp[1],
    explain=lambda layer: {"params": ("1·" + str(layer.input[1]), "one learned token")},
    export=lambda inp, out, f: Torch(
        f"nn.Parameter(torch.zeros(1, 1, {inp[1]}))", parameter=True,
        call="torch.cat([{m}.expand({x}.shape[0], -1, -1), {x}], dim=1)"),
    onnx=(Onnx(("Concat",), _classtoken_from_onnx),),
)


# ------------------------------------------------------------------------- position embedding
def _positions(inp, f):
    return f["positions"] if f["positions"] is not None else inp[0]


def _posembed_shape(inp, f):
    need_tokens(inp, "posembed")
    if f["positions"] is not None and inp[0] > f["positions"]:
        raise RuleError("seq-too-long", f"posembed learns {f['positions']:,} positions, but the sequence "
                        f"has {inp[0]:,} tokens", field="positions",
                        hint=f"use at most {f['positions']:,} tokens (--seq), or learn more positions")
    return inp


def _posembed_export(inp, out, f):
    p = _positions(inp, f)
    used = "{m}" if f["positions"] is None or int(p) == int(inp[0]) else f"{{m}}[:, :{inp[0]}]"
    return Torch(f"nn.Parameter(torch.zeros(1, {p}, {inp[1]}))", parameter=True, call=f"{{x}} + {used}")


def _posembed_from_onnx(node):
    """An Add of a learned (1, T, D) table to the sequence, or of the first T rows of a
    longer (1, positions, D) table (a Slice of it: GPT-2 and BERT learn more positions)."""
    i = node.constant_operand()
    shape, part = node.table(i) if i is not None else (None, None)
    if shape is None or part not in (None, "Slice") or len(shape) not in (2, 3) \
            or (len(shape) == 3 and shape[0] != 1) or node.layout != "tokens":
        raise NotRead("not a learned table added to a sequence")
    node.expect("features", int(shape[-1]))
    return {} if part is None else {"positions": int(shape[-2])}


POSEMBED = LayerKind(
    name="posembed",
    autocast="widen",
    doc="Learned position embedding, added to every token: [T, D] unchanged; positions·D "
        "parameters (positions defaults to T).",
    fields={"positions": field_(POSITIVE_INT, None, doc="positions learned (default: T, the tokens "
                                                        "it receives); at least T")},
    shape=_posembed_shape,
    params=lambda inp, out, f: _positions(inp, f) * inp[1],
    describe=lambda f: f"{f['positions']:,} positions" if f["positions"] is not None else "",
    explain=lambda layer: {"params": f"{_positions(layer.input, layer.fields):,}·{layer.input[1]}"},
    group="embedding",
    export=_posembed_export,
    saves=(),  # adds a parameter: nothing
    onnx=(Onnx(("Add",), _posembed_from_onnx),),
)


# ------------------------------------------------------------------------- token types
def _typeembed_shape(inp, f):
    need_tokens(inp, "typeembed")
    return inp


def _typeembed_from_onnx(node):
    """An Add of rows of a learned (types, D) table, looked up at constant indices (type 0
    for every token), to the sequence."""
    i = node.constant_operand()
    shape, part = node.table(i) if i is not None else (None, None)
    if part != "Gather" or len(shape) != 2 or node.layout != "tokens":
        raise NotRead("not a token type's row added to a sequence")
    node.expect("features", int(shape[1]))
    return {"types": int(shape[0])}


TYPEEMBED = LayerKind(
    name="typeembed",
    autocast="widen",
    doc="Token-type (segment) embedding, BERT's: a learned row per type added to every token "
        "(a single-segment input: type 0), [T, D] unchanged; types·D parameters.",
    primary="types",
    fields={"types": field_(POSITIVE_INT, 2, doc="token types learned (BERT: 2)")},
    shape=_typeembed_shape,
    params=lambda inp, out, f: f["types"] * inp[1],
    describe=lambda f: f"{f['types']} types",
    explain=lambda layer: {"params": f"{layer.fields['types']}·{layer.input[1]}"},
    group="embedding",
    export=lambda inp, out, f: Torch(f"nn.Embedding({f['types']}, {inp[1]})",
                                     call="{x} + {m}(torch.zeros_like({x}[..., 0], dtype=torch.long))"),
    # the lookup saves the ids it makes, one int64 per token (all type 0)
    saves=lambda inp, out, f: (("int64", inp[0]),),
    onnx=(Onnx(("Add",), _typeembed_from_onnx),),
)


# ------------------------------------------------------------------------- pooling the tokens
_TAKE = '''class TakeToken(nn.Module):
    """(N, T, D) -> (N, D): the token at ``index`` (the class token for a classifier)."""

    def __init__(self, index=0):
        super().__init__()
        self.index = index

    def forward(self, x):
        return x[:, self.index]
'''

_MEAN = '''class MeanTokens(nn.Module):
    """(N, T, D) -> (N, D): the mean over the tokens."""

    def forward(self, x):
        return x.mean(dim=1)
'''


def _take_shape(inp, f):
    need_tokens(inp, "taketoken")
    if f["index"] >= inp[0]:
        raise RuleError("bad-value", f"taketoken takes token {f['index']}, but the sequence has "
                        f"{inp[0]} tokens (0 to {inp[0] - 1})", field="index",
                        hint="index 0 is the class token `classtoken` puts first")
    return (inp[1],)


def _mean_shape(inp, f):
    need_tokens(inp, "meantokens")
    return (inp[1],)


def _take_from_onnx(node):
    """x[:, index]: a Gather along the tokens of one constant index."""
    index = node.value(1)
    if node.attrs.get("axis", 0) != 1 or not isinstance(index, int) or index < 0 or node.layout != "tokens":
        raise NotRead("not one token of a sequence")
    return {"index": index}


TAKETOKEN = LayerKind(
    name="taketoken",
    doc="One token as a vector: [T, D] -> [D] (`index`, 0 = the class token).",
    primary="index",
    fields={"index": field_(NONNEG_INT, 0, doc="which token, from 0")},
    shape=_take_shape,
    describe=lambda f: f"token {f['index']}",
    export=lambda inp, out, f: Torch(f"TakeToken({f['index']})" if f["index"] else "TakeToken()",
                                     helpers={"TakeToken": _TAKE}),
    saves=("view",),  # x[:, index]: a view of the sequence, its storage the whole of it
    onnx=(Onnx(("Gather",), _take_from_onnx),),
)

MEANTOKENS = LayerKind(
    name="meantokens",
    doc="The mean over the tokens: [T, D] -> [D]; no parameters, no MACs.",
    shape=_mean_shape,
    export=lambda inp, out, f: Torch("MeanTokens()", helpers={"MeanTokens": _MEAN}),
)


# ------------------------------------------------------------------------- language-model head
_TIED = '''class TiedHead(nn.Module):
    """A bias-free projection onto the vocabulary with the token embedding's own table: the
    weight is the embedding's (kept outside this module's parameters, so it counts once)."""

    def __init__(self, embedding):
        super().__init__()
        self.embedding = (embedding,)  # a tuple: not registered as a submodule

    def forward(self, x):
        return F.linear(x, self.embedding[0].weight)
'''


def _lmhead_shape(inp, f):
    need_tokens(inp, "lmhead")
    return (inp[0], f["vocab"])


def _lmhead_export(inp, out, f):
    if f["tied"] is not None:
        return Torch("TiedHead({tied})", helpers={"TiedHead": _TIED}, tied=f["tied"])
    return Torch(f"nn.Linear({inp[1]}, {f['vocab']}, bias={f['bias']})")


def _lmhead_check(layer, other):
    if other.kind != "embedding":
        return ("bad-reference", (f"`tied: {layer.fields['tied']}` names a {other.kind} layer, not a "
                "token embedding"), "tie the head to the `embedding` layer whose table it reuses")
    want = (other.fields["vocab"], other.fields["dim"])
    have = (layer.fields["vocab"], layer.input[1])
    if want != have:
        return ("bad-reference", (f"the tied head projects {have[1]} features onto {have[0]:,} tokens, but "
                f"the embedding {other.name!r} is {want[0]:,}×{want[1]}"),
                "a tied head has the embedding's vocabulary and width")
    if layer.fields["bias"]:
        return ("bad-reference", ("a tied head has no bias of its own in archcalc (GPT-2, Llama and "
                "Qwen have none)"), "write `bias: false`")
    return None


def _lmhead_from_onnx(node):
    """A product of the sequence by the (dim, vocab) view of a table an earlier layer (the
    token embedding) reads, or by a transposed copy of it (the dynamo exporter's: equal
    values in an initializer of its own): a head tied to it."""
    table, owner = node.weight(1), node.shared(1)
    if owner is None or table is None or len(table) != 2 or node.layout != "tokens":
        raise NotRead("not a head on an earlier layer's table")
    return {"vocab": int(table[1]), "tied": owner}


LMHEAD = LayerKind(
    name="lmhead",
    autocast="low",
    doc="Language-model head: every token projected onto the vocabulary, [T, D] -> [T, vocab], "
        "T·D·vocab MACs; `tied: NAME` reuses the token embedding NAME's table (its parameters "
        "counted once, there).",
    primary="vocab",
    fields={
        "vocab": field_(POSITIVE_INT, doc="vocabulary size"),
        "tied": field_(LAYER_NAME, None, doc="the token embedding whose table it shares (no parameters "
                                             "of its own)"),
        "bias": field_(BOOL, False, doc="a bias per vocabulary entry (untied heads only)"),
    },
    shape=_lmhead_shape,
    params=lambda inp, out, f: 0 if f["tied"] is not None else
    inp[1] * f["vocab"] + (f["vocab"] if f["bias"] else 0),
    macs=lambda inp, out, f: inp[0] * inp[1] * f["vocab"],
    describe=lambda f: f"{f['vocab']:,} tokens" + (f", tied to {f['tied']}" if f["tied"] else ""),
    explain=lambda layer: {
        **({"params": ("0", f"tied: the table of {layer.fields['tied']} is counted there")}
           if layer.fields["tied"] else {}),
        "MACs": (f"{layer.input[0]}·{layer.input[1]}·{layer.fields['vocab']:,}",
                 "every position projected, as a forward pass over T tokens does")},
    reference="tied",
    check_reference=_lmhead_check,
    weighted=True,
    group="dense",
    # F.linear with the head's table, tied or not: its 16-bit copy is saved
    casts=lambda inp, out, f: inp[1] * f["vocab"],
    input_casts=lambda inp, out, f: inp[1] * f["vocab"],
    export=_lmhead_export,
    onnx=(Onnx(("MatMul",), _lmhead_from_onnx),),
    count_as={
        # tied: TiedHead calls F.linear with the embedding's table; module hooks see nothing
        "ptflops": Counted(lambda inp, out, f: 0 if f["tied"] is not None else
                           inp[0] * inp[1] * f["vocab"] + (inp[0] * f["vocab"] if f["bias"] else 0),
                           "nn.Linear: (D + 1 with a bias)·vocab per token; a tied head (F.linear in "
                           "TiedHead) is not seen: 0"),
        "ptflops-aten": Counted(lambda inp, out, f: inp[0] * inp[1] * f["vocab"]
                                + (inp[0] * f["vocab"] if f["bias"] and f["tied"] is None else 0),
                                "MACs + 1 per output value with a bias"),
        "thop": Counted(lambda inp, out, f: 0 if f["tied"] is not None else inp[0] * inp[1] * f["vocab"],
                        "nn.Linear: D·vocab per token; a tied head is no module thop knows: 0"),
    },
)

KINDS = [EMBEDDING, PATCHES, CLASSTOKEN, POSEMBED, TYPEEMBED, TAKETOKEN, MEANTOKENS, LMHEAD]
