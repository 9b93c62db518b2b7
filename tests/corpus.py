"""Every spec the project knows, collected where it lives, so that checks over "all specs"
(the PyTorch referee) cover new ones without being told:

* ``builtins()``   — the zoo, as `archcalc list` sees it (a new built-in is covered at once);
* ``spec_files()`` — every *.yaml under specs/;
* ``test_specs()`` — every YAML text in the tests' sources (string constants of tests/*.py
  that read as a spec: a mapping with `input` and `layers`), and the complete specs shown
  in README.md and docs/*.md.

``valid()`` keeps the ones that analyse without errors, once per distinct text (a built-in
is its file under specs/ in a source checkout), as (id, Document, number of layers, input).
``input`` is None, or the spec's own input for a file whose only errors are its pinned
`expect` values (specs/examples/alexnet-224.yaml pins the paper's 55×55 on purpose): given
explicitly, as `--input` does, the pins go unchecked.
"""
from __future__ import annotations

import ast
import hashlib
import re
from functools import lru_cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TESTS = ROOT / "tests"


def builtins() -> list[str]:
    from archcalc.readers import zoo

    return zoo.names()


def spec_files() -> list[Path]:
    return sorted((ROOT / "specs").rglob("*.yaml"))


def _looks_like_spec(text: str) -> bool:
    return "input:" in text and "layers:" in text and "\n" in text


def _strings_in(path: Path):
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except SyntaxError:
        return
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and _looks_like_spec(node.value):
            yield node.value


def test_specs() -> list[tuple[str, str]]:
    """(id, text) of the spec texts the tests and docs contain, without repeats."""
    found, seen = [], set()

    def add(origin: str, text: str):
        digest = hashlib.sha1(text.encode("utf-8", "replace")).hexdigest()[:8]
        if digest not in seen:
            seen.add(digest)
            found.append((f"{origin}:{digest}", text))

    for path in sorted(TESTS.glob("*.py")):
        for text in _strings_in(path):
            add(path.stem, text)
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        if path.exists():
            for text in re.findall(r"```yaml\n(.*?)```", path.read_text(encoding="utf-8"), re.S):
                if _looks_like_spec(text):
                    add(path.stem, text)
    return found


test_specs.__test__ = False  # a collector, not a test


@lru_cache(maxsize=None)
def valid() -> tuple:
    """(id, Document, layers) for every built-in, spec file and test spec without errors."""
    from archcalc import readers
    from archcalc.readers import yaml_ as source
    from archcalc.engine import analyze

    documents = [(f"builtin:{name}", readers.load_spec(name)) for name in builtins()]
    documents += [(f"file:{path.relative_to(ROOT)}", source.read(str(path))) for path in spec_files()]
    documents += [(origin, source.parse(text, "spec.yaml")) for origin, text in test_specs()]
    kept, texts = [], set()
    for origin, doc in documents:
        if doc.text in texts:
            continue
        texts.add(doc.text)
        try:
            analysis, given = analyze(doc), None
            if analysis.errors and analysis.input and origin.startswith("file:"):
                analysis, given = analyze(doc, input_shape=analysis.input), analysis.input
        except RecursionError:
            continue
        if analysis.output is not None and not analysis.errors:
            kept.append((origin, doc, analysis.totals.layers, given))
    return tuple(kept)
