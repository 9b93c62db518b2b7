"""Property: whatever a valid spec is mutated into, `archcalc validate` answers with located
diagnostics and an exit code in {0, 1, 2} — never a traceback.

Mutations work on the text (lines deleted, duplicated, re-indented, truncated; tokens
replaced by hostile values; random text inserted) and on the structure (a value anywhere
replaced). The spec goes through standard input, so no files are written. Derandomised, so
CI runs the same examples every time.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archcalc.cli import main
from archcalc.diagnostics import CATALOGUE

SPECS = Path(__file__).resolve().parent.parent / "specs"
# small and varied: sequential, LRN/dropout, residual blocks with args, inception with parallel
ZOO = {name: (SPECS / f"{name}.yaml").read_text() for name in ("lenet5", "alexnet", "resnet18", "googlenet")}
ZOO["alexnet-224"] = (SPECS / "examples" / "alexnet-224.yaml").read_text()

HOSTILE_TOKENS = ["0", "-1", "yes", "1.5", "'7'", "null", "[]", "{}", "[1, 2]", "99999999999999999999999",
                  "1e309", "$x", "${a*}", "${1//0}", "*a", "&a x", "!!python/object:os.system",
                  "[[[[", "}", "same", "softmax", "repeat", "{times: 100000000, layers: [relu]}",
                  "conv", "- relu", "\t", "\x00", "\u2028", "é", "~", ":", "- ", "? x"]
SETTINGS = settings(max_examples=150, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def run(text: str):
    result = CliRunner().invoke(main, ["validate", "-", "--format", "json"], input=text.encode("utf-8", "replace"),
                                env={"GITHUB_ACTIONS": "", "NO_COLOR": "1"}, catch_exceptions=True)
    return result


def check(text: str):
    result = run(text)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception  # a traceback: the property failed
    assert result.exit_code in (0, 1, 2), result.exit_code
    assert "Traceback" not in result.stdout
    data = json.loads(result.stdout)
    for entry in data["files"]:
        for d in entry["diagnostics"]:
            assert d["code"] in CATALOGUE, d
            assert d["file"] == "<stdin>", d
            assert d["line"] >= 1 and d["column"] >= 1, d
            assert d["severity"] in ("error", "warning"), d
    return data


@st.composite
def mutated_text(draw):
    text = draw(st.sampled_from(sorted(ZOO)))
    text = ZOO[text]
    for _ in range(draw(st.integers(1, 4))):
        lines = text.split("\n")
        i = draw(st.integers(0, len(lines) - 1))
        op = draw(st.sampled_from(["delete", "duplicate", "indent", "dedent", "token", "insert", "truncate"]))
        if op == "delete":
            del lines[i]
        elif op == "duplicate":
            lines.insert(i, lines[i])
        elif op == "indent":
            lines[i] = " " * draw(st.integers(1, 6)) + lines[i]
        elif op == "dedent":
            lines[i] = lines[i].lstrip()
        elif op == "token":
            tokens = list(re.finditer(r"[A-Za-z0-9_$.]+", lines[i]))
            if tokens:
                m = draw(st.sampled_from(tokens))
                new = draw(st.one_of(st.sampled_from(HOSTILE_TOKENS), st.integers(-10**6, 10**6).map(str)))
                lines[i] = lines[i][: m.start()] + new + lines[i][m.end():]
        elif op == "insert":
            column = draw(st.integers(0, len(lines[i])))
            lines[i] = lines[i][:column] + draw(st.text(max_size=8)) + lines[i][column:]
        text = "\n".join(lines)
        if op == "truncate":
            text = text[: draw(st.integers(0, len(text)))]
    return text


@given(mutated_text())
@SETTINGS
def test_text_mutations_never_crash(text):
    check(text)


JUNK = st.one_of(st.none(), st.booleans(), st.integers(-5, 300), st.floats(allow_nan=True), st.text(max_size=6),
                 st.sampled_from(["$c1", "${c1 + 1}", "same", "valid", "relu", "add", "concat"]),
                 st.lists(st.integers(-2, 300), max_size=5), st.dictionaries(st.sampled_from(
                     ["filters", "kernel", "stride", "padding", "times", "layers", "branches", "name", "expect"]),
                     st.integers(-2, 64), max_size=3))


def _paths(value, path=()):
    yield path
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, path + (key,))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _paths(item, path + (index,))


@st.composite
def mutated_structure(draw):
    tree = yaml.safe_load(ZOO[draw(st.sampled_from(sorted(ZOO)))])
    for _ in range(draw(st.integers(1, 3))):
        paths = [p for p in _paths(tree) if p]
        path = draw(st.sampled_from(paths))
        parent = tree
        for key in path[:-1]:
            parent = parent[key]
        if draw(st.booleans()) or not isinstance(parent, (dict, list)):
            parent[path[-1]] = draw(JUNK)
        else:
            del parent[path[-1]]
    return yaml.safe_dump(tree, sort_keys=False, allow_unicode=True)


@given(mutated_structure())
@SETTINGS
def test_structure_mutations_never_crash(text):
    check(text)


def test_unmutated_zoo_passes_the_same_check():
    """The property's own check accepts the starting points (so it can tell good from bad)."""
    for name, text in ZOO.items():
        data = check(text)
        assert data["summary"]["errors"] == (9 if name == "alexnet-224" else 0), name
