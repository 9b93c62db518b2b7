"""Channel split: a `parallel` branch that sees a slice of its input's channels — a branch's
`channels: [start, stop]`, or the parallel's `split: equal | [counts]` (ShuffleNetV2's
halves, the two GPU towers of AlexNet 2012).

Every expected number is derived by hand in a comment next to it.
"""
from __future__ import annotations

import json

from conftest import analyse_text as analyse
from conftest import codes, locate

# ShuffleNetV2's basic unit on 28×28×116: channel halves of 58; the first is the identity,
# the second a 1×1 conv of 58 filters: params 58·58 + 58 = 3,422; MACs 28·28·58·58 =
# 2,637,376; the concat gives 58 + 58 = 116 channels again.
SHUFFLE = """\
input: [28, 28, 116]
layers:
  - parallel:
      name: unit
      split: equal
      branches:
        - []
        - [conv: {filters: 58, kernel: 1}]
"""


def test_split_equal_gives_each_branch_its_half(spec_file):
    a = analyse(spec_file, SHUFFLE)
    assert codes(a) == []
    conv = a.layers[0]
    assert (conv.input, conv.output, conv.params, conv.macs) == ((28, 28, 58), (28, 28, 58), 3422, 2637376)
    assert a.output == (28, 28, 116)


def test_branch_channels_and_names_make_two_towers(spec_file):
    # AlexNet 2012's conv2 on 27×27×96: each GPU's 128 filters 5×5 see only its 48 channels:
    # params 5·5·48·128 + 128 = 153,728 per tower (the single-tower conv2 has 614,656)
    text = """\
input: [27, 27, 96]
layers:
  - parallel:
      name: conv2
      branches:
        - {name: gpu1, channels: [0, 48], layers: [conv: {name: c, filters: 128, kernel: 5, padding: 2}]}
        - {name: gpu2, channels: [48, 96], layers: [conv: {name: c, filters: 128, kernel: 5, padding: 2}]}
"""
    a = analyse(spec_file, text)
    assert codes(a) == []
    assert [layer.name for layer in a.layers] == ["conv2.gpu1.c", "conv2.gpu2.c"]
    assert [layer.input for layer in a.layers] == [(27, 27, 48)] * 2
    assert [layer.params for layer in a.layers] == [153728] * 2
    assert a.output == (27, 27, 256)


def test_split_counts_and_flat_vectors(spec_file):
    # [10] features split 4 + 6; dense 3 on each: 4·3 + 3 = 15 and 6·3 + 3 = 21
    a = analyse(spec_file, "input: [10]\nlayers:\n  - parallel: {split: [4, 6], branches: "
                           "[[dense: 3], [dense: 3]]}\n")
    assert codes(a) == []
    assert [layer.params for layer in a.layers] == [15, 21]
    assert a.output == (6,)


def test_a_sliced_identity_branch_passes_its_slice(spec_file):
    # channels [2, 5) of 8: 3 channels through; concatenated with a 1×1 conv of 4: 3 + 4 = 7
    a = analyse(spec_file, "input: [4, 4, 8]\nlayers:\n  - parallel:\n      branches:\n"
                           "        - {channels: [2, 5], layers: []}\n"
                           "        - [conv: {filters: 4, kernel: 1}]\n")
    assert codes(a) == []
    assert a.output == (4, 4, 7)


def test_slices_are_views_for_memory_and_keep_the_receptive_field(spec_file):
    # Walk (values): input 28·28·116 = 90,944 alive. Branch 2's conv stores 28·28·58 = 45,472
    # (live 136,416; the input is held by the branch point, the slice is a view of it). The
    # merge stores 28·28·116 = 90,944: live 227,360, the peak. Activations 45,472 + 90,944.
    a = analyse(spec_file, SHUFFLE)
    assert a.totals.peak_activations == 227360
    assert a.totals.activations == 45472 + 90944
    # a 3×3 conv in a sliced branch sees 3×3 pixels, as anywhere else
    b = analyse(spec_file, SHUFFLE.replace("kernel: 1}", "kernel: 3, padding: 1}"))
    assert b.layers[0].receptive_field.size == (3, 3)


def test_a_slice_beyond_the_input_is_a_located_error(spec_file):
    text = """\
input: [27, 27, 96]
layers:
  - parallel:
      branches:
        - {channels: [0, 48], layers: [conv: {filters: 128, kernel: 5, padding: 2}]}
        - {channels: [48, 100], layers: [conv: {filters: 128, kernel: 5, padding: 2}]}
"""
    a = analyse(spec_file, text)
    assert codes(a) == ["split-mismatch"]
    d = a.diagnostics[0]
    assert (d.line, d.column) == locate(text, "[48, 100]")
    assert "96 channels" in d.message


def test_split_errors(spec_file):
    # 116 channels among 3 branches: 116 = 3·38 + 2, not equal parts
    text = "input: [4, 4, 116]\nlayers:\n  - parallel: {split: equal, branches: [[], [], []]}\n"
    a = analyse(spec_file, text)
    assert codes(a) == ["split-mismatch"]
    assert (a.diagnostics[0].line, a.diagnostics[0].column) == locate(text, "equal")
    assert "[39, 39, 38]" in a.diagnostics[0].hint  # 39 + 39 + 38 = 116
    # counts that do not add up: 58 + 48 = 106 ≠ 116
    b = analyse(spec_file, "input: [4, 4, 116]\nlayers:\n  - parallel: {split: [58, 48], branches: [[], []]}\n")
    assert codes(b) == ["split-mismatch"] and "106" in b.diagnostics[0].message
    # one count per branch
    c = analyse(spec_file, "input: [4, 4, 8]\nlayers:\n  - parallel: {split: [8], branches: [[], []]}\n")
    assert codes(c) == ["split-mismatch"]
    # an empty slice, a malformed one, split and channels together, an unknown branch key
    d = analyse(spec_file, "input: [4, 4, 8]\nlayers:\n  - parallel: {branches: [{channels: [3, 3], "
                           "layers: []}]}\n")
    assert codes(d) == ["bad-value"]
    e = analyse(spec_file, "input: [4, 4, 8]\nlayers:\n  - parallel: {branches: [{channels: 3, "
                           "layers: []}]}\n")
    assert codes(e) == ["wrong-type"]
    f = analyse(spec_file, "input: [4, 4, 8]\nlayers:\n  - parallel: {split: equal, branches: "
                           "[{channels: [0, 4], layers: []}, []]}\n")
    assert codes(f) == ["split-mismatch"]
    g = analyse(spec_file, "input: [4, 4, 8]\nlayers:\n  - parallel: {branches: [{chanels: [0, 4], "
                           "layers: []}]}\n")
    assert codes(g) == ["unknown-field"] and "channels" in g.diagnostics[0].hint


def test_split_takes_block_arguments(spec_file):
    # a ShuffleNet-like block: halves of $c given as counts computed from the argument
    text = """\
input: [8, 8, 24]
blocks:
  unit:
    args: {c: null}
    layers:
      - parallel: {split: ["${c // 2}", "${c // 2}"], branches: [[], [conv: {filters: "${c // 2}", kernel: 1}]]}
layers:
  - unit: {c: 24}
"""
    a = analyse(spec_file, text)
    assert codes(a) == []
    # 1×1 conv of 12 on 12 channels: 12·12 + 12 = 156
    assert (a.layers[0].input, a.layers[0].params) == ((8, 8, 12), 156)


def test_json_shows_the_sliced_input(cli, spec_file):
    result = cli("show", spec_file(SHUFFLE), "-f", "json")
    assert result.code == 0
    layer = json.loads(result.out)["layers"][0]
    assert (layer["name"], layer["input"]) == ("unit.branch2.conv1", [28, 28, 58])
