"""Every leaf kind's shape, parameter, buffer and MAC rule, as parameter tables.

Each row is ``(entry, input, output, params, buffers, macs)`` with the hand arithmetic in
a comment; the row is run as a one-layer spec through ``archcalc.analyze(archcalc.load(path))``.
Conventions (SPEC-CONTRACT.md section 3): channels last; conv params kh·kw·(C/groups)·filters
(+ filters with bias), conv MACs H_out·W_out·filters·kh·kw·(C/groups); dense params
in·units (+ units), MACs in·units; everything else has no MACs.
"""
from __future__ import annotations

import json

import pytest
from conftest import analyse_text as analyse
from conftest import locate


def one_layer(spec_file, entry: str, inp):
    a = analyse(spec_file, f"input: {list(inp)}\nlayers:\n  - {entry}\n")
    assert [(d.code, d.message) for d in a.errors] == []
    assert len(a.layers) == 1
    return a.layers[0]


CONV_ROWS = [
    # kernel as int: 32 − 5 + 1 = 28; params 5·5·3·6 + 6 = 456; MACs 28·28·6·(5·5·3) = 784·450 = 352,800
    ("conv: {filters: 6, kernel: 5}", (32, 32, 3), (28, 28, 6), 456, 0, 352_800),
    # kernel pair: h 10 − 3 + 1 = 8, w 12 − 5 + 1 = 8; params 3·5·2·4 + 4 = 124; MACs 8·8·4·30 = 7,680
    ("conv: {filters: 4, kernel: [3, 5]}", (10, 12, 2), (8, 8, 4), 124, 0, 7_680),
    # stride int: ⌊(11 − 3)/2⌋ + 1 = 5; params 3·3·3·2 + 2 = 56; MACs 5·5·2·27 = 1,350
    ("conv: {filters: 2, kernel: 3, stride: 2}", (11, 11, 3), (5, 5, 2), 56, 0, 1_350),
    # stride pair: h ⌊(11 − 2)/3⌋ + 1 = 4, w ⌊(12 − 2)/2⌋ + 1 = 6; params 2·2·1·1 + 1 = 5; MACs 4·6·1·4 = 96
    ("conv: {filters: 1, kernel: 2, stride: [3, 2]}", (11, 12, 1), (4, 6, 1), 5, 0, 96),
    # dilation int: e = 2·(3 − 1) + 1 = 5, 9 − 5 + 1 = 5; params 3·3·2·3 + 3 = 57; MACs 5·5·3·18 = 1,350
    ("conv: {filters: 3, kernel: 3, dilation: 2}", (9, 9, 2), (5, 5, 3), 57, 0, 1_350),
    # dilation pair: e_h = 3·2 + 1 = 7 → 10 − 7 + 1 = 4, e_w = 3 → 8; params 9 + 1 = 10; MACs 4·8·9 = 288
    ("conv: {filters: 1, kernel: 3, dilation: [3, 1]}", (10, 10, 1), (4, 8, 1), 10, 0, 288),
    # padding valid: 5 − 3 + 1 = 3; params 10; MACs 3·3·9 = 81
    ("conv: {filters: 1, kernel: 3, padding: valid}", (5, 5, 1), (3, 3, 1), 10, 0, 81),
    # padding int: 5 + 2 − 3 + 1 = 5; params 3·3·1·2 + 2 = 20; MACs 5·5·2·9 = 450
    ("conv: {filters: 2, kernel: 3, padding: 1}", (5, 5, 1), (5, 5, 2), 20, 0, 450),
    # padding [ph, pw] = [2, 0]: h 6 + 4 − 3 + 1 = 8, w 6 − 3 + 1 = 4; MACs 8·4·9 = 288
    ("conv: {filters: 1, kernel: 3, padding: [2, 0]}", (6, 6, 1), (8, 4, 1), 10, 0, 288),
    # padding [t, b, l, r] = [0, 1, 2, 3]: h 6 + 1 − 3 + 1 = 5, w 6 + 5 − 3 + 1 = 9; MACs 5·9·9 = 405
    ("conv: {filters: 1, kernel: 3, padding: [0, 1, 2, 3]}", (6, 6, 1), (5, 9, 1), 10, 0, 405),
    # same, stride 1: 7x7 kept; params 3·3·2·4 + 4 = 76; MACs 7·7·4·18 = 3,528
    ("conv: {filters: 4, kernel: 3, padding: same}", (7, 7, 2), (7, 7, 4), 76, 0, 3_528),
    # same, stride 2, odd size: ⌈7/2⌉ = 4 (total padding (4 − 1)·2 + 3 − 7 = 2); MACs 4·4·9 = 144
    ("conv: {filters: 1, kernel: 3, stride: 2, padding: same}", (7, 7, 1), (4, 4, 1), 10, 0, 144),
    # same, stride 2, even size: ⌈8/2⌉ = 4 (total padding (4 − 1)·2 + 3 − 8 = 1); MACs 144
    ("conv: {filters: 1, kernel: 3, stride: 2, padding: same}", (8, 8, 1), (4, 4, 1), 10, 0, 144),
    # same, stride 2, non-square 7x8 with a 7x7 kernel: ⌈7/2⌉ = 4, ⌈8/2⌉ = 4;
    # params 7·7·3·2 + 2 = 296; MACs 4·4·2·147 = 4,704
    ("conv: {filters: 2, kernel: 7, stride: 2, padding: same}", (7, 8, 3), (4, 4, 2), 296, 0, 4_704),
    # same with dilation 2: e = 5, stride 1 keeps 6x6; params 3·3·1·1 + 1 = 10; MACs 36·9 = 324
    ("conv: {filters: 1, kernel: 3, dilation: 2, padding: same}", (6, 6, 1), (6, 6, 1), 10, 0, 324),
    # groups 2: params 3·3·(4/2)·8 + 8 = 152; MACs 8·8·8·(9·2) = 9,216
    ("conv: {filters: 8, kernel: 3, padding: 1, groups: 2}", (8, 8, 4), (8, 8, 8), 152, 0, 9_216),
    # depthwise (groups = channels = 4): params 3·3·1·4 + 4 = 40; MACs 8·8·4·9 = 2,304
    ("conv: {filters: 4, kernel: 3, padding: 1, groups: 4}", (8, 8, 4), (8, 8, 4), 40, 0, 2_304),
    # depthwise with multiplier 2 (filters 8, groups 4): params 9·1·8 + 8 = 80; MACs 64·8·9 = 4,608
    ("conv: {filters: 8, kernel: 3, padding: 1, groups: 4}", (8, 8, 4), (8, 8, 8), 80, 0, 4_608),
    # bias false: params 1·1·3·5 = 15; MACs 4·4·5·3 = 240
    ("conv: {filters: 5, kernel: 1, bias: false}", (4, 4, 3), (4, 4, 5), 15, 0, 240),
    # fused activation adds nothing: params 15 + 5 = 20; MACs 240
    ("conv: {filters: 5, kernel: 1, activation: relu}", (4, 4, 3), (4, 4, 5), 20, 0, 240),
    # AlexNet conv1: ⌊(227 − 11)/4⌋ + 1 = 55; params 11·11·3·96 + 96 = 34,944;
    # MACs 55·55·96·363 = 3025·34,848 = 105,415,200
    ("conv: {filters: 96, kernel: 11, stride: 4}", (227, 227, 3), (55, 55, 96), 34_944, 0, 105_415_200),
]

POOL_ROWS = [
    # stride defaults to the size: 28/2 = 14
    ("maxpool: 2", (28, 28, 6), (14, 14, 6), 0, 0, 0),
    ("avgpool: 2", (28, 28, 6), (14, 14, 6), 0, 0, 0),
    # size pair, stride = size pair: h (6 − 2)/2 + 1 = 3, w (9 − 3)/3 + 1 = 3
    ("avgpool: {size: [2, 3]}", (6, 9, 3), (3, 3, 3), 0, 0, 0),
    # explicit stride: ⌊(13 − 3)/2⌋ + 1 = 6
    ("maxpool: {size: 3, stride: 2}", (13, 13, 256), (6, 6, 256), 0, 0, 0),
    # padding int: ⌊(112 + 2 − 3)/2⌋ + 1 = 55 + 1 = 56
    ("maxpool: {size: 3, stride: 2, padding: 1}", (112, 112, 64), (56, 56, 64), 0, 0, 0),
    # four-sided padding [0, 0, 1, 1]: h (4 − 2)/2 + 1 = 2, w (4 + 2 − 2)/2 + 1 = 3
    ("avgpool: {size: 2, padding: [0, 0, 1, 1]}", (4, 4, 2), (2, 3, 2), 0, 0, 0),
    # same: ⌈7/2⌉ = 4
    ("maxpool: {size: 3, stride: 2, padding: same}", (7, 7, 2), (4, 4, 2), 0, 0, 0),
    # ceil: ⌈(112 − 3)/2⌉ + 1 = ⌈54.5⌉ + 1 = 56 (floor would give 55); last start 110 < 112, kept
    ("maxpool: {size: 3, stride: 2, ceil: true}", (112, 112, 64), (56, 56, 64), 0, 0, 0),
    ("maxpool: {size: 3, stride: 2}", (112, 112, 64), (55, 55, 64), 0, 0, 0),
    # ceil with PyTorch's drop: ⌊(5 + 2 − 2 + (2 − 1))/2⌋ + 1 = 4, but (4 − 1)·2 = 6 ≥ 5 + 1
    # (the last window starts in the end padding), so 3
    ("maxpool: {size: 2, stride: 2, padding: 1, ceil: true}", (5, 5, 1), (3, 3, 1), 0, 0, 0),
    # ceil where the last window is kept: ⌊(6 + 2 − 3 + 1)/2⌋ + 1 = 4; (4 − 1)·2 = 6 < 6 + 1
    ("avgpool: {size: 3, stride: 2, padding: 1, ceil: true}", (6, 6, 1), (4, 4, 1), 0, 0, 0),
    # GoogLeNet's first pool (ceil): ⌈(112 − 3)/2⌉ + 1 = 56; its 4a→ pool: ⌈(28 − 3)/2⌉ + 1 = 14
    ("maxpool: {size: 3, stride: 2, ceil: true}", (28, 28, 480), (14, 14, 480), 0, 0, 0),
    # global pools: [H, W, C] → [1, 1, C]
    ("globalavgpool", (7, 7, 512), (1, 1, 512), 0, 0, 0),
    ("globalmaxpool", (5, 3, 2), (1, 1, 2), 0, 0, 0),
]

OTHER_ROWS = [
    # flatten: 5·5·16 = 400
    ("flatten", (5, 5, 16), (400,), 0, 0, 0),
    ("flatten", (10,), (10,), 0, 0, 0),
    # dense on [N]: params 400·120 + 120 = 48,120; MACs 48,000
    ("dense: 120", (400,), (120,), 48_120, 0, 48_000),
    # dense on [1, 1, C] needs no flatten: params 512·1000 + 1000 = 513,000; MACs 512,000
    ("dense: 1000", (1, 1, 512), (1000,), 513_000, 0, 512_000),
    # dense without bias: params = MACs = 10·3 = 30
    ("dense: {units: 3, bias: false}", (10,), (3,), 30, 0, 30),
    # fused activation: params 10·3 + 3 = 33; MACs 30
    ("dense: {units: 3, activation: softmax}", (10,), (3,), 33, 0, 30),
    # batchnorm: 2·C params (γ, β) and 2·C buffers (running mean, variance)
    ("batchnorm", (4, 4, 16), (4, 4, 16), 32, 32, 0),
    ("batchnorm", (10,), (10,), 20, 20, 0),
    # shape-keeping kinds without weights
    ("relu", (3, 3, 2), (3, 3, 2), 0, 0, 0),
    ("relu6", (3, 3, 2), (3, 3, 2), 0, 0, 0),
    ("leakyrelu", (3, 3, 2), (3, 3, 2), 0, 0, 0),
    ("tanh", (7,), (7,), 0, 0, 0),
    ("sigmoid", (7,), (7,), 0, 0, 0),
    ("softmax", (7,), (7,), 0, 0, 0),
    ("dropout", (3, 3, 2), (3, 3, 2), 0, 0, 0),
    ("dropout: 0.2", (7,), (7,), 0, 0, 0),
    ("dropout: {rate: 0}", (7,), (7,), 0, 0, 0),
    ("lrn", (27, 27, 96), (27, 27, 96), 0, 0, 0),
    ("lrn: 3", (27, 27, 96), (27, 27, 96), 0, 0, 0),
]


@pytest.mark.parametrize("entry, inp, out, params, buffers, macs", CONV_ROWS + POOL_ROWS + OTHER_ROWS,
                         ids=lambda v: v if isinstance(v, str) else None)
def test_leaf_rule(spec_file, entry, inp, out, params, buffers, macs):
    layer = one_layer(spec_file, entry, inp)
    assert (layer.input, layer.output, layer.params, layer.buffers, layer.macs) == \
        (tuple(inp), tuple(out), params, buffers, macs)


def test_every_leaf_kind_is_covered_by_a_row():
    from archcalc.layers import REGISTRY

    rows = CONV_ROWS + POOL_ROWS + OTHER_ROWS
    covered = {entry.split(":")[0] for entry, *_ in rows}
    contract = {"conv", "maxpool", "avgpool", "globalavgpool", "globalmaxpool", "flatten", "dense",
                "batchnorm", "relu", "relu6", "leakyrelu", "tanh", "sigmoid", "softmax", "dropout", "lrn"}
    assert contract <= set(REGISTRY)
    assert contract <= covered


def test_same_padding_puts_the_smaller_half_first():
    # even input 8, 3x3 stride 2: total padding 1, so 0 before and 1 after; odd 7: 1 and 1
    from archcalc.layers.conv import resolve_axes

    fields = {"kernel": (3, 3), "stride": (2, 2), "dilation": (1, 1), "padding": "same"}
    (h_axis, w_axis) = resolve_axes((8, 7, 1), fields, "kernel")
    assert h_axis == (8, 3, 2, 1, 0, 1)
    assert w_axis == (7, 3, 2, 1, 1, 1)


# ------------------------------------------------------------------------------- the CLI JSON
@pytest.mark.parametrize("entry, inp, out, params, macs", [
    # depthwise 3x3 stride 2 same on 9x9x8: ⌈9/2⌉ = 5; params 9·1·8 + 8 = 80; MACs 5·5·8·9 = 1,800
    ("conv: {filters: 8, kernel: 3, stride: 2, padding: same, groups: 8}", [9, 9, 8], [5, 5, 8], 80, 1_800),
    # ceil pooling with PyTorch's drop, as above: 5 → 3
    ("maxpool: {size: 2, stride: 2, padding: 1, ceil: true}", [5, 5, 3], [3, 3, 3], 0, 0),
    # dense on 1x1xC: 64·10 + 10 = 650 params, 640 MACs
    ("dense: 10", [1, 1, 64], [10], 650, 640),
])
def test_leaf_rule_through_the_cli_json(cli, spec_file, entry, inp, out, params, macs):
    path = spec_file(f"input: {inp}\nlayers:\n  - {entry}\n")
    result = cli("show", path, "--format", "json")
    assert (result.code, result.err) == (0, "")
    data = json.loads(result.out)
    [layer] = data["layers"]
    assert (layer["input"], layer["output"], layer["params"], layer["macs"]) == (inp, out, params, macs)
    assert data["output"] == out
    assert data["diagnostics"] == []


def test_batchnorm_buffers_through_the_cli_json(cli, spec_file):
    path = spec_file("input: [2, 2, 6]\nlayers: [batchnorm]\n")
    result = cli("show", path, "--format", "json")
    assert (result.code, result.err) == (0, "")
    data = json.loads(result.out)
    # 2·6 = 12 params and 12 buffers
    assert (data["totals"]["params"], data["totals"]["buffers"]) == (12, 12)
    assert (data["layers"][0]["params"], data["layers"][0]["buffers"]) == (12, 12)


# ------------------------------------------------------------------------- errors of the rules
@pytest.mark.parametrize("entry, inp, code, token", [
    # 3x3 window on a 2x2 input: 2 − 3 + 1 = 0 rows
    ("conv: {filters: 1, kernel: 3}", [2, 2, 1], "nonpositive-output", "kernel"),
    ("maxpool: {size: 4, stride: 1}", [3, 3, 1], "nonpositive-output", "size"),
    # groups 3 divides neither 4 channels nor 8 filters
    ("conv: {filters: 8, kernel: 1, groups: 3}", [4, 4, 4], "groups-mismatch", "groups"),
    ("rbf: 10", [4, 4, 2], "needs-flat-input", "rbf"),
    ("conv: {filters: 1, kernel: 1}", [16], "needs-volume", "conv"),
    ("maxpool: 2", [16], "needs-volume", "maxpool"),
    ("globalavgpool", [16], "needs-volume", "globalavgpool"),
])
def test_rule_errors_are_located(spec_file, entry, inp, code, token):
    text = f"input: {inp}\nlayers:\n  - relu\n  - {entry}\n"
    a = analyse(spec_file, text)
    assert [d.code for d in a.errors] == [code]
    d = a.errors[0]
    # a field's problem points at the field's value, a shape problem at the layer's kind
    if token in ("kernel", "size", "groups"):
        line, column = locate(text, token)
        value_column = column + len(token) + 2  # `kernel: 3` → the value after ': '
        assert (d.line, d.column) == (line, value_column)
    else:
        assert (d.line, d.column) == locate(text, token, nth=text.count(token))
    assert d.layer == entry.split(":")[0] + "1"  # the first layer of its kind (after relu1)
    assert d.hint


@pytest.mark.parametrize("entry, code, token", [
    ("conv: {filters: 8, kernel: 3, strides: 2}", "unknown-field", "strides"),
    ("conv: {filters: eight, kernel: 3}", "wrong-type", "eight"),
    ("conv: {filters: 0, kernel: 3}", "bad-value", "0"),
    ("conv: {filters: 8, kernel: [3, 3, 3]}", "wrong-type", "[3, 3, 3]"),
    ("conv: {filters: 8, kernel: 3, padding: full}", "bad-value", "full"),
    ("conv: {filters: 8, kernel: 3, padding: [1, 2, 3]}", "wrong-type", "[1, 2, 3]"),
    ("conv: {filters: 8, kernel: 3, bias: 1}", "wrong-type", "1}"),
    ("conv: {filters: 8, kernel: 3, activation: swish}", "bad-value", "swish"),
    ("conv: {filters: 8}", "missing-field", "conv"),
    ("dropout: 1.5", "bad-value", "1.5"),
    ("dense: 12.5", "wrong-type", "12.5"),
    ("relu: 3", "bad-entry", "3"),
    ("reul", "unknown-kind", "reul"),
])
def test_field_errors_are_located(spec_file, entry, code, token):
    text = f"input: [8, 8, 3]\nlayers:\n  - {entry}\n"
    a = analyse(spec_file, text)
    assert [d.code for d in a.errors] == [code]
    d = a.errors[0]
    line, column = locate(text, token, nth=text.count(token))
    assert (d.line, d.column) == (line, column)


def test_unknown_kind_and_field_suggest_the_nearest_name(spec_file):
    a = analyse(spec_file, "input: [8, 8, 3]\nlayers:\n  - reul\n  - conv: {filters: 8, kernal: 3}\n")
    hints = [d.hint for d in a.errors]
    assert "did you mean 'relu'?" in hints[0]
    assert "did you mean 'kernel'?" in hints[1]
