"""pandas helpers for sweep results (``runs, curves = oe.load(folder)``).

A *configuration* is a trial without its seed. Metrics are averaged over seeds; a
configuration with a diverged or failed seed has no mean (NaN) and never ranks best,
so "best" always means "best among configurations that trained on every seed".
Losses rank low-is-best, anything else (accuracy, R²) high-is-best, unless ``mode`` says.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .errors import ConfigError, check_choice
from .results import load
from .train import HYPER_COLUMNS

CONFIG_COLUMNS = ["model", "model_spec", "dataset", "dataset_spec", "optimizer", "lr", "batch_size", "epochs",
                  "schedule", "clip", *HYPER_COLUMNS, "dtype", "device"]
METRICS = ("final_val_loss", "best_val_loss", "final_val_metric", "final_train_loss")


SURFACES = ("rosenbrock", "ravine", "beale", "noisy_quadratic")


def direction(metric: str, mode: str | None = None, runs: pd.DataFrame | None = None) -> str:
    """"min" for losses and for test surfaces' metric (distance to the minimiser), "max" otherwise
    (accuracy, R²); ``mode`` overrides."""
    if mode is not None:
        return check_choice("mode", mode, ("min", "max"))
    if "loss" in metric:
        return "min"
    if runs is not None and "metric" in metric and len(runs) and runs["model"].isin(SURFACES).all():
        return "min"
    return "max"


def _check_metric(runs: pd.DataFrame, metric: str) -> None:
    numeric = [c for c in runs.columns if pd.api.types.is_float_dtype(runs[c]) and c not in CONFIG_COLUMNS]
    if metric not in runs.columns or metric not in numeric:
        check_choice("metric", metric, [c for c in METRICS if c in runs.columns] + sorted(set(numeric) - set(METRICS)))


def varying(runs: pd.DataFrame, exclude=("optimizer",)) -> list[str]:
    """Configuration columns with more than one value in ``runs`` (the sweep's axes)."""
    out = []
    for c in CONFIG_COLUMNS:
        if c in runs.columns and c not in exclude and runs[c].nunique(dropna=False) > 1:
            if c in HYPER_COLUMNS:  # NaN for rules without the setting does not make an axis
                if runs.groupby("optimizer", observed=True)[c].nunique(dropna=True).max() <= 1:
                    continue
            out.append(c)
    return out


def summarize(runs: pd.DataFrame, metric: str = "final_val_loss") -> pd.DataFrame:
    """One row per configuration: mean and std of ``metric`` over seeds, seeds, diverged and failed counts."""
    _check_metric(runs, metric)
    cols = [c for c in CONFIG_COLUMNS if c in runs.columns]
    status = runs["status"].astype(str)
    df = runs[cols].copy()
    df["_v"] = runs[metric].where(status == "ok")
    df["_diverged"] = (status == "diverged").astype(int)
    df["_failed"] = (status == "failed").astype(int)
    df["_ids"] = runs["trial_id"]
    if "config_id" in runs.columns and runs["config_id"].notna().all() and (runs["config_id"] != "").all():
        # Sweep results: one id per configuration, so a failed seed (whose row cannot know the
        # batch size or schedule it would have trained with) stays with its configuration.
        df["_key"] = runs["config_id"].to_numpy()
        df["_ok"] = (status != "ok").to_numpy()  # describe each configuration by a trained row
        df = df.sort_values("_ok", kind="stable")
        g = df.groupby("_key", sort=False)
        first = g[cols].first()
    else:
        g = df.groupby(cols, dropna=False, sort=False, observed=True)
        first = None
    out = pd.DataFrame({
        "mean": g["_v"].agg(lambda v: v.mean(skipna=False)),
        "std": g["_v"].agg(lambda v: v.std(skipna=False, ddof=1)),  # NaN for one seed
        "seeds": g["_v"].size(),
        "diverged": g["_diverged"].sum(),
        "failed": g["_failed"].sum(),
        "trial_ids": g["_ids"].agg(list),
    })
    if first is not None:  # back to the order the configurations appear in
        out = pd.concat([first, out], axis=1).reindex(pd.unique(runs["config_id"])).reset_index(drop=True)
    else:
        out = out.reset_index()
    out.attrs["metric"] = metric
    return out


def best_per_optimizer(runs: pd.DataFrame, metric: str = "final_val_loss", mode: str | None = None) -> pd.DataFrame:
    """Each optimizer's best configuration by the seed-mean of ``metric`` (with std and seed count);
    one per optimizer and model and dataset when the results hold several (never ranked across them)."""
    s = summarize(runs, metric)
    ascending = direction(metric, mode, runs) == "min"
    rows = []
    by = ["optimizer", *[c for c in ("model_spec", "dataset_spec") if c in s and s[c].nunique() > 1]]
    if by == ["optimizer"]:  # results of oe.train_pack have names only
        by += [c for c in ("model", "dataset") if c in s and s[c].nunique() > 1]
    for _, group in s.groupby(by, sort=False, observed=True):
        ranked = group.dropna(subset=["mean"]).sort_values("mean", ascending=ascending, kind="stable")
        if len(ranked):
            rows.append(ranked.iloc[0])
        else:  # every configuration diverged or failed: report that, not a best
            row = group.iloc[0].copy()
            row["mean"] = np.nan
            rows.append(row)
    best = pd.DataFrame(rows).reset_index(drop=True)
    axes = varying(runs)
    shown = [c for c in axes if c in best.columns and not (c.endswith("_spec") and c[:-5] in axes)]
    keep = ["optimizer", *shown, "mean", "std", "seeds", "diverged", "failed", "trial_ids"]
    best = best[keep]
    best.attrs["metric"] = metric
    return best


def lr_sensitivity(runs: pd.DataFrame, metric: str = "final_val_loss", mode: str | None = None) -> pd.DataFrame:
    """Optimizer x lr pivot (rows lr): the best seed-mean of ``metric`` over the other settings."""
    s = summarize(runs, metric)
    agg = "min" if direction(metric, mode, runs) == "min" else "max"
    pivot = s.pivot_table(index="lr", columns="optimizer", values="mean", aggfunc=agg, observed=True,
                          dropna=False).sort_index()
    return pivot.reindex(columns=[o for o in pd.unique(runs["optimizer"]) if o in pivot.columns])


def lr_batch_grid(runs: pd.DataFrame, metric: str = "final_val_loss", optimizer: str | None = None,
                  mode: str | None = None) -> pd.DataFrame:
    """lr x batch-size pivot (rows lr) of the best seed-mean ``metric``, for one optimizer or all."""
    if optimizer is not None:
        check_choice("optimizer", optimizer, sorted(runs["optimizer"].unique()))
        runs = runs[runs["optimizer"] == optimizer]
    s = summarize(runs, metric)
    agg = "min" if direction(metric, mode, runs) == "min" else "max"
    return s.pivot_table(index="lr", columns="batch_size", values="mean", aggfunc=agg, observed=True,
                         dropna=False).sort_index()


def curves_of(curves: pd.DataFrame, trial_ids) -> pd.DataFrame:
    """The curve rows of the given trials (epoch order)."""
    ids = [trial_ids] if isinstance(trial_ids, str) else list(trial_ids)
    unknown = set(ids) - set(curves["trial_id"])
    if unknown:
        raise ConfigError("trial_ids", f"no curves for {', '.join(sorted(unknown)[:3])} "
                                       "(unknown, or the trial failed before its first epoch)")
    return curves[curves["trial_id"].isin(ids)].sort_values(["trial_id", "epoch"]).reset_index(drop=True)


def mean_curve(curves: pd.DataFrame, trial_ids, column: str = "val_loss") -> pd.DataFrame:
    """Per-epoch mean and std of ``column`` over the given trials (e.g. the seeds of one configuration)."""
    c = curves[curves["trial_id"].isin(list(trial_ids))]
    g = c.groupby("epoch")[column]
    return pd.DataFrame({"mean": g.mean(), "std": g.std(ddof=1).fillna(0.0), "n": g.size()})


__all__ = ["load", "summarize", "best_per_optimizer", "lr_sensitivity", "lr_batch_grid", "curves_of",
           "mean_curve", "varying", "direction"]
