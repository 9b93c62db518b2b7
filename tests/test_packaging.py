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
    # the specs, and the index `archcalc list` reads (archcalc/zoo_index.py)
    assert '"archcalc._zoo" = ["*.yaml", "index.json"]' in text
    assert '"archcalc._zoo.examples" = ["*.yaml"]' in text


def test_console_script_enters_through_the_fast_path():
    text = (ROOT / "pyproject.toml").read_text()
    assert 'archcalc = "archcalc.main:main"' in text


def test_license_file_matches_the_declared_license():
    declared = re.search(r'^license = \{text = "([^"]+)"\}', (ROOT / "pyproject.toml").read_text(), re.M)
    assert declared and declared.group(1) == "MIT"
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License") and "WITHOUT WARRANTY OF ANY KIND" in text


def test_changelog_has_an_unreleased_section_in_keep_a_changelog_form():
    text = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert "keepachangelog.com" in text
    sections = re.findall(r"^## \[([^\]]+)\]", text, re.M)
    assert sections and sections[0] == "Unreleased"
    for version in sections[1:]:  # every released section names a version a tag can carry
        assert re.fullmatch(r"\d+\.\d+\.\d+", version), version


def test_install_instructions_name_nothing_that_does_not_exist():
    """There is no PyPI package and no release tag: CI and pre-commit install from the
    repository at a pinned commit."""
    import subprocess

    tags = subprocess.run(["git", "tag"], cwd=ROOT, capture_output=True, text=True).stdout.split()
    for path in [ROOT / "README.md", ROOT / ".pre-commit-hooks.yaml", *(ROOT / "docs").glob("*.md")]:
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"pip install archcalc\b", text), f"{path.name}: no PyPI package exists"
        for rev in re.findall(r"rev: (\S+)", text):
            assert rev == "<commit>" or rev in tags, f"{path.name}: rev {rev} is not a tag or a commit"
        for url in re.findall(r"git\+https://\S+", text):
            assert "@<commit>" in url, f"{path.name}: pin a commit in {url}"
