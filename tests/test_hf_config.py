"""Hugging Face `config.json` as a SPEC: show, validate, diff, explain, export and import.

The configs under tests/fixtures/hf/ are written by hand from the public config.json of each
checkpoint (meta-llama/Llama-2-7b-hf, meta-llama/Meta-Llama-3-8B, mistralai/Mistral-7B-v0.1,
Qwen/Qwen2-0.5B, gpt2, bert-base-uncased, mistralai/Mixtral-8x7B-v0.1, google/gemma-2b,
microsoft/Phi-3-mini-4k-instruct, EleutherAI/pythia-160m). Independent figures: issue #12's
table for the checkpoints that are also built-ins, the published parameter counts of the
others (Gemma 2B's model card 2,506,172,416; Phi-3-mini's 3,821,079,552; the Pythia paper's
162,322,944 for Pythia-160M), Mistral AI's 46.7 B total / 12.9 B active for Mixtral 8x7B
(with the exact sums written out below), and the PyTorch referee on the exported module."""
from __future__ import annotations

import json

import pytest
from conftest import ROOT

HF = ROOT / "tests" / "fixtures" / "hf"


def config(name: str) -> str:
    return str(HF / name / "config.json")


def totals(cli, *args):
    result = cli("show", *args, "--format", "json")
    assert result.code == 0, result.err
    data = json.loads(result.out)
    assert data["diagnostics"] == []
    return data


# (config, params, MACs at T = 128): issue #12's figures
BUILTIN_FIGURES = [
    ("llama2-7b", 6_738_415_616, 850_000_871_424),
    ("llama3-8b", 8_030_261_248, 964_891_246_592),
    ("mistral-7b", 7_241_732_096, 914_425_380_864),
    ("qwen2-0.5b", 494_032_768, 63_931_678_720),
    ("gpt2", 124_439_808, 16_114_089_984),
    ("bert-base", 109_482_240, 11_174_215_680),
]


@pytest.mark.parametrize("name, params, macs", BUILTIN_FIGURES, ids=[r[0] for r in BUILTIN_FIGURES])
def test_configs_of_the_zoo_checkpoints_give_the_published_figures(cli, name, params, macs):
    data = totals(cli, config(name), "--seq", "128")
    assert (data["totals"]["params"], data["totals"]["macs"]) == (params, macs)


@pytest.mark.parametrize("name", [r[0] for r in BUILTIN_FIGURES])
def test_a_config_and_its_builtin_agree_layer_by_layer(cli, name):
    ours = totals(cli, config(name), "--seq", "64")
    zoo = totals(cli, name, "--seq", "64")
    assert ours["totals"] == zoo["totals"]
    assert [(l["name"], l["params"], l["macs"]) for l in ours["layers"]] == \
        [(l["name"], l["params"], l["macs"]) for l in zoo["layers"]]


@pytest.mark.parametrize("name, params", [
    ("gemma-2b", 2_506_172_416),       # google/gemma-2b's model card
    ("phi3-mini-4k", 3_821_079_552),   # microsoft/Phi-3-mini-4k-instruct
    ("pythia-160m", 162_322_944),      # Biderman et al. 2023, Table 1
])
def test_configs_outside_the_zoo_are_exact(cli, name, params):
    assert totals(cli, config(name))["totals"]["params"] == params


def test_pythia_macs_by_hand(cli):
    """Pythia-160M at T = 16: per layer attention 16·4·768² + 2·16²·768 = 37,748,736 +
    393,216; MLP 2·16·768·3072 = 75,497,472; 12 layers = 1,363,673,088; the untied head
    16·768·50,304 = 618,135,552: 1,981,808,640."""
    assert totals(cli, config("pythia-160m"), "--seq", "16")["totals"]["macs"] == 1_981_808_640


def test_mixtral_total_and_active_parameters(cli):
    """Mixtral 8x7B: Mistral AI publishes 46.7 B parameters, 12.9 B used per token.
    Per layer: attention 2·4096² + 2·4096·1024 = 41,943,040; router 4096·8 = 32,768; experts
    8·3·4096·14336 = 1,409,286,144; two RMS norms 8,192. 32 layers, embedding and head
    32000·4096 each, final norm 4096:
    total  32·1,451,269,632 + 2·131,072,000 + 4,096 = 46,702,792,704
    active (2 experts: 352,321,536 instead of 1,409,286,144)
           32·394,305,536 + 2·131,072,000 + 4,096 = 12,879,925,248"""
    data = totals(cli, config("mixtral-8x7b"), "--seq", "128")
    t = data["totals"]
    assert (t["params"], t["active_params"]) == (46_702_792_704, 12_879_925_248)
    assert round(t["params"] / 1e9, 1) == 46.7 and round(t["active_params"] / 1e9, 1) == 12.9
    # MACs per token at top 2: the active weights less the embedding lookup and the norms,
    # 12,879,925,248 − 131,072,000 − 65·4096 = 12,748,587,008, plus the scores 2·128·32·128
    # per layer and token: 128·12,748,587,008 + 32·2·128²·4096 = 1,636,114,104,320
    assert t["macs"] == 1_636_114_104_320
    table = cli("show", config("mixtral-8x7b"), "--seq", "128").out
    assert "active per token 12.9 G (12,879,925,248)" in table


@pytest.mark.parametrize("text, where, words", [
    ('{\n  "model_type": "falcon",\n  "hidden_size": 4544\n}\n', (2, 17), "model_type 'falcon'"),
    ('{\n  "hidden_size": 4544\n}\n', (1, 1), "no 'model_type'"),
    (('{\n  "model_type": "llama",\n  "hidden_size": 4096,\n  "num_hidden_layers": 2,\n'
     '  "num_attention_heads": 32\n}\n'), (1, 1), "no 'vocab_size'"),
    ('{\n  "model_type": "llama",\n  "hidden_size": "4096"\n}\n', (3, 18),
     "'hidden_size' must be a positive integer, found the string '4096'"),
    (('{\n  "model_type": "gpt2",\n  "n_embd": 768,\n  "n_layer": 2,\n  "n_head": 12,\n'
     '  "n_positions": 64,\n  "vocab_size": 10,\n  "tie_word_embeddings": "yes"\n}\n'), (8, 26),
     "'tie_word_embeddings' must be true or false"),
])
def test_config_errors_are_located_and_name_the_field(cli, tmp_path, text, where, words):
    path = tmp_path / "config.json"
    path.write_text(text, encoding="utf-8")
    result = cli("validate", str(path), "--format", "json")
    assert result.code == 1
    (d,) = json.loads(result.out)["files"][0]["diagnostics"]
    assert (d["code"], (d["line"], d["column"])) == ("bad-config", where) and words in d["message"]


def test_a_later_error_points_at_the_config_field(cli, tmp_path):
    path = tmp_path / "config.json"
    path.write_text('{\n  "model_type": "llama",\n  "hidden_size": 4096,\n  "num_hidden_layers": 2,\n'
                    '  "num_attention_heads": 30,\n  "vocab_size": 100,\n  "intermediate_size": 64\n}\n')
    result = cli("validate", str(path), "--format", "parsable")
    assert result.code == 1
    assert f"{path}:5:26: [error] bad-heads" in result.out  # at num_attention_heads' value


def test_any_json_with_a_model_type_is_a_config(cli, tmp_path):
    path = tmp_path / "gpt2.json"
    path.write_text((HF / "gpt2" / "config.json").read_text())
    assert totals(cli, str(path), "--seq", "128")["totals"]["macs"] == 16_114_089_984


def test_import_writes_an_editable_spec_with_the_same_figures(cli, tmp_path):
    out = tmp_path / "llama3.yaml"
    result = cli("import", config("llama3-8b"), "--seq", "128", "-o", str(out))
    assert result.code == 0, result.err
    text = out.read_text()
    assert "input: {tokens: 128}" in text and "times: 32" in text and "- decoder_layer" in text
    assert "params: 8030261248" in text and "macs: 964891246592" in text
    data = totals(cli, str(out))
    assert (data["totals"]["params"], data["totals"]["macs"]) == (8_030_261_248, 964_891_246_592)


@pytest.mark.parametrize("name", ["bert-base", "pythia-160m", "mixtral-8x7b", "gemma-2b"])
def test_every_import_reanalyses_to_the_config_figures(cli, tmp_path, name):
    out = tmp_path / "spec.yaml"
    assert cli("import", config(name), "--seq", "32", "-o", str(out)).code == 0
    assert totals(cli, str(out))["totals"] == totals(cli, config(name), "--seq", "32")["totals"]


def test_explain_diff_and_export_take_a_config(cli):
    result = cli("explain", config("mixtral-8x7b"), "model.layers.0.block_sparse_moe", "--seq", "128")
    assert result.code == 0
    # 4096·8 + 2·3·4096·14336: the router and the top 2 experts
    assert "4096·8 + 2·3·4096·14336 = 352,354,304 parameters used by one token" in result.out
    diff = cli("diff", config("llama2-7b"), config("llama3-8b"), "--seq", "128")
    assert diff.code == 0 and "KV cache per token" in diff.out
    export = cli("export", config("gpt2"), "--seq", "16")
    assert export.code == 0 and "INPUT_SHAPE = (1, 16)" in export.out


def test_the_pytorch_referee_agrees_on_an_exported_config():
    """GPT-NeoX's parallel residual, Gemma's multi-query attention with head_dim apart from
    D/heads, and Mixtral's experts at top 2, counted by PyTorch on the meta device
    (tests/test_referee.py)."""
    pytest.importorskip("torch")
    from test_referee import referee

    from archcalc import readers

    for name in ("pythia-160m", "gemma-2b", "mixtral-8x7b"):
        doc = readers.load_spec(config(name))
        assert referee(f"hf:{name}", doc, 200, None) == [], name


def test_a_refused_number_is_the_only_error(cli, tmp_path):
    path = tmp_path / "config.json"
    path.write_text('{"model_type": "llama", "hidden_size": 1000000000000000000000}\n')
    result = cli("validate", str(path), "--format", "json")
    assert result.code == 1
    assert [(d["code"], d["column"]) for d in json.loads(result.out)["files"][0]["diagnostics"]] == \
        [("number-too-large", 40)]


def test_a_config_on_standard_input(cli):
    text = (HF / "gpt2" / "config.json").read_text()
    result = cli("show", "-", "--seq", "128", "--format", "json", stdin=text)
    assert result.code == 0
    data = json.loads(result.out)
    assert (data["name"], data["totals"]["macs"]) == ("gpt2", 16_114_089_984)
