"""adam: bias-corrected first and second moments, notes 5.3 and 12.2 (t counted from 1).

    g <- g + l2 * theta
    m <- beta1 * m + (1 - beta1) * g
    v <- beta2 * v + (1 - beta2) * g^2
    vmax <- max(vmax, v); v' = vmax if amsgrad else v
    theta <- theta - lr * (m / (1 - beta1^t)) / (sqrt(v' / (1 - beta2^t)) + eps)

torch.optim.Adam(amsgrad); its ``weight_decay`` is ``l2``.
"""

import math

from .base import Hyper, Rule, kernel


@kernel
def coefficients(h, lr, t, prev, new):
    _, beta1, beta2, eps, l2, amsgrad = h
    return (lr, l2, beta1, beta2, 1.0 - beta1, 1.0 - beta2, 1.0 - beta1 ** t, 1.0 - beta2 ** t, eps, 0.0,
            amsgrad)


@kernel
def element(co, th, g, b0, b1, b2):
    """Adam's step, shared with AdamW (``weight_decay`` is 0 for Adam)."""
    lr, l2, beta1, beta2, one_minus_beta1, one_minus_beta2, bc1, bc2, eps, weight_decay, amsgrad = co
    gi = g + l2 * th
    m = beta1 * b0 + one_minus_beta1 * gi
    v = beta2 * b1 + one_minus_beta2 * (gi * gi)
    vmax = max(b2, v)
    vhat = (vmax if amsgrad else v) / bc2
    mhat = m / bc1
    return th - lr * (mhat / (math.sqrt(vhat) + eps) + weight_decay * th), m, v, vmax


HYPER = (Hyper("lr", None, "learning rate"),
         Hyper("beta1", 0.9, "decay of the first moment m"),
         Hyper("beta2", 0.999, "decay of the second moment v"),
         Hyper("eps", 1e-8, "added to sqrt(v_hat)"))
L2 = Hyper("l2", 0.0, "coupled L2: adds l2 * theta to the gradient (torch's weight_decay)")
AMSGRAD = Hyper("amsgrad", 0.0, "AMSGrad: divide by the running maximum of v (true/false)", added=True)
BUFFERS = (("m", "first moment"), ("v", "second moment"), ("vmax", "running maximum of v (amsgrad only)"))

RULE = Rule(
    name="adam", order=5, summary="theta -= lr * m_hat / (sqrt(v_hat) + eps)  (amsgrad: max of v)",
    hyper=HYPER + (L2, AMSGRAD), buffers=BUFFERS, optional_buffer="amsgrad",
    coefficients=coefficients, element=element, notes="notes 5.3", torch="Adam(amsgrad)")
