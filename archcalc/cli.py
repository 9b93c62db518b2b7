"""The command line: click parses options, the engine analyses, a reporter renders.

Commands import their heavy parts (engine, rich) inside the function body, so that
`archcalc show vgg16 --format json` never imports rich and `archcalc --help` imports
almost nothing.

Exit codes (every command): 0 no error (warnings allowed); 1 the spec has errors or a
check failed; 2 usage error, unreadable file, unknown built-in name.
"""
from __future__ import annotations

import os
import sys

import click

from . import __version__
from .app import (  # noqa: F401 - re-exported
    EXIT_ERRORS,
    EXIT_OK,
    EXIT_USAGE,
    UsageProblem,
    analyse_spec,
    load_document,
    write,
)


def parse_shape(text: str) -> tuple:
    """--input's parser: app.parse_shape with click's error."""
    from .app import parse_shape as parse

    try:
        return parse(text)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


class Count(click.ParamType):
    """A whole number option: ASCII digits only, from ``low`` to limits.MAX_INTEGER; with
    ``clamp`` (widths) a larger value is clamped to it instead of refused. Every integer
    option uses it, so no option accepts '٣' or a 400-digit number."""

    name = "integer"

    def __init__(self, low: int = 0, clamp: int | None = None):
        self.low = low
        self.clamp = clamp

    def convert(self, value, param, ctx):
        from .limits import parse_bounded_int

        if isinstance(value, int) and not isinstance(value, bool):
            number = value
        else:
            text = str(value).strip()
            number = parse_bounded_int(text)
            if number is None and self.clamp is not None and text.isascii() and text.isdigit():
                number = self.clamp  # a width of 10^30 columns is clamped like one of 10^4
        if number is None or number < self.low:
            shown = str(value) if len(str(value)) <= 30 else str(value)[:26] + "..."
            self.fail(f"expected a whole number from {self.low} to 10^18 (ASCII digits), found {shown!r}",
                      param, ctx)
        return min(number, self.clamp) if self.clamp is not None else number

    def __repr__(self) -> str:
        return f"Count({self.low})"


def width_option():
    """--width for every command: at least limits.MIN_WIDTH, clamped to limits.MAX_WIDTH."""
    from .limits import MAX_WIDTH, MIN_WIDTH

    return Count(MIN_WIDTH, clamp=MAX_WIDTH)


def seq_option(function):
    """--seq N: the sequence length of a token input (show, diff, validate, explain, export, draw)."""
    return click.option("--seq", type=Count(1), default=None, metavar="N",
                        help="Sequence length T of a token input (`input: {tokens: T}` or [T, D]); "
                             "the spec's `expect` pins then go unchecked, budgets hold.")(function)


def count_as_option(function):
    """--count-as TOOL: MACs as another tool counts them (show, diff, list, explain)."""
    from .conventions import NAMES

    return click.option("--count-as", "count_as", type=click.Choice(NAMES), default=None,
                        help="Report MACs as this tool counts them on the same network (its own "
                             "rules for bias, batch norm, activations, pooling, attention; see "
                             "docs/metrics.md); archcalc's own count stays in JSON as exact_macs.")(function)


def shape_option(ctx, param, value):
    return None if value is None else parse_shape(value)


def write_output(text: str, path: str | None, force: bool | None = None, inputs=(), suffix=None):
    """To standard output, or to the file ``path`` (-o); exit 2 when it cannot be written.

    The file is written whole or not at all: to a temporary file beside it, then renamed
    over it, so a failed write leaves the old file as it was. Refused (exit 2): a directory,
    anything that is not a regular file (a FIFO, a device such as /dev/zero or /dev/stdout, a
    socket), one of the ``inputs`` (the spec files read: `show -o spec.yaml` must not destroy
    the spec), and, unless ``force`` is true, a dangling symbolic link. An existing file with
    other contents is refused when ``force`` is false (commands with --force), replaced when
    it is None (show, draw, diff) or true. A symbolic link to a file is followed: the file it
    names is replaced. ``suffix`` = (".svg", message) or ((".svg", ".png"), message): a name
    not ending so is refused with the message (after the refusals above), never written in a
    format its name does not say. ``text`` may be bytes (a PNG, a PDF): written as they are."""
    if path is None or path == "-":
        write(text)
        return
    from .render.terminal import use_colour, visible

    data = text if isinstance(text, bytes) else visible(text, colour=use_colour()).encode("utf-8", "backslashreplace")
    shown = ascii(path)[1:-1] if not path.isprintable() else path
    try:
        info = os.stat(path)  # what a symbolic link names (a pipe, for /dev/stdout)
    except FileNotFoundError:
        info = None
    except OSError as exc:
        fail_usage(f"cannot write {shown!r}: {exc.strerror or exc}")
    link = os.path.islink(path)
    if link and info is None and force is not True:
        fail_usage(f"{shown!r} is a symbolic link to a file that does not exist; "
                   + ("pass --force to create it" if force is False else "name a file instead"))
    target = os.path.realpath(path) if link else path
    if info is not None:
        import stat

        if stat.S_ISDIR(info.st_mode):
            fail_usage(f"{shown!r} is a directory")
        if not stat.S_ISREG(info.st_mode):
            fail_usage(f"{shown!r} is not a regular file (a device, FIFO or socket); -o writes files "
                       "only: use the shell's > for anything else")
        for spec in inputs:
            try:
                if spec not in (None, "-") and os.path.samefile(spec, target):
                    fail_usage(f"{shown!r} is the spec being read; write the output to another file")
            except OSError:
                continue
    if suffix is not None and not path.lower().endswith(suffix[0]):
        fail_usage(suffix[1].format(found=os.path.splitext(shown)[1][:16] or "a name without a suffix"))
    if info is not None:
        if force is False:
            same = info.st_size == len(data)
            if same:
                try:
                    with open(target, "rb") as handle:
                        same = handle.read(len(data) + 1) == data
                except OSError:
                    same = False
            if not same:
                fail_usage(f"{shown!r} exists with other contents; pass --force to overwrite it")
            return
    _replace(target, data, info, shown)


def _replace(target: str, data: bytes, info, shown: str):
    """Write ``data`` to a temporary file in ``target``'s directory and rename it over
    ``target`` (atomic on POSIX); keep an existing file's permissions."""
    import tempfile

    directory = os.path.dirname(os.path.abspath(target))
    try:
        handle, temporary = tempfile.mkstemp(prefix=".archcalc-", suffix=".tmp", dir=directory)
    except OSError as exc:
        fail_usage(f"cannot write {shown!r}: {exc.strerror or exc}")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        if info is not None:
            os.chmod(temporary, info.st_mode & 0o7777)
        else:
            mask = os.umask(0)
            os.umask(mask)
            os.chmod(temporary, 0o666 & ~mask)
        os.replace(temporary, target)
    except OSError as exc:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        fail_usage(f"cannot write {shown!r}: {exc.strerror or exc}")


def check_view_size(analysis, what: str, rows: int | None = None):
    """Exit 1 with a located `too-large` on standard error when the network has more layers
    than a per-layer view writes out — or the view ``rows`` more rows — (limits.MAX_VIEW_ROWS),
    before anything is built."""
    from .app import view_too_large

    if view_too_large(analysis, what, rows):
        sys.exit(EXIT_ERRORS)


def ignore_option(ctx, param, values):
    """--ignore CODE (repeatable): each must be a warning code of the catalogue."""
    from .ignores import check_code

    for code in values:
        problem = check_code(code)
        if problem is not None:
            raise click.BadParameter(problem)
    return tuple(values)


def fail_usage(message: str):
    from .render.terminal import visible

    click.echo(f"archcalc: error: {visible(message)}", err=True)
    sys.exit(EXIT_USAGE)


class LazyGroup(click.Group):
    """Commands live in ``archcalc/commands/<name>.py`` and are imported only when invoked,
    so `archcalc show ... --format json` pays for no other command's imports."""

    COMMANDS = {
        "show": "archcalc.commands.show:show",
        "list": "archcalc.commands.list_:list_",
        "validate": "archcalc.commands.validate:validate",
        "diff": "archcalc.commands.diff:diff",
        "draw": "archcalc.commands.draw:draw",
        "explain": "archcalc.commands.explain:explain",
        "schema": "archcalc.commands.schema:schema",
        "export": "archcalc.commands.export:export",
        "import": "archcalc.commands.import_:import_",
        "fit": "archcalc.commands.fit:fit",
    }

    def list_commands(self, ctx):
        return list(self.COMMANDS)

    def get_command(self, ctx, name):
        target = self.COMMANDS.get(name)
        if target is None:
            return None
        import importlib

        module, attr = target.split(":")
        return getattr(importlib.import_module(module), attr)

    def resolve_command(self, ctx, args):
        if args and args[0] not in self.COMMANDS and not args[0].startswith("-"):
            import difflib

            close = difflib.get_close_matches(args[0], list(self.COMMANDS), n=1)
            if close:
                ctx.fail(f"No such command {args[0]!r}. Did you mean {close[0]!r}?")
        return super().resolve_command(ctx, args)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"],
                                              "max_content_width": 100})
@click.version_option(__version__, prog_name="archcalc")
def main():
    """archcalc — exact shapes, parameters and MACs of neural networks from YAML specs.

    SPEC is a built-in network (`archcalc list`), a spec file, or - for standard input.
    """


def run():
    """Console-script entry: click plus the promises no traceback and quiet broken pipes."""
    from .app import WRITE_ERRORS, output_failed

    try:
        main(standalone_mode=False, prog_name="archcalc")
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:  # usage errors, as click's standalone mode shows them
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("archcalc: interrupted", err=True)
        sys.exit(130)
    except BrokenPipeError as exc:
        # The reader went away (`archcalc show vgg16 | head`); that is not an error of ours.
        sys.exit(output_failed(exc))
    except KeyboardInterrupt:
        click.echo("archcalc: interrupted", err=True)
        sys.exit(130)
    except OSError as exc:
        if exc.errno in WRITE_ERRORS:  # a full disk, a closed output: one line, exit 2
            sys.exit(output_failed(exc))
        click.echo(f"archcalc: internal error (please report it): {type(exc).__name__}: {exc}", err=True)
        sys.exit(EXIT_ERRORS)
    except RecursionError:
        click.echo("archcalc: error: the spec nests too deeply to analyse", err=True)
        sys.exit(EXIT_ERRORS)
    except Exception as exc:  # noqa: BLE001 - the promise is: never a traceback
        from .render.terminal import visible

        click.echo(f"archcalc: internal error (please report it): {type(exc).__name__}: {visible(str(exc))}",
                   err=True)
        sys.exit(EXIT_ERRORS)
