"""The built-in zoo, checked through the contract's JSON (SPEC-CONTRACT.md section 5).

Every expected number here is derived independently of archcalc's code:

* published figures (torchvision's model docs list ``num_params`` and "GFLOPS", which are
  multiply-accumulates; the papers' tables give the volumes), and
* a tiny reference model written in this file (``Ref``): each network is re-described as the
  papers' tables of convs, pools and dense layers, and params/MACs/buffers are summed with
  the textbook formulas. ``test_reference_reproduces_published_figures`` ties the two
  together, so a slip in either one shows up.

archcalc is run as a subprocess (the contract), once per network (results are cached).
"""
from __future__ import annotations

import functools
import itertools
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"
ALEXNET_224 = SPECS / "examples" / "alexnet-224.yaml"


# --------------------------------------------------------------------------------------
# Independent reference model
# --------------------------------------------------------------------------------------
def window(n: int, k: int, s: int = 1, p: int = 0, ceil: bool = False) -> int:
    """Output size along one axis; ceil mode drops a window starting in the end padding."""
    span = n + 2 * p - k
    out = (-(-span // s) if ceil else span // s) + 1
    if ceil and (out - 1) * s >= n + p:
        out -= 1
    return out


class Ref:
    """A channels-last volume walked through a network; records one row per weight layer /
    batchnorm as (kind, output shape, params, macs) in execution order."""

    def __init__(self, h: int, w: int, c: int):
        self.shape = [h, w, c]
        self.rows: list[tuple[str, list[int], int, int]] = []
        self.buffers = 0

    def conv(self, filters, k, s=1, p=0, bias=True, bn=False):
        h, w, c = self.shape
        ho, wo = window(h, k, s, p), window(w, k, s, p)
        self.shape = [ho, wo, filters]
        self.rows.append(("conv", [ho, wo, filters], k * k * c * filters + (filters if bias else 0),
                          ho * wo * filters * k * k * c))
        if bn:
            self.rows.append(("batchnorm", [ho, wo, filters], 2 * filters, 0))
            self.buffers += 2 * filters
        return self

    def pool(self, k, s, p=0, ceil=False):
        h, w, c = self.shape
        self.shape = [window(h, k, s, p, ceil), window(w, k, s, p, ceil), c]
        return self

    def dense(self, units):
        n = 1
        for d in self.shape:
            n *= d
        self.rows.append(("dense", [units], n * units + units, n * units))
        self.shape = [units]
        return self

    def branch(self) -> Ref:
        """A sibling walker starting from the current volume (for parallel/shortcut paths)."""
        return Ref(*self.shape)

    def absorb(self, other: Ref):
        self.rows += other.rows
        self.buffers += other.buffers

    @property
    def params(self):
        return sum(r[2] for r in self.rows)

    @property
    def macs(self):
        return sum(r[3] for r in self.rows)


def ref_lenet5() -> Ref:
    r = Ref(32, 32, 1)
    r.conv(6, 5).pool(2, 2).conv(16, 5).pool(2, 2).dense(120).dense(84).dense(10)
    return r


def ref_alexnet(size: int = 227) -> Ref:
    r = Ref(size, size, 3)
    r.conv(96, 11, 4).pool(3, 2).conv(256, 5, 1, 2).pool(3, 2)
    r.conv(384, 3, 1, 1).conv(384, 3, 1, 1).conv(256, 3, 1, 1).pool(3, 2)
    r.dense(4096).dense(4096).dense(1000)
    return r


def ref_vgg(convs_per_stage) -> Ref:
    r = Ref(224, 224, 3)
    for n, filters in zip(convs_per_stage, [64, 128, 256, 512, 512]):
        for _ in range(n):
            r.conv(filters, 3, 1, 1)
        r.pool(2, 2)
    r.dense(4096).dense(4096).dense(1000)
    return r


def ref_resnet(blocks_per_stage, bottleneck: bool) -> Ref:
    """torchvision v1.5: stride on the 3x3 conv, projection (1x1 conv + bn) where the shape
    changes; main path rows come before the shortcut rows (branches in the order written)."""
    r = Ref(224, 224, 3)
    r.conv(64, 7, 2, 3, bias=False, bn=True).pool(3, 2, 1)
    for stage, (n, width) in enumerate(zip(blocks_per_stage, [64, 128, 256, 512])):
        out = 4 * width if bottleneck else width
        for b in range(n):
            stride = 2 if stage > 0 and b == 0 else 1
            shortcut = r.branch()
            c_in = r.shape[2]
            if bottleneck:
                r.conv(width, 1, bias=False, bn=True)
                r.conv(width, 3, stride, 1, bias=False, bn=True)
                r.conv(out, 1, bias=False, bn=True)
            else:
                r.conv(width, 3, stride, 1, bias=False, bn=True)
                r.conv(width, 3, 1, 1, bias=False, bn=True)
            if stride != 1 or c_in != out:
                shortcut.conv(out, 1, stride, bias=False, bn=True)
                assert shortcut.shape == r.shape
                r.absorb(shortcut)
    r.shape = [1, 1, r.shape[2]]  # global average pool
    r.dense(1000)
    return r


# GoogLeNet, paper Table 1: #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj
INCEPTION = {
    "3a": (64, 96, 128, 16, 32, 32), "3b": (128, 128, 192, 32, 96, 64),
    "4a": (192, 96, 208, 16, 48, 64), "4b": (160, 112, 224, 24, 64, 64),
    "4c": (128, 128, 256, 24, 64, 64), "4d": (112, 144, 288, 32, 64, 64),
    "4e": (256, 160, 320, 32, 128, 128),
    "5a": (256, 160, 320, 32, 128, 128), "5b": (384, 192, 384, 48, 128, 128),
}


def ref_googlenet() -> Ref:
    r = Ref(224, 224, 3)
    r.conv(64, 7, 2, 3).pool(3, 2, ceil=True).conv(64, 1).conv(192, 3, 1, 1).pool(3, 2, ceil=True)
    for name, (c1, c3r, c3, c5r, c5, pp) in INCEPTION.items():
        branches = [r.branch().conv(c1, 1),
                    r.branch().conv(c3r, 1).conv(c3, 3, 1, 1),
                    r.branch().conv(c5r, 1).conv(c5, 5, 1, 2),
                    r.branch().pool(3, 1, 1).conv(pp, 1)]
        for b in branches:
            r.absorb(b)
        r.shape = r.shape[:2] + [c1 + c3 + c5 + pp]
        if name in ("3b", "4e"):
            r.pool(3, 2, ceil=True)
    r.shape = [1, 1, r.shape[2]]  # 7x7 average pool
    r.dense(1000)
    return r


REFERENCE = {
    "lenet5": ref_lenet5(),
    "alexnet": ref_alexnet(),
    "vgg16": ref_vgg([2, 2, 3, 3, 3]),
    "vgg19": ref_vgg([2, 2, 4, 4, 4]),
    "resnet18": ref_resnet([2, 2, 2, 2], False),
    "resnet34": ref_resnet([3, 4, 6, 3], False),
    "resnet50": ref_resnet([3, 4, 6, 3], True),
    "resnet101": ref_resnet([3, 4, 23, 3], True),
    "resnet152": ref_resnet([3, 8, 36, 3], True),
    "googlenet": ref_googlenet(),
}

# name: (params, macs, depth, buffers, input, output)
PUBLISHED = {
    # LeNet-5 params by hand: (5*5*1*6+6) + (5*5*6*16+16) + (400*120+120) + (120*84+84) + (84*10+10)
    #   = 156 + 2416 + 48120 + 10164 + 850 = 61706
    # MACs: 28*28*6*25 + 10*10*16*150 + 400*120 + 120*84 + 84*10 = 117600+240000+48000+10080+840
    "lenet5": (61706, 416520, 5, 0, [32, 32, 1], [10]),
    # AlexNet params by hand: convs 34944 + 614656 + 885120 + 1327488 + 884992 = 3747200;
    #   dense (9216*4096+4096) + (4096*4096+4096) + (4096*1000+1000) = 58631144; total 62378344
    "alexnet": (62378344, 1135256096, 8, 0, [227, 227, 3], [1000]),
    # torchvision docs: vgg16 138,357,544 params, 15.47 GFLOPS; vgg19 143,667,240, 19.63
    "vgg16": (138357544, 15470264320, 16, 0, [224, 224, 3], [1000]),
    "vgg19": (143667240, 19632062464, 19, 0, [224, 224, 3], [1000]),
    # torchvision docs: resnet18 11,689,512 / 1.81; resnet34 21,797,672 / 3.66;
    # resnet50 25,557,032 / 4.09; resnet101 44,549,160 / 7.8; resnet152 60,192,808 / 11.51.
    # Buffers = 2 * (channels of every batchnorm), e.g. ResNet-18:
    #   stem 64 + layer1 4*64 + layer2 (4+1)*128 + layer3 (4+1)*256 + layer4 (4+1)*512 = 4800 -> 9600
    "resnet18": (11689512, 1814073344, 18, 9600, [224, 224, 3], [1000]),
    "resnet34": (21797672, 3663761408, 34, 17024, [224, 224, 3], [1000]),
    "resnet50": (25557032, 4089184256, 50, 53120, [224, 224, 3], [1000]),
    "resnet101": (44549160, 7801405440, 101, 105344, [224, 224, 3], [1000]),
    "resnet152": (60192808, 11513626624, 152, 151424, [224, 224, 3], [1000]),
    # GoogLeNet of the paper's Table 1 (5x5 convs, biases, no bn, no aux heads): our own sum
    # (torchvision's googlenet differs: 3x3 instead of 5x5 and batchnorm).
    "googlenet": (6998552, 1582671872, 22, 0, [224, 224, 3], [1000]),
}
NAMES = list(PUBLISHED)

# depth by hand: weight layers on the longest path
#   lenet5 2 conv + 3 dense; alexnet 5 + 3; vgg16 13 + 3; vgg19 16 + 3;
#   resnetN: stem conv + (2 or 3) per block + fc, e.g. resnet50 1 + 16*3 + 1 = 50;
#   googlenet 3 stem convs + 9 modules * 2 + fc = 22.


# --------------------------------------------------------------------------------------
# Running archcalc
# --------------------------------------------------------------------------------------
def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "archcalc", *args], capture_output=True,
                          text=True, cwd=ROOT, input=stdin, timeout=60,
                          check=False)


@functools.cache
def show(spec: str) -> tuple[int, dict | None, str]:
    p = run("show", spec, "--format", "json")
    try:
        data = json.loads(p.stdout)
    except ValueError:
        data = None
    return p.returncode, data, p.stderr


def clean(name: str) -> dict:
    rc, data, err = show(name)
    assert "Traceback" not in err
    assert rc == 0, err
    assert data is not None
    assert data["diagnostics"] == []
    return data


# --------------------------------------------------------------------------------------
# The reference itself
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_reference_reproduces_published_figures(name):
    params, macs, _depth, buffers, _inp, output = PUBLISHED[name]
    ref = REFERENCE[name]
    assert (ref.params, ref.macs, ref.buffers, ref.shape) == (params, macs, buffers, output)


# --------------------------------------------------------------------------------------
# Totals and per-layer invariants
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_totals(name):
    params, macs, depth, buffers, inp, output = PUBLISHED[name]
    data = clean(name)
    t = data["totals"]
    assert data["name"] == name
    assert data["input"] == inp
    assert data["output"] == output
    assert t["params"] == params
    assert t["macs"] == macs
    assert t["flops"] == 2 * macs
    assert t["depth"] == depth
    assert t["buffers"] == buffers
    assert t["layers"] == len(data["layers"])


@pytest.mark.parametrize("name", NAMES)
def test_layers_sum_to_totals(name):
    data = clean(name)
    layers = data["layers"]
    assert sum(layer["params"] for layer in layers) == data["totals"]["params"]
    # an auxiliary head's MACs are reported apart (totals.aux_macs), not in the forward total
    assert sum(layer["macs"] for layer in layers if not layer.get("aux")) == data["totals"]["macs"]
    names = [layer["name"] for layer in layers]
    assert len(set(names)) == len(names), "layer names must be unique"
    assert layers[0]["input"] == data["input"]
    assert layers[-1]["output"] == data["output"]


@pytest.mark.parametrize("name", NAMES)
def test_weight_layers_match_reference(name):
    """conv, dense and batchnorm layers, in execution order: output shape, params, MACs."""
    data = clean(name)
    got = [(layer["kind"], layer["output"], layer["params"], layer["macs"])
           for layer in data["layers"] if layer["kind"] in ("conv", "dense", "batchnorm")]
    assert got == REFERENCE[name].rows


@pytest.mark.parametrize("name", NAMES)
def test_only_conv_dense_have_macs_and_params(name):
    for layer in clean(name)["layers"]:
        if layer["kind"] not in ("conv", "dense", "batchnorm"):
            assert layer["params"] == 0, layer
        if layer["kind"] not in ("conv", "dense"):
            assert layer["macs"] == 0, layer


# counts by hand:
#   resnet18 convs: stem 1 + 8 blocks * 2 + 3 projections = 20
#   resnet34: 1 + 16*2 + 3 = 36; resnet50: 1 + 16*3 + 4 = 53; resnet101: 1 + 33*3 + 4 = 104;
#   resnet152: 1 + 50*3 + 4 = 155 (batchnorm: one per conv)
#   googlenet: 3 stem convs + 9 modules * 6 convs = 57
KIND_COUNTS = {
    "lenet5": {"conv": 2, "dense": 3, "avgpool": 2, "batchnorm": 0},
    "alexnet": {"conv": 5, "dense": 3, "maxpool": 3, "batchnorm": 0},
    "vgg16": {"conv": 13, "dense": 3, "maxpool": 5, "batchnorm": 0},
    "vgg19": {"conv": 16, "dense": 3, "maxpool": 5, "batchnorm": 0},
    "resnet18": {"conv": 20, "dense": 1, "batchnorm": 20, "maxpool": 1},
    "resnet34": {"conv": 36, "dense": 1, "batchnorm": 36, "maxpool": 1},
    "resnet50": {"conv": 53, "dense": 1, "batchnorm": 53, "maxpool": 1},
    "resnet101": {"conv": 104, "dense": 1, "batchnorm": 104, "maxpool": 1},
    "resnet152": {"conv": 155, "dense": 1, "batchnorm": 155, "maxpool": 1},
    # maxpools: 4 between stages + one inside each of the 9 modules
    "googlenet": {"conv": 57, "dense": 1, "batchnorm": 0, "maxpool": 13},
}


@pytest.mark.parametrize("name", NAMES)
def test_kind_counts(name):
    kinds = [layer["kind"] for layer in clean(name)["layers"]]
    for kind, n in KIND_COUNTS[name].items():
        assert kinds.count(kind) == n, kind


# --------------------------------------------------------------------------------------
# Volumes the lectures draw
# --------------------------------------------------------------------------------------
def volume_chain(data: dict) -> list[list[int]]:
    """The input followed by every layer's output, consecutive repeats collapsed."""
    chain = [data["input"]]
    for layer in data["layers"]:
        if layer["output"] != chain[-1]:
            chain.append(layer["output"])
    return chain


def test_lenet5_volume_chain():
    # 32-5+1 = 28; 28/2 = 14; 14-5+1 = 10; 10/2 = 5; 5*5*16 = 400
    assert volume_chain(clean("lenet5")) == [
        [32, 32, 1], [28, 28, 6], [14, 14, 6], [10, 10, 16], [5, 5, 16], [400], [120], [84], [10]]


def test_alexnet_volume_chain():
    # (227-11)/4+1 = 55; (55-3)/2+1 = 27; 27+4-5+1 = 27; (27-3)/2+1 = 13; (13-3)/2+1 = 6
    assert volume_chain(clean("alexnet")) == [
        [227, 227, 3], [55, 55, 96], [27, 27, 96], [27, 27, 256], [13, 13, 256], [13, 13, 384],
        [13, 13, 256], [6, 6, 256], [9216], [4096], [1000]]


def test_sequential_nets_chain_input_to_output():
    for name in ("lenet5", "alexnet", "vgg16", "vgg19"):
        layers = clean(name)["layers"]
        for before, after in itertools.pairwise(layers):
            assert after["input"] == before["output"], (name, after["name"])


def by_name(data: dict) -> dict:
    return {layer["name"]: layer for layer in data["layers"]}


@pytest.mark.parametrize("name", ["alexnet", "vgg16", "vgg19"])
def test_classifier_layer_names(name):
    layers = by_name(clean(name))
    # the first dense layer has 4096 units (not 4069): 6*6*256 = 9216 or 7*7*512 = 25088 inputs
    flat = 9216 if name == "alexnet" else 25088
    assert layers["fc6"]["input"] == [flat] and layers["fc6"]["output"] == [4096]
    assert layers["fc7"]["output"] == [4096]
    assert layers["fc8"]["output"] == [1000]


def test_alexnet_conv_names():
    layers = by_name(clean("alexnet"))
    want = {"conv1": [55, 55, 96], "conv2": [27, 27, 256], "conv3": [13, 13, 384],
            "conv4": [13, 13, 384], "conv5": [13, 13, 256]}
    assert {n: layers[n]["output"] for n in want} == want


def stage_outputs(data: dict, prefix: str) -> list[int]:
    """Output volume of the named composite `prefix` (a block use or a repeat): archcalc
    names the leaves inside it `prefix.<...>` and lists merges as no layer of their own, so
    the composite's output is the input of the first layer after its last leaf."""
    layers = data["layers"]
    inside = [i for i, layer in enumerate(layers) if layer["name"].startswith(prefix + ".")]
    assert inside, f"no layer named after {prefix!r}"
    after = inside[-1] + 1
    return layers[after]["input"] if after < len(layers) else data["output"]


RESNET_STAGES = {
    # 224 -> conv 7x7/2 pad 3 -> 112 -> maxpool 3/2 pad 1 -> 56 -> 28 -> 14 -> 7
    "resnet18": [[56, 56, 64], [28, 28, 128], [14, 14, 256], [7, 7, 512]],
    "resnet34": [[56, 56, 64], [28, 28, 128], [14, 14, 256], [7, 7, 512]],
    "resnet50": [[56, 56, 256], [28, 28, 512], [14, 14, 1024], [7, 7, 2048]],
    "resnet101": [[56, 56, 256], [28, 28, 512], [14, 14, 1024], [7, 7, 2048]],
    "resnet152": [[56, 56, 256], [28, 28, 512], [14, 14, 1024], [7, 7, 2048]],
}


@pytest.mark.parametrize("name", list(RESNET_STAGES))
def test_resnet_stages(name):
    data = clean(name)
    layers = by_name(data)
    assert layers["conv1"]["output"] == [112, 112, 64]
    assert layers["maxpool"]["output"] == [56, 56, 64]
    got = [stage_outputs(data, f"layer{i}") for i in range(1, 5)]
    assert got == RESNET_STAGES[name]
    assert layers["fc"]["input"] in ([RESNET_STAGES[name][-1][2]], [1, 1, RESNET_STAGES[name][-1][2]])


def test_googlenet_modules():
    data = clean("googlenet")
    layers = by_name(data)
    # stem: 224 -> 112 (7x7/2 pad 3) -> 56 (pool, ceil) -> 56 -> 28 (pool, ceil)
    assert layers["conv1"]["output"] == [112, 112, 64]
    assert layers["pool2"]["output"] == [28, 28, 192]
    # module outputs: the channel sums of Table 1, e.g. 3a = 64 + 128 + 32 + 32 = 256
    for module, (c1, _, c3, _, c5, pp) in INCEPTION.items():
        hw = {"3": 28, "4": 14, "5": 7}[module[0]]
        assert stage_outputs(data, module) == [hw, hw, c1 + c3 + c5 + pp], module
    assert stage_outputs(data, "3a") == [28, 28, 256]
    assert stage_outputs(data, "5b") == [7, 7, 1024]


# --------------------------------------------------------------------------------------
# Spec files themselves, lookup, and the negative example
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_spec_file_metadata(name):
    spec = yaml.safe_load((SPECS / f"{name}.yaml").read_text())
    assert spec["name"] == name
    assert spec.get("title") and spec.get("reference")
    params, macs, depth, _buffers, _inp, output = PUBLISHED[name]
    assert spec["expect"] == {"params": params, "macs": macs, "output": output, "depth": depth}


@pytest.mark.parametrize("alias,name", [("VGG-16", "vgg16"), ("ResNet_50", "resnet50"),
                                         ("le.net-5", "lenet5"), ("GoogLeNet", "googlenet")])
def test_lookup_ignores_case_and_separators(alias, name):
    rc, data, _ = show(alias)
    assert rc == 0
    assert data["totals"] == clean(name)["totals"]


def test_spec_path_equals_builtin_name():
    rc, data, _ = show(str(SPECS / "resnet18.yaml"))
    assert rc == 0
    assert data["totals"] == clean("resnet18")["totals"]


def test_alexnet_224_is_rejected():
    rc, data, err = show(str(ALEXNET_224))
    assert "Traceback" not in err
    assert rc == 1
    errors = [d for d in data["diagnostics"] if d["severity"] == "error"]
    conv1 = [d for d in errors if d.get("layer") == "conv1"]
    assert conv1, errors
    assert "expect" in conv1[0]["code"]
    # at 224: floor((224 - 11)/4) + 1 = 54, but the paper draws 55
    assert "55" in conv1[0]["message"] and "54" in conv1[0]["message"]
    # the diagnostic points at the conv1 entry of the file
    lines = ALEXNET_224.read_text().splitlines()
    conv1_line = next(i for i, text in enumerate(lines, 1) if "name: conv1," in text)
    assert conv1[0]["line"] == conv1_line
    # every later volume the paper draws is off by one as well
    flagged = {d.get("layer") for d in errors}
    assert {"conv1", "pool1", "conv2", "pool2", "conv3", "conv4", "conv5", "pool5"} <= flagged
    # the shape keeps flowing after the mismatch: 54 -> 26 -> 26 -> 12 -> 12 -> 5, 5*5*256 = 6400,
    # so fc6 has 6400*4096 + 4096 params and the paper's total (62,378,344) is missed
    assert by_name(data)["fc6"]["input"] == [6400]
    ref = ref_alexnet(224)
    assert (data["totals"]["params"], data["totals"]["macs"]) == (ref.params, ref.macs)
    assert ref.params != 62378344
    assert any("params" in d["message"] for d in errors if not d.get("layer"))
    assert data["output"] == [1000]


def test_alexnet_224_validate_fails():
    p = run("validate", str(ALEXNET_224))
    assert "Traceback" not in p.stdout + p.stderr
    assert p.returncode == 1
    assert "conv1" in p.stdout + p.stderr


def test_python_api_agrees():
    """The in-process API (archcalc.load / archcalc.analyze) gives the same totals."""
    sys.path.insert(0, str(ROOT))
    archcalc = pytest.importorskip("archcalc")
    if not (hasattr(archcalc, "load") and hasattr(archcalc, "analyze")):
        pytest.skip("no archcalc.load/analyze")
    for name in NAMES:
        params, macs, depth, buffers, _inp, output = PUBLISHED[name]
        analysis = archcalc.analyze(archcalc.load(name))
        t = analysis.totals
        assert (t.params, t.macs, t.depth, t.buffers) == (params, macs, depth, buffers), name
        assert list(analysis.output) == output
        assert not analysis.diagnostics
