"""`archcalc explain` (arithmetic written out, diagnostic codes) and `show --chart`."""
from __future__ import annotations

import re

from conftest import SPECS

ALEXNET_224 = SPECS / "examples" / "alexnet-224.yaml"


def results_of(text: str, label: str) -> list[int]:
    """The number after the last '=' of every line labelled ``label``."""
    found = []
    for line in text.splitlines():
        if line.startswith(f"  {label} ") and "=" in line:
            found.append(int(line.rsplit("=", 1)[1].split()[0].replace(",", "")))
    return found


def test_explain_lenet5_golden(cli, golden):
    result = cli("explain", "lenet5")
    assert (result.code, result.err) == (0, "")
    golden("explain-lenet5.txt", result.out)
    # invariants: the per-layer results add up to the published totals
    # params 156 + 2,416 + 48,120 + 10,164 + 850 = 61,706 (LeCun et al. 1998, modern form)
    assert sum(results_of(result.out, "params")) == 61_706
    # MACs 117,600 + 240,000 + 48,000 + 10,080 + 840 = 416,520
    assert sum(results_of(result.out, "MACs")) == 416_520
    assert result.out.count("\n\n") == 8  # header + 8 layers


def test_explain_alexnet_conv1_golden(cli, golden):
    result = cli("explain", "alexnet", "conv1")
    assert (result.code, result.err) == (0, "")
    golden("explain-alexnet-conv1.txt", result.out)
    # the lecture's arithmetic: ⌊(227 − 11)/4⌋ + 1 = 55; 11·11·3·96 + 96 = 34,944;
    # 55·55·96·(11·11·3) = 105,415,200; receptive field 11, jump 4
    assert "⌊(227 + 0 − 11)/4⌋ + 1 = 55" in result.out
    assert "11·11·3·96 + 96 = 34,944" in result.out
    assert "55·55·96·(11·11·3) = 105,415,200" in result.out
    assert "r = 1 + (11 − 1)·1 = 11,  j = 1·4 = 4" in result.out
    assert result.out.count(": conv") == 1  # only conv1


def test_explain_the_224_mismatch_golden(cli, golden):
    result = cli("explain", ALEXNET_224, "conv1")
    assert (result.code, result.err) == (1, "")  # the spec has errors
    golden("explain-alexnet224-conv1.txt", result.out.replace(str(ALEXNET_224), "alexnet-224.yaml"))
    # (224 − 11)/4 = 53.25 is floored; the warning says 53.25 + 1 = 54.25 and suggests 227
    assert "⌊(224 + 0 − 11)/4⌋ + 1 = ⌊53.25⌋ + 1 = 54" in result.out
    assert "54.25" in result.out and "227×227" in result.out
    assert "error[expect-mismatch]" in result.out and "warning[window-drops-input]" in result.out


def test_explain_a_diagnostic_code(cli):
    from archcalc.diagnostics import CATALOGUE

    for code, (severity, summary, _) in CATALOGUE.items():
        result = cli("explain", code)
        assert (result.code, result.err) == (0, "")
        assert result.out.startswith(f"{code} ({severity}): {summary}\n")


def test_code_dispatch_and_usage_errors(cli):
    result = cli("explain", "window-drops-input", "conv1")
    assert (result.code, result.out) == (2, "")
    assert "diagnostic code" in result.err and "./window-drops-input" in result.err
    result = cli("explain", "window-drop-input")
    assert (result.code, result.out) == (2, "")
    assert "did you mean the diagnostic code 'window-drops-input'" in result.err


def test_layer_selection(cli):
    # a glob: the second conv of every block of ResNet-18's third stage (2 blocks)
    result = cli("explain", "resnet18", "layer3.*.conv2")
    assert (result.code, result.err) == (0, "")
    heads = [line.split(":")[0] for line in result.out.splitlines() if re.match(r"^\S+: \w", line)]
    assert len(heads) == 2 and all(h.startswith("layer3.") and h.endswith(".conv2") for h in heads)
    # a scope: every layer inside GoogLeNet's inception 3a (1 + 2 + 2 + 2 = 7 leaves)
    result = cli("explain", "googlenet", "3a")
    assert result.code == 0
    assert len([line for line in result.out.splitlines() if re.match(r"^3a\.\S+: ", line)]) == 7
    # a unique prefix
    result = cli("explain", "vgg16", "fc8")
    assert result.code == 0 and "fc8: dense" in result.out
    # ambiguous and unknown names are usage errors with candidates
    result = cli("explain", "vgg16", "fc")
    assert (result.code, result.out) == (2, "") and "fc6, fc7, fc8" in result.err
    result = cli("explain", "vgg16", "fc9")
    assert (result.code, result.out) == (2, "") and "did you mean" in result.err


# ------------------------------------------------------------------------------- chart
CHART_SPEC = """\
name: chartnet
input: [8, 8, 3]
layers:
  - conv: {name: a, filters: 4, kernel: 3, padding: 1}
  - relu
  - conv: {name: b, filters: 16, kernel: 1}
  - maxpool: {name: p, size: 2}
  - flatten
  - dense: {name: d, units: 10}
"""
# By hand:            params                  MACs                   stored values
#   a  conv 3×3, 3→4  3·3·3·4 + 4 = 112       8·8·4·27 = 6,912       8·8·4 = 256
#   b  conv 1×1, 4→16 4·16 + 16 = 80          8·8·16·4 = 4,096       8·8·16 = 1,024
#   p  maxpool 2      0                       0                      4·4·16 = 256
#   d  dense 256→10   256·10 + 10 = 2,570     2,560                  10
# Heaviest: params d, MACs a, activations b.
HAND = {"a": (112, 6_912, 256), "b": (80, 4_096, 1_024), "p": (0, 0, 256), "d": (2_570, 2_560, 10)}


def bar_eighths(segment: str) -> int:
    partial = "▏▎▍▌▋▊▉"
    return 8 * segment.count("█") + sum(partial.index(c) + 1 for c in segment if c in partial)


def test_chart_longest_bar_is_the_heaviest_layer(cli, spec_file):
    result = cli("show", spec_file(CHART_SPEC), "--chart", "--width", "100")
    assert (result.code, result.err) == (0, "")
    lines = result.out.splitlines()
    header = next(line for line in lines if "params" in line and "MACs" in line)
    starts = [header.index(title) for title in ("params", "MACs", "activations")] + [10_000]
    bars = {}
    for line in lines:
        name = line.split(" ", 1)[0]
        if name in HAND:
            bars[name] = [bar_eighths(line[starts[i]:starts[i + 1]]) for i in range(3)]
    assert set(bars) == set(HAND)  # relu and flatten store nothing and are not drawn
    for column in range(3):
        heaviest = max(HAND, key=lambda n: HAND[n][column])
        assert max(bars, key=lambda n: bars[n][column]) == heaviest
        # bars follow the hand-computed order, and a zero draws no bar
        ordered = sorted(HAND, key=lambda n: HAND[n][column])
        assert [bars[n][column] for n in ordered] == sorted(bars[n][column] for n in ordered)
        assert all((bars[n][column] == 0) == (HAND[n][column] == 0) for n in HAND)
    assert "2 layers without parameters" in result.out
    # the totals row: 2,762 params (2.76 K), 13,568 MACs (13.6 K), 1,546 values · 4 B = 6.18 KB
    total = next(line for line in lines if line.startswith("total"))
    assert total.split()[1:] == ["2.76", "K", "13.6", "K", "6.18", "KB"]


def test_chart_is_a_table_only_option(cli):
    result = cli("show", "lenet5", "--chart", "--format", "json")
    assert (result.code, result.out) == (2, "") and "--chart" in result.err


def test_chart_follows_depth_with_a_row_per_stage_and_ends_with_a_row_per_kind(cli):
    # ResNet-50's stages, as torchvision's per-module parameter counts give them (and He et
    # al.'s Table 1 builds them): layer1 215,808, layer2 1,219,584, layer3 7,098,368, layer4
    # 14,964,736; with conv1 9,408, bn1 128 and fc 2,049,000 they sum to 25,557,032.
    assert 215_808 + 1_219_584 + 7_098_368 + 14_964_736 + 9_408 + 128 + 2_049_000 == 25_557_032
    result = cli("show", "resnet50", "--chart", "--depth", "0", "--width", "120")
    assert (result.code, result.err) == (0, "")
    lines = result.out.splitlines()
    assert "per block at depth 0" in lines[0]
    rows = {line.split(" (")[0]: line for line in lines if line.startswith("layer")}
    assert list(rows) == ["layer1", "layer2", "layer3", "layer4"]
    assert [rows[name].split()[3] for name in rows] == ["216", "1.22", "7.10", "15.0"]
    # without --depth: a row per layer, as before (conv1 and the first block's conv1 both drawn)
    every = cli("show", "resnet50", "--chart", "--width", "120").out
    assert "layer1.0.conv1 " in every and "layer1 (stage)" not in every
    # per kind: 49 convolutions in the bottlenecks + 4 projection shortcuts = 53, one dense
    kinds = lines[lines.index("by kind (every layer of the kind, ×count)"):]
    assert [line.split()[0] + " " + line.split()[1] for line in kinds[3:5]] == ["conv ×53", "dense ×1"]
