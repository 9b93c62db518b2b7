"""PyTorch referees archcalc's numbers.

Every valid spec the project knows (tests/corpus.py: the built-ins, specs/, the specs in the
tests and docs) and random small specs (tests/strategies.py) are exported with
`archcalc export`, the module is imported and built on the meta device (no weight memory),
`forward` runs on a meta tensor of the spec's input (batch 1), and PyTorch's own counts
must equal archcalc's JSON exactly:

* parameters: the sum of ``numel`` over ``parameters()``, and over those that require
  gradients for ``trainable_params``;
* buffers: batch-norm running mean and variance (``num_batches_tracked`` is not counted);
* every leaf layer's output shape, from forward hooks on the modules named like the layers
  (NCHW turned into archcalc's HWC);
* MACs: ``torch.utils.flop_counter.FlopCounterMode``'s total ÷ 2 (attention through the
  math kernel and the MHA fast path off, since fused kernels are not counted);
* the network's output shape.

Without torch these tests skip with the reason (``pip install torch`` runs them); with
``CI=true`` a missing torch fails them.
"""
from __future__ import annotations

import os
import warnings

import pytest
from hypothesis import HealthCheck, assume, given, settings

import corpus
from strategies import small_specs

CI = os.environ.get("CI") == "true"
try:
    import torch
except ImportError:  # pragma: no cover - depends on the machine
    torch = None
    if not CI:
        warnings.warn("torch is not installed: the PyTorch referee (tests/test_referee.py) is skipped; "
                      "`pip install torch` runs it", stacklevel=1)

# Exporting is linear in the layers, but building and running a module with tens of
# thousands of layers costs PyTorch seconds: such specs (stress tests of the engine) stay
# with the engine's own tests.
MAX_LAYERS = 3000


@pytest.fixture(autouse=True)
def _needs_torch():
    if torch is None:
        if CI:
            pytest.fail("torch is not installed, and CI must run the PyTorch referee "
                        "(.ci/run installs torch==2.13.0)")
        pytest.skip("torch is not installed: `pip install torch` runs the PyTorch referee")


_MODULES: dict[str, dict] = {}


def exported(key: str, analysis) -> dict:
    """The exported module's namespace, executed once per spec and kept for the session."""
    namespace = _MODULES.get(key)
    if namespace is None:
        from archcalc.export import export_pytorch

        text = export_pytorch(analysis)
        namespace = {"__name__": f"exported_{len(_MODULES)}"}
        exec(compile(text, f"<export of {key}>", "exec"), namespace)  # noqa: S102 - our own output
        _MODULES[key] = namespace
    return namespace


def _hwc(shape) -> tuple:
    """PyTorch's per-sample shape in archcalc's order: (C, H, W) -> (H, W, C)."""
    shape = tuple(shape)
    return (shape[1], shape[2], shape[0]) if len(shape) == 3 else shape


def measure(namespace, training: bool = False) -> dict:
    """What PyTorch counts for the exported network, on the meta device (in eval mode; in
    training mode to see auxiliary heads run)."""
    from torch.utils.flop_counter import FlopCounterMode

    with torch.device("meta"):
        net = namespace["build"]()
    net.train(training)
    if training:
        # PyTorch refuses to batch-normalise one value per channel in training mode (batch 1 on
        # a 1x1 map, as Inception-v3's aux head has): batch norms use their running statistics
        # instead, which changes no shape and no count
        for module in net.modules():
            if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
                module.eval()
    outputs: dict[str, tuple] = {}
    # every module is hooked: a layer may be a module with parts (LeNet-5's subsampling)
    for name, module in net.named_modules():
        # nn.MultiheadAttention returns (output, weights): its output is the first
        module.register_forward_hook(lambda m, args, out, name=name: outputs.__setitem__(
            name, _hwc((out[0] if isinstance(out, tuple) else out).shape[1:])))
    # token ids are integers (INPUT_DTYPE); images and features are floats
    x = torch.empty(namespace["INPUT_SHAPE"], dtype=namespace.get("INPUT_DTYPE", torch.float32), device="meta")
    contexts = []
    try:
        from torch.nn.attention import SDPBackend, sdpa_kernel

        contexts.append(sdpa_kernel(SDPBackend.MATH))
    except ImportError:  # pragma: no cover - older torch
        pass
    fastpath = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            for context in contexts:
                context.__enter__()
            try:
                y = net(x)
            finally:
                for context in reversed(contexts):
                    context.__exit__(None, None, None)
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)
    return {
        "params": sum(p.numel() for p in net.parameters()),
        "trainable_params": sum(p.numel() for p in net.parameters() if p.requires_grad),
        "buffers": sum(b.numel() for name, b in net.named_buffers() if not name.endswith("num_batches_tracked")),
        "macs": counter.get_total_flops() // 2,
        "output": _hwc(y.shape[1:]),
        "leaves": outputs,
        "state": {key: tuple(value.shape) for key, value in net.state_dict().items()
                  if not key.endswith("num_batches_tracked")},
    }


def disagreements(analysis, measured) -> list[str]:
    t = analysis.totals
    problems = [f"{what}: PyTorch {measured[what]:,}, archcalc {ours:,}"
                for what, ours in (("params", t.params), ("trainable_params", t.trainable_params),
                                   ("buffers", t.buffers), ("macs", t.macs))
                if measured[what] != ours]
    if measured["output"] != tuple(analysis.output):
        problems.append(f"output: PyTorch {measured['output']}, archcalc {tuple(analysis.output)}")
    for layer in analysis.layers:
        if layer.aux:  # an auxiliary head runs in training only: see aux_disagreements
            continue
        got = measured["leaves"].get(layer.name)
        if got is None and layer.name in measured["state"]:
            # a layer exported as a bare parameter of its name (layerscale: torchvision's
            # `layer_scale`) has no module to hook: its tensor must hold the layer's params
            numel = 1
            for size in measured["state"][layer.name]:
                numel *= size
            if numel != layer.params:
                problems.append(f"{layer.name}: parameter of {numel:,} values, archcalc {layer.params:,}")
        elif got is None:
            problems.append(f"{layer.name}: no PyTorch module of that name ran")
        elif got != tuple(layer.output):
            problems.append(f"{layer.name}: PyTorch {got}, archcalc {tuple(layer.output)}")
    names = {layer.name for layer in analysis.layers}

    def owner(key):  # the layer a state_dict key belongs to: the longest name it starts with
        parts = key.split(".")
        return key in names or any(".".join(parts[:i]) in names for i in range(len(parts) - 1, 0, -1))

    strays = [key for key in measured["state"] if not owner(key)]
    if strays:
        problems.append(f"state_dict keys that follow no layer name: {strays[:3]}")
    return problems


def aux_disagreements(analysis, namespace) -> list[str]:
    """In training mode the auxiliary heads run too: PyTorch's MACs are the forward total
    plus `aux_macs`, and every head layer's output is archcalc's."""
    t = analysis.totals
    if not any(layer.aux for layer in analysis.layers):
        return []
    measured = measure(namespace, training=True)
    problems = [] if measured["macs"] == t.macs + t.aux_macs else \
        [f"macs in training: PyTorch {measured['macs']:,}, archcalc {t.macs:,} + aux {t.aux_macs:,}"]
    for layer in analysis.layers:
        got = measured["leaves"].get(layer.name)
        if layer.aux and got != tuple(layer.output):
            problems.append(f"{layer.name} (aux): PyTorch {got}, archcalc {tuple(layer.output)}")
    return problems


_MEASURED: dict[str, dict] = {}  # key -> what PyTorch counted, for the checks that follow


def referee(key: str, doc, layers: int, given=None) -> list[str]:
    from archcalc.engine import analyze

    if layers > MAX_LAYERS:
        pytest.skip(f"{layers:,} layers: beyond the referee's {MAX_LAYERS:,}-layer budget")
    analysis = analyze(doc, input_shape=given)
    assert not analysis.errors and analysis.output is not None
    from math import prod

    biggest = max([analysis.totals.params, prod(analysis.input)] + [prod(layer.output) for layer in analysis.layers])
    if biggest * 8 >= 2 ** 63:
        pytest.skip(f"a tensor of {biggest:,} values: beyond what PyTorch can address (2^63 bytes)")
    from archcalc.export import ExportFailed

    try:
        namespace = exported(key, analysis)
    except ExportFailed as exc:
        missing = sorted({d.message.split(" has no PyTorch form")[0] for d in exc.diagnostics
                          if " has no PyTorch form in archcalc export" in d.message})
        if missing:  # loud, not silent: the summary lists it until the kind gains its rule
            pytest.xfail(f"kinds without an export rule yet: {', '.join(missing)}")
        # a spec written to show that export refuses a name (docs/diagnostics.md's
        # not-exportable); every kind must export, so nothing else may refuse
        assert {d.code for d in exc.diagnostics} == {"not-exportable"}
        assert all("attribute of every torch.nn.Module" in d.message for d in exc.diagnostics), \
            [d.message for d in exc.diagnostics]
        pytest.skip("not exportable, as intended: " + "; ".join(d.message for d in exc.diagnostics))
    measured = _MEASURED[key] = measure(namespace)
    return disagreements(analysis, measured) + aux_disagreements(analysis, namespace)


SPECS = corpus.valid()


@pytest.mark.parametrize("key, doc, layers, given", SPECS, ids=[key for key, *_ in SPECS])
def test_pytorch_agrees(key, doc, layers, given):
    assert referee(key, doc, layers, given) == []


def test_the_corpus_holds_the_builtins_and_the_spec_files():
    """The collection cannot quietly lose what it must cover: every built-in and every file
    under specs/ is refereed."""
    from archcalc.readers import zoo

    texts = {doc.text for _, doc, *_ in SPECS}
    for name in corpus.builtins():
        with open(zoo.find(name), encoding="utf-8") as f:
            assert f.read() in texts, name
    for path in corpus.spec_files():
        assert path.read_text(encoding="utf-8") in texts, path
    assert len([key for key, *_ in SPECS if not key.startswith(("builtin:", "file:"))]) >= 20


@given(small_specs())
@settings(max_examples=300 if CI else 40, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                 HealthCheck.data_too_large])
def test_pytorch_agrees_on_random_specs(text):
    from archcalc.readers import yaml_ as source
    from archcalc.engine import analyze

    doc = source.parse(text, "random.yaml")
    analysis = analyze(doc)
    assume(not analysis.errors and analysis.output is not None)
    from archcalc.export import ExportFailed, export_pytorch

    try:
        module_text = export_pytorch(analysis)
    except ExportFailed as exc:
        # A located refusal for settings PyTorch has no exact form of (ceil mode with padding
        # beyond half the window) is documented behaviour, not a disagreement: such a draw is
        # rejected. A kind without an export rule still fails here.
        missing_rule = any(" has no PyTorch form" in d.message for d in exc.diagnostics)
        assume(missing_rule or {d.code for d in exc.diagnostics} != {"not-exportable"})
        raise
    namespace: dict = {"__name__": "random_export"}
    exec(compile(module_text, "<random export>", "exec"), namespace)  # noqa: S102
    assert disagreements(analysis, measure(namespace)) == [], text


# torchvision's model name for the built-ins taken from torchvision: the same name, except the
# two whose plain names are the lecture's versions. The lecture's own alexnet, vgg16, vgg19
# and googlenet keep the lecture's layer names.
FIXTURES = corpus.ROOT / "tests" / "fixtures" / "torchvision"
LECTURE = {"alexnet", "googlenet", "vgg16", "vgg19"}
TORCHVISION = {name: {"alexnet-tv": "alexnet", "googlenet-tv": "googlenet"}.get(name, name)
               for name in corpus.builtins() if name not in LECTURE}
TORCHVISION = {name: tv for name, tv in TORCHVISION.items() if (FIXTURES / f"{tv}.json").exists()}


def test_the_torchvision_builtins_include_the_resnets():
    assert {"resnet18", "resnet34", "resnet50", "resnet101", "resnet152"} <= set(TORCHVISION)


@pytest.mark.parametrize("name", sorted(TORCHVISION))
def test_torchvision_weights_load_into_the_export(name):
    """The exported built-in's state_dict has torchvision's keys and shapes (recorded from
    torchvision 0.29.1 in tests/fixtures/torchvision), so `load_state_dict(strict=True)` takes
    torchvision's pretrained weights."""
    import json

    from archcalc import readers

    fixture = json.loads((FIXTURES / f"{TORCHVISION[name]}.json").read_text(encoding="utf-8"))
    key = next((k for k, doc, *_ in SPECS if doc.text == readers.load_spec(name).text), None)
    assert key is not None, name
    if key not in _MEASURED:
        entry = next(e for e in SPECS if e[0] == key)
        referee(*entry)
    ours = _MEASURED[key]["state"]
    theirs = {k: tuple(shape) for k, shape in fixture["state_dict"] if not k.endswith("num_batches_tracked")}
    assert sorted(set(theirs) - set(ours))[:5] == [] and sorted(set(ours) - set(theirs))[:5] == []
    assert {k: v for k, v in ours.items() if theirs[k] != v} == {}
