"""optengine.memory: the available-memory bound (meminfo, cgroup, rlimit) and the refusal it drives."""

import os
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
        assert avail <= mi


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
