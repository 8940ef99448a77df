"""Which files of a results folder optengine wrote, ``--fresh`` clearing, and the folder's lock.

A file is optengine's when its folder's manifest names it (``manifest.py``), when its name is one
only optengine makes (``.lock``, the manifest, ``.inflight/`` markers, the hidden temporary name of
an interrupted write of one of its files), or, in a folder written before the manifest existed,
when its content proves it: ``sweep.json`` with optengine's keys, ``spec.toml`` equal to the spec
it records, ``environment.json`` records, runs/curves parts with optengine's Parquet metadata.
Everything else is foreign, including any symbolic link (never followed) and a report or figure
of an old folder, which cannot be verified.

``clear(folder)`` checks everything first and deletes only when nothing foreign is there.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ConfigError
from ..results import META_KEY, PART_RE, SCHEMAS, os_errors
from . import manifest

OWN_DIRS = ("runs", "curves", "steps", "trajectories", "figures", ".inflight", "damaged", "checkpoints")
TOP_FILES = ("sweep.json", "spec.toml", "environment.json", "report.md")
_TMP_RE = re.compile(r"^\.(.+?)\.tmp(-\d+|\.png)$")  # results' ".X.tmp-PID", plots' ".X.tmp.png"
_MARKER_RE = re.compile(r"^[\w-]+\.\d+$")
SWEEP_KEYS = {"format", "name", "spec", "trial_ids"}


@dataclass
class Scan:
    """``files``: ours (to delete), ``dirs``: ours, deepest first, ``foreign``: 'path (why)' texts."""

    files: list[Path] = field(default_factory=list)
    dirs: list[Path] = field(default_factory=list)
    foreign: list[str] = field(default_factory=list)


def scan(folder, spec_raw: dict | None = None) -> Scan:
    """Sort every entry under ``folder`` into ours and foreign, without following links.
    ``spec_raw``: the spec being run (a ``spec.toml`` equal to it is ours, for a folder killed
    before it saved ``sweep.json``)."""
    folder = Path(folder)
    out = Scan()
    known = manifest.recorded(folder)
    known_dirs = {str(Path(k).parent.as_posix()) for k in known}
    known_dirs |= {p for k in list(known_dirs) for p in _parents(k)}
    checker = _Legacy(folder, spec_raw)

    def walk(d: Path, rel: str) -> bool:
        """Sort the entries of d; True when everything in it is ours."""
        clean = True
        with os_errors(d, "list"):
            entries = sorted(os.scandir(d), key=lambda e: e.name)
        for e in entries:
            r = f"{rel}/{e.name}" if rel else e.name
            path = Path(e.path)
            if e.is_symlink():
                out.foreign.append(f"{r} (a symbolic link)")
                clean = False
            elif e.is_dir(follow_symlinks=False):
                inner = walk(path, r)
                if not (r in OWN_DIRS or r.startswith("damaged/") or r in known_dirs):
                    if inner:  # otherwise its foreign files are listed already
                        out.foreign.append(f"{r}/ (a folder optengine does not make)")
                    clean = False
                elif inner:
                    out.dirs.append(path)
                else:
                    clean = False
            elif e.is_file(follow_symlinks=False) and (r in known or _own_name(r, known) or checker.ours(r, path)):
                out.files.append(path)
            else:
                out.foreign.append(r if e.is_file(follow_symlinks=False) else f"{r} (not a regular file)")
                clean = False
        return clean

    walk(folder, "")
    return out


def _parents(rel: str) -> list[str]:
    parts = rel.split("/")
    return ["/".join(parts[:i]) for i in range(1, len(parts))]


def _own_name(rel: str, known: set[str]) -> bool:
    """Names only optengine makes."""
    if rel in (".lock", manifest.NAME):
        return True
    head, _, name = rel.rpartition("/")
    if head == ".inflight":
        return bool(_MARKER_RE.match(name))
    m = _TMP_RE.match(name)
    if not m:
        return False
    target = f"{head}/{m.group(1)}" if head else m.group(1)
    return (target in known or (head == "" and m.group(1) in TOP_FILES)
            or (head in SCHEMAS and bool(PART_RE.match(m.group(1)))))


class _Legacy:
    """Content checks for files of a folder written before the manifest existed."""

    def __init__(self, folder: Path, spec_raw: dict | None):
        self.folder, self.spec_raw = folder, spec_raw
        self._sweep = None

    def sweep(self) -> dict | None:
        if self._sweep is None:
            self._sweep = {}
            path = self.folder / "sweep.json"
            if path.is_file() and not path.is_symlink():
                with contextlib.suppress(ValueError, OSError):
                    info = json.loads(path.read_text())
                    if isinstance(info, dict) and SWEEP_KEYS <= set(info):
                        self._sweep = info
        return self._sweep or None

    def ours(self, rel: str, path: Path) -> bool:
        try:
            if rel == "sweep.json":
                return self.sweep() is not None
            if rel == "environment.json":
                records = json.loads(path.read_text())
                return isinstance(records, list) and all(isinstance(r, dict) and "versions" in r for r in records)
            if rel == "spec.toml":
                written = tomllib.loads(path.read_text())
                info = self.sweep()
                return any(_same_spec(written, s) for s in ((info or {}).get("spec"), self.spec_raw) if s)
            head, _, name = rel.partition("/")
            if head in SCHEMAS and PART_RE.match(name):
                import pyarrow.parquet as pq

                meta = pq.read_metadata(path).metadata or {}
                return json.loads(meta.get(META_KEY, b"{}")).get("table") == head
        except Exception:  # unreadable, not JSON/TOML/Parquet: cannot be verified
            return False
        return False


def _same_spec(a: dict, b: dict) -> bool:
    """Equal specs, apart from the name (the file's stem when absent) and ``train.device`` (--device)."""
    def norm(x):
        x = {k: v for k, v in x.items() if k != "name"}
        if isinstance(x.get("train"), dict):
            x["train"] = {k: v for k, v in x["train"].items() if k != "device"}
        return json.dumps(x, sort_keys=True, default=str)

    return isinstance(a, dict) and isinstance(b, dict) and norm(a) == norm(b)


def describe(foreign: list[str], limit: int = 10) -> str:
    shown = ", ".join(foreign[:limit])
    return shown + (f" and {len(foreign) - limit} more" if len(foreign) > limit else "")


def clear(folder, spec_raw: dict | None = None) -> list[Path]:
    """``--fresh``: delete every file optengine wrote in ``folder``, or nothing at all when anything
    else is there (a ConfigError("out") listing it). The lock file stays; ``sweep.json`` and the
    manifest go last, so a folder cleared halfway still says what it held. Returns the deleted files."""
    folder = Path(folder)
    s = scan(folder, spec_raw)
    if s.foreign:
        raise ConfigError("out", f"--fresh would delete the results in {folder}, but it also holds files "
                                 f"optengine did not write (or cannot verify as its own): {describe(s.foreign)}; "
                                 "nothing was deleted. Move them elsewhere, or choose another folder with --out")
    last = [folder / "sweep.json", folder / manifest.NAME]
    files = [p for p in s.files if p not in last and p != folder / ".lock"]
    files += [p for p in last if p in s.files]
    for p in files:
        with os_errors(p, "delete"):
            p.unlink(missing_ok=True)
    for d in s.dirs:
        with os_errors(d, "delete"):
            d.rmdir()
    return files


@contextlib.contextmanager
def locked(folder):
    """Hold the folder's exclusive lock (``.lock``); a second holder gets ConfigError("out")."""
    import fcntl

    folder = Path(folder)
    with os_errors(folder / ".lock", "create"):
        fd = os.open(folder / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ConfigError("out", f"another optengine run is writing to {folder}; wait for it or choose "
                                     "another folder with --out") from None
        yield
    finally:
        os.close(fd)
