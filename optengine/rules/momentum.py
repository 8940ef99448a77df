"""momentum: heavy-ball momentum in PyTorch's form, notes 4.1.

    g <- g + l2 * theta
    v <- g                                   at the first step (t = 1)
    v <- momentum * v + (1 - dampening) * g  afterwards
    theta <- theta - lr * v

torch.optim.SGD(momentum, dampening); its ``weight_decay`` is ``l2``. With dampening = 0
(the default) v = momentum * v + g from v = 0, the notes' form.
"""

from .base import Hyper, Rule, kernel


@kernel
def coefficients(h, lr, t, prev, new):
    _, momentum, l2, dampening = h
    keep = 1.0 if t == 1 else 1.0 - dampening  # torch: the first step takes g undamped
    return lr, l2, momentum, keep


@kernel
def element(co, th, g, b0, b1, b2):
    lr, l2, momentum, keep = co
    gi = g + l2 * th
    v = momentum * b0 + keep * gi
    return th - lr * v, v, b1, b2


RULE = Rule(
    name="momentum", order=1, summary="v = m*v + (1-dampening)*g; theta -= lr * v",
    hyper=(Hyper("lr", None, "learning rate"),
           Hyper("momentum", 0.9, "velocity decay m"),
           Hyper("l2", 0.0, "coupled L2: adds l2 * theta to the gradient (torch's weight_decay)"),
           Hyper("dampening", 0.0, "damps the gradient's share of the velocity (torch's dampening)", added=True)),
    buffers=(("v", "velocity"),),
    coefficients=coefficients, element=element, notes="notes 4.1", torch="SGD(momentum, dampening)")
