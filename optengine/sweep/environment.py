"""The environment record saved beside the results: versions, git commit, cores, threads, backend, device."""

from __future__ import annotations

import datetime
import os
import platform
import socket
import subprocess
import sys
from importlib import metadata
from pathlib import Path

# Every installed package that generates data or results, or runs the trials (a missing one is left out).
PACKAGES = ("optengine", "numba", "llvmlite", "numpy", "scipy", "pandas", "pyarrow", "scikit-learn", "mnist1d",
            "joblib", "numba-cuda", "distributed")
SOURCE = Path(__file__).resolve().parents[1]  # the optengine package folder
GIT_TIMEOUT_S = 5


def cores() -> int:
    """CPU cores this process may use (its affinity mask where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def versions() -> dict:
    """{package: version} of the installed PACKAGES (optengine's own ``__version__`` when run from a
    checkout that is not installed)."""
    out = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            if name == "optengine":
                from .. import __version__
                out[name] = __version__
    return out


def _git(folder: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", "-C", str(folder), *args], capture_output=True, text=True,
                          timeout=GIT_TIMEOUT_S, env={**os.environ, "GIT_OPTIONAL_LOCKS": "0"})


def git_state(folder: Path = SOURCE) -> dict:
    """``{"git_commit": HEAD's hash, "git_dirty": whether a tracked file differs from it}`` when
    ``folder`` holds tracked files of a git work tree (optengine run from its checkout or an editable
    install), else both None: not in a work tree, not tracked there (e.g. installed into a ``.venv``
    inside some other repository), no git, or git failed or took longer than GIT_TIMEOUT_S.
    Untracked files do not make the tree dirty."""
    try:
        if _git(folder, "ls-files", "--error-unmatch", "--", "__init__.py").returncode != 0:
            return {"git_commit": None, "git_dirty": None}
        head = _git(folder, "rev-parse", "--verify", "HEAD")
        status = _git(folder, "status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):  # no git, or git too slow
        return {"git_commit": None, "git_dirty": None}
    commit = head.stdout.strip() if head.returncode == 0 else None
    return {"git_commit": commit or None,
            "git_dirty": bool(status.stdout.strip()) if status.returncode == 0 and commit else None}


def record(backend: str, jobs: int, threads: int | None, device: str, scheduler: str | None = None) -> dict:
    """One run's record for ``environment.json``."""
    return {
        "started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "host": socket.gethostname(), "platform": platform.platform(), "python": sys.version.split()[0],
        "machine": platform.machine(), "processor": platform.processor(), "cores": cores(),
        "backend": backend, "jobs": jobs, "numba_threads_per_worker": threads, "scheduler": scheduler,
        "device": device, **git_state(), "versions": versions(),
    }
