"""Hypothesis strategies for small random specs (as YAML text), for properties that need
valid networks: the PyTorch referee checks that every one of them exports exactly.

``small_specs()`` draws a spec over every leaf kind's fields, with parallel (channel splits too), residual, named
and unnamed repeats and a block with an argument. Many drawn specs have shape errors
(a window larger than its input, branches that cannot merge); properties filter them with
``assume`` after analysing. New kinds add an entry to ``LEAVES``.
"""
from __future__ import annotations

import yaml
from hypothesis import strategies as st

ACTIVATIONS = ("relu", "relu6", "leakyrelu", "tanh", "sigmoid", "softmax", "gelu", "silu", "hardswish", "elu")

pair = st.one_of(st.integers(1, 3), st.lists(st.integers(1, 3), min_size=2, max_size=2))
padding = st.one_of(st.sampled_from(["valid", "same"]), st.integers(0, 2),
                    st.lists(st.integers(0, 2), min_size=2, max_size=2),
                    st.lists(st.integers(0, 2), min_size=4, max_size=4))


def _fields(**strategies):
    """A mapping drawing each optional field or leaving it out."""
    return st.fixed_dictionaries({}, optional=strategies)


conv = st.builds(lambda req, opt: {"conv": {**req, **opt}},
                 st.fixed_dictionaries({"filters": st.sampled_from([1, 2, 3, 4, 6, 8]), "kernel": pair}),
                 _fields(stride=pair, padding=padding, dilation=pair, groups=st.sampled_from([1, 2]),
                         bias=st.booleans(), activation=st.sampled_from(ACTIVATIONS),
                         frozen=st.booleans()))

# a connection table over input channels 0 and 1, one row per filter (a 1-channel input
# rejects it: such draws are filtered out)
table_conv = st.integers(1, 4).flatmap(lambda n: st.builds(
    lambda rows, kernel, opt: {"conv": {"filters": n, "kernel": kernel, "table": rows, **opt}},
    st.lists(st.sampled_from([[0], [1], [0, 1], [1, 0]]), min_size=n, max_size=n), pair,
    _fields(padding=padding, bias=st.booleans(), activation=st.sampled_from(ACTIVATIONS))))

subsample = st.builds(lambda opt: {"subsample": opt},
                      _fields(size=pair, stride=pair, bias=st.booleans(), activation=st.sampled_from(ACTIVATIONS),
                              frozen=st.booleans()))


def _pool(kind):
    return st.builds(lambda req, opt: {kind: {**req, **opt}}, st.fixed_dictionaries({"size": pair}),
                     _fields(stride=pair, padding=padding, ceil=st.booleans()))


LEAVES = [
    conv, conv,
    _pool("maxpool"), _pool("avgpool"),
    st.sampled_from(["batchnorm", "identity", "lrn", "globalavgpool", "globalmaxpool"]),
    st.sampled_from(ACTIVATIONS),
    st.builds(lambda r: {"dropout": r}, st.sampled_from([0, 0.1, 0.5, 1])),
    st.builds(lambda s: {"lrn": s}, st.integers(1, 5)),
    table_conv, subsample,
]
leaf = st.one_of(*LEAVES)


def layer_lists(depth: int, blocks: bool):
    items = [leaf] * 4
    if blocks:
        items.append(st.builds(lambda f: {"unit": {"f": f}}, st.sampled_from([2, 4])))
    if depth > 0:
        inner = layer_lists(depth - 1, blocks)
        items += [
            st.builds(lambda branches, merge: {"parallel": {"branches": branches, "merge": merge}},
                      st.lists(inner, min_size=1, max_size=3), st.sampled_from(["concat", "add"])),
            # channel split: equal parts, or the first branch taking channel 0 alone
            st.builds(lambda branches, merge: {"parallel": {"split": "equal", "branches": branches,
                                                            "merge": merge}},
                      st.lists(inner, min_size=1, max_size=2), st.sampled_from(["concat", "add"])),
            st.builds(lambda first, rest: {"parallel": {"branches": [{"channels": [0, 1], "layers": first},
                                                                     *rest]}},
                      inner, st.lists(inner, min_size=0, max_size=2)),
            st.builds(lambda main, short, frozen: {"residual": {"layers": main, **({"shortcut": short} if short else {}),
                                                                **frozen}},
                      inner, st.one_of(st.none(), inner), _fields(frozen=st.booleans())),
            st.builds(lambda times, body: {"repeat": {"times": times, "layers": body}},
                      st.integers(1, 3), inner),
        ]
    return st.lists(st.one_of(*items), min_size=0, max_size=3)


@st.composite
def small_specs(draw) -> str:
    h = draw(st.integers(3, 16))
    w = draw(st.one_of(st.just(h), st.integers(3, 16)))
    c = draw(st.sampled_from([1, 2, 3, 4]))
    use_block = draw(st.booleans())
    layers = draw(layer_lists(2, use_block)) + draw(layer_lists(1, use_block))
    # name the repeats that should open scopes (r1, r2, …)
    count = 0

    def name_repeats(items):
        nonlocal count
        for item in items:
            if isinstance(item, dict):
                kind, body = next(iter(item.items()))
                if kind == "repeat":
                    if draw(st.booleans()):
                        count += 1
                        body["name"] = f"r{count}"
                    name_repeats(body["layers"])
                elif kind == "parallel":
                    for branch in body["branches"]:
                        name_repeats(branch)
                elif kind == "residual":
                    name_repeats(body["layers"])
                    name_repeats(body.get("shortcut") or [])

    name_repeats(layers)
    if draw(st.booleans()):
        layers += ["flatten", {"dense": {"units": draw(st.integers(1, 10)),
                                         **({"activation": draw(st.sampled_from(ACTIVATIONS))}
                                            if draw(st.booleans()) else {})}}]
        if draw(st.booleans()):
            layers.append({"rbf": draw(st.integers(1, 10))})  # LeNet-5's fixed output units
    if not layers:
        layers = ["identity"]
    spec = {"name": "random", "input": [h, w, c], "layers": layers}
    if use_block:
        spec["blocks"] = {"unit": {"args": {"f": None}, "layers": [
            {"conv": {"filters": "$f", "kernel": 3, "padding": "same", "bias": False}}, "batchnorm", "relu"]}}
    return yaml.safe_dump(spec, sort_keys=False)
