"""gatedmlp — the gated feed-forward block of Llama, Mistral and Qwen (SwiGLU, Shazeer 2020).

On a token sequence [T, D] (or a vector [D]): two projections to ``hidden`` features, one
through the activation (SiLU for SwiGLU, GELU for GeGLU), multiplied element-wise, and a third
projection back to D:  down(act(gate(x)) · up(x)).  Shape unchanged.

params  3·D·hidden  (+ 2·hidden + D with ``bias``)
MACs    3·T·D·hidden (the element-wise product is not a multiply-accumulate of a weight)
"""
from __future__ import annotations

from .base import (
    BOOL,
    POSITIVE_INT,
    Counted,
    LayerKind,
    RuleError,
    Torch,
    choice,
    field_,
    fmt_shape,
)

_ACTIVATIONS = {"silu": "nn.SiLU()", "gelu": "nn.GELU()", "gelu_tanh": "nn.GELU(approximate=\"tanh\")",
                "relu": "nn.ReLU()"}


def _shape(inp, f):
    if len(inp) == 3:
        raise RuleError("needs-tokens", f"gatedmlp needs a token sequence [T, D] or a vector, but "
                        f"receives the volume {fmt_shape(inp)}", hint="a volume becomes tokens with `- patches`")
    return inp


def _positions(inp) -> int:
    return inp[0] if len(inp) == 2 else 1


def _params(inp, out, f):
    dim, hidden = inp[-1], f["hidden"]
    return 3 * dim * hidden + (2 * hidden + dim if f["bias"] else 0)


def _macs(inp, out, f):
    return _positions(inp) * 3 * inp[-1] * f["hidden"]


def _biases(inp, f) -> int:
    return _positions(inp) * (2 * f["hidden"] + inp[-1]) if f["bias"] else 0


# ptflops: nn.SiLU calls the patched F.silu (once); nn.GELU is hooked and calls the patched
# F.gelu (twice), as nn.ReLU with F.relu (activations.PTFLOPS_MODULE)
_PTFLOPS_ACT = {"silu": 1, "gelu": 2, "gelu_tanh": 2, "relu": 2}


def _explain(layer):
    dim, hidden = layer.input[-1], layer.fields["hidden"]
    t = f"{layer.input[0]}·" if len(layer.input) == 2 else ""
    bias = f" + 2·{hidden} + {dim}" if layer.fields["bias"] else ""
    return {"params": (f"3·{dim}·{hidden}{bias}", "gate, up and down projections"),
            "MACs": (f"{t}3·{dim}·{hidden}", "three projections per token")}


_GATED = '''class GatedMLP(nn.Module):
    """down(act(gate(x)) * up(x)): SwiGLU with SiLU (Llama, Mistral, Qwen)."""

    def __init__(self, dim, hidden, act, bias=False):
        super().__init__()
        self.gate_proj = nn.Linear(dim, hidden, bias=bias)
        self.up_proj = nn.Linear(dim, hidden, bias=bias)
        self.down_proj = nn.Linear(hidden, dim, bias=bias)
        self.act = act

    def forward(self, x):
        return self.down_proj(self.act(self.gate_proj(x)) * self.up_proj(x))
'''


def _export(inp, out, f):
    bias = ", bias=True" if f["bias"] else ""
    return Torch(f"GatedMLP({inp[-1]}, {f['hidden']}, {_ACTIVATIONS[f['activation']]}{bias})",
                 helpers={"GatedMLP": _GATED})


def _gated_saves(out, f):
    """Its input (both projections read it and save it: one tensor, but under autocast two
    16-bit copies of an fp32 input), then per position: the gate's output (the activation's
    input), the activation's output and the up projection's (the product saves both) and
    the product (the down projection's input), hidden values each; relu saves its output,
    which the product saves anyway."""
    rows = 1
    for size in out[:-1]:
        rows *= size
    per = 3 if f["activation"] == "relu" else 4
    return ("input", "input", ("new", per * rows * f["hidden"]))


GATEDMLP = LayerKind(
    name="gatedmlp",
    autocast="low",
    doc="Gated feed-forward block (SwiGLU): down(act(gate(x))·up(x)), [T, D] unchanged; "
        "3·D·hidden parameters.",
    primary="hidden",
    fields={
        "hidden": field_(POSITIVE_INT, doc="the intermediate size"),
        "activation": field_(choice(*_ACTIVATIONS), "silu", doc="the gate's activation: silu (SwiGLU), "
                             "gelu or gelu_tanh (GeGLU, Gemma), relu"),
        "bias": field_(BOOL, False, doc="biases on the three projections"),
    },
    shape=_shape,
    params=_params,
    macs=_macs,
    describe=lambda f: f"{f['hidden']:,} hidden" + ("" if f["activation"] == "silu" else f", {f['activation']}")
    + (", bias" if f["bias"] else ""),
    explain=_explain,
    weighted=True,
    group="dense",
    export=_export,
    saves=lambda inp, out, f: _gated_saves(out, f),
    casts=lambda inp, out, f: 3 * inp[-1] * f["hidden"],  # the three projections' weights
    input_casts=lambda inp, out, f: 2 * inp[-1] * f["hidden"],  # gate and up read the input
    count_as={
        "ptflops": Counted(lambda inp, out, f: _macs(inp, out, f) + _biases(inp, f)
                           + _PTFLOPS_ACT[f["activation"]] * _positions(inp) * f["hidden"],
                           "its three nn.Linear hooks (with any bias) + the activation on the hidden "
                           "values: SiLU once (patched F.silu), GELU and ReLU twice"),
        "ptflops-aten": Counted(lambda inp, out, f: _macs(inp, out, f) + _biases(inp, f),
                                "MACs + 1 per output value of a projection with a bias"),
    },
)

# --------------------------------------------------------------------------- mixture of experts
def _experts_shape(inp, f):
    _shape(inp, f)
    if f["top_k"] > f["experts"]:
        raise RuleError("bad-value", f"top_k {f['top_k']} is more than the {f['experts']} experts",
                        field="top_k", hint="each token goes to top_k of the experts")
    return inp


def _expert_params(inp, f) -> int:
    return _params(inp, inp, {"hidden": f["hidden"], "bias": False})


def _experts_params(inp, out, f):
    """The router (D·E, no bias) and every expert (a gated MLP each)."""
    return inp[-1] * f["experts"] + f["experts"] * _expert_params(inp, f)


def _experts_macs(inp, out, f):
    """Per token: the router, and top_k experts."""
    return _positions(inp) * (inp[-1] * f["experts"] + f["top_k"] * 3 * inp[-1] * f["hidden"])


def _experts_explain(layer):
    dim, hidden, e, k = layer.input[-1], layer.fields["hidden"], layer.fields["experts"], layer.fields["top_k"]
    t = f"{layer.input[0]}·" if len(layer.input) == 2 else ""
    return {"params": (f"{dim}·{e} + {e}·3·{dim}·{hidden}", "the router and every expert"),
            "active": f"{dim}·{e} + {k}·3·{dim}·{hidden} = {dim * e + k * 3 * dim * hidden:,} parameters "
                      f"used by one token (the router and its top {k} experts)",
            "MACs": (f"{t}({dim}·{e} + {k}·3·{dim}·{hidden})", f"the router and top {k} of {e} experts per token")}


_EXPERTS = '''class Experts(nn.Module):
    """A mixture of SwiGLU experts (Mixtral): the router (``gate``) picks ``top_k`` experts per
    token, whose outputs are summed, weighted by the router's softmax renormalised over them.
    Expert e's weights are ``w1[e]`` (gate), ``w3[e]`` (up) and ``w2[e]`` (down); only the
    chosen experts' weights multiply a token."""

    def __init__(self, dim, experts, top_k, hidden):
        super().__init__()
        self.top_k = top_k
        self.gate = nn.Linear(dim, experts, bias=False)
        self.w1 = nn.Parameter(torch.zeros(experts, hidden, dim))
        self.w3 = nn.Parameter(torch.zeros(experts, hidden, dim))
        self.w2 = nn.Parameter(torch.zeros(experts, dim, hidden))

    def forward(self, x):
        weights, chosen = self.gate(x).softmax(dim=-1).topk(self.top_k, dim=-1)
        weights = weights / weights.sum(dim=-1, keepdim=True)
        column = x.unsqueeze(-2).unsqueeze(-1)
        h = F.silu(self.w1[chosen] @ column) * (self.w3[chosen] @ column)
        y = (self.w2[chosen] @ h).squeeze(-1)
        return (y * weights.unsqueeze(-1)).sum(dim=-2)
'''


def _experts_saves(inp, out, f):
    """What the exported mixture saves for backward, per sample of T tokens, D features, E
    experts, the top k, H hidden (measured with saved_tensors_hooks on the exported module):
    the router's input (T·D) and its softmax (T·E); the chosen experts' int64 indices (T·k);
    their weights and the sum that renormalises them (T·k + T); for each product, the column
    of the token repeated per chosen expert (w1 and w3: 2·T·k·D), the chosen experts' weights
    gathered per token (w1, w3, w2: 3·T·k·H·D — the bulk) and what it multiplies (w2: the
    gated hidden, T·k·H); the SiLU's input and output and the up projection (3·T·k·H); the
    renormalised weights and the experts' outputs they scale (T·k + T·k·D). All in the
    layer's dtype: 16 bits under autocast, where every product casts its operands. With
    k = 1 the columns are the input itself, not copies: under autocast each of the two
    products (and the router) casts an fp32 input to its own 16-bit copy."""
    t, d, e, k, h = _positions(inp), inp[-1], f["experts"], f["top_k"], f["hidden"]
    made = t * e + t + 2 * t * k + t * k * d + 3 * t * k * h * d + 4 * t * k * h
    if k == 1:
        return ("input", "input", "input", ("new", made), ("int64", t * k))
    return ("input", ("new", made + 2 * t * k * d), ("int64", t * k))


def _experts_export(inp, out, f):
    if len(inp) != 2:
        raise RuleError("not-exportable", "experts are exported for a token sequence [T, D]",
                        hint="apply the mixture to tokens")
    return Torch(f"Experts({inp[-1]}, {f['experts']}, {f['top_k']}, {f['hidden']})",
                 helpers={"Experts": _EXPERTS})


EXPERTS = LayerKind(
    name="experts",
    autocast="low",
    doc="Mixture of experts (Mixtral): a router (D·experts) sends each token to `top_k` of "
        "`experts` gated MLPs; shape unchanged. Params count every expert; MACs and active "
        "params the top_k a token uses.",
    primary="experts",
    fields={
        "experts": field_(POSITIVE_INT, doc="experts, each a gated MLP (SwiGLU)"),
        "top_k": field_(POSITIVE_INT, doc="experts each token is routed to"),
        "hidden": field_(POSITIVE_INT, doc="each expert's intermediate size"),
    },
    shape=_experts_shape,
    params=_experts_params,
    macs=_experts_macs,
    describe=lambda f: f"{f['experts']} experts, top {f['top_k']}, {f['hidden']:,} hidden",
    explain=_experts_explain,
    # the parameters a token does not use: (experts − top_k) experts
    extra=lambda inp, out, f: {"inactive_params": (f["experts"] - f["top_k"]) * _expert_params(inp, f)},
    weighted=True,
    group="dense",
    export=_experts_export,
    saves=_experts_saves,
    # under autocast the router's weight is cast to 16 bits and saved; the experts' weights
    # are gathered per token (a fresh tensor, ``_experts_saves``), and the 16-bit copy of
    # that is what the products save, not a copy of every expert's weight
    casts=lambda inp, out, f: inp[-1] * f["experts"],
    count_as={
        # the experts' products are Tensor.__matmul__ (torch, fvcore and the aten backend see
        # them as matmul/bmm; the module tools do not); the router is an nn.Linear
        "ptflops": Counted(lambda inp, out, f: _positions(inp) * (inp[-1] * f["experts"] + f["top_k"] * f["hidden"]),
                           "the router's nn.Linear hook + the patched F.silu on top_k·hidden values "
                           "per token; the experts' products (Tensor.__matmul__) are not seen"),
        "thop": Counted(lambda inp, out, f: _positions(inp) * inp[-1] * f["experts"],
                        "the router's nn.Linear only; the experts' products are not seen"),
    },
)

KINDS = [GATEDMLP, EXPERTS]
