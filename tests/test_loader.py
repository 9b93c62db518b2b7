"""The loader (archcalc/readers/yaml_.py, archcalc/readers/__init__.py): 1-based marks on the right tokens,
the three layer-entry forms, reading from a path, a built-in name or '-', duplicate keys,
safe loading, and the C loader when libyaml is present.
"""
from __future__ import annotations

import json

import pytest
import yaml
from conftest import analyse_text as analyse
from conftest import locate

import archcalc
from archcalc.readers import yaml_ as source
from archcalc.readers.located import LList, LMap


def summary(analysis):
    """Everything a reader sees of an analysis except source positions."""
    return ([layer.as_dict() for layer in analysis.layers], analysis.totals.as_dict(), analysis.output,
            [(d.code, d.message) for d in analysis.diagnostics])


# -------------------------------------------------------------------------------------- marks
TEXT = """\
name: tiny
input: [8, 8, 3]
layers:
  - conv: {filters: 4, kernel: 3}
  - relu
  - flatten
  -   dense:
        units: 10
"""


def test_marks_are_one_based_and_point_at_their_tokens():
    root = source.parse(TEXT, "tiny.yaml").root
    assert (root.mark.line, root.mark.column) == (1, 1)
    assert tuple(root.key_marks["name"])[1:] == locate(TEXT, "name")
    assert tuple(root.value_marks["name"])[1:] == locate(TEXT, "tiny")
    assert tuple(root.value_marks["input"])[1:] == locate(TEXT, "[8, 8, 3]")
    shape = root["input"]
    assert [tuple(m)[1:] for m in shape.item_marks] == [(2, 9), (2, 12), (2, 15)]  # "input: [8, 8, 3]"
    layers = root["layers"]
    assert [tuple(m)[1:] for m in layers.item_marks] == [locate(TEXT, "conv"), locate(TEXT, "relu"),
                                                         locate(TEXT, "flatten"), locate(TEXT, "dense")]
    conv = layers[0]["conv"]
    assert tuple(conv.key_marks["kernel"])[1:] == locate(TEXT, "kernel")
    assert tuple(conv.value_marks["kernel"])[1:] == locate(TEXT, "3}")
    dense = layers[3]["dense"]
    assert tuple(dense.value_marks["units"])[1:] == locate(TEXT, "10")
    assert all(m.file == "tiny.yaml" for m in root.key_marks.values())


def test_layer_results_carry_the_position_of_their_kind(spec_file):
    a = analyse(spec_file, TEXT)
    assert [(layer.line, layer.column) for layer in a.layers] == [
        locate(TEXT, "conv"), locate(TEXT, "relu"), locate(TEXT, "flatten"), locate(TEXT, "dense")]


def test_first_line_first_column_is_one_one(spec_file):
    text = "bogus: 1\ninput: [4]\nlayers: [relu]\n"
    a = analyse(spec_file, text)
    assert [(d.code, d.line, d.column) for d in a.diagnostics] == [("unknown-field", 1, 1)]


def test_marks_in_a_file_with_a_byte_order_mark_and_crlf(spec_file, tmp_path):
    path = tmp_path / "bom.yaml"
    path.write_bytes(b"\xef\xbb\xbfinput: [4]\r\nlayers:\r\n  - dense: {units: 0}\r\n")
    a = archcalc.analyze(archcalc.load(str(path)))
    # the BOM is not a column; line 3 "  - dense: {units: 0}": the 0 is column 20
    assert [(d.code, d.line, d.column) for d in a.diagnostics] == [("bad-value", 3, 20)]


# ------------------------------------------------------------------------------ entry forms
@pytest.mark.parametrize("forms", [
    ["- relu", "- relu: {}", "- relu: {name: relu1}"],
    ["- dense: 10", "- dense: {units: 10}", "- dense:\n      units: 10"],
    ["- dropout", "- dropout: 0.5", "- dropout: {rate: 0.5}"],
    ["- maxpool: 2", "- maxpool: {size: 2}", "- maxpool: {size: [2, 2], stride: 2}"],
    ["- lrn", "- lrn: 5", "- lrn: {size: 5}"],
    ["- flatten", "- flatten: {}", "- flatten: null"],
])
def test_the_three_entry_forms_give_identical_results(spec_file, forms):
    head = "input: [4, 4, 2]\nlayers:\n  - flatten\n" if "dense" in forms[0] else "input: [4, 4, 2]\nlayers:\n"
    results = [summary(analyse(spec_file, head + "  " + form + "\n")) for form in forms]
    assert results[0][3] == []
    assert all(result == results[0] for result in results[1:])


def test_bare_kind_that_needs_a_field(spec_file):
    text = "input: [4]\nlayers:\n  - dense\n"
    a = analyse(spec_file, text)
    assert [(d.code, d.line, d.column) for d in a.diagnostics] == [("missing-field", 3, 5)]


def test_entry_with_two_keys_is_a_bad_entry(spec_file):
    # the classic indentation slip: the fields sit beside the kind instead of under it
    text = "input: [4]\nlayers:\n  - dense:\n    units: 3\n"
    a = analyse(spec_file, text)
    assert [(d.code, d.line, d.column) for d in a.diagnostics] == [("bad-entry", 3, 5)]
    assert "indent" in a.diagnostics[0].hint


# ------------------------------------------------------------------- where a spec comes from
SMALL = "input: [4]\nlayers: [dense: 3]\n"  # params 4·3 + 3 = 15


def test_path_stdin_and_their_results_agree(cli, spec_file):
    path = spec_file(SMALL)
    from_file = cli("show", path, "--format", "json")
    from_stdin = cli("show", "-", "--format", "json", stdin=SMALL)
    assert (from_file.code, from_file.err) == (0, "")
    assert (from_stdin.code, from_stdin.err) == (0, "")
    file_data, stdin_data = json.loads(from_file.out), json.loads(from_stdin.out)
    assert file_data["totals"]["params"] == stdin_data["totals"]["params"] == 15
    assert file_data["layers"] == stdin_data["layers"]


def test_stdin_diagnostics_name_stdin(cli):
    result = cli("show", "-", "--format", "json", stdin="input: [4]\nlayers: [dense: 0]\n")
    assert result.code == 1 and result.err == "archcalc: 1 error: <stdin>:2:17: [bad-value] dense field " \
        "`units` expects a positive integer, found the integer 0\n"
    [d] = json.loads(result.out)["diagnostics"]
    # "layers: [dense: 0]": the 0 is line 2, column 17
    assert (d["code"], d["file"], d["line"], d["column"]) == ("bad-value", "<stdin>", 2, 17)


@pytest.mark.parametrize("spelling", ["vgg16", "VGG-16", "Vgg_16", "vgg.16"])
def test_built_in_names_ignore_case_and_separators(spelling):
    a = archcalc.analyze(archcalc.load(spelling))
    # VGG-16's published parameter count (torchvision: 138,357,544)
    assert a.totals.params == 138_357_544


def test_missing_file_and_unknown_name_are_usage_errors(cli, tmp_path):
    missing = cli("show", str(tmp_path / "nope.yaml"))
    assert (missing.code, missing.out) == (2, "")
    assert "nope.yaml" in missing.err
    unknown = cli("show", "vgg-1")
    assert (unknown.code, unknown.out) == (2, "")
    assert "did you mean" in unknown.err and "vgg16" in unknown.err


def test_a_directory_is_a_usage_error(cli, tmp_path):
    result = cli("show", str(tmp_path))
    assert (result.code, result.out) == (2, "")
    assert "directory" in result.err


# --------------------------------------------------------------------------- duplicate keys
def test_duplicate_key_in_a_layer_is_located_at_the_second(spec_file):
    text = "input: [4]\nlayers:\n  - dense: {units: 3, bias: true, units: 4}\n"
    a = analyse(spec_file, text)
    [d] = a.errors
    assert d.code == "duplicate-key"
    assert (d.line, d.column) == locate(text, "units", nth=2)
    first = locate(text, "units")
    assert f"line {first[0]}, column {first[1]}" in d.hint


def test_duplicate_top_level_key(spec_file):
    text = "input: [4]\nlayers: [relu]\ninput: [8]\n"
    a = analyse(spec_file, text)
    assert [(d.code, d.line, d.column) for d in a.errors] == [("duplicate-key", 3, 1)]


# ------------------------------------------------------------------------------ safe loading
def test_the_c_loader_is_used_when_libyaml_is_present(monkeypatch):
    seen = []
    real_compose, real_builder = yaml.compose, source._Builder.__init__

    def recording_compose(stream, Loader):
        seen.append(Loader)
        return real_compose(stream, Loader=Loader)

    def recording_builder(self, file, loader):
        seen.append(type(loader))
        real_builder(self, file, loader)

    monkeypatch.setattr(yaml, "compose", recording_compose)
    monkeypatch.setattr(source._Builder, "__init__", recording_builder)
    expected = yaml.CSafeLoader if yaml.__with_libyaml__ else yaml.SafeLoader
    for text in (SMALL, "anchor: &a [1, 2]\nalias: *a\n" + SMALL):  # built from events; composed
        doc = source.parse(text, "x.yaml")
        assert doc.diagnostics == []
        assert len(seen) == 1 and issubclass(seen[0], expected)
        seen.clear()


def _layout(value):
    """A loaded value with every mark, for comparing two loads."""
    if isinstance(value, LMap):
        return ("map", value.mark, [(k, value.key_marks[k], value.value_marks[k], _layout(v))
                                    for k, v in value.items()])
    if isinstance(value, LList):
        return ("list", value.mark, list(value.item_marks), [_layout(v) for v in value])
    return (type(value).__name__, repr(value))


def _both_ways(text):
    """(values built from the events, values from the composed tree): each a layout and the
    diagnostics."""
    import re

    def loaded():
        doc = source.parse(text, "f.yaml")
        return _layout(doc.root), [(d.code, d.line, d.column, d.message, d.hint) for d in doc.diagnostics]

    built = loaded()
    saved = source._ALIAS
    source._ALIAS = re.compile("")  # every text "has an alias": composed, then converted
    try:
        return built, loaded()
    finally:
        source._ALIAS = saved


def test_values_built_from_events_are_the_composed_ones():
    """Without anchors a document is built straight from the parser's events; the composed
    tree (what aliases need) is the reference: the same values, marks and diagnostics, for
    every spec of the zoo and the docs, odd values and tags, and thousands of mutants."""
    import random
    import re

    from conftest import ROOT

    texts = [p.read_text() for p in sorted((ROOT / "specs").rglob("*.yaml"))]
    for page in sorted((ROOT / "docs").glob("*.md")):
        texts += re.findall(r"```yaml\n(.*?)```", page.read_text(), re.DOTALL)
    texts += ["input: !!seq abc\nlayers: [relu]\n", "a: !!map x\n", "a: !!str [1]\n", "a: !custom {b: 1}\nc: 2\n",
              "a: 1\na: {x: [1, !!python/x 2]}\n", "? [a, b]\n: {c: !!int x}\nd: 1\n", "", "# c\n",
              "a: 1\n---\nb: 2\n", "a: 0x1F\nb: 1_000\nc: 1e3\nd: .nan\ne: yes\nf: ~\ng: 2001-01-01\nh: 010\n"
              "i: " + "9" * 30 + "\nj: !!int\n", "x: " + "[" * 250 + "]" * 250 + "\n", "a: [1, 2\n", "a:\n\t- b\n",
              "a: {b: [1, {c: 2}], b: [3]}\n", "? {a: 1}\n: [1, 2, {x: !!float y}]\n"]
    for text in texts:
        built, composed = _both_ways(text)
        assert built == composed, text
    rng = random.Random(7)
    pieces = list("[]{}:,-!?'\"#\n |>") + ["!!int ", "!!str ", "!!map ", "!!seq ", "\t"]
    for text in texts[:120]:
        for _ in range(8):
            chars = list(text)
            for _ in range(rng.randint(1, 4)):
                if not chars:
                    break
                i = rng.randrange(len(chars))
                if rng.random() < 0.4:
                    del chars[i]
                else:
                    chars.insert(i, rng.choice(pieces))
            mutant = "".join(chars)
            built, composed = _both_ways(mutant)
            assert built == composed, mutant


def test_the_pure_python_loader_gives_the_same_marks(monkeypatch):
    with_c = source.parse(TEXT, "t.yaml").root
    monkeypatch.setattr(source, "_loader_class", lambda: yaml.SafeLoader)
    pure = source.parse(TEXT, "t.yaml").root
    assert pure == with_c
    assert pure.key_marks == with_c.key_marks and pure.value_marks == with_c.value_marks
    assert pure["layers"].item_marks == with_c["layers"].item_marks


@pytest.mark.parametrize("text, code, position", [
    ("input: [4\nlayers: [relu]\n", "yaml-syntax", None),
    ("input: !!python/object/apply:os.system [echo]\nlayers: [relu]\n", "forbidden-tag", (1, 8)),
    ("", "empty-file", (1, 1)),
    ("# nothing\n", "empty-file", (1, 1)),
])
def test_unreadable_yaml_is_a_located_diagnostic(spec_file, text, code, position):
    a = analyse(spec_file, text)
    assert code in [d.code for d in a.errors]
    d = next(d for d in a.errors if d.code == code)
    assert d.line >= 1 and d.column >= 1
    if position:
        assert (d.line, d.column) == position


def test_alias_bomb_is_refused(spec_file):
    # 9 levels of 9 aliases: 9^9 ≈ 387 million nodes if expanded
    lines = ['a0: &a0 [x, x, x, x, x, x, x, x, x]']
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 10)]
    a = analyse(spec_file, "\n".join(lines) + "\ninput: [4]\nlayers: [relu]\n")
    assert [d.code for d in a.errors] == ["too-large"]


def test_invalid_utf8_is_located(tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"input: [4]\nlayers: [relu]\n# caf\xe9\n")
    a = archcalc.analyze(archcalc.load(str(path)))
    # the bad byte is on line 3; "# caf" is 5 characters, so column 6
    assert [(d.code, d.line, d.column) for d in a.errors] == [("file-encoding", 3, 6)]
