"""adamax: Adam with the infinity norm (Kingma & Ba 2015, section 7; torch.optim.Adamax).

    g <- g + l2 * theta
    m <- beta1 * m + (1 - beta1) * g
    u <- max(beta2 * u, |g| + eps)
    theta <- theta - lr / (1 - beta1^t) * m / u

torch's ``weight_decay`` (coupled) is ``l2``.
"""

from .base import Hyper, Rule, kernel


@kernel
def coefficients(h, lr, t, prev, new):
    _, beta1, beta2, eps, l2 = h
    return l2, beta1, beta2, 1.0 - beta1, eps, lr / (1.0 - beta1 ** t)


@kernel
def element(co, th, g, b0, b1, b2):
    l2, beta1, beta2, one_minus_beta1, eps, step = co
    gi = g + l2 * th
    m = beta1 * b0 + one_minus_beta1 * gi
    u = max(beta2 * b1, abs(gi) + eps)
    return th - step * (m / u), m, u, b2


RULE = Rule(
    name="adamax", order=9, summary="u = max(b2*u, |g| + eps); theta -= lr / (1 - b1^t) * m / u",
    hyper=(Hyper("lr", None, "learning rate"),
           Hyper("beta1", 0.9, "decay of the first moment m"),
           Hyper("beta2", 0.999, "decay of the infinity norm u"),
           Hyper("eps", 1e-8, "added to |g|"),
           Hyper("l2", 0.0, "coupled L2: adds l2 * theta to the gradient (torch's weight_decay)")),
    buffers=(("m", "first moment"), ("u", "exponentially weighted infinity norm")),
    coefficients=coefficients, element=element, notes="Kingma & Ba 2015, sec. 7", torch="Adamax")
