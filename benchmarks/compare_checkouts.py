"""Before/after comparison of two checkouts of optengine, run in alternating fresh processes.

    PYTHONPATH=OLD_CHECKOUT NUMBA_NUM_THREADS=1 python benchmarks/compare_checkouts.py k1
    PYTHONPATH=NEW_CHECKOUT NUMBA_NUM_THREADS=1 python benchmarks/compare_checkouts.py k1
    PYTHONPATH=OLD_CHECKOUT python benchmarks/compare_checkouts.py w1   (and NEW, and again, alternating)

``k1``: the engine's ``optimizers.update`` per rule on 16M float32 parameters, one thread, median of
10 steps (both the old two-buffer signature and the records' state signature are handled).
``w1``: W1's 28 trials (MNIST-1D MLP 40-100-100-10, 7 rules x 4 lr, batch 64, 20 epochs, 2 trainer
threads), best of 3 after a warm-up pack, with the mean validation accuracy (must be equal).
Prints one JSON line; the ratio new/old of alternating runs is the figure (the machine is shared).
"""
import inspect, json, sys, time
import numpy as np
import optengine as oe
from optengine import optimizers as O
from optengine.blas import one_blas_thread

what = sys.argv[1]
out = {}
if what == "k1":
    n = 16_000_000
    rng = np.random.default_rng(0)
    theta = rng.standard_normal(n).astype(np.float32)
    g = (1e-3 * rng.standard_normal(n)).astype(np.float32)
    new_api = "state" in inspect.signature(O.update.py_func).parameters
    for rule in ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw"):
        hyper = O.validate_hyper(rule, {"lr": 1e-3})
        hv = O.hyper_vector(hyper)
        rid = O.RULES.index(rule)
        if new_api:
            state, scal = O.new_state(rule, hyper, n, np.float32)
            args = (rid, theta, g, state, scal, hv, 1e-3)
        else:
            s1, s2 = np.zeros(n, np.float32), np.zeros(n, np.float32)
            args = (rid, theta, g, s1, s2, hv, 1e-3)
        O.update(*args, 1)
        ts = []
        for t in range(2, 12):
            t0 = time.perf_counter(); O.update(*args, t); ts.append(time.perf_counter() - t0)
        out[rule] = float(np.median(ts))
else:
    ds = oe.dataset("mnist1d")
    lrs = [1e-3, 3e-3, 1e-2, 3e-2]
    trials = [{"optimizer": r, "lr": lr} for r in ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw") for lr in lrs]
    model = {"name": "mlp", "hidden": [100, 100]}
    oe.train_pack(model, ds, trials[:2], batch_size=64, epochs=1, threads=2)  # compile / load
    ts = []
    for _ in range(3):
        t0 = time.perf_counter(); runs, _c = oe.train_pack(model, ds, trials, batch_size=64, epochs=20, threads=2)
        ts.append(time.perf_counter() - t0)
    out["w1"] = min(ts)
    out["acc"] = float(runs["final_val_metric"].mean())
print(json.dumps(out))
