"""One row per update rule: the settings every rule test runs it with (the rule's *test row*).

Each row gives the learning rate that keeps the 200-step reference problem of
``tests/test_optimizers.py`` stable and moving, further hyperparameter sets to test (beside
the defaults and ``l2``), and the independent implementation it must equal: a
``torch.optim`` class with a function mapping our hyperparameters (validated, defaults
filled in) to its keyword arguments, or ``None`` where torch has no such rule (the NumPy
reference of ``tests/reference.py`` is then the only independent check). Rules, CUDA,
pack-trainer and torch tests all read this table, so a new rule needs one row here.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Row:
    lr: float
    variants: tuple = ()
    torch: tuple | None = None  # (torch.optim class name, hyper -> keyword arguments, or None: no twin)
    float32_tol: float = 1e-5  # float32 kernel vs the float64 reference (a sign-based rule flips where g ~ 0)
    torch_lr: float | None = None  # lr for the torch comparison (default: lr), where its problem is
    #                                not chaotic (a 1-ulp change of the start must stay ~1 ulp)
    extra: dict = field(default_factory=dict)


def _sgd(h):
    return {"lr": h["lr"], "weight_decay": h["l2"]}


def _momentum(h):
    return {"lr": h["lr"], "momentum": h["momentum"], "dampening": h.get("dampening", 0.0),
            "nesterov": False, "weight_decay": h["l2"]}


def _nesterov(h):
    return {"lr": h["lr"], "momentum": h["momentum"], "nesterov": True, "weight_decay": h["l2"]}


def _adam(h):
    kw = {"lr": h["lr"], "betas": (h["beta1"], h["beta2"]), "eps": h["eps"], "amsgrad": bool(h["amsgrad"])}
    if "weight_decay" in h:  # AdamW: torch has no coupled l2 beside its decoupled weight_decay
        # schedule_decay (Loshchilov & Hutter) at a constant lr is torch's AdamW with weight_decay / lr
        wd = h["weight_decay"] / h["lr"] if h.get("schedule_decay") else h["weight_decay"]
        return None if h["l2"] else kw | {"weight_decay": wd}
    return kw | {"weight_decay": h["l2"]}


ROWS = {
    "sgd": Row(0.05, ({"lr": 0.1, "l2": 0.3},), torch=("SGD", _sgd)),
    "momentum": Row(0.02, ({"lr": 0.03, "momentum": 0.5}, {"lr": 0.02, "dampening": 0.5},
                           {"lr": 0.02, "momentum": 0.8, "dampening": 0.1, "l2": 0.01}), torch=("SGD", _momentum)),
    "nesterov": Row(0.02, ({"lr": 0.03, "momentum": 0.5, "l2": 0.01},), torch=("SGD", _nesterov)),
    "adagrad": Row(0.1, ({"lr": 0.2, "eps": 1e-6},),
                   torch=("Adagrad", lambda h: {"lr": h["lr"], "eps": h["eps"], "weight_decay": h["l2"]})),
    "rmsprop": Row(0.01, ({"lr": 0.01, "decay": 0.99, "eps": 1e-6},),
                   torch=("RMSprop", lambda h: {"lr": h["lr"], "alpha": h["decay"], "eps": h["eps"],
                                                "weight_decay": h["l2"]}), torch_lr=0.0005),
    "adam": Row(0.01, ({"lr": 0.02, "beta1": 0.8, "beta2": 0.99, "eps": 1e-6}, {"lr": 0.01, "amsgrad": True},
                       {"lr": 0.02, "beta2": 0.9, "amsgrad": True, "l2": 0.01}), torch=("Adam", _adam)),
    "adamw": Row(0.01, ({"lr": 0.02, "beta1": 0.8, "beta2": 0.99, "eps": 1e-7, "weight_decay": 0.1},
                        {"lr": 0.01, "weight_decay": 0.0, "l2": 0.02}, {"lr": 0.01, "amsgrad": True, "weight_decay": 0.1},
                        {"lr": 0.01, "weight_decay": 0.001, "schedule_decay": True}),
                 torch=("AdamW", _adam)),
    "nadam": Row(0.01, ({"lr": 0.02, "beta1": 0.8, "beta2": 0.99, "momentum_decay": 0.01},),
                 torch=("NAdam", lambda h: {"lr": h["lr"], "betas": (h["beta1"], h["beta2"]), "eps": h["eps"],
                                            "momentum_decay": h["momentum_decay"], "weight_decay": h["l2"]})),
    "radam": Row(0.01, ({"lr": 0.01, "beta1": 0.8, "beta2": 0.99},),
                 torch=("RAdam", lambda h: {"lr": h["lr"], "betas": (h["beta1"], h["beta2"]), "eps": h["eps"],
                                            "weight_decay": h["l2"]})),
    "adamax": Row(0.01, ({"lr": 0.02, "beta1": 0.8, "beta2": 0.99, "eps": 1e-6},),
                  torch=("Adamax", lambda h: {"lr": h["lr"], "betas": (h["beta1"], h["beta2"]), "eps": h["eps"],
                                              "weight_decay": h["l2"]})),
    "adadelta": Row(1.0, ({"lr": 0.5, "rho": 0.95, "eps": 1e-5},),
                    torch=("Adadelta", lambda h: {"lr": h["lr"], "rho": h["rho"], "eps": h["eps"],
                                                  "weight_decay": h["l2"]})),
    "lion": Row(0.002, ({"lr": 0.003, "beta1": 0.8, "beta2": 0.95, "weight_decay": 0.1},), torch=None),
}
