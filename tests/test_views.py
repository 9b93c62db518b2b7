"""The views a new user reads: tables not cut when piped (and a note when a terminal width
forces a cut), merge rows, batch/dtype in the footer, no empty table and null JSON totals for
a file that fails before any layer, a one-line error summary on stderr, CSV columns, integer
formatting of huge totals, explain by the end of a name, diff by resolved settings.

Expected figures are derived by hand in comments."""
from __future__ import annotations

import csv
import io
import json

import pytest

from archcalc.render.numbers import human

# conv 3×3 pad 1 on 8×8×3 → 8×8×4: params 3·3·3·4 + 4 = 112, MACs 8·8·4·27 = 6,912.
# A residual whose shortcut is the identity adds 8×8×4 + 8×8×4 → 8×8×4; the concat of two
# 1×1 convs (4 and 6 filters) gives 8×8×(4 + 6) = 8×8×10.
BRANCHY = """\
input: [8, 8, 3]
layers:
  - conv: {filters: 4, kernel: 3, padding: 1}
  - residual:
      layers: [conv: {filters: 4, kernel: 3, padding: 1}]
  - parallel:
      branches:
        - [conv: {filters: 4, kernel: 1}]
        - [conv: {filters: 6, kernel: 1}]
  - flatten
"""


def test_piped_table_is_never_narrowed_whatever_columns_says(cli):
    # the fixture runs without a terminal; COLUMNS=60 would have cut the table before
    out = cli("show", "resnet50", "--memory", "--rf", env={"COLUMNS": "60"}).out
    header = out.splitlines()[1]
    for title in ("Settings", "%P", "%M", "Acts", "RF"):
        assert title in header
    assert "no bias" in out and "…" not in out and "(narrowed" not in out


def test_a_forced_width_says_what_went_and_names_width(cli):
    out = cli("show", "resnet50", "--memory", "--rf", "--width", "60").out
    table = out.split("\n\n")[0].splitlines()  # title, header, rule, rows, note (the footer follows)
    assert all(len(line) <= 60 for line in table)
    note = " ".join(line for line in out.splitlines() if line.startswith("(narrowed") or
                    "--width" in line)
    assert "(narrowed to 60 columns: left out" in note and "%P" in note and "--width N" in note


def test_list_honours_its_width(cli):
    out = cli("list", "--width", "40").out
    assert all(len(line) <= 40 for line in out.splitlines()), max(map(len, out.splitlines()))
    assert "alexnet" in out and "(narrowed to 40 columns" in out


def test_merge_rows_show_the_merged_shape(cli, spec_file):
    out = cli("show", spec_file(BRANCHY)).out
    merge_rows = [line.split() for line in out.splitlines() if "⊕" in line]
    assert [(row[1], row[2], row[3]) for row in merge_rows] == [("add", "merge", "8×8×4"),
                                                                ("concat", "merge", "8×8×10")]


def test_merges_are_recorded_after_the_layers_they_follow(spec_file):
    from conftest import analyse_text

    a = analyse_text(spec_file, BRANCHY)
    # leaves: conv1, residual's conv2 (add after 2 leaves), conv3, conv4 (concat after 4), flatten
    assert [(m.after, m.op, m.output) for m in a.merges] == [(2, "add", (8, 8, 4)), (4, "concat", (8, 8, 10))]


def test_batch_and_dtype_are_shown_when_not_default(cli):
    plain = cli("show", "lenet5").out
    assert "Batch" not in plain
    out = cli("show", "lenet5", "--batch", "32", "--dtype", "fp16").out
    line = next(line for line in out.splitlines() if line.startswith("Batch"))
    assert "32" in line and "fp16" in line
    assert "**Batch** 32 · **dtype** fp16" in cli("show", "lenet5", "--batch", "32", "--dtype", "fp16",
                                                   "-f", "markdown").out


def test_a_file_failing_before_any_layer_prints_no_empty_table(cli, spec_file):
    path = spec_file("input: [32, 32, 3]\nlayers:\n  - Conv2d: 3\n")
    result = cli("show", path)
    assert result.code == 1
    assert "Shape" not in result.out and "→ —" not in result.out and "Params" not in result.out
    assert "no layer could be analysed: 1 error" in result.out
    assert "unknown-kind" in result.out
    assert result.err == f"archcalc: 1 error: {path}:3:5: [unknown-kind] unknown layer kind 'Conv2d'\n"


def test_markdown_of_a_file_failing_before_any_layer_has_no_table(cli, spec_file):
    out = cli("show", spec_file("input: [32, 32, 3]\nlayers:\n  - Conv2d: 3\n"), "-f", "markdown").out
    assert "| # |" not in out and "**Params**" not in out
    assert "No layer could be analysed: 1 error." in out and "`unknown-kind`" in out


def test_json_totals_are_null_and_incomplete_when_the_walk_stops(cli, spec_file):
    data = json.loads(cli("show", spec_file("input: [32, 32, 3]\nlayers:\n  - Conv2d: 3\n"), "-f", "json").out)
    assert data["complete"] is False
    assert set(data["totals"]) >= {"params", "buffers", "macs", "flops", "depth", "layers"}
    assert all(value is None for value in data["totals"].values())
    ok = json.loads(cli("show", "lenet5", "-f", "json").out)
    assert ok["complete"] is True and ok["totals"]["params"] == 61_706  # LeCun et al. 1998


def test_stderr_carries_a_one_line_error_summary_in_every_format(run_process, spec_file):
    path = spec_file("input: [32, 32, 3]\nlayers:\n  - conv: {filters: 8, kernel: 3}\n  - dense: 0\n")
    for fmt in ("table", "json"):
        result = run_process("show", path, "-f", fmt)
        assert result.code == 1
        assert result.err.startswith("archcalc: 1 error: ") and "[bad-value]" in result.err
        assert len(result.err.splitlines()) == 1


def test_csv_has_the_tables_optional_columns_and_a_totals_row(cli):
    out = cli("show", "lenet5", "-f", "csv", "--memory", "--rf", "--totals").out
    rows = list(csv.DictReader(io.StringIO(out)))
    assert {"activations", "activation_bytes", "receptive_field", "jump"} <= set(rows[0])
    first, total = rows[0], rows[-1]
    # c1: 5×5 conv on 32×32×1 → 28×28×6 = 4,704 values, 18,816 bytes in fp32; sees 5×5 pixels
    assert (first["output"], first["activations"], first["activation_bytes"], first["receptive_field"]) == \
        ("28x28x6", "4704", "18816", "5x5")
    assert (total["name"], total["params"]) == ("total", "61706")
    assert sum(int(r["params"]) for r in rows[:-1]) == 61_706
    assert "×" not in out  # one notation for sizes: 5x5, 28x28x6
    plain = list(csv.reader(io.StringIO(cli("show", "lenet5", "-f", "csv").out)))
    assert "activations" not in plain[0] and plain[-1][1] != "total"


@pytest.mark.parametrize("n, text", [
    (61_706, "61.7 K"), (999_950, "1.00 M"), (1_135_256_096, "1.14 G"),
    (10**20, "100,000,000 T"),                      # 10²⁰ / 10¹² = 10⁸, exactly
    (99_999_992 * 10**15, "99,999,992,000 T"),      # beyond 2⁵³: no float noise
    (12_345_678_901_234_567_890_123, "12,345,678,901 T"),  # …901.23 T rounds to 901
])
def test_human_units_are_computed_from_integers(n, text):
    assert human(n) == text


def test_explain_accepts_the_end_of_a_name_and_lists_candidates(cli):
    # resnet18's leaves under layer1.0 are the only names ending in `0.conv1`
    result = cli("explain", "resnet18", "0.conv1")
    assert result.code == 0 and "layer1.0.conv1" in result.out
    # vgg16 numbers its convs per block: `conv1` ends five names, all listed
    result = cli("explain", "vgg16", "conv1")
    assert result.code == 2
    assert "'conv1' ends 5 names: " + ", ".join(f"block{i}.conv1" for i in range(1, 6)) in result.err


def test_diff_compares_resolved_settings_not_spellings(cli, spec_file):
    # a pool's stride defaults to its size: `maxpool: 2` is `{size: 2, stride: 2}`
    a = spec_file("input: [32, 32, 3]\nlayers:\n  - maxpool: 2\n")
    b = spec_file("input: [32, 32, 3]\nlayers:\n  - maxpool: {size: 2, stride: 2}\n")
    data = json.loads(cli("diff", a, b, "--format", "json").out)
    assert (data["counts"]["changed"], data["counts"]["unchanged"], data["changes"]) == (0, 1, [])
    c = spec_file("input: [32, 32, 3]\nlayers:\n  - maxpool: {size: 2, stride: 1}\n")
    data = json.loads(cli("diff", a, c, "--format", "json").out)
    assert data["changes"][0]["fields"] == [{"field": "stride", "a": [2, 2], "b": [1, 1]}]
