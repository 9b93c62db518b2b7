"""Issue 21's frictions: `list` ordered by size inside a family, names that mean the same
network resolve alike, the `$k // 2` message that says how to write it, and batchnorm's
`eps` and `momentum` (exported as PyTorch's own arguments). Expected figures come from the
torchvision fixtures (tests/fixtures/torchvision) or hand arithmetic in comments."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import analyse_text as analyse
from conftest import locate, require_tool
from torch_ref import need_torch

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "torchvision"


# ------------------------------------------------------------------------------------- list
def test_list_orders_a_family_by_size(cli):
    r = cli("list", "regnet", "--format", "json")
    assert r.code == 0, r.err
    names = [row["name"] for row in json.loads(r.out)]
    # torchvision's own MAC counts (the fixtures), not archcalc's, give the expected order
    recorded = {name: json.loads((FIXTURES / f"{name}.json").read_text())["macs"] for name in names}
    assert names == sorted(names, key=recorded.__getitem__)
    x = [n for n in names if n.startswith("regnet_x")]
    assert x == ["regnet_x_400mf", "regnet_x_800mf", "regnet_x_1_6gf", "regnet_x_3_2gf",
                 "regnet_x_8gf", "regnet_x_16gf", "regnet_x_32gf"]


def test_list_table_keeps_the_families_and_orders_inside_them(cli):
    r = cli("list")
    lines = [line.split()[0] for line in r.out.splitlines()[2:] if line.startswith("  regnet_x")]
    assert lines.index("regnet_x_800mf") < lines.index("regnet_x_1_6gf") < lines.index("regnet_x_16gf")


# ------------------------------------------------------------------------------------ names
@pytest.mark.parametrize("written, name", [
    ("MobileNet_V2", "mobilenet_v2"), ("mobilenet-v2", "mobilenet_v2"), ("MOBILENET.V2", "mobilenet_v2"),
    # the separator between two digits is a decimal point: 1.6 GF, not 16 GF
    ("regnet-x-1.6gf", "regnet_x_1_6gf"), ("RegNet_X_1_6GF", "regnet_x_1_6gf"),
    ("regnet-x-16gf", "regnet_x_16gf"), ("REGNET.X.16GF", "regnet_x_16gf"),
    ("ResNet-50", "resnet50"), ("VGG-16", "vgg16"),
    ("efficientnet-b0", "efficientnet_b0"), ("EfficientNet_B0", "efficientnet_b0"),
    ("EfficientNet-V2-S", "efficientnet_v2_s"), ("ShuffleNet_V2_X1.0", "shufflenet_v2_x1_0"),
    ("ConvNeXt_Tiny", "convnext_tiny"),
])
def test_names_that_mean_the_same_network_resolve_alike(written, name):
    from archcalc.readers import zoo

    assert Path(zoo.find(written)).stem == name


def test_digits_written_without_a_separator_are_one_number():
    from archcalc.readers import zoo

    # 'regnetx16gf': 16 GF, as written; '1.6' needs its decimal point (or '_', '-')
    assert Path(zoo.find("regnetx16gf")).stem == "regnet_x_16gf"
    assert Path(zoo.find("regnetx1-6gf")).stem == "regnet_x_1_6gf"
    assert zoo.find("regnetz16gf") is None


# ------------------------------------------------------------------- `$k // 2` is explained
ARITHMETIC = """\
input: [32, 32, 3]
blocks:
  b:
    args: {k: 3}
    layers:
      - conv: {filters: 8, kernel: $k, padding: $k // 2}
layers:
  - b
  - b: {k: 5}
"""


def test_arithmetic_after_a_dollar_says_to_write_an_expression(spec_file):
    a = analyse(spec_file, ARITHMETIC)
    # once, although the block is called twice with different arguments
    assert [d.code for d in a.diagnostics] == ["bad-expression"]
    d = a.diagnostics[0]
    assert (d.line, d.column) == locate(ARITHMETIC, "$k // 2")
    assert "not an argument" not in d.message and "declare it" not in d.hint
    assert '"${k // 2}"' in d.hint
    fixed = analyse(spec_file, ARITHMETIC.replace("$k // 2", '"${k // 2}"'))
    # 3·3·3·8 + 8 = 224 and 5·5·8·8 + 8 = 1,608; padding 1 and 2 keep 32×32
    assert (fixed.errors, fixed.totals.params, fixed.output) == ([], 224 + 1608, (32, 32, 8))


# ------------------------------------------------------------------- batchnorm eps, momentum
def test_batchnorm_takes_eps_and_momentum(spec_file, cli):
    text = "input: [8, 8, 4]\nlayers:\n  - batchnorm: {eps: 0.001, momentum: 0.01}\n  - batchnorm\n"
    a = analyse(spec_file, text)
    # 2·4 params and 2·4 buffers each, whatever eps and momentum are
    assert (a.errors, a.totals.params, a.totals.buffers) == ([], 16, 16)
    shown = cli("show", spec_file(text))
    assert "eps 0.001, momentum 0.01" in shown.out
    code = cli("export", spec_file(text)).out
    assert "nn.BatchNorm2d(4, eps=0.001, momentum=0.01)" in code
    assert "nn.BatchNorm2d(4)" in code  # PyTorch's defaults are not written


def test_exported_batchnorm_carries_eps_and_momentum(spec_file, cli):
    torch = need_torch()
    code = cli("export", spec_file("input: [8, 8, 4]\nlayers:\n  - batchnorm: {name: bn, eps: 0.001, "
                                   "momentum: 0.01}\n")).out
    namespace: dict = {"__name__": "bn_export"}
    exec(compile(code, "<export>", "exec"), namespace)  # noqa: S102 - archcalc's own output
    bn = namespace["build"]().bn
    assert isinstance(bn, torch.nn.BatchNorm2d) and (bn.eps, bn.momentum) == (0.001, 0.01)


@pytest.mark.parametrize("entry, token", [("batchnorm: {eps: 0}", "0}"), ("batchnorm: {momentum: 2}", "2}")])
def test_batchnorm_settings_are_checked(spec_file, entry, token):
    text = f"input: [8, 8, 4]\nlayers:\n  - {entry}\n"
    a = analyse(spec_file, text)
    assert [d.code for d in a.errors] == ["bad-value"]
    assert (a.errors[0].line, a.errors[0].column) == locate(text, token)


# ---------------------------------------------------------- kinds and optional layers as args
KINDS = """\
input: [32, 32, 16]
blocks:
  cna:
    args: {filters: null, act: relu, se: false}
    layers:
      - conv: {name: 0, filters: $filters, kernel: 3, padding: 1, bias: false}
      - batchnorm: {name: 1}
      - parallel:
          name: se
          when: $se
          merge: mul
          branches: [[], [globalavgpool, conv: {filters: 4, kernel: 1}, relu, conv: {filters: $filters, kernel: 1}, hardsigmoid]]
      - $act: {name: 2}
layers:
  - cna: {name: a, filters: 16}
  - cna: {name: b, filters: 16, act: hardswish, se: true}
"""


def test_a_block_argument_names_a_kind_and_another_drops_a_layer(spec_file):
    a = analyse(spec_file, KINDS)
    assert a.errors == []
    kinds = {layer.name: layer.kind for layer in a.layers}
    assert kinds["a.2"] == "relu" and kinds["b.2"] == "hardswish"
    assert not any(name.startswith("a.se") for name in kinds)  # `when: false`: not there at all
    # a: 3·3·16·16 = 2,304 + batchnorm 2·16 = 32 → 2,336
    # b: 2,336 + the gate 16·4 + 4 = 68 and 4·16 + 16 = 80 → 2,484
    assert a.totals.params == 2336 + 2484
    assert [layer.name for layer in a.layers][:3] == ["a.0", "a.1", "a.2"]


@pytest.mark.parametrize("call, code, token", [
    ("act: relux", "unknown-kind", "relux"),     # a word that is no kind, with did-you-mean
    ("act: 3", "wrong-type", "3}"),              # not a kind's name at all
    ("se: maybe", "wrong-type", "maybe"),        # `when` takes true, false or an integer
])
def test_a_wrong_kind_or_flag_is_one_error_at_the_value_passed(spec_file, call, code, token):
    text = KINDS + f"  - cna: {{name: c, filters: 16, {call}}}\n  - cna: {{name: d, filters: 16, {call}}}\n"
    a = analyse(spec_file, text)
    # two calls, two mistakes, each located at its own call's value; never once per layer
    assert [d.code for d in a.diagnostics] == [code, code]
    assert [(d.line, d.column) for d in a.diagnostics] == [locate(text, token, 1), locate(text, token, 2)]
    if code == "unknown-kind":
        assert "did you mean 'relu'?" in a.diagnostics[0].hint


def test_an_undeclared_kind_argument_is_reported_once(spec_file):
    text = KINDS.replace("- $act: {name: 2}", "- $actt: {name: 2}")
    a = analyse(spec_file, text)
    assert [d.code for d in a.diagnostics] == ["undefined-reference"]  # two calls, one mistake
    assert (a.diagnostics[0].line, a.diagnostics[0].column) == locate(text, "$actt")
    assert "did you mean 'act'?" in a.diagnostics[0].hint


def test_a_kind_argument_exports_and_pytorch_agrees(spec_file):
    need_torch()
    from test_referee import disagreements, exported, measure

    import archcalc

    a = archcalc.analyze(archcalc.load(str(spec_file(KINDS))))
    namespace = exported(f"kinds-as-arguments-{id(a)}", a)
    assert disagreements(a, measure(namespace)) == []


# ------------------------------------------------------------------- dense at every position
def test_dense_on_a_volume_acts_at_every_position(spec_file):
    text = "input: [56, 56, 96]\nlayers:\n  - dense: {name: fc1, units: 384}\n"
    layer = analyse(spec_file, text).layers[0]
    # ConvNeXt-T's block.3 (fixture: features.1.0.block.3.weight [384, 96] + bias [384]):
    # 96·384 + 384 = 37,248 params; 56·56·96·384 = 115,605,504 MACs
    fixture = dict(map(tuple, json.loads((FIXTURES / "convnext_tiny.json").read_text())["state_dict"]))
    assert layer.params == fixture["features.1.0.block.3.weight"][0] * fixture["features.1.0.block.3.weight"][1] \
        + fixture["features.1.0.block.3.bias"][0] == 37_248
    assert (layer.output, layer.macs) == ((56, 56, 384), 115_605_504)


def test_dense_at_every_position_keeps_the_receptive_field_and_counts_connections(spec_file):
    text = "input: [8, 8, 4]\nlayers:\n  - conv: {filters: 4, kernel: 3}\n  - dense: 5\n"
    conv, dense = analyse(spec_file, text).layers
    # a 3x3 conv sees 3x3 pixels; the dense layer acts on each position alone, as a 1x1 conv
    assert conv.receptive_field == dense.receptive_field and conv.receptive_field.size == (3, 3)
    # 6·6 positions, each output unit 4 inputs + 1 bias: 36·5·(4 + 1) = 900; 36·4·5 = 720 MACs
    assert (dense.output, dense.connections, dense.macs) == ((6, 6, 5), 900, 720)


def test_dense_on_a_volume_exports_as_linear_with_torchvisions_weight_shape(spec_file, cli):
    torch = need_torch()
    text = "input: [7, 7, 8]\nlayers:\n  - dense: {name: fc, units: 5}\n  - layerscale: {name: layer_scale}\n"
    code = cli("export", spec_file(text)).out
    namespace: dict = {"__name__": "dense_export"}
    exec(compile(code, "<export>", "exec"), namespace)  # noqa: S102 - archcalc's own output
    net = namespace["build"]()
    assert isinstance(net.fc, torch.nn.Linear)
    state = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    # nn.Linear(8, 5): weight (5, 8); torchvision's ConvNeXt layer_scale: (C, 1, 1)
    assert state == {"fc.weight": (5, 8), "fc.bias": (5,), "layer_scale": (5, 1, 1)}
    x = torch.randn(2, 8, 7, 7)
    # the same product as nn.Linear on the channels-last tensor, scaled by γ = 1e-6
    expected = (torch.nn.functional.linear(x.permute(0, 2, 3, 1), net.fc.weight, net.fc.bias)
                .permute(0, 3, 1, 2)) * 1e-6
    assert torch.allclose(net(x), expected)


def test_layerscale_export_is_ruff_clean(spec_file, cli, tmp_path):
    import subprocess

    ruff = require_tool("ruff")
    text = "input: [7, 7, 8]\nlayers:\n  - layerscale: {name: layer_scale}\n  - layerscale: {name: 2}\n"
    out = tmp_path / "net.py"
    out.write_text(cli("export", spec_file(text)).out)
    assert "lambda" not in out.read_text()
    # as tests/test_export.py checks every export, plus the rule a directly called lambda broke
    run = subprocess.run([ruff, "check", "--no-cache", "--isolated", "--extend-select", "PLC3002", str(out)],
                         capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stdout


def test_the_resolution_ladder_leaves_out_gates_and_aux_heads():
    import archcalc
    from archcalc.diff import ladder

    # EfficientNet-B0's stages (Tan & Le 2019, Table 1): 224, 112, 56, 28, 14, 7, then the
    # pooled 1x1; the squeeze-and-excitation gates' 1x1 inside the blocks is not a stage
    sizes = [rung.height for rung in ladder(archcalc.analyze(archcalc.load("efficientnet_b0")))]
    assert sizes == [224, 112, 56, 28, 14, 7, 1]
    # Inception-v3 at 299 (torchvision's fixture: 149, 147, 73, 71, 35, 17, 8): the aux
    # head's 5x5 and 1x1 feed nothing
    fixture = json.loads((FIXTURES / "inception_v3.json").read_text())
    recorded = []
    for _, _, shape in fixture["leaves"]:
        if len(shape) == 4 and shape[2] not in recorded:
            recorded.append(shape[2])
    sizes = [rung.height for rung in ladder(archcalc.analyze(archcalc.load("inception_v3")))]
    assert sizes == [299] + recorded
