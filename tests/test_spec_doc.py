"""docs/spec.md is the users' reference of the spec format: it must cover every leaf kind and
field the registry knows, every composite and top-level key the schema knows, and its full
examples must be specs archcalc accepts. A new kind fails here until it is documented; the
failure message says exactly what to add."""
from __future__ import annotations

import re

import pytest

from conftest import ROOT

SPEC_DOC = ROOT / "docs" / "spec.md"
TEXT = SPEC_DOC.read_text(encoding="utf-8")


def _section(title: str) -> str:
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", TEXT, re.S | re.M)
    assert match, f"docs/spec.md needs a `## {title}` section"
    return match.group(1)


def _subsections(section: str) -> dict[str, str]:
    """`### \\`kind\\`` heading -> its text, in one section."""
    parts = re.split(r"^### `([^`]+)`\s*$", section, flags=re.M)
    return {parts[i]: parts[i + 1] for i in range(1, len(parts), 2)}


def _template(kind) -> str:
    """The subsection a new kind needs, to paste into docs/spec.md and complete."""
    from archcalc.schema import _yaml_default

    lines = [f"### `{kind.name}`", "", kind.doc + (f" Primary field: `{kind.primary}`." if kind.primary else
                                                  " No fields."), ""]
    if kind.fields:
        lines += ["| field | default | value |", "|---|---|---|"]
        for name, spec in kind.fields.items():
            default = "—" if spec.required else _yaml_default(spec.default)
            lines.append(f"| `{name}`{'*' if spec.required else ''} | {default} | {spec.doc} |")
        lines.append("")
    lines += ["- Shape: … → …. Params: …. MACs: ….", "", "```yaml", f"- {kind.name}", "```"]
    return "\n".join(lines)


def _where(kind) -> str:
    import sys

    for name, module in sorted(sys.modules.items()):
        if name.startswith("archcalc.layers.") and kind in getattr(module, "KINDS", ()):
            return f" (declared in {name.replace('.', '/')}.py)"
    return ""


def test_every_leaf_kind_has_a_subsection_with_its_fields_and_an_example():
    from archcalc.layers import REGISTRY

    documented = _subsections(_section("Layer kinds"))
    problems = []
    for name, kind in REGISTRY.items():
        body = documented.get(name)
        if body is None:
            problems.append(f"kind `{name}`{_where(kind)} has no subsection. Add under `## Layer kinds` in "
                            f"docs/spec.md (fields with defaults, shape/params/MACs rule, an example):\n\n"
                            f"{_template(kind)}\n")
            continue
        missing = [field for field in kind.fields if f"`{field}`" not in body]
        if missing:
            problems.append(f"### `{name}` in docs/spec.md does not mention the field(s) "
                            + ", ".join(f"`{f}`" for f in missing)
                            + " (write each as `field` in its table, with its default)")
        if not re.search(rf"```yaml\n(?:.*\n)*?\s*- {re.escape(name)}\b", body):
            problems.append(f"### `{name}` in docs/spec.md has no example: add a ```yaml block with "
                            f"`- {name}` (or `- {name}: ...`)")
        if not re.search(r"[Pp]arams", body) or not re.search(r"MACs", body):
            problems.append(f"### `{name}` in docs/spec.md must state its params and MACs rules")
    stale = sorted(set(documented) - set(REGISTRY))
    if stale:
        problems.append("docs/spec.md documents kinds the registry does not know (remove or rename): "
                        + ", ".join(stale))
    assert not problems, "\n\n".join(problems)


def test_every_composite_and_its_fields_are_documented():
    from archcalc.schema import composite_schemas

    documented = _subsections(_section("Composite kinds"))
    problems = []
    for name, schema in composite_schemas().items():
        body = documented.get(name)
        if body is None:
            problems.append(f"composite `{name}` has no `### \\`{name}\\`` subsection under "
                            "`## Composite kinds` in docs/spec.md")
            continue
        for field in schema["properties"]:
            if field not in ("name", "expect", "frozen", "from", "ignore", "when") and f"`{field}`" not in body:  # common fields
                problems.append(f"### `{name}` in docs/spec.md does not mention its field `{field}`")
        if "enum" in str(schema["properties"].get("merge", "")):
            merges = re.findall(r"'enum': \[([^\]]*)\]", str(schema["properties"]["merge"]))[0]
            for merge in re.findall(r"'(\w+)'", merges):
                if f"`{merge}`" not in body:
                    problems.append(f"### `{name}` in docs/spec.md does not explain `merge: {merge}`")
    assert not problems, "\n".join(problems)


def test_every_top_level_key_total_and_common_field_is_documented():
    from archcalc.compiler import COMMON_KEYS
    from archcalc.engine import TOP_LEVEL_KEYS, TOTAL_KEYS
    from archcalc.schema import build_schema

    top = _section("Top-level keys")
    schema = build_schema()
    for key in set(TOP_LEVEL_KEYS) | set(schema["properties"]):
        assert f"| `{key}` |" in top, f"add a row for the top-level key `{key}` to the table in " \
                                      "`## Top-level keys` of docs/spec.md"
    for key in TOTAL_KEYS:
        assert f"| `{key}` |" in top, f"add a row for `expect.{key}` under `### Pinned totals and " \
                                      "budgets` in docs/spec.md"
    entries = _section("Layer entries")
    for key in COMMON_KEYS:
        assert f"| `{key}` |" in entries, f"add a row for the field `{key}` every entry accepts to " \
                                          "`## Layer entries` in docs/spec.md"
    blocks = _section("Blocks")
    for key in schema["definitions"]["block"]["properties"]:
        assert f"| `{key}` |" in blocks, f"add a row for the block field `{key}` to `## Blocks` in docs/spec.md"


FULL_EXAMPLES = [b for b in re.findall(r"```yaml\n(.*?)```", TEXT, re.S) if re.search(r"^layers:", b, re.M)]


@pytest.mark.parametrize("example", FULL_EXAMPLES, ids=[f"example{i}" for i in range(len(FULL_EXAMPLES))])
def test_full_examples_are_accepted(cli, spec_file, example):
    text = example if re.search(r"^input:", example, re.M) else "input: [56, 56, 64]\n" + example
    result = cli("validate", spec_file(text))
    assert result.code == 0, result.out


def test_full_examples_exist():
    assert len(FULL_EXAMPLES) >= 2  # the top-level tour and the blocks example


def test_docs_never_send_users_to_the_contract():
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        assert "SPEC-CONTRACT" not in path.read_text(encoding="utf-8"), \
            f"{path.relative_to(ROOT)} refers to SPEC-CONTRACT, which users do not have: link docs/spec.md"
