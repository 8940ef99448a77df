"""rmsprop: a decaying average of squared gradients, notes 5.2.

    g <- g + l2 * theta
    s <- decay * s + (1 - decay) * g^2
    theta <- theta - lr * g / (sqrt(s) + eps)

torch.optim.RMSprop(alpha=decay); its ``weight_decay`` is ``l2``.
"""

import math

from .base import Hyper, Rule, kernel


@kernel
def coefficients(h, lr, t, prev, new):
    _, decay, eps, l2 = h
    return lr, l2, decay, 1.0 - decay, eps


@kernel
def element(co, th, g, b0, b1, b2):
    lr, l2, decay, one_minus_decay, eps = co
    gi = g + l2 * th
    s = decay * b0 + one_minus_decay * (gi * gi)
    return th - lr * gi / (math.sqrt(s) + eps), s, b1, b2


RULE = Rule(
    name="rmsprop", order=4, summary="s = d*s + (1-d)*g^2; theta -= lr * g / (sqrt(s) + eps)",
    hyper=(Hyper("lr", None, "learning rate"),
           Hyper("decay", 0.9, "decay d of the squared-gradient average (torch's alpha)"),
           Hyper("eps", 1e-8, "added to sqrt(s)"),
           Hyper("l2", 0.0, "coupled L2: adds l2 * theta to the gradient (torch's weight_decay)")),
    buffers=(("s", "average of squared gradients"),),
    coefficients=coefficients, element=element, notes="notes 5.2", torch="RMSprop")
