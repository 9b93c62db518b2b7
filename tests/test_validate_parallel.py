"""Many files are checked by several processes; the report must be exactly the one a single
process gives: same order, same diagnostics, same summary, same exit code."""
from __future__ import annotations

from conftest import SPECS, run_process

CLEAN = (SPECS / "lenet5.yaml").read_text()
BROKEN = (SPECS / "examples" / "alexnet-224.yaml").read_text()


def test_parallel_report_equals_serial(tmp_path):
    paths = []
    for i in range(120):
        path = tmp_path / f"spec{i:03}.yaml"
        # every seventh file is the rejected AlexNet-at-224, one is not YAML at all
        path.write_text(BROKEN if i % 7 == 0 else ("input: [1\n" if i == 50 else CLEAN))
        paths.append(path)
    missing = tmp_path / "missing.yaml"
    args = ["validate", "--format", "parsable", *paths[:60], missing, *paths[60:]]

    serial = run_process(*args[:1], "--jobs", "1", *args[1:])
    parallel = run_process(*args[:1], "--jobs", "2", *args[1:])

    assert serial.code == 2  # the missing file is a usage problem, reported after the rest
    assert (parallel.code, parallel.out, parallel.err) == (serial.code, serial.out, serial.err)
    # 18 AlexNet copies (i = 0, 7, ..., 119) each carry 9 errors: the 8 volumes it pins from
    # conv1 to pool5 are all one row short at 224, plus its params total; the truncated file
    # has 1 (a YAML syntax error): 18·9 + 1 = 163
    assert serial.out.rstrip().splitlines()[-1].startswith("121 files checked: 163 errors")
    assert "missing.yaml" in serial.err
