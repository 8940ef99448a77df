"""``sparse_logreg`` (``models/sparse_model.py``: the layer list [embedding_bag]) against finite differences,
an independent autodiff (torch), and ``softmax_regression`` on the densified matrix.

Conventions checked: theta = [W (vocab x C, row-major), b (C)]; z_i = b + sum_k x_ik W[k, :];
loss = mean_i [logsumexp(z_i) - z_i[y_i]]; the gradient is exactly 0 on the W rows of tokens
absent from the batch; the update rules are applied densely (same parameters as the dense model).
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

import optengine as oe
from optengine.errors import ConfigError
from optengine.layers.driver import layers_loss_grad
from optengine.models.layered import LayersModel
from optengine.models import kernels
from optengine.models import sparse_model
from optengine.models.sparse_model import sparse_logreg
from reference import central_fd


def engine_loss_grad(m, theta, E, yc, idx, grad, ws):
    """The layer driver as the trainer calls it (sparse_logreg is the layer list [embedding_bag])."""
    return layers_loss_grad(m.ai, m.af, theta, E, yc, np.zeros((0, 0), dtype=theta.dtype), idx, grad, ws, 0)

FD_H = 1e-6
FD_RTOL = 1e-7
RULE_LRS = {"sgd": 0.3, "momentum": 0.1, "nesterov": 0.1, "adagrad": 0.3, "rmsprop": 0.02, "adam": 0.05,
            "adamw": 0.05}


def random_docs(n=12, vocab=15, classes=3, seed=0, density=0.2, empty=(2, 7), negative=True):
    """(CSR X with some empty rows and some negative values, labels)."""
    rng = np.random.default_rng(seed)
    X = sp.random(n, vocab, density=density, format="csr", random_state=seed,
                  data_rvs=lambda k: rng.integers(1, 4, k).astype(float))
    X = X.tolil()
    for r in empty:
        X[r, :] = 0
    X = X.tocsr()
    X.eliminate_zeros()
    if negative:
        X.data[::5] *= -0.5
    y = rng.integers(0, classes, n)
    return X, y


def model_and_params(vocab=15, classes=3, seed=0):
    m = sparse_logreg(vocab_size=vocab, n_classes=classes, init="pytorch")
    return m, m.init(seed) * 5.0  # larger weights: non-trivial softmax


def rel_err(a, b):
    return np.linalg.norm(a - b) / max(np.linalg.norm(a), np.linalg.norm(b), 1e-300)


# -- gradients ----------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1])
def test_gradient_matches_central_finite_differences(seed):
    m, p = model_and_params(seed=seed)
    X, y = random_docs(seed=seed)
    loss, g = m.loss_and_grad(p, X, y)
    fd = central_fd(lambda q: m.loss_and_grad(q, X, y)[0], p)
    err = rel_err(g, fd)
    assert err < FD_RTOL, err
    np.testing.assert_allclose(g, fd, rtol=0, atol=FD_RTOL * np.linalg.norm(fd))


def test_kernel_gradient_on_a_batch_subset_matches_finite_differences():
    """The kernel as the trainer calls it: rows ``idx`` (shuffled, with a repeat), a dirty grad buffer."""
    m, p = model_and_params()
    X, y = random_docs(n=20)
    E, yc, _ = m.prepare(X, y, np.float64)
    idx = np.array([5, 2, 7, 2, 13, 19])
    ws = np.full(m.workspace_size(idx.size), np.nan)

    def f(q):
        g = np.full_like(q, np.nan)
        return engine_loss_grad(m, q, E, yc, idx, g, ws)

    grad = np.full_like(p, np.nan)
    engine_loss_grad(m, p, E, yc, idx, grad, ws)
    assert np.all(np.isfinite(grad))
    fd = central_fd(f, p)
    assert rel_err(grad, fd) < FD_RTOL
    loss_sub, g_sub = m.loss_and_grad(p, X[idx], y[idx])
    assert f(p) == pytest.approx(loss_sub, rel=1e-14)
    np.testing.assert_allclose(grad, g_sub, rtol=0, atol=1e-15)


def test_gradient_against_torch_autodiff():
    torch = pytest.importorskip("torch")
    m, p = model_and_params(vocab=30, classes=4, seed=3)
    X, y = random_docs(n=25, vocab=30, classes=4, seed=3)
    loss, g = m.loss_and_grad(p, X, y)
    V, C = 30, 4
    coo = X.tocoo()
    Xt = torch.sparse_coo_tensor(np.vstack([coo.row, coo.col]), coo.data, size=X.shape, dtype=torch.float64,
                                 check_invariants=True)
    W = torch.tensor(p[:V * C].reshape(V, C), requires_grad=True)
    b = torch.tensor(p[V * C:], requires_grad=True)
    z = torch.sparse.mm(Xt, W) + b
    t_loss = torch.nn.functional.cross_entropy(z, torch.tensor(y))
    t_loss.backward()
    t_grad = np.concatenate([W.grad.numpy().ravel(), b.grad.numpy()])
    assert loss == pytest.approx(t_loss.item(), rel=1e-13)
    np.testing.assert_allclose(g, t_grad, rtol=0, atol=1e-13)
    t_logits = z.detach().numpy()
    np.testing.assert_allclose(m.forward(p, X), t_logits, rtol=0, atol=1e-13)


def test_gradient_is_exactly_zero_on_absent_tokens():
    m, p = model_and_params(vocab=40)
    X, y = random_docs(n=10, vocab=40, density=0.05)
    present = np.unique(X.indices)
    assert 0 < present.size < 40
    _, g = m.loss_and_grad(p, X, y)
    G = g[:40 * 3].reshape(40, 3)
    absent = np.setdiff1d(np.arange(40), present)
    assert np.all(G[absent] == 0.0)
    assert np.all(np.abs(G[present]).sum(axis=1) > 0)
    assert np.all(g[40 * 3:] != 0.0)  # the bias always gets a gradient


def test_grad_buffer_is_fully_overwritten():
    """Whatever the buffer held (a previous batch, NaN), the result is the batch's own gradient."""
    m, p = model_and_params()
    X, y = random_docs()
    E, yc, _ = m.prepare(X, y, np.float64)
    ws = np.empty(m.workspace_size(X.shape[0]))
    g1 = np.full_like(p, np.nan)
    engine_loss_grad(m, p, E, yc, np.array([0, 1, 3]), g1, ws)  # another batch first
    engine_loss_grad(m, p, E, yc, np.array([4, 5]), g1, ws)
    g2 = np.zeros_like(p)
    engine_loss_grad(m, p, E, yc, np.array([4, 5]), g2, ws)
    np.testing.assert_array_equal(g1, g2)


# -- the dense twin --------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-12), (np.float32, 2e-6)])
def test_equals_dense_softmax_regression_on_the_densified_matrix(dtype, tol):
    V, C = 25, 4
    X, y = random_docs(n=30, vocab=V, classes=C, seed=5)
    m = sparse_logreg(vocab_size=V, n_classes=C, init="pytorch")
    d = oe.model("softmax_regression", n_features=V, n_classes=C, init="pytorch")
    p = m.init(7, dtype)
    np.testing.assert_array_equal(p, d.init(7, dtype))  # same init draw
    ls, gs = m.loss_and_grad(p, X, y)
    ld, gd = d.loss_and_grad(p, X.toarray(), y)
    assert abs(ls - ld) <= tol * max(1.0, abs(ld))
    np.testing.assert_allclose(gs, gd, rtol=0, atol=tol)
    es, ed = m.evaluate(p, X, y), d.evaluate(p, X.toarray(), y)
    assert es[0] == pytest.approx(ed[0], abs=tol) and es[1] == ed[1]
    np.testing.assert_allclose(m.forward(p, X), d.forward(p, X.toarray()), rtol=0, atol=10 * tol)


@pytest.mark.parametrize("l2", [0.0, 0.01])
@pytest.mark.parametrize("rule", list(RULE_LRS))
def test_update_rules_act_densely_exactly_as_on_the_dense_model(rule, l2):
    """Same rule, same mini-batches: the sparse and dense models keep identical parameters."""
    V, C = 20, 3
    X, y = random_docs(n=24, vocab=V, classes=C, seed=11, density=0.1)
    m = sparse_logreg(vocab_size=V, n_classes=C, init="pytorch")
    d = oe.model("softmax_regression", n_features=V, n_classes=C, init="pytorch")
    hyper = {"lr": RULE_LRS[rule]}
    if l2:
        hyper["l2"] = l2
    ps, pd_ = m.init(1), d.init(1)
    opt_s, opt_d = oe.optimizer(rule, **hyper), oe.optimizer(rule, **hyper)
    st_s, st_d = opt_s.init(ps), opt_d.init(pd_)
    Xd = X.toarray()
    for b in range(6):
        rows = np.arange(4 * b, 4 * b + 4)
        _, gs = m.loss_and_grad(ps, X[rows], y[rows])
        _, gd = d.loss_and_grad(pd_, Xd[rows], y[rows])
        opt_s.step(ps, gs, st_s)
        opt_d.step(pd_, gd, st_d)
    np.testing.assert_allclose(ps, pd_, rtol=0, atol=1e-12)


def test_absent_features_under_adagrad_and_adam():
    """AdaGrad leaves never-seen rows and their accumulators untouched; Adam keeps moving a row
    after its token leaves the batches (dense semantics, momentum of the moments)."""
    V, C = 10, 2
    X = sp.csr_matrix(np.array([[1.0, 0, 0, 0, 0, 0, 0, 0, 0, 2.0],
                                [0, 1.0, 0, 0, 0, 0, 0, 0, 0, 1.0]]))
    y = np.array([0, 1])
    m = sparse_logreg(vocab_size=V, n_classes=C, init="pytorch")
    for rule in ("adagrad", "adam"):
        p = m.init(0)
        p0 = p.copy()
        opt = oe.optimizer(rule, lr=0.1)
        st = opt.init(p)
        _, g = m.loss_and_grad(p, X, y)  # step 1: tokens 0, 1, 9
        opt.step(p, g, st)
        after_first = p.copy()
        later = sp.csr_matrix(([1.0], ([0], [9])), shape=(1, V))
        for _ in range(3):  # later steps see token 9 only
            _, g = m.loss_and_grad(p, later, y[:1])
            opt.step(p, g, st)
        W, W0, W1 = p[:V * C].reshape(V, C), p0[:V * C].reshape(V, C), after_first[:V * C].reshape(V, C)
        np.testing.assert_array_equal(W[2:9], W0[2:9])  # never present: untouched by both rules
        if rule == "adagrad":
            np.testing.assert_array_equal(W[:2], W1[:2])  # seen once, then frozen
            assert np.all(st.buffers[0][2 * C:9 * C] == 0)
        else:
            assert np.all(W[:2] != W1[:2])  # Adam's first moment keeps moving them


# -- prepare: the ELL layout and the error catalogue -------------------------------------------------


def test_an_npz_file_from_scipy_save_npz_is_accepted(tmp_path):
    X, y = random_docs()
    sp.save_npz(tmp_path / "X.npz", X)
    m, p = model_and_params()
    with np.load(tmp_path / "X.npz") as z:
        assert m.loss_and_grad(p, z, y)[0] == m.loss_and_grad(p, X, y)[0]


def test_ell_layout_from_every_input_kind():
    dense = np.array([[0, 2.0, 0, 1.0], [0, 0, 0, 0], [3.0, 0, 0, 0]])
    m = sparse_logreg(vocab_size=4, n_classes=2)
    expect = np.array([[2, 1, 3, 2.0, 1.0], [0, 0, 0, 0, 0], [1, 0, 0, 3.0, 0]])
    csr = sp.csr_matrix(dense)
    coo_dup = sp.coo_matrix(([1.0, 1.0, 1.0, 3.0, 0.0], ([0, 0, 0, 2, 2], [1, 1, 3, 0, 2])), shape=(3, 4))
    parts = {"data": csr.data, "indices": csr.indices, "indptr": csr.indptr}
    import pandas as pd

    for X in (dense, dense.tolist(), pd.DataFrame(dense), csr, sp.csr_array(dense), csr.tocsc(), coo_dup, parts,
              {**parts, "shape": np.array([3, 4])}):
        np.testing.assert_array_equal(m.features(X, np.float64), expect)
    E32 = m.features(csr, np.float32)
    assert E32.dtype == np.float32 and E32.flags.c_contiguous


def test_empty_documents_get_bias_only_logits():
    m = sparse_logreg(vocab_size=5, n_classes=3, init="pytorch")
    p = m.init(0)
    X = sp.csr_matrix((3, 5))
    y = np.array([0, 2, 1])
    loss, g = m.loss_and_grad(p, X, y)
    b = p[15:]
    lse = np.log(np.exp(b - b.max()).sum()) + b.max()
    assert loss == pytest.approx(np.mean(lse - b[y]), rel=1e-14)
    assert np.all(g[:15] == 0)
    sm = np.exp(b - lse)
    np.testing.assert_allclose(g[15:], sm - np.bincount(y, minlength=3) / 3, atol=1e-15)
    np.testing.assert_allclose(m.forward(p, X), np.tile(b, (3, 1)))


def test_all_documents_empty_evaluate_and_predict():
    m = sparse_logreg(vocab_size=5, n_classes=2)
    p = m.init(0)
    loss, acc = m.evaluate(p, sp.csr_matrix((4, 5)), np.array([0, 0, 1, 0]))
    assert loss == pytest.approx(np.log(2)) and acc == 0.75  # ties go to class 0
    assert m.predict(p, np.zeros((2, 5))).tolist() == [0, 0]


def _parts(indices, indptr, data=None, shape=None):
    d = {"data": np.ones(len(indices)) if data is None else np.asarray(data, dtype=float),
         "indices": np.asarray(indices), "indptr": np.asarray(indptr)}
    if shape is not None:
        d["shape"] = np.asarray(shape)
    return d


ERROR_CASES = [
    ("out-of-range token id", _parts([0, 7], [0, 1, 2]), "X", "token id 7 in row 1 is out of range for vocab_size 5"),
    ("token id = vocab", sp.csr_matrix(([1.0], ([0], [5])), shape=(1, 6)), "X", "token id 5 in row 0 is out of range"),
    ("negative token id", _parts([0, -1], [0, 1, 2]), "X", "token id -1 in row 1 is negative"),
    ("too few columns", np.zeros((2, 4)), "X", "has 4 columns (tokens) but vocab_size is 5"),
    ("NaN value", _parts([0, 3], [0, 1, 2], data=[1.0, np.nan]), "X", "non-finite value(s); the first is nan in row 1 at token 3"),
    ("inf value", sp.csr_matrix(([np.inf], ([1], [2])), shape=(3, 5)), "X", "non-finite"),
    ("not numeric", np.array([["a"] * 5]), "X", "must be numeric"),
    ("1-D", np.ones(5), "X", "must be 2-D"),
    ("not a matrix", object(), "X", "must be a scipy.sparse matrix"),
    ("missing indptr", {"data": np.ones(1), "indices": np.zeros(1, int)}, "X", "missing indptr"),
    ("unknown key", {**_parts([0], [0, 1]), "labels": np.zeros(1)}, "X", "unexpected array(s) 'labels'"),
    ("indptr not at 0", _parts([0, 1], [1, 2]), "X", "indptr must start at 0"),
    ("indptr decreasing", _parts([0, 1], [0, 2, 1, 2]), "X", "non-decreasing; it decreases after row 1"),
    ("length mismatch", _parts([0, 1], [0, 1, 3]), "X", "must all equal the number of stored entries"),
    ("float indices", {"data": np.ones(1), "indices": np.zeros(1), "indptr": np.array([0, 1])}, "X",
     "indices must hold integers"),
    ("shape rows mismatch", _parts([0], [0, 1], shape=[2, 5]), "X", "shape says 2 rows but indptr describes 1"),
    ("no documents", sp.csr_matrix((0, 5)), "X", "has no rows"),
]


@pytest.mark.parametrize("name, X, field, message", ERROR_CASES, ids=[c[0] for c in ERROR_CASES])
def test_prepare_error_catalogue(name, X, field, message):
    m = sparse_logreg(vocab_size=5, n_classes=2)
    n = 1
    if sp.issparse(X) or isinstance(X, np.ndarray) and X.ndim == 2:
        n = X.shape[0]
    elif isinstance(X, dict) and "indptr" in X:
        n = max(len(X["indptr"]) - 1, 1)
    with pytest.raises(ConfigError) as e:
        m.loss_and_grad(m.init(0), X, np.zeros(n, dtype=int))
    assert e.value.field == field
    assert message in str(e.value)


@pytest.mark.parametrize("y, message", [
    (np.array([0, 2]), "labels must be integers in [0, 1]"),
    (np.array([0]), "must hold 2 class labels"),
    (np.array([0.5, 1.0]), "labels must be integers"),
])
def test_label_errors(y, message):
    m = sparse_logreg(vocab_size=5, n_classes=2)
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")) as e:
        m.loss_and_grad(m.init(0), sp.identity(5, format="csr")[:2], y)
    assert e.value.field == "y"


def test_float32_refuses_vocabularies_beyond_2_pow_24():
    m = sparse_logreg(vocab_size=2**24 + 1, n_classes=2)  # no parameters are allocated here
    X = sp.csr_matrix(([1.0], ([0], [2**24])), shape=(1, 2**24 + 1))
    with pytest.raises(ConfigError, match=r"2\*\*24.*needs dtype float64") as e:
        m.features(X, np.float32)
    assert e.value.field == "dtype"
    E = m.features(X, np.float64)
    assert E[0, 1] == 2**24


def test_padded_matrix_size_guard(monkeypatch):
    from optengine.layers import bag_rows
    monkeypatch.setattr(bag_rows, "MAX_ELL_BYTES", 1000)
    m = sparse_logreg(vocab_size=200, n_classes=2)
    X = sp.csr_matrix(np.ones((2, 200)))
    with pytest.raises(ConfigError, match="longest document has 200 distinct tokens"):
        m.features(X, np.float64)


@pytest.mark.parametrize("kwargs, field, message", [
    ({"n_classes": 2}, "model.vocab_size", "is required"),
    ({"vocab_size": 10}, "model.n_classes", "is required"),
    ({"vocab_size": 0, "n_classes": 2}, "model.vocab_size", "must be in [1, inf)"),
    ({"vocab_size": 2.5, "n_classes": 2}, "model.vocab_size", "must be an integer"),
    ({"vocab_size": 10, "n_classes": 1}, "model.n_classes", "must be in [2, inf)"),
    ({"vocab_size": 10, "n_classes": 2, "init": "he"}, "model.init", "allowed: zeros, pytorch"),
    ({"vocab_size": 2**30, "n_classes": 4}, "model.vocab_size", "too many"),
])
def test_constructor_errors(kwargs, field, message):
    with pytest.raises(ConfigError) as e:
        sparse_logreg(**kwargs)
    assert e.value.field == field and message in str(e.value)


def test_model_basics():
    m = sparse_logreg(vocab_size=7, n_classes=3)
    assert isinstance(m, LayersModel) and m.family == kernels.LAYERS
    assert m.layers == [{"type": "embedding_bag", "dim": 3, "bias": True}]
    assert [n for n, _ in m.param_shapes()] == ["weight", "bias"]
    assert m.n_params == 7 * 3 + 3 and m.n_features == 7 and m.n_outputs == 3
    assert m.spec() == {"name": "sparse_logreg", "vocab_size": 7, "n_classes": 3, "init": "zeros"}
    assert np.all(m.init(0) == 0) and m.init(0, np.float32).dtype == np.float32
    p = sparse_logreg(vocab_size=7, n_classes=3, init="pytorch").init(2)
    assert np.abs(p).max() <= 1 / np.sqrt(7) and np.all(p != 0)


# -- wiring (skipped until the lead adds the dispatch branch and the registry entries) ---------------

needs_wiring = pytest.mark.skipif("sparse_logreg" not in oe.models.MODELS,
                                  reason="sparse_logreg is not registered in optengine.models.MODELS yet")


def test_family_dispatch_reaches_the_layer_driver():
    SPARSE = kernels.LAYERS
    m, p = model_and_params()
    X, y = random_docs()
    E, yc, yr = m.prepare(X, y, np.float64)
    idx = np.arange(E.shape[0])
    g = np.zeros_like(p)
    loss = kernels.loss_grad(SPARSE, m.ai, m.af, p, E, yc, yr, idx, g, np.empty(m.workspace_size(idx.size)), 0)
    ref_loss, ref_g = m.loss_and_grad(p, X, y)
    assert loss == ref_loss
    np.testing.assert_array_equal(g, ref_g)
    ev = kernels.evaluate(SPARSE, m.ai, m.af, p, E, yc, yr, np.empty(m.workspace_size(512)), 512)
    assert tuple(ev) == m.evaluate(p, X, y)


@needs_wiring
def test_trains_in_a_pack_with_per_trial_rules():
    from optengine.train import train_pack

    ds = {"name": "synthetic_text", "n_docs": 240, "vocab_size": 300, "n_classes": 3, "doc_length": 15,
          "rare_per_class": 5, "signal": 0.2, "seed": 0}
    trials = [{"optimizer": r, "lr": lr, "seed": 0} for r, lr in RULE_LRS.items()]
    runs, curves = train_pack({"name": "sparse_logreg"}, ds, trials, batch_size=16, epochs=3, dtype="float64")
    assert list(runs.status) == ["ok"] * len(trials)
    assert np.all(np.isfinite(runs.final_val_loss))
    assert np.all(runs.final_train_loss < np.log(3))  # every rule learnt something from the zero init
    alone, _ = train_pack({"name": "sparse_logreg"}, ds, trials[3:4], batch_size=16, epochs=3, dtype="float64")
    assert alone.trial_id[0] == runs.trial_id[3]  # a sparse dataset fingerprints by content
    assert alone.final_val_loss[0] == runs.final_val_loss[3]  # independent of the pack
    assert "sparse_logreg" in oe.models.describe()
