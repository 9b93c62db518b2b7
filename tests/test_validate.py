"""`archcalc validate`: the 224/227 story, every check located, formats, budgets, paths, hook.

Expected locations are found by searching the spec text for a token (``at``), never taken
from archcalc's output; expected numbers are worked out by hand in the comments.
"""
from __future__ import annotations

import json
import re
import shlex
import sys
from pathlib import Path

import pytest
import yaml
from conftest import locate as at

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"
ALEXNET_224 = SPECS / "examples" / "alexnet-224.yaml"


def diagnostics_of(cli, path, *options):
    result = cli("validate", path, "--format", "json", *options)
    assert result.err == ""
    data = json.loads(result.out)
    return result.code, [d for f in data["files"] for d in f["diagnostics"]]


# ------------------------------------------------------------------ the AlexNet 224/227 story
def test_alexnet_224_fails_names_conv1_shows_54_25_and_suggests_227(cli):
    result = cli("validate", ALEXNET_224)
    assert result.code == 1 and result.err == ""
    first = result.out.split("\n\n")[0]
    # (224 − 11)/4 + 1 = 54.25: the last input row (and column) of conv1 is never seen
    assert "conv1" in first and "54.25" in first and "227×227" in first
    assert "the last input row and column are never seen" in first
    # 227 is the nearest size for which the whole network divides exactly:
    # (227−11)/4+1 = 55, (55−3)/2+1 = 27, (27−3)/2+1 = 13, (13−3)/2+1 = 6
    assert result.out.rstrip().endswith("warnings")


def test_zoo_validates_clean(cli):
    result = cli("validate", str(SPECS / "*.yaml"))  # the glob is expanded by archcalc itself
    n = len(list(SPECS.glob("*.yaml")))
    # except the two warnings torchvision's SqueezeNets earn (their first conv drops the last row
    # and column: (224 − 7)/2 + 1 = 109.5 and (224 − 3)/2 + 1 = 111.5, floored)
    warned = [line for line in result.out.splitlines() if "warning[" in line]
    assert [line.split(":")[0].rsplit("/", 1)[-1] for line in warned] == ["squeezenet1_0.yaml",
                                                                         "squeezenet1_1.yaml"]
    assert all("warning[window-drops-input] features.0:" in line for line in warned)
    assert (result.code, result.out.splitlines()[-1], result.err) == \
        (0, f"{n} files checked: 0 errors, 2 warnings", "")


WINDOW_CASES = {
    # ResNet stem: (224 + 6 − 7)/2 + 1 = 112.5 -> 112; the skipped column is padding, not data
    "resnet stem": ("conv: {filters: 64, kernel: 7, stride: 2, padding: 3}", [56 * 4, 56 * 4, 3], False),
    # 1×1 stride-2 projection over 57: (57 − 1)/2 + 1 = 29 exactly; over 56: 28.5, skipping by design
    "1x1 stride 2 projection": ("conv: {filters: 128, kernel: 1, stride: 2}", [56, 56, 64], False),
    # stride larger than the window skips input by design
    "stride > kernel": ("maxpool: {size: 2, stride: 3}", [32, 32, 8], False),
    # (224 − 3)/2 + 1 = 111.5: the last real row and column are dropped
    "3x3 stride 2 valid": ("conv: {filters: 8, kernel: 3, stride: 2}", [224, 224, 3], True),
    # ceil mode keeps the last partial window
    "ceil pool": ("maxpool: {size: 3, stride: 2, ceil: true}", [112, 112, 8], False),
}


@pytest.mark.parametrize("case", sorted(WINDOW_CASES))
def test_window_warning_only_when_real_input_is_dropped(cli, spec_file, case):
    layer, shape, warns = WINDOW_CASES[case]
    text = f"input: {shape}\nlayers:\n  - {layer}\n"
    code, found = diagnostics_of(cli, spec_file(text))
    assert code == 0
    if warns:
        assert [(d["code"], d["line"], d["column"]) for d in found] == [("window-drops-input", 3, 5)]
        assert "111.5" in found[0]["message"] and "the last input row and column" in found[0]["message"]
    else:
        assert found == []


def test_window_warning_plural_and_single_axis(cli, spec_file):
    # rows: (226 − 5)/4 + 1 = 56.25 -> 56 covers (56−1)·4 + 5 = 225 rows: 1 dropped;
    # columns: (231 − 5)/4 + 1 = 57.5 -> 57 covers 229 columns: 2 dropped
    text = "input: [226, 231, 3]\nlayers:\n  - conv: {filters: 8, kernel: 5, stride: 4}\n"
    code, found = diagnostics_of(cli, spec_file(text))
    assert code == 0 and len(found) == 1
    assert "the last input row and the last 2 input columns are never seen" in found[0]["message"]
    # only columns: (224 − 5)/4 + 1 = 55.75 over rows?  use 225 rows: (225−5)/4+1 = 56 exact
    text = "input: [225, 231, 3]\nlayers:\n  - conv: {filters: 8, kernel: 5, stride: 4}\n"
    code, found = diagnostics_of(cli, spec_file(text))
    assert [d["code"] for d in found] == ["window-drops-input"]
    assert "over 231 columns" in found[0]["message"] and "the last 2 input columns are never seen" \
        in found[0]["message"]


# ------------------------------------------------------------------- every check, located
# (spec text, expected code, token whose first character the diagnostic points at, occurrence)
BASE = "input: [32, 32, 3]\nlayers:\n"
CHECKS = {
    "unknown kind": (BASE + "  - convv: {filters: 8, kernel: 3}\n", "unknown-kind", "convv", 1, "'conv'"),
    "unknown field": (BASE + "  - conv: {filters: 8, kernal: 3}\n", "unknown-field", "kernal", 1, "'kernel'"),
    "bool for int": (BASE + "  - conv: {filters: yes, kernel: 3}\n", "wrong-type", "yes", 1, "boolean"),
    "float for int": (BASE + "  - conv: {filters: 8.5, kernel: 3}\n", "wrong-type", "8.5", 1, "8"),
    "quoted int": (BASE + "  - conv: {filters: '8', kernel: 3}\n", "wrong-type", "'8'", 1, "quotes"),
    "zero size": (BASE + "  - conv: {filters: 8, kernel: 0}\n", "bad-value", "0}", 1, ""),
    "negative size": (BASE + "  - dense: -4\n", "bad-value", "-4", 1, ""),
    "dropout rate": (BASE + "  - flatten\n  - dropout: 1.5\n", "bad-value", "1.5", 1, ""),
    "duplicate key": (BASE + "  - conv: {filters: 8, kernel: 3, filters: 9}\n", "duplicate-key", "filters", 2,
                      "line 3"),
    "duplicate name": (BASE + "  - relu: {name: a}\n  - relu: {name: a}\n", "duplicate-name", "relu", 2, ""),
    "missing input": ("layers:\n  - relu\n", "missing-field", "layers", 1, "input"),
    "missing layers": ("input: [8]\n", "missing-field", "input", 1, "layers"),
    "empty layers": ("input: [8]\nlayers: []\n", "empty-layers", "layers", 1, ""),
    "not a mapping": ("- relu\n- relu\n", "not-a-mapping", "- relu", 1, ""),
    "bad input": ("input: [1, 224, 224, 3]\nlayers: [relu]\n", "bad-input", "[1, 224", 1, ""),
    "missing required field": (BASE + "  - conv: {filters: 8}\n", "missing-field", "conv", 1, "kernel"),
    # ⌊(32 − 33)/1⌋ + 1 = 0 rows
    "kernel larger than input": (BASE + "  - conv: {filters: 8, kernel: 33}\n", "nonpositive-output", "33", 1, ""),
    # ⌊(2 + 0 − 3)/2⌋ + 1 = 0: a pooling window larger than its padded input
    "pool larger than input": ("input: [2, 2, 3]\nlayers:\n  - maxpool: {size: 3, stride: 2}\n",
                               "nonpositive-output", "3,", 1, ""),
    # 3 input channels, groups 2: 2 does not divide 3
    "groups": (BASE + "  - conv: {filters: 8, kernel: 3, groups: 2}\n", "groups-mismatch", "2}", 1, ""),
    "rbf on a volume": (BASE + "  - rbf: 10\n", "needs-flat-input", "rbf", 1, "flatten"),
    "conv on a vector": ("input: [10]\nlayers:\n  - conv: {filters: 8, kernel: 3}\n", "needs-volume", "conv", 1, ""),
    "activation after softmax": ("input: [10]\nlayers:\n  - softmax\n  - relu\n", "activation-after-softmax",
                                 "relu", 1, ""),
    # kernel 3 padded by 2: the border outputs see 2 padding rows and 1 input row
    "conv padding > half kernel": (BASE + "  - conv: {filters: 8, kernel: 3, padding: 2}\n", "excess-padding",
                                   "conv", 1, "at most 1"),
    # a 1×1 conv padded by 1 computes its border outputs from padding alone
    "1x1 conv padded": (BASE + "  - conv: {filters: 8, kernel: 1, padding: 1}\n", "excess-padding", "conv", 1, ""),
    "pool padding >= window": (BASE + "  - maxpool: {size: 2, padding: 2}\n", "excess-padding", "maxpool", 1,
                               "PyTorch"),
    "layer expect": (BASE + "  - conv: {filters: 8, kernel: 3, expect: [32, 32, 8]}\n", "expect-mismatch",
                     "[32, 32, 8]", 1, ""),
    # 32·32·3 = 3072 features; 3072·10 + 10 = 30,730 params, not 30,000
    "total expect": (BASE + "  - flatten\n  - dense: 10\nexpect: {params: 30000}\n", "total-mismatch", "30000", 1,
                     ""),
    "spec budget": (BASE + "  - flatten\n  - dense: 10\nexpect: {max_params: 30k}\n", "budget-exceeded", "30k", 1,
                    ""),
    "unknown top-level key": ("input: [8]\nlayer: [relu]\nlayers: [relu]\n", "unknown-field", "layer:", 1,
                              "'layers'"),
    "two-key entry": (BASE + "  - conv: {filters: 8}\n    kernel: 3\n", "bad-entry", "conv", 1, "indent"),
    "self-recursive block": (BASE.replace("layers:\n", "blocks:\n  b: {layers: [b]}\nlayers:\n") + "  - b\n",
                             "block-recursion", "b]", 1, ""),
    "unknown block argument": ("input: [8]\nblocks:\n  b: {args: {n: 4}, layers: [dense: $n]}\nlayers:\n"
                               "  - b: {m: 3}\n", "unknown-arg", "m:", 1, "its arguments: n"),
    "missing block argument": ("input: [8]\nblocks:\n  b: {args: {n: null}, layers: [dense: $n]}\nlayers:\n"
                               "  - b\n", "missing-arg", "b\n", 1, ""),
    "undefined reference": ("input: [8]\nblocks:\n  b: {args: {n: 4}, layers: [dense: $m]}\nlayers:\n  - b\n",
                            "undefined-reference", "$m", 1, "arguments are n"),
    "unused block": ("input: [8]\nblocks:\n  b: {layers: [relu]}\nlayers: [relu]\n", "unused-block", "b:", 1, ""),
    "merge mismatch": (BASE + "  - residual: {layers: [conv: {filters: 8, kernel: 1}]}\n", "merge-mismatch",
                       "residual", 1, "shortcut"),
    "repeat too large": (BASE + "  - repeat: {times: 1000000000000, layers: [relu]}\n", "too-large", "repeat", 1,
                         ""),
}


@pytest.mark.parametrize("case", sorted(CHECKS))
def test_check_has_code_and_location(cli, spec_file, case):
    text, code, token, occurrence, hint_part = CHECKS[case]
    path = spec_file(text)
    exit_code, found = diagnostics_of(cli, path)
    line, column = at(text, token, occurrence)
    matching = [d for d in found if d["code"] == code]
    assert matching, found
    d = matching[0]
    assert (d["line"], d["column"], d["file"]) == (line, column, str(path)), d
    assert hint_part in d["hint"] + d["message"]
    expected_exit = 1 if d["severity"] == "error" else 0
    assert exit_code == expected_exit


def test_all_problems_of_all_files_are_reported(cli, spec_file):
    a = spec_file(BASE + "  - convv: {filters: 8, kernel: 3}\n  - conv: {filters: 8, kernal: 3}\n")
    b = spec_file("input: [8]\nlayers:\n  - softmax\n  - relu\n")
    result = cli("validate", a, b, "-f", "parsable")
    lines = result.out.splitlines()
    assert result.code == 1 and result.err == ""
    assert [re.sub(r"^.*?: \[", "[", line).split(" ")[:2] for line in lines[:-1]] == [
        ["[error]", "unknown-kind"], ["[error]", "unknown-field"], ["[warning]", "activation-after-softmax"]]
    assert lines[-1] == "2 files checked: 2 errors, 1 warning"


# --------------------------------------------------------------------------------- options
def test_strict_turns_warnings_into_failure(cli, spec_file):
    path = spec_file("input: [8]\nlayers:\n  - softmax\n  - relu\n")
    assert cli("validate", path).code == 0
    assert cli("validate", path, "--strict").code == 1


def test_quiet_prints_only_errors_and_nothing_when_clean(cli, spec_file):
    warn = spec_file("input: [8]\nlayers:\n  - softmax\n  - relu\n")
    assert cli("validate", warn, "--quiet") == (0, "", "")
    bad = spec_file("input: [8]\nlayers:\n  - relu: {nme: x}\n")
    result = cli("validate", warn, bad, "-q", "-f", "parsable")
    assert result.code == 1 and result.err == ""
    assert result.out.splitlines() == [
        f"{bad}:3:12: [error] unknown-field relu has no field 'nme' (hint: did you mean 'name'? accepted: "
        "name, expect, ignore, when)", "2 files checked: 1 error, 1 warning"]


def test_budgets(cli):
    # LeNet-5 has 61,706 parameters (LeCun et al. 1998, C1..F6 + output): under 5M, over 60k by 1,706
    assert cli("validate", "lenet5", "--max-params", "5M") == (0, "1 file checked: 0 errors, 0 warnings\n", "")
    result = cli("validate", "lenet5", "--max-params", "60k", "-f", "parsable")
    assert result.code == 1 and result.err == ""
    assert "budget-exceeded params 61,706 exceed the budget `--max-params 60k` (60,000) by 1,706" in result.out
    # VGG-16: 15,470,264,320 MACs (torchvision "15.47 GFLOPS") > 2G by 13,470,264,320
    result = cli("validate", "vgg16", "--max-macs", "2G", "-f", "parsable")
    assert result.code == 1 and "by 13,470,264,320" in result.out
    assert cli("validate", "vgg16", "--max-macs", "16G").code == 0
    bad = cli("validate", "lenet5", "--max-params", "lots")
    assert bad.code == 2 and "expected a count" in bad.err and bad.out == ""


def test_paths_directories_globs_and_missing(cli, tmp_path):
    good = "input: [8]\nlayers: [relu]\n"
    (tmp_path / "a.yaml").write_text(good)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.yml").write_text(good)
    (tmp_path / "notes.txt").write_text("not a spec")
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "c.yaml").write_text("garbage: [")
    assert cli("validate", tmp_path) == (0, "2 files checked: 0 errors, 0 warnings\n", "")
    # a file named twice (directly and through the directory) is checked once
    assert cli("validate", tmp_path / "a.yaml", tmp_path).out == "2 files checked: 0 errors, 0 warnings\n"
    assert cli("validate", str(tmp_path / "**" / "*.y*ml")).out == "2 files checked: 0 errors, 0 warnings\n"
    empty = tmp_path / "empty"
    empty.mkdir()
    result = cli("validate", empty, tmp_path / "a.yaml")
    assert result.code == 2 and "is a directory without .yaml or .yml files" in result.err
    assert result.out == "2 files checked: 0 errors, 0 warnings, 1 unreadable\n"
    result = cli("validate", str(tmp_path / "nope*.yaml"))
    assert result.code == 2 and "matches no file" in result.err
    result = cli("validate", tmp_path / "missing.yaml")
    assert result.code == 2 and f"no such file: {str(tmp_path / 'missing.yaml')!r}" in result.err


def test_github_format_is_automatic_under_actions(cli, spec_file):
    path = spec_file("input: [8]\nlayers:\n  - relu: {nme: x}\n")
    result = cli("validate", path, env={"GITHUB_ACTIONS": "true"})
    assert result.code == 1 and result.err == ""
    first = result.out.splitlines()[0]
    # properties escape ':' and ','; the message escapes newlines (the hint follows one)
    assert first.startswith(f"::error file={path},line=3,col=12,title=unknown-field::relu has no field 'nme'%0Ahint: ")
    assert "did you mean 'name'? accepted%3A" not in first  # the message part keeps its ':'


def test_colour_only_when_asked_or_on_a_terminal(cli):
    plain = cli("validate", ALEXNET_224)
    assert "\x1b[" not in plain.out
    coloured = cli("validate", ALEXNET_224, "--color")
    assert "\x1b[" in coloured.out
    assert re.sub(r"\x1b\[[0-9;]*m", "", coloured.out) == plain.out


def test_machine_formats_do_not_import_rich():
    import subprocess

    for fmt in ("json", "parsable", "github"):
        p = subprocess.run([sys.executable, "-X", "importtime", "-m", "archcalc", "validate", str(ALEXNET_224),
                            "-f", fmt], capture_output=True, text=True, cwd=ROOT, timeout=60)
        assert p.returncode == 1
        imported = {line.split("|")[-1].strip() for line in p.stderr.splitlines() if "|" in line}
        assert "archcalc.engine" in imported
        assert not any(name == "rich" or name.startswith("rich.") for name in imported), fmt


def test_control_characters_never_reach_the_terminal(cli, spec_file):
    path = spec_file('input: [8]\nlayers:\n  - "re\\e[31mlu"\n')
    result = cli("validate", path)
    assert result.code == 1 and "\x1b" not in result.out and "\\x1b" in result.out


# ------------------------------------------------------------------------------- goldens
BROKEN = """\
name: broken
input: [32, 32, 3]
layers:
  - conv: {filters: 16, kernal: 3}
  - conv: {filters: 16, kernel: 3, stride: 2}
  - flatten
  - dense: {units: yes}
  - softmax
  - relu
"""


@pytest.mark.parametrize("fmt", ["pretty", "parsable", "github", "json"])
@pytest.mark.parametrize("which", ["alexnet-224", "broken"])
def test_golden(cli, golden, tmp_path, monkeypatch, fmt, which):
    monkeypatch.chdir(tmp_path if which == "broken" else ROOT)
    if which == "broken":
        Path("broken.yaml").write_text(BROKEN)
        path = "broken.yaml"
    else:
        path = "specs/examples/alexnet-224.yaml"
    result = cli("validate", path, "--format", fmt)
    assert result.code == 1 and result.err == ""
    golden(f"validate-{which}.{fmt}.txt", result.out)
    # invariant: the number of problems rendered equals the summary's counts
    data = json.loads(cli("validate", path, "--format", "json").out)
    n = data["summary"]["errors"] + data["summary"]["warnings"]
    rendered = {
        "pretty": len(re.findall(r"^\S+:\d+:\d+: (error|warning)\[", result.out, re.M)),
        "parsable": len(re.findall(r"^\S+:\d+:\d+: \[(error|warning)\] ", result.out, re.M)),
        "github": len(re.findall(r"^::(error|warning) file=", result.out, re.M)),
        "json": sum(len(f["diagnostics"]) for f in data["files"]),
    }[fmt]
    assert rendered == n
    if fmt != "json":
        assert result.out.splitlines()[-1] == (f"1 file checked: {data['summary']['errors']} errors, "
                                               f"{data['summary']['warnings']} warnings")


def test_broken_spec_problems_by_hand(cli, tmp_path, monkeypatch):
    """What BROKEN must produce, derived by reading it."""
    monkeypatch.chdir(tmp_path)
    Path("broken.yaml").write_text(BROKEN)
    data = json.loads(cli("validate", "broken.yaml", "-f", "json").out)
    found = [(d["code"], d["line"], d["column"]) for d in data["files"][0]["diagnostics"]]
    # Every field of every layer is checked, so one run shows every field problem; but the
    # first conv's output is unknown (its kernel is misspelt), so no shape-derived diagnostic
    # is computed after it: a window warning for the second conv would rest on a guessed input.
    assert found == [("unknown-field", *at(BROKEN, "kernal")), ("wrong-type", *at(BROKEN, "yes"))]


# ----------------------------------------------------------------------------- pre-commit
def hook():
    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    (found,) = [h for h in hooks if h["id"] == "archcalc-validate"]
    return found


def test_pre_commit_hook_file_pattern():
    h = hook()
    assert h["language"] == "python" and h["entry"].split()[:2] == ["archcalc", "validate"]
    pattern = re.compile(h["files"])
    for path in ("specs/resnet50.yaml", "specs/examples/alexnet-224.yaml", "models/specs/net.yml",
                 "net.archcalc.yaml"):
        assert pattern.search(path), path
    for path in (".github/workflows/ci.yml", "docker-compose.yaml", ".pre-commit-config.yaml", "specs/README.md"):
        assert not pattern.search(path), path


def test_pre_commit_hook_entry_runs_on_good_and_bad_files(run_process, spec_file):
    entry = shlex.split(hook()["entry"])
    assert entry[0] == "archcalc"  # the console script; here it is run as `python -m archcalc`
    good = [str(SPECS / "lenet5.yaml"), str(SPECS / "alexnet.yaml")]
    result = run_process(*entry[1:], *good)
    assert (result.code, result.err) == (0, "")
    assert result.out.endswith("2 files checked: 0 errors, 0 warnings\n")
    bad = spec_file("input: [8]\nlayers:\n  - dense: {units: 0}\n")
    result = run_process(*entry[1:], *good, str(bad))
    assert result.code == 1 and "bad-value" in result.out and "Traceback" not in result.out + result.err


def test_every_catalogue_code_is_documented():
    from archcalc.diagnostics import CATALOGUE

    text = (ROOT / "docs" / "diagnostics.md").read_text()
    for code in CATALOGUE:
        assert f"\n## {code}\n" in text, code
        section = text.split(f"\n## {code}\n")[1].split("\n## ")[0]
        assert f"] {code} " in section or f"[{code}] " in section, f"{code}: no example output"
