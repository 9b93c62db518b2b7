"""The built-in zoo: spec files shipped inside the package, looked up by forgiving names.

`archcalc list`'s rows of them (an index kept with the specs) are archcalc/zoo_index.py's."""
from __future__ import annotations

import os

_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # archcalc/


def zoo_dir() -> str:
    """Installed: archcalc/_zoo (package data). Source checkout: the repository's specs/."""
    installed = os.path.join(_PACKAGE, "_zoo")
    if os.path.isdir(installed):
        return installed
    return os.path.join(os.path.dirname(_PACKAGE), "specs")


def normalise(name: str) -> str:
    """'VGG-16', 'vgg_16' and 'Vgg.16' all become 'vgg16'."""
    return "".join(ch for ch in name.lower() if ch not in "-_.")


def names() -> list[str]:
    """Built-in network names, sorted the way people read them (vgg16 before vgg19, resnet18 before resnet152)."""
    import re

    try:
        files = os.listdir(zoo_dir())
    except OSError:
        return []
    found = [f[:-5] for f in files if f.endswith(".yaml")]

    def key(name):
        return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]

    return sorted(found, key=key)


def spelled(name: str) -> str:
    """A finer form than normalise(): a `-`, `_` or `.` between two digits stands for a decimal
    point ('regnet_x_1_6gf', 'regnet-x-1.6gf' → 'regnetx1,6gf'), so names that differ only
    there ('regnet_x_16gf' → 'regnetx16gf') stay apart; other separators and case are ignored.
    (The decimal point is written ',' here, as the other separators are dropped.)"""
    import re

    return re.sub(r"(?<=\d)[-_.]+(?=\d)", ",", name.lower()).translate({ord(c): None for c in "-_."})


def find(name: str) -> str | None:
    """The path of a built-in spec, or None. Every spelling of a built-in's name that differs
    in case or in `-`, `_`, `.` finds it ('EfficientNet_B0', 'efficientnet-b0'); where two
    built-ins normalise alike, a separator between digits decides ('regnet-x-1.6gf' is
    regnet_x_1_6gf, 'regnet-x-16gf' and 'regnetx16gf' regnet_x_16gf), and a form that still
    fits several finds none (suggest() names the candidates)."""
    wanted = normalise(name)
    if not wanted:
        return None
    directory = zoo_dir()
    known = names()
    for candidate in known:  # the name as written first
        if candidate.lower() == name.lower():
            return os.path.join(directory, candidate + ".yaml")
    matches = [candidate for candidate in known if normalise(candidate) == wanted]
    if len(matches) > 1:
        matches = [candidate for candidate in matches if spelled(candidate) == spelled(name)]
    if len(matches) == 1:
        return os.path.join(directory, matches[0] + ".yaml")
    return None  # unknown, or ambiguous


def suggest(name: str) -> str:
    import difflib

    by_form: dict[str, list[str]] = {}
    for known in names():
        by_form.setdefault(normalise(known), []).append(known)
    close = difflib.get_close_matches(normalise(name), list(by_form), n=3, cutoff=0.5)
    return ", ".join(known for form in close for known in by_form[form])
