"""The papers' built-ins: alexnet-2012 (two GPU towers), VGG configurations A–E, ResNet v1.
(lenet5-1998 has tests/test_lenet1998.py.)

Expected figures come from the papers (as issue 13 lists them: VGG Table 2's 133/133/134/
138/144 million written out exactly, ResNet Table 1's 3.8/7.6/11.3 ×10⁹), from the
torchvision fixtures recorded from real PyTorch (tests/fixtures/torchvision), or from hand
arithmetic in the comments.
"""
from __future__ import annotations

import json

import pytest

from conftest import ROOT

FIXTURES = ROOT / "tests" / "fixtures" / "torchvision"

# name: (params, MACs, depth)
PAPERS = {
    # Krizhevsky et al. 2012, Figure 2, two towers: 2·28,434,112 + 4,097,000 (see the spec's
    # comment for each layer's 11·11·3·48 + 48 … arithmetic)
    "alexnet-2012": (60965224, 724406816, 8),
    # Simonyan & Zisserman, Table 1 columns A–E (Table 2: 133, 133, 133, 134, 138, 144 M)
    "vgg-a": (132863336, 7609090048, 11),
    "vgg-a-lrn": (132863336, 7609090048, 11),
    "vgg-b": (133047848, 11308466176, 13),
    "vgg-c": (133638952, 11770888192, 16),
    "vgg-d": (138357544, 15470264320, 16),
    "vgg-e": (143667240, 19632062464, 19),
    # He et al., Table 1: 3.8, 7.6 and 11.3 ×10⁹ multiply-adds
    "resnet50-v1": (25557032, 3857973248, 50),
    "resnet101-v1": (44549160, 7570194432, 101),
    "resnet152-v1": (60192808, 11282415616, 152),
}


def show(cli, name, *options):
    result = cli("show", name, "-f", "json", *options)
    assert result.code == 0, result.out + result.err
    return json.loads(result.out)


@pytest.mark.parametrize("name", sorted(PAPERS))
def test_paper_figures(cli, name):
    data = show(cli, name)
    params, macs, depth = PAPERS[name]
    t = data["totals"]
    assert (t["params"], t["trainable_params"], t["macs"], t["depth"]) == (params, params, macs, depth)
    assert data["output"] == [1000]
    assert data["diagnostics"] == []
    assert data["reference"]  # names the paper, section and table


def test_vgg_table2_millions():
    # Table 2 rounds to millions: 133 (A, A-LRN, B), 134 (C), 138 (D), 144 (E)
    table2 = {"vgg-a": 133, "vgg-a-lrn": 133, "vgg-b": 133, "vgg-c": 134, "vgg-d": 138, "vgg-e": 144}
    for name, millions in table2.items():
        assert round(PAPERS[name][0] / 1e6) == millions
    # D and E are torchvision's vgg16 and vgg19: the same figures as the recorded fixtures
    for name, tv in (("vgg-d", "vgg16"), ("vgg-e", "vgg19")):
        fixture = json.loads((FIXTURES / f"{tv}.json").read_text())
        assert (fixture["params"], fixture["macs"]) == PAPERS[name][:2]


def test_vgg_c_has_three_1x1_convolutions(cli):
    data = show(cli, "vgg-c")
    kernels = [layer for layer in data["layers"] if layer["kind"] == "conv"]
    # 1×1 convs: weights C·C + bias: 256·256 + 256 = 65,792 and 512·512 + 512 = 262,656
    ones = [layer["params"] for layer in kernels if layer["params"] in (65792, 262656)]
    assert ones == [65792, 262656, 262656]


@pytest.mark.parametrize("depth", [50, 101, 152])
def test_resnet_v1_moves_the_stride_to_the_first_1x1(cli, depth):
    fixture = json.loads((FIXTURES / f"resnet{depth}.json").read_text())
    v1 = show(cli, f"resnet{depth}-v1")
    # the same weights as torchvision's v1.5 (recorded from PyTorch): params and buffers
    assert (v1["totals"]["params"], v1["totals"]["buffers"]) == (fixture["params"], fixture["buffers"])
    # In each of conv3_1, conv4_1, conv5_1 the first 1×1 (C_in → width) runs at the reduced
    # resolution instead of the full one: 56·56·256·128 − 28·28·256·128 = 77,070,336 fewer
    # MACs, likewise 28·28·512·256 − 14·14·512·256 and 14·14·1024·512 − 7·7·1024·512 (each
    # the same): 3·77,070,336 = 231,211,008 below torchvision's exact count
    assert v1["totals"]["macs"] == fixture["macs"] - 231211008
    first = next(layer for layer in v1["layers"] if layer["name"].startswith("conv3_x.")
                 and layer["kind"] == "conv")
    assert (first["input"], first["output"]) == ([56, 56, 256], [28, 28, 128])


def test_alexnet_2012_shows_two_towers(cli):
    data = show(cli, "alexnet-2012")
    convs = [(layer["name"], layer["input"][2], layer["output"][2]) for layer in data["layers"]
             if layer["kind"] == "conv"]
    # conv2, conv4, conv5 see only their own GPU's maps (48, 192, 192 channels); conv3 both (256)
    assert convs == [("conv1-2.gpu1.conv1", 3, 48), ("conv1-2.gpu1.conv2", 48, 128),
                     ("conv1-2.gpu2.conv1", 3, 48), ("conv1-2.gpu2.conv2", 48, 128),
                     ("conv3-5.gpu1.conv3", 256, 192), ("conv3-5.gpu1.conv4", 192, 192),
                     ("conv3-5.gpu1.conv5", 192, 128),
                     ("conv3-5.gpu2.conv3", 256, 192), ("conv3-5.gpu2.conv4", 192, 192),
                     ("conv3-5.gpu2.conv5", 192, 128)]
    table = cli("show", "alexnet-2012").out
    assert "gpu1.conv2" in table and "gpu2.conv2" in table


def test_alexnet_2012_saves_what_the_gpu_split_removes(cli):
    # single tower (the contract's 62,378,344) minus the two-tower form: conv2 614,656 −
    # 307,456 = 307,200; conv4 1,327,488 − 663,936 = 663,552; conv5 884,992 − 442,624 =
    # 442,368; sum 1,413,120
    single = show(cli, "alexnet")["totals"]["params"]
    assert single - PAPERS["alexnet-2012"][0] == 1413120 == 307200 + 663552 + 442368


def test_diff_tells_the_gpu_split_story(cli):
    result = cli("diff", "alexnet-2012", "alexnet", "-f", "json")
    assert result.code == 0
    story = json.loads(result.out)["story"]
    # per layer, hand arithmetic above: conv2 +307,200, conv4 +663,552, conv5 +442,368
    assert [line.split(":")[0] for line in story[:3]] == ["conv2", "conv4", "conv5"]
    assert "(+307,200)" in story[0] and "(+663,552)" in story[1] and "(+442,368)" in story[2]
    assert "conv1, conv3, fc6, fc7" in story[3]  # split across the towers, same parameters
    # MACs: 1,135,256,096 (contract) − 724,406,816 (two towers) = 410,849,280
    assert story[-1] == "in all, these layers: params +1,413,120, MACs +410,849,280"
    table = cli("diff", "alexnet-2012", "alexnet")
    assert "What changed" in table.out and "+1,413,120" in table.out


def test_diff_tells_what_changed_since_lenet_1998(cli):
    story = json.loads(cli("diff", "lenet5-1998", "lenet5", "-f", "json").out)["story"]
    by_layer = {line.split(":")[0]: line for line in story}
    # C3: the full 5·5·6·16 + 16 = 2,416 instead of the table's 1,516
    assert "params 1,516 → 2,416 (+900)" in by_layer["C3"]
    assert "subsample" in by_layer["S2"] and "avgpool" in by_layer["S2"]
    assert "rbf" in by_layer["OUTPUT"] and "trainable 0 → 850" in by_layer["OUTPUT"]  # 84·10 + 10
    assert len(story) <= 8  # a few readable lines


def test_no_story_for_networks_without_like_named_layers(cli):
    # alexnet and vgg16 share names such as conv1 only by accident (VGG repeats them per stage)
    assert json.loads(cli("diff", "alexnet", "vgg16", "-f", "json").out)["story"] == []
