"""`archcalc diff`: totals, kind breakdown, ladders, the layer-by-layer version diff, gates.

Every number asserted is computed by hand in a comment or taken from a published figure
(torchvision / the papers: AlexNet 62,378,344 params in its single-tower form, VGG-16
138,357,544 params and 15,470,264,320 MACs at 224×224).
"""
from __future__ import annotations

import json
import re
from fractions import Fraction

import pytest

from archcalc.diff import GateSyntaxError, compare, parse_gate
from archcalc.render import numbers

ALEXNET_PARAMS, VGG16_PARAMS = 62_378_344, 138_357_544
# AlexNet MACs, conv: 55·55·96·(11·11·3) = 105,415,200; 27·27·256·(5·5·96) = 447,897,600;
# 13·13·384·(3·3·256) = 149,520,384; 13·13·384·(3·3·384) = 224,280,576;
# 13·13·256·(3·3·384) = 149,520,384; dense: 9216·4096 = 37,748,736; 4096·4096 = 16,777,216;
# 4096·1000 = 4,096,000; sum 1,135,256,096.
ALEXNET_MACS, VGG16_MACS = 1_135_256_096, 15_470_264_320

# A small plain network, every number by hand (3×3 convs, padding 1, on 32×32×3):
#   c1  conv 16: params 3·3·3·16 + 16 = 448       MACs 32·32·16·27  =   442,368
#   c2  conv 32: params 3·3·16·32 + 32 = 4,640    MACs 32·32·32·144 = 4,718,592
#   maxpool 2 -> 16×16×32
#   c3  conv 64: params 3·3·32·64 + 64 = 18,496   MACs 16·16·64·288 = 4,718,592
#   globalavgpool -> 1×1×64; fc dense 10: params 64·10 + 10 = 650, MACs 640
#   total params 448 + 4,640 + 18,496 + 650 = 24,234
SMALL = """\
name: small
input: [32, 32, 3]
layers:
  - conv: {name: c1, filters: 16, kernel: 3, padding: 1}
  - relu
  - conv: {name: c2, filters: 32, kernel: 3, padding: 1}
  - relu
  - maxpool: 2
  - conv: {name: c3, filters: 64, kernel: 3, padding: 1}
  - globalavgpool
  - dense: {name: fc, units: 10}
"""
# c2 with 48 filters instead of 32:
#   c2  params 3·3·16·48 + 48 = 6,960 (+2,320)    MACs 32·32·48·144 = 7,077,888 (+2,359,296)
#   relu2 32×32×32 -> 32×32×48; maxpool1 16×16×32 -> 16×16×48
#   c3  params 3·3·48·64 + 64 = 27,712 (+9,216)   MACs 16·16·64·432 = 7,077,888 (+2,359,296)
#   total params 448 + 6,960 + 27,712 + 650 = 35,770 (+11,536)
SMALL_WIDER = SMALL.replace("name: c2, filters: 32", "name: c2, filters: 48")

# A GoogLeNet-like net with a parallel block (branches: 1×1; 1×1 then 3×3; 3×3 max pool):
#   stem conv 16 on 32×32×3; m1 concat = a + b + 16 channels; pool 2; head 1×1 conv 10.
BRANCHY = """\
name: branchy
input: [32, 32, 3]
blocks:
  mix:
    args: {a: null, b: null}
    layers:
      - parallel:
          branches:
            - [conv: {filters: $a, kernel: 1}]
            - [conv: {filters: 8, kernel: 1}, conv: {filters: $b, kernel: 3, padding: 1}]
            - [maxpool: {size: 3, stride: 1, padding: 1}]
layers:
  - conv: {name: stem, filters: 16, kernel: 3, padding: 1}
  - mix: {name: m1, a: 8, b: 16}
  - maxpool: {name: pool, size: 2}
  - conv: {name: head, filters: 10, kernel: 1}
  - globalavgpool
"""


def _analysis(text, spec_file):
    from archcalc.cli import analyse_spec

    return analyse_spec(str(spec_file(text)))


def _statuses(diff) -> dict:
    return {c.name: c.status for c in diff.changes if c.status != "unchanged"}


# ------------------------------------------------------------------- alexnet vs vgg16
def test_alexnet_vs_vgg16_table(cli):
    code, out, err = cli("diff", "alexnet", "vgg16", "--width", "100")
    assert (code, err) == (0, "")
    params_row = next(line for line in out.splitlines() if line.strip().startswith("Params"))
    # 138,357,544 − 62,378,344 = 75,979,200 = +76.0 M; 138357544 / 62378344 = 2.2180… = ×2.22
    assert re.search(r"62,378,344\s+138,357,544\s+\+76\.0 M\s+×2\.22$", params_row), params_row
    macs_row = next(line for line in out.splitlines() if line.strip().startswith("MACs"))
    # 15470264320 / 1135256096 = 13.627… = ×13.6
    assert "1,135,256,096" in macs_row and "15,470,264,320" in macs_row and "×13.6" in macs_row
    assert "Compared as two networks" in out
    assert "227 → 55 → 27 → 13 → 6" in out
    assert "224 → 112 → 56 → 28 → 14 → 7" in out


def test_alexnet_vs_vgg16_json(cli):
    code, out, err = cli("diff", "alexnet", "vgg16", "--format", "json")
    assert (code, err) == (0, "")
    data = json.loads(out)
    assert data["mode"] == "networks" and data["changes"] is None
    assert data["a"]["totals"]["params"] == ALEXNET_PARAMS
    assert data["b"]["totals"]["params"] == VGG16_PARAMS
    assert data["a"]["totals"]["macs"] == ALEXNET_MACS
    assert data["b"]["totals"]["macs"] == VGG16_MACS
    params = data["differences"]["params"]
    assert (params["a"], params["b"], params["change"]) == (ALEXNET_PARAMS, VGG16_PARAMS, 75_979_200)
    assert params["ratio"] == pytest.approx(138357544 / 62378344)
    assert data["differences"]["depth"] == {"a": 8, "b": 16, "change": 8, "ratio": 2.0, "relative": 1.0}
    # 39 − 23 leaf layers as the zoo specs write them
    assert data["differences"]["layers"]["change"] == data["b"]["totals"]["layers"] - 23
    assert data["differences"]["input"] == {"a": [227, 227, 3], "b": [224, 224, 3], "equal": False}
    assert data["differences"]["output"] == {"a": [1000], "b": [1000], "equal": True}


def test_vgg16_kind_shares():
    from archcalc.cli import analyse_spec

    # Dense params: 25088·4096 + 4096 + 4096·4096 + 4096 + 4096·1000 + 1000 = 123,642,856,
    # i.e. 123,642,856 / 138,357,544 = 89.4 % of VGG-16's params; conv holds the rest,
    # 14,714,688. Dense MACs 25088·4096 + 4096·4096 + 4096·1000 = 123,633,664, so conv MACs
    # are 15,470,264,320 − 123,633,664 = 15,346,630,656 = 99.2 %.
    diff = compare(analyse_spec("alexnet"), analyse_spec("vgg16"))
    rows = {row.group: row for row in diff.breakdown}
    assert rows["dense"].b.params == 123_642_856
    assert rows["conv"].b.params == 14_714_688
    assert rows["conv"].b.macs == 15_346_630_656
    assert rows["dense"].b.macs == 123_633_664
    assert numbers.share(rows["dense"].b.params, VGG16_PARAMS) == "89.4%"
    assert numbers.share(rows["conv"].b.macs, VGG16_MACS) == "99.2%"
    # AlexNet (spec comment, by hand): conv 3,747,200, dense 58,631,144 params; 13 convs in VGG-16
    assert (rows["conv"].a.params, rows["dense"].a.params) == (3_747_200, 58_631_144)
    assert (rows["conv"].a.layers, rows["conv"].b.layers, rows["dense"].b.layers) == (5, 13, 3)


def test_resolution_ladders():
    from archcalc.cli import analyse_spec
    from archcalc.diff import ladder

    # AlexNet: 227×227×3 -> conv1 55×55×96 -> pool1 27, conv2 256 -> pool2 13, conv3/4 384
    # (the widest at 13), conv5 256 -> pool5 6×6×256. VGG-16 config D: 64, 128, 256, 512, 512
    # channels at 224, 112, 56, 28, 14, and 7×7×512 after the last pool.
    alex = [(r.height, r.width, r.channels) for r in ladder(analyse_spec("alexnet"))]
    assert alex == [(227, 227, 3), (55, 55, 96), (27, 27, 256), (13, 13, 384), (6, 6, 256)]
    vgg = [(r.height, r.channels) for r in ladder(analyse_spec("vgg16"))]
    assert vgg == [(224, 64), (112, 128), (56, 256), (28, 512), (14, 512), (7, 512)]
    # conv counts per size in VGG-16: 2, 2, 3, 3, 3 (the pools output the next size)
    rungs = ladder(analyse_spec("vgg16"))
    assert [r.layers for r in rungs] == [4, 5, 7, 7, 7, 1]  # conv+relu pairs plus the pool into it


# --------------------------------------------------------------------- version diff
def test_one_conv_changed_lists_it_and_everything_downstream(spec_file):
    a, b = _analysis(SMALL, spec_file), _analysis(SMALL_WIDER, spec_file)
    diff = compare(a, b)
    assert diff.mode == "versions"
    assert _statuses(diff) == {"c2": "changed", "relu2": "affected", "maxpool1": "affected",
                               "c3": "affected"}
    by_name = {c.name: c for c in diff.changes}
    c2 = by_name["c2"]
    assert [(f.field, f.a, f.b) for f in c2.fields] == [("filters", 32, 48)]
    assert (c2.a.params, c2.b.params, c2.delta("params")) == (4_640, 6_960, 2_320)
    assert (c2.a.macs, c2.b.macs) == (4_718_592, 7_077_888)
    assert (by_name["relu2"].a.output, by_name["relu2"].b.output) == ((32, 32, 32), (32, 32, 48))
    assert (by_name["maxpool1"].a.output, by_name["maxpool1"].b.output) == ((16, 16, 32), (16, 16, 48))
    c3 = by_name["c3"]
    assert c3.fields == () and c3.moved == ("input", "params", "macs")
    assert (c3.a.params, c3.b.params, c3.delta("macs")) == (18_496, 27_712, 2_359_296)
    assert (diff.total("params").a, diff.total("params").b) == (24_234, 35_770)
    assert sum(c.delta("params") for c in diff.changes) == 11_536


def test_version_diff_cli_json_and_all(cli, spec_file):
    old, new = spec_file(SMALL), spec_file(SMALL_WIDER)
    code, out, err = cli("diff", old, new, "--format", "json")
    assert (code, err) == (0, "")
    data = json.loads(out)
    assert data["mode"] == "versions"
    assert [c["name"] for c in data["changes"]] == ["c2", "relu2", "maxpool1", "c3"]
    c2 = data["changes"][0]
    assert c2["fields"] == [{"field": "filters", "a": 32, "b": 48}]
    assert (c2["a"]["output"], c2["b"]["output"]) == ([32, 32, 32], [32, 32, 48])
    assert c2["delta"] == {"params": 2_320, "buffers": 0, "macs": 2_359_296}
    assert data["counts"] == {"changed": 1, "added": 0, "removed": 0, "renamed": 0, "affected": 3,
                              "unchanged": 4}
    code, out, err = cli("diff", old, new, "--format", "json", "--all")
    assert (code, err) == (0, "")
    assert len(json.loads(out)["changes"]) == 8  # every layer of both, once
    code, out, err = cli("diff", old, new, "--width", "100")
    assert (code, err) == (0, "")
    assert "filters 32 → 48" in out and "1 changed, 3 affected, 4 unchanged" in out
    assert "fc" not in re.findall(r"^\s*(?:changed|affected)?\s+(\w+)\s", out, re.M)


def test_added_removed_and_renamed_layers(spec_file):
    # c1 renamed to stem; the relu after it removed; a batchnorm added after c2.
    edited = SMALL.replace("name: c1,", "name: stem,").replace(
        "  - conv: {name: stem, filters: 16, kernel: 3, padding: 1}\n  - relu\n",
        "  - conv: {name: stem, filters: 16, kernel: 3, padding: 1}\n").replace(
        "  - conv: {name: c2, filters: 32, kernel: 3, padding: 1}\n",
        "  - conv: {name: c2, filters: 32, kernel: 3, padding: 1}\n  - batchnorm\n")
    diff = compare(_analysis(SMALL, spec_file), _analysis(edited, spec_file))
    changes = [c for c in diff.changes if c.status != "unchanged"]
    assert [(c.status, c.a and c.a.name, c.b and c.b.name) for c in changes] == [
        ("renamed", "c1", "stem"), ("removed", "relu1", None), ("added", None, "batchnorm1")]
    # batchnorm over 32 channels: 2·32 = 64 params (γ, β) and 64 buffers (running mean, var);
    # the remaining relu is now generated as relu1 but is the same layer: not a rename
    assert (changes[2].delta("params"), changes[2].delta("buffers")) == (64, 64)
    assert diff.total("params").change == 64 and diff.total("buffers").change == 64
    assert diff.total("layers").change == 0


def test_change_inside_a_branch(spec_file):
    diff = compare(_analysis(BRANCHY, spec_file),
                   _analysis(BRANCHY.replace("a: 8, b: 16", "a: 8, b: 24"), spec_file))
    # m1.branch2.conv2: 3×3 over 8 channels: params 3·3·8·16 + 16 = 1,168 -> 3·3·8·24 + 24 =
    # 1,752; MACs 32·32·16·72 = 1,179,648 -> 32·32·24·72 = 1,769,472. The concat grows from
    # 8 + 16 + 16 = 40 to 8 + 24 + 16 = 48 channels, so pool moves and head (1×1, 10 filters)
    # goes from 40·10 + 10 = 410 to 48·10 + 10 = 490 params, 16·16·10·40 = 102,400 to
    # 16·16·10·48 = 122,880 MACs. The other branches and the stem are untouched.
    assert _statuses(diff) == {"m1.branch2.conv2": "changed", "pool": "affected", "head": "affected"}
    by_name = {c.name: c for c in diff.changes}
    conv = by_name["m1.branch2.conv2"]
    assert (conv.a.params, conv.b.params, conv.a.macs, conv.b.macs) == (1_168, 1_752, 1_179_648, 1_769_472)
    assert (by_name["pool"].a.output, by_name["pool"].b.output) == ((16, 16, 40), (16, 16, 48))
    head = by_name["head"]
    assert (head.a.params, head.b.params, head.a.macs, head.b.macs) == (410, 490, 102_400, 122_880)
    assert [(r.height, r.channels) for r in diff.ladders[1]] == [(32, 48), (16, 48), (1, 10)]


def test_branch_added_to_a_block(spec_file):
    # A fourth branch (1×1 conv, 4 filters) in the block: 16·4 + 4 = 68 params added, the
    # concat grows 40 -> 44, head 40·10 + 10 = 410 -> 44·10 + 10 = 450 params.
    four = BRANCHY.replace("            - [maxpool: {size: 3, stride: 1, padding: 1}]\n",
                           "            - [maxpool: {size: 3, stride: 1, padding: 1}]\n"
                           "            - [conv: {filters: 4, kernel: 1}]\n")
    diff = compare(_analysis(BRANCHY, spec_file), _analysis(four, spec_file))
    assert _statuses(diff) == {"m1.branch4.conv1": "added", "pool": "affected", "head": "affected"}
    added = next(c for c in diff.changes if c.status == "added")
    assert (added.b.params, added.b.output) == (68, (32, 32, 4))
    assert diff.total("params").change == 68 + 40


def test_identical_specs_have_no_changes(cli):
    code, out, err = cli("diff", "resnet18", "resnet18", "--format", "json")
    assert (code, err) == (0, "")
    data = json.loads(out)
    assert data["mode"] == "versions" and data["changes"] == []
    assert data["counts"]["unchanged"] == data["a"]["totals"]["layers"]
    assert all(d.get("change", 0) == 0 for d in data["differences"].values())


@pytest.mark.parametrize("pair", [("alexnet", "vgg16"), ("vgg16", "vgg19"), ("resnet18", "resnet34"),
                                  ("googlenet", "lenet5")])
def test_forced_alignment_invariants(pair):
    """Whatever the networks, the alignment uses every layer of each side exactly once, in
    order, and its per-layer deltas add up to the totals' changes."""
    from archcalc.cli import analyse_spec

    a, b = (analyse_spec(name) for name in pair)
    diff = compare(a, b, mode="versions")
    assert [c.a.name for c in diff.changes if c.a] == [layer.name for layer in a.layers]
    assert [c.b.name for c in diff.changes if c.b] == [layer.name for layer in b.layers]
    for total in ("params", "buffers", "macs"):
        assert sum(c.delta(total) for c in diff.changes) == diff.total(total).change


def test_mode_choice(cli, spec_file):
    renamed = SMALL.replace("name: small", "name: other")
    diff = compare(_analysis(SMALL, spec_file), _analysis(renamed, spec_file))
    assert diff.mode == "versions" and "8 of 8 layer names shared" in diff.mode_reason
    code, out, err = cli("diff", "alexnet", "vgg16", "--mode", "versions", "--format", "json")
    assert (code, err) == (0, "")
    assert json.loads(out)["mode"] == "versions" and json.loads(out)["changes"]
    code, out, err = cli("diff", spec_file(SMALL), spec_file(SMALL_WIDER), "--mode", "networks",
                         "--format", "json")
    assert (code, err) == (0, "") and json.loads(out)["changes"] is None


# ---------------------------------------------------------------------------- gates
@pytest.mark.parametrize("rule, total, op, value, measure", [
    ("params>+5%", "params", ">", Fraction(5), "relative"),
    ("params<-10%", "params", "<", Fraction(-10), "relative"),
    ("params>=2.5%", "params", ">=", Fraction(5, 2), "relative"),
    ("macs>+0", "macs", ">", Fraction(0), "change"),
    ("params>+1M", "params", ">", Fraction(10**6), "change"),
    ("params > +1.5k", "params", ">", Fraction(1500), "change"),
    ("depth>20", "depth", ">", Fraction(20), "level"),
    ("flops<=4G", "flops", "<=", Fraction(4 * 10**9), "level"),
])
def test_gate_grammar(rule, total, op, value, measure):
    gate = parse_gate(rule)
    assert (gate.total, gate.op, gate.value, gate.measure) == (total, op, value, measure)


@pytest.mark.parametrize("rule", ["params", "params>", "params=5", "params>>5", "bogus>1", "params>5%M",
                                  "params>five", ">5", "params>+5%%"])
def test_gate_grammar_errors(rule):
    with pytest.raises(GateSyntaxError):
        parse_gate(rule)


def test_gates_fail_and_pass_relative(cli):
    # params grow by 75,979,200 / 62,378,344 = 121.8 %: more than 5 %, less than 200 %
    code, out, err = cli("diff", "alexnet", "vgg16", "--format", "json", "--fail-on", "params>+5%")
    assert code == 1
    assert err == ("archcalc: gate params>+5% failed: params 62,378,344 → 138,357,544, change "
                   "+75,979,200 (+121.8%), more than +5%\n")
    assert json.loads(out)["gates"][0]["failed"] is True
    code, out, err = cli("diff", "alexnet", "vgg16", "--format", "json", "--fail-on", "params>+200%")
    assert (code, err) == (0, "")
    assert json.loads(out)["gates"][0]["failed"] is False


def test_gates_fail_and_pass_absolute(cli, spec_file):
    old, new = spec_file(SMALL), spec_file(SMALL_WIDER)
    # params +11,536 (hand computed above), MACs +2,359,296 · 2 = +4,718,592
    code, out, err = cli("diff", old, new, "--fail-on", "macs>+0", "--fail-on", "params>+11536")
    assert code == 1
    assert err == ("archcalc: gate macs>+0 failed: macs 9,880,192 → 14,598,784, change +4,718,592 "
                   "(+47.8%), more than +0\n")
    assert "✓ params>+11536 passed" in out and "✗ macs>+0 failed" in out
    # depth is 4 (c1, c2, c3, fc) on both sides: a level gate compares B's value itself
    code, out, err = cli("diff", old, new, "--fail-on", "params>+11.6K", "--fail-on", "depth>4")
    assert (code, err) == (0, "")
    code, out, err = cli("diff", old, new, "--fail-on", "depth>=4")
    assert code == 1
    assert err == "archcalc: gate depth>=4 failed: depth 4 → 4, change +0 (0%); 4 is at least 4\n"


def test_gate_from_zero_and_shrinking():
    from archcalc.cli import analyse_spec

    # VGG-16 -> AlexNet shrinks params by 75,979,200 / 138,357,544 = 54.9 %
    diff = compare(analyse_spec("vgg16"), analyse_spec("alexnet"))
    assert parse_gate("params<-50%").check(diff).failed
    assert not parse_gate("params<-60%").check(diff).failed
    # buffers 0 -> 0: no relative change at all
    assert not parse_gate("buffers>+0%").check(diff).failed
    # buffers 0 -> 9,600 (ResNet-18's batchnorm running statistics): growth from zero is
    # larger than any percentage
    diff = compare(analyse_spec("vgg16"), analyse_spec("resnet18"))
    assert diff.total("buffers").a == 0 and diff.total("buffers").b > 0
    assert parse_gate("buffers>+1000%").check(diff).failed
    assert not parse_gate("buffers<-5%").check(diff).failed


def test_bad_gate_is_a_usage_error(cli):
    code, out, err = cli("diff", "alexnet", "vgg16", "--fail-on", "params>>5")
    assert (code, out) == (2, "")
    assert "Invalid value for '--fail-on'" in err and "expected TOTAL OP VALUE" in err
    code, out, err = cli("diff", "alexnet", "vgg16", "--fail-on", "weights>+5%")
    assert (code, out) == (2, "")
    assert "unknown total 'weights'" in err and "params" in err


# ------------------------------------------------------------------------ exit codes
def test_spec_errors_exit_1_with_located_diagnostics(cli, spec_file):
    broken = spec_file(SMALL.replace("name: c3, filters: 64", "name: c3, filters: 0"))
    code, out, err = cli("diff", spec_file(SMALL), broken, "--format", "json")
    assert code == 1
    assert json.loads(out)["b"]["errors"] == 1
    # line 9 of SMALL is c3; "  - conv: {name: c3, filters: " is 30 characters, so column 31
    assert re.search(rf"^{re.escape(str(broken))}:9:31: \[error\] bad-value c3: ", err, re.M)
    assert err.endswith(f"archcalc: {broken} has 1 error\n")


def test_usage_errors_exit_2(cli, tmp_path):
    code, out, err = cli("diff", "alexnet", "no-such-net")
    assert (code, out) == (2, "")
    assert err.startswith("archcalc: error: no such file or built-in network: 'no-such-net'")
    code, out, err = cli("diff", "-", "-", stdin=SMALL)
    assert (code, out) == (2, "")
    assert err == "archcalc: error: only one of A and B can be - (standard input)\n"
    code, out, err = cli("diff", "alexnet", tmp_path)
    assert (code, out) == (2, "")
    assert "is a directory" in err
    code, out, err = cli("diff", "alexnet")
    assert code == 2 and out == "" and "Missing argument 'B'" in err


def test_stdin_as_one_side(cli, spec_file):
    code, out, err = cli("diff", spec_file(SMALL), "-", "--format", "json", stdin=SMALL_WIDER)
    assert (code, err) == (0, "")
    assert json.loads(out)["differences"]["params"]["change"] == 11_536


_IMPORT_PROBE = """
import contextlib, io, json, sys
sys.argv = ["archcalc", "diff", "alexnet", "vgg16", "--format", "json"]
from archcalc.main import main
out = io.StringIO()
try:
    with contextlib.redirect_stdout(out):
        main()
except SystemExit as exc:
    code = exc.code
print(json.dumps({"code": code, "mode": json.loads(out.getvalue())["mode"],
                  "reporter": "archcalc.render.diff_json" in sys.modules,
                  "rich": sorted(m for m in sys.modules if m == "rich" or m.startswith("rich."))}))
"""


def test_json_path_never_imports_rich():
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    p = subprocess.run([sys.executable, "-c", _IMPORT_PROBE], capture_output=True, text=True, cwd=root,
                       timeout=60, env={**os.environ, "PYTHONPATH": str(root)})
    assert (p.returncode, p.stderr) == (0, "")
    assert json.loads(p.stdout) == {"code": 0, "mode": "networks", "reporter": True, "rich": []}


_PLAIN_PROBE = """
import contextlib, io, json, sys
sys.argv = ["archcalc", "diff", "alexnet", "vgg16"]
from archcalc.main import main
out = io.StringIO()
try:
    with contextlib.redirect_stdout(out):
        main()
except SystemExit as exc:
    code = exc.code
print(json.dumps({"code": code, "title": out.getvalue().splitlines()[0],
                  "imported": sorted(m for m in ("click", "rich") if m in sys.modules)}))
"""


def test_piped_table_imports_neither_click_nor_rich():
    """`diff A B` piped is plain text, laid out without rich and answered without click."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    environment = {**os.environ, "PYTHONPATH": str(root), "NO_COLOR": "1"}
    p = subprocess.run([sys.executable, "-c", _PLAIN_PROBE], capture_output=True, text=True, cwd=root,
                       timeout=60, env=environment, check=False)
    assert (p.returncode, p.stderr) == (0, "")
    assert json.loads(p.stdout) == {"code": 0, "title": "alexnet → vgg16", "imported": []}


def _analysed(spec):
    from archcalc.app import analyse_spec

    return analyse_spec(str(spec))


def _plain_and_rich(old, new, mode=None, options=None, width=1000):
    from archcalc.render import diff_table

    options = dict(options or {}, width=width)
    diff = compare(old, new, mode)
    return diff_table._plain(diff, options, width), diff_table.render_rich(diff, options)


PLAIN_PAIRS = [("alexnet", "vgg16"), ("resnet18", "resnet34"), ("vgg11", "vgg11_bn"), ("lenet5", "lenet5"),
               ("mobilenet_v2", "resnet50"), ("gpt2", "llama2-7b"), ("densenet121", "googlenet-tv")]


@pytest.mark.parametrize("a, b", PLAIN_PAIRS)
@pytest.mark.parametrize("mode", [None, "versions", "networks"])
def test_plain_layout_is_what_rich_draws(a, b, mode):
    """The rich-free layout against rich itself: the same characters, or None (rich draws)."""
    old, new = _analysed(a), _analysed(b)
    for options in ({}, {"all": True}):
        for width in (1000, 120):
            plain, rich = _plain_and_rich(old, new, mode, options, width)
            assert plain is None or plain == rich
    plain, rich = _plain_and_rich(old, new, mode)
    assert plain == rich  # at 1,000 columns every line fits


def test_plain_layout_versions_gates_and_odd_names(spec_file):
    from archcalc.diff import parse_gate

    old = _analysed(spec_file(BRANCHY))
    new = _analysed(spec_file(BRANCHY.replace("a: 8, b: 16", "a: 8, b: 24")))
    gates = [parse_gate(text).check(compare(old, new)) for text in ("params>+5%", "macs>+90%")]
    for options in ({}, {"all": True}, {"gates": gates}):
        plain, rich = _plain_and_rich(old, new, None, options)
        assert plain is not None and plain == rich
    # a name in square brackets is printed as written (rich's console markup would eat
    # `[bold]`); text outside ASCII and the arrows is left to rich
    text = "input: [8]\nlayers:\n  - dense: {{units: {}, name: '{}'}}\n  - relu\n"
    for name, plain_path in (("a[bold]b", True), ("层", False)):
        old = _analysed(spec_file("name: n\n" + text.format(4, name)))
        new = _analysed(spec_file("name: n\n" + text.format(5, name)))
        plain, rich = _plain_and_rich(old, new)
        assert (plain is not None) == plain_path
        assert name in rich and (plain is None or plain == rich)


def test_plain_layout_steps_aside_where_rich_wraps():
    old, new = _analysed("alexnet"), _analysed("vgg16")
    plain, rich = _plain_and_rich(old, new, width=80)  # the mode line is 118 characters
    assert plain is None and max(map(len, rich.splitlines())) <= 80


# ---------------------------------------------------------------------------- numbers
@pytest.mark.parametrize("new, old, text", [
    (138_357_544, 62_378_344, "×2.22"), (16, 8, "×2.00"), (39, 23, "×1.70"), (1, 3, "×0.333"),
    (15_470_264_320, 1_135_256_096, "×13.6"), (9_996, 1_000, "×10.0"), (5_000, 1, "×5,000"),
    (99_999, 100_000, "×1.00"), (0, 5, "×0"), (5, 0, ""),
])
def test_ratio_text(new, old, text):
    assert numbers.ratio(new, old) == text


# ----------------------------------------------------------------------------- goldens
def _column_sums(markdown: str, title: str) -> int:
    """Sum of the integers in one column of the Markdown table whose header has ``title``."""
    lines = markdown.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("| Change |"))
    index = [c.strip() for c in lines[header].split("|")].index(title)
    total = 0
    for line in lines[header + 2:]:
        if not line.startswith("|"):
            break
        cell = [c.strip() for c in line.split("|")][index]
        total += int(cell.replace(",", "")) if cell else 0
    return total


def test_golden_table_alexnet_vgg16(cli, golden):
    code, out, err = cli("diff", "alexnet", "vgg16", "--width", "100")
    assert (code, err) == (0, "")
    golden("diff-alexnet-vgg16.txt", out)
    # invariant: each network's params shares in the kind table add up to 100 % (±rounding)
    shares = [re.findall(r"(\d+\.\d)%", line) for line in out.splitlines()
              if re.match(r"\s*(conv|dense)\s", line)]
    assert sum(float(row[0]) for row in shares) == pytest.approx(100, abs=0.1)
    assert sum(float(row[2]) for row in shares) == pytest.approx(100, abs=0.1)


def test_golden_markdown_version_diff(cli, golden, tmp_path):
    old, new = tmp_path / "small.yaml", tmp_path / "small-wide.yaml"
    old.write_text(SMALL), new.write_text(SMALL_WIDER)
    # params grow by 11,536 / 24,234 = 47.6 %: above 40 %
    code, out, err = cli("diff", old, new, "--format", "markdown", "--all", "--fail-on", "params>+40%")
    assert code == 1 and err.startswith("archcalc: gate params>+40% failed")
    golden("diff-small-versions.md", out.replace(str(tmp_path), "TMP"))
    # invariant: the per-layer ΔParams column adds up to the params change, 35,770 − 24,234
    assert _column_sums(out, "ΔParams") == 11_536


def test_golden_table_version_diff_in_branch(cli, golden, tmp_path):
    old, new = tmp_path / "branchy.yaml", tmp_path / "branchy-v2.yaml"
    old.write_text(BRANCHY), new.write_text(BRANCHY.replace("a: 8, b: 16", "a: 8, b: 24"))
    code, out, err = cli("diff", old, new, "--width", "100")
    assert (code, err) == (0, "")
    golden("diff-branchy-versions.txt", out)
    # invariant: the ΔParams shown (+584 for the conv, +80 for head) add up to the total change
    deltas = [int(d.replace(",", "")) for d in re.findall(r"\s([+-][\d,]+)\s+[+-][\d.]+ [KMG]?\s*$", out, re.M)]
    params = re.search(r"^\s*Params\s+([\d,]+)\s+([\d,]+)", out, re.M)
    assert sum(deltas) == int(params[2].replace(",", "")) - int(params[1].replace(",", "")) == 664


# ------------------------------------------------------------------- long repeated structure
def _repeat_spec(times, body="[relu, {conv: {filters: 4, kernel: 3, padding: same}}]", name="r"):
    return (f"name: {name}\ninput: [8, 8, 4]\nlayers:\n"
            f"  - repeat: {{times: {times}, layers: {body}}}\n")


def test_one_more_iteration_of_a_long_repeat_is_two_added_layers(spec_file):
    """3,000 iterations against 3,001 of (relu, conv 3×3 same, 4 → 4 channels): the two new
    layers at the end, nothing else (the conv: 3·3·4·4 + 4 = 148 params, 8·8·4·36 = 9,216 MACs)."""
    diff = compare(_analysis(_repeat_spec(3000), spec_file), _analysis(_repeat_spec(3001), spec_file),
                   mode="versions")
    moved = [c for c in diff.changes if c.status != "unchanged"]
    assert [(c.status, c.b.kind) for c in moved] == [("added", "relu"), ("added", "conv")]
    assert sum(c.delta("params") for c in moved) == 148 and sum(c.delta("macs") for c in moved) == 9_216


@pytest.mark.parametrize("seed", range(6))
def test_the_linear_alignment_keeps_every_layer_once_in_order(seed, spec_file, monkeypatch):
    """Past diff.ALIGN_PAIRS the stretch between anchors is aligned in linear time; whatever
    it pairs, every layer of each side is used exactly once, in order, and the deltas add up."""
    import random

    from archcalc import diff as diffs

    rng = random.Random(seed)
    kinds = ["relu", "sigmoid", "{conv: {filters: 4, kernel: 3, padding: same}}",
             "{conv: {filters: 4, kernel: 1}}", "{maxpool: {kernel: 3, stride: 1, padding: same}}"]

    def spec(n):
        return "name: r\ninput: [8, 8, 4]\nlayers:\n" + "".join(f"  - {rng.choice(kinds)}\n" for _ in range(n))

    a, b = _analysis(spec(rng.randint(5, 40)), spec_file), _analysis(spec(rng.randint(5, 40)), spec_file)
    monkeypatch.setattr(diffs, "ALIGN_PAIRS", 0)
    diff = compare(a, b, mode="versions")
    assert [c.a.name for c in diff.changes if c.a] == [layer.name for layer in a.layers]
    assert [c.b.name for c in diff.changes if c.b] == [layer.name for layer in b.layers]
    for total in ("params", "buffers", "macs"):
        assert sum(c.delta(total) for c in diff.changes) == diff.total(total).change


def test_a_diff_prints_changed_rows_and_refuses_only_what_it_would_write(cli, spec_file, monkeypatch):
    """The row limit (limits.MAX_VIEW_ROWS, lowered here to 100) counts what diff writes: the
    changed layers — every layer with --all and in the HTML page (each side's layer table)."""
    from archcalc import compiler

    monkeypatch.setattr(compiler, "MAX_VIEW_ROWS", 100)
    a, b = spec_file(_repeat_spec(300)), spec_file(_repeat_spec(301))
    code, out, err = cli("diff", a, b, "--format", "json")
    assert code == 0, err
    assert [c["status"] for c in json.loads(out)["changes"]] == ["added", "added"]
    for extra in (["--all"], ["--format", "html"]):
        code, out, err = cli("diff", a, b, *extra)
        assert code == 1 and "600 layers: more than diff " in err and ":4:5:" in err
    swapped = spec_file(_repeat_spec(300, "[sigmoid, {conv: {filters: 4, kernel: 3, padding: same}}]"))
    code, out, err = cli("diff", a, swapped)
    # 300 relus removed and 300 sigmoids added: 600 rows > 100
    assert code == 1 and "600 changed layers: more than diff writes out" in err and out == ""


def test_the_html_page_tells_what_changed_between_two_alexnets(cli):
    """AlexNet 2012's two towers against the one-tower AlexNet: the page says what changed,
    layer by matched name, as the table and Markdown do. conv2: two 5×5 towers of 48 → 128,
    2·(5·5·48·128 + 128) = 307,456 params, against one of 96 → 256, 5·5·96·256 + 256 = 614,656."""
    page = cli("diff", "alexnet-2012", "alexnet", "--format", "html").out
    assert "What changed" in page
    story = page[page.index("What changed"):page.index("<h2>Totals")]
    assert "conv2: 2× conv 5×5/1" in story and "307,456 → 614,656" in story
