#!/usr/bin/env python3
"""Whole-process wall-clock benchmark of archcalc against baselines measured in the same run.

    python bench/bench.py [--runs 15]

Each command runs as a fresh process `runs` times (after one warm-up run); we report the
median and its ratio to the baselines, as the issues set targets:

  table path  `archcalc show vgg16`                 <= 1.15 x baseline (b)
  JSON path   `archcalc show vgg16 --format json`   <= 0.75 x baseline (a)
  repeat      `archcalc validate` of a 100,000-iteration repeat   <= 2 s
  many files  `archcalc validate` of 1,000 spec files             <= 3 s

Baselines: (a) `python -c "import click, rich.console, rich.table, yaml"`;
(b) a script importing click and yaml and printing a 30-row rich table.
Timings are never asserted in tests: the machine's load varies; ratios in one run do not.
"""
from __future__ import annotations

import argparse
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


def time_command(argv, runs, env) -> float:
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)  # warm-up
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    env = dict(os.environ, NO_COLOR="1", COLUMNS="100")
    py = sys.executable
    archcalc = [py, "-m", "archcalc"]
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

        rows = [
            ("baseline (a): import click, rich, yaml", [py, "-c", "import click, rich.console, rich.table, yaml"], args.runs),
            ("baseline (b): click+yaml, 30-row rich table", [py, "-c", BASELINE_B], args.runs),
            ("archcalc show vgg16", archcalc + ["show", "vgg16"], args.runs),
            ("archcalc show vgg16 --format json", archcalc + ["show", "vgg16", "--format", "json"], args.runs),
            ("archcalc show resnet152", archcalc + ["show", "resnet152"], args.runs),
            ("archcalc validate repeat x100000", archcalc + ["validate", repeat], 3),
            ("archcalc validate 1000 files (resnet50)", archcalc + ["validate", *files], 3),
        ]
        results = {}
        for label, argv, runs in rows:
            results[label] = time_command(argv, runs, env)
    a = results[rows[0][0]]
    b = results[rows[1][0]]
    print(f"{'command':48} {'median':>9} {'/ (a)':>7} {'/ (b)':>7}")
    for label, _, _ in rows:
        t = results[label]
        print(f"{label:48} {t * 1000:7.1f}ms {t / a:7.2f} {t / b:7.2f}")
    targets = [
        ("table path <= 1.15 x (b)", results["archcalc show vgg16"] / b, 1.15),
        ("JSON path  <= 0.75 x (a)", results["archcalc show vgg16 --format json"] / a, 0.75),
        ("repeat x100000 <= 2 s", results["archcalc validate repeat x100000"], 2.0),
        ("1000 files <= 3 s", results["archcalc validate 1000 files (resnet50)"], 3.0),
    ]
    print()
    for label, value, limit in targets:
        print(f"{label:30} {value:6.2f}  {'ok' if value <= limit else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
