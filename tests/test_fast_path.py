"""The click-free fast path for `show SPEC --format json|csv|markdown` must be
indistinguishable from the click command, and must step aside for anything else."""
from __future__ import annotations

import pytest

from archcalc import app

SAME_AS_CLICK = [
    ["show", "lenet5", "--format", "json"],
    ["show", "lenet5", "-f", "csv"],
    ["show", "--format=markdown", "alexnet"],
    ["show", "vgg16", "--format", "json", "--input", "32x32x3"],
    ["show", "specs/examples/alexnet-224.yaml", "--format", "json"],  # exit 1: expect mismatches
    ["show", "no-such-network", "--format", "json"],                  # exit 2: unknown name
    ["show", "gpt2", "--format", "json", "--seq", "128"],
    ["show", "--seq=64", "qwen2-0.5b", "-f", "csv"],
    ["show", "vgg16", "--format", "json", "--seq", "4"],              # exit 2: not a token input
    ["show", "resnet50", "--format", "json", "--count-as", "fvcore"],
    ["show", "--count-as=thop", "alexnet", "-f", "csv"],
    ["show", "lenet5", "-f", "markdown", "--count-as", "ptflops"],
]


@pytest.mark.parametrize("argv", SAME_AS_CLICK, ids=" ".join)
def test_fast_path_matches_click(argv, cli, capsys, monkeypatch):
    monkeypatch.chdir(app.__file__.rsplit("/archcalc/", 1)[0])
    code = app.fast_show(argv)
    fast = capsys.readouterr()
    assert code is not None, "the fast path should have handled this"
    slow = cli(*argv)
    assert (code, fast.out, fast.err) == (slow.code, slow.out, slow.err)


STEP_ASIDE = [
    ["show", "lenet5"],                                  # table: needs rich, goes through click
    ["show", "lenet5", "--format", "table"],
    ["show", "lenet5", "--format", "json", "--depth", "1"],
    ["show", "lenet5", "--format", "yaml"],              # not a format: click reports it
    ["show", "lenet5", "--format"],                      # missing value
    ["show", "lenet5", "--format", "json", "--format", "csv"],
    ["show", "lenet5", "vgg16", "--format", "json"],     # two specs
    ["show", "--format", "json"],                        # no spec
    ["show", "lenet5", "--format", "json", "--input", "2x2"],  # bad shape: click's message
    ["show", "gpt2", "--format", "json", "--seq", "0"],  # out of range: click's message
    ["show", "gpt2", "--format", "json", "--seq", "x"],
    ["show", "gpt2", "--format", "json", "--seq", "8", "--seq", "9"],
    ["show", "lenet5", "--format", "json", "--count-as", "flopth"],   # not a convention
    ["show", "lenet5", "--format", "json", "--count-as", "thop", "--count-as", "torch"],
    ["show", "lenet5", "--format", "json", "--count-as"],
    ["validate", "lenet5"],
    ["--help"],
    [],
]


@pytest.mark.parametrize("argv", STEP_ASIDE, ids=lambda a: " ".join(a) or "(none)")
def test_fast_path_steps_aside(argv, capsys):
    assert app.fast_show(argv) is None
    assert capsys.readouterr() == ("", "")


DIFF_SAME_AS_CLICK = [
    ["diff", "alexnet", "vgg16"],
    ["diff", "resnet18", "resnet34"],
    ["diff", "specs/examples/alexnet-224.yaml", "alexnet"],  # exit 1: errors on stderr
    ["diff", "no-such-network", "vgg16"],                     # exit 2: unknown name
]


@pytest.mark.parametrize("argv", DIFF_SAME_AS_CLICK, ids=" ".join)
def test_fast_diff_matches_click(argv, cli, capsys, monkeypatch):
    monkeypatch.chdir(app.__file__.rsplit("/archcalc/", 1)[0])
    code = app.fast_diff(argv)
    fast = capsys.readouterr()
    assert code is not None, "the fast path should have handled this"
    slow = cli(*argv)
    assert (code, fast.out, fast.err) == (slow.code, slow.out, slow.err)


@pytest.mark.parametrize("argv", [
    ["diff", "alexnet"], ["diff", "alexnet", "vgg16", "--all"], ["diff", "--width", "80", "alexnet"],
    ["diff", "-", "-"], ["diff", "alexnet", "vgg16", "vgg19"], ["show", "alexnet", "vgg16"],
], ids=" ".join)
def test_fast_diff_steps_aside(argv, capsys):
    assert app.fast_diff(argv) is None
    assert capsys.readouterr() == ("", "")


EXPORT_SAME_AS_CLICK = [
    ["export", "lenet5"],
    ["export", "resnet18"],
    ["export", "specs/examples/alexnet-224.yaml"],  # exit 1: errors on stderr, nothing written
    ["export", "no-such-network"],                  # exit 2: unknown name
]


@pytest.mark.parametrize("argv", EXPORT_SAME_AS_CLICK, ids=" ".join)
def test_fast_export_matches_click(argv, cli, capsys, monkeypatch):
    monkeypatch.chdir(app.__file__.rsplit("/archcalc/", 1)[0])
    code = app.fast_export(argv)
    fast = capsys.readouterr()
    assert code is not None, "the fast path should have handled this"
    slow = cli(*argv)
    assert (code, fast.out, fast.err) == (slow.code, slow.out, slow.err)


@pytest.mark.parametrize("argv", [
    ["export"], ["export", "lenet5", "-o", "lenet5.py"], ["export", "--help"], ["export", "lenet5", "vgg16"],
    ["export", "lenet5", "--seq", "4"], ["show", "lenet5"],
], ids=" ".join)
def test_fast_export_steps_aside(argv, capsys):
    assert app.fast_export(argv) is None
    assert capsys.readouterr() == ("", "")
