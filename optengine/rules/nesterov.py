"""nesterov: Nesterov momentum, stored as the look-ahead point (PyTorch's form), notes 4.2.

    g <- g + l2 * theta
    v <- momentum * v + g
    theta <- theta - lr * (g + momentum * v)

torch.optim.SGD(momentum, nesterov=True); its ``weight_decay`` is ``l2``.
``tests/test_optimizers.py`` shows it equals the notes' explicit form.
"""

from .base import Hyper, Rule, kernel


@kernel
def coefficients(h, lr, t, prev, new):
    _, momentum, l2 = h
    return lr, l2, momentum


@kernel
def element(co, th, g, b0, b1, b2):
    lr, l2, momentum = co
    gi = g + l2 * th
    v = momentum * b0 + gi
    return th - lr * (gi + momentum * v), v, b1, b2


RULE = Rule(
    name="nesterov", order=2, summary="v = m*v + g; theta -= lr * (g + m*v)  (look-ahead form)",
    hyper=(Hyper("lr", None, "learning rate"),
           Hyper("momentum", 0.9, "velocity decay m"),
           Hyper("l2", 0.0, "coupled L2: adds l2 * theta to the gradient (torch's weight_decay)")),
    buffers=(("v", "velocity"),),
    coefficients=coefficients, element=element, notes="notes 4.2", torch="SGD(momentum, nesterov=True)")
