"""The torchvision fixtures (recorded from real torchvision by tests/fixtures/record_torchvision.py)
agree with torchvision's published figures, so tests may use their exact integers as the reference."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "torchvision"

# name, input side, num_params, GMACs as torchvision publishes them (weights.meta; also
# ../shared/reference/torchvision.tsv outside the repository), a sample across every family
PUBLISHED = [
    ("alexnet", 224, 61100840, 0.714), ("convnext_tiny", 224, 28589128, 4.456),
    ("densenet121", 224, 7978856, 2.834), ("efficientnet_b0", 224, 5288548, 0.386),
    ("efficientnet_b7", 600, 66347960, 37.746), ("efficientnet_v2_s", 384, 21458488, 8.366),
    ("googlenet", 224, 6624904, 1.498), ("inception_v3", 299, 27161264, 5.713),
    ("mnasnet1_0", 224, 4383312, 0.314), ("mobilenet_v2", 224, 3504872, 0.301),
    ("mobilenet_v3_large", 224, 5483032, 0.217), ("regnet_y_400mf", 224, 4344144, 0.402),
    ("resnet50", 224, 25557032, 4.089), ("resnext50_32x4d", 224, 25028904, 4.23),
    ("shufflenet_v2_x1_0", 224, 2278604, 0.145), ("squeezenet1_0", 224, 1248424, 0.819),
    ("swin_t", 224, 28288354, 4.491), ("vgg16_bn", 224, 138365992, 15.47),
    ("vit_b_16", 224, 86567656, 17.564), ("vit_h_14", 518, 633470440, 1016.717),
    ("wide_resnet50_2", 224, 68883240, 11.398),
]


@pytest.mark.parametrize("name, side, params, gmacs", PUBLISHED)
def test_fixture_matches_published(name, side, params, gmacs):
    data = json.loads((FIXTURES / f"{name}.json").read_text())
    assert data["input"] == [side, side, 3]
    assert data["params"] == params
    assert round(data["macs"] / 1e9, 3) == gmacs
    # the recorded state_dict holds every parameter (and the batch-norm statistics)
    assert sum(_numel(shape) for _, shape in data["state_dict"]) == params + data["buffers"]


def _numel(shape):
    n = 1
    for x in shape:
        n *= x
    return n


def test_every_fixture_is_listed_once():
    names = sorted(p.stem for p in FIXTURES.glob("*.json"))
    assert len(names) == 80
    assert {name for name, *_ in PUBLISHED} <= set(names)
