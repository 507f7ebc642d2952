"""The README's "Scripting" example runs end to end in a real shell, with bpcli on PATH."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def scripting_example() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Scripting", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, flags=re.DOTALL)
    assert len(blocks) == 1, "the Scripting section should hold one ```sh example"
    return blocks[0]


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_readme_pipeline_runs(tmp_path):
    shutil.copytree(ROOT / "configs", tmp_path / "configs")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "bpcli"  # this interpreter's bpcli, whether or not it is installed
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m bpcli "$@"\n')
    shim.chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "NO_COLOR": "1"}
    done = subprocess.run(
        ["bash", "-c", scripting_example()],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["setosa", "versicolor", "virginica"]
    report = json.loads((tmp_path / "eval.json").read_text())
    assert report["passed"] is True and report["metrics"]["accuracy"] >= 0.85
    header = (tmp_path / "predictions.csv").read_text().splitlines()[0]
    assert header == "prediction,proba_setosa,proba_versicolor,proba_virginica"
    assert "Traceback" not in done.stderr


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_readme_pipeline_stops_when_the_bar_is_missed(tmp_path):
    shutil.copytree(ROOT / "configs", tmp_path / "configs")
    script = scripting_example().replace("accuracy=0.85", "accuracy=1.01")
    env = {**os.environ, "NO_COLOR": "1"}
    script = script.replace("bpcli ", f'"{sys.executable}" -m bpcli ')
    done = subprocess.run(
        ["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 1, done.stderr
    assert "below the minimum 1.01" in " ".join(done.stderr.split())
    assert not (tmp_path / "predictions.csv").exists()
