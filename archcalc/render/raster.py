"""`archcalc draw -o x.png` / `x.pdf`: the SVG picture rasterised or printed by a headless
Chromium (or Chrome) found on PATH. The browser is not a dependency: without one the command
is refused with what to install, and a PNG or PDF name never receives SVG text.

The picture is put in a minimal page whose size is the picture's (a PDF page of exactly that
size, no header or footer); the PNG is rendered at twice the size, for slides. The browser
runs with a fresh profile in a temporary directory, without network or first-run work, and
what it writes is checked (PNG signature, `%PDF-` header) before it is handed back.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FORMATS = {".png": b"\x89PNG\r\n\x1a\n", ".pdf": b"%PDF-"}
SCALE = 2          # PNG pixels per SVG pixel
TIMEOUT = 120      # seconds the browser gets
INSTALL = ("draw writes {fmt} through a headless Chromium or Chrome, and none was found on PATH "
           "(looked for: " + ", ".join(BROWSERS) + "): install one (Debian/Ubuntu: `apt install "
           "chromium`; macOS: `brew install --cask chromium`), or write SVG: -o FILE.svg")


class RasterError(Exception):
    """The browser could not write the file: a message for the user."""


def find_browser() -> str | None:
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    return None


def _size(svg: str) -> tuple[int, int]:
    head = svg[:svg.index(">")]
    width = float(re.search(r'width="([\d.]+)"', head).group(1))
    height = float(re.search(r'height="([\d.]+)"', head).group(1))
    return int(width + 0.999), int(height + 0.999)


def render(svg: str, suffix: str, browser: str, title: str = "") -> bytes:
    """The bytes of a PNG or PDF (``suffix`` ".png" / ".pdf") of the SVG document ``svg``;
    ``title``: the PDF's title (escaped here)."""
    from . import markup

    width, height = _size(svg)
    page = ('<!DOCTYPE html><html><head><meta charset="utf-8">'
            f'<title>{markup.text(title or "archcalc")}</title><style>'
            f'@page{{size:{width}px {height}px;margin:0}}'
            'html,body{margin:0;padding:0;background:#fff}svg{display:block}'
            '</style></head><body>' + svg + '</body></html>')
    with tempfile.TemporaryDirectory(prefix="archcalc-draw-") as work:
        source = os.path.join(work, "picture.html")
        target = os.path.join(work, "picture" + suffix)
        with open(source, "w", encoding="utf-8") as handle:
            handle.write(page)
        flags = ["--headless", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-extensions", "--disable-sync",
                 "--no-first-run", "--no-default-browser-check", "--hide-scrollbars",
                 f"--user-data-dir={os.path.join(work, 'profile')}"]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            flags.append("--no-sandbox")   # Chromium refuses to start as root with its sandbox
        if suffix == ".png":
            flags += [f"--window-size={width},{height}", f"--force-device-scale-factor={SCALE}",
                      f"--screenshot={target}"]
        else:
            flags += [f"--print-to-pdf={target}", "--no-pdf-header-footer", "--print-to-pdf-no-header"]
        try:
            done = subprocess.run([browser, *flags, "file://" + source], capture_output=True,
                                  timeout=TIMEOUT, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise RasterError(f"{browser} did not finish within {TIMEOUT} s") from None
        except OSError as exc:
            raise RasterError(f"cannot run {browser}: {exc.strerror or exc}") from None
        try:
            with open(target, "rb") as handle:
                data = handle.read()
        except OSError:
            data = b""
        if not data.startswith(FORMATS[suffix]):
            said = done.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] if done.stderr else []
            said = "".join(c if c.isprintable() else "?" for c in (said[0] if said else ""))[:200]
            raise RasterError(f"{browser} wrote no {suffix[1:].upper()} (exit {done.returncode}"
                              + (f": {said}" if said else "") + ")")
        return data
