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


# runs columns that are outcomes, not settings (written by later versions; never part of a configuration)
OUTCOME_COLUMNS = ("steps_to_target",)


def config_columns(runs: pd.DataFrame) -> list[str]:
    """The columns that define a configuration in ``runs``: the fixed ones and every hyperparameter column."""
    i = CONFIG_COLUMNS.index("dtype")
    hyper = [c for c in hyper_order(runs.columns) if c not in OUTCOME_COLUMNS]
    return CONFIG_COLUMNS[:i - len(HYPER_COLUMNS_V2)] + hyper + CONFIG_COLUMNS[i:]
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


# -- fair selection (notes section 10) ------------------------------------------------------------------

TEST_FOR = {"final_val_loss": "final_test_loss", "best_val_loss": "final_test_loss",
            "final_val_metric": "final_test_metric"}


def problem_columns(runs: pd.DataFrame) -> list[str]:
    """The columns that tell problems (model and dataset) apart in ``runs``: their specs when several, else
    their names when several, else none (one problem)."""
    by = [c for c in ("model_spec", "dataset_spec") if c in runs and runs[c].nunique() > 1]
    if not by:
        by = [c for c in ("model", "dataset") if c in runs and runs[c].nunique() > 1]
    return by


def _problem_label(runs: pd.DataFrame, by: list[str], key) -> str:
    key = key if isinstance(key, tuple) else (key,)
    if not by:
        return " / ".join(str(runs[c].iloc[0]) for c in ("model", "dataset") if c in runs)
    sel = runs
    for c, v in zip(by, key):
        sel = sel[sel[c] == v]
    names = [str(sel[c].iloc[0]) for c in ("model", "dataset") if c in sel]
    label = " / ".join(names)
    if any(c.endswith("_spec") for c in by):  # the same names with other settings: show the settings
        extra = [str(v) for c, v in zip(by, key) if c.endswith("_spec") and runs[c[:-5]].nunique() <= 1]
        if extra and runs.groupby(["model", "dataset"]).ngroups < runs.groupby(by).ngroups:
            label += " " + " ".join(extra)
    return label


def _seed_matrix(runs: pd.DataFrame, s: pd.DataFrame, column: str, seeds: list) -> np.ndarray:
    """configurations x seeds matrix of ``column`` (NaN where a configuration lacks the seed or it did not train)."""
    pos = {v: j for j, v in enumerate(seeds)}
    idx = runs.set_index("trial_id")
    out = np.full((len(s), len(seeds)), np.nan)
    for i, ids in enumerate(s["trial_ids"]):
        sub = idx.loc[list(ids)]
        ok = sub["status"].astype(str) == "ok"
        vals = sub[column].astype(float).where(ok) if column in sub else pd.Series(np.nan, index=sub.index)
        for seed, v in zip(sub["seed"], vals):
            out[i, pos[seed]] = v
    return out


def _weighted_means(values: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """(configs x replicates) means of ``values`` (configs x seeds, NaN = absent) with seed ``counts``
    (replicates x seeds)."""
    present = np.isfinite(values).astype(float)
    num = np.nan_to_num(values) @ counts.T
    den = present @ counts.T
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / den, np.nan)


def rank_optimizers(runs: pd.DataFrame, metric: str = "final_val_loss", n_boot: int = 1000, seed: int = 0,
                    mode: str | None = None, ci: float = 0.95) -> pd.DataFrame:
    """Rules ranked on the test split, each by its best configuration chosen on validation, with bootstrapped
    intervals over seeds.

    For each problem (model and dataset) and rule: the configuration with the best seed-mean of the
    validation ``metric`` (configurations with a diverged or failed seed are never chosen), reported on
    the test column (``final_test_loss`` for the losses, ``final_test_metric`` for the metric; on
    ``metric`` itself when the results have no test split, said in ``attrs["reported_on"]``). The rules
    are ranked by that test value. The bootstrap draws the seeds with replacement ``n_boot`` times (the
    same draw for every configuration of the problem: paired) and, in every draw, chooses again on
    validation and reports on test, so the intervals include the uncertainty of the choice:
    ``ci_low, ci_high`` (the central ``ci`` interval of the reported value), ``rank_low, rank_high`` and
    ``p_best`` (the share of draws in which the rule ranks first). With one seed the intervals are points.
    Columns: [problem], optimizer, the chosen configuration's axes, val, val_std, test, test_std, ci_low,
    ci_high, rank, rank_low, rank_high, p_best, seeds, configurations, trial_ids.
    """
    _check_metric(runs, metric)
    if not isinstance(n_boot, (int, np.integer)) or isinstance(n_boot, bool) or n_boot < 0:
        raise ConfigError("n_boot", f"must be an integer >= 0, got {n_boot!r}")
    if not 0 < ci < 1:
        raise ConfigError("ci", f"must be between 0 and 1, got {ci!r}")
    sel_min = direction(metric, mode, runs) == "min"
    report = TEST_FOR[metric]
    if report not in runs.columns or not runs[report].notna().any():
        report = metric
    same_family = ("loss" in report) == ("loss" in metric)
    rep_min = direction(report, mode if same_family else None, runs) == "min"
    s = summarize(runs, metric)
    by = problem_columns(runs)
    axes = [c for c in varying(runs) if c in s.columns and not (c.endswith("_spec") and c[:-5] in varying(runs))]
    rng = np.random.default_rng(seed)
    alpha = (1 - ci) / 2
    out = []
    groups = s.groupby(by, sort=False, observed=True) if by else [((), s)]
    for key, sp in groups:
        trial_ids = [t for ids in sp["trial_ids"] for t in ids]
        rp = runs[runs["trial_id"].isin(trial_ids)]
        seeds = sorted(pd.unique(rp["seed"]))
        counts = rng.multinomial(len(seeds), np.full(len(seeds), 1 / len(seeds)), size=n_boot) if n_boot else \
            np.zeros((0, len(seeds)))
        rules = list(pd.unique(sp["optimizer"]))
        rows, boot = [], []
        for rule in rules:
            sr = sp[sp["optimizer"] == rule].reset_index(drop=True)
            V = _seed_matrix(runs, sr, metric, seeds)
            T = _seed_matrix(runs, sr, report, seeds)
            eligible = sr["mean"].notna().to_numpy()
            row = {"problem": _problem_label(runs, by, key), "optimizer": rule}
            if eligible.any():
                means = sr["mean"].where(eligible)
                best = int(means.idxmin() if sel_min else means.idxmax())
                chosen = sr.iloc[best]
                t = T[best][np.isfinite(T[best])]
                row.update({c: chosen[c] for c in axes})
                row.update(val=chosen["mean"], val_std=chosen["std"],
                           test=float(t.mean()) if t.size == np.isfinite(V[best]).sum() and t.size else np.nan,
                           test_std=float(t.std(ddof=1)) if t.size > 1 else np.nan,
                           seeds=int(chosen["seeds"]), trial_ids=list(chosen["trial_ids"]))
            else:
                row.update({c: np.nan for c in axes})
                row.update(val=np.nan, val_std=np.nan, test=np.nan, test_std=np.nan,
                           seeds=int(sr["seeds"].max()), trial_ids=[])
            row["configurations"] = len(sr)
            if n_boot:
                mv = _weighted_means(np.where(eligible[:, None], V, np.nan), counts)  # configs x reps
                mt = _weighted_means(T, counts)
                fill = np.inf if sel_min else -np.inf
                pick = (np.nanargmin if sel_min else np.nanargmax)(np.where(np.isnan(mv), fill, mv), axis=0) \
                    if eligible.any() else np.zeros(n_boot, dtype=int)
                b = mt[pick, np.arange(n_boot)] if eligible.any() else np.full(n_boot, np.nan)
                b = np.where(np.isfinite(mv[pick, np.arange(n_boot)]), b, np.nan) if eligible.any() else b
                boot.append(b)
                fin = b[np.isfinite(b)]
                row["ci_low"], row["ci_high"] = ((float(np.quantile(fin, alpha)), float(np.quantile(fin, 1 - alpha)))
                                                 if fin.size else (np.nan, np.nan))
            rows.append(row)
        df = pd.DataFrame(rows)
        key_vals = df["test"].to_numpy(dtype=float)
        df["rank"] = _ranks(key_vals, rep_min)
        if n_boot:
            R = np.vstack([_ranks(col, rep_min) for col in np.vstack(boot).T])  # reps x rules
            df["rank_low"] = np.quantile(R, alpha, axis=0, method="lower").astype(int)
            df["rank_high"] = np.quantile(R, 1 - alpha, axis=0, method="higher").astype(int)
            df["p_best"] = (R == 1).mean(axis=0)
        out.append(df.sort_values("rank", kind="stable"))
    result = pd.concat(out, ignore_index=True) if out else pd.DataFrame()
    cols = ["problem", "optimizer", *axes, "val", "val_std", "test", "test_std", "ci_low", "ci_high", "rank",
            "rank_low", "rank_high", "p_best", "seeds", "configurations", "trial_ids"]
    result = result[[c for c in cols if c in result.columns]]
    result.attrs.update(metric=metric, reported_on=report, n_boot=n_boot, ci=ci)
    return result


def _ranks(values: np.ndarray, ascending: bool) -> np.ndarray:
    """1 = best; NaN (diverged, failed) ranks last; ties share the best rank."""
    v = np.asarray(values, dtype=float)
    key = np.where(np.isnan(v), np.inf, v if ascending else -v)
    return np.array([1 + int((key < k).sum()) for k in key])


def grid_edges(runs: pd.DataFrame, metric: str = "final_val_loss", mode: str | None = None) -> pd.DataFrame:
    """Warnings for chosen settings at the edge of what was searched, per rule and searched axis.

    For each rule's best configuration (on validation ``metric``, per problem) and each numeric axis that
    rule searched (two values or more among its trials; ``lr_base`` instead of ``lr`` where the lr was
    linked to the batch size): an edge when the chosen value is the smallest or largest searched, or,
    for a random search (more than 12 distinct values), lies in the outer 10 % of the searched range
    (on a log scale when the values are positive and span 10x or more). The optimum may lie beyond it:
    extend the range. Columns: problem, optimizer, axis, value, low, high, side, message."""
    best = rank_optimizers(runs, metric, n_boot=0, mode=mode)
    rows = []
    for _, b in best.iterrows():
        if not b["trial_ids"]:
            continue
        chosen = runs[runs["trial_id"].isin(b["trial_ids"])].iloc[0]
        mine = runs[runs["optimizer"] == b["optimizer"]]
        by = problem_columns(runs)
        for c in by:
            mine = mine[mine[c] == chosen[c]]
        cand = ["lr", "batch_size", "epochs", *[c for c in hyper_order(runs.columns) if c not in OUTCOME_COLUMNS]]
        if "lr_base" in mine and mine["lr_base"].notna().all():
            cand = ["lr_base" if c == "lr" else c for c in cand if c != "lr_base"]
        for axis in dict.fromkeys(cand):
            if axis not in mine or not pd.api.types.is_numeric_dtype(mine[axis]) or \
                    pd.api.types.is_bool_dtype(mine[axis]):
                continue
            vals = mine[axis].astype(float).dropna().unique()
            v = float(chosen[axis]) if pd.notna(chosen[axis]) else np.nan
            if len(vals) < 2 or not np.isfinite(v):
                continue
            lo, hi = float(vals.min()), float(vals.max())
            side = "lowest" if v == lo else "highest" if v == hi else None
            if side is None and len(vals) > 12:
                logs = lo > 0 and hi / lo >= 10
                f = (lambda x: np.log10(x)) if logs else (lambda x: x)
                pos = (f(v) - f(lo)) / (f(hi) - f(lo))
                side = "near the lowest" if pos <= 0.1 else "near the highest" if pos >= 0.9 else None
            if side:
                way = "down" if "lowest" in side else "up"
                rows.append({"problem": b["problem"], "optimizer": b["optimizer"], "axis": axis, "value": v,
                             "low": lo, "high": hi, "side": side,
                             "message": f"{b['optimizer']}: best {axis} {v:g} is the {side} value searched "
                                        f"({lo:g} to {hi:g}, {len(vals)} values): the optimum may lie beyond; "
                                        f"extend the range {way}"})
    return pd.DataFrame(rows, columns=["problem", "optimizer", "axis", "value", "low", "high", "side", "message"])


def budget(runs: pd.DataFrame, info: dict | None = None) -> pd.DataFrame:
    """The search budget per rule: configurations (and trials, with seeds) each rule was given. From
    sweep.json's ``search.budget`` when the sweep recorded one (stratified random search), else counted
    from ``runs``. Columns: optimizer, configurations, trials, source."""
    s = summarize(runs, next(m for m in RANK_METRICS if m in runs.columns))
    counted = s.groupby("optimizer", sort=False, observed=True).size()
    trials = runs.groupby("optimizer", sort=False, observed=True).size()
    planned = ((info or {}).get("search") or {}).get("budget") if isinstance((info or {}).get("search"), dict) \
        else None
    rows = []
    for rule in pd.unique(runs["optimizer"]):
        if isinstance(planned, dict) and rule in planned:
            rows.append({"optimizer": rule, "configurations": int(planned[rule]), "trials": int(trials[rule]),
                         "source": "sweep.json"})
        else:
            rows.append({"optimizer": rule, "configurations": int(counted[rule]), "trials": int(trials[rule]),
                         "source": "counted"})
    out = pd.DataFrame(rows, columns=["optimizer", "configurations", "trials", "source"])
    out.attrs["search"] = (info or {}).get("search")
    return out


def budget_statement(runs: pd.DataFrame, info: dict | None = None) -> str:
    """One sentence: the budget per rule and whether it was equal."""
    b = budget(runs, info)
    search = b.attrs.get("search") or {}
    kind = search.get("kind", "grid") if isinstance(search, dict) else "grid"
    each = ", ".join(f"{r.optimizer} {r.configurations}" for r in b.itertuples())
    equal = b["configurations"].nunique() <= 1
    how = "recorded in sweep.json" if (b["source"] == "sweep.json").any() else "counted from the results"
    text = f"Search budget per rule ({kind} search, configurations {how}): {each}."
    if equal:
        text += " Every rule had the same budget."
    else:
        text += (" Unequal budgets: a rule with more configurations had more chances to find a good one, so "
                 "the ranking favours it (a stratified random search, `[search] per_rule = true`, evens them).")
    return text


def performance_profile(runs: pd.DataFrame, metric: str = "final_val_loss", mode: str | None = None,
                        taus=None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Dolan-More performance profile over the problems (model / dataset pairs) in ``runs``.

    Each rule's cost on a problem is the test value of its configuration chosen on validation
    (``rank_optimizers``): the loss itself, or 1 - metric for a higher-is-better metric (error rate,
    1 - R²). ratio = cost / the best rule's cost on that problem (inf where the rule never trained);
    rho_s(tau) = the share of problems on which rule s is within a factor tau of the best.
    Returns ``(ratios, profile)``: ratios problem x rule, profile tau x rule (plus ``mean_rank`` in
    ``ratios.attrs``)."""
    r = rank_optimizers(runs, metric, n_boot=0, mode=mode)
    rep = r.attrs["reported_on"]
    same_family = ("loss" in rep) == ("loss" in metric)
    higher = direction(rep, mode if same_family else None, runs) == "max"
    cost = r.pivot_table(index="problem", columns="optimizer", values="test", aggfunc="first", dropna=False)
    cost = cost.reindex(columns=[o for o in pd.unique(r["optimizer"]) if o in cost.columns])
    if higher:
        cost = 1.0 - cost
    c = cost.to_numpy(dtype=float)
    c = np.where(np.isfinite(c), np.maximum(c, 1e-12), np.inf)
    best = np.min(c, axis=1, keepdims=True)
    ratios = pd.DataFrame(c / best, index=cost.index, columns=cost.columns)
    finite = ratios.to_numpy()[np.isfinite(ratios.to_numpy())]
    if taus is None:
        top = max(float(finite.max()) if finite.size else 2.0, 1.05) * 1.1
        taus = np.unique(np.concatenate([np.geomspace(1, top, 200), finite]))
    taus = np.asarray(taus, dtype=float)
    profile = pd.DataFrame({o: [(ratios[o] <= t).mean() for t in taus] for o in ratios.columns}, index=taus)
    profile.index.name = "tau"
    ranks = r.pivot_table(index="problem", columns="optimizer", values="rank", aggfunc="first")
    ratios.attrs.update(mean_rank=ranks.mean(axis=0).reindex(ratios.columns), reported_on=rep,
                        cost="1 - " + rep if higher else rep)
    return ratios, profile


# -- batch size (notes section 9) -------------------------------------------------------------------

def steps_to_target_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Per problem, rule and batch size: the fewest steps to the target over the other settings (the best
    lr per batch size, as Shallue et al. 2018), a configuration's steps being the mean over its seeds
    and counting only if every seed reached the target (``steps_to_target`` >= 0). Columns: problem,
    optimizer, batch_size, steps, lr, lr_base (when present), reached (configurations that reached it)."""
    if "steps_to_target" not in runs.columns or not (runs["steps_to_target"].astype(float) >= 0).any():
        raise ConfigError("steps_to_target", "no run of these results has a steps_to_target (no target was "
                                             "set, or no run reached it): set a target ([train] target = "
                                             "{val_metric = 0.9} or {val_loss = 0.3})")
    ok = runs["status"].astype(str) == "ok"
    steps = runs["steps_to_target"].astype(float).where(ok & (runs["steps_to_target"] >= 0))
    s = summarize(runs.assign(_steps=steps), next(m for m in RANK_METRICS if m in runs.columns))
    means = {i: steps[runs["trial_id"].isin(ids)] for i, ids in enumerate(s["trial_ids"])}
    s["_steps"] = [v.mean() if len(v) and v.notna().all() else np.nan for v in means.values()]
    by = problem_columns(runs)
    rows = []
    for key, g in s.groupby([*by, "optimizer", "batch_size"], sort=True, observed=True):
        key = key if isinstance(key, tuple) else (key,)
        prob = _problem_label(runs, by, key[:len(by)]) if by else _problem_label(runs, [], ())
        reached = g.dropna(subset=["_steps"])
        row = {"problem": prob, "optimizer": key[len(by)], "batch_size": int(key[len(by) + 1]),
               "reached": len(reached), "configurations": len(g)}
        if len(reached):
            b = reached.loc[reached["_steps"].idxmin()]
            row.update(steps=float(b["_steps"]), lr=float(b["lr"]))
            if "lr_base" in b:
                row["lr_base"] = float(b["lr_base"])
        else:
            row.update(steps=np.nan, lr=np.nan)
        rows.append(row)
    cols = ["problem", "optimizer", "batch_size", "steps", "lr", "lr_base", "reached", "configurations"]
    out = pd.DataFrame(rows)
    return out[[c for c in cols if c in out.columns]]


def critical_batch_size(runs: pd.DataFrame) -> pd.DataFrame:
    """The critical batch size per problem and rule: where doubling the batch stops halving the steps.

    Estimator (McCandlish et al. 2018, "An empirical model of large-batch training", eq. 2.11 with the
    notation of Shallue et al. 2018): steps to target S(B) = S_min (1 + B_crit / B), fitted to the best
    steps per batch size (``steps_to_target_table``) by least squares on the relative error (weights
    1/S). Below B_crit doubling the batch nearly halves the steps (perfect scaling); above it the
    steps approach S_min (maximal data parallelism). At B = B_crit the steps are 2 S_min: scaling
    efficiency 50 %. ``b_crit`` is inf when the fit finds perfect scaling up to the largest batch
    (S_min <= 0) and 0 when a larger batch never helped. Columns: problem, optimizer, b_crit, s_min,
    batch_sizes (used), note."""
    t = steps_to_target_table(runs)
    rows = []
    for (prob, rule), g in t.groupby(["problem", "optimizer"], sort=False):
        g = g.dropna(subset=["steps"])
        B = g["batch_size"].to_numpy(dtype=float)
        S = g["steps"].to_numpy(dtype=float)
        row = {"problem": prob, "optimizer": rule, "b_crit": np.nan, "s_min": np.nan, "batch_sizes": len(B)}
        if len(B) < 2:
            row["note"] = "needs at least 2 batch sizes that reached the target"
        else:
            A = np.column_stack([1 / S, 1 / (B * S)])
            (a, b), *_ = np.linalg.lstsq(A, np.ones_like(S), rcond=None)
            if a <= 0:
                row.update(b_crit=np.inf, s_min=0.0,
                           note=f"perfect scaling up to the largest batch ({int(B.max())}): B_crit is above it")
            elif b <= 0:
                row.update(b_crit=0.0, s_min=float(a),
                           note=f"no gain from a larger batch: B_crit is below the smallest ({int(B.min())})")
            else:
                row.update(b_crit=float(b / a), s_min=float(a), note="fit S = S_min (1 + B_crit / B)")
                if not B.min() <= b / a <= B.max():
                    row["note"] += " (outside the batch sizes tried: an extrapolation)"
        rows.append(row)
    return pd.DataFrame(rows, columns=["problem", "optimizer", "b_crit", "s_min", "batch_sizes", "note"])


__all__ = ["load", "summarize", "best_per_optimizer", "lr_sensitivity", "lr_batch_grid", "curves_of",
           "mean_curve", "varying", "direction", "rank_optimizers", "grid_edges", "budget", "budget_statement",
           "performance_profile", "steps_to_target_table", "critical_batch_size", "RANK_METRICS", "TEST_COLUMNS"]
