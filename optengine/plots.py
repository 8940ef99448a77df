"""Figures of a sweep (matplotlib; no display needed).

Every function takes ``ax=`` (draw into your axes, e.g. in a notebook or a paper's subplot grid)
and ``path=`` (also write a PNG there), and returns the matplotlib figure.

- ``plot_lr_sensitivity``: the metric against the learning rate, one line per rule (log x), at the
  best configuration of each sampled lr, with error bars = std over seeds. An x on the top edge marks
  a sampled lr at which every trial of the rule diverged or failed; an open marker one at which some
  did. A log y axis when a loss spans 20x or more, else an axis clipped at the outliers (noted). In a
  random search the lrs are binned (log bins; the best configuration per bin, the others as dots).
- ``plot_best_curves``: each rule's best configuration, validation loss and the task's validation
  metric (accuracy, R², distance to the minimiser) per epoch, mean over seeds with a one-std band;
  the legend names the settings that tell the curves apart.
- ``plot_train_val``: training (solid) vs validation (dashed) loss of each rule's best configuration.
- ``plot_grad_norm``: the gradient norm (before clipping) per epoch, or per logged step with the
  step table.
- ``plot_lr_schedule``: the learning rate the trainer used, per epoch or per logged step.
- ``plot_lr_batch_heatmap``: lr x batch size, the best seed-mean metric per cell, one panel per rule
  (shared colour scale), cell text black or white by the cell's luminance; lrs binned in a random search.
- ``plot_trajectories``: a 2-D surface's contours with one parameter path per rule (section 6).
- ``plot_steps_to_target``: steps to the target against batch size, log-log, with the perfect-scaling
  line and the fitted critical batch size (section 9).
- ``plot_performance_profile``: Dolan-More profiles of the rules over several problems (section 10).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from . import analysis
from .errors import ConfigError

SURFACES = analysis.SURFACES
REGRESSION_DATASETS = ("diabetes", "synthetic_regression", "sines", "ar2", "mackey_glass")
RANDOM_DISTINCT = 12  # more distinct lrs than this per rule: a random search (binned)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _figure(ax, figsize):
    """(figure, axes, made here)."""
    if ax is not None:
        return ax.figure, ax, False
    fig, ax = _pyplot().subplots(figsize=figsize, layout="constrained")
    return fig, ax, True


def _save(fig, path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.png")
    try:
        fig.savefig(tmp, dpi=120, bbox_inches="tight")
        tmp.replace(path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def _done(fig, path, own: bool):
    """Write ``fig`` to ``path`` (when given); a figure made here is then closed in pyplot (it stays usable)."""
    try:
        if path is not None:
            _save(fig, path)
    finally:
        if own and path is not None:
            _pyplot().close(fig)
    return fig


def _pretty(metric: str) -> str:
    return metric.replace("_", " ").replace("val ", "validation ")


def metric_name(runs: pd.DataFrame) -> str:
    """What ``val_metric`` measures for these results: accuracy, R², or the distance to the minimiser."""
    models = set(runs["model"].astype(str)) if "model" in runs else set()
    datasets = set(runs["dataset"].astype(str)) if "dataset" in runs else set()
    specs = " ".join(runs["model_spec"].astype(str).unique()) if "model_spec" in runs else ""
    if models and models <= set(SURFACES):
        return "distance to the minimiser"
    regression = (models <= {"linear_regression"} and models) or (datasets and datasets <= set(REGRESSION_DATASETS)) \
        or '"loss": "mse"' in specs
    if regression:
        return "R²"
    if datasets & set(REGRESSION_DATASETS) or models & set(SURFACES):
        return "metric (accuracy, R² or distance)"
    return "accuracy"


def _loss_name(runs: pd.DataFrame) -> str:
    m = metric_name(runs)
    if m == "distance to the minimiser":
        return "loss (surface value f)"
    if m == "R²":
        return "loss (MSE)"
    if m == "accuracy":
        return "loss (cross-entropy)"
    return "loss"


def _metric_label(runs, metric: str) -> str:
    if metric == "final_val_metric":
        return f"final validation {metric_name(runs)}"
    return _pretty(metric)


def _log_axis(axis) -> None:
    """One set of tick labels on a log axis (the minor ticks unlabelled)."""
    from matplotlib.ticker import LogLocator, NullFormatter

    axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axis.set_minor_formatter(NullFormatter())
    axis.set_major_formatter(_GFormatter())


def _GFormatter():
    from matplotlib.ticker import FuncFormatter

    return FuncFormatter(lambda v, _: f"{v:g}")


def _y_scale(ax, values, metric: str) -> str:
    """A log y for a positive loss spanning 20x or more; otherwise a linear axis clipped at far outliers
    (Q3 + 3 IQR). Returns a note for the title ("" when nothing is clipped)."""
    v = np.asarray([x for x in values if np.isfinite(x)], dtype=float)
    if not v.size:
        return ""
    if "loss" in metric and (v > 0).all() and v.max() / v.min() >= 20:
        ax.set_yscale("log")
        _log_axis(ax.yaxis)
        return ""
    q1, q3 = np.quantile(v, [0.25, 0.75])
    top, bottom = q3 + 3 * (q3 - q1), q1 - 3 * (q3 - q1)
    out_hi, out_lo = v[v > top], v[v < bottom]
    if (out_hi.size or out_lo.size) and q3 > q1:
        lo, hi = max(v.min(), bottom), min(v.max(), top)
        pad = 0.08 * (hi - lo)
        ax.set_ylim(lo - pad, hi + pad)
        parts = []
        if out_hi.size:
            parts.append(f"{out_hi.size} above the axis (up to {out_hi.max():.3g})")
        if out_lo.size:
            parts.append(f"{out_lo.size} below (down to {out_lo.min():.3g})")
        return "clipped: " + ", ".join(parts)
    return ""


def _legend_outside(ax, **kw):
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        ax.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, fontsize=8,
                  frameon=False, **kw)


# -- learning-rate sensitivity -------------------------------------------------------------------------

def lr_points(runs: pd.DataFrame, metric: str = "final_val_loss", mode: str | None = None) -> pd.DataFrame:
    """Per rule and sampled lr (or lr bin, in a random search): the best configuration's seed mean and
    std, the trials and how many of them diverged or failed. Columns: optimizer, lr, mean, std, trials,
    bad, binned."""
    s = analysis.summarize(runs, metric)
    ascending = analysis.direction(metric, mode, runs) == "min"
    trials = s["trial_ids"].map(len)
    s = s.assign(_trials=trials, _bad=s["diverged"] + s["failed"])
    rows = []
    for rule, g in s.groupby("optimizer", sort=False, observed=True):
        lrs = g["lr"].astype(float)
        binned = lrs.nunique() > RANDOM_DISTINCT
        if binned:
            lo, hi = np.log10(lrs.min()), np.log10(lrs.max())
            edges = np.linspace(lo, hi, 9)
            idx = np.clip(np.searchsorted(edges, np.log10(lrs), side="right") - 1, 0, 7)
            centre = 10 ** ((edges[idx] + edges[idx + 1]) / 2)
            keys = pd.Series(centre, index=g.index)
        else:
            keys = lrs
        for lr, h in g.groupby(keys, sort=True):
            ok = h.dropna(subset=["mean"]).sort_values("mean", ascending=ascending, kind="stable")
            best = ok.iloc[0] if len(ok) else None
            rows.append({"optimizer": rule, "lr": float(lr), "mean": best["mean"] if best is not None else np.nan,
                         "std": best["std"] if best is not None else np.nan, "trials": int(h["_trials"].sum()),
                         "bad": int(h["_bad"].sum()), "binned": binned})
    return pd.DataFrame(rows, columns=["optimizer", "lr", "mean", "std", "trials", "bad", "binned"])


def plot_lr_sensitivity(runs, path=None, metric: str = "final_val_loss", mode: str | None = None, ax=None):
    """The validation ``metric`` against the lr, per rule; see the module docstring. Returns the figure."""
    from matplotlib.transforms import blended_transform_factory

    pts = lr_points(runs, metric, mode)
    fig, ax, own = _figure(ax, (7.5, 4.4))
    top_edge = blended_transform_factory(ax.transData, ax.transAxes)
    any_all_bad = any_some_bad = False
    random = pts["binned"].any()
    s = analysis.summarize(runs, metric) if random else None
    for rule in pd.unique(pts["optimizer"]):
        p = pts[pts["optimizer"] == rule]
        good = p[p["mean"].notna()]
        line = ax.errorbar(good["lr"], good["mean"], yerr=good["std"].fillna(0.0), marker="o", ms=4, capsize=3,
                           label=rule, lw=1.4)
        color = line[0].get_color()
        if random:
            mine = s[(s["optimizer"] == rule) & s["mean"].notna()]
            ax.plot(mine["lr"], mine["mean"], ".", color=color, alpha=0.35, ms=4)
        some = good[good["bad"] > 0]
        if len(some):
            any_some_bad = True
            ax.plot(some["lr"], some["mean"], "o", ms=9, mfc="none", mec=color, mew=1.2)
        allbad = p[p["mean"].isna() & (p["bad"] > 0)]
        if len(allbad):
            any_all_bad = True
            ax.plot(allbad["lr"], [0.97] * len(allbad), "x", color=color, ms=9, mew=2, transform=top_edge,
                    clip_on=False)
    note = _y_scale(ax, pts["mean"], metric)
    ax.set_xscale("log")
    _log_axis(ax.xaxis)
    ax.set_xlabel("learning rate" + (" (log bins of a random search; dots: every configuration)" if random else ""))
    ax.set_ylabel(_metric_label(runs, metric) + "\n(best configuration per lr; bars: std over seeds)")
    if any_all_bad:
        ax.plot([], [], "x", color="0.3", ms=8, mew=2, label="every trial at this lr\ndiverged or failed")
    if any_some_bad:
        ax.plot([], [], "o", color="0.3", mfc="none", ms=9, label="some trials at this lr\ndiverged or failed")
    title = f"{_metric_label(runs, metric)} vs learning rate"
    ax.set_title(title + (f"\n({note})" if note else ""), fontsize=10)
    ax.grid(True, which="major", alpha=0.3)
    _legend_outside(ax)
    return _done(fig, path, own)


# -- curves -----------------------------------------------------------------------------------------

def _best(runs, metric, mode):
    best = analysis.best_per_optimizer(runs, metric, mode)
    axes = [c for c in analysis.varying(runs) if c in best.columns and not c.endswith("_spec")]
    return best, axes


def _label(row, axes) -> str:
    parts = [str(row["optimizer"])]
    short = {"batch_size": "batch", "schedule_settings": "", "weight_decay": "wd"}
    for c in axes:
        v = row.get(c)
        if v is None or (isinstance(v, float) and math.isnan(v)):
            continue
        name = short.get(c, c)
        parts.append(f"{name}={v:g}" if isinstance(v, (int, float, np.number)) else (f"{name}={v}" if name else str(v)))
    if "lr" not in axes and "lr" in row:
        parts.insert(1, f"lr={row['lr']:g}")
    return " ".join(parts)


def _epoch_ticks(ax) -> None:
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")


def _plot_mean(ax, curves, ids, col, label, **kw):
    m = analysis.mean_curve(curves, ids, col)
    m = m[np.isfinite(m["mean"])]
    if m.empty:
        return None
    line, = ax.plot(m.index, m["mean"], label=label, **kw)
    if (m["n"] > 1).any():
        ax.fill_between(m.index, m["mean"] - m["std"], m["mean"] + m["std"], color=line.get_color(), alpha=0.15,
                        lw=0)
    return line


def plot_best_curves(runs, curves, path=None, metric: str = "final_val_loss", mode: str | None = None, ax=None):
    """Each rule's best configuration: validation loss (left) and metric (right) per epoch. ``ax``: a pair of
    axes. Returns the figure."""
    best, axes = _best(runs, metric, mode)
    if ax is None:
        fig, (ax1, ax2) = _pyplot().subplots(1, 2, figsize=(12, 4.4), layout="constrained")
        own = True
    else:
        if not isinstance(ax, (list, tuple, np.ndarray)) or len(ax) != 2:
            raise ConfigError("ax", "plot_best_curves draws two panels: give a pair of axes, e.g. "
                                    "fig.subplots(1, 2)")
        ax1, ax2 = ax
        fig, own = ax1.figure, False
    positive = True
    for _, row in best.iterrows():
        label = _label(row, axes)
        line = _plot_mean(ax1, curves, row["trial_ids"], "val_loss", label)
        kw = {"color": line.get_color()} if line is not None else {}
        _plot_mean(ax2, curves, row["trial_ids"], "val_metric", label, **kw)
        v = curves.loc[curves["trial_id"].isin(row["trial_ids"]), "val_loss"]
        positive &= bool((v.dropna() > 0).all())
    ax1.set_ylabel(f"validation {_loss_name(runs)}")
    ax2.set_ylabel(f"validation {metric_name(runs)}")
    for a in (ax1, ax2):
        _epoch_ticks(a)
        a.grid(True, alpha=0.3)
    if positive and len(ax1.lines):
        ax1.set_yscale("log")
        _log_axis(ax1.yaxis)
    ax1.set_title("validation loss (mean over seeds, band: ±1 std)", fontsize=10)
    ax2.set_title(f"validation {metric_name(runs)}", fontsize=10)
    _legend_outside(ax2, title=f"best per rule, by {_pretty(metric)}", title_fontsize=8)
    return _done(fig, path, own)


def plot_train_val(runs, curves, path=None, metric: str = "final_val_loss", mode: str | None = None, ax=None):
    """Training (solid) against validation (dashed) loss of each rule's best configuration: a gap that
    opens while the training loss falls is overfitting (notes section 11). Returns the figure."""
    best, axes = _best(runs, metric, mode)
    fig, ax, own = _figure(ax, (7.5, 4.4))
    for _, row in best.iterrows():
        label = _label(row, axes)
        line = _plot_mean(ax, curves, row["trial_ids"], "train_loss", f"{label} (train)")
        if line is not None:
            _plot_mean(ax, curves, row["trial_ids"], "val_loss", f"{label} (validation)", ls="--",
                       color=line.get_color())
    vals = curves.loc[curves["trial_id"].isin([t for ids in best["trial_ids"] for t in ids]),
                      ["train_loss", "val_loss"]].to_numpy(dtype=float).ravel()
    vals = vals[np.isfinite(vals)]
    if vals.size and (vals > 0).all() and vals.max() / vals.min() >= 20:
        ax.set_yscale("log")
        _log_axis(ax.yaxis)
    ax.set_ylabel(_loss_name(runs))
    _epoch_ticks(ax)
    ax.grid(True, alpha=0.3)
    ax.set_title("training (solid) vs validation (dashed) loss, best configuration per rule", fontsize=10)
    _legend_outside(ax)
    return _done(fig, path, own)


def _series(runs, curves, steps, column, metric, mode):
    """(label, x, y, xlabel) per rule's best configuration (first seed): per logged step from the step
    table when it has ``column``, else per epoch from the curves."""
    best, axes = _best(runs, metric, mode)
    use_steps = steps is not None and len(steps) and column in steps.columns and steps[column].notna().any()
    out = []
    for _, row in best.iterrows():
        if not row["trial_ids"]:
            continue
        tid = row["trial_ids"][0]
        src = steps if use_steps else curves
        c = src[src["trial_id"] == tid].sort_values("step" if use_steps else "epoch")
        c = c[c[column].notna()]
        if len(c):
            out.append((_label(row, axes), c["step" if use_steps else "epoch"].to_numpy(), c[column].to_numpy()))
    return out, ("step" if use_steps else "epoch")


def plot_grad_norm(runs, curves, path=None, steps=None, metric: str = "final_val_loss", mode: str | None = None,
                   ax=None):
    """The gradient norm before clipping of each rule's best configuration (first seed), per epoch (epoch
    mean) or per logged step with the step table; log y. Returns the figure."""
    series, x = _series(runs, curves, steps, "grad_norm", metric, mode)
    fig, ax, own = _figure(ax, (7.5, 4.2))
    for label, xs, ys in series:
        ax.plot(xs, ys, label=label)
    ys = np.concatenate([s[2] for s in series]) if series else np.zeros(0)
    if ys.size and (ys[np.isfinite(ys)] > 0).all():
        ax.set_yscale("log")
        _log_axis(ax.yaxis)
    if x == "epoch":
        _epoch_ticks(ax)
    else:
        ax.set_xlabel("step")
    ax.set_ylabel("gradient norm (before clipping)" + (", epoch mean" if x == "epoch" else ""))
    ax.set_title("gradient norm, best configuration per rule (first seed)", fontsize=10)
    ax.grid(True, alpha=0.3)
    _legend_outside(ax)
    return _done(fig, path, own)


def plot_lr_schedule(runs, curves, path=None, steps=None, metric: str = "final_val_loss", mode: str | None = None,
                     ax=None):
    """The learning rate the trainer used for each rule's best configuration (first seed): per epoch (the lr
    at the epoch's last step) or per logged step with the step table; log y. Returns the figure."""
    series, x = _series(runs, curves, steps, "lr", metric, mode)
    fig, ax, own = _figure(ax, (7.5, 4.2))
    for label, xs, ys in series:
        ax.step(xs, ys, where="post", label=label)
    ys = np.concatenate([s[2] for s in series]) if series else np.zeros(0)
    if ys.size and (ys > 0).all():
        ax.set_yscale("log")
        _log_axis(ax.yaxis)
    if x == "epoch":
        _epoch_ticks(ax)
    else:
        ax.set_xlabel("step")
    ax.set_ylabel("learning rate")
    ax.set_title("learning-rate schedule, best configuration per rule", fontsize=10)
    ax.grid(True, alpha=0.3)
    _legend_outside(ax)
    return _done(fig, path, own)


# -- lr x batch size ----------------------------------------------------------------------------------

def text_color(rgba) -> str:
    """Black or white, whichever contrasts more with a cell of colour ``rgba`` (WCAG relative luminance)."""
    def lin(c):
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (lin(float(c)) for c in rgba[:3])
    lum = 0.2126 * r + 0.7152 * g + 0.0722 * b
    # contrast with black (lum + 0.05) / 0.05 vs with white 1.05 / (lum + 0.05)
    return "black" if (lum + 0.05) / 0.05 >= 1.05 / (lum + 0.05) else "white"


def lr_batch_table(runs, metric: str = "final_val_loss", optimizer: str | None = None,
                   mode: str | None = None) -> pd.DataFrame:
    """``analysis.lr_batch_grid`` with the lrs of a random search binned (8 log bins, rows labelled by range)."""
    sub = runs if optimizer is None else runs[runs["optimizer"] == optimizer]
    if sub["lr"].nunique() <= RANDOM_DISTINCT:
        return analysis.lr_batch_grid(runs, metric, optimizer, mode)
    s = analysis.summarize(sub, metric)
    lrs = np.log10(s["lr"].astype(float))
    edges = np.linspace(lrs.min(), lrs.max(), 9)
    idx = np.clip(np.searchsorted(edges, lrs, side="right") - 1, 0, 7)
    labels = [f"{10 ** edges[i]:.2g}-{10 ** edges[i + 1]:.2g}" for i in range(8)]
    s["lr"] = pd.Categorical([labels[i] for i in idx], categories=labels, ordered=True)
    agg = "min" if analysis.direction(metric, mode, runs) == "min" else "max"
    return s.pivot_table(index="lr", columns="batch_size", values="mean", aggfunc=agg, observed=True,
                         dropna=False).sort_index()


def plot_lr_batch_heatmap(runs, path=None, metric: str = "final_val_loss", optimizer: str | None = None,
                          mode: str | None = None, ax=None):
    """lr x batch size heatmaps of the best seed-mean ``metric``: one panel per rule (or only ``optimizer``),
    one colour scale. ``ax``: one axes (with ``optimizer``) or one per rule. Returns the figure."""
    from matplotlib.colors import Normalize

    rules = [optimizer] if optimizer is not None else list(pd.unique(runs["optimizer"]))
    if optimizer is not None:
        from .errors import check_choice

        check_choice("optimizer", optimizer, sorted(runs["optimizer"].unique()))
    grids = [lr_batch_table(runs, metric, r, mode) for r in rules]
    if ax is None:
        h = max(len(g.index) for g in grids)
        w = max(len(g.columns) for g in grids)
        fig, axs = _pyplot().subplots(1, len(rules), figsize=(min(1.1 * w + 1.6, 7) * len(rules) + 1.2,
                                                              0.45 * h + 2.0), layout="constrained", squeeze=False)
        axs = list(axs[0])
        own = True
    else:
        axs = list(ax) if isinstance(ax, (list, tuple, np.ndarray)) else [ax]
        if len(axs) != len(rules):
            raise ConfigError("ax", f"one axes per rule: {len(rules)} rule(s) ({', '.join(rules)}), {len(axs)} "
                                    "axes given; or name one with optimizer=")
        fig, own = axs[0].figure, False
    allv = np.concatenate([g.to_numpy(dtype=float).ravel() for g in grids])
    allv = allv[np.isfinite(allv)]
    norm = Normalize(*(allv.min(), allv.max()) if allv.size else (0, 1))
    cmap = _pyplot().get_cmap("viridis_r" if analysis.direction(metric, mode, runs) == "min" else "viridis")
    im = None
    for a, rule, grid in zip(axs, rules, grids):
        data = grid.to_numpy(dtype=float)
        im = a.imshow(np.ma.masked_invalid(data), cmap=cmap, norm=norm, aspect="auto")
        a.set_xticks(range(len(grid.columns)), [str(c) for c in grid.columns])
        a.set_yticks(range(len(grid.index)), [v if isinstance(v, str) else f"{v:g}" for v in grid.index])
        a.set_xlabel("batch size")
        a.set_ylabel("learning rate" + (" (bin)" if isinstance(grid.index, pd.CategoricalIndex) else ""))
        for i in range(data.shape[0]):
            for j in range(data.shape[1]):
                v = data[i, j]
                if np.isfinite(v):
                    a.text(j, i, f"{v:.3g}", ha="center", va="center", fontsize=8, color=text_color(cmap(norm(v))))
                else:
                    a.text(j, i, "x", ha="center", va="center", fontsize=9, color="0.35")
        a.set_title(rule, fontsize=10)
    fig.colorbar(im, ax=axs, label=_metric_label(runs, metric), shrink=0.9)
    if own:
        fig.suptitle(f"{_metric_label(runs, metric)}: best over other settings, mean over seeds "
                     "(x: no configuration trained on every seed)", fontsize=10)
    return _done(fig, path, own)


# -- section 6: trajectories ---------------------------------------------------------------------------

def _surface_model(model, runs=None):
    from . import models

    if hasattr(model, "value"):
        return model
    if isinstance(model, dict):
        spec = dict(model)
        return models.model(spec.pop("name"), **spec)
    if isinstance(model, str) and runs is not None and "model_spec" in runs and (runs["model"] == model).any():
        spec = runs.loc[runs["model"] == model, "model_spec"].iloc[0]
        try:
            spec = json.loads(spec) if spec else {}
        except ValueError:
            spec = {}
        if isinstance(spec, dict) and spec.get("name") == model:
            spec = {k: v for k, v in spec.items() if k != "name"}
            try:
                return models.model(model, **spec)
            except Exception:
                pass
    return models.model(model)


def plot_trajectories(trajectories, model, runs=None, path=None, ax=None, levels: int = 25):
    """Contours of a 2-D test surface with the parameter path of each trial (``trajectories``: columns
    ``trial_id, step, p0, p1, loss``). ``model``: a surface name (its settings read from ``runs``'
    model_spec when given), a spec dict or ``oe.model(...)``. With ``runs`` there is one path per rule
    (its trial with the lowest final loss) labelled with its lr; without, one per trial. Returns the figure."""
    from matplotlib.colors import LogNorm

    m = _surface_model(model, runs)
    fig, ax, own = _figure(ax, (6.8, 5.2))
    t = trajectories.sort_values(["trial_id", "step"])
    paths = {tid: g for tid, g in t.groupby("trial_id", sort=False)}
    labels = {tid: tid for tid in paths}
    if runs is not None and len(paths):
        r = runs[runs["trial_id"].isin(list(paths))]
        chosen = {}
        for rule, g in r.groupby("optimizer", sort=False, observed=True):
            final = {tid: paths[tid]["loss"].iloc[-1] for tid in g["trial_id"]}
            final = {k: (v if np.isfinite(v) else np.inf) for k, v in final.items()}
            tid = min(final, key=final.get)
            row = g[g["trial_id"] == tid].iloc[0]
            extra = "".join(f" {h}={row[h]:g}" for h in ("momentum", "beta1") if h in row and pd.notna(row[h])
                            and g[h].nunique() > 1)
            chosen[tid] = f"{rule} lr={row['lr']:g}{extra}"
        paths = {k: paths[k] for k in chosen}
        labels = chosen
    pts = np.concatenate([g[["p0", "p1"]].to_numpy(dtype=float) for g in paths.values()]) if paths else \
        np.zeros((0, 2))
    pts = pts[np.isfinite(pts).all(axis=1)]
    mx, my = m.minimum
    anchor = np.array([[mx, my]] + ([list(m.start)] if hasattr(m, "start") else []), dtype=float)
    cloud = np.vstack([pts, anchor]) if pts.size else anchor
    lo = np.quantile(cloud, 0.01, axis=0) if len(cloud) > 10 else cloud.min(axis=0)
    hi = np.quantile(cloud, 0.99, axis=0) if len(cloud) > 10 else cloud.max(axis=0)
    lo, hi = np.minimum(lo, anchor.min(axis=0)), np.maximum(hi, anchor.max(axis=0))
    span = np.maximum(hi - lo, 1e-3)
    lo, hi = lo - 0.12 * span, hi + 0.12 * span
    X, Y = np.meshgrid(np.linspace(lo[0], hi[0], 160), np.linspace(lo[1], hi[1], 160))
    Z = np.vectorize(m.value)(X, Y)
    Z = Z - np.nanmin(Z)  # f - min over the window, log spaced: the valley floor stays visible
    top = float(np.nanmax(Z)) if np.nanmax(Z) > 0 else 1.0
    floor = max(1e-4 * top, 1e-12)
    Z = np.maximum(Z, floor)
    lv = np.geomspace(floor, top, levels)
    ax.contourf(X, Y, Z, levels=lv, norm=LogNorm(floor, top), cmap="Greys_r", alpha=0.55)
    ax.contour(X, Y, Z, levels=lv, colors="0.45", linewidths=0.4)
    for tid, g in paths.items():
        p = g[["p0", "p1"]].to_numpy(dtype=float)
        ax.plot(p[:, 0], p[:, 1], "-", lw=1.4, label=labels[tid], marker=".", ms=2)
    if hasattr(m, "start"):
        ax.plot(*m.start, "o", color="black", ms=6, label="start")
    ax.plot(mx, my, "*", color="gold", mec="black", ms=14, label="minimum")
    ax.set_xlim(lo[0], hi[0])
    ax.set_ylim(lo[1], hi[1])
    ax.set_xlabel("parameter 1 (x)")
    ax.set_ylabel("parameter 2 (y)")
    ax.set_title(f"{m.name}: one path per rule, each at its lr (contours: f - min, log spaced)", fontsize=10)
    _legend_outside(ax)
    return _done(fig, path, own)


# -- section 9: steps to target --------------------------------------------------------------------------

def plot_steps_to_target(runs, path=None, ax=None):
    """Steps to the target against batch size on log-log axes, per rule at its best lr per batch size, with
    the perfect-scaling line (steps halve when the batch doubles, through the smallest batch), the fit
    S = S_min (1 + B_crit / B) and its critical batch size (``analysis.critical_batch_size``). Returns the
    figure."""
    table = analysis.steps_to_target_table(runs)
    crit = analysis.critical_batch_size(runs)
    fig, ax, own = _figure(ax, (7.5, 4.6))
    several = table["problem"].nunique() > 1
    first = True
    for (prob, rule), g in table.groupby(["problem", "optimizer"], sort=False):
        g = g.dropna(subset=["steps"]).sort_values("batch_size")
        if not len(g):
            continue
        name = f"{rule} ({prob})" if several else rule
        line, = ax.plot(g["batch_size"], g["steps"], "o-", label=f"{name}: best lr per batch")
        c = line.get_color()
        b0, s0 = float(g["batch_size"].iloc[0]), float(g["steps"].iloc[0])
        B = np.geomspace(b0, float(g["batch_size"].max()), 50)
        ax.plot(B, s0 * b0 / B, ":", color=c, lw=1.2, label="perfect scaling" if first else None)
        row = crit[(crit["problem"] == prob) & (crit["optimizer"] == rule)]
        if len(row) and np.isfinite(row["b_crit"].iloc[0]) and row["b_crit"].iloc[0] > 0:
            bc, smin = float(row["b_crit"].iloc[0]), float(row["s_min"].iloc[0])
            ax.plot(B, smin * (1 + bc / B), "--", color=c, lw=1, alpha=0.8,
                    label="fit S_min (1 + B_crit/B)" if first else None)
            if B.min() / 4 <= bc <= B.max() * 4:
                ax.plot([bc], [2 * smin], "D", color=c, ms=7, mec="black",
                        label=f"{name}: B_crit ≈ {bc:.3g}")
        first = False
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.xaxis.set_major_formatter(_GFormatter())
    _log_axis(ax.yaxis)
    ax.set_xlabel("batch size")
    ax.set_ylabel("steps to target (mean over seeds)")
    ax.set_title("steps to target vs batch size (dotted: perfect scaling; diamond: critical batch size)",
                 fontsize=10)
    ax.grid(True, which="major", alpha=0.3)
    _legend_outside(ax)
    return _done(fig, path, own)


# -- section 10: across problems -------------------------------------------------------------------------

def plot_performance_profile(runs, path=None, metric: str = "final_val_loss", mode: str | None = None, ax=None):
    """Dolan-More performance profiles over the problems in ``runs`` (``analysis.performance_profile``): for
    each rule, the share of problems on which its validation-chosen configuration's test cost is within
    a factor tau of the best rule's. Higher and further left is better. Returns the figure."""
    ratios, profile = analysis.performance_profile(runs, metric, mode)
    fig, ax, own = _figure(ax, (7.0, 4.4))
    ranks = ratios.attrs["mean_rank"]
    for rule in profile.columns:
        ax.step(profile.index, profile[rule], where="post", label=f"{rule} (mean rank {ranks[rule]:.2g})")
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(_GFormatter())
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel(f"tau: within this factor of the best rule's {ratios.attrs['cost']}")
    ax.set_ylabel("share of problems")
    ax.set_title(f"performance profile over {len(ratios)} problems (chosen on {_pretty(metric)}, "
                 f"reported on {ratios.attrs['reported_on'].replace('_', ' ')})", fontsize=10)
    ax.grid(True, alpha=0.3)
    _legend_outside(ax)
    return _done(fig, path, own)


__all__ = ["plot_lr_sensitivity", "plot_best_curves", "plot_train_val", "plot_grad_norm", "plot_lr_schedule",
           "plot_lr_batch_heatmap", "plot_trajectories", "plot_steps_to_target", "plot_performance_profile",
           "lr_points", "lr_batch_table", "text_color", "metric_name"]
