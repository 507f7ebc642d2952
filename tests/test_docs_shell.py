"""Every ```sh, ```console and ```python block of README.md and docs/*.md runs verbatim, in order,
per file.

Each file's blocks run in a fresh copy of the repository (so `runs/` and any file an example writes
land there, and no tracked file may change), with this environment's `bpcli` and `python` first on
PATH. A console block's command must exit 0, or non-zero when the block shows an `error:` line; the
`error:`/`warning:` messages it shows (with their indented continuation lines) must be what bpcli
prints. Blocks that need an absent optional extra are skipped with the reason; the README's set-up
commands (`pip install ...`) are run by `.ci/run` instead, and a test checks that they are exactly
the blocks left to it. A few tests then check what the examples printed or wrote.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import tomllib
from docblocks import (
    ROOT,
    RUN_KINDS,
    Block,
    blocks,
    ci_blocks,
    ci_commands,
    doc_files,
    runnable_blocks,
)
from helpers import flat

CACHES = shutil.ignore_patterns("__pycache__", ".pytest_cache", ".ruff_cache", ".hypothesis")
LOCAL = {".git", "runs", "build", "dist", ".venv"}  # the clone's own state, at the top level
README_SETUP = [
    "pip install . && bpcli train configs/digits.yaml",
    'pip install -e ".[test]" && pytest',
]
MESSAGE = re.compile(r"^(error|warning): ")
SHELL_LIKE = re.compile(r"^(\$ )?(bpcli|python3?) ", re.MULTILINE)
UNQUOTED = re.compile(r"--set[ =][\w.]+=[\[{]")  # zsh expands [..] and {..}: quote the value


def ignored(folder: str, names: list[str]) -> set[str]:
    """What a fresh clone would not hold: caches anywhere, and local state at the top level."""
    local = (
        {n for n in names if n in LOCAL or n.endswith(".egg-info")}
        if Path(folder) == ROOT
        else set()
    )
    return set(CACHES(folder, names)) | local


@dataclass
class Outcome:
    code: int
    stdout: str
    stderr: str


class Sandbox:
    """A copy of the repository in which one Markdown file's blocks run, in order."""

    def __init__(self, folder: Path, bin_dir: Path):
        shutil.copytree(ROOT, folder, ignore=ignored)
        self.folder = folder
        self.tracked = {path: self.digest(path) for path in self.files()}
        self.env = {
            **os.environ,
            "PATH": os.pathsep.join([str(bin_dir), os.environ.get("PATH", "")]),
            "NO_COLOR": "1",
            "COLUMNS": "100",
        }
        self.env.pop("FORCE_COLOR", None)
        self.outcomes: dict[str, list[Outcome]] = {}

    def files(self) -> list[Path]:
        return [p for p in self.folder.rglob("*") if p.is_file()]

    def digest(self, path: Path) -> str:
        return hashlib.sha256(path.read_bytes()).hexdigest()

    def changed(self) -> list[str]:
        """Copied (tracked) files that an example removed or overwrote."""
        return [
            str(path.relative_to(self.folder))
            for path, digest in self.tracked.items()
            if not path.is_file() or self.digest(path) != digest
        ]

    def run(self, block: Block) -> list[Outcome]:
        """Run a block once (later calls return the first result)."""
        if block.id not in self.outcomes:
            python = block.kind == "python"
            steps = block.steps()
            self.outcomes[block.id] = [self.execute(command, python) for command, _ in steps]
        return self.outcomes[block.id]

    def execute(self, command: str, python: bool = False) -> Outcome:
        """Run a shell command (bash, pipefail) or a Python script in the copy."""
        args = (
            [sys.executable, "-c", command]
            if python
            else ["bash", "-c", f"set -eo pipefail\n{command}"]
        )
        done = subprocess.run(
            args,
            cwd=self.folder,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        return Outcome(done.returncode, done.stdout, done.stderr)


LEFT_TO_CI = "installs bpcli: .ci/run runs the README's set-up commands verbatim"


def skip_reason(block: Block) -> str | None:
    """Why a block cannot run here, or None."""
    if block in ci_blocks():
        return LEFT_TO_CI
    if block.installs and block.extras() is not None:
        return f"installs {block.extras()}: checked against pyproject.toml's extras, not run"
    if block.installs:
        pytest.fail(f"{block.id}: only the README's set-up may install bpcli; name extras in prose")
    missing = [m for m in block.needs() if importlib.util.find_spec(m) is None]
    if missing:
        return f"needs {', '.join(missing)} (an optional extra) which is not installed"
    return None


@pytest.fixture(scope="session")
def bin_dir(tmp_path_factory) -> Path:
    """`bpcli`, `python` and `python3` of this environment, whatever else is on PATH."""
    folder = tmp_path_factory.mktemp("bin")
    script = Path(sys.executable).with_name("bpcli")
    python = f'exec "{sys.executable}"'
    bpcli = f'exec "{script}"' if script.is_file() else f"{python} -m bpcli"
    for name, command in (("bpcli", bpcli), ("python", python), ("python3", python)):
        (folder / name).write_text(f'#!/bin/sh\n{command} "$@"\n')
        (folder / name).chmod(0o755)
    return folder


@pytest.fixture(scope="session")
def sandboxes(tmp_path_factory, bin_dir):
    """One Sandbox per Markdown file, made on first use."""
    made: dict[str, Sandbox] = {}

    def get(doc: str) -> Sandbox:
        if doc not in made:
            made[doc] = Sandbox(tmp_path_factory.mktemp("docs") / "repo", bin_dir)
        return made[doc]

    return get


def run_through(sandboxes, block: Block) -> list[Outcome]:
    """Run the blocks of the block's file before it (those that can run), then the block."""
    sandbox = sandboxes(block.doc)
    for earlier in blocks(ROOT / block.doc):
        if earlier.kind in RUN_KINDS and skip_reason(earlier) is None:
            outcomes = sandbox.run(earlier)
        if earlier.id == block.id:
            return outcomes
    raise AssertionError(f"{block.id} not found")


def shown_messages(shown: list[str]) -> list[str]:
    """The error:/warning: lines a console block shows, each with its indented continuation."""
    messages: list[str] = []
    inside = False
    for line in shown:
        if MESSAGE.match(line):
            messages.append(line)
            inside = True
        elif inside and line.startswith("  ") and line.strip() != "...":
            messages[-1] += " " + line
        else:
            inside = False
    return messages


RUN_BLOCKS = runnable_blocks()


@pytest.mark.parametrize("block", RUN_BLOCKS, ids=lambda b: b.id)
def test_block_runs_verbatim(block, sandboxes):
    reason = skip_reason(block)
    if reason:
        pytest.skip(reason)
    outcomes = run_through(sandboxes, block)
    for (command, shown), outcome in zip(block.steps(), outcomes, strict=True):
        where = f"{block.id}: {command}\n--- stderr:\n{outcome.stderr[-3000:]}"
        shows_error = any(line.startswith("error:") for line in shown)
        assert (outcome.code != 0) == shows_error, f"exit {outcome.code}; {where}"
        assert "Traceback" not in outcome.stderr, where
        for message in shown_messages(shown):
            assert flat(message) in flat(outcome.stderr), f"{message!r} not printed; {where}"
    changed = sandboxes(block.doc).changed()
    assert not changed, f"{block.id} overwrote tracked files: {changed}"


# ---------------------------------------------------------------------------- what is left to CI


def test_only_the_readme_setup_is_left_to_ci():
    """Exactly the README's set-up block installs bpcli; .ci/run runs its commands verbatim."""
    delegated = [b for b in RUN_BLOCKS if skip_reason(b) == LEFT_TO_CI]
    assert delegated == ci_blocks() and len(delegated) == 1, [b.id for b in delegated]
    assert [line.split("#")[0].strip() for line in ci_commands()] == README_SETUP
    script = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "tests/docblocks.py --ci" in script
    printed = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "docblocks.py"), "--ci"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert printed == ci_commands()


def test_install_lines_elsewhere_name_real_extras():
    """`pip install "bpcli[plot]"`-style blocks are checked against pyproject, not run."""
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    for block in RUN_BLOCKS:
        if block.installs and block not in ci_blocks():
            named = block.extras()
            assert named is not None, f"{block.id}: only the README's set-up may install bpcli"
            assert set(named) <= set(extras), f"{block.id}: no extra {named}"


def test_every_example_is_a_block_that_runs():
    """Shell examples outside ```sh/```console fences would escape this test: there are none. And
    `--set` values with brackets or braces are quoted (zsh would expand them)."""
    for path in doc_files():
        text = path.read_text(encoding="utf-8")
        for block in blocks(path):
            if block.kind in ("sh", "console"):
                assert not UNQUOTED.search(block.text), f"{block.id}: quote --set values for zsh"
            if block.kind not in (*RUN_KINDS, "yaml", "text", "csv", "json"):
                assert not SHELL_LIKE.search(block.text), f"{block.id}: mark it ```sh or ```console"
        indented = re.findall(r"\n\n((?:    .*\n)+)", re.sub(r"```.*?```", "", text, flags=re.S))
        for code in indented:
            assert not SHELL_LIKE.search(code.replace("\n    ", "\n").strip()), (path.name, code)


def test_a_failing_or_overwriting_example_would_be_caught(tmp_path, bin_dir):
    sandbox = Sandbox(tmp_path / "repo", bin_dir)
    assert sandbox.execute("bpcli no-such-command").code == 2
    assert sandbox.execute("false | cat").code == 1  # pipefail
    sandbox.execute("echo changed >> configs/iris.yaml")
    assert sandbox.changed() == [str(Path("configs") / "iris.yaml")]
    assert UNQUOTED.search("bpcli train c.yaml --set model.hidden=[8]")
    assert not UNQUOTED.search("bpcli train c.yaml --set model.hidden='[8]'")
    shown = ["error: invalid config:", "  model.hidden (--set): bad", "...", "runs/x", "  x"]
    assert shown_messages(shown) == ["error: invalid config:   model.hidden (--set): bad"]


def test_console_steps_and_needs():
    block = Block("x.md", 1, "console", "$ bpcli plot a \\\n  -o b.png\nsaved\n$ echo 1\n1\n")
    assert block.steps() == [("bpcli plot a \\\n  -o b.png", ["saved"]), ("echo 1", ["1"])]
    assert block.needs() == ["matplotlib"]
    assert Block("x.md", 1, "sh", 'pip install "bpcli[plot]"\n').extras() == ["plot"]
    assert Block("x.md", 1, "sh", "pip install . && pytest\n").extras() is None
    extra = Block("docs/x.md", 1, "sh", 'pip install "bpcli[plot]"\n')
    assert skip_reason(extra).startswith("installs ['plot']: checked against pyproject")
    with pytest.raises(pytest.fail.Exception, match="only the README's set-up"):
        skip_reason(Block("docs/x.md", 1, "sh", "pip install . && bpcli --help\n"))
    onnx = Block(
        "x.md", 1, "python", "import numpy as np, onnxruntime\nfrom matplotlib import pyplot\n"
    )
    assert onnx.needs() == ["matplotlib", "onnxruntime"]


# ---------------------------------------------------------------------------- what the examples do


def doc_block(sandboxes, doc: str, kind: str, containing: str) -> tuple[Sandbox, Outcome]:
    """Run a file's blocks up to the one of `kind` that contains `containing`; its last outcome."""
    (block,) = [b for b in blocks(ROOT / doc) if b.kind == kind and containing in b.text]
    reason = skip_reason(block)
    if reason:
        pytest.skip(reason)
    return sandboxes(doc), run_through(sandboxes, block)[-1]


def test_readme_pipeline_gates_and_predicts_the_three_species(sandboxes):
    sandbox, outcome = doc_block(sandboxes, "README.md", "sh", 'bpcli predict "$run"')
    assert outcome.code == 0, outcome.stderr
    assert outcome.stdout.split() == ["setosa", "versicolor", "virginica"]
    report = json.loads((sandbox.folder / "eval.json").read_text())
    assert report["passed"] is True and report["metrics"]["accuracy"] >= 0.85
    header = (sandbox.folder / "predictions.csv").read_text().splitlines()[0]
    assert header == "prediction,proba_setosa,proba_versicolor,proba_virginica"


def test_api_doc_example_trains_predicts_and_evaluates(sandboxes):
    _, outcome = doc_block(sandboxes, "docs/api.md", "python", "run.evaluate")
    assert outcome.code == 0, outcome.stderr
    lines = outcome.stdout.splitlines()
    assert lines[0] == "runs/iris-api classification 60 epochs"
    assert lines[1] == "['setosa' 'virginica']"
    assert re.fullmatch(r"test accuracy (0\.9\d|1\.00)", lines[-1]), lines  # stratified: 1.00


def test_api_doc_errors_example_prints_the_message(sandboxes):
    _, outcome = doc_block(sandboxes, "docs/api.md", "python", "except ConfigError")
    assert outcome.stdout.startswith("optimizer.momentum (--set): not a setting of adam;")


def test_readme_onnx_example_is_five_lines_that_print_the_labels(sandboxes):
    (block,) = [b for b in blocks(ROOT / "README.md") if "onnxruntime.InferenceSession" in b.text]
    assert len([line for line in block.text.splitlines() if line.strip()]) <= 5  # lines of code
    _, outcome = doc_block(sandboxes, "README.md", "python", "onnxruntime.InferenceSession")
    assert outcome.stdout.startswith("['setosa' 'virginica']"), outcome.stdout


def test_export_doc_check_prints_the_model_path(sandboxes):
    """docs/export.md (and the README's export section, tested above) run with onnx installed."""
    _, outcome = doc_block(sandboxes, "docs/export.md", "console", "bpcli export runs/iris --check")
    assert outcome.stdout == "runs/iris/model.onnx\n"
