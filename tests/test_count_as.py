"""`--count-as fvcore|ptflops|ptflops-aten|thop|torch`: MACs as another tool counts them.

Three kinds of evidence, none of them archcalc's own output:

* hand arithmetic, in the comments, for a small spec under every convention;
* the issue's measurements of torchvision's ResNet-50 (issue 27), five independent figures;
* the referee: the tools themselves (tests/count_tools.py), run as a user runs them on the
  module `archcalc export` writes, must report exactly archcalc's `--count-as` total.

The referee runs on a broad, representative set of built-ins within CI's budget (2 cores,
the whole suite under about 15 minutes): every CNN family of the zoo once or more — the
papers' forms (LeNet-5 1998 with its subsampling and RBF units, AlexNet 2012 with LRN),
the classic and torchvision CNNs (AlexNet, VGG-BN, ResNet, ResNeXt, Wide ResNet, DenseNet,
GoogLeNet and Inception-v3 with their auxiliary heads, SqueezeNet, MobileNet V2/V3, MnasNet,
ShuffleNet, EfficientNet-B0, RegNet X/Y, ConvNeXt) and the U-Net; the transformers ViT-B/16,
Swin-T, MaxViT-T, BERT-base and GPT-2 (at T = 64) — plus the small specs below, which hold
every kind and option the built-ins leave out (Swin V2's window attention among them). The whole zoo was checked the same way when the rules
were written (every CNN built-in under 400 M parameters and 40 G MACs, and qwen2-0.5b at
T = 16: all equal; the larger ones take minutes and gigabytes).
"""
from __future__ import annotations

import json

import pytest

import count_tools

TINY = """\
name: tiny
input: [8, 8, 3]
layers:
  - conv: {filters: 4, kernel: 3, padding: 1}   # 8x8x4
  - batchnorm
  - relu
  - maxpool: 2                                   # 4x4x4
  - globalavgpool                                # 1x1x4
  - dense: 10
"""
# conv: 8·8·4·(3·3·3) = 6,912 MACs, 8·8·4 = 256 output values (bias); batch norm and ReLU
# 256 values; max pooling reads 256; global pooling reads 4·4·4 = 64, makes 4; dense 4·10 =
# 40 MACs, 10 outputs (bias).
TINY_EXPECTED = {
    None: 6_912 + 40,                                             # 6,952
    "torch": 6_912 + 40,                                          # FlopCounterMode: as archcalc
    # + batch norm 2·256 + adaptive average pooling 1·64
    "fvcore": 6_952 + 512 + 64,                                   # 7,528
    # conv + bias 256; bn 2·256; relu 2·256 (hook + F.relu); maxpool 2·256; gap 2·64;
    # dense 40 + bias 10
    "ptflops": 6_912 + 256 + 512 + 512 + 512 + 128 + 40 + 10,     # 8,882
    "ptflops-aten": 6_912 + 256 + 40 + 10,                        # 7,218: biases only
    # bn 4·256; gap (4·4/(1·1) + 1)·4 = 68
    "thop": 6_952 + 1_024 + 68,                                   # 8,044
}

TINY_LM = """\
name: tinylm
input: {tokens: 8}
layers:
  - embedding: {vocab: 50, dim: 16}
  - layernorm
  - attention: {heads: 4}
  - attention: {heads: 3, head_dim: 4, kv_heads: 1, causal: true, rope: true, out_bias: false}
  - rmsnorm
  - gatedmlp: {hidden: 32}
  - dense: {units: 16, activation: gelu}
  - attention: {heads: 1}
  - attention: {heads: 2, causal: true, window: 4}
  - experts: {experts: 4, top_k: 2, hidden: 8}
  - lmhead: {vocab: 50}
"""
# T = 8, D = 16. attention 4 heads (exported as nn.MultiheadAttention): projections
# 8·4·16·16 = 8,192, scores 2·8²·16 = 2,048. The grouped-query one (the Attention helper,
# h·d = 12, kv·d = 4): projections 8·(16·12 + 2·16·4 + 12·16) = 4,096, scores 2·8²·12 =
# 1,536. gatedmlp 3·8·16·32 = 12,288; dense 8·16·16 = 2,048; attention 1 head as the first
# (8,192 + 2,048), and the causal one with a sliding window of 4 (the helper: the full square
# is counted, 8,192 + 2,048); experts, per token the router 16·4 and top 2 of 3·16·8:
# 8·(64 + 768) = 6,656; lmhead 8·16·50 = 6,400. archcalc: 63,744.
TINY_LM_EXPECTED = {
    None: 10_240 + 5_632 + 12_288 + 2_048 + 10_240 + 10_240 + 6_656 + 6_400,  # 63,744
    # FlopCounterMode on a CPU: the 4-head nn.MultiheadAttention takes the fast path (0), the
    # 1-head one cannot (odd heads) and counts its projections; SDPA counts 0
    "torch": 0 + 4_096 + 12_288 + 2_048 + 8_192 + 8_192 + 6_656 + 6_400,   # 47,872
    # thop: LayerNorm 4·8·16 = 512; MultiheadAttention 0; the helper's nn.Linear 4,096; the
    # GatedMLP's three nn.Linear 12,288 (SiLU unknown: 0); dense 2,048; RMSNorm unknown; the
    # windowed helper's projections 8,192; the experts' router only, 8·16·4 = 512
    "thop": 512 + 0 + 4_096 + 12_288 + 2_048 + 0 + 8_192 + 512 + 6_400,  # 34,048
}

# Every CNN kind and option the built-ins leave out (fused activations the tools count or not,
# group and instance norm with and without affine, explicit padding before a pool, bilinear
# and sized upsampling, a transposed conv with a bias and a fused ReLU, adaptive max
# pooling, softmax over channels): refereed by the tools below
KINDS = """\
name: kinds
input: [12, 12, 3]
layers:
  - conv: {filters: 6, kernel: 3, padding: same, activation: relu6}
  - groupnorm: 2
  - elu
  - conv: {filters: 6, kernel: 2, padding: same, bias: false, activation: silu}
  - instancenorm: {affine: true}
  - leakyrelu
  - maxpool: {size: 3, stride: 2, padding: [0, 1, 0, 1]}
  - avgpool: {size: 2, stride: 1, padding: 1}
  - upsample: {factor: 2, mode: bilinear}
  - convtranspose: {filters: 4, kernel: 2, stride: 2, activation: relu}
  - upsample: {size: [30, 30]}
  - adaptiveavgpool: 4
  - adaptivemaxpool: 3
  - groupnorm: {groups: 2, affine: false}
  - instancenorm
  - hardswish
  - softmax
  - conv: {filters: 4, kernel: 1, activation: gelu}
  - globalavgpool
  - globalmaxpool
  - flatten
  - dense: {units: 5, activation: elu}
  - batchnorm
  - tanh
  - sigmoid
  - dense: {units: 3, bias: false, activation: softmax}
"""

# The window attentions: Swin V2's (cosine scores, the position-bias MLP) and MaxViT's grid and
# block partitions, on a 12×8×16 volume (C = 16, 96 positions):
# windowattentionv2, 2 heads, windows of 4 (N = 16), a 16-unit MLP on 7² = 49 coordinates:
#   96·4·16² + 2·96·16·16 + 49·(2·16 + 16·2) = 98,304 + 49,152 + 3,136 = 150,592
# partitionattention grid 4 (N = 16): 98,304 + 49,152 = 147,456; window 2 (N = 4): 98,304
#   + 2·96·4·16 = 110,592
WINDOWS = """\
name: windows
input: [12, 8, 16]
layers:
  - windowattentionv2: {heads: 2, window: 4, shift: 2, cpb_hidden: 16}
  - partitionattention: {partition: grid, size: 4, head_dim: 8}
  - partitionattention: {partition: window, size: 2, head_dim: 4}
"""
WINDOWS_EXPECTED = {
    "torch": 150_592 + 147_456 + 110_592,                                   # 408,640
    # + the biases of every addmm: 4·16 per position for qkv and proj (3 layers: 3·6,144),
    # and the MLP's first layer, 16 per coordinate (784)
    "ptflops-aten": 408_640 + 3 * 6_144 + 784,                              # 427,856
    # nn.Linear modules only: Swin V2's proj 96·16² = 24,576 and its MLP 3,136 (its qkv is
    # F.linear); MaxViT's to_qkv and merge 96·4·16² = 98,304 twice
    "thop": 24_576 + 3_136 + 2 * 98_304,                                    # 224,320
}

# Issue 27's measurements on torchvision's ResNet-50 (the tools' own outputs, not archcalc's)
RESNET50 = {"torch": 4_089_184_256, "fvcore": 4_111_512_576, "ptflops": 4_132_436_968,
            "ptflops-aten": 4_089_185_256, "thop": 4_133_742_592}


def _show(cli, *args) -> dict:
    result = cli("show", *args, "--format", "json")
    assert result.code == 0, result.err
    return json.loads(result.out)


@pytest.mark.parametrize("tool", sorted(t for t in TINY_EXPECTED if t))
def test_tiny_spec_by_hand(tool, cli, spec_file):
    data = _show(cli, spec_file(TINY), "--count-as", tool)
    assert data["totals"]["macs"] == TINY_EXPECTED[tool]
    assert data["totals"]["count_as"] == tool
    assert data["totals"]["exact_macs"] == TINY_EXPECTED[None]
    assert data["totals"]["flops"] == 2 * TINY_EXPECTED[tool]
    assert sum(layer["macs"] for layer in data["layers"]) == TINY_EXPECTED[tool]
    assert sum(layer["exact_macs"] for layer in data["layers"]) == TINY_EXPECTED[None]


@pytest.mark.parametrize("tool", ["torch", "thop"])
def test_tiny_language_model_by_hand(tool, cli, spec_file):
    data = _show(cli, spec_file(TINY_LM), "--count-as", tool)
    assert (data["totals"]["macs"], data["totals"]["exact_macs"]) == (TINY_LM_EXPECTED[tool], TINY_LM_EXPECTED[None])


def test_without_count_as_nothing_changes(cli, spec_file):
    data = _show(cli, spec_file(TINY))
    assert data["totals"]["macs"] == TINY_EXPECTED[None]
    assert "count_as" not in data["totals"] and "exact_macs" not in data["totals"]
    assert all("exact_macs" not in layer for layer in data["layers"])


@pytest.mark.parametrize("tool", sorted(RESNET50))
def test_resnet50_as_the_issue_measured_it(tool, cli):
    data = _show(cli, "resnet50", "--count-as", tool)
    assert data["totals"]["macs"] == RESNET50[tool]
    assert data["totals"]["exact_macs"] == RESNET50["torch"]  # archcalc's own = PyTorch's


def test_the_pins_and_budgets_stay_archcalcs(cli, spec_file):
    """A spec's `expect: macs` pins archcalc's count: another tool's count never breaks it."""
    path = spec_file(TINY + "expect: {macs: 6952, max_macs: 6952}\n")
    for tool in ("fvcore", "thop"):
        result = cli("show", path, "--count-as", tool, "--format", "json")
        assert result.code == 0, result.err
        assert json.loads(result.out)["diagnostics"] == []


def test_batch_scales_both_counts(cli, spec_file):
    data = _show(cli, spec_file(TINY), "--count-as", "thop", "--batch", "3")
    assert (data["totals"]["macs"], data["totals"]["exact_macs"]) == (3 * 8_044, 3 * 6_952)


def test_an_unknown_convention_is_a_usage_error(cli):
    result = cli("show", "lenet5", "--count-as", "flopth")
    assert result.code == 2
    assert "flopth" in result.err and "fvcore" in result.err


def test_an_incomplete_network_still_names_the_convention(cli, spec_file):
    path = spec_file("name: broken\ninput: [8, 8, 3]\nlayers:\n  - flatten\n  - conv: {filters: 2, kernel: 3}\n")
    result = cli("show", path, "--count-as", "fvcore", "--format", "json")
    assert result.code == 1
    totals = json.loads(result.out)["totals"]
    assert totals["count_as"] == "fvcore" and totals["macs"] is None


def test_every_output_names_the_convention(cli, spec_file):
    path = spec_file(TINY)
    table = cli("show", path, "--count-as", "ptflops")
    assert "MACs (ptflops)" in table.out
    assert "8,882" in table.out and "as ptflops counts (archcalc: 6,952)" in table.out
    markdown = cli("show", path, "--count-as", "ptflops", "--format", "markdown").out
    assert "MACs (ptflops)" in markdown and "**ptflops**" in markdown
    csv = cli("show", path, "--count-as", "ptflops", "--format", "csv", "--totals").out.splitlines()
    assert csv[0].endswith(",count_as,exact_macs")
    # the totals row ends macs, trainable params (conv 3·3·3·4 + 4, bn 2·4, dense 4·10 + 10 =
    # 170), the convention and archcalc's own
    assert csv[-1].split(",")[-4:] == ["8882", "170", "ptflops", "6952"]
    html = cli("show", path, "--count-as", "ptflops", "--format", "html").out
    assert "MACs (ptflops)" in html and "MACs (archcalc)" in html


def test_list_counts_as_the_tool(cli):
    rows = json.loads(cli("list", "resnet", "--count-as", "fvcore", "--format", "json").out)
    row = next(r for r in rows if r["name"] == "resnet50")
    assert (row["macs"], row["count_as"], row["exact_macs"]) == (RESNET50["fvcore"], "fvcore", RESNET50["torch"])
    table = cli("list", "resnet", "--count-as", "fvcore").out
    assert "MACs (fvcore)" in table
    for fmt in ("markdown", "html"):
        assert "MACs (fvcore)" in cli("list", "resnet", "--count-as", "fvcore", "--format", fmt).out
    csv = cli("list", "resnet50", "--count-as", "thop", "--format", "csv").out.splitlines()
    assert csv[0].endswith("count_as,exact_macs")
    line = next(line for line in csv if line.startswith("resnet50,"))
    assert f",{RESNET50['thop']}," in line and line.endswith(f"thop,{RESNET50['torch']}")


def test_diff_counts_both_sides_as_the_tool(cli):
    data = json.loads(cli("diff", "resnet18", "resnet50", "--count-as", "thop", "--format", "json").out)
    assert data["count_as"] == "thop"
    assert data["b"]["totals"]["macs"] == RESNET50["thop"]
    assert data["b"]["totals"]["exact_macs"] == RESNET50["torch"]
    table = cli("diff", "resnet18", "resnet50", "--count-as", "thop").out
    assert "MACs counted as" in table and "thop" in table and "MACs (archcalc)" in table


def test_explain_itemises_the_difference(cli):
    result = cli("explain", "resnet50", "--count-as", "fvcore")
    assert result.code == 0, result.err
    text = result.out
    # ResNet-50's 53 batch norms see 11,113,984 values (fvcore − torch − the pooled 7·7·2048,
    # from the issue's figures: 4,111,512,576 − 4,089,184,256 − 100,352 = 2·11,113,984)
    assert "batchnorm (53 layers)" in text and "+22,227,968" in text
    assert "globalavgpool (1 layer)" in text and "+100,352" in text
    assert "4,089,184,256" in text and "4,111,512,576" in text
    assert "fvcore skips nothing" in text


# ------------------------------------------------------------------------------ the referee
REFEREED = [
    "lenet5", "lenet5-1998", "alexnet", "alexnet-2012", "alexnet-tv", "vgg11_bn",
    "resnet18", "resnet50", "resnext50_32x4d", "wide_resnet50_2", "densenet121",
    "googlenet", "googlenet-tv", "inception_v3", "squeezenet1_0", "squeezenet1_1", "mobilenet_v2",
    "mobilenet_v3_small", "mobilenet_v3_large", "mnasnet0_5", "shufflenet_v2_x0_5", "efficientnet_b0",
    "regnet_x_400mf", "regnet_y_400mf", "convnext_tiny", "unet",
    # transformers: nn.MultiheadAttention (ViT, BERT), Swin's window attention, GPT-2's
    # causal attention helper and tied head (at a short sequence: NAME:T), MaxViT's block and
    # grid attention (Swin V2's window attention is in WINDOWS below)
    "vit_b_16", "swin_t", "bert-base", "gpt2:64", "maxvit_t",
]
_SOURCES: dict[str, str] = {}


def _source(key: str, load) -> str:
    text = _SOURCES.get(key)
    if text is None:
        from archcalc.engine import analyze
        from archcalc.export import export_pytorch

        text = _SOURCES[key] = export_pytorch(analyze(load()))
    return text


def _ours(load, tool: str) -> int:
    from archcalc.engine import analyze

    analysis = analyze(load(), count_as=tool)
    assert not analysis.errors
    return analysis.totals.macs


# network by network, each tool in turn (the network is built once: count_tools.build)
PAIRS = [(name, tool) for name in REFEREED for tool in count_tools.TOOLS]


@pytest.mark.parametrize("name, tool", PAIRS, ids=[f"{name}-{tool}" for name, tool in PAIRS])
def test_the_tool_itself_agrees(name, tool):
    count_tools.require(tool)
    from archcalc.engine import analyze
    from archcalc.export import export_pytorch
    from archcalc.readers import load_spec

    spec, _, seq = name.partition(":")
    seq = int(seq) if seq else None
    source = _SOURCES.get(name)
    if source is None:
        _SOURCES.clear()  # one network's module at a time
        source = _SOURCES[name] = export_pytorch(analyze(load_spec(spec), seq=seq))
    ours = analyze(load_spec(spec), seq=seq, count_as=tool)
    assert not ours.errors
    assert count_tools.count(tool, source) == ours.totals.macs


@pytest.mark.parametrize("tool", count_tools.TOOLS)
@pytest.mark.parametrize("text, expected", [(TINY, TINY_EXPECTED), (TINY_LM, TINY_LM_EXPECTED), (KINDS, {}),
                                            (WINDOWS, WINDOWS_EXPECTED)],
                         ids=["tiny", "tinylm", "kinds", "windows"])
def test_the_tool_itself_agrees_on_the_tiny_specs(text, expected, tool, tmp_path):
    """The hand arithmetic above, confirmed by the tool (and every other convention on them)."""
    count_tools.require(tool)
    from archcalc.readers import load_spec

    path = tmp_path / "tiny.yaml"
    path.write_text(text, encoding="utf-8")

    def load():
        return load_spec(str(path))

    theirs = count_tools.count(tool, _source(text, load))
    assert theirs == _ours(load, tool)
    if tool in expected:
        assert theirs == expected[tool]


# At batch 3 every MAC is per sample, but Swin V2's position-bias MLP, which reads a fixed
# table of coordinates once per forward pass: WINDOWS under torch is 3·(408,640 − 3,136) +
# 3,136 = 1,219,648; TINY has no such part (3·its batch-1 figure).
BATCH3_EXPECTED = {(WINDOWS, "torch"): 3 * (408_640 - 3_136) + 3_136, (TINY, "torch"): 3 * TINY_EXPECTED["torch"]}


# ptflops's default backend reports an average per sample at batch N (its module hooks'
# counts divided by N, its patched functions' not: TINY's F.relu, max pool and average pool,
# 576 values, come back N times), so it is not a batch total to compare with
BATCH_TOOLS = [tool for tool in count_tools.TOOLS if tool != "ptflops"]


@pytest.mark.parametrize("tool", BATCH_TOOLS)
@pytest.mark.parametrize("text", [TINY, WINDOWS], ids=["tiny", "windows"])
def test_the_tool_itself_agrees_at_batch_3(text, tool, tmp_path):
    """`--batch 3` against the tools run on three samples: what runs once per forward pass
    (LayerKind.once_macs, Counted.once) is not multiplied."""
    count_tools.require(tool)
    from archcalc.engine import analyze
    from archcalc.metrics import apply_batch
    from archcalc.readers import load_spec

    path = tmp_path / "tiny.yaml"
    path.write_text(text, encoding="utf-8")

    def load():
        return load_spec(str(path))

    theirs = count_tools.count(tool, _source(text, load), batch=3)
    ours = apply_batch(analyze(load(), count_as=tool), 3)
    assert theirs == ours.totals.macs
    exact = apply_batch(analyze(load()), 3).totals.macs
    assert ours.totals.exact_macs == exact
    if (text, tool) in BATCH3_EXPECTED:
        assert theirs == BATCH3_EXPECTED[text, tool] == exact


def test_the_referee_covers_every_cnn_family():
    from archcalc import zoo_index
    from archcalc.readers import zoo

    token = {"bert", "gpt", "llama", "mistral", "qwen"}  # bert and gpt2 are refereed; the others'
    # kinds (rmsnorm, gatedmlp, grouped-query attention) are in TINY_LM, their sizes beyond CI
    families = {zoo_index.family(n) for n in zoo.names()} - token
    assert families <= {zoo_index.family(n.partition(":")[0]) for n in REFEREED}


def test_html_charts_name_the_convention(cli):
    # the charts' bars are the tool's MACs: their captions and heads say whose
    page = cli("show", "resnet18", "--count-as", "fvcore", "--format", "html").out
    assert "Params and MACs as fvcore counts them per kind" in page
    assert '<span class="head">MACs (fvcore)</span>' in page
    plain = cli("show", "resnet18", "--format", "html").out
    assert "counts them" not in plain and '<span class="head">MACs</span>' in plain
    diff = cli("diff", "resnet18", "resnet34", "--count-as", "thop", "--format", "html").out
    assert '<span class="head">MACs (thop)</span>' in diff


def test_every_mac_in_the_html_page_names_the_convention(cli):
    # the diagram's tooltips, its header and the rows' share bars are the tool's MACs too
    import re

    page = cli("show", "resnet18", "--count-as", "fvcore", "--format", "html").out
    bare = [m for m in re.findall(r"MACs(?! \(fvcore\)| \(archcalc\)| as fvcore counts)[^<]{0,40}", page)
            if not m.startswith("MACs\n") and "do no MACs" not in m]
    spoken = [m for m in bare if not m.startswith(("MACs</", "MACs (log"))]
    assert re.search(r"<title>[^<]*MACs \(fvcore\) [0-9,]+", page)
    assert 'title="MACs (fvcore) ' in page
    plain = cli("show", "resnet18", "--format", "html").out
    assert "(fvcore)" not in plain and 'title="MACs ' in plain
    assert not [m for m in spoken if re.match(r"MACs [0-9<&]", m)], spoken


def test_the_notes_and_the_itemisation_follow_the_batch(cli):
    # ViT-B/16's 12 attention layers at batch 1, by hand: projections 4·197·768² = 464,781,312,
    # scores and weighted sum 2·197²·768 = 59,610,624; 12·524,391,936 = 6,292,703,232 — all of
    # which torch's CPU fast path counts 0 (issue 27: 11.27 G of 17.56 G). At batch 4, four times.
    notes = _show(cli, "vit_b_16", "--count-as", "torch", "--batch", "4")["totals"]["count_notes"]
    assert len(notes) == 1 and "25,170,812,928" in notes[0] and "6,292,703,232" not in notes[0]
    text = cli("explain", "resnet50", "--count-as", "fvcore", "--batch", "2").out
    # twice issue 27's batch-1 figures: 2·4,089,184,256, 2·4,111,512,576 and 2·22,227,968
    assert "at batch 2" in text
    assert "8,178,368,512" in text and "8,223,025,152" in text and "+44,455,936" in text
