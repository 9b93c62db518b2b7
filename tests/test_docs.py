"""The documentation's examples are real: each spec in docs/diagnostics.md, validated, prints
exactly the output shown under it."""
from __future__ import annotations

import re

import pytest

from conftest import ROOT

DOC = (ROOT / "docs" / "diagnostics.md").read_text(encoding="utf-8")
EXAMPLES = re.findall(r"^## (\S+)\n.*?```yaml\n(.*?)```\n\n```console\n\$ (archcalc [^\n]*)\n(.*?)```",
                      DOC, re.S | re.M)
# Examples that cannot be written literally in Markdown: a spec that is not UTF-8
# (tests/test_hostile.py runs it for real).
# ONNX models are binary: tests/test_onnx.py builds those examples' graphs and checks them.
NOT_LITERAL = {"file-encoding", "unsupported-op", "unknown-opset", "symbolic-input", "bad-onnx",
               "folded-batchnorm"}


def test_every_code_has_an_example():
    from archcalc.diagnostics import CATALOGUE

    assert {code for code, *_ in EXAMPLES} | NOT_LITERAL == set(CATALOGUE)


@pytest.mark.parametrize("code, spec, command, shown", [e for e in EXAMPLES if e[0] not in NOT_LITERAL],
                         ids=[e[0] for e in EXAMPLES if e[0] not in NOT_LITERAL])
def test_example_output_is_what_archcalc_prints(cli, tmp_path, monkeypatch, code, spec, command, shown):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "spec.yaml").write_text(spec, encoding="utf-8")
    result = cli(*command.split()[1:])
    # `export` prints its diagnostics on standard error (standard output is the module)
    text = result.err if command.startswith("archcalc export") else result.out
    printed = [line for line in text.splitlines() if not re.match(r"^\d+ files? checked", line)]
    while printed and not printed[-1]:
        printed.pop()
    assert printed == shown.rstrip("\n").splitlines()
    assert f"] {code} " in shown or f"[{code}] " in shown
