"""Every option of every command is documented: docs/cli.md has a `## archcalc COMMAND`
section per command, and each option's spellings appear in it. A new command or option
fails here until it is documented; the message says where."""
from __future__ import annotations

import re

import click

from conftest import ROOT

CLI_DOC = ROOT / "docs" / "cli.md"


def _sections() -> dict[str, str]:
    text = CLI_DOC.read_text(encoding="utf-8")
    parts = re.split(r"^## archcalc (\S+)\s*$", text, flags=re.M)
    return {parts[i]: parts[i + 1] for i in range(1, len(parts), 2)}


def _commands():
    from archcalc.cli import main

    ctx = click.Context(main)
    return [(name, main.get_command(ctx, name)) for name in main.list_commands(ctx)]


def test_every_command_has_a_section():
    sections = _sections()
    missing = [name for name, _ in _commands() if name not in sections]
    assert not missing, "docs/cli.md: add a section per command: " + ", ".join(
        f"`## archcalc {name}` (usage line, what it does, a table of its options)" for name in missing)


def test_every_option_of_every_command_is_documented_in_its_section():
    sections = _sections()
    problems = []
    for name, command in _commands():
        body = sections.get(name, "")
        for param in command.params:
            if not isinstance(param, click.Option) or param.hidden:
                continue
            for spelling in param.opts + param.secondary_opts:
                if f"`{spelling}`" not in body:
                    problems.append(f"`archcalc {name} {spelling}`: add it to the `## archcalc {name}` "
                                    f"section of docs/cli.md, as a row `| `{spelling}` ... | what it does |`")
    assert not problems, "\n".join(problems)


def test_documented_options_exist():
    """The reverse: a section does not describe options its command no longer has."""
    commands = dict(_commands())
    problems = []
    for name, body in _sections().items():
        if name not in commands:
            problems.append(f"docs/cli.md documents `archcalc {name}`, which does not exist")
            continue
        known = {s for p in commands[name].params if isinstance(p, click.Option)
                 for s in p.opts + p.secondary_opts} | {"--help", "-h"}
        for row in re.findall(r"^\| ((?:`-[^`]+`(?:, )?)+)", body, re.M):
            for spelling in re.findall(r"`(-[^`]+)`", row):
                if spelling not in known:
                    problems.append(f"docs/cli.md: `archcalc {name}` has no option {spelling}")
    assert not problems, "\n".join(problems)


def test_readme_links_the_reference():
    assert "(docs/cli.md)" in (ROOT / "README.md").read_text(encoding="utf-8")
