"""The ONNX round trip (issue 24): a built-in → `archcalc export` → PyTorch →
`torch.onnx.export` (the TorchScript exporter, ``dynamo=False``, ``do_constant_folding=False``,
so batch norm stays a BatchNormalization node) → `archcalc show MODEL.onnx` gives the figures
PyTorch itself counts on the exported module — parameters (``numel`` of the parameters of every
module the eval-mode forward pass runs), MACs
(``FlopCounterMode``'s total ÷ 2) and the output shape (a forward pass) — and `archcalc import`
of the same file writes a spec that validates and gives them again.

Every built-in is a case. Budget: exporting a network to ONNX costs seconds (the weights are
real tensors, serialised), so CI runs the built-ins of ``CI_SAMPLE``: the families whose
exports differ in ONNX ops (LRN's decomposition, SiLU, layer scale with channels-last
LayerNorm and Linear, squeeze-and-excitation gates, fire and dense concatenations, a
Concat flattened from nested branches, grouped and depthwise convolutions), one network
each, the smallest; ConvTranspose and a crop's Slices (U-Net) are checked on hand-built
graphs in tests/test_onnx_kinds.py. ``ARCHCALC_ROUNDTRIP=all`` runs every built-in up to
``MAX_PARAMS`` parameters (the weights must fit in memory; LLMs of 7 billion and more do not). The
others skip saying so.

The specs that are not built-ins take the same way: every spec file under specs/ (a built-in's
file is the built-in) and every complete network in README.md and docs/*.md (tests/corpus.py
finds them: a spec without errors, as tests/test_referee.py takes them). CI runs those of up
to ``SMALL_SPEC`` parameters; ``ARCHCALC_ROUNDTRIP=all`` the rest.

The cases archcalc cannot read are strict xfails that name archcalc's gap: they fail loudly
the day the gap is closed, so the list cannot go stale. Where PyTorch itself cannot export
(ShuffleNet's ``channel_shuffle``), the xfail says so.
PyTorch's default exporter (``dynamo=True``, which needs ``onnxscript``; .ci/run pins it) takes
the same way for the built-ins of ``DYNAMO_SAMPLE`` (CI; ``ARCHCALC_ROUNDTRIP=all``: every
built-in), with its defaults. Its optimizer folds each batch norm that follows a convolution
into it (the weights rescaled, a bias added; a bias of zeros is dropped), so the file holds the
folded network: the figures expected are PyTorch's count of the module after PyTorch's own
conv-batch-norm fusion (``torch.fx.experimental.optimization.fuse``), with running means set
away from zero first, as a trained network's are, so that no folded bias is all zeros, and
likewise every parameter made zero at initialisation (nn.MultiheadAttention's biases: the
exporter drops a bias of zeros). What
dynamo cannot export, or writes in a form archcalc does not follow, is in ``DYNAMO_GAPS``.
archcalc says so (a ``folded-batchnorm`` warning) with the figures before folding, which must
be PyTorch's count of the module before its fusion: the parameters, and the running means and
variances of the batch norms the forward pass runs.
"""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import warnings

import corpus
import pytest
from test_onnx import need  # CI=true: a missing torch or onnx fails, never skips

# torch.onnx.export needs the weights, 4 bytes each, several times over: GPT-2 XL's 1.56 billion
# took 14 GB of this 24 GiB machine; the 7-13 billion of the Llama family do not fit
MAX_PARAMS = 2_000_000_000
ALL = os.environ.get("ARCHCALC_ROUNDTRIP") == "all"

CI_SAMPLE = {
    "lenet5", "lenet5-1998", "alexnet", "googlenet", "resnet18", "mobilenet_v2", "mobilenet_v3_small",
    "efficientnet_b0", "mnasnet0_5", "squeezenet1_1", "regnet_x_400mf", "regnet_y_400mf", "densenet121",
    "convnext_tiny", "shufflenet_v2_x0_5", "inception_v3", "swin_t",
}

ARCHCALC_GAP = "archcalc's ONNX reader does not follow "
DYNAMO_POSITIONS = ("the dynamo exporter folds the first T rows of a longer position table (and a token type's "
                    "row) into constants of the T rows used: the file does not hold the table")
DYNAMO_CPB = ("the dynamo exporter folds a small position-bias MLP (Swin V2's, 32 units on a window of 4) and "
              "its table into one constant bias: the file does not hold the MLP, whose units archcalc counts")
# Llama, Mistral and Qwen2 normalise with nn.RMSNorm
RMS_NORM = "PyTorch cannot export aten::rms_norm to ONNX (TorchScript exporter, opset 20)"
GAPS = {
    **{name: "PyTorch cannot export aten::channel_shuffle to ONNX (TorchScript exporter)"
       for name in ("shufflenet_v2_x0_5", "shufflenet_v2_x1_0", "shufflenet_v2_x1_5", "shufflenet_v2_x2_0")},
    **{name: RMS_NORM for name in ("llama2-7b", "llama2-13b", "llama3-8b", "mistral-7b", "qwen2-0.5b")},
}


# the default (dynamo) exporter: one network of each ONNX form it writes differently (ReduceMean
# for global average pooling, constants folded into initializers, batch norm folded into the
# convolution before it, GatherND between Transposes for a connection table, ConvNeXt's pooled
# LayerNorm2d through as_strided: a Reshape and a Gather, ShuffleNet's channel split as two
# Slices of the channels; U-Net's skips as parallels nested four deep, each branch with runs that
# fold into repeats of the same name); a smaller sample
# than the TorchScript exporter's, since dynamo takes seconds longer per network
DYNAMO_SAMPLE = {"lenet5", "lenet5-1998", "alexnet", "googlenet", "squeezenet1_1", "resnet18", "mobilenet_v2",
                 "convnext_tiny", "shufflenet_v2_x0_5", "unet"}
# what dynamo cannot export, or writes in a form archcalc does not follow (ARCHCALC_ROUNDTRIP=all)
DYNAMO_GAPS = {
    "bert-base": DYNAMO_POSITIONS,
}


# the specs of specs/ and the docs that are not built-ins, by their tests/corpus.py id (a
# docs spec's id is its page and the digest of its text: an edited example is a new case)
SPEC_GAPS = {
    # docs/diagnostics.md's example of not-exportable: a layer named `eval`
    "diagnostics:870914ef": "`archcalc export` refuses the spec by design (a layer named `eval`, an "
                            "attribute of every torch.nn.Module: not-exportable)",
}
SMALL_SPEC = 5_000_000  # parameters: CI exports the specs up to this size (seconds each)
DOCS = {"README", *(path.stem for path in (corpus.ROOT / "docs").glob("*.md"))}


def _other_specs() -> list:
    """(id, Document, the input it is exported at or None) for each valid spec of specs/ that is
    no built-in, and each complete network in README.md and docs/*.md."""
    return [(origin, doc, given) for origin, doc, _layers, given in corpus.valid()
            if origin.startswith("file:") or origin.partition(":")[0] in DOCS]


def _run(*args):
    return subprocess.run([sys.executable, "-m", "archcalc", *args], capture_output=True, text=True, check=False)


def _figures(done):
    assert done.returncode == 0, (done.stdout + done.stderr)[-2000:]
    data = json.loads(done.stdout)
    return data["totals"]["params"], data["totals"]["macs"], data["output"]


def _pytorch_count(model, x):
    """PyTorch's count of what the exported (eval-mode) network computes: the parameters its
    forward pass reads (every op's tensors, recorded by a TorchDispatchMode) — an auxiliary
    head, run in training only, is not in the ONNX file, though ``model.parameters()`` holds
    it — MACs and the output's shape."""
    import torch
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils._pytree import tree_leaves
    from torch.utils.flop_counter import FlopCounterMode

    read = set()

    class Reads(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            for value in tree_leaves((args, kwargs or {})):
                if isinstance(value, torch.Tensor):
                    read.add(value.untyped_storage().data_ptr())
            return func(*args, **(kwargs or {}))

    # the ops the exported graph holds: nn.MultiheadAttention's decomposition, not its CPU
    # fast path (one fused kernel, uncounted), and scaled_dot_product_attention's math (the
    # products FlopCounterMode counts), as tests/test_referee.py counts them
    fastpath = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        with torch.no_grad(), sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter, Reads():
            out = model(x)
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)
    used = {id(p): p.numel() for p in model.parameters() if p.untyped_storage().data_ptr() in read}
    if isinstance(model, torch.fx.GraphModule):
        # traced: it holds exactly what its graph reads (no training-only head)
        used = {id(p): p.numel() for p in model.parameters()}
    shape = list(out.shape[1:])
    if len(shape) == 3:  # PyTorch's (C, H, W) in archcalc's order (H, W, C)
        shape = shape[1:] + shape[:1]
    return sum(used.values()), counter.get_total_flops() // 2, shape


def _case(name):
    marks = [pytest.mark.xfail(reason=GAPS[name], strict=True)] if name in GAPS else []
    return pytest.param(name, marks=marks, id=name)


def test_the_gaps_name_built_ins():
    assert set(GAPS) <= set(corpus.builtins()) and CI_SAMPLE <= set(corpus.builtins())
    assert set(DYNAMO_GAPS) <= set(corpus.builtins()) and DYNAMO_SAMPLE <= set(corpus.builtins())
    assert set(SPEC_GAPS) | set(DYNAMO_SPEC_GAPS) <= {origin for origin, *_ in _other_specs()}


@pytest.mark.parametrize("name", [_case(name) for name in corpus.builtins()])
def test_a_built_in_survives_export_onnx_and_import(name, tmp_path):
    if not ALL and name not in CI_SAMPLE:
        pytest.skip("beyond CI's round-trip budget (one of each family and ONNX form); "
                    "ARCHCALC_ROUNDTRIP=all runs it")
    torch = need("torch")
    need("onnx")
    shown = json.loads(_run("show", name, "-f", "json").stdout)
    if shown["totals"]["params"] > MAX_PARAMS:
        pytest.skip(f"{shown['totals']['params']:,} parameters: beyond the round trip's {MAX_PARAMS:,} "
                    "(torch.onnx.export needs the weights in memory)")
    _round_trip(name, tmp_path)


@pytest.mark.parametrize("origin, doc, given", [
    pytest.param(origin, doc, given, id=origin,
                 marks=[pytest.mark.xfail(reason=SPEC_GAPS[origin], strict=True)] if origin in SPEC_GAPS else [])
    for origin, doc, given in _other_specs()])
def test_a_spec_of_specs_or_the_docs_survives_export_onnx_and_import(origin, doc, given, tmp_path):
    need("torch")
    need("onnx")
    _round_trip(*_spec_case(origin, doc, given, tmp_path))


def _spec_case(origin, doc, given, tmp_path) -> tuple:
    """(the spec's path, tmp_path, the --input option it is exported at) for ``_round_trip``;
    skipped in CI beyond SMALL_SPEC parameters."""
    path = origin.partition(":")[2] if origin.startswith("file:") else tmp_path / "spec.yaml"
    if not origin.startswith("file:"):
        path.write_text(doc.text, encoding="utf-8")
    source = str(corpus.ROOT / path)
    options = ["--input", "x".join(map(str, given))] if given else []
    params = json.loads(_run("show", source, "-f", "json", *options).stdout)["totals"]["params"]
    if not ALL and params > SMALL_SPEC:
        pytest.skip(f"{params:,} parameters: beyond CI's round-trip budget for specs ({SMALL_SPEC:,}); "
                    "ARCHCALC_ROUNDTRIP=all runs it")
    return (source, tmp_path, *options)


# the specs of specs/ and the docs through the default (dynamo) exporter, as through the
# TorchScript one: CI those up to SMALL_SPEC parameters, ARCHCALC_ROUNDTRIP=all every one;
# what dynamo cannot export, or writes in a form archcalc does not follow, by corpus id
DYNAMO_SPEC_GAPS = {
    # docs/spec.md's tiny decoder: 64 positions, a sequence of 16
    "spec:d7a8da17": DYNAMO_POSITIONS,
}


@pytest.mark.parametrize("origin, doc, given", [
    pytest.param(origin, doc, given, id=origin,
                 marks=[pytest.mark.xfail(reason=(SPEC_GAPS.get(origin) or DYNAMO_SPEC_GAPS[origin]), strict=True)]
                 if origin in SPEC_GAPS or origin in DYNAMO_SPEC_GAPS else [])
    for origin, doc, given in _other_specs()])
def test_a_spec_of_specs_or_the_docs_survives_the_dynamo_exporter(origin, doc, given, tmp_path):
    need("torch")
    need("onnx")
    need("onnxscript")  # torch.onnx.export(dynamo=True) needs it
    _round_trip(*_spec_case(origin, doc, given, tmp_path), dynamo=True)


def _dynamo_case(name):
    reason = DYNAMO_GAPS.get(name) or (GAPS[name] if name in GAPS and "TorchScript" not in GAPS[name] else None)
    marks = [pytest.mark.xfail(reason=reason, strict=True)] if reason else []
    return pytest.param(name, marks=marks, id=name)


@pytest.mark.parametrize("name", [_dynamo_case(name) for name in corpus.builtins()])
def test_a_built_in_survives_the_default_dynamo_exporter(name, tmp_path):
    if not ALL and name not in DYNAMO_SAMPLE:
        pytest.skip("beyond CI's dynamo round-trip budget; ARCHCALC_ROUNDTRIP=all runs it")
    need("torch")
    need("onnx")
    need("onnxscript")  # torch.onnx.export(dynamo=True) needs it
    shown = json.loads(_run("show", name, "-f", "json").stdout)
    if shown["totals"]["params"] > MAX_PARAMS:
        pytest.skip(f"{shown['totals']['params']:,} parameters: beyond the round trip's {MAX_PARAMS:,}")
    _round_trip(name, tmp_path, dynamo=True)


# ViT's forms (the patches' Reshape and Transpose to a sequence, the class token's Concat, the
# position embedding's Add, nn.MultiheadAttention's decomposition, the class token taken by a
# Gather) at a size CI exports in seconds: vit_b_32 itself (88 M parameters) takes a minute
# with both exporters (ARCHCALC_ROUNDTRIP=all runs it and every ViT)
TINY_VIT = """\
name: tiny_vit
input: [32, 32, 3]
blocks:
  encoder_block:
    args: {heads: null}
    layers:
      - residual:
          layers:
            - layernorm: {name: ln_1, eps: 1.0e-6}
            - attention: {name: self_attention, heads: $heads}
            - dropout: {name: dropout, rate: 0.0}
      - residual:
          layers:
            - layernorm: {name: ln_2, eps: 1.0e-6}
            - dense: {name: fc1, units: 128}
            - gelu: {}
            - dense: {name: fc2, units: 64}
layers:
  - conv: {name: conv_proj, filters: 64, kernel: 8, stride: 8}
  - patches: {}
  - classtoken: {name: class_token}
  - posembed: {name: pos_embedding}
  - encoder_block: {name: b0, heads: 4}
  - encoder_block: {name: b1, heads: 2}
  - layernorm: {name: ln, eps: 1.0e-6}
  - taketoken: 0
  - dense: {name: head, units: 10}
"""


# the token models' forms at a size CI exports in seconds: GPT-2's (token ids looked up by a
# Gather, causal attention, a head tied to the token embedding — which the dynamo exporter
# writes as a transposed copy of the table —, every position used as the built-ins at their
# full context), BERT's (the first T of more learned positions, a token type's row,
# post-norm blocks, the pooler) and Llama's (RMS norm, grouped-query attention with rotary
# positions, a gated MLP, an untied head)
TINY_GPT = """\
name: tiny_gpt
input: {tokens: 16}
blocks:
  block:
    layers:
      - residual:
          layers:
            - layernorm: {name: ln_1}
            - attention: {name: attn, heads: 4, causal: true}
      - residual:
          layers:
            - layernorm: {name: ln_2}
            - dense: {name: c_fc, units: 128}
            - gelu: {name: act}
            - dense: {name: c_proj, units: 32}
layers:
  - embedding: {name: wte, vocab: 100, dim: 32}
  - posembed: {name: wpe, positions: 16}
  - dropout: {name: drop, rate: 0.1}
  - repeat: {name: h, times: 2, layers: [block]}
  - layernorm: {name: ln_f}
  - lmhead: {name: lm_head, vocab: 100, tied: wte}
"""
TINY_BERT = """\
name: tiny_bert
input: {tokens: 16}
blocks:
  layer:
    layers:
      - residual:
          layers:
            - attention: {name: attention, heads: 4}
            - dropout: {name: dropout, rate: 0.1}
      - layernorm: {name: attention_norm, eps: 1.0e-12}
      - residual:
          layers:
            - dense: {name: intermediate, units: 64}
            - gelu: {name: act}
            - dense: {name: output, units: 32}
      - layernorm: {name: output_norm, eps: 1.0e-12}
layers:
  - embedding: {name: word_embeddings, vocab: 100, dim: 32}
  - posembed: {name: position_embeddings, positions: 20}
  - typeembed: {name: token_type_embeddings, types: 2}
  - layernorm: {name: LayerNorm, eps: 1.0e-12}
  - repeat: {name: encoder, times: 2, layers: [layer]}
  - taketoken: 0
  - dense: {name: dense, units: 32, activation: tanh}
"""
TINY_LLAMA = """\
name: tiny_llama
input: {tokens: 16}
blocks:
  decoder_layer:
    layers:
      - residual:
          layers:
            - rmsnorm: {name: input_layernorm, eps: 1.0e-5}
            - attention: {name: self_attn, heads: 4, kv_heads: 2, qkv_bias: false, out_bias: false, causal: true, rope: true}
      - residual:
          layers:
            - rmsnorm: {name: post_attention_layernorm, eps: 1.0e-5}
            - gatedmlp: {name: mlp, hidden: 64}
layers:
  - embedding: {name: embed_tokens, vocab: 100, dim: 32}
  - repeat: {name: layers, times: 2, layers: [decoder_layer]}
  - rmsnorm: {name: norm, eps: 1.0e-5}
  - lmhead: {name: lm_head, vocab: 100}
"""
# Swin's forms (window attention padded to whole windows, the shifted windows' rolls and mask,
# the relative position bias, patch merging of an odd-sized volume; V2's cosine scores, logit
# scale and position-bias MLP) at a size CI exports in seconds: a 40×40 input makes a 10×10
# volume (padded to 12×12 windows of 4, shifted by 2), merged to 5×5 (padded to 6×6), whose
# windows of 4 pad to 8×8; swin_t itself takes half a minute with both exporters
TINY_SWIN = """\
name: tiny_swin
input: [40, 40, 3]
blocks:
  block:
    args: {heads: null, dim: null, shift: 0}
    layers:
      - residual:
          layers:
            - layernorm: {name: norm1}
            - windowattention: {name: attn, heads: $heads, window: 4, shift: $shift}
      - residual:
          layers:
            - layernorm: {name: norm2}
            - dense: {name: fc1, units: "${dim * 2}"}
            - gelu: {}
            - dense: {name: fc2, units: $dim}
layers:
  - conv: {name: stem, filters: 16, kernel: 4, stride: 4}
  - layernorm: {name: stem_norm}
  - block: {name: b0, heads: 2, dim: 16}
  - block: {name: b1, heads: 2, dim: 16, shift: 2}
  - patchmerge: {name: merge}
  - layernorm: {name: merge_norm}
  - dense: {name: reduction, units: 32, bias: false}
  - block: {name: b2, heads: 4, dim: 32}
  - block: {name: b3, heads: 4, dim: 32, shift: 2}
  - layernorm: {name: norm}
  - globalavgpool: {}
  - flatten
  - dense: {name: head, units: 10}
"""
TINY_SWIN_V2 = """\
name: tiny_swin_v2
input: [40, 40, 3]
blocks:
  block:
    args: {heads: null, dim: null, shift: 0}
    layers:
      - residual:
          layers:
            - windowattentionv2: {name: attn, heads: $heads, window: 4, shift: $shift, cpb_hidden: 32}
            - layernorm: {name: norm1}
      - residual:
          layers:
            - dense: {name: fc1, units: "${dim * 2}"}
            - gelu: {}
            - dense: {name: fc2, units: $dim}
            - layernorm: {name: norm2}
layers:
  - conv: {name: stem, filters: 16, kernel: 4, stride: 4}
  - layernorm: {name: stem_norm}
  - block: {name: b0, heads: 2, dim: 16}
  - block: {name: b1, heads: 2, dim: 16, shift: 2}
  - patchmerge: {name: merge}
  - dense: {name: reduction, units: 32, bias: false}
  - layernorm: {name: merge_norm}
  - block: {name: b2, heads: 4, dim: 32}
  - block: {name: b3, heads: 4, dim: 32, shift: 2}
  - layernorm: {name: norm}
  - globalavgpool: {}
  - flatten
  - dense: {name: head, units: 10}
"""
# what the exporters cannot write or archcalc cannot read of them, as for the built-ins
SMALL = {
    ("tiny_swin", False): None, ("tiny_swin", True): None,
    ("tiny_swin_v2", False): None, ("tiny_swin_v2", True): DYNAMO_CPB,
    ("tiny_vit", False): None, ("tiny_vit", True): None,
    ("tiny_gpt", False): None, ("tiny_gpt", True): None,
    ("tiny_bert", False): None, ("tiny_bert", True): DYNAMO_POSITIONS,
    ("tiny_llama", False): RMS_NORM, ("tiny_llama", True): None,
}
# CI runs the cases that pass (seconds each); the gaps stay strict xfails for ARCHCALC_ROUNDTRIP=all
SMALL_TEXT = {"tiny_swin": TINY_SWIN, "tiny_swin_v2": TINY_SWIN_V2, "tiny_vit": TINY_VIT, "tiny_gpt": TINY_GPT, "tiny_bert": TINY_BERT, "tiny_llama": TINY_LLAMA}


@pytest.mark.parametrize("name, dynamo", [
    pytest.param(name, dynamo, id=f"{name}-{'dynamo' if dynamo else 'torchscript'}",
                 marks=[pytest.mark.xfail(reason=reason, strict=True)] if reason else [])
    for (name, dynamo), reason in SMALL.items()])
def test_a_small_transformer_survives_the_exporters(name, dynamo, tmp_path):
    if SMALL[name, dynamo] and not ALL:
        pytest.skip("a known gap (the xfail's reason), beyond CI's budget; ARCHCALC_ROUNDTRIP=all runs it")
    need("torch")
    need("onnx")
    if dynamo:
        need("onnxscript")
    source = tmp_path / f"{name}.yaml"
    source.write_text(SMALL_TEXT[name], encoding="utf-8")
    _round_trip(str(source), tmp_path, dynamo=dynamo)


def _other_buffers(model) -> int:
    """The buffers that are not a batch norm's (Swin's and MaxViT's relative position
    indices), which archcalc counts among the network's buffers beside the running statistics."""
    import torch

    norms = {id(b) for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)
             for b in m.buffers(recurse=False)}
    return sum(b.numel() for b in model.buffers() if id(b) not in norms)


def _running_statistics(model, x) -> int:
    """The running means and variances of the batch norms the eval-mode forward pass runs."""
    import torch

    ran = []
    hooks = [m.register_forward_pre_hook(lambda module, args: ran.append(module)) for m in model.modules()
             if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    with torch.no_grad():
        model(x)
    for hook in hooks:
        hook.remove()
    return sum(b.numel() for m in {id(m): m for m in ran}.values() for b in (m.running_mean, m.running_var)
               if b is not None)


def _folded(model, x):
    """The module as the dynamo exporter's optimizer writes it: each batch norm after a
    convolution folded into it, by PyTorch's own fusion (a traced torch.fx.GraphModule); running means set to 0.5 first (a
    trained network's are not zero), so that no folded bias is all zeros, which the
    exporter would drop, and every parameter of zeros (nn.MultiheadAttention's biases) set to
    0.01, for the same reason."""
    import torch
    from torch.fx.experimental.optimization import fuse

    for module in model.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm) and module.running_mean is not None:
            module.running_mean.fill_(0.5)
    with torch.no_grad():
        for parameter in model.parameters():
            if not parameter.any():  # a bias made zero (nn.MultiheadAttention's): a trained one is not
                parameter.fill_(0.01)
    if not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in model.modules()):
        # nothing to fold (Swin: no batch norm), and torch.fx cannot trace a forward whose
        # control flow reads sizes (Swin's shift, off where a window covers the volume)
        return model
    return fuse(model)


def _round_trip(source, tmp_path, *options, dynamo=False):
    """`archcalc export` of ``source`` → PyTorch's count → torch.onnx.export → `show` and
    `import` of the file give PyTorch's figures."""
    torch = need("torch")
    module_path = tmp_path / "model.py"
    done = _run("export", source, "-o", str(module_path), *options)
    assert done.returncode == 0, done.stderr
    spec = importlib.util.spec_from_file_location(f"roundtrip_{tmp_path.name.replace('-', '_')}", module_path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model = module.build().eval()
    # the exported file's own input: (1, C, H, W) floats, or (1, T) token ids
    x = torch.zeros(module.INPUT_SHAPE, dtype=getattr(module, "INPUT_DTYPE", torch.float32))
    params, macs, output = _pytorch_count(_folded(model, x) if dynamo else model, x)
    if dynamo:  # the module before PyTorch's fusion (_folded copies it)
        before = _pytorch_count(model, x)[0], _running_statistics(model, x)

    onnx_path = tmp_path / "model.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if dynamo:  # the default exporter, with its defaults
            torch.onnx.export(model, (x,), str(onnx_path), dynamo=True, verbose=False)
        else:
            torch.onnx.export(model, (x,), str(onnx_path), dynamo=False, do_constant_folding=False)
    shown = _run("show", str(onnx_path), "-f", "json")
    assert _figures(shown) == (params, macs, output)
    if dynamo:
        folds = [d["message"] for d in json.loads(shown.stdout)["diagnostics"] if d["code"] == "folded-batchnorm"]
        if before[1]:  # every batch norm of DYNAMO_SAMPLE follows a convolution, so is folded
            buffers = before[1] + _other_buffers(model)
            assert len(folds) == 1 and f"before folding had {before[0]:,} and {buffers:,}" in folds[0], folds
        else:
            assert not folds

    written = tmp_path / "imported.yaml"
    done = _run("import", str(onnx_path), "-o", str(written))
    assert done.returncode == 0, done.stderr[-2000:]
    checked = _run("validate", str(written), "-f", "json")
    assert json.loads(checked.stdout)["summary"]["errors"] == 0, checked.stdout[-2000:]
    assert _figures(_run("show", str(written), "-f", "json")) == (params, macs, output)
