"""MaxViT's multi-axis attention on a channels-last volume [H, W, C] (Tu et al., ECCV 2022;
torchvision's maxvit_t): ``partitionattention``, self-attention with a learned relative
position bias inside partitions of size×size positions — the *window* partition (block
attention: contiguous size×size windows) or the *grid* partition (grid attention: a
size×size grid of positions spread evenly over the whole volume, H/size apart). Both
attend over N = size² positions per partition, so their counts are the same; only the
positions grouped together differ. Heads of ``head_dim`` features (C/head_dim heads).

params  C·3C + 3C (to_qkv) + C·C + C (merge) + (2·size − 1)²·heads (the bias table)
buffers size⁴ (the relative position index, N×N)
MACs    H·W·4·C² + 2·H·W·N·C: the projections, then QKᵀ and attention·V over each
        partition's full square

The layer norms, the MLP and the residual connections of torchvision's
PartitionAttentionLayer act per position, so they are layers of their own around it (the
partition does not change them); H and W must be multiples of ``size``, as torchvision
requires.
"""
from __future__ import annotations

from .base import (
    AMP_DEVICES,
    POSITIVE_INT,
    Counted,
    LayerKind,
    NotRead,
    Onnx,
    RuleError,
    Torch,
    choice,
    field_,
    require_volume,
)
from .swin import RELATIVE_INDEX


def _heads(inp, f) -> int:
    return inp[2] // f["head_dim"]


def _shape(inp, f):
    require_volume(inp, "partitionattention")
    if inp[2] % f["head_dim"]:
        raise RuleError("bad-heads", f"heads of {f['head_dim']} features do not divide the {inp[2]} channels",
                        field="head_dim", hint="choose head_dim dividing C (MaxViT: 32)")
    s = f["size"]
    if inp[0] % s or inp[1] % s:
        raise RuleError("bad-value", f"the {inp[0]}×{inp[1]} volume does not divide into {s}×{s} partitions",
                        field="size", hint=f"an input whose H and W here are multiples of {s} (MaxViT: "
                                           "224×224 gives 56, 28, 14 and 7 for partitions of 7)")
    return inp


def _params(inp, out, f):
    c, s = inp[2], f["size"]
    return 4 * c * c + 4 * c + (2 * s - 1) ** 2 * _heads(inp, f)


def _macs(inp, out, f):
    c, n = inp[2], f["size"] ** 2
    t = inp[0] * inp[1]
    return t * 4 * c * c + 2 * t * n * c


def _explain(layer):
    inp, f = layer.input, layer.fields
    c, s, h = inp[2], f["size"], _heads(inp, f)
    t = inp[0] * inp[1]
    what = (f"{t // (s * s)} windows of {s}×{s} contiguous positions" if f["partition"] == "window" else
            f"{t // (s * s)} grids of {s}×{s} positions, {inp[0] // s} apart")
    return {"partitions": f"{what} = {s * s} tokens each, {h} heads of {f['head_dim']}",
            "params": (f"{c}·3·{c} + 3·{c} + {c}·{c} + {c} + (2·{s} − 1)²·{h}",
                       "to_qkv, merge, relative position bias table"),
            "buffers": (f"{s}⁴", "the relative position index"),
            "MACs": (f"{t}·4·{c}² + 2·{t}·{s * s}·{c}", "projections, then QKᵀ and attention·V in every partition")}


_PARTITION = '''class PartitionAttention(nn.Module):
    """MaxViT's relative positional multi-head attention inside partitions (torchvision's
    names: to_qkv, merge, relative_position_bias_table, relative_position_index) on an
    (N, C, H, W) tensor: size x size windows, or with ``grid`` a size x size grid of positions
    H/size apart; the keys scaled by C ** -0.5, as torchvision's."""

    def __init__(self, dim, head_dim, size, grid=False):
        super().__init__()
        self.heads, self.head_dim, self.size, self.grid = dim // head_dim, head_dim, size, grid
        self.scale = dim ** -0.5
        self.to_qkv = nn.Linear(dim, dim * 3)
        self.merge = nn.Linear(dim, dim)
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * size - 1) ** 2, self.heads))
        self.register_buffer("relative_position_index", relative_position_index(size))

    def forward(self, x):
        b, c, h, w = x.shape
        s = self.size
        if self.grid:  # (b, c, s, h/s, s, w/s): a partition is one (h/s, w/s) offset
            x = x.reshape(b, c, s, h // s, s, w // s).permute(0, 3, 5, 2, 4, 1)
        else:  # (b, c, h/s, s, w/s, s): a partition is one window
            x = x.reshape(b, c, h // s, s, w // s, s).permute(0, 2, 4, 3, 5, 1)
        x = x.reshape(b, -1, s * s, c)
        g = x.shape[1]
        qkv = self.to_qkv(x).reshape(b, g, s * s, 3, self.heads, self.head_dim).permute(3, 0, 1, 4, 2, 5)
        # q and v made contiguous here, so the products read copies whatever the batch and the
        # number of partitions (PyTorch would otherwise read a view of qkv when b * g == 1)
        q, k, v = qkv[0].contiguous(), qkv[1] * self.scale, qkv[2].contiguous()
        attn = q.matmul(k.transpose(-2, -1))
        bias = self.relative_position_bias_table[self.relative_position_index.view(-1)]
        attn = attn + bias.view(s * s, s * s, -1).permute(2, 0, 1).unsqueeze(0)
        x = attn.softmax(dim=-1).matmul(v).permute(0, 1, 3, 2, 4).reshape(b, g, s * s, c)
        x = self.merge(x).reshape(b, h // s, w // s, s, s, c)
        if self.grid:
            return x.permute(0, 5, 3, 1, 4, 2).reshape(b, c, h, w)
        return x.permute(0, 5, 1, 3, 2, 4).reshape(b, c, h, w)
'''


def _export(inp, out, f):
    grid = ", grid=True" if f["partition"] == "grid" else ""
    return Torch(f"PartitionAttention({inp[2]}, {f['head_dim']}, {f['size']}{grid})",
                 helpers={"PartitionAttention": _PARTITION, **RELATIVE_INDEX})


def _saves(inp, out, f):
    """What the exported attention saves for backward (PyTorch's math path), measured on the
    exported module: the partitioned copy of its input that to_qkv reads (T·C), q and v made
    contiguous and the scaled keys, which the batched products read (3·T·C; the projection
    they are taken from is not kept itself), the probabilities (heads·T·N) and the heads'
    output gathered back for merge (T·C): 5·T·C + heads·T·N values; not the layer's input.
    Under autocast the scores plus the fp32 relative position bias are fp32 (type
    promotion), so are the probabilities, and the product with v saves its own 16-bit copy
    of them (as Swin's window attention)."""
    t, c = inp[0] * inp[1], inp[2]
    probabilities = _heads(inp, f) * t * f["size"] ** 2
    return (("new", 5 * t * c), ("noamp", probabilities), ("amp", probabilities, AMP_DEVICES),
            ("amp", probabilities))


def _biases(inp, f) -> int:
    return inp[0] * inp[1] * 4 * inp[2]


# the Transpose after the first Reshape, (b, c, ·, ·, ·, ·) to the partitions: which it is
_PERMS = {(0, 2, 4, 3, 5, 1): "window", (0, 3, 5, 2, 4, 1): "grid"}


def _from_onnx(node):
    """The exported PartitionAttention, read as its last node, the Reshape back to the
    (N, C, H, W) volume it reads: a Reshape to (N, C, ·, ·, ·, ·) and a Transpose that groups
    the partitions (perm [0, 2, 4, 3, 5, 1]: windows; [0, 3, 5, 2, 4, 1]: a grid), one packed
    to_qkv projection (C → 3C) and one merge projection (C → C) with their biases, exactly two
    products of activations around one Softmax over (N, partitions, h, n, n) scores (the heads;
    the size √n), the relative position bias added (its table gathered, or folded into a
    constant by the dynamo exporter), then the partitions put back."""
    ops = node.ops_in_order()
    if node.op != "Reshape" or ops.count("Softmax") != 1 or ops[0] != "Reshape":
        raise NotRead("not a partition attention")
    x, out = node.dims(node.reads), node.dims(node.node.output[0])
    if x is None or out is None or len(x) != 4 or None in x[1:] or tuple(out[1:]) != tuple(x[1:]):
        raise NotRead("not the (N, C, H, W) volume in and out")
    c = x[1]
    (softmax,) = node.views_between("Softmax")
    scores = node.dims(softmax.inputs[0])
    if scores is None or len(scores) != 5 or scores[3] != scores[4] or None in scores[2:]:
        raise NotRead("no (N, partitions, h, n, n) scores")
    h, n = scores[2], scores[4]
    size = round(n ** 0.5)
    if size * size != n or c % h or x[2] % size or x[3] % size:
        raise NotRead("partitions that are not squares dividing the volume")
    transposes = node.views_between("Transpose")
    partition = _PERMS.get(tuple(transposes[0].attrs.get("perm", []))) if transposes else None
    if partition is None:
        raise NotRead("not the partitions' Transpose")
    learned = node.learned_between()
    weights = sorted(tuple(sorted(shape)) for _, shape, op in learned if len(shape) == 2 and op in ("MatMul", "Gemm"))
    if weights != sorted([(c, 3 * c), (c, c)]) or ops.count("MatMul") + ops.count("Gemm") != 4:
        raise NotRead("not one to_qkv and one merge projection and two products of activations")
    soft = ops.index("Softmax")
    biases = sorted((at < soft, shape[0]) for at, shape, op in learned if len(shape) == 1)
    if biases != [(False, c), (True, 3 * c)]:
        raise NotRead("not the projections' biases")
    fields = {"partition": partition}
    if size != 7:
        fields["size"] = size
    if c // h != 32:
        fields["head_dim"] = c // h
    return fields


PARTITIONATTENTION = LayerKind(
    name="partitionattention",
    autocast="low",
    doc="MaxViT's block or grid attention on [H, W, C], shape unchanged: attention with a "
        "relative position bias inside size×size partitions — contiguous windows, or a grid of "
        "positions spread over the whole volume.",
    primary="partition",
    fields={
        "partition": field_(choice("window", "grid"), "window",
                            doc="`window`: contiguous size×size windows (block attention); `grid`: a "
                                "size×size grid of positions H/size apart (grid attention)"),
        "size": field_(POSITIVE_INT, 7, doc="the partition's side, in positions; divides H and W"),
        "head_dim": field_(POSITIVE_INT, 32, doc="features per head; divides C (heads = C/head_dim)"),
    },
    shape=_shape,
    params=_params,
    buffers=lambda inp, out, f: f["size"] ** 4,
    macs=_macs,
    describe=lambda f: f"{f['partition']} {f['size']}×{f['size']}, heads of {f['head_dim']}",
    # the picture's arrow: the partition and how many heads the input's channels make
    label=lambda inp, f: f"{f['partition']} {f['size']}×{f['size']}, {_heads(inp, f)} heads",
    explain=_explain,
    weighted=True,
    group="attention",
    export=_export,
    saves=_saves,
    casts=lambda inp, out, f: 4 * inp[2] * inp[2],  # to_qkv's and merge's weights; not the bias table
    onnx=(Onnx(("Reshape",), _from_onnx, pattern=True),),
    count_as={
        # to_qkv and merge are nn.Linear with bias; the scores are Tensor.matmul
        "ptflops": Counted(lambda inp, out, f: _macs(inp, out, f) + _biases(inp, f),
                           "MACs + the to_qkv and merge biases, 4·C per position (nn.Linear hooks); "
                           "the scores are Tensor.matmul, which ptflops patches"),
        "ptflops-aten": Counted(lambda inp, out, f: _macs(inp, out, f) + _biases(inp, f),
                                "MACs + the to_qkv and merge biases, 4·C per position (aten.addmm)"),
        "thop": Counted(lambda inp, out, f: inp[0] * inp[1] * 4 * inp[2] * inp[2],
                        "the to_qkv and merge nn.Linear only; the scores (Tensor.matmul) are not seen"),
    },
)

KINDS = [PARTITIONATTENTION]
