"""`show --format html` and `diff --format html`: one self-contained page, well-formed, with
the diagram, the table (a row per layer and per block), totals, bars and diagnostics.

Structure is checked with the standard library's HTML parser (no browser here; the browser
test is tests/test_browser.py). Expected counts come from the papers (ResNet-50's 4 stages
and 16 blocks, GoogLeNet's nine inception modules) or from the JSON report.
"""
from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import pytest

from conftest import SPECS

VOID = {"meta", "br", "img", "input", "link", "hr", "col", "wbr", "source", "area", "base"}


class Tree(HTMLParser):
    """Checks that every element is closed in order, and collects what the tests look at."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack = []
        self.problems = []
        self.rows = []        # (class, attributes) of every <tr> in a tbody
        self.urls = []        # every src/href
        self.scripts = 0
        self.in_tbody = 0
        self.svgs = 0
        self.text = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for key in ("src", "href"):
            if key in attrs:
                self.urls.append(attrs[key])
        if tag == "tbody":
            self.in_tbody += 1
        if tag == "tr" and self.in_tbody:
            self.rows.append(attrs)
        if tag == "script":
            self.scripts += 1
        if tag == "svg":
            self.svgs += 1
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in VOID:
            self.stack.pop()

    def handle_endtag(self, tag):
        if tag == "tbody":
            self.in_tbody -= 1
        if not self.stack or self.stack[-1] != tag:
            self.problems.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
            return
        self.stack.pop()

    def handle_data(self, data):
        self.text.append(data)


def parse(page: str) -> Tree:
    tree = Tree()
    tree.feed(page)
    tree.close()
    assert tree.problems == [] and tree.stack == []
    return tree


def show_html(cli, *args) -> tuple[int, str]:
    result = cli("show", *args, "--format", "html")
    return result.code, result.out


def json_of(cli, spec) -> dict:
    return json.loads(cli("show", spec, "--format", "json").out)


@pytest.mark.parametrize("name", ("lenet5", "alexnet", "vgg16", "resnet50", "googlenet"))
def test_one_self_contained_page_with_a_row_per_layer_and_block(cli, name):
    code, page = show_html(cli, name)
    assert code == 0
    assert page.startswith("<!DOCTYPE html>")
    tree = parse(page)
    assert tree.urls == []                             # nothing fetched: no network, no CDN
    assert not re.search(r"https?://(?!www\.w3\.org/2000/svg)", page)
    assert tree.scripts == 1 and tree.svgs >= 1
    leaves = [r for r in tree.rows if "leaf" in r.get("class", "")]
    assert len(leaves) == json_of(cli, name)["totals"]["layers"]


def test_block_rows_are_resnet50s_stages_and_blocks(cli):
    # He et al. 2016: 4 stages of 3, 4, 6, 3 bottleneck blocks
    _, page = show_html(cli, "resnet50")
    tree = parse(page)
    groups = [r for r in tree.rows if "group" in r.get("class", "")]
    assert len(groups) == 4 + 3 + 4 + 6 + 3
    assert [r["data-level"] for r in groups].count("0") == 4
    # every member row names the blocks it sits in, so that collapsing hides it
    known = {r["data-id"] for r in groups}
    for r in tree.rows:
        assert set(r.get("data-in", "").split()) <= known


def test_depth_starts_deep_blocks_closed(cli):
    _, page = show_html(cli, "resnet50", "--depth", "1")
    groups = [r for r in parse(page).rows if "group" in r.get("class", "")]
    assert {r["data-open"] for r in groups if r["data-level"] == "0"} == {"true"}
    assert {r["data-open"] for r in groups if r["data-level"] == "1"} == {"false"}


def test_the_embedded_diagram_is_the_draw_commands(cli):
    _, page = show_html(cli, "alexnet")
    svg = page[page.index("<svg"):page.index("</svg>") + len("</svg>")]
    ET.fromstring(svg)
    assert svg.strip() == cli("draw", "alexnet", "--width", "1180").out.strip()


def test_totals_bars_and_sort_keys_carry_exact_numbers(cli):
    # LeNet-5: 61,706 params and 416,520 MACs (the spec's hand arithmetic; LeCun et al. 1998)
    _, page = show_html(cli, "lenet5")
    assert "61,706" in page and "416,520" in page
    rows = [r for r in parse(page).rows if "leaf" in r.get("class", "")]
    # c1: 5·5·1·6 + 6 = 156 params, 28·28·6·25 = 117,600 MACs
    c1 = rows[0]
    assert (c1["data-params"], c1["data-macs"]) == ("156", "117600")
    assert sum(int(r["data-params"]) for r in rows) == 61706
    assert "params 0.3%" in page          # 156 / 61,706 = 0.25 %: the bar says its share in words


def test_diagnostics_come_with_their_source_lines(cli):
    code, page = show_html(cli, SPECS / "examples" / "alexnet-224.yaml")
    assert code == 1
    source = (SPECS / "examples" / "alexnet-224.yaml").read_text().splitlines()
    conv1_line = next(i for i, line in enumerate(source, 1) if "name: conv1" in line)
    tree = parse(page)
    text = "".join(tree.text)
    assert f"{conv1_line} | " + source[conv1_line - 1].strip() in " ".join(text.split())
    assert "✖ error" in text and "▲ warning" in text   # words and glyphs, not only colour
    flagged = [r for r in tree.rows if "flagged" in r.get("class", "")]
    assert flagged and all(("error" in r["class"]) or ("warning" in r["class"]) for r in flagged)


def test_prints_cleanly_and_has_a_dark_theme(cli):
    _, page = show_html(cli, "lenet5")
    assert "@media print" in page and "tr[hidden]{display:table-row}" in page
    assert "prefers-color-scheme: dark" in page


def test_user_text_is_escaped(cli, spec_file):
    path = spec_file('name: "n</script><script>alert(1)</script>"\n'
                     'title: "<img src=x onerror=alert(1)> \\u202e\\u0000"\n'
                     'input: [8, 8, 1]\nlayers:\n  - conv: {name: "a<b>&c", filters: 2, kernel: 3}\n'
                     '  - rbf: {units: 2, name: "<i>x</i>"}\n')
    code, page = show_html(cli, path)
    assert code == 1   # rbf needs a flat input: an error, reported with its source line
    tree = parse(page)
    assert tree.scripts == 1 and tree.urls == []
    assert "<img" not in page and "<i>x" not in page and "\u202e" not in page and "\x00" not in page
    assert "a&lt;b&gt;&amp;c" in page


def test_output_file(cli, tmp_path):
    target = tmp_path / "report.html"
    result = cli("show", "lenet5", "--format", "html", "-o", target)
    assert (result.code, result.out) == (0, "")
    parse(target.read_text(encoding="utf-8"))


def test_diff_puts_two_networks_side_by_side(cli):
    result = cli("diff", "resnet18", "resnet34", "--format", "html")
    assert result.code == 0
    tree = parse(result.out)
    assert tree.svgs == 2
    leaves = [r for r in tree.rows if "leaf" in r.get("class", "")]
    # ResNet-18 and ResNet-34 leaves as the JSON reports count them
    assert len(leaves) == json_of(cli, "resnet18")["totals"]["layers"] + json_of(cli, "resnet34")["totals"]["layers"]
    assert 'class="side"' in result.out


def test_list_as_html(cli):
    result = cli("list", "--format", "html")
    assert result.code == 0
    assert "vgg16" in "".join(parse(result.out).text)


def test_controls_that_need_javascript_are_hidden_without_it(cli):
    page = cli("show", "resnet50", "--format", "html").out
    assert '<html lang="en" class="nojs">' in page
    # the style sheet hides toolbars (buttons and sort hints) and row toggles under .nojs, and
    # the script's first act is to remove the class
    assert ".nojs .toolbar,.nojs button.toggle,.nojs .js-only{display:none}" in page
    script = page.split("<script>", 1)[1]
    assert script.lstrip().startswith("(function(){\ndocument.documentElement.classList.remove('nojs');")
    assert all("toolbar" in t for t in re.findall(r'<div class="toolbar[^"]*"', page))


def test_the_diagram_is_scaled_to_its_card_and_can_be_shown_at_actual_size(cli):
    page = cli("show", "resnet50", "--format", "html").out
    assert ".scroll svg{display:block;max-width:100%;height:auto}" in page
    svg = ET.fromstring(page.split('<div class="scroll" id="n-diagram">', 1)[1].split("</svg>", 1)[0] + "</svg>")
    assert svg.get("viewBox") == f"0 0 {svg.get('width')} {svg.get('height')}"   # so it scales
    assert 'class="zoom" data-for="n-diagram"' in page


def test_a_big_network_starts_with_its_blocks_closed_at_the_pictures_depth(cli):
    # ResNet-50's default picture collapses its 16 bottlenecks (level 1) to fit a slide; the
    # table starts with the 4 stages (level 0) open and the 16 blocks closed
    tree = parse(cli("show", "resnet50", "--format", "html").out)
    groups = [r for r in tree.rows if "group" in r.get("class", "")]
    assert [(r["data-level"], r["data-open"]) for r in groups if r["data-level"] == "0"] == [("0", "true")] * 4
    assert [r["data-open"] for r in groups if r["data-level"] == "1"] == ["false"] * 16
    # a network whose picture fits with every layer keeps every block open
    tree = parse(cli("show", "vgg16", "--format", "html").out)
    assert {r["data-open"] for r in tree.rows if "group" in r.get("class", "")} == {"true"}


def test_charts_per_stage_and_per_kind(cli):
    # torchvision's per-module counts: layer1 215,808, layer2 1,219,584, layer3 7,098,368,
    # layer4 14,964,736 parameters (216 K, 1.22 M, 7.10 M, 15.0 M); 53 convolutions
    page = cli("show", "resnet50", "--format", "html").out
    charts = page.split("<h2>Charts</h2>", 1)[1].split("<h2>", 1)[0]
    stages = re.findall(r'<span class="name" title="(layer\d) \(stage\)">', charts)
    assert stages == ["layer1", "layer2", "layer3", "layer4"]
    values = re.findall(r'title="layer\d \(stage\)">[^<]*</span><span class="track">.*?'
                        r'<span class="num">([^<]*?) · ', charts)
    assert values == ["216 K", "1.22 M", "7.10 M", "15.0 M"]
    assert 'title="conv ×53"' in charts and 'title="dense ×1"' in charts
    # --depth 1: a row per bottleneck (3 + 4 + 6 + 3 = 16)
    deeper = cli("show", "resnet50", "--format", "html", "--depth", "1").out.split("<h2>Charts</h2>", 1)[1]
    assert len(re.findall(r'title="layer\d\.\d+ \(bottleneck(?:_down)?\)"', deeper)) == 16


def test_list_html_groups_by_family_counts_its_rows_and_takes_o(cli, tmp_path):
    rows = json.loads(cli("list", "--format", "json").out)
    target = tmp_path / "zoo.html"
    result = cli("list", "--format", "html", "-o", target)
    assert (result.code, result.out) == (0, "")
    page = target.read_text(encoding="utf-8")
    assert len(re.findall(r'<tr class="net">', page)) == len(rows)
    families = re.findall(r'<tr class="family"><th colspan="6" scope="rowgroup">([^<]*) <span class="muted">'
                          r'\((\d+)\)</span>', page)
    assert sum(int(n) for _, n in families) == len(rows)
    assert len(families) == len({r["family"] for r in rows})
    assert "table.zoo tbody tr.net" in page          # the status counts the networks


def test_list_html_plots_params_against_macs(cli):
    rows = json.loads(cli("list", "--format", "json").out)
    page = cli("list", "--format", "html").out
    svg = ET.fromstring(re.search(r'<svg class="scatter".*?</svg>', page, re.S).group(0))
    dots = svg.findall("{http://www.w3.org/2000/svg}circle")
    assert sorted(d.get("data-name") for d in dots) == sorted(r["name"] for r in rows if r["params"] and r["macs"])
    # log scales: LeNet-5 (61,706 params; 416,520 MACs by hand for the modern form) sits left of
    # and below VGG-16 (138,357,544 params; 15,470,264,320 MACs, Simonyan & Zisserman / torchvision)
    at = {d.get("data-name"): (float(d.get("cx")), float(d.get("cy"))) for d in dots}
    assert at["lenet5"][0] < at["vgg16"][0] and at["lenet5"][1] > at["vgg16"][1]
    # every family has a marker of its own (colour and fill), in the chart and in its key
    keys = re.findall(r'<span class="key"><span class="dot" style="([^"]*)"></span>([^<]*)</span>', page)
    assert sorted(name for _, name in keys) == sorted({r["family"] for r in rows if r["params"] and r["macs"]})
    assert len({style for style, _ in keys}) == len(keys)
    marker = {}
    for r in rows:
        if r["params"] and r["macs"]:
            d = next(d for d in dots if d.get("data-name") == r["name"])
            marker.setdefault(r["family"], set()).add((d.get("fill"), d.get("style")))
    assert all(len(m) == 1 for m in marker.values())
    assert len({next(iter(m)) for m in marker.values()}) == len(marker)


def test_a_diff_of_two_versions_marks_what_changed_on_both_sides(cli):
    # ResNet-50 v1 (He et al.) strides the first 1×1 of a stage's first block, v1.5
    # (torchvision) its 3×3: in stages 2–4 (stage 1 keeps stride 1) conv1 and conv2 of block 0
    # change, 3 × 2 = 6 layers on each side
    page = cli("diff", "resnet50-v1", "resnet50", "--mode", "versions", "--format", "html").out
    a, b = page.split('<div class="side">', 1)[1].split('<section aria-label=', 2)[1:]
    for side in (a, b):
        changed = re.findall(r'<tr class="leaf changed changed"[^>]*>.*?<td[^>]*>([^<]*)<span class="change">changed',
                             side)
        assert sorted(changed) == ["conv1 ", "conv1 ", "conv1 ", "conv2 ", "conv2 ", "conv2 "]


def test_diff_html_pairs_the_two_networks_bars_per_kind(cli):
    # torchvision: ResNet-18 1.81 G MACs, ResNet-34 3.66 G; both end in a 512 → 1000 fc
    # (512,000 MACs each), so the conv pair differs and the dense pair is equal
    page = cli("diff", "resnet18", "resnet34", "--format", "html").out
    paired = re.search(r'<div class="chart paired".*?</div>', page, re.S).group(0)
    widths = dict(re.findall(r'<span class="name">([^<]*)</span><span class="track"><span class="fill p[^"]*" '
                             r'style="width:[\d.]+%"></span></span><span class="num">[^<]*</span>'
                             r'<span class="track"><span class="fill m[^"]*" style="width:([\d.]+)%"', paired))
    assert float(widths["conv · resnet34"]) == 100.0 and 45 < float(widths["conv · resnet18"]) < 55
    assert widths["dense · resnet18"] == widths["dense · resnet34"]
