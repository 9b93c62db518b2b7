"""`archcalc diff A B --format svg`: a picture of a diff (issue #26) — both networks drawn as
`draw` draws them, one above the other, each box outlined by what happened to its layers.

Independent figures: ResNet-34 has 3, 4, 6, 3 basic blocks where ResNet-18 has 2, 2, 2, 2
(He et al. 2015, table 1): 8 more blocks of 6 layers each (conv, batch norm, ReLU, conv, batch
norm, the ReLU after the add) = 48 added layers, none removed. AlexNet 2012's towers (Krizhevsky
et al.) against the one-tower AlexNet: conv2, conv4 and conv5 read across towers there (48 →
128, 192 → 192, 192 → 128 per tower) and over all channels here, so their parameters differ;
conv1, conv3, fc6 and fc7 hold the same parameters split in two."""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET

SVG = "{http://www.w3.org/2000/svg}"


def _sides(text):
    root = ET.fromstring(text)
    inner = [child for child in root if child.tag == f"{SVG}svg"]
    assert len(inner) == 2
    return root, inner


def _changes(side):
    return [(g.get("data-layer") or g.get("data-group"), g.get("data-change"))
            for g in side.iter(f"{SVG}g") if g.get("data-change")]


def test_resnet18_to_resnet34_outlines_the_added_blocks(cli):
    result = cli("diff", "resnet18", "resnet34", "--format", "svg")
    assert result.code == 0, result.err
    root, (a, b) = _sides(result.out)
    assert _changes(a) == []
    marked = _changes(b)
    assert marked and {status for _, status in marked} == {"added"}
    # the collapsed boxes say how many of their layers were added: 6 + 12 + 24 + 6 = 48
    counts = [int(n) for n in re.findall(r"\+ added \((\d+) layers\)", result.out)]
    assert sum(counts) == 48
    assert "0 layers of resnet18 removed or changed, 48 of resnet34 added or changed" in result.out
    assert float(root.get("width")) <= 1600  # both pictures fit a slide's width


def test_alexnet_2012_to_alexnet_outlines_the_like_named_layers_that_differ(cli):
    result = cli("diff", "alexnet-2012", "alexnet", "--format", "svg")
    assert result.code == 0, result.err
    _, (a, b) = _sides(result.out)
    assert sorted(name.rsplit(".", 2)[-2] + "." + name.rsplit(".", 1)[-1] for name, _ in _changes(a)) == \
        ["gpu1.conv2", "gpu1.conv4", "gpu1.conv5", "gpu2.conv2", "gpu2.conv4", "gpu2.conv5"]
    assert sorted(name for name, _ in _changes(b)) == ["conv2", "conv4", "conv5"]
    assert {status for _, status in _changes(a) + _changes(b)} == {"changed"}


def test_the_picture_goes_to_an_svg_file_only(cli, tmp_path):
    png = tmp_path / "d.png"
    refused = cli("diff", "lenet5", "lenet5", "--format", "svg", "-o", png)
    assert refused.code == 2 and "name the file .svg" in refused.err and not png.exists()
    svg = tmp_path / "d.svg"
    written = cli("diff", "lenet5", "lenet5", "--format", "svg", "-o", svg)
    assert written.code == 0 and svg.read_text().startswith("<svg")
    assert "no layer marked" in svg.read_text()


def test_names_are_escaped_in_the_picture(cli, spec_file):
    hostile = '</svg><script>alert(1)</script>'
    a = spec_file(f'name: a\ninput: [8]\nlayers:\n  - dense: {{name: "{hostile}", units: 2}}\n')
    b = spec_file(f'name: a\ninput: [8]\nlayers:\n  - dense: {{name: "{hostile}", units: 3}}\n')
    result = cli("diff", a, b, "--format", "svg")
    assert result.code == 0, result.err
    assert "<script>" not in result.out
    _, (_, side_b) = _sides(result.out)
    assert _changes(side_b) == [(hostile, "changed")]


def test_the_html_page_outlines_the_same_boxes(cli):
    page = cli("diff", "resnet18", "resnet34", "--format", "html").out
    assert 'data-change="added"' in page and "+ added (24 layers)" in page


def test_each_side_of_a_diff_picture_is_drawn_without_collisions(cli):
    """The change labels and outlines added to each side keep the rules of `draw`: no line
    through a label, a box or along a frame's edge, no text on a box, no label on another."""
    from svg_geometry import along_frames, line_collisions, text_boxes, texts_on_faces
    from test_draw import overlaps

    for a, b in (("resnet18", "resnet34"), ("alexnet-2012", "alexnet"), ("densenet121", "densenet169")):
        result = cli("diff", a, b, "--format", "svg")
        assert 'class="chg' in result.out                  # the change labels are drawn
        _, inner = _sides(result.out)
        for side in inner:
            svg = ET.tostring(side, encoding="unicode")
            if "<style>" not in svg:   # each side carries no style sheet of its own: the outer one's
                svg = svg.replace(">", "><style>" + result.out.split("<style>", 1)[1].split("</style>", 1)[0]
                                  + "</style>", 1)
            assert len(text_boxes(svg)) > 10   # something to check
            assert line_collisions(svg) == [], (a, b)
            assert along_frames(svg) == [], (a, b)
            assert texts_on_faces(svg) == [], (a, b)
            assert overlaps(svg) == [], (a, b)
