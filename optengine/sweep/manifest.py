"""The record of every file optengine writes into a results folder: ``<folder>/.optengine-manifest``.

One path per line, relative to the folder. A path is recorded *before* its file is written, so
a run killed at any moment leaves no file of ours unrecorded. ``--fresh`` deletes only recorded
files (and, in folders written before the manifest existed, files it can verify as optengine's:
``sweep/ownership.py``). Anything that writes into a results folder calls::

    manifest.record(folder, [folder / "report.md", folder / "figures" / "best_curves.png"])

Each call appends its lines in one write and fsyncs them; a line torn by a crash is ignored
(only lines ending in a newline count).
"""

from __future__ import annotations

import os
from pathlib import Path

NAME = ".optengine-manifest"


def record(folder, paths) -> None:
    """Add ``paths`` (files inside ``folder``, e.g. ``folder / "report.md"``) to the folder's manifest.
    An OSError becomes a ResultsError naming the manifest."""
    from ..results import os_errors

    folder = Path(folder)
    lines = []
    for p in paths:
        text = Path(os.path.relpath(os.path.abspath(p), os.path.abspath(folder))).as_posix()
        if text.startswith("..") or "\n" in text or text in (".", ""):
            raise ValueError(f"{p} is not a file inside {folder}")
        lines.append(text + "\n")
    if not lines:
        return
    path = folder / NAME
    with os_errors(path, "record the files optengine writes in"):
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            size = os.fstat(fd).st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":
                lines.insert(0, "\n")  # a line torn by a crash stays alone on its line
            os.write(fd, "".join(lines).encode())
            os.fsync(fd)
        finally:
            os.close(fd)


def recorded(folder) -> set[str]:
    """The paths (relative, POSIX) recorded in ``folder``'s manifest; empty when it has none."""
    path = Path(folder) / NAME
    if path.is_symlink() or not path.is_file():
        return set()
    from ..results import os_errors

    with os_errors(path, "read"):
        text = path.read_bytes().decode("utf-8", errors="replace")
    lines = text.split("\n")[:-1]  # the last piece has no newline: torn or empty
    return {line for line in lines if line}


def remove(folder) -> None:
    """Delete the manifest (the last step of clearing a folder)."""
    from ..results import os_errors

    path = Path(folder) / NAME
    with os_errors(path, "remove"):
        path.unlink(missing_ok=True)
