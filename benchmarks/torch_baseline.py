"""PyTorch (CPU) baselines: K1's ``torch.optim`` steps and W1's eager training loop.

Nothing here imports torch at module level, so the harness runs without it; ``available()``
says whether it can be used and, if not, why (reported as "not installed").
"""

from __future__ import annotations

import importlib
import time

from .common import HYPER, NOT_INSTALLED, NOT_SUPPORTED


def available() -> tuple[bool, str]:
    """(True, version) if torch imports, else (False, 'not installed: <reason>')."""
    try:
        torch = importlib.import_module("torch")
    except Exception as exc:  # ImportError, or a broken install (OSError from a missing library)
        return False, f"{NOT_INSTALLED} ({type(exc).__name__}: {exc})"
    return True, str(torch.__version__)


def make_optimizer(torch, rule: str, params, lr: float, mode: str | None = None):
    """``torch.optim`` for one of the seven rules with the engine's hyperparameters.

    ``mode``: None (PyTorch's default implementation), "foreach" or "fused".
    """
    kw = {mode: True} if mode else {}
    m = HYPER["momentum"]
    if rule == "sgd":
        return torch.optim.SGD(params, lr=lr, **kw)
    if rule == "momentum":
        return torch.optim.SGD(params, lr=lr, momentum=m, **kw)
    if rule == "nesterov":
        return torch.optim.SGD(params, lr=lr, momentum=m, nesterov=True, **kw)
    if rule == "adagrad":
        return torch.optim.Adagrad(params, lr=lr, eps=HYPER["adagrad_eps"], **kw)
    if rule == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, alpha=HYPER["rmsprop_alpha"], eps=HYPER["rmsprop_eps"], **kw)
    if rule == "adam":
        return torch.optim.Adam(params, lr=lr, betas=HYPER["betas"], eps=HYPER["adam_eps"], **kw)
    if rule == "adamw":
        return torch.optim.AdamW(params, lr=lr, betas=HYPER["betas"], eps=HYPER["adam_eps"],
                                 weight_decay=HYPER["adamw_weight_decay"], **kw)
    raise ValueError(rule)


# -- K1 -----------------------------------------------------------------------------------------------

def k1_steppers(rule: str, theta, g, modes=("foreach", "fused")) -> dict:
    """For each of ``modes``: a callable doing one ``opt.step()`` of ``torch.optim.<Rule>`` on one
    float32 tensor (copies of ``theta`` and ``g``), after an untimed first step that creates the
    optimizer's state; or the string ``"not supported (...)"`` where torch refuses the mode on CPU.
    The caller sets ``torch.set_num_threads(1)`` (see ``single_thread``)."""
    import torch

    out = {}
    for mode in modes:
        p = torch.nn.Parameter(torch.from_numpy(theta.copy()))
        p.grad = torch.from_numpy(g.copy())
        try:
            opt = make_optimizer(torch, rule, [p], 1e-3, mode)
            opt.step()
        except Exception as exc:
            out[mode] = f"{NOT_SUPPORTED} ({type(exc).__name__}: {str(exc).splitlines()[0][:120]})"
            continue
        out[mode] = opt.step
    return out


class single_thread:
    """``with single_thread():`` torch.set_num_threads(1), restored on exit."""

    def __enter__(self):
        import torch

        self.before = torch.get_num_threads()
        torch.set_num_threads(1)
        return self

    def __exit__(self, *exc):
        import torch

        torch.set_num_threads(self.before)


# -- W1 -----------------------------------------------------------------------------------------------

def build_mlp(torch, sizes, init_flat=None):
    """nn.Sequential(Linear, ReLU, ..., Linear); weights from the engine's flat vector if given
    (its layout: per layer W as din x dout row-major, then b; nn.Linear keeps W transposed)."""
    nn = torch.nn
    layers = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    model = nn.Sequential(*layers)
    if init_flat is not None:
        off = 0
        with torch.no_grad():
            for lin in (m for m in model if isinstance(m, nn.Linear)):
                din, dout = lin.in_features, lin.out_features
                w = torch.as_tensor(init_flat[off:off + din * dout].reshape(din, dout), dtype=torch.float32)
                off += din * dout
                lin.weight.copy_(w.T)
                lin.bias.copy_(torch.as_tensor(init_flat[off:off + dout], dtype=torch.float32))
                off += dout
        assert off == init_flat.size
    return model


def train_trial(rule: str, lr: float, seed: int, data, sizes, epochs: int, batch: int, init_flat=None) -> dict:
    """One trial, the standard PyTorch way, on one thread: shuffled mini-batches every epoch,
    CrossEntropyLoss, ``opt.zero_grad(); loss.backward(); opt.step()``, validation accuracy after
    every epoch (``torch.no_grad``). The data are the engine's (standardised) MNIST-1D arrays."""
    import torch

    torch.set_num_threads(1)
    torch.manual_seed(seed)
    X, y, Xv, yv = (torch.from_numpy(a) for a in data)
    y, yv = y.long(), yv.long()
    model = build_mlp(torch, sizes, init_flat)
    opt = make_optimizer(torch, rule, model.parameters(), lr)
    loss_fn = torch.nn.CrossEntropyLoss()
    gen = torch.Generator().manual_seed(seed)
    n = X.shape[0]
    accs = []
    t0 = time.perf_counter()
    for _ in range(epochs):
        model.train()
        perm = torch.randperm(n, generator=gen)
        for lo in range(0, n, batch):
            idx = perm[lo:lo + batch]
            opt.zero_grad()
            loss = loss_fn(model(X[idx]), y[idx])
            loss.backward()
            opt.step()
        model.eval()
        with torch.no_grad():
            accs.append(float((model(Xv).argmax(dim=1) == yv).float().mean()))
    return {"optimizer": rule, "lr": lr, "seed": seed, "final_val_metric": accs[-1], "val_metric": accs,
            "seconds": time.perf_counter() - t0}


def _warm(data, sizes, batch):
    """Imports torch in a worker and runs a few steps, so that the timed sweep finds warm workers."""
    return train_trial("adam", 1e-3, 0, tuple(a[:4 * batch] for a in data), sizes, 1, batch)["seconds"]


def w1_sweep(trials, data, sizes, epochs: int, batch: int, inits: dict, n_jobs: int = 2) -> tuple[float, list]:
    """The whole sweep, one trial per joblib (loky) task, ``n_jobs`` workers x 1 torch thread.

    Returns (wall seconds of the sweep, per-trial result dicts). The workers are started and
    torch imported by an untimed warm-up first (``warm_pool``).
    """
    from joblib import Parallel, delayed

    t0 = time.perf_counter()
    results = Parallel(n_jobs=n_jobs, backend="loky")(
        delayed(train_trial)(t["optimizer"], t["lr"], t.get("seed", 0), data, sizes, epochs, batch,
                             inits.get(t.get("seed", 0)))
        for t in trials)
    return time.perf_counter() - t0, results


def warm_pool(data, sizes, batch: int, n_jobs: int = 2) -> float:
    """Start the loky workers and import torch in each (untimed by the sweep); returns seconds."""
    from joblib import Parallel, delayed

    t0 = time.perf_counter()
    Parallel(n_jobs=n_jobs, backend="loky")(delayed(_warm)(data, sizes, batch) for _ in range(2 * n_jobs))
    return time.perf_counter() - t0
