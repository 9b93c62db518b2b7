"""Geometry of an archcalc SVG, computed from its own elements (no browser): the boxes of its
text, the faces of its boxes and merge nodes, and the segments of its lines, so that tests
can check that no line crosses a label or a box face.

Text is measured for a monospace font: an advance of 0.6 em a character (DejaVu Sans Mono's
is 0.602), twice that for wide characters, ascent 0.8 em and descent 0.2 em; font sizes are
read from the SVG's own style sheet. Curves are flattened into short segments.
"""
from __future__ import annotations

import re
import unicodedata
import xml.etree.ElementTree as ET

SVG = "{http://www.w3.org/2000/svg}"
FACE_CLASSES = {"vol", "vec", "tok", "chip"}


def font_sizes(svg: str) -> dict:
    """class -> font size, read from the SVG's own style sheet."""
    sizes = {}
    style = svg.split("<style>", 1)[1].split("@media", 1)[0]
    for selectors, body in re.findall(r"([^{}]+)\{([^}]*)\}", style):
        found = re.search(r"font-size:(\d+(?:\.\d+)?)px", body)
        if found:
            for selector in selectors.split(","):
                sizes[selector.strip().split(".")[-1]] = float(found.group(1))
    return sizes


def text_boxes(svg: str, root=None, classes: bool = False) -> list[tuple]:
    """(left, top, right, bottom, text) of every <text> (and its class, with ``classes``)."""
    sizes = font_sizes(svg)
    root = ET.fromstring(svg) if root is None else root
    out = []
    for t in root.iter(SVG + "text"):
        if not t.text:
            continue
        size = max(sizes.get(c, 0) for c in t.get("class").split())
        assert size, t.get("class")
        width = sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in t.text) * 0.6 * size
        x, y = float(t.get("x")), float(t.get("y"))
        anchor = t.get("text-anchor", "start")
        left = x - width / 2 if anchor == "middle" else (x - width if anchor == "end" else x)
        out.append((left, y - 0.8 * size, left + width, y + 0.2 * size, t.text)
                   + ((t.get("class"),) if classes else ()))
    return out


_TOKEN = re.compile(r"[MmLlHhVvCcQqZz]|-?\d+(?:\.\d+)?")


def path_polylines(d: str) -> list[list[tuple]]:
    """The points of a path's subpaths (curves flattened into 12 segments each)."""
    tokens = _TOKEN.findall(d)
    lines, points = [], []
    x = y = 0.0
    start = (0.0, 0.0)
    i, command = 0, None
    while i < len(tokens):
        if tokens[i].isalpha():
            command = tokens[i]
            i += 1
            if command in "Zz":
                points.append(start)
                x, y = start
                continue
        nums = []

        def take(n):
            nonlocal i
            values = [float(v) for v in tokens[i:i + n]]
            i += n
            return values
        rel = command.islower()
        c = command.upper()
        if c == "M":
            px, py = take(2)
            x, y = (x + px, y + py) if rel else (px, py)
            if len(points) > 1:
                lines.append(points)
            points = [(x, y)]
            start = (x, y)
            command = "l" if rel else "L"
        elif c == "L":
            px, py = take(2)
            x, y = (x + px, y + py) if rel else (px, py)
            points.append((x, y))
        elif c == "H":
            (px,) = take(1)
            x = x + px if rel else px
            points.append((x, y))
        elif c == "V":
            (py,) = take(1)
            y = y + py if rel else py
            points.append((x, y))
        elif c in "CQ":
            nums = take(6 if c == "C" else 4)
            if rel:
                nums = [v + (x if k % 2 == 0 else y) for k, v in enumerate(nums)]
            ctrl = [(x, y)] + [(nums[k], nums[k + 1]) for k in range(0, len(nums), 2)]
            for step in range(1, 13):
                t = step / 12
                pts = ctrl
                while len(pts) > 1:   # de Casteljau
                    pts = [(a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t) for a, b in zip(pts, pts[1:])]
                points.append(pts[0])
            x, y = ctrl[-1]
        else:  # pragma: no cover - the renderer writes no other command
            raise ValueError(f"path command {command!r}")
    if len(points) > 1:
        lines.append(points)
    return lines


def shapes(svg: str):
    """(segments of the lines, faces): a segment is ((x1, y1), (x2, y2), what); a face is a
    convex polygon [(x, y), ...] with what it belongs to."""
    root = ET.fromstring(svg)
    segments, faces, frames = [], [], []

    def owner(el):
        return el.get("d") or el.get("x") or ""
    for el in root.iter():
        cls = set((el.get("class") or "").split())
        tag = el.tag.replace(SVG, "")
        if tag == "path" and "edge" in cls:
            for line in path_polylines(el.get("d")):
                for a, b in zip(line, line[1:]):
                    if a != b:
                        segments.append((a, b, el.get("d")))
        elif tag == "line" and "edge" in cls:
            segments.append(((float(el.get("x1")), float(el.get("y1"))),
                             (float(el.get("x2")), float(el.get("y2"))), "line"))
        elif tag == "path" and cls & FACE_CLASSES:
            for line in path_polylines(el.get("d")):
                faces.append((line[:-1] if line[0] == line[-1] else line, owner(el)))
        elif tag == "rect" and cls & FACE_CLASSES:
            x, y = float(el.get("x")), float(el.get("y"))
            w, h = float(el.get("width")), float(el.get("height"))
            faces.append(([(x, y), (x + w, y), (x + w, y + h), (x, y + h)], owner(el)))
        elif tag == "rect" and "frame" in cls:
            # a stage's or a block's frame: its four edges are lines too (they must not cut a
            # label or a box), and no other line may run along them
            x, y = float(el.get("x")), float(el.get("y"))
            w, h = float(el.get("width")), float(el.get("height"))
            corners = [(x, y), (x + w, y), (x + w, y + h), (x, y + h)]
            for a, b in zip(corners, corners[1:] + corners[:1]):
                frames.append((a, b, f"frame {x:g},{y:g} {w:g}×{h:g}"))
        elif tag == "circle" and "merge" in cls:
            cx, cy, r = float(el.get("cx")), float(el.get("cy")), float(el.get("r"))
            faces.append(([(cx - r * 0.7, cy - r * 0.7), (cx + r * 0.7, cy - r * 0.7),
                           (cx + r * 0.7, cy + r * 0.7), (cx - r * 0.7, cy + r * 0.7)], "merge"))
    return root, segments, faces, frames


def _cross(o, a, b):
    return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])


def _inside(p, poly) -> bool:
    """Strictly inside a convex polygon (either winding)."""
    signs = [_cross(poly[i], poly[(i + 1) % len(poly)], p) for i in range(len(poly))]
    return all(s > 1e-9 for s in signs) or all(s < -1e-9 for s in signs)


def _shrink(poly, by):
    cx = sum(p[0] for p in poly) / len(poly)
    cy = sum(p[1] for p in poly) / len(poly)
    def towards(v, c):
        return v - by if v > c + by else (v + by if v < c - by else c)
    return [(towards(x, cx), towards(y, cy)) for x, y in poly]


def _segments_cross(p1, p2, q1, q2) -> bool:
    d1, d2 = _cross(q1, q2, p1), _cross(q1, q2, p2)
    d3, d4 = _cross(p1, p2, q1), _cross(p1, p2, q2)
    return ((d1 > 0) != (d2 > 0)) and ((d3 > 0) != (d4 > 0)) and d1 * d2 < 0 and d3 * d4 < 0


def segment_hits_polygon(a, b, poly) -> bool:
    if _inside(a, poly) or _inside(b, poly):
        return True
    n = len(poly)
    return any(_segments_cross(a, b, poly[i], poly[(i + 1) % n]) for i in range(n))


def line_collisions(svg: str, slack: float = 1.0) -> list[tuple]:
    """Every (line, what it crosses): a line segment through a text's box (shrunk by ``slack``)
    or through a box face's interior (the face shrunk by ``slack``: an arrow may end on a face)."""
    root, segments, faces, frames = shapes(svg)
    texts = text_boxes(svg, root)
    found = []
    obstacles = []
    for left, top, right, bottom, s in texts:
        poly = [(left + slack, top + slack), (right - slack, top + slack),
                (right - slack, bottom - slack), (left + slack, bottom - slack)]
        if right - left > 2 * slack and bottom - top > 2 * slack:
            obstacles.append((poly, f"text {s!r}"))
    for poly, what in faces:
        obstacles.append((_shrink(poly, slack), f"face {what}"))
    # a coarse grid, so that each segment meets only what is near it
    cell = 64
    grid: dict = {}
    boxes = [(min(p[0] for p in poly), max(p[0] for p in poly), min(p[1] for p in poly), max(p[1] for p in poly))
             for poly, _ in obstacles]
    for k, (poly, _) in enumerate(obstacles):
        xs, ys = [p[0] for p in poly], [p[1] for p in poly]
        for gx in range(int(min(xs) // cell), int(max(xs) // cell) + 1):
            for gy in range(int(min(ys) // cell), int(max(ys) // cell) + 1):
                grid.setdefault((gx, gy), []).append(k)
    for a, b, where in segments + frames:
        near = set()
        for gx in range(int(min(a[0], b[0]) // cell), int(max(a[0], b[0]) // cell) + 1):
            for gy in range(int(min(a[1], b[1]) // cell), int(max(a[1], b[1]) // cell) + 1):
                near.update(grid.get((gx, gy), ()))
        lo_x, hi_x, lo_y, hi_y = min(a[0], b[0]), max(a[0], b[0]), min(a[1], b[1]), max(a[1], b[1])
        for k in sorted(near):
            poly, what = obstacles[k]
            x0, x1, y0, y1 = boxes[k]
            if hi_x <= x0 or lo_x >= x1 or hi_y <= y0 or lo_y >= y1:
                continue
            if segment_hits_polygon(a, b, poly):
                found.append((where, what))
    return found


def along_frames(svg: str, gap: float = 3.0) -> list[tuple]:
    """Every (line, frame edge) where a line runs along a frame's edge: parallel to it, less
    than ``gap`` px away, side by side for more than ``gap`` px (a line that crosses an edge
    is fine: an arrow enters a frame)."""
    _, segments, _, frames = shapes(svg)
    found = []
    for a, b, where in segments:
        for c, d, frame in frames:
            if a[1] == b[1] and c[1] == d[1] and abs(a[1] - c[1]) < gap:        # both horizontal
                lo, hi = max(min(a[0], b[0]), min(c[0], d[0])), min(max(a[0], b[0]), max(c[0], d[0]))
            elif a[0] == b[0] and c[0] == d[0] and abs(a[0] - c[0]) < gap:      # both vertical
                lo, hi = max(min(a[1], b[1]), min(c[1], d[1])), min(max(a[1], b[1]), max(c[1], d[1]))
            else:
                continue
            if hi - lo > gap:
                found.append((where, frame))
    return found


def texts_on_faces(svg: str, slack: float = 1.0) -> list[tuple]:
    """Every (text, face) where a text's box (shrunk by ``slack``) lies on a box's face or a
    merge node: a label, an arrow's label or a frame's title written over a box (a merge
    node's own symbol, class ``sym``, is written inside it)."""
    root, _, faces, _ = shapes(svg)
    found = []
    for left, top, right, bottom, s, cls in text_boxes(svg, root, classes=True):
        if "sym" in cls.split() or right - left <= 2 * slack or bottom - top <= 2 * slack:
            continue
        box = [(left + slack, top + slack), (right - slack, top + slack),
               (right - slack, bottom - slack), (left + slack, bottom - slack)]
        for poly, what in faces:
            if max(p[0] for p in poly) <= box[0][0] or min(p[0] for p in poly) >= box[1][0] \
                    or max(p[1] for p in poly) <= box[0][1] or min(p[1] for p in poly) >= box[2][1]:
                continue
            inner = _shrink(poly, slack)
            edges = list(zip(box, box[1:] + box[:1]))
            if any(_inside(p, inner) for p in box) or any(_inside(p, box) for p in inner) \
                    or any(segment_hits_polygon(a, b, inner) for a, b in edges):
                found.append((s, f"face {what}"))
    return found
