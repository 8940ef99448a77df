"""A one-line progress bar on stderr: trials done / total, diverged and failed so far, elapsed, ETA."""

from __future__ import annotations

import sys
import time


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class Progress:
    """``update(done, diverged, failed)`` after each pack; redraws in place on a terminal, else
    prints a line at most every ``every`` seconds (and always the last one)."""

    def __init__(self, total: int, enabled: bool = True, stream=None, every: float = 5.0, width: int = 24,
                 messages: bool = True):
        self.total = total
        self.enabled = enabled
        self.messages = messages
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.every = every
        self.width = width
        self.start = time.perf_counter()
        self.last = -1e9
        self.line = ""

    def text(self, done: int, diverged: int, failed: int) -> str:
        elapsed = time.perf_counter() - self.start
        frac = done / self.total if self.total else 1.0
        filled = int(round(frac * self.width))
        eta = _clock(elapsed / done * (self.total - done)) if 0 < done < self.total else "-"
        return (f"[{'#' * filled}{'.' * (self.width - filled)}] {done}/{self.total} trials  "
                f"diverged {diverged}  failed {failed}  elapsed {_clock(elapsed)}  ETA {eta}")

    def update(self, done: int, diverged: int = 0, failed: int = 0) -> None:
        if not self.enabled:
            return
        now = time.perf_counter()
        final = done >= self.total
        self.line = self.text(done, diverged, failed)
        if self.tty:
            self.stream.write("\r" + self.line + ("\n" if final else ""))
            self.stream.flush()
        elif final or now - self.last >= self.every:
            self.stream.write(self.line + "\n")
            self.stream.flush()
            self.last = now

    def message(self, text: str) -> None:
        if self.messages:
            self.stream.write(("\n" if self.tty and self.line else "") + text + "\n")
            self.stream.flush()
