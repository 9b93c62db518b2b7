"""The README's examples must stay true: its spec snippets analyse cleanly and its two set-up
commands are the ones .ci/run runs."""
from __future__ import annotations

import re

from conftest import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", README, re.S)


def test_exactly_two_setup_commands_and_ci_runs_the_test_one():
    commands = _blocks("sh")
    assert len(commands) == 2
    install_and_run, install_and_test = (c.strip() for c in commands)
    assert install_and_run.startswith("pip install .") and "archcalc show" in install_and_run
    assert "pytest" in install_and_test
    ci = (ROOT / ".ci" / "run").read_text()
    assert install_and_test.replace("pip install", "python3 -m pip install").replace(
        "python -m pytest", "python3 -m pytest") in ci


def test_the_tiny_spec_is_clean(cli, spec_file):
    tiny = _blocks("yaml")[0]
    result = cli("validate", spec_file(tiny))
    assert result.code == 0, result.out


def test_every_leaf_kind_example_analyses(cli, spec_file):
    leaf_examples = next(b for b in _blocks("yaml") if b.startswith("- conv"))
    # each line is one layer; give each its own input of a fitting shape
    for line in leaf_examples.splitlines():
        entry = line.split("#")[0].rstrip()
        if not entry:
            continue
        shape = "[1024]" if entry.startswith("- dense") else "[227, 227, 96]"
        result = cli("validate", spec_file(f"input: {shape}\nlayers:\n  {entry}\n"))
        assert result.code == 0, (entry, result.out)


def test_the_blocks_example_analyses(cli, spec_file):
    composite = next(b for b in _blocks("yaml") if b.startswith("blocks:"))
    result = cli("show", spec_file("input: [56, 56, 256]\n" + composite), "--format", "json")
    assert result.code == 0, result.out


def test_the_shown_table_is_what_archcalc_prints(cli):
    shown = re.search(r"```text\n\$ archcalc show alexnet\n(.*?)```", README, re.S).group(1)
    result = cli("show", "alexnet", "--width", "100")
    assert (result.code, result.out, result.err) == (0, shown, "")


def test_the_shown_validate_excerpt_is_what_archcalc_prints(cli, monkeypatch):
    shown = re.search(r"```text\n\$ archcalc validate specs/examples/alexnet-224.yaml\n(.*?)\.\.\.\n```",
                      README, re.S).group(1)
    monkeypatch.chdir(ROOT)
    result = cli("validate", "specs/examples/alexnet-224.yaml")
    assert result.code == 1 and result.out.startswith(shown)
