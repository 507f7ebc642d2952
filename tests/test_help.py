"""Help as a person reads it at 60, 80 and 120 columns: man-page usage lines, no Python types or
value placeholders on flags, one runnable example per line, the commands table, shell completion."""

from __future__ import annotations

import re
import shlex

import pytest
from helpers import ROOT, flat, runner

from bpcli.commands import app

WIDTHS = (60, 80, 120)
COMMANDS = sorted(c.name or c.callback.__name__ for c in app.registered_commands)
TYPES = re.compile(r"<(bool|path|str|int|float|list\[[^\]]*\])>|\{\w+\}|\[\[")


def help_of(*args: str, width: int = 80):
    result = runner.invoke(app, [*args, "--help"], env={"COLUMNS": str(width)})
    assert result.exit_code == 0, result.output
    return result.stdout


def examples_of(text: str) -> list[str]:
    """The lines after 'Examples:' in a help page."""
    lines = [line.strip() for line in text.splitlines()]
    return [line for line in lines[lines.index("Examples:") + 1 :] if line]


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("command", COMMANDS)
def test_help_shows_value_names_never_python_types(command, width):
    text = help_of(command, width=width)
    assert not TYPES.search(text), text
    assert "…" not in text  # nothing cut short
    assert all(len(line) <= width for line in text.splitlines())


FLAGS = {"--quiet": "Print", "--json": "Print", "--force": "Allow", "--proba": "Add"}
FLAGS |= {"--boundary": "Draw", "--markdown": "Markdown", "--help": "Show", "--version": "Show"}


@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_flags_show_no_value_placeholder(command):
    """The help's first word follows a flag's names directly (no <bool>, no VALUE)."""
    text = help_of(*([command] if command else []), width=120)
    shown = [flag for flag in FLAGS if f" {flag} " in text]
    assert "--help" in shown
    for flag in shown:
        assert re.search(rf"{flag}\s+(-\w\s+)?{FLAGS[flag]}\b", text), flag


@pytest.mark.parametrize(
    ("command", "usage"),
    [
        (
            "train",
            "[CONFIG] [--set KEY=VALUE]... [-o DIR] [--force] [--resume RUN_DIR] [-q] [--json]",
        ),
        ("plot", "RUN_DIR... [-m NAME] [--boundary] [-o FILE]"),
        ("predict", "RUN_DIR [INPUT] [--proba] [-o FILE]"),
        ("eval", "RUN_DIR [--data SOURCE] [--split SPLIT] [--json] [--fail-under METRIC=VALUE]..."),
        ("inspect", "RUN_DIR [--json]"),
        ("explain", "CONFIG|RUN_DIR [-n N] [--markdown] [--set KEY=VALUE]..."),
        ("validate", "CONFIG [--set KEY=VALUE]..."),
    ],
)
def test_usage_reads_like_a_man_page(command, usage):
    assert f"Usage: bpcli {command} {usage}" in flat(help_of(command, width=120))


@pytest.mark.parametrize("width", WIDTHS)
def test_a_wrapped_usage_line_breaks_between_parameters(width):
    text = help_of("train", width=width)
    usage = text[text.index("Usage:") : text.index("Train a network")]
    for line in usage.splitlines():
        assert line.count("[") == line.count("]"), line


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_examples_are_one_per_line_and_parse_as_shown(command, width):
    text = help_of(*([command] if command else []), width=width)
    examples = examples_of(text)
    assert examples and all("bpcli" in line for line in examples)
    for line in examples:
        words = shlex.split(re.split(r"\s{2,}\(", line)[0])  # without a trailing (comment)
        words = words[[w.endswith("bpcli") for w in words].index(True) + 1 :]
        words = words[: next((i for i, w in enumerate(words) if w in ("|", ">")), len(words))]
        words = [w.rstrip(")") for w in words]
        parsed = runner.invoke(app, [*words, "--help"])  # options and arity are checked first
        assert parsed.exit_code == 0, (line, parsed.output)
        for word in words:
            if word.startswith("configs/"):
                assert (ROOT / word).is_file(), line


def test_no_arguments_shows_the_commands_and_exits_2_while_help_exits_0():
    bare = runner.invoke(app, [])
    assert bare.exit_code == 2
    asked = runner.invoke(app, ["--help"])
    assert asked.exit_code == 0
    for result in (bare, asked):
        assert "Commands" in result.output
        assert all(command in result.output for command in COMMANDS)


def test_shell_completion_is_offered_and_completes_commands():
    assert "--install-completion" in help_of()
    env = {"_BPCLI_COMPLETE": "complete_bash", "COMP_WORDS": "bpcli tr", "COMP_CWORD": "1"}
    result = runner.invoke(app, [], env=env, prog_name="bpcli")
    assert result.stdout.split() == ["train"]


@pytest.mark.parametrize("command", ["train", "validate", "gradcheck", "explain"])
def test_set_without_equals_says_how_to_write_it(command):
    result = runner.invoke(app, [command, "--set", "optimizer.lr", "0.01", "configs/iris.yaml"])
    assert result.exit_code == 2
    message = flat(re.sub("[│╭╮╰╯─]", " ", result.output))  # out of Typer's error box
    assert (
        "'optimizer.lr' is not KEY=VALUE: write --set optimizer.lr=VALUE as one argument" in message
    )
