"""Figures of a sweep (matplotlib, written as PNG files; no display needed).

- ``plot_lr_sensitivity``: the metric against the learning rate, one line per optimizer (log x);
  learning rates where every configuration diverged or failed are marked with an x.
- ``plot_best_curves``: each optimizer's best configuration, validation loss per epoch (mean
  over seeds, band = one std), and the validation metric beside it.
- ``plot_lr_batch_heatmap``: lr x batch size, the best seed-mean metric in each cell.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from . import analysis


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path) -> Path:
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp.png")
        fig.savefig(tmp, dpi=110, bbox_inches="tight")
        tmp.replace(path)
    finally:
        _pyplot().close(fig)
    return path


def plot_lr_sensitivity(runs, path, metric: str = "final_val_loss", mode: str | None = None) -> Path:
    plt = _pyplot()
    pivot = analysis.lr_sensitivity(runs, metric, mode)
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    finite = pivot.to_numpy()[np.isfinite(pivot.to_numpy())]
    top = finite.max() if finite.size else 1.0
    for opt in pivot.columns:
        y = pivot[opt]
        line, = ax.plot(pivot.index, y, marker="o", label=opt)
        bad = y.index[y.isna()]
        if len(bad):
            ax.plot(bad, [top] * len(bad), "x", color=line.get_color(), markersize=9)
    ax.set_xscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel(metric.replace("_", " ") + " (mean over seeds)")
    ax.set_title(f"{metric.replace('_', ' ')} vs learning rate (x: diverged or failed)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, ncol=2)
    return _save(fig, path)


def plot_best_curves(runs, curves, path, metric: str = "final_val_loss", mode: str | None = None) -> Path:
    plt = _pyplot()
    best = analysis.best_per_optimizer(runs, metric, mode)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    for _, row in best.iterrows():
        ids = row["trial_ids"]
        label = f"{row['optimizer']} (lr={row['lr']:g})" if "lr" in row else row["optimizer"]
        for ax, col in ((ax1, "val_loss"), (ax2, "val_metric")):
            m = analysis.mean_curve(curves, ids, col)
            if m.empty:
                continue
            line, = ax.plot(m.index, m["mean"], label=label)
            if (m["n"] > 1).any():
                ax.fill_between(m.index, m["mean"] - m["std"], m["mean"] + m["std"], color=line.get_color(),
                                alpha=0.2)
    ax1.set_ylabel("validation loss")
    ax2.set_ylabel("validation metric (accuracy, R², or distance to the minimiser)")
    for ax in (ax1, ax2):
        ax.set_xlabel("epoch")
        ax.grid(True, alpha=0.3)
    ax1.set_yscale("log")
    ax1.legend(fontsize=8)
    fig.suptitle(f"best configuration per optimizer (by {metric.replace('_', ' ')})")
    return _save(fig, path)


def plot_lr_batch_heatmap(runs, path, metric: str = "final_val_loss", optimizer: str | None = None,
                          mode: str | None = None) -> Path:
    plt = _pyplot()
    grid = analysis.lr_batch_grid(runs, metric, optimizer, mode)
    fig, ax = plt.subplots(figsize=(1.2 * len(grid.columns) + 3, 0.5 * len(grid.index) + 2))
    data = grid.to_numpy(dtype=float)
    cmap = "viridis_r" if analysis.direction(metric, mode, runs) == "min" else "viridis"
    im = ax.imshow(np.ma.masked_invalid(data), cmap=cmap, aspect="auto")
    ax.set_xticks(range(len(grid.columns)), [str(c) for c in grid.columns])
    ax.set_yticks(range(len(grid.index)), [f"{v:g}" for v in grid.index])
    ax.set_xlabel("batch size")
    ax.set_ylabel("learning rate")
    for i in range(data.shape[0]):
        for j in range(data.shape[1]):
            ax.text(j, i, "x" if not np.isfinite(data[i, j]) else f"{data[i, j]:.3g}", ha="center", va="center",
                    fontsize=8, color="w")
    fig.colorbar(im, ax=ax, label=metric.replace("_", " "))
    ax.set_title(f"{metric.replace('_', ' ')}: lr x batch size ({optimizer or 'best over optimizers'})")
    return _save(fig, path)


__all__ = ["plot_lr_sensitivity", "plot_best_curves", "plot_lr_batch_heatmap"]
