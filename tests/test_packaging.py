"""The installed package must carry every subpackage and the zoo (pyproject lists them by hand,
because the zoo lives in specs/ and is mapped to archcalc._zoo)."""
from __future__ import annotations

import re

from conftest import ROOT


def _declared_packages() -> set[str]:
    text = (ROOT / "pyproject.toml").read_text()
    match = re.search(r"^packages = \[(.*?)\]", text, re.S | re.M)
    assert match, "pyproject.toml must list packages under [tool.setuptools]"
    return set(re.findall(r'"([^"]+)"', match.group(1)))


def test_every_subpackage_is_declared():
    on_disk = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "archcalc").rglob("__init__.py")}
    missing = on_disk - _declared_packages()
    assert not missing, f"add {sorted(missing)} to pyproject.toml's packages"


def test_zoo_is_mapped_into_the_package():
    text = (ROOT / "pyproject.toml").read_text()
    assert '"archcalc._zoo" = "specs"' in text
    assert '"archcalc._zoo" = ["*.yaml"]' in text
    assert '"archcalc._zoo.examples" = ["*.yaml"]' in text


def test_console_script_enters_through_the_fast_path():
    text = (ROOT / "pyproject.toml").read_text()
    assert 'archcalc = "archcalc.app:main"' in text
