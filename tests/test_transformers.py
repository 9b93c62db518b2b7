"""Transformers: the token kinds, attention, the gated MLP, token-id inputs, `--seq`, and the
ViT / BERT / GPT-2 / Llama built-ins.

Independent references: hand arithmetic in the comments (nn.Linear(a, b) has a·b + b
parameters and T·a·b MACs on T tokens; attention's QKᵀ and attention·V are 2·T²·h·d MACs over
the full square), issue #12's published table (params and MACs of every built-in, batch 1),
torchvision's recorded counts (tests/fixtures/torchvision/vit_*.json), and PyTorch itself:
every spec text in this file is exported and counted by tests/test_referee.py (the specs
below are picked up by tests/corpus.py)."""
from __future__ import annotations

import json

import pytest
from conftest import ROOT
from conftest import analyse_text as analyse

FIXTURES = ROOT / "tests" / "fixtures" / "torchvision"


def one_layer(spec_file, entry: str, inp: str):
    a = analyse(spec_file, f"input: {inp}\nlayers:\n  - {entry}\n")
    assert [(d.code, d.message) for d in a.errors] == []
    return a.layers[-1]


ROWS = [
    # embedding: 100·32 = 3,200 params, a lookup (0 MACs); 16 ids -> 16×32
    ("embedding: {vocab: 100, dim: 32}", "{tokens: 16}", (16, 32), 3_200, 0),
    # patches: 14×14×768 -> 196 tokens of 768, nothing learned
    ("patches", "[14, 14, 768]", (196, 768), 0, 0),
    # class token: one learned 768-vector, 196 -> 197 tokens
    ("classtoken", "[196, 768]", (197, 768), 768, 0),
    # position embedding: T·D = 197·768 = 151,296 (torchvision's encoder.pos_embedding)
    ("posembed", "[197, 768]", (197, 768), 151_296, 0),
    # GPT-2's wpe: 1024 positions learned whatever T: 1024·768 = 786,432
    ("posembed: {positions: 1024}", "[128, 768]", (128, 768), 786_432, 0),
    # BERT's token types: 2·768 = 1,536
    ("typeembed", "[128, 768]", (128, 768), 1_536, 0),
    ("taketoken", "[197, 768]", (768,), 0, 0),
    ("taketoken: 3", "[197, 768]", (768,), 0, 0),
    ("meantokens", "[49, 96]", (96,), 0, 0),
    # ViT-B's attention, T = 197, D = 768, 12 heads of 64:
    # params 4·768·768 + 3·768 + 768 = 2,362,368 (in_proj 2304×768 + 2304, out_proj 768×768 + 768)
    # MACs 197·4·768² + 2·197²·768 = 464,781,312 + 59,610,624 = 524,391,936
    ("attention: 12", "[197, 768]", (197, 768), 2_362_368, 524_391_936),
    # Llama 3 8B's grouped-query attention at T = 128: 32 heads, 8 kv heads, d = 128, no bias:
    # params 4096·4096 + 2·4096·1024 + 4096·4096 = 41,943,040
    # MACs 128·41,943,040 + 2·128²·32·128 = 5,368,709,120 + 134,217,728 = 5,502,926,848
    ("attention: {heads: 32, kv_heads: 8, qkv_bias: false, out_bias: false, causal: true, rope: true}",
     "[128, 4096]", (128, 4096), 41_943_040, 5_502_926_848),
    # Qwen2-0.5B: 14 heads, 2 kv heads, head_dim 64, q/k/v biases, no output bias, T = 4:
    # params 896·896 + 2·896·128 + 896·896 + (896 + 2·128) = 1,835,008 + 1,152 = 1,836,160
    # MACs 4·1,835,008 + 2·16·14·64 = 7,340,032 + 28,672 = 7,368,704
    ("attention: {heads: 14, kv_heads: 2, head_dim: 64, out_bias: false}", "[4, 896]", (4, 896),
     1_836_160, 7_368_704),
    # multi-query with a head_dim not D/heads: 4 heads of 8 on D = 16, 1 kv head, T = 2:
    # params 16·32 + 2·16·8 + 32·16 + (32 + 16) + 16 = 1,280 + 64 = 1,344
    # MACs 2·1,280 + 2·4·4·8 = 2,560 + 256 = 2,816
    ("attention: {heads: 4, kv_heads: 1, head_dim: 8}", "[2, 16]", (2, 16), 1_344, 2_816),
    # SwiGLU, Llama 2 7B: 3·4096·11008 = 135,266,304 params; T = 2: 270,532,608 MACs
    ("gatedmlp: 11008", "[2, 4096]", (2, 4096), 135_266_304, 270_532_608),
    # with biases: 3·8·16 + 2·16 + 8 = 424; T = 3: 3·3·8·16 = 1,152
    ("gatedmlp: {hidden: 16, bias: true, activation: gelu}", "[3, 8]", (3, 8), 424, 1_152),
    # Swin-T's first window attention, 56×56×96, 3 heads, windows of 7: params qkv 96·288 +
    # 288 = 27,936, proj 96·96 + 96 = 9,312, bias table 13²·3 = 507: 37,755; MACs 3136·4·96²
    # + 2·3136·49·96 = 115,605,504 + 29,503,488 = 145,108,992
    ("windowattention: {heads: 3, shift: 3}", "[56, 56, 96]", (56, 56, 96), 37_755, 145_108_992),
    # a 9×9 volume is padded to 14×14 = 196 positions (4 windows): 196·4·8² + 2·196·49·8
    # = 50,176 + 153,664 = 203,840; params 8·24 + 24 + 8·8 + 8 + 13²·2 = 626
    ("windowattention: 2", "[9, 9, 8]", (9, 9, 8), 626, 203_840),
    # Swin-V2-T's first window attention, 64×64×96, 3 heads, windows of 8: params qkv 96·288 +
    # 288 = 27,936, proj 96·96 + 96 = 9,312, logit scale 3, the bias MLP 2·512 + 512 + 512·3
    # = 3,072: 40,323 (torchvision's features.1.0.attn.* in tests/fixtures/torchvision/
    # swin_v2_t.json: 288·96 + 288 + 96·96 + 96 + 3 + 512·2 + 512 + 3·512); MACs 4096·4·96²
    # + 2·4096·64·96 = 150,994,944 + 50,331,648, + the MLP on the 15² coordinates
    # 225·(2·512 + 512·3) = 576,000: 201,902,592
    ("windowattentionv2: {heads: 3, shift: 4}", "[64, 64, 96]", (64, 64, 96), 40_323, 201_902_592),
    # a 9×9 volume padded to 12×12 = 144 positions (9 windows of 4): 144·4·8² + 2·144·16·8 =
    # 36,864 + 36,864, + the MLP on 7² coordinates with 16 hidden units 49·(2·16 + 16·2) =
    # 3,136: 76,864; params 8·24 + 24 + 8·8 + 8 + 2 + (2·16 + 16 + 16·2) = 370
    ("windowattentionv2: {heads: 2, window: 4, cpb_hidden: 16}", "[9, 9, 8]", (9, 9, 8), 370, 76_864),
    # MaxViT-T's first block attention, 56×56×64, heads of 32 (2 heads), windows of 7: params
    # to_qkv 64·192 + 192 = 12,480, merge 64·64 + 64 = 4,160, bias table 13²·2 = 338: 16,978
    # (torchvision's ...window_attention.attn_layer.1.* in tests/fixtures/torchvision/
    # maxvit_t.json: 192·64 + 192 + 64·64 + 64 + 169·2); MACs 3136·4·64² + 2·3136·49·64 =
    # 51,380,224 + 19,668,992 = 71,049,216
    ("partitionattention: window", "[56, 56, 64]", (56, 56, 64), 16_978, 71_049_216),
    # its grid attention: the same counts (a 7×7 grid of positions 8 apart, N = 49)
    ("partitionattention: grid", "[56, 56, 64]", (56, 56, 64), 16_978, 71_049_216),
    # a 12×8×16 volume in 2×2 windows, heads of 4: params 4·16² + 4·16 + 3²·4 = 1,124; MACs
    # 96·4·16² + 2·96·4·16 = 98,304 + 12,288 = 110,592
    ("partitionattention: {size: 2, head_dim: 4}", "[12, 8, 16]", (12, 8, 16), 1_124, 110_592),
    ("patchmerge", "[56, 56, 96]", (28, 28, 384), 0, 0),
    ("patchmerge", "[7, 7, 4]", (4, 4, 16), 0, 0),
    # an untied LM head: 4096·32000 = 131,072,000 params; T = 2: 2·4096·32000 = 262,144,000 MACs
    ("lmhead: 32000", "[2, 4096]", (2, 32000), 131_072_000, 262_144_000),
]


@pytest.mark.parametrize("entry, inp, out, params, macs", ROWS, ids=[r[0] for r in ROWS])
def test_token_kind_rule(spec_file, entry, inp, out, params, macs):
    layer = one_layer(spec_file, entry, inp)
    assert (tuple(layer.output), layer.params, layer.macs) == (out, params, macs)


TINY_GPT = """name: tinygpt
input: {tokens: 16}
blocks:
  layer:
    layers:
      - residual: {layers: [layernorm: {name: ln_1}, attention: {name: attn, heads: 4, causal: true}]}
      - residual: {layers: [layernorm: {name: ln_2}, dense: {name: fc, units: 128}, gelu, dense: {name: proj, units: 32}]}
layers:
  - embedding: {name: wte, vocab: 100, dim: 32}
  - posembed: {name: wpe, positions: 64}
  - repeat: {name: h, times: 2, layers: [layer]}
  - layernorm: {name: ln_f}
  - lmhead: {name: lm_head, vocab: 100, tied: wte}
"""

TINY_LLAMA = """name: tinyllama
input: {tokens: 8}
layers:
  - embedding: {name: embed_tokens, vocab: 50, dim: 16}
  - residual:
      layers:
        - rmsnorm: {name: input_layernorm}
        - attention: {name: self_attn, heads: 4, kv_heads: 2, qkv_bias: false, out_bias: false, causal: true, rope: true}
  - residual:
      layers: [rmsnorm: {name: post_attention_layernorm}, gatedmlp: {name: mlp, hidden: 24}]
  - rmsnorm: {name: norm}
  - lmhead: {name: lm_head, vocab: 50}
"""

TINY_VIT = """name: tinyvit
input: [32, 32, 3]
layers:
  - conv: {name: conv_proj, filters: 24, kernel: 8, stride: 8}
  - patches
  - classtoken: {name: class_token}
  - posembed: {name: pos_embedding}
  - residual: {layers: [layernorm: {name: ln_1}, attention: {name: self_attention, heads: 3}]}
  - residual: {layers: [layernorm: {name: ln_2}, gatedmlp: {name: mlp, hidden: 32, bias: true, activation: gelu_tanh}]}
  - parallel:
      branches:
        - {name: a, channels: [0, 8], layers: [dense: 8]}
        - {name: b, channels: [8, 24], layers: [dense: 16]}
  - meantokens
  - dense: {name: head, units: 10}
"""

# padded windows (9×9 to 12×12 for windows of 4), a shift, and an odd patch merge (9 -> 5)
TINY_SWIN = """name: tinyswin
input: [18, 18, 3]
layers:
  - conv: {name: stem, filters: 8, kernel: 2, stride: 2}
  - residual: {layers: [layernorm: {name: norm1}, windowattention: {name: attn, heads: 2, window: 4, shift: 2}]}
  - patchmerge: {name: merge}
  - dense: {name: reduction, units: 16, bias: false}
  - globalavgpool
  - flatten
  - dense: {name: head, units: 5}
"""

# Swin V2: padded windows (9×9 to 12×12 for windows of 4) shifted by 2, res-post-norm, and
# patch merging V2 (the norm after the reduction)
TINY_SWIN2 = """name: tinyswin2
input: [18, 18, 3]
layers:
  - conv: {name: stem, filters: 8, kernel: 2, stride: 2}
  - residual: {layers: [windowattentionv2: {name: attn, heads: 2, window: 4, shift: 2, cpb_hidden: 16}, layernorm: {name: norm1}]}
  - patchmerge: {name: merge}
  - dense: {name: reduction, units: 16, bias: false}
  - layernorm: {name: norm}
  - globalavgpool
  - flatten
  - dense: {name: head, units: 5}
"""

# MaxViT: grid attention on a non-square volume (a 3×3 grid of positions 4 and 2 apart),
# then block attention in 3×3 windows, each with its layer norm and the input added back
TINY_MAXVIT = """name: tinymaxvit
input: [24, 12, 3]
layers:
  - conv: {name: stem, filters: 16, kernel: 2, stride: 2}
  - residual: {layers: [layernorm: {name: norm1}, partitionattention: {name: grid, partition: grid, size: 3, head_dim: 8}]}
  - residual: {layers: [layernorm: {name: norm2}, partitionattention: {name: window, size: 3, head_dim: 4}]}
  - globalavgpool
  - flatten
  - dense: {name: head, units: 5}
"""

TINY_MOE = """name: tinymoe
input: {tokens: 6}
layers:
  - embedding: {name: embed_tokens, vocab: 30, dim: 8}
  - residual: {layers: [rmsnorm: {name: norm1}, attention: {name: self_attn, heads: 2, kv_heads: 1, qkv_bias: false, out_bias: false, causal: true, rope: true}]}
  - residual: {layers: [rmsnorm: {name: norm2}, experts: {name: block_sparse_moe, experts: 4, top_k: 2, hidden: 12}]}
  - lmhead: {name: lm_head, vocab: 30, tied: embed_tokens}
"""

TINY_BERT = """name: tinybert
input: {tokens: 6}
layers:
  - embedding: {name: word_embeddings, vocab: 40, dim: 12}
  - posembed: {name: position_embeddings, positions: 20}
  - typeembed: {name: token_type_embeddings}
  - residual: {layers: [attention: {name: attention, heads: 2, qkv_bias: false, out_bias: false}]}
  - layernorm: {name: norm}
  - taketoken: 0
  - dense: {name: pooler, units: 12, activation: tanh}
"""


def test_tiny_gpt_counts_the_tied_table_once(spec_file):
    a = analyse(spec_file, TINY_GPT)
    assert not a.errors
    # wte 100·32 = 3,200; wpe 64·32 = 2,048; per block: 2·(2·32) layer norms + attention
    # 4·32·32 + 4·32 = 4,224 + fc 32·128 + 128 = 4,224 + proj 128·32 + 32 = 4,128 -> 12,704;
    # ln_f 64; the tied head adds nothing: 3,200 + 2,048 + 2·12,704 + 64 = 30,720
    assert a.totals.params == 30_720
    # MACs per block at T = 16: attention 16·4·32² + 2·16²·32 = 65,536 + 16,384 = 81,920;
    # fc and proj 2·16·32·128 = 131,072 -> 212,992; head 16·32·100 = 51,200:
    # 2·212,992 + 51,200 = 477,184
    assert a.totals.macs == 477_184
    # KV cache: 2 layers · 2 (keys, values) · 4 heads · 8 = 128 values per token
    assert a.totals.kv_values == 128


def test_tiny_moe_counts_every_expert_and_the_active_ones(spec_file):
    a = analyse(spec_file, TINY_MOE)
    assert not a.errors
    # embedding 30·8 = 240; norms 8 + 8; attention 8·8 + 2·8·4 + 8·8 = 192; router 8·4 = 32;
    # experts 4·3·8·12 = 1,152: 1,632 in all; a token uses 2 of the 4 experts: 1,632 − 576
    assert (a.totals.params, a.totals.active_params) == (1_632, 1_056)
    # MACs at T = 6: attention 6·192 + 2·36·2·4 = 1,152 + 576; router 6·32 = 192; two experts
    # 6·2·3·8·12 = 3,456; the tied head 6·8·30 = 1,440: 6,816
    assert a.totals.macs == 6_816


def test_tiny_llama_and_tiny_vit_and_tiny_bert_analyse(spec_file):
    for text in (TINY_LLAMA, TINY_VIT, TINY_BERT, TINY_SWIN, TINY_SWIN2, TINY_MAXVIT, TINY_MOE):
        a = analyse(spec_file, text)
        assert [d.message for d in a.errors] == []


# issue #12's table: (name, --seq or None for the spec's own length, params, MACs)
PUBLISHED = [
    ("vit_b_16", None, 86_567_656, 17_563_828_224),
    ("vit_b_32", None, 88_224_232, 4_409_186_304),
    ("vit_l_16", None, 304_326_632, 61_554_712_576),
    ("vit_l_32", None, 306_535_400, 15_377_539_072),
    ("vit_h_14", None, 633_470_440, 1_016_716_764_160),
    # issue #12's Swin parameters; the MACs are torchvision's recorded count (fixtures)
    ("swin_t", None, 28_288_354, 4_490_566_656),
    ("swin_s", None, 49_606_258, 8_740_875_264),
    ("swin_b", None, 87_768_224, 15_430_946_816),
    # torchvision's published parameters (its weights' meta, ../shared/reference/torchvision.tsv)
    # and its recorded MACs at 256×256 (tests/fixtures/torchvision/swin_v2_*.json)
    ("swin_v2_t", None, 28_351_570, 5_939_690_496),
    ("swin_v2_s", None, 49_737_442, 11_545_857_024),
    ("swin_v2_b", None, 87_930_848, 20_325_134_336),
    # torchvision's published parameters and its recorded MACs (tests/fixtures/torchvision/maxvit_t.json)
    ("maxvit_t", None, 30_919_624, 5_558_046_720),
    ("bert-base", 128, 109_482_240, 11_174_215_680),
    ("bert-base", 512, 109_482_240, 48_318_971_904),
    ("gpt2", 128, 124_439_808, 16_114_089_984),
    ("gpt2", 1024, 124_439_808, 145_824_153_600),
    ("gpt2-medium", 1024, 354_823_168, 413_475_536_896),
    ("gpt2-large", 1024, 774_030_080, 887_285_350_400),
    ("gpt2-xl", 1024, 1_557_611_200, 1_753_351_782_400),
    ("llama2-7b", 1, 6_738_415_616, 6_607_339_520),
    ("llama2-7b", 128, 6_738_415_616, 850_000_871_424),
    ("llama2-7b", 2048, 6_738_415_616, 14_630_806_093_824),
    ("llama2-13b", 128, 13_015_864_320, 1_651_716_915_200),
    ("llama3-8b", 128, 8_030_261_248, 964_891_246_592),
    ("mistral-7b", 128, 7_241_732_096, 914_425_380_864),
    ("qwen2-0.5b", 128, 494_032_768, 63_931_678_720),
]


@pytest.mark.parametrize("name, seq, params, macs", PUBLISHED,
                         ids=[f"{n}-{s}" if s else n for n, s, *_ in PUBLISHED])
def test_builtins_reproduce_the_published_figures(cli, name, seq, params, macs):
    args = ["show", name, "--format", "json"] + (["--seq", str(seq)] if seq else [])
    result = cli(*args)
    assert (result.code, result.err) == (0, "")
    data = json.loads(result.out)
    assert (data["totals"]["params"], data["totals"]["macs"]) == (params, macs)
    assert data["diagnostics"] == []


@pytest.mark.parametrize("name", ["vit_b_16", "vit_b_32", "vit_l_16", "vit_l_32", "vit_h_14",
                                  "swin_t", "swin_s", "swin_b", "swin_v2_t", "swin_v2_s", "swin_v2_b",
                                  "maxvit_t"])
def test_vit_matches_torchvision_recording(cli, name):
    fixture = json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))
    data = json.loads(cli("show", name, "--format", "json").out)
    assert (data["input"], data["totals"]["params"], data["totals"]["buffers"], data["totals"]["macs"]) == \
        (fixture["input"], fixture["params"], fixture["buffers"], fixture["macs"])
    assert [1] + data["output"] == fixture["output"]


def test_swin_v2_position_bias_mlp_runs_once_per_batch(cli):
    """Swin V2's position-bias MLP reads a fixed table of coordinates: PyTorch runs it once per
    forward pass, whatever the batch. swin_v2_t's 12 attention layers, windows of 8 (15² = 225
    coordinates), 512 hidden units, heads 3, 6, 12, 24 in stages of 2, 2, 6, 2 blocks:
    225·512·(2·5 + 2·8 + 6·14 + 2·26) = 225·512·162 = 18,662,400 MACs; the rest of torchvision's
    5,939,690,496 (tests/fixtures/torchvision/swin_v2_t.json) is per image."""
    once, total = 18_662_400, 5_939_690_496
    for batch in (2, 5):
        data = json.loads(cli("show", "swin_v2_t", "--batch", str(batch), "--format", "json").out)
        assert data["totals"]["macs"] == batch * (total - once) + once
        layer = next(row for row in data["layers"] if row["kind"] == "windowattentionv2")
        # its first layer: 4096·4·96² + 2·4096·64·96 = 201,326,592 per image, 225·(2·512 + 512·3) once
        assert layer["macs"] == batch * 201_326_592 + 576_000
    text = cli("explain", "swin_v2_t", "--batch", "2").out
    assert "2·(4096·4·96² + 2·4096·64·96) + (2·8 − 1)²·(2·512 + 512·3) = 403,229,184" in text


def test_llama_at_one_token_is_its_weights_minus_the_lookup(cli):
    """At T = 1 every weight but the embedding table (a lookup) and the norms (no MACs) is used
    once, plus 2·1²·h·d per layer for the scores: 6,738,415,616 − 131,072,000 − 65·4096 +
    32·2·4096 = 6,607,339,520 (issue #12's figure)."""
    data = json.loads(cli("show", "llama2-7b", "--seq", "1", "--format", "json").out)
    assert data["totals"]["macs"] == 6_738_415_616 - 32000 * 4096 - 65 * 4096 + 32 * 2 * 4096


def test_token_input_is_shown_as_ids(cli):
    result = cli("show", "gpt2", "--seq", "128")
    assert result.code == 0
    assert "128 ids → 128×50257" in result.out


def test_seq_refused_for_an_image_network(cli):
    result = cli("show", "vgg16", "--seq", "128")
    assert result.code == 2
    assert "--seq sets the length of a token input" in result.err and "224×224×3" in result.err


def test_seq_leaves_pins_unchecked(cli):
    result = cli("validate", "gpt2")
    assert result.code == 0
    data = json.loads(cli("show", "gpt2", "--seq", "64", "--format", "json").out)
    assert data["diagnostics"] == [] and data["input"] == [64] and data["output"] == [64, 50257]


@pytest.mark.parametrize("text, code, where", [
    # a dense layer cannot read token ids
    ("input: {tokens: 8}\nlayers:\n  - dense: 4\n", "needs-embedding", (3, 5)),
    # an embedding needs token ids, not features
    ("input: [8, 4]\nlayers:\n  - embedding: {vocab: 10, dim: 4}\n", "needs-ids", (3, 5)),
    # 5 heads do not divide 768 features
    ("input: [4, 768]\nlayers:\n  - attention: {heads: 5}\n", "bad-heads", (3, 24)),  # at the value 5
    ("input: [4, 64]\nlayers:\n  - attention: {heads: 8, kv_heads: 3}\n", "bad-heads", (3, 37)),  # at kv_heads' value
    # attention on a volume
    ("input: [7, 7, 64]\nlayers:\n  - attention: 4\n", "needs-tokens", (3, 5)),
    # 40 tokens, 32 positions learned
    ("input: {tokens: 40}\nlayers:\n  - embedding: {vocab: 10, dim: 4}\n  - posembed: {positions: 32}\n",
     "seq-too-long", (4, 27)),  # at positions' value
    # a tied head must name an earlier embedding that fits
    (("input: {tokens: 4}\nlayers:\n  - embedding: {name: wte, vocab: 10, dim: 4}\n"
     "  - lmhead: {vocab: 10, tied: wtf}\n"), "bad-reference", (4, 5)),
    (("input: {tokens: 4}\nlayers:\n  - embedding: {name: wte, vocab: 10, dim: 4}\n"
     "  - lmhead: {vocab: 12, tied: wte}\n"), "bad-reference", (4, 5)),
    # the token input itself
    ("input: {tokens: many}\nlayers:\n  - embedding: {vocab: 10, dim: 4}\n", "bad-input", (1, 17)),
    ("input: {tokenz: 8}\nlayers:\n  - embedding: {vocab: 10, dim: 4}\n", "bad-input", (1, 9)),
])
def test_located_errors(spec_file, text, code, where):
    a = analyse(spec_file, text)
    assert [(d.code, (d.line, d.column)) for d in a.errors] == [(code, where)], \
        [(d.code, d.line, d.column, d.message) for d in a.errors]


def test_explain_writes_the_attention_arithmetic_out(cli):
    result = cli("explain", "vit_b_16", "encoder.layers.encoder_layer_0.self_attention")
    assert result.code == 0
    # 768·(12·64) + 2·768·(12·64) + (12·64)·768 + biases = 2,362,368
    assert "768·(12·64) + 2·768·(12·64) + (12·64)·768 + 12·64 + 2·12·64 + 768 = 2,362,368" in result.out
    assert "197·(768·12·64 + 2·768·12·64 + 12·64·768) + 2·197²·12·64 = 524,391,936" in result.out


def test_explain_states_the_causal_half(cli):
    result = cli("explain", "gpt2", "transformer.h.0.attn", "--seq", "128")
    assert result.code == 0
    # projections 128·4·768² = 301,989,888; the causal half of the scores 12·64·128·129 =
    # 12,681,216 (the full square is 2·128²·768 = 25,165,824): 314,671,104
    assert "= 314,671,104 MACs if only the T(T+1)/2 visible scores were computed" in result.out
    assert "KV cache 2·12·64 = 1,536 values per token" in result.out


def test_export_takes_token_ids(cli):
    result = cli("export", "gpt2", "--seq", "32")
    assert result.code == 0
    assert "INPUT_SHAPE = (1, 32)\nINPUT_DTYPE = torch.long" in result.out
    assert "self.lm_head = TiedHead(self.transformer.wte)" in result.out


# ------------------------------------------------------------------ KV cache, split, compute
def test_kv_cache_of_llama2_7b_is_two_gib_at_4096_tokens_in_fp16(cli):
    """Issue #12: 2·layers·kv_heads·head_dim = 2·32·32·128 = 262,144 values per token, 524,288
    bytes in fp16, 2 GiB (2,147,483,648 bytes) at 4,096 tokens."""
    data = json.loads(cli("show", "llama2-7b", "--seq", "4096", "--dtype", "fp16", "--format", "json").out)
    assert data["tokens"]["kv_cache_values_per_token"] == 262_144
    assert data["memory"]["kv_cache_bytes_per_token"] == 524_288
    assert data["memory"]["kv_cache_bytes"] == 2 * 2 ** 30
    # at batch 4: four sequences' caches, 8 GiB
    data = json.loads(cli("show", "llama2-7b", "--seq", "4096", "--dtype", "fp16", "--batch", "4",
                          "--format", "json").out)
    assert data["memory"]["kv_cache_bytes"] == 8 * 2 ** 30


def test_gqa_shrinks_the_kv_cache_and_diff_says_so(cli):
    """Llama 3 8B: 2·32·8·128 = 65,536 values per token (issue #12), a quarter of Llama 2 7B's."""
    data = json.loads(cli("show", "llama3-8b", "--format", "json").out)
    assert data["tokens"]["kv_cache_values_per_token"] == 65_536
    result = cli("diff", "llama2-7b", "llama3-8b")
    assert result.code == 0
    row = next(line for line in result.out.splitlines() if line.strip().startswith("KV cache per token"))
    assert row.split()[4:7] == ["262,144", "65,536", "-196,608"]
    # a gate failing unless the cache shrinks by more than 80%: the 75% saving trips it
    assert cli("diff", "llama2-7b", "llama3-8b", "--fail-on", "kv_cache_bytes>-80%").code == 1
    assert cli("diff", "llama2-7b", "llama3-8b", "--fail-on", "kv_cache_bytes>-70%").code == 0


def test_params_split_and_per_token_compute_of_gpt2(cli):
    data = json.loads(cli("show", "gpt2", "--seq", "128", "--format", "json").out)
    t, tokens = data["totals"], data["tokens"]
    # embeddings: wte 50257·768 = 38,597,376 + wpe 1024·768 = 786,432 = 39,383,808;
    # non-embedding 124,439,808 − 39,383,808 = 85,056,000 (Kaplan et al.'s ~85M for GPT-2 small)
    assert (t["embedding_params"], t["non_embedding_params"]) == (39_383_808, 85_056_000)
    # N, what one token multiplies: 12·(4·768² + 2·768·3072) + 768·50257 (the tied head) =
    # 84,934,656 + 38,597,376 = 123,532,032
    assert tokens["weight_macs_per_token"] == 123_532_032
    # PaLM: 6N + 12·L·H·Q·T = 741,192,192 + 12·12·12·64·128 = 741,192,192 + 14,155,776
    assert tokens["training_flops_per_token"] == 755_347_968
    # decode at context 128: N + 2·128·12·(12·64) = 123,532,032 + 2,359,296
    assert tokens["decode_macs_per_token"] == 125_891_328
    # the causal half: full square 2·128²·768 = 25,165,824 per layer, causal 768·128·129 =
    # 12,681,216: 16,114,089,984 − 12·12,484,608 = 15,964,274,688
    assert tokens["causal_macs"] == 15_964_274_688
    # KV cache 2·12·12·64 = 18,432 values per token; 128 tokens in fp32: 9,437,184 bytes
    assert (tokens["kv_cache_values_per_token"], data["memory"]["kv_cache_bytes"]) == (18_432, 9_437_184)


def test_table_footer_of_a_token_model(cli):
    out = cli("show", "llama2-7b", "--seq", "4096", "--dtype", "fp16").out
    assert "Tokens  T = 4,096   embeddings 131 M   non-embedding 6.61 G (6,607,343,616)" in out
    assert "KV cache 2.15 GB  at T × batch in fp16 (262,144 values per token)" in out
    assert "training 46.1 G FLOPs per token (6N + 12·L·H·Q·T)" in out


def test_no_token_figures_for_an_image_network(cli):
    data = json.loads(cli("show", "vit_b_16", "--format", "json").out)
    assert "tokens" not in data and "kv_cache_bytes" not in data["memory"]


def test_validate_applies_seq_to_token_inputs_only(cli):
    result = cli("validate", "gpt2", "vgg16", "--seq", "2048", "--format", "parsable")
    assert result.code == 1
    # GPT-2 learns 1,024 positions; vgg16's image input ignores --seq
    assert "seq-too-long transformer.wpe: posembed learns 1,024 positions, but the sequence has 2,048" \
        in result.out
    assert "vgg16" not in result.out.replace("3 files", "")


def test_list_shows_token_inputs_and_takes_seq(cli):
    out = cli("list", "gpt2").out
    assert "1024 ids" in out
    rows = {r["name"]: r for r in json.loads(cli("list", "gpt2", "llama2-7b", "vgg16", "--seq", "128",
                                                  "--format", "json").out)}
    # issue #12's figures at T = 128; vgg16 as it is (15,470,264,320, the contract's figure)
    assert (rows["gpt2"]["macs"], rows["llama2-7b"]["macs"], rows["vgg16"]["macs"]) == \
        (16_114_089_984, 850_000_871_424, 15_470_264_320)
    assert rows["gpt2"]["tokens"] == 128


def test_input_n_on_a_token_model_is_n_ids(cli):
    by_input = json.loads(cli("show", "gpt2", "--input", "64", "--format", "json").out)
    by_seq = json.loads(cli("show", "gpt2", "--seq", "64", "--format", "json").out)
    assert by_input["diagnostics"] == [] and by_input["totals"] == by_seq["totals"]


def test_maxvit_batch_norms_export_with_torchvisions_eps_and_momentum(cli):
    """torchvision's MaxVit builds every batch norm as partial(nn.BatchNorm2d, eps=1e-3,
    momentum=0.99) (torchvision/models/maxvit.py, after Google's MaxViT): the exported
    module's 24 batch norms (the stem's, and each of the 11 MBConvs' pre-norm and two inside
    its conv_a and conv_b) carry both; the counts do not depend on them."""
    from test_onnx import need

    torch = need("torch")
    result = cli("export", "maxvit_t")
    assert result.code == 0, result.err
    namespace = {"__name__": "exported_maxvit"}
    exec(compile(result.out, "<export of maxvit_t>", "exec"), namespace)  # noqa: S102 - our own output
    with torch.device("meta"):
        net = namespace["build"]()
    norms = [m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert len(norms) == 1 + 11 * 3
    assert {(m.eps, m.momentum) for m in norms} == {(1e-3, 0.99)}
