"""Start-up: ``import optengine`` loads nothing heavy, the API names still resolve, and the
command line's early loky workers are the ones its sweep then runs on."""

import os
import subprocess
import sys
import time

import pytest

import optengine as oe
from optengine.sweep import run_sweep, warm_start
from optengine.sweep.runner import stop_workers

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


def test_warm_workers_are_the_ones_the_sweep_uses(tmp_path):
    from joblib.externals.loky import reusable_executor

    warm_start.start(2)
    warm_start.wait()
    before = set(reusable_executor._executor._processes)
    assert len(before) == 2
    runs = run_sweep(TINY, tmp_path / "out", jobs=2)
    assert (runs["status"] == "ok").all() and len(runs) == 2
    assert set(reusable_executor._executor._processes) == before  # reused, not restarted
    pids = set(before)
    stop_workers()
    deadline = time.monotonic() + 30
    while pids and time.monotonic() < deadline:  # loky's manager thread kills and reaps them
        pids = {pid for pid in pids if _exists(pid)}
        time.sleep(0.05)
    assert not pids
    warm_start.wait()  # nothing pending: a no-op


def test_a_dense_pack_does_not_load_scipy_sparse():
    # (a worker loads it in ~0.14 s; given train/validation arrays, nothing else here needs it)
    out = _fresh("import sys, numpy as np, optengine as oe; from optengine.data import from_arrays; "
                 "r = np.random.default_rng(0); ds = from_arrays(X=r.normal(size=(60, 4)), y=r.integers(0, 3, 60), "
                 "X_val=r.normal(size=(9, 4)), y_val=r.integers(0, 3, 9)); "
                 "oe.train_pack(oe.model('mlp', sizes=[4, 4, 3]), ds, [{'optimizer': 'sgd', 'lr': 0.1}], "
                 "batch_size='full', epochs=1); print('scipy.sparse' in sys.modules)")
    assert out == "False"
