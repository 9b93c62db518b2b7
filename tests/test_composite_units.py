"""Composites are units, not strings (issue 24): each of repeat, parallel, residual, join and
aux is one module in archcalc/composites/ holding every fact about it (fields, schema,
example, aliases, compile, walk and export rules, whether it is a module, how `import`
writes it), registered in one place; the compiler, the engine, export, the spec writer, the
schema, the vocabulary and the memory ledger ask the unit and name no composite.

The scan is syntactic, over every module of archcalc/ outside archcalc/composites/. Naming a
composite kind there means:

* a comparison (``==``, ``!=``, ``in``, ``not in``) with a composite's name — dispatch;
* a tuple, list or set literal holding two or more composite names, or a dict literal keyed
  by two or more — a hand-kept table of composites (``NOT_MODULES``, "accepted fields per
  composite").

Not counted: a one-key mapping written as spec text (``{"repeat": {...}}`` in a reader or the
spec writer: an entry of the spec language, the way a test writes YAML), and comparisons of
the picture's own tree-node ``type`` and frame ``style`` (a span without branches is drawn
in a frame styled "repeat"; the picture reads spans' structure, not their kind).
"""
from __future__ import annotations

import ast
import pathlib

import yaml

from archcalc.composites import COMPOSITES

ROOT = pathlib.Path(__file__).resolve().parent.parent / "archcalc"
UNITS = ROOT / "composites"
PICTURE_WORDS = ("type", "style")  # the picture's tree-node types and frame styles


def _names(node) -> list[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in COMPOSITES:
        return [node.value]
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return [s for item in node.elts for s in _names(item)]
    return []


def _picture_word(node) -> bool:
    return isinstance(node, ast.Attribute) and node.attr in PICTURE_WORDS or \
        isinstance(node, ast.Name) and node.id in PICTURE_WORDS


def named_composites(source: str) -> list[tuple[int, str]]:
    """(line, name) of every place ``source`` names a composite kind (see the module's doc)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            for i, operand in enumerate(operands):
                others = operands[:i] + operands[i + 1:]
                if any(_picture_word(o) for o in others):
                    continue
                found += [(node.lineno, name) for name in _names(operand)]
        elif isinstance(node, (ast.Tuple, ast.List, ast.Set)):
            names = _names(node)
            if len(names) >= 2:
                found += [(node.lineno, name) for name in names]
        elif isinstance(node, ast.Dict):
            names = [n for key in node.keys if key is not None for n in _names(key)]
            if len(names) >= 2:
                found += [(node.lineno, name) for name in names]
    return sorted(set(found))


def test_the_scan_finds_a_composite_named():
    # the forms the six files used before the composites were units
    assert named_composites('if node.kind == "repeat":\n    pass\n') == [(1, "repeat")]
    assert named_composites('ok = kind not in ("parallel", "repeat", "residual")\n') == \
        [(1, "parallel"), (1, "repeat"), (1, "residual")]
    assert named_composites('NOT_MODULES = ("parallel", "residual", "aux")\n') == \
        [(1, "aux"), (1, "parallel"), (1, "residual")]
    assert named_composites('accepted = {"repeat": ("times",), "join": ("from",)}[kind]\n') == \
        [(1, "join"), (1, "repeat")]
    assert named_composites('ok = _kind_of(entries[j])[0] != "parallel"\n') == [(1, "parallel")]
    # spec text written by a reader, the picture's own words, other strings: not naming a kind
    assert named_composites('entry = {"residual": {"layers": []}}\n') == []
    assert named_composites('ok = node.type == "repeat" or frame.style != "repeat"\n') == []
    assert named_composites('ok = word == "group" and label == "shortcut"\n') == []


def test_no_module_outside_the_units_names_a_composite():
    scanned = [p for p in sorted(ROOT.rglob("*.py")) if UNITS not in p.parents]
    assert len(scanned) > 50
    found = {f"{path.relative_to(ROOT.parent)}:{line}: {name}"
             for path in scanned for line, name in named_composites(path.read_text(encoding="utf-8"))}
    assert not found, "a composite named by string; declare the fact on its unit in " \
        "archcalc/composites/ instead:\n" + "\n".join(sorted(found))


def test_every_unit_module_is_registered_once():
    modules = {p.stem for p in UNITS.glob("*.py")} - {"__init__", "base", "block"}
    assert modules == set(COMPOSITES), "a module in archcalc/composites/ that the registry does not list"
    for name, unit in COMPOSITES.items():
        assert unit.name == name
        assert set(unit.required) <= set(unit.fields), name


def test_each_example_is_an_entry_its_unit_accepts():
    """The example a "expects a mapping" hint shows is a mapping of fields the unit accepts,
    holding every required one."""
    from archcalc.compiler import COMMON_KEYS

    for name, unit in COMPOSITES.items():
        example = yaml.safe_load(unit.example)
        assert isinstance(example, dict), name
        assert set(example) <= set(unit.fields) | set(COMMON_KEYS), name
        assert set(unit.required) <= set(example), name


def test_the_schema_is_the_units(capsys):
    from archcalc.schema import build_schema

    schema = build_schema()["definitions"]["composites"]
    assert list(schema) == list(COMPOSITES)
    for name, unit in COMPOSITES.items():
        assert schema[name]["description"] == unit.doc
        properties = set(schema[name]["properties"])
        assert set(unit.fields) <= properties, name
        assert set(schema[name]["required"]) == set(unit.required), name
