"""adadelta: steps scaled by the ratio of update and gradient RMS (Zeiler 2012; torch.optim.Adadelta).

    g <- g + l2 * theta
    s <- rho * s + (1 - rho) * g^2
    d = sqrt(a + eps) / sqrt(s + eps) * g
    a <- rho * a + (1 - rho) * d^2
    theta <- theta - lr * d

torch's default lr is 1.0; its ``weight_decay`` (coupled) is ``l2``.
"""

import math

from .base import Hyper, Rule, kernel


@kernel
def coefficients(h, lr, t, prev, new):
    _, rho, eps, l2 = h
    return lr, l2, rho, 1.0 - rho, eps


@kernel
def element(co, th, g, b0, b1, b2):
    lr, l2, rho, one_minus_rho, eps = co
    gi = g + l2 * th
    s = rho * b0 + one_minus_rho * (gi * gi)
    d = math.sqrt(b1 + eps) / math.sqrt(s + eps) * gi
    a = rho * b1 + one_minus_rho * (d * d)
    return th - lr * d, s, a, b2


RULE = Rule(
    name="adadelta", order=10, summary="theta -= lr * sqrt(a + eps) / sqrt(s + eps) * g; a, s: RMS averages",
    hyper=(Hyper("lr", None, "learning rate (torch's default: 1.0)"),
           Hyper("rho", 0.9, "decay of both running averages"),
           Hyper("eps", 1e-6, "added inside both square roots"),
           Hyper("l2", 0.0, "coupled L2: adds l2 * theta to the gradient (torch's weight_decay)")),
    buffers=(("s", "average of squared gradients"), ("a", "average of squared updates")),
    coefficients=coefficients, element=element, notes="Zeiler 2012", torch="Adadelta")
