"""Plain NumPy reference implementations, written from the notes (seed sections 2-8, 12)
and the "Math conventions" table of DESIGN.md, independently of the Numba kernels.

Conventions
-----------
- Every update is written as the notes' "implementation form", one whole-array
  expression per line, on copies (the references never modify their inputs).
- ``l2`` (coupled, any rule) adds ``l2 * theta`` to the gradient before the rule.
- Hyperparameters are Python floats, so under NumPy 2 (NEP 50) a float32 array stays
  float32 and a float64 array stays float64: the reference runs in the inputs' dtype.
- Optimizer states are plain dicts of arrays (plus the step counter ``t`` for Adam/AdamW,
  counted from 1 as in seed 12.2).
"""

from __future__ import annotations

import math

import numpy as np

# ---------------------------------------------------------------------------------------
# Update rules (seed sections 2-5). Each ``<rule>_step(theta, g, state, ...)`` returns
# ``(new_theta, new_state)``; ``<rule>_init(theta)`` gives the zero state.
# ---------------------------------------------------------------------------------------


def _coupled(theta, g, l2):
    """Gradient with coupled L2 regularisation: g + l2 * theta (g itself when l2 == 0)."""
    return g + l2 * theta if l2 else g.copy()


def sgd_init(theta):
    return {}


def sgd_step(theta, g, state, lr, l2=0.0):
    """Seed 2.3: theta_{t+1} = theta_t - eta * g_t."""
    g = _coupled(theta, g, l2)
    return theta - lr * g, {}


def momentum_init(theta):
    return {"v": np.zeros_like(theta), "t": 0}


def momentum_step(theta, g, state, lr, momentum=0.9, l2=0.0, dampening=0.0):
    """Seed 4.1 (PyTorch form): v = m*v + g; theta = theta - lr*v.

    torch.optim.SGD's dampening: the first step sets v = g, later ones v = m*v + (1-dampening)*g."""
    g = _coupled(theta, g, l2)
    t = state["t"] + 1
    v = g.copy() if t == 1 else momentum * state["v"] + (1.0 - dampening) * g
    return theta - lr * v, {"v": v, "t": t}


def nesterov_init(theta):
    return {"v": np.zeros_like(theta)}


def nesterov_step(theta, g, state, lr, momentum=0.9, l2=0.0):
    """Nesterov stored as the look-ahead point (DESIGN table).

    The parameters held are phi_t = theta_t - lr*m*v_{t-1} (the point where the seed's
    NAG evaluates the gradient), so ``g`` is grad(phi_t) and
        v_t = m*v_{t-1} + g;   phi_{t+1} = phi_t - lr*(g + m*v_t).
    ``nesterov_explicit_step`` is the seed's own form; the tests show the two agree.
    """
    g = _coupled(theta, g, l2)
    v = momentum * state["v"] + g
    return theta - lr * (g + momentum * v), {"v": v}


def nesterov_lookahead(theta, v_prev, lr, momentum=0.9):
    """Seed 4.2: the look-ahead point theta~_t = theta_t - eta * beta * v_{t-1}."""
    return theta - lr * momentum * v_prev


def nesterov_explicit_step(theta, v_prev, grad_fn, lr, momentum=0.9, l2=0.0):
    """Seed 4.2, explicit form. ``grad_fn(x)`` is the loss gradient at x.

    theta~ = theta_t - lr*m*v_{t-1};  v_t = m*v_{t-1} + grad(theta~);
    theta_{t+1} = theta_t - lr*v_t.
    Coupled l2 is part of the gradient at the look-ahead point: grad(theta~) + l2*theta~.
    Returns ``(theta_{t+1}, v_t)``.
    """
    look = nesterov_lookahead(theta, v_prev, lr, momentum)
    g = grad_fn(look)
    if l2:
        g = g + l2 * look
    v = momentum * v_prev + g
    return theta - lr * v, v


def adagrad_init(theta):
    return {"s": np.zeros_like(theta)}


def adagrad_step(theta, g, state, lr, eps=1e-10, l2=0.0):
    """Seed 5.1: s = s + g*g; theta = theta - (eta / (sqrt(s) + eps)) * g."""
    g = _coupled(theta, g, l2)
    s = state["s"] + g * g
    return theta - (lr / (np.sqrt(s) + eps)) * g, {"s": s}


def rmsprop_init(theta):
    return {"s": np.zeros_like(theta)}


def rmsprop_step(theta, g, state, lr, decay=0.9, eps=1e-8, l2=0.0):
    """Seed 5.2: s = gamma*s + (1-gamma)*(g*g); theta = theta - (eta / (sqrt(s) + eps)) * g."""
    g = _coupled(theta, g, l2)
    s = decay * state["s"] + (1.0 - decay) * (g * g)
    return theta - (lr / (np.sqrt(s) + eps)) * g, {"s": s}


def adam_init(theta):
    return {"m": np.zeros_like(theta), "v": np.zeros_like(theta), "vmax": np.zeros_like(theta), "t": 0}


def _adam_moments(g, state, beta1, beta2):
    """Seed 12.2, the moment part: returns (m_t, v_t, m_hat, v_hat, t)."""
    t = state["t"] + 1
    m = beta1 * state["m"] + (1.0 - beta1) * g
    v = beta2 * state["v"] + (1.0 - beta2) * (g * g)
    m_hat = m / (1.0 - beta1 ** t)
    v_hat = v / (1.0 - beta2 ** t)
    return m, v, m_hat, v_hat, t


def _amsgrad(state, v, t, beta2, amsgrad):
    """AMSGrad (Reddi et al. 2018, torch's amsgrad=True): v_hat from the running maximum of v."""
    vmax = np.maximum(state["vmax"], v) if amsgrad else state["vmax"]
    return vmax, (vmax if amsgrad else v) / (1.0 - beta2 ** t)


def adam_step(theta, g, state, lr, beta1=0.9, beta2=0.999, eps=1e-8, l2=0.0, amsgrad=False):
    """Seed 5.3 / 12.2: theta = theta - lr * m_hat / (sqrt(v_hat) + eps), t from 1."""
    g = _coupled(theta, g, l2)
    m, v, m_hat, v_hat, t = _adam_moments(g, state, beta1, beta2)
    vmax, v_hat = _amsgrad(state, v, t, beta2, amsgrad)
    return theta - lr * m_hat / (np.sqrt(v_hat) + eps), {"m": m, "v": v, "vmax": vmax, "t": t}


def adamw_init(theta):
    return adam_init(theta)


def adamw_step(theta, g, state, lr, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.01, l2=0.0, amsgrad=False,
               schedule_decay=False, base_lr=None):
    """Seed 5.4: theta = theta - eta*m_hat/(sqrt(v_hat)+eps) - eta*weight_decay*theta_t.

    ``schedule_decay``: Loshchilov & Hutter 2019, Algorithm 2 (AdamW), line 12:
    theta_t = theta_{t-1} - eta_t (alpha m_hat / (sqrt(v_hat) + eps) + lambda theta_{t-1}), with alpha the
    base learning rate ``base_lr`` (default: ``lr``, a constant schedule) and eta_t = lr / alpha the
    schedule multiplier."""
    g = _coupled(theta, g, l2)
    m, v, m_hat, v_hat, t = _adam_moments(g, state, beta1, beta2)
    vmax, v_hat = _amsgrad(state, v, t, beta2, amsgrad)
    if schedule_decay:
        alpha = lr if base_lr is None else base_lr
        eta = lr / alpha
        new = theta - eta * (alpha * m_hat / (np.sqrt(v_hat) + eps) + weight_decay * theta)
    else:
        new = theta - lr * m_hat / (np.sqrt(v_hat) + eps) - lr * weight_decay * theta
    return new, {"m": m, "v": v, "vmax": vmax, "t": t}


def nadam_init(theta):
    return {"m": np.zeros_like(theta), "v": np.zeros_like(theta), "mu_product": 1.0, "t": 0}


def nadam_step(theta, g, state, lr, beta1=0.9, beta2=0.999, eps=1e-8, momentum_decay=4e-3, l2=0.0):
    """NAdam as torch.optim.NAdam documents it (Dozat 2016 with the momentum schedule mu_t):
    mu_t = beta1 (1 - 0.5 * 0.96^(t psi)); m_hat = mu_{t+1} m / (1 - prod_{i<=t+1} mu_i)
    + (1 - mu_t) g / (1 - prod_{i<=t} mu_i); theta -= lr * m_hat / (sqrt(v / (1 - beta2^t)) + eps)."""
    g = _coupled(theta, g, l2)
    t = state["t"] + 1
    mu = beta1 * (1.0 - 0.5 * 0.96 ** (t * momentum_decay))
    mu_next = beta1 * (1.0 - 0.5 * 0.96 ** ((t + 1) * momentum_decay))
    prod = state["mu_product"] * mu
    m = beta1 * state["m"] + (1.0 - beta1) * g
    v = beta2 * state["v"] + (1.0 - beta2) * g * g
    m_hat = mu_next * m / (1.0 - prod * mu_next) + (1.0 - mu) * g / (1.0 - prod)
    v_hat = v / (1.0 - beta2 ** t)
    return theta - lr * m_hat / (np.sqrt(v_hat) + eps), {"m": m, "v": v, "mu_product": prod, "t": t}


def radam_init(theta):
    return {"m": np.zeros_like(theta), "v": np.zeros_like(theta), "t": 0}


def radam_step(theta, g, state, lr, beta1=0.9, beta2=0.999, eps=1e-8, l2=0.0):
    """RAdam (Liu et al. 2020, Algorithm 2, as torch.optim.RAdam documents it): the adaptive step
    is used, rectified by r_t, once the SMA length rho_t exceeds 5; before, m_hat alone."""
    g = _coupled(theta, g, l2)
    t = state["t"] + 1
    m = beta1 * state["m"] + (1.0 - beta1) * g
    v = beta2 * state["v"] + (1.0 - beta2) * g * g
    m_hat = m / (1.0 - beta1 ** t)
    rho_inf = 2.0 / (1.0 - beta2) - 1.0
    rho_t = rho_inf - 2.0 * t * beta2 ** t / (1.0 - beta2 ** t)
    if rho_t > 5.0:
        l_t = math.sqrt(1.0 - beta2 ** t) / (np.sqrt(v) + eps)
        r_t = math.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
        new = theta - lr * m_hat * l_t * r_t
    else:
        new = theta - lr * m_hat
    return new, {"m": m, "v": v, "t": t}


def adamax_init(theta):
    return {"m": np.zeros_like(theta), "u": np.zeros_like(theta), "t": 0}


def adamax_step(theta, g, state, lr, beta1=0.9, beta2=0.999, eps=1e-8, l2=0.0):
    """AdaMax (Kingma & Ba 2015, Algorithm 2; torch.optim.Adamax's eps inside the max):
    u = max(beta2 u, |g| + eps); theta -= lr / (1 - beta1^t) * m / u."""
    g = _coupled(theta, g, l2)
    t = state["t"] + 1
    m = beta1 * state["m"] + (1.0 - beta1) * g
    u = np.maximum(beta2 * state["u"], np.abs(g) + eps)
    return theta - (lr / (1.0 - beta1 ** t)) * m / u, {"m": m, "u": u, "t": t}


def adadelta_init(theta):
    return {"s": np.zeros_like(theta), "a": np.zeros_like(theta)}


def adadelta_step(theta, g, state, lr, rho=0.9, eps=1e-6, l2=0.0):
    """ADADELTA (Zeiler 2012, Algorithm 1, with torch.optim.Adadelta's lr):
    E[g^2] = rho E[g^2] + (1-rho) g^2; dx = -RMS[dx]_{t-1} / RMS[g]_t * g;
    E[dx^2] = rho E[dx^2] + (1-rho) dx^2; theta += lr * dx, RMS[y] = sqrt(E[y^2] + eps)."""
    g = _coupled(theta, g, l2)
    s = rho * state["s"] + (1.0 - rho) * g * g
    dx = -np.sqrt(state["a"] + eps) / np.sqrt(s + eps) * g
    a = rho * state["a"] + (1.0 - rho) * dx * dx
    return theta + lr * dx, {"s": s, "a": a}


def lion_init(theta):
    return {"m": np.zeros_like(theta)}


def lion_step(theta, g, state, lr, beta1=0.9, beta2=0.99, weight_decay=0.0, l2=0.0):
    """Lion (Chen et al. 2023, Algorithm 2): c = beta1 m + (1 - beta1) g;
    theta -= lr (sign(c) + lambda theta); m = beta2 m + (1 - beta2) g."""
    g = _coupled(theta, g, l2)
    c = beta1 * state["m"] + (1.0 - beta1) * g
    new = theta - lr * (np.sign(c) + weight_decay * theta)
    return new, {"m": beta2 * state["m"] + (1.0 - beta2) * g}


RULES = {
    "sgd": (sgd_init, sgd_step),
    "momentum": (momentum_init, momentum_step),
    "nesterov": (nesterov_init, nesterov_step),
    "adagrad": (adagrad_init, adagrad_step),
    "rmsprop": (rmsprop_init, rmsprop_step),
    "adam": (adam_init, adam_step),
    "adamw": (adamw_init, adamw_step),
    "nadam": (nadam_init, nadam_step),
    "radam": (radam_init, radam_step),
    "adamax": (adamax_init, adamax_step),
    "adadelta": (adadelta_init, adadelta_step),
    "lion": (lion_init, lion_step),
}


def init(name, theta):
    return RULES[name][0](theta)


def step(name, theta, g, state, **hyper):
    """Dispatch: ``step("adam", theta, g, state, lr=1e-3, beta2=0.99)``."""
    return RULES[name][1](theta, g, state, **hyper)


# ---------------------------------------------------------------------------------------
# Learning-rate schedules (seed section 7; DESIGN: t from 0, warmup then schedule on t - T_w)
# ---------------------------------------------------------------------------------------


def constant_lr(t, lr):
    return lr


def step_lr(t, lr, step_size, gamma=0.1):
    """Seed 7.1: eta_t = eta_0 * gamma ** floor(t / s)."""
    return lr * gamma ** math.floor(t / step_size)


def exponential_lr(t, lr, decay_rate):
    """Seed 7.2: eta_t = eta_0 * exp(-lambda * t)."""
    return lr * math.exp(-decay_rate * t)


def cosine_lr(t, lr, total_steps, lr_min=0.0):
    """Seed 7.3: eta_min + 0.5*(eta_max - eta_min)*(1 + cos(pi*t/T)); held at eta_min for t >= T."""
    if t >= total_steps:
        return lr_min
    return lr_min + 0.5 * (lr - lr_min) * (1.0 + math.cos(math.pi * t / total_steps))


def warmup_lr(t, warmup_steps, warmup_start, target):
    """Seed 7.4: eta_t = eta_start + (t / T_w) * (eta_target - eta_start), 0 <= t <= T_w."""
    return warmup_start + (t / warmup_steps) * (target - warmup_start)


_SCHEDULES = {"constant": constant_lr, "step": step_lr, "exponential": exponential_lr, "cosine": cosine_lr}


def schedule_lr(name, t, lr, warmup_steps=0, warmup_start=0.0, **params):
    """Any schedule with linear warmup: warmup from ``warmup_start`` to the schedule's value at
    its start over ``warmup_steps``, then the schedule runs on ``t - warmup_steps``."""
    fn = _SCHEDULES[name]
    if warmup_steps and t <= warmup_steps:
        return warmup_lr(t, warmup_steps, warmup_start, fn(0, lr, **params))
    return fn(t - warmup_steps, lr, **params)


# ---------------------------------------------------------------------------------------
# Gradient clipping (seed section 8; DESIGN: global norm, g *= min(1, c/(norm + 1e-6)))
# ---------------------------------------------------------------------------------------


def global_norm(g):
    """L2 norm over all entries, in float64."""
    g64 = np.asarray(g, dtype=np.float64)
    return float(np.sqrt(np.sum(g64 * g64)))


def clip_by_value(g, c):
    """Clamp every entry to [-c, c]; returns (clipped copy, pre-clip global norm)."""
    return np.clip(g, -c, c).astype(g.dtype, copy=False), global_norm(g)


def clip_by_norm(g, c):
    """g * min(1, c / (||g|| + 1e-6)); returns (clipped copy, pre-clip global norm)."""
    norm = global_norm(g)
    scale = min(1.0, c / (norm + 1e-6))
    return (g * scale).astype(g.dtype, copy=False) if scale < 1.0 else g.copy(), norm


def unpack_dense(params, sizes):
    """[(W_l, b_l)] from the flat vector: W_l row-major sizes[l] x sizes[l+1], then b_l."""
    layers, off = [], 0
    for din, dout in zip(sizes[:-1], sizes[1:]):
        W = params[off:off + din * dout].reshape(din, dout)
        off += din * dout
        b = params[off:off + dout]
        off += dout
        layers.append((W, b))
    assert off == params.size
    return layers


# -- finite differences (every analytic gradient is checked against these) ------------------------

FD_H = 1e-6
FD_RTOL = 1e-6


def central_fd(f, params, h=FD_H):
    """Central finite differences of the scalar function ``f`` at ``params`` (float64)."""
    g = np.zeros_like(params)
    for i in range(params.size):
        p = params.copy()
        p[i] += h
        fp = f(p)
        p[i] -= 2 * h
        g[i] = (fp - f(p)) / (2 * h)
    return g


def assert_grad_close(g, fd, rtol=FD_RTOL):
    """Relative error of the whole gradient <= rtol, and each entry within rtol x the gradient's size."""
    scale = max(np.linalg.norm(g), np.linalg.norm(fd), 1e-12)
    err = np.linalg.norm(g - fd) / scale
    assert err <= rtol, f"relative gradient error {err:.3e} > {rtol:.0e}\nanalytic={g}\nfd={fd}"
    np.testing.assert_allclose(g, fd, rtol=0, atol=rtol * scale)
    return err


def assert_pack_equals_alone(model, data, trials, alone, **kwargs):
    """Train ``trials`` as one pack, then the trials at indices ``alone`` one by one: their
    parameters and curves must be bit-identical (a trial's numbers never depend on its pack)."""
    import pandas as pd

    import optengine as oe

    runs, curves, params = oe.train_pack(model, data, trials, return_params=True, **kwargs)
    assert (runs["status"] == "ok").all()
    for k in alone:
        r1, c1, p1 = oe.train_pack(model, data, [trials[k]], return_params=True, **kwargs)
        np.testing.assert_array_equal(params[k], p1[0])
        got = curves[curves.trial_id == r1["trial_id"].iloc[0]].reset_index(drop=True)
        pd.testing.assert_frame_equal(got, c1)


def assert_gradient_checks(model, params, X, y):
    """``loss_and_grad`` returns a float64 gradient of the parameters' shape that matches central
    finite differences, leaves its inputs alone and repeats exactly."""
    value, g = model.loss_and_grad(params, X, y)
    assert g.shape == params.shape and g.dtype == np.float64
    fd = central_fd(lambda p: model.loss_and_grad(p, X, y)[0], params)
    assert_grad_close(g, fd)
    value2, g2 = model.loss_and_grad(params, X, y)
    assert value2 == value
    np.testing.assert_array_equal(g2, g)


def assert_outputs_match(model, params, X, y, z, loss, want):
    """Loss, evaluate, forward and the metric of ``model`` equal the reference outputs ``z`` and
    reference loss ``want`` (accuracy for cross-entropy, R^2 averaged over outputs for MSE)."""
    import pytest

    assert model.loss_and_grad(params, X, y)[0] == pytest.approx(want, rel=1e-12)
    ev, metric = model.evaluate(params, X, y)
    assert ev == pytest.approx(want, rel=1e-12)
    np.testing.assert_allclose(model.forward(params, X), z, rtol=1e-12, atol=1e-13)
    if loss == "cross_entropy":
        assert metric == pytest.approx(np.mean(z.argmax(1) == y))
    else:
        ss_res = ((z - y) ** 2).sum(0)
        ss_tot = ((y - y.mean(0)) ** 2).sum(0)
        assert metric == pytest.approx(np.mean(1 - ss_res / ss_tot), rel=1e-10)
