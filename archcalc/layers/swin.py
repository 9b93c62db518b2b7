"""The Swin Transformer's kinds, on a channels-last volume [H, W, C] (Liu et al., ICCV 2021;
torchvision's swin_t/s/b).

* ``windowattention`` — self-attention inside non-overlapping window×window windows (shifted
  by ``shift`` with a cyclic roll in alternate blocks), with a learned relative position bias
  per head. The volume is padded to whole windows first, as torchvision does; N = window².
  params  C·3C + 3C (qkv) + C·C + C (proj) + (2·window − 1)²·heads (the bias table)
  buffers window⁴ (the relative position index)
  MACs    Tp·C·3C + Tp·C·C + 2·Tp·N·C, Tp = the padded H·W (every token attends to the N of
          its window: QKᵀ and attention·V over each window's full square)
* ``windowattentionv2`` — Swin V2's window attention (Liu et al., CVPR 2022; torchvision's
  ShiftedWindowAttentionV2): the same windows, but scaled cosine attention (q and k normalised,
  the scores multiplied by a learned logit scale per head, clamped at ln 100) and a continuous
  relative position bias: a 2-layer MLP (``cpb_hidden`` units, ReLU, no bias on its output)
  maps the (2·window − 1)² log-spaced relative coordinates to a bias per head, 16·sigmoid'ed.
  The k part of the qkv bias is zeroed at every call (a parameter all the same).
  params  C·3C + 3C + C·C + C (qkv, proj) + heads (logit scale)
          + 2·hidden + hidden (the MLP's first layer) + hidden·heads (its second)
  buffers window⁴ (the index) + (2·window − 1)²·2 (the coordinates table)
  MACs    Tp·4·C² + 2·Tp·N·C as windowattention, + (2·window − 1)²·(2·hidden + hidden·heads):
          the MLP runs once per call on the whole table (PyTorch counts its two matmuls)
* ``patchmerge`` — Swin's patch merging without its norm and linear: each 2×2 neighbourhood
  concatenated, [H, W, C] -> [⌈H/2⌉, ⌈W/2⌉, 4C] (odd sizes padded); nothing learned.
"""
from __future__ import annotations

from .base import (
    AMP_DEVICES,
    NONNEG_INT,
    POSITIVE_INT,
    Counted,
    LayerKind,
    NotRead,
    Onnx,
    RuleError,
    Torch,
    field_,
    require_volume,
)


def _padded(inp, f) -> int:
    w = f["window"]
    h, wd = -(-inp[0] // w) * w, -(-inp[1] // w) * w
    return h * wd

def _wa_shape(inp, f, kind="windowattention"):
    require_volume(inp, kind)
    if inp[2] % f["heads"]:
        raise RuleError("bad-heads", f"{f['heads']} heads do not divide the {inp[2]} channels", field="heads",
                        hint="choose heads dividing C")
    if f["shift"] >= f["window"]:
        raise RuleError("bad-value", f"the shift {f['shift']} is not smaller than the window {f['window']}",
                        field="shift", hint="Swin shifts by window // 2 in alternate blocks")
    return inp

def _wa_params(inp, out, f):
    c, w = inp[2], f["window"]
    return c * 3 * c + 3 * c + c * c + c + (2 * w - 1) ** 2 * f["heads"]

def _wa_macs(inp, out, f):
    c, n = inp[2], f["window"] ** 2
    tp = _padded(inp, f)
    return tp * 4 * c * c + 2 * tp * n * c

def _wa_explain(layer):
    inp, f = layer.input, layer.fields
    c, w, h = inp[2], f["window"], f["heads"]
    tp = _padded(inp, f)
    pad = "" if tp == inp[0] * inp[1] else f" (padded to whole windows: {tp:,} positions)"
    return {"windows": f"{tp // (w * w)} windows of {w}×{w} = {w * w} tokens, {h} heads{pad}",
            "params": (f"{c}·3·{c} + 3·{c} + {c}·{c} + {c} + (2·{w} − 1)²·{h}", "qkv, proj, relative position bias table"),
            "buffers": (f"{w}⁴", "the relative position index"),
            "MACs": (f"{tp}·4·{c}² + 2·{tp}·{w * w}·{c}", "projections, then QKᵀ and attention·V in every window")}

# torchvision's relative position index of a size × size window (Swin v1 and v2, MaxViT): the
# offset (dy, dx) of every pair of positions as one index into the (2·size − 1)² bias table
_RELATIVE_INDEX = '''def relative_position_index(size):
    """[size², size²]: the relative position of every pair of a window's positions as one index
    into a (2·size − 1)² table, as torchvision computes it."""
    coords = torch.flatten(torch.stack(torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")), 1)
    relative = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0).contiguous()
    relative[:, :, 0] += size - 1
    relative[:, :, 1] += size - 1
    relative[:, :, 0] *= 2 * size - 1
    return relative.sum(-1)
'''
RELATIVE_INDEX = {"relative_position_index": _RELATIVE_INDEX}


_SWIN = '''class ShiftedWindowAttention(nn.Module):
    """Swin's window attention (torchvision's names: qkv, proj, relative_position_bias_table,
    relative_position_index) on an (N, C, H, W) tensor: padded to whole windows, rolled by
    ``shift``, attention inside each window with the relative position bias, rolled back."""

    def __init__(self, dim, heads, window, shift=0):
        super().__init__()
        self.heads, self.window, self.shift = heads, window, shift
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * window - 1) ** 2, heads))
        self.register_buffer("relative_position_index", relative_position_index(window).flatten())

    def forward(self, x):
        x = x.permute(0, 2, 3, 1)
        b, h, w, c = x.shape
        s = self.window
        x = F.pad(x, (0, 0, 0, (s - w % s) % s, 0, (s - h % s) % s))
        ph, pw = x.shape[1], x.shape[2]
        shift = 0 if s >= ph and s >= pw else self.shift
        if shift:
            x = torch.roll(x, shifts=(-shift, -shift), dims=(1, 2))
        x = x.view(b, ph // s, s, pw // s, s, c).permute(0, 1, 3, 2, 4, 5).reshape(-1, s * s, c)
        qkv = self.qkv(x).reshape(x.size(0), s * s, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0] * (c // self.heads) ** -0.5, qkv[1], qkv[2]
        attn = q.matmul(k.transpose(-2, -1).contiguous())
        bias = self.relative_position_bias_table[self.relative_position_index]
        attn = attn + bias.view(s * s, s * s, -1).permute(2, 0, 1).unsqueeze(0)
        if shift:
            mask = x.new_zeros((ph, pw))
            edges = ((0, -s), (-s, -shift), (-shift, None))
            count = 0
            for hs in edges:
                for ws in edges:
                    mask[hs[0]:hs[1], ws[0]:ws[1]] = count
                    count += 1
            mask = mask.view(ph // s, s, pw // s, s).permute(0, 2, 1, 3).reshape(-1, s * s)
            mask = (mask.unsqueeze(1) - mask.unsqueeze(2)) != 0
            attn = attn.view(b, -1, self.heads, s * s, s * s)
            attn = attn.masked_fill(mask.unsqueeze(1).unsqueeze(0), -100.0).view(-1, self.heads, s * s, s * s)
        x = attn.softmax(dim=-1).matmul(v.contiguous()).transpose(1, 2).reshape(x.size(0), s * s, c)
        x = self.proj(x)
        x = x.view(b, ph // s, pw // s, s, s, c).permute(0, 1, 3, 2, 4, 5).reshape(b, ph, pw, c)
        if shift:
            x = torch.roll(x, shifts=(shift, shift), dims=(1, 2))
        return x[:, :h, :w, :].permute(0, 3, 1, 2).contiguous()
'''

def _wa_saves(inp, out, f):
    """What the exported window attention saves for backward, P the padded positions, N =
    window²: the windowed tokens the qkv projection reads (F.pad copies even when it pads
    nothing), the scaled q, kᵀ and v made contiguous (as the matmuls read them at any batch),
    the probabilities (h·N per position) and the heads' output the proj projection reads —
    5·P·C + h·P·N; with an active shift, the bool mask of which window pairs may attend,
    (P/N)·N·N bytes broadcast over the batch (not per sample). Under autocast the scores
    plus the fp32 relative position bias are fp32 (type promotion), so are the probabilities,
    and the product with v saves its own 16-bit copy of them: h·P·N fp32 values and h·P·N
    16-bit ones."""
    c, s = inp[2], f["window"]
    ph, pw = -(-inp[0] // s) * s, -(-inp[1] // s) * s
    p, n = ph * pw, s * s
    probabilities = f["heads"] * p * n
    saves = (("new", 5 * p * c), ("noamp", probabilities), ("amp", probabilities, AMP_DEVICES),
             ("amp", probabilities))
    if f["shift"] and not (s >= ph and s >= pw):
        saves += (("fixed", p * n),)
    return saves


def _wa_export(inp, out, f):
    shift = f", {f['shift']}" if f["shift"] else ""
    return Torch(f"ShiftedWindowAttention({inp[2]}, {f['heads']}, {f['window']}{shift})",
                 helpers={"ShiftedWindowAttention": _SWIN, **RELATIVE_INDEX})

def _wa_label(inp, f) -> str:
    """The picture's arrow: the windows, their shift and the heads (`window 7×7, shift 3, 3 heads`)."""
    shift = f", shift {f['shift']}" if f["shift"] else ""
    return f"window {f['window']}×{f['window']}{shift}, {f['heads']} heads"


# --------------------------------------------------------------------------- from ONNX
def _rolled(node, before: int, volume) -> int:
    """The cyclic shift of torch.roll as PyTorch exports it, read from the region's nodes
    before position ``before`` (in graph order): a Concat along H or W (axis 1 or 2 of the
    (N, H, W, C) volume) of two Slices of one tensor, the tail first — roll by −s is
    cat(x[s:], x[:s]): s is the size of the second part along that axis. 0 without one; the
    largest where the axes differ (V2 shifts only an axis the window does not cover)."""
    shifts = []
    for concat in node.views_between("Concat"):
        if concat.order >= before:
            continue
        axis = concat.attrs.get("axis")
        parts = [node.dims(name) for name in concat.inputs]
        sources = [node.source(name) for name in concat.inputs]
        if len(parts) != 2 or any(p is None or len(p) != 4 for p in parts) \
                or any(v is None or v.op != "Slice" for v in sources) \
                or sources[0].inputs[0] != sources[1].inputs[0]:
            raise NotRead("a Concat that is not a roll of the windows")
        axis = axis + 4 if isinstance(axis, int) and axis < 0 else axis
        if axis not in (1, 2) or parts[0][axis] is None or parts[1][axis] is None \
                or parts[0][axis] + parts[1][axis] != volume[axis]:
            raise NotRead("a Concat that is not a roll along H or W")
        shifts.append(int(parts[1][axis]))
    return max(shifts, default=0)


# the last node of a window attention whose output stays channels last
_ENDS = ("Reshape", "Identity", "Slice", "Concat")


def _windows_from_onnx(node, v2: bool) -> dict:
    """The exported ShiftedWindowAttention (V2: ShiftedWindowAttentionV2), read as the last
    node of its region, the Transpose back to (N, C, H, W), from the (N, H, W, C) volume it
    reads: padded to whole windows (Pad), rolled (Slices and Concats along H and W: the
    shift), cut into windows of N = window² tokens (Reshape, Transpose, Reshape), one packed
    qkv projection (C → 3C) and one output projection (C → C), with their biases, exactly two
    products of activations around one Softmax over (B·windows, h, N, N) scores — the heads
    and the window — with the relative position bias added (its table gathered, or folded
    into a constant by the dynamo exporter) and, when shifted, the mask (a Where); then the
    windows put back, rolled back and cropped. V2 (``v2``) normalises q and k (cosine
    scores: a ReduceL2 or its decomposition) and multiplies a learned logit scale per head;
    its position-bias MLP runs on constants only, so it is no part of the region: its hidden
    size is the length of the one learned vector (the first layer's bias) behind the bias
    added to the scores; a file without it (the dynamo exporter folds a small MLP into a
    constant) is not read."""
    ops = node.ops_in_order()
    if ops.count("Softmax") != 1 or ops.count("Pad") != 1 or ops.index("Pad") != 0:
        raise NotRead("not a window attention from the volume before its padding")  # F.pad, even of nothing
    x, out = node.dims(node.reads), node.dims(node.node.output[0])
    if x is None or out is None or len(x) != 4 or len(out) != 4 or None in x:
        raise NotRead("not read from an (N, H, W, C) volume")
    channels_first = node.op == "Transpose" and list(node.attrs.get("perm", [])) == [0, 3, 1, 2]
    # the volume back, channels first as the module returns it, or channels last where the
    # exporter cancelled that permute against the next layer's (the dynamo exporter, V2's norm)
    if tuple(out[1:]) != ((x[3], x[1], x[2]) if channels_first else tuple(x[1:])) \
            or channels_first != (node.op == "Transpose"):
        raise NotRead("not the volume back")
    c = x[3]
    (softmax,) = node.views_between("Softmax")
    scores = node.dims(softmax.inputs[0])
    if scores is None or len(scores) != 4 or scores[2] != scores[3] or None in scores[1:]:
        raise NotRead("no (B·windows, h, N, N) scores")
    h, n = scores[1], scores[3]
    window = round(n ** 0.5)
    if window * window != n or c % h:
        raise NotRead("windows that are not squares")
    padded_h, padded_w = -(-x[1] // window) * window, -(-x[2] // window) * window
    if scores[0] is not None and x[0] is not None and scores[0] != x[0] * (padded_h // window) * (padded_w // window):
        raise NotRead("scores for another number of windows")
    learned = node.learned_between()
    weights = sorted(tuple(sorted(shape)) for _, shape, op in learned if len(shape) == 2 and op in ("MatMul", "Gemm"))
    if weights != sorted([(c, 3 * c), (c, c)]) or ops.count("MatMul") + ops.count("Gemm") != 4:
        raise NotRead("not one qkv and one output projection and two products of activations")
    soft = ops.index("Softmax")
    biases = sorted((at < soft, shape[0]) for at, shape, op in learned if len(shape) == 1)
    # V2's qkv bias is computed (its k part zeroed: a Concat of the learned one's parts and
    # zeros), a constant the TorchScript exporter does not fold into one
    if biases != [(False, c), (True, 3 * c)] and not (v2 and biases == [(False, c)]):
        raise NotRead("not the projections' biases")
    first = min(m.order for m in node.views_between("MatMul") + node.views_between("Gemm"))
    shift = _rolled(node, first, (x[0], padded_h, padded_w, c))
    cosine = bool(node.between["ReduceL2"] or node.between["Sqrt"] or node.between["LpNormalization"])
    if cosine != v2:
        raise NotRead("cosine scores" if cosine else "not cosine scores")
    fields = {"heads": h, "window": window}
    if shift:
        fields["shift"] = shift
    if v2:
        # the position-bias MLP's hidden size: its first layer's bias, the one learned vector
        # behind the bias added to the scores (the MLP runs on constants only: no part of the region)
        added = [v for v in node.views_between("Add") if v.order < softmax.order and v.constant_operand() is not None]
        hidden = {shape[0] for shape in node.learned_behind(added[-1].inputs[added[-1].constant_operand()])
                  if len(shape) == 1} if added else set()
        if len(hidden) != 1:
            # the dynamo exporter folds a small MLP (and its table) into one constant bias: the
            # file does not say how many units it had
            raise NotRead("no position-bias MLP in the file" if not hidden else "a position-bias MLP of another form")
        if hidden != {512}:
            fields["cpb_hidden"] = hidden.pop()
    return fields


WINDOWATTENTION = LayerKind(
    name="windowattention",
    autocast="low",
    doc="Swin's (shifted) window attention on [H, W, C], shape unchanged: attention inside "
        "window×window windows with a relative position bias per head.",
    primary="heads",
    fields={
        "heads": field_(POSITIVE_INT, doc="heads; divide C"),
        "window": field_(POSITIVE_INT, 7, doc="window side, in positions"),
        "shift": field_(NONNEG_INT, 0, doc="cyclic shift of the windows (window // 2 in alternate "
                                           "blocks; 0 when the window covers the volume)"),
    },
    shape=_wa_shape,
    params=_wa_params,
    buffers=lambda inp, out, f: f["window"] ** 4,
    macs=_wa_macs,
    describe=lambda f: f"{f['heads']} heads, window {f['window']}" + (f", shift {f['shift']}" if f["shift"] else ""),
    explain=_wa_explain,
    label=_wa_label,
    weighted=True,
    group="attention",
    export=_wa_export,
    saves=_wa_saves,
    casts=lambda inp, out, f: 4 * inp[2] * inp[2],  # the qkv and proj weights; not the bias table
    onnx=(Onnx(("Transpose",), lambda node: _windows_from_onnx(node, v2=False), pattern=True, layout="nchw"),
          Onnx(_ENDS, lambda node: _windows_from_onnx(node, v2=False), pattern=True)),
    count_as={
        # qkv and proj are nn.Linear with bias on the padded tokens: one more per output value
        "ptflops": Counted(lambda inp, out, f: _wa_macs(inp, out, f) + 4 * _padded(inp, f) * inp[2],
                           "MACs + the qkv and proj biases, 4·C per padded position (nn.Linear hooks); "
                           "the scores are Tensor.matmul, which ptflops patches"),
        "ptflops-aten": Counted(lambda inp, out, f: _wa_macs(inp, out, f) + 4 * _padded(inp, f) * inp[2],
                                "MACs + the qkv and proj biases, 4·C per padded position (aten.addmm)"),
        "thop": Counted(lambda inp, out, f: _padded(inp, f) * 4 * inp[2] * inp[2],
                        "the qkv and proj nn.Linear only; the scores (Tensor.matmul) are not seen"),
    },
)

def _v2_table(f) -> int:
    """The relative coordinates the bias MLP reads: (2·window − 1)² of them."""
    return (2 * f["window"] - 1) ** 2


def _v2_mlp_params(f) -> int:
    hidden = f["cpb_hidden"]
    return 2 * hidden + hidden + hidden * f["heads"]


def _v2_mlp_macs(f) -> int:
    return _v2_table(f) * (2 * f["cpb_hidden"] + f["cpb_hidden"] * f["heads"])


def _v2_params(inp, out, f):
    c = inp[2]
    return c * 3 * c + 3 * c + c * c + c + f["heads"] + _v2_mlp_params(f)


def _v2_buffers(inp, out, f):
    return f["window"] ** 4 + _v2_table(f) * 2


def _v2_macs(inp, out, f):
    return _wa_macs(inp, out, f) + _v2_mlp_macs(f)


def _v2_explain(layer):
    inp, f = layer.input, layer.fields
    c, w, h, hidden = inp[2], f["window"], f["heads"], f["cpb_hidden"]
    tp = _padded(inp, f)
    pad = "" if tp == inp[0] * inp[1] else f" (padded to whole windows: {tp:,} positions)"
    return {"windows": f"{tp // (w * w)} windows of {w}×{w} = {w * w} tokens, {h} heads, cosine scores{pad}",
            "params": (f"{c}·3·{c} + 3·{c} + {c}·{c} + {c} + {h} + 2·{hidden} + {hidden} + {hidden}·{h}",
                       "qkv, proj, logit scale, the position-bias MLP"),
            "buffers": (f"{w}⁴ + (2·{w} − 1)²·2", "the relative position index and coordinates table"),
            "MACs": (f"{tp}·4·{c}² + 2·{tp}·{w * w}·{c}", "projections, QKᵀ and attention·V in every window"),
            "MACs once": (f"(2·{w} − 1)²·(2·{hidden} + {hidden}·{h})",
                          "the position-bias MLP, once per forward pass whatever the batch")}


_SWIN2 = '''class ShiftedWindowAttentionV2(nn.Module):
    """Swin V2's window attention (torchvision's names: qkv, proj, logit_scale, cpb_mlp,
    relative_coords_table, relative_position_index) on an (N, C, H, W) tensor: padded to
    whole windows, rolled by ``shift``, scaled cosine attention inside each window with the
    continuous relative position bias (an MLP over log-spaced coordinates), rolled back."""

    def __init__(self, dim, heads, window, shift=0, hidden=512):
        super().__init__()
        self.heads, self.window, self.shift = heads, window, shift
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)
        self.logit_scale = nn.Parameter(torch.log(10 * torch.ones((heads, 1, 1))))
        self.cpb_mlp = nn.Sequential(nn.Linear(2, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, heads, bias=False))
        side = torch.arange(-(window - 1), window, dtype=torch.float32) / max(window - 1, 1) * 8
        table = torch.stack(torch.meshgrid(side, side, indexing="ij")).permute(1, 2, 0).contiguous().unsqueeze(0)
        self.register_buffer("relative_coords_table", torch.sign(table) * torch.log2(table.abs() + 1.0) / 3.0)
        self.register_buffer("relative_position_index", relative_position_index(window).flatten())

    def forward(self, x):
        x = x.permute(0, 2, 3, 1)
        b, h, w, c = x.shape
        s = self.window
        x = F.pad(x, (0, 0, 0, (s - w % s) % s, 0, (s - h % s) % s))
        ph, pw = x.shape[1], x.shape[2]
        sh = 0 if s >= ph else self.shift
        sw = 0 if s >= pw else self.shift
        if sh or sw:
            x = torch.roll(x, shifts=(-sh, -sw), dims=(1, 2))
        x = x.view(b, ph // s, s, pw // s, s, c).permute(0, 1, 3, 2, 4, 5).reshape(-1, s * s, c)
        bias = torch.cat([self.qkv.bias[:c], torch.zeros_like(self.qkv.bias[c:2 * c]), self.qkv.bias[2 * c:]])
        qkv = F.linear(x, self.qkv.weight, bias)
        qkv = qkv.reshape(x.size(0), s * s, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        attn = F.normalize(q, dim=-1).matmul(F.normalize(k, dim=-1).transpose(-2, -1))
        attn = attn * torch.clamp(self.logit_scale, max=4.605170185988092).exp()  # max = ln 100
        table = self.cpb_mlp(self.relative_coords_table).view(-1, self.heads)
        bias = table[self.relative_position_index].view(s * s, s * s, -1).permute(2, 0, 1).contiguous()
        attn = attn + 16 * torch.sigmoid(bias).unsqueeze(0)
        if sh or sw:
            mask = x.new_zeros((ph, pw))
            hs_ = ((0, -s), (-s, -sh), (-sh, None)) if sh else ((0, None),)
            ws_ = ((0, -s), (-s, -sw), (-sw, None)) if sw else ((0, None),)
            count = 0
            for hs in hs_:
                for ws in ws_:
                    mask[hs[0]:hs[1], ws[0]:ws[1]] = count
                    count += 1
            mask = mask.view(ph // s, s, pw // s, s).permute(0, 2, 1, 3).reshape(-1, s * s)
            mask = (mask.unsqueeze(1) - mask.unsqueeze(2)) != 0
            attn = attn.view(b, -1, self.heads, s * s, s * s)
            attn = attn.masked_fill(mask.unsqueeze(1).unsqueeze(0), -100.0).view(-1, self.heads, s * s, s * s)
        x = attn.softmax(dim=-1).matmul(v).transpose(1, 2).reshape(x.size(0), s * s, c)
        x = self.proj(x)
        x = x.view(b, ph // s, pw // s, s, s, c).permute(0, 1, 3, 2, 4, 5).reshape(b, ph, pw, c)
        if sh or sw:
            x = torch.roll(x, shifts=(sh, sw), dims=(1, 2))
        return x[:, :h, :w, :].permute(0, 3, 1, 2).contiguous()
'''


def _v2_saves(inp, out, f):
    """What the exported V2 window attention saves for backward (measured on the exported
    module), P the padded positions, N = window², h heads: per sample, the windowed tokens
    the qkv projection reads (P·C), the projection itself, whose views q and k the cosine
    normalisation reads (3·P·C), the two norms and their clamped copies (2·2·P·h), the
    normalised q and k the score product reads (2·P·C), the scores the logit scale multiplies
    and the probabilities (2·h·P·N), v made contiguous and the heads' output proj reads
    (2·P·C): 8·P·C + 4·P·h + 2·h·P·N values. Under autocast the scores times the fp32 logit
    scale are fp32 (type promotion), so are the probabilities, and the product with v saves
    its own 16-bit copy of them: h·P·N fp32 values and h·P·N 16-bit ones besides the 16-bit
    scores. Once per layer, whatever the batch: the logit scale's exp (h fp32 values), and
    in the layer's dtype (fp32; 16 bits under autocast, where the MLP's linears run in bf16)
    the bias MLP's hidden layer ((2·window − 1)²·hidden) and the 16·sigmoid'ed bias (h·N²);
    with an active shift, the bool mask, P·N bytes."""
    c, s, h = inp[2], f["window"], f["heads"]
    ph, pw = -(-inp[0] // s) * s, -(-inp[1] // s) * s
    p, n = ph * pw, s * s
    probabilities = h * p * n
    saves = (("new", 8 * p * c + 4 * p * h + probabilities), ("noamp", probabilities),
             ("amp", probabilities, AMP_DEVICES), ("amp", probabilities),
             ("fixed", 4 * h), ("once", _v2_table(f) * f["cpb_hidden"] + h * n * n))
    if f["shift"] and (s < ph or s < pw):
        saves += (("fixed", p * n),)
    return saves


def _v2_casts(inp, out, f):
    """Under autocast, the values cast to 16 bits and saved once per layer: the qkv and proj
    weights (4·C², not the biases), the bias MLP's second weight (hidden·h) and the
    coordinates table its first linear reads (a buffer, (2·window − 1)²·2 values; that
    linear's own weight is not saved: nothing before it needs a gradient)."""
    return 4 * inp[2] * inp[2] + f["cpb_hidden"] * f["heads"] + 2 * _v2_table(f)


def _v2_export(inp, out, f):
    options = f", {f['shift']}" if f["shift"] else ""
    if f["cpb_hidden"] != 512:
        options += f", hidden={f['cpb_hidden']}"
    return Torch(f"ShiftedWindowAttentionV2({inp[2]}, {f['heads']}, {f['window']}{options})",
                 helpers={"ShiftedWindowAttentionV2": _SWIN2, **RELATIVE_INDEX})


WINDOWATTENTIONV2 = LayerKind(
    name="windowattentionv2",
    autocast="low",
    doc="Swin V2's (shifted) window attention on [H, W, C], shape unchanged: scaled cosine "
        "attention inside window×window windows, a learned logit scale per head and a continuous "
        "relative position bias from a small MLP.",
    primary="heads",
    fields={
        "heads": field_(POSITIVE_INT, doc="heads; divide C"),
        "window": field_(POSITIVE_INT, 8, doc="window side, in positions"),
        "shift": field_(NONNEG_INT, 0, doc="cyclic shift of the windows (window // 2 in alternate "
                                           "blocks; 0 on an axis the window covers)"),
        "cpb_hidden": field_(POSITIVE_INT, 512, doc="units of the position-bias MLP's hidden layer"),
    },
    shape=lambda inp, f: _wa_shape(inp, f, "windowattentionv2"),
    params=_v2_params,
    buffers=_v2_buffers,
    macs=_v2_macs,
    once_macs=lambda inp, out, f: _v2_mlp_macs(f),
    describe=lambda f: f"{f['heads']} heads, window {f['window']}" + (f", shift {f['shift']}" if f["shift"] else "")
    + ", cosine",
    explain=_v2_explain,
    label=_wa_label,
    weighted=True,
    group="attention",
    export=_v2_export,
    saves=_v2_saves,
    casts=_v2_casts,
    onnx=(Onnx(("Transpose",), lambda node: _windows_from_onnx(node, v2=True), pattern=True, layout="nchw"),
          Onnx(_ENDS, lambda node: _windows_from_onnx(node, v2=True), pattern=True)),
    count_as={
        # the qkv projection is F.linear (its k bias zeroed, as torchvision's), which ptflops
        # does not patch; proj and the bias MLP's layers are nn.Linear (hooked, with bias); the
        # MLP's nn.ReLU is counted twice, by its hook and by the patched F.relu it calls
        "ptflops": Counted(lambda inp, out, f: _v2_macs(inp, out, f) - 3 * _padded(inp, f) * inp[2] ** 2
                           + _padded(inp, f) * inp[2] + 3 * _v2_table(f) * f["cpb_hidden"],
                           "MACs − the qkv projection (F.linear, not patched) + proj's bias, C per padded "
                           "position + the bias MLP's first bias and its ReLU twice, 3·hidden per "
                           "coordinate; the scores are Tensor.matmul, which ptflops patches",
                           once=lambda inp, out, f: _v2_mlp_macs(f) + 3 * _v2_table(f) * f["cpb_hidden"]),
        "ptflops-aten": Counted(lambda inp, out, f: _v2_macs(inp, out, f) + 4 * _padded(inp, f) * inp[2]
                                + _v2_table(f) * f["cpb_hidden"],
                                "MACs + the qkv and proj biases, 4·C per padded position, + the bias "
                                "MLP's first bias, hidden per coordinate (aten.addmm)",
                                once=lambda inp, out, f: _v2_mlp_macs(f) + _v2_table(f) * f["cpb_hidden"]),
        "thop": Counted(lambda inp, out, f: _padded(inp, f) * inp[2] ** 2 + _v2_mlp_macs(f),
                        "the nn.Linear modules only: proj and the bias MLP; qkv (F.linear) and the "
                        "scores (Tensor.matmul) are not seen", once=lambda inp, out, f: _v2_mlp_macs(f)),
    },
)

_MERGE = '''class PatchMerge(nn.Module):
    """(N, C, H, W) -> (N, 4C, H/2, W/2): each 2x2 neighbourhood's channels side by side, in
    torchvision's PatchMerging order (odd sizes padded)."""

    def forward(self, x):
        x = x.permute(0, 2, 3, 1)
        x = F.pad(x, (0, 0, 0, x.shape[2] % 2, 0, x.shape[1] % 2))
        x = torch.cat([x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]], -1)
        return x.permute(0, 3, 1, 2)
'''

def _merge_shape(inp, f):
    require_volume(inp, "patchmerge")
    return (-(-inp[0] // 2), -(-inp[1] // 2), 4 * inp[2])

def _merge_from_onnx(node):
    """The exported PatchMerge: the (N, H, W, C) volume padded to even sizes (a Pad, even of
    nothing), then a Concat along the channels of its four 2×2 offsets (each a Slice of step 2
    along H and one along W: x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2],
    x[:, 1::2, 1::2], in that order) to (N, ⌈H/2⌉, ⌈W/2⌉, 4C)."""
    ops = node.ops_in_order()
    if node.op != "Concat" or len(node.inputs) != 4 or node.attrs.get("axis") not in (-1, 3) \
            or set(ops) != {"Pad", "Slice", "Concat"} or ops.count("Pad") != 1 or ops[0] != "Pad":
        raise NotRead("not a 2×2 neighbourhood's channels side by side")
    x, out = node.dims(node.reads), node.dims(node.node.output[0])
    if x is None or out is None or len(x) != 4 or None in x[1:] \
            or tuple(out[1:]) != (-(-x[1] // 2), -(-x[2] // 2), 4 * x[3]):
        raise NotRead("not (N, H, W, C) to (N, ⌈H/2⌉, ⌈W/2⌉, 4C)")
    offsets = []
    for name in node.inputs:
        taken = {}
        view = node.source(name)
        while view is not None and view.op == "Slice":
            starts, ends, axes = (view.value(i) for i in (1, 2, 3))
            steps = view.value(4) if view.has(4) else [1] * len(starts or [])
            if not all(isinstance(v, list) for v in (starts, ends, axes, steps)):
                raise NotRead("a Slice whose bounds are not known")
            for start, axis, step in zip(starts, axes, steps):
                axis = axis + 4 if axis < 0 else axis
                if step == 2 and axis in (1, 2) and axis not in taken and start in (0, 1):
                    taken[axis] = start
                elif step != 1 or start != 0:
                    raise NotRead("a Slice that is not one of every 2 positions")
            view = node.source(view.inputs[0])
        if view is None or view.op != "Pad" or set(taken) != {1, 2}:
            raise NotRead("not one of every 2 positions along H and W")
        offsets.append((taken[1], taken[2]))
    if offsets != [(0, 0), (1, 0), (0, 1), (1, 1)]:
        raise NotRead("the 2×2 offsets in another order than torchvision's")
    return {}


PATCHMERGE = LayerKind(
    name="patchmerge",
    doc="Swin's patch merging, the concatenation: each 2×2 neighbourhood's channels side by side, "
        "[H, W, C] -> [⌈H/2⌉, ⌈W/2⌉, 4C]; nothing learned (the norm and the linear reduction "
        "that follow are layers of their own).",
    shape=_merge_shape,
    # the picture's arrow: each 2×2 neighbourhood becomes one position (odd sizes padded first)
    label=lambda inp, f: "patchmerge 2×2" + (", padded" if inp[0] % 2 or inp[1] % 2 else ""),
    export=lambda inp, out, f: Torch("PatchMerge()", helpers={"PatchMerge": _MERGE}),
    onnx=(Onnx(("Concat",), _merge_from_onnx, pattern=True),),
)

KINDS = [WINDOWATTENTION, WINDOWATTENTIONV2, PATCHMERGE]

