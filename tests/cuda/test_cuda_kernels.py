"""Each CUDA kernel equals its CPU twin: update rules, schedules, clipping, the shuffle stream.

Run on the simulator (see conftest.py for what it cannot check) at tiny sizes: a few trials,
a few dozen parameters. Tolerance: float32, relative 1e-5 (the simulator is in fact bit-exact
for the update rules and the shuffle; the float64 norm differs by its summation order).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from numba import cuda

from optengine import clipping as C
from optengine import optimizers as O
from optengine import rng as R
from optengine import schedules as S
from optengine.cuda import clipping as gC
from optengine.cuda import optimizers as gO
from optengine.cuda import rng as gR
from optengine.cuda import schedules as gS

RTOL = 1e-5


def rel_err(a, b):
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(a), 1e-30))) if a.size else 0.0


def _pack_hypers():
    """One trial per rule at its test row's settings (tests/rule_cases.py), with and without l2,
    and one per further setting of the row (AMSGrad, dampening, ...)."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from rule_cases import ROWS

    settings = []
    for name, row in ROWS.items():
        settings += [(name, {"lr": row.lr}), (name, {"lr": row.lr, "l2": 0.01})]
        settings += [(name, dict(v)) for v in row.variants]
    names = [n for n, _ in settings]
    hyper = [O.validate_hyper(n, h) for n, h in settings]
    rules = np.array([O.RULE_ID[n] for n in names], dtype=np.int64)
    hypers = np.stack([O.hyper_vector(h) for h in hyper])
    return names, hyper, rules, hypers


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_update_rules_equal_the_cpu_kernels(dtype):
    names, hyper, rules, hypers = _pack_hypers()
    K, P = len(rules), 45
    rng = np.random.default_rng(0)
    theta = rng.standard_normal((K, P)).astype(dtype)
    cpu = [O.new_state(n, h, P, dtype) for n, h in zip(names, hyper)]
    state, scal = gO.pack_state(rules, hypers, P, dtype)
    gpu = theta.copy()
    lrs = hypers[:, O.HYPER_INDEX["lr"]].copy()
    for t in range(1, 6):  # five steps: state carried over, bias corrections and NAdam's product move
        g = rng.standard_normal((K, P)).astype(dtype)
        lr_t = lrs * (1.0 - 0.1 * t)  # a schedule-like lr per trial and step
        for k in range(K):
            O.update(int(rules[k]), theta[k], g[k], cpu[k][0], cpu[k][1], hypers[k], lr_t[k], t)
        ts = np.full(K, t, dtype=np.int64)
        # 2 blocks of 16 threads for K trials x 1 tile: the grid-stride loop is exercised
        gO.update[2, 16](rules, gpu, g, state, scal, hypers, lr_t, ts)
    for k in range(K):
        assert rel_err(theta[k], gpu[k]) <= RTOL, names[k]
        nb = cpu[k][0].shape[0]
        assert rel_err(cpu[k][0], state[k, :nb]) <= RTOL, names[k]
        np.testing.assert_allclose(scal[k], cpu[k][1], rtol=1e-12, err_msg=names[k])


def test_update_launcher_on_device_arrays():
    """``launch_update`` sizes the grid; one trial the CPU's way (flat arrays, scalar rule, lr, t)."""
    P = 70
    rng = np.random.default_rng(1)
    theta = rng.standard_normal(P).astype(np.float32)
    g = rng.standard_normal(P).astype(np.float32)
    h = O.validate_hyper("nadam", {"lr": 0.1, "l2": 0.5})
    hyper = O.hyper_vector(h)
    want = theta.copy()
    state, scal = O.new_state("nadam", h, P, np.float32)
    d_state, d_scal = cuda.to_device(state), cuda.to_device(scal)
    d_theta = cuda.to_device(theta)
    d_g = cuda.to_device(g)
    for t in (1, 2, 3):
        O.update(O.RULE_ID["nadam"], want, g, state, scal, hyper, 0.1, t)
        gO.launch_update(np.full(1, O.RULE_ID["nadam"], dtype=np.int64), d_theta.reshape(1, P), d_g.reshape(1, P),
                         d_state.reshape(1, *state.shape), d_scal.reshape(1, 2, scal.shape[1]), hyper.reshape(1, -1),
                         np.full(1, 0.1), np.full(1, t, dtype=np.int64), threads=16)
    assert rel_err(want, d_theta.copy_to_host()) <= RTOL
    assert rel_err(state, d_state.copy_to_host()) <= RTOL


def _schedules():
    specs = [
        ("constant", {}), ("constant", {"warmup_steps": 4, "warmup_start": 0.01}),
        ("step", {"step_size": 3, "gamma": 0.5}), ("step", {"step_size": 2, "gamma": 0.3, "warmup_steps": 3}),
        ("exponential", {"decay_rate": 0.2}), ("exponential", {"decay_rate": 0.05, "warmup_steps": 2}),
        ("cosine", {"lr_min": 0.001, "total_steps": 7}), ("cosine", {"total_steps": 5, "warmup_steps": 3,
                                                                     "warmup_start": 0.02}),
    ]
    return [S.schedule(name, lr=0.1, **kw) for name, kw in specs]


def test_schedules_equal_the_cpu_kernel():
    scheds = _schedules()
    vecs = np.stack([s.vector() for s in scheds])
    ts = np.concatenate([np.arange(14, dtype=np.float64), [2.5, 6.25]])  # past cosine's T; fractional t
    out = np.zeros((len(scheds), ts.size))
    gS.schedule_values[4, 16](vecs, ts, out)
    want = np.array([[S.schedule_lr(v, t) for t in ts] for v in vecs])
    assert rel_err(want, out) <= 1e-12  # float64 all the way


def test_clipping_equals_the_cpu_kernel():
    rng = np.random.default_rng(2)
    K, P = 6, 53
    g = (rng.standard_normal((K, P)) * np.array([[3.0], [3.0], [3.0], [0.01], [3.0], [0.01]])).astype(np.float32)
    modes = np.array([C.NO_CLIP, C.CLIP_VALUE, C.CLIP_NORM, C.CLIP_NORM, C.CLIP_VALUE, C.CLIP_VALUE])
    cs = np.array([0.0, 0.5, 1.0, 10.0, 100.0, 1.0])  # trials 3 and 5: under the threshold, untouched
    want = g.copy()
    want_norms = np.array([C.clip(want[k], int(modes[k]), cs[k]) for k in range(K)])
    got = g.copy()
    norms = np.zeros(K)
    gC.clip[K, 32](got, modes.astype(np.int64), cs, norms)
    assert rel_err(want_norms, norms) <= RTOL
    assert rel_err(want, got) <= RTOL
    np.testing.assert_array_equal(got[3], g[3])
    np.testing.assert_array_equal(got[5], g[5])
    assert np.abs(got[1]).max() <= 0.5 and np.linalg.norm(got[2]) <= 1.0 + 1e-6


def test_clip_norm_reduction_with_an_odd_block_size():
    """The reduction works for any block size, e.g. 48 threads over 1000 values (one block, two trials)."""
    rng = np.random.default_rng(3)
    g = rng.standard_normal((2, 1000)).astype(np.float32)
    norms = np.zeros(2)
    gC.clip[1, 48](g.copy(), np.zeros(2, dtype=np.int64), np.zeros(2), norms)
    assert rel_err([C.global_norm(g[0]), C.global_norm(g[1])], norms) <= 1e-12


def test_shuffle_stream_equals_the_cpu_one():
    K, n = 4, 23
    seeds = [0, 1, 7, 2**40 + 3]
    orders = np.tile(np.arange(n, dtype=np.int32), (K, 1))
    states = np.array([R.new_state(s, R._STREAM_SHUFFLE)[0] for s in seeds], dtype=np.uint64)
    results = np.zeros((K, 4), dtype=np.int64)
    results[2, 0] = 1  # a stopped trial is not shuffled
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # uint64 wrap-around in the simulator
        for _ in range(3):
            gR.shuffle[1, 32](orders, states, results)
    for k, s in enumerate(seeds):
        want = np.arange(n)
        st = R.new_state(s, R._STREAM_SHUFFLE)
        if k != 2:
            for _ in range(3):
                R.shuffle(want, st)
        np.testing.assert_array_equal(orders[k], want)


def test_one_trial_the_cpu_way():
    """``launch_update`` with the CPU kernel's arguments: flat arrays, scalar rule, lr and t (AMSGrad:
    three buffers)."""
    rng = np.random.default_rng(4)
    theta = rng.standard_normal(33).astype(np.float32)
    g = rng.standard_normal(33).astype(np.float32)
    h = O.validate_hyper("adam", {"lr": 0.01, "amsgrad": True})
    hyper = O.hyper_vector(h)
    state, scal = O.new_state("adam", h, 33, np.float32)
    assert state.shape == (3, 33)
    want = [theta.copy(), state, scal]
    dev = [cuda.to_device(a.copy()) for a in want]
    for t in (1, 2):
        O.update(O.RULE_ID["adam"], want[0], g, want[1], want[2], hyper, 0.01, t)
        gO.launch_update(O.RULE_ID["adam"], dev[0], cuda.to_device(g), dev[1], dev[2], hyper, 0.01, t, threads=16)
    for w, d in zip(want, dev):
        assert rel_err(w, d.copy_to_host()) <= RTOL
