"""attention — multi-head self-attention on a token sequence [T, D] (shape unchanged).

``heads`` query heads of ``head_dim`` features (default D/heads), ``kv_heads`` key/value heads
(default ``heads``: multi-head; fewer: grouped-query, 1: multi-query), each group of
heads/kv_heads query heads sharing one key/value head. Four projections, q: D -> h·d,
k and v: D -> kv·d, out: h·d -> D, biases with ``qkv_bias`` / ``out_bias``.

params  D·(h·d) + 2·D·(kv·d) + (h·d)·D  (+ h·d + 2·kv·d with qkv_bias, + D with out_bias)
MACs    T·D·(h·d) + 2·T·D·(kv·d) + T·(h·d)·D      the four projections
        + 2·T²·h·d                                  QKᵀ and attention·V over the full T×T square

The square is what PyTorch computes and counts, causal or not (a causal mask zeroes half the
scores after computing them). With ``causal: true`` the causal half — only the T(T+1)/2 scores
a token may see, h·d·T(T+1) MACs instead of 2·T²·h·d — is reported beside it (explain, JSON
``causal_macs``), and the layer keeps a KV cache when generating: 2·kv·d values per token.
``rope: true`` marks rotary position embeddings (rotations of q and k: no parameters, no MACs),
``rope_base`` their base θ (default 10,000; Llama 3's 500,000), ``rope_dims`` how many of each
head's features rotate (default all; GPT-NeoX/Pythia rotate a quarter), ``rope_scaling``
how the rotation frequencies are stretched for long contexts (Hugging Face's ``rope_scaling``:
``linear`` divides every frequency by ``rope_factor``; ``dynamic`` raises the base once T
passes ``rope_context``; ``llama3`` divides the low frequencies by ``rope_factor``, keeps the
high ones and blends between, with ``rope_low_freq``/``rope_high_freq`` and ``rope_context``,
the original context) — angles only: no parameter or MAC changes.
``window: W`` (causal layers only) is a sliding window — Mistral's ``sliding_window``: a token
sees itself and the W − 1 tokens before it. PyTorch still computes the full square and masks
it, so the counts stay; the visible scores (Σ min(i + 1, W) per head) are stated beside, and
the KV cache keeps at most W tokens.
"""
from __future__ import annotations

from .base import (
    AMP_DEVICES,
    BOOL,
    NotRead,
    Onnx,
    POSITIVE_INT,
    POSITIVE_NUMBER,
    Counted,
    FieldType,
    LayerKind,
    RuleError,
    Torch,
    field_,
    fmt_shape,
)

# Hugging Face's rope_scaling types that archcalc models (transformers'
# modeling_rope_utils: _compute_linear_scaling_rope_parameters, _compute_dynamic_ntk_parameters,
# _compute_llama3_parameters); yarn and longrope change the attention's scale too, not modelled
ROPE_SCALINGS = ("linear", "dynamic", "llama3")
SCALING_FIELDS = ("rope_factor", "rope_context", "rope_low_freq", "rope_high_freq")


def _scaling(v):
    from .base import FieldError

    if not isinstance(v, str) or v not in ROPE_SCALINGS:
        raise FieldError("one of " + ", ".join(ROPE_SCALINGS), v,
                         code="bad-value" if isinstance(v, str) else "wrong-type")
    return v


SCALING = FieldType("rope scaling", _scaling, {"enum": list(ROPE_SCALINGS)})


def dims(inp, f):
    """(T, D, h, kv, d)."""
    t, dim = inp
    h = f["heads"]
    kv = f["kv_heads"] if f["kv_heads"] is not None else h
    d = f["head_dim"] if f["head_dim"] is not None else dim // h
    return t, dim, h, kv, d


def _shape(inp, f):
    if len(inp) != 2:
        what = f"the volume {fmt_shape(inp)}" if len(inp) == 3 else f"the flat vector [{inp[0]}]"
        raise RuleError("needs-tokens", f"attention needs a token sequence [T, D], but receives {what}",
                        hint="a volume becomes tokens with `- patches`; token ids with `- embedding`")
    h = f["heads"]
    if f["head_dim"] is None and inp[1] % h:
        raise RuleError("bad-heads", f"{h} heads do not divide the {inp[1]} features, so the head size "
                        f"D/heads = {inp[1]}/{h} is not whole", field="heads",
                        hint="choose heads dividing D, or give `head_dim`")
    kv = f["kv_heads"]
    if kv is not None and h % kv:
        raise RuleError("bad-heads", f"{kv} key/value heads do not divide the {h} query heads (each "
                        "key/value head serves a whole group of query heads)", field="kv_heads",
                        hint=f"kv_heads divides heads: 1 (multi-query), a divisor of {h}, or {h}")
    if f["window"] is not None and not f["causal"]:
        raise RuleError("bad-value", f"a sliding window of {f['window']} needs `causal: true` (each token "
                        "sees itself and the tokens before it, within the window)", field="window",
                        hint="add `causal: true`, or drop `window`")
    for name in ("rope_base", "rope_dims"):
        if f[name] not in (None, ROPE_BASE) and not f["rope"]:
            raise RuleError("bad-value", f"`{name}` describes rotary positions, but this layer has none",
                            field=name, hint="add `rope: true`, or drop `" + name + "`")
    _check_scaling(f)
    if f["rope_scaling"] == "dynamic" and (f["rope_dims"] or dims(inp, f)[4]) <= 2:
        raise RuleError("bad-value", "dynamic rope scaling raises the base to the power d/(d − 2): it needs "
                        "more than 2 rotating features", field="rope_scaling",
                        hint="use linear scaling, or rotate more features")
    if f["rope_dims"] is not None:
        _, _, _, _, d = dims(inp, f)
        if f["rope_dims"] % 2 or f["rope_dims"] > d:
            raise RuleError("bad-value", f"rope_dims {f['rope_dims']} must be even and at most the head size "
                            f"{d} (rotations turn pairs of features)", field="rope_dims",
                            hint=f"an even number up to {d}")
    return inp


ROPE_BASE = 10000  # RoFormer's base θ, the default of every rotary model but the ones that say otherwise
LOW_FREQ, HIGH_FREQ = 1.0, 4.0  # Llama 3.1's low_freq_factor and high_freq_factor


def _check_scaling(f):
    """rope_scaling needs rope and a factor (llama3 and dynamic: the original context too);
    the scaling fields mean nothing without it."""
    kind = f["rope_scaling"]
    if kind is not None and not f["rope"]:
        raise RuleError("bad-value", "`rope_scaling` stretches rotary positions, but this layer has none",
                        field="rope_scaling", hint="add `rope: true`, or drop `rope_scaling`")
    if kind is None:
        for name in SCALING_FIELDS:
            if f[name] not in (None, LOW_FREQ if name == "rope_low_freq" else HIGH_FREQ
                               if name == "rope_high_freq" else None):
                raise RuleError("bad-value", f"`{name}` belongs to `rope_scaling`, which this layer does not "
                                "set", field=name, hint="add `rope_scaling: linear|dynamic|llama3`, or drop `"
                                + name + "`")
        return
    if f["rope_factor"] is None:
        raise RuleError("bad-value", f"rope_scaling {kind} needs `rope_factor` (Hugging Face's factor)",
                        field="rope_scaling", hint="add `rope_factor: 8` (or the config's factor)")
    if kind in ("dynamic", "llama3") and f["rope_context"] is None:
        raise RuleError("bad-value", f"rope_scaling {kind} needs `rope_context`, the context the model was "
                        "trained for (Hugging Face's original_max_position_embeddings)",
                        field="rope_scaling", hint="add `rope_context: 8192` (or the config's)")
    if kind == "linear" and f["rope_context"] is not None:
        raise RuleError("bad-value", "linear rope scaling divides every frequency by the factor; "
                        "`rope_context` does not enter it", field="rope_context", hint="drop `rope_context`")
    if kind != "llama3" and (f["rope_low_freq"], f["rope_high_freq"]) != (LOW_FREQ, HIGH_FREQ):
        name = "rope_low_freq" if f["rope_low_freq"] != LOW_FREQ else "rope_high_freq"
        raise RuleError("bad-value", f"`{name}` belongs to llama3 rope scaling, not {kind}", field=name,
                        hint=f"drop `{name}`")
    if kind == "llama3" and not f["rope_low_freq"] < f["rope_high_freq"]:
        raise RuleError("bad-value", f"rope_low_freq {f['rope_low_freq']:g} must be below rope_high_freq "
                        f"{f['rope_high_freq']:g} (the band blended between them)", field="rope_low_freq",
                        hint="Llama 3.1's: rope_low_freq 1, rope_high_freq 4")


def visible(t: int, window) -> int:
    """The scores one head of a causal layer keeps of the T×T square: Σ_i min(i + 1, W) —
    T(T+1)/2 without a window."""
    if window is None or window >= t:
        return t * (t + 1) // 2
    return window * (window + 1) // 2 + (t - window) * window


def projection_params(inp, f) -> int:
    _, dim, h, kv, d = dims(inp, f)
    return dim * h * d + 2 * dim * kv * d + h * d * dim


def _params(inp, out, f):
    _, dim, h, kv, d = dims(inp, f)
    bias = (h * d + 2 * kv * d if f["qkv_bias"] else 0) + (dim if f["out_bias"] else 0)
    return projection_params(inp, f) + bias


def _macs(inp, out, f):
    t, _, h, _, d = dims(inp, f)
    return t * projection_params(inp, f) + 2 * t * t * h * d


def causal_macs(inp, f) -> int:
    """The MACs a causal layer needs: the projections and only the visible scores (T(T+1)/2,
    fewer in a sliding window), QKᵀ and attention·V each h·d per score."""
    t, _, h, _, d = dims(inp, f)
    return t * projection_params(inp, f) + 2 * h * d * visible(t, f["window"])


def _kv_cache(inp, out, f):
    if not f["causal"]:
        return 0
    _, _, _, kv, d = dims(inp, f)
    return 2 * kv * d


def _extra(inp, out, f):
    """The figures metrics.token_figures sums over the network's attention layers:
    ``attention_hd`` h·d (PaLM's L·H·Q, for the score MACs 2·T²·L·H·Q); for causal layers
    ``causal_hd``, ``causal_skipped_macs`` (the masked scores' MACs, 2·h·d·(T² − visible)),
    ``decode_score_macs`` (one new token against the min(T, W) cached keys and values,
    2·h·d·min(T, W)) and ``kv_cached_values`` (2·kv·d per cached token, at most W tokens)."""
    t, _, h, kv, d = dims(inp, f)
    if not f["causal"]:
        return {"attention_hd": h * d}
    w = t if f["window"] is None else min(t, f["window"])
    return {"attention_hd": h * d, "causal_hd": h * d,
            "causal_skipped_macs": 2 * h * d * (t * t - visible(t, f["window"])),
            "decode_score_macs": 2 * h * d * w, "kv_cached_values": 2 * kv * d * w}


def _describe(f):
    parts = [f"{f['heads']} heads"]
    if f["kv_heads"] is not None and f["kv_heads"] != f["heads"]:
        parts.append(f"{f['kv_heads']} kv")
    if f["head_dim"] is not None:
        parts.append(f"d {f['head_dim']}")
    if f["causal"]:
        parts.append("causal")
    if f["window"] is not None:
        parts.append(f"window {f['window']}")
    if f["rope"]:
        b = f["rope_base"]
        rope = "rope" if b == ROPE_BASE else f"rope θ {int(b):,}" if b == int(b) else f"rope θ {b:g}"
        parts.append(rope if f["rope_dims"] is None else f"{rope} on {f['rope_dims']} dims")
        if f["rope_scaling"] is not None:
            parts.append(f"{f['rope_scaling']} ×{f['rope_factor']:g}"
                         + (f" from {f['rope_context']:,}" if f["rope_context"] is not None else ""))
    if not f["qkv_bias"] and not f["out_bias"]:
        parts.append("no bias")
    elif not f["qkv_bias"] or not f["out_bias"]:
        parts.append("no qkv bias" if not f["qkv_bias"] else "no out bias")
    return ", ".join(parts)


def _label(inp, f) -> str:
    """The picture's arrow: what shapes the mixing of tokens — heads (`/8 kv` when grouped),
    the causal mask and a sliding window (`attention 32/8 kv heads, causal, window 4096`)."""
    kv = f"/{f['kv_heads']} kv" if f["kv_heads"] is not None and f["kv_heads"] != f["heads"] else ""
    return (f"attention {f['heads']}{kv} heads" + (", causal" if f["causal"] else "")
            + (f", window {f['window']}" if f["window"] is not None else ""))


def _explain(layer):
    inp, f = layer.input, layer.fields
    t, dim, h, kv, d = dims(inp, f)
    bias = []
    if f["qkv_bias"]:
        bias.append(f"{h}·{d} + 2·{kv}·{d}")
    if f["out_bias"]:
        bias.append(str(dim))
    params = f"{dim}·({h}·{d}) + 2·{dim}·({kv}·{d}) + ({h}·{d})·{dim}" + "".join(f" + {b}" for b in bias)
    macs = f"{t}·({dim}·{h}·{d} + 2·{dim}·{kv}·{d} + {h}·{d}·{dim}) + 2·{t}²·{h}·{d}"
    lines = {"heads": f"{h} query heads, {kv} key/value heads, head_dim {d}"
                      + (f" (= {dim}/{h})" if f["head_dim"] is None else ""),
             "params": (params, "q, k, v and out projections"),
             "MACs": (macs, "projections, then QKᵀ and attention·V over the full T×T square")}
    w = f["window"]
    if f["causal"] and (w is None or w >= t):
        lines["causal"] = (f"{t}·({dim}·{h}·{d} + 2·{dim}·{kv}·{d} + {h}·{d}·{dim}) + {h}·{d}·{t}·({t} + 1) "
                           f"= {causal_macs(inp, f):,} MACs if only the T(T+1)/2 visible scores were "
                           f"computed; KV cache 2·{kv}·{d} = {2 * kv * d:,} values per token")
    elif f["causal"]:
        lines["causal"] = (f"{t}·({dim}·{h}·{d} + 2·{dim}·{kv}·{d} + {h}·{d}·{dim}) + 2·{h}·{d}·({w}·{w + 1}/2 "
                           f"+ ({t} − {w})·{w}) = {causal_macs(inp, f):,} MACs if only the scores inside the "
                           f"sliding window of {w} were computed; KV cache 2·{kv}·{d} = {2 * kv * d:,} values "
                           f"per token, for at most {w} tokens")
    return lines


_ATTENTION = '''class Attention(nn.Module):
    """Self-attention with separate q/k/v/o projections: grouped-query when kv_heads < heads,
    rotary positions with ``rope``, a causal mask with ``causal``. The scores go through
    F.scaled_dot_product_attention over the full T x T square."""

    def __init__(self, dim, heads, kv_heads, head_dim, qkv_bias=True, out_bias=True, causal=False,
                 rope=False, rope_base=10000.0, rope_dims=None, window=None, rope_scaling=None,
                 rope_factor=1.0, rope_context=None, rope_low_freq=1.0, rope_high_freq=4.0):
        super().__init__()
        self.heads, self.kv_heads, self.head_dim = heads, kv_heads, head_dim
        self.causal, self.rope, self.rope_base, self.window = causal, rope, rope_base, window
        self.rope_dims = head_dim if rope_dims is None else rope_dims
        self.rope_scaling, self.rope_factor, self.rope_context = rope_scaling, rope_factor, rope_context
        self.rope_low_freq, self.rope_high_freq = rope_low_freq, rope_high_freq
        self.q_proj = nn.Linear(dim, heads * head_dim, bias=qkv_bias)
        self.k_proj = nn.Linear(dim, kv_heads * head_dim, bias=qkv_bias)
        self.v_proj = nn.Linear(dim, kv_heads * head_dim, bias=qkv_bias)
        self.o_proj = nn.Linear(heads * head_dim, dim, bias=out_bias)

    def frequencies(self, t, device=None):
        """The rotation frequencies of the rope_dims / 2 feature pairs at sequence length t:
        base rope_base, stretched as rope_scaling says (as Hugging Face's rope utilities do)."""
        d, base = self.rope_dims, self.rope_base
        if self.rope_scaling == "dynamic" and t > self.rope_context:
            base = base * ((self.rope_factor * t / self.rope_context) - (self.rope_factor - 1)) ** (d / (d - 2))
        inv = 1.0 / base ** (torch.arange(0, d, 2, device=device, dtype=torch.int64).float() / d)
        if self.rope_scaling == "linear":
            inv = inv / self.rope_factor
        elif self.rope_scaling == "llama3":
            low, high = self.rope_low_freq, self.rope_high_freq
            wavelength = 2 * torch.pi / inv
            scaled = torch.where(wavelength > self.rope_context / low, inv / self.rope_factor, inv)
            smooth = (self.rope_context / wavelength - low) / (high - low)
            blended = (1 - smooth) * scaled / self.rope_factor + smooth * scaled
            middle = ~(wavelength < self.rope_context / high) & ~(wavelength > self.rope_context / low)
            inv = torch.where(middle, blended, scaled)
        return inv

    def rotate(self, x):
        """Rotary positions on the first rope_dims features of each head (base rope_base)."""
        d = self.rope_dims
        x, rest = x[..., :d], x[..., d:]
        inv = self.frequencies(x.shape[-2], x.device)
        angle = torch.arange(x.shape[-2], device=x.device, dtype=torch.float32)[:, None] * inv[None, :]
        angle = torch.cat([angle, angle], dim=-1)
        half = torch.cat([-x[..., d // 2:], x[..., :d // 2]], dim=-1)
        return torch.cat([x * angle.cos() + half * angle.sin(), rest], dim=-1)

    def forward(self, x):
        n, t, _ = x.shape
        q = self.q_proj(x).view(n, t, self.heads, self.head_dim).transpose(1, 2)
        k = self.k_proj(x).view(n, t, self.kv_heads, self.head_dim).transpose(1, 2)
        v = self.v_proj(x).view(n, t, self.kv_heads, self.head_dim).transpose(1, 2)
        if self.rope:
            q, k = self.rotate(q), self.rotate(k)
        if self.kv_heads != self.heads:
            k = k.repeat_interleave(self.heads // self.kv_heads, dim=1)
            v = v.repeat_interleave(self.heads // self.kv_heads, dim=1)
        if self.window is not None and self.window < t:
            i = torch.arange(t, device=x.device)
            seen = i[None, :] <= i[:, None]
            seen = seen & (i[:, None] - i[None, :] < self.window)  # itself and window - 1 before
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=seen)
        else:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=self.causal)
        return self.o_proj(y.transpose(1, 2).reshape(n, t, self.heads * self.head_dim))
'''


def _export(inp, out, f):
    """nn.MultiheadAttention (torchvision's ViT keys: in_proj_weight, out_proj) where it fits:
    one bias setting, kv = heads, h·d = D, no mask, no rotary; else the Attention helper."""
    _, dim, h, kv, d = dims(inp, f)
    if _mha(dim, h, kv, d, f):
        bias = "" if f["qkv_bias"] else ", bias=False"
        return Torch(f"nn.MultiheadAttention({dim}, {h}{bias}, batch_first=True)",
                     call="{m}({x}, {x}, {x}, need_weights=False)[0]")
    options = "".join(f", {name}=True" if f[name] else "" for name in ("causal", "rope"))
    options += "".join(f", {name}=False" if not f[name] else "" for name in ("qkv_bias", "out_bias"))
    if f["rope_base"] != ROPE_BASE:
        options += f", rope_base={float(f['rope_base'])!r}"
    options += "".join(f", {name}={f[name]}" for name in ("rope_dims", "window") if f[name] is not None)
    if f["rope_scaling"] is not None:
        options += f", rope_scaling={f['rope_scaling']!r}, rope_factor={float(f['rope_factor'])!r}"
        if f["rope_context"] is not None:
            options += f", rope_context={f['rope_context']}"
        if f["rope_scaling"] == "llama3":
            options += (f", rope_low_freq={float(f['rope_low_freq'])!r}, "
                        f"rope_high_freq={float(f['rope_high_freq'])!r}")
    return Torch(f"Attention({dim}, {h}, {kv}, {d}{options})", helpers={"Attention": _ATTENTION})


def _mha(dim, h, kv, d, f) -> bool:
    """Whether the export writes nn.MultiheadAttention (``_export``), else the helper."""
    return not f["causal"] and not f["rope"] and f["window"] is None and kv == h and int(h) * int(d) == int(dim) \
        and f["qkv_bias"] == f["out_bias"] and f["head_dim"] is None


# --count-as: how each tool sees the exported layer. The parts: the projections (T·params
# without bias), the scores (2·T²·h·d) and the biases (one per projected value).
def _parts(inp, f):
    t, dim, h, kv, d = dims(inp, f)
    projections = t * projection_params(inp, f)
    biases = (t * (h * d + 2 * kv * d) if f["qkv_bias"] else 0) + (t * dim if f["out_bias"] else 0)
    return projections, 2 * t * t * h * d, biases, _mha(dim, h, kv, d, f)


def _torch(inp, out, f):
    # nn.MultiheadAttention in eval mode under no_grad takes its fast path,
    # torch._native_multi_head_attention, which FlopCounterMode does not count (unless the
    # heads are odd); F.scaled_dot_product_attention on a CPU runs a fused kernel it does not
    # count either: only the projections remain
    projections, scores, biases, mha = _parts(inp, f)
    return 0 if mha and f["heads"] % 2 == 0 else projections


def _ptflops(inp, out, f):
    projections, scores, biases, mha = _parts(inp, f)
    if not mha:  # the helper: its four nn.Linear hooks (with bias); SDPA is not patched
        return projections + biases
    # multihead_attention_counter_hook: T·D (scaling q) + the projections + 3·T·D (in_proj
    # bias, if any) + per head T²·d + T² (softmax) + T²·d + T·D·(D + 1) (out_proj, "bias is
    # always enabled")
    t, dim, h, _, _ = dims(inp, f)
    return projections + scores + t * dim + (3 * t * dim if f["qkv_bias"] else 0) + h * t * t + t * dim


COUNT_AS = {
    "torch": Counted(_torch, "nn.MultiheadAttention's fast path (eval, no_grad, even heads) counts 0; "
                             "F.scaled_dot_product_attention's fused CPU kernel counts 0: the "
                             "projections only"),
    "fvcore": Counted(lambda inp, out, f: _parts(inp, f)[0],
                      "the projections (aten::linear); aten::scaled_dot_product_attention has no "
                      "handle: the 2·T²·h·d scores are not counted"),
    "ptflops": Counted(_ptflops, "nn.MultiheadAttention: its hook's T·D + 4·T·D² + 2·T²·D + h·T² "
                                 "+ biases; the Attention helper: its nn.Linear hooks with bias, "
                                 "F.scaled_dot_product_attention not patched"),
    "ptflops-aten": Counted(lambda inp, out, f: _parts(inp, f)[0] + _parts(inp, f)[2],
                            "the projections + 1 per projected value with a bias (aten.addmm); "
                            "the CPU's fused attention is not aten.bmm: scores not counted"),
    "thop": Counted(lambda inp, out, f: 0 if _parts(inp, f)[3] else _parts(inp, f)[0],
                    "nn.MultiheadAttention is no module thop knows, and its out_proj is a subclass "
                    "of nn.Linear: 0; the helper's nn.Linear projections only, no scores"),
}


def _weights(inp, f):
    """The projection weights, biases left out: q and o D·h·d each, k and v D·kv·d each."""
    _, dim, h, kv, d = dims(inp, f)
    return 2 * dim * h * d + 2 * dim * kv * d


def _fused_cuda(inp, f):
    """What CUDA's fused kernel (flash or memory-efficient, PyTorch's choice) saves instead of
    the math path (``_saves``): no h·T·T probabilities, but the kernel's output (T·h·d) and
    its logsumexp, h·T fp32 values, all from the 16-bit q, k, v under autocast (no fp32
    copies). nn.MultiheadAttention also keeps no scaled q and k (its packed q, k, v are what
    the kernel reads): 5·T·D; the helper's scaled q and k give way to q and k as projected:
    4·T·h·d + v (within 5 % of ViT-B/16's training peak on an H200, fp32 and bf16 autocast:
    tests/test_training_memory.py)."""
    t, dim, h, kv, d = dims(inp, f)
    if _mha(dim, h, kv, d, f):
        return ("input", ("new", 5 * t * dim), ("fp32", h * t))
    return _QKV + (("new", 4 * t * h * d + _v(t, h, kv, d)), ("fp32", h * t)) + _rope(t, d, f)


def _fused_cpu(inp, f):
    """What PyTorch's CPU flash kernel saves instead of the math path: the q, k and v it
    reads, its output and its logsumexp (h·T fp32 values). The output is laid out as q is:
    where q is a view of the projection, (N, T, h, d), the output projection reads the output
    itself (the heads' transpose is a view); where q is a fresh (N, h, T, d) tensor (rotated),
    it reads a copy. nn.MultiheadAttention: its packed q, k, v (3·T·D, one tensor the kernel
    reads as three views) and the output, 4·T·D; the helper: q and k as the kernel reads them
    (projected, or rotated; k repeated to h heads when grouped), v (likewise), the output,
    and with rotary positions the copy the output projection reads: 3·T·h·d + v, + T·h·d with
    rope (equal to PyTorch's own count, fp32 and CPU autocast: tests/test_training_memory.py).
    One T·D (T·h·d) tensor less than CUDA's kernel saves (``_fused_cuda``)."""
    t, dim, h, kv, d = dims(inp, f)
    if _mha(dim, h, kv, d, f):
        return ("input", ("new", 4 * t * dim), ("fp32", h * t))
    copy = t * h * d if f["rope"] else 0
    return _QKV + (("new", 3 * t * h * d + _v(t, h, kv, d) + copy), ("fp32", h * t)) + _rope(t, d, f)


# The helper's q, k and v projections each save the input: one tensor, but under autocast three
# 16-bit copies of an fp32 input (a residual stream after a position embedding), one per linear.
_QKV = ("input", "input", "input")


def _v(t, h, kv, d):
    return t * h * d if kv != h else t * kv * d  # grouped-query: v repeated to h heads


def _rope(t, d, f):
    """With rotary positions the cos and sin of q's and k's rotations: 4·T·r values made in
    fp32 whatever the activation dtype, and the same for every sample of a batch (16·T·r
    bytes, fixed)."""
    r = f["rope_dims"] if f["rope_dims"] is not None else d
    return (("fixed", 4 * 4 * t * r),) if f["rope"] else ()


def _saves(inp, out, f):
    """What the exported attention saves for backward on PyTorch's math path (the CPU's, and
    any device's without a fused kernel), besides its input (which the q/k/v projections
    save): the probabilities, h·T·T; nn.MultiheadAttention its packed q, k, v made
    contiguous (3·T·D), the scaled q and k (2·T·D) and the heads' output before the output
    projection (T·D); the helper the scaled q and k (2·T·h·d), v as the heads read it
    (T·kv·d; grouped-query: repeated to h heads, T·h·d), that output (T·h·d), and the
    rotary cos and sin (``_rope``).

    Under autocast the math path computes in fp32 from fp32 copies of the 16-bit q, k and v
    (PyTorch's _scaled_dot_product_attention_math, unless
    allow_fp16_bf16_reduction_math_sdp is set), so it saves the scaled q and k, v and the
    probabilities in fp32 — nn.MultiheadAttention's v is then that copy, T·D, not a view of
    the packed 3·T·D — and the heads' output, cast back, in 16 bits."""
    t, dim, h, kv, d = dims(inp, f)
    if _mha(dim, h, kv, d, f):
        return ("input", ("noamp", 6 * t * dim + h * t * t), ("amp", 3 * t * dim + h * t * t, AMP_DEVICES),
                ("amp", t * dim))
    fp32 = 2 * t * h * d + _v(t, h, kv, d) + h * t * t
    return _QKV + (("noamp", fp32 + t * h * d), ("amp", fp32, AMP_DEVICES), ("amp", t * h * d)) + _rope(t, d, f)


def _from_onnx(node):
    """Self-attention as PyTorch exports it, read as the last node of the subgraph from the
    sequence (N, T, D) to the output projection (nn.MultiheadAttention's decomposition, or
    scaled_dot_product_attention's between separate projections): one Softmax over scores
    (N, h, T, T); products by learned matrices (the projections, one packed or q, k, v and
    out) and exactly two products of activations (QKᵀ and probabilities·V). h from the
    scores, d from probabilities·V's (N, h, T, d), kv from the projections' sizes
    (D·h·d + 2·D·kv·d + h·d·D); the biases read before the Softmax are the q/k/v projections',
    after it the output projection's; a mask made by a Trilu before the Softmax (the TorchScript
    exporter's is_causal) is causal, a Neg before it (rotate_half) marks rotary positions. A
    mask or rotary table the exporter folded into a constant (dynamo's) is no parameter; such
    a mask's values are not read, so it is not said to be causal (the counts are the same)."""
    ops = node.ops_in_order()
    if ops.count("Softmax") != 1:
        raise NotRead("not one Softmax")
    soft = ops.index("Softmax")
    learned = node.learned_between()
    weights = [shape for _, shape, op in learned if len(shape) == 2 and op in ("MatMul", "Gemm")]
    biases = [(at, shape[0]) for at, shape, op in learned if len(shape) == 1 and op in ("Add", "Gemm")]
    # the dynamo exporter stores what it computed from constants as initializers: the rotary
    # cos and sin tables (multiplied in) and the causal mask (added to the scores)
    tables = [(at, shape, op) for at, shape, op in learned if len(shape) > 1 and op in ("Mul", "Add")
              and (op == "Mul" or at < soft)]
    if not weights or len(weights) + len(biases) + len(tables) != len(learned) \
            or ops.count("MatMul") + ops.count("Gemm") != len(weights) + 2:
        raise NotRead("not the projections and two products of activations")
    (softmax,) = node.views_between("Softmax")
    scores = node.shape(softmax.inputs[0])
    if scores is None or len(scores) != 4 or scores[2] != scores[3]:
        raise NotRead("no (N, h, T, T) scores")
    t, h = scores[3], scores[1]
    probabilities_v = node.views_between("MatMul")[ops[:soft].count("MatMul")]
    out = node.shape(probabilities_v.node.output[0])
    if out is None or len(out) != 4 or tuple(out[1:3]) != (h, t):
        raise NotRead("no (N, h, T, d) heads' output")
    d = out[3]
    # D: the size every projection has (q, k, v read D features, out writes D)
    common = set(weights[0]).intersection(*weights)
    if len(common) > 1:
        common.discard(h * d)
    if len(common) != 1:
        raise NotRead("projections of other sizes")
    (dim,) = common
    x = node.dims(node.reads)
    if x is None or len(x) != 3 or tuple(x[1:]) != (t, dim):
        raise NotRead("not read from the sequence (N, T, D)")
    total = sum(a * b for a, b in weights)
    kv, rest = divmod(total - 2 * dim * h * d, 2 * dim * d)
    if rest or kv < 1 or h % kv:
        raise NotRead("projections of other sizes")
    qkv = sum(size for at, size in biases if at < soft)
    after = sum(size for at, size in biases if at > soft)
    if qkv not in (0, h * d + 2 * kv * d) or after not in (0, dim):
        raise NotRead("biases of other sizes")
    fields = {"heads": h}
    if kv != h:
        fields["kv_heads"] = kv
    if dim % h or d != dim // h:
        fields["head_dim"] = d
    if not qkv:
        fields["qkv_bias"] = False
    if not after:
        fields["out_bias"] = False
    if "Trilu" in ops[:soft]:  # the mask of is_causal=True: the lower triangle
        fields["causal"] = True
    if "Neg" in ops[:soft]:  # rotate_half's −x₂ of rotary positions (cos and sin multiplied in)
        fields["rope"] = True
    for at, shape, op in tables:
        if op == "Add" and shape[-2:] != (t, t):
            raise NotRead("a learned table added to the scores")
    return fields


ATTENTION = LayerKind(
    name="attention",
    autocast="low",
    aliases=("multiheadattention", "selfattention", "mha"),
    doc="Multi-head self-attention on [T, D] (shape unchanged): heads, kv_heads (grouped-query), "
        "head_dim, q/k/v and output biases, causal mask, rotary positions.",
    primary="heads",
    fields={
        "heads": field_(POSITIVE_INT, doc="query heads, h"),
        "kv_heads": field_(POSITIVE_INT, None, doc="key/value heads (default: heads; fewer is "
                                                   "grouped-query, 1 multi-query); divides heads",
                           default_from="heads"),
        "head_dim": field_(POSITIVE_INT, None, doc="features per head, d (default: D/heads)"),
        "qkv_bias": field_(BOOL, True, doc="biases on the q, k and v projections"),
        "out_bias": field_(BOOL, True, doc="bias on the output projection"),
        "causal": field_(BOOL, False, doc="each token sees only itself and earlier tokens (decoders); "
                                          "counts stay the full square, the causal half is stated beside"),
        "rope": field_(BOOL, False, doc="rotary position embeddings on q and k (no parameters, no MACs)"),
        "rope_base": field_(POSITIVE_NUMBER, ROPE_BASE, doc="the rotary base θ (Hugging Face's rope_theta: "
                                                            "Llama 3 500,000)"),
        "rope_dims": field_(POSITIVE_INT, None, doc="features of each head that rotate, even (default: "
                                                    "all; GPT-NeoX's rotary_pct · head_dim)"),
        "rope_scaling": field_(SCALING, None, doc="how the rotary frequencies stretch for long contexts: "
                                                  "linear, dynamic (NTK) or llama3 (Hugging Face's "
                                                  "rope_scaling; angles only, no count changes)"),
        "rope_factor": field_(POSITIVE_NUMBER, None, doc="rope_scaling's factor (Llama 3.1: 8)"),
        "rope_context": field_(POSITIVE_INT, None, doc="the context the rotary frequencies were trained for "
                                                       "(original_max_position_embeddings; dynamic, llama3)"),
        "rope_low_freq": field_(POSITIVE_NUMBER, LOW_FREQ, doc="llama3 scaling's low_freq_factor"),
        "rope_high_freq": field_(POSITIVE_NUMBER, HIGH_FREQ, doc="llama3 scaling's high_freq_factor"),
        "window": field_(POSITIVE_INT, None, doc="sliding window (causal only): a token sees itself and the "
                                                 "window − 1 before it; the KV cache keeps at most window tokens"),
    },
    shape=_shape,
    params=_params,
    macs=_macs,
    describe=_describe,
    label=_label,
    explain=_explain,
    kv_cache=_kv_cache,
    extra=_extra,
    weighted=True,
    group="attention",
    export=_export,
    saves=_saves,
    casts=lambda inp, out, f: _weights(inp, f),
    # the q, k and v projections read the input; the output projection (D·h·d) the heads
    input_casts=lambda inp, out, f: _weights(inp, f) - dims(inp, f)[1] * dims(inp, f)[2] * dims(inp, f)[4],
    fused={"cuda": lambda inp, out, f: _fused_cuda(inp, f), "cpu": lambda inp, out, f: _fused_cpu(inp, f)},
    count_as=COUNT_AS,
    onnx=(Onnx(("Transpose", "Add", "MatMul", "Gemm", "Reshape"), _from_onnx, pattern=True),),
)

KINDS = [ATTENTION]
