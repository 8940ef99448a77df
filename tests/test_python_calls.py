"""Model methods called from Python go straight to compiled code (issue 15, item 14).

A kernel that takes its model family as a literal (``numba.literally``) is retyped by numba on
every call from Python (~5 ms a call). ``loss_and_grad``, ``evaluate``, ``forward`` and ``predict``
must instead reach a compiled kernel through numba's ordinary dispatch: after the first call, numba's
compiler (``Dispatcher._compile_for_args``, where a call goes when no compiled version matches) is
not entered again. The numbers are the trainer's: the same family code as ``kernels.loss_grad``.
"""

from __future__ import annotations

import numpy as np
import pytest

import optengine as oe
from optengine.models import kernels

ROWS = 6


def _case(name):
    """(model, X, y) with tiny shapes."""
    rng = np.random.default_rng(0)
    if name == "rosenbrock":
        return oe.model("rosenbrock"), rng.standard_normal((ROWS, 2)), None
    if name == "sparse_logreg":
        import scipy.sparse as sp

        X = sp.random(ROWS, 12, density=0.3, random_state=0, format="csr")
        return oe.model("sparse_logreg", vocab_size=12, n_classes=3), X, rng.integers(0, 3, ROWS)
    models = {
        "mlp": (oe.model("mlp", sizes=[4, 5, 3]), 3),
        "linear_regression": (oe.model("linear_regression", n_features=4, n_outputs=2), None),
        "softmax_regression": (oe.model("softmax_regression", n_features=4, n_classes=3), 3),
        "cnn1d": (oe.model("cnn1d", input_length=4, channels=[2], n_outputs=3), 3),
        "rnn": (oe.model("rnn", seq_len=4, hidden_size=3, n_outputs=3), 3),
        "gru": (oe.model("gru", seq_len=4, hidden_size=3, n_outputs=2, loss="mse"), None),
    }
    m, classes = models[name]
    X = rng.standard_normal((ROWS, 4))
    y = rng.integers(0, classes, ROWS) if classes else rng.standard_normal((ROWS, m.n_outputs))
    return m, X, y


NAMES = ["mlp", "linear_regression", "softmax_regression", "cnn1d", "rnn", "gru", "sparse_logreg", "rosenbrock"]


def _calls(m, params, X, y):
    out = [m.loss_and_grad(params, X, y), m.evaluate(params, X, y)]
    if m.task != "surface":
        out += [m.forward(params, X), m.predict(params, X)]
    return out


@pytest.mark.parametrize("name", NAMES)
def test_second_call_does_not_enter_the_compiler(name, compiler_entries):
    m, X, y = _case(name)
    params = m.init(0) + 0.1
    first = _calls(m, params, X, y)  # compiles, or loads from numba's cache
    compiler_entries.clear()
    again = _calls(m, params, X, y)
    assert compiler_entries == [], f"{name}: numba's compiler entered again for {compiler_entries}"
    for a, b in zip(first, again):
        np.testing.assert_array_equal(np.asarray(a[1] if isinstance(a, tuple) else a),
                                      np.asarray(b[1] if isinstance(b, tuple) else b))


@pytest.mark.parametrize("name", ["mlp", "rosenbrock", "cnn1d"])
def test_same_numbers_as_the_trainers_dispatch(name):
    """``loss_and_grad`` and ``evaluate`` give bit for bit what ``kernels.loss_grad`` / ``evaluate``
    (the literal-family entry the trainer's code uses) give."""
    m, X, y = _case(name)
    params = m.init(0) + 0.1
    Xk, yc, yr = m.prepare(X, y, params.dtype)
    idx = np.arange(Xk.shape[0])
    grad = np.zeros_like(params)
    loss = kernels.loss_grad(m.family, m.ai, m.af, params, Xk, yc, yr, idx, grad,
                             np.empty(m.workspace_size(idx.size)), 0)
    ev = kernels.evaluate(m.family, m.ai, m.af, params, Xk, yc, yr, np.empty(m.workspace_size(ROWS)), 512)
    got_loss, got_grad = m.loss_and_grad(params, X, y)
    assert got_loss == loss
    np.testing.assert_array_equal(got_grad, grad)
    assert m.evaluate(params, X, y) == ev


def test_every_family_has_python_entries():
    assert set(kernels.LOSS_GRAD) == set(kernels.FAMILIES) == set(kernels.EVALUATE)


def test_benchmark_runs(capsys):
    """benchmarks/loss_and_grad_calls.py on the cheapest family, one round: it prints the figures and a verdict."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from benchmarks import loss_and_grad_calls as bench

    bench.main(["--only", "rosenbrock", "--repeats", "1"])
    out = capsys.readouterr().out
    assert "rosenbrock" in out and "families within the target" in out
