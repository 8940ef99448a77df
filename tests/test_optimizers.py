"""The seven update rules against the NumPy references of ``tests/reference.py``.

The problem: a quadratic with a fixed random SPD matrix, g_t = A @ theta_t - b + p_t,
where p_t is a deterministic per-step perturbation, so every step's gradient depends on
the parameters the rule produced (errors are not hidden by a fixed gradient sequence).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import reference as R  # noqa: E402

import optengine.optimizers as O  # noqa: E402
from optengine.errors import ConfigError  # noqa: E402

N = 50
STEPS = 200


class Problem:
    """g(theta, t) = A @ theta - b + p_t in the dtype of theta."""

    def __init__(self, n=N, seed=0):
        rng = np.random.default_rng(seed)
        q = rng.standard_normal((n, n))
        self.A = q @ q.T / n + 0.5 * np.eye(n)  # SPD, eigenvalues in about [0.5, 4.5]
        # minimiser x* with entries of magnitude 1.5..3, start near it: no entry of theta
        # passes through 0, so elementwise relative errors stay meaningful
        self.x_star = rng.uniform(1.5, 3.0, n) * np.sign(rng.standard_normal(n))
        self.b = self.A @ self.x_star
        self.theta0 = self.x_star + 0.4 * rng.standard_normal(n)
        ii = np.arange(n)
        self.p = np.array([0.1 * np.sin(0.37 * t + ii) for t in range(STEPS + 1)])
        self._f32 = (self.A.astype(np.float32), self.b.astype(np.float32), self.p.astype(np.float32))

    def grad(self, theta, t):
        if theta.dtype == np.float32:
            A, b, p = self._f32
        else:
            A, b, p = self.A, self.b, self.p
        return A @ theta - b + p[t]


PROBLEM = Problem()

from rule_cases import ROWS  # noqa: E402

# A learning rate per rule that keeps the 200-step run stable and still moving (the rule's test row).
LR = {name: row.lr for name, row in ROWS.items()}

# State buffers of the kernels (in order) and their names in the references: the records'.
BUFFERS = {r.name: [b for b, _ in r.buffers] for r in O.RECORDS}

CASES = []
for _name in O.RULES:
    CASES.append((_name, {"lr": LR[_name]}))                    # notes' defaults
    CASES.append((_name, {"lr": LR[_name], "l2": 0.05}))        # coupled L2
NON_DEFAULT = [(_name, dict(v)) for _name in O.RULES for v in ROWS[_name].variants]


def test_every_rule_has_a_test_row_and_a_reference():
    assert set(ROWS) == set(O.RULES)
    assert set(R.RULES) == set(O.RULES)


def _ids(cases):
    return [f"{n}-" + ",".join(f"{k}={v}" for k, v in h.items()) for n, h in cases]


def rel_errors(a, b):
    """(norm-wise, max elementwise) relative error of a against the reference b."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    scale = np.linalg.norm(b)
    normwise = np.linalg.norm(a - b) / scale if scale else np.linalg.norm(a - b)
    # elementwise, with a floor so an entry passing through 0 is measured on the vector's scale
    floor = 1e-3 * np.max(np.abs(b)) if b.size else 1.0
    elementwise = np.max(np.abs(a - b) / np.maximum(np.abs(b), floor)) if b.size else 0.0
    return normwise, elementwise


def run_pair(name, hyper, kernel_dtype, ref_dtype, steps=STEPS, lr_fn=None):
    """Run the optimizer and the reference side by side, each on its own trajectory.

    ``lr_fn(t)`` (t from 1): the per-step lr passed as the ``lr=`` override (None: no override).
    Returns the worst (normwise, elementwise) relative errors of params over all steps,
    plus the final kernel state and reference state.
    """
    opt = O.optimizer(name, **hyper)
    theta_k = PROBLEM.theta0.astype(kernel_dtype)
    theta_r = PROBLEM.theta0.astype(ref_dtype)
    state_k = opt.init(theta_k)
    state_r = R.init(name, theta_r)
    worst = np.zeros(2)
    for t in range(1, steps + 1):
        gk = PROBLEM.grad(theta_k, t)
        gr = PROBLEM.grad(theta_r, t)
        assert gk.dtype == kernel_dtype and gr.dtype == ref_dtype
        before = theta_k
        h = dict(hyper)
        if lr_fn is not None and lr_fn(t) is not None:
            h["lr"] = lr_fn(t)
            opt.step(theta_k, gk, state_k, lr=lr_fn(t))
        else:
            opt.step(theta_k, gk, state_k)
        assert theta_k is before and theta_k.dtype == kernel_dtype  # in place, dtype kept
        theta_r, state_r = R.step(name, theta_r, gr, state_r, **h)
        assert theta_r.dtype == ref_dtype
        worst = np.maximum(worst, rel_errors(theta_k, theta_r))
        assert np.min(np.abs(theta_r)) > 0.1  # the elementwise floor of rel_errors never acts on params
    assert np.all(np.isfinite(theta_k))
    # the run really moved the parameters (towards the minimiser)
    assert np.linalg.norm(theta_k - PROBLEM.theta0) > 0.3 * np.linalg.norm(PROBLEM.theta0 - PROBLEM.x_star)
    return worst, state_k, state_r


@pytest.mark.parametrize("name,hyper", CASES + NON_DEFAULT, ids=_ids(CASES + NON_DEFAULT))
def test_rule_matches_reference_float64(name, hyper):
    worst, state_k, state_r = run_pair(name, hyper, np.float64, np.float64)
    assert worst[0] <= 1e-12, f"normwise relative error {worst[0]:.3g}"
    assert worst[1] <= 1e-12, f"elementwise relative error {worst[1]:.3g}"
    # the state buffers agree too, and the step counter counts from 1. The buffers are
    # gradient-like (g = A@theta - b cancels near the minimiser, and first-moment entries
    # pass through 0), so they are compared norm-wise with a looser bound than the params.
    assert state_k.t == STEPS
    assert len(state_k.buffers) == O.n_buffers(name, O.validate_hyper(name, hyper))
    for buf, key in zip(state_k.buffers, BUFFERS[name]):
        assert buf.dtype == np.float64
        ne, _ = rel_errors(buf, state_r[key])
        assert ne <= 1e-10, f"state {key}: {ne:.3g}"
    if "t" in state_r:
        assert state_r["t"] == STEPS
    for j, (key, _, _) in enumerate(O.RECORDS[O.RULE_ID[name]].scalars):  # per-trial scalar state
        assert abs(state_k.scalars[STEPS % 2, j] - state_r[key]) <= 1e-12 * abs(state_r[key])


@pytest.mark.parametrize("name,hyper", CASES + NON_DEFAULT, ids=_ids(CASES + NON_DEFAULT))
def test_rule_float32(name, hyper):
    # kernel float32 vs the float64 reference: float32 rounding only
    worst64, state_k, _ = run_pair(name, hyper, np.float32, np.float64)
    tol = ROWS[name].float32_tol
    assert worst64[0] <= tol, f"normwise vs float64 reference {worst64[0]:.3g}"
    assert worst64[1] <= tol, f"elementwise vs float64 reference {worst64[1]:.3g}"
    assert all(b.dtype == np.float32 for b in state_k.buffers)
    # kernel float32 vs the same arithmetic in float32 NumPy
    worst32, state_k, state_r = run_pair(name, hyper, np.float32, np.float32)
    assert worst32[0] <= 1e-5, f"normwise vs float32 reference {worst32[0]:.3g}"
    assert worst32[1] <= 1e-5, f"elementwise vs float32 reference {worst32[1]:.3g}"
    for buf, key in zip(state_k.buffers, BUFFERS[name]):
        assert buf.dtype == np.float32 and state_r[key].dtype == np.float32
        ne, _ = rel_errors(buf, state_r[key])
        assert ne <= 1e-4, f"state {key}: {ne:.3g}"  # gradient-like, see the float64 test


@pytest.mark.parametrize("name", O.RULES)
def test_lr_override(name):
    """``step(..., lr=x)`` uses x for that step only; steps without it use the rule's lr."""
    base = LR[name]

    def lr_fn(t):
        if t % 3 == 0:
            return None  # no override: the optimizer's own lr
        return base * (0.5 + 0.5 * np.cos(0.05 * t)) + 1e-4

    worst, _, _ = run_pair(name, {"lr": base, "l2": 0.01}, np.float64, np.float64, lr_fn=lr_fn)
    assert worst[0] <= 1e-12 and worst[1] <= 1e-12, worst
    worst, _, _ = run_pair(name, {"lr": base}, np.float32, np.float64, lr_fn=lr_fn)
    tol = ROWS[name].float32_tol
    assert worst[0] <= tol and worst[1] <= tol, worst


@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-12), (np.float32, 1e-5)])
def test_adamw_schedule_decay_follows_the_schedule_multiplier(dtype, tol):
    """schedule_decay (Loshchilov & Hutter): under a schedule lr_t = eta_t * lr the decay is eta_t * weight_decay
    * theta, not lr_t * weight_decay * theta; the Adam part still takes lr_t."""
    base, wd = 0.01, 0.05
    opt = O.optimizer("adamw", lr=base, weight_decay=wd, schedule_decay=True)
    theta_k = PROBLEM.theta0.astype(dtype)
    theta_r = PROBLEM.theta0.copy()
    state_k, state_r = opt.init(theta_k), R.init("adamw", theta_r)
    worst = np.zeros(2)
    for t in range(1, STEPS + 1):
        lr_t = base * (0.5 + 0.5 * np.cos(np.pi * t / STEPS)) + 1e-5  # a cosine schedule
        opt.step(theta_k, PROBLEM.grad(theta_k, t), state_k, lr=lr_t)
        theta_r, state_r = R.step("adamw", theta_r, PROBLEM.grad(theta_r, t), state_r, lr=lr_t, weight_decay=wd,
                                  schedule_decay=True, base_lr=base)
        worst = np.maximum(worst, rel_errors(theta_k, theta_r))
    assert worst[0] <= tol and worst[1] <= tol, worst
    # and it is not the torch parameterisation: at the same settings that one ends elsewhere
    theta_t, state_t = PROBLEM.theta0.copy(), R.init("adamw", PROBLEM.theta0)
    for t in range(1, STEPS + 1):
        lr_t = base * (0.5 + 0.5 * np.cos(np.pi * t / STEPS)) + 1e-5
        theta_t, state_t = R.step("adamw", theta_t, PROBLEM.grad(theta_t, t), state_t, lr=lr_t, weight_decay=wd)
    assert rel_errors(theta_t, theta_r)[0] > 1e-3


def test_lr_override_does_not_change_stored_lr():
    opt = O.optimizer("sgd", lr=0.1)
    p = np.ones(4)
    s = opt.init(p)
    opt.step(p, np.ones(4), s, lr=0.5)
    np.testing.assert_allclose(p, 0.5)
    opt.step(p, np.ones(4), s)
    np.testing.assert_allclose(p, 0.4, rtol=1e-15)


# -- Nesterov: the stored look-ahead form is the seed's NAG --------------------------------------


@pytest.mark.parametrize("momentum,l2", [(0.9, 0.0), (0.5, 0.0), (0.9, 0.05)])
def test_nesterov_lookahead_equals_seed_form(momentum, l2):
    """Seed 4.2, explicit: theta~ = theta_t - lr*m*v_{t-1}; v_t = m*v_{t-1} + grad(theta~);
    theta_{t+1} = theta_t - lr*v_t.  The optimizer stores the look-ahead point, so its
    parameters after every step must equal theta~ of the explicit form (and at t = 0,
    with v_0 = 0, both start at theta_0)."""
    lr = 0.02
    opt = O.optimizer("nesterov", lr=lr, momentum=momentum, l2=l2)
    phi = PROBLEM.theta0.copy()           # optimizer's parameters (look-ahead point)
    state = opt.init(phi)
    theta = PROBLEM.theta0.copy()         # explicit form's parameters
    v = np.zeros(N)
    for t in range(1, STEPS + 1):
        look = R.nesterov_lookahead(theta, v, lr, momentum)
        ne, ee = rel_errors(phi, look)
        assert ne <= 1e-12 and ee <= 1e-12, (t, ne, ee)
        # the optimizer is handed the loss gradient at its own parameters (no l2: it adds that)
        opt.step(phi, PROBLEM.grad(phi, t), state)
        theta, v = R.nesterov_explicit_step(theta, v, lambda x: PROBLEM.grad(x, t), lr, momentum, l2)
        np.testing.assert_allclose(state.buffers[0], v, rtol=1e-11, atol=1e-13)
    ne, ee = rel_errors(phi, R.nesterov_lookahead(theta, v, lr, momentum))
    assert ne <= 1e-12 and ee <= 1e-12
    # and it actually optimizes: the explicit iterate approaches the minimiser of the
    # unperturbed quadratic (the perturbation is small)
    assert np.linalg.norm(theta - PROBLEM.theta0) > 1.0


# -- Adam step 1 closed form -----------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("beta1,beta2", [(0.9, 0.999), (0.5, 0.9)])
def test_adam_first_step_is_lr_sign(dtype, beta1, beta2):
    """With zero state, m_hat = g and v_hat = g^2 after bias correction, so the first
    step is lr * g / (|g| + eps) ~ lr * sign(g), whatever the gradient's magnitude."""
    rng = np.random.default_rng(3)
    g = (10.0 ** rng.uniform(-2, 3, 64) * np.sign(rng.standard_normal(64))).astype(dtype)
    theta = rng.standard_normal(64).astype(dtype)
    lr = 1e-3
    p = theta.copy()
    opt = O.optimizer("adam", lr=lr, beta1=beta1, beta2=beta2)
    opt.step(p, g, opt.init(p))
    tol = 1e-9 if dtype == np.float64 else 5e-7
    np.testing.assert_allclose(p, theta - lr * np.sign(g), rtol=0, atol=tol)
    # AdamW adds the decoupled decay of theta_t
    wd = 0.1
    p = theta.copy()
    opt = O.optimizer("adamw", lr=lr, beta1=beta1, beta2=beta2, weight_decay=wd)
    opt.step(p, g, opt.init(p))
    np.testing.assert_allclose(p, theta - lr * (np.sign(g) + wd * theta), rtol=0, atol=tol)


def test_adam_zero_gradient_does_not_move():
    p = np.linspace(-1, 1, 8)
    opt = O.optimizer("adam", lr=0.1)
    opt.step(p, np.zeros(8), opt.init(p))
    np.testing.assert_array_equal(p, np.linspace(-1, 1, 8))


def test_defaults_from_the_notes():
    """Omitted hyperparameters take the DESIGN table's defaults (one step vs explicit values)."""
    explicit = {"momentum": {"momentum": 0.9}, "nesterov": {"momentum": 0.9},
                "adagrad": {"eps": 1e-10}, "rmsprop": {"decay": 0.9, "eps": 1e-8},
                "adam": {"beta1": 0.9, "beta2": 0.999, "eps": 1e-8},
                "adamw": {"beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weight_decay": 0.01},
                "sgd": {"l2": 0.0}}
    for name, hyper in explicit.items():
        a = PROBLEM.theta0.copy()
        b = PROBLEM.theta0.copy()
        oa = O.optimizer(name, lr=0.01)
        ob = O.optimizer(name, lr=0.01, **hyper)
        sa, sb = oa.init(a), ob.init(b)
        for t in range(1, 4):
            oa.step(a, PROBLEM.grad(a, t), sa)
            ob.step(b, PROBLEM.grad(b, t), sb)
        np.testing.assert_array_equal(a, b, err_msg=name)


# -- bad input -------------------------------------------------------------------------------------

BAD_HYPER = [
    ("adamm", {"lr": 0.1}, "optimizer.name"),
    ("sgd", {"lr": 0.1, "momentum": 0.9}, "optimizer.momentum"),
    ("adam", {"lr": 0.1, "weight_decay": 0.1}, "optimizer.weight_decay"),
    ("sgd", {}, "optimizer.lr"),
    ("sgd", {"lr": 0.0}, "optimizer.lr"),
    ("sgd", {"lr": -1}, "optimizer.lr"),
    ("sgd", {"lr": float("nan")}, "optimizer.lr"),
    ("sgd", {"lr": "0.1"}, "optimizer.lr"),
    ("momentum", {"lr": 0.1, "momentum": 1.0}, "optimizer.momentum"),
    ("nesterov", {"lr": 0.1, "momentum": -0.5}, "optimizer.momentum"),
    ("adam", {"lr": 0.1, "beta1": -0.1}, "optimizer.beta1"),
    ("adam", {"lr": 0.1, "beta2": 1.0}, "optimizer.beta2"),
    ("rmsprop", {"lr": 0.1, "decay": 1.5}, "optimizer.decay"),
    ("adagrad", {"lr": 0.1, "eps": 0.0}, "optimizer.eps"),
    ("adam", {"lr": 0.1, "eps": -1e-8}, "optimizer.eps"),
    ("adamw", {"lr": 0.1, "weight_decay": -1}, "optimizer.weight_decay"),
    ("sgd", {"lr": 0.1, "l2": -1}, "optimizer.l2"),
    ("rmsprop", {"lr": 0.1, "l2": float("inf")}, "optimizer.l2"),
]


@pytest.mark.parametrize("name,hyper,field", BAD_HYPER, ids=[f"{f}-{n}-{h}" for n, h, f in BAD_HYPER])
def test_bad_hyperparameters(name, hyper, field):
    with pytest.raises(ValueError) as exc:
        O.optimizer(name, **hyper)
    assert isinstance(exc.value, ConfigError)
    msg = str(exc.value)
    assert msg.startswith(field + ":"), msg
    assert exc.value.field == field


def test_unknown_rule_suggests_closest():
    with pytest.raises(ValueError, match=r"optimizer\.name") as exc:
        O.optimizer("adamm", lr=0.1)
    assert "'adam'" in str(exc.value)


def test_unknown_hyperparameter_names_allowed_ones():
    with pytest.raises(ValueError, match=r"^optimizer\.momentum:") as exc:
        O.optimizer("sgd", lr=0.1, momentum=0.9)
    assert "lr" in str(exc.value)


def test_range_message_format():
    with pytest.raises(ValueError) as exc:
        O.optimizer("sgd", lr=-1)
    msg = str(exc.value)
    assert msg.startswith("optimizer.lr: must be in (0"), msg   # field, then the open interval
    assert msg.endswith("got -1"), msg


def _bad_arrays():
    ok = np.zeros(4)
    return [
        (np.zeros((2, 2)), np.zeros((2, 2)), "params"),                       # 2-D params
        (np.zeros(4, dtype=np.int64), np.zeros(4, dtype=np.int64), "params"),  # int dtype
        ([0.0, 0.0], [0.0, 0.0], "params"),                                    # not an ndarray
        (ok.copy(), np.zeros(4, dtype=np.float32), "grads"),                   # dtype mismatch
        (ok.copy(), np.zeros(5), "grads"),                                     # shape mismatch
        (ok.copy(), np.zeros((4, 1)), "grads"),                                # 2-D grads
        (np.zeros(8)[::2], np.zeros(4), "params"),                             # not contiguous
    ]


@pytest.mark.parametrize("case", range(len(_bad_arrays())))
def test_bad_arrays(case):
    params, grads, field = _bad_arrays()[case]
    opt = O.optimizer("momentum", lr=0.1)
    with pytest.raises(ValueError) as exc:
        state = opt.init(np.zeros(4))
        opt.step(params, grads, state)
    assert str(exc.value).startswith(field + ":"), str(exc.value)


def test_bad_init_and_state():
    opt = O.optimizer("adam", lr=0.1)
    with pytest.raises(ValueError, match=r"^params:"):
        opt.init(np.zeros((3, 3)))
    with pytest.raises(ValueError, match=r"^params:"):
        opt.init(np.zeros(3, dtype=np.int32))
    state = opt.init(np.zeros(3))
    with pytest.raises(ValueError, match=r"^state:"):
        opt.step(np.zeros(5), np.zeros(5), state)              # state made for other params
    with pytest.raises(ValueError, match=r"^state:"):
        p32 = np.zeros(3, dtype=np.float32)
        opt.step(p32, np.zeros(3, dtype=np.float32), state)    # state dtype differs
    with pytest.raises(ValueError, match=r"^lr:"):
        opt.step(np.zeros(3), np.zeros(3), state, lr=-0.1)     # bad lr override
    with pytest.raises(ValueError, match=r"^lr:"):
        opt.step(np.zeros(3), np.zeros(3), state, lr=float("nan"))
    p0 = np.ones(3)
    opt.step(p0, np.ones(3), state, lr=0.0)  # a zero lr (warmup's first step) is allowed and moves nothing
    assert (p0 == 1.0).all()


def test_state_of_another_rule_and_unrepresentable_values_are_refused():
    p = np.ones(3, dtype=np.float32)
    sgd_state = O.optimizer("sgd", lr=0.1).init(p)
    with pytest.raises(ValueError, match=r"^state:"):
        O.optimizer("adam", lr=0.1).step(p, np.ones(3, dtype=np.float32), sgd_state)
    adam = O.optimizer("adam", lr=0.1, eps=1e-50)  # fine in float64, zero in float32
    with pytest.raises(ValueError, match=r"^optimizer\.eps:.*float32"):
        adam.step(p, np.ones(3, dtype=np.float32), adam.init(p))
    q = np.ones(3)
    adam.step(q, np.ones(3), adam.init(q))
    assert np.isfinite(q).all()
    with pytest.raises(ValueError, match=r"^lr:.*float32"):
        O.optimizer("sgd", lr=0.1).step(p, np.ones(3, dtype=np.float32), sgd_state, lr=1e39)
    assert (p == 1.0).all()
