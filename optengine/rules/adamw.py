"""adamw: Adam with decoupled weight decay, notes 5.4.

    Adam's m, v (and vmax with amsgrad), then
    theta <- theta - lr * (m_hat / (sqrt(v_hat) + eps) + weight_decay * theta)

torch.optim.AdamW(amsgrad); ``l2`` is an extra coupled L2 term (0 by default).
"""

from .adam import AMSGRAD, BUFFERS, HYPER, L2, element
from .base import Hyper, Rule, kernel


@kernel
def coefficients(h, lr, t, prev, new):
    _, beta1, beta2, eps, weight_decay, l2, amsgrad = h
    return (lr, l2, beta1, beta2, 1.0 - beta1, 1.0 - beta2, 1.0 - beta1 ** t, 1.0 - beta2 ** t, eps, weight_decay,
            amsgrad)


RULE = Rule(
    name="adamw", order=6, summary="adam - lr * weight_decay * theta  (decoupled)",
    hyper=HYPER + (Hyper("weight_decay", 0.01, "decoupled decay: theta -= lr * weight_decay * theta"), L2, AMSGRAD),
    buffers=BUFFERS, optional_buffer="amsgrad",
    coefficients=coefficients, element=element, notes="notes 5.4", torch="AdamW(amsgrad)")
