"""The environment record saved beside the results: versions, cores, threads, backend, device."""

from __future__ import annotations

import datetime
import os
import platform
import socket
import sys
from importlib import metadata

PACKAGES = ("optengine", "numba", "numpy", "scipy", "pandas", "pyarrow", "joblib", "numba-cuda", "distributed")


def cores() -> int:
    """CPU cores this process may use (its affinity mask where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def record(backend: str, jobs: int, threads: int | None, device: str, scheduler: str | None = None) -> dict:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return {
        "started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "host": socket.gethostname(), "platform": platform.platform(), "python": sys.version.split()[0],
        "machine": platform.machine(), "processor": platform.processor(), "cores": cores(),
        "backend": backend, "jobs": jobs, "numba_threads_per_worker": threads, "scheduler": scheduler,
        "device": device, "versions": versions,
    }
