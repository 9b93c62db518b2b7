"""Shared test helpers.

* ``cli(*args, stdin=None)`` runs archcalc in-process (click's runner) and returns
  ``Result(code, out, err)``: assert the three together.
* ``run_process(*args, stdin=None)`` runs ``python -m archcalc`` as a real process: use it
  where start-up, imports or "never a traceback" are what is tested.
* ``golden(name, text)`` compares text with ``tests/golden/<name>``; run
  ``pytest --update-goldens`` to rewrite the files (then read the diff before committing).
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

import pytest

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"
GOLDEN = Path(__file__).resolve().parent / "golden"


class Result(NamedTuple):
    code: int
    out: str
    err: str


def pytest_addoption(parser):
    parser.addoption("--update-goldens", action="store_true", default=False,
                     help="rewrite tests/golden/* from the current output")


@pytest.fixture
def cli():
    from click.testing import CliRunner

    from archcalc.cli import main

    def invoke(*args, stdin: str | bytes | None = None, env: dict | None = None) -> Result:
        runner = CliRunner()
        base = {"NO_COLOR": "1", "COLUMNS": "100", "GITHUB_ACTIONS": ""}
        base.update(env or {})
        result = runner.invoke(main, [str(a) for a in args], input=stdin, env=base,
                               catch_exceptions=True)
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        return Result(result.exit_code, result.stdout, result.stderr)

    return invoke


def run_process(*args, stdin: str | bytes | None = None, env: dict | None = None,
                timeout: float = 60) -> Result:
    environment = dict(os.environ)
    environment.update({"NO_COLOR": "1", "COLUMNS": "100", "PYTHONPATH": str(ROOT)})
    environment.pop("GITHUB_ACTIONS", None)
    environment.update(env or {})
    data = stdin.encode() if isinstance(stdin, str) else stdin
    p = subprocess.run([sys.executable, "-m", "archcalc", *map(str, args)], input=data,
                       capture_output=True, env=environment, timeout=timeout, cwd=str(ROOT))
    return Result(p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace"))


@pytest.fixture(name="run_process")
def _run_process():
    return run_process


@pytest.fixture
def golden(request):
    update = request.config.getoption("--update-goldens")

    def check(name: str, text: str):
        path = GOLDEN / name
        if update or not path.exists():
            if not update:
                pytest.fail(f"golden file {path} is missing; run pytest --update-goldens to create it")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            return
        expected = path.read_text(encoding="utf-8")
        assert text == expected, f"output differs from {path}; if the change is intended, run " \
                                 "pytest --update-goldens and review the diff"

    return check


def locate(text: str, token: str, nth: int = 1) -> tuple[int, int]:
    """1-based (line, column) of the nth occurrence of ``token`` in ``text``: expected
    locations are found in the spec text, never copied from archcalc's output."""
    at = -1
    for _ in range(nth):
        at = text.index(token, at + 1)
    return text.count("\n", 0, at) + 1, at - (text.rfind("\n", 0, at) + 1) + 1


def analyse_text(spec_file, text: str):
    """Write ``text`` to a spec file and analyse it through the public API."""
    import archcalc

    return archcalc.analyze(archcalc.load(str(spec_file(text))))


def codes(analysis) -> list[str]:
    return [d.code for d in analysis.diagnostics]


@pytest.fixture
def spec_file(tmp_path):
    """Write YAML text to a temporary spec file and return its path."""
    counter = iter(range(10_000))

    def write(text: str, name: str | None = None) -> Path:
        path = tmp_path / (name or f"spec{next(counter)}.yaml")
        path.write_text(text, encoding="utf-8")
        return path

    return write


def require_tool(name: str) -> str:
    """The path of a command-line referee (ruff, chromium, …): skipped locally when it is not
    installed, a failure under CI=true, where .ci/run installs it (missing is a bug there)."""
    import shutil

    found = shutil.which(name)
    if found is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{name} is not installed, but CI=true requires it (.ci/run installs it)")
        pytest.skip(f"{name} is not installed (pip install {name} runs this check)")
    return found
