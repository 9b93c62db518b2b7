"""`archcalc show SPEC --format html` and `archcalc diff A B --format html`: one self-contained
page (inline CSS, a little inline JS, no network): the diagram (render/picture.py), the layer
table (sortable, blocks collapsible, memory and receptive-field columns, a bar per layer for
params, MACs and activation memory), the totals and the diagnostics with their source lines.

Everything the user wrote passes through ``markup`` (escaped, control characters dropped).
Without JavaScript the page is complete (every row shown); with it, blocks collapse and
columns sort. Printing expands every row and drops the buttons. Colour is never the only
signal: severities carry a glyph and a word, bars carry their percentage as text.
"""
from __future__ import annotations

from .. import __version__
from ..layers import settings_text as _one_settings_text
from . import markup, numbers
from .picture import picture

CSS = """
:root{--bg:#fff;--fg:#1f2328;--muted:#59636e;--line:#d1d9e0;--panel:#f6f8fa;--accent:#0969da;
--error:#cf222e;--warning:#9a6700;--bar-p:#0969da;--bar-m:#bf3989;--bar-a:#1a7f37;color-scheme:light dark}
@media (prefers-color-scheme: dark){:root{--bg:#0d1117;--fg:#e6edf3;--muted:#9198a1;--line:#3d444d;
--panel:#151b23;--accent:#58a6ff;--error:#ff7b72;--warning:#d29922;--bar-p:#58a6ff;--bar-m:#ff80c8;--bar-a:#56d364}}
*{box-sizing:border-box}
body{margin:0;padding:1.2rem 1.5rem;background:var(--bg);color:var(--fg);
font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif}
h1{font-size:1.4rem;margin:0 0 .2rem} h2{font-size:1.1rem;margin:1.6rem 0 .5rem;border-bottom:1px solid var(--line)}
.muted,.ref{color:var(--muted)} code,pre,.num,td.mono{font-family:ui-monospace,"DejaVu Sans Mono",Menlo,Consolas,monospace}
dl.totals{display:grid;grid-template-columns:max-content auto;gap:.15rem 1rem;margin:.6rem 0}
dl.totals dt{font-weight:600} dl.totals dd{margin:0;font-family:ui-monospace,"DejaVu Sans Mono",monospace}
.scroll{overflow-x:auto;border:1px solid var(--line);border-radius:6px;background:var(--bg)}
.scroll svg{display:block;max-width:100%;height:auto}
.scroll.actual svg{max-width:none}
.nojs .toolbar,.nojs button.toggle,.nojs .js-only{display:none} .nojs th button{cursor:auto}
.chart{display:grid;grid-template-columns:minmax(6rem,max-content) minmax(8rem,1fr) max-content minmax(8rem,1fr) max-content;
gap:.1rem .5rem;align-items:center;font-size:12px;margin:.4rem 0 1rem}
.chart .head{font-weight:600;color:var(--muted)} .chart .name{overflow:hidden;text-overflow:ellipsis;white-space:nowrap;max-width:22rem}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(26rem,1fr));gap:0 1.5rem}
.charts>section{min-width:0}
.chart.paired .fill.b{opacity:.55}
table.zoo tr.family th{background:var(--panel);text-align:left}
svg.scatter text{font-size:11px;fill:var(--muted)} svg.scatter .grid{stroke:var(--line)}
svg.scatter circle{stroke:var(--bg);stroke-width:1;opacity:.85}
.legend{display:flex;flex-wrap:wrap;gap:.2rem .9rem;font-size:12px}
.key .dot{display:inline-block;box-sizing:border-box;width:.7rem;height:.7rem;border-radius:50%;margin-right:.3rem;vertical-align:-.05rem}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{padding:.2rem .5rem;border-bottom:1px solid var(--line);text-align:left;vertical-align:top;white-space:nowrap}
th{position:sticky;top:0;background:var(--panel);z-index:1}
th button{all:unset;cursor:pointer;font-weight:600} th button:focus-visible{outline:2px solid var(--accent)}
th[aria-sort=ascending] button::after{content:" ▲"} th[aria-sort=descending] button::after{content:" ▼"}
td.num,th.num{text-align:right}
tr.group td{background:var(--panel);font-weight:600}
tr.group .kind{font-style:italic;font-weight:400}
button.toggle{font:inherit;background:none;border:1px solid var(--line);border-radius:4px;color:inherit;
cursor:pointer;padding:0 .3rem;margin-right:.3rem;min-width:1.6rem}
tr.flagged td:first-child{box-shadow:inset 4px 0 var(--error)}
tr.flagged.warning td:first-child{box-shadow:inset 4px 0 var(--warning)}
.sev{font-weight:700} .sev.error{color:var(--error)} .sev.warning{color:var(--warning)}
.bars{display:grid;grid-template-columns:5rem max-content;gap:0 .4rem;font-size:11px;line-height:1.25;align-items:center}
.track{display:block;height:.55rem;background:var(--panel);border:1px solid var(--line);border-radius:2px;overflow:hidden}
.fill{display:block;height:100%} .fill.p{background:var(--bar-p)} .fill.m{background:var(--bar-m)} .fill.a{background:var(--bar-a)}
.toolbar{margin:.3rem 0 .6rem;display:flex;gap:.5rem;align-items:center;flex-wrap:wrap}
.toolbar button{font:inherit;padding:.15rem .6rem;border:1px solid var(--line);border-radius:5px;
background:var(--panel);color:inherit;cursor:pointer}
article.diag{border:1px solid var(--line);border-left:5px solid var(--error);border-radius:6px;padding:.5rem .8rem;margin:.5rem 0}
article.diag.warning{border-left-color:var(--warning)}
article.diag p{margin:.15rem 0} article.diag pre{margin:.3rem 0;padding:.4rem .6rem;background:var(--panel);overflow-x:auto}
.side{display:grid;grid-template-columns:repeat(2,minmax(0,1fr));gap:1.2rem}
.side>section{min-width:0}
.wide{overflow-x:auto;max-width:100%}
tr.changed td:first-child{box-shadow:inset 4px 0 var(--accent)} tr.changed.affected td:first-child{box-shadow:inset 2px 0 var(--muted)}
.change{font-size:11px;border:1px solid var(--accent);color:var(--accent);border-radius:3px;padding:0 .25rem;margin-left:.3rem}
tr.affected .change{border-color:var(--line);color:var(--muted)}
footer{margin-top:2rem;color:var(--muted);font-size:12px}
@media print{
:root{--bg:#fff;--fg:#000;--muted:#444;--line:#bbb;--panel:#f2f2f2}
body{padding:0;font-size:11px} .toolbar,button.toggle{display:none}
tr[hidden]{display:table-row} th{position:static}
.scroll{overflow:visible;border:none} .scroll svg{width:auto;height:auto;max-width:100%;max-height:23cm}
article.diag,tr{break-inside:avoid} h2{break-after:avoid}
.side{grid-template-columns:1fr}
}
"""

# The script: collapsible blocks, sortable columns, a status for tests. `#expand-all` in the
# address expands every block on load.
JS = """
(function(){
document.documentElement.classList.remove('nojs');
var status=document.getElementById('status');
function say(t){document.body.setAttribute('data-status',t);if(status)status.textContent=t;}
window.addEventListener('error',function(e){say('error: '+e.message);});
function rows(t){return Array.prototype.slice.call(t.tBodies[0].rows);}
function refresh(t){
  var closed={};
  rows(t).forEach(function(r){if(r.classList.contains('group')&&r.getAttribute('data-open')==='false')closed[r.getAttribute('data-id')]=1;});
  var flat=t.getAttribute('data-sorted')==='1';
  rows(t).forEach(function(r){
    var hide=false;
    if(flat){hide=r.classList.contains('group');}
    else{(r.getAttribute('data-in')||'').split(' ').forEach(function(g){if(g&&closed[g])hide=true;});}
    r.hidden=hide;
  });
}
function setOpen(r,open){r.setAttribute('data-open',open?'true':'false');
  var b=r.querySelector('button.toggle');if(b){b.setAttribute('aria-expanded',open?'true':'false');b.textContent=open?'▾':'▸';}}
function all(t,open){rows(t).forEach(function(r){if(r.classList.contains('group'))setOpen(r,open);});refresh(t);}
document.querySelectorAll('table.layers').forEach(function(t){
  var order=rows(t);
  t.addEventListener('click',function(e){
    var b=e.target.closest('button.toggle');
    if(b){var r=b.closest('tr');setOpen(r,r.getAttribute('data-open')==='false');refresh(t);}
  });
  t.querySelectorAll('th[data-key]').forEach(function(th){
    th.querySelector('button').addEventListener('click',function(){
      var key=th.getAttribute('data-key');
      var dir=th.getAttribute('aria-sort')==='descending'?'ascending':'descending';
      if(key==='index')dir='ascending';
      t.querySelectorAll('th[data-key]').forEach(function(o){o.removeAttribute('aria-sort');});
      th.setAttribute('aria-sort',dir);
      var body=t.tBodies[0];
      if(key==='index'){t.removeAttribute('data-sorted');order.forEach(function(r){body.appendChild(r);});}
      else{
        t.setAttribute('data-sorted','1');
        var leaves=order.filter(function(r){return r.classList.contains('leaf');});
        leaves.sort(function(a,b){var x=+a.getAttribute('data-'+key),y=+b.getAttribute('data-'+key);
          return dir==='ascending'?x-y:y-x;});
        order.filter(function(r){return !r.classList.contains('leaf');}).forEach(function(r){body.appendChild(r);});
        leaves.forEach(function(r){body.appendChild(r);});
      }
      refresh(t);
    });
  });
  var tools=document.getElementById(t.id+'-tools');
  if(tools){
    tools.querySelector('.expand').addEventListener('click',function(){all(t,true);});
    tools.querySelector('.collapse').addEventListener('click',function(){all(t,false);});
  }
  if(location.hash==='#expand-all')all(t,true);else refresh(t);
});
document.querySelectorAll('button.zoom').forEach(function(b){b.addEventListener('click',function(){
  var box=document.getElementById(b.getAttribute('data-for'));var actual=box.classList.toggle('actual');
  b.textContent=actual?'Fit to width':'Actual size';b.setAttribute('aria-pressed',actual?'true':'false');});});
var visible=0;document.querySelectorAll('table.layers tbody tr, table.zoo tbody tr.net').forEach(function(r){if(!r.hidden)visible++;});
say('ready: '+visible+' rows shown');
})();
"""


# The diagram wraps at this width so that it fits a page read at 1280 pixels (it scrolls when
# one branch set is wider).
DIAGRAM_WIDTH = 1180


def _page(title: str, body: str) -> str:
    return ("<!DOCTYPE html>\n<html lang=\"en\" class=\"nojs\">\n<head>\n<meta charset=\"utf-8\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            "<meta name=\"color-scheme\" content=\"light dark\">\n"
            f"<meta name=\"generator\" content=\"archcalc {markup.attr(__version__)}\">\n"
            f"<title>{markup.text(title)}</title>\n<style>{CSS}</style>\n</head>\n"
            f"<body data-status=\"static\">\n{body}\n"
            f"<footer>archcalc {markup.text(__version__)} · <output id=\"status\">static</output></footer>\n"
            f"<script>{JS}</script>\n</body>\n</html>\n")


def _title(analysis) -> str:
    title = analysis.name or "(unnamed spec)"
    return title + (f" — {analysis.title}" if analysis.title else "")


def _field_text(rf) -> str:
    if rf is None:
        return ""
    size = str(rf.size[0]) if rf.size[0] == rf.size[1] else f"{rf.size[0]}×{rf.size[1]}"
    jump = str(rf.jump[0]) if rf.jump[0] == rf.jump[1] else f"{rf.jump[0]}×{rf.jump[1]}"
    return f"{size}/{jump}"


def _settings(layer) -> str:
    """The kind's settings as every report writes them (layers.settings_text), without the
    frozen/aux marks: the page marks those rows itself."""
    return _one_settings_text(layer, marks=False)


def _bars(params, macs, memory, totals) -> str:
    """Three bars with their share written beside them (the text carries the number)."""
    whole = (totals.params, totals.macs, totals.activations * totals.bytes_per_value)
    counted = getattr(totals, "count_as", None)  # --count-as: whose MACs the bar shares are
    macs_word = f"MACs ({counted})" if counted else "MACs"
    cells = []
    for value, top, cls, word in zip((params, macs, memory), whole, "pma", ("params", macs_word, "memory")):
        if not value or not top:
            continue
        pct = 100 * value / top
        text = f"{word} {numbers.share(value, top)}"
        cells.append(f'<span class="track" title="{markup.attr(text)}"><span class="fill {cls}" '
                     f'style="width:{max(pct, 0.5):.1f}%"></span></span><span>{markup.text(text)}</span>')
    return f'<div class="bars">{"".join(cells)}</div>' if cells else ""


def _totals(analysis) -> str:
    t = analysis.totals
    b = t.bytes_per_value
    items = [("Input → output", f"{numbers.shape(analysis.input)} → {numbers.shape(analysis.output)}"),
             ("Params", f"{numbers.exact(t.params)} ({numbers.human(t.params)})")]
    trainable = getattr(t, "trainable_params", None)
    if isinstance(trainable, int) and trainable != t.params:
        items.append(("Trainable params", numbers.exact(trainable)))
    if t.buffers:
        items.append(("Buffers", numbers.exact(t.buffers)))
    if t.count_as is not None and t.exact_macs is not None:  # --count-as: the tool's, then ours
        items += [(f"MACs ({t.count_as})", f"{numbers.exact(t.macs)} ({numbers.human(t.macs)}), as "
                                           f"{t.count_as} counts"),
                  ("MACs (archcalc)", f"{numbers.exact(t.exact_macs)} ({numbers.human(t.exact_macs)})")]
        items += [("Note", note) for note in t.count_notes]
    else:
        items.append(("MACs", f"{numbers.exact(t.macs)} ({numbers.human(t.macs)})"))
    items += [("FLOPs", f"{numbers.exact(t.flops)} ({numbers.human(t.flops)})"),
              ("Depth", f"{t.depth} weight layer{'s' if t.depth != 1 else ''}"),
              ("Layers", str(t.layers)),
              ("Activations", f"{numbers.byte_size(t.activations * b)} (peak "
                              f"{numbers.byte_size(t.peak_activations * b)}; {t.dtype}, batch {t.batch})"),
              ("Weights", numbers.byte_size(t.params * b))]
    errors, warnings = len(analysis.errors), len(analysis.warnings)
    status = (f'<span class="sev error">✖ {errors} error{"s" if errors != 1 else ""}</span>' if errors else
              "no errors")
    status += (f', <span class="sev warning">▲ {warnings} warning{"s" if warnings != 1 else ""}</span>'
               if warnings else ", no warnings")
    items_html = "".join(f"<dt>{markup.text(k)}</dt><dd>{markup.text(v)}</dd>" for k, v in items)
    return f'<dl class="totals">{items_html}<dt>Status</dt><dd>{status}</dd></dl>'


def _diagnostics(analysis) -> str:
    if not analysis.diagnostics:
        return ""
    from .problems import snippet

    lines = analysis.source_text.splitlines() if analysis.source_text else []
    out = [f"<h2>Diagnostics ({len(analysis.diagnostics)})</h2>"]
    for d in analysis.diagnostics:
        glyph = "✖" if d.severity == "error" else "▲"
        where = f"{d.file}:{d.line}:{d.column}" if d.line else d.file
        head = (f'<p><span class="sev {markup.attr(d.severity)}">{glyph} {markup.text(d.severity)}</span> '
                f'<code>{markup.text(d.code)}</code> <span class="muted">{markup.text(where)}</span>'
                + (f' · <code>{markup.text(d.layer)}</code>' if d.layer else "") + "</p>")
        body = f"<p>{markup.text(d.message)}</p>"
        if d.line and 0 < d.line <= len(lines):
            source, caret = snippet(lines[d.line - 1], d.column)
            gutter = f"{d.line} | "
            body += (f"<pre>{markup.text(gutter + source)}\n"
                     f"{markup.text(' ' * (len(gutter) - 2) + '| ' + caret)}</pre>")
        if d.hint:
            body += f'<p class="hint"><strong>hint:</strong> {markup.text(d.hint)}</p>'
        out.append(f'<article class="diag {markup.attr(d.severity)}">{head}{body}</article>')
    return "\n".join(out)


_HEAD = (("index", "#", True), ("", "Layer", False), ("", "Kind", False), ("", "Settings", False),
         ("", "Output", True), ("params", "Params", True), ("macs", "MACs", True),
         ("memory", "Memory", True), ("rf", "RF", True), ("", "Share of total", False))


def _table(analysis, key: str, depth, marks=None) -> str:
    """The layer table: group rows (blocks) with subtotals above their members; each row lists
    the groups it sits in (``data-in``) so that the script can hide the members of a closed one."""
    from .table import _group_placement, _leaf_and_group_rows, _placement

    t = analysis.totals
    per_value = t.bytes_per_value
    severities = {}
    for d in analysis.diagnostics:
        if d.layer:
            if severities.get(d.layer) != "error":
                severities[d.layer] = d.severity
    group_names = {g.name for g in analysis.groups}
    ids = {}
    head = []
    for sort_key, title, right in _HEAD:
        cls = ' class="num"' if right else ""
        if sort_key == "macs" and t.count_as is not None:  # --count-as: whose count the column is
            title = f"MACs ({markup.text(t.count_as)})"
        if sort_key:
            head.append(f'<th data-key="{sort_key}"{cls} scope="col"><button type="button">{title}</button></th>')
        else:
            head.append(f"<th{cls} scope=\"col\">{title}</th>")
    rows = []
    open_groups: list = []  # (group, id)
    for row in _leaf_and_group_rows(analysis, None):
        if row[0] == "group":
            group = row[1]
            start = group.start
        else:
            start = row[1]
        while open_groups and not (open_groups[-1][0].start <= start < open_groups[-1][0].end):
            open_groups.pop()
        inside = " ".join(gid for _, gid in open_groups)
        if row[0] == "group":
            gid = f"{key}-g{len(ids)}"
            ids[group.name] = gid
            members = analysis.layers[group.start:group.end]
            params = sum(m.params for m in members)
            macs = sum(m.macs for m in members)
            memory = sum(m.activations for m in members) * per_value
            level, local = _group_placement(group, group_names)
            is_open = depth is None or group.level < depth
            sev = severities.get(group.name)
            flag = f" flagged {sev}" if sev else ""
            rows.append(
                f'<tr class="group{flag}" data-id="{gid}" data-in="{inside}" data-level="{level}" '
                f'data-open="{"true" if is_open else "false"}">'
                f'<td class="num mono">{group.start + 1}–{group.end}</td>'
                f'<td style="padding-left:{0.5 + 1.2 * level:.1f}rem"><button type="button" class="toggle" '
                f'aria-expanded="{"true" if is_open else "false"}" aria-label="show or hide the layers of '
                f'{markup.attr(group.name)}">{"▾" if is_open else "▸"}</button>{markup.text(local)}</td>'
                f'<td class="kind">{markup.text(group.kind)}</td>'
                f'<td class="muted">{len(members)} layers</td>'
                f'<td class="num mono">{markup.text(numbers.shape(group.output))}</td>'
                f'<td class="num mono">{numbers.exact(params)}</td>'
                f'<td class="num mono" title="{numbers.exact(macs)}">{numbers.human(macs)}</td>'
                f'<td class="num mono">{numbers.byte_size(memory)}</td><td></td>'
                f'<td>{_bars(params, macs, memory, t)}</td></tr>')
            open_groups.append((group, gid))
            continue
        _, index, layer = row
        level, local = _placement(layer, group_names)
        memory = layer.activations * per_value
        rf = layer.receptive_field
        sev = severities.get(layer.name)
        flag = f" flagged {sev}" if sev else ""
        badge = (f' <span class="sev {sev}">{"✖" if sev == "error" else "▲"} {sev}</span>' if sev else "")
        change = (marks or {}).get(layer.name)
        if change:   # a diff of two versions: what changed, in words as well as colour
            flag += f" changed {change}"
            badge += f' <span class="change">{markup.text(change)}</span>'
        
        rows.append(
            f'<tr class="leaf{flag}" data-in="{inside}" data-index="{index + 1}" data-params="{layer.params}" '
            f'data-macs="{layer.macs}" data-memory="{memory}" data-rf="{rf.size[0] if rf else 0}">'
            f'<td class="num mono">{index + 1}</td>'
            f'<td style="padding-left:{0.5 + 1.2 * level:.1f}rem">{markup.text(local)}{badge}</td>'
            f'<td>{markup.text(layer.kind)}</td><td class="mono">{markup.text(_settings(layer))}</td>'
            f'<td class="num mono">{markup.text(numbers.shape(layer.output))}</td>'
            f'<td class="num mono">{numbers.exact(layer.params) if layer.params else ""}</td>'
            f'<td class="num mono" title="{numbers.exact(layer.macs)}">'
            f'{numbers.human(layer.macs) if layer.macs else ""}</td>'
            f'<td class="num mono">{numbers.byte_size(memory) if memory else ""}</td>'
            f'<td class="num mono">{markup.text(_field_text(rf))}</td>'
            f'<td>{_bars(layer.params, layer.macs, memory, t)}</td></tr>')
    tools = ""
    if analysis.groups:
        tools = (f'<div class="toolbar" id="{key}-table-tools"><button type="button" class="expand">Expand all '
                 f'blocks</button><button type="button" class="collapse">Collapse all blocks</button>'
                 f'<span class="muted">Click a column title to sort (# restores the order).</span></div>')
    else:
        tools = '<div class="toolbar"><span class="muted">Click a column title to sort.</span></div>'
    return (f'{tools}<div class="wide"><table class="layers" id="{key}-table"><thead><tr>{"".join(head)}</tr></thead>'
            f'<tbody>\n' + "\n".join(rows) + "\n</tbody></table></div>")


def _chart(rows, totals) -> str:
    """Paired bars (params, MACs) a row, each scaled to the heaviest row; the values as text."""
    from .chart import Row  # noqa: F401 - rows are chart.Row

    sums = [(row, sum(m.params for m in row.layers), sum(m.macs for m in row.layers)) for row in rows]
    sums = [item for item in sums if item[1] or item[2]]
    top_p = max((p for _, p, _ in sums), default=0) or 1
    top_m = max((m for _, _, m in sums), default=0) or 1
    counted = getattr(totals, "count_as", None)  # --count-as: whose MACs the bars are
    macs_head = f"MACs ({markup.text(counted)})" if counted else "MACs"
    cells = ['<span class="head">row</span><span class="head">params</span><span></span>'
             f'<span class="head">{macs_head}</span><span></span>']
    for row, params, macs in sums:
        cells.append(f'<span class="name" title="{markup.attr(row.name)}">{markup.text(row.name)}</span>')
        for value, top, cls, whole in ((params, top_p, "p", totals.params), (macs, top_m, "m", totals.macs)):
            width = 100 * value / top if value else 0
            share = numbers.share(value, whole) if value and whole else ""
            cells.append(f'<span class="track"><span class="fill {cls}" style="width:{max(width, 0.5 if value else 0):.1f}%">'
                         f'</span></span><span class="num">{numbers.human(value) if value else ""}'
                         f'{" · " + markup.text(share) if share else ""}</span>')
    return f'<div class="chart" role="table">{"".join(cells)}</div>'


def _charts(analysis, depth, h) -> str:
    """Params and MACs per block (at ``depth``, the picture's, or 0) and per kind."""
    from .chart import kind_rows, stage_rows

    level = depth if depth is not None else (0 if analysis.groups else None)   # the stages
    title = f"per block at depth {level}" if level is not None else "per layer"
    rows = stage_rows(analysis, level)
    counted = getattr(analysis.totals, "count_as", None)
    macs = f"MACs as {markup.text(counted)} counts them" if counted else "MACs"
    return (f'<{h}>Charts</{h}><div class="charts"><section><p class="muted">Params and {macs} {title}'
            f'</p>{_chart(rows, analysis.totals)}</section><section><p class="muted">Params and {macs} per kind'
            f'</p>{_chart(kind_rows(analysis), analysis.totals)}</section></div>')


def network_sections(analysis, options, key: str, level: int = 2) -> str:
    h = f"h{level}"
    svg, drawn = picture(analysis, {"depth": options.get("depth"), "width": DIAGRAM_WIDTH,
                                    "marks": options.get("marks")})  # a diff's side: boxes outlined
    # a big network's table starts with its blocks closed at the depth its picture needed
    depth = options.get("depth") if options.get("depth") is not None else drawn
    parts = [f"<{h}>Totals</{h}>", _totals(analysis),
             f"<{h}>Diagram</{h}>",
             f'<div class="toolbar js-only"><button type="button" class="zoom" data-for="{key}-diagram" '
             f'aria-pressed="false">Actual size</button><span class="muted">The diagram is scaled to the '
             f'width of the page.</span></div>',
             f'<div class="scroll" id="{key}-diagram">{svg}</div>',
             _diagnostics(analysis),
             _charts(analysis, options.get("depth"), h),
             f"<{h}>Layers ({analysis.totals.layers})</{h}>",
             _table(analysis, key, depth, options.get("marks"))]
    return "\n".join(p for p in parts if p)


def render_show(analysis, options=None) -> str:
    options = options or {}
    header = f"<header><h1>{markup.text(_title(analysis))}</h1>"
    if analysis.reference:
        header += f'<p class="ref">{markup.text(analysis.reference)}</p>'
    header += "</header>"
    return _page(f"archcalc: {_title(analysis)}", header + "\n" + network_sections(analysis, options, "n"))


def _paired_bars(diff, label_a, label_b) -> str:
    """Per kind group, the two networks' params and MACs as paired bars on one scale each."""
    from . import diff_cells as cells

    rows = [r for r in diff.breakdown if r.a.params or r.a.macs or r.b.params or r.b.macs]
    if not rows:
        return ""
    top_p = max(max(r.a.params, r.b.params) for r in rows) or 1
    top_m = max(max(r.a.macs, r.b.macs) for r in rows) or 1
    counted = getattr(diff.a.totals, "count_as", None)  # --count-as: whose MACs the bars are
    macs_head = f"MACs ({markup.text(counted)})" if counted else "MACs"
    out = ['<div class="chart paired" role="table"><span class="head">kind</span><span class="head">params'
           f'</span><span></span><span class="head">{macs_head}</span><span></span>']
    for r in rows:
        label = cells.GROUP_LABELS.get(r.group, r.group)
        for side, sums in ((label_a, r.a), (label_b, r.b)):
            out.append(f'<span class="name">{markup.text(label)} · {markup.text(side)}</span>')
            for value, top, cls in ((sums.params, top_p, "p"), (sums.macs, top_m, "m")):
                out.append(f'<span class="track"><span class="fill {cls}{" b" if side is label_b else ""}" '
                           f'style="width:{100 * value / top if value else 0:.1f}%"></span></span>'
                           f'<span class="num">{numbers.human(value) if value else ""}</span>')
    return "".join(out) + "</div>"


def _story(lines) -> list[str]:
    """What changed between two networks whose layers are matched by name (AlexNet 2012's
    towers against torchvision's one-tower AlexNet): a sentence per layer, as the table says."""
    if not lines:
        return []
    return ['<h2>What changed <span class="muted">(layers matched by name)</span></h2>',
            '<ul class="story">' + "".join(f"<li>{markup.text(line)}</li>" for line in lines) + "</ul>"]


def render_diff(diff, options=None) -> str:
    """Both networks side by side (totals, diagram, diagnostics, layers), under the comparison."""
    from . import diff_cells as cells

    options = options or {}
    label_a, label_b = cells.side_labels(diff)

    def table(head, body, right=()):
        hs = "".join(f'<th{" class=num" if i in right else ""} scope="col">{markup.text(h)}</th>'
                     for i, h in enumerate(head))
        rows = []
        for row in body:
            tds = []
            for i, cell in enumerate(row):
                text = f"{cell[0]} → {cell[1]}" if isinstance(cell, tuple) else str(cell)
                tds.append(f'<td{" class=num" if i in right else ""}>{markup.text(text)}</td>')
            rows.append("<tr>" + "".join(tds) + "</tr>")
        return f"<div class=\"wide\"><table><thead><tr>{hs}</tr></thead><tbody>{''.join(rows)}</tbody></table></div>"

    parts = [f"<header><h1>{markup.text(label_a)} → {markup.text(label_b)}</h1>"
             f'<p class="muted">{markup.text(cells.mode_line(diff))}</p></header>',
             *_story(cells.story_lines(diff)),
             "<h2>Totals</h2>",
             table(("", label_a, label_b, "Change", "Ratio"), [cells.total_cells(r) for r in diff.totals],
                   {1, 2, 3, 4}),
             "<h2>By kind</h2>",
             table(("Kind", f"{label_a} params", f"{label_a} MACs", f"{label_b} params", f"{label_b} MACs"),
                   [cells.breakdown_cells(r, diff) for r in diff.breakdown], {1, 2, 3, 4}),
             _paired_bars(diff, label_a, label_b),
             "<h2>Resolution ladder</h2>",
             table(("", "Size", "Channels"), [(label, *cells.ladder_cells(rungs)) for label, rungs in
                                              ((label_a, diff.ladders[0]), (label_b, diff.ladders[1]))])]
    if diff.changes is not None:
        shown = cells.visible_changes(diff, options.get("all", False))
        parts.append(f"<h2>Layers that changed</h2><p>{markup.text(cells.counts_line(diff, len(shown)))}</p>")
        if shown:
            columns = ("Change", "Layer", "Kind", "Settings", "Output", "Params", "ΔParams", "ΔMACs")
            rows = []
            for change in shown:
                row = cells.change_cells(change)
                rows.append(tuple(row[c] for c in columns))
            parts.append(table(columns, rows, {4, 5, 6, 7}))
    results = options.get("gates") or ()
    if results:
        parts.append("<h2>Gates</h2><ul>" + "".join(
            f'<li><span class="sev {"error" if r.failed else ""}">{"✖ failed" if r.failed else "✔ passed"}'
            f"</span> {markup.text(cells.gate_message(r))}</li>" for r in results) + "</ul>")
    marks = cells.side_marks(diff)  # what changed on each side: rows marked, boxes outlined
    parts.append('<div class="side">')
    for (label, analysis, key), side_marks in zip(((label_a, diff.a, "a"), (label_b, diff.b, "b")), marks):
        parts.append(f'<section aria-label="{markup.attr(label)}"><h2>{markup.text(_title(analysis))}</h2>'
                     + network_sections(analysis, dict(options, marks=side_marks), key, level=3) + "</section>")
    parts.append("</div>")
    return _page(f"archcalc diff: {label_a} → {label_b}", "\n".join(parts))


_FAMILY_COLOURS = ("#0969da", "#bf3989", "#1a7f37", "#9a6700", "#8250df", "#cf222e", "#0a7b83", "#6e7781",
                   "#d4a72c", "#2da44e", "#e16f24", "#54aeff")


def _zoo_scatter(rows) -> str:
    """Params against MACs, both on log scales, a dot per network coloured by family, its
    name and figures in the dot's tooltip."""
    from math import floor, log10

    points = [r for r in rows if isinstance(r.get("params"), int) and isinstance(r.get("macs"), int)
              and r["params"] > 0 and r["macs"] > 0]
    if len(points) < 2:
        return ""
    width, height, left, right, top, bottom = 760, 430, 70, 20, 20, 50
    lo_p, hi_p = floor(log10(min(r["params"] for r in points))), floor(log10(max(r["params"] for r in points))) + 1
    lo_m, hi_m = floor(log10(min(r["macs"] for r in points))), floor(log10(max(r["macs"] for r in points))) + 1

    def x(m):
        return left + (log10(m) - lo_m) / (hi_m - lo_m) * (width - left - right)

    def y(p):
        return height - bottom - (log10(p) - lo_p) / (hi_p - lo_p) * (height - top - bottom)
    families = []
    for r in points:
        if r.get("family") not in families:
            families.append(r.get("family"))
    out = [f'<svg class="scatter" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
           f'width="{width}" height="{height}" role="img" aria-label="parameters against MACs, log scales">']
    for e in range(lo_m, hi_m + 1):
        out.append(f'<line x1="{x(10 ** e):.1f}" y1="{top}" x2="{x(10 ** e):.1f}" y2="{height - bottom}" class="grid"/>'
                   f'<text x="{x(10 ** e):.1f}" y="{height - bottom + 16}" text-anchor="middle">'
                   f'{markup.text(numbers.human(10 ** e))}</text>')
    for e in range(lo_p, hi_p + 1):
        out.append(f'<line x1="{left}" y1="{y(10 ** e):.1f}" x2="{width - right}" y2="{y(10 ** e):.1f}" class="grid"/>'
                   f'<text x="{left - 6}" y="{y(10 ** e) + 4:.1f}" text-anchor="end">'
                   f'{markup.text(numbers.human(10 ** e))}</text>')
    out.append(f'<text x="{(left + width - right) / 2}" y="{height - 8}" text-anchor="middle">MACs (log scale)</text>'
               f'<text x="14" y="{(top + height - bottom) / 2}" text-anchor="middle" '
               f'transform="rotate(-90 14 {(top + height - bottom) / 2})">params (log scale)</text>')
    def marker(i):
        """(colour, style): the palette's colours filled, then again as rings, then half-filled,
        so that no two families look alike (24 families, 12 colours)."""
        return _FAMILY_COLOURS[i % len(_FAMILY_COLOURS)], ("", "ring", "half")[min(i // len(_FAMILY_COLOURS), 2)]

    for r in points:
        colour, style = marker(families.index(r.get("family")))
        tip = f'{r["name"]} ({r.get("family") or ""}): {numbers.exact(r["params"])} params, {numbers.exact(r["macs"])} MACs'
        # inline styles: the sheet's stroke (the background, round a filled dot) must not win
        paint = {"": f'fill="{colour}"',
                 "ring": f'style="fill:none;stroke:{colour};stroke-width:2;opacity:1"',
                 "half": f'style="fill:{colour};fill-opacity:.35;stroke:{colour};stroke-width:2;opacity:1"'}[style]
        out.append(f'<circle cx="{x(r["macs"]):.1f}" cy="{y(r["params"]):.1f}" r="4" {paint} '
                   f'data-name="{markup.attr(r["name"])}"><title>{markup.text(tip)}</title></circle>')
    out.append("</svg>")

    def key(i):
        colour, style = marker(i)
        return {"": f"background:{colour}", "ring": f"border:2px solid {colour}",
                "half": f"border:2px solid {colour};background:{colour}59"}[style]
    legend = "".join(f'<span class="key"><span class="dot" style="{key(i)}"></span>{markup.text(f or "")}</span>'
                     for i, f in enumerate(families))
    return ('<h2>Params against MACs</h2><div class="scroll">' + "".join(out) + '</div>'
            f'<p class="legend">{legend}</p>')


def render_list(rows, options=None) -> str:
    """`archcalc list --format html`: the zoo as one page, a heading row per family when the
    list is grouped (the default order)."""
    options = options or {}
    body = []
    family = None
    for r in rows:
        if options.get("grouped") and r.get("family") != family:
            family = r.get("family")
            count = sum(1 for other in rows if other.get("family") == family)
            body.append(f'<tr class="family"><th colspan="6" scope="rowgroup">{markup.text(family or "")} '
                        f'<span class="muted">({count})</span></th></tr>')
        body.append(f'<tr class="net"><td><code>{markup.text(r["name"])}</code></td><td>{markup.text(r.get("title", ""))}</td>'
                    f'<td class="num mono">{markup.text(numbers.row_input(r))}</td>'
                    f'<td class="num mono">{numbers.exact(r["params"])}</td>'
                    f'<td class="num mono">{numbers.exact(r["macs"])}</td>'
                    f'<td class="num mono">{markup.text(r["depth"])}</td></tr>')
    counted = (options or {}).get("count_as")
    macs = f"MACs ({markup.text(counted)})" if counted else "MACs"
    table = ('<table class="zoo"><thead><tr><th scope="col">Name</th><th scope="col">Title</th><th class="num" scope="col">'
             f'Input</th><th class="num" scope="col">Params</th><th class="num" scope="col">{macs}</th>'
             '<th class="num" scope="col">Depth</th></tr></thead><tbody>' + "".join(body) + "</tbody></table>")
    return _page("archcalc: built-in networks",
                 f"<header><h1>Built-in networks</h1><p class=\"muted\">{len(rows)} networks</p></header>\n"
                 f'{_zoo_scatter(rows)}<h2>Networks</h2><div class="wide">{table}</div>')
