"""`archcalc validate PATH...`: every problem of every spec file, located, for CI.

Parsing the command line, checking the files and rendering are kept apart: ``expand_paths``
turns arguments into files, ``check_file`` turns one file into a ``FileReport`` (never
raising), and a reporter from the ("problems", format) registry renders them all at once. One process
checks every file: the engine is imported once and no file costs a re-import.

Exit codes: 2 if any path could not be read (or matched nothing); else 1 if any file has an
error (or, with ``--strict``, a warning); else 0.
"""
from __future__ import annotations

import os
import sys

import click

from ..cli import (
    EXIT_ERRORS,
    EXIT_OK,
    EXIT_USAGE,
    Count,
    UsageProblem,
    ignore_option,
    load_document,
    write,
)
from ..render import formats, reporter
from ..render.problems import FileReport, summarise

SPEC_SUFFIXES = (".yaml", ".yml")
GLOB_CHARACTERS = "*?["
# Below this many files a second process costs more (~50 ms to start) than it saves.
PARALLEL_FROM = 100
# --max-* option -> the total it bounds
BUDGET_OPTIONS = {"max_params": "params", "max_macs": "macs", "max_flops": "flops"}


def _count_option(ctx, param, value):
    if value is None:
        return None
    from ..engine import parse_count

    number = parse_count(value)
    if number is None or number < 0:
        raise click.BadParameter(f"expected a count such as 5000000, 5M or 2.5G, found {value!r}")
    return (number, value)


@click.command()
@click.argument("paths", nargs=-1, required=True, metavar="PATH...")
@click.option("-f", "--format", "fmt", type=click.Choice(formats("problems")), default=None,
              help="Output format [default: github when GITHUB_ACTIONS=true, else pretty].")
@click.option("--strict", is_flag=True, help="Treat warnings as errors (exit 1).")
@click.option("-q", "--quiet", is_flag=True,
              help="Print only errors (and warnings with --strict); no summary when all is well.")
@click.option("--max-params", callback=_count_option, metavar="COUNT",
              help="Fail when a network has more parameters, e.g. 5M.")
@click.option("--max-macs", callback=_count_option, metavar="COUNT",
              help="Fail when a network needs more multiply-accumulates, e.g. 2G.")
@click.option("--max-flops", callback=_count_option, metavar="COUNT",
              help="Fail when a network needs more FLOPs (2 × MACs), e.g. 4G.")
@click.option("--color/--no-color", default=None,
              help="Colour the pretty format [default: only on a terminal, unless NO_COLOR is set].")
@click.option("--ignore", "ignore", multiple=True, metavar="CODE", callback=ignore_option,
              help="Ignore warnings of this code (repeatable); they are listed as ignored in --format "
                   "json. Only warnings can be ignored.")
@click.option("--seq", type=Count(1), default=None, metavar="N",
              help="Sequence length T for the files with a token input (their `expect` pins then "
                   "go unchecked; budgets hold); files with other inputs ignore it.")
@click.option("-j", "--jobs", type=Count(0), default=0, show_default=True,
              help="Processes checking files in parallel; 0 = one per core when there are "
                   f"at least {PARALLEL_FROM} files.")
def validate(paths, fmt, strict, quiet, max_params, max_macs, max_flops, color, ignore, seq, jobs):
    """Check spec files and report every problem, located. Exit 1 on any error.

    PATH is a spec file, a glob (expanded here too, for shells that do not), a directory
    (every *.yaml / *.yml below it), a built-in network name, or - for standard input.
    """
    budgets = {option: bound for option, bound in
               (("max_params", max_params), ("max_macs", max_macs), ("max_flops", max_flops))
               if bound is not None}
    if fmt is None:
        fmt = "github" if os.environ.get("GITHUB_ACTIONS") == "true" else "pretty"
    if color is None:
        from ..render.terminal import use_colour

        color = use_colour()

    reports = check_all(expand_paths(paths), budgets, jobs, ignore, seq)
    summary = summarise(reports)
    for report in reports:
        if report.unreadable is not None:
            from ..render.terminal import visible

            click.echo(f"archcalc: error: {visible(report.unreadable)}", err=True)
    options = {"quiet": quiet, "strict": strict, "color": fmt == "pretty" and color}
    write(reporter("problems", fmt)(reports, summary, options), colour=options["color"])
    if summary.unreadable:
        sys.exit(EXIT_USAGE)
    sys.exit(EXIT_ERRORS if summary.errors or (strict and summary.warnings) else EXIT_OK)


# ---------------------------------------------------------------------------------- paths
def expand_paths(arguments) -> list[tuple[str, str | None]]:
    """Arguments -> (path, problem) in the order given, each file once. ``problem`` is set
    for an argument that names nothing to check."""
    seen: set[str] = set()
    result: list[tuple[str, str | None]] = []

    def add(path, problem=None):
        # the same file reached twice (through a symbolic link, `..`) is checked once
        key = path if problem or path == "-" or not os.path.exists(path) else os.path.realpath(path)
        if key not in seen:
            seen.add(key)
            result.append((path, problem))

    for arg in arguments:
        if arg == "-" or os.path.isfile(arg):
            add(arg)
        elif os.path.isdir(arg):
            found = _specs_below(arg)
            if not found:
                add(arg, f"{arg!r} is a directory without .yaml or .yml files")
            for path in found:
                add(path)
        elif any(c in arg for c in GLOB_CHARACTERS):
            matches = _glob(arg)
            if not matches:
                add(arg, f"the pattern {arg!r} matches no file")
            for path in matches:
                add(path)
        else:  # a missing file or a built-in name: load_document tells which
            add(arg)
    return result


def _glob(pattern: str) -> list[str]:
    """The files a glob matches. ``**`` is expanded by one walk that enters every directory
    once (by its resolved path), so symbolic links that loop (`a/b -> ..`) neither repeat
    files nor make the walk grow exponentially, as glob.glob(recursive=True) does."""
    import glob

    if "**" not in pattern:
        return sorted(p for p in glob.glob(pattern) if os.path.isfile(p))
    import fnmatch

    parts = pattern.split(os.sep)
    first = next(i for i, part in enumerate(parts) if any(c in part for c in GLOB_CHARACTERS))
    root = os.sep.join(parts[:first]) or ("." if not pattern.startswith(os.sep) else os.sep)
    rest = parts[first:]
    found, seen = [], set()
    for directory, dirs, files in os.walk(root, followlinks=True):
        real = os.path.realpath(directory)
        if real in seen:
            dirs[:] = []
            continue
        seen.add(real)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".")
                         and os.path.realpath(os.path.join(directory, d)) not in seen)
        relative = os.path.relpath(directory, root)
        prefix = [] if relative == "." else relative.split(os.sep)
        for name in sorted(files):
            if not name.startswith(".") and _match(rest, prefix + [name], fnmatch.fnmatchcase):
                found.append(os.path.join(directory, name))
    return found


def _match(pattern: list, parts: list, match) -> bool:
    """Whether path components match pattern components, ``**`` standing for any number."""
    if not pattern:
        return not parts
    if pattern[0] == "**":
        return any(_match(pattern[1:], parts[i:], match) for i in range(len(parts) + 1))
    return bool(parts) and match(parts[0], pattern[0]) and _match(pattern[1:], parts[1:], match)


def _specs_below(directory: str) -> list[str]:
    found = []
    for root, dirs, files in os.walk(directory):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found.extend(os.path.join(root, f) for f in sorted(files) if f.endswith(SPEC_SUFFIXES))
    return found


# ---------------------------------------------------------------------------------- checks
def check_all(items, budgets: dict, jobs: int, ignore=(), seq=None) -> list[FileReport]:
    """One report per (path, problem), in order. Many files are shared among processes, one
    per core: analysis is CPU-bound Python, so a second core halves a large CI run."""
    paths = [path for path, problem in items if not problem]
    workers = jobs or (os.cpu_count() or 1 if len(paths) >= PARALLEL_FROM else 1)
    workers = min(workers, len(paths))
    checked = None
    if workers > 1 and "-" not in paths:
        import multiprocessing

        if "fork" in multiprocessing.get_all_start_methods():  # POSIX: workers inherit the imports
            checked = _in_workers(multiprocessing.get_context("fork"), workers, paths,
                                  (budgets, ignore, seq))
    if checked is None:
        checked = [check_file(path, budgets, ignore, seq) for path in paths]
    by_path = iter(checked)
    return [FileReport(file=path, unreadable=problem) if problem else next(by_path)
            for path, problem in items]


def _in_workers(context, workers: int, paths: list, args: tuple) -> list:
    """check_file for every path in worker processes. A worker that dies (killed by the
    out-of-memory killer, say) does not hang the run: the files it left unchecked are checked
    again one by one, each in a process of its own, and a file whose own process dies is
    reported as unreadable, naming the signal."""
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    def collect(futures):
        results = []
        for future in futures:
            try:
                results.append(future.result())
            except BrokenProcessPool:
                results.append(None)
        return results

    chunk = max(1, len(paths) // (workers * 8))
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        futures = [pool.submit(_check_chunk, paths[i:i + chunk], args) for i in range(0, len(paths), chunk)]
        chunks = collect(futures)
    checked = []
    for i, result in zip(range(0, len(paths), chunk), chunks):
        checked.extend(result if result is not None else [None] * len(paths[i:i + chunk]))
    for i, report in enumerate(checked):
        if report is None:  # its worker died: alone now, to tell which file kills it
            with ProcessPoolExecutor(1, mp_context=context) as alone:
                (checked[i],) = collect([alone.submit(check_file, paths[i], *args)])
            if checked[i] is None:
                checked[i] = FileReport(file=paths[i], unreadable=f"cannot check {paths[i]!r}: the process "
                                        "checking it was killed (out of memory?)")
    return checked


def _check_chunk(paths, args):
    return [check_file(path, *args) for path in paths]


def check_file(path: str, budgets: dict, ignore=(), seq=None) -> FileReport:
    """Load and analyse one spec. Never raises for anything the file contains: one file
    that breaks archcalc is reported as unreadable, and the batch (and its JSON) goes on."""
    try:
        return _check_file(path, budgets, ignore, seq)
    except Exception as exc:  # noqa: BLE001 - the promise: every other file is still reported
        from ..render.terminal import visible

        return FileReport(file=path, unreadable=f"cannot check {path!r}: internal error (please report it): "
                                                 f"{type(exc).__name__}: {visible(str(exc))[:300]}")


def _check_file(path: str, budgets: dict, ignore=(), seq=None) -> FileReport:
    from ..diagnostics import Mark, make
    from ..engine import analyze

    try:
        doc = load_document(path)
    except UsageProblem as exc:
        return FileReport(file=path, unreadable=str(exc))
    try:
        analysis = analyze(doc, seq=seq)
    except RecursionError:
        # Only a pathological nesting gets here; the file is reported, the run goes on.
        too_deep = make("too-large", "the spec nests too deeply to analyse", Mark(doc.file, 1, 1),
                        hint="flatten the nesting of blocks, repeats and branches")
        return FileReport(file=doc.file, diagnostics=doc.diagnostics + [too_deep], source_text=doc.text)
    from ..ignores import apply, ignored_dicts

    apply(analysis, ignore)
    diagnostics = analysis.diagnostics
    complete = analysis.output is not None and not analysis.errors
    if complete and budgets:
        diagnostics = diagnostics + budget_diagnostics(doc, analysis, budgets)
    # the text is kept only to quote lines under diagnostics (and to send less between processes)
    return FileReport(file=doc.file, diagnostics=diagnostics, source_text=doc.text if diagnostics else "",
                      name=analysis.name, totals=analysis.totals.as_dict() if complete else None,
                      ignored=ignored_dicts(analysis))


def budget_diagnostics(doc, analysis, budgets: dict) -> list:
    """`budget-exceeded` for every --max-* bound a network's totals exceed, located at the
    start of the spec (the budget is about the whole network)."""
    from ..diagnostics import Mark
    from ..engine import budget_problem

    mark = getattr(doc.root, "mark", None) or Mark(doc.file, 1, 1)
    totals = analysis.totals.as_dict()
    found = (budget_problem(totals, BUDGET_OPTIONS[option], limit, f"--{option.replace('_', '-')} {text}", mark)
             for option, (limit, text) in budgets.items())
    return [problem for problem in found if problem is not None]
