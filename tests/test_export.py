"""`archcalc export`: the command's behaviour and the code it writes, without torch (the
numbers of the exported modules are refereed by PyTorch in tests/test_referee.py)."""
from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import ROOT, require_tool

LENET = (ROOT / "specs" / "lenet5.yaml").read_text(encoding="utf-8")


def test_writes_a_module_to_standard_output(cli):
    result = cli("export", "lenet5")
    assert result.code == 0 and result.err == ""
    compile(result.out, "lenet5.py", "exec")
    # the spec: c1 is conv 6 filters 5×5 over 1 channel with tanh; c5 is dense 400 -> 120
    assert "self.c1 = nn.Conv2d(1, 6, kernel_size=5)" in result.out
    assert "x = torch.tanh(self.c1(x))" in result.out
    assert "self.c5 = nn.Linear(400, 120)" in result.out
    assert "INPUT_SHAPE = (1, 1, 32, 32)" in result.out  # [32, 32, 1] as (N, C, H, W)
    assert "def build() -> nn.Module:" in result.out
    assert "61,706 parameters" in result.out  # the spec's own hand sum: 156 + 2416 + 48120 + 10164 + 850


def test_blocks_become_classes_with_their_arguments(cli):
    result = cli("export", "vgg16")
    assert result.code == 0
    # the `stage` block: args {filters, convs}; the channels come in first
    assert "def __init__(self, in_channels, *, filters):" in result.out
    assert "nn.Conv2d(in_channels, filters, kernel_size=3, padding=1)" in result.out
    assert "self.block1 = Stage(3, filters=64)" in result.out


def test_same_padding_is_an_explicit_pad_when_uneven(cli, spec_file):
    # 8 rows, kernel 3, stride 2: out = ⌈8/2⌉ = 4 needs (4 − 1)·2 + 3 − 8 = 1 row of padding,
    # the smaller half (0) first: F.pad's (left, right, top, bottom) = (0, 1, 0, 1)
    path = spec_file("input: [8, 8, 3]\nlayers:\n  - conv: {filters: 4, kernel: 3, stride: 2, padding: same}\n")
    result = cli("export", path)
    assert result.code == 0
    assert "self.conv1 = nn.Conv2d(3, 4, kernel_size=3, stride=2)" in result.out
    assert "x = self.conv1(F.pad(x, (0, 1, 0, 1)))" in result.out
    assert "import torch.nn.functional as F" in result.out


def test_even_same_padding_is_pytorch_padding(cli, spec_file):
    # stride 1, kernel 3: 2 rows of padding, 1 per side
    path = spec_file("input: [8, 8, 3]\nlayers:\n  - conv: {filters: 4, kernel: 3, padding: same}\n")
    result = cli("export", path)
    assert "nn.Conv2d(3, 4, kernel_size=3, padding=1)" in result.out
    assert "F.pad" not in result.out and "import torch.nn.functional" not in result.out


def test_maxpool_pads_with_minus_infinity(cli, spec_file):
    path = spec_file("input: [9, 9, 3]\nlayers:\n  - maxpool: {size: 2, padding: [0, 1, 0, 1]}\n")
    result = cli("export", path)
    assert "x = self.maxpool1(F.pad(x, (0, 1, 0, 1), value=float(\"-inf\")))" in result.out


def test_a_spec_with_errors_is_not_exported(cli, spec_file):
    path = spec_file("input: [8, 8, 3]\nlayers:\n  - conv: {filters: 4, kernel: 9}\n")
    result = cli("export", path)
    validate = cli("validate", path)
    assert result.code == 1 and validate.code == 1
    assert result.out == ""
    assert result.err == validate.out  # printed as validate prints them


def test_a_layer_named_like_a_module_attribute_is_a_located_error(cli, spec_file):
    text = "input: [8]\nlayers:\n  - dense: 4\n  - dense: {name: training, units: 2}\n"
    result = cli("export", spec_file(text))
    assert result.code == 1 and result.out == ""
    assert ":4:5: error[not-exportable] training:" in result.err


def test_output_file_is_never_overwritten_unless_forced(cli, tmp_path):
    target = tmp_path / "lenet.py"
    assert cli("export", "lenet5", "-o", target) == (0, "", "")
    written = target.read_text(encoding="utf-8")
    assert "class Lenet5(nn.Module):" in written
    assert cli("export", "lenet5", "-o", target).code == 0  # the same text: nothing to refuse
    target.write_text("# my own edits\n", encoding="utf-8")
    refused = cli("export", "lenet5", "-o", target)
    assert refused.code == 2 and "--force" in refused.err
    assert target.read_text(encoding="utf-8") == "# my own edits\n"
    assert cli("export", "lenet5", "-o", target, "--force").code == 0
    assert target.read_text(encoding="utf-8") == written


def test_input_override_and_target_choice(cli):
    result = cli("export", "lenet5", "--input", "36x36x1", "--to", "pytorch")
    assert result.code == 0
    assert "INPUT_SHAPE = (1, 1, 36, 36)" in result.out
    # 36 − 4 = 32, /2 = 16, − 4 = 12, /2 = 6: 6·6·16 = 576 features into c5
    assert "self.c5 = nn.Linear(576, 120)" in result.out
    assert cli("export", "lenet5", "--to", "onnx").code == 2


def test_export_does_not_import_torch(tmp_path):
    code = ("import sys, runpy; sys.argv = ['archcalc', 'export', 'resnet50', '-o', sys.argv[1]]\n"
            "try:\n    runpy.run_module('archcalc', run_name='__main__')\n"
            "except SystemExit as exit:\n    assert exit.code == 0, exit.code\n"
            "assert 'torch' not in sys.modules, 'torch was imported'\n")
    out = tmp_path / "r50.py"
    done = subprocess.run([sys.executable, "-c", code, str(out)], cwd=ROOT, capture_output=True, text=True,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}, timeout=120)
    assert done.returncode == 0, done.stderr
    assert out.stat().st_size > 0


@pytest.mark.parametrize("name", ["alexnet", "googlenet", "resnet50", "lenet5", "swin_v2_t", "maxvit_t"])
def test_generated_code_is_ruff_clean(cli, tmp_path, name):
    ruff = require_tool("ruff")
    path = tmp_path / f"{name}.py"
    path.write_text(cli("export", name).out, encoding="utf-8")
    done = subprocess.run([ruff, "check", "--no-cache", "--isolated", str(path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout


def test_symbolic_integers_write_their_expression():
    from archcalc.layers.base import Sym

    width = Sym(64, "width")
    assert (str(width * 4), int(width * 4)) == ("width * 4", 256)
    assert str((width + 1) * 4) == "(width + 1) * 4"
    assert str(7 * 7 * width) == "49 * width"  # 7 · 7 is folded, the symbol kept
    assert str(width - (width - 1)) == "width - (width - 1)"
    assert str(width + 0) == "width" and str(width * 1) == "width"
    assert width == 64 and hash(width) == hash(64)
