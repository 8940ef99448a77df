"""PyTorch (CPU) baselines: K1's ``torch.optim`` steps, W1's eager training loop, and W2-W5's networks
(the layer engine's 1-D CNN, GRU, 2-D CNN and sparse bag-of-words model).

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


# -- W2-W5: the layer engine's networks ---------------------------------------------------------------
#
# A network is named by a small picklable spec (``{"kind": "cnn1d" | "gru" | "conv2d" | "sparse", ...}``,
# see ``benchmarks/layer_models.py``) so that the joblib workers can build it. Inputs are the engine's
# arrays reshaped to PyTorch's input layout (``layer_models.torch_data``); the sparse model takes a
# pair (token ids, counts), both (samples, slots), padded with id 0 and count 0.

def build_net(torch, spec: dict, init_flat=None):
    """The PyTorch twin of one of the benchmark's engine models; with ``init_flat`` (the engine's flat
    vector, tensors in PyTorch's shapes and order) its parameters are copied in, tensor after tensor."""
    nn = torch.nn
    kind = spec["kind"]
    if kind == "cnn1d":
        layers, cin, length = [], spec["in_channels"], spec["length"]
        for c, k, s, p in zip(spec["channels"], spec["kernel"], spec["stride"], spec["padding"]):
            layers += [nn.Conv1d(cin, c, k, s, p), nn.ReLU()]
            cin, length = c, (length + 2 * p - k) // s + 1
        net = nn.Sequential(*layers, nn.Flatten(), nn.Linear(cin * length, spec["n_outputs"]))
    elif kind == "gru":
        net = _GRUNet(nn, spec)
    elif kind == "conv2d":
        c1, c2 = spec["channels"]
        net = nn.Sequential(nn.Conv2d(spec["in_channels"], c1, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                            nn.Conv2d(c1, c2, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                            nn.Linear(c2, spec["n_outputs"]))
    elif kind == "sparse":
        net = _BagNet(nn, torch, spec)
    else:
        raise ValueError(kind)
    if init_flat is not None:
        copy_flat(torch, net, init_flat)
    return net


def _GRUNet(nn, spec):
    class GRUNet(nn.Module):
        """nn.GRU (batch_first) over the sequence, then Linear on every step's output ("all") or the last
        state(s) ("last")."""

        def __init__(self):
            super().__init__()
            d = 2 if spec["bidirectional"] else 1
            self.gru = nn.GRU(spec["input_size"], spec["hidden_size"], batch_first=True,
                              bidirectional=spec["bidirectional"])
            width = spec["seq_len"] * d * spec["hidden_size"] if spec["head"] == "all" else d * spec["hidden_size"]
            self.fc = nn.Linear(width, spec["n_outputs"])

        def forward(self, x):
            out, h = self.gru(x)
            if spec["head"] == "all":
                return self.fc(out.reshape(out.shape[0], -1))
            return self.fc(h.transpose(0, 1).reshape(x.shape[0], -1))

    return GRUNet()


def _BagNet(nn, torch, spec):
    class BagNet(nn.Module):
        """Sparse softmax regression: nn.EmbeddingBag(mode="sum", per_sample_weights) + a bias."""

        def __init__(self):
            super().__init__()
            self.bag = nn.EmbeddingBag(spec["vocab_size"], spec["n_outputs"], mode="sum")
            self.bias = nn.Parameter(torch.zeros(spec["n_outputs"]))

        def flat_order(self):
            """The engine's order: the (vocab x classes) table, then the bias (named_parameters
            would list the module's own bias before the submodule's weight)."""
            return [("bag.weight", self.bag.weight), ("bias", self.bias)]

        def forward(self, x):
            ids, counts = x
            return self.bag(ids, per_sample_weights=counts) + self.bias

    return BagNet()


def copy_flat(torch, net, flat) -> None:
    """Copy the engine's flat vector into ``net``'s parameters in registration order (or the net's
    ``flat_order()``); every tensor's shape must match (the engine stores PyTorch's shapes in PyTorch's
    order)."""
    off = 0
    order = net.flat_order() if hasattr(net, "flat_order") else list(net.named_parameters())
    with torch.no_grad():
        for name, p in order:
            n = p.numel()
            if off + n > flat.size:
                raise ValueError(f"the engine's vector ({flat.size}) is shorter than the torch model's parameters "
                                 f"(at {name})")
            p.copy_(torch.as_tensor(flat[off:off + n].reshape(tuple(p.shape)), dtype=p.dtype))
            off += n
    total = sum(p.numel() for p in net.parameters())
    if off != flat.size or off != total:
        raise ValueError(f"the engine's vector has {flat.size} values, the torch model {total} ({off} copied)")


def _tensors(torch, a):
    return tuple(torch.from_numpy(x) for x in a) if isinstance(a, tuple) else torch.from_numpy(a)


def _take(x, idx):
    return tuple(t[idx] for t in x) if isinstance(x, tuple) else x[idx]


def _accuracy(torch, net, X, y) -> float:
    with torch.no_grad():
        return float((net(X).argmax(dim=1) == y).float().mean())


def net_trial(spec: dict, rule: str, lr: float, seed: int, data, epochs: int, batch: int, init_flat=None,
              threads: int | None = 1) -> dict:
    """One trial of a benchmark network, the standard PyTorch way (as ``train_trial``): shuffled
    mini-batches every epoch (the last smaller one kept), CrossEntropyLoss, ``zero_grad / backward /
    step``, validation accuracy after every epoch, and the test split once at the end when ``data`` has
    one (the engine does the same). ``data``: (X, y, Xv, yv[, Xt, yt]) in PyTorch's layout
    (``layer_models.torch_data``). ``threads``: torch.set_num_threads (None: leave as it is)."""
    import torch

    if threads is not None:
        torch.set_num_threads(threads)
    torch.manual_seed(seed)
    X, Xv = _tensors(torch, data[0]), _tensors(torch, data[2])
    y, yv = torch.from_numpy(data[1]).long(), torch.from_numpy(data[3]).long()
    net = build_net(torch, spec, init_flat)
    opt = make_optimizer(torch, rule, net.parameters(), lr)
    loss_fn = torch.nn.CrossEntropyLoss()
    gen = torch.Generator().manual_seed(seed)
    n = y.shape[0]
    accs = []
    t0 = time.perf_counter()
    for _ in range(epochs):
        net.train()
        perm = torch.randperm(n, generator=gen)
        for lo in range(0, n, batch):
            idx = perm[lo:lo + batch]
            opt.zero_grad()
            loss = loss_fn(net(_take(X, idx)), y[idx])
            loss.backward()
            opt.step()
        net.eval()
        accs.append(_accuracy(torch, net, Xv, yv))
    test = float("nan")
    if len(data) > 4 and data[4] is not None:
        test = _accuracy(torch, net, _tensors(torch, data[4]), torch.from_numpy(data[5]).long())
    return {"optimizer": rule, "lr": lr, "seed": seed, "final_val_metric": accs[-1], "val_metric": accs,
            "final_test_metric": test, "seconds": time.perf_counter() - t0}


def net_sweep(spec: dict, trials, data, epochs: int, batch: int, inits: dict, n_jobs: int = 2) -> tuple[float, list]:
    """``trials`` of one network, one trial per joblib (loky) task, ``n_jobs`` workers x 1 torch thread
    (as ``w1_sweep``). Returns (wall seconds, per-trial result dicts)."""
    from joblib import Parallel, delayed

    t0 = time.perf_counter()
    results = Parallel(n_jobs=n_jobs, backend="loky")(
        delayed(net_trial)(spec, t["optimizer"], t["lr"], t.get("seed", 0), data, epochs, batch,
                           inits.get(t.get("seed", 0)))
        for t in trials)
    return time.perf_counter() - t0, results


def _warm_net(spec, data, batch):
    small = tuple(_take(a, slice(0, 4 * batch)) if a is not None else None for a in data[:4])
    return net_trial(spec, "adam", 1e-3, 0, small, 1, batch)["seconds"]


def warm_net_pool(spec: dict, data, batch: int, n_jobs: int = 2) -> float:
    """Start the loky workers, import torch and run a few steps of this network in each (untimed)."""
    from joblib import Parallel, delayed

    t0 = time.perf_counter()
    Parallel(n_jobs=n_jobs, backend="loky")(delayed(_warm_net)(spec, data, batch) for _ in range(2 * n_jobs))
    return time.perf_counter() - t0
