"""The sample output in the docs is what bpcli prints: the first run, line by line, modulo timings
and the run folder's time stamp ('...' in the sample stands for any lines)."""

from __future__ import annotations

import re

from helpers import ROOT, runner

from bpcli.commands import app

COMMAND = "$ bpcli train configs/digits.yaml"
VARIABLE = [
    (re.compile(r"\(\d+ ms\)|\(\d+\.\d+ s\)"), "(TIME)"),
    (re.compile(r"runs/digits-\d{8}-\d{6}"), "runs/digits-TIME"),
]


def sample_block() -> list[str]:
    """The console block that starts with the first-run command, from README.md or docs/*.md."""
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text = path.read_text(encoding="utf-8")
        start = text.find(f"```console\n{COMMAND}\n")
        if start >= 0:
            body = text[start:].split("\n", 2)[2]
            return body[: body.index("```")].splitlines()
    raise AssertionError(f"no console block starting with {COMMAND!r} in README.md or docs/")


def normalized(line: str) -> str:
    for pattern, replacement in VARIABLE:
        line = pattern.sub(replacement, line)
    return line.rstrip()


def as_pattern(sample: list[str]) -> re.Pattern:
    """The sample as a regex over whole output lines: '...' matches any lines in between."""
    parts = [
        r"(?:[^\n]*\n)*?" if line == "..." else re.escape(normalized(line)) + r"\n"
        for line in sample
    ]
    return re.compile("".join(parts))


def test_the_first_run_sample_matches_real_output(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "configs").symlink_to(ROOT / "configs")
    result = runner.invoke(app, COMMAND.split()[2:], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    printed = "".join(
        normalized(line) + "\n" for line in (result.stderr + result.stdout).splitlines()
    )
    sample = sample_block()
    assert as_pattern(sample).fullmatch(printed), "\n".join(
        ["the sample in the docs:", *sample, "", "what bpcli printed:", printed]
    )


def test_the_comparison_fails_on_a_changed_sample():
    pattern = as_pattern(["epoch 1/2  loss 0.5  (3 ms)", "...", "runs/digits-20250101-120000"])
    assert pattern.fullmatch("epoch 1/2  loss 0.5  (TIME)\nx\ny\nruns/digits-TIME\n")
    assert not pattern.fullmatch("epoch 1/2  loss 0.5000  (TIME)\nruns/digits-TIME\n")
    assert not pattern.fullmatch("epoch 1/2  loss 0.5  (TIME)\nruns/digits-TIME\nextra\n")
