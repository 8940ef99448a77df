"""lion: the sign of an interpolated momentum (Chen et al. 2023, Algorithm 2; optax.lion).

    g <- g + l2 * theta
    c = beta1 * m + (1 - beta1) * g
    theta <- theta - lr * (sign(c) + weight_decay * theta)
    m <- beta2 * m + (1 - beta2) * g

sign(0) = 0. ``weight_decay`` is decoupled (the paper's lambda; optax's default is 1e-3,
this rule's 0), ``l2`` coupled.
"""

from .base import Hyper, Rule, kernel


@kernel
def coefficients(h, lr, t, prev, new):
    _, beta1, beta2, weight_decay, l2 = h
    return lr, l2, beta1, 1.0 - beta1, beta2, 1.0 - beta2, weight_decay, 1.0


@kernel
def element(co, th, g, b0, b1, b2):
    lr, l2, beta1, one_minus_beta1, beta2, one_minus_beta2, weight_decay, one = co
    gi = g + l2 * th
    c = beta1 * b0 + one_minus_beta1 * gi
    sign = c - c  # 0 (NaN for a NaN c), in the parameters' dtype
    if c > sign:
        sign = one
    elif c < sign:
        sign = -one
    m = beta2 * b0 + one_minus_beta2 * gi
    return th - lr * (sign + weight_decay * th), m, b1, b2


RULE = Rule(
    name="lion", order=11, summary="theta -= lr * (sign(b1*m + (1-b1)*g) + wd * theta); m = b2*m + (1-b2)*g",
    hyper=(Hyper("lr", None, "learning rate"),
           Hyper("beta1", 0.9, "interpolation of m and g inside the sign"),
           Hyper("beta2", 0.99, "decay of the momentum m"),
           Hyper("weight_decay", 0.0, "decoupled decay: theta -= lr * weight_decay * theta"),
           Hyper("l2", 0.0, "coupled L2: adds l2 * theta to the gradient")),
    buffers=(("m", "momentum"),),
    coefficients=coefficients, element=element, notes="Chen et al. 2023", torch="optax.lion")
