"""Start-up: ``import optengine`` loads nothing heavy, the API names still resolve (and pickle),
and the command line's early loky workers are the ones its sweep runs on, stopped at the end,
on Ctrl-C, and when the driver is killed."""

import os
import subprocess
import sys
import time
import warnings

import pytest

import optengine as oe
from optengine.sweep import run_sweep, worker_pool

TINY = """
name = "warm"
seeds = [0]
[model]
name = "mlp"
hidden = [4]
[dataset]
name = "iris"
[train]
epochs = 1
batch_size = "full"
[optimizer]
name = ["sgd", "adam"]
lr = [0.1]
"""


def _exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _fresh(code: str) -> str:
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def test_import_loads_no_heavy_module():
    out = _fresh("import sys, optengine; print(sorted(m for m in ('numba', 'pandas', 'pyarrow', 'scipy') "
                 "if m in sys.modules))")
    assert out == "[]"


def test_public_names_resolve_lazily_and_train_stays_the_function():
    # importing the submodule optengine.train first must not make oe.train the module
    out = _fresh("import optengine.sweep.worker, optengine.sweep.expand, optengine as oe, types; "
                 "from optengine.sweep import expand, plan; "
                 "print(type(oe.train).__name__, oe.train_pack.__name__, oe.run_sweep.__name__, "
                 "isinstance(oe.models, types.ModuleType), type(expand).__name__, type(plan).__name__)")
    assert out == "function train_pack run_sweep True function function"
    for name in oe.__all__:
        assert getattr(oe, name) is not None
    assert set(oe.__all__) <= set(dir(oe))
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        oe.nope


def _worker_pids() -> set:
    from joblib.externals.loky import reusable_executor

    executor = reusable_executor._executor
    return set(executor._processes) if executor is not None else set()


def _gone(pids, timeout=30.0) -> bool:
    deadline = time.monotonic() + timeout
    while pids and time.monotonic() < deadline:
        pids = {pid for pid in pids if _exists(pid)}
        time.sleep(0.05)
    return not pids


def test_early_workers_are_the_ones_the_sweep_uses(tmp_path):
    worker_pool.start(3)  # more than the sweep needs: the extra one idles
    try:
        assert worker_pool.adopt(2) == 3
        before = _worker_pids()
        assert len(before) == 3
        runs = run_sweep(TINY, tmp_path / "out", jobs=2)
        assert (runs["status"] == "ok").all() and len(runs) == 2
        assert _worker_pids() == before  # reused, not restarted
    finally:
        worker_pool.stop()
    assert _gone(before)
    assert worker_pool.adopt(2) == 2  # nothing started early any more


def test_too_few_early_workers_are_dropped_quietly():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        worker_pool.start(2)
        assert worker_pool.adopt(3) == 3  # the round starts its own executor
        assert worker_pool.adopt(2) == 2
        worker_pool.stop()


def test_ctrl_c_while_the_cli_starts_stops_the_early_workers(tmp_path, monkeypatch, capsys):
    from optengine import cli

    real_start = worker_pool.start
    started = []

    def start_then_interrupt(n_jobs):
        real_start(n_jobs)
        started.append(_worker_pids())
        raise KeyboardInterrupt

    monkeypatch.setattr(worker_pool, "start", start_then_interrupt)
    spec = tmp_path / "s.toml"
    spec.write_text(TINY)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert cli.main(["run", str(spec), "--out", str(tmp_path / "out"), "--jobs", "2"]) == 130
    assert "interrupted" in capsys.readouterr().err
    assert started and _gone(started[0])


def test_early_workers_exit_when_the_driver_is_killed():
    code = ("import time; from optengine.sweep import worker_pool; worker_pool.start(2); worker_pool.adopt(2); "
            "from joblib.externals.loky import reusable_executor as r; print(*r._executor._processes, flush=True); "
            "time.sleep(600)")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        pids = {int(p) for p in proc.stdout.readline().split()}
        assert len(pids) == 2 and all(_exists(p) for p in pids)
    finally:
        proc.kill()
        proc.wait()
    assert _gone(pids, timeout=10)


def test_a_function_using_the_package_still_goes_to_workers():
    import cloudpickle
    from joblib import Parallel, delayed

    def name_of(_):
        return oe.train.__name__ + oe.sweep.expand.__name__

    assert cloudpickle.loads(cloudpickle.dumps(oe)) is oe
    assert Parallel(n_jobs=2)(delayed(name_of)(i) for i in range(2)) == ["trainexpand"] * 2


def test_a_dense_pack_does_not_load_scipy_sparse():
    # (a worker loads it in ~0.14 s; given train/validation/test arrays, nothing else here needs it)
    out = _fresh("import sys, numpy as np, optengine as oe; from optengine.data import from_arrays; "
                 "r = np.random.default_rng(0); ds = from_arrays(X=r.normal(size=(60, 4)), y=r.integers(0, 3, 60), "
                 "X_val=r.normal(size=(9, 4)), y_val=r.integers(0, 3, 9), X_test=r.normal(size=(9, 4)), "
                 "y_test=r.integers(0, 3, 9)); "
                 "oe.train_pack(oe.model('mlp', sizes=[4, 4, 3]), ds, [{'optimizer': 'sgd', 'lr': 0.1}], "
                 "batch_size='full', epochs=1); print('scipy.sparse' in sys.modules)")
    assert out == "False"


def test_config_errors_survive_pickling():
    # a worker process sends an error back pickled; unpickling must not turn it into another error
    import pickle

    from optengine.errors import ConfigError
    from optengine.results import ResultsError
    from optengine.sweep import SpecError

    for exc in (ConfigError("train.epochs", "must be >= 1"), ResultsError("runs/part-1.parquet", "is torn"),
                SpecError([("optimizer.lr", "must be > 0"), ("train.epochs", "must be >= 1")], "s.toml")):
        back = pickle.loads(pickle.dumps(exc))
        assert type(back) is type(exc) and str(back) == str(exc) and back.field == exc.field
    assert pickle.loads(pickle.dumps(exc)).problems == exc.problems
