"""Ignoring known warnings: `--ignore CODE` on show and validate, `ignore:` at a spec's top
level and on any layer entry. Ignored warnings leave `diagnostics` but are listed under
`ignored` in JSON; errors cannot be ignored; an ignore that catches nothing is reported."""
from __future__ import annotations

import json

from conftest import analyse_text as analyse
from conftest import codes, locate

# conv 7×7/2 over 224: (224 − 7)/2 + 1 = 109.5, floored to 109: the last row and column are
# never seen (window-drops-input). maxpool 3×3/2 over 109: (109 − 3)/2 + 1 = 54, exact.
FLOORED = """\
input: [224, 224, 3]
layers:
  - conv: {filters: 8, kernel: 7, stride: 2}
  - maxpool: {size: 3, stride: 2}
"""


def test_the_warning_is_there_without_ignores(spec_file):
    assert codes(analyse(spec_file, FLOORED)) == ["window-drops-input"]


def test_layer_ignore_moves_the_warning_to_ignored_with_where_it_is_written(spec_file):
    text = FLOORED.replace("stride: 2}\n  - maxpool", "stride: 2, ignore: window-drops-input}\n  - maxpool")
    a = analyse(spec_file, text)
    assert codes(a) == []
    [(d, by)] = a.ignored
    assert d.code == "window-drops-input" and d.layer == "conv1"
    line, column = locate(text, "window-drops-input")
    assert by.endswith(f":{line}:{column}")


def test_layer_ignore_is_narrow(spec_file):
    # the ignore is on the maxpool, the warning on the conv: the warning stays, the ignore is unused
    text = FLOORED.replace("{size: 3, stride: 2}", "{size: 3, stride: 2, ignore: [window-drops-input]}")
    a = analyse(spec_file, text)
    assert sorted(codes(a)) == ["unused-ignore", "window-drops-input"]
    unused = [d for d in a.diagnostics if d.code == "unused-ignore"][0]
    assert (unused.line, unused.column) == locate(text, "window-drops-input")


def test_composite_ignore_covers_the_layers_inside(spec_file):
    text = """\
input: [224, 224, 3]
blocks:
  stem:
    layers: [conv: {filters: 8, kernel: 7, stride: 2}]
layers:
  - stem: {ignore: window-drops-input}
  - repeat:
      times: 2
      ignore: [window-drops-input]
      layers: [maxpool: {size: 3, stride: 2}]
"""
    # maxpool over 109: 54, exact; over 54: (54 − 3)/2 + 1 = 26.5 → 26, floored
    a = analyse(spec_file, text)
    assert codes(a) == []
    assert sorted(d.layer for d, _ in a.ignored) == ["maxpool2", "stem1.conv1"]


def test_file_ignore_covers_the_file(spec_file):
    text = "ignore: window-drops-input\n" + FLOORED
    a = analyse(spec_file, text)
    assert codes(a) == [] and [d.code for d, _ in a.ignored] == ["window-drops-input"]


def test_errors_cannot_be_ignored_in_a_spec(spec_file):
    text = FLOORED.replace("stride: 2}\n  - maxpool", "stride: 2, ignore: [expect-mismatch, kernal]}\n  - maxpool")
    a = analyse(spec_file, text)
    bad = [d for d in a.diagnostics if d.code == "bad-value"]
    assert [(d.line, d.column) for d in bad] == [locate(text, "expect-mismatch"), locate(text, "kernal")]
    assert "only warnings" in bad[0].message and "not a diagnostic code" in bad[1].message


def test_cli_ignore_on_show_is_listed_in_json(cli, spec_file):
    path = spec_file(FLOORED)
    result = cli("show", path, "--format", "json", "--ignore", "window-drops-input")
    assert result.code == 0
    data = json.loads(result.out)
    assert data["diagnostics"] == []
    assert [(d["code"], d["ignored_by"]) for d in data["ignored"]] == [("window-drops-input", "--ignore")]
    # without --ignore the same warning is a diagnostic and nothing is ignored
    data = json.loads(cli("show", path, "--format", "json").out)
    assert [d["code"] for d in data["diagnostics"]] == ["window-drops-input"] and data["ignored"] == []


def test_cli_ignore_on_validate_makes_strict_pass(cli, spec_file):
    path = spec_file(FLOORED)
    assert cli("validate", path, "--strict", "-q").code == 1
    assert cli("validate", path, "--strict", "--ignore", "window-drops-input") == \
        (0, "1 file checked: 0 errors, 0 warnings (1 ignored)\n", "")
    data = json.loads(cli("validate", path, "--ignore", "window-drops-input", "-f", "json").out)
    assert data["summary"]["ignored"] == 1 and data["files"][0]["ignored"][0]["ignored_by"] == "--ignore"


def test_cli_ignore_is_repeatable_and_checked(cli, spec_file):
    path = spec_file("ignore: [unused-block]\n" + FLOORED)
    result = cli("validate", path, "--ignore", "window-drops-input", "--ignore", "excess-padding")
    assert result.code == 0
    # an error code or an unknown code is a usage error, with a suggestion
    result = cli("show", path, "--ignore", "expect-mismatch")
    assert result.code == 2 and "only warnings can be ignored" in result.err
    result = cli("validate", path, "--ignore", "window-drop")
    assert result.code == 2 and "did you mean 'window-drops-input'?" in result.err


def test_unused_ignore_is_not_reported_when_the_network_stops_early(spec_file):
    text = "input: [8]\nignore: [window-drops-input]\nlayers:\n  - conv: {filters: 8, kernel: 3}\n"
    assert codes(analyse(spec_file, text)) == ["needs-volume"]


def test_the_table_counts_ignored_warnings(cli, spec_file):
    out = cli("show", spec_file(FLOORED), "--ignore", "window-drops-input").out
    assert "Status  0 errors, 0 warnings (1 ignored)" in out and "window-drops-input" not in out
