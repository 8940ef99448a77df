"""radam: Adam with the variance of the adaptive step rectified (Liu et al. 2020; torch.optim.RAdam).

    g <- g + l2 * theta
    m <- beta1 * m + (1 - beta1) * g;   v <- beta2 * v + (1 - beta2) * g^2
    rho_inf = 2 / (1 - beta2) - 1;      rho_t = rho_inf - 2 t beta2^t / (1 - beta2^t)
    if rho_t > 5:  r = sqrt((rho_t - 4)(rho_t - 2) rho_inf / ((rho_inf - 4)(rho_inf - 2) rho_t))
                   theta <- theta - lr * m / (1 - beta1^t) * r * sqrt(1 - beta2^t) / (sqrt(v) + eps)
    else:          theta <- theta - lr * m / (1 - beta1^t)

torch's ``weight_decay`` (coupled) is ``l2``.
"""

import math

from .base import Hyper, Rule, kernel


@kernel
def coefficients(h, lr, t, prev, new):
    _, beta1, beta2, eps, l2 = h
    bc2 = 1.0 - beta2 ** t
    rho_inf = 2.0 / (1.0 - beta2) - 1.0
    rho_t = rho_inf - 2.0 * t * beta2 ** t / bc2
    adaptive = 1.0 if rho_t > 5.0 else 0.0
    rect = 0.0
    if rho_t > 5.0:
        rect = math.sqrt((rho_t - 4.0) * (rho_t - 2.0) * rho_inf / ((rho_inf - 4.0) * (rho_inf - 2.0) * rho_t))
    return (lr, l2, beta1, beta2, 1.0 - beta1, 1.0 - beta2, 1.0 - beta1 ** t, math.sqrt(bc2), eps, rect,
            adaptive)


@kernel
def element(co, th, g, b0, b1, b2):
    lr, l2, beta1, beta2, one_minus_beta1, one_minus_beta2, bc1, sqrt_bc2, eps, rect, adaptive = co
    gi = g + l2 * th
    m = beta1 * b0 + one_minus_beta1 * gi
    v = beta2 * b1 + one_minus_beta2 * (gi * gi)
    step = m / bc1 * lr
    rectified = step * (sqrt_bc2 / (math.sqrt(v) + eps)) * rect
    return th - (rectified if adaptive else step), m, v, b2


RULE = Rule(
    name="radam", order=8, summary="adam whose adaptive step is rectified (plain momentum while rho_t <= 5)",
    hyper=(Hyper("lr", None, "learning rate"),
           Hyper("beta1", 0.9, "decay of the first moment m"),
           Hyper("beta2", 0.999, "decay of the second moment v"),
           Hyper("eps", 1e-8, "added to sqrt(v)"),
           Hyper("l2", 0.0, "coupled L2: adds l2 * theta to the gradient (torch's weight_decay)")),
    buffers=(("m", "first moment"), ("v", "second moment")),
    coefficients=coefficients, element=element, notes="Liu et al. 2020", torch="RAdam")
