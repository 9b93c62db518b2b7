"""Naming layers as torchvision names its modules: a repeat's `index`, `${expression}`s inside
names, a residual's named shortcut and parallel branches with `scope: false`.

Expected names are torchvision's (the state_dict keys in tests/fixtures/torchvision/*.json);
expected numbers are derived by hand in a comment next to them.
"""
from __future__ import annotations

from conftest import analyse_text as analyse
from conftest import codes, locate


def names(analysis):
    return [layer.name for layer in analysis.layers]


# DenseNet's layer numbering: on 8×8×4, three dense layers each concatenate 2 channels:
# 4 → 6 → 8 → 10; conv params 1·1·4·2 + 2 = 10, then 1·1·6·2 + 2 = 14, 1·1·8·2 + 2 = 18.
DENSE = """\
input: [8, 8, 4]
blocks:
  dense_layer:
    layers:
      - parallel:
          branches:
            - []
            - {scope: false, layers: [conv: {name: conv1, filters: 2, kernel: 1}]}
layers:
  - repeat:
      times: 3
      index: i
      layers: [dense_layer: {name: "denselayer${i + 1}"}]
"""


def test_dense_layers_are_numbered_from_one_and_unscoped_branches_add_no_scope(spec_file):
    a = analyse(spec_file, DENSE)
    assert codes(a) == []
    assert names(a) == ["denselayer1.conv1", "denselayer2.conv1", "denselayer3.conv1"]
    assert [layer.params for layer in a.layers] == [10, 14, 18]
    assert a.output == (8, 8, 10)


def test_a_stage_whose_first_block_differs(spec_file):
    # torchvision's layer2 of ResNet: block 0 has the projection `downsample` (1x1 conv and
    # bn: keys downsample.0.weight, downsample.1.*), blocks 1.. have none.
    # On 8×8×4: conv 3·3·4·8 = 288 params (no bias); downsample.0 1·1·4·8 = 32;
    # downsample.1 2·8 = 16; each later block's conv 3·3·8·8 = 576.
    text = """\
input: [8, 8, 4]
blocks:
  down:
    layers:
      - residual:
          layers: [conv: {name: conv1, filters: 8, kernel: 3, padding: 1, bias: false}]
          shortcut:
            name: downsample
            layers: [conv: {name: 0, filters: 8, kernel: 1, bias: false}, batchnorm: {name: 1}]
  plain:
    layers:
      - residual:
          layers: [conv: {name: conv1, filters: 8, kernel: 3, padding: 1, bias: false}]
  stage:
    args: {blocks: 3}
    layers:
      - down: {name: 0}
      - repeat: {times: "${blocks - 1}", index: i, layers: [plain: {name: "${i + 1}"}]}
layers:
  - stage: {name: layer2}
"""
    a = analyse(spec_file, text)
    assert codes(a) == []
    assert names(a) == ["layer2.0.conv1", "layer2.0.downsample.0", "layer2.0.downsample.1",
                        "layer2.1.conv1", "layer2.2.conv1"]
    assert [layer.params for layer in a.layers] == [288, 32, 16, 576, 576]


def test_names_may_mix_text_and_several_expressions(spec_file):
    # RegNet's blocks: trunk_output.block2.block2-0, block2-1
    text = """\
input: [4, 4, 2]
blocks:
  stage:
    args: {s: null}
    layers:
      - repeat: {times: 2, index: i, layers: [conv: {name: "block${s}-${i}", filters: 2, kernel: 1}]}
layers:
  - stage: {name: block2, s: 2}
"""
    a = analyse(spec_file, text)
    assert codes(a) == []
    assert names(a) == ["block2.block2-0", "block2.block2-1"]


def test_an_indexed_repeat_refuses_a_name_and_a_bad_index(spec_file):
    text = """\
input: [4, 4, 2]
layers:
  - repeat: {name: r, times: 2, index: i, layers: [relu]}
"""
    a = analyse(spec_file, text)
    assert codes(a) == ["bad-value"]
    assert (a.diagnostics[0].line, a.diagnostics[0].column) == locate(text, "name")
    text = """\
input: [4, 4, 2]
layers:
  - repeat: {times: 2, index: [i], layers: [relu]}
"""
    a = analyse(spec_file, text)
    assert codes(a) == ["wrong-type"]
    assert (a.diagnostics[0].line, a.diagnostics[0].column) == locate(text, "[i]")


def test_a_bad_expression_in_a_name_is_located(spec_file):
    text = """\
input: [4, 4, 2]
layers:
  - repeat: {times: 2, index: i, layers: [conv: {name: "c${j}", filters: 2, kernel: 1}]}
"""
    a = analyse(spec_file, text)
    assert codes(a) == ["bad-expression"]  # once, not once per iteration
    assert (a.diagnostics[0].line, a.diagnostics[0].column) == locate(text, '"c${j}"')
    assert "'j'" in a.diagnostics[0].message


def test_an_unscoped_branch_cannot_also_be_named(spec_file):
    text = """\
input: [4, 4, 2]
layers:
  - parallel:
      branches: [[], {name: b, scope: false, layers: [relu]}]
"""
    a = analyse(spec_file, text)
    assert codes(a) == ["bad-value"]
    assert (a.diagnostics[0].line, a.diagnostics[0].column) == locate(text, "false")


def test_a_parallel_without_scope_names_its_branches_in_the_enclosing_scope(spec_file):
    # SqueezeNet's Fire module: features.3.squeeze, features.3.expand1x1, features.3.expand3x3.
    # On 8×8×6: squeeze 1·1·6·2 + 2 = 14; expand1x1 1·1·2·4 + 4 = 12; expand3x3 3·3·2·4 + 4 = 76;
    # the concat gives 4 + 4 = 8 channels.
    text = """\
input: [8, 8, 6]
blocks:
  fire:
    layers:
      - conv: {name: squeeze, filters: 2, kernel: 1}
      - parallel:
          scope: false
          branches:
            - [conv: {name: expand1x1, filters: 4, kernel: 1}]
            - [conv: {name: expand3x3, filters: 4, kernel: 3, padding: 1}]
layers:
  - fire: {name: 3}
"""
    a = analyse(spec_file, text)
    assert codes(a) == []
    assert names(a) == ["3.squeeze", "3.expand1x1", "3.expand3x3"]
    assert [layer.params for layer in a.layers] == [14, 12, 76]
    assert a.output == (8, 8, 8)
    assert codes(analyse(spec_file, text.replace("- parallel:\n", "- parallel:\n          name: p\n"))) == \
        ["bad-value"]


def test_an_indexed_repeat_may_have_no_iteration_and_a_plain_one_may_not(spec_file):
    # RegNetX-400MF's first stage has a single block: the stage's `repeat` of the rest is empty.
    text = """\
input: [4, 4, 2]
layers:
  - conv: {name: first, filters: 3, kernel: 1}
  - repeat: {times: 0, index: i, layers: [conv: {name: "r${i}", filters: 3, kernel: 1}]}
"""
    a = analyse(spec_file, text)
    assert codes(a) == []
    assert names(a) == ["first"]
    a = analyse(spec_file, text.replace(", index: i", "").replace('"r${i}"', "r"))
    assert codes(a) == ["bad-value"]  # a positive integer is required
