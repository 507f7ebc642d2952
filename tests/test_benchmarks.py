"""Every script in benchmarks/ imports, says what it times, and runs on tiny data (`--smoke`).

The scripts are found by listing the folder, so a new benchmark is covered without touching this
file; it must accept `--smoke` (tiny data, a few seconds). Known scripts get their output checked.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = sorted((ROOT / "benchmarks").glob("*.py"))


def check_bench_train(stdout: str) -> None:
    result = json.loads(stdout)
    assert [w["workload"] for w in result["workloads"]] == ["W1", "W2", "W3"]
    assert result["samples"] == 256
    for workload in result["workloads"]:
        for contender in ("bpcli", "bpcli-nodiag", "floor"):
            assert len(workload[contender]["epochs_s"]) == result["epochs"] == 3
            assert workload[contender]["median_s"] > 0
    assert result["memory"]["peak_rss_mb"] > result["memory"]["data_mb"] > 0
    assert set(result["startup"]) == {"--version", "--help"}


def check_diagnostics_overhead(stdout: str) -> None:
    assert "digits.yaml training.epochs=1" in stdout
    assert re.search(r"without diagnostics \d+\.\d+ s, with \d+\.\d+ s \(best of 1\)", stdout)
    share = re.search(r"time inside the observer: (\d+\.\d) %", stdout)
    assert share and 0 < float(share.group(1)) < 100


SMOKE = {
    "bench_train.py": (["--smoke", "--json"], check_bench_train),
    "diagnostics_overhead.py": (["--smoke"], check_diagnostics_overhead),
}
"""Scripts whose smoke output is checked; any other script must run with --smoke and exit 0."""


def test_the_benchmarks_folder_is_found():
    assert {"bench_train.py", "diagnostics_overhead.py"} <= {script.name for script in SCRIPTS}


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda path: path.name)
def test_benchmark_imports_and_documents_what_it_times(script):
    spec = importlib.util.spec_from_file_location(f"benchmark_{script.stem}", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # the scripts run only under __main__
    doc = module.__doc__ or ""
    assert re.search(r"\b(tim|measur)\w*", doc), f"{script.name}: say what it times"
    assert "--smoke" in doc, f"{script.name}: show the --smoke command in the docstring"


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda path: path.name)
def test_benchmark_smoke_run(script, tmp_path):
    args, check = SMOKE.get(script.name, (["--smoke"], None))
    done = subprocess.run(
        [sys.executable, str(script), *args],
        cwd=tmp_path,  # a script must not depend on the working folder or write into the repo
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "NO_COLOR": "1"},
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    if check is not None:
        check(done.stdout)
