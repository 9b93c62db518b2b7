"""`archcalc explain SPEC --count-as TOOL`: another tool's total, itemised from archcalc's own
count kind by kind — what each kind adds under the tool's rules and what the tool skips —
the figures a reviewer can check line by line."""
from __future__ import annotations

from . import numbers
from .problems import clean


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'s' if n != 1 else ''}"


def render(analysis, layers, name: str, width: int = 100) -> str:
    """The itemisation over ``layers`` (all of the network's, or a selection) of an analysis in
    archcalc's own count, at the analysis's batch."""
    import textwrap

    from ..conventions import CONVENTIONS, by_kind

    convention = CONVENTIONS[name]
    title = clean(analysis.name) + (f" — {clean(analysis.title)}" if analysis.title else "")

    class _View:  # by_kind reads ``layers``: the selection only
        pass

    view = _View()
    view.layers = layers
    batch = analysis.totals.batch
    entries = by_kind(view, name, batch)
    exact = sum(e.exact for e in entries)
    counted = sum(e.counted for e in entries)
    label = max([len(f"{e.kind} ({_plural(e.layers, 'layer')})") for e in entries] + [len(name), 8])
    amount = max(len(f"{exact:,}"), len(f"{counted:,}")) + 1
    at = f" at batch {batch}" if batch != 1 else ""
    lines = [f"{title}: MACs as {name} counts them{at}", f"  {convention.tool}", ""]

    def row(left: str, value: str, why: str = "") -> str:
        head = f"  {left:<{label}}  {value:>{amount}}"
        if not why:
            return head
        wrapped = textwrap.wrap(why, max(width - len(head) - 3, 30))
        return "\n".join([head + "   " + wrapped[0]] + [" " * (len(head) + 3) + w for w in wrapped[1:]])

    lines.append(row("archcalc", f"{exact:,}", "archcalc's own: the multiply-accumulates of conv, "
                                               "dense and attention"))
    added = [e for e in entries if e.difference > 0]
    skipped = [e for e in entries if e.difference < 0]
    for e in added + skipped:
        lines.append(row(f"{e.kind} ({_plural(e.layers, 'layer')})", f"{e.difference:+,}", e.why))
    lines.append("  " + "─" * (label + 2 + amount))
    lines.append(row(name, f"{counted:,}",
                     f"{numbers.human(counted)}, {'+' if counted >= exact else '−'}"
                     f"{abs(counted - exact) / exact:.2%} of archcalc's" if exact else ""))
    same = [e.kind for e in entries if e.difference == 0 and e.exact]
    lines.append("")
    if same:
        lines.append(f"Counted as archcalc counts: {', '.join(same)}.")
    if skipped:
        lines.append(f"{name} skips: " + "; ".join(
            f"{e.kind}: {-e.difference:,} of {e.exact:,} MACs ({e.why})" for e in skipped) + ".")
    else:
        lines.append(f"{name} skips nothing archcalc counts on this network.")
    lines.append(f"{name}'s rules: {convention.counts}.")
    out = []
    for line in lines:
        out.extend(textwrap.wrap(line, width, subsequent_indent="  ") if len(line) > width and
                   not line.startswith("  ") else [line])
    return "\n".join(out) + "\n"
