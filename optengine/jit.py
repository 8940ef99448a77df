"""The one place kernels get their compile options, and a guard against stale caches.

``cache=True`` (compiled once, reused from disk), ``nogil=True`` (the pack trainer runs
trials on several Python threads), ``error_model="numpy"`` (a float
division by zero gives inf/nan like NumPy instead of raising, which would be lost inside
a trainer thread; the trainer turns non-finite values into divergence), and never ``fastmath=True``
(it would delete the NaN/inf checks; ``reassociate`` allows the harmless ``reassoc`` alone).

Numba checks a cached kernel against its own source file only, so a kernel that calls a
kernel in another file (the trainer calls the models and the rules) would keep running
the old callee after that file changes. ``drop_stale_caches`` therefore fingerprints the
package's kernel sources and drops all of its cached kernels when any of them changed.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from numba import njit

PACKAGE = Path(__file__).resolve().parent
STAMP = "optengine-sources.stamp"


def kernel(fn=None, *, reassociate=False):
    """``@kernel`` or ``@kernel(reassociate=True)``: a module-level Numba kernel (cached, nogil).

    ``reassociate=True`` lets LLVM reorder a sum into vector lanes (the one fast-math flag
    ``reassoc``: NaN and inf still propagate). Only for a float64 reduction whose last bits may
    depend on the machine's vector width; the same machine always gives the same value."""
    options = {"fastmath": {"reassoc"}} if reassociate else {}
    decorate = njit(cache=True, error_model="numpy", nogil=True, **options)
    return decorate if fn is None else decorate(fn)


def _sources_fingerprint() -> str:
    """SHA-1 over the sources that define kernels (and this file)."""
    h = hashlib.sha1()
    for path in sorted(PACKAGE.rglob("*.py")):
        text = path.read_bytes()
        if b"@kernel" in text or path == PACKAGE / "jit.py":
            h.update(str(path.relative_to(PACKAGE)).encode())
            h.update(text)
    return h.hexdigest()


def _cache_dirs():
    yield from (p for p in PACKAGE.rglob("__pycache__") if p.is_dir())
    custom = os.environ.get("NUMBA_CACHE_DIR")
    if custom and Path(custom).is_dir():
        yield Path(custom)


def drop_stale_caches() -> None:
    """Remove this package's cached kernels if any of its source files changed since they were written."""
    try:
        stamp_dir = PACKAGE / "__pycache__"
        stamp = stamp_dir / STAMP
        current = _sources_fingerprint()
        if stamp.is_file() and stamp.read_text() == current:
            return
        for d in _cache_dirs():
            for f in list(d.rglob("*.nbi")) + list(d.rglob("*.nbc")):
                if d == stamp_dir or "optengine" in str(f) or PACKAGE in f.parents:
                    f.unlink(missing_ok=True)
        stamp_dir.mkdir(exist_ok=True)
        tmp = stamp.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(current)
        os.replace(tmp, stamp)
    except OSError:
        pass  # a read-only install: its sources do not change either


drop_stale_caches()
