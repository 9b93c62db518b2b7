"""Receptive fields (JSON `receptive_field`: size, jump, start per axis).

Two independent sources:

* the recurrence worked by hand for LeNet-5, AlexNet and VGG-16 (comments below), and
* a brute force: a tiny interpreter that pushes, through every layer, the set of input
  pixels each output pixel depends on (a bit mask per pixel; a window ORs the masks it
  covers; a merge ORs its branches). Its bounding box must equal the analytic span
  ``start + i·jump … start + i·jump + size − 1`` clipped to the input, for every output
  pixel of every layer checked.

The small networks below are written once in a little op language and turned both into a
YAML spec (for archcalc) and into brute-force steps, so both see the same network.
"""
from __future__ import annotations

import json
import pytest
from conftest import analyse_text as analyse


def show_json(cli, *args):
    result = cli("show", *args, "--format", "json")
    assert result.code in (0, 1), result.err
    return json.loads(result.out)


def fields_by_name(data):
    return {layer["name"]: layer["receptive_field"] for layer in data["layers"]}


# ------------------------------------------------------------------------ by hand
def test_lenet5_by_hand(cli):
    # r_out = r_in + (k − 1)·j_in, j_out = j_in·s, start_out = start_in − p·j_in; no padding,
    # so every start stays 0.
    #   c1 conv 5/1:   r = 1 + 4·1 = 5,    j = 1
    #   s2 pool 2/2:   r = 5 + 1·1 = 6,    j = 2
    #   c3 conv 5/1:   r = 6 + 4·2 = 14,   j = 2
    #   s4 pool 2/2:   r = 14 + 1·2 = 16,  j = 4
    #   flatten: one 5×5 window: r = 16 + 4·4 = 32 = the whole 32×32 input, j = 4·5 = 20
    rf = fields_by_name(show_json(cli, "lenet5"))
    assert rf["c1"] == {"size": [5, 5], "jump": [1, 1], "start": [0, 0]}
    assert rf["s2"] == {"size": [6, 6], "jump": [2, 2], "start": [0, 0]}
    assert rf["c3"] == {"size": [14, 14], "jump": [2, 2], "start": [0, 0]}
    assert rf["s4"] == {"size": [16, 16], "jump": [4, 4], "start": [0, 0]}
    for dense_layer in ("flatten", "c5", "f6", "output"):
        assert rf[dense_layer] == {"size": [32, 32], "jump": [20, 20], "start": [0, 0]}


def test_alexnet_by_hand(cli):
    #   conv1 11/4:        r = 11,              j = 4
    #   pool1 3/2:         r = 11 + 2·4 = 19,   j = 8
    #   conv2 5/1 pad 2:   r = 19 + 4·8 = 51,   j = 8,  start = −2·8 = −16
    #   pool2 3/2:         r = 51 + 2·8 = 67,   j = 16
    #   conv3..5 3/1 pad 1: r = 67 + 2·16 = 99, 131, 163; start −16 − 3·16 = −64
    #   pool5 3/2:         r = 163 + 2·16 = 195, j = 32
    rf = fields_by_name(show_json(cli, "alexnet"))
    assert rf["conv1"] == {"size": [11, 11], "jump": [4, 4], "start": [0, 0]}
    assert rf["conv2"] == {"size": [51, 51], "jump": [8, 8], "start": [-16, -16]}
    assert rf["conv5"]["size"] == [163, 163]
    assert rf["pool5"] == {"size": [195, 195], "jump": [32, 32], "start": [-64, -64]}


def test_vgg16_by_hand(cli):
    # Each 3×3/1 pad-1 conv adds 2·j, each 2×2/2 pool adds 1·j and doubles j:
    #   block1: 3, 5, pool 6 (j 2);  block2: 10, 14, pool 16 (j 4)
    #   block3: 24, 32, 40, pool 44 (j 8);  block4: 60, 76, 92, pool 100 (j 16)
    #   block5: 132, 164, 196 (conv5_3), pool 212 (j 32)
    # start: −1 per conv in block 1, then −j per conv: −2, −6, −18, −42, −90.
    rf = fields_by_name(show_json(cli, "vgg16"))
    assert rf["block5.conv3"] == {"size": [196, 196], "jump": [16, 16], "start": [-90, -90]}
    assert rf["block5.maxpool1"] == {"size": [212, 212], "jump": [32, 32], "start": [-90, -90]}
    # flatten is one 7×7 window: 212 + 6·32 = 404 ≥ 224, centred on the image
    assert rf["fc8"]["size"] == [404, 404] and rf["fc8"]["start"] == [-90, -90]


def test_dilation_and_flat_input(cli, spec_file):
    # dilation 2, kernel 3: effective kernel 2·(3 − 1) + 1 = 5 -> r = 5; then a 3×3/1 conv
    # at dilation 3 (e = 7) adds 6·1 -> r = 11
    path = spec_file("input: [16, 16, 1]\nlayers:\n"
                     "  - conv: {name: a, filters: 2, kernel: 3, dilation: 2}\n"
                     "  - conv: {name: b, filters: 2, kernel: 3, dilation: 3, padding: 3}\n")
    rf = fields_by_name(show_json(cli, path))
    assert rf["a"] == {"size": [5, 5], "jump": [1, 1], "start": [0, 0]}
    assert rf["b"] == {"size": [11, 11], "jump": [1, 1], "start": [-3, -3]}
    flat = spec_file("input: [10]\nlayers: [dense: {name: d, units: 3}]\n")
    assert fields_by_name(show_json(cli, flat)) == {"d": None}


# ---------------------------------------------------------------- the brute force
# Ops: ("conv", k, s, p, d) | ("pool", k, s, p, ceil) | ("global",) | ("relu",)
#      ("parallel", [branch, ...]) | ("residual", main, shortcut)  (branches are op lists)

def out_size(n, e, s, p, ceil=False):
    span = n + 2 * p - e
    out = (-(-span // s) if ceil else span // s) + 1
    if ceil and (out - 1) * s >= n + p:  # PyTorch: no window may start in the end padding
        out -= 1
    return out


def brute_window(grid, k, s, p, d=1, ceil=False):
    h, w = len(grid), len(grid[0])
    e = d * (k - 1) + 1
    ho, wo = out_size(h, e, s, p, ceil), out_size(w, e, s, p, ceil)
    out = []
    for y in range(ho):
        row = []
        for x in range(wo):
            mask = 0
            for ky in range(k):
                for kx in range(k):
                    iy, ix = y * s - p + ky * d, x * s - p + kx * d
                    if 0 <= iy < h and 0 <= ix < w:
                        mask |= grid[iy][ix]
            row.append(mask)
        out.append(row)
    return out


def brute(ops, grid, record, names):
    """Run ops on a grid of masks; record[name] = the grid after each leaf op."""
    for op in ops:
        kind = op[0]
        if kind == "conv":
            grid = brute_window(grid, op[1], op[2], op[3], d=op[4])
        elif kind == "pool":
            grid = brute_window(grid, op[1], op[2], op[3], ceil=op[4])
        elif kind == "global":
            mask = 0
            for row in grid:
                for m in row:
                    mask |= m
            grid = [[mask]]
        elif kind in ("parallel", "residual"):
            branches = op[1] if kind == "parallel" else [op[1], op[2]]
            outs = [brute(branch, grid, record, names) for branch in branches]
            grid = [[0] * len(outs[0][0]) for _ in outs[0]]
            for branch_grid in outs:
                assert len(branch_grid) == len(grid)
                for y, row in enumerate(branch_grid):
                    for x, m in enumerate(row):
                        grid[y][x] |= m
            continue
        # ("relu",): per position
        record[next(names)] = grid
    return grid


def to_yaml(ops, names, indent="  ") -> list[str]:
    lines = []
    for op in ops:
        kind = op[0]
        if kind == "conv":
            lines.append(f"{indent}- conv: {{name: {next(names)}, filters: 4, kernel: {op[1]}, stride: {op[2]}, "
                         f"padding: {op[3]}, dilation: {op[4]}}}")
        elif kind == "pool":
            lines.append(f"{indent}- maxpool: {{name: {next(names)}, size: {op[1]}, stride: {op[2]}, "
                         f"padding: {op[3]}, ceil: {str(op[4]).lower()}}}")
        elif kind == "global":
            lines.append(f"{indent}- globalavgpool: {{name: {next(names)}}}")
        elif kind == "relu":
            lines.append(f"{indent}- relu: {{name: {next(names)}}}")
        elif kind == "parallel":
            lines.append(f"{indent}- parallel:")
            lines.append(f"{indent}    merge: add")
            lines.append(f"{indent}    branches:")
            for branch in op[1]:
                body = to_yaml(branch, names, indent + "        ")
                lines.append(f"{indent}      - " + ("[]" if not body else ""))
                lines += body
        else:
            lines.append(f"{indent}- residual:")
            lines.append(f"{indent}    layers:")
            lines += to_yaml(op[1], names, indent + "      ")
            lines.append(f"{indent}    shortcut:" + ("" if op[2] else " []"))
            lines += to_yaml(op[2], names, indent + "      ")
    return lines


def layer_names():
    n = 0
    while True:
        n += 1
        yield f"L{n}"


def check_against_brute_force(cli, spec_file, ops, size):
    text = f"input: [{size}, {size}, 4]\nlayers:\n" + "\n".join(to_yaml(ops, layer_names())) + "\n"
    data = show_json(cli, spec_file(text))
    assert not [d for d in data["diagnostics"] if d["severity"] == "error"], data["diagnostics"]
    analytic = {layer["name"].rsplit(".", 1)[-1]: layer["receptive_field"] for layer in data["layers"]}
    grid = [[1 << (y * size + x) for x in range(size)] for y in range(size)]
    record = {}
    brute(ops, grid, record, layer_names())
    assert set(record) == set(analytic)
    for name, out in record.items():
        rf = analytic[name]
        for y, row in enumerate(out):
            for x, mask in enumerate(row):
                pixels = [(i // size, i % size) for i in range(size * size) if mask >> i & 1]
                box = (min(p[0] for p in pixels), max(p[0] for p in pixels),
                       min(p[1] for p in pixels), max(p[1] for p in pixels))
                spans = []
                for axis, i in ((0, y), (1, x)):
                    first = rf["start"][axis] + i * rf["jump"][axis]
                    spans += [max(first, 0), min(first + rf["size"][axis] - 1, size - 1)]
                assert box == tuple(spans), (name, y, x, box, rf)
    return analytic


def test_branched_net_agrees_with_brute_force(cli, spec_file):
    ops = [
        ("conv", 3, 1, 1, 1),
        ("parallel", [
            [("conv", 1, 1, 0, 1)],
            [("conv", 3, 1, 1, 1), ("conv", 3, 1, 1, 1)],
            [("pool", 3, 1, 1, False), ("conv", 3, 1, 2, 2)],  # dilated: e = 5, pad 2 keeps size
            [],                                                # identity
        ]),
        ("relu",),
        ("conv", 3, 2, 1, 1),
        ("residual", [("conv", 3, 1, 1, 1), ("relu",), ("conv", 3, 1, 1, 1)], []),
        ("relu",),
        ("global",),
    ]
    analytic = check_against_brute_force(cli, spec_file, ops, 16)
    # L7 (after the merge) is as wide as the widest branch: after the first conv (r = 3) the
    # 1×1 branch stays 3, two 3×3 convs give 3 + 2 + 2 = 7, and pool 3/1 then a dilated conv
    # (e = 5) give 3 + 2 + 4 = 9; all are centred (start −1, −3, −4), so the union is 9.
    assert analytic["L7"] == {"size": [9, 9], "jump": [1, 1], "start": [-4, -4]}


def test_resnet_like_agrees_with_brute_force(cli, spec_file):
    def bottleneck(stride, project):
        main = [("conv", 1, 1, 0, 1), ("relu",), ("conv", 3, stride, 1, 1), ("relu",), ("conv", 1, 1, 0, 1)]
        return ("residual", main, [("conv", 1, stride, 0, 1)] if project else [])

    ops = [("conv", 7, 2, 3, 1), ("pool", 3, 2, 1, False),
           bottleneck(1, True), ("relu",), bottleneck(1, False), ("relu",),
           bottleneck(2, True), ("relu",), bottleneck(1, False), ("relu",),
           ("global",)]
    check_against_brute_force(cli, spec_file, ops, 32)


def test_googlenet_like_agrees_with_brute_force(cli, spec_file):
    inception = ("parallel", [
        [("conv", 1, 1, 0, 1)],
        [("conv", 1, 1, 0, 1), ("conv", 3, 1, 1, 1)],
        [("conv", 1, 1, 0, 1), ("conv", 5, 1, 2, 1)],
        [("pool", 3, 1, 1, False), ("conv", 1, 1, 0, 1)],
    ])
    ops = [("conv", 7, 2, 3, 1), ("pool", 3, 2, 0, True), ("conv", 3, 1, 1, 1),
           inception, ("relu",), ("pool", 3, 2, 0, True), inception, ("relu",), ("global",)]
    check_against_brute_force(cli, spec_file, ops, 31)


# ----------------------------------------------- the zoo's ResNet-50 and GoogLeNet
# Every window in these networks is square, so the set of input pixels an output depends
# on is the product of one set per axis, and a one-axis brute force at the real 224 pixels
# is exact (and fast). The networks are re-described here from the papers' tables.

def brute_axis(ops, masks):
    for op in ops:
        kind = op[0]
        if kind in ("conv", "pool"):
            k, s, p = op[1], op[2], op[3]
            d = op[4] if kind == "conv" else 1
            ceil = op[4] if kind == "pool" else False
            n, e = len(masks), d * (k - 1) + 1
            out = []
            for i in range(out_size(n, e, s, p, ceil)):
                mask = 0
                for j in range(k):
                    src = i * s - p + j * d
                    if 0 <= src < n:
                        mask |= masks[src]
                out.append(mask)
            masks = out
        elif kind == "global":
            mask = 0
            for m in masks:
                mask |= m
            masks = [mask]
        elif kind in ("parallel", "residual"):
            branches = op[1] if kind == "parallel" else [op[1], op[2]]
            outs = [brute_axis(branch, masks) for branch in branches]
            masks = [0] * len(outs[0])
            for out in outs:
                assert len(out) == len(masks)
                masks = [a | b for a, b in zip(masks, out)]
    return masks


def assert_axis_matches(masks, rf, n):
    for i, mask in enumerate(masks):
        pixels = [b for b in range(n) if mask >> b & 1]
        first = rf["start"][0] + i * rf["jump"][0]
        assert (pixels[0], pixels[-1]) == (max(first, 0), min(first + rf["size"][0] - 1, n - 1)), (i, rf)


def test_resnet50_agrees_with_brute_force(cli):
    def bottleneck(stride, project):
        main = [("conv", 1, 1, 0, 1), ("conv", 3, stride, 1, 1), ("conv", 1, 1, 0, 1)]
        return ("residual", main, [("conv", 1, stride, 0, 1)] if project else [])

    ops = [("conv", 7, 2, 3, 1), ("pool", 3, 2, 1, False)]
    for blocks, stride in ((3, 1), (4, 2), (6, 2), (3, 2)):
        ops += [bottleneck(stride, True)] + [bottleneck(1, False) for _ in range(blocks - 1)]
    masks = brute_axis(ops, [1 << i for i in range(224)])
    layers = show_json(cli, "resnet50")["layers"]
    before_pool = [layer for layer in layers if layer["name"] == "avgpool"]
    last = layers[layers.index(before_pool[0]) - 1]
    assert len(masks) == last["output"][0] == 7
    assert_axis_matches(masks, last["receptive_field"], 224)
    assert last["receptive_field"]["size"] == [427, 427] and last["receptive_field"]["jump"] == [32, 32]
    whole = brute_axis([("global",)], masks)
    assert whole == [(1 << 224) - 1]  # global pooling sees every pixel
    assert_axis_matches(whole, before_pool[0]["receptive_field"], 224)


def test_googlenet_agrees_with_brute_force(cli):
    def inception():
        return ("parallel", [
            [("conv", 1, 1, 0, 1)],
            [("conv", 1, 1, 0, 1), ("conv", 3, 1, 1, 1)],
            [("conv", 1, 1, 0, 1), ("conv", 5, 1, 2, 1)],
            [("pool", 3, 1, 1, False), ("conv", 1, 1, 0, 1)],
        ])

    stem = [("conv", 7, 2, 3, 1), ("pool", 3, 2, 0, True), ("conv", 1, 1, 0, 1), ("conv", 3, 1, 1, 1),
            ("pool", 3, 2, 0, True)]
    stages = {"pool3": stem + [inception(), inception(), ("pool", 3, 2, 0, True)]}
    stages["pool4"] = stages["pool3"] + [inception() for _ in range(5)] + [("pool", 3, 2, 0, True)]
    stages["pool5"] = stages["pool4"] + [inception(), inception(), ("pool", 7, 1, 0, False)]
    rf = fields_by_name(show_json(cli, "googlenet"))
    for name, ops in stages.items():
        masks = brute_axis(ops, [1 << i for i in range(224)])
        assert_axis_matches(masks, rf[name], 224)
    assert rf["pool5"]["size"][0] >= 224


# ------------------------------------------------------------------------ upsampling kinds
def _unet_axis_brute_force():
    """Per output position of U-Net (572 → 388 along one axis), the [first, last] input
    position it depends on, by pushing intervals through the paper's layers."""
    def conv(iv):  # valid 3-wide
        return [(iv[i][0], iv[i + 2][1]) for i in range(len(iv) - 2)]

    def pool(iv):
        return [(iv[2 * i][0], iv[2 * i + 1][1]) for i in range(len(iv) // 2)]

    def up(iv):  # 2×2 stride-2 up-convolution: output o reads input o // 2
        return [iv[o // 2] for o in range(2 * len(iv))]

    def crop(iv, n):
        top = (len(iv) - n) // 2
        return iv[top:top + n]

    def concat(a, b):
        return [(min(x[0], y[0]), max(x[1], y[1])) for x, y in zip(a, b)]

    d1 = conv(conv([(i, i) for i in range(572)]))
    d2 = conv(conv(pool(d1)))
    d3 = conv(conv(pool(d2)))
    d4 = conv(conv(pool(d3)))
    x = conv(conv(pool(d4)))
    for skip in (d4, d3, d2, d1):
        x = conv(conv(concat(crop(skip, 2 * len(x)), up(x))))
    return x


def test_unet_field_contains_every_outputs_true_field(cli):
    # through up-convolutions neighbouring outputs read the same input, so the true fields
    # differ in size; the reported uniform field must contain each of them
    r = cli("show", "unet", "--format", "json")
    rf = json.loads(r.out)["layers"][-1]["receptive_field"]
    (size, _), (jump, _), (start, _) = rf["size"], rf["jump"], rf["start"]
    truth = _unet_axis_brute_force()
    assert len(truth) == 388 and jump == 1
    for o, (first, last) in enumerate(truth):
        assert start + o * jump <= first and last <= start + o * jump + size - 1
    # and it is not loose by more than one up-convolution's slack per level: the largest true
    # field is 204 pixels (brute force), the bound 215
    assert max(last - first + 1 for first, last in truth) == 204
    assert size - 204 <= 16


UPSAMPLING_NETS = [
    # (archcalc layers, the same in PyTorch, input height) on an H×1×1 input: 1-D along the height
    ("[conv: {filters: 1, kernel: [3, 1]}, maxpool: [2, 1], convtranspose: {filters: 1, kernel: [2, 1], "
     "stride: [2, 1]}]",
     "nn.Conv2d(1, 1, (3, 1)), nn.MaxPool2d((2, 1)), nn.ConvTranspose2d(1, 1, (2, 1), stride=(2, 1))", 20),
    ("[avgpool: [4, 1], upsample: [2, 1]]", "nn.AvgPool2d((4, 1)), nn.Upsample(scale_factor=(2, 1))", 16),
    ("[avgpool: [4, 1], upsample: {factor: [2, 1], mode: bilinear}]",
     "nn.AvgPool2d((4, 1)), nn.Upsample(scale_factor=(2, 1), mode='bilinear')", 16),
    ("[avgpool: [4, 1], upsample: {factor: [4, 1], mode: bilinear}]",
     "nn.AvgPool2d((4, 1)), nn.Upsample(scale_factor=(4, 1), mode='bilinear')", 16),
    ("[avgpool: [3, 1], upsample: {factor: [3, 1], mode: bilinear}]",
     "nn.AvgPool2d((3, 1)), nn.Upsample(scale_factor=(3, 1), mode='bilinear')", 18),
    ("[avgpool: [2, 1], convtranspose: {filters: 1, kernel: [3, 1], stride: [2, 1], padding: [1, 0], "
     "output_padding: [1, 0]}]",
     "nn.AvgPool2d((2, 1)), nn.ConvTranspose2d(1, 1, (3, 1), stride=(2, 1), padding=(1, 0), "
     "output_padding=(1, 0))", 12),
    ("[avgpool: [4, 1], convtranspose: {filters: 1, kernel: [5, 1], stride: [2, 1], padding: [3, 0]}]",
     "nn.AvgPool2d((4, 1)), nn.ConvTranspose2d(1, 1, (5, 1), stride=(2, 1), padding=(3, 0))", 24),
    ("[avgpool: [4, 1], upsample: {size: [12, 1]}]", "nn.AvgPool2d((4, 1)), nn.Upsample(size=(12, 1))", 24),
    ("[avgpool: [2, 1], crop: {size: [5, 1], offset: [2, 0]}, upsample: [2, 1]]",
     "nn.AvgPool2d((2, 1)), Crop(), nn.Upsample(scale_factor=(2, 1))", 16),
]


@pytest.mark.parametrize("layers, modules, height", UPSAMPLING_NETS)
def test_upsampling_fields_contain_pytorchs_dependencies(spec_file, layers, modules, height):
    # PyTorch decides which input rows every output row depends on (a nonzero gradient, with
    # positive weights and inputs so that nothing cancels); archcalc's field must hold them
    from torch_ref import need_torch

    torch = need_torch()
    from torch import nn

    class Crop(nn.Module):
        def forward(self, x):
            return x[:, :, 2:7, :]

    net = nn.Sequential(*eval(f"[{modules}]", {"nn": nn, "Crop": Crop}))
    for p in net.parameters():
        torch.nn.init.constant_(p, 0.5)
    a = analyse(spec_file, f"input: [{height}, 1, 1]\nlayers: {layers}\n")
    assert [d.code for d in a.diagnostics if d.severity == "error"] == []
    rf = a.layers[-1].receptive_field
    assert rf is not None
    size, jump, start = rf.size[0], rf.jump[0], rf.start[0]
    x = torch.rand(1, 1, height, 1) + 0.5
    x.requires_grad_(True)
    y = net(x)
    assert y.shape[2] == a.output[0]
    for o in range(y.shape[2]):
        (grad,) = torch.autograd.grad(y[0, 0, o, 0], x, retain_graph=True)
        rows = grad[0, 0, :, 0].nonzero().flatten().tolist()
        assert rows, o
        assert start + o * jump <= rows[0] and rows[-1] <= start + o * jump + size - 1, (o, rows)


def test_a_fractional_jump_is_not_reported(spec_file):
    # 4 → 6 rows: each output advances 2/3 of an input pixel: no whole-pixel jump
    a = analyse(spec_file, "input: [4, 4, 1]\nlayers:\n  - upsample: {size: 6}\n  - conv: {filters: 1, kernel: 1}\n")
    assert a.layers[0].receptive_field is None and a.layers[1].receptive_field is None
