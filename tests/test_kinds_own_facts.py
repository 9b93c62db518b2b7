"""Kinds own every fact about themselves (issue 24): the renderers and the readers name no
kind. They read what a kind declares on its ``LayerKind`` (``explain``, ``describe``,
``group``, ``onnx``, ``aliases``); a new kind is one file plus its tests.

The scan is syntactic: every comparison (``==``, ``!=``, ``in``, ``not in``) in
archcalc/render/ and archcalc/readers/ against a string that is a registered leaf kind's
name is dispatch on that kind; so is comparing a ``kind`` (a variable or an attribute) with
a composite's name. Neither may appear.
"""
from __future__ import annotations

import ast
import pathlib
import re

from archcalc.composites import COMPOSITES
from archcalc.layers import REGISTRY

ROOT = pathlib.Path(__file__).resolve().parent.parent / "archcalc"
SCANNED = sorted([*(ROOT / "render").glob("*.py"), *(ROOT / "readers").glob("*.py")])


def _strings(node) -> list[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return [s for item in node.elts for s in _strings(item)]
    return []


def _is_kind(node) -> bool:
    return isinstance(node, ast.Name) and node.id == "kind" or \
        isinstance(node, ast.Attribute) and node.attr == "kind"


def dispatches(source: str) -> list[tuple[int, str]]:
    """(line, name) of every comparison against a kind's name in ``source``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Compare):
            continue
        operands = [node.left, *node.comparators]
        for i, operand in enumerate(operands):
            for text in _strings(operand):
                others = operands[:i] + operands[i + 1:]
                if text in REGISTRY or text in COMPOSITES and any(_is_kind(o) for o in others):
                    found.append((node.lineno, text))
    return found


def test_the_scan_finds_dispatch_on_a_kind_name():
    # the forms render/explain.py used before the kinds owned their explanations, and the
    # ONNX reader's op chain; a comparison of other words is not dispatch
    assert dispatches('if layer.kind == "conv":\n    pass\n') == [(1, "conv")]
    assert dispatches('x = kind not in ("conv", "maxpool")\n') == [(1, "conv"), (1, "maxpool")]
    assert dispatches('ok = span.kind == "aux"\n') == [(1, "aux")]
    assert dispatches('ok = row[0] == "group" or style == "repeat"\n') == []


def test_render_and_readers_name_no_kind():
    assert len(SCANNED) > 10
    found = {f"{path.relative_to(ROOT.parent)}:{line}: {name}"
             for path in SCANNED for line, name in dispatches(path.read_text(encoding="utf-8"))}
    assert not found, "dispatch on kind names; declare the fact on the kind instead:\n" + "\n".join(sorted(found))


def test_every_onnx_op_a_kind_declares_is_documented():
    doc = (ROOT.parent / "docs" / "import.md").read_text(encoding="utf-8")
    table = doc[doc.index("## Ops followed"):doc.index("## `archcalc import`")]
    for kind in REGISTRY.values():
        for rule in kind.onnx:
            for op in rule.ops:
                assert re.search(rf"\b{op}\b", table), f"{kind.name} reads the ONNX op {op}; docs/import.md does not list it"
            assert f"`{kind.name}`" in table, f"{kind.name} is read from ONNX; docs/import.md does not say so"


def test_one_settings_text():
    """A layer's settings text is written in one place (layers.settings_text): no module but
    the registry calls a kind's ``describe`` on a layer's fields, so the table, Markdown, CSV,
    HTML, the picture, diff and explain cannot drift apart."""
    calls = []
    for path in sorted(ROOT.rglob("*.py")):
        if path == ROOT / "layers" / "__init__.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                    and node.func.attr == "describe" and node.args \
                    and isinstance(node.args[0], ast.Attribute) and node.args[0].attr == "fields":
                calls.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not calls, calls


def test_settings_text_marks_frozen_and_aux_layers(spec_file):
    from archcalc.app import analyse_spec
    from archcalc.layers import settings_text

    spec = spec_file("name: m\ninput: [8, 8, 3]\nlayers:\n  - conv: {filters: 4, kernel: 3, frozen: true}\n"
                     "  - relu\n")
    conv = analyse_spec(str(spec)).layers[0]
    assert settings_text(conv) == "3×3/1, frozen" and settings_text(conv, marks=False) == "3×3/1"
