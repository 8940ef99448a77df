"""sgd: plain (stochastic) gradient descent, notes 2.3.

    g <- g + l2 * theta
    theta <- theta - lr * g

torch.optim.SGD(momentum=0); its ``weight_decay`` is ``l2``.
"""

from .base import Hyper, Rule, kernel


@kernel
def coefficients(h, lr, t, prev, new):
    _, l2 = h
    return lr, l2


@kernel
def element(co, th, g, b0, b1, b2):
    lr, l2 = co
    gi = g + l2 * th
    return th - lr * gi, b0, b1, b2


RULE = Rule(
    name="sgd", order=0, summary="theta -= lr * g",
    hyper=(Hyper("lr", None, "learning rate"),
           Hyper("l2", 0.0, "coupled L2: adds l2 * theta to the gradient (torch's weight_decay)")),
    coefficients=coefficients, element=element, notes="notes 2.3", torch="SGD")
