"""Ctrl-C (SIGINT) and SIGTERM while training: the first asks the loop to stop at the next batch
boundary (then a checkpoint is written); a second one leaves at once, through `SecondSignal`.

A second signal is raised as an exception rather than killing the process, so every atomic write in
flight removes its temporary file: files already on disk stay whole, none is left half-written.
Outside training, every command runs under `terminate_raises`, so SIGTERM does the same there
(`predict --output`, `plot`).
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class SecondSignal(KeyboardInterrupt):
    """A stop signal arrived while an earlier one was still being handled: exit now (128 + signal)."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum
        self.exit_code = 128 + signum


class StopSignals:
    """Context manager: while active, SIGINT/SIGTERM set `signum` instead of raising (main thread only)."""

    def __init__(self):
        self.signum: int | None = None
        self._previous: dict = {}

    def requested(self) -> int | None:
        """The signal that asked to stop, or None: the `should_stop` callback of `fit`."""
        return self.signum

    def _handle(self, signum, frame) -> None:
        if self.signum is not None:
            raise SecondSignal(signum)
        self.signum = signum

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            for sig in STOP_SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc_info) -> None:
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)
        self._previous.clear()


class Terminated(KeyboardInterrupt):
    """SIGTERM outside training: raised so that atomic writes in flight remove their temporary file
    (exit 143)."""

    exit_code = 128 + signal.SIGTERM


@contextmanager
def terminate_raises():
    """While active (main thread only), SIGTERM raises `Terminated` instead of killing the process."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handle(signum, frame):
        raise Terminated(signum)

    previous = signal.signal(signal.SIGTERM, handle)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
