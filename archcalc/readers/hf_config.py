"""A Hugging Face ``config.json`` as a spec: the network its ``model_type`` builds, read from
the config's own fields, as the same located values the YAML reader produces.

Every value is taken from the config (hidden size, layers, heads, key/value heads, head_dim,
intermediate size, vocabulary, positions, tied embeddings, biases, experts), with the
defaults of the transformers library where a field may be left out; a missing required
field, a value of the wrong type or an unknown ``model_type`` is a located diagnostic at the
field (line and column in the JSON). Each generated layer points at the config field that
sized it, so a later error points there too. The sequence length is ``--seq``, else the
config's context length (``max_position_embeddings``, GPT-2's ``n_positions``).

Model types: llama, mistral, qwen2, gemma, phi3, mixtral (decoders with RMS norm, rotary
grouped-query attention, a gated MLP or mixture of experts), gpt2, gpt_neox, bert.
"""
from __future__ import annotations

import os

from ..diagnostics import make
from ..layers.base import describe_found
from .located import Document, LMap, Mark, located

MODEL_TYPES = ("llama", "mistral", "qwen2", "gemma", "phi3", "mixtral", "gpt2", "gpt_neox", "bert")


class _Missing(Exception):
    pass


class _Reader:
    """The config's values, each read with its mark; problems become diagnostics."""

    def __init__(self, root: LMap, file: str):
        self.root = root
        self.file = file
        self.problems: list = []
        self.marks: dict = {}  # id(entry) -> the mark of the field that sized it

    def where(self, key):
        return self.root.value_marks.get(key) or self.root.mark

    def int(self, key, default=None, required=True):
        if key not in self.root or self.root[key] is None:
            if default is not None or not required:
                return default
            self.problems.append(make("bad-config", f"the config has no {key!r}, which this model type "
                                      "needs", self.root.mark, hint=f"add \"{key}\": <integer> as the "
                                      "transformers library writes it"))
            raise _Missing(key)
        value = self.root[key]
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            self.problems.append(make("bad-config", f"{key!r} must be a positive integer, found "
                                      f"{describe_found(value)}", self.where(key)))
            raise _Missing(key)
        return value

    def bool(self, key, default: bool):
        value = self.root.get(key, default)
        if value is None:
            return default
        if not isinstance(value, bool):
            self.problems.append(make("bad-config", f"{key!r} must be true or false, found "
                                      f"{describe_found(value)}", self.where(key)))
            raise _Missing(key)
        return value

    def number(self, key, default=None):
        """A positive number (rope_theta), or ``default`` when absent or null."""
        value = self.root.get(key)
        if value is None:
            return default
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 < value < 1e300:
            self.problems.append(make("bad-config", f"{key!r} must be a positive number, found "
                                      f"{describe_found(value)}", self.where(key)))
            raise _Missing(key)
        return value

    def scaling(self, context: int) -> dict:
        """``rope_scaling`` as the attention's fields (linear, dynamic, llama3: the angles an
        exported model rotates by; no count changes); another type is said, as a warning.
        ``context``: max_position_embeddings, dynamic scaling's original context unless the
        mapping names one."""
        value = self.root.get("rope_scaling")
        if value is None:
            return {}
        kind = value.get("rope_type", value.get("type")) if isinstance(value, dict) else None
        if kind == "default":
            return {}
        if kind in ("linear", "dynamic", "llama3"):
            fields = {"rope_scaling": kind}
            numbers = {"rope_factor": ("factor", None), "rope_low_freq": ("low_freq_factor", 1.0),
                       "rope_high_freq": ("high_freq_factor", 4.0)}
            for name, (key, default) in numbers.items():
                if name != "rope_factor" and kind != "llama3":
                    continue
                found = value.get(key, default)
                if not isinstance(found, (int, float)) or isinstance(found, bool) or not 0 < found < 1e300:
                    self.problems.append(make("bad-config", f"rope_scaling.{key} must be a positive number, "
                                              f"found {describe_found(found)}", self.where("rope_scaling")))
                    raise _Missing("rope_scaling")
                if found != default:
                    fields[name] = found
            if kind != "linear":
                original = value.get("original_max_position_embeddings", context)
                if not isinstance(original, int) or isinstance(original, bool) or not 0 < original <= 10**9:
                    self.problems.append(make("bad-config", "rope_scaling.original_max_position_embeddings "
                                              f"must be a positive integer, found {describe_found(original)}",
                                              self.where("rope_scaling")))
                    raise _Missing("rope_scaling")
                fields["rope_context"] = original
            return fields
        kind = f" {kind[:40]!r}" if isinstance(kind, str) else ""
        self.problems.append(make("bad-config", f"rope_scaling{kind} is not modelled: it changes the rotary "
                                  "angles only, so every count stands, but an exported model rotates "
                                  "with the unscaled angles", self.where("rope_scaling"),
                                  hint="counts and shapes are exact; linear, dynamic and llama3 scaling "
                                       "are modelled", severity="warning"))
        return {}

    def rate(self, key, default: float) -> float:
        """A dropout probability (changes no count; kept so the layers are the model's)."""
        value = self.root.get(key, default)
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value <= 1
        return value if ok else default

    def at(self, entry, key):
        """Locate a generated layer entry at the config field ``key``."""
        self.marks[id(entry)] = self.where(key)
        return entry


def claims(doc: Document) -> bool:
    """Whether a YAML/JSON document not named ``*config.json`` is a config all the same: a
    mapping with a ``model_type`` and no ``layers`` (JSON is read by the YAML reader, with
    positions)."""
    root = doc.root
    return isinstance(root, LMap) and "model_type" in root and "layers" not in root


def read(path: str, **options) -> Document:
    """A file named ``*config.json``: parsed by the YAML reader (with positions), then built.
    ``options`` change nothing here (``--seq`` is the analysis')."""
    from . import yaml_

    return convert(yaml_.read(path))


def convert(doc: Document) -> Document:
    """The spec values of a parsed Hugging Face config, in place of the config's own."""
    path = doc.file
    if doc.root is None:
        return doc
    if any(d.severity == "error" for d in doc.diagnostics):
        doc.root = None  # a value the reader refused (a number beyond 10^18): reported there
        return doc
    root = doc.root
    top = Mark(path, 1, 1)
    if not isinstance(root, LMap):
        doc.diagnostics.append(make("bad-config", "a config.json holds one JSON object", top))
        doc.root = None
        return doc
    model_type = root.get("model_type")
    if model_type not in MODEL_TYPES:
        where = root.value_marks.get("model_type", root.mark)
        found = "no 'model_type'" if model_type is None else \
            f"model_type {model_type[:60]!r}" if isinstance(model_type, str) else \
            f"as model_type {describe_found(model_type)}"
        doc.diagnostics.append(make("bad-config", f"the config has {found}; archcalc builds "
                                    + ", ".join(MODEL_TYPES), where,
                                    hint="write the network as a spec (docs/spec.md), or import a "
                                         "config of a type archcalc knows"))
        doc.root = None
        return doc
    reader = _Reader(root, path)
    try:
        spec = _BUILDERS[model_type](reader)
    except _Missing:
        doc.diagnostics.extend(reader.problems)
        doc.root = None
        return doc
    # the checkpoint's directory names it (meta-llama/Llama-2-7b-hf/config.json)
    name = model_type if path in ("-", "<stdin>") else \
        os.path.basename(os.path.dirname(os.path.abspath(path))) or model_type
    spec = {"name": name, "title": f"{model_type} from {os.path.basename(path)}", **spec}
    doc.root = located(spec, root.mark, reader.marks)
    doc.diagnostics.extend(reader.problems)
    return doc


# --------------------------------------------------------------------------- decoders
def _decoder(r: _Reader, model_type: str) -> dict:
    """Llama and its relatives: RMS norm, rotary grouped-query attention, gated MLP (or a
    mixture of experts), a final RMS norm and the LM head (tied with tie_word_embeddings)."""
    d = r.int("hidden_size")
    layers = r.int("num_hidden_layers")
    heads = r.int("num_attention_heads")
    kv = r.int("num_key_value_heads", default=heads)
    head_dim = r.int("head_dim", required=False)
    vocab = r.int("vocab_size")
    hidden = r.int("intermediate_size")
    seq = r.int("max_position_embeddings", default=2048)
    tied = r.bool("tie_word_embeddings", model_type == "gemma")
    bias = r.bool("attention_bias", False)
    qkv_bias, out_bias = (True, False) if model_type == "qwen2" else (bias, bias)
    attention = {"name": "self_attn", "heads": heads, "qkv_bias": qkv_bias, "out_bias": out_bias,
                 "causal": True, "rope": True}
    theta = r.number("rope_theta", 10000.0)
    if theta != 10000:
        attention["rope_base"] = theta
    attention.update(r.scaling(seq))
    # Mistral and Phi-3 mask a sliding window; Qwen2 only with use_sliding_window
    window = r.int("sliding_window", required=False)
    if window is not None and r.bool("use_sliding_window", model_type != "qwen2") and window < seq:
        attention["window"] = window
    if kv != heads:
        attention["kv_heads"] = kv
    if head_dim is not None and head_dim * heads != d:
        attention["head_dim"] = head_dim
    if model_type == "mixtral":
        mlp = {"experts": {"name": "block_sparse_moe", "experts": r.int("num_local_experts"),
                           "top_k": r.int("num_experts_per_tok"), "hidden": hidden}}
        r.at(mlp, "num_local_experts")
    else:
        fields = {"name": "mlp", "hidden": hidden}
        if model_type == "gemma":  # gatedmlp's default activation is Llama's silu
            fields["activation"] = "gelu_tanh"
        if r.bool("mlp_bias", False):
            fields["bias"] = True
        mlp = r.at({"gatedmlp": fields}, "intermediate_size")
    attention_entry = r.at({"attention": attention}, "num_attention_heads")
    decoder_layer = {"layers": [
        {"residual": {"layers": [{"rmsnorm": {"name": "input_layernorm"}}, attention_entry]}},
        {"residual": {"layers": [{"rmsnorm": {"name": "post_attention_layernorm"}}, mlp]}},
    ]}
    head = {"name": "lm_head", "vocab": vocab}
    if tied:
        head["tied"] = "model.embed_tokens"
    return {
        "input": {"tokens": seq},
        "blocks": {"decoder_layer": decoder_layer, "model": {"layers": [
            r.at({"embedding": {"name": "embed_tokens", "vocab": vocab, "dim": d}}, "vocab_size"),
            r.at({"repeat": {"name": "layers", "times": layers, "layers": ["decoder_layer"]}},
                 "num_hidden_layers"),
            {"rmsnorm": {"name": "norm"}},
        ]}},
        "layers": [{"model": {"name": "model"}}, r.at({"lmhead": head}, "vocab_size")],
    }


def _gpt2(r: _Reader) -> dict:
    d = r.int("n_embd")
    layers = r.int("n_layer")
    heads = r.int("n_head")
    positions = r.int("n_positions")
    vocab = r.int("vocab_size")
    inner = r.int("n_inner", default=4 * d)
    tied = r.bool("tie_word_embeddings", True)
    block = {"layers": [
        {"residual": {"layers": [{"layernorm": {"name": "ln_1"}},
                                 r.at({"attention": {"name": "attn", "heads": heads, "causal": True}}, "n_head")]}},
        {"residual": {"layers": [{"layernorm": {"name": "ln_2"}}, r.at({"mlp": {"name": "mlp"}}, "n_inner")]}},
    ]}
    mlp = {"layers": [{"dense": {"name": "c_fc", "units": inner}}, {"gelu": {"name": "act"}},
                      {"dense": {"name": "c_proj", "units": d}}]}
    head = {"name": "lm_head", "vocab": vocab}
    if tied:
        head["tied"] = "transformer.wte"
    return {
        "input": {"tokens": positions},
        "blocks": {"block": block, "mlp": mlp, "transformer": {"layers": [
            r.at({"embedding": {"name": "wte", "vocab": vocab, "dim": d}}, "vocab_size"),
            r.at({"posembed": {"name": "wpe", "positions": positions}}, "n_positions"),
            {"dropout": {"name": "drop", "rate": r.rate("embd_pdrop", 0.1)}},
            r.at({"repeat": {"name": "h", "times": layers, "layers": ["block"]}}, "n_layer"),
            {"layernorm": {"name": "ln_f"}},
        ]}},
        "layers": [{"transformer": {"name": "transformer"}}, r.at({"lmhead": head}, "vocab_size")],
    }


def _gpt_neox(r: _Reader) -> dict:
    """GPT-NeoX / Pythia: layer norms with bias, rotary attention with biases, a GELU MLP
    with biases; `use_parallel_residual` adds attention and MLP to the same input."""
    d = r.int("hidden_size")
    layers = r.int("num_hidden_layers")
    heads = r.int("num_attention_heads")
    vocab = r.int("vocab_size")
    hidden = r.int("intermediate_size")
    seq = r.int("max_position_embeddings", default=2048)
    tied = r.bool("tie_word_embeddings", False)
    parallel = r.bool("use_parallel_residual", True)
    fields = {"name": "attention", "heads": heads, "causal": True, "rope": True}
    theta = r.number("rotary_emb_base", 10000.0)
    if theta != 10000:
        fields["rope_base"] = theta
    pct = r.number("rotary_pct", 1.0)
    if heads and d % heads == 0 and int(d // heads * pct) < d // heads:
        fields["rope_dims"] = max(2, int(d // heads * pct) // 2 * 2)
    fields.update(r.scaling(seq))
    attention = [{"layernorm": {"name": "input_layernorm"}},
                 r.at({"attention": fields}, "num_attention_heads")]
    mlp = [{"layernorm": {"name": "post_attention_layernorm"}},
           r.at({"dense": {"name": "dense_h_to_4h", "units": hidden}}, "intermediate_size"),
           {"gelu": {"name": "act"}}, {"dense": {"name": "dense_4h_to_h", "units": d}}]
    if parallel:
        layer = {"layers": [{"parallel": {"merge": "add", "scope": False, "branches": [attention, mlp, []]}}]}
    else:
        layer = {"layers": [{"residual": {"layers": attention}}, {"residual": {"layers": mlp}}]}
    head = {"name": "embed_out", "vocab": vocab}
    if tied:
        head["tied"] = "gpt_neox.embed_in"
    return {
        "input": {"tokens": seq},
        "blocks": {"layer": layer, "gpt_neox": {"layers": [
            r.at({"embedding": {"name": "embed_in", "vocab": vocab, "dim": d}}, "vocab_size"),
            r.at({"repeat": {"name": "layers", "times": layers, "layers": ["layer"]}}, "num_hidden_layers"),
            {"layernorm": {"name": "final_layer_norm"}},
        ]}},
        "layers": [{"gpt_neox": {"name": "gpt_neox"}}, r.at({"lmhead": head}, "vocab_size")],
    }


def _bert(r: _Reader) -> dict:
    """BertModel with its pooler, post-norm layers."""
    d = r.int("hidden_size")
    layers = r.int("num_hidden_layers")
    heads = r.int("num_attention_heads")
    vocab = r.int("vocab_size")
    hidden = r.int("intermediate_size")
    positions = r.int("max_position_embeddings", default=512)
    types = r.int("type_vocab_size", default=2)
    p = r.rate("hidden_dropout_prob", 0.1)
    layer = {"layers": [
        {"residual": {"layers": [r.at({"attention": {"name": "attention", "heads": heads}}, "num_attention_heads"),
                                 {"dropout": {"name": "dropout", "rate": p}}]}},
        {"layernorm": {"name": "attention_norm", "eps": 1.0e-12}},
        {"residual": {"layers": [r.at({"dense": {"name": "intermediate", "units": hidden}}, "intermediate_size"),
                                 {"gelu": {"name": "act"}}, {"dense": {"name": "output", "units": d}},
                                 {"dropout": {"name": "output_dropout", "rate": p}}]}},
        {"layernorm": {"name": "output_norm", "eps": 1.0e-12}},
    ]}
    return {
        "input": {"tokens": positions},
        "blocks": {"layer": layer, "embeddings": {"layers": [
            r.at({"embedding": {"name": "word_embeddings", "vocab": vocab, "dim": d}}, "vocab_size"),
            r.at({"posembed": {"name": "position_embeddings", "positions": positions}}, "max_position_embeddings"),
            r.at({"typeembed": {"name": "token_type_embeddings", "types": types}}, "type_vocab_size"),
            {"layernorm": {"name": "LayerNorm", "eps": 1.0e-12}},
            {"dropout": {"name": "dropout", "rate": p}},
        ]}, "pooler": {"layers": [{"taketoken": 0}, {"dense": {"name": "dense", "units": d, "activation": "tanh"}}]}},
        "layers": [{"embeddings": {"name": "embeddings"}},
                   r.at({"repeat": {"name": "encoder", "times": layers, "layers": ["layer"]}}, "num_hidden_layers"),
                   {"pooler": {"name": "pooler"}}],
    }


_BUILDERS = {
    "llama": lambda r: _decoder(r, "llama"),
    "mistral": lambda r: _decoder(r, "mistral"),
    "qwen2": lambda r: _decoder(r, "qwen2"),
    "gemma": lambda r: _decoder(r, "gemma"),
    "phi3": lambda r: _decoder(r, "phi3"),
    "mixtral": lambda r: _decoder(r, "mixtral"),
    "gpt2": _gpt2,
    "gpt_neox": _gpt_neox,
    "bert": _bert,
}
