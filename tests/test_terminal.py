"""`bpcli train` on real terminals: a pseudo-terminal of 60, 80 and 120 columns, and tmux's screen
(capture-pane) as a person sees it. Nothing wraps, the bar's counter and timing are whole."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import shutil
import struct
import subprocess
import sys
import termios
import uuid

import pytest
from helpers import ROOT
from rich.cells import cell_len

WIDTHS = (60, 80, 120)
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")


def train_command(out) -> list[str]:
    return [
        sys.executable,
        "-m",
        "bpcli",
        "train",
        str(ROOT / "configs/moons.yaml"),
        "--out",
        str(out),
        "--set",
        "training.epochs=40",
    ]


def run_in_pty(command: list[str], width: int) -> str:
    """Everything the command wrote to a pseudo-terminal `width` columns wide."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, width, 0, 0))
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": str(width)}
    env.pop("NO_COLOR", None)
    process = subprocess.Popen(
        command, stdin=follower, stdout=subprocess.DEVNULL, stderr=follower, env=env, cwd=ROOT
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the terminal closed: the process is done
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    assert process.wait(timeout=120) == 0
    return b"".join(chunks).decode("utf-8", "replace")


@pytest.mark.parametrize("width", WIDTHS)
def test_train_in_a_pseudo_terminal_never_writes_past_the_width(width, tmp_path):
    text = run_in_pty(train_command(tmp_path / "run"), width)
    assert "\x1b[" in text  # a live display, not the plain per-epoch lines
    segments = [s for line in ANSI.sub("", text).split("\n") for s in line.split("\r") if s.strip()]
    assert all(cell_len(segment) <= width for segment in segments), segments
    final = [s for s in segments if "epoch 40/40" in s][-1]
    assert re.search(r"epoch 40/40  took \d+:\d\d", final)
    assert not any(s.startswith("epoch ") and "loss" in s and "━" not in s for s in segments)


TMUX = shutil.which("tmux")


@pytest.mark.skipif(TMUX is None, reason="tmux is not installed (apt-get install tmux)")
@pytest.mark.parametrize("width", WIDTHS)
def test_train_in_tmux_as_a_person_sees_it(width, tmp_path):
    socket, channel = f"bpcli-test-{uuid.uuid4().hex[:8]}", "done"
    tmux = [TMUX, "-L", socket]
    signal = f"{TMUX} -L {socket} wait-for -S {channel}"
    shell = " ".join(train_command(tmp_path / "run")) + f" ; {signal} ; sleep 120"  # stays shown
    try:
        subprocess.run(
            [*tmux, "-f", "/dev/null", "new-session", "-d", "-x", str(width), "-y", "50", shell],
            check=True,
            env={**os.environ, "TERM": "xterm-256color"},
            cwd=ROOT,
        )
        subprocess.run([*tmux, "wait-for", channel], check=True, timeout=120)
        screen = subprocess.run(
            [*tmux, "capture-pane", "-p", "-J"], check=True, capture_output=True, text=True
        ).stdout
    finally:
        subprocess.run([*tmux, "kill-server"], check=False, capture_output=True)
    lines = [line.rstrip() for line in screen.splitlines() if line.strip()]
    start = (
        "moons: 2-16-16-2 tanh → softmax, 354 parameters; rows: 350 train, 50 validation, 100 test"
    )
    assert lines[0].startswith(start if width > 100 else "moons: 2-16-16-2 tanh → softmax")
    # -J joins wrapped lines; the last line, the run folder on stdout, is as long as it is
    assert all(cell_len(line) <= width for line in lines[:-1]), lines
    bar = next(line for line in lines if "epoch 40/40" in line)
    assert re.search(r"━+  epoch 40/40  took \d+:\d\d", bar)
    chart = lines[lines.index("loss per epoch") :][:9]
    assert chart[-1].strip().startswith("epoch 1") and chart[-1].endswith("40")
    assert lines[-1] == str(tmp_path / "run")
