"""Rotary bases, partial rotation and sliding windows (issue #20): read from Hugging Face
configs, shown, counted where they count (KV cache, causal and decode figures), exported.

Independent figures: hand arithmetic in the comments; the configs' own fields
(tests/fixtures/hf: Mistral-7B-v0.1 sliding_window 4096, Llama 3 rope_theta 500000, Qwen2
use_sliding_window false, Pythia rotary_pct 0.25); and, for the exported module, attention
written out in this file with plain tensor operations (masked softmax, rotate-half as in
RoFormer / GPT-NeoX), compared with what the exported `Attention` computes."""
from __future__ import annotations

import json

import pytest
from conftest import ROOT
from torch_ref import need_torch

HF = ROOT / "tests" / "fixtures" / "hf"


def show_json(cli, *args):
    result = cli("show", *args, "--format", "json")
    assert result.code == 0, result.err
    return json.loads(result.out)


def attention_of(spec):
    """The first attention layer's fields, as the analysis holds them."""
    from archcalc.app import analyse_spec

    return next(l.fields for l in analyse_spec(str(spec), seq=16).layers if l.kind == "attention")


def test_mistral_config_keeps_a_kv_cache_of_at_most_its_window(cli):
    config = str(HF / "mistral-7b" / "config.json")
    long = show_json(cli, config, "--seq", "8192")
    # 32 layers · 2·8·128 values per token · 4,096 tokens (the window, not 8,192) · 4 bytes (fp32)
    assert long["memory"]["kv_cache_bytes"] == 32 * 2 * 8 * 128 * 4096 * 4 == 1_073_741_824
    # below the window every token stays: 32 · 2·8·128 · 128 · 4
    short = show_json(cli, config, "--seq", "128")
    assert short["memory"]["kv_cache_bytes"] == 32 * 2 * 8 * 128 * 128 * 4
    # the counts stay the full square either way (PyTorch masks after computing)
    assert short["totals"]["macs"] == 914_425_380_864  # issue #12's figure at T = 128


def test_llama3_without_a_window_keeps_every_token(cli):
    data = show_json(cli, str(HF / "llama3-8b" / "config.json"), "--seq", "8192")
    assert data["memory"]["kv_cache_bytes"] == 32 * 2 * 8 * 128 * 8192 * 4


def test_windowed_causal_and_decode_figures(cli, spec_file):
    # T = 5, window 3: the tokens see 1, 2, 3, 3, 3 scores = 12 (not T(T+1)/2 = 15).
    # one layer, h·d = 8: QKᵀ and attention·V over the full square 2·25·8 = 400 MACs;
    # the windowed scores 2·12·8 = 192, so causal_macs = total − (400 − 192) = total − 208;
    # decode: a new token reads min(5, 3) = 3 cached keys and values, 2·3·8 = 48 MACs.
    spec = spec_file("""\
name: w
input: {tokens: 5}
layers:
  - embedding: {vocab: 11, dim: 8}
  - attention: {heads: 2, causal: true, window: 3}
""")
    data = show_json(cli, spec)
    t = data["tokens"]
    # projections 5 tokens · 4 · 8·8 = 1,280 MACs; the square 400: 1,680 in all
    assert data["totals"]["macs"] == 5 * 4 * 64 + 2 * 25 * 8 == 1680
    assert t["causal_macs"] == 1680 - 208
    assert t["decode_macs_per_token"] == 4 * 64 + 48
    # KV cache: 2·2·4 = 16 values per token, 3 tokens kept, fp32
    assert data["memory"]["kv_cache_bytes"] == 16 * 3 * 4


def test_configs_set_the_fields_they_hold(cli):
    mistral = attention_of(HF / "mistral-7b" / "config.json")
    assert mistral["window"] == 4096 and mistral["rope_base"] == 10000
    llama3 = attention_of(HF / "llama3-8b" / "config.json")
    assert llama3["rope_base"] == 500000 and llama3["window"] is None
    qwen = attention_of(HF / "qwen2-0.5b" / "config.json")
    assert qwen["window"] is None  # use_sliding_window: false
    assert qwen["rope_base"] == 1000000
    pythia = attention_of(HF / "pythia-160m" / "config.json")
    assert pythia["rope_dims"] == 16  # rotary_pct 0.25 · head_dim 768/12 = 64
    # and the built-ins say the same as their checkpoints' configs
    for name in ("mistral-7b", "llama3-8b", "qwen2-0.5b"):
        zoo, ours = attention_of(name), attention_of(HF / name / "config.json")
        assert {k: zoo[k] for k in ("rope_base", "window", "rope_dims")} == \
            {k: ours[k] for k in ("rope_base", "window", "rope_dims")}


def test_unmodelled_rope_scaling_is_a_located_warning(cli, tmp_path):
    config = json.loads((HF / "llama3-8b" / "config.json").read_text())
    config["rope_scaling"] = {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 32768}
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config, indent=1))
    result = cli("validate", str(path), "--format", "json")
    assert result.code == 0, result.out + result.err
    problems = json.loads(result.out)
    found = [d for f in problems["files"] for d in f["diagnostics"]] if "files" in problems else problems["diagnostics"]
    warning = [d for d in found if d["code"] == "bad-config"]
    assert warning and warning[0]["severity"] == "warning" and "'yarn'" in warning[0]["message"]
    line = next(i for i, text in enumerate(path.read_text().splitlines(), 1) if '"rope_scaling"' in text)
    assert warning[0]["line"] == line


@pytest.mark.parametrize("entry, code", [
    ("attention: {heads: 2, window: 3}", "bad-value"),                        # window without causal
    ("attention: {heads: 2, causal: true, rope_base: 500000}", "bad-value"),  # base without rope
    ("attention: {heads: 2, rope: true, rope_dims: 3}", "bad-value"),         # odd
    ("attention: {heads: 2, rope: true, rope_dims: 6}", "bad-value"),         # > head_dim 4
    ("attention: {heads: 2, rope_scaling: linear, rope_factor: 2}", "bad-value"),  # scaling without rope
    ("attention: {heads: 2, rope: true, rope_scaling: linear}", "bad-value"),      # no factor
    ("attention: {heads: 2, rope: true, rope_scaling: llama3, rope_factor: 8}", "bad-value"),  # no context
    ("attention: {heads: 2, rope: true, rope_factor: 8}", "bad-value"),            # factor without scaling
    ("attention: {heads: 2, rope: true, rope_scaling: yarn, rope_factor: 8}", "bad-value"),  # not modelled
    ("attention: {heads: 2, rope: true, rope_scaling: linear, rope_factor: 2, rope_high_freq: 8}", "bad-value"),
    ("attention: {heads: 2, rope: true, rope_scaling: llama3, rope_factor: 8, rope_context: 16, "
     "rope_low_freq: 4, rope_high_freq: 1}", "bad-value"),                          # an empty band
    ("attention: {heads: 4, rope: true, rope_scaling: dynamic, rope_factor: 2, rope_context: 4}",
     "bad-value"),                                                                   # d = 2: d/(d − 2)
])
def test_misused_fields_are_located(cli, spec_file, entry, code):
    spec = spec_file(f"name: bad\ninput: {{tokens: 5}}\nlayers:\n  - embedding: {{vocab: 11, dim: 8}}\n  - {entry}\n")
    result = cli("validate", spec, "--format", "json")
    assert result.code == 1
    data = json.loads(result.out)
    found = [d for f in data["files"] for d in f["diagnostics"]] if "files" in data else data["diagnostics"]
    assert [d["code"] for d in found if d["severity"] == "error"] == [code]
    assert found[0]["line"] == 5


def test_diff_states_the_effective_kv_heads(cli):
    result = cli("diff", "llama2-7b", "llama3-8b")
    assert result.code == 0
    assert "kv_heads 32 → 8" in result.out and "kv_heads none" not in result.out
    assert "rope_base 10000 → 500000" in result.out


def _reference_attention(torch, module, x, window, rope_base, rope_dims):
    """Causal attention written out: q, k, v from the module's own projections, rotate-half
    rotary positions on the first rope_dims features (θ_i = base^(−2i/r)), scores masked to
    j ≤ i and i − j < window, softmax, weighted sum, output projection."""
    n, t, _ = x.shape
    h, kv, d = module.heads, module.kv_heads, module.head_dim
    q = module.q_proj(x).view(n, t, h, d).transpose(1, 2)
    k = module.k_proj(x).view(n, t, kv, d).transpose(1, 2).repeat_interleave(h // kv, dim=1)
    v = module.v_proj(x).view(n, t, kv, d).transpose(1, 2).repeat_interleave(h // kv, dim=1)
    r = rope_dims
    pos = torch.arange(t, dtype=torch.float64)[:, None]
    theta = torch.tensor([rope_base ** (-2 * i / r) for i in range(r // 2)], dtype=torch.float64)
    cos = torch.cat([torch.cos(pos * theta)] * 2, dim=-1).float()
    sin = torch.cat([torch.sin(pos * theta)] * 2, dim=-1).float()

    def rot(z):
        a, rest = z[..., :r], z[..., r:]
        half = torch.cat([-a[..., r // 2:], a[..., :r // 2]], dim=-1)
        return torch.cat([a * cos + half * sin, rest], dim=-1)

    q, k = rot(q), rot(k)
    scores = q @ k.transpose(-1, -2) / d ** 0.5
    allowed = torch.tensor([[j <= i and i - j < window for j in range(t)] for i in range(t)])
    scores = scores.masked_fill(~allowed, float("-inf"))
    y = torch.softmax(scores, dim=-1) @ v
    return module.o_proj(y.transpose(1, 2).reshape(n, t, h * d))


def test_exported_attention_rotates_and_masks_as_written(cli, spec_file):
    torch = need_torch()

    spec = spec_file("""\
name: w
input: {tokens: 7}
layers:
  - embedding: {vocab: 11, dim: 16}
  - attention: {name: attn, heads: 4, kv_heads: 2, causal: true, rope: true, rope_base: 500000, rope_dims: 2, window: 3}
""")
    result = cli("export", spec)
    assert result.code == 0, result.err
    assert "rope_base=500000.0" in result.out and "window=3" in result.out and "rope_dims=2" in result.out
    namespace: dict = {}
    exec(compile(result.out, "<export>", "exec"), namespace)  # noqa: S102 - our own output
    torch.manual_seed(0)
    model = namespace["build"]().eval()
    x = torch.randn(2, 7, 16)
    with torch.no_grad():
        ours = model.attn(x)
        expected = _reference_attention(torch, model.attn, x, window=3, rope_base=500000, rope_dims=2)
        unwindowed = _reference_attention(torch, model.attn, x, window=7, rope_base=500000, rope_dims=2)
    assert torch.allclose(ours, expected, atol=1e-5)
    assert not torch.allclose(ours, unwindowed, atol=1e-3)  # the window does change the output


# Hugging Face's rope_scaling, written out from transformers' modeling_rope_utils
# (_compute_linear_scaling_rope_parameters, _compute_dynamic_ntk_parameters,
# _compute_llama3_parameters) in plain Python floats: the frequencies of d/2 feature pairs.
def _hf_frequencies(kind, d, base, t, factor=1.0, context=None, low=1.0, high=4.0):
    import math

    if kind == "dynamic":
        seq = t if t > context else context
        base = base * ((factor * seq / context) - (factor - 1)) ** (d / (d - 2))
    inv = [1.0 / base ** (i / d) for i in range(0, d, 2)]
    if kind == "linear":
        return [f / factor for f in inv]
    if kind != "llama3":
        return inv
    low_wavelen, high_wavelen = context / low, context / high
    out = []
    for f in inv:
        wavelen = 2 * math.pi / f
        if wavelen < high_wavelen:
            out.append(f)
        elif wavelen > low_wavelen:
            out.append(f / factor)
        else:
            smooth = (context / wavelen - low) / (high - low)
            out.append((1 - smooth) * f / factor + smooth * f)
    return out


def test_llama31_config_reads_its_rope_scaling(cli, tmp_path):
    # Llama 3.1 8B's config.json: rope_scaling {factor 8, low 1, high 4, original 8192, llama3}
    config = json.loads((HF / "llama3-8b" / "config.json").read_text())
    config["max_position_embeddings"] = 131072
    config["rope_scaling"] = {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                              "original_max_position_embeddings": 8192, "rope_type": "llama3"}
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config, indent=1))
    fields = attention_of(path)
    assert (fields["rope_scaling"], fields["rope_factor"], fields["rope_context"]) == ("llama3", 8.0, 8192)
    assert (fields["rope_low_freq"], fields["rope_high_freq"]) == (1.0, 4.0)
    result = cli("validate", str(path), "--format", "json")
    assert result.code == 0 and "rope_scaling" not in result.out  # modelled: no warning
    plain = show_json(cli, str(HF / "llama3-8b" / "config.json"), "--seq", "128")
    scaled = show_json(cli, str(path), "--seq", "128")
    assert scaled["totals"]["params"] == plain["totals"]["params"]  # angles only
    assert scaled["totals"]["macs"] == plain["totals"]["macs"]
    imported = cli("import", str(path), "--seq", "128")
    assert imported.code == 0, imported.err
    assert 'rope_scaling: "llama3"' in imported.out and "rope_context: 8192" in imported.out


@pytest.mark.parametrize("kind, extra, t", [
    ("linear", "rope_factor: 4", 12),
    ("dynamic", "rope_factor: 2, rope_context: 8", 12),   # T = 12 > 8: the base rises
    ("dynamic", "rope_factor: 2, rope_context: 16", 12),  # T ≤ the context: unscaled
    ("llama3", "rope_factor: 8, rope_context: 64", 12),
    ("llama3", "rope_factor: 8, rope_context: 64, rope_low_freq: 2, rope_high_freq: 16", 12),
])
def test_exported_rope_scaling_matches_hugging_faces_frequencies(cli, spec_file, kind, extra, t):
    torch = need_torch()
    spec = spec_file(f"""\
name: s
input: {{tokens: {t}}}
layers:
  - embedding: {{vocab: 11, dim: 64}}
  - attention: {{name: attn, heads: 2, causal: true, rope: true, rope_base: 10000, rope_scaling: {kind}, {extra}}}
""")
    result = cli("export", spec)
    assert result.code == 0, result.err
    namespace: dict = {}
    exec(compile(result.out, "<export>", "exec"), namespace)  # noqa: S102 - our own output
    attn = namespace["build"]().attn
    got = attn.frequencies(t).tolist()
    f = attention_of(spec)
    want = _hf_frequencies(kind, 32, 10000.0, t, f["rope_factor"], f["rope_context"], f["rope_low_freq"],
                           f["rope_high_freq"])
    assert len(got) == 16 and all(abs(a - b) <= 1e-6 * abs(b) + 1e-12 for a, b in zip(got, want))
    unscaled = _hf_frequencies("default", 32, 10000.0, t)
    assert (want != unscaled) == (not (kind == "dynamic" and f["rope_context"] >= t))
