"""environment.json's record: package versions, and the git commit when run from a checkout (issue 15, item 16)."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from optengine.sweep import environment

needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def _git(folder, *args):
    return subprocess.run(["git", "-C", str(folder), "-c", "user.name=t", "-c", "user.email=t@example.com",
                           "-c", "commit.gpgsign=false", *args], check=True, capture_output=True, text=True).stdout


@pytest.fixture
def checkout(tmp_path):
    """A git work tree with a tracked package folder ``pkg`` (one commit)."""
    _git(tmp_path, "init", "-q")
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("x = 1\n")
    _git(tmp_path, "add", "pkg/__init__.py")
    _git(tmp_path, "commit", "-q", "-m", "one")
    return tmp_path


def test_versions_of_the_packages_that_make_data_and_results():
    for name in ("optengine", "numba", "llvmlite", "numpy", "scipy", "pandas", "pyarrow", "scikit-learn", "mnist1d"):
        assert name in environment.PACKAGES
    v = environment.versions()
    import numba
    import numpy
    assert v["numpy"] == numpy.__version__ and v["numba"] == numba.__version__
    assert v["optengine"]  # installed or not


@needs_git
def test_commit_and_dirty_flag_of_a_checkout(checkout):
    head = _git(checkout, "rev-parse", "HEAD").strip()
    assert environment.git_state(checkout / "pkg") == {"git_commit": head, "git_dirty": False}
    (checkout / "notes.txt").write_text("untracked")  # untracked files leave the tree clean
    assert environment.git_state(checkout / "pkg")["git_dirty"] is False
    (checkout / "pkg" / "__init__.py").write_text("x = 2\n")
    assert environment.git_state(checkout / "pkg") == {"git_commit": head, "git_dirty": True}


@needs_git
def test_no_commit_outside_a_checkout_or_for_an_untracked_package(tmp_path_factory, checkout):
    none = {"git_commit": None, "git_dirty": None}
    plain = tmp_path_factory.mktemp("plain")
    (plain / "__init__.py").write_text("")
    assert environment.git_state(plain) == none
    venv_pkg = checkout / ".venv" / "site-packages" / "pkg"  # installed inside some other repository
    venv_pkg.mkdir(parents=True)
    (venv_pkg / "__init__.py").write_text("")
    assert environment.git_state(venv_pkg) == none


def test_git_missing_or_slow_is_no_error(monkeypatch, tmp_path):
    calls = []

    def missing(cmd, **kw):
        calls.append(kw)
        raise FileNotFoundError("git")

    monkeypatch.setattr(environment.subprocess, "run", missing)
    assert environment.git_state(tmp_path) == {"git_commit": None, "git_dirty": None}
    assert 0 < calls[0]["timeout"] <= 10

    def slow(folder, *args):
        raise subprocess.TimeoutExpired(["git", *args], environment.GIT_TIMEOUT_S)

    monkeypatch.setattr(environment, "_git", slow)
    rec = environment.record("sequential", 1, None, "cpu")
    assert rec["git_commit"] is None and rec["git_dirty"] is None and rec["versions"]["numpy"]


@needs_git
def test_record_has_this_checkouts_commit():
    state = environment.git_state()
    if state["git_commit"] is None:
        pytest.skip("optengine is not running from a git checkout")
    head = subprocess.run(["git", "-C", str(environment.SOURCE), "rev-parse", "HEAD"], capture_output=True,
                          text=True).stdout.strip()
    rec = environment.record("loky", 2, 1, "cpu")
    assert rec["git_commit"] == head and isinstance(rec["git_dirty"], bool)
