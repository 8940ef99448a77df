"""Two-parameter test surfaces for the notes' section 6 (optimizer geometry).

- rosenbrock:  f = (a - x)^2 + b (y - x^2)^2, minimum at (a, a^2)
- ravine:      f = 0.5 (x^2 + kappa y^2), an ill-conditioned quadratic (condition number kappa)
- beale:       f = (1.5 - x + xy)^2 + (2.25 - x + xy^2)^2 + (2.625 - x + xy^3)^2, minimum at (3, 0.5)
- noisy_quadratic: f = 0.5 (h1 x^2 + h2 y^2) with seeded gradient noise

Gradient noise, on any surface: a data row x_i is a standard-normal draw and the
sample loss is f(theta) - noise * x_i . theta, so a mini-batch gradient is
grad f - noise * mean(x_B): unbiased, with spread noise / sqrt(|B|) (notes section 9).
The draws come from ``noise_dataset(n_samples, seed)`` (dataset ``surface_noise``),
centred so that batch gradient descent sees the exact gradient; validation rows are
zero, so the validation loss is f itself and the metric is the distance to the minimiser.

``ai`` = [surface]; ``af`` = [noise, p0, p1, min_x, min_y].
"""

from __future__ import annotations

import numpy as np

from ..jit import kernel
ROSENBROCK, RAVINE, BEALE, QUADRATIC = range(4)
F_NOISE, F_P0, F_P1, F_MINX, F_MINY = range(5)


@kernel
def surface_value_grad(kind, af, x, y):
    """(f, df/dx, df/dy) of a surface at (x, y), in float64."""
    if kind == ROSENBROCK:
        a = af[F_P0]
        b = af[F_P1]
        f = (a - x) ** 2 + b * (y - x * x) ** 2
        return f, -2.0 * (a - x) - 4.0 * b * x * (y - x * x), 2.0 * b * (y - x * x)
    if kind == BEALE:
        t1 = 1.5 - x + x * y
        t2 = 2.25 - x + x * y * y
        t3 = 2.625 - x + x * y ** 3
        f = t1 * t1 + t2 * t2 + t3 * t3
        gx = 2.0 * t1 * (y - 1.0) + 2.0 * t2 * (y * y - 1.0) + 2.0 * t3 * (y ** 3 - 1.0)
        gy = 2.0 * t1 * x + 2.0 * t2 * 2.0 * x * y + 2.0 * t3 * 3.0 * x * y * y
        return f, gx, gy
    # RAVINE and QUADRATIC: 0.5 (h1 x^2 + h2 y^2)
    h1 = af[F_P0]
    h2 = af[F_P1]
    return 0.5 * (h1 * x * x + h2 * y * y), h1 * x, h2 * y


@kernel
def surface_loss_grad(ai, af, theta, X, idx, grad):
    """Mean sample loss f(theta) - noise * mean(X[idx]) . theta and its gradient."""
    x = np.float64(theta[0])
    y = np.float64(theta[1])
    f, gx, gy = surface_value_grad(ai[0], af, x, y)
    nx = 0.0
    ny = 0.0
    rows = idx.size
    if X.shape[1] >= 2 and rows > 0:
        for i in range(rows):
            nx += X[idx[i], 0]
            ny += X[idx[i], 1]
        nx *= af[F_NOISE] / rows
        ny *= af[F_NOISE] / rows
    grad[0] = gx - nx
    grad[1] = gy - ny
    return f - nx * x - ny * y


@kernel
def surface_evaluate(ai, af, theta):
    """(f(theta), distance from theta to the minimiser)."""
    x = np.float64(theta[0])
    y = np.float64(theta[1])
    f, gx, gy = surface_value_grad(ai[0], af, x, y)
    return f, np.sqrt((x - af[F_MINX]) ** 2 + (y - af[F_MINY]) ** 2)


def noise_dataset(n_samples: int = 1000, seed: int = 0):
    """Standard-normal gradient-noise draws for a surface: (train rows, zero validation row).

    The draws are centred (their mean is exactly 0), so a full-batch gradient is the exact
    gradient of f and mini-batches add sampling noise only, as with a real training set.
    """
    rng = np.random.default_rng([seed, 6])
    draws = rng.standard_normal((n_samples, 2))
    return draws - draws.mean(axis=0), np.zeros((1, 2))
