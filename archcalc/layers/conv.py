"""conv — 2-D convolution.

Output per axis by the window rule; params kh·kw·(C/groups)·filters (+ filters with bias);
MACs H_out·W_out·filters·kh·kw·(C/groups).
"""
from __future__ import annotations

from . import window
from .activations import ACTIVATION_FIELD, fused_activation, fused_count, fused_saves
from .base import (
    BOOL,
    Counted,
    FieldError,
    FieldType,
    PADDING,
    PAIR,
    POSITIVE_INT,
    FieldError,
    FieldType,
    LayerKind,
    NotRead,
    Onnx,
    RuleError,
    Torch,
    concrete,
    describe_bias_activation,
    field_,
    given,
    numel,
    pair_text,
    require_volume,
)


def resolve_axes(inp, f, kernel_key: str):
    """Per-axis (n, k, s, d, pb, pe) for a windowed layer, resolving `same` padding."""
    kh, kw = f[kernel_key]
    sh, sw = f["stride"] or f[kernel_key]
    dh, dw = f.get("dilation") or (1, 1)
    pad = f.get("padding", (0, 0, 0, 0))  # kinds without a padding field pad nothing
    if pad == "same":
        pt, pb_ = window.same_padding(inp[0], window.effective_kernel(kh, dh), sh)
        pl, pr = window.same_padding(inp[1], window.effective_kernel(kw, dw), sw)
    else:
        pt, pb_, pl, pr = pad
    return ((inp[0], kh, sh, dh, pt, pb_), (inp[1], kw, sw, dw, pl, pr))


def torch_padding(inp, f, kernel_key: str):
    """(padding, pads): PyTorch's symmetric ``padding`` per axis (ph, pw), or None with the
    explicit F.pad amounts (left, right, top, bottom) when the two sides differ. `same` is
    resolved to numbers here (they depend on the input size)."""
    pad = f["padding"]
    if pad == "same":
        concrete_f = dict(f)
        for key in (kernel_key, "stride", "dilation"):
            if f.get(key):
                concrete_f[key] = tuple(concrete(v) for v in f[key])
        (_, _, _, _, pt, pb), (_, _, _, _, pl, pr) = resolve_axes(inp, concrete_f, kernel_key)
    else:
        pt, pb, pl, pr = pad
    if pt == pb and pl == pr:
        return (pt, pl), None
    return None, (pl, pr, pt, pb)


def window_axes(inp, f, kernel_key: str):
    """((e, s, p_begin), (e, s, p_begin)): what the receptive-field recurrence needs per axis."""
    return tuple((window.effective_kernel(k, d), s, pb)
                 for n, k, s, d, pb, pe in resolve_axes(inp, f, kernel_key))


def window_shape(inp, f, kernel_key: str, what: str, ceil: bool = False):
    """Spatial output (H, W) of a windowed layer, with a located error when it is empty."""
    out = []
    for axis_name, (n, k, s, d, pb, pe) in zip(("height", "width"), resolve_axes(inp, f, kernel_key)):
        o = window.axis_output(n, k, s, d, pb, pe, ceil)
        if o < 1:
            e = window.effective_kernel(k, d)
            bracket = "⌈⌉" if ceil else "⌊⌋"
            raise RuleError(
                "nonpositive-output",
                f"{what} output {axis_name} {bracket[0]}({n} + {pb + pe} − {e})/{s}{bracket[1]} + 1 = {o} "
                f"is not positive: the {e}-wide window is larger than the padded input ({n + pb + pe})",
                hint="use a smaller kernel, more padding ('same'), or a larger input",
                field=kernel_key)
        out.append(o)
    return out


def _table(v):
    """A connection table: one list of input-channel indices per filter (LeNet-5's Table I)."""
    expected = "a connection table: one list of input-channel indices per filter, e.g. [[0, 1, 2], [1, 2, 3]]"
    if not isinstance(v, list) or not v:
        raise FieldError(expected, v)
    rows = []
    for row in v:
        if not isinstance(row, list) or not row or not all(isinstance(i, int) and not isinstance(i, bool)
                                                           for i in row):
            raise FieldError(expected, v)
        if any(i < 0 for i in row) or len(set(row)) != len(row):
            raise FieldError("a connection table whose rows list distinct non-negative channel indices", v,
                             code="bad-value")
        rows.append(tuple(row))
    return tuple(rows)


TABLE = FieldType("connection table", _table, {
    "type": "array", "minItems": 1,
    "items": {"type": "array", "minItems": 1, "items": {"type": "integer", "minimum": 0}}})


def links(inp, f) -> int:
    """Input channels summed over the filters: Σ_j |table_j|, or filters·C/groups."""
    if f.get("table") is not None:
        return sum(len(row) for row in f["table"])
    return f["filters"] * (inp[2] // f["groups"])


def _check_table(c, f):
    table, filters = f["table"], f["filters"]
    if f["groups"] != 1:
        raise RuleError("table-mismatch", f"a connection table and groups: {f['groups']} cannot be combined: "
                        "the table already says which channels each filter sees",
                        hint="drop `groups` (a grouped conv is the table with contiguous blocks)", field="groups")
    if len(table) != filters:
        raise RuleError("table-mismatch", f"the connection table has {len(table)} row"
                        f"{'s' if len(table) != 1 else ''} but the conv has {filters} filters",
                        hint="give one row per filter: the input channels that filter sees", field="table")
    for j, row in enumerate(table):
        bad = [i for i in row if i >= c]
        if bad:
            raise RuleError("table-mismatch", f"connection table row {j} (filter {j}) names input channel "
                            f"{bad[0]}, but the input has {c} channels (indices 0 to {c - 1})",
                            hint="indices count the input's channels from 0", field=("table", j))


def shape(inp, f):
    require_volume(inp, "conv")
    if f.get("table") is not None:
        _check_table(inp[2], f)
    c, filters, groups = inp[2], f["filters"], f["groups"]
    if c % groups or filters % groups:
        bad = []
        if c % groups:
            bad.append(f"{c} input channels")
        if filters % groups:
            bad.append(f"{filters} filters")
        raise RuleError("groups-mismatch",
                        f"groups must divide input channels and filters, but {groups} does not divide "
                        + " or ".join(bad),
                        hint=f"choose groups among the common divisors of {c} and {filters}",
                        field="groups")
    h, w = window_shape(inp, f, "kernel", "conv")
    return (h, w, filters)


def params(inp, out, f):
    kh, kw = f["kernel"]
    return kh * kw * links(inp, f) + (f["filters"] if f["bias"] else 0)


def macs(inp, out, f):
    kh, kw = f["kernel"]
    return out[0] * out[1] * kh * kw * links(inp, f)


def bias_values(out, f) -> int:
    """One addition per output value when the layer has a bias (what ptflops adds)."""
    return numel(out) if f["bias"] else 0


def connections(inp, out, f):
    """LeCun et al.'s count: every input an output unit sees, plus its bias."""
    return macs(inp, out, f) + (out[0] * out[1] * out[2] if f["bias"] else 0)


def window_warnings(inp, out, f, kernel_key: str, what: str, ceil: bool = False):
    """Warn when padding exceeds half the window, and when real input rows/columns at the end
    are never covered by any window (not in ceil mode, which keeps the last partial window).

    One warning per check and layer: when both axes lose input, rows and columns are told together.
    """
    kh, kw = f[kernel_key]
    axes = resolve_axes(inp, f, kernel_key)
    excess = _excess_padding(axes, f, what)
    if excess:
        yield excess
    if ceil:
        return
    losses = [window.dropped_input(n, k, s, d, pb, pe, o) for (n, k, s, d, pb, pe), o in zip(axes, out)]
    if not any(losses):
        return
    (sh, sw) = (axes[0][2], axes[1][2])
    kernel = f"{kh}×{kw}/{sh if sh == sw else f'{sh}×{sw}'}"

    def arithmetic(axis, o):
        n, k, s, d, pb, pe = axis
        e = window.effective_kernel(k, d)
        return f"({n} + {pb + pe} − {e})/{s} + 1 = {_exact_quotient(n + pb + pe - e, s, 1)} is floored to {o}"

    def unseen(lost, noun):
        return f"the last input {noun}" if lost == 1 else f"the last {lost} input {noun}s"

    if all(losses) and axes[0] == axes[1]:
        lost = losses[0]
        message = (f"{what} {kernel} over {inp[0]}×{inp[1]}: {arithmetic(axes[0], out[0])}, so "
                   f"{unseen(lost, 'row')} and {'column' if lost == 1 else 'columns'} are never seen")
    elif all(losses):
        message = (f"{what} {kernel} over {inp[0]}×{inp[1]}: rows {arithmetic(axes[0], out[0])} and "
                   f"columns {arithmetic(axes[1], out[1])}, so {unseen(losses[0], 'row')} and "
                   f"{unseen(losses[1], 'column')} are never seen")
    else:
        i = 0 if losses[0] else 1
        noun = ("row", "column")[i]
        message = (f"{what} {kernel} over {inp[i]} {noun}s: {arithmetic(axes[i], out[i])}, so "
                   f"{unseen(losses[i], noun)} {'is' if losses[i] == 1 else 'are'} never seen")
    yield ("window-drops-input", message, _padding_hint(axes, losses, f))


def _excess_padding(axes, f, what: str):
    """A side padded by more than half the (effective) window makes border outputs that see
    mostly, or only, padding: legal, but rarely meant (and PyTorch refuses it for pooling)."""
    if f.get("padding") in ("same", (0, 0, 0, 0)):
        return None
    worst = None
    for (n, k, s, d, pb, pe), noun in zip(axes, ("rows", "columns")):
        e = window.effective_kernel(k, d)
        for side, p in (("before", pb), ("after", pe)):
            if 2 * p > e and (worst is None or p * worst[1] > worst[0] * e):
                worst = (p, e, noun, side)
    if worst is None:
        return None
    p, e, noun, side = worst
    seen = "only padding" if p >= e else f"{p} {noun} of padding and only {e - p} of input"
    pooling = "" if what == "conv" else "; PyTorch refuses pooling padding above half the window"
    return ("excess-padding",
            f"{what} pads {p} {noun} {side} the input, more than half its {e}-wide window: the "
            f"border outputs see {seen}",
            f"at most {e // 2} per side keeps every window mostly on the input ('same' picks it "
            f"for you){pooling}")


def _exact_quotient(numerator: int, denominator: int, plus: int) -> str:
    """numerator/denominator + plus in decimals, exactly when they terminate (54.25), else to
    two places with an ellipsis (72.33…). Integers only: sizes can be huge."""
    whole, rest = divmod(numerator, denominator)
    whole += plus
    if not rest:
        return str(whole)
    digits = ""
    for _ in range(4):
        rest *= 10
        digit, rest = divmod(rest, denominator)
        digits += str(digit)
        if not rest:
            return f"{whole}.{digits}"
    return f"{whole}.{digits[:2]}…"


def _padding_hint(axes, losses, f) -> str:
    """The padding that makes this layer exact, written as a `padding:` value, when one exists."""
    if f.get("padding", "same") == "same":  # `same` pads already; subsample has no padding
        return ""
    pads = []
    extra = []
    for (n, k, s, d, pb, pe), lost in zip(axes, losses):
        add = window.exact_padding(n + pb + pe, k, s, d) if lost else 0
        if add is None:
            return ""
        extra.append(add)
        pads.append((pb + add // 2, pe + add - add // 2))
    (top, bottom), (left, right) = pads
    if top == bottom == left == right:
        value = str(top)
    elif top == bottom and left == right:
        value = f"[{top}, {left}]"
    else:
        value = f"[{top}, {bottom}, {left}, {right}]"
    outputs = []
    for (n, k, s, d, pb, pe), add in zip(axes, extra):
        e = window.effective_kernel(k, d)
        outputs.append((n + pb + pe + add - e) // s + 1)
    what = " and ".join(f"{a} more {noun}{'s' if a > 1 else ''}" for a, noun in zip(extra, ("row", "column")) if a)
    return f"`padding: {value}` ({what}) would make this layer exact, giving {outputs[0]}×{outputs[1]}"


def _geometry(f, groups=True) -> str:
    """`3×3/2, p1, dil 2, g32`: what decides the output's size and the channels' wiring."""
    kh, kw = f["kernel"]
    sh, sw = f["stride"]
    text = f"{kh}×{kw}/{sh if sh == sw else f'{sh}×{sw}'}"
    pad = f["padding"]
    if pad == "same":
        text += ", same"
    elif pad == (0, 0, 0, 0):
        pass  # valid is the default: say nothing
    elif len(set(pad)) == 1:
        text += f", p{pad[0]}"
    else:
        text += ", p" + ",".join(map(str, pad))
    if f["dilation"] != (1, 1):
        text += f", dil {f['dilation'][0]}"
    if groups and f["groups"] != 1:
        text += f", g{f['groups']}"
    return text


def label(inp, f) -> str:
    """The picture's arrow: `conv 5×5/1, p2`; a depthwise convolution (one group per input
    channel) `dw 3×3/2, p1`; other groups `conv 3×3/1, g32`."""
    channels = inp[-1] if inp and isinstance(inp[-1], int) else None
    if f["groups"] > 1 and f["groups"] == channels:
        return "dw " + _geometry(f, groups=False)
    return "conv " + _geometry(f)


def describe(f):
    text = _geometry(f)
    if f.get("table") is not None:
        text += f", table {sum(len(row) for row in f['table'])} links"
    return text + describe_bias_activation(f)


def explain(layer):
    """kh·kw·C·filters + filters and H·W·filters·(kh·kw·C), C/groups per group; a connection
    table's arithmetic (LeNet-5's C3: 60 map-to-map links × 25 + 16), and LeCun et al.'s
    connections."""
    f, out = layer.fields, layer.output
    kh, kw = f["kernel"]
    c, filters = layer.input[2], f["filters"]
    bias = f" + {filters}" if f["bias"] else ""
    table = f.get("table")
    if table is None:
        groups = f["groups"]
        seen = f"{kh}·{kw}·{c // groups}"
        per_group = f"{c}/{groups}" if groups != 1 else str(c)
        return {"params": f"{kh}·{kw}·{f'({per_group})' if groups != 1 else per_group}·{filters}{bias}",
                "MACs": f"{out[0]}·{out[1]}·{out[2]}·({kh}·{kw}·{per_group})",
                "connections": f"{out[0]}·{out[1]}·{filters}·({seen}{' + 1' if f['bias'] else ''})"}
    tally: dict[int, int] = {}
    for row in table:
        tally[len(row)] = tally.get(len(row), 0) + 1
    total = sum(len(row) for row in table)
    said = ", ".join(f"{n} filter{'s' if n != 1 else ''} see{'' if n != 1 else 's'} {k} input map"
                     f"{'s' if k != 1 else ''}" for k, n in tally.items())
    return {"table": f"{said}: {' + '.join(f'{n}·{k}' for k, n in tally.items())} = {total} "
                     f"map-to-map links (of {filters}·{c} = {filters * c})",
            "params": f"{total}·{kh}·{kw}{bias}",
            "MACs": f"{out[0]}·{out[1]}·({total}·{kh}·{kw})",
            "connections": f"{out[0]}·{out[1]}·({total}·{kh}·{kw}{bias})"}


def export(inp, out, f):
    """nn.Conv2d; asymmetric padding (`same` with an odd total, or four sides) as an explicit
    F.pad before it, since Conv2d pads both sides alike."""
    args = [str(inp[2]), str(f["filters"]), f"kernel_size={pair_text(*f['kernel'])}"]
    if any(given(v, 1) for v in f["stride"]):
        args.append(f"stride={pair_text(*f['stride'])}")
    padding, pads = torch_padding(inp, f, "kernel")
    if padding is not None and any(given(v, 0) for v in padding):
        args.append(f"padding={pair_text(*padding)}")
    if any(given(v, 1) for v in f["dilation"]):
        args.append(f"dilation={pair_text(*f['dilation'])}")
    if given(f["groups"], 1):
        args.append(f"groups={f['groups']}")
    if not f["bias"]:
        args.append("bias=False")
    x = "{x}" if pads is None else f"F.pad({{x}}, ({', '.join(map(str, pads))}))"
    call = fused_activation(f, f"{{m}}({x})", out)
    if f.get("table") is not None:
        table = "[" + ", ".join("[" + ", ".join(map(str, row)) + "]" for row in f["table"]) + "]"
        return Torch(f"ConnectionTableConv2d({table}, {', '.join(args[2:])})", call=call,
                     helpers={"ConnectionTableConv2d": _TABLE_CONV})
    return Torch(f"nn.Conv2d({', '.join(args)})", call=call)


# A conv whose filter j sees only the input channels table[j]: one single-filter conv per row,
# so that parameters and MACs are exactly the table's (a masked full conv would count more).
_TABLE_CONV = '''class ConnectionTableConv2d(nn.Module):
    """A convolution whose filter j sees only the input channels table[j] (LeNet-5's C3)."""

    def __init__(self, table, kernel_size, **options):
        super().__init__()
        self.table = table
        self.filters = nn.ModuleList(nn.Conv2d(len(row), 1, kernel_size, **options) for row in table)

    def forward(self, x):
        return torch.cat([conv(x[:, row]) for conv, row in zip(self.filters, self.table)], dim=1)
'''


def _saves(inp, out, f):
    """What the exported convolution saves for backward: its input (the padded copy when
    the two sides' padding differs, written as an F.pad before it); with a connection table,
    instead, each filter's copy of the input channels it sees (``x[:, row]``, saved by that
    filter's convolution) and the row's indices (int64, saved by the indexing: 8 bytes each,
    the same for every sample of a batch)."""
    table = f.get("table")
    if table is None:
        pads = torch_padding(inp, f, "kernel")[1]
        if pads is None:
            return ("input",)
        left, right, top, bottom = pads  # F.pad's copy is what the convolution sees and saves
        return (("new", (inp[0] + top + bottom) * (inp[1] + left + right) * inp[2]),)
    links = sum(len(row) for row in table)
    return (("new", links * inp[0] * inp[1]), ("fixed", 8 * links))


def _from_onnx(node):
    """ONNX Conv: the weight (filters, C/groups, kh, kw) gives filters and kernel."""
    w = node.weight(1)
    if w is None or len(w) != 4:
        raise NotRead("not a 2-D convolution with a known weight shape")
    if node.layout == "nhwc":
        raise NotRead("a convolution of a channels-last tensor")
    fields = {"filters": int(w[0]), "kernel": [int(w[2]), int(w[3])], **node.window(),
              "dilation": list(node.attrs.get("dilations", [1, 1])), "groups": int(node.attrs.get("group", 1)),
              "bias": node.has(2)}
    node.expect("input channels", int(w[1]) * fields["groups"])
    return fields


def _channels_taken(conv):
    """The input channels a connection table's filter reads — ``x[:, row]`` as exported: a
    Gather along axis 1 (TorchScript), or a GatherND of rows between two Transposes that swap
    the batch and the channels (dynamo) — as (the tensor read, row); else None."""
    taken = conv.source(conv.inputs[0])
    if taken is not None and taken.op == "Gather" and taken.attrs.get("axis", 0) == 1:
        return taken.inputs[0], taken.value(1)
    swap = [1, 0, 2, 3]
    if taken is None or taken.op != "Transpose" or list(taken.attrs.get("perm", [])) != swap:
        return None
    gather = taken.source(taken.inputs[0])
    if gather is None or gather.op != "GatherND" or gather.attrs.get("batch_dims", 0) != 0:
        return None
    swapped = gather.source(gather.inputs[0])
    if swapped is None or swapped.op != "Transpose" or list(swapped.attrs.get("perm", [])) != swap:
        return None
    indices = gather.weight(1)
    if indices is None or len(indices) != 2 or indices[1] != 1:
        return None
    return swapped.inputs[0], gather.value(1)


def _table_from_onnx(node):
    """A connection table as PyTorch exports one (LeNet-5's C3): a Concat of convolutions,
    filter j of the input channels table[j] (``x[:, row]``), all with the same window."""
    if node.attrs.get("axis") not in (1, -3) or node.between["Conv"] != len(node.inputs) \
            or set(node.between) - {"Conv", "Gather", "GatherND", "Transpose"}:
        raise NotRead("not a connection table")
    table, first = [], None
    for name in node.inputs:
        conv = node.source(name)
        taken = _channels_taken(conv) if conv is not None and conv.op == "Conv" else None
        if taken is None or taken[0] != node.reads:
            raise NotRead("not a connection table")
        row = taken[1]
        fields = _from_onnx(conv)
        if not isinstance(row, list) or fields["groups"] != 1 or fields["filters"] != 1 \
                or conv.weight(1)[1] != len(row):
            raise NotRead("not a connection table")
        fields.pop("filters")
        if first is None:
            first = fields
        elif fields != first:
            raise NotRead("a connection table whose filters differ in window or bias")
        table.append([int(i) for i in row])
    return {**first, "filters": len(table), "table": table}


CONV = LayerKind(
    name="conv",
    aliases=("conv2d", "lazyconv2d", "convolution", "convolution2d", "depthwiseconv2d", "separableconv2d"),
    doc="2-D convolution over an [H, W, C] volume.",
    primary="filters",
    fields={
        "filters": field_(POSITIVE_INT, doc="number of output channels"),
        "kernel": field_(PAIR, doc="kernel size, int or [kh, kw]"),
        "stride": field_(PAIR, (1, 1), doc="stride, int or [sh, sw]"),
        "padding": field_(PADDING, (0, 0, 0, 0),
                          doc="'valid', 'same', int, [ph, pw] or [top, bottom, left, right]"),
        "dilation": field_(PAIR, (1, 1), doc="dilation, int or [dh, dw]"),
        "groups": field_(POSITIVE_INT, 1, doc="channel groups; must divide input channels and filters"),
        "bias": field_(BOOL, True, doc="add a bias per filter"),
        "activation": ACTIVATION_FIELD,
        "table": field_(TABLE, None, doc="connection table: per filter, the input channels it sees "
                                         "(LeNet-5's Table I); params and MACs follow it"),
    },
    shape=shape,
    params=params,
    macs=macs,
    connections=connections,
    describe=describe,
    label=label,
    explain=explain,
    warnings=lambda inp, out, f: window_warnings(inp, out, f, "kernel", "conv"),
    weighted=True,
    window=lambda inp, f: window_axes(inp, f, "kernel"),
    group="conv",
    export=export,
    saves=lambda inp, out, f: _saves(inp, out, f) + fused_saves(f),
    casts=lambda inp, out, f: params(inp, out, f) - (f["filters"] if f["bias"] else 0),
    count_as={
        # conv_flops_counter_hook: MACs, plus one per output value for the bias; a fused
        # activation is the patched F.relu (…) around the module
        "ptflops": Counted(lambda inp, out, f: macs(inp, out, f) + bias_values(out, f) + fused_count(f, out),
                           "MACs + 1 per output value with a bias (conv_flops_counter_hook), "
                           "+ 1 per value for a fused ReLU/GELU/SiLU (patched F.relu …)"),
        # aten_ops.conv_flop: conv_flop_count(..., bias=b is not None)
        "ptflops-aten": Counted(lambda inp, out, f: macs(inp, out, f) + bias_values(out, f),
                                "MACs + 1 per output value with a bias (aten.convolution)"),
    },
    onnx=(Onnx(("Conv",), _from_onnx, folds_pad=True), Onnx(("Concat",), _table_from_onnx, pattern=True)),
)

KINDS = [CONV]
