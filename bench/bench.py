#!/usr/bin/env python3
"""Whole-process wall-clock benchmark of archcalc against baselines measured in the same run.

    python bench/bench.py [--runs 15]   (from the project root)

Each command runs as a fresh process `runs` times (after one warm-up run); we report the
median and its ratio to the baselines, as the issues set targets:

  table path  `archcalc show vgg16`                 <= 1.15 x baseline (b)
  JSON path   `archcalc show vgg16 --format json`   <= 0.75 x baseline (a)
  repeat      `archcalc validate` of a 100,000-iteration repeat   <= 2 s
  many files  `archcalc validate` of 1,000 spec files             <= 3 s
  draw        `archcalc draw resnet152` <= 1.5 x `archcalc show resnet152`
  list        `archcalc list` (the whole zoo)       <= 1.5 x `archcalc show vgg16`
  LLM         `archcalc show llama2-7b --seq 4096 --format json` <= 1.2 x the vgg16 JSON path
  HF config   `archcalc show llama2-7b/config.json --seq 4096 --format json` <= 1.5 x the built-in
  export      `archcalc export resnet152` <= 1.5 x `archcalc show resnet152 --format json`
  ONNX        `archcalc show MODEL.onnx --format json` (weights inside) <= 0.25 x `python -c
              "import onnx; onnx.load(...)"` of the same file, for resnet50 (~100 MB), vgg16
              (~550 MB) and wide-vgg (VGG-16 with 12,288-unit dense layers, ~1.8 GB: the
              1 GB+ file; 3 runs each); writing the files needs torch and onnx (the rows are
              skipped, saying so, without them)
  literal     a spec of 10,000 literal layers (conv, batchnorm, relu written out, no repeat):
              `show --format json` <= 8 x `archcalc show vgg16 --format json`
  linear      the same spec at 1,000, 10,000 and 100,000 layers, `validate` and `show
              --format json`: the exponent k of CPU time ~ layers^k fitted over the three sizes
              (less the CPU time of a 3-layer spec, i.e. start-up) <= 1.1; peak memory the same
              way from 10,000 layers (1,000 layers' ~2 MB hide in the allocator's start-up pool)
  repeat JSON `archcalc show --format json` of the 100,000-iteration repeat <= 2 x its `validate`
  diff        `archcalc diff alexnet vgg16` piped <= 1.0 x baseline (a)

Baselines: (a) `python -c "import click, rich.console, rich.table, yaml"`;
(b) a script importing click and yaml and printing a 30-row rich table.
Timings are never asserted in tests: the machine's load varies; ratios in one run do not.
Each row also shows the median CPU time of its runs (what a busy machine's load changes
least) and the largest peak memory; archcalc runs with its bytecode cache, as installed.
"""
from __future__ import annotations

import argparse
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time

BASELINE_B = r'''
import click, yaml
from rich.console import Console
from rich.table import Table
table = Table(title="baseline")
for name in ("#", "Layer", "Kind", "Output", "Params", "MACs"):
    table.add_column(name)
for i in range(30):
    table.add_row(str(i), f"conv{i}", "conv", "224x224x64", f"{i * 1000:,}", f"{i * 10**6:,}")
Console().print(table)
'''

REPEAT_SPEC = """name: deep
input: [32, 32, 16]
layers:
  - repeat:
      times: 100000
      layers:
        - conv: {filters: 16, kernel: 3, padding: 1}
        - batchnorm
        - relu
"""


LITERAL_SIZES = (1_000, 10_000, 100_000)


def literal_spec(layers: int) -> str:
    """A spec of ``layers`` literal layers: conv, batchnorm, relu written out one by one."""
    unit = ("  - conv: {filters: 16, kernel: 3, padding: 1}\n", "  - batchnorm\n", "  - relu\n")
    return "name: literal\ninput: [32, 32, 16]\nlayers:\n" + "".join(unit[i % 3] for i in range(layers))


PEAK_KB: dict = {}  # argv -> the largest peak resident set of its runs (KiB)


def _run(argv, env, tty: bool) -> float:
    """Run once; the child's CPU time (user + system), its peak memory kept in PEAK_KB."""
    if not tty:
        process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    else:
        import pty

        leader, follower = pty.openpty()
        process = subprocess.Popen(argv, stdout=follower, stderr=subprocess.DEVNULL, env=env)
        os.close(follower)
        while True:  # drain the terminal so the child never blocks on a full buffer
            try:
                if not os.read(leader, 65536):
                    break
            except OSError:
                break
        os.close(leader)
    _, _, usage = os.wait4(process.pid, 0)  # this child's own CPU time and peak memory
    process.returncode = 0
    key = tuple(argv)
    PEAK_KB[key] = max(PEAK_KB.get(key, 0), usage.ru_maxrss)
    return usage.ru_utime + usage.ru_stime


def time_command(argv, runs, env, tty=False) -> tuple[float, float]:
    """(median wall-clock seconds, median CPU seconds) of ``runs`` runs after a warm-up."""
    _run(argv, env, tty)  # warm-up (it also writes the bytecode cache)
    walls, cpus = [], []
    for _ in range(runs):
        start = time.perf_counter()
        cpus.append(_run(argv, env, tty))
        walls.append(time.perf_counter() - start)
    return statistics.median(walls), statistics.median(cpus)


def exponent(sizes, values) -> float:
    """The least-squares slope of log(value) over log(size): value ~ size^k."""
    xs = [math.log(n) for n in sizes]
    ys = [math.log(max(v, 1e-9)) for v in values]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)


def _onnx_file(tmp, archcalc, env, name: str, spec: str):
    """NAME.onnx with its weights, exported from `archcalc export SPEC` by PyTorch (weights
    made on the meta device first would not serialise: they are real, random tensors); None
    when torch or onnx is missing."""
    path = os.path.join(tmp, f"{name}.onnx")
    script = (
        "import subprocess, sys, torch\n"
        f"code = subprocess.run({archcalc + ['export', spec]!r}, capture_output=True, text=True, check=True).stdout\n"
        "ns = {}\nexec(code, ns)\n"
        "with torch.no_grad():\n"
        f"    torch.onnx.export(ns['build']().eval(), torch.randn(ns['INPUT_SHAPE']), {path!r}, dynamo=False)\n")
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True)
    return path if done.returncode == 0 and os.path.exists(path) else None


def _wide_vgg(tmp, root) -> str:
    """VGG-16 with 12,288-unit dense layers: 25,088·12,288 + 12,288² + 12,288·1,000 weights in
    the classifier, 14.7 M in the convolutions, ~460 M in all: a ~1.8 GB ONNX file (under
    protobuf's 2 GB, so one file)."""
    with open(os.path.join(root, "specs", "vgg16.yaml")) as fh:
        text = fh.read()
    text = text.replace("name: vgg16", "name: wide_vgg").replace("units: 4096, expect: [4096]", "units: 12288")
    text = text[:text.index("\nexpect:")] + "\n"  # torchvision's totals are VGG-16's
    path = os.path.join(tmp, "wide_vgg.yaml")
    with open(path, "w") as fh:
        fh.write(text)
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    env = dict(os.environ, COLUMNS="100")
    env.pop("NO_COLOR", None)
    # as installed (pip compiles the bytecode): the warm-up run writes archcalc's cache
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    py = sys.executable
    archcalc = [py, "-m", "archcalc"]
    load_before = " ".join(f"{x:.1f}" for x in os.getloadavg())
    with tempfile.TemporaryDirectory() as tmp:
        repeat = os.path.join(tmp, "repeat.yaml")
        with open(repeat, "w") as fh:
            fh.write(REPEAT_SPEC)
        many = os.path.join(tmp, "many")
        os.mkdir(many)
        with open(os.path.join(os.path.dirname(__file__), "..", "specs", "resnet50.yaml")) as fh:
            resnet = fh.read()
        for i in range(1000):
            with open(os.path.join(many, f"spec{i:04}.yaml"), "w") as fh:
                fh.write(resnet.replace("name: resnet50", f"name: resnet50_{i}"))
        files = sorted(os.path.join(many, f) for f in os.listdir(many))
        literal = {}
        for n in (3, *LITERAL_SIZES):
            literal[n] = os.path.join(tmp, f"literal{n}.yaml")
            with open(literal[n], "w") as fh:
                fh.write(literal_spec(n))
        root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
        config = os.path.join(root, "tests", "fixtures", "hf", "llama2-7b", "config.json")
        onnx_files = {}
        for name, spec in (("resnet50", "resnet50"), ("vgg16", "vgg16"), ("wide_vgg", _wide_vgg(tmp, root))):
            made = _onnx_file(tmp, archcalc, env, name, spec)
            if made:
                onnx_files[name] = made

        # (label, argv, runs, on a terminal?) — piped output is plain text; on a terminal
        # archcalc colours through rich, so both are measured, each against baseline (b)
        # printed the same way.
        rows = [
            ("baseline (a): import click, rich, yaml", [py, "-c", "import click, rich.console, rich.table, yaml"], args.runs, False),
            ("baseline (b): click+yaml, 30-row rich table", [py, "-c", BASELINE_B], args.runs, False),
            ("baseline (b) on a terminal", [py, "-c", BASELINE_B], args.runs, True),
            ("archcalc show vgg16", archcalc + ["show", "vgg16"], args.runs, False),
            ("archcalc show vgg16 on a terminal", archcalc + ["show", "vgg16"], args.runs, True),
            ("archcalc show vgg16 --format json", archcalc + ["show", "vgg16", "--format", "json"], args.runs, False),
            ("archcalc show llama2-7b --seq 4096 --format json",
             archcalc + ["show", "llama2-7b", "--seq", "4096", "--format", "json"], args.runs, False),
            ("archcalc show resnet152", archcalc + ["show", "resnet152"], args.runs, False),
            ("archcalc draw resnet152", archcalc + ["draw", "resnet152"], args.runs, False),
            ("archcalc list", archcalc + ["list"], args.runs, False),
            ("archcalc show llama2-7b config.json --seq 4096 --format json",
             archcalc + ["show", config, "--seq", "4096", "--format", "json"], args.runs, False),
            ("archcalc show resnet152 --format json", archcalc + ["show", "resnet152", "--format", "json"],
             args.runs, False),
            ("archcalc export resnet152", archcalc + ["export", "resnet152"], args.runs, False),
            ("archcalc validate repeat x100000", archcalc + ["validate", repeat], 3, False),
            ("archcalc validate 1000 files (resnet50)", archcalc + ["validate", *files], 3, False),
            ("archcalc show repeat x100000 --format json", archcalc + ["show", repeat, "--format", "json"],
             3, False),
            ("archcalc diff alexnet vgg16", archcalc + ["diff", "alexnet", "vgg16"], args.runs, False),
        ]
        for n in (3, *LITERAL_SIZES):
            runs = args.runs if n <= 10_000 else 3
            rows += [(f"archcalc validate literal x{n}", archcalc + ["validate", literal[n]], runs, False),
                     (f"archcalc show literal x{n} --format json",
                      archcalc + ["show", literal[n], "--format", "json"], runs, False)]
        for name, made in onnx_files.items():
            size = os.path.getsize(made) / 1e6
            rows += [(f"python: onnx.load({name}.onnx, {size:,.0f} MB)",
                      [py, "-c", f"import onnx; onnx.load({made!r})"], 3, False),
                     (f"archcalc show {name}.onnx --format json",
                      archcalc + ["show", made, "--format", "json"], 3, False)]
        results, cpu, peaks = {}, {}, {}
        for label, argv, runs, tty in rows:
            results[label], cpu[label] = time_command(argv, runs, env, tty)
            peaks[label] = PEAK_KB.get(tuple(argv), 0) / 1024
    a = results[rows[0][0]]
    b = results[rows[1][0]]
    print(f"{os.cpu_count()} CPUs; load average {load_before} before the run, "
          f"{' '.join(f'{x:.1f}' for x in os.getloadavg())} after it; medians of {args.runs} runs "
          f"(3 for the 100,000-layer, repeat, 1,000-file and ONNX rows)\n")
    print(f"{'command':52} {'median':>9} {'/ (a)':>7} {'/ (b)':>7} {'CPU':>9} {'peak MiB':>9}")
    for label, *_ in rows:
        t = results[label]
        print(f"{label:52} {t * 1000:7.1f}ms {t / a:7.2f} {t / b:7.2f} {cpu[label] * 1000:7.1f}ms "
              f"{peaks[label]:9.0f}")
    fits = {}
    for command in ("validate literal x{}", "show literal x{} --format json"):
        label = "archcalc " + command
        base_t, base_m = cpu[label.format(3)], peaks[label.format(3)]
        fits[command.split()[0], "CPU time"] = exponent(
            LITERAL_SIZES, [cpu[label.format(n)] - base_t for n in LITERAL_SIZES])
        big = [n for n in LITERAL_SIZES if n >= 10_000]
        fits[command.split()[0], "memory"] = exponent(big, [peaks[label.format(n)] - base_m for n in big])
    targets = [
        ("table path <= 1.15 x (b)", results["archcalc show vgg16"] / b, 1.15),
        ("on a terminal <= 1.15 x (b)", results["archcalc show vgg16 on a terminal"]
         / results["baseline (b) on a terminal"], 1.15),
        ("JSON path  <= 0.75 x (a)", results["archcalc show vgg16 --format json"] / a, 0.75),
        ("draw <= 1.5 x show (resnet152)", results["archcalc draw resnet152"]
         / results["archcalc show resnet152"], 1.5),
        ("llama2-7b json <= 1.2 x vgg16 json", results["archcalc show llama2-7b --seq 4096 --format json"]
         / results["archcalc show vgg16 --format json"], 1.2),
        ("list <= 1.5 x show vgg16", results["archcalc list"] / results["archcalc show vgg16"], 1.5),
        ("HF config <= 1.5 x built-in", results["archcalc show llama2-7b config.json --seq 4096 --format json"]
         / results["archcalc show llama2-7b --seq 4096 --format json"], 1.5),
        ("export <= 1.5 x show json (resnet152)", results["archcalc export resnet152"]
         / results["archcalc show resnet152 --format json"], 1.5),
        ("repeat x100000 <= 2 s", results["archcalc validate repeat x100000"], 2.0),
        ("repeat JSON <= 2 x validate", results["archcalc show repeat x100000 --format json"]
         / results["archcalc validate repeat x100000"], 2.0),
        ("literal x10000 json <= 8 x vgg16 json", results["archcalc show literal x10000 --format json"]
         / results["archcalc show vgg16 --format json"], 8.0),
        *((f"{command} {what} ~ layers^k: k <= 1.1", k, 1.1) for (command, what), k in fits.items()),
        ("diff piped <= 1.0 x (a)", results["archcalc diff alexnet vgg16"] / a, 1.0),
        ("1000 files <= 3 s", results["archcalc validate 1000 files (resnet50)"], 3.0),
    ]
    for name in onnx_files:
        load = next(label for label in results if label.startswith(f"python: onnx.load({name}.onnx"))
        targets.append((f"ONNX show {name} <= 0.25 x onnx.load", results[f"archcalc show {name}.onnx --format json"]
                        / results[load], 0.25))
    if len(onnx_files) < 3:
        print("\n(ONNX rows skipped: writing the .onnx files needs torch and onnx)")
    print()
    for label, value, limit in targets:
        print(f"{label:40} {value:6.2f}  {'ok' if value <= limit else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
