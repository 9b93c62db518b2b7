"""Composite kinds (SPEC-CONTRACT.md section 4): parallel (concat, add, identity branches),
residual, repeat; their merge errors; and the names given to the leaves inside them.

Every expected number is derived by hand in a comment.
"""
from __future__ import annotations

import json

import pytest
from conftest import analyse_text as analyse
from conftest import codes, locate

from archcalc.readers import zoo


def names(analysis) -> list[str]:
    return [layer.name for layer in analysis.layers]


# ----------------------------------------------------------------------------------- concat
def test_concat_adds_channels(spec_file):
    # an inception-like module on 28x28x192 (GoogLeNet 3a):
    #   1x1, 64:                 params 192·64 + 64 = 12,352
    #   1x1, 96 → 3x3 pad 1, 128: 192·96 + 96 = 18,528; 9·96·128 + 128 = 110,720
    #   1x1, 16 → 5x5 pad 2, 32:  192·16 + 16 = 3,088;  25·16·32 + 32 = 12,832
    #   pool 3/1 pad 1 → 1x1, 32: 192·32 + 32 = 6,176
    # channels 64 + 128 + 32 + 32 = 256; params sum 163,696 (the GoogLeNet paper's 159K + biases);
    # depth: the longest branch has 2 convs
    text = """\
input: [28, 28, 192]
layers:
  - parallel:
      expect: [28, 28, 256]
      branches:
        - [conv: {filters: 64, kernel: 1}]
        - [conv: {filters: 96, kernel: 1}, conv: {filters: 128, kernel: 3, padding: 1}]
        - [conv: {filters: 16, kernel: 1}, conv: {filters: 32, kernel: 5, padding: 2}]
        - [maxpool: {size: 3, stride: 1, padding: 1}, conv: {filters: 32, kernel: 1}]
"""
    a = analyse(spec_file, text)
    assert codes(a) == []
    assert a.output == (28, 28, 256)
    assert a.totals.params == 12_352 + 18_528 + 110_720 + 3_088 + 12_832 + 6_176 == 163_696
    assert a.totals.depth == 2
    # every branch sees the block's input
    assert [layer.input for layer in a.layers if layer.name.endswith("conv1")] == [(28, 28, 192)] * 4


def test_concat_of_flat_vectors(spec_file):
    # two dense heads on [10]: [3] and [5] concatenate to [8]; params 33 + 55 = 88
    a = analyse(spec_file, "input: [10]\nlayers:\n  - parallel: {branches: [[dense: 3], [dense: 5]]}\n")
    assert codes(a) == []
    assert a.output == (8,)
    assert a.totals.params == 88


def test_concat_needs_equal_spatial_sizes(spec_file):
    text = """\
input: [8, 8, 4]
layers:
  - parallel:
      branches:
        - [conv: {filters: 6, kernel: 3}]
        - [conv: {filters: 2, kernel: 1}]
"""
    # branch1: 8 − 3 + 1 = 6 → 6x6x6; branch2: 8x8x2
    a = analyse(spec_file, text)
    assert codes(a) == ["merge-mismatch"]
    d = a.diagnostics[0]
    assert "branch1 6×6×6" in d.message and "branch2 8×8×2" in d.message
    assert (d.line, d.column) == locate(text, "parallel")
    assert d.layer == "parallel1"
    assert a.output is None


# -------------------------------------------------------------------------------------- add
def test_add_needs_equal_shapes_and_keeps_them(spec_file):
    # three branches of 1x1 convs to 8 channels each: add keeps 8x8x8; params 3·(4·8 + 8) = 120
    text = "input: [8, 8, 4]\nlayers:\n  - parallel:\n      merge: add\n      branches: " \
           "[[conv: {filters: 8, kernel: 1}], [conv: {filters: 8, kernel: 1}], [conv: {filters: 8, kernel: 1}]]\n"
    a = analyse(spec_file, text)
    assert codes(a) == []
    assert a.output == (8, 8, 8)
    assert a.totals.params == 120


def test_add_mismatch_names_both_branches_and_shapes(spec_file):
    text = """\
input: [8, 8, 4]
layers:
  - parallel:
      merge: add
      branches:
        - [conv: {filters: 8, kernel: 1}]
        - []
"""
    a = analyse(spec_file, text)
    assert codes(a) == ["merge-mismatch"]
    d = a.diagnostics[0]
    assert "branch1 (8×8×8)" in d.message and "branch2 (8×8×4)" in d.message
    assert (d.line, d.column) == locate(text, "parallel")


def test_residual_mismatch_hint_is_the_projection_that_fixes_it(spec_file):
    # main path: 3x3/2 pad 1 → ⌊(8 + 2 − 3)/2⌋ + 1 = 4, so 4x4x8; the identity shortcut is 8x8x4.
    # The projection must give 8 filters and stride 8/4 = 2.
    text = """\
input: [8, 8, 4]
layers:
  - residual:
      layers: [conv: {filters: 8, kernel: 3, stride: 2, padding: 1}, batchnorm]
"""
    a = analyse(spec_file, text)
    assert codes(a) == ["merge-mismatch"]
    d = a.diagnostics[0]
    assert "layers (4×4×8)" in d.message and "shortcut (8×8×4)" in d.message
    assert "filters: 8" in d.hint and "kernel: 1" in d.hint and "stride: 2" in d.hint
    assert (d.line, d.column) == locate(text, "residual")


def test_following_the_projection_hint_fixes_the_residual(spec_file):
    # the hint's shortcut: 1x1/2 → ⌊(8 − 1)/2⌋ + 1 = 4, 4x4x8. params: main 9·4·8 + 8 = 296,
    # batchnorm 16; shortcut 4·8 + 8 = 40, batchnorm 16 → 368; buffers 16 + 16 = 32
    text = """\
input: [8, 8, 4]
layers:
  - residual:
      layers: [conv: {filters: 8, kernel: 3, stride: 2, padding: 1}, batchnorm]
      shortcut: [conv: {filters: 8, kernel: 1, stride: 2}, batchnorm]
"""
    a = analyse(spec_file, text)
    assert codes(a) == []
    assert a.output == (4, 4, 8)
    assert (a.totals.params, a.totals.buffers, a.totals.depth) == (368, 32, 1)


def test_add_hint_without_a_stride(spec_file):
    # only the channels differ (8x8x4 → 8x8x16): a 1x1 with 16 filters and no stride
    a = analyse(spec_file, "input: [8, 8, 4]\nlayers:\n  - residual: {layers: [conv: {filters: 16, kernel: 1}]}\n")
    assert codes(a) == ["merge-mismatch"]
    assert "filters: 16" in a.diagnostics[0].hint
    assert "stride" not in a.diagnostics[0].hint


# ---------------------------------------------------------------------------------- residual
def test_residual_without_shortcut_is_identity_add(spec_file):
    # 3x3 pad 1 keeps 8x8x4: params 9·4·4 + 4 = 148, batchnorm 8 → 156; MACs 8·8·4·36 = 9,216
    a = analyse(spec_file, "input: [8, 8, 4]\nlayers:\n  - residual: {layers: "
                           "[conv: {filters: 4, kernel: 3, padding: 1}, batchnorm]}\n")
    assert codes(a) == []
    assert a.output == (8, 8, 4)
    assert (a.totals.params, a.totals.macs, a.totals.layers) == (156, 9_216, 2)


# --------------------------------------------------------------------------- identity branch
def test_densenet_style_identity_branch_grows_channels(spec_file):
    # each iteration concatenates its input (identity) with 12 new channels: 16 → 28 → 40 → 52.
    # conv 3x3 pad 1 with C inputs: 9·C·12 + 12 params, 8·8·12·9·C = 6,912·C MACs; batchnorm 2C.
    #   C = 16: bn 32, conv 1,740, MACs 110,592
    #   C = 28: bn 56, conv 3,036, MACs 193,536
    #   C = 40: bn 80, conv 4,332, MACs 276,480
    # params 168 + 9,108 = 9,276; buffers 168; MACs 580,608; depth 3
    text = """\
input: [8, 8, 16]
layers:
  - repeat:
      times: 3
      layers:
        - parallel: {branches: [[], [batchnorm, relu, conv: {filters: 12, kernel: 3, padding: 1}]]}
"""
    a = analyse(spec_file, text)
    assert codes(a) == []
    assert a.output == (8, 8, 52)
    t = a.totals
    assert (t.params, t.buffers, t.macs, t.depth) == (9_276, 168, 580_608, 3)


def test_all_branches_empty_concat_doubles_channels(spec_file):
    # [[], []] concatenates the input with itself: 4 + 4 = 8 channels, no layers
    a = analyse(spec_file, "input: [2, 2, 4]\nlayers:\n  - parallel: {branches: [[], []]}\n")
    assert a.errors == []
    assert a.output == (2, 2, 8)
    assert a.totals.layers == 0


# ------------------------------------------------------------------------------------ repeat
def test_repeat_runs_its_layers_in_a_row(spec_file):
    # 3 × (conv 3x3 pad 1, 8 → 8 channels, relu): params 3·(9·8·8 + 8) = 3·584 = 1,752;
    # MACs 3·(4·4·8·72) = 3·9,216 = 27,648; depth 3; 6 layers
    a = analyse(spec_file, "input: [4, 4, 8]\nlayers:\n  - repeat: {times: 3, layers: "
                           "[conv: {filters: 8, kernel: 3, padding: 1}, relu]}\n")
    assert codes(a) == []
    t = a.totals
    assert (t.params, t.macs, t.depth, t.layers) == (1_752, 27_648, 3, 6)


def test_repeat_feeds_each_iteration_the_previous_output(spec_file):
    # 2 × maxpool 2: 16 → 8 → 4
    a = analyse(spec_file, "input: [16, 16, 1]\nlayers:\n  - repeat: {times: 2, layers: [maxpool: 2]}\n")
    assert [layer.output for layer in a.layers] == [(8, 8, 1), (4, 4, 1)]


def test_repeat_and_parallel_expect(spec_file):
    text = """\
input: [16, 16, 1]
layers:
  - repeat: {times: 2, layers: [maxpool: 2], expect: [4, 4, 1]}
  - parallel: {branches: [[], []], expect: [4, 4, 3]}
"""
    # the repeat's 4x4x1 matches; the parallel gives 4x4x2, not 4x4x3
    a = analyse(spec_file, text)
    assert codes(a) == ["expect-mismatch"]
    assert (a.diagnostics[0].line, a.diagnostics[0].column) == locate(text, "[4, 4, 3]")


@pytest.mark.parametrize("body, code", [
    ("{times: 0, layers: [relu]}", "bad-value"),
    ("{times: two, layers: [relu]}", "wrong-type"),
    ("{layers: [relu]}", "missing-field"),
    ("{times: 2, layers: [relu], count: 3}", "unknown-field"),
    ("3", "wrong-type"),
])
def test_repeat_field_errors(spec_file, body, code):
    a = analyse(spec_file, f"input: [4]\nlayers:\n  - repeat: {body}\n")
    assert code in codes(a)
    assert all(d.line == 3 for d in a.errors)


@pytest.mark.parametrize("body, code", [
    ("{branches: []}", "wrong-type"),
    ("{branches: [[relu]], merge: sum}", "bad-value"),
    ("{merge: add}", "missing-field"),
])
def test_parallel_field_errors(spec_file, body, code):
    a = analyse(spec_file, f"input: [4]\nlayers:\n  - parallel: {body}\n")
    assert code in codes(a)


# ------------------------------------------------------------------------------------- names
def test_unnamed_leaves_are_numbered_per_kind(spec_file):
    a = analyse(spec_file, "input: [8, 8, 1]\nlayers: [conv: {filters: 1, kernel: 1}, relu, "
                           "conv: {filters: 1, kernel: 1}, relu, maxpool: 2, flatten, dense: 2]\n")
    assert names(a) == ["conv1", "relu1", "conv2", "relu2", "maxpool1", "flatten1", "dense1"]


def test_explicit_names_are_kept_and_do_not_disturb_numbering(spec_file):
    a = analyse(spec_file, "input: [4]\nlayers: [dense: {name: fc6, units: 4}, relu, dense: 3]\n")
    assert names(a) == ["fc6", "relu1", "dense1"]


def test_named_repeat_scopes_each_iteration(spec_file):
    text = "input: [4, 4, 2]\nlayers:\n  - repeat: {name: layer1, times: 2, layers: " \
           "[conv: {filters: 2, kernel: 1}, relu]}\n"
    assert names(analyse(spec_file, text)) == \
        ["layer1.0.conv1", "layer1.0.relu1", "layer1.1.conv1", "layer1.1.relu1"]


def test_unnamed_repeat_continues_the_numbering(spec_file):
    text = "input: [4, 4, 2]\nlayers:\n  - relu\n  - repeat: {times: 2, layers: [relu]}\n"
    assert names(analyse(spec_file, text)) == ["relu1", "relu2", "relu3"]


def test_unnamed_repeat_with_an_explicitly_named_leaf_is_a_duplicate(spec_file):
    text = "input: [4]\nlayers:\n  - repeat: {times: 2, layers: [dense: {name: fc, units: 4}]}\n"
    a = analyse(spec_file, text)
    assert codes(a) == ["duplicate-name"]
    assert "name the repeat" in a.diagnostics[0].hint


def test_duplicate_explicit_names(spec_file):
    text = "input: [4]\nlayers:\n  - dense: {name: fc, units: 4}\n  - dense: {name: fc, units: 4}\n"
    a = analyse(spec_file, text)
    assert codes(a) == ["duplicate-name"]
    assert (a.diagnostics[0].line, a.diagnostics[0].column) == (4, 5)  # the second `dense`


def test_parallel_branches_are_scoped(spec_file):
    text = "input: [4, 4, 2]\nlayers:\n  - parallel: {branches: [[conv: {filters: 1, kernel: 1}], " \
           "[conv: {filters: 1, kernel: 1}, relu]]}\n  - parallel: {name: mix, branches: [[relu], []]}\n"
    assert names(analyse(spec_file, text)) == [
        "parallel1.branch1.conv1", "parallel1.branch2.conv1", "parallel1.branch2.relu1",
        "mix.branch1.relu1"]


def test_residual_main_path_stays_in_scope_and_shortcut_is_scoped(spec_file):
    text = """\
input: [4, 4, 2]
layers:
  - residual: {layers: [conv: {filters: 2, kernel: 1}], shortcut: [conv: {filters: 2, kernel: 1}]}
  - residual: {layers: [conv: {filters: 2, kernel: 1}], shortcut: [conv: {filters: 2, kernel: 1}]}
  - residual: {name: res, layers: [conv: {filters: 2, kernel: 1}], shortcut: [conv: {filters: 2, kernel: 1}]}
"""
    # a second unnamed residual numbers its shortcut like any other unnamed scope
    assert names(analyse(spec_file, text)) == [
        "conv1", "shortcut.conv1", "conv2", "shortcut2.conv1", "res.conv1", "res.shortcut.conv1"]


def test_block_calls_scope_their_leaves(spec_file):
    text = """\
input: [8, 8, 4]
blocks:
  mix:
    layers:
      - parallel: {branches: [[conv: {filters: 2, kernel: 1}], [conv: {filters: 2, kernel: 1}, relu]]}
layers:
  - mix: {name: 3a}
  - mix
"""
    assert names(analyse(spec_file, text)) == [
        "3a.branch1.conv1", "3a.branch2.conv1", "3a.branch2.relu1",
        "mix1.branch1.conv1", "mix1.branch2.conv1", "mix1.branch2.relu1"]


@pytest.mark.parametrize("network", zoo.names())
def test_zoo_layer_names_are_unique(cli, network):
    result = cli("show", network, "--format", "json")
    assert (result.code, result.err) == (0, "")
    data = json.loads(result.out)
    layer_names = [layer["name"] for layer in data["layers"]]
    assert len(layer_names) == len(set(layer_names)) == data["totals"]["layers"]
    assert all(name and " " not in name for name in layer_names)
