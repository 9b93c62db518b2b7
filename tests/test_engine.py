"""Engine totals and checks: depth, layer count, FLOPs, buffers, `expect` (layer and
top level), `--input`, and the size guard that keeps hostile specs fast.

Every expected number is derived by hand in a comment next to it.
"""
from __future__ import annotations

import json

import pytest
from conftest import analyse_text as analyse
from conftest import codes, locate

from archcalc.engine import parse_count

# A small network whose totals are easy to add up by hand:
#   conv 3x3, 4 filters, pad 1 on 8x8x3: 8x8x4; params 3·3·3·4 + 4 = 112; MACs 8·8·4·27 = 6,912
#   batchnorm on 4 channels: params 2·4 = 8, buffers 2·4 = 8
#   relu, maxpool 2: 4x4x4; flatten: 4·4·4 = 64
#   dense 10: params 64·10 + 10 = 650; MACs 640
# totals: params 112 + 8 + 650 = 770; buffers 8; MACs 6,912 + 640 = 7,552; FLOPs 15,104;
# depth 2 (conv, dense); layers 6.
SMALL = """\
input: [8, 8, 3]
layers:
  - conv: {filters: 4, kernel: 3, padding: 1}
  - batchnorm
  - relu
  - maxpool: 2
  - flatten
  - dense: 10
"""


def test_totals_of_a_small_network(spec_file):
    a = analyse(spec_file, SMALL)
    assert codes(a) == []
    t = a.totals
    assert (t.params, t.buffers, t.macs, t.flops, t.depth, t.layers) == (770, 8, 7552, 15104, 2, 6)
    assert a.output == (10,)


def test_totals_are_sums_of_the_layers(spec_file):
    a = analyse(spec_file, SMALL)
    assert a.totals.layers == len(a.layers)
    assert a.totals.params == sum(layer.params for layer in a.layers)
    assert a.totals.buffers == sum(layer.buffers for layer in a.layers)
    assert a.totals.macs == sum(layer.macs for layer in a.layers)
    assert a.totals.flops == 2 * a.totals.macs


# ----------------------------------------------------------------------------------- depth
C1 = "conv: {filters: 2, kernel: 1}"  # a 1x1 conv keeping 4x4x2: one weight layer


@pytest.mark.parametrize("layers, depth", [
    # weight layers only: conv, dense; pools, activations, flatten, batchnorm add nothing
    (f"[{C1}, relu, maxpool: 2, batchnorm, flatten, dense: 3]", 2),
    # a parallel whose longest branch has 3 convs adds 3, whichever order the branches are in
    (f"[{C1}, parallel: {{branches: [[{C1}, {C1}, {C1}], [{C1}]]}}]", 1 + 3),
    (f"[{C1}, parallel: {{branches: [[{C1}], [{C1}, {C1}, {C1}]]}}]", 1 + 3),
    # an identity branch: the other branch's single conv is the longest path
    (f"[parallel: {{branches: [[], [{C1}]]}}]", 1),
    # a pool-only branch next to a 2-conv branch
    (f"[parallel: {{branches: [[maxpool: {{size: 3, stride: 1, padding: 1}}], [{C1}, {C1}]]}}]", 2),
    # residual: main path 2 convs, the 1-conv projection shortcut is off the longest path
    (f"[residual: {{layers: [{C1}, {C1}], shortcut: [{C1}]}}]", 2),
    # repeat 3 times of (conv, relu), then a dense after flatten: 3 + 1
    (f"[repeat: {{times: 3, layers: [{C1}, relu]}}, flatten, dense: 2]", 4),
    # a parallel nested inside a branch: outer branch 1 = conv, then inner parallel (max 2) = 3
    (f"[parallel: {{branches: [[{C1}, parallel: {{branches: [[{C1}, {C1}], []]}}], [{C1}]]}}]", 3),
])
def test_depth_is_the_longest_chain_of_weight_layers(spec_file, layers, depth):
    a = analyse(spec_file, f"input: [4, 4, 2]\nlayers: {layers}\n")
    assert codes(a) == []
    assert a.totals.depth == depth


def test_depth_of_each_layer_counts_weight_layers_up_to_it(spec_file):
    a = analyse(spec_file, SMALL)
    # conv 1, batchnorm/relu/maxpool/flatten stay at 1, dense 2
    assert [layer.depth for layer in a.layers] == [1, 1, 1, 1, 1, 2]


# ------------------------------------------------------------------------- top-level expect
def test_top_level_expect_that_holds_gives_no_diagnostic(spec_file):
    # the totals derived for SMALL above; counts may be written with units
    text = SMALL + ("expect:\n  params: 770\n  macs: 7.552k\n  flops: 15104\n  buffers: 8\n"
                    "  depth: 2\n  layers: 6\n  output: [10]\n")
    assert codes(analyse(spec_file, text)) == []


@pytest.mark.parametrize("key, wrong", [
    ("params", "771"), ("macs", "7552000"), ("flops", "7552"), ("buffers", "0"), ("depth", "6"),
    ("layers", "2"), ("output", "[10, 1, 1]"), ("params", "5M"),
])
def test_top_level_expect_mismatch_is_located_at_the_value(spec_file, key, wrong):
    text = SMALL + f"expect:\n  {key}: {wrong}\n"
    a = analyse(spec_file, text)
    assert codes(a) == ["total-mismatch"]
    d = a.diagnostics[0]
    assert (d.line, d.column) == locate(text, wrong, nth=text.count(wrong))
    assert d.severity == "error"


def test_top_level_expect_message_gives_both_numbers_and_the_difference(spec_file):
    a = analyse(spec_file, SMALL + "expect: {params: 5M}\n")
    message = a.diagnostics[0].message
    # 770 computed, 5,000,000 pinned: 770 − 5,000,000 = −4,999,230
    assert "770" in message and "5,000,000" in message and "-4,999,230" in message


@pytest.mark.parametrize("text, number", [
    (5000000, 5_000_000), ("5M", 5_000_000), ("2.5G", 2_500_000_000), ("61.7k", 61_700),
    ("1,234", 1234), ("15.47G", 15_470_000_000), ("1t", 10**12),
])
def test_counts_accept_units(text, number):
    assert parse_count(text) == number


@pytest.mark.parametrize("text", ["1.5", "abc", "", True, 2.5, "1.2345k"])
def test_counts_refuse_what_is_not_a_whole_number(text):
    # 1.2345k = 1,234.5 is not whole; True is a boolean, not a count
    assert parse_count(text) is None


def test_top_level_expect_unknown_key_and_bad_value(spec_file):
    text = SMALL + "expect:\n  parms: 770\n  macs: lots\n"
    a = analyse(spec_file, text)
    assert codes(a) == ["unknown-field", "wrong-type"]
    unknown, wrong = a.diagnostics
    assert (unknown.line, unknown.column) == locate(text, "parms")
    assert "did you mean 'params'?" in unknown.hint
    assert (wrong.line, wrong.column) == locate(text, "lots")


def test_expect_is_not_checked_against_a_network_that_does_not_compute(spec_file):
    # the rbf layer on an unflattened volume is the only error reported; no total-mismatch
    # noise about totals of a network that stopped half-way
    text = "input: [4, 4, 2]\nlayers: [rbf: 3]\nexpect: {params: 1}\n"
    assert codes(analyse(spec_file, text)) == ["needs-flat-input"]


# ------------------------------------------------------------------------------ layer expect
def test_layer_expect_mismatch_points_at_the_expect_value(spec_file):
    # conv 3x3 valid on 8x8x3 gives 6x6x4, not 6x6x5
    text = "input: [8, 8, 3]\nlayers:\n  - conv: {filters: 4, kernel: 3, expect: [6, 6, 5]}\n  - relu\n"
    a = analyse(spec_file, text)
    assert codes(a) == ["expect-mismatch"]
    d = a.diagnostics[0]
    assert (d.line, d.column) == locate(text, "[6, 6, 5]")
    assert d.layer == "conv1"
    assert "6×6×4" in d.message and "6×6×5" in d.message
    # the network goes on: relu still sees the computed volume
    assert a.layers[1].input == (6, 6, 4)


def test_layer_expect_that_holds_gives_no_diagnostic(spec_file):
    text = "input: [8, 8, 3]\nlayers:\n  - conv: {filters: 4, kernel: 3, expect: [6, 6, 4]}\n" \
           "  - flatten: {expect: [144]}\n"  # 6·6·4 = 144
    assert codes(analyse(spec_file, text)) == []


def test_layer_expect_of_the_wrong_type(spec_file):
    text = "input: [8, 8, 3]\nlayers:\n  - relu: {expect: big}\n"
    a = analyse(spec_file, text)
    assert codes(a) == ["wrong-type"]
    assert (a.diagnostics[0].line, a.diagnostics[0].column) == locate(text, "big")


# ---------------------------------------------------------------------------- the CLI surface
def test_input_override_through_the_cli(cli, spec_file):
    path = spec_file("input: [8, 8, 3]\nlayers:\n  - conv: {filters: 4, kernel: 3}\n")
    result = cli("show", path, "--format", "json", "--input", "10x12x3")
    assert (result.code, result.err) == (0, "")
    data = json.loads(result.out)
    # 3x3 valid on 10x12: (10 − 3) + 1 = 8, (12 − 3) + 1 = 10; MACs 8·10·4·27 = 8,640
    assert data["input"] == [10, 12, 3]
    assert data["output"] == [8, 10, 4]
    assert data["layers"][0]["macs"] == 8640
    assert data["totals"]["params"] == 112  # 3·3·3·4 + 4: unchanged by the spatial size


def test_input_override_to_a_flat_vector(cli, spec_file):
    path = spec_file("input: [8]\nlayers: [dense: 2]\n")
    result = cli("show", path, "--format", "json", "--input", "5")
    assert (result.code, result.err) == (0, "")
    assert json.loads(result.out)["totals"]["params"] == 12  # 5·2 + 2


def test_bad_input_override_is_a_usage_error(cli, spec_file):
    path = spec_file("input: [8, 8, 3]\nlayers: [relu]\n")
    result = cli("show", path, "--format", "json", "--input", "10x10")
    assert result.code == 2
    assert result.out == ""
    assert "10x10" in result.err


def test_cli_json_totals_and_exit_code_on_a_mismatch(cli, spec_file):
    path = spec_file(SMALL + "expect: {depth: 3}\n")
    result = cli("show", path, "--format", "json")
    # stderr carries a one-line summary (a pipe may hide stdout's report); the totals are known
    assert result.code == 1 and result.err.startswith("archcalc: 1 error: ") and "[total-mismatch]" in result.err
    data = json.loads(result.out)
    assert {k: data["totals"][k] for k in ("params", "buffers", "macs", "flops", "depth", "layers")} == \
        {"params": 770, "buffers": 8, "macs": 7552, "flops": 15104, "depth": 2, "layers": 6}
    [diagnostic] = data["diagnostics"]
    assert (diagnostic["code"], diagnostic["line"], diagnostic["column"]) == \
        ("total-mismatch", 9, 17)  # SMALL has 8 lines; in `expect: {depth: 3}` the 3 is column 17


# ---------------------------------------------------------------------------- the size guard
def test_huge_repeat_is_refused_quickly(run_process, spec_file):
    # refused before expanding: a hang would hit the subprocess timeout (no timed assertion)
    path = spec_file("input: [8]\nlayers:\n  - repeat: {times: 1000000000000, layers: [relu]}\n")
    result = run_process("validate", path, timeout=20)
    assert result.code == 1
    assert "too-large" in result.out + result.err
    assert "Traceback" not in result.err


def test_nested_repeats_multiply_before_the_guard(spec_file):
    # 1,000 × 1,000 × 2 layers = 2,000,000 > the 1,000,000 limit; each repeat alone is fine
    text = "input: [8]\nlayers:\n  - repeat: {times: 1000, layers: [repeat: {times: 1000, layers: [relu, relu]}]}\n"
    a = analyse(spec_file, text)
    assert codes(a) == ["too-large"]
    assert a.layers == []


def test_doubling_block_chain_is_refused_quickly(run_process, spec_file):
    # b_i calls b_(i-1) twice: b40 expands to 2^40 leaves. Rejecting it must not take
    # time exponential in the chain (it used to hang: every call re-expanded its block).
    lines = ["input: [8]", "blocks:", "  b0: {layers: [relu]}"]
    lines += [f"  b{i}: {{layers: [b{i - 1}, b{i - 1}]}}" for i in range(1, 41)]
    lines.append("layers: [b40]")
    path = spec_file("\n".join(lines) + "\n")
    result = run_process("validate", path, timeout=30)  # a hang hits the timeout
    assert result.code == 1
    assert "too-large" in result.out + result.err
    # what is walked: 2^40 relus plus the block calls, 1 + 2 + ... + 2^40 = 2^41 − 1 of them:
    # 1,099,511,627,776 + 2,199,023,255,551 = 3,298,534,883,327
    assert "3,298,534,883,327 layers and scopes" in result.out + result.err


def test_block_chain_within_limits_expands_fully(spec_file):
    # b3 = 2·b2 = 4·b1 = 8·b0: 8 relus, named by their block scopes
    lines = ["input: [8]", "blocks:", "  b0: {layers: [relu]}"]
    lines += [f"  b{i}: {{layers: [b{i - 1}, b{i - 1}]}}" for i in range(1, 4)]
    lines.append("layers: [b3]")
    a = analyse(spec_file, "\n".join(lines) + "\n")
    assert codes(a) == []
    assert a.totals.layers == 8
    assert len({layer.name for layer in a.layers}) == 8


def test_a_layer_that_fails_to_compile_stops_the_shape_flow(spec_file):
    # the first conv misspells `kernel`, so its output is unknown: nothing after it may be
    # computed from a guessed input, but the later layer's own field error is still reported
    text = ("input: [32, 32, 3]\nlayers:\n  - conv: {filters: 16, kernal: 3}\n"
            "  - conv: {filters: 16, kernel: 3, stride: 2}\n  - dense: {units: 0}\n")
    analysis = analyse(spec_file, text)
    assert codes(analysis) == ["unknown-field", "bad-value"]
    assert (analysis.layers, analysis.output) == ([], None)


def test_input_suggestion_ignores_the_specs_own_pins(spec_file):
    # the spec pins conv1's 54×54 at 224; the probe for other sizes must not reject 227 for
    # breaking that pin. 227: (227 − 11)/4 + 1 = 55 and (55 − 3)/2 + 1 = 27, both exact;
    # 223 gives 54 but then (54 − 3)/2 + 1 = 26.5; 221, 222, 225, 226 leave (n − 11)/4 inexact.
    text = ("input: [224, 224, 3]\nlayers:\n  - conv: {filters: 96, kernel: 11, stride: 4, expect: [54, 54, 96]}\n"
            "  - maxpool: {size: 3, stride: 2}\n")
    analysis = analyse(spec_file, text)
    hints = [d.hint for d in analysis.diagnostics if d.code == "window-drops-input"]
    assert hints and all("divides exactly: 227×227;" in h for h in hints)
