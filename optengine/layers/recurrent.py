# PLACEHOLDER (not committed): replaced by the helper's module
from ..jit import kernel
PLANNERS = {}

@kernel
def recurrent_forward(r, f, W, x, y, save, tmp, training, key):
    y[:, :] = 0.0

@kernel
def recurrent_backward(r, f, W, x, y, dy, dx, dW, save, tmp, need_dx):
    dx[:, :] = 0.0
