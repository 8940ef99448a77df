"""Moving a results folder's damaged part files aside, so that their trials run again.

A part is damaged when it is torn or empty, lacks columns, or is a runs part whose curves part
is missing (``results.DamagedResults`` lists them all). Each damaged part and its partner of the
same number (runs <-> curves) move into ``<folder>/damaged/<UTC time>/runs|curves/``, where the
user can inspect them; the next resume then reruns their trials. Healthy parts are not touched.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from ..schema import SIDE_TABLES
from ..results import DamagedResults, ResultsError, os_errors, read_results
from . import manifest
from .ownership import locked


def repair_folder(folder) -> list[Path]:
    """Move the damaged parts of ``folder`` (and their partners) aside; return their new paths
    (empty when nothing is damaged). Takes the folder's lock."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ResultsError(str(folder), "no such results folder")
    with locked(folder):
        try:
            read_results(folder)
        except DamagedResults as exc:
            return move_aside(folder, exc.damaged)
    return []


def move_aside(folder, damaged) -> list[Path]:
    """Move the parts of ``damaged`` ([(path, reason)] from DamagedResults) and their partners into
    ``damaged/<time>/``; the caller holds the folder's lock."""
    folder = Path(folder)
    names = {(Path(p).parent.name, Path(p).name) for p, _ in damaged}
    names |= {(t, n) for _, n in names for t in ("runs", "curves", *SIDE_TABLES)}  # a pack's parts share a number
    # runs parts first: once a runs part is gone its trials count as not done, and a crash
    # that leaves its curves partner behind leaves an orphan the next run deletes
    todo = [(t, n) for t, n in sorted(names, key=lambda x: (x[0] != "runs", x[1])) if (folder / t / n).is_file() and not (folder / t / n).is_symlink()]
    if not todo:
        return []
    dest = _new_dir(folder)
    targets = [dest / t / n for t, n in todo]
    manifest.record(folder, targets)
    moved = []
    for (t, n), target in zip(todo, targets):
        with os_errors(target, "move a damaged part to"):
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(folder / t / n, target)
        moved.append(target)
    return moved


def _new_dir(folder: Path) -> Path:
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    dest, k = folder / "damaged" / stamp, 1
    while dest.exists():
        k += 1
        dest = folder / "damaged" / f"{stamp}-{k}"
    return dest
