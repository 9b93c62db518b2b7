"""The HTML report in a real browser: Debian's headless Chromium opens the report of several
built-ins, the page logs nothing to the console (no error), after `#expand-all` every layer
and block row is shown, and a screenshot is not blank.

Screenshots of lenet5, alexnet and resnet50 are kept in tests/artifacts/screenshots/ (not
in git) for a person to look at. With CI=true a missing Chromium fails the test; elsewhere
it is skipped with the reason.
"""
from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
import zlib
from pathlib import Path

import pytest

from conftest import ROOT, run_process

SCREENSHOTS = ROOT / "tests" / "artifacts" / "screenshots"
KEPT = ("lenet5", "alexnet", "resnet50")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run", "--disable-sync", "--hide-scrollbars",
         "--enable-logging=stderr", "--v=0")


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


@pytest.fixture(scope="module")
def chromium():
    path = _chromium()
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail("Chromium is required in CI (.ci/run installs Debian's chromium)")
        pytest.skip("Chromium is not installed (apt-get install chromium) — browser test not run")
    return path


def browse(chromium, tmp_path, url, *extra) -> subprocess.CompletedProcess:
    profile = tmp_path / f"profile-{len(list(tmp_path.iterdir()))}"  # a fresh profile each run
    return subprocess.run([chromium, *FLAGS, f"--user-data-dir={profile}", *extra, url],
                          capture_output=True, text=True, timeout=120)


def console_lines(stderr: str) -> list[str]:
    """What the page said on the console (chromium logs each message as …:CONSOLE(line)] "…")."""
    return [line for line in stderr.splitlines() if ":CONSOLE" in line or "Uncaught" in line]


def png_rows(path: Path) -> tuple[int, int, list[bytes]]:
    """(width, height, the filtered scanlines) of a PNG, with the standard library only."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width = 8, b"", 0
    while pos < len(data):
        length = int.from_bytes(data[pos:pos + 4], "big")
        kind = data[pos + 4:pos + 8]
        chunk = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height = int.from_bytes(chunk[:4], "big"), int.from_bytes(chunk[4:8], "big")
            depth, colour = chunk[8], chunk[9]
            channels = {2: 3, 6: 4, 0: 1, 4: 2}[colour]
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = 1 + width * channels * depth // 8
    return width, height, [raw[i:i + stride] for i in range(0, len(raw), stride)]


def _png(width, height, pixel_of) -> bytes:
    """A PNG written with the standard library (colour type 2, filter 0 on every row)."""
    raw = b"".join(b"\0" + b"".join(bytes(pixel_of(x, y)) for x in range(width)) for y in range(height))

    def chunk(kind, body):
        return (len(body).to_bytes(4, "big") + kind + body
                + zlib.crc32(kind + body).to_bytes(4, "big"))

    header = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes((8, 2, 0, 0, 0))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + \
        chunk(b"IEND", b"")


def test_the_blank_check_tells_blank_from_drawn(tmp_path):
    blank, drawn = tmp_path / "blank.png", tmp_path / "drawn.png"
    blank.write_bytes(_png(40, 30, lambda x, y: (255, 255, 255)))
    drawn.write_bytes(_png(40, 30, lambda x, y: (255, 255, 255) if (x + 3 * y) % 13 else (0, 0, 0)))
    assert not_blank(blank) is False and not_blank(drawn) is True


def not_blank(path: Path) -> bool:
    """More than a third of the rows differ from each other: text, boxes and a table, not one
    colour (a blank page has a single distinct row)."""
    _, height, rows = png_rows(path)
    return len(set(rows)) > height / 3


@pytest.mark.parametrize("name, blocks", [
    ("lenet5", 0), ("alexnet", 0),
    ("resnet50", 4 + 3 + 4 + 6 + 3),   # He et al. 2016: 4 stages of 3, 4, 6, 3 blocks
])
def test_report_in_chromium(chromium, tmp_path, name, blocks):
    report = tmp_path / f"{name}.html"
    result = run_process("show", name, "--format", "html", "-o", report, "--depth", "1")
    assert result.code == 0, result.err
    layers = json.loads(run_process("show", name, "--format", "json").out)["totals"]["layers"]

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shot = (SCREENSHOTS if name in KEPT else tmp_path) / f"{name}.png"
    if shot.exists():
        shot.unlink()
    shown = browse(chromium, tmp_path, report.as_uri() + "#expand-all", "--dump-dom",
                   f"--screenshot={shot}", "--window-size=1280,1600")
    assert shown.returncode == 0, shown.stderr[-2000:]
    assert console_lines(shown.stderr) == []
    dom = shown.stdout
    status = re.search(r'<body[^>]*data-status="([^"]*)"', dom).group(1)
    assert status == f"ready: {layers + blocks} rows shown"
    rows = re.findall(r"<tr class=\"(leaf|group)[^\"]*\"[^>]*>", dom)
    hidden = re.findall(r"<tr class=\"(?:leaf|group)[^\"]*\"[^>]*\bhidden\b[^>]*>", dom)
    assert (rows.count("leaf"), rows.count("group"), hidden) == (layers, blocks, [])

    assert shot.exists()
    width, height, _ = png_rows(shot)
    assert (width, height) == (1280, 1600)
    assert not_blank(shot)


def test_collapsed_blocks_hide_their_rows_until_expanded(chromium, tmp_path):
    report = tmp_path / "resnet50.html"
    run_process("show", "resnet50", "--format", "html", "-o", report, "--depth", "0")
    shown = browse(chromium, tmp_path, report.as_uri(), "--dump-dom")
    assert console_lines(shown.stderr) == []
    # --depth 0: only the top-level rows: conv1, bn1, relu, maxpool, 4 stages, avgpool, fc
    status = re.search(r'<body[^>]*data-status="([^"]*)"', shown.stdout).group(1)
    assert status == "ready: 10 rows shown"


def test_diff_report_in_chromium(chromium, tmp_path):
    report = tmp_path / "diff.html"
    result = run_process("diff", "lenet5", "alexnet", "--format", "html", "-o", report)
    assert result.code == 0, result.err
    shown = browse(chromium, tmp_path, report.as_uri(), "--dump-dom")
    assert console_lines(shown.stderr) == []
    layers = sum(json.loads(run_process("show", n, "--format", "json").out)["totals"]["layers"]
                 for n in ("lenet5", "alexnet"))
    status = re.search(r'<body[^>]*data-status="([^"]*)"', shown.stdout).group(1)
    assert status == f"ready: {layers} rows shown"


# The page measured in the page: a harness opens the report in a frame of the given width and
# lists every container that reaches past the frame's right edge or into its neighbour.
MEASURE = """<!DOCTYPE html><html><head><meta charset="utf-8"></head><body style="margin:0">
<iframe id="f" style="border:0;width:%dpx;height:1600px" src="%s"></iframe><pre id="out">pending</pre>
<script>
window.addEventListener('load', function () {
  var d = document.getElementById('f').contentDocument, W = d.documentElement.clientWidth, bad = [];
  function box(e) { return e.getBoundingClientRect(); }
  function name(e) { return e.tagName.toLowerCase() + (e.className ? '.' + String(e.className).split(' ')[0] : '')
    + (e.id ? '#' + e.id : ''); }
  var kinds = 'header,h1,h2,h3,dl,table,pre,ul,.toolbar,.wide,.scroll,.chart,.charts,.side,section,article,p';
  d.querySelectorAll(kinds).forEach(function (e) {
    if (e.closest('.wide,.scroll') && !e.matches('.wide,.scroll')) return;   // scrolled inside
    var r = box(e);
    if (r.width && r.right > W + 0.5) bad.push(name(e) + ' ends at ' + Math.round(r.right) + ' > ' + W);
  });
  var sides = d.querySelectorAll('.side > section');
  if (sides.length === 2) {
    var a = box(sides[0]), b = box(sides[1]);
    if (a.right > b.left) bad.push('the two networks overlap');
    sides.forEach(function (s) {
      var r = box(s);
      s.querySelectorAll(kinds).forEach(function (e) {
        if (e.closest('.wide,.scroll') && !e.matches('.wide,.scroll')) return;
        var q = box(e);
        if (q.width && (q.right > r.right + 0.5 || q.left < r.left - 0.5)) bad.push(name(e) + ' leaves its column');
      });
    });
  }
  document.getElementById('out').textContent = JSON.stringify({width: W, problems: bad});
});
</script></body></html>"""

PAGES = {
    "diff-alexnet": ("diff", "alexnet-2012", "alexnet", "--format", "html"),
    "diff-resnet": ("diff", "resnet50-v1", "resnet50", "--format", "html", "--mode", "versions"),
    "show-resnet50": ("show", "resnet50", "--format", "html"),
    "show-unet": ("show", "unet", "--format", "html"),
    "show-densenet121": ("show", "densenet121", "--format", "html"),
    "show-swin_t": ("show", "swin_t", "--format", "html"),
    "diff-swin": ("diff", "swin_t", "swin_b", "--format", "html"),
    "list": ("list", "--format", "html"),
}


@pytest.mark.parametrize("width", [1280, 1600, 1920])
@pytest.mark.parametrize("page", list(PAGES))
def test_pages_do_not_overflow_or_overlap(chromium, tmp_path, page, width):
    """Nothing reaches past the window or into the other column (a diff's two networks), at
    1,280, 1,600 and 1,920 px: measured by the browser in the page; a screenshot is kept."""
    report = tmp_path / f"{page}.html"
    result = run_process(*PAGES[page], "-o", report)
    assert result.code == 0, result.err
    harness = tmp_path / "measure.html"
    harness.write_text(MEASURE % (width, report.as_uri()), encoding="utf-8")
    shown = browse(chromium, tmp_path, harness.as_uri(), "--dump-dom", "--allow-file-access-from-files",
                   "--virtual-time-budget=10000", f"--window-size={width + 40},1700")
    assert shown.returncode == 0, shown.stderr[-2000:]
    found = json.loads(html.unescape(re.search(r'<pre id="out">([^<]*)</pre>', shown.stdout).group(1)))
    assert found == {"width": width, "problems": []}
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shot = SCREENSHOTS / f"{page}-{width}.png"
    browse(chromium, tmp_path, report.as_uri(), f"--screenshot={shot}", f"--window-size={width},1600")
    assert not_blank(shot)


def test_list_page_counts_its_rows(chromium, tmp_path):
    report = tmp_path / "zoo.html"
    assert run_process("list", "--format", "html", "-o", report).code == 0
    rows = len(json.loads(run_process("list", "--format", "json").out))
    shown = browse(chromium, tmp_path, report.as_uri(), "--dump-dom")
    assert console_lines(shown.stderr) == []
    status = re.search(r'<body[^>]*data-status="([^"]*)"', shown.stdout).group(1)
    assert status == f"ready: {rows} rows shown"
    assert '<html lang="en">' in shown.stdout or 'class=""' in shown.stdout   # the script removed nojs
