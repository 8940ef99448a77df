"""optengine.memory: the available-memory bound (meminfo, cgroup, rlimit) and the refusal it drives."""

import os
import re
import subprocess
import sys
import textwrap

import pytest

from optengine import memory
from optengine.errors import ConfigError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_format_bytes():
    assert memory.format_bytes(0) == "0 B"
    assert memory.format_bytes(512) == "512 B"
    assert memory.format_bytes(1536) == "1.5 KiB"
    assert memory.format_bytes(12.3 * 2**30) == "12.3 GiB"
    assert memory.format_bytes(3 * 2**50) == "3.0 PiB"
    assert memory.format_bytes(5000 * 2**50) == "5000.0 PiB"


def test_available_is_positive_and_within_meminfo():
    avail = memory.available_bytes()
    assert avail > 0
    mi = memory._meminfo_available()
    if mi is not None:
        assert avail <= mi + (256 << 20)  # MemAvailable moves between the two reads


def test_require_passes_small_and_refuses_large():
    memory.require("x", "a tiny array", 1024)
    memory.require("x", "nothing", 0)
    with pytest.raises(ConfigError) as e:
        memory.require("dataset.n_samples", "the dataset (100000000 x 50 float64)", 1 << 62)
    assert e.value.field == "dataset.n_samples"
    msg = str(e.value)
    assert "the dataset (100000000 x 50 float64) needs 4096.0 PiB but only" in msg
    assert msg.endswith("of memory is available")


def test_cgroup_v2_limit_and_ancestors(tmp_path):
    root = tmp_path / "cg"
    leaf = root / "a" / "b"
    leaf.mkdir(parents=True)
    (root / "cgroup.controllers").write_text("memory\n")
    (leaf / "memory.max").write_text("max\n")
    (leaf / "memory.current").write_text("100\n")
    (root / "a" / "memory.max").write_text(str(10_000) + "\n")
    (root / "a" / "memory.current").write_text("4000\n")
    proc = tmp_path / "cgroup"
    proc.write_text("0::/a/b\n")
    assert memory._cgroup_free(str(root), str(proc)) == 6000
    (root / "a" / "memory.max").write_text("max\n")
    assert memory._cgroup_free(str(root), str(proc)) is None


def test_cgroup_v1_limit(tmp_path):
    root = tmp_path / "cg"
    d = root / "memory" / "grp"
    d.mkdir(parents=True)
    (d / "memory.limit_in_bytes").write_text("1048576\n")
    (d / "memory.usage_in_bytes").write_text("48576\n")
    (root / "memory" / "memory.limit_in_bytes").write_text("9223372036854771712\n")   # unlimited
    proc = tmp_path / "cgroup"
    proc.write_text("4:memory:/grp\n0::/\n")
    assert memory._cgroup_free(str(root), str(proc)) == 1_000_000


def test_rlimit_as_bounds_available():
    """With RLIMIT_AS set to current size + 256 MiB, available_bytes is at most ~256 MiB and require refuses 1 GiB."""
    script = textwrap.dedent("""
        import resource
        from optengine import memory
        size = memory._status_sizes("/proc/self/status")["VmSize"]
        resource.setrlimit(resource.RLIMIT_AS, (size + (256 << 20), resource.RLIM_INFINITY))
        avail = memory.available_bytes()
        assert 0 < avail <= (256 << 20), avail
        try:
            memory.require("model.hidden", "the pack", 1 << 30)
        except Exception as e:
            print(type(e).__name__, e)
    """)
    if not os.path.exists("/proc/self/status"):
        pytest.skip("needs /proc")
    env = dict(os.environ, PYTHONPATH=ROOT)
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("ConfigError model.hidden: the pack needs 1.0 GiB but only ")


# -- the command line under a memory limit: refused before any work, no traceback ---------------------

WRAPPER = textwrap.dedent("""
    import resource, sys
    import optengine.cli, optengine.train, optengine.sweep.runner, optengine.sweep.plan  # numba etc. loaded
    from optengine import memory
    size = memory._status_sizes("/proc/self/status")["VmSize"]
    resource.setrlimit(resource.RLIMIT_AS, (size + (512 << 20), resource.RLIM_INFINITY))
    sys.exit(optengine.cli.main(sys.argv[1:]))
""")

BIG_DATA = """
name = "big_data"
[model]
name = "mlp"
hidden = [4]
[dataset]
name = "synthetic_classification"
n_samples = 100000000
n_features = 50
[train]
epochs = 1
[optimizer]
name = "sgd"
lr = 0.1
"""
BIG_MODEL = BIG_DATA.replace('name = "synthetic_classification"\nn_samples = 100000000\nn_features = 50',
                             'name = "iris"').replace("hidden = [4]", "hidden = [100000, 100000]")


def _limited(tmp_path, *argv):
    script = tmp_path / "limited.py"
    script.write_text(WRAPPER)
    env = dict(os.environ, PYTHONPATH=ROOT)
    return subprocess.run([sys.executable, str(script), *argv], env=env, capture_output=True, text=True,
                          timeout=120, cwd=tmp_path)


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs /proc")
@pytest.mark.parametrize("text,field", [(BIG_DATA, "dataset"), (BIG_MODEL, "model")], ids=["data", "model"])
def test_plan_and_run_refuse_what_does_not_fit_in_memory(tmp_path, text, field):
    spec = tmp_path / "spec.toml"
    spec.write_text(text)
    out = tmp_path / "res"
    for argv in (["plan", str(spec)], ["run", str(spec), "--out", str(out), "--backend", "sequential"]):
        res = _limited(tmp_path, *argv)
        assert res.returncode == 2, res.stderr
        assert "Traceback" not in res.stderr and "MemoryError" not in res.stderr
        assert re.search(rf"^  {field}[.\w\[\]]*: .*needs .* available", res.stderr, re.M), res.stderr
    assert not out.exists()


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs /proc")
def test_train_refuses_a_dataset_that_does_not_fit(tmp_path):
    res = _limited(tmp_path, "train", "--dataset", "synthetic_classification", "--dataset-opt", "n_samples=100000000",
                   "--dataset-opt", "n_features=50", "--hidden", "4", "--epochs", "1")
    assert res.returncode == 2, res.stderr
    assert res.stderr.startswith("optengine: error: ") and res.stderr.count("\n") == 1, res.stderr
    assert "needs" in res.stderr and "available" in res.stderr and "Traceback" not in res.stderr


def test_pack_estimate_counts_parameters_optimizer_state_workspace_and_data(monkeypatch):
    from optengine.models import model
    from optengine.sweep import preflight as pf

    mdl = model("mlp", sizes=[4, 1000, 3])  # 8003 parameters
    parts = pf.pack_bytes(mdl, n_rows=100, data_bytes=4000, batch=10, dtype="float32", trials=8, threads=2)
    assert parts["parameters"] == 8 * 8003 * (8 + 4)
    ws = max(mdl.workspace_size(10), mdl.workspace_size(100))
    assert parts["per_trial"] == 2 * ((1 + 3) * 8003 * 4 + ws * 4 + 100 * 8)  # gradient + 3 buffers (AMSGrad)
    assert parts["data"] == 4000 + 2000
    need = sum(pf.pack_bytes(mdl, 100, 4000, 10, "float32", 16, pf.cores()).values())
    one = sum(pf.pack_bytes(mdl, 100, 4000, 10, "float32", 1, 1).values())
    monkeypatch.setattr(memory, "available_bytes", lambda: (need + one) // 2)
    with pytest.raises(ConfigError) as e:
        pf.check_pack_memory(mdl, 100, "mlp on d", 4000, 10, "float32", 16)
    assert e.value.field == "model"
    assert "a pack of 16 mlp on d trials (8,003 parameters each, float32" in str(e.value)
    assert "fewer trials per pack fit (--pack-size 1)" in str(e.value)
    pf.check_pack_memory(mdl, 100, "mlp on d", 4000, 10, "float32", 1)  # one trial fits
