"""adamw: Adam with decoupled weight decay, notes 5.4.

    Adam's m, v (and vmax with amsgrad), then
    theta <- theta - lr_t * (m_hat / (sqrt(v_hat) + eps) + weight_decay * theta)        (default)
    theta <- theta - lr_t * m_hat / (sqrt(v_hat) + eps) - eta_t * weight_decay * theta  (schedule_decay)

lr_t is the scheduled learning rate and eta_t = lr_t / lr its schedule multiplier. The default
multiplies the decay by the learning rate (the notes, torch.optim.AdamW); ``schedule_decay = true``
is Loshchilov & Hutter's AdamW (2019, Algorithm 2: theta -= eta_t (alpha m_hat / (sqrt(v_hat) + eps)
+ lambda theta)), where the decay follows the schedule multiplier only, so lr and weight_decay are
separate knobs. torch.optim.AdamW(amsgrad); ``l2`` is an extra coupled L2 term (0 by default).
"""

from .adam import AMSGRAD, BUFFERS, HYPER, L2, element
from .base import Hyper, Rule, kernel


@kernel
def coefficients(h, lr, t, prev, new):
    base_lr, beta1, beta2, eps, weight_decay, l2, amsgrad, schedule_decay = h
    # element() applies lr * decay * theta: dividing by the base lr leaves eta_t * weight_decay * theta
    decay = weight_decay / base_lr if schedule_decay else weight_decay
    return (lr, l2, beta1, beta2, 1.0 - beta1, 1.0 - beta2, 1.0 - beta1 ** t, 1.0 - beta2 ** t, eps, decay,
            amsgrad)


SCHEDULE_DECAY = Hyper("schedule_decay", 0.0, "true: decay by the schedule multiplier only, theta -= (lr_t / lr) * "
                                              "weight_decay * theta (Loshchilov & Hutter); false: by lr_t (torch)",
                       added=True)

RULE = Rule(
    name="adamw", order=6, summary="adam - lr * weight_decay * theta  (decoupled)",
    hyper=HYPER + (Hyper("weight_decay", 0.01, "decoupled decay: theta -= lr * weight_decay * theta"), L2, AMSGRAD,
                   SCHEDULE_DECAY),
    buffers=BUFFERS, optional_buffer="amsgrad",
    coefficients=coefficients, element=element, notes="notes 5.4; Loshchilov & Hutter 2019 (schedule_decay)",
    torch="AdamW(amsgrad)")
