"""What archcalc writes is safe and bounded (issue #22 items 7–9, issue #10 item 11):

* `-o FILE` is written whole or not at all (a temporary file renamed over FILE), refuses
  what is not a regular file (devices, FIFOs), a dangling symbolic link without --force and
  the spec being read;
* a tiny spec cannot make a huge per-layer view: past limits.MAX_VIEW_ROWS layers the
  table, Markdown, HTML, --chart, explain, diff --all and export refuse at once, located
  (diff without --all writes the changed layers only: refused past that many of them);
* `-o` targets fuzzed with a fixed seed: whatever the path names, a documented exit code,
  one line, no traceback, and a file is written whole at that path or nothing is;
* control, bidi and line-separator characters from a spec (names, title, reference) or a
  file name never reach the output raw, in any command or format: one mechanism
  (render/terminal.visible) escapes them on the way out."""
from __future__ import annotations

import json
import os
import re
import stat

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from conftest import ROOT

SPEC = "input: [8]\nlayers:\n  - dense: {name: fc, units: 2}\n"


@pytest.fixture
def spec(tmp_path):
    path = tmp_path / "spec.yaml"
    path.write_text(SPEC, encoding="utf-8")
    return path


# ---------------------------------------------------------------------------------- -o FILE
@pytest.mark.parametrize("target", ["/dev/zero", "/dev/null", "/dev/full"])
@pytest.mark.parametrize("command", [["show"], ["draw"], ["export"], ["export", "--force"]])
def test_o_refuses_devices(run_process, spec, command, target):
    if not os.path.exists(target):
        pytest.skip(f"{target} does not exist here")
    result = run_process(*command, spec, "-o", target, timeout=20)
    assert result.code == 2 and result.out == ""
    assert result.err == (f"archcalc: error: {target!r} is not a regular file (a device, FIFO or socket); "
                          "-o writes files only: use the shell's > for anything else\n")


def test_o_refuses_a_fifo_without_opening_it(run_process, spec, tmp_path):
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)
    for command in (["show"], ["export"], ["diff", spec]):
        result = run_process(*command, spec, "-o", fifo, timeout=20)  # it used to hang here
        assert result.code == 2 and "is not a regular file" in result.err


def test_o_dev_stdout_into_a_pipe_is_refused_not_hung(run_process, spec):
    result = run_process("show", spec, "-o", "/dev/stdout", timeout=20)
    assert result.code == 2 and "is not a regular file" in result.err


def test_o_a_dangling_symlink_needs_force(run_process, spec, tmp_path):
    link = tmp_path / "out.py"
    link.symlink_to(tmp_path / "missing.py")
    refused = run_process("export", spec, "-o", link)
    assert refused.code == 2 and "symbolic link to a file that does not exist; pass --force" in refused.err
    assert not (tmp_path / "missing.py").exists()
    shown = run_process("show", spec, "-o", link)  # show has no --force: never through such a link
    assert shown.code == 2 and not (tmp_path / "missing.py").exists()
    forced = run_process("export", spec, "-o", link, "--force")
    assert forced.code == 0 and "nn.Linear(8, 2)" in (tmp_path / "missing.py").read_text()
    assert link.is_symlink()  # the link stays; the file it names was created


@pytest.mark.parametrize("command", [["show"], ["show", "--format", "html"], ["draw"], ["export", "--force"]])
def test_o_never_overwrites_the_spec_being_read(run_process, spec, command):
    result = run_process(*command, spec, "-o", spec)
    assert result.code == 2 and "is the spec being read" in result.err
    assert spec.read_text() == SPEC


def test_diff_o_never_overwrites_either_spec(run_process, spec, tmp_path):
    other = tmp_path / "other.yaml"
    other.write_text(SPEC.replace("units: 2", "units: 3"))
    for target in (spec, other):
        result = run_process("diff", spec, other, "-o", target)
        assert result.code == 2 and "is the spec being read" in result.err
    assert spec.read_text() == SPEC


def test_o_is_atomic_a_failed_write_keeps_the_old_file(cli, spec, tmp_path, monkeypatch):
    target = tmp_path / "out.md"
    target.write_text("old report\n")

    def failing_replace(source, destination):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", failing_replace)
    result = cli("show", spec, "--format", "markdown", "-o", target)
    assert result.code == 2 and "No space left on device" in result.err
    assert target.read_text() == "old report\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.md", "spec.yaml"]  # no temporary left


def test_o_replaces_a_file_keeping_its_permissions(cli, spec, tmp_path):
    target = tmp_path / "out.md"
    target.write_text("old\n")
    target.chmod(0o640)
    assert cli("show", spec, "--format", "markdown", "-o", target).code == 0
    assert "| fc |" in target.read_text().replace("  ", " ") or "fc" in target.read_text()
    assert stat.S_IMODE(target.stat().st_mode) == 0o640


def test_o_through_a_symlink_replaces_the_file_it_names(cli, spec, tmp_path):
    real = tmp_path / "real.md"
    real.write_text("old\n")
    link = tmp_path / "link.md"
    link.symlink_to(real)
    assert cli("show", spec, "--format", "markdown", "-o", link).code == 0
    assert link.is_symlink() and "fc" in real.read_text()


# ------------------------------------------------------------------------ output amplification
TINY = "input: [4]\nlayers:\n  - repeat: {times: 490000, layers: [relu]}\n"


@pytest.mark.parametrize("command", [
    ["show"], ["show", "--format", "html"], ["show", "--format", "markdown"], ["show", "--chart"],
    ["explain"], ["export"], ["diff", "{spec}", "--all"], ["diff", "{spec}", "--format", "html"],
    ["show", "--format", "html", "-o", "{out}"],
    ["export", "-o", "{out}"],
])
def test_a_70_byte_spec_cannot_make_a_huge_view(run_process, tmp_path, command):
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY)
    assert len(TINY) <= 70
    out = tmp_path / "out.txt"
    args = [a.replace("{spec}", str(path)).replace("{out}", str(out)) for a in command]
    # bounded time: the process must end (a hang guard; speed itself is bench/bench.py's)
    result = run_process(args[0], path, *args[1:], timeout=180)
    assert result.code == 1 and result.out == ""
    # 490,000 relus > MAX_VIEW_ROWS = 50,000, pointed at the repeat (line 3, column 5)
    assert f"{path}:3:5: error[too-large] 490,000 layers: more than " in result.err
    assert "at most 50,000" in result.err
    assert not out.exists()


def test_the_view_limit_is_documented():
    from archcalc.limits import MAX_VIEW_ROWS

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert f"{MAX_VIEW_ROWS:,}" in readme and "MAX_VIEW_ROWS" in (ROOT / "archcalc" / "limits.py").read_text()


def test_json_still_streams_a_big_network(run_process, tmp_path):
    path = tmp_path / "big.yaml"
    path.write_text("input: [4]\nlayers:\n  - repeat: {times: 60000, layers: [relu]}\n")
    result = run_process("show", path, "--format", "json", timeout=60)
    assert result.code == 0
    assert len(json.loads(result.out)["layers"]) == 60_000


# ------------------------------------------------------------------------------ escaping
HOSTILE = ('name: "n\\e]0;pwned\\a"\ntitle: "t\\e[2J\\u202e"\nreference: "r\\e[31m\\x85\\u2028"\n'
           'input: [8]\nlayers:\n  - dense: {name: "d\\e[31m\\r\\u202e\\u2029\\x7f\\x9bx", units: 2}\n'
           "  - relu\n")
UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u2028-\u202e\u2066-\u2069]")


@pytest.mark.parametrize("command", [
    ["show"], ["show", "--format", "markdown"], ["show", "--format", "csv"], ["show", "--format", "json"],
    ["show", "--format", "html"], ["show", "--memory", "--rf"], ["show", "--chart"], ["show", "--connections"],
    ["explain"], ["explain", "{spec}", "nosuchlayer"], ["validate"], ["validate", "--format", "github"],
    ["validate", "--format", "json"], ["diff", "{spec}"], ["draw"], ["export"],
])
def test_no_raw_control_character_reaches_the_output(run_process, tmp_path, command):
    path = tmp_path / "hostile.yaml"
    path.write_text(HOSTILE, encoding="utf-8")
    args = [a.replace("{spec}", str(path)) for a in command]
    result = run_process(args[0], path, *args[1:])
    assert result.code in (0, 1, 2)
    assert "Traceback" not in result.err
    assert UNSAFE.findall(result.out) == [] and UNSAFE.findall(result.err) == []
    if command == ["show", "--format", "json"]:  # the data itself is exact
        assert json.loads(result.out)["layers"][0]["name"] == "d\x1b[31m\r\u202e\u2029\x7f\x9bx"


def test_file_names_with_control_characters(run_process, tmp_path):
    for name in ("a\x1b[2Jb.yaml", "a\x7fb.yaml", "a\x85b.yaml", "a\u2028b.yaml"):
        path = tmp_path / name
        path.write_text("input: [8]\nlayers: [{dense: 0}]\n")  # an error, reported with the file name
        for fmt in ("pretty", "github", "parsable", "json"):
            result = run_process("validate", path, "--format", fmt)
            assert result.code == 1
            assert UNSAFE.findall(result.out + result.err) == [], (name, fmt)


def test_coloured_pieces_are_escaped_before_styling():
    from archcalc.render.terminal import emit

    text = emit([[("d\x1b]0;t\x07", "bold"), (" x\u202e", None)]], colour=True)
    assert "\x1b]0;" not in text and "\x07" not in text and "\u202e" not in text
    assert "\\u001b]0;t\\u0007" in text and "\x1b[1m" in text  # archcalc's own bold stays


def test_visible_keeps_json_valid():
    from archcalc.render.terminal import visible

    value = "a\x1b\x7f\x85\u2028\u202e\U000e0041\tb"
    assert json.loads(visible(json.dumps(value, ensure_ascii=False))) == value


# ------------------------------------------------------------------ -o targets, fuzzed
def _o_target(base, shape: str, name: str):
    """A path of the given shape under ``base`` (created as the shape says) and what was there."""
    path = base / name
    if shape == "new":
        pass
    elif shape == "existing":
        path.write_text("old contents\n")
    elif shape == "read-only":
        path.write_text("old contents\n")
        path.chmod(0o444)
    elif shape == "read-only directory":
        (base / "ro").mkdir()
        path = base / "ro" / name
        (base / "ro").chmod(0o555)
    elif shape == "directory":
        path.mkdir()
    elif shape == "missing parent":
        path = base / "no" / "such" / name
    elif shape == "dangling link":
        path.symlink_to(base / "elsewhere")
    elif shape == "link loop":
        path.symlink_to(path)
    elif shape == "fifo":
        os.mkfifo(path)
    elif shape == "the spec":
        path = base / "spec.yaml"
    elif shape == "trailing slash":
        path = base / name
        return str(path) + "/"
    elif shape.startswith("/dev/"):
        return shape
    return str(path)


def _snapshot(base):
    """Every path under ``base`` with what it is and holds (the spec's too)."""
    found = {}
    for root, dirs, files in os.walk(base):
        for entry in dirs + files:
            p = os.path.join(root, entry)
            if os.path.islink(p):
                found[p] = ("link", os.readlink(p))
            elif os.path.isdir(p):
                found[p] = ("dir", None)
            elif stat.S_ISFIFO(os.lstat(p).st_mode):
                found[p] = ("fifo", None)
            else:
                with open(p, "rb") as handle:
                    found[p] = ("file", handle.read())
    return found


O_SHAPES = ["new", "existing", "read-only", "read-only directory", "directory", "missing parent",
            "dangling link", "link loop", "fifo", "the spec", "trailing slash", "/dev/null", "/dev/full",
            "/dev/zero"]
O_NAMES = ["out", "out.svg", "out.html", "out.md", "out.json", "out.py", "out.yaml", "OUT.SVG", "x" * 300,
           "a\x1b[2Jb.svg", "new\nline.py", "\u202eevil.py", "-", "--help", ".archcalc-x.tmp", "ｏｕｔ.py",
           " .svg", "out.svg.py"]
O_COMMANDS = [["show"], ["show", "--format", "html"], ["show", "--format", "markdown"], ["draw"],
              ["export"], ["export", "--force"], ["diff", "{spec}"], ["list", "lenet"]]


@settings(max_examples=120 if os.environ.get("CI", "").lower() == "true" else 30, deadline=None,
          derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(shape=st.sampled_from(O_SHAPES), name=st.sampled_from(O_NAMES), command=st.sampled_from(O_COMMANDS))
def test_o_targets_fuzzed(cli, tmp_path_factory, shape, name, command):
    """Whatever -o names, a documented exit code (0 written, 2 refused: one line on standard
    error, no raw control character, no traceback) and either the whole output at that path
    or nothing changed at all (no temporary file left behind)."""
    base = tmp_path_factory.mktemp("o")
    spec = base / "spec.yaml"
    spec.write_text(SPEC, encoding="utf-8")
    try:
        target = _o_target(base, shape, name)
    except OSError:  # a name too long to create what the shape asks: only "new" tries it
        assume(False)
    before = _snapshot(base)
    args = [a.replace("{spec}", str(spec)) for a in command]
    if args[0] == "list":
        argv = [*args, "-o", target]
    else:
        argv = [args[0], str(spec), *args[1:], "-o", target]
    try:
        result = cli(*argv)
    finally:
        for root, dirs, _ in os.walk(base):
            for d in dirs:
                os.chmod(os.path.join(root, d), 0o755)
    assert result.code in (0, 2), (argv, result)
    assert "Traceback" not in result.err and "internal error" not in result.err, (argv, result)
    assert not re.search("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028-\u202e]", result.err), (argv, result.err)
    after = _snapshot(base)
    assert not [p for p in after if os.path.basename(p).startswith(".archcalc-") and p not in before
                and p != os.path.realpath(target)]
    if result.code == 2:
        assert result.err.count("\n") == 1 and result.err.startswith("archcalc: error: "), result.err
        assert after == before, argv
        return
    # written: to standard output for "-", else the target (or the file a link names) holds it
    if target == "-":
        assert result.out and after == before
        return
    assert result.out == ""
    real = os.path.realpath(target)
    assert os.path.isfile(real) and os.path.getsize(real) > 0
    changed = {p for p in set(before) | set(after) if before.get(p) != after.get(p)}
    assert changed == {real}, (argv, changed)
    assert after[real][1] != b"old contents\n" or shape not in ("existing",)
