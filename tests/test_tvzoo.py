"""The built-ins taken from torchvision reproduce torchvision exactly.

Two independent references:
- PUBLISHED: torchvision's own figures for each model's DEFAULT weights
  (``weights.meta['num_params']`` and ``weights.meta['_ops']``, MACs in G rounded to 3
  decimals), copied from torchvision 0.29's documentation;
- the fixtures recorded from real torchvision 0.29.1 (tests/fixtures/torchvision/<model>.json:
  params, BN running statistics, FlopCounterMode MACs ÷ 2, the output, the state_dict).

Each built-in must equal the fixture's params, buffers, MACs and output exactly, and its
weighted layers must carry torchvision's module names with torchvision's parameter counts
(so exported state_dict keys are torchvision's). Every torchvision CNN is either built or
listed in NOT_YET with the reason.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "torchvision"

# built-in name -> (torchvision name, input side, num_params, GMACs published)
PUBLISHED = {
    "alexnet-tv": ("alexnet", 224, 61100840, 0.714),
    "convnext_base": ("convnext_base", 224, 88591464, 15.355),
    "convnext_large": ("convnext_large", 224, 197767336, 34.361),
    "convnext_small": ("convnext_small", 224, 50223688, 8.684),
    "convnext_tiny": ("convnext_tiny", 224, 28589128, 4.456),
    "densenet121": ("densenet121", 224, 7978856, 2.834),
    "densenet161": ("densenet161", 224, 28681000, 7.728),
    "densenet169": ("densenet169", 224, 14149480, 3.36),
    "densenet201": ("densenet201", 224, 20013928, 4.291),
    "efficientnet_b0": ("efficientnet_b0", 224, 5288548, 0.386),
    "efficientnet_b1": ("efficientnet_b1", 240, 7794184, 0.687),
    "efficientnet_b2": ("efficientnet_b2", 288, 9109994, 1.088),
    "efficientnet_b3": ("efficientnet_b3", 300, 12233232, 1.827),
    "efficientnet_b4": ("efficientnet_b4", 380, 19341616, 4.394),
    "efficientnet_b5": ("efficientnet_b5", 456, 30389784, 10.266),
    "efficientnet_b6": ("efficientnet_b6", 528, 43040704, 19.068),
    "efficientnet_b7": ("efficientnet_b7", 600, 66347960, 37.746),
    "efficientnet_v2_l": ("efficientnet_v2_l", 480, 118515272, 56.08),
    "efficientnet_v2_m": ("efficientnet_v2_m", 480, 54139356, 24.582),
    "efficientnet_v2_s": ("efficientnet_v2_s", 384, 21458488, 8.366),
    "googlenet-tv": ("googlenet", 224, 6624904, 1.498),
    "inception_v3": ("inception_v3", 299, 27161264, 5.713),
    "mnasnet0_5": ("mnasnet0_5", 224, 2218512, 0.104),
    "mnasnet0_75": ("mnasnet0_75", 224, 3170208, 0.215),
    "mnasnet1_0": ("mnasnet1_0", 224, 4383312, 0.314),
    "mnasnet1_3": ("mnasnet1_3", 224, 6282256, 0.526),
    "mobilenet_v2": ("mobilenet_v2", 224, 3504872, 0.301),
    "mobilenet_v3_large": ("mobilenet_v3_large", 224, 5483032, 0.217),
    "mobilenet_v3_small": ("mobilenet_v3_small", 224, 2542856, 0.057),
    "regnet_x_16gf": ("regnet_x_16gf", 224, 54278536, 15.941),
    "regnet_x_1_6gf": ("regnet_x_1_6gf", 224, 9190136, 1.603),
    "regnet_x_32gf": ("regnet_x_32gf", 224, 107811560, 31.736),
    "regnet_x_3_2gf": ("regnet_x_3_2gf", 224, 15296552, 3.177),
    "regnet_x_400mf": ("regnet_x_400mf", 224, 5495976, 0.414),
    "regnet_x_800mf": ("regnet_x_800mf", 224, 7259656, 0.8),
    "regnet_x_8gf": ("regnet_x_8gf", 224, 39572648, 7.995),
    "regnet_y_128gf": ("regnet_y_128gf", 384, 644812894, 374.57),
    "regnet_y_16gf": ("regnet_y_16gf", 224, 83590140, 15.912),
    "regnet_y_1_6gf": ("regnet_y_1_6gf", 224, 11202430, 1.612),
    "regnet_y_32gf": ("regnet_y_32gf", 224, 145046770, 32.28),
    "regnet_y_3_2gf": ("regnet_y_3_2gf", 224, 19436338, 3.176),
    "regnet_y_400mf": ("regnet_y_400mf", 224, 4344144, 0.402),
    "regnet_y_800mf": ("regnet_y_800mf", 224, 6432512, 0.834),
    "regnet_y_8gf": ("regnet_y_8gf", 224, 39381472, 8.473),
    "resnext101_32x8d": ("resnext101_32x8d", 224, 88791336, 16.414),
    "resnext101_64x4d": ("resnext101_64x4d", 224, 83455272, 15.46),
    "resnext50_32x4d": ("resnext50_32x4d", 224, 25028904, 4.23),
    "shufflenet_v2_x0_5": ("shufflenet_v2_x0_5", 224, 1366792, 0.04),
    "shufflenet_v2_x1_0": ("shufflenet_v2_x1_0", 224, 2278604, 0.145),
    "shufflenet_v2_x1_5": ("shufflenet_v2_x1_5", 224, 3503624, 0.296),
    "shufflenet_v2_x2_0": ("shufflenet_v2_x2_0", 224, 7393996, 0.583),
    "squeezenet1_0": ("squeezenet1_0", 224, 1248424, 0.819),
    "squeezenet1_1": ("squeezenet1_1", 224, 1235496, 0.349),
    "vgg11": ("vgg11", 224, 132863336, 7.609),
    "vgg11_bn": ("vgg11_bn", 224, 132868840, 7.609),
    "vgg13": ("vgg13", 224, 133047848, 11.308),
    "vgg13_bn": ("vgg13_bn", 224, 133053736, 11.308),
    "vgg16_bn": ("vgg16_bn", 224, 138365992, 15.47),
    "vgg19_bn": ("vgg19_bn", 224, 143678248, 19.632),
    "wide_resnet101_2": ("wide_resnet101_2", 224, 126886696, 22.753),
    "wide_resnet50_2": ("wide_resnet50_2", 224, 68883240, 11.398),
}

# Built-ins that do not exist yet, with the reason (a test keeps this list honest): none.
NOT_YET: dict[str, str] = {}

BUILT = sorted(set(PUBLISHED) - set(NOT_YET))

# Warnings torchvision's own design earns (the built-ins are faithful, so archcalc says so):
WARNINGS = {
    # features.0, a 7x7/2 conv on 224: (224 - 7)/2 + 1 = 109.5, floored to 109
    "squeezenet1_0": ["window-drops-input"],
    # features.0, a 3x3/2 conv on 224: (224 - 3)/2 + 1 = 111.5, floored to 111
    "squeezenet1_1": ["window-drops-input"],
}


def _numel(shape):
    n = 1
    for x in shape:
        n *= x
    return n


@pytest.fixture(scope="module")
def analysed():
    import archcalc
    from archcalc.readers import zoo

    cache = {}

    def get(name):
        if name not in cache:
            path = zoo.find(name)
            assert path, f"{name} is not a built-in"
            cache[name] = archcalc.analyze(archcalc.load(path))
        return cache[name]

    return get


@pytest.mark.parametrize("name", BUILT)
def test_builtin_equals_torchvision(name, analysed):
    tv_name, side, published_params, published_gmacs = PUBLISHED[name]
    fixture = json.loads((FIXTURES / f"{tv_name}.json").read_text())
    a = analysed(name)
    assert [d.code for d in a.diagnostics] == WARNINGS.get(name, [])
    assert a.input == (side, side, 3) == tuple(fixture["input"])
    t = a.totals
    # torchvision's published figures
    assert t.params == published_params
    assert round(t.macs / 1e9, 3) == published_gmacs
    # PyTorch's exact counts, recorded from the real model
    assert (t.params, t.buffers, t.macs) == (fixture["params"], fixture["buffers"], fixture["macs"])
    assert a.output == tuple(fixture["output"][1:])


@pytest.mark.parametrize("name", BUILT)
def test_builtin_layers_carry_torchvision_names(name, analysed):
    """Every weighted layer is named as torchvision's module, with that module's parameter
    count: the keys of an exported state_dict are torchvision's."""
    tv_name = PUBLISHED[name][0]
    fixture = json.loads((FIXTURES / f"{tv_name}.json").read_text())
    ours = {layer.name: layer.params for layer in analysed(name).layers if layer.params}
    torch_params: dict[str, int] = {}
    for key, shape in fixture["state_dict"]:
        module, _, leaf = key.rpartition(".")
        if leaf in ("running_mean", "running_var"):
            continue
        if leaf == "layer_scale":  # a bare parameter of the block (ConvNeXt), not a module's
            module = key
        torch_params[module] = torch_params.get(module, 0) + _numel(shape)
    assert ours == torch_params


@pytest.mark.parametrize("name", BUILT)
def test_builtin_pins_its_totals(name):
    """The spec states its figures (`expect`), so `archcalc validate` checks them too."""
    import yaml

    from archcalc.readers import zoo

    spec = yaml.safe_load(Path(zoo.find(name)).read_text())
    assert spec["name"] == name
    tv_name, side, published_params, _ = PUBLISHED[name]
    fixture = json.loads((FIXTURES / f"{tv_name}.json").read_text())
    pins = spec["expect"]
    assert pins["params"] == published_params
    assert pins["macs"] == fixture["macs"]
    assert pins["output"] == fixture["output"][1:]
    assert isinstance(pins["depth"], int)


def test_every_torchvision_cnn_is_built_or_listed_with_a_reason():
    from archcalc.readers import zoo

    transformers = ("vit_", "swin_", "maxvit_")
    cnns = {p.stem for p in FIXTURES.glob("*.json") if not p.stem.startswith(transformers)}
    renamed = {"alexnet": "alexnet-tv", "googlenet": "googlenet-tv"}
    lecture = {"resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "vgg16", "vgg19"}
    wanted = {renamed.get(n, n) for n in cnns} - lecture
    assert wanted == set(PUBLISHED)
    for name in PUBLISHED:
        if name in NOT_YET:
            assert zoo.find(name) is None, f"{name} is built: remove it from NOT_YET"
            assert NOT_YET[name]
        else:
            assert zoo.find(name) is not None, f"{name} is neither built nor in NOT_YET"


def test_names_that_normalise_alike_are_found_as_written():
    # regnet_x_16gf and regnet_x_1_6gf both normalise to "regnetx16gf" (case, -, _ and . are
    # ignored): the name as written wins, and a separator between two digits is a decimal point
    from archcalc.readers import zoo

    assert Path(zoo.find("regnet_x_16gf")).stem == "regnet_x_16gf"
    assert Path(zoo.find("REGNET_X_1_6GF")).stem == "regnet_x_1_6gf"
    assert Path(zoo.find("regnet-x-16gf")).stem == "regnet_x_16gf"
    assert Path(zoo.find("regnet-x-1.6gf")).stem == "regnet_x_1_6gf"
    assert "regnet_x_1_6gf, regnet_x_16gf" in zoo.suggest("regnet-x-16gx")
