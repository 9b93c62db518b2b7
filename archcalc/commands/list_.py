"""`archcalc list`: the built-in zoo, grouped by family, filterable and sortable.

The rows come from the build-time index when it is current (zoo_index.rows), else from fresh
analyses: the list is never stale."""
from __future__ import annotations

import sys

import click

from ..cli import (
    EXIT_ERRORS,
    EXIT_OK,
    EXIT_USAGE,
    Count,
    count_as_option,
    width_option,
    write,
    write_output,
)
from ..render import formats

SORT_KEYS = ("family", "name", "params", "macs", "depth")


@click.command("list")
@click.argument("patterns", nargs=-1, metavar="[FILTER]...")
@click.option("-f", "--format", "fmt", type=click.Choice(formats("list")), default="table",
              show_default=True, help="Output format.")
@click.option("-o", "--output", "output", metavar="FILE", default=None,
              help="Write to FILE instead of standard output (e.g. -o zoo.html).")
@click.option("--sort", "sort", type=click.Choice(SORT_KEYS), default="family", show_default=True,
              help="family: grouped by family, by MACs inside each; otherwise one list ordered by that column.")
@click.option("--reverse", is_flag=True, help="Largest (or last) first.")
@click.option("--width", type=width_option(), default=None,
              help="Table width in columns (default: the terminal's; piped output is never narrowed).")
@click.option("--seq", type=Count(1), default=None, metavar="N",
              help="Sequence length for the networks with a token input (the others are listed as they are).")
@count_as_option
def list_(patterns, fmt, output, sort, reverse, width, seq, count_as):
    """List the built-in networks with their size and cost.

    FILTER keeps the networks whose name or family contains it (case, '-', '_' and '.'
    ignored); several filters keep what matches any: `archcalc list resnet vgg`."""
    from .. import zoo_index
    from ..readers import zoo
    from ..render import reporter

    names = zoo.names()
    if patterns:
        wanted = [zoo.normalise(p) for p in patterns]
        names = [n for n in names
                 if any(w in zoo.normalise(n) or w in zoo.normalise(zoo_index.family(n)) for w in wanted)]
        if not names:
            hint = zoo.suggest(patterns[0])
            sys.stderr.write(f"archcalc: no built-in network matches {' or '.join(map(repr, patterns))}"
                             + (f"; did you mean {hint}?" if hint else "; `archcalc list` shows them all")
                             + "\n")
            sys.exit(EXIT_USAGE)
    rows = zoo_index.rows(names)
    if seq is not None or count_as is not None:
        # token models at that length (the index holds their own length); every network
        # analysed afresh under another tool's convention
        rows = [zoo_index.analyse_row(row["name"], seq if row.get("tokens") or len(row["input"] or ()) == 2
                                      else None, count_as)
                if count_as is not None or row.get("tokens") or len(row["input"] or ()) == 2
                else row for row in rows]
    if sort == "family":
        order = {}
        for row in rows:
            order.setdefault(row["family"], len(order))
        # by size inside a family (regnet 400MF, 800MF, 1.6GF, …); stable: zoo order on ties
        rows.sort(key=lambda r: (order[r["family"]], r["macs"] if isinstance(r["macs"], int) else 0))
        if reverse:
            rows.reverse()
    elif sort != "name" or reverse:
        rows.sort(key=(lambda r: names.index(r["name"])) if sort == "name" else (lambda r: r[sort]),
                  reverse=reverse)
    failed = any(row["errors"] for row in rows)
    text = reporter("list", fmt)(rows, {"width": width, "grouped": sort == "family", "count_as": count_as})
    if output is not None and output != "-":
        write_output(text, output)
    else:
        write(text)
    sys.exit(EXIT_ERRORS if failed else EXIT_OK)
