"""Time-series forecasting data: seeded series windowed into (input window -> next values).

Three generators (``oe.dataset(name, ...)``), all univariate:

- ``sines``:        x_t = sum_k a_k sin(2 pi t / P_k + phi_k) + noise * N(0, 1), phases from ``seed``;
- ``ar2``:          x_t = phi1 x_{t-1} + phi2 x_{t-2} + noise * N(0, 1) (stationary coefficients only;
                    200 burn-in steps are dropped);
- ``mackey_glass``: dx/dt = beta x(t - tau) / (1 + x(t - tau)^exponent) - gamma x(t), Euler steps of
                    0.1 time units, sampled every ``sample_every`` units after 500 units of burn-in;
                    the constant initial history 1.2 is jittered by ``seed``; optional observation noise.

Windowing: a row of X is ``window`` consecutive values (a ``window``-step, 1-input sequence for
``rnn``/``gru``, or a 1-channel signal for ``cnn1d``), its target the next ``horizon`` values.
The split is in time order, never shuffled: the series' last ``ceil(test_fraction * n_steps)``
steps are the test part, the last ``ceil(val_fraction * rest)`` steps before them the
validation part, and the first steps the training part (defaults 0.2 and 0.2 of 2000 steps:
1280 / 320 / 400 steps, giving 1248 / 320 / 400 windows for window 32, horizon 1). Training
windows lie wholly inside the training part; validation (test) windows have every target
inside the validation (test) part, their inputs may reach back before it, as a forecaster's
would. With ``standardize`` (default) the series is z-scored by the training part's mean and
std before windowing, X and y alike; ``info`` keeps ``mean``, ``std`` and the raw ``series``.
"""

from __future__ import annotations

import math

import numpy as np

from optengine.errors import ConfigError, check_number
from optengine.memory import require

from .dataset import Dataset, make_dataset
from .split import check_fraction, check_seed


def _flag(field, value) -> bool:
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise ConfigError(field, f"must be true or false, got {value!r}")


def split_points(n: int, *, window, horizon, test_fraction, val_fraction):
    """Validated ``(window, horizon, val_at, test_at)``: training steps ``[0, val_at)``,
    validation steps ``[val_at, test_at)``, test steps ``[test_at, n)`` (module docstring)."""
    window = check_number("dataset.window", window, low=1, integer=True)
    horizon = check_number("dataset.horizon", horizon, low=1, integer=True)
    test_fraction = check_fraction("dataset.test_fraction", test_fraction)
    val_fraction = check_fraction("dataset.val_fraction", val_fraction)
    test_at = n - math.ceil(test_fraction * n)
    val_at = test_at - math.ceil(val_fraction * test_at)
    if val_at < window + horizon:
        raise ConfigError("dataset.horizon", f"horizon too long for the series: window {window} + horizon {horizon} "
                                             f"= {window + horizon} steps, but the training part has {val_at} "
                                             f"of the {n} steps; use a longer series (n_steps), a shorter window "
                                             "or horizon, or smaller val_fraction / test_fraction")
    for part, steps, fld in (("validation", test_at - val_at, "val_fraction"), ("test", n - test_at, "test_fraction")):
        if steps < horizon:
            raise ConfigError("dataset.horizon", f"horizon too long for the series: {horizon} target steps, but the "
                                                 f"{part} part has only {steps}; raise n_steps or {fld}")
    return window, horizon, val_at, test_at


def require_memory(name: str, n: int, window: int, horizon: int, generator_floats: int) -> None:
    """Refuse (ConfigError naming dataset.n_steps) a series of ``n`` steps whose windows (about
    ``n`` rows of ``window + horizon`` float64, plus ~160 bytes per window of temporary views;
    389 bytes per step measured for window 32) and the generator's ``generator_floats`` working
    float64 values would not fit in the memory available."""
    require("dataset.n_steps", f"the dataset {name} ({n} steps -> about {n} windows of {window} + {horizon} "
                               f"float64)", n * (8 * (window + horizon) + 160) + 8 * generator_floats)


def window_series(name, series, *, window, horizon, test_fraction, val_fraction, standardize, info) -> Dataset:
    """Windows of a 1-D series, split in time order into train / val / test (module docstring)."""
    series = np.asarray(series, dtype=np.float64)
    n = series.size
    window, horizon, val_at, test_at = split_points(n, window=window, horizon=horizon, test_fraction=test_fraction,
                                                    val_fraction=val_fraction)
    standardize = _flag("dataset.standardize", standardize)
    mean, std = 0.0, 1.0
    if standardize:
        mean = float(series[:val_at].mean())
        std = float(series[:val_at].std()) or 1.0
    s = (series - mean) / std

    def cut(first, end):
        """Windows whose targets lie in steps [first, end)."""
        starts = np.arange(max(first - window, 0), end - window - horizon + 1)
        X = np.stack([s[i:i + window] for i in starts])
        y = np.stack([s[i + window:i + window + horizon] for i in starts])
        return X, y

    parts = [*cut(0, val_at), *cut(val_at, test_at), *cut(test_at, n)]
    info = {**info, "source": "generated", "series": series, "window": window, "horizon": horizon,
            "split": {"test_fraction": float(test_fraction), "val_fraction": float(val_fraction), "time_order": True,
                      "val_at": int(val_at), "test_at": int(test_at),
                      "sizes": {"train": len(parts[0]), "val": len(parts[2]), "test": len(parts[4])}},
            "input_size": 1, "mean": mean, "std": std,
            "standardize": {"X": standardize, "y": standardize}}
    names = [f"x[t-{window - i}]" for i in range(window)]
    return make_dataset(name, "regression", *parts, feature_names=names, info=info)


def _series_length(n_steps):
    return check_number("dataset.n_steps", n_steps, low=4, integer=True)


def sines(*, n_steps=2000, periods=(25.0, 60.0), amplitudes=None, noise=0.1, window=32, horizon=1,
          test_fraction=0.2, val_fraction=0.2, seed=0, standardize=True) -> Dataset:
    """Sum of sines with random phases plus Gaussian noise, windowed (see the module docstring)."""
    n = _series_length(n_steps)
    if not isinstance(periods, (list, tuple)) or not periods:
        raise ConfigError("dataset.periods", f"must be a non-empty list of periods (steps), got {periods!r}")
    periods = [check_number(f"dataset.periods[{i}]", p, low=0.0, low_open=True) for i, p in enumerate(periods)]
    if amplitudes is None:
        amplitudes = [1.0] * len(periods)
    if not isinstance(amplitudes, (list, tuple)) or len(amplitudes) != len(periods):
        raise ConfigError("dataset.amplitudes", f"must be a list with one amplitude per period ({len(periods)}), "
                                                f"got {amplitudes!r}")
    amplitudes = [check_number(f"dataset.amplitudes[{i}]", a) for i, a in enumerate(amplitudes)]
    noise = check_number("dataset.noise", noise, low=0.0)
    seed = check_seed("dataset.seed", seed)
    w, h, *_ = split_points(n, window=window, horizon=horizon, test_fraction=test_fraction, val_fraction=val_fraction)
    require_memory("sines", n, w, h, 4 * n)  # t, the sum, its terms and the noise
    rng = np.random.default_rng(seed)
    t = np.arange(n, dtype=np.float64)
    phases = rng.uniform(0.0, 2.0 * np.pi, len(periods))
    x = sum(a * np.sin(2.0 * np.pi * t / p + ph) for a, p, ph in zip(amplitudes, periods, phases))
    x = x + noise * rng.standard_normal(n)
    info = {"generator": "sines", "periods": periods, "amplitudes": amplitudes, "phases": phases,
            "noise": noise, "seed": seed}
    return window_series("sines", x, window=window, horizon=horizon, test_fraction=test_fraction,
                         val_fraction=val_fraction, standardize=standardize, info=info)


def ar2(*, n_steps=2000, phi1=1.5, phi2=-0.75, noise=1.0, window=32, horizon=1, test_fraction=0.2,
        val_fraction=0.2, seed=0, standardize=True) -> Dataset:
    """AR(2) process x_t = phi1 x_{t-1} + phi2 x_{t-2} + noise * e_t, windowed."""
    n = _series_length(n_steps)
    phi1 = check_number("dataset.phi1", phi1)
    phi2 = check_number("dataset.phi2", phi2)
    if not (-1.0 < phi2 < 1.0 and phi1 + phi2 < 1.0 and phi2 - phi1 < 1.0):
        raise ConfigError("dataset.phi1", f"AR(2) with phi1={phi1}, phi2={phi2} is not stationary; need "
                                          "-1 < phi2 < 1, phi1 + phi2 < 1 and phi2 - phi1 < 1")
    noise = check_number("dataset.noise", noise, low=0.0, low_open=True)
    seed = check_seed("dataset.seed", seed)
    w, h, *_ = split_points(n, window=window, horizon=horizon, test_fraction=test_fraction, val_fraction=val_fraction)
    burn = 200
    require_memory("ar2", n, w, h, 2 * (n + burn))  # the noise and the process
    rng = np.random.default_rng(seed)
    e = noise * rng.standard_normal(n + burn)
    x = np.zeros(n + burn)
    for t in range(2, n + burn):
        x[t] = phi1 * x[t - 1] + phi2 * x[t - 2] + e[t]
    info = {"generator": "ar2", "phi1": phi1, "phi2": phi2, "noise": noise, "seed": seed, "burn_in": burn}
    return window_series("ar2", x[burn:], window=window, horizon=horizon, test_fraction=test_fraction,
                         val_fraction=val_fraction, standardize=standardize, info=info)


def mackey_glass(*, n_steps=2000, tau=17.0, beta=0.2, gamma=0.1, exponent=10.0, sample_every=1, noise=0.0,
                 window=32, horizon=1, test_fraction=0.2, val_fraction=0.2, seed=0, standardize=True) -> Dataset:
    """Mackey-Glass delay equation (chaotic for tau = 17), Euler-integrated, sampled and windowed."""
    n = _series_length(n_steps)
    tau = check_number("dataset.tau", tau, low=0.1)
    beta = check_number("dataset.beta", beta, low=0.0, low_open=True)
    gamma = check_number("dataset.gamma", gamma, low=0.0, low_open=True)
    exponent = check_number("dataset.exponent", exponent, low=1.0)
    every = check_number("dataset.sample_every", sample_every, low=1, integer=True)
    noise = check_number("dataset.noise", noise, low=0.0)
    seed = check_seed("dataset.seed", seed)
    w, h, *_ = split_points(n, window=window, horizon=horizon, test_fraction=test_fraction, val_fraction=val_fraction)
    dt = 0.1
    per_unit = 10
    lag = int(round(tau / dt))
    burn = 500 * per_unit
    total = burn + n * every * per_unit + 1
    require_memory("mackey_glass", n, w, h, lag + total)  # the Euler steps
    rng = np.random.default_rng(seed)
    x = np.empty(lag + total)
    x[:lag + 1] = 1.2 + 0.1 * rng.uniform(-1.0, 1.0)
    for i in range(lag, lag + total - 1):
        d = x[i - lag]
        x[i + 1] = x[i] + dt * (beta * d / (1.0 + d ** exponent) - gamma * x[i])
    series = x[lag + burn::every * per_unit][:n].copy()
    if noise:
        series += noise * rng.standard_normal(n)
    info = {"generator": "mackey_glass", "tau": tau, "beta": beta, "gamma": gamma, "exponent": exponent,
            "dt": dt, "sample_every": every, "noise": noise, "seed": seed}
    return window_series("mackey_glass", series, window=window, horizon=horizon, test_fraction=test_fraction,
                         val_fraction=val_fraction, standardize=standardize, info=info)
