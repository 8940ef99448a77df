"""The model interface the trainer compiles against: one entry per model family.

Every family provides ``loss_grad`` (mean mini-batch loss, gradient written in place) and
``evaluate`` ((mean loss, metric) over a whole split).

Family codes: DENSE 0 (linear/softmax regression, mlp: ``models/dense.py``, the fast path shared with
the CUDA trainer), SURFACE 1 (the 2-D test functions), QUADRATIC 2 (DeepOBS's ``quadratic_deep``:
``models/quadratic.py``), LAYERS 5 (every layer model: ``sequential`` and the ready-made ``cnn1d``,
``rnn``, ``gru``, ``sparse_logreg``, run by ``layers/driver.py``). Codes 2-4 belonged to the
per-family CNN, recurrent and sparse kernels the layer engine replaced; 3 and 4 are free.

The family is a compile-time constant: ``loss_grad`` and ``evaluate`` ask numba for it as a literal
(``numba.literally``), and the overloads below pick that family's functions, so a trainer for MLPs
compiles (and caches) the dense model only. Python code calls the per-family entries
``LOSS_GRAD[family]`` and ``EVALUATE[family]`` instead (see the end of this file): a literal argument
passed from Python is retyped on every call.

``key`` is the step's random key (dropout in layer models; the other families ignore it).
"""

from numba import literally, types
from numba.extending import overload

from ..jit import kernel
from ..layers.driver import layers_evaluate, layers_loss_grad
from .dense import dense_evaluate, dense_loss_grad
from .quadratic import quadratic_evaluate, quadratic_loss_grad
from .surfaces import surface_evaluate, surface_loss_grad

DENSE, SURFACE, QUADRATIC, LAYERS = 0, 1, 2, 5
FAMILIES = (DENSE, SURFACE, QUADRATIC, LAYERS)


def _family_of(family):
    """The family code of a numba integer literal type (None for a plain integer)."""
    if isinstance(family, types.IntegerLiteral):
        return family.literal_value
    return None


def family_loss_grad(family, ai, af, theta, X, yc, yr, idx, grad, ws, key):
    """Dispatch target of ``loss_grad`` (compiled code only; see the overload)."""
    raise NotImplementedError("family_loss_grad runs inside numba kernels only")


def family_evaluate(family, ai, af, theta, X, yc, yr, ws, chunk):
    """Dispatch target of ``evaluate`` (compiled code only; see the overload)."""
    raise NotImplementedError("family_evaluate runs inside numba kernels only")


@overload(family_loss_grad, prefer_literal=True)
def _family_loss_grad(family, ai, af, theta, X, yc, yr, idx, grad, ws, key):
    code = _family_of(family)
    if code not in FAMILIES:
        raise TypeError(f"the model family must be a compile-time literal in {FAMILIES}, got {family}")
    if code == SURFACE:
        return lambda family, ai, af, theta, X, yc, yr, idx, grad, ws, key: surface_loss_grad(ai, af, theta, X, idx,
                                                                                               grad)
    if code == QUADRATIC:
        return lambda family, ai, af, theta, X, yc, yr, idx, grad, ws, key: quadratic_loss_grad(ai, af, theta, X,
                                                                                                 idx, grad, ws)
    if code == LAYERS:
        return lambda family, ai, af, theta, X, yc, yr, idx, grad, ws, key: layers_loss_grad(
            ai, af, theta, X, yc, yr, idx, grad, ws, key)
    return lambda family, ai, af, theta, X, yc, yr, idx, grad, ws, key: dense_loss_grad(ai, theta, X, yc, yr, idx,
                                                                                         grad, ws)


@overload(family_evaluate, prefer_literal=True)
def _family_evaluate(family, ai, af, theta, X, yc, yr, ws, chunk):
    code = _family_of(family)
    if code not in FAMILIES:
        raise TypeError(f"the model family must be a compile-time literal in {FAMILIES}, got {family}")
    if code == SURFACE:
        return lambda family, ai, af, theta, X, yc, yr, ws, chunk: surface_evaluate(ai, af, theta)
    if code == QUADRATIC:
        return lambda family, ai, af, theta, X, yc, yr, ws, chunk: quadratic_evaluate(ai, af, theta, X, ws)
    if code == LAYERS:
        return lambda family, ai, af, theta, X, yc, yr, ws, chunk: layers_evaluate(ai, af, theta, X, yc, yr, ws,
                                                                                   chunk)
    return lambda family, ai, af, theta, X, yc, yr, ws, chunk: dense_evaluate(ai, theta, X, yc, yr, ws, chunk)


@kernel
def loss_grad(family, ai, af, theta, X, yc, yr, idx, grad, ws, key):
    """Mean loss of the rows ``idx`` of (X, y); its gradient goes into ``grad``."""
    return family_loss_grad(literally(family), ai, af, theta, X, yc, yr, idx, grad, ws, key)


@kernel
def evaluate(family, ai, af, theta, X, yc, yr, ws, chunk):
    """(mean loss, metric) over every row of (X, y)."""
    return family_evaluate(literally(family), ai, af, theta, X, yc, yr, ws, chunk)


# -- entry points for calls from Python -------------------------------------------------------------
# Called from Python, a kernel that asks for its family as a literal is retyped on every call: numba
# first types the call with a plain integer, fails, and retries with the literal (~5 ms a call). The
# kernels below hold their family as a constant instead (a global is typed as a literal), so numba's
# ordinary dispatch finds their compiled version at once; they run the same family code.

@kernel
def dense_loss_grad_entry(ai, af, theta, X, yc, yr, idx, grad, ws, key):
    return family_loss_grad(DENSE, ai, af, theta, X, yc, yr, idx, grad, ws, key)


@kernel
def surface_loss_grad_entry(ai, af, theta, X, yc, yr, idx, grad, ws, key):
    return family_loss_grad(SURFACE, ai, af, theta, X, yc, yr, idx, grad, ws, key)


@kernel
def quadratic_loss_grad_entry(ai, af, theta, X, yc, yr, idx, grad, ws, key):
    return family_loss_grad(QUADRATIC, ai, af, theta, X, yc, yr, idx, grad, ws, key)


@kernel
def dense_evaluate_entry(ai, af, theta, X, yc, yr, ws, chunk):
    return family_evaluate(DENSE, ai, af, theta, X, yc, yr, ws, chunk)


@kernel
def surface_evaluate_entry(ai, af, theta, X, yc, yr, ws, chunk):
    return family_evaluate(SURFACE, ai, af, theta, X, yc, yr, ws, chunk)


@kernel
def quadratic_evaluate_entry(ai, af, theta, X, yc, yr, ws, chunk):
    return family_evaluate(QUADRATIC, ai, af, theta, X, yc, yr, ws, chunk)


LOSS_GRAD = {DENSE: dense_loss_grad_entry, SURFACE: surface_loss_grad_entry, QUADRATIC: quadratic_loss_grad_entry,
             LAYERS: layers_loss_grad}
EVALUATE = {DENSE: dense_evaluate_entry, SURFACE: surface_evaluate_entry, QUADRATIC: quadratic_evaluate_entry,
            LAYERS: layers_evaluate}
