"""`archcalc export` never turns a spec's text into code (issue #22, item 1).

Names and strings reach the generated module only as escaped string literals
(``add_module("…")``/``getattr(self, "…")``), as identifiers the exporter checks (ASCII,
compared with keywords, builtins and the file's own names after NFKC), or as escaped
docstring text; the kinds' export rules are checked before their code is written. Every
module here is parsed, executed, built on PyTorch's meta device and counted by PyTorch, in
an empty directory that must stay empty."""
from __future__ import annotations

import ast
import json
import os
import tempfile

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from torch_ref import need_torch

CI = os.environ.get("CI") == "true"


def analyse(text: str):
    from archcalc.readers import yaml_ as source
    from archcalc.engine import analyze

    analysis = analyze(source.parse(text, "names.yaml"))
    assert not analysis.errors, [d.message for d in analysis.errors]
    return analysis


def export(text: str) -> str:
    from archcalc.export import export_pytorch

    return export_pytorch(analyse(text))


def run_in_empty_directory(module_text: str):
    """Parse, execute, build on the meta device and run forward, in an empty temporary
    directory; return (parameter count, state_dict keys, output shape). The directory must
    stay empty: nothing the module does may write a file."""
    torch = need_torch()
    ast.parse(module_text)
    here = os.getcwd()
    with tempfile.TemporaryDirectory() as empty:
        os.chdir(empty)
        try:
            namespace = {"__name__": "exported_names"}
            exec(compile(module_text, "<export>", "exec"), namespace)  # noqa: S102 - the test's subject
            with torch.device("meta"):
                net = namespace["build"]()
            y = net(torch.empty(namespace["INPUT_SHAPE"], device="meta"))
        finally:
            os.chdir(here)
        assert os.listdir(empty) == []
    return sum(p.numel() for p in net.parameters()), list(net.state_dict()), tuple(y.shape)


def q(name: str) -> str:
    return json.dumps(name)  # a JSON string is a YAML double-quoted scalar


# -------------------------------------------------------------------------------- examples
INJECTION = 'a", None); open("x", "w"); print("b'

HOSTILE = [
    INJECTION, '"', "\\", "a\nb", "a\rb", "\0", "a\\x41", "'''", '"""', "\x1b[2J", "\x1b]0;t\x07",
    "\u2028", "\u202e", "\x85", "ｓｅｌｆ", "ｆｏｒｗａｒｄ", "ｔｏｒｃｈ", "ｇｅｔａｔｔｒ", "ａ", "__secret",
    "super", "getattr", "torch", "self", "x", "nn", "F", "build", "INPUT_SHAPE", "class", "None",
    "True", "0", "1a", "in_channels", "Stage", "y", "nn.Module".replace(".", "_"), "{m}", "{x}",
]


@pytest.mark.parametrize("name", HOSTILE, ids=[ascii(n) for n in HOSTILE])
def test_a_hostile_layer_name_is_a_string_with_its_exact_state_dict_keys(name):
    # dense 8 → 2: 8·2 + 2 = 18 parameters
    text = export(f"input: [8]\nlayers:\n  - dense: {{name: {q(name)}, units: 2}}\n")
    params, keys, out = run_in_empty_directory(text)
    assert params == 18
    assert keys == [f"{name}.weight", f"{name}.bias"]
    assert out == (1, 2)


@pytest.mark.parametrize("name", HOSTILE, ids=[ascii(n) for n in HOSTILE])
def test_hostile_names_of_scopes_blocks_and_repeats(name):
    # conv 3→4 k1: 3·4 + 4 = 16 (block body), twice in the repeat, conv 4→4 k1: 20 in a
    # branch; 16 + 16 + 20 = 52 … counted below by hand per layer
    spec = f"""input: [4, 4, 3]
blocks:
  {q(name)}:
    layers: [{{conv: {{name: {q(name)}, filters: 4, kernel: 1}}}}]
layers:
  - {q(name)}: {{name: {q(name + "1")}}}
  - parallel:
      name: {q(name + "2")}
      branches:
        - {{name: {q(name)}, layers: [{{conv: {{name: {q(name)}, filters: 4, kernel: 1}}}}]}}
        - []
      merge: add
  - repeat: {{name: {q(name)}, times: 2, layers: [{{conv: {{name: {q(name)}, filters: 4, kernel: 1}}}}]}}
"""
    analysis = analyse(spec)
    from archcalc.export import export_pytorch

    params, keys, out = run_in_empty_directory(export_pytorch(analysis))
    # 16 (block conv 3→4) + 20 (branch conv 4→4) + 2·20 (repeat) = 76
    assert params == 76 == analysis.totals.params
    assert {k.rsplit(".", 1)[0] for k in keys} == {layer.name for layer in analysis.layers if layer.params}
    assert out == (1, 4, 4, 4)


def test_full_width_a_is_not_a():
    # two dense layers 3 → 3 (3·3 + 3 = 12 each): Python folds `self.ａ` into `self.a`, which
    # gave one module of 12 parameters where there are two of 24
    text = export('input: [3]\nlayers:\n  - dense: {name: "a", units: 3}\n  - dense: {name: "ａ", units: 3}\n')
    params, keys, _ = run_in_empty_directory(text)
    assert params == 24
    assert keys == ["a.weight", "a.bias", "ａ.weight", "ａ.bias"]


def test_name_mangled_and_escaped_names_keep_their_keys():
    # `self.__secret` inside a class is `_Net__secret`; "a\\x41" written unescaped is "aA"
    text = export('input: [3]\nlayers:\n  - dense: {name: "__secret", units: 3}\n'
                  "  - dense: {name: 'a\\x41', units: 3}\n")
    _, keys, _ = run_in_empty_directory(text)
    assert keys == ["__secret.weight", "__secret.bias", "a\\x41.weight", "a\\x41.bias"]


@pytest.mark.parametrize("name", ["__init__", "__dict__", "__class__", "__foo__"])
def test_dunder_names_are_a_located_refusal(cli, spec_file, name):
    result = cli("export", spec_file(f"input: [8]\nlayers:\n  - dense: 4\n  - dense: {{name: {name}, units: 2}}\n"))
    assert result.code == 1 and result.out == ""
    assert f":4:5: error[not-exportable] {name}:" in result.err


def test_block_names_that_are_python_words_or_helpers():
    # `none` → `class None` and `true` → `class True` are syntax errors; a block named like
    # the RBF helper class would replace it; `self`/`super` in full-width letters fold to them
    spec = """input: [4, 4, 3]
blocks:
  none: {layers: [{conv: {filters: 2, kernel: 1}}]}
  "true": {layers: [relu]}
  EuclideanRBF: {layers: [relu]}
  ｓｕｐｅｒ: {layers: [relu]}
  F: {layers: [relu]}
layers:
  - none
  - "true"
  - EuclideanRBF
  - ｓｕｐｅｒ
  - F
  - flatten
  - rbf: 3
"""
    text = export(spec)
    tree = ast.parse(text)
    classes = [node.name for node in tree.body if isinstance(node, ast.ClassDef)]
    assert len(classes) == len(set(classes))
    assert "EuclideanRBF" in classes and "None" not in classes and "True" not in classes
    assert "F" not in classes  # `import torch.nn.functional as F`
    params, _, out = run_in_empty_directory(text)
    # conv 3→2 k1: 3·2 + 2 = 8 (trainable); rbf: 4·4·2 = 32 inputs × 3 fixed centres = 96
    assert params == 8 + 96
    assert out == (1, 3)


@pytest.mark.parametrize("arg", ["dim", "float", "self", "super", "getattr", "torch", "nn", "F", "x",
                                 "in_channels", "__w", "None", "Stage"])
def test_block_argument_names_never_rewrite_code(arg):
    """A block argument used in forward (a channel split) is kept as an attribute; renaming
    its uses must not touch `torch.cat(..., dim=1)`, `float("-inf")` or a string."""
    spec = f"""input: [8, 8, 8]
blocks:
  Stage:
    args: {{{arg}: 4}}
    layers:
      - parallel:
          merge: concat
          split: [${arg}, 4]
          branches:
            - [{{conv: {{filters: ${arg}, kernel: 1}}}}]
            - [{{maxpool: {{size: 2, stride: 1, padding: [0, 1, 0, 1]}}}}]
layers:
  - Stage: {{{arg}: 4}}
"""
    text = export(spec)
    assert "dim=1)" in text and 'value=float("-inf")' in text
    params, _, out = run_in_empty_directory(text)
    # conv 4→4 k1: 4·4 + 4 = 20; the output: 4 conv channels + 4 pooled = 8, 8×8
    assert params == 20
    assert out == (1, 8, 8, 8)


def test_docstrings_are_escaped():
    spec = ('input: [4]\ntitle: \'ends with a quote "\'\n'
            'reference: "back\\\\slash \\e[31m \\"\\"\\" and a NUL \\0 at the end\\\\"\n'
            'blocks:\n  b:\n    doc: "\\"\\"\\"); import os  #"\n    layers: [relu]\n'
            "layers:\n  - b\n  - dense: 2\n")
    text = export(spec)
    tree = ast.parse(text)
    module_doc = ast.get_docstring(tree)
    assert "back\\slash" in module_doc and "\x1b" not in text and "\0" not in text
    assert 'ends with a quote "' in module_doc
    block = next(node for node in tree.body if isinstance(node, ast.ClassDef) and node.name == "B")
    assert ast.get_docstring(block) == '"""); import os #'
    assert run_in_empty_directory(text)[0] == 4 * 2 + 2  # dense 4 → 2


def test_a_kind_rule_that_writes_spec_text_as_code_is_refused(monkeypatch):
    """The exporter checks every kind's code: a rule that formats text into it unquoted (as
    a new kind might by mistake) is a located `not-exportable`, not a module that runs it."""
    from archcalc.export import ExportFailed, export_pytorch
    from archcalc.layers import REGISTRY
    from archcalc.layers.base import Torch

    kind = REGISTRY["dropout"]
    monkeypatch.setattr(kind, "export", lambda inp, out, f: Torch('nn.Dropout(0.5), open("x", "w")'))
    analysis = analyse("input: [8]\nlayers:\n  - dense: 4\n  - dropout: 0.5\n")
    with pytest.raises(ExportFailed) as failed:
        export_pytorch(analysis)
    (problem,) = failed.value.diagnostics
    assert problem.code == "not-exportable" and problem.line == 4 and "names 'open'" in problem.message


@pytest.mark.parametrize("module, call, wrong", [
    ("nn.Identity()", "{m}({x}) + __import__('os').getpid()", "names '__import__'"),
    ("nn.Identity(inf)", "{m}({x})", "names 'inf'"),
    ("nn.Identity()", "{m}({x}).__class__", "reads '__class__'"),
    ("nn.Identity()); import os; (1", "{m}({x})", "not one Python expression"),
    ("[i for i in range(3)]", "{m}({x})", "ListComp"),
])
def test_check_torch(module, call, wrong):
    from archcalc.export import check_torch
    from archcalc.layers.base import Torch

    assert wrong in check_torch(Torch(module, call=call), set())


def test_literal_writes_values_as_python():
    from archcalc.layers.base import literal

    assert [ast.literal_eval(literal(v)) for v in ("a\"\\\x1b\n", 0.5, 3, True, None, (1,), ["x", 2])] \
        == ["a\"\\\x1b\n", 0.5, 3, True, None, (1,), ["x", 2]]
    assert literal(float("inf")) == 'float("inf")'


# ------------------------------------------------------------------------- property test
_ARG = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,5}", fullmatch=True) | st.sampled_from(
    ["dim", "float", "self", "super", "getattr", "torch", "nn", "F", "x", "in_channels", "range",
     "None", "True", "class", "forward", "Stage", "__w", "_", "build"])
_NAME = (st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=8)
         | st.sampled_from(HOSTILE)).filter(lambda s: "." not in s and s.strip() == s and s)

TEMPLATE = """input: [4, 4, 3]
blocks:
  {B}:
    args: {{{A}: 2}}
    doc: {D}
    layers:
      - conv: {{name: {L1}, filters: ${A}, kernel: 1}}
      - parallel: {{name: {P}, merge: concat, branches: [[{{conv: {{name: {L2}, filters: 2, kernel: 1}}}}], [{{relu: {{name: {L3}}}}}]]}}
layers:
  - {B}: {{name: {C}, {A}: 2}}
  - repeat: {{name: {R}, times: 2, layers: [{{conv: {{name: {L4}, filters: 3, kernel: 1}}}}]}}
  - flatten: {{name: {L5}}}
  - dense: {{name: {L6}, units: 2}}
"""


@given(names=st.fixed_dictionaries({k: _NAME for k in ("B", "D", "L1", "P", "L2", "L3", "C", "R", "L4",
                                                      "L5", "L6")}), arg=_ARG)
@settings(max_examples=120 if CI else 30, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
def test_random_unicode_names_export_parse_build_and_count(names, arg):
    from archcalc.readers import yaml_ as source
    from archcalc.engine import analyze
    from archcalc.export import ExportFailed, export_pytorch

    spec = TEMPLATE.format(A=arg, **{k: q(v) for k, v in names.items()})
    analysis = analyze(source.parse(spec, "random-names.yaml"))
    assume(not analysis.errors)  # a name the spec itself refuses (a block named like a kind…)
    try:
        text = export_pytorch(analysis)
    except ExportFailed as exc:
        # the only refusal allowed: a name Python or torch.nn reserves, located
        assert all(d.code == "not-exportable" and d.line > 0 for d in exc.diagnostics)
        assert all("attribute of every torch.nn.Module" in d.message or "dunder" in d.message
                   for d in exc.diagnostics), [d.message for d in exc.diagnostics]
        return
    params, keys, out = run_in_empty_directory(text)
    # conv 3→2: 8; branch conv 2→2: 6; relu; concat: 4 channels; repeat conv 4→3: 15, 3→3: 12;
    # flatten 4·4·3 = 48; dense 48→2: 98. 8 + 6 + 15 + 12 + 98 = 139
    assert params == analysis.totals.params == 139
    assert {k.rsplit(".", 1)[0] for k in keys} == {layer.name for layer in analysis.layers if layer.params}
    assert out == (1, 2)
