"""Issue 21's frictions: `list` ordered by size inside a family, names that mean the same
network resolve alike, the `$k // 2` message that says how to write it, and batchnorm's
`eps` and `momentum` (exported as PyTorch's own arguments). Expected figures come from the
torchvision fixtures (tests/fixtures/torchvision) or hand arithmetic in comments."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import analyse_text as analyse
from conftest import locate
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
])
def test_names_that_mean_the_same_network_resolve_alike(written, name):
    from archcalc import zoo

    assert Path(zoo.find(written)).stem == name


def test_digits_written_without_a_separator_are_one_number():
    from archcalc import zoo

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
