"""`archcalc show`: golden renderings (fixed width 100, no colour) plus invariants read back
from each rendering, and the CLI contract (exit code, stdout, stderr together).

Regenerate goldens with `pytest --update-goldens` and review the diff."""
from __future__ import annotations

import csv
import io
import json
import re

import pytest

# Rows that carry an index: a leaf ("12") or a collapsed block ("5–10"); expanded block rows
# have none, and their subtotals must not be added on top of their leaves.
COUNTED_ROW = re.compile(r"^\s*\d+(–\d+)? ")
EXACT_IN_PARENS = re.compile(r"\(([\d,]+)\)")


def _column_end(header: str, title: str) -> int:
    """Right-aligned columns end where their header ends."""
    return header.index(title) + len(title)


def _right_aligned_cell(row: str, end: int) -> str:
    """The cell of a right-aligned column ending at ``end`` ('' when blank: rows are rstripped)."""
    if len(row) < end or row[end - 1] == " ":
        return ""
    return row[:end].split(" ")[-1]


def table_invariants(text: str):
    """Counted rows' exact params sum to the footer's exact total; shares sum to about 100%."""
    lines = text.splitlines()
    header = next(line for line in lines if " Layer " in f" {line} " and "Params" in line)
    params_end = _column_end(header, "Params")
    params = 0
    shares = 0.0
    for line in lines[lines.index(header) + 2:]:
        if not line.strip():
            break
        if not COUNTED_ROW.match(line):
            continue  # group (subtotal) rows are not added: their leaves are
        cell = _right_aligned_cell(line, params_end)
        params += int(cell.replace(",", "")) if cell else 0
        if "%P" in header:
            share = _right_aligned_cell(line, _column_end(header, "%P"))
            shares += float(share.strip("<%")) if share and not share.startswith("<") else 0.0
    footer = next(line for line in lines if line.startswith("Params"))
    total = int(EXACT_IN_PARENS.search(footer).group(1).replace(",", ""))
    assert params == total, f"rows sum to {params:,}, footer says {total:,}"
    if "%P" in header:
        assert abs(shares - 100) < 1.5, shares  # rounding of one-decimal shares, <0.1% rows omitted
    return total


@pytest.mark.parametrize("name, args, published_params", [
    # published totals: contract-check / the issues' tables (LeNet-5 61,706; ResNet-18 11,689,512
    # from torchvision; GoogLeNet 6,998,552 from the paper's Table 1)
    ("show-lenet5.txt", ["lenet5"], 61_706),
    ("show-resnet18-depth1.txt", ["resnet18", "--depth", "1"], 11_689_512),
    ("show-googlenet.txt", ["googlenet"], 6_998_552),
    ("show-vgg16-width70.txt", ["vgg16", "--width", "70"], 138_357_544),
])
def test_show_table_golden(cli, golden, name, args, published_params):
    result = cli("show", *args)
    assert (result.code, result.err) == (0, "")
    golden(name, result.out)
    assert table_invariants(result.out) == published_params
    if "--width" in args:
        assert all(len(line) <= 70 for line in result.out.splitlines())
    else:  # piped: never narrowed, whatever COLUMNS says (the fixture sets 100)
        assert "%M" in result.out.splitlines()[1] and "(narrowed" not in result.out
    assert "\x1b[" not in result.out  # no colour when not a terminal


def test_show_table_with_diagnostics_golden(cli, golden):
    result = cli("show", "specs/examples/alexnet-224.yaml")
    assert result.code == 1 and result.err.startswith("archcalc: 9 errors: specs/examples/alexnet-224.yaml:")
    golden("show-alexnet-224.txt", result.out)
    # AlexNet at 224: conv1 gives ⌊(224 − 11)/4⌋ + 1 = 54, pools 26, 12, 5 → 5·5·256 = 6,400
    # features; fc6 6,400·4096 + 4096 = 26,218,496 instead of 9,216·4096 + 4096 = 37,752,832,
    # so the total is 62,378,344 − 11,534,336 = 50,844,008.
    assert table_invariants(result.out) == 50_844_008
    assert "54.25" in result.out and "227×227" in result.out


def test_depth_zero_collapses_every_block(cli):
    result = cli("show", "vgg16", "--depth", "0")
    assert result.code == 0
    rows = [line for line in result.out.splitlines() if "▸" in line]
    # VGG-16 configuration D: five stages; 2+2+3+3+3 convs, each with a relu, plus a maxpool
    assert [r.split("▸ ")[1].split(" ")[0] for r in rows] == ["block1", "block2", "block3", "block4",
                                                            "block5"]
    assert "5 layers" in rows[0] and "7 layers" in rows[4]


def test_markdown_golden(cli, golden):
    result = cli("show", "lenet5", "--format", "markdown")
    assert (result.code, result.err) == (0, "")
    golden("show-lenet5.md", result.out)
    rows = [line for line in result.out.splitlines() if re.match(r"^\| \d+ \|", line)]
    assert sum(int(r.split("|")[6].strip().replace(",", "")) for r in rows) == 61_706


def test_csv_is_exact(cli):
    result = cli("show", "vgg16", "--format", "csv")
    assert (result.code, result.err) == (0, "")
    rows = list(csv.DictReader(io.StringIO(result.out)))
    assert sum(int(r["params"]) for r in rows) == 138_357_544  # torchvision: vgg16 138,357,544
    assert sum(int(r["macs"]) for r in rows) == 15_470_264_320  # contract section 3
    fc6 = next(r for r in rows if r["name"] == "fc6")
    assert (fc6["input"], fc6["output"], fc6["params"]) == ("25088", "4096", str(25088 * 4096 + 4096))


def test_json_shape_of_contract(cli):
    result = cli("show", "VGG-16", "--format", "json")
    assert (result.code, result.err) == (0, "")
    data = json.loads(result.out)
    assert {"name", "input", "output", "totals", "layers", "diagnostics"} <= set(data)
    assert data["totals"]["flops"] == 2 * data["totals"]["macs"] == 30_940_528_640
    assert data["totals"]["layers"] == len(data["layers"])
    assert data["diagnostics"] == []


@pytest.mark.parametrize("args, code, err_part", [
    (["show", "no-such-net"], 2, "no such file or built-in network: 'no-such-net'"),
    (["show", "vgg61"], 2, "did you mean"),
    (["show", "lenet5", "--format", "yaml"], 2, "Invalid value for '-f' / '--format'"),
    (["show", "lenet5", "--input", "2x2"], 2, "expected HxWxC"),
    (["show", "tests"], 2, "is a directory"),
])
def test_usage_errors_exit_2(cli, args, code, err_part):
    result = cli(*args)
    assert result.code == code and result.out == "" and err_part in result.err


def test_input_override_changes_shapes(cli):
    # LeNet-5 at 36×36: ⌊(36 − 5)/1⌋ + 1 = 32, pool 16, conv 12, pool 6 → 6·6·16 = 576 features,
    # so the first dense layer has 576·120 + 120 = 69,240 params instead of 48,120.
    result = cli("show", "lenet5", "--format", "json", "--input", "36x36x1")
    data = json.loads(result.out)
    # the spec's pins (28×28×6, 61,706 params) describe its own input and are not checked
    assert (result.code, data["diagnostics"]) == (0, [])
    assert data["input"] == [36, 36, 1]
    c5 = next(layer for layer in data["layers"] if layer["kind"] == "dense")
    assert (c5["input"], c5["params"]) == ([576], 69_240)


def test_list_shows_the_zoo(cli):
    result = cli("list", "--format", "json")
    assert (result.code, result.err) == (0, "")
    rows = {r["name"]: r for r in json.loads(result.out)}
    assert {"lenet5", "alexnet", "vgg16", "vgg19", "resnet18", "resnet50", "resnet152",
            "googlenet"} <= set(rows)
    assert rows["alexnet"]["params"] == 62_378_344 and rows["alexnet"]["depth"] == 8
    table = cli("list")
    assert table.code == 0 and "62.4 M" in table.out and "VGG-16" in table.out


def test_broken_pipe_is_quiet(run_process):
    import subprocess
    import sys

    from conftest import ROOT

    p = subprocess.run(f"{sys.executable} -m archcalc show resnet152 | head -1", shell=True,
                       capture_output=True, text=True, cwd=ROOT, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert p.stdout.startswith("resnet152") and "Traceback" not in p.stderr and "Error" not in p.stderr


def test_budgets_still_hold_with_another_input(cli, spec_file):
    # 3·3·3·8 + 8 = 224 params whatever the input; MACs at 64×64: 62·62·8·27 = 830,304 > 500K
    path = spec_file("input: [32, 32, 3]\nlayers:\n  - conv: {filters: 8, kernel: 3}\n"
                     "expect: {params: 224, max_macs: 500K}\n")
    assert cli("validate", path).code == 0  # at 32: 30·30·8·27 = 194,400 MACs
    result = cli("show", path, "--format", "json", "--input", "64x64x3")
    assert result.code == 1
    assert [d["code"] for d in json.loads(result.out)["diagnostics"]] == ["budget-exceeded"]


def test_mistyped_command_suggests_the_right_one(cli):
    result = cli("shwo", "vgg16")
    assert (result.code, result.out) == (2, "") and "Did you mean 'show'?" in result.err


def test_list_in_csv_and_markdown(cli):
    rows = list(csv.DictReader(io.StringIO(cli("list", "--format", "csv").out)))
    vgg19 = next(r for r in rows if r["name"] == "vgg19")
    # VGG-19 (configuration E): torchvision publishes 143,667,240 params, 19.63 GMACs
    assert (vgg19["params"], vgg19["macs"], vgg19["depth"]) == ("143667240", "19632062464", "19")
    markdown = cli("list", "--format", "markdown")
    assert markdown.code == 0
    assert "| `lenet5` | LeNet-5 (modern form) | 32×32×1 | 61,706 | 416,520 | 5 |" in markdown.out
