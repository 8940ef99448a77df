"""pandas helpers for sweep results (``runs, curves = oe.load(folder)``).

A *configuration* is a trial without its seed. Metrics are averaged over seeds; a
configuration with a diverged or failed seed has no mean (NaN) and never ranks best,
so "best" always means "best among configurations that trained on every seed".
Losses rank low-is-best, anything else (accuracy, R²) high-is-best, unless ``mode`` says.

Configurations are chosen on validation columns only (``RANK_METRICS``); the test split's
columns (``TEST_COLUMNS``) are never a ranking metric: ``best_per_optimizer`` shows them beside
each chosen configuration (mean and std over its seeds), NaN where there is no test split.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from .errors import ConfigError, check_choice
from .results import load
from .schema import HYPER_COLUMNS_V2, hyper_order, is_hyper_column

# the configuration columns of format 2; ``config_columns(runs)`` adds later hyperparameter columns
CONFIG_COLUMNS = ["model", "model_spec", "dataset", "dataset_spec", "optimizer", "lr", "batch_size", "epochs",
                  "schedule", "schedule_settings", "clipping", *HYPER_COLUMNS_V2, "dtype", "device"]


def config_columns(runs: pd.DataFrame) -> list[str]:
    """The columns that define a configuration in ``runs``: the fixed ones and every hyperparameter column."""
    i = CONFIG_COLUMNS.index("dtype")
    return CONFIG_COLUMNS[:i - len(HYPER_COLUMNS_V2)] + hyper_order(runs.columns) + CONFIG_COLUMNS[i:]
RANK_METRICS = ("final_val_loss", "best_val_loss", "final_val_metric")
METRICS = RANK_METRICS  # the columns a configuration may be chosen by
TEST_COLUMNS = ("final_test_loss", "final_test_metric")


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
    """Configurations are chosen on validation: ``metric`` must be one of RANK_METRICS (in ``runs``)."""
    allowed = [c for c in RANK_METRICS if c in runs.columns]
    if metric in allowed:
        return
    if metric in TEST_COLUMNS or re.search(r"(^|_)test(_|$)", str(metric)):
        raise ConfigError("metric", f"{metric!r} is measured on the test split, which must not choose the "
                                    f"configuration (it is shown beside the chosen one); choose on validation: "
                                    f"{', '.join(allowed)}")
    check_choice("metric", metric, allowed)


def varying(runs: pd.DataFrame, exclude=("optimizer",)) -> list[str]:
    """Configuration columns with more than one value in ``runs`` (the sweep's axes). ``schedule_settings``
    counts only where one schedule has several settings at one batch size and epoch count (its resolved
    ``total_steps`` alone follows those)."""
    out = []
    for c in config_columns(runs):
        if c in runs.columns and c not in exclude and runs[c].nunique(dropna=False) > 1:
            if is_hyper_column(c):  # NaN for rules without the setting does not make an axis
                if runs.groupby("optimizer", observed=True)[c].nunique(dropna=True).max() <= 1:
                    continue
            if c == "schedule_settings":
                by = [k for k in ("optimizer", "schedule", "batch_size", "epochs") if k in runs.columns]
                if runs.groupby(by, observed=True, dropna=False)[c].nunique(dropna=False).max() <= 1:
                    continue
            out.append(c)
    return out


def summarize(runs: pd.DataFrame, metric: str = "final_val_loss") -> pd.DataFrame:
    """One row per configuration: mean and std of ``metric`` over seeds, seeds, diverged and failed counts."""
    _check_metric(runs, metric)
    cols = [c for c in config_columns(runs) if c in runs.columns]
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
    """Each optimizer's best configuration by the seed-mean of the validation ``metric`` (with std and seed
    count), and beside it the test columns' mean and std over its seeds (``final_test_loss``,
    ``final_test_loss_std``, ``final_test_metric``, ``final_test_metric_std``; NaN without a test split or
    when a seed did not train). One per optimizer and model and dataset when the results hold several
    (never ranked across them)."""
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
    for col in TEST_COLUMNS:
        stats = [_seed_stats(runs, ids, col) for ids in best["trial_ids"]]
        best[col] = [m for m, _ in stats]
        best[f"{col}_std"] = [sd for _, sd in stats]
    best.attrs["metric"] = metric
    return best


def _seed_stats(runs: pd.DataFrame, trial_ids, column: str) -> tuple[float, float]:
    """Mean and std (ddof 1) of ``column`` over the given trials; NaN unless every one has a value."""
    if column not in runs.columns:
        return np.nan, np.nan
    v = runs.loc[runs["trial_id"].isin(list(trial_ids)), column].astype("float64")
    if v.empty or v.isna().any():
        return np.nan, np.nan
    return float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else np.nan


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
           "mean_curve", "varying", "direction", "RANK_METRICS", "TEST_COLUMNS"]
