"""`archcalc draw`: the lecture's picture of a network, as SVG text.

Volumes are boxes whose height, depth and thickness are the output's H, W and C; flat
vectors are bars; token sequences [T, D] are sheets; any other shape is a labelled chip.
Every box carries its size as text (``55×55×96``), the arrow into it the layer's kind and
its settings' first part (``conv 11×11/4``). What the picture shows comes only from the
engine's ``Analysis``: leaves, scope groups and spans (how repeats and branch sets are
wired), plus each kind's declared ``group`` and ``describe`` — never from kind names, so a
new kind draws without touching this file.

Layout rules, in order:

* Layers that keep their input's shape and do no multiply-accumulates (activations,
  normalisation, dropout) are *folded* into the box before them, named under it (``+ relu``);
  everything else gets a box.
* A ``repeat`` whose iterations produce the same shapes is drawn once in a frame titled
  ``×N``; a named scope (block call, named repeat, named parallel) is a dashed frame, or one
  box when ``--depth`` collapses it (as the table's ``--depth``).
* A branch set is drawn as lanes that rejoin at a merge node (``+`` add, ``‖`` concat);
  an empty branch (the identity, as a residual's shortcut) is a skip arc over the lanes.
* Sizes are scaled linearly, or logarithmically when the largest is more than 10× the
  smallest; the legend says which.
* Rows wrap at ``width`` pixels instead of shrinking; a single branch set wider than that
  makes the picture wider (it scrolls).
* Layers with diagnostics get a thick outline in the severity's colour and a text badge
  (``✖ error-code`` / ``▲ warning-code``), so colour is never the only signal.

Text widths are estimated for a monospace font (0.62 em a character, wide East Asian
characters twice that), so that no two labels overlap at the default size.
"""
from __future__ import annotations

from math import log

from ..layers import REGISTRY
from . import markup, numbers

# ------------------------------------------------------------------------------ metrics
FONT, SMALL, TITLE = 11, 10, 14
LINE = 13          # baseline-to-baseline distance of label lines
CHAR = 0.62        # monospace advance, in em
HPAD, VTOP, VBOT = 7, 17, 7   # frame inflation per nesting level: sides, top (title band), bottom
MIN_ARROW = 26
SKIP_SIDE, SKIP_RISE = 7, 9   # a collapsed residual block's skip arc: room beside and above the box
ROW_GAP = 26
ROW_LEAD = 14      # room on the left of a wrapped row for the connector
MARGIN = 16
DEFAULT_WIDTH = 1400

SEVERITY_COLOUR = {"error": "#cf222e", "warning": "#bf8700"}
SEVERITY_GLYPH = {"error": "✖", "warning": "▲"}
# a picture of one side of a diff: each box outlined and labelled by what happened to it
CHANGE_COLOUR = {"removed": "#cf222e", "added": "#1a7f37", "changed": "#9a6700", "affected": "#8250df"}
CHANGE_GLYPH = {"removed": "−", "added": "+", "changed": "~", "affected": "→"}
MERGE_SYMBOL = {"add": "+", "concat": "‖", "mul": "×"}
GROUP_COLOUR = {"conv": "#79b8e6", "pool": "#f0b463", "dense": "#8fd19e", "norm": "#c5a3e0",
                "attention": "#e6a07a", "embedding": "#9fd4e0",
                "activation": "#e8e8e8", "other": "#c9ced6"}
_EXTRA_COLOURS = ("#e89ab3", "#7fd4cf", "#d9c36c", "#a9b8f0", "#f29b7f", "#b5d98a")


def text_width(s: str, size: float = FONT) -> float:
    if s.isascii():
        return len(s) * size * CHAR
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in s) * size * CHAR


def _shorten(s: str, n: int = 26) -> str:
    return s if len(s) <= n else s[:n - 1] + "…"


def group_of(kind: str) -> str:
    entry = REGISTRY.get(kind)
    return entry.group if entry is not None else "other"


def group_colour(group: str) -> str:
    if group in GROUP_COLOUR:
        return GROUP_COLOUR[group]
    return _EXTRA_COLOURS[sum(map(ord, group)) % len(_EXTRA_COLOURS)]


def _shade(colour: str, factor: float) -> str:
    """Lighter (factor > 1, towards white) or darker (< 1) version of #rrggbb."""
    r, g, b = (int(colour[i:i + 2], 16) for i in (1, 3, 5))
    if factor >= 1:
        mix = factor - 1
        r, g, b = (int(c + (255 - c) * mix) for c in (r, g, b))
    else:
        r, g, b = (int(c * factor) for c in (r, g, b))
    return f"#{r:02x}{g:02x}{b:02x}"


def _f(v: float) -> str:
    return f"{v:.1f}".rstrip("0").rstrip(".")


def settings_of(layer) -> str:
    """The kind's settings (layers.settings_text, the one settings text), without marks."""
    from ..layers import settings_text

    return settings_text(layer, marks=False)


def arrow_label(layer) -> str:
    """``conv 5×5/1, p2``, ``dw 3×3/2, p1``: the kind's own ``label`` rule, or its name and the
    first part of its settings."""
    entry = REGISTRY.get(layer.kind)
    if entry is not None and entry.label is not None:
        try:
            return entry.label(layer.input, layer.fields)
        except Exception:  # noqa: BLE001 - a label rule must never break a picture
            pass
    first = settings_of(layer).split(", ")[0]
    return f"{layer.kind} {first}".strip()


def _channels(shape):
    """The output's channels (C of a volume, D of tokens, N of a vector), or None."""
    if shape and len(shape) in (1, 2, 3) and all(isinstance(v, int) and v > 0 for v in shape):
        return shape[-1]
    return None


def _name_range(first: str, last: str) -> str:
    """``conv1–conv3``; two long names that differ only in a number are written once with the
    numbers' range (``encoder_layer_0–11.ln_1`` for encoder_layer_0.ln_1 … encoder_layer_11.ln_1)
    rather than both cut short."""
    if len(first) <= 14 and len(last) <= 14:
        return f"{first}–{last}"
    i = 0
    while i < min(len(first), len(last)) and first[i] == last[i]:
        i += 1
    while i > 0 and first[i - 1].isdigit():
        i -= 1
    j = 0
    while j < min(len(first), len(last)) - i and first[-1 - j] == last[-1 - j]:
        j += 1
    while j > 0 and first[len(first) - j].isdigit():
        j -= 1
    a, b = first[i:len(first) - j], last[i:len(last) - j]
    if a.isdigit() and b.isdigit():
        return _shorten(f"{first[:i]}{a}–{b}{first[len(first) - j:]}", 30)
    return f"{_shorten(first, 14)}–{_shorten(last, 14)}"


def _ints(shape, n) -> bool:
    return shape is not None and len(shape) == n and all(isinstance(v, int) and v > 0 for v in shape)


# ------------------------------------------------------------------------------ the tree
class Node:
    __slots__ = ("type", "start", "end", "order", "children", "group", "span", "index")

    def __init__(self, type_, start, end, order, group=None, span=None, index=None):
        self.type = type_
        self.start = start
        self.end = end
        self.order = order
        self.children = []
        self.group = group
        self.span = span
        self.index = index


def build_tree(analysis) -> Node:
    """Nest leaves, groups and spans by their leaf ranges (they never cross); a group and a
    span over the same leaves nest in the order the engine opened them."""
    items = []
    for i, g in enumerate(analysis.groups):
        if g.end > g.start:
            items.append(Node("group", g.start, g.end, i, group=g))
    for s in getattr(analysis, "spans", ()):
        if s.end <= s.start:
            continue
        if s.branches is None:
            items.append(Node("repeat", s.start, s.end, s.after - 0.5, span=s))
        else:
            items.append(Node("fork", s.start, s.end, s.after - 0.5, span=s))
            for j, (bs, be) in enumerate(s.branches):
                if be > bs:
                    items.append(Node("branch", bs, be, s.after - 0.4 + j * 1e-6, span=s, index=j))
    for i in range(len(analysis.layers)):
        items.append(Node("leaf", i, i + 1, float("inf"), index=i))
    items.sort(key=lambda n: (n.start, -n.end, n.order))
    root = Node("root", 0, len(analysis.layers), -1.0)
    stack = [root]
    for node in items:
        while not (node.start >= stack[-1].start and node.end <= stack[-1].end):
            stack.pop()
        stack[-1].children.append(node)
        if node.type != "leaf":
            stack.append(node)
    return root


# ------------------------------------------------------------------------------ atoms
class Frame:
    """A dashed scope frame or a repeat's ×N frame around consecutive atoms."""

    __slots__ = ("title", "style", "severity", "tip")

    def __init__(self, title, style, severity=None, tip=""):
        self.title = title
        self.style = style
        self.severity = severity
        self.tip = tip


class Atom:
    """One unbreakable thing in a row: a box or a branch set, with its incoming arrow label and
    the frames around it (outermost first)."""

    __slots__ = ("el", "label", "stack")

    def __init__(self, el, label, stack):
        self.el = el
        self.label = label
        self.stack = stack


class Context:
    def __init__(self, analysis, depth, marks=None):
        self.analysis = analysis
        self.depth = depth
        self.layers = analysis.layers
        # one side of a diff: layer index -> removed|added|changed|affected
        self.changes = {i: (marks or {})[layer.name] for i, layer in enumerate(analysis.layers)
                        if (marks or {}).get(layer.name) in CHANGE_COLOUR}
        self.problems = {}        # layer index -> [diagnostic]
        self.scope_problems = {}  # scope name -> [diagnostic]
        index = {layer.name: i for i, layer in enumerate(analysis.layers)}
        for d in analysis.diagnostics:
            if d.layer in index:
                self.problems.setdefault(index[d.layer], []).append(d)
            elif d.layer:
                self.scope_problems.setdefault(d.layer, []).append(d)
        self.shapes = []          # every drawn shape, for the scales
        self.group_names = {g.name for g in analysis.groups}
        self.group_index = {id(g): i for i, g in enumerate(analysis.groups)}
        counted = getattr(analysis.totals, "count_as", None)  # --count-as: whose MACs the tips give
        self.macs_word = f"MACs ({counted})" if counted else "MACs"
        self.boxes = []
        # what happens before a layer besides the previous output flowing in: a `join` (a
        # merge node) or a `from` (written on the layer's arrow), by the layer's index
        self.identity_forks = [s for s in getattr(analysis, "spans", ())
                               if s.branches and not s.aux and any(b == e for b, e in s.branches)]
        self.reads: dict[int, list] = {}
        self.last_of: dict[int, int] = {}   # a layer drawn for every iteration -> the last one's
        self.ambiguous: set = set()         # local names that more than one box would show
        for s in getattr(analysis, "spans", ()):
            if s.sources:
                self.reads.setdefault(s.start, []).append(s)

    def local_name(self, name: str, path) -> str:
        for scope in reversed(path):
            if scope in self.group_names and name.startswith(scope + "."):
                return name[len(scope) + 1:]
        return name


def worst(diagnostics):
    if not diagnostics:
        return None
    return "error" if any(d.severity == "error" for d in diagnostics) else "warning"


def foldable(layer) -> bool:
    return layer.output == layer.input and not layer.macs


def _repeat_collapses(node: Node, ctx: Context) -> bool:
    s = node.span
    size = s.first_end - s.start
    if s.times < 2 or size <= 0 or s.end - s.start != size * s.times:
        return False
    layers = ctx.layers
    for k in range(1, s.times):
        for j in range(size):
            i = s.start + k * size + j
            if layers[i].output != layers[s.start + j].output or i in ctx.problems:
                return False
            if arrow_label(layers[i]) != arrow_label(layers[s.start + j]):   # a shift, a stride
                return False
    return True


def _signature(node: Node, ctx: Context):
    """What makes two consecutive block calls draw alike: kind, and every layer's kind, shapes
    and arrow (Swin's shifted block differs from the unshifted one only there); None when the
    block has a problem (it is then drawn on its own)."""
    g = node.group
    if any(i in ctx.problems for i in range(g.start, g.end)) or g.name in ctx.scope_problems:
        return None
    return (g.kind, tuple((layer.kind, layer.input, layer.output, arrow_label(layer))
                          for layer in ctx.layers[g.start:g.end]))


def _collapsed(node: Node, ctx: Context) -> bool:
    return node.type == "group" and ctx.depth is not None and node.group.level >= ctx.depth


def _runs(children, ctx: Context):
    """Group consecutive block calls that draw alike: [(node, count, names, signature, nodes)];
    a run of alternating pairs (Swin's unshifted and shifted blocks) is one entry whose node is
    a list of the first pair's nodes, ``nodes`` every call."""
    out = []
    for node in children:
        if node.type == "group":
            sig = _signature(node, ctx)
            if sig is not None and _collapsed(node, ctx):
                # collapsed calls of one kind that keep the spatial size (dense layers, which
                # grow only the channels) are drawn as one box too — but not a block without an
                # identity shortcut with ones that have it (EfficientNet's first block of a stage
                # that keeps the size but not the channels)
                g = node.group
                sig = ("collapsed", g.kind, _spatial(g.input), _spatial(g.output), _identity_over(g, ctx))
            if sig is not None and out and out[-1][3] == sig:
                out[-1][1] += 1
                out[-1][2].append(node.group.name)
                out[-1][4].append(node)
                continue
            out.append([node, 1, [node.group.name], sig, [node]])
        else:
            out.append([node, 1, None, None, [node]])
    # alternating pairs A B A B …: one entry for the pair, drawn once in a ×N frame
    merged: list = []
    i = 0
    while i < len(out):
        a = out[i]
        n = 1
        if a[1] == 1 and a[3] is not None and i + 1 < len(out) and out[i + 1][1] == 1 \
                and out[i + 1][3] is not None:
            b = out[i + 1]
            while i + 2 * n + 1 < len(out) and out[i + 2 * n][1] == 1 and out[i + 2 * n + 1][1] == 1 \
                    and out[i + 2 * n][3] == a[3] and out[i + 2 * n + 1][3] == b[3]:
                n += 1
        if n > 1:
            pair = out[i:i + 2 * n]
            merged.append([[a[0], out[i + 1][0]], n, [e[2][0] for e in pair], None, [e[0] for e in pair]])
            i += 2 * n
        else:
            merged.append(a)
            i += 1
    return merged


def _spatial(shape):
    return tuple(shape[:-1]) if shape and len(shape) == 3 else shape


def _identity_over(g, ctx: Context) -> bool:
    """Whether a branch set with an empty branch (the identity: a residual's shortcut, a dense
    layer's carried input) spans the whole of scope ``g`` but for shape-keeping layers."""
    layers = ctx.layers
    index = ctx.group_index[id(g)]
    for s in ctx.identity_forks:
        # a branch set over exactly the scope's leaves that was opened before it (a residual
        # around the block: EfficientNet's `ir`) is drawn outside the box, with its own arc
        outside = s.start == g.start and s.end == g.end and s.after <= index
        if s.start >= g.start and s.end <= g.end and s.end > s.start and not outside:
            if all(foldable(layers[i]) for i in range(g.start, s.start)) and \
                    all(foldable(layers[i]) for i in range(s.end, g.end)):
                return True
    return False


def _collapsed_box(ctx: Context, nodes, stack) -> Atom:
    """One box for one collapsed scope, or for several consecutive ones of the same kind (the
    calls of a repeat, or block calls that draw alike), written ``×N kind``."""
    groups = [n.group for n in nodes]
    el = BoxEl(ctx, group=groups[-1], groups=groups)
    el.skip = all(_identity_over(g, ctx) for g in groups)
    return Atom(el, groups[0].kind, stack)


def _aux_scope(node):
    """The auxiliary head's branch set when ``node`` is a scope holding only one, else None."""
    if isinstance(node, Node) and node.type == "group" and len(node.children) == 1:
        child = node.children[0]
        if child.type == "fork" and child.span.aux:
            return child
    return None


def sequence_atoms(children, stack, ctx: Context) -> list[Atom]:
    atoms: list[Atom] = []
    host = None  # the atom of this sequence that folded layers attach to
    for node, count, names, _, nodes in _runs(children, ctx):
        if isinstance(node, list):   # alternating calls drawn once: the range of each one's names
            period = len(node)
            for k, first in enumerate(node):
                final = nodes[-period + k].group
                for i in range(first.group.start, first.group.end):
                    ctx.last_of[i] = i + final.start - first.group.start
            tip = (f"{count} repetitions of {period} blocks ({', '.join(n.group.kind for n in node)}) with "
                   f"the same shapes, drawn once: " + ", ".join(names))
            atoms += sequence_atoms(node, stack + [Frame(f"×{count}", "repeat", None, tip)], ctx)
            host = None
            continue
        aux = _aux_scope(node)
        if aux is not None and _collapsed(node, ctx):
            # a collapsed auxiliary head (Inception-v3's AuxLogits) still hangs off the main
            # path, as one box in its lane, not on it
            atoms.append(Atom(AuxEl(ctx, aux, collapsed=node), "", stack))
            continue
        if _collapsed(node, ctx):
            host = _collapsed_box(ctx, nodes, stack)
            atoms.append(host)
            continue
        if count > 1:
            first, final = nodes[0].group, nodes[-1].group
            for i in range(first.start, first.end):
                ctx.last_of[i] = i + final.start - first.start
            tip = (f"{count} consecutive {node.group.kind} blocks with the same shapes, drawn once: "
                   + ", ".join(names))
            atoms += sequence_atoms([node], stack + [Frame(f"×{count}", "repeat", None, tip)], ctx)
            host = None
            continue
        if node.type == "leaf":
            layer = ctx.layers[node.index]
            prefix = []
            for read in ctx.reads.get(node.index, ()):
                if read.kind == "from":
                    prefix.append(f"from {read.sources[0]}")
                else:
                    host = Atom(JoinEl(ctx, read), " · ".join(prefix), stack)
                    atoms.append(host)
                    prefix = []
            if host is not None and foldable(layer) and not prefix:
                host.el.fold(node.index)
                continue
            el = BoxEl(ctx, layer=node.index)
            host = Atom(el, " · ".join(prefix + [arrow_label(layer)]), stack)
            atoms.append(host)
        elif node.type == "group":
            g = node.group
            path = g.name.split(".")
            local = g.name
            for cut in range(len(path) - 1, 0, -1):
                if ".".join(path[:cut]) in ctx.group_names:
                    local = ".".join(path[cut:])
                    break
            problems = ctx.scope_problems.get(g.name, [])
            members = ctx.layers[g.start:g.end]
            tip = (f"{g.name} ({g.kind}): {len(members)} layers, params "
                   f"{numbers.exact(sum(m.params for m in members))}, {ctx.macs_word} "
                   f"{numbers.exact(sum(m.macs for m in members))}")
            frame = Frame(f"{_shorten(local, 30)} · {_shorten(g.kind, 20)}", "scope", worst(problems), tip)
            atoms += sequence_atoms(node.children, stack + [frame], ctx)
            host = None
        elif node.type == "repeat":
            s = node.span
            calls = [c for c in node.children if c.type == "group"]
            if calls and len(calls) == len(node.children) and all(_collapsed(c, ctx) for c in calls) \
                    and len({c.group.kind for c in calls}) == 1 \
                    and all(_signature(c, ctx) is not None for c in calls):
                # every iteration is one collapsed block of the same kind: one box, ×N
                host = _collapsed_box(ctx, calls, stack)
                atoms.append(host)
                continue
            if _repeat_collapses(node, ctx):
                inner = [c for c in node.children if c.start < s.first_end]
                offset = (s.times - 1) * (s.first_end - s.start)
                for i in range(s.start, s.first_end):
                    if ctx.layers[i + offset].name != ctx.layers[i].name:
                        ctx.last_of[i] = i + offset
                title = f"×{s.times}"
                tip = f"repeated {s.times} times; drawn once (every iteration has the same shapes)"
            else:
                inner = node.children
                title = f"repeat ×{s.times}"
                tip = f"repeated {s.times} times; every iteration drawn"
            atoms += sequence_atoms(inner, stack + [Frame(title, "repeat", None, tip)], ctx)
            host = None
        elif node.type == "fork" and node.span.aux:
            atoms.append(Atom(AuxEl(ctx, node), "", stack))
        elif node.type == "fork":
            el = ForkEl(ctx, node)
            host = Atom(el, "", stack)
            atoms.append(host)
        else:  # a branch outside a fork cannot happen; draw its members plainly
            atoms += sequence_atoms(node.children, stack, ctx)
            host = None
    return atoms


# ------------------------------------------------------------------------------ scales
class Scale:
    def __init__(self, values, lo, hi):
        values = [v for v in values if v > 0]
        self.lo, self.hi = lo, hi
        self.vmin = min(values, default=1)
        self.vmax = max(values, default=1)
        self.log = self.vmax > 10 * self.vmin

    def __call__(self, v) -> float:
        if v <= 0:
            return self.lo
        if self.log:
            return self.lo + (log(v) - log(self.vmin)) / (log(self.vmax) - log(self.vmin)) * (self.hi - self.lo)
        return max(self.lo, self.hi * v / self.vmax)

    def describe(self, what) -> str:
        how = "log scale" if self.log else "linear"
        return f"{what} ({how}, {self.vmin:,}–{self.vmax:,})"


class Scales:
    def __init__(self, shapes):
        volumes = [s for s in shapes if _ints(s, 3)]
        vectors = [s for s in shapes if _ints(s, 1)]
        tokens = [s for s in shapes if _ints(s, 2)]
        # the smallest volume stays a box, not a sliver: at least 18 px high, 8 px thick
        self.spatial = Scale([v for s in volumes for v in s[:2]], 18, 120)
        self.channels = Scale([s[2] for s in volumes], 8, 56)
        self.vector = Scale([s[0] for s in vectors], 14, 120)
        self.tokens = Scale([s[0] for s in tokens], 14, 100)
        self.width = Scale([s[1] for s in tokens], 6, 40)
        self.used = (bool(volumes), bool(vectors), bool(tokens))

    def legend(self) -> list[str]:
        volumes, vectors, tokens = self.used
        lines = []
        if volumes:
            lines.append("volume H×W×C: " + self.spatial.describe("height ∝ H, depth ∝ W") + "; "
                         + self.channels.describe("thickness ∝ C"))
        if vectors:
            lines.append("vector N: " + self.vector.describe("bar height ∝ N"))
        if tokens:
            lines.append("tokens T×D: " + self.tokens.describe("height ∝ T") + "; "
                         + self.width.describe("width ∝ D"))
        return lines


# ------------------------------------------------------------------------------ SVG pieces
def svg_text(out, x, y, s, cls="lab", anchor="middle", extra=""):
    out.append(f'<text x="{_f(x)}" y="{_f(y)}" class="{cls}" text-anchor="{anchor}"{extra}>'
               f'{markup.text(s)}</text>')


def _size(cls) -> float:
    return {"lab": FONT, "shp": FONT, "sm": SMALL, "bad": SMALL, "chg": SMALL, "ttl": TITLE, "ftl": SMALL,
            "arr": SMALL}.get(cls.split(" ")[0], FONT)


# ------------------------------------------------------------------------------ elements
class BoxEl:
    """A leaf layer (with the layers folded into it), a collapsed scope, or the input."""

    def __init__(self, ctx: Context, layer=None, group=None, input_shape=None, groups=None):
        self.ctx = ctx
        self.layer = layer
        self.group = group
        self.groups = groups or ([group] if group is not None else [])
        self.skip = False
        self.folded: list[int] = []
        if layer is not None:
            self.shape = ctx.layers[layer].output
        elif group is not None:
            self.shape = group.output
        else:
            self.shape = input_shape
        ctx.shapes.append(self.shape)
        ctx.boxes.append(self)

    def fold(self, index):
        self.folded.append(index)

    # geometry, once the scales are known
    def measure(self, scales: Scales):
        ctx = self.ctx
        shape = self.shape
        self.kind = "chip"
        if _ints(shape, 3):
            self.kind = "volume"
            self.h = scales.spatial(shape[0])
            self.d = max(scales.spatial(shape[1]) * 0.45, 10)
            self.c = scales.channels(shape[2])
            self.dx, self.dy = self.d * 0.8, self.d * 0.6
            self.gw, self.gup, self.gdown = self.c + self.dx, self.h / 2 + self.dy, self.h / 2
            self.face_right = self.c + self.dx   # leave from the side face's edge, not through it
        elif _ints(shape, 1):
            self.kind = "vector"
            self.h = scales.vector(shape[0])
            self.gw, self.gup, self.gdown = 12, self.h / 2, self.h / 2
            self.face_right = 12
        elif _ints(shape, 2):
            self.kind = "tokens"
            self.h = scales.tokens(shape[0])
            self.c = scales.width(shape[1])
            self.gw, self.gup, self.gdown = self.c, self.h / 2, self.h / 2
            self.face_right = self.c
        else:
            self.gw, self.gup, self.gdown = 22, 9, 9
            self.face_right = 22
        # labels
        if self.layer is not None:
            layer = ctx.layers[self.layer]
            name = ctx.local_name(layer.name, layer.path)
            last = ctx.last_of.get(self.layer)
            if last is not None:   # a box drawn once for a repeat: the range of its layers' names
                other = ctx.layers[last]
                end = ctx.local_name(other.name, other.path)
                cut = min(len(layer.path), len(other.path))
                while end == name and cut > 0:   # one name in every call: the calls' (or theirs)
                    cut -= 1
                    name, end = ctx.local_name(layer.name, layer.path[:cut]), ctx.local_name(other.name, other.path[:cut])
                name = _name_range(name, end)
            elif name in ctx.ambiguous and layer.path:
                # the same local name on several boxes (every stage's maxpool1): one scope more
                name = ctx.local_name(layer.name, layer.path[:-1])
            problems = list(ctx.problems.get(self.layer, []))
            for i in self.folded:
                problems += ctx.problems.get(i, [])
            self.group_name = group_of(layer.kind)
        elif self.group is not None:
            names = [self._local(g.name) for g in self.groups]
            name = names[0] if len(names) == 1 else f"{names[0]}–{names[-1]}"
            problems = []
            for g in self.groups:
                problems += [p for i in range(g.start, g.end) for p in ctx.problems.get(i, [])]
                problems += ctx.scope_problems.get(g.name, [])
            self.group_name = "block"
        else:
            name, problems, self.group_name = "input", [], "input"
        self.problems = problems
        self.severity = worst(problems)
        self.change = self._change()
        labels = [(numbers.shape(shape) if shape is not None else "—", "shp"), (_shorten(name), "lab")]
        if self.group is not None:
            # the lecture's caption of a collapsed run: repetition, block, output channels
            # (`×5 bottleneck, 256`); how many layers it stands for is in the tooltip
            times = f"×{len(self.groups)} " if len(self.groups) > 1 else ""
            channels = _channels(self.shape)
            labels.append((_shorten(f"{times}{self.group.kind}" + (f", {channels}" if channels else ""), 34), "sm"))
        if self.folded:
            kinds = []
            for i in self.folded:
                k = ctx.layers[i].kind
                if k not in kinds:
                    kinds.append(k)
            labels.append((_shorten("+ " + ", ".join(kinds), 30), "sm"))
        if self.change is not None:
            status, n = self.change
            labels.append((f"{CHANGE_GLYPH[status]} {status}" + (f" ({n} layers)" if n > 1 else ""),
                           f"chg chg-{status}"))
        if problems:
            glyph = SEVERITY_GLYPH[self.severity]
            codes = sorted({p.code for p in problems})
            badge = f"{glyph} {codes[0]}" if len(codes) == 1 else f"{glyph} {len(problems)} problems"
            labels.append((badge, "bad"))
        self.labels = labels
        label_w = max(text_width(t, _size(c)) for t, c in labels)
        # a skip arc (the identity of a collapsed residual block) runs over the box and down
        # on both sides of it, clear of its faces
        room = 2 * SKIP_SIDE if self.skip else 0
        self.w = max(self.gw + room, label_w) + 8
        self.up = self.gup + 4 + (SKIP_RISE + 4 if self.skip else 0)
        self.down = self.gdown + 6 + LINE * len(labels)
        self.gx = (self.w - self.gw) / 2
        self.left_in = self.gx
        self.right_out = self.gx + self.face_right

    def _local(self, name: str) -> str:
        cut = name.rfind(".")
        while cut > 0:
            if name[:cut] in self.ctx.group_names:
                return name[cut + 1:]
            cut = name.rfind(".", 0, cut)
        return name

    def tooltip(self) -> str:
        ctx = self.ctx
        lines = []
        if self.layer is not None:
            for i in [self.layer] + self.folded:
                layer = ctx.layers[i]
                settings = settings_of(layer)
                lines.append(f"{layer.name} ({layer.kind}{', ' + settings if settings else ''}): "
                             f"{numbers.shape(layer.input)} → {numbers.shape(layer.output)}, params "
                             f"{numbers.exact(layer.params)}, {ctx.macs_word} {numbers.exact(layer.macs)}")
        elif self.group is not None:
            n = sum(g.end - g.start for g in self.groups)
            times = f"×{len(self.groups)} " if len(self.groups) > 1 else ""
            lines.append(f"{times}{self.group.kind}: {n} layer{'s' if n != 1 else ''} in all")
            for g in self.groups:
                members = ctx.layers[g.start:g.end]
                lines.append(f"{g.name} ({g.kind}, collapsed): {numbers.shape(g.input)} → "
                             f"{numbers.shape(g.output)}, {len(members)} layers, params "
                             f"{numbers.exact(sum(m.params for m in members))}, {ctx.macs_word} "
                             f"{numbers.exact(sum(m.macs for m in members))}")
            if self.skip:
                lines.append("the dashed arc over it: an identity shortcut in every block")
        else:
            lines.append(f"input {numbers.shape(self.shape)}")
        for p in self.problems:
            lines.append(f"{p.severity}[{p.code}] {p.message}")
        return "\n".join(lines)

    def _change(self):
        """(what happened to the box's layers on this side of a diff, how many of them), the
        strongest first (removed, added, changed, affected), or None."""
        ctx = self.ctx
        if not ctx.changes:
            return None
        if self.layer is not None:
            members = [self.layer] + list(self.folded)
        else:
            members = [i for g in self.groups for i in range(g.start, g.end)]
        found = [ctx.changes[i] for i in members if i in ctx.changes]
        for status in CHANGE_COLOUR:
            if status in found:
                return status, len(found)
        return None

    def draw(self, out, x, y):
        kind_attr = ("layer", self.ctx.layers[self.layer].name) if self.layer is not None else \
            (("group", " ".join(g.name for g in self.groups)) if self.group is not None else ("input", "input"))
        folded = " ".join(self.ctx.layers[i].name for i in self.folded)
        sev = f' data-severity="{self.severity}"' if self.severity else ""
        if self.change is not None:
            sev += f' data-change="{self.change[0]}"'
        times = f' data-times="{len(self.groups)}"' if len(self.groups) > 1 else ""
        if self.group is not None:
            times += f' data-layers="{sum(g.end - g.start for g in self.groups)}"'
        out.append(f'<g class="box {kind_attr[0]}" data-{kind_attr[0]}="{markup.attr(kind_attr[1])}" '
                   f'data-shape="{markup.attr(numbers.shape(self.shape))}"'
                   + (f' data-folded="{markup.attr(folded)}"' if folded else "") + sev + times + ">")
        if self.skip:
            top = y - self.gup - SKIP_RISE
            left, right = x + 2, x + self.w - 2
            out.append(f'<path class="edge skip" d="M{_f(left)},{_f(y)} V{_f(top + 5)} Q{_f(left)},{_f(top)} '
                       f'{_f(left + 5)},{_f(top)} H{_f(right - 5)} Q{_f(right)},{_f(top)} {_f(right)},'
                       f'{_f(top + 5)} V{_f(y - 1)}" marker-end="url(#arrow)"/>')
        out.append(f"<title>{markup.text(self.tooltip())}</title>")
        gx = x + self.gx
        colour = group_colour(self.group_name) if self.group_name not in ("block", "input") else \
            ("#b7c4d6" if self.group_name == "block" else "#e3e6ea")
        stroke = SEVERITY_COLOUR.get(self.severity, "#4a5563")
        width = 3 if self.severity else 1
        if self.change is not None and not self.severity:
            stroke, width = CHANGE_COLOUR[self.change[0]], 3
        dash = ' stroke-dasharray="4 2"' if self.group_name == "pool" else ""
        common = f'stroke="{stroke}" stroke-width="{width}" stroke-linejoin="round"{dash}'
        if self.kind == "volume":
            h, c, dx, dy = self.h, self.c, self.dx, self.dy
            top, bottom = y - h / 2, y + h / 2
            out.append(f'<path class="vol" d="M{_f(gx)},{_f(top)} l{_f(dx)},{_f(-dy)} h{_f(c)} '
                       f'l{_f(-dx)},{_f(dy)} z" fill="{_shade(colour, 1.35)}" {common}/>')
            out.append(f'<path class="vol" d="M{_f(gx + c)},{_f(top)} l{_f(dx)},{_f(-dy)} v{_f(h)} '
                       f'l{_f(-dx)},{_f(dy)} z" fill="{_shade(colour, 0.8)}" {common}/>')
            out.append(f'<rect class="vol" x="{_f(gx)}" y="{_f(top)}" width="{_f(c)}" height="{_f(h)}" '
                       f'fill="{colour}" {common}/>')
            if self.group is not None:  # a collapsed scope: a second outline inside
                out.append(f'<rect x="{_f(gx + 2)}" y="{_f(top + 2)}" width="{_f(max(c - 4, 1))}" '
                           f'height="{_f(max(h - 4, 1))}" fill="none" stroke="{stroke}" stroke-width="0.8"/>')
            bottom_y = bottom
        elif self.kind == "vector":
            out.append(f'<rect class="vec" x="{_f(gx)}" y="{_f(y - self.h / 2)}" width="12" '
                       f'height="{_f(self.h)}" rx="2" fill="{colour}" {common}/>')
            bottom_y = y + self.h / 2
        elif self.kind == "tokens":
            out.append(f'<rect class="tok" x="{_f(gx)}" y="{_f(y - self.h / 2)}" width="{_f(self.c)}" '
                       f'height="{_f(self.h)}" fill="{colour}" {common}/>')
            rows = min(6, max(2, int(self.h // 12)))
            for r in range(1, rows):
                ry = y - self.h / 2 + self.h * r / rows
                out.append(f'<line x1="{_f(gx)}" y1="{_f(ry)}" x2="{_f(gx + self.c)}" y2="{_f(ry)}" '
                           f'stroke="{stroke}" stroke-width="0.5"/>')
            bottom_y = y + self.h / 2
        else:
            out.append(f'<rect class="chip" x="{_f(gx)}" y="{_f(y - 9)}" width="22" height="18" rx="9" '
                       f'fill="{colour}" {common}/>')
            bottom_y = y + 9
        cx = x + self.w / 2
        ly = bottom_y + 6 + 10
        for text_, cls in self.labels:
            svg_text(out, cx, ly, text_, f"bad sev-{self.severity}" if cls == "bad" else cls)
            ly += LINE
        out.append("</g>")


class RowEl:
    """One row of atoms (a lane of a branch set), laid out without wrapping."""

    def __init__(self, atoms, lead=True):
        self.atoms = atoms
        self.lead = lead

    def measure(self, scales):
        for a in self.atoms:
            a.el.measure(scales)
        rows = place_rows(self.atoms, None, self.lead)
        self.row = rows[0]
        self.w, self.up, self.down = self.row.w, self.row.up, self.row.down
        self.left_in = 0
        last = self.row.placed[-1]
        self.right_out = last[1] + last[0].el.right_out

    def draw(self, out, x, y):
        draw_row(out, self.row, x, y, lead_from=x if self.lead else None)


class ForkEl:
    """A branch set: non-empty branches as lanes (the first on the axis, the others below),
    empty branches as skip arcs above, joined at a merge node."""

    def __init__(self, ctx: Context, node: Node):
        self.ctx = ctx
        span = node.span
        self.span = span
        by_index = {c.index: c for c in node.children if c.type == "branch"}
        self.lanes = []
        self.identities = 0
        for j, (bs, be) in enumerate(span.branches or ()):
            if be > bs and j in by_index:
                self.lanes.append(RowEl(sequence_atoms(by_index[j].children, [], ctx)))
            else:
                self.identities += 1
        self.folded: list[int] = []

    def fold(self, index):
        self.folded.append(index)

    def measure(self, scales):
        for lane in self.lanes:
            lane.measure(scales)
        span, ctx = self.span, self.ctx
        labels = [(numbers.shape(span.output) if span.output is not None else "—", "shp"),
                  (_shorten(f"{span.merge or 'merge'}"), "sm")]
        if self.folded:
            kinds = []
            for i in self.folded:
                if ctx.layers[i].kind not in kinds:
                    kinds.append(ctx.layers[i].kind)
            labels.append((_shorten("+ " + ", ".join(kinds), 30), "sm"))
        problems = [p for i in self.folded for p in ctx.problems.get(i, [])]
        self.severity = worst(problems)
        if problems:
            codes = sorted({p.code for p in problems})
            glyph = SEVERITY_GLYPH[self.severity]
            labels.append((f"{glyph} {codes[0]}" if len(codes) == 1 else f"{glyph} {len(problems)} problems",
                           "bad"))
        self.labels = labels
        self.r = 9
        self.mw = max(2 * self.r + 22, max(text_width(t, _size(c)) for t, c in labels) + 14)
        lane_w = max((lane.w for lane in self.lanes), default=30)
        self.split = 8
        self.lane_w = lane_w
        self.w = self.split + lane_w + 10 + self.mw
        first_up = max(self.lanes[0].up if self.lanes else 10, self.r)
        # identities: brackets over the first lane (6 px above it, 8 px apart), their label on top
        self.arc_y = first_up + 6
        self.arc_top = self.arc_y + 8 * max(self.identities - 1, 0) + 4 + 10
        self.up = self.arc_top + 2 if self.identities else first_up
        down = max(self.lanes[0].down if self.lanes else 0, self.r + 6 + LINE * len(labels))
        self.lane_y = [0.0]
        for lane in self.lanes[1:]:
            self.lane_y.append(down + 14 + lane.up)
            down = self.lane_y[-1] + lane.down
        self.down = down
        self.left_in = 0
        self.right_out = self.w - self.mw / 2 + self.r

    def draw(self, out, x, y):
        span = self.span
        out.append(f'<g class="fork" data-merge="{markup.attr(span.merge or "")}" '
                   f'data-branches="{len(span.branches or ())}">')
        mx = x + self.split + self.lane_w + 10 + self.mw / 2
        bus_in, bus_out = x + 4, x + self.split + self.lane_w + 10 + 2
        ys = [y + dy for dy in self.lane_y]
        if len(self.lanes) > 1:
            out.append(f'<path class="edge" d="M{_f(x)},{_f(y)} H{_f(bus_in)} V{_f(ys[-1])}"/>')
            out.append(f'<path class="edge" d="M{_f(bus_out)},{_f(ys[-1])} V{_f(y)}"/>')
        else:
            out.append(f'<path class="edge" d="M{_f(x)},{_f(y)} H{_f(bus_in)}"/>')
        for lane, ly in zip(self.lanes, ys):
            lx = x + self.split
            out.append(f'<path class="edge" d="M{_f(bus_in)},{_f(ly)} H{_f(lx)}"/>')
            lane.draw(out, lx, ly)
            # every lane ends in an arrowhead at the bus into the merge (the first runs on into it)
            head = ' marker-end="url(#arrow)"' if ly != y else ""
            out.append(f'<path class="edge" d="M{_f(lx + lane.right_out)},{_f(ly)} H{_f(bus_out)}"{head}/>')
        if not self.lanes:
            out.append(f'<path class="edge" d="M{_f(bus_in)},{_f(y)} H{_f(bus_out)}"/>')
        out.append(f'<path class="edge" d="M{_f(bus_out)},{_f(y)} H{_f(mx - self.r)}" marker-end="url(#arrow)"/>')
        for k in range(self.identities):
            top = y - self.arc_y - 8 * k
            left = x + 2 + 2 * k
            out.append(f'<path class="edge skip" d="M{_f(left)},{_f(y)} V{_f(top + 5)} Q{_f(left)},{_f(top)} '
                       f'{_f(left + 5)},{_f(top)} H{_f(mx - 5)} Q{_f(mx)},{_f(top)} {_f(mx)},{_f(top + 5)} '
                       f'V{_f(y - self.r)}" marker-end="url(#arrow)"/>')
        if self.identities:
            svg_text(out, (x + mx) / 2, y - self.arc_top + 10, "identity", "sm")
        stroke = SEVERITY_COLOUR.get(self.severity, "#4a5563")
        out.append(f'<circle class="merge" cx="{_f(mx)}" cy="{_f(y)}" r="{self.r}" stroke="{stroke}" '
                   f'stroke-width="{3 if self.severity else 1.2}"/>')
        symbol = MERGE_SYMBOL.get(span.merge or "", "•")
        svg_text(out, mx, y + 4, symbol, "sym")
        ly = y + self.r + 6 + 10
        for text_, cls in self.labels:
            svg_text(out, mx, ly, text_, f"bad sev-{self.severity}" if cls == "bad" else cls)
            ly += LINE
        out.append("</g>")


class AuxEl:
    """An auxiliary head: the main path passes straight on; the head hangs below it in a
    dashed lane that feeds nothing (it runs in training only)."""

    def __init__(self, ctx: Context, node: Node, collapsed: Node | None = None):
        self.ctx = ctx
        self.span = node.span
        branch = next((c for c in node.children if c.type == "branch"), None)
        if collapsed is not None:   # the head's scope collapsed: one box in the lane
            self.lane = RowEl([_collapsed_box(ctx, [collapsed], [])])
        else:
            self.lane = RowEl(sequence_atoms(branch.children if branch else [], [], ctx))
        self.problems = []

    def measure(self, scales):
        lane = self.lane
        lane.measure(scales)
        self.title = "auxiliary head (training only)"
        self.w = max(lane.w, text_width(self.title, SMALL)) + 24
        self.up = 10
        self.lane_y = 14 + 14 + lane.up
        self.down = self.lane_y + lane.down + 6
        self.left_in = 0
        self.right_out = self.w

    def draw(self, out, x, y):
        lane = self.lane
        ly = y + self.lane_y
        out.append('<g class="aux">')
        out.append(f'<path class="edge" d="M{_f(x)},{_f(y)} H{_f(x + self.w)}"/>')
        out.append(f'<rect class="frame" x="{_f(x + 4)}" y="{_f(y + 12)}" width="{_f(self.w - 8)}" '
                   f'height="{_f(self.down - 14)}" rx="6"/>')
        svg_text(out, x + 10, y + 25, self.title, "ftl", anchor="start")
        out.append(f'<path class="edge skip" d="M{_f(x + 8)},{_f(y)} V{_f(ly)} H{_f(x + 14)}"/>')
        lane.draw(out, x + 14, ly)
        out.append("</g>")


class JoinEl:
    """A `join`: a merge node reading earlier outputs by name, labelled with them and its size."""

    def __init__(self, ctx: Context, span):
        self.ctx = ctx
        self.span = span
        self.folded: list[int] = []
        self.problems = []

    def fold(self, index):
        self.folded.append(index)

    def measure(self, scales):
        span, ctx = self.span, self.ctx
        self.labels = [(numbers.shape(span.output) if span.output is not None else "—", "shp"),
                       (_shorten(f"{span.merge or 'join'}({', '.join(span.sources)})", 40), "sm")]
        if self.folded:
            kinds = []
            for i in self.folded:
                if ctx.layers[i].kind not in kinds:
                    kinds.append(ctx.layers[i].kind)
            self.labels.append((_shorten("+ " + ", ".join(kinds), 30), "sm"))
        self.r = 9
        self.w = max(2 * self.r, max(text_width(t, _size(c)) for t, c in self.labels)) + 8
        self.up = self.r + 4
        self.down = self.r + 6 + LINE * len(self.labels)
        self.left_in = self.w / 2 - self.r
        self.right_out = self.w / 2 + self.r

    def draw(self, out, x, y):
        span = self.span
        folded = " ".join(self.ctx.layers[i].name for i in self.folded)
        out.append(f'<g class="join" data-merge="{markup.attr(span.merge or "")}" '
                   f'data-sources="{markup.attr(" ".join(span.sources))}"'
                   + (f' data-folded="{markup.attr(folded)}"' if folded else "") + ">")
        out.append(f"<title>{markup.text('join: ' + (span.merge or '') + ' of ' + ', '.join(span.sources))}</title>")
        cx = x + self.w / 2
        out.append(f'<circle class="merge" cx="{_f(cx)}" cy="{_f(y)}" r="{self.r}" stroke="#4a5563" '
                   f'stroke-width="1.2"/>')
        svg_text(out, cx, y + 4, MERGE_SYMBOL.get(span.merge or "", "•"), "sym")
        ly = y + self.r + 6 + 10
        for text_, cls in self.labels:
            svg_text(out, cx, ly, text_, cls)
            ly += LINE
        out.append("</g>")


def _area(shape):
    """H·W of a volume, None for any other shape."""
    return shape[0] * shape[1] if _ints(shape, 3) else None


def _u_fork(node: Node, ctx: Context):
    """(fork node, skip branch, deep branch) when ``node`` (or the one scope around it) is a
    level of an encoder–decoder, told by its structure alone: a branch set of two branches
    merged by concat or add, where one (the deep arm) goes down from the fork's input
    resolution and comes back up, and the other (the skip) carries the encoder's output across
    without ever going below the resolution it delivers — the two arriving at the merge at the
    same resolution. A residual whose main path keeps the resolution, or whose branches both
    downsample (a projection shortcut), is not one."""
    if node.type == "group" and len(node.children) == 1:
        node = node.children[0]
    if node.type != "fork" or node.span.aux or len(node.span.branches or ()) != 2:
        return None
    if node.span.merge not in ("concat", "add"):
        return None
    layers = ctx.layers
    branches = node.span.branches
    entry = next((layers[bs].input for bs, be in branches if be > bs), None)
    if _area(entry) is None:
        return None
    by_index = {c.index: c for c in node.children if c.type == "branch"}

    def arm(j):
        """(the resolution it delivers, the lowest along it), or None if not all volumes."""
        bs, be = branches[j]
        areas = [_area(layers[i].output) for i in range(bs, be)]
        if any(a is None for a in areas):
            return None
        out = areas[-1] if areas else _area(entry)
        return out, min(areas + [out])
    arms = [arm(0), arm(1)]
    if None in arms or arms[0][0] != arms[1][0]:      # skip and decoder meet at one resolution
        return None
    for deep, skip in ((0, 1), (1, 0)):
        out, lowest = arms[deep]
        if deep in by_index and lowest < min(out, _area(entry)) and arms[skip][1] == arms[skip][0]:
            return node, skip, by_index[deep]
    return None


def u_levels(children, ctx: Context):
    """The levels of an encoder–decoder drawn as a U: [(before, fork, skip, after)] from the
    top, and the bottom's children; None when ``children`` is not one (fewer than two levels)."""
    levels = []
    while True:
        found = [(i, f) for i, c in enumerate(children) if (f := _u_fork(c, ctx)) is not None]
        if len(found) != 1:
            break
        i, (fork, skip, deep) = found[0]
        levels.append((children[:i], fork, skip, children[i + 1:]))
        children = deep.children
    return (levels, children) if len(levels) >= 2 else None


class MergeEl:
    """The merge node of a U level (where the skip arrives), its labels above it: the skip
    arrives from the left, the decoder below comes up into it from beneath."""

    def __init__(self, ctx: Context, fork: Node, skip: int):
        self.ctx = ctx
        self.span = fork.span
        bs, be = self.span.branches[skip]
        self.skip_layers = list(range(bs, be))
        self.problems = []

    def fold(self, index):  # nothing folds into a U merge (the row after it starts afresh)
        raise AssertionError("a U merge starts its row")

    def skip_label(self) -> str:
        parts = [arrow_label(self.ctx.layers[i]) for i in self.skip_layers]
        return " · ".join(["copy"] + parts) if parts else "copy"

    def measure(self, scales):
        span = self.span
        self.labels = [(numbers.shape(span.output) if span.output is not None else "—", "shp"),
                       (span.merge or "merge", "sm")]
        self.r = 9
        self.w = max(2 * self.r, max(text_width(t, _size(c)) for t, c in self.labels)) + 8
        self.w = max(self.w, getattr(self, "min_w", 0))   # one width on the arm: one column
        self.up = self.r + 6 + LINE * len(self.labels)
        self.down = self.r + 4
        self.left_in = self.w / 2 - self.r
        self.right_out = self.w / 2 + self.r

    def draw(self, out, x, y):
        span = self.span
        names = " ".join(self.ctx.layers[i].name for i in self.skip_layers)
        out.append(f'<g class="fork u-merge" data-merge="{markup.attr(span.merge or "")}" '
                   f'data-branches="2" data-skip="{markup.attr(names)}">')
        cx = x + self.w / 2
        out.append(f'<circle class="merge" cx="{_f(cx)}" cy="{_f(y)}" r="{self.r}" stroke="#4a5563" '
                   f'stroke-width="1.2"/>')
        svg_text(out, cx, y + 4, MERGE_SYMBOL.get(span.merge or "", "•"), "sym")
        ly = y - self.r - 6
        for text_, cls in reversed(self.labels):
            svg_text(out, cx, ly, text_, cls)
            ly -= LINE
        out.append("</g>")


class UEl:
    """An encoder–decoder as a U: level k's encoder on the left of row k, its decoder on the
    right, starting at the merge node where the skip arrow arrives horizontally; the encoder
    steps down to the next row at the left, the decoder's output climbs into the merge above."""

    def __init__(self, ctx: Context, levels, bottom, head):
        self.ctx = ctx
        self.lefts, self.rights, self.merges = [], [], []
        for k, (before, fork, skip, after) in enumerate(levels):
            left = sequence_atoms(before, [], ctx)
            if k == 0:
                left = head + left
            self.lefts.append(RowEl(left, lead=k > 0))
            merge = MergeEl(ctx, fork, skip)
            self.merges.append(merge)
            self.rights.append(RowEl([Atom(merge, "", [])] + sequence_atoms(after, [], ctx), lead=False))
        self.lefts.append(RowEl(sequence_atoms(bottom, [], ctx), lead=True))
        self.problems = []

    def measure(self, scales):
        for merge in self.merges:
            merge.measure(scales)
        widest = max(merge.w for merge in self.merges)
        for merge in self.merges:
            merge.min_w = widest
        for row in self.lefts + self.rights:
            row.measure(scales)
        n = len(self.merges)
        self.x_left = 12
        need = 0.0
        for k in range(n):
            label = self.merges[k].skip_label()
            need = max(need, self.x_left + self.lefts[k].w + max(60, text_width(label, SMALL) + 24)
                       + self.merges[k].w / 2)
        self.x_merge = max(need, self.x_left + self.lefts[n].w + 30)
        self.ys = [0.0]
        for k in range(1, n + 1):
            above = max(self.lefts[k - 1].down, self.rights[k - 1].down)
            below = max(self.lefts[k].up, self.rights[k].up if k < n else 0)
            self.ys.append(self.ys[-1] + above + ROW_GAP + 8 + below)
        self.up = max(self.lefts[0].up, self.rights[0].up)
        self.down = self.ys[-1] + self.lefts[n].down
        self.w = max(self.x_merge + max(r.w for r in self.rights) + 14,
                     self.x_left + self.lefts[n].w + 14)
        self.left_in = 0
        self.right_out = self.x_merge + self.rights[0].right_out

    def draw(self, out, x, y):
        n = len(self.merges)
        out.append('<g class="u-net">')
        for k in range(n + 1):
            ly = y + self.ys[k]
            left = self.lefts[k]
            left.draw(out, x + self.x_left, ly)
            left_end = x + self.x_left + left.right_out
            if k < n:
                right = self.rights[k]
                right.draw(out, x + self.x_merge, ly)
                merge = self.merges[k]
                to_x = x + self.x_merge + merge.left_in
                label = merge.skip_label()
                out.append(f'<path class="edge skip" d="M{_f(left_end)},{_f(ly)} H{_f(to_x)}" '
                           f'marker-end="url(#arrow)"/>')
                svg_text(out, (left_end + to_x) / 2, ly - 5, _shorten(label, 60), "arr")
                # down to the next row's encoder, through the gap under this row, along the left
                below = ly + max(left.down, right.down) + (ROW_GAP + 8) / 2
                out.append(f'<path class="edge" d="M{_f(left_end)},{_f(ly)} H{_f(x + self.x_left + left.w + 6)} '
                           f'V{_f(below - 4)} '
                           f'H{_f(x + 4)} V{_f(y + self.ys[k + 1])} H{_f(x + self.x_left)}"/>')
            if k > 0:
                # this row's decoder output (or the bottom's) climbs into the merge above
                row = self.rights[k] if k < n else left
                row_x = x + (self.x_merge if k < n else self.x_left)
                last, px = row.row.placed[-1]
                start = row_x + px + last.el.right_out
                above = self.merges[k - 1]
                cx = x + self.x_merge + above.w / 2
                prev_y = y + self.ys[k - 1]
                gap = prev_y + max(self.lefts[k - 1].down, self.rights[k - 1].down) + (ROW_GAP + 8) / 2
                out.append(f'<path class="edge" d="M{_f(start)},{_f(ly)} H{_f(row_x + row.w + 6)} '
                           f'V{_f(gap + 4)} H{_f(cx)} V{_f(prev_y + above.r)}" marker-end="url(#arrow)"/>')
        out.append("</g>")


class StopEl:
    """Where an error stopped the analysis (or, ``error=False``, a note such as a final join)."""

    def __init__(self, message, error=True):
        self.message = message
        self.error = error
        self.problems = []

    def measure(self, scales):
        self.w = text_width(self.message, FONT) + 16
        self.up, self.down = 12, 12
        self.left_in, self.right_out = 0, self.w

    def draw(self, out, x, y):
        colour = SEVERITY_COLOUR["error"] if self.error else "#4a5563"
        out.append(f'<g class="{"stop" if self.error else "note"}"><rect x="{_f(x)}" y="{_f(y - 11)}" '
                   f'width="{_f(self.w)}" height="22" rx="4" fill="none" stroke="{colour}" '
                   f'stroke-width="{2 if self.error else 1}" stroke-dasharray="5 3"/>')
        svg_text(out, x + 8, y + 4, self.message, "lab sev-error" if self.error else "lab", anchor="start")
        out.append("</g>")


# ------------------------------------------------------------------------------ rows
class Row:
    __slots__ = ("placed", "frames", "arrows", "w", "up", "down", "depth")

    def __init__(self):
        self.placed = []   # (atom, x)
        self.frames = []   # (frame, left, right, level, continued)
        self.arrows = []   # (x_from, x_to, label, label_x) ; x_from None: from the row's lead
        self.w = 0
        self.up = self.down = 0
        self.depth = 0


def _common(a, b) -> int:
    k = 0
    while k < len(a) and k < len(b) and a[k] is b[k]:
        k += 1
    return k


def place_rows(atoms, max_width, lead_first) -> list[Row]:
    """Greedy placement, wrapping before an atom that would cross ``max_width``. Frames
    inflate by HPAD per nesting level (outer frames more), so boundaries get room for them."""
    depth = max((len(a.stack) for a in atoms), default=0)

    def inflate(level):
        return HPAD * (depth - level)

    chunks = _chunks(atoms, inflate) if max_width is not None else {}
    rows = [Row()]
    row = rows[0]
    open_: list[list] = []  # [frame, left, level, continued, content up, content down]
    carried: set = set()    # frames cut by a wrap: their next segment says "(cont.)"
    prev = None
    edge = 0.0
    for index, a in enumerate(atoms):
        arrow = arrow_length(a)
        k = _common(prev.stack, a.stack) if prev is not None else 0
        if prev is not None and max_width is not None:
            opening = inflate(k) if len(a.stack) > k else 0
            closing = inflate(0) if a.stack or prev.stack else 0
            # the outermost scope opening here that fits on a row, but not in what is left of
            # this one, starts a row of its own (it is not split)
            chunk = next((w for w in chunks.get(index, ()) if w <= max_width - ROW_LEAD), None)
            forced = chunk is not None and edge > ROW_LEAD and edge + chunk > max_width
            if forced or edge + arrow + opening + a.el.w + closing > max_width:
                carried = {id(entry[0]) for entry in open_}
                row.w = _close(row, open_, 0, prev, inflate)
                row = Row()
                rows.append(row)
                prev = None
                edge = float(ROW_LEAD)
                k = 0
        if prev is not None:
            edge = _close(row, open_, k, prev, inflate)
        gap_left = None
        if prev is not None or lead_first or row is not rows[0]:
            gap_left = edge
            edge += arrow
        opening_x = edge
        if len(a.stack) > k:
            edge += inflate(k)
        ax = edge
        for level in range(k, len(a.stack)):
            frame = a.stack[level]
            open_.append([frame, ax - inflate(level), level, id(frame) in carried, 0, 0])
        for entry in open_:
            entry[4] = max(entry[4], a.el.up)
            entry[5] = max(entry[5], a.el.down)
        if gap_left is not None:
            row.arrows.append((prev, a, (gap_left + opening_x) / 2, gap_left))
        row.placed.append((a, ax))
        edge = ax + a.el.w
        prev = a
    if prev is not None:
        edge = _close(row, open_, 0, prev, inflate)
    row.w = edge
    for r in rows:
        r.depth = max((len(a.stack) for a, _ in r.placed), default=0)
        # room above and below for the frames this row has (not the deepest of the picture)
        r.up = max([a.el.up for a, _ in r.placed] + [16]) + VTOP * r.depth
        r.down = max([a.el.down for a, _ in r.placed] + [10]) + VBOT * r.depth
    return rows


def arrow_length(a) -> float:
    label_w = text_width(_shorten(a.label, 60), SMALL) + 10 if a.label else 0
    return max(MIN_ARROW, label_w)


def _chunks(atoms, inflate) -> dict:
    """{index of the atom that opens one or more scopes: [the width of each scope's atoms on
    one row, outermost first]}: consecutive atoms under the same frame are one chunk."""
    chunks: dict = {}
    open_: list = []   # [frame, index it opened at, level]
    for i, a in enumerate(atoms):
        k = 0
        while k < len(open_) and k < len(a.stack) and open_[k][0] is a.stack[k]:
            k += 1
        del open_[k:]
        for level in range(k, len(a.stack)):
            open_.append((a.stack[level], i, level))
            chunks.setdefault(i, []).append(2 * inflate(level))
        width = arrow_length(a) + a.el.w
        for _frame, first, level in open_:
            chunks[first][level - len(atoms[first].stack) + len(chunks[first])] += width
    return chunks


def _close(row, open_, keep, prev, inflate) -> float:
    """Close the open frames nested at ``keep`` or deeper (innermost first); the new edge."""
    px = row.placed[-1][1]
    atom_right = px + prev.el.w
    edge = atom_right
    while len(open_) > keep:
        frame, left, level, continued, up, down = open_.pop()
        right = max(atom_right + inflate(level), edge + (HPAD if edge > atom_right else 0))
        needed = text_width(frame.title, SMALL) + 12 + (text_width(" (cont.)", SMALL) if continued else 0)
        right = max(right, left + needed)
        row.frames.append((frame, left, right, level, continued, up, down))
        edge = right
    return edge


def draw_row(out, row: Row, x0, y, lead_from=None):
    """Draw a placed row with its axis at ``y``; ``lead_from``: x where the first arrow starts."""
    for frame, left, right, level, continued, up, down in sorted(row.frames, key=lambda f: f[3]):
        top = y - max(up, 16) - VTOP * (row.depth - level)
        bottom = y + max(down, 10) + VBOT * (row.depth - level)
        stroke = SEVERITY_COLOUR.get(frame.severity, "")
        style = "frame rep" if frame.style == "repeat" else "frame"
        extra = f' stroke="{stroke}" stroke-width="3"' if stroke else ""
        out.append(f'<g class="{style}-g"><title>{markup.text(frame.tip)}</title>'
                   f'<rect class="{style}" x="{_f(x0 + left)}" y="{_f(top)}" width="{_f(right - left)}" '
                   f'height="{_f(bottom - top)}" rx="6"{extra}/>')
        title = frame.title + (" (cont.)" if continued else "")
        if frame.severity:
            title += " " + SEVERITY_GLYPH[frame.severity]
        svg_text(out, x0 + left + 6, top + 13, title, "ftl" if frame.style != "repeat" else "ftl rept",
                 anchor="start")
        out.append("</g>")
    ax = {id(a): px for a, px in row.placed}
    for prev, atom, label_x, gap_left in row.arrows:
        to_x = x0 + ax[id(atom)] + atom.el.left_in
        if prev is not None:
            from_x = x0 + ax[id(prev)] + prev.el.right_out
        else:
            from_x = x0 + gap_left if lead_from is None else lead_from
        # an entry that reads a named tensor (`from`) does not take the previous output: dashed
        cls = "edge skip" if atom.label.startswith("from ") else "edge"
        out.append(f'<path class="{cls}" d="M{_f(from_x)},{_f(y)} H{_f(to_x)}" marker-end="url(#arrow)"/>')
        if atom.label:
            svg_text(out, x0 + label_x, y - 5, _shorten(atom.label, 60), "arr")
    for atom, ax in row.placed:
        atom.el.draw(out, x0 + ax, y)


# ------------------------------------------------------------------------------ the picture
STYLE = """
svg.archcalc{background:#fff}
svg.archcalc .bg{fill:#fff}
svg.archcalc text{font-family:ui-monospace,"DejaVu Sans Mono",Menlo,Consolas,monospace;fill:#1f2328}
svg.archcalc .lab{font-size:11px}
svg.archcalc .shp{font-size:11px;font-weight:bold}
svg.archcalc .sm,svg.archcalc .arr,svg.archcalc .ftl{font-size:10px;fill:#59636e}
svg.archcalc .bad{font-size:10px;font-weight:bold}
svg.archcalc .ttl{font-size:14px;font-weight:bold}
svg.archcalc .rept{fill:#0550ae;font-weight:bold}
svg.archcalc .sym{font-size:13px;font-weight:bold}
svg.archcalc .edge{fill:none;stroke:#59636e;stroke-width:1.2}
svg.archcalc .skip{stroke-dasharray:5 3}
svg.archcalc .frame{fill:none;stroke:#8c959f;stroke-dasharray:4 3}
svg.archcalc .rep{stroke:#0969da;stroke-dasharray:none;stroke-width:1.4}
svg.archcalc .merge{fill:#fff}
svg.archcalc #arrow path{fill:#59636e}
svg.archcalc .sev-error{fill:#cf222e}
svg.archcalc .sev-warning{fill:#9a6700}
svg.archcalc .chg{font-size:10px;font-weight:bold}
svg.archcalc .chg-removed{fill:#cf222e}
svg.archcalc .chg-added{fill:#1a7f37}
svg.archcalc .chg-changed{fill:#9a6700}
svg.archcalc .chg-affected{fill:#8250df}
@media (prefers-color-scheme: dark){
svg.archcalc{background:#0d1117}
svg.archcalc .bg{fill:#0d1117}
svg.archcalc text{fill:#e6edf3}
svg.archcalc .sm,svg.archcalc .arr,svg.archcalc .ftl{fill:#9198a1}
svg.archcalc .rept{fill:#58a6ff}
svg.archcalc .edge{stroke:#9198a1}
svg.archcalc .frame{stroke:#6e7681}
svg.archcalc .rep{stroke:#58a6ff}
svg.archcalc .merge{fill:#0d1117}
svg.archcalc #arrow path{fill:#9198a1}
svg.archcalc .sev-error{fill:#ff7b72}
svg.archcalc .sev-warning{fill:#d29922}
svg.archcalc .chg-removed{fill:#ff7b72}
svg.archcalc .chg-added{fill:#3fb950}
svg.archcalc .chg-changed{fill:#d29922}
svg.archcalc .chg-affected{fill:#bc8cff}
}
"""


SLIDE_WIDTH, SLIDE_HEIGHT = 1600, 1200   # what the default picture fits in


def deepest_level(analysis) -> int:
    """The deepest nesting level of a scope (-1: none); ``--depth`` beyond it collapses nothing."""
    return max((g.level for g in analysis.groups if g.end > g.start), default=-1)


def render_svg(analysis, options=None) -> str:
    """The picture as a complete SVG document (``options``: depth, width)."""
    return picture(analysis, options)[0]


def picture(analysis, options=None):
    """(SVG text, the depth drawn). Without a ``depth`` the picture collapses blocks, from the
    deepest level up, until it fits a slide (SLIDE_WIDTH × SLIDE_HEIGHT), and says so in its
    header; the depth drawn is None when nothing had to be collapsed."""
    options = options or {}
    depth = options.get("depth")
    max_width = options.get("width") or DEFAULT_WIDTH
    if depth is not None or not options.get("fit", True):
        return _render(analysis, depth, max_width, marks=options.get("marks"))[0], depth
    deepest = deepest_level(analysis)
    drawn = None
    for candidate in [None] + list(range(deepest, -1, -1)):
        note = "" if candidate is None else \
            (f"blocks at level {candidate} and deeper collapsed to fit a slide; `--depth {deepest + 1}` "
             f"draws every layer" + (f", `--depth {candidate + 1}` one level more" if candidate + 1 <= deepest else ""))
        svg, width, height = _render(analysis, candidate, max_width, note, options.get("marks"))
        if drawn is None or height * width < drawn[1]:
            drawn = (svg, height * width, candidate)
        if width <= SLIDE_WIDTH and height <= SLIDE_HEIGHT:
            return svg, candidate
    return drawn[0], drawn[2]


def _render(analysis, depth, max_width, note="", marks=None):
    ctx = Context(analysis, depth, marks)
    atoms = []
    if analysis.input is not None:
        atoms.append(Atom(BoxEl(ctx, input_shape=analysis.input), "", []))
    tree = build_tree(analysis)
    u = u_levels(tree.children, ctx)
    if u is not None:   # an encoder–decoder: one U
        atoms = [Atom(UEl(ctx, u[0], u[1], atoms), "", [])]
    else:
        atoms += sequence_atoms(tree.children, [], ctx)
    prefix = []
    for read in ctx.reads.get(len(analysis.layers), ()):
        if read.kind == "from":
            prefix.append(f"from {read.sources[0]}")
        else:
            atoms.append(Atom(JoinEl(ctx, read), " · ".join(prefix), []))
            prefix = []
    if analysis.output is None and analysis.errors:
        first = analysis.errors[-1]
        atoms.append(Atom(StopEl(f"{SEVERITY_GLYPH['error']} {first.code}: the analysis stops here"), "", []))
    seen: dict = {}
    for box in ctx.boxes:
        if box.layer is not None and box.layer not in ctx.last_of:
            layer = ctx.layers[box.layer]
            local = ctx.local_name(layer.name, layer.path)
            seen[local] = seen.get(local, 0) + 1
    ctx.ambiguous = {name for name, count in seen.items() if count > 1}
    scales = Scales(ctx.shapes)
    for a in atoms:
        a.el.measure(scales)
    rows = place_rows(atoms, max_width - 2 * MARGIN, False) if atoms else []

    body: list[str] = []
    title = analysis.name or "(unnamed spec)"
    if analysis.title:
        title += f" — {analysis.title}"
    y = MARGIN + TITLE
    svg_text(body, MARGIN, y, title, "ttl", anchor="start")
    t = analysis.totals
    y += LINE + 4
    # separators that survive SVG's collapsing of spaces
    svg_text(body, MARGIN, y, f"{numbers.shape(analysis.input)} → {numbers.shape(analysis.output)} · params "
             f"{numbers.exact(t.params)} · {'MACs (' + t.count_as + ')' if t.count_as else 'MACs'} "
             f"{numbers.exact(t.macs)} · depth {t.depth} · "
             f"{t.layers} layers", "sm", anchor="start")
    if note:
        y += LINE + 2
        svg_text(body, MARGIN, y, note, "sm", anchor="start")
    y += 10
    width = MARGIN + max([text_width(title, TITLE), text_width(note, SMALL)] + [r.w for r in rows]) + MARGIN
    previous = None
    for row in rows:
        axis = y + row.up
        if previous is not None:
            prev_axis, prev_row = previous
            last, lx = prev_row.placed[-1]
            start_x = MARGIN + lx + last.el.right_out
            out_x = MARGIN + max(lx + last.el.w, prev_row.w) + 6   # outside every frame of the row
            mid = prev_axis + prev_row.down + ROW_GAP / 2
            body.append(f'<path class="edge" d="M{_f(start_x)},{_f(prev_axis)} H{_f(out_x)} V{_f(mid)} '
                        f'H{_f(MARGIN / 2)} V{_f(axis)} H{_f(MARGIN + ROW_LEAD)}"/>')
            draw_row(body, row, MARGIN, axis, lead_from=MARGIN + ROW_LEAD)
        else:
            draw_row(body, row, MARGIN, axis)
        previous = (axis, row)
        y = axis + row.down + ROW_GAP

    # legend and diagnostics
    legend = scales.legend()
    groups = []
    for box in ctx.boxes:
        name = getattr(box, "group_name", None)
        if name and name not in groups and name not in ("input",):
            groups.append(name)
    x = MARGIN
    y += 4
    for name in groups:
        colour = group_colour(name) if name != "block" else "#b7c4d6"
        label = name if name != "block" else "collapsed block"
        dash = ' stroke-dasharray="4 2"' if name == "pool" else ""
        body.append(f'<rect x="{_f(x)}" y="{_f(y - 9)}" width="12" height="10" fill="{colour}" '
                    f'stroke="#4a5563"{dash}/>')
        svg_text(body, x + 16, y, label, "sm", anchor="start")
        x += 16 + text_width(label, SMALL) + 14
    notes = "folded: layers that keep the shape and do no MACs, named under the box before them (+ …); " \
            "×N: a repeat drawn once; dashed frame: a scope; + add, ‖ concat"
    lines = legend + [notes]
    if ctx.changes:   # a line of its own: the picture is no wider for it
        lines.append("outlines: " + ", ".join(f"{CHANGE_GLYPH[s]} {s}" for s in CHANGE_COLOUR
                                              if s in ctx.changes.values()) + " (against the other network)")
    for line in lines:
        y += LINE + 2
        svg_text(body, MARGIN, y, line, "sm", anchor="start")
        width = max(width, MARGIN * 2 + text_width(line, SMALL))
    if analysis.diagnostics:
        y += 6
        for d in analysis.diagnostics:
            y += LINE + 2
            where = f"{d.line}:{d.column}" if d.line else ""
            line = (f"{SEVERITY_GLYPH.get(d.severity, '•')} {d.severity}[{d.code}] {where} "
                    f"{d.layer + ': ' if d.layer else ''}{d.message}")
            line = _shorten(line, 160)
            svg_text(body, MARGIN, y, line, f"lab sev-{d.severity}", anchor="start")
            width = max(width, MARGIN * 2 + text_width(line, FONT))
    height = y + MARGIN
    head = (f'<svg xmlns="http://www.w3.org/2000/svg" class="archcalc" width="{_f(width)}" '
            f'height="{_f(height)}" viewBox="0 0 {_f(width)} {_f(height)}" role="img" '
            f'aria-label="{markup.attr(title)}">\n<title>{markup.text(title)}</title>\n'
            f'<style>{STYLE}</style>\n'
            '<defs><marker id="arrow" viewBox="0 0 8 8" refX="7" refY="4" markerWidth="7" '
            'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L8,4 L0,8 z"/></marker></defs>\n'
            f'<rect class="bg" x="0" y="0" width="{_f(width)}" height="{_f(height)}"/>\n')
    return head + "\n".join(body) + "\n</svg>\n", width, height
