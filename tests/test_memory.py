"""Activation memory, byte figures, `--batch` and `--dtype` (metrics.py states the conventions).

Every expected number is worked by hand in the comments.
"""
from __future__ import annotations

import json

import pytest
from conftest import SPECS


def show_json(cli, *args):
    result = cli("show", *args, "--format", "json")
    assert result.err == ""
    return result.code, json.loads(result.out)


def by_kind(data, *kinds):
    return sum(layer["activations"] for layer in data["layers"] if layer["kind"] in kinds)


# ------------------------------------------------------------------------------ VGG-16
def test_vgg16_forward_activations(cli):
    # Conv outputs (two or three convs per stage, H·W·C each):
    #   224·224·64·2 = 6,422,528   112·112·128·2 = 3,211,264   56·56·256·3 = 2,408,448
    #   28·28·512·3 = 1,204,224    14·14·512·3 = 301,056               sum 13,547,520
    # Pool outputs: 112·112·64 = 802,816, 56·56·128 = 401,408, 28·28·256 = 200,704,
    #   14·14·512 = 100,352, 7·7·512 = 25,088                           sum 1,530,368
    # Dense outputs: 4096 + 4096 + 1000 = 9,192
    # Total 13,547,520 + 1,530,368 + 9,192 = 15,087,080.
    code, data = show_json(cli, "vgg16")
    assert code == 0
    assert by_kind(data, "conv") == 13_547_520
    assert by_kind(data, "maxpool") == 1_530_368
    assert by_kind(data, "dense") == 9_192
    assert by_kind(data, "relu", "dropout", "flatten") == 0  # in place / a view
    totals = data["totals"]
    assert totals["activations"] == 15_087_080
    assert totals["activations"] == sum(layer["activations"] for layer in data["layers"])
    assert totals["activation_bytes"] == 4 * 15_087_080
    # 138,357,544 fp32 weights: 553,430,176 bytes, the "~553 MB" of the lecture
    assert totals["param_bytes"] == 553_430_176
    # Peak: conv1_2 reads conv1_1's output while writing its own: 2·224·224·64 = 6,422,528
    # values (more than the 150,528 input values plus conv1_1's output).
    assert totals["peak_activation_bytes"] == 4 * 6_422_528


def test_vgg16_with_torchvision_pool_reaches_the_published_figure(cli, spec_file):
    # The figure 15,112,168 (pools 1,555,456) counts torchvision's VGG, whose
    # AdaptiveAvgPool2d((7, 7)) after the last max pool stores another 7·7·512 = 25,088
    # values: 1,530,368 + 25,088 = 1,555,456 and 15,087,080 + 25,088 = 15,112,168.
    # Adding that pool (an identity 1×1 average pool at 7×7) reproduces it exactly.
    text = (SPECS / "vgg16.yaml").read_text().replace(
        "  - flatten: {name: flatten", "  - avgpool: {name: avgpool, size: 1}\n  - flatten: {name: flatten")
    code, data = show_json(cli, spec_file(text))
    assert code == 0
    assert by_kind(data, "maxpool", "avgpool") == 1_555_456
    assert data["totals"]["activations"] == 15_112_168


# --------------------------------------------------------------------- small networks
def test_lenet5_memory_and_training_estimate(cli):
    # Stored outputs: c1 28·28·6 = 4,704, s2 14·14·6 = 1,176, c3 10·10·16 = 1,600,
    # s4 5·5·16 = 400, c5 120, f6 84, output 10 (flatten is a view) = 8,094.
    # Peak: c3 needs s2 (1,176) and writes 1,600 = 2,776; c1 needs the input (32·32 = 1,024)
    # and writes 4,704 = 5,728; s2 needs c1's 4,704 and writes 1,176 = 5,880 (the peak).
    code, data = show_json(cli, "lenet5")
    assert code == 0
    totals, memory = data["totals"], data["memory"]
    assert totals["activations"] == 8_094
    assert totals["peak_activation_bytes"] == 4 * 5_880
    # The training ledger by hand (docs/metrics.md). Saved for backward: c1's fused tanh its
    # output 28·28·6 = 4,704 (c1's input is the network input, the ledger's `input`); s2 its
    # input, c1's output, already saved; c3 its input 14·14·6 = 1,176 and its tanh output
    # 10·10·16 = 1,600; s4 c3's output (saved); flatten a view; c5 its input 400 and tanh output
    # 120; f6 its input (c5's output, saved) and its output 84; output its input (saved):
    # 4,704 + 2,776 + 520 + 84 = 8,084 values = 32,336 B.
    # The backward walk, last layer first (alive = saved by layers up to i, gradients of layers
    # i and after, transient = (input + output of layer i)·4): the most is at c1, with every
    # gradient (61,706·4 = 246,824), c1's 18,816 saved bytes and (1,024 + 4,704)·4 = 22,912 of
    # transient: 288,552. Peak = weights 246,824 + state + input 4,096 + 288,552 + the 65 MiB
    # workspace (68,157,440): SGD 68,696,912; SGD-momentum adds 246,824 (68,943,736), Adam
    # twice that (69,190,560).
    assert memory["training_bytes"] == {"sgd": 68_696_912, "sgd_momentum": 68_943_736, "adam": 69_190_560}
    assert memory["ledger"] == {
        "optimizer": "sgd_momentum", "amp": None, "attention": "math", "batch": 1, "weights": 246_824, "gradients": 246_824, "optimizer_state": 246_824,
        "input": 4_096, "saved_activations": 32_336, "backward_transient": 22_912,
        "workspace": 68_157_440, "peak": 68_943_736}
    del memory["training_bytes"], memory["ledger"]
    assert memory == {
        "batch": 1, "dtype": "fp32", "bytes_per_value": 4, "input_values": 1_024,
        "merge_activations": 0, "peak_activations": 5_880,
    }
    assert [layer["saved_bytes"] for layer in data["layers"]] == \
        [4 * 4_704, 0, 4 * 2_776, 0, 0, 4 * 520, 4 * 84, 0]


def test_batch_and_dtype_scale_exactly_what_they_should(cli):
    _, base = show_json(cli, "lenet5")
    code, scaled = show_json(cli, "lenet5", "--batch", "8", "--dtype", "fp16")
    assert code == 0
    b, t = base["totals"], scaled["totals"]
    # scaled by the batch: MACs (416,520 per image), FLOPs, activations, peak
    assert t["macs"] == 8 * 416_520 and t["flops"] == 2 * 8 * 416_520
    assert t["activations"] == 8 * 8_094
    assert t["activation_bytes"] == 2 * 8 * 8_094
    assert t["peak_activation_bytes"] == 2 * 8 * 5_880
    # not scaled: parameters (only their bytes follow the dtype), depth, layers
    assert (t["params"], t["buffers"], t["depth"], t["layers"]) == \
        (b["params"], b["buffers"], b["depth"], b["layers"])
    assert t["param_bytes"] == 2 * 61_706
    for before, after in zip(base["layers"], scaled["layers"]):
        assert after["macs"] == 8 * before["macs"]
        assert after["activations"] == 8 * before["activations"]
        assert after["params"] == before["params"]
    assert scaled["memory"]["batch"] == 8 and scaled["memory"]["bytes_per_value"] == 2
    # int8 and bf16: one and two bytes per value
    _, int8 = show_json(cli, "lenet5", "--dtype", "int8")
    assert int8["totals"]["param_bytes"] == 61_706
    _, bf16 = show_json(cli, "lenet5", "--dtype", "bf16")
    assert bf16["totals"]["activation_bytes"] == 2 * 8_094


def test_batch_leaves_pinned_totals_per_sample(cli):
    # lenet5's spec pins macs: 416520 (one image); a batch of 4 must not break that check
    result = cli("show", "lenet5", "--batch", "4", "--format", "json")
    assert result.code == 0 and result.err == ""
    assert json.loads(result.out)["diagnostics"] == []


def test_bad_batch_and_dtype_are_usage_errors(cli):
    for args in (("--batch", "0"), ("--batch", "x"), ("--dtype", "fp64")):
        result = cli("show", "lenet5", *args)
        assert result.code == 2 and result.out == "" and "Invalid value" in result.err


def test_peak_keeps_branch_inputs_alive_until_the_merge(cli, spec_file):
    # input 4·4·2 = 32 values.
    #   branch1 conv 1×1 → 4·4·3 = 48: live 32 + 48 = 80 (the input is held for branch 2)
    #   branch2 conv 1×1 → 4·4·5 = 80: live 80 + 80 = 160
    #           conv 1×1 → 4·4·1 = 16: live 160 + 16 = 176 (peak), then its input goes: 96
    #   concat → 4·4·4 = 64: live 96 + 64 = 160, then both branch outputs and the input go: 64
    # Forward activations 48 + 80 + 16 + 64 (the merge) = 208.
    path = spec_file("input: [4, 4, 2]\nlayers:\n  - parallel:\n      branches:\n"
                     "        - [conv: {filters: 3, kernel: 1}]\n"
                     "        - [conv: {filters: 5, kernel: 1}, conv: {filters: 1, kernel: 1}]\n")
    code, data = show_json(cli, path)
    assert code == 0
    assert data["totals"]["activations"] == 208
    assert data["memory"]["merge_activations"] == 64
    assert data["memory"]["peak_activations"] == 176
    assert sum(layer["activations"] for layer in data["layers"]) + 64 == 208


def test_peak_of_a_residual_block(cli, spec_file):
    # input 4·4·2 = 32. conv 3×3 pad 1 → 32 (live 64, the input held by the shortcut);
    # relu in place; add → 32 (live 96, the peak), then the conv output and the input go.
    # Three such blocks in a row never exceed 96; activations 3·(32 + 32) = 192.
    path = spec_file("input: [4, 4, 2]\nlayers:\n  - repeat:\n      times: 3\n      layers:\n"
                     "        - residual: {layers: [conv: {filters: 2, kernel: 3, padding: 1}, relu]}\n")
    code, data = show_json(cli, path)
    assert code == 0
    assert data["memory"]["peak_activations"] == 96
    assert data["totals"]["activations"] == 192


def test_flat_network_memory(cli, spec_file):
    # 784 inputs; dense 100 (stored), relu (in place), dense 10: activations 110;
    # peak: 784 + 100 = 884 while the first dense runs.
    path = spec_file("input: [784]\nlayers: [dense: 100, relu, dense: 10]\n")
    code, data = show_json(cli, path)
    assert code == 0
    assert data["totals"]["activations"] == 110
    assert data["memory"]["peak_activations"] == 884
    assert [layer["receptive_field"] for layer in data["layers"]] == [None, None, None]


def test_memory_on_a_huge_repeat(run_process, tmp_path):
    # speed is measured by bench/bench.py, not asserted here; a runaway would hit the timeout
    path = tmp_path / "huge.yaml"
    path.write_text("input: [8, 8, 4]\nlayers:\n  - repeat:\n      times: 100000\n"
                    "      layers: [conv: {filters: 4, kernel: 3, padding: 1}, relu]\n")
    result = run_process("show", path, "--format", "json", timeout=60)
    assert (result.code, result.err) == (0, "")
    import json

    totals = json.loads(result.out)["totals"]
    # each conv stores 8·8·4 = 256 values, relus none: 100,000 · 256 = 25,600,000
    assert (totals["activations"], totals["layers"]) == (25_600_000, 200_000)


def test_table_memory_and_rf_columns_are_opt_in(cli):
    plain = cli("show", "lenet5", "--width", "100")
    assert plain.code == 0 and "Acts" not in plain.out and "Memory" not in plain.out
    result = cli("show", "lenet5", "--memory", "--rf", "--width", "100")
    assert (result.code, result.err) == (0, "")
    rows = {line.split()[1]: line.split() for line in result.out.splitlines() if line[:3].strip().isdigit()}
    # s4: 5·5·16 = 400 values · 4 B = 1.60 KB; receptive field 16, jump 4 (see
    # test_receptive_field.py for the recurrence by hand)
    assert rows["s4"][-3:] == ["1.60", "KB", "16/4"]
    # the footer: activations 8,094·4 = 32,376 B, peak 5,880·4 = 23,520 B, weights
    # 61,706·4 = 246,824 B; training: the ledger's peaks of test_lenet5_memory_and_training_
    # estimate, 68,943,736 B (SGD-momentum) and 69,190,560 B (Adam)
    assert "activations 32.4 KB   peak 23.5 KB   weights 247 KB   (fp32, batch 1)" in result.out
    assert "≈ 68.9 MB with SGD-momentum, 69.2 MB with Adam" in result.out


@pytest.mark.parametrize("options", [(), ("--dtype", "fp16"), ("--amp", "bf16")])
def test_token_ids_are_int64_in_every_setting(cli, options):
    # PyTorch's embedding reads a LongTensor: 16 ids at 8 bytes = 128 bytes, whatever the
    # activations' dtype, and autocast never casts them (no 2-byte copy saved)
    result = cli("show", "gpt2", "--seq", "16", "--format", "json", *options)
    assert result.code == 0, result.err
    ledger = json.loads(result.out)["memory"]["ledger"]
    assert ledger["input"] == 16 * 8


def test_the_saved_column_by_hand(cli):
    # resnet18 at 224, batch 1, fp32 (see test_training_memory.test_resnet18_stem_by_hand):
    # bn1 saves conv1's output, 64·112·112·4 = 3,211,264 B, and 2·64 fp32 statistics, 512 B:
    # 3,211,776 B (3.21 MB); relu its output, 3,211,264 B; the max pool its 64·56·56 int64
    # indices, 200,704·8 = 1,605,632 B (1.61 MB; its input relu saved); conv1 nothing (its
    # input is the network input)
    result = cli("show", "resnet18", "--memory", "--width", "200")
    assert result.code == 0, result.err
    header = next(line for line in result.out.splitlines() if line.lstrip().startswith("#"))
    assert header.split()[-2:] == ["Acts", "Saved"]
    rows: dict = {}
    for line in result.out.splitlines():
        if line[:3].strip().isdigit():
            rows.setdefault(line.split()[1], line)  # the stem's, not the blocks' bn1 and relu
    assert rows["bn1"].split()[-4:] == ["3.21", "MB", "3.21", "MB"]
    assert rows["relu"].split()[-2:] == ["3.21", "MB"]
    assert rows["maxpool"].split()[-2:] == ["1.61", "MB"]
    assert rows["conv1"].split()[-2:] == ["3.21", "MB"]  # its Acts only: no Saved
    import csv

    csv_out = list(csv.reader(cli("show", "resnet18", "--memory", "--format", "csv").out.splitlines()))
    head = csv_out[0]
    by_name: dict = {}
    for row in csv_out[1:]:
        by_name.setdefault(row[1], row)
    at = head.index("saved_bytes")
    assert [int(by_name[n][at]) for n in ("conv1", "bn1", "relu", "maxpool")] == \
        [0, 3_211_264 + 512, 3_211_264, 1_605_632]
    # at batch 8 in fp16 the per-sample tensors scale by 8 and take 2 bytes; the statistics
    # stay 2·64 fp32 values
    data = json.loads(cli("show", "resnet18", "--batch", "8", "--dtype", "fp16", "--format", "json").out)
    assert data["layers"][1]["saved_bytes"] == 8 * 64 * 112 * 112 * 2 + 512
