"""Token-sequence kinds and the kinds extended to token sequences, as parameter tables.

Each row is ``(entry, input, output, params, buffers, macs)`` with the arithmetic in a
comment, run as a one-layer spec. Independent references: PyTorch's own modules
(``nn.LayerNorm(C)`` has C weights and C biases, ``nn.Linear`` acts on the last axis and
FlopCounterMode counts T·in·out for it), and torchvision's recorded state_dicts
(tests/fixtures/torchvision/)."""
from __future__ import annotations

import json

import pytest
from conftest import ROOT
from conftest import analyse_text as analyse

FIXTURES = ROOT / "tests" / "fixtures" / "torchvision"


def one_layer(spec_file, entry: str, inp):
    a = analyse(spec_file, f"input: {list(inp)}\nlayers:\n  - {entry}\n")
    assert [(d.code, d.message) for d in a.errors] == []
    assert len(a.layers) == 1
    return a.layers[0]


NORM_ROWS = [
    # layernorm over D of [T, D]: γ and β, 2·768 = 1,536 (nn.LayerNorm(768))
    ("layernorm", (197, 768), (197, 768), 1_536, 0, 0),
    ("layernorm: {eps: 1.0e-6}", (197, 768), (197, 768), 1_536, 0, 0),
    # over C of a volume (ConvNeXt): 2·96 = 192
    ("layernorm", (56, 56, 96), (56, 56, 96), 192, 0, 0),
    # over N of a vector: 2·10 = 20
    ("layernorm", (10,), (10,), 20, 0, 0),
    # no bias: γ only, 768; no affine: nothing learned
    ("layernorm: {bias: false}", (4, 768), (4, 768), 768, 0, 0),
    ("layernorm: {affine: false}", (4, 768), (4, 768), 0, 0, 0),
    # rmsnorm: γ only, 4096 (Llama's LlamaRMSNorm(4096).weight)
    ("rmsnorm", (3, 4096), (3, 4096), 4_096, 0, 0),
    ("rmsnorm", (7, 7, 32), (7, 7, 32), 32, 0, 0),
    ("rmsnorm: {affine: false}", (3, 16), (3, 16), 0, 0, 0),
]

DENSE_ROWS = [
    # per token: params 768·3072 + 3072 = 2,362,368; MACs 197·768·3072 = 464,781,312
    ("dense: 3072", (197, 768), (197, 3072), 2_362_368, 0, 464_781_312),
    # without bias: params 4096·11008 = 45,088,768; MACs at T = 2: 90,177,536
    ("dense: {units: 11008, bias: false}", (2, 4096), (2, 11008), 45_088_768, 0, 90_177_536),
    # one token is one vector: params 3·5 + 5 = 20, MACs 15
    ("dense: 5", (1, 3), (1, 5), 20, 0, 15),
]


@pytest.mark.parametrize("entry, inp, out, params, buffers, macs", NORM_ROWS + DENSE_ROWS,
                         ids=lambda v: v if isinstance(v, str) else None)
def test_token_rule(spec_file, entry, inp, out, params, buffers, macs):
    layer = one_layer(spec_file, entry, inp)
    assert (layer.input, layer.output, layer.params, layer.buffers, layer.macs) == \
        (tuple(inp), tuple(out), params, buffers, macs)


def test_layernorm_matches_torchvision_state_dicts():
    """ConvNeXt's stem LayerNorm2d over 96 channels and ViT's ln_1 over 768 features: the
    recorded weight and bias sizes are what layernorm counts on [H, W, C] and on [T, D]."""
    convnext = dict((k, v) for k, v in json.loads((FIXTURES / "convnext_tiny.json").read_text())["state_dict"])
    vit = dict((k, v) for k, v in json.loads((FIXTURES / "vit_b_16.json").read_text())["state_dict"])
    from archcalc.layers import REGISTRY

    kind = REGISTRY["layernorm"]
    fields = {"affine": True, "bias": True, "eps": 1e-6}
    stem = convnext["features.0.1.weight"][0] + convnext["features.0.1.bias"][0]
    assert kind.params((56, 56, 96), (56, 56, 96), fields) == stem
    ln = vit["encoder.layers.encoder_layer_0.ln_1.weight"][0] + vit["encoder.layers.encoder_layer_0.ln_1.bias"][0]
    assert kind.params((197, 768), (197, 768), fields) == ln


def test_token_sequence_input_and_expect(cli, spec_file):
    path = spec_file("input: [16, 8]\nlayers:\n  - dense: {units: 4, expect: [16, 4]}\n"
                     "expect: {output: [16, 4], macs: 512}\n")  # 16·8·4 = 512
    result = cli("show", path, "--format", "json")
    assert (result.code, result.err) == (0, "")
    data = json.loads(result.out)
    assert (data["input"], data["output"], data["totals"]["macs"]) == ([16, 8], [16, 4], 512)


@pytest.mark.parametrize("entry", ["conv: {filters: 4, kernel: 1}", "maxpool: 2", "globalavgpool"])
def test_volume_kinds_refuse_token_sequences(spec_file, entry):
    a = analyse(spec_file, f"input: [16, 8]\nlayers:\n  - {entry}\n")
    assert [d.code for d in a.errors] == ["needs-volume"]
    assert "token sequence 16×8" in a.errors[0].message


@pytest.mark.parametrize("entry, code", [("layernorm: {eps: 0}", "bad-value"),
                                         ("layernorm: {eps: small}", "wrong-type"),
                                         ("rmsnorm: {bias: false}", "unknown-field")])
def test_norm_field_errors(spec_file, entry, code):
    a = analyse(spec_file, f"input: [4, 8]\nlayers:\n  - {entry}\n")
    assert [d.code for d in a.errors] == [code]
