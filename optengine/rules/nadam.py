"""nadam: Adam with Nesterov momentum and a momentum schedule (Dozat 2016; torch.optim.NAdam).

    g <- g + l2 * theta
    mu_t = beta1 * (1 - 0.5 * 0.96^(t * momentum_decay)),   P_t = mu_1 * ... * mu_t
    m <- beta1 * m + (1 - beta1) * g
    v <- beta2 * v + (1 - beta2) * g^2
    d = sqrt(v / (1 - beta2^t)) + eps
    theta <- theta - lr * (1 - mu_t) / (1 - P_t) * g / d - lr * mu_{t+1} / (1 - P_t * mu_{t+1}) * m / d

The running product P_t is per-trial state (``mu_product``, 1 at the start). torch's
``weight_decay`` (coupled) is ``l2``.
"""

import math

from .base import Hyper, Rule, kernel


@kernel
def coefficients(h, lr, t, prev, new):
    _, beta1, beta2, eps, momentum_decay, l2 = h
    mu = beta1 * (1.0 - 0.5 * 0.96 ** (t * momentum_decay))
    mu_next = beta1 * (1.0 - 0.5 * 0.96 ** ((t + 1) * momentum_decay))
    mu_product = prev[0] * mu
    new[0] = mu_product
    grad_step = lr * (1.0 - mu) / (1.0 - mu_product)
    moment_step = lr * mu_next / (1.0 - mu_product * mu_next)
    return l2, beta1, beta2, 1.0 - beta1, 1.0 - beta2, 1.0 - beta2 ** t, eps, grad_step, moment_step


@kernel
def element(co, th, g, b0, b1, b2):
    l2, beta1, beta2, one_minus_beta1, one_minus_beta2, bc2, eps, grad_step, moment_step = co
    gi = g + l2 * th
    m = beta1 * b0 + one_minus_beta1 * gi
    v = beta2 * b1 + one_minus_beta2 * (gi * gi)
    d = math.sqrt(v / bc2) + eps
    th = th - grad_step * (gi / d)
    return th - moment_step * (m / d), m, v, b2


RULE = Rule(
    name="nadam", order=7, summary="adam with a Nesterov look-ahead on m and the mu_t momentum schedule",
    hyper=(Hyper("lr", None, "learning rate"),
           Hyper("beta1", 0.9, "decay of the first moment m (mu_t's scale)"),
           Hyper("beta2", 0.999, "decay of the second moment v"),
           Hyper("eps", 1e-8, "added to sqrt(v_hat)"),
           Hyper("momentum_decay", 4e-3, "psi of mu_t = beta1 * (1 - 0.5 * 0.96^(t * psi))"),
           Hyper("l2", 0.0, "coupled L2: adds l2 * theta to the gradient (torch's weight_decay)")),
    buffers=(("m", "first moment"), ("v", "second moment")),
    scalars=(("mu_product", 1.0, "product of mu_1..mu_t"),),
    coefficients=coefficients, element=element, notes="Dozat 2016", torch="NAdam")
