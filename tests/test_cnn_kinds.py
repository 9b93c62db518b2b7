"""The modern CNN kinds (issue 11's vocabulary): adaptive pooling, group and instance norm,
layer scale, drop path, channel shuffle, hardsigmoid — and later convtranspose, upsample and
crop. Each row ``(entry, input, output, params, buffers, macs)`` carries its hand
arithmetic; the torch tables build the real PyTorch module and compare shapes, parameter
and buffer counts (skipped with a reason without torch, a failure under CI=true)."""
from __future__ import annotations

import json

import pytest
from conftest import analyse_text as analyse
from conftest import codes, locate
from torch_ref import buffer_count, hwc_to_nchw, nchw_to_hwc, need_torch, param_count


def one_layer(spec_file, entry: str, inp):
    a = analyse(spec_file, f"input: {list(inp)}\nlayers:\n  - {entry}\n")
    assert [(d.code, d.message) for d in a.diagnostics if d.severity == "error"] == []
    assert len(a.layers) == 1
    return a.layers[0]


ROWS = [
    # adaptive average pooling keeps channels, no params: 13×13 → 6×6 (torchvision AlexNet's avgpool)
    ("adaptiveavgpool: 6", (13, 13, 256), (6, 6, 256), 0, 0, 0),
    # [h, w] differ: 7×9 → 3×2
    ("adaptivemaxpool: [3, 2]", (7, 9, 4), (3, 2, 4), 0, 0, 0),
    # o > n is legal (bins overlap): 2×2 → 5×5
    ("adaptiveavgpool: 5", (2, 2, 3), (5, 5, 3), 0, 0, 0),
    # the 1×1 case is global pooling
    ("adaptivemaxpool: 1", (7, 7, 512), (1, 1, 512), 0, 0, 0),
    # groupnorm over 24 channels: γ and β per channel 2·24 = 48, no buffers
    ("groupnorm: 4", (14, 14, 24), (14, 14, 24), 48, 0, 0),
    ("groupnorm: {groups: 4, affine: false}", (14, 14, 24), (14, 14, 24), 0, 0, 0),
    # on a flat vector the channels are its length: 2·10 = 20
    ("groupnorm: 2", (10,), (10,), 20, 0, 0),
    # instancenorm: PyTorch's defaults have neither affine nor running statistics
    ("instancenorm", (8, 8, 16), (8, 8, 16), 0, 0, 0),
    # affine: 2·16 = 32 params; running statistics: 2·16 = 32 buffers
    ("instancenorm: {affine: true}", (8, 8, 16), (8, 8, 16), 32, 0, 0),
    ("instancenorm: {track_running_stats: true}", (8, 8, 16), (8, 8, 16), 0, 32, 0),
    ("instancenorm: {affine: true, track_running_stats: true}", (8, 8, 16), (8, 8, 16), 32, 32, 0),
    # layerscale: one γ per channel, 96 (ConvNeXt-T's first stage)
    ("layerscale", (56, 56, 96), (56, 56, 96), 96, 0, 0),
    ("layerscale: 0.1", (4,), (4,), 4, 0, 0),
    # droppath: identity at inference, no params
    ("droppath: 0.1", (7, 7, 8), (7, 7, 8), 0, 0, 0),
    ("droppath: {rate: 0.2, mode: batch}", (7, 7, 8), (7, 7, 8), 0, 0, 0),
    # channelshuffle: a permutation of the channels
    ("channelshuffle: 2", (28, 28, 116), (28, 28, 116), 0, 0, 0),
    ("hardsigmoid", (1, 1, 72), (1, 1, 72), 0, 0, 0),
]


@pytest.mark.parametrize("entry, inp, out, params, buffers, macs", ROWS)
def test_rules(spec_file, entry, inp, out, params, buffers, macs):
    layer = one_layer(spec_file, entry, inp)
    assert (layer.output, layer.params, layer.buffers, layer.macs) == (out, params, buffers, macs)


# Each row: the entry, an input, and the PyTorch module that is the same layer.
TORCH_ROWS = [
    ("adaptiveavgpool: 6", (13, 13, 256), "nn.AdaptiveAvgPool2d(6)"),
    ("adaptiveavgpool: 6", (5, 5, 2), "nn.AdaptiveAvgPool2d(6)"),
    ("adaptivemaxpool: [3, 2]", (7, 9, 4), "nn.AdaptiveMaxPool2d((3, 2))"),
    ("adaptiveavgpool: [7, 7]", (10, 11, 3), "nn.AdaptiveAvgPool2d((7, 7))"),
    ("groupnorm: 4", (14, 14, 24), "nn.GroupNorm(4, 24)"),
    ("groupnorm: {groups: 3, affine: false}", (5, 5, 24), "nn.GroupNorm(3, 24, affine=False)"),
    ("instancenorm", (8, 8, 16), "nn.InstanceNorm2d(16)"),
    ("instancenorm: {affine: true}", (8, 8, 16), "nn.InstanceNorm2d(16, affine=True)"),
    ("instancenorm: {affine: true, track_running_stats: true}", (8, 8, 16),
     "nn.InstanceNorm2d(16, affine=True, track_running_stats=True)"),
    ("channelshuffle: 4", (6, 6, 24), "nn.ChannelShuffle(4)"),
    ("hardsigmoid", (3, 3, 8), "nn.Hardsigmoid()"),
]


@pytest.mark.parametrize("entry, inp, module", TORCH_ROWS)
def test_rules_agree_with_pytorch(spec_file, entry, inp, module):
    torch = need_torch()
    from torch import nn  # noqa: F401  (used by eval)

    m = eval(module, {"nn": nn}).eval()
    with torch.no_grad():
        y = m(torch.zeros(hwc_to_nchw(inp)))
    layer = one_layer(spec_file, entry, inp)
    assert layer.output == nchw_to_hwc(y.shape)
    assert (layer.params, layer.buffers) == (param_count(m), buffer_count(m))


def test_adaptive_bins_are_pytorchs():
    # n = 7, o = 3: [⌊0⌋, ⌈7/3⌉) = [0, 3), [⌊7/3⌋, ⌈14/3⌉) = [2, 5), [⌊14/3⌋, ⌈7⌉) = [4, 7)
    from archcalc.layers.window import adaptive_bins, adaptive_window

    assert adaptive_bins(7, 3) == [(0, 3), (2, 5), (4, 7)]
    # n = 2, o = 3 (bins overlap): [0, 1), [0, 2), [1, 2)
    assert adaptive_bins(2, 3) == [(0, 1), (0, 2), (1, 2)]
    # equal bins: 14 → 7 is a 2-wide window of stride 2
    assert adaptive_window(14, 7) == (2, 2, 0)
    # unequal: widest bin 3, jump ⌈7/3⌉ = 3
    assert adaptive_window(7, 3) == (3, 3, 0)


def test_adaptive_bins_match_torch_max_pool_positions():
    # adaptive max pooling of an index ramp returns each bin's last index: end − 1
    torch = need_torch()
    from archcalc.layers.window import adaptive_bins

    for n, o in ((7, 3), (13, 6), (2, 5), (10, 4), (224, 7)):
        ramp = torch.arange(n, dtype=torch.float32).reshape(1, 1, 1, n)
        got = torch.nn.functional.adaptive_max_pool2d(ramp, (1, o)).flatten().tolist()
        lows = (-torch.nn.functional.adaptive_max_pool2d(-ramp, (1, o))).flatten().tolist()
        assert [(int(lo), int(hi) + 1) for lo, hi in zip(lows, got)] == adaptive_bins(n, o)


def test_adaptive_receptive_field(spec_file):
    # 14×14 → 7×7: bins of 2, a 2-wide window of stride 2: r = 1 + (2 − 1)·1 = 2, jump 2
    a = analyse(spec_file, "input: [14, 14, 3]\nlayers:\n  - adaptiveavgpool: 7\n  - adaptivemaxpool: 1\n")
    rf = a.layers[0].receptive_field
    assert (rf.size, rf.jump) == ((2, 2), (2, 2))
    # then 7 → 1, one window of 7: r = 2 + (7 − 1)·2 = 14, the whole input
    assert a.layers[1].receptive_field.size == (14, 14)


def test_adaptive_pool_needs_a_volume(spec_file):
    text = "input: [10]\nlayers:\n  - adaptiveavgpool: 2\n"
    a = analyse(spec_file, text)
    assert codes(a) == ["needs-volume"]
    assert (a.diagnostics[0].line, a.diagnostics[0].column) == locate(text, "adaptiveavgpool")


@pytest.mark.parametrize("entry, channels", [("groupnorm: {groups: 5}", 24), ("channelshuffle: {groups: 5}", 24)])
def test_groups_must_divide_the_channels(spec_file, entry, channels):
    text = f"input: [4, 4, {channels}]\nlayers:\n  - {entry}\n"
    a = analyse(spec_file, text)
    assert codes(a) == ["groups-mismatch"]
    d = a.diagnostics[0]
    # 24 = 5·4 + 4
    assert "24 = 5·4 + 4" in d.message
    assert (d.line, d.column) == locate(text, "5}")


def test_groupnorm_hint_names_the_nearest_divisors(spec_file):
    # divisors of 24 around 5: 4 and 6
    a = analyse(spec_file, "input: [4, 4, 24]\nlayers:\n  - groupnorm: 5\n")
    assert "4 or 6" in a.diagnostics[0].hint


def test_droppath_needs_a_rate(spec_file):
    text = "input: [4, 4, 2]\nlayers:\n  - droppath\n"
    a = analyse(spec_file, text)
    assert codes(a) == ["missing-field"]


@pytest.mark.parametrize("entry, stored", [
    ("layerscale", True), ("groupnorm: 2", True), ("instancenorm", True),
    ("channelshuffle: 2", True), ("droppath: 0.1", False), ("hardsigmoid", False),
    ("adaptiveavgpool: 2", True)])
def test_what_stores_its_output(spec_file, entry, stored):
    # stored kinds count H·W·C = 4·4·4 = 64 values; in-place or identity ones 0
    layer = one_layer(spec_file, entry, (4, 4, 4))
    assert layer.activations == (64 if stored and "adaptive" not in entry else 2 * 2 * 4 if stored else 0)


def test_explain_writes_the_kinds_arithmetic(cli, spec_file):
    path = spec_file("input: [13, 13, 8]\nlayers:\n  - adaptiveavgpool: 6\n  - groupnorm: 2\n"
                     "  - channelshuffle: 4\n")
    r = cli("explain", path)
    assert r.code == 0, r.err
    # 13 into 6 bins: ⌈13/6⌉ = 3, bins [0,3) [2,5) … [10,13) all 3 wide
    assert "bin i covers [⌊i·13/6⌋, ⌈(i+1)·13/6⌉): 6 bins 3 wide" in r.out
    assert "2·8 = 16 (γ and β per channel)" in r.out
    assert "8 channels read as 4×2, transposed to 2×4" in r.out


# ------------------------------------------------------------------ convtranspose, upsample, crop
UP_ROWS = [
    # U-Net's up-convolution: (28 − 1)·2 − 0 + 1·(2 − 1) + 0 + 1 = 56; params 2·2·1024·512 + 512
    # = 2,097,664; MACs 1024·512·2·2·28·28 = 1,644,167,168
    ("convtranspose: {filters: 512, kernel: 2, stride: 2}", (28, 28, 1024), (56, 56, 512),
     2_097_664, 0, 1_644_167_168),
    # k3 s2 p1 op1 doubles: (7 − 1)·2 − 2 + 2 + 1 + 1 = 14; params 9·4·6 + 6 = 222; MACs 4·6·9·7·7 = 10,584
    ("convtranspose: {filters: 6, kernel: 3, stride: 2, padding: 1, output_padding: 1}", (7, 7, 4),
     (14, 14, 6), 222, 0, 10_584),
    # stride 1, no padding grows by k − 1: 5 + 2 = 7; groups 2: params 3·3·(4/2)·6 = 108 (no bias);
    # MACs 4·(6/2)·9·5·5 = 2,700
    ("convtranspose: {filters: 6, kernel: 3, groups: 2, bias: false}", (5, 5, 4), (7, 7, 6), 108, 0, 2_700),
    # dilation 2, asymmetric padding [top 1, bottom 0, left 0, right 2], kernel [3, 2], stride [1, 3]:
    # h (6 − 1)·1 − 1 + 2·2 + 0 + 1 = 9; w (6 − 1)·3 − 2 + 2·1 + 0 + 1 = 16; params 3·2·2·1 + 1 = 13;
    # MACs 2·1·3·2·6·6 = 432
    ("convtranspose: {filters: 1, kernel: [3, 2], stride: [1, 3], dilation: 2, padding: [1, 0, 0, 2]}",
     (6, 6, 2), (9, 16, 1), 13, 0, 432),
    # nearest ×2: 7·2 = 14
    ("upsample: 2", (7, 7, 3), (14, 14, 3), 0, 0, 0),
    ("upsample: {factor: [2, 3], mode: bilinear}", (4, 5, 3), (8, 15, 3), 0, 0, 0),
    ("upsample: {size: [10, 12], mode: bilinear, align_corners: true}", (4, 5, 3), (10, 12, 3), 0, 0, 0),
    # U-Net's first copy-and-crop: 64×64 → 56×56
    ("crop: [56, 56]", (64, 64, 512), (56, 56, 512), 0, 0, 0),
    ("crop: {size: [2, 3], offset: [1, 0]}", (4, 5, 3), (2, 3, 3), 0, 0, 0),
]


@pytest.mark.parametrize("entry, inp, out, params, buffers, macs", UP_ROWS)
def test_upsampling_rules(spec_file, entry, inp, out, params, buffers, macs):
    layer = one_layer(spec_file, entry, inp)
    assert (layer.output, layer.params, layer.buffers, layer.macs) == (out, params, buffers, macs)


UP_TORCH_ROWS = [
    ("convtranspose: {filters: 512, kernel: 2, stride: 2}", (28, 28, 64),
     "nn.ConvTranspose2d(64, 512, 2, stride=2)"),
    ("convtranspose: {filters: 6, kernel: 3, stride: 2, padding: 1, output_padding: 1}", (7, 7, 4),
     "nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1)"),
    ("convtranspose: {filters: 6, kernel: 3, groups: 2, bias: false}", (5, 5, 4),
     "nn.ConvTranspose2d(4, 6, 3, groups=2, bias=False)"),
    ("convtranspose: {filters: 4, kernel: [3, 2], stride: [1, 3], dilation: 2, padding: [1, 2], "
     "output_padding: [1, 2]}", (6, 6, 2),
     "nn.ConvTranspose2d(2, 4, (3, 2), stride=(1, 3), dilation=2, padding=(1, 2), output_padding=(1, 2))"),
    ("upsample: 2", (7, 7, 3), "nn.Upsample(scale_factor=2)"),
    ("upsample: {factor: [2, 3], mode: bilinear}", (4, 5, 3), "nn.Upsample(scale_factor=(2, 3), mode='bilinear')"),
    ("upsample: {size: [10, 12], mode: bilinear, align_corners: true}", (4, 5, 3),
     "nn.Upsample(size=(10, 12), mode='bilinear', align_corners=True)"),
]


@pytest.mark.parametrize("entry, inp, module", UP_TORCH_ROWS)
def test_upsampling_agrees_with_pytorch(spec_file, entry, inp, module):
    torch = need_torch()
    from torch import nn
    from torch.utils.flop_counter import FlopCounterMode

    m = eval(module, {"nn": nn}).eval()
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        y = m(torch.zeros(hwc_to_nchw(inp)))
    layer = one_layer(spec_file, entry, inp)
    assert layer.output == nchw_to_hwc(y.shape)
    assert layer.params == param_count(m)
    # FlopCounterMode counts 2 FLOPs per multiply-accumulate
    assert layer.macs == counter.get_total_flops() // 2


def test_crop_agrees_with_slicing():
    # the centre crop takes the smaller margin first: 7 → 4 keeps rows 1..4 (margins 1 and 2)
    from archcalc.layers.resize import _crop_offsets

    assert _crop_offsets((7, 8, 1), {"size": (4, 4), "offset": None}) == (1, 2)


@pytest.mark.parametrize("entry, inp, code, token", [
    ("convtranspose: {filters: 2, kernel: 2, stride: 2, output_padding: 2}", (4, 4, 1), "bad-value", "2}"),
    ("convtranspose: {filters: 2, kernel: 2, padding: same}", (4, 4, 1), "bad-value", "same"),
    ("convtranspose: {filters: 2, kernel: 1, padding: 3}", (2, 2, 1), "nonpositive-output", "3}"),
    ("convtranspose: {filters: 3, kernel: 2, groups: 2}", (4, 4, 2), "groups-mismatch", "2}"),
    ("upsample: {factor: 2, size: 8}", (4, 4, 1), "bad-value", "8}"),
    ("upsample: {mode: bilinear}", (4, 4, 1), "bad-value", "upsample"),
    ("upsample: {factor: 2, align_corners: true}", (4, 4, 1), "bad-value", "true"),
    ("crop: [5, 4]", (4, 4, 1), "bad-crop", "[5, 4]"),
    ("crop: {size: 2, offset: [3, 0]}", (4, 4, 1), "bad-crop", "[3, 0]"),
    ("crop: 2", (4,), "needs-volume", "crop"),
])
def test_upsampling_errors_are_located(spec_file, entry, inp, code, token):
    text = f"input: {list(inp)}\nlayers:\n  - {entry}\n"
    a = analyse(spec_file, text)
    assert codes(a) == [code]
    d = a.diagnostics[0]
    assert (d.line, d.column) == locate(text, token, nth=text.count(token) if token.endswith("}") else 1)


# ------------------------------------------------- what the vocabulary still cannot express
@pytest.mark.parametrize("word, nearest", [
    ("Conv3d", "`conv`"), ("MaxPooling3D", "`maxpool`"), ("ConvTranspose3d", "`convtranspose`"),
    ("Conv1d", "2-D kind"), ("LSTM", "`dense`"), ("GRU", "`dense`"), ("PixelShuffle", "`upsample`"),
    ("MaxUnpool2d", "`upsample`"), ("ZeroPadding2D", "`padding:"), ("Multiply", "`merge: mul`"),
    ("DeformConv2d", "`conv`"), ("RoIAlign", "`adaptivemaxpool`"),
])
def test_an_inexpressible_layer_is_an_error_naming_the_nearest_construct(spec_file, word, nearest):
    text = f"input: [8, 8, 3]\nlayers:\n  - {word}: 2\n"
    a = analyse(spec_file, text)
    assert codes(a) == ["unknown-kind"]
    d = a.diagnostics[0]
    assert (d.line, d.column) == locate(text, word)
    assert nearest in d.hint
    # the nearest construct it names exists
    from archcalc.composites import COMPOSITES
    from archcalc.layers import REGISTRY

    named = nearest.strip("`").split("`")[0].rstrip(":")
    assert named in REGISTRY or named in COMPOSITES or named in ("2-D kind", "padding", "merge: mul")


EVERY_KIND = """\
name: every
input: [32, 32, 8]
layers:
  - conv: {filters: 16, kernel: 3, padding: 1}
  - groupnorm: 4
  - instancenorm: {affine: true, track_running_stats: true}
  - hardsigmoid
  - parallel:
      merge: mul
      branches:
        - []
        - [adaptiveavgpool: 1, conv: {filters: 16, kernel: 1}, hardsigmoid]
  - residual:
      layers: [conv: {filters: 16, kernel: 3, padding: 1}, layerscale, droppath: 0.1]
  - channelshuffle: 4
  - aux: {name: head, layers: [adaptivemaxpool: 2, flatten, dense: 10]}
  - parallel:
      branches:
        - [crop: 14]
        - [maxpool: 2, convtranspose: {filters: 8, kernel: 2, stride: 2}, crop: 28, adaptiveavgpool: 14]
  - upsample: {factor: 2, mode: bilinear}
"""


def test_every_new_kind_through_memory_rf_explain_and_diff(cli, spec_file):
    path = spec_file(EVERY_KIND)
    r = cli("show", path, "--format", "json", "--memory", "--rf")
    assert r.code == 0, r.err + r.out
    data = json.loads(r.out)
    layers = data["layers"]
    # the forward activations are the layers' plus the merges'; the head's are not among them
    assert data["totals"]["activations"] == sum(l["activations"] for l in layers) + \
        data["memory"]["merge_activations"]
    assert data["totals"]["macs"] == sum(l["macs"] for l in layers if not l.get("aux"))
    assert data["output"] == [28, 28, 24]  # crop 14 (16 ch) ⊕ adaptive 14 (8 ch), then ×2
    # the receptive field is reported everywhere (every upsampling here has a whole jump)
    assert all(l["receptive_field"] is not None for l in layers)
    table = cli("show", path, "--memory", "--rf")
    assert table.code == 0 and "Aux" in table.out
    explained = cli("explain", path)
    assert explained.code == 0 and explained.out.count("\n  input ") == len(layers)
    diff = cli("diff", path, path)
    assert diff.code == 0, diff.err
