"""The stale-cache guard: cached kernels are dropped when any package source changes."""

import optengine.jit as jit


def test_cached_kernels_are_dropped_when_a_source_changes(tmp_path, monkeypatch):
    pkg = tmp_path / "optengine"
    (pkg / "__pycache__").mkdir(parents=True)
    (pkg / "models" / "__pycache__").mkdir(parents=True)
    (pkg / "a.py").write_text("@kernel\ndef f(): pass\n")
    (pkg / "models" / "b.py").write_text("@kernel\ndef g(): pass\n")
    (pkg / "plain.py").write_text("z = 1\n")
    monkeypatch.setattr(jit, "PACKAGE", pkg)
    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)

    def cached():
        return sorted(p.name for p in pkg.rglob("*.nb[ic]"))

    jit.drop_stale_caches()  # first run: writes the stamp
    for d in ("__pycache__", "models/__pycache__"):
        (pkg / d / "k.f-1.py311.nbi").write_text("index")
        (pkg / d / "k.f-1.py311.1.nbc").write_text("code")
    jit.drop_stale_caches()  # nothing changed: kept
    assert len(cached()) == 4
    (pkg / "plain.py").write_text("z = 2\n")  # a file without kernels: kept
    jit.drop_stale_caches()
    assert len(cached()) == 4
    (pkg / "models" / "b.py").write_text("@kernel\ndef g(): return 1\n")  # a callee's source changes
    jit.drop_stale_caches()
    assert cached() == []


def test_kernels_never_use_fastmath():
    from optengine.optimizers import update

    assert not update.targetoptions.get("fastmath")
    assert update.targetoptions.get("error_model") == "numpy"
