"""`archcalc diff A B --format svg`: a picture of a diff — both networks drawn as `draw`
draws them (render/picture.py), one above the other under the comparison's header, each box
outlined and labelled by what happened to its layers against the other network (removed,
added, changed, affected downstream; render/diff_cells.side_marks)."""
from __future__ import annotations

import re

from . import markup
from .diff_cells import mode_line, side_labels, side_marks
from .picture import MARGIN, STYLE, picture, svg_text, text_width

_SIZE = re.compile(r'<svg [^>]*?width="([0-9.]+)" height="([0-9.]+)"')
HEAD, GAP = 58, 18


def render_diff(diff, options=None) -> str:
    """One SVG: the header, then A's picture, then B's (each fitted to a slide as `draw` fits
    it, with its own header, legend and diagnostics)."""
    label_a, label_b = side_labels(diff)
    marks = side_marks(diff)
    drawn = []
    for analysis, side in ((diff.a, marks[0]), (diff.b, marks[1])):
        svg, _ = picture(analysis, {"marks": side})
        found = _SIZE.search(svg)
        drawn.append((svg, float(found.group(1)), float(found.group(2))))
    title = f"{label_a} → {label_b}"
    line = mode_line(diff)
    changed = [sum(1 for status in side.values() if status != "affected") for side in marks]
    summary = (f"outlined: {changed[0]} layers of {label_a} removed or changed, {changed[1]} of {label_b} "
               f"added or changed" if any(changed) else "no layer marked: see the totals")
    width = max([w for _, w, _ in drawn] + [2 * MARGIN + text_width(t, 11) for t in (line, summary)]
                + [2 * MARGIN + text_width(title, 14)])
    body: list[str] = []
    svg_text(body, MARGIN, MARGIN + 14, title, "ttl", anchor="start")
    svg_text(body, MARGIN, MARGIN + 32, line, "sm", anchor="start")
    svg_text(body, MARGIN, MARGIN + 48, summary, "sm", anchor="start")
    y = MARGIN + HEAD
    for svg, w, h in drawn:
        body.append(svg.replace("<svg ", f'<svg x="0" y="{y:.0f}" ', 1).rstrip("\n"))
        y += h + GAP
    height = y - GAP + MARGIN
    return (f'<svg xmlns="http://www.w3.org/2000/svg" class="archcalc" width="{width:.0f}" '
            f'height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}" role="img" '
            f'aria-label="{markup.attr(title)}">\n<title>{markup.text(title)}</title>\n<style>{STYLE}</style>\n'
            f'<rect class="bg" x="0" y="0" width="{width:.0f}" height="{height:.0f}"/>\n'
            + "\n".join(body) + "\n</svg>\n")
