"""adagrad: per-parameter steps from the sum of squared gradients, notes 5.1.

    g <- g + l2 * theta
    s <- s + g^2
    theta <- theta - lr * g / (sqrt(s) + eps)

torch.optim.Adagrad (lr_decay = 0, initial_accumulator_value = 0); its ``weight_decay`` is ``l2``.
"""

import math

from .base import Hyper, Rule, kernel


@kernel
def coefficients(h, lr, t, prev, new):
    _, eps, l2 = h
    return lr, l2, eps


@kernel
def element(co, th, g, b0, b1, b2):
    lr, l2, eps = co
    gi = g + l2 * th
    s = b0 + gi * gi
    return th - lr * gi / (math.sqrt(s) + eps), s, b1, b2


RULE = Rule(
    name="adagrad", order=3, summary="s += g^2; theta -= lr * g / (sqrt(s) + eps)",
    hyper=(Hyper("lr", None, "learning rate"),
           Hyper("eps", 1e-10, "added to sqrt(s)"),
           Hyper("l2", 0.0, "coupled L2: adds l2 * theta to the gradient (torch's weight_decay)")),
    buffers=(("s", "sum of squared gradients"),),
    coefficients=coefficients, element=element, notes="notes 5.1", torch="Adagrad")
