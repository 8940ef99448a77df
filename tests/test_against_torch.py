"""optengine against PyTorch, in float64: update rules, schedules, clipping, model
losses and gradients, and a whole training run.

torch is not a dependency of optengine (CI does not install it), so the whole module
is skipped without it. Every torch tensor is created float64 explicitly; the global
default dtype is never touched.

Errors are "relative" in the max-norm sense: ``max|ours - torch| / max|torch|`` over a
whole vector (so entries that pass near zero do not blow up the ratio). The largest
error each group observed is printed at the end of the module (``pytest -s``).
"""

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import optengine as oe  # noqa: E402
from optengine.rng import _STREAM_SHUFFLE, new_state, shuffle  # noqa: E402
from reference import unpack_dense  # noqa: E402

F64 = torch.float64
MAX_ERR: dict[str, float] = {}


def _rel(ours, ref) -> float:
    ours = np.asarray(ours, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    scale = max(float(np.max(np.abs(ref))), 1e-300)
    return float(np.max(np.abs(ours - ref))) / scale


def _record(group: str, err: float) -> None:
    MAX_ERR[group] = max(MAX_ERR.get(group, 0.0), err)


@pytest.fixture(scope="module", autouse=True)
def _report():
    yield
    print("\nmax relative error vs torch, per group:")
    for group, err in sorted(MAX_ERR.items()):
        print(f"  {group:<40s} {err:.3e}")


def _t(a) -> "torch.Tensor":
    return torch.tensor(np.asarray(a, dtype=np.float64), dtype=F64)


# -- 1. update rules vs torch.optim ----------------------------------------------------------

N_PARAMS = 12
STEPS = 100


def _problem():
    """A fixed SPD quadratic: g(theta) = A @ theta - b, and a start point."""
    rng = np.random.default_rng(123)
    Q = rng.standard_normal((N_PARAMS, N_PARAMS))
    A = Q @ Q.T / N_PARAMS + 0.5 * np.eye(N_PARAMS)
    b = rng.standard_normal(N_PARAMS)
    theta0 = rng.standard_normal(N_PARAMS)
    return A, b, theta0


# (name, our rule + hyperparameters, torch optimizer class name, torch keyword arguments)
RULE_CASES = [
    ("sgd", {"optimizer": "sgd", "lr": 0.05}, "SGD", {"lr": 0.05}),
    ("momentum", {"optimizer": "momentum", "lr": 0.02, "momentum": 0.9}, "SGD", {"lr": 0.02, "momentum": 0.9}),
    ("nesterov", {"optimizer": "nesterov", "lr": 0.02, "momentum": 0.85}, "SGD",
     {"lr": 0.02, "momentum": 0.85, "nesterov": True}),
    ("adagrad", {"optimizer": "adagrad", "lr": 0.1}, "Adagrad",
     {"lr": 0.1, "eps": 1e-10, "initial_accumulator_value": 0.0, "lr_decay": 0.0}),
    # RMSProp's lr/decay are kept where the run is not chaotic: with a fast-forgetting s
    # (decay 0.9-0.95) and lr >= 0.005 it turns bang-bang near sign changes of g and a
    # 1-ulp change of the start grows to 1e-11 .. 1e-2 within 100 steps, in any implementation.
    ("rmsprop", {"optimizer": "rmsprop", "lr": 0.01, "decay": 0.99}, "RMSprop",
     {"lr": 0.01, "alpha": 0.99, "eps": 1e-8}),
    ("rmsprop-default-decay", {"optimizer": "rmsprop", "lr": 0.002}, "RMSprop",
     {"lr": 0.002, "alpha": 0.9, "eps": 1e-8}),
    ("adam", {"optimizer": "adam", "lr": 0.03, "beta1": 0.85, "beta2": 0.99, "eps": 1e-8}, "Adam",
     {"lr": 0.03, "betas": (0.85, 0.99), "eps": 1e-8}),
    ("adamw", {"optimizer": "adamw", "lr": 0.03, "weight_decay": 0.1}, "AdamW",
     {"lr": 0.03, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.1}),
    # coupled l2 == torch's weight_decay
    ("sgd+l2", {"optimizer": "sgd", "lr": 0.05, "l2": 0.3}, "SGD", {"lr": 0.05, "weight_decay": 0.3}),
    ("momentum+l2", {"optimizer": "momentum", "lr": 0.02, "l2": 0.3}, "SGD",
     {"lr": 0.02, "momentum": 0.9, "weight_decay": 0.3}),
    ("nesterov+l2", {"optimizer": "nesterov", "lr": 0.02, "l2": 0.3}, "SGD",
     {"lr": 0.02, "momentum": 0.9, "nesterov": True, "weight_decay": 0.3}),
    ("adagrad+l2", {"optimizer": "adagrad", "lr": 0.1, "l2": 0.3}, "Adagrad",
     {"lr": 0.1, "eps": 1e-10, "initial_accumulator_value": 0.0, "lr_decay": 0.0, "weight_decay": 0.3}),
    ("rmsprop+l2", {"optimizer": "rmsprop", "lr": 0.01, "decay": 0.99, "l2": 0.3}, "RMSprop",
     {"lr": 0.01, "alpha": 0.99, "eps": 1e-8, "weight_decay": 0.3}),
    ("adam+l2", {"optimizer": "adam", "lr": 0.03, "l2": 0.3}, "Adam",
     {"lr": 0.03, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.3}),
]


def _our_run(cfg, A, b, theta0):
    hyper = {k: v for k, v in cfg.items() if k != "optimizer"}
    opt = oe.optimizer(cfg["optimizer"], **hyper)
    theta = theta0.copy()
    state = opt.init(theta)
    for _ in range(STEPS):
        opt.step(theta, A @ theta - b, state)
        yield theta.copy()


@pytest.mark.parametrize("case", RULE_CASES, ids=[c[0] for c in RULE_CASES])
def test_rule_matches_torch_optim(case):
    name, ours_cfg, torch_cls, torch_kw = case
    A, b, theta0 = _problem()
    ours = list(_our_run(ours_cfg, A, b, theta0))

    # The run must be well conditioned for a 1e-12 comparison to mean anything: starting
    # 1 ulp away must stay within a few ulps (rounding, not the rule, would fail otherwise).
    ulp = theta0 * (1.0 + np.finfo(np.float64).eps * np.where(np.arange(N_PARAMS) % 2, 1.0, -1.0))
    spread = max(_rel(x, y) for x, y in zip(ours, _our_run(ours_cfg, A, b, ulp)))
    _record("1 rules: 1-ulp start spread (conditioning)", spread)
    assert spread <= 1e-14, f"{name}: the test problem is ill-conditioned for this rule ({spread:.1e})"

    p = torch.nn.Parameter(_t(theta0))
    topt = getattr(torch.optim, torch_cls)([p], foreach=False, **torch_kw)
    worst = 0.0
    for step, theta in enumerate(ours):
        p.grad = _t(A @ p.detach().numpy() - b)
        topt.step()
        err = _rel(theta, p.detach().numpy())
        worst = max(worst, err)
        assert err <= 1e-12, f"{name}: step {step + 1}: relative error {err:.3e}"
    _record("1 rules: params (per step)", worst)
    _record(f"1 rules: {name}", worst)
    assert np.all(np.isfinite(ours[-1])) and _rel(ours[-1], theta0) > 1e-2  # it actually moved


# -- 1b. every rule's test row (tests/rule_cases.py) vs torch.optim, 200 steps ------------------

from rule_cases import ROWS  # noqa: E402

ROW_STEPS = 200


def _row_cases():
    cases = []
    for name, row in ROWS.items():
        if row.torch is None:
            continue
        lr = row.torch_lr or row.lr
        for i, hyper in enumerate(({"lr": lr}, {"lr": lr, "l2": 0.05}, *row.variants)):
            cases.append((f"{name}-{i}", name, dict(hyper)))
    return cases


ROW_CASES = _row_cases()


@pytest.mark.parametrize("case", ROW_CASES, ids=[c[0] for c in ROW_CASES])
def test_rule_row_matches_torch_optim(case):
    """Every rule with a torch.optim twin, at its defaults, with l2 and with its test row's other
    settings: 200 steps open loop in float64 (each side on its own trajectory), relative error
    at most 1e-9 at every step (the issue's bound; the seven notes' rules above meet 1e-12)."""
    label, name, hyper = case
    A, b, theta0 = _problem()
    opt = oe.optimizer(name, **hyper)
    torch_cls, kwargs = ROWS[name].torch
    if kwargs(opt.hyper) is None:
        pytest.skip(f"{name} with {hyper} has no torch.optim twin")
    ulp = theta0 * (1.0 + np.finfo(np.float64).eps * np.where(np.arange(N_PARAMS) % 2, 1.0, -1.0))
    runs = []
    for start in (theta0, ulp):
        x, s = start.copy(), opt.init(start.copy())
        runs.append([opt.step(x, A @ x - b, s) or x.copy() for _ in range(ROW_STEPS)])
    spread = max(_rel(x, y) for x, y in zip(*runs))
    assert spread <= 1e-13, f"{label}: the problem is chaotic for these settings ({spread:.1e}); change the test row"
    theta = theta0.copy()
    state = opt.init(theta)
    p = torch.nn.Parameter(_t(theta0))
    old = torch.get_default_dtype()
    torch.set_default_dtype(F64)  # NAdam keeps its mu_product in the default dtype
    try:
        topt = getattr(torch.optim, torch_cls)([p], foreach=False, **kwargs(opt.hyper))
        worst = 0.0
        for step in range(ROW_STEPS):
            opt.step(theta, A @ theta - b, state)
            p.grad = _t(A @ p.detach().numpy() - b)
            topt.step()
            err = _rel(theta, p.detach().numpy())
            worst = max(worst, err)
            assert err <= 1e-9, f"{label}: step {step + 1}: relative error {err:.3e}"
    finally:
        torch.set_default_dtype(old)
    _record(f"1b rules (200 steps): {name}", worst)
    assert np.all(np.isfinite(theta)) and _rel(theta, theta0) > 1e-2  # it actually moved


def test_lion_matches_optax():
    """Lion has no torch.optim twin: optax.lion (with its decoupled weight decay) instead, when
    optax and jax are installed (float64 through jax_enable_x64)."""
    optax = pytest.importorskip("optax")
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    A, b, theta0 = _problem()
    for hyper in ({"lr": ROWS["lion"].lr}, *ROWS["lion"].variants):
        opt = oe.optimizer("lion", **hyper)
        h = opt.hyper
        tx = optax.lion(h["lr"], b1=h["beta1"], b2=h["beta2"], weight_decay=h["weight_decay"])
        theta = theta0.copy()
        state = opt.init(theta)
        x = jnp.asarray(theta0, dtype=jnp.float64)
        s = tx.init(x)
        worst = 0.0
        for step in range(ROW_STEPS):
            opt.step(theta, A @ theta - b, state)
            g = jnp.asarray(A @ np.asarray(x) - b)
            upd, s = tx.update(g, s, x)
            x = optax.apply_updates(x, upd)
            err = _rel(theta, np.asarray(x))
            worst = max(worst, err)
            assert err <= 1e-9, f"lion {hyper}: step {step + 1}: relative error {err:.3e}"
        _record("1b rules (200 steps): lion vs optax", worst)


# -- 2. schedules vs torch.optim.lr_scheduler ----------------------------------------------------

LR = 0.2


def _torch_lrs(make_scheduler, n):
    p = torch.nn.Parameter(torch.zeros(1, dtype=F64))
    topt = torch.optim.SGD([p], lr=LR, foreach=False)
    sched = make_scheduler(topt)
    out = []
    for _ in range(n):
        out.append(topt.param_groups[0]["lr"])
        topt.step()
        sched.step()
    return np.array(out)


def _check_lrs(group, ours, ref):
    assert ours.shape == ref.shape
    err = float(np.max(np.abs(ours - ref) / np.abs(ref)))  # elementwise relative, worst entry
    _record(group, err)
    assert err <= 1e-12, f"{group}: relative error {err:.3e}"


def test_step_schedule_matches_steplr():
    ours = oe.schedule("step", lr=LR, step_size=7, gamma=0.5).values(60)
    ref = _torch_lrs(lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=7, gamma=0.5), 60)
    _check_lrs("2 schedules: step/StepLR", ours, ref)


def test_exponential_schedule_matches_exponentiallr():
    rate = 0.05
    ours = oe.schedule("exponential", lr=LR, decay_rate=rate).values(100)
    ref = _torch_lrs(lambda o: torch.optim.lr_scheduler.ExponentialLR(o, gamma=math.exp(-rate)), 100)
    _check_lrs("2 schedules: exponential/ExponentialLR", ours, ref)


def test_cosine_schedule_matches_cosineannealinglr():
    T, lr_min = 50, 0.01
    ours = oe.schedule("cosine", lr=LR, lr_min=lr_min, total_steps=T).values(T + 1)
    ref = _torch_lrs(lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=T, eta_min=lr_min), T + 1)
    _check_lrs("2 schedules: cosine/CosineAnnealingLR", ours, ref)
    assert ours[-1] == pytest.approx(lr_min, rel=1e-12)


def test_warmup_cosine_matches_sequentiallr():
    Tw, T, lr_min = 10, 40, 0.01
    ours = oe.schedule("cosine", lr=LR, lr_min=lr_min, total_steps=T, warmup_steps=Tw,
                       warmup_start=0.1 * LR).values(Tw + T + 1)

    def make(o):
        warm = torch.optim.lr_scheduler.LinearLR(o, start_factor=0.1, end_factor=1.0, total_iters=Tw)
        cos = torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=T, eta_min=lr_min)
        return torch.optim.lr_scheduler.SequentialLR(o, [warm, cos], milestones=[Tw])

    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SequentialLR's internal step(0) deprecation notice
        ref = _torch_lrs(make, Tw + T + 1)
    _check_lrs("2 schedules: warmup+cosine/SequentialLR", ours, ref)


# -- 3. clipping vs torch.nn.utils -----------------------------------------------------------------

SHAPES = [(5, 7), (7,), (7, 3), (3,)]


def _grads(scale, seed=0):
    rng = np.random.default_rng(seed)
    return [scale * rng.standard_normal(s) for s in SHAPES]


def _torch_params(grads):
    params = []
    for g in grads:
        p = torch.nn.Parameter(torch.zeros(g.shape, dtype=F64))
        p.grad = _t(g)
        params.append(p)
    return params


@pytest.mark.parametrize("scale,max_norm", [(1.0, 1.0), (0.01, 1.0), (3.0, 0.5), (1.0, 1e3)])
def test_clip_by_norm_matches_clip_grad_norm(scale, max_norm):
    grads = _grads(scale)
    flat = np.concatenate([g.ravel() for g in grads])
    norm = oe.clip_by_norm(flat, max_norm)
    params = _torch_params(grads)
    tnorm = float(torch.nn.utils.clip_grad_norm_(params, max_norm, foreach=False))
    tflat = np.concatenate([p.grad.numpy().ravel() for p in params])
    e_norm = abs(norm - tnorm) / tnorm
    e_grad = _rel(flat, tflat)
    _record("3 clip: norm (returned total norm)", e_norm)
    _record("3 clip: norm (clipped grads)", e_grad)
    assert e_norm <= 1e-12 and e_grad <= 1e-12


@pytest.mark.parametrize("value", [0.1, 0.5, 10.0])
def test_clip_by_value_matches_clip_grad_value(value):
    grads = _grads(1.0, seed=1)
    flat = np.concatenate([g.ravel() for g in grads])
    oe.clip_by_value(flat, value)
    params = _torch_params(grads)
    torch.nn.utils.clip_grad_value_(params, value, foreach=False)
    tflat = np.concatenate([p.grad.numpy().ravel() for p in params])
    err = _rel(flat, tflat)
    _record("3 clip: value (clipped grads)", err)
    assert err == 0.0


# -- 4. model losses and gradients vs autograd -----------------------------------------------------

def _torch_layers(sizes, params):
    """Our flat params as torch (weight, bias) leaves: our W (in x out, row-major) is weight.T."""
    return [(_t(W.T.copy()).requires_grad_(), _t(b.copy()).requires_grad_()) for W, b in unpack_dense(params, sizes)]


def _torch_loss_grad(sizes, activation, loss, params, X, y):
    layers = _torch_layers(sizes, params)
    a = _t(X)
    act = torch.relu if activation == "relu" else torch.tanh
    for i, (w, bias) in enumerate(layers):
        a = torch.nn.functional.linear(a, w, bias)
        if i < len(layers) - 1:
            a = act(a)
    if loss == "cross_entropy":
        value = torch.nn.CrossEntropyLoss()(a, torch.tensor(y, dtype=torch.int64))
    else:
        yt = _t(y)
        value = torch.nn.MSELoss()(a, yt.reshape(a.shape))
    value.backward()
    grad = np.concatenate([np.concatenate([w.grad.numpy().T.ravel(), bias.grad.numpy()]) for w, bias in layers])
    return float(value.detach()), grad


MODEL_CASES = [
    ("linear_regression", {"name": "linear_regression", "n_features": 6, "n_outputs": 2}, [6, 2], "relu", "mse"),
    ("linear_regression_1out", {"name": "linear_regression", "n_features": 6}, [6, 1], "relu", "mse"),
    ("softmax_regression", {"name": "softmax_regression", "n_features": 6, "n_classes": 4}, [6, 4], "relu",
     "cross_entropy"),
    ("mlp_relu_ce", {"name": "mlp", "sizes": [6, 9, 7, 4], "activation": "relu"}, [6, 9, 7, 4], "relu",
     "cross_entropy"),
    ("mlp_tanh_ce", {"name": "mlp", "sizes": [6, 9, 7, 4], "activation": "tanh"}, [6, 9, 7, 4], "tanh",
     "cross_entropy"),
    ("mlp_relu_mse", {"name": "mlp", "sizes": [6, 9, 7, 3], "activation": "relu", "loss": "mse"},
     [6, 9, 7, 3], "relu", "mse"),
    ("mlp_tanh_mse", {"name": "mlp", "sizes": [6, 9, 7, 3], "activation": "tanh", "loss": "mse"},
     [6, 9, 7, 3], "tanh", "mse"),
]


@pytest.mark.parametrize("case", MODEL_CASES, ids=[c[0] for c in MODEL_CASES])
def test_model_loss_and_grad_match_autograd(case):
    name, spec, sizes, activation, loss = case
    spec = dict(spec)
    model = oe.model(spec.pop("name"), **spec)
    rng = np.random.default_rng(5)
    n = 37
    X = 2.0 * rng.standard_normal((n, sizes[0]))
    if loss == "cross_entropy":
        y = rng.integers(0, sizes[-1], n)
    else:
        y = rng.standard_normal((n, sizes[-1]))
        if sizes[-1] == 1:
            y = y[:, 0]
    params = 0.7 * rng.standard_normal(model.n_params)  # random, not the (zero) default init
    value, grad = model.loss_and_grad(params, X, y)
    tvalue, tgrad = _torch_loss_grad(sizes, activation, loss, params, X, y)
    e_loss = abs(value - tvalue) / abs(tvalue)
    e_grad = _rel(grad, tgrad)
    _record("4 models: loss", e_loss)
    _record("4 models: grad", e_grad)
    assert e_loss <= 1e-12, f"{name}: loss relative error {e_loss:.3e}"
    assert e_grad <= 1e-12, f"{name}: grad relative error {e_grad:.3e}"
    # evaluate's mean loss is the same quantity
    e_eval = abs(model.evaluate(params, X, y)[0] - tvalue) / abs(tvalue)
    _record("4 models: evaluate loss", e_eval)
    assert e_eval <= 1e-12


# -- 5. a whole training run vs the same loop in torch ---------------------------------------------

SIZES = [4, 16, 3]
BATCH, EPOCHS, WARMUP = 16, 3, 3
# clip norm 1.0 bites on 1 of adam's 24 steps and none of nesterov's; the third trial
# (clip 0.3) has the clipped path on most steps.
TRAIN_TRIALS = [
    {"optimizer": "adam", "lr": 0.01, "seed": 0, "clip": 1.0},
    {"optimizer": "nesterov", "lr": 0.05, "momentum": 0.9, "seed": 1, "clip": 1.0},
    {"optimizer": "adam", "lr": 0.02, "seed": 2, "clip": 0.3},
]


def _notes_lr(lr, t, warmup, total):
    """Cosine with linear warmup from 0 (notes 7.3, 7.4), lr_min = 0."""
    if t < warmup:
        return (t / warmup) * lr
    return 0.5 * lr * (1.0 + math.cos(math.pi * (t - warmup) / total))


def _torch_train(trial, model, ds):
    X, y = ds.X_train.astype(np.float64), ds.y_train.astype(np.int64)
    Xv, yv = _t(ds.X_val), torch.tensor(ds.y_val, dtype=torch.int64)
    n = X.shape[0]
    n_batches = math.ceil(n / BATCH)
    total = EPOCHS * n_batches - WARMUP
    layers = _torch_layers(SIZES, model.init(trial["seed"], np.float64))
    flat = [t for layer in layers for t in layer]
    if trial["optimizer"] == "adam":
        topt = torch.optim.Adam(flat, lr=trial["lr"], foreach=False)
    else:
        topt = torch.optim.SGD(flat, lr=trial["lr"], momentum=trial["momentum"], nesterov=True, foreach=False)
    ce = torch.nn.CrossEntropyLoss()

    def forward(a):
        (w1, b1), (w2, b2) = layers
        return torch.nn.functional.linear(torch.relu(torch.nn.functional.linear(a, w1, b1)), w2, b2)

    rng = new_state(trial["seed"], _STREAM_SHUFFLE)
    order = np.arange(n)
    step = 0
    val_losses, train_losses, lrs = [], [], []
    clipped = 0
    for _ in range(EPOCHS):
        if n_batches > 1:
            shuffle(order, rng)
        loss_sum = 0.0
        for bi in range(n_batches):
            idx = order[bi * BATCH:(bi + 1) * BATCH]
            topt.zero_grad(set_to_none=True)
            loss = ce(forward(_t(X[idx])), torch.tensor(y[idx], dtype=torch.int64))
            loss.backward()
            norm = float(torch.nn.utils.clip_grad_norm_(flat, trial["clip"], foreach=False))
            clipped += norm > trial["clip"]
            lr = _notes_lr(trial["lr"], step, WARMUP, total)
            for group in topt.param_groups:
                group["lr"] = lr
            topt.step()
            step += 1
            loss_sum += float(loss.detach()) * idx.size
        with torch.no_grad():
            val_losses.append(float(ce(forward(Xv), yv)))
        train_losses.append(loss_sum / n)
        lrs.append(lr)
    params = np.concatenate([np.concatenate([w.detach().numpy().T.ravel(), b.detach().numpy()])
                             for w, b in layers])
    return params, np.array(val_losses), np.array(train_losses), np.array(lrs), clipped


def test_training_run_matches_torch_loop():
    ds = oe.dataset("iris")
    model = oe.model("mlp", sizes=SIZES)
    trials = [{**t, "schedule": {"name": "cosine", "warmup_steps": WARMUP}, "clip": {"norm": t["clip"]}}
              for t in TRAIN_TRIALS]
    runs, curves, params = oe.train_pack(model, ds, trials, batch_size=BATCH, epochs=EPOCHS, dtype="float64",
                                         return_params=True)
    assert (runs["status"] == "ok").all()
    for k, trial in enumerate(TRAIN_TRIALS):
        tparams, tval, ttrain, tlrs, clipped = _torch_train(trial, model, ds)
        if trial["clip"] < 1.0:
            assert clipped > EPOCHS * 4  # the clipped path is exercised
        curve = curves[curves["trial_id"] == runs["trial_id"].iloc[k]].sort_values("epoch")
        assert len(curve) == EPOCHS
        e_params = _rel(params[k], tparams)
        e_val = float(np.max(np.abs(curve["val_loss"].to_numpy() - tval) / np.abs(tval)))
        e_train = float(np.max(np.abs(curve["train_loss"].to_numpy() - ttrain) / np.abs(ttrain)))
        e_lr = float(np.max(np.abs(curve["lr"].to_numpy() - tlrs) / np.abs(tlrs)))
        _record("5 train: final params", e_params)
        _record("5 train: val_loss per epoch", e_val)
        _record("5 train: train_loss per epoch", e_train)
        _record("5 train: lr per epoch", e_lr)
        opt = trial["optimizer"]
        assert e_params <= 1e-10, f"{opt}: final params relative error {e_params:.3e}"
        assert e_val <= 1e-10, f"{opt}: val_loss relative error {e_val:.3e}"
        assert e_train <= 1e-10, f"{opt}: train_loss relative error {e_train:.3e}"
        assert e_lr <= 1e-12, f"{opt}: lr relative error {e_lr:.3e}"
        assert not np.allclose(params[k], model.init(trial["seed"], np.float64))
