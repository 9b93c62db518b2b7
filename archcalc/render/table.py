"""The table for `archcalc show` and `archcalc list`.

One row per leaf layer, with rows for the scopes that contain them (block calls, named
repeats and their iterations, branch sets) drawn as a tree with subtotals. ``depth``
collapses scopes nested deeper than it into their subtotal row, as torchinfo's ``depth``.
"""
from __future__ import annotations

from math import prod

from ..layers import settings_text as _one_settings_text
from . import numbers
from .terminal import emit, table_width, use_colour

# ------------------------------------------------------------------------------ the grid
# Tables are laid out here, not by rich.Table: we already know every cell and the width,
# and rich's per-cell rendering costs ~70 µs a cell (0.4 s for ResNet-152's 500 rows).
# A line is a list of (text, style) pieces, which ``terminal.emit`` prints.

def cell_width(text: str) -> int:
    """Terminal columns of a string: East Asian wide characters take two."""
    if text.isascii():
        return len(text)
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _fit(text: str, width: int, right: bool) -> str:
    """Pad to ``width``, or cut with an ellipsis."""
    used = cell_width(text)
    if used > width:
        while text and cell_width(text) > width - 1:
            text = text[:-1]
        text += "…"
        used = cell_width(text)
    pad = " " * (width - used)
    return pad + text if right else text + pad


class Column:
    __slots__ = ("title", "right", "shrink_to", "style", "header")

    def __init__(self, title: str, right: bool = False, shrink_to: int | None = None,
                 style: str | None = None, header: str | None = None):
        self.title = title  # the key of the rows' cells
        self.right = right
        self.shrink_to = shrink_to  # None: never shrink (numbers are never cut)
        self.style = style
        self.header = title if header is None else header  # what the header line says


def macs_column(column: Column, count_as: str | None) -> Column:
    """The MACs column named after the convention it counts in (`--count-as`)."""
    if count_as is None or column.title != "MACs":
        return column
    return Column(column.title, right=column.right, shrink_to=column.shrink_to, style=column.style,
                  header=f"MACs ({count_as})")


GAP = "  "


def natural_widths(columns, rows) -> list[int]:
    return [max([cell_width(cells.get(c.title, ("", None))[0]) for cells, _ in rows] + [len(c.header)])
            for c in columns]


def minimum_width(columns, rows) -> int:
    widths = natural_widths(columns, rows)
    return len(GAP) * (len(columns) - 1) + sum(
        w if c.shrink_to is None else min(w, c.shrink_to) for c, w in zip(columns, widths))


def fit_widths(columns, rows, width: int | None, shrink_order=()) -> list[int]:
    """Column widths: natural, or shrunk in ``shrink_order`` to fit ``width`` (None: no limit)."""
    widths = natural_widths(columns, rows)
    if width is None:
        return widths
    excess = len(GAP) * (len(columns) - 1) + sum(widths) - width
    by_title = {c.title: i for i, c in enumerate(columns)}
    for title in shrink_order:
        i = by_title.get(title)
        if excess <= 0 or i is None or columns[i].shrink_to is None:
            continue
        cut = min(excess, widths[i] - min(widths[i], columns[i].shrink_to))
        widths[i] -= cut
        excess -= cut
    return widths


def grid(columns, rows, width: int | None, shrink_order=()) -> list[list[tuple[str, str | None]]]:
    """Lay out a header, a rule and the rows; shrink columns in ``shrink_order`` to fit."""
    widths = fit_widths(columns, rows, width, shrink_order)
    lines = [_line([(_fit(c.header, w, c.right), "bold") for c, w in zip(columns, widths)]),
             [("─" * (sum(widths) + len(GAP) * (len(columns) - 1)), "dim")]]
    for cells, row_style in rows:
        pieces = []
        for c, w in zip(columns, widths):
            text, style = cells.get(c.title, ("", None))
            pieces.append((_fit(text, w, c.right), style or c.style or row_style))
        lines.append(_line(pieces))
    return lines


def _line(pieces):
    out = []
    for i, piece in enumerate(pieces):
        if i:
            out.append((GAP, None))
        out.append(piece)
    return out


def _rows(analysis, depth):
    """Yield ('group', group, collapsed), ('leaf', index, layer) and ('merge', merge) in
    display order.

    A group deeper than ``depth`` is not shown; a group at exactly ``depth`` is shown
    collapsed (its members hidden, and the merges inside it)."""
    merges = {}
    for merge in analysis.merges:
        merges.setdefault(merge.after, []).append(merge)
    for row in _leaf_and_group_rows(analysis, depth):
        yield row
        if row[0] == "leaf":
            for merge in merges.get(row[1] + 1, ()):
                yield ("merge", merge)


def _leaf_and_group_rows(analysis, depth):
    groups = sorted(analysis.groups, key=lambda g: (g.start, -(g.end - g.start), g.level))
    gi = 0
    hidden_until = -1
    for index, layer in enumerate(analysis.layers):
        while gi < len(groups) and groups[gi].start == index:
            group = groups[gi]
            gi += 1
            if index < hidden_until:
                continue
            if depth is not None and group.level >= depth:
                yield ("group", group, True)
                hidden_until = max(hidden_until, group.end)
            else:
                yield ("group", group, False)
        if index < hidden_until:
            continue
        yield ("leaf", index, layer)
    # groups that hold no leaves (empty bodies) are not shown


def _placement(layer, group_names) -> tuple[int, str]:
    """(indent level, name relative to the innermost shown group): a leaf inside a branch of
    inception 3a shows as 'branch2.conv1' under the row of 3a."""
    for level in range(len(layer.path), 0, -1):
        scope = layer.path[level - 1]
        if scope in group_names:
            return level, layer.name[len(scope) + 1:]
    return 0, layer.name


# Column sets tried from the widest down until the table fits: shares go first, then
# settings; numbers are never cut. Layer, Kind and Settings shrink (with an ellipsis).
_PLANS = (
    ("#", "Layer", "Kind", "Settings", "Output", "Params", "%P", "MACs", "%M"),
    ("#", "Layer", "Kind", "Settings", "Output", "Params", "MACs"),
    ("#", "Layer", "Kind", "Output", "Params", "MACs"),
    ("Layer", "Output", "Params", "MACs"),
)
_COLUMNS = {
    "#": Column("#", right=True, style="dim"),
    "Layer": Column("Layer", shrink_to=14),
    "Kind": Column("Kind", shrink_to=7),
    "Settings": Column("Settings", shrink_to=10),
    "Output": Column("Output", right=True),
    "Params": Column("Params", right=True),
    "%P": Column("%P", right=True, style="dim"),
    "MACs": Column("MACs", right=True),
    "%M": Column("%M", right=True, style="dim"),
    "Acts": Column("Acts", right=True),  # --memory: bytes of stored activations (metrics.py)
    "Saved": Column("Saved", right=True),  # --memory: bytes saved for backward (the training ledger)
    "RF": Column("RF", right=True),      # --rf: receptive field size/jump
    "Conn": Column("Conn", right=True),  # --connections: LeCun et al.'s connections
}
_SHRINK_ORDER = ("Settings", "Layer", "Kind")


def counted_as(totals) -> str:
    """What the MACs line adds under `--count-as`: whose count it is, and archcalc's own."""
    if totals.count_as is None or totals.exact_macs is None:
        return ""
    return f"   as {totals.count_as} counts (archcalc: {numbers.exact(totals.exact_macs)})"


def render_show(analysis, options=None) -> str:
    options = options or {}
    lines = [[(_title(analysis), "bold")]]
    if not analysis.layers and analysis.errors:
        # nothing was analysed: no empty table, no totals that would read as zeros
        errors = len(analysis.errors)
        lines.append([(f"no layer could be analysed: {errors} error{'s' if errors != 1 else ''}",
                       "bold red")])
        return emit(lines) + "\n" + render_diagnostics(analysis)
    width = table_width(options.get("width"))
    rows = list(_show_rows(analysis, options.get("depth")))
    extra = ("Conn",) * bool(options.get("connections")) + ("Acts", "Saved") * bool(options.get("memory")) \
        + ("RF",) * bool(options.get("rf"))
    # the optional columns go last, and only when even the narrowest plan cannot hold them
    plans = [plan + extra for plan in _PLANS] + [_PLANS[-1] + extra[:k] for k in range(len(extra) - 1, -1, -1)]
    count_as = analysis.totals.count_as
    for plan in plans:
        columns = [macs_column(_COLUMNS[title], count_as) for title in plan]
        if width is None or minimum_width(columns, rows) <= width:
            break
    lines += grid(columns, rows, width, _SHRINK_ORDER)
    note = narrowed_note([_COLUMNS[t] for t in _PLANS[0] + extra], columns, rows, width, _SHRINK_ORDER)
    lines += [[(part, "dim")] for part in note]
    lines += [[]] + _footer(analysis)
    if options.get("memory"):
        lines += _memory_footer(analysis)
    text = emit(lines)
    if analysis.diagnostics:
        text += "\n" + render_diagnostics(analysis)
    return text


def narrowed_note(wanted, columns, rows, width, shrink_order) -> list[str]:
    """What fitting ``width`` cost — columns left out, columns cut — said under the table,
    with the way out, in lines of at most ``width``; [] when nothing had to go."""
    if width is None:
        return []
    shown = {c.title for c in columns}
    left_out = [c.title for c in wanted if c.title not in shown]
    cut = [c.title for c, w, n in zip(columns, fit_widths(columns, rows, width, shrink_order),
                                      natural_widths(columns, rows)) if w < n]
    if not left_out and not cut:
        return []
    parts = ([f"left out {', '.join(left_out)}"] if left_out else []) + \
        ([f"cut {', '.join(cut)} (…)"] if cut else [])
    import textwrap

    return textwrap.wrap(f"(narrowed to {width} columns: {'; '.join(parts)}. A wider --width N "
                         "shows them; piped output is never narrowed)", width)


def _show_rows(analysis, depth):
    """Each row as ({column title: (text, style)}, row style)."""
    from ..metrics import layer_saved_bytes

    totals = analysis.totals
    per_value = totals.bytes_per_value
    layers = analysis.layers
    group_names = {g.name for g in analysis.groups}

    def saved(items) -> tuple:
        n = sum(layer_saved_bytes(analysis, item) for item in items)
        return (numbers.byte_size(n) if n else "", None)

    for row in _rows(analysis, depth):
        if row[0] == "merge":
            merge = row[1]
            level = _merge_level(merge, group_names)
            yield ({"Layer": ("  " * level + "⊕ " + merge.op, "dim"), "Kind": ("merge", "dim"),
                    "Output": (numbers.shape(merge.output), None),
                    "Acts": (numbers.byte_size(prod(merge.output) * totals.batch * per_value), None),
                    "Saved": saved((merge,))},
                   None)
            continue
        if row[0] == "group":
            group, collapsed = row[1], row[2]
            members = layers[group.start:group.end]
            params = sum(m.params for m in members)
            macs = sum(m.macs for m in members if not m.aux)
            head = all(m.aux for m in members) and members  # an auxiliary head
            if head:
                macs = sum(m.macs for m in members)
            level, local = _group_placement(group, group_names)
            span = f"{group.start + 1}–{group.end}" if collapsed and group.end > group.start + 1 else \
                (str(group.start + 1) if collapsed else "")
            yield ({"#": (span, None),
                    "Layer": ("  " * level + ("▸ " if collapsed else "▾ ") + local, "bold"),
                    "Kind": (group.kind, "italic"),
                    "Settings": (f"{len(members)} layers" if collapsed else "", "dim"),
                    "Output": (numbers.shape(group.output), None),
                    "Params": (numbers.exact(params), None),
                    "%P": (numbers.share(params, totals.params), None),
                    "MACs": (f"({numbers.human(macs)})" if head else numbers.human(macs), None),
                    "%M": ("aux" if head else numbers.share(macs, totals.macs), None),
                    "Acts": (numbers.byte_size(sum(m.activations for m in members) * per_value), None),
                    "Saved": saved(members),
                    "Conn": (numbers.exact(sum(m.connections for m in members)), None),
                    "RF": ("", None)},
                   None if collapsed else "dim")
            continue
        _, index, layer = row
        level, local = _placement(layer, group_names)
        yield ({"#": (str(index + 1), None), "Layer": ("  " * level + local, None),
                "Kind": (layer.kind, None),
                "Settings": (settings_text(layer), None),
                "Output": (numbers.shape(layer.output), None),
                "Params": (numbers.exact(layer.params) if layer.params else "", None),
                "%P": (numbers.share(layer.params, totals.params) if layer.params else "", None),
                # an auxiliary head's MACs are not in the forward total: shown in parentheses
                "MACs": ((f"({numbers.human(layer.macs)})" if layer.aux else numbers.human(layer.macs))
                         if layer.macs else "", None),
                "%M": (numbers.share(layer.macs, totals.macs) if layer.macs and not layer.aux else "", None),
                "Acts": (numbers.byte_size(layer.activations * per_value) if layer.activations else "",
                         None),
                "Saved": saved((layer,)),
                "RF": (_field_text(layer.receptive_field), None),
                "Conn": (numbers.exact(layer.connections) if layer.connections else "", None)},
               None)


def _merge_level(merge, group_names) -> int:
    """A merge is indented like the leaves of the scope it happens in."""
    for level in range(len(merge.path), 0, -1):
        if merge.path[level - 1] in group_names:
            return level
    return 0


def settings_text(layer) -> str:
    """The kind's settings, whether training leaves the layer's parameters alone, and whether
    the layer belongs to an auxiliary head (run in training only; every format shows it):
    layers.settings_text, the one settings text."""
    return _one_settings_text(layer)


def _field_text(rf) -> str:
    """212/32: the receptive field's size and jump (height×width when they differ)."""
    if rf is None:
        return ""
    size = str(rf.size[0]) if rf.size[0] == rf.size[1] else f"{rf.size[0]}×{rf.size[1]}"
    jump = str(rf.jump[0]) if rf.jump[0] == rf.jump[1] else f"{rf.jump[0]}×{rf.jump[1]}"
    return f"{size}/{jump}"


def _memory_footer(analysis) -> list:
    from ..metrics import ledger, training_bytes

    totals = analysis.totals
    b = totals.bytes_per_value
    memory = [("Memory  ", "bold"), (f"activations {numbers.byte_size(totals.activations * b)}   peak "
                                     f"{numbers.byte_size(totals.peak_activations * b)}   weights "
                                     f"{numbers.byte_size(totals.params * b)}   ({totals.dtype}, batch "
                                     f"{totals.batch})", None)]
    chosen = totals.optimizer
    if chosen:
        book = ledger(analysis, chosen)
        train = (f"≈ {numbers.byte_size(book['peak'])} with {chosen}: saved "
                 f"{numbers.byte_size(book['saved_activations'])}, gradients "
                 f"{numbers.byte_size(book['gradients'])}, state {numbers.byte_size(book['optimizer_state'])}")
    else:
        estimates = training_bytes(analysis)
        train = (f"≈ {numbers.byte_size(estimates['sgd_momentum'])} with SGD-momentum, "
                 f"{numbers.byte_size(estimates['adam'])} with Adam")
    return [memory, [("Train   ", "bold"), (train, None)]]


def _group_placement(group, group_names) -> tuple[int, str]:
    name = group.name
    cut = name.rfind(".")
    while cut > 0:
        if name[:cut] in group_names:
            return group.level, name[cut + 1:]
        cut = name.rfind(".", 0, cut)
    return group.level, name


def _title(analysis) -> str:
    title = analysis.name
    if analysis.title:
        title += f" — {analysis.title}"
    return title


def _footer(analysis) -> list:
    t = analysis.totals
    params = f"{numbers.human(t.params):>8}  ({numbers.exact(t.params)})"
    if t.trainable_params != t.params:
        params += f"   trainable {numbers.exact(t.trainable_params)}"
    if t.buffers:
        params += f"   buffers {numbers.exact(t.buffers)}"
    if t.active_params is not None:  # a mixture of experts
        params += f"   active per token {numbers.human(t.active_params)} ({numbers.exact(t.active_params)})"
    lines = [
        [("Params  ", "bold"), (params, None)],
        [("MACs    ", "bold"), (f"{numbers.human(t.macs):>8}  ({numbers.exact(t.macs)})   "
                                f"FLOPs {numbers.human(t.flops)}" + counted_as(t), None)],
    ] + [[("Note    ", "bold"), (note, None)] for note in (t.count_notes if t.count_as else ())] + ([[("Conns   ", "bold"), (f"{numbers.human(t.connections):>8}  ({numbers.exact(t.connections)})",
                                  None)]] if t.show_connections else []) + [
        [("Shape   ", "bold"), (f"{numbers.shape(analysis.input)} → {numbers.shape(analysis.output)}   "
                                f"depth {t.depth} weight layer{'s' if t.depth != 1 else ''}   "
                                f"{t.layers} layer{'s' if t.layers != 1 else ''}", None)],
    ]
    if t.seq is not None and analysis.output is not None:
        lines += _token_lines(t)
    if t.aux_params or t.aux_macs:
        lines.append([("Aux     ", "bold"),
                      (f"{numbers.human(t.aux_params):>8}  params in auxiliary heads (in Params); their "
                       f"{numbers.human(t.aux_macs)} MACs run in training only (not in MACs)", None)])
    if t.batch != 1 or t.dtype != "fp32":
        lines.append([("Batch   ", "bold"), (f"{t.batch}   dtype {t.dtype}   (MACs, FLOPs and activations are "
                                            f"for the batch; params and weights per model)", None)])
    errors, warnings = len(analysis.errors), len(analysis.warnings)
    if analysis.output is None:
        lines.append([("Partial ", "bold red"), ("— the network stops at an error: these totals count "
                                                 "only the layers above it", None)])
    ignored = len(analysis.ignored)
    if errors or warnings or ignored:
        lines.append([("Status  ", "bold"),
                      (f"{errors} error{'s' if errors != 1 else ''}", "bold red" if errors else None),
                      (f", {warnings} warning{'s' if warnings != 1 else ''}", "yellow" if warnings else None)]
                     + ([(f" ({ignored} ignored)", "dim")] if ignored else []))
    return lines


def _token_lines(t) -> list:
    """Token models: the params split, the KV cache, training FLOPs and the decode cost."""
    from ..metrics import kv_cache_bytes, token_figures

    figures = token_figures(t)
    lines = [[("Tokens  ", "bold"), (f"T = {t.seq:,}   embeddings {numbers.human(t.embedding_params)}   "
                                     f"non-embedding {numbers.human(t.params - t.embedding_params)} "
                                     f"({numbers.exact(t.params - t.embedding_params)})", None)]]
    if t.kv_values:
        windowed = t.extras.get("kv_cached_values", t.kv_values * t.seq) < t.kv_values * t.seq
        where = "at T × batch, sliding windows capping T," if windowed else "at T × batch"
        lines.append([("KV cache", "bold"), (f"{numbers.byte_size(kv_cache_bytes(t)):>8}  {where} in "
                                             f"{t.dtype} ({numbers.exact(t.kv_values)} values per token)",
                                             None)])
    if "training_flops_per_token" in figures:
        text = f"training {numbers.human(figures['training_flops_per_token'])} FLOPs per token (6N + 12·L·H·Q·T)"
        if "decode_macs_per_token" in figures:
            text += f"   decode {numbers.human(figures['decode_macs_per_token'])} MACs per token at T"
        lines.append([("Compute ", "bold"), (text, None)])
    return lines


def render_diagnostics(analysis) -> str:
    """The diagnostics under the table, in validate's pretty format (source line and caret)."""
    from .problems import FileReport, render_pretty, summarise

    report = FileReport(file=analysis.file, diagnostics=analysis.diagnostics,
                        source_text=analysis.source_text)
    return render_pretty([report], summarise([report]), {"summary": False, "color": use_colour()})


_LIST_COLUMNS = (Column("Name", shrink_to=12), Column("Title", shrink_to=12), Column("Input", right=True),
                 Column("Params", right=True), Column("MACs", right=True), Column("Depth", right=True))


def render_list(rows, options=None) -> str:
    """One row per network; grouped (``options["grouped"]``), a family heading before each
    family's networks, which are indented under it."""
    options = options or {}
    grouped = options.get("grouped")
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["family"]] = counts.get(r["family"], 0) + 1
    cells, previous = [], None
    for r in rows:
        if grouped and r["family"] != previous:
            n = counts[r["family"]]
            cells.append(({"Name": (r["family"], "bold"), "Title": (f"{n} network{'s' if n != 1 else ''}", "dim"),
                           "Input": ("", None), "Params": ("", None), "MACs": ("", None), "Depth": ("", None)},
                          None))
            previous = r["family"]
        cells.append(({"Name": (("  " if grouped else "") + r["name"], None if grouped else "bold"),
                       "Title": (r["title"], None),
                       "Input": (numbers.row_input(r), None), "Params": (numbers.human(r["params"]), None),
                       "MACs": (numbers.human(r["macs"]), None), "Depth": (str(r["depth"]), None)}, None))
    width = table_width(options.get("width"))
    plans = (_LIST_COLUMNS, _LIST_COLUMNS[:1] + _LIST_COLUMNS[2:], _LIST_COLUMNS[:1] + _LIST_COLUMNS[3:5],
             _LIST_COLUMNS[:1] + _LIST_COLUMNS[3:4])
    for columns in plans:
        columns = [macs_column(c, options.get("count_as")) for c in columns]
        if width is None or minimum_width(columns, cells) <= width:
            break
    lines = grid(columns, cells, width, ("Title", "Name"))
    note = narrowed_note(_LIST_COLUMNS, columns, cells, width, ("Title", "Name"))
    return emit(lines + [[(part, "dim")] for part in note])
