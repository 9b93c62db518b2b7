"""`archcalc draw`: the SVG is well-formed, draws one box per drawn layer, labels each box with
the layer's shape, and no two labels overlap at the default size.

Expected sizes come from the papers and lectures (LeNet-5's and AlexNet's volumes, VGG-16's
13 convolutions, ResNet-50's 3+4+6+3 blocks and stage outputs, GoogLeNet's nine inception
modules), never from archcalc's output.
"""
from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET

import pytest

from conftest import SPECS

NS = {"s": "http://www.w3.org/2000/svg"}
BUILT_INS = ("lenet5", "alexnet", "vgg16", "resnet50", "googlenet", "resnet18")


def draw(cli, *args) -> tuple[int, ET.Element, str]:
    result = cli("draw", *args)
    return result.code, ET.fromstring(result.out), result.out


def boxes(root, kind="layer"):
    return [g for g in root.iter("{http://www.w3.org/2000/svg}g")
            if g.get("class", "").split()[:2] == ["box", kind]]


def shape_label(g) -> str:
    """The bold size label drawn under a box."""
    texts = [t for t in g.findall("s:text", NS) if t.get("class") == "shp"]
    assert len(texts) == 1
    return texts[0].text


def layers_of(cli, spec) -> list[dict]:
    result = cli("show", spec, "--format", "json")
    return json.loads(result.out)["layers"]


# ------------------------------------------------------------------------------ structure
@pytest.mark.parametrize("name", BUILT_INS)
def test_every_built_in_draws_well_formed_svg(cli, name):
    code, root, _ = draw(cli, name)
    assert code == 0
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert float(root.get("width")) > 0 and float(root.get("height")) > 0


def test_lenet5_volumes_are_the_lectures(cli):
    # LeNet-5 as taught: 32x32x1 -> 28x28x6 -> 14x14x6 -> 10x10x16 -> 5x5x16 -> 400 -> 120 -> 84 -> 10
    _, root, _ = draw(cli, "lenet5")
    drawn = [shape_label(g) for g in boxes(root, "input") + boxes(root)]
    assert drawn == ["32×32×1", "28×28×6", "14×14×6", "10×10×16", "5×5×16", "400", "120", "84", "10"]


def test_alexnet_volumes_and_arrows_are_the_papers(cli):
    # Krizhevsky et al. 2012 / the lecture: 227 -> 55x55x96 (11x11 stride 4) -> 27 -> 27x27x256
    # -> 13 -> 13x13x384 -> 13x13x384 -> 13x13x256 -> 6x6x256 -> 9216 -> 4096 -> 4096 -> 1000
    _, root, text = draw(cli, "alexnet")
    drawn = [shape_label(g) for g in boxes(root, "input") + boxes(root)]
    assert drawn == ["227×227×3", "55×55×96", "27×27×96", "27×27×256", "13×13×256", "13×13×384",
                     "13×13×384", "13×13×256", "6×6×256", "9216", "4096", "4096", "1000"]
    arrows = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text") if t.get("class") == "arr"]
    assert "conv 11×11/4" in arrows and arrows.count("maxpool 3×3/2") == 3


def arrows_of(root) -> list[str]:
    return [t.text for t in root.iter("{http://www.w3.org/2000/svg}text") if t.get("class") == "arr"]


def test_arrows_carry_padding_and_depthwise_groups(cli):
    # AlexNet's conv2: 5×5 stride 1 keeps 27 only with padding 2: (27 + 2·2 − 5)/1 + 1 = 27
    _, root, _ = draw(cli, "alexnet")
    assert "conv 5×5/1, p2" in arrows_of(root) and arrows_of(root).count("conv 3×3/1, p1") == 3
    # MobileNetV2 (Sandler et al. 2018, Table 1): every bottleneck's 3×3 is depthwise, stride
    # 2 at the start of a stage, padding 1; the expansions and projections are 1×1
    _, root, _ = draw(cli, "mobilenet_v2", "--depth", "9")
    arrows = arrows_of(root)
    assert "dw 3×3/2, p1" in arrows and "dw 3×3/1, p1" in arrows
    assert not [a for a in arrows if a.startswith("conv 3×3") and a != "conv 3×3/2, p1"]   # only the stem
    assert not [a for a in arrows if ", g" in a]       # depthwise is written dw, not g32 … g960
    # ResNeXt-50 32×4d (Xie et al. 2017): grouped, not depthwise: 32 groups
    _, root, _ = draw(cli, "resnext50_32x4d", "--depth", "9")
    assert "conv 3×3/1, p1, g32" in arrows_of(root)


def test_arrows_of_transposed_convolutions_and_upsampling_carry_their_geometry(cli, spec_file):
    # a DCGAN-style up-convolution: 4×4 stride 2 padding 1 doubles 8 → (8 − 1)·2 − 2 + 4 = 16;
    # then ×2 bilinear: 16 → 32
    spec = spec_file("name: up\ninput: [8, 8, 16]\nlayers:\n"
                     "  - convtranspose: {filters: 8, kernel: 4, stride: 2, padding: 1}\n"
                     "  - upsample: {factor: 2, mode: bilinear}\n")
    _, root, _ = draw(cli, str(spec))
    assert [shape_label(g) for g in boxes(root)] == ["16×16×8", "32×32×8"]
    assert "convT 4×4/2↑, p1" in arrows_of(root) and "upsample ×2, bilinear" in arrows_of(root)


def test_arrows_of_transformer_kinds_carry_their_geometry(cli):
    # Swin-T (Liu et al. 2021, Table 7 and §3.2): windows of M = 7, every second block shifted
    # by ⌊M/2⌋ = 3; heads 3, 6, 12, 24 in the four stages (C = 96 with 32 features a head);
    # three patch mergings, each of 2×2 neighbours
    _, root, _ = draw(cli, "swin_t", "--depth", "9")
    arrows = arrows_of(root)
    for heads in (3, 6, 12, 24):
        assert f"window 7×7, {heads} heads" in arrows and f"window 7×7, shift 3, {heads} heads" in arrows
    assert arrows.count("patchmerge 2×2") == 3
    # the pairs of stage 3 (6 blocks: 3 × unshifted + shifted) are drawn once in a ×3 frame,
    # each box naming the range of its blocks: 0, 2, 4 unshifted, 1, 3, 5 shifted
    labels = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text") if t.get("class") == "lab"]
    assert "0.attn–4.attn" in labels and "1.attn–5.attn" in labels
    assert "×3" in [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
    # ViT-B/16: 224/16 = 14 patches a side, 14·14 = 196 tokens
    _, root, _ = draw(cli, "vit_b_16")
    assert "patches 14×14 → 196" in arrows_of(root)
    # MaxViT-T (Tu et al. 2022): block (window) and grid attention over 7×7 partitions, heads
    # of 32 features: 64/32 = 2 heads in the first stage … 512/32 = 16 in the last
    _, root, _ = draw(cli, "maxvit_t", "--depth", "9")
    arrows = arrows_of(root)
    for heads in (2, 4, 8, 16):
        assert f"window 7×7, {heads} heads" in arrows and f"grid 7×7, {heads} heads" in arrows
    # Mistral 7B (Jiang et al. 2023, Table 1): 32 heads, 8 kv heads, sliding window 4096, causal
    _, root, _ = draw(cli, "mistral-7b", "--depth", "9")
    assert "attention 32/8 kv heads, causal, window 4096" in arrows_of(root)


def test_the_picture_names_no_kind():
    """Arrows come from each kind's own `label` rule: the drawing code names no kind."""
    from pathlib import Path

    from archcalc.render import picture
    from archcalc.layers import REGISTRY

    source = Path(picture.__file__).read_text(encoding="utf-8")
    # (`conv` and `attention` are also group names, which the colours are keyed by)
    named = [k for k in ("patches", "patchmerge", "windowattention", "windowattentionv2", "partitionattention",
                         "convtranspose", "upsample", "classtoken") if re.search(rf'"{k}"', source)]
    assert named == []
    assert all(REGISTRY[k].label is not None for k in ("patches", "patchmerge", "windowattention",
                                                       "windowattentionv2", "partitionattention", "attention"))


def test_a_box_drawn_once_for_a_repeat_names_its_range(cli):
    # VGG-16 (configuration D): stages of 2, 2, 3, 3, 3 convolutions, each drawn once
    _, root, _ = draw(cli, "vgg16")
    convs = [t.text for g in boxes(root) for t in g.findall("s:text", NS)
             if t.get("class") == "lab" and t.text.startswith("conv")]
    assert convs == ["conv1–conv2", "conv1–conv2", "conv1–conv3", "conv1–conv3", "conv1–conv3"]


def test_long_names_of_a_box_drawn_once_write_the_range_of_their_number(cli):
    # ViT-B/16's 12 encoder layers (encoder_layer_0 … encoder_layer_11, Dosovitskiy et al.:
    # L = 12) are drawn once; their layer norms are encoder_layer_0.ln_1 … encoder_layer_11.ln_1
    _, root, _ = draw(cli, "vit_b_16", "--depth", "9")
    labels = [t.text for g in boxes(root) for t in g.findall("s:text", NS) if t.get("class") == "lab"]
    assert "encoder_layer_0–11.ln_1" in labels and "encoder_layer_0–11.ln_2" in labels
    assert not [t for t in labels if "…–" in t]


def test_boxes_that_would_share_a_name_say_which_scope_they_are_in(cli):
    # VGG-16's five stages each end in a max pool the spec leaves unnamed (maxpool1 in its
    # block): five pool boxes, five different labels
    _, root, _ = draw(cli, "vgg16")
    pools = [t.text for g in boxes(root) if g.get("data-layer").endswith("maxpool1")
             for t in g.findall("s:text", NS) if t.get("class") == "lab"]
    assert len(pools) == 5 and len(set(pools)) == 5
    # ResNet-50 in full: the identity blocks drawn once name the calls they stand for
    _, root, _ = draw(cli, "resnet50", "--depth", "2")
    labels = [t.text for g in boxes(root) for t in g.findall("s:text", NS) if t.get("class") == "lab"]
    assert "1.conv1–2.conv1" in labels and "1.conv1–5.conv1" in labels     # layer1's 2, layer3's 5


def test_small_volumes_stay_boxes_and_the_header_keeps_its_separators(cli):
    _, root, svg = draw(cli, "vgg16")
    faces = [r for r in root.iter("{http://www.w3.org/2000/svg}rect") if r.get("class") == "vol"]
    assert min(float(r.get("height")) for r in faces) >= 18   # 7×7×512, log scale down to 7
    assert min(float(r.get("width")) for r in faces) >= 8
    # VGG-16: 13 conv + 3 dense = depth 16; spaces collapse in SVG, so the fields are set apart by ·
    assert re.search(r"params [\d,]+ · MACs [\d,]+ · depth 16 · \d+ layers", svg)


@pytest.mark.parametrize("name", BUILT_INS)
def test_each_box_is_labelled_with_its_layers_shape(cli, name):
    """data-shape and the visible label agree with the JSON report's output of the same layer,
    and a folded layer keeps its input's shape."""
    layers = {layer["name"]: layer for layer in layers_of(cli, name)}
    _, root, _ = draw(cli, name)
    for g in boxes(root):
        layer = layers[g.get("data-layer")]
        expected = "×".join(map(str, layer["output"]))
        assert g.get("data-shape") == expected == shape_label(g)
        for folded in (g.get("data-folded") or "").split():
            assert layers[folded]["input"] == layers[folded]["output"]
            assert layers[folded]["macs"] == 0


@pytest.mark.parametrize("name", ("lenet5", "alexnet", "googlenet"))
def test_without_repeats_every_layer_is_drawn_or_folded_exactly_once(cli, name):
    _, root, _ = draw(cli, name, "--depth", "9")
    seen = []
    for g in boxes(root):
        seen.append(g.get("data-layer"))
        seen += (g.get("data-folded") or "").split()
    for g in root.iter("{http://www.w3.org/2000/svg}g"):
        if g.get("class") == "fork":
            seen += (g.get("data-folded") or "").split()
    assert sorted(seen) == sorted(layer["name"] for layer in layers_of(cli, name))


def test_vgg16_collapses_each_stage_repeat_as_times_n(cli):
    # VGG-16 (Simonyan & Zisserman, column D): stages of 2, 2, 3, 3, 3 convs = 13 convs,
    # each stage closed by a max pool; then flatten and three dense layers.
    _, root, _ = draw(cli, "vgg16")
    titles = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")
              if "rept" in (t.get("class") or "")]
    assert titles == ["×2", "×2", "×3", "×3", "×3"]
    assert sum(int(t[1:]) for t in titles) == 13
    layer_boxes = boxes(root)
    assert len(layer_boxes) == 5 + 5 + 1 + 3
    assert [shape_label(g) for g in layer_boxes][:2] == ["224×224×64", "112×112×64"]


def test_resnet50_residuals_are_skip_arcs_and_lanes(cli):
    # He et al. 2016, Table 1: 3, 4, 6, 3 bottleneck blocks; the first of each stage has a
    # projection shortcut (two lanes), the others an identity shortcut (a skip arc).
    _, root, text = draw(cli, "resnet50", "--depth", "2")
    forks = [g for g in root.iter("{http://www.w3.org/2000/svg}g") if g.get("class") == "fork"]
    assert all(g.get("data-merge") == "add" for g in forks)
    repeats = [int(t.text[1:]) for t in root.iter("{http://www.w3.org/2000/svg}text")
               if "rept" in (t.get("class") or "")]
    assert repeats == [2, 3, 5, 2]
    assert len(forks) == 4 + len(repeats)          # 4 projection blocks + one drawn body per repeat
    assert len(forks) - len(repeats) + sum(repeats) == 3 + 4 + 6 + 3
    assert text.count('class="edge skip"') == len(repeats)


def test_every_built_in_fits_a_slide_by_default(cli):
    """The default picture of every built-in fits 1,600 × 1,200 px (a slide at 100 %), by
    collapsing blocks from the deepest level up; the header then says how to get every layer."""
    from archcalc.app import analyse_spec
    from archcalc.readers import zoo
    from archcalc.render.picture import deepest_level, picture

    too_big = []
    for name in zoo.names():
        analysis = analyse_spec(name)
        svg, depth = picture(analysis, {})
        root = ET.fromstring(svg)
        width, height = float(root.get("width")), float(root.get("height"))
        if width > 1600 or height > 1200:
            too_big.append((name, width, height))
        if depth is not None:
            assert f"`--depth {deepest_level(analysis) + 1}` draws every layer" in svg, name
    assert too_big == []


def test_collapsed_resnet50_keeps_its_repeats_and_skip_arcs(cli):
    # He et al. 2016, Table 1: 3, 4, 6, 3 bottleneck blocks a stage; the first of each has a
    # projection shortcut, the other 2, 3, 5, 2 an identity shortcut: drawn as one box each
    # run, written ×N, with the identity as a dashed arc over it.
    code, root, svg = draw(cli, "resnet50")
    assert code == 0
    runs = [g for g in boxes(root, "group") if g.get("data-times")]
    assert [int(g.get("data-times")) for g in runs] == [2, 3, 5, 2]
    assert [shape_label(g) for g in runs] == ["56×56×256", "28×28×512", "14×14×1024", "7×7×2048"]
    # each run's caption: repetition, block, output channels (He et al., Table 1: 256, 512,
    # 1024, 2048); a bottleneck is 3 convolutions, 3 batch norms and 3 ReLUs = 9 layers, so
    # the runs stand for 2·9 = 18, 3·9 = 27, 5·9 = 45, 2·9 = 18 layers (in the tooltip)
    captions = [t.text for g in runs for t in g.findall("s:text", NS) if t.text.startswith("×")]
    assert captions == ["×2 bottleneck, 256", "×3 bottleneck, 512", "×5 bottleneck, 1024", "×2 bottleneck, 2048"]
    assert [int(g.get("data-layers")) for g in runs] == [18, 27, 45, 18]
    for g, n in zip(runs, [18, 27, 45, 18]):
        assert len(g.get("data-group").split()) == int(g.get("data-times"))
        assert [p for p in g.findall("s:path", NS) if "skip" in p.get("class", "")]
        assert f"×{g.get('data-times')} bottleneck: {n} layers in all" in g.find("s:title", NS).text
    # the projection blocks have no identity: no arc
    single = [g for g in boxes(root, "group") if not g.get("data-times")]
    assert len(single) == 4
    assert not any("skip" in p.get("class", "") for g in single for p in g.findall("s:path", NS))


def test_a_residual_around_a_collapsed_block_has_one_arc(cli):
    # EfficientNet-B0 (Tan & Le 2019, Table 1): stages of 1, 2, 2, 3, 3, 4, 1 MBConv blocks; the
    # first of each changes stride or channels, the others add their input back: stages 2–6
    # have 1, 1, 2, 2, 3 such blocks, each stage's drawn once (one body, ×N) — 5 identity arcs,
    # drawn by the residual around each collapsed block, not a second time over the box
    _, root, svg = draw(cli, "efficientnet_b0")
    assert svg.count('class="edge skip"') == 5
    forks = [g for g in root.iter("{http://www.w3.org/2000/svg}g") if g.get("class") == "fork"]
    assert len(forks) == 5
    for fork in forks:   # the box inside each draws no arc of its own
        assert boxes(fork, "group")
        assert [p for g in boxes(fork, "group") for p in g.findall("s:path", NS) if "skip" in p.get("class")] == []
    # EfficientNet-B1 (depth ×1.1, torchvision's ceil): stages of 2, 3, 3, 4, 4, 5, 2 blocks —
    # every stage has blocks that add their input back, after a first one that does not (it
    # changes the channels even where it keeps the size, as in stage 5): 7 arcs, the first
    # block of a stage never drawn in one box with the others
    _, root, svg = draw(cli, "efficientnet_b1")
    assert svg.count('class="edge skip"') == 7
    for g in boxes(root, "group"):
        names = [n.split(".")[-1] for n in g.get("data-group").split()]
        assert "0" not in names or len(names) == 1


def test_collapsed_densenet121_writes_its_dense_layers_as_repeats(cli):
    # Huang et al. 2017, Table 1: dense blocks of 6, 12, 24, 16 layers; growth rate 32 gives
    # 64 + 6·32 = 256, 128 + 12·32 = 512, 256 + 24·32 = 1024, 512 + 16·32 = 1024 channels
    code, root, _ = draw(cli, "densenet121")
    runs = [g for g in boxes(root, "group") if g.get("data-times")]
    assert [int(g.get("data-times")) for g in runs] == [6, 12, 24, 16]
    assert [shape_label(g) for g in runs] == ["56×56×256", "28×28×512", "14×14×1024", "7×7×1024"]
    labels = [t.text for g in runs for t in g.findall("s:text", NS) if t.get("class") == "lab"]
    assert labels == ["denselayer1–denselayer6", "denselayer1–denselayer12", "denselayer1–denselayer24",
                      "denselayer1–denselayer16"]
    captions = [t.text for g in runs for t in g.findall("s:text", NS) if t.text.startswith("×")]
    assert captions == ["×6 dense_layer, 256", "×12 dense_layer, 512", "×24 dense_layer, 1024",
                        "×16 dense_layer, 1024"]


@pytest.mark.parametrize("depth", [None, "0", "9"])
def test_unet_is_drawn_as_a_u_with_horizontal_skips(cli, depth):
    # Ronneberger et al. 2015, Fig. 1: four "copy and crop" skips, each concatenated with the
    # up-convolution's output: 64 + 64 channels at 392×392, 128 + 128 at 200×200, 256 + 256 at
    # 104×104, 512 + 512 at 56×56
    code, root, svg = draw(cli, "unet", *(["--depth", depth] if depth else []))
    assert code == 0
    u = [g for g in root.iter("{http://www.w3.org/2000/svg}g") if g.get("class") == "u-net"]
    assert len(u) == 1
    merges = [g for g in u[0].iter("{http://www.w3.org/2000/svg}g") if "u-merge" in g.get("class", "")]
    assert [shape_label(g) for g in merges] == ["392×392×128", "200×200×256", "104×104×512", "56×56×1024"]
    assert all(g.get("data-merge") == "concat" and g.get("data-skip").endswith("crop") for g in merges)
    circles = [g.find("s:circle", NS) for g in merges]
    xs = {c.get("cx") for c in circles}
    ys = [float(c.get("cy")) for c in circles]
    assert len(xs) == 1 and ys == sorted(ys)                # the right arm: one column, top to bottom
    skips = [p.get("d") for p in u[0].findall("s:path", NS) if p.get("class") == "edge skip"]
    assert len(skips) == 4
    for d, y in zip(skips, ys):                              # each skip: one horizontal stroke
        found = re.fullmatch(r"M([\d.]+),([\d.]+) H([\d.]+)", d)
        assert found and float(found.group(2)) == y and float(found.group(3)) > float(found.group(1))
    if depth is None:   # the default picture fits a slide (it was 4,455 px wide as a staircase)
        assert float(root.get("width")) <= 1600 and float(root.get("height")) <= 1200


SMALL_U = """\
name: smallu
input: [64, 64, 3]
layers:
  - conv: {name: enc1, filters: 16, kernel: 3, padding: 1}
  - parallel:
      name: level1
      merge: concat
      branches:
        - []
        - - maxpool: {name: pool1, size: 2}
          - conv: {name: enc2, filters: 32, kernel: 3, padding: 1}
          - parallel:
              name: level2
              merge: concat
              branches:
                - []
                - - maxpool: {name: pool2, size: 2}
                  - conv: {name: bottom, filters: 64, kernel: 3, padding: 1}
                  - upsample: {name: up2, factor: 2}
          - conv: {name: dec2, filters: 32, kernel: 3, padding: 1}
          - upsample: {name: up1, factor: 2}
  - conv: {name: dec1, filters: 16, kernel: 3, padding: 1}
  - conv: {name: out, filters: 2, kernel: 1}
"""


def _u_merges(root):
    u = [g for g in root.iter("{http://www.w3.org/2000/svg}g") if g.get("class") == "u-net"]
    if not u:
        return None
    assert len(u) == 1
    return [g for g in u[0].iter("{http://www.w3.org/2000/svg}g") if "u-merge" in g.get("class", "")]


def test_a_small_hand_written_u_is_drawn_as_a_u(cli, spec_file):
    # two levels, identity skips (no crop): 64×64 → pool → 32×32 → pool → 16×16 → ×2 → 32×32,
    # concatenated with the 32-channel skip: 64 + 32 = 96; → conv 32, ×2 → 64×64, with the
    # 16-channel skip: 32 + 16 = 48
    code, root, _ = draw(cli, str(spec_file(SMALL_U)))
    assert code == 0
    merges = _u_merges(root)
    assert merges is not None
    assert [shape_label(g) for g in merges] == ["64×64×48", "32×32×96"]
    assert all(g.get("data-skip") == "" for g in merges)      # the identity: nothing on the skip
    u = next(g for g in root.iter("{http://www.w3.org/2000/svg}g") if g.get("class") == "u-net")
    skips = [p.get("d") for p in u.findall("s:path", NS) if p.get("class") == "edge skip"]
    ys = [float(g.find("s:circle", NS).get("cy")) for g in merges]
    assert len(skips) == 2 and all(re.fullmatch(rf"M[\d.]+,{y:g} H[\d.]+", d) for d, y in zip(skips, ys))
    assert [t.text for t in u.iter("{http://www.w3.org/2000/svg}text") if t.get("class") == "arr"].count("copy") == 2


def test_nets_that_are_not_encoder_decoders_are_not_drawn_as_a_u(cli, spec_file):
    # nested residuals whose paths keep the resolution: two nested two-branch sets with an
    # identity branch, which the old name-and-shape rule took for a U; not one structurally
    # (nothing goes down and comes back up)
    spec = spec_file("name: nested\ninput: [32, 32, 8]\nlayers:\n"
                     "  - conv: {filters: 8, kernel: 3, padding: 1}\n"
                     "  - residual:\n      layers:\n"
                     "        - conv: {filters: 8, kernel: 3, padding: 1}\n"
                     "        - residual:\n            layers:\n"
                     "              - conv: {filters: 8, kernel: 3, padding: 1}\n"
                     "              - conv: {filters: 8, kernel: 3, padding: 1}\n"
                     "        - conv: {filters: 8, kernel: 3, padding: 1}\n"
                     "  - globalavgpool\n  - dense: 10\n")
    code, root, _ = draw(cli, str(spec))
    assert code == 0 and _u_merges(root) is None
    # the same U as above, but the deep arm never comes back up (no upsample; the skips are
    # pooled to match: 64/4 = 16 and 32/2 = 16): a pyramid that concatenates, not a U
    pyramid = SMALL_U.replace("        - []\n        - - maxpool: {name: pool1",
                              "        - [maxpool: {name: skippool1, size: 4}]\n        - - maxpool: {name: pool1")
    pyramid = pyramid.replace("                - []\n", "                - [maxpool: {name: skippool2, size: 2}]\n")
    pyramid = pyramid.replace("                  - upsample: {name: up2, factor: 2}\n", "")
    pyramid = pyramid.replace("          - upsample: {name: up1, factor: 2}\n", "")
    code, root, _ = draw(cli, str(spec_file(pyramid)))
    assert code == 0 and _u_merges(root) is None


def test_only_unet_among_the_built_ins_is_drawn_as_a_u():
    from archcalc.app import analyse_spec
    from archcalc.readers import zoo
    from archcalc.render.picture import deepest_level, picture

    drawn = set()
    for name in zoo.names():
        analysis = analyse_spec(name)
        for depth in [None] + list(range(deepest_level(analysis), -1, -1)):
            if 'class="u-net"' in picture(analysis, {"depth": depth, "fit": False})[0]:
                drawn.add(name)
    assert drawn == {"unet"}


def test_depth_that_collapses_nothing_says_so(cli):
    # GoogLeNet's inception modules are its only blocks (level 0): --depth 1 collapses nothing
    result = cli("draw", "googlenet", "--depth", "1")
    assert result.code == 0
    assert "--depth 1 collapses nothing" in result.err
    assert result.out == cli("draw", "googlenet", "--depth", "7").out
    assert "collapses nothing" not in cli("draw", "googlenet", "--depth", "0").err
    result = cli("draw", "alexnet", "--depth", "0")          # no blocks at all
    assert result.code == 0 and "collapses nothing" in result.err
    # the default of a picture that fits is everything, with no note
    assert cli("draw", "lenet5").err == ""


def test_depth_zero_collapses_resnet50_stages_into_boxes(cli):
    # The four stages end at 56×56×256, 28×28×512, 14×14×1024, 7×7×2048 (He et al., Table 1)
    code, root, _ = draw(cli, "resnet50", "--depth", "0")
    assert code == 0
    stages = boxes(root, "group")
    assert [g.get("data-group") for g in stages] == ["layer1", "layer2", "layer3", "layer4"]
    assert [shape_label(g) for g in stages] == ["56×56×256", "28×28×512", "14×14×1024", "7×7×2048"]
    # a single collapsed block: its kind and output channels
    assert [t.text for g in stages for t in g.findall("s:text", NS) if t.text.startswith("stage")] == \
        ["stage, 256", "stage, 512", "stage, 1024", "stage, 2048"]


def test_googlenet_inception_modules_are_four_lanes_that_rejoin(cli):
    # Szegedy et al. 2015: nine inception modules (3a, 3b, 4a-4e, 5a, 5b), four branches each,
    # concatenated; 3a gives 28×28×256 (64 + 128 + 32 + 32 channels)
    _, root, _ = draw(cli, "googlenet", "--depth", "1")
    forks = [g for g in root.iter("{http://www.w3.org/2000/svg}g") if g.get("class") == "fork"]
    assert len(forks) == 9
    assert all(g.get("data-merge") == "concat" and g.get("data-branches") == "4" for g in forks)
    first = [t.text for t in forks[0].iter("{http://www.w3.org/2000/svg}text") if t.get("class") == "shp"]
    assert first[-1] == "28×28×256"


# ------------------------------------------------------------------------------ overlap
def text_boxes(svg: str) -> list[tuple]:
    """Bounding boxes of every <text> (svg_geometry.text_boxes: a monospace advance of 0.6 em
    a character, twice that for wide ones; ascent 0.8 em, descent 0.2 em)."""
    from svg_geometry import text_boxes as boxes

    return boxes(svg)


def overlaps(svg: str) -> list[tuple]:
    found = []
    items = sorted(text_boxes(svg))
    for i, a in enumerate(items):
        for b in items[i + 1:]:
            if b[0] >= a[2]:
                break
            if a[1] < b[3] and b[1] < a[3]:
                found.append((a[4], b[4]))
    return found


@pytest.mark.parametrize("name", BUILT_INS)
def test_no_label_overlaps_another_at_the_default_size(cli, name):
    _, _, svg = draw(cli, name)
    assert len(text_boxes(svg)) > 10
    assert overlaps(svg) == []


def test_the_overlap_check_sees_an_overlap():
    svg = ('<svg xmlns="http://www.w3.org/2000/svg"><style>.lab{font-size:11px}</style>'
           '<text x="10" y="10" class="lab">55×55×96</text><text x="30" y="12" class="lab">conv1</text></svg>')
    assert overlaps(svg) == [("55×55×96", "conv1")]


def _every_built_in():
    from archcalc.readers import zoo

    return zoo.names()


@pytest.mark.parametrize("name", _every_built_in())
def test_no_line_crosses_a_label_or_a_box_face(name):
    """Every built-in at every depth (the full picture and each collapsed level): no arrow,
    skip arc, wrap connector or frame edge passes through a text or through a box's faces (an
    arrow may end on a face: the faces are shrunk by 1 px); no line runs along a frame's edge;
    no text (a label, an arrow's label, a frame's title) lies on a box's face. Geometry from
    the SVG's own elements."""
    from svg_geometry import along_frames, line_collisions, texts_on_faces

    from archcalc.app import analyse_spec
    from archcalc.render.picture import deepest_level, picture

    analysis = analyse_spec(name)
    for depth in [None] + list(range(deepest_level(analysis), -1, -1)):
        svg, _ = picture(analysis, {"depth": depth, "fit": False})
        assert line_collisions(svg) == [], (name, depth)
        assert along_frames(svg) == [], (name, depth)
        assert texts_on_faces(svg) == [], (name, depth)
        if depth is None or depth == 0:
            assert overlaps(svg) == [], (name, depth)


def test_the_line_check_sees_a_line_through_a_label_and_a_face():
    from svg_geometry import line_collisions

    svg = ('<svg xmlns="http://www.w3.org/2000/svg"><style>.lab{font-size:11px}</style>'
           '<text x="10" y="20" class="lab">conv1</text>'
           '<rect class="vol" x="100" y="0" width="20" height="40"/>'
           '<path class="edge" d="M0,16 H50"/>'           # through the text (y 11.2 to 22.2)
           '<path class="edge" d="M60,60 V30 H140"/>'     # through the box at y = 30
           '<path class="edge" d="M60,50 H100"/>'         # ends on the box's face: allowed
           '<path class="edge skip" d="M0,80 C0,70 50,70 50,80"/></svg>')
    hits = line_collisions(svg)
    assert [(d, what.split()[0]) for d, what in hits] == [("M0,16 H50", "text"), ("M60,60 V30 H140", "face")]


def test_the_frame_checks_see_a_frame_through_a_label_a_line_along_it_and_a_title_on_a_box():
    from svg_geometry import along_frames, line_collisions, texts_on_faces

    svg = ('<svg xmlns="http://www.w3.org/2000/svg"><style>.lab{font-size:11px}.ftl{font-size:10px}</style>'
           '<text x="10" y="20" class="lab">conv1</text>'               # x 10 to 10 + 5·6.6 = 43
           '<rect class="vol" x="100" y="0" width="20" height="40"/>'
           '<rect class="frame" x="30" y="15" width="50" height="40"/>'   # its left edge cuts conv1
           '<rect class="frame rep" x="110" y="30" width="50" height="40"/>'   # through the box
           '<path class="edge" d="M20,56 H90"/>'        # 1 px under the first frame's bottom (55)
           '<path class="edge" d="M0,100 H40"/>'        # far from everything
           '<text x="105" y="20" class="ftl">×3</text></svg>')   # a title on the box's face
    assert sorted({(what, hit.split()[0]) for what, hit in line_collisions(svg)}) == \
        [("frame 110,30 50×40", "face"), ("frame 30,15 50×40", "text")]
    assert along_frames(svg) == [("M20,56 H90", "frame 30,15 50×40")]
    assert texts_on_faces(svg) == [("×3", "face 100")]


def test_a_scope_that_fits_on_a_row_is_not_split_and_rows_are_filled(cli):
    # Swin-T's `features` scope is too wide for one row and wraps; the scopes inside it (a
    # patch merging: two boxes, about 420 px; a stage: one box) each fit on a row of
    # 1,400 − 2·16 = 1,368 px, so none of them is split — only `features` goes on "(cont.)"
    _, root, _ = draw(cli, "swin_t")
    titles = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text") if t.get("class") == "ftl"]
    assert "4 · merge" in titles
    assert [t for t in titles if "(cont.)" in t] and all(t.startswith("features ") for t in titles if "(cont.)" in t)
    # at 1,180 px (the HTML report's width) the last row holds stage 7 alone (one box, about
    # 300 px); the head after it (norm, pool, flatten, dense: about 550 px) fits beside it
    _, root, _ = draw(cli, "swin_t", "--width", "1180")
    arrows = [(t.text, float(t.get("y"))) for t in root.iter("{http://www.w3.org/2000/svg}text")
              if t.get("class") == "arr"]
    last_stage = [y for text, y in arrows if text == "swin_block"][-1]
    assert {y for text, y in arrows[-4:]} == {last_stage}   # layernorm … dense 1000 units


def test_long_networks_wrap_instead_of_shrinking(cli):
    _, root, _ = draw(cli, "resnet152", "--width", "900", "--depth", "2")
    assert float(root.get("width")) <= 1400
    wide = draw(cli, "resnet152", "--depth", "2")[1]
    # the same boxes at the same sizes: wrapping changes rows, not scale
    sizes = [(r.get("width"), r.get("height")) for r in root.iter("{http://www.w3.org/2000/svg}rect")
             if r.get("class") == "vol"]
    wide_sizes = [(r.get("width"), r.get("height")) for r in wide.iter("{http://www.w3.org/2000/svg}rect")
                  if r.get("class") == "vol"]
    assert sizes == wide_sizes and len(sizes) > 20
    assert float(root.get("height")) > float(wide.get("height"))


# ------------------------------------------------------------------------------ diagnostics
def test_layers_with_diagnostics_are_marked_with_colour_and_text(cli):
    code, root, _ = draw(cli, SPECS / "examples" / "alexnet-224.yaml")
    assert code == 1
    conv1 = next(g for g in boxes(root) if g.get("data-layer") == "conv1")
    assert conv1.get("data-severity") == "error"
    badge = [t.text for t in conv1.findall("s:text", NS) if "bad" in t.get("class").split()]
    assert badge and badge[0].startswith("✖")       # a glyph and words, not only a colour
    assert shape_label(conv1) == "54×54×96"         # ⌊(224 − 11)/4⌋ + 1 = 54


def test_a_spec_that_stops_draws_what_it_has_and_says_where(cli, spec_file):
    path = spec_file("""name: broken
input: [32, 32, 3]
layers:
  - conv: {filters: 8, kernel: 3}
  - parallel:
      merge: add
      branches:
        - [conv: {filters: 8, kernel: 3}]
        - []
  - dense: 10
""")
    code, root, text = draw(cli, path)
    assert code == 1
    assert [shape_label(g) for g in boxes(root)][:1] == ["30×30×8"]   # 32 − 3 + 1
    assert "merge-mismatch" in text and 'class="stop"' in text


def test_user_text_is_escaped_and_control_characters_dropped(cli, spec_file):
    path = spec_file('name: "x<script>alert(1)</script>&\\u0007\\u202e"\n'
                     'title: "a \\"quoted\\" <b>title</b>"\n'
                     'input: [8, 8, 1]\nlayers:\n  - conv: {name: "c<1>&", filters: 2, kernel: 3}\n')
    code, root, text = draw(cli, path)
    assert code == 0
    assert "<script>" not in text and "<b>" not in text
    assert "\x07" not in text and "\u202e" not in text
    assert root.find("s:title", NS).text.startswith("x<script>alert(1)</script>&")
    assert [g.get("data-layer") for g in boxes(root)] == ["c<1>&"]


# ------------------------------------------------------------------------------ any shape, any kind
def test_token_shapes_unknown_lengths_and_unknown_kinds_draw():
    """Shapes the engine may produce later ([T, D] tokens, 4-D, none) and a kind the registry
    does not know draw as sheets and chips, never crash."""
    from archcalc.analysis import Analysis, LayerResult, Totals
    from archcalc.render.picture import render_svg

    def leaf(name, kind, inp, out, macs=1):
        return LayerResult(name, kind, inp, out, 0, 0, macs, {}, 1, 1, 0, ())

    layers = [leaf("embed", "made-up-embedding", (128,), (128, 768)),
              leaf("attn", "made-up-attention", (128, 768), (128, 768)),
              leaf("norm", "made-up-norm", (128, 768), (128, 768), macs=0),
              leaf("odd", "made-up", (128, 768), (2, 3, 4, 5)),
              leaf("void", "made-up", (2, 3, 4, 5), ())]
    analysis = Analysis("tokens", "<test>", (128,), (), layers=layers, totals=Totals(layers=5))
    svg = render_svg(analysis, {})
    root = ET.fromstring(svg)
    drawn = {g.get("data-layer"): g for g in boxes(root)}
    assert set(drawn) == {"embed", "attn", "odd", "void"}
    assert drawn["attn"].get("data-folded") == "norm"
    assert shape_label(drawn["embed"]) == "128×768"
    assert drawn["embed"].find("s:rect", NS).get("class") == "tok"
    assert shape_label(drawn["odd"]) == "2×3×4×5"
    assert overlaps(svg) == []


# ------------------------------------------------------------------------------ the command
def test_output_file_and_usage_errors(cli, tmp_path):
    target = tmp_path / "lenet.svg"
    result = cli("draw", "lenet5", "-o", target)
    assert (result.code, result.out) == (0, "")
    ET.parse(target)
    result = cli("draw", "lenet5", "-o", tmp_path / "missing" / "x.svg")
    assert result.code == 2 and "cannot write" in result.err
    result = cli("draw", "no-such-net")
    assert result.code == 2 and "no such file or built-in network" in result.err
    assert cli("draw", "lenet5", "--depth", "-1").code == 2


def test_draw_needs_no_new_dependency(run_process):
    result = run_process("draw", "lenet5", env={"PYTHONWARNINGS": "error"})
    assert result.code == 0 and result.out.startswith("<svg") and result.err == ""


def test_joins_are_merge_nodes_and_from_is_written_on_the_arrow(cli, spec_file):
    # the spec reference's join example: a and b give 32 + 32 = 64 channels; side reads the input
    path = spec_file("""name: joins
input: [32, 32, 3]
layers:
  - conv: {name: a, filters: 32, kernel: 3, padding: 1}
  - conv: {name: b, filters: 32, kernel: 3, padding: 1}
  - join: {name: ab, from: [a, b]}
  - conv: {name: side, from: input, filters: 64, kernel: 1}
  - join: {from: [ab, side], merge: add}
  - relu
  - conv: {name: last, filters: 8, kernel: 3}
  - join: {from: [a, b], merge: add}
""")
    code, root, svg = draw(cli, path)
    assert code == 0
    joins = [g for g in root.iter("{http://www.w3.org/2000/svg}g") if g.get("class") == "join"]
    assert [(g.get("data-merge"), g.get("data-sources")) for g in joins] == \
        [("concat", "a b"), ("add", "ab side"), ("add", "a b")]
    assert [shape_label(g) for g in joins] == ["32×32×64", "32×32×64", "32×32×32"]
    assert joins[1].get("data-folded") == "relu1"
    arrows = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text") if t.get("class") == "arr"]
    assert "from input · conv 1×1/1" in arrows
    assert overlaps(svg) == []


def test_consecutive_block_calls_that_draw_alike_are_drawn_once(cli, spec_file):
    path = spec_file("""name: calls
input: [16, 16, 8]
blocks:
  unit:
    args: {f: 8, s: 1}
    layers: [conv: {filters: $f, kernel: 3, stride: $s, padding: 1}, relu]
layers:
  - unit: {name: a}
  - unit: {name: b}
  - unit: {name: c}
  - unit: {name: d, s: 2}
  - unit: {name: e}
""")
    code, root, svg = draw(cli, path)
    assert code == 0
    titles = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text") if "rept" in (t.get("class") or "")]
    assert titles == ["×3"]                      # a, b, c: 16×16×8 each; d halves (stride 2), e differs in input
    assert [g.get("data-layer") for g in boxes(root)] == ["a.conv1", "d.conv1", "e.conv1"]
    assert [shape_label(g) for g in boxes(root)] == ["16×16×8", "8×8×8", "8×8×8"]


def test_an_auxiliary_head_hangs_off_the_main_path(cli, spec_file):
    path = spec_file("""name: auxy
input: [32, 32, 3]
layers:
  - conv: {name: c1, filters: 16, kernel: 3, padding: 1}
  - aux:
      name: head
      layers: [globalavgpool, dense: 10]
  - conv: {name: c2, filters: 32, kernel: 3, stride: 2, padding: 1}
""")
    code, root, svg = draw(cli, path)
    assert code == 0
    aux = next(g for g in root.iter("{http://www.w3.org/2000/svg}g") if g.get("class") == "aux")
    assert [shape_label(g) for g in boxes(aux)] == ["1×1×16", "10"]   # global pool keeps 16 channels
    assert [g.get("data-layer") for g in boxes(root)] == ["c1", "head.globalavgpool1", "head.dense1", "c2"]
    assert shape_label(boxes(root)[-1]) == "16×16×32"                   # c2 reads c1's 32×32×16: ⌈32/2⌉
    assert overlaps(svg) == []
    # collapsed (--depth 0), the head is one box, still in the lane that hangs off the path
    code, root, svg = draw(cli, path, "--depth", "0")
    aux = next(g for g in root.iter("{http://www.w3.org/2000/svg}g") if g.get("class") == "aux")
    assert [g.get("data-group") for g in boxes(aux, "group")] == ["head"]
    assert [g.get("data-layer") for g in boxes(root)] == ["c1", "c2"]
    assert overlaps(svg) == []


def test_inception_v3s_collapsed_auxiliary_head_is_off_the_main_path(cli):
    # Szegedy et al. 2016 (Inception-v3): the auxiliary classifier sits on the 17×17×768 grid
    # and is used in training only; the main path goes on from Mixed_6e to Mixed_7a
    _, root, _ = draw(cli, "inception_v3")          # the default: blocks collapsed at level 0
    aux = next(g for g in root.iter("{http://www.w3.org/2000/svg}g") if g.get("class") == "aux")
    assert [g.get("data-group") for g in boxes(aux, "group")] == ["AuxLogits"]
    arrows = {t.text: float(t.get("y")) for t in root.iter("{http://www.w3.org/2000/svg}text")
              if t.get("class") == "arr"}
    assert arrows["inception_c"] == arrows["inception_d"]   # Mixed_6e → Mixed_7a on one axis


@pytest.mark.parametrize("name", ["x.jpg", "drawing", "x.svg.txt", "x.png.svgz"])
def test_draw_refuses_a_name_that_is_not_svg_png_or_pdf(cli, tmp_path, name):
    # SVG text under another name would look like a picture and not be one: exit 2, nothing written.
    target = tmp_path / name
    code, out, err = cli("draw", "alexnet", "-o", target)
    assert (code, out) == (2, "")
    assert "draw writes SVG, PNG or PDF" in err and "Traceback" not in err
    assert not target.exists() and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("suffix", [".png", ".pdf"])
def test_draw_without_a_browser_refuses_png_and_pdf_naming_what_to_install(cli, tmp_path, monkeypatch, suffix):
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    target = tmp_path / f"x{suffix}"
    code, out, err = cli("draw", "alexnet", "-o", target)
    assert (code, out) == (2, "")
    assert "chromium" in err and "install" in err and "Traceback" not in err
    assert not target.exists()


def test_draw_writes_a_real_png_and_pdf_through_chromium(cli, tmp_path):
    """With Chromium on PATH: a PNG (its signature, and 2× the SVG's size in its IHDR) and a
    one-page PDF (`%PDF-`), never SVG text."""
    import struct

    from conftest import require_tool

    require_tool("chromium")
    root = ET.fromstring(cli("draw", "lenet5").out)
    width, height = (int(float(root.get(k)) + 0.999) for k in ("width", "height"))
    png = tmp_path / "lenet5.png"
    code, out, err = cli("draw", "lenet5", "-o", png)
    assert (code, out, err) == (0, "", "")
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    assert struct.unpack(">II", data[16:24]) == (2 * width, 2 * height)
    pdf = tmp_path / "LeNet.PDF"
    code, out, err = cli("draw", "lenet5", "-o", pdf)
    assert (code, out, err) == (0, "", "")
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF-") and b"<svg" not in data
    assert len(re.findall(rb"/Type\s*/Page\b", data)) == 1
    assert [p.name for p in sorted(tmp_path.iterdir())] == ["LeNet.PDF", "lenet5.png"]


def test_draw_writes_svg_under_an_svg_name_in_any_case(cli, tmp_path):
    target = tmp_path / "AlexNet.SVG"
    code, out, err = cli("draw", "alexnet", "-o", target)
    assert (code, out, err) == (0, "", "")
    root = ET.fromstring(target.read_text(encoding="utf-8"))
    assert root.tag.endswith("svg")
