"""The built-in zoo: spec files shipped inside the package, looked up by forgiving names."""
from __future__ import annotations

import os

_HERE = os.path.dirname(os.path.abspath(__file__))


def zoo_dir() -> str:
    """Installed: archcalc/_zoo (package data). Source checkout: the repository's specs/."""
    installed = os.path.join(_HERE, "_zoo")
    if os.path.isdir(installed):
        return installed
    return os.path.join(os.path.dirname(_HERE), "specs")


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


def find(name: str) -> str | None:
    """The path of a built-in spec, or None."""
    wanted = normalise(name)
    if not wanted:
        return None
    directory = zoo_dir()
    known = names()
    # the name as written first: regnet_x_16gf and regnet_x_1_6gf normalise alike
    for candidate in known:
        if candidate.lower() == name.lower():
            return os.path.join(directory, candidate + ".yaml")
    matches = [candidate for candidate in known if normalise(candidate) == wanted]
    if len(matches) == 1:
        return os.path.join(directory, matches[0] + ".yaml")
    return None  # unknown, or ambiguous (suggest() names the candidates)


def suggest(name: str) -> str:
    import difflib

    by_form: dict[str, list[str]] = {}
    for known in names():
        by_form.setdefault(normalise(known), []).append(known)
    close = difflib.get_close_matches(normalise(name), list(by_form), n=3, cutoff=0.5)
    return ", ".join(known for form in close for known in by_form[form])
