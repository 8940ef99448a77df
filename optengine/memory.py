"""How much memory this process may still allocate, and a check that refuses a request that will not fit.

``available_bytes()`` is the smallest of: the kernel's MemAvailable, the cgroup's limit minus its usage
(cgroup v2 ``memory.max``/``memory.current`` or v1 ``memory.limit_in_bytes``/``memory.usage_in_bytes``,
on this process's cgroup and its ancestors), and RLIMIT_AS / RLIMIT_DATA minus this process's current
virtual / data size when those limits are set. ``require`` raises ConfigError before anything is
allocated when an estimate exceeds it.
"""

from __future__ import annotations

import os
import resource

from .errors import ConfigError

_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")
_UNLIMITED_V1 = 1 << 60          # v1 reports "no limit" as a huge page-rounded number (2^63 - 4096)


def format_bytes(n) -> str:
    """``n`` bytes in binary units: ``512 B``, ``1.5 KiB``, ``12.3 GiB``."""
    n = float(n)
    for unit in _UNITS:
        if abs(n) < 1024 or unit == _UNITS[-1]:
            return f"{int(n)} B" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def available_bytes() -> int:
    """Bytes this process may still allocate (the tightest of the machine, cgroup and rlimit bounds)."""
    bounds = [_meminfo_available(), _cgroup_free(), _rlimit_free()]
    bounds = [b for b in bounds if b is not None]
    if not bounds:                                  # no /proc (not Linux): physical memory at best
        try:
            bounds.append(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
        except (ValueError, OSError, AttributeError):
            return 1 << 62
    return max(0, int(min(bounds)))


def require(field: str, what: str, nbytes) -> None:
    """Raise ConfigError(field, ...) when ``what`` (an estimate of ``nbytes``) will not fit in memory."""
    nbytes = int(nbytes)
    if nbytes <= 0:
        return
    avail = available_bytes()
    if nbytes > avail:
        raise ConfigError(field, f"{what} needs {format_bytes(nbytes)} but only {format_bytes(avail)} "
                                 f"of memory is available")


def _read_int(path):
    try:
        with open(path) as f:
            text = f.read().strip()
    except OSError:
        return None
    if text == "max":
        return None
    try:
        return int(text)
    except ValueError:
        return None


def _meminfo_available(path="/proc/meminfo"):
    try:
        with open(path) as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _cgroup_free(root="/sys/fs/cgroup", proc_cgroup="/proc/self/cgroup"):
    """The least (limit - usage) over this process's memory cgroup and its ancestors; None if unlimited."""
    try:
        with open(proc_cgroup) as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    free = []
    for line in lines:
        hid, controllers, path = (line.split(":", 2) + ["", ""])[:3]
        if hid == "0" and controllers == "":                          # v2 unified hierarchy
            base, limit_name, usage_name = root, "memory.max", "memory.current"
            if not os.path.exists(os.path.join(root, "cgroup.controllers")):
                base = os.path.join(root, "unified")
        elif "memory" in controllers.split(","):                      # v1 memory controller
            base, limit_name, usage_name = os.path.join(root, "memory"), "memory.limit_in_bytes", "memory.usage_in_bytes"
        else:
            continue
        for d in _ancestors(base, path):
            limit = _read_int(os.path.join(d, limit_name))
            if limit is None or limit >= _UNLIMITED_V1:
                continue
            usage = _read_int(os.path.join(d, usage_name)) or 0
            free.append(limit - usage)
    return min(free) if free else None


def _ancestors(base, path):
    """``base`` joined with ``path`` and each of its parents up to ``base`` (those that exist)."""
    parts = [p for p in path.strip("/").split("/") if p]
    dirs = [os.path.join(base, *parts[:i]) for i in range(len(parts), -1, -1)]
    return [d for d in dirs if os.path.isdir(d)]


def _rlimit_free(status="/proc/self/status"):
    """RLIMIT_AS minus VmSize and RLIMIT_DATA minus VmData, the smaller; None if neither is set."""
    sizes = _status_sizes(status)
    free = []
    for limit_name, size_key in (("RLIMIT_AS", "VmSize"), ("RLIMIT_DATA", "VmData")):
        if not hasattr(resource, limit_name):
            continue
        soft, _ = resource.getrlimit(getattr(resource, limit_name))
        if soft != resource.RLIM_INFINITY and soft >= 0:
            free.append(soft - sizes.get(size_key, 0))
    return min(free) if free else None


def _status_sizes(path):
    sizes = {}
    try:
        with open(path) as f:
            for line in f:
                key, _, rest = line.partition(":")
                if key in ("VmSize", "VmData"):
                    sizes[key] = int(rest.split()[0]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return sizes
