"""One registry of reporters, keyed by (report, format): every `--format` choice comes from it,
every entry resolves, and the formats the fast path answers import neither click nor rich."""
from __future__ import annotations

import subprocess
import sys

import pytest

from archcalc.render import REPORTERS, fast_formats, formats, reporter, streamer


@pytest.mark.parametrize("key", sorted(REPORTERS))
def test_every_entry_resolves_to_a_function(key):
    assert callable(reporter(*key))
    stream = streamer(*key)
    assert stream is None or callable(stream)


@pytest.mark.parametrize(("command", "report"), [("show", "show"), ("list", "list_"), ("diff", "diff"),
                                                 ("validate", "problems")])
def test_each_commands_format_choices_are_the_registrys(command, report):
    import importlib

    module = importlib.import_module(f"archcalc.commands.{'list_' if command == 'list' else command}")
    click_command = getattr(module, "list_" if command == "list" else command)
    option = next(p for p in click_command.params if p.name == "fmt")
    wanted = formats("list" if report == "list_" else report)
    assert wanted and tuple(option.type.choices) == wanted


def test_an_unknown_report_has_no_formats():
    assert formats("nothing") == ()


@pytest.mark.parametrize("fmt", fast_formats("show"))
def test_fast_formats_import_neither_click_nor_rich(fmt):
    code = ("import sys; from archcalc.render import reporter; from archcalc.readers import load_spec;"
            "from archcalc.engine import analyze;"
            f"reporter('show', {fmt!r})(analyze(load_spec('alexnet')), {{}});"
            "print(sorted(m for m in ('click', 'rich') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_the_fast_path_answers_exactly_the_fast_formats():
    from archcalc.app import _fast_show_arguments

    for fmt in formats("show"):
        parsed = _fast_show_arguments(["show", "alexnet", "--format", fmt])
        assert (parsed is not None) == (fmt in fast_formats("show")), fmt
