"""Hostile numbers, nesting and misleading messages (issue 10, items 1-4, 17, 18).

Every test names the item it guards. Expected locations are found in the spec text with
``locate``; limits are archcalc.limits' documented constants (README "Promises and limits").
"""
from __future__ import annotations

import json
import re

import pytest

from archcalc import limits
from tests.conftest import locate

# every command and format a spec goes through (diff compares the spec with itself)
COMMANDS = [
    ("validate", "--format", "parsable"),
    ("show",),
    ("show", "--format", "json"),
    ("show", "--format", "markdown"),
    ("show", "--format", "csv"),
    ("show", "--chart"),
    ("show", "--memory", "--rf"),
    ("explain",),
    ("diff",),
]


def run_everywhere(cli, path):
    for command in COMMANDS:
        args = [command[0], path, *command[1:]]
        if command[0] == "diff":
            args = ["diff", path, path]
        result = cli(*args)
        assert "internal error" not in result.err and "Traceback" not in result.out + result.err, (args, result)
        yield command, result


NAN = """input: [8, 8, 3]
layers:
  - conv: {filters: .nan, kernel: 3}
  - conv: {filters: 4, kernel: .inf}
  - dropout: -.inf
"""


def test_item1_nan_and_inf_are_located_errors_in_every_command(cli, spec_file):
    path = spec_file(NAN)
    where = {locate(NAN, ".nan"), locate(NAN, ".inf"), locate(NAN, "-.inf")}
    for command, result in run_everywhere(cli, path):
        assert result.code == 1, (command, result)
    result = cli("validate", path, "--format", "json")
    found = {(d["line"], d["column"]) for d in json.loads(result.out)["files"][0]["diagnostics"]
             if d["code"] == "bad-value"}
    assert found == where


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_item1_a_nan_file_does_not_abort_a_directory(cli, tmp_path, jobs):
    (tmp_path / "a-nan.yaml").write_text(NAN)
    (tmp_path / "b-good.yaml").write_text("input: [8]\nlayers: [dense: 4]\n")
    (tmp_path / "c-bad.yaml").write_text("input: [8]\nlayers: [dense: 0]\n")
    result = cli("validate", tmp_path, "--format", "json", "--jobs", jobs)
    files = {entry["file"].rsplit("/", 1)[-1]: entry for entry in json.loads(result.out)["files"]}
    assert result.code == 1
    assert [d["code"] for d in files["a-nan.yaml"]["diagnostics"]] == ["bad-value"] * 3
    assert files["b-good.yaml"]["diagnostics"] == []
    assert [d["code"] for d in files["c-bad.yaml"]["diagnostics"]] == ["bad-value"]


# 10^400, more digits than Python converts (4,300), a long hexadecimal literal, 10^18 + 1
HUGE = {"10^400": "1" + "0" * 400, "4301 digits": "7" * 4301, "hex": "0x" + "f" * 4000,
        "one past the limit": str(10**18 + 1), "base 60": ":".join(["59"] * 500)}


@pytest.mark.parametrize("literal", sorted(HUGE))
def test_item2_huge_integer_literals_are_located_errors(cli, spec_file, literal):
    text = f"input: [8, 8, 3]\nlayers:\n  - conv: {{filters: {HUGE[literal]}, kernel: 3}}\n"
    path = spec_file(text)
    for command, result in run_everywhere(cli, path):
        assert result.code == 1, (command, result)
    result = cli("validate", path, "--format", "parsable")
    assert f":{3}:{locate(text, HUGE[literal])[1]}: [error] number-too-large " in result.out


def test_item2_the_limit_itself_is_accepted(cli, spec_file):
    # 10^18 is inside the documented bound: a (silly) dense layer of 10^18 units is analysed
    # exactly: 8·10^18 + 10^18 = 9·10^18 parameters
    result = cli("show", spec_file("input: [8]\nlayers: [dense: 1000000000000000000]\n"), "--format", "json")
    assert result.code == 0 and json.loads(result.out)["totals"]["params"] == 9 * 10**18


def test_item2_computed_dimensions_are_bounded(cli, spec_file):
    # two identity branches concatenated double 6·10^17 channels to 1.2·10^18 > 10^18
    text = "input: [1, 1, 600000000000000000]\nlayers:\n  - parallel: {branches: [[], []]}\n"
    result = cli("validate", spec_file(text), "--format", "parsable")
    assert result.code == 1 and f":3:5: [error] too-large " in result.out, result.out


@pytest.mark.parametrize("args", [
    ("show", "lenet5", "--input", "9" * 400),
    ("show", "lenet5", "--input", "9" * 400, "--format", "json"),   # the fast path
    ("show", "lenet5", "--input", "٣x٣x٣"),                          # item 18: ASCII digits only
    ("show", "lenet5", "--input", "٣x٣x٣", "--format", "json"),
    ("show", "lenet5", "--batch", "1" + "0" * 400, "--memory"),
    ("show", "lenet5", "--batch", "٣"),
    ("show", "lenet5", "--depth", "9" * 30),
    ("validate", "lenet5", "--max-params", "infG"),
    ("validate", "lenet5", "--max-params", "nan"),
    ("validate", "lenet5", "--max-macs", "1e999999999"),
    ("validate", "lenet5", "--jobs", "9" * 40),
    ("explain", "lenet5", "--batch", "9" * 400),
])
def test_item2_command_line_integers_are_bounded(cli, args):
    result = cli(*args)
    assert result.code == 2 and result.out == "", result
    assert "internal error" not in result.err and ("Error: Invalid value" in result.err
                                                   or result.err.startswith("archcalc: error:")), result


@pytest.mark.parametrize("budget", ["infG", "nan", ".inf", "1e400", str(10**19)])
def test_item2_expect_budgets_are_bounded(cli, spec_file, budget):
    text = f"input: [8]\nlayers: [dense: 2]\nexpect: {{max_params: {budget}}}\n"
    result = cli("validate", spec_file(text), "--format", "parsable")
    line, column = locate(text, budget)
    assert result.code == 1 and f":{line}:{column}: [error] " in result.out, result.out


def test_item3_expression_bombs_are_refused_at_the_first_value_too_large(run_process, tmp_path):
    # an 18-digit argument multiplied by itself 300 times: refused at the first product
    factors = "*".join(["x"] * 300)
    text = (f"input: [8]\nblocks:\n  b:\n    args: {{x: {'9' * 18}}}\n    layers: [dense: \"${{{factors}}}\"]\n"
            "layers: [b]\n")
    path = tmp_path / "bomb.yaml"
    path.write_text(text)
    result = run_process("validate", path, "--format", "parsable", timeout=20)
    line, column = locate(text, '"${')
    assert result.code == 1 and f":{line}:{column}: [error] bad-expression " in result.out
    assert "limit of 10^18" in result.out and len(result.out) < 2000  # the message is short, too


def test_item3_long_expressions_are_refused(cli, spec_file):
    text = "input: [8]\nblocks:\n  b: {args: {x: 1}, layers: [dense: \"${" + "+".join(["x"] * 2000) + "}\"]}\nlayers: [b]\n"
    result = cli("validate", spec_file(text), "--format", "parsable")
    assert result.code == 1 and "characters (limit 1,000)" in result.out


@pytest.mark.parametrize("nesting", ["(" * 400 + "x" + ")" * 400, "-" * 2000 + "x"])
def test_item4_deep_expressions_are_located_and_keep_other_diagnostics(cli, spec_file, nesting):
    text = (f"input: [8]\nblocks:\n  b: {{args: {{x: 1}}, layers: [dense: \"${{{nesting}}}\"]}}\n"
            "layers:\n  - b\n  - dense: 0\n")
    path = spec_file(text)
    result = cli("validate", path, "--format", "parsable")
    expression, zero = locate(text, '"${'), locate(text, "dense: 0")
    assert result.code == 1
    assert f":{expression[0]}:{expression[1]}: [error] bad-expression " in result.out
    assert f":{zero[0]}:{zero[1] + len('dense: ')}: [error] bad-value " in result.out
    assert "nests too deeply" not in result.out
    result = cli("show", path, "--format", "json")
    codes = [d["code"] for d in json.loads(result.out)["diagnostics"]]
    assert result.code == 1 and codes == ["bad-expression", "bad-value"]
    result = cli("show", path)
    assert result.code == 1 and "internal" not in result.err and "nests too deeply" not in result.err


# ----------------------------------------------------------------- item 17: right messages
def test_item17_many_plain_lines_are_not_blamed_on_aliases(run_process, tmp_path):
    path = tmp_path / "plain.yaml"
    text = "input: [8]\nlayers:\n" + "- relu\n" * 1_000_100  # 7 MB: within the 8 MiB of a file
    path.write_text(text)
    result = run_process("validate", path, "--format", "parsable", timeout=180)  # a hang guard
    assert result.code == 1 and "] too-large " in result.out
    assert "alias" not in result.out
    line = int(re.search(r":(\d+):\d+: \[error\] too-large", result.out).group(1))
    # the limit is passed at node 1,000,001: six nodes come first (the top mapping, `input`, its
    # list and 8, `layers` and its list), then relu number k is node 6 + k, on line 2 + k
    assert limits.MAX_NODES == 1_000_000
    assert line == 2 + (limits.MAX_NODES + 1 - 6), result.out


def test_an_honest_spec_of_100000_literal_layers_is_accepted(run_process, tmp_path):
    """Not a bomb: 100,000 layers written out one by one (no alias, no repeat), 366,674 YAML
    nodes, are analysed by validate and show."""
    unit = ("  - conv: {filters: 16, kernel: 3, padding: 1}\n", "  - batchnorm\n", "  - relu\n")
    path = tmp_path / "literal.yaml"
    path.write_text("input: [32, 32, 16]\nlayers:\n" + "".join(unit[i % 3] for i in range(100_000)))
    result = run_process("validate", path, "--format", "parsable", timeout=300)  # a hang guard
    assert (result.code, result.out) == (0, "1 file checked: 0 errors, 0 warnings\n")
    result = run_process("show", path, "--format", "json", timeout=300)
    totals = json.loads(result.out)["totals"]
    # 33,334 convs of 16·16·3·3 + 16 = 2,320 params, 33,333 batchnorms of 2·16 = 32 params
    # (and 32 buffers each), 33,333 relus: 77,334,880 + 1,066,656 = 78,401,536 params
    assert (result.code, totals["layers"], totals["params"], totals["buffers"]) == \
        (0, 100_000, 78_401_536, 33_333 * 32)


def test_item17_an_alias_inside_its_own_anchor(cli, spec_file):
    text = "input: [8]\nlayers: &a [relu, *a]\n"
    result = cli("validate", spec_file(text), "--format", "parsable")
    assert result.code == 1 and "nest" not in result.out
    assert f":2:{locate(text, '*a')[1]}: [error] bad-value the alias *a refers to the collection" in result.out


def test_item17_a_long_chain_of_blocks_is_not_called_recursion(cli, spec_file):
    text = "input: [8]\nblocks:\n" + "".join(f"  b{i}: {{layers: [b{i + 1}]}}\n" for i in range(100)) \
        + "  b100: {layers: [relu]}\nlayers: [b0]\n"
    result = cli("validate", spec_file(text), "--format", "parsable")
    problems = [line for line in result.out.splitlines() if ": [" in line]
    assert result.code == 1 and len(problems) == 1, result.out  # no false unused-block warnings
    assert "] too-large blocks call blocks more than 64 deep" in problems[0]
    assert "reaches itself" not in result.out


def test_item17_brackets_in_strings_and_comments_are_not_nesting(cli, spec_file):
    text = f"input: [8]\ntitle: \"{'[' * 250}\"\n# {'{' * 300}\nlayers: [relu]\n"
    result = cli("validate", spec_file(text), "--format", "parsable")
    assert (result.code, result.out) == (0, "1 file checked: 0 errors, 0 warnings\n")


def test_item17_symlink_loops_and_dangling_links_say_so(cli, tmp_path):
    (tmp_path / "loop1.yaml").symlink_to(tmp_path / "loop2.yaml")
    (tmp_path / "loop2.yaml").symlink_to(tmp_path / "loop1.yaml")
    (tmp_path / "dangling.yaml").symlink_to(tmp_path / "gone.yaml")
    result = cli("show", tmp_path / "loop1.yaml")
    assert result.code == 2 and "symbolic links form a loop" in result.err and "built-in" not in result.err
    result = cli("show", tmp_path / "dangling.yaml")
    assert result.code == 2 and "which does not exist" in result.err and "built-in" not in result.err


def test_item17_explain_layer_shows_the_spec_errors(cli, spec_file):
    text = "input: [8]\nlayers:\n  - dense: {units: .nan}\n  - relu: {name: act}\n"
    result = cli("explain", spec_file(text), "act")
    assert result.code == 1
    assert "the number .nan is not finite" in result.out
    assert "no layer named 'act'; the spec has errors" in result.err


def test_item17_several_documents_are_named_as_such(cli, spec_file):
    text = "input: [8]\nlayers: [relu]\n---\ninput: [9]\n"
    result = cli("validate", spec_file(text), "--format", "parsable")
    assert result.code == 1 and ":3:1: [error] yaml-syntax the file holds more than one YAML document" in result.out
    assert "indentation" not in result.out


# ----------------------------------------------------------------- item 18: encodings
@pytest.mark.parametrize("args", [("show", "alexnet"), ("show", "alexnet", "--chart"), ("explain", "alexnet", "conv1"),
                                  ("validate", "specs/examples/alexnet-224.yaml"), ("show", "lenet5", "-f", "markdown"),
                                  ("diff", "alexnet", "vgg16")])
def test_item18_an_ascii_terminal_gets_ascii_notation(run_process, args):
    result = run_process(*args, env={"PYTHONIOENCODING": "ascii"})
    assert result.code in (0, 1) and result.err == "", result
    assert result.out.isascii() and "Traceback" not in result.out
    if args[0] in ("show", "explain") and "--chart" not in args:
        assert "55x55x96" in result.out or "28x28x6" in result.out


@pytest.mark.parametrize("value, code, words", [
    ("!!int abc", "bad-value", "'abc' is tagged !!int but is not an integer"),
    ('!!int ""', "bad-value", "'' is tagged !!int but is not an integer"),
    ("!!int " + "9" * 30, "number-too-large", "beyond archcalc's limit of 10^18"),
])
def test_a_tagged_integer_that_is_not_one_says_so(cli, spec_file, value, code, words):
    """`!!int abc` is not a number, not a number too large (found by the YAML reader's fuzzing)."""
    text = f"name: x\ninput: [8]\nlayers:\n  - dense: {{units: {value}}}\n"
    result = cli("validate", spec_file(text), "--format", "json")
    found = json.loads(result.out)["files"][0]["diagnostics"]
    assert result.code == 1 and [(d["code"], d["line"], d["column"]) for d in found] == [(code, 4, 20)]
    assert words in found[0]["message"]
