"""The notes' debugging checklist (section 11) applied to every trial: ``oe.diagnose(runs, curves)``.

Each trial gets one label, the numbers behind it (``evidence``) and the notes' remedy for it.
The checks run in this order and the first that holds gives the label; all read the per-epoch
curves (the epoch-mean training loss ``train_loss`` and the validation loss ``val_loss``):

============== ===========================================================================================
label          rule (constants below; L0 = the first epoch's mean training loss, or the first logged step's
               when a step table is given; "the last half" = the epochs after the middle one)
============== ===========================================================================================
diverged       the trainer stopped the trial as diverged (status ``diverged``: a non-finite loss or one
               ``diverge_factor`` times the starting loss), or a loss in its curve is not finite, or the
               last training loss is above ``DIVERGE_RISE`` (2) x L0
oscillating    in the last half the training loss climbs back up, epoch after epoch: the mean rise per
               epoch (the sum of the epoch-to-epoch increases / the number of epochs) is at least
               ``OSCILLATION_RISE`` (5 %) of the loss level (the window's median loss, at least
               ``LEVEL_FLOOR`` (5 %) of L0, so that noise around a loss of ~0 is not an oscillation), with at
               least ``OSCILLATION_MIN_RISES`` (2) rises
overfitting    (not on the test surfaces, whose validation loss is f itself) the validation loss ends at
               least ``OVERFIT_RISE`` (10 %) above its best, at least 2 epochs after that best, while the
               training loss fell by at least ``OVERFIT_TRAIN_DROP`` (10 %) after the best epoch
too slow       the training loss fell by less than ``SLOW_DROP`` (25 %) of L0 over the whole run, but it fell in
               at least ``SLOW_STEADY`` (70 %) of the epochs and the last half fell by at least
               ``SLOW_NOT_LEVELLING`` (0.5) x as much as the first half (steady progress, far from done)
early plateau  the training loss stopped improving: the last half fell by less than ``PLATEAU_TOL`` (2 %) of
               L0, at a training loss that is still high: above ``LEVEL_FLOOR`` (5 %) of L0 (not converged to
               ~0) and, when other trials of the same model and dataset exist, at least 1/(1 - ``PEER_BETTER``)
               (1.25) x the lowest final training loss among them, else (no such trials) at least
               ``PLATEAU_HIGH`` (50 %) of L0
healthy        none of the above
============== ===========================================================================================

A trial with fewer than ``MIN_EPOCHS`` (4) evaluated epochs (and not diverged) is ``undetermined``: its
curve is too short to have a shape; a ``failed`` trial (an error, not an optimisation problem) is
labelled ``failed`` with the error's last line.

With the per-step table (``log_every``; columns ``trial_id, step, lr, train_loss, grad_norm,
clip_fraction``) L0 is the first logged step's loss (nearer the start than an epoch's mean), and
the evidence adds the gradient norm's growth and the fraction of steps clipped.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

DIVERGE_RISE = 2.0
OSCILLATION_RISE = 0.05
OSCILLATION_MIN_RISES = 2
LEVEL_FLOOR = 0.05
OVERFIT_RISE = 0.10
OVERFIT_TRAIN_DROP = 0.10
SLOW_DROP = 0.25
SLOW_STEADY = 0.70
SLOW_NOT_LEVELLING = 0.5
PLATEAU_TOL = 0.02
PLATEAU_HIGH = 0.5
PEER_BETTER = 0.20
MIN_EPOCHS = 4

LABELS = ("diverged", "oscillating", "too slow", "early plateau", "overfitting", "healthy")
SURFACES = ("rosenbrock", "ravine", "beale", "noisy_quadratic")

# The notes' section 11, word for word, then what that means in optengine's settings.
CHECKLIST = {
    "diverged": "Loss diverges quickly -> lower learning rate, apply gradient clipping",
    "oscillating": "Loss oscillates -> reduce learning rate, add momentum or stronger smoothing",
    "too slow": "Loss decreases too slowly -> increase learning rate or tune schedule",
    "early plateau": "Loss plateaus early -> use adaptive optimizer, scheduler, or better initialization",
    "overfitting": "Train loss decreases but validation degrades -> apply regularization and early stopping",
}


def _remedy(label: str, row: dict, clip_share: float | None) -> str:
    lr = row.get("lr", math.nan)
    lr = float(lr) if lr is not None and np.isfinite(lr) else math.nan
    rule = str(row.get("optimizer", ""))
    at = (lambda f: f" (e.g. lr = {lr * f:.3g})") if np.isfinite(lr) else (lambda f: "")
    if label == "diverged":
        clip = ("clipping was already active on {:.0%} of the logged steps, so lower the lr first".format(clip_share)
                if clip_share else "clip = {norm = 1.0}")
        return f"{CHECKLIST[label]}: lower lr by 10x{at(0.1)}; {clip}; or a warmup (schedule.warmup_steps)"
    if label == "oscillating":
        smooth = ("raise momentum / beta1" if rule in ("momentum", "nesterov", "adam", "adamw", "nadam", "radam",
                                                       "adamax", "lion")
                  else "use momentum (optimizer = \"momentum\", momentum = 0.9)")
        return f"{CHECKLIST[label]}: lower lr by 3x{at(1 / 3)}; {smooth}; or a decaying schedule (cosine)"
    if label == "too slow":
        return f"{CHECKLIST[label]}: raise lr by 10x{at(10)}, or a schedule with warmup then decay (cosine)"
    if label == "early plateau":
        return (f"{CHECKLIST[label]}: try adam/adamw, a schedule (cosine, or step decay later and gentler), "
                "or another init (model.init = \"he\" / \"glorot\"; never \"zeros\" for hidden layers)")
    if label == "overfitting":
        return (f"{CHECKLIST[label]}: weight_decay (adamw) or l2, a smaller model or more data, and "
                "early_stopping = {patience = 5}")
    if label == "healthy":
        return "nothing to fix"
    if label == "failed":
        return "not an optimisation problem: read the error (runs table, column error)"
    return "train for more epochs to judge the curve's shape"


def _g(v: float) -> str:
    return f"{v:.4g}"


def _pct(v: float) -> str:
    return f"{v:+.0%}" if abs(v) >= 0.01 else f"{v:+.2%}"


def _steps_info(steps: pd.DataFrame | None, tid: str) -> dict:
    if steps is None or not len(steps) or "trial_id" not in steps.columns:
        return {}
    s = steps[steps["trial_id"] == tid].sort_values("step")
    if "train_loss" in s.columns:
        s = s[s["train_loss"].notna()] if len(s) else s
    if not len(s):
        return {}
    out = {"first_loss": float(s["train_loss"].iloc[0]), "first_step": int(s["step"].iloc[0])}
    if "grad_norm" in s.columns and s["grad_norm"].notna().any():
        g = s["grad_norm"].dropna()
        out["grad_first"], out["grad_last"], out["grad_max"] = float(g.iloc[0]), float(g.iloc[-1]), float(g.max())
    if "clip_fraction" in s.columns and s["clip_fraction"].notna().any():
        out["clip_share"] = float(s["clip_fraction"].mean())
    return out


def diagnose_trial(row: dict, curve: pd.DataFrame, steps_info: dict | None = None,
                   peer_best: float = math.nan) -> tuple[str, str]:
    """(label, evidence) of one trial: ``row`` its runs row, ``curve`` its curve rows (epoch order),
    ``peer_best`` the lowest ``final_train_loss`` among the other trials of its model and dataset."""
    steps_info = steps_info or {}
    status = str(row.get("status", "ok"))
    if status == "pruned":  # stopped by a halving search / median stopping: its curve is short on purpose
        return "undetermined", f"pruned by the search after {len(curve)} epoch(s), curve too short to judge"
    if status == "failed":
        lines = [x.strip() for x in str(row.get("error", "")).strip().splitlines() if x.strip()]
        return "failed", lines[-1] if lines else "failed (no error recorded)"
    train = curve["train_loss"].to_numpy(dtype=float) if len(curve) else np.zeros(0)
    val = curve["val_loss"].to_numpy(dtype=float) if len(curve) else np.zeros(0)
    epochs = curve["epoch"].to_numpy() if len(curve) else np.zeros(0, dtype=int)
    grad = ""
    if "grad_first" in steps_info:
        grad = (f"; gradient norm {_g(steps_info['grad_first'])} -> {_g(steps_info['grad_last'])} "
                f"(max {_g(steps_info['grad_max'])})")
    if "clip_share" in steps_info:
        grad += f"; {steps_info['clip_share']:.0%} of steps clipped"
    finite_train = train[np.isfinite(train)]
    L0 = steps_info.get("first_loss", finite_train[0] if finite_train.size else math.nan)
    where = "first logged step" if "first_loss" in steps_info else "epoch 1"

    # -- diverged
    if status == "diverged":
        at = int(row.get("diverged_at_step", -1) or -1)
        why = str(row.get("error", "")).strip().splitlines()
        why = why[-1].strip() if why else "non-finite or exploding loss"
        return "diverged", f"stopped at step {at}: {why}" + (
            f"; last finite train loss {_g(finite_train[-1])} (epoch {int(epochs[np.isfinite(train)][-1])})"
            if finite_train.size else "") + grad
    if train.size and not np.isfinite(np.concatenate([train, val])).all():
        bad = int(epochs[~(np.isfinite(train) & np.isfinite(val))][0])
        return "diverged", f"non-finite loss at epoch {bad}" + grad
    if train.size and np.isfinite(L0) and L0 > 0 and train[-1] > DIVERGE_RISE * L0:
        return "diverged", (f"train loss rose from {_g(L0)} ({where}) to {_g(train[-1])} at epoch "
                            f"{int(epochs[-1])} (x{train[-1] / L0:.3g} > {DIVERGE_RISE:g})" + grad)
    n = train.size
    if n < MIN_EPOCHS:
        return "undetermined", f"{n} evaluated epoch(s); the shape checks need at least {MIN_EPOCHS}"

    half = n // 2  # the last half: indices half-1 .. n-1 (the middle epoch and after)
    window = train[half - 1:] if n % 2 == 0 else train[half:]
    d = np.diff(window)
    level = max(float(np.median(window)), LEVEL_FLOOR * abs(L0))
    rises = d[d > 0]
    rise = float(rises.sum()) / max(d.size, 1) / level if level > 0 else 0.0
    e_mid = int(epochs[n - window.size])

    # -- oscillating
    if rise >= OSCILLATION_RISE and rises.size >= OSCILLATION_MIN_RISES:
        return "oscillating", (f"epochs {e_mid}-{int(epochs[-1])}: train loss rose in {rises.size} of {d.size} "
                               f"epochs, by {rise:.1%} of its level ({_g(level)}) per epoch on average "
                               f"(>= {OSCILLATION_RISE:.0%}); range {_g(window.min())}-{_g(window.max())}" + grad)

    # -- overfitting
    model = str(row.get("model", ""))
    if model not in SURFACES and np.isfinite(val).all():
        b = int(np.argmin(val))
        if (val[-1] >= (1 + OVERFIT_RISE) * val[b] and b <= n - 3
                and train[-1] <= (1 - OVERFIT_TRAIN_DROP) * train[b]):
            stopped = " (early stopping ended it)" if bool(row.get("early_stopped", False)) else ""
            return "overfitting", (f"val loss best {_g(val[b])} at epoch {int(epochs[b])}, then {_g(val[-1])} at "
                                   f"epoch {int(epochs[-1])} ({_pct(val[-1] / val[b] - 1)}, >= "
                                   f"{OVERFIT_RISE:+.0%}){stopped}, while train loss fell {_g(train[b])} -> "
                                   f"{_g(train[-1])} ({_pct(train[-1] / train[b] - 1)})" + grad)

    total = (L0 - train[-1]) / L0 if L0 else 0.0
    diffs = np.diff(train)
    first_half = train[0] - train[half - 1] if n % 2 == 0 else train[0] - train[half]
    last_half = (window[0] - window[-1])
    falls = float((diffs < 0).mean()) if diffs.size else 0.0
    summary = (f"train loss {_g(L0)} ({where}) -> {_g(train[-1])} at epoch {int(epochs[-1])} "
               f"({_pct(-total)})")

    # -- too slow
    if (0 < total < SLOW_DROP and falls >= SLOW_STEADY and first_half > 0
            and last_half >= SLOW_NOT_LEVELLING * first_half):
        return "too slow", (f"{summary}, < {SLOW_DROP:.0%} down; it fell in {falls:.0%} of epochs and the last "
                            f"half fell {_g(last_half)} vs {_g(first_half)} in the first (still falling steadily)"
                            + grad)

    # -- early plateau
    stalled = last_half < PLATEAU_TOL * abs(L0)
    if stalled and train[-1] >= LEVEL_FLOOR * abs(L0):  # stalled, and not at a loss of ~0 (converged)
        if np.isfinite(peer_best):
            high = peer_best <= (1 - PEER_BETTER) * train[-1]
            peers = (f"; another trial of this model and dataset reached a train loss of {_g(peer_best)} "
                     f"(>= {PEER_BETTER:.0%} lower)")
        else:
            high = train[-1] >= PLATEAU_HIGH * L0
            peers = f"; still >= {PLATEAU_HIGH:.0%} of the {where} loss (no other trial to compare with)"
        if high:
            return "early plateau", (f"{summary}; epochs {e_mid}-{int(epochs[-1])} improved it by only "
                                     f"{_g(max(last_half, 0.0))} (< {PLATEAU_TOL:.0%} of {_g(L0)})" + peers + grad)

    best_epoch = int(epochs[int(np.nanargmin(val))]) if np.isfinite(val).any() else -1
    return "healthy", (f"{summary}; val loss best {_g(np.nanmin(val))} at epoch {best_epoch}" + grad
                       if best_epoch >= 0 else summary + grad)


def diagnose(runs: pd.DataFrame, curves: pd.DataFrame, steps: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per trial of ``runs``: ``trial_id, label, evidence, remedy`` (the notes' section 11).

    ``runs, curves = oe.load(folder)``; ``steps = oe.load_table(folder, "steps")`` (optional).
    The labels and their thresholds are in this module's docstring."""
    by_trial = {tid: c for tid, c in curves.sort_values(["trial_id", "epoch"]).groupby("trial_id", sort=False)} \
        if len(curves) else {}
    group = [c for c in ("model_spec", "dataset_spec") if c in runs.columns and (runs[c].astype(str) != "").all()]
    group = group or [c for c in ("model", "dataset") if c in runs.columns]
    ok = runs["status"].astype(str) == "ok"
    best_train = runs["final_train_loss"].where(ok).astype(float) if "final_train_loss" in runs.columns else None
    rows = []
    keys = runs[group].astype(str).agg("\x1f".join, axis=1) if group else pd.Series("", index=runs.index)
    for i, row in runs.iterrows():
        rec = row.to_dict()
        tid = rec["trial_id"]
        peer = math.nan
        if best_train is not None:
            others = best_train[(keys == keys[i]) & (runs["trial_id"] != tid)]
            if others.notna().any():
                peer = float(others.min())
        info = _steps_info(steps, tid)
        empty = pd.DataFrame(columns=["epoch", "train_loss", "val_loss"])
        label, evidence = diagnose_trial(rec, by_trial.get(tid, empty), info, peer)
        rows.append({"trial_id": tid, "label": label, "evidence": evidence,
                     "remedy": _remedy(label, rec, info.get("clip_share"))})
    return pd.DataFrame(rows, columns=["trial_id", "label", "evidence", "remedy"])


__all__ = ["diagnose", "diagnose_trial", "LABELS", "CHECKLIST"]
