"""Adam + L2 versus AdamW: learning rate x weight decay heatmaps (Loshchilov & Hutter 2019, Figure 2).

Loshchilov & Hutter ("Decoupled Weight Decay Regularization", ICLR 2019) show that with Adam + L2 the
best weight decay moves with the learning rate (the good region of the lr x decay plane is a
diagonal), while with decoupled decay the two separate (the good region is axis-aligned), so they
can be tuned one after the other. Their AdamW multiplies the decay by the schedule multiplier eta_t
only: theta -= eta_t (alpha m_hat / (sqrt(v_hat) + eps) + lambda theta). The notes and
torch.optim.AdamW multiply it by the learning rate itself: theta -= lr_t (m_hat / (...) + lambda theta),
so the per-step decay is alpha * lambda and moves with alpha. This script runs three 5 x 5 grids with
the same learning rates (factor-2 steps over 16x, where Adam trains this model in the epochs given):

- ``adam_l2``: Adam with coupled L2 (``adam``, ``l2 = lambda``);
- ``adamw_lr``: AdamW as in torch (``adamw``, ``weight_decay = lambda``, decay lr_t * lambda);
- ``adamw_schedule``: AdamW as in the paper (``adamw``, ``schedule_decay = true``, decay eta_t * lambda).

Problem: MNIST-1D (``oe.dataset("mnist1d")``: 3200 train / 800 val / 1000 test), the MLP 40-100-100-10,
batch 100, cosine schedule to 0, float32. Each cell is the mean over ``--seeds`` (default 0 and 1). The
decay grids differ by parameterisation (an L2 coefficient, a per-lr decay, a per-step decay are
different quantities), each in half-decade steps over two decades, centred where that knob's best
value lies (an L2 coefficient near 1e-3, a torch weight decay near 1, a per-step decay near 1e-2).

Choice on validation, report on test: in every lr row the best decay is the one with the lowest
final validation loss (``--choose val_acc`` for accuracy); the heatmaps show the test error of every
cell and mark the validation-chosen cell of each row (dot) and of the grid (star).

"Separation" is measured as the slope of log10(best decay) against log10(lr) over the rows: 0 means
the best decay does not move with the learning rate (separated), -1 that it moves inversely (the
product lr x decay is what matters). On a 5 x 5 grid the per-row best is coarse, so the slope is also computed from a smoothed best decay: the mean of
log10(decay) weighted by exp(-(val_loss - row_min) / 0.02) (a soft argmin, which stays between grid
points).

    python experiments/adamw_decay_heatmap.py               # writes adamw_decay_heatmap.{md,json,png}
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np

import optengine as oe
from common import commit  # experiments/common.py (the script's folder is on sys.path)

HERE = Path(__file__).resolve().parent
LRS = [1e-3, 2e-3, 4e-3, 8e-3, 1.6e-2]
VARIANTS = {
    "adam_l2": {"optimizer": "adam", "knob": "l2", "decays": [1e-4, 3e-4, 1e-3, 3e-3, 1e-2],
                "title": "Adam + L2 (l2)"},
    "adamw_lr": {"optimizer": "adamw", "knob": "weight_decay", "decays": [0.1, 0.3, 1.0, 3.0, 10.0],
                 "title": "AdamW, decay x lr_t (torch, notes)"},
    "adamw_schedule": {"optimizer": "adamw", "knob": "weight_decay", "extra": {"schedule_decay": True},
                       "decays": [3e-4, 1e-3, 3e-3, 1e-2, 3e-2], "title": "AdamW, decay x eta_t (Loshchilov & Hutter)"},
}
MODEL = {"name": "mlp", "hidden": [100, 100], "activation": "relu"}
SOFT_T = 0.02


def run(epochs, seeds, batch, threads):
    ds = oe.dataset("mnist1d")
    out = {}
    for key, v in VARIANTS.items():
        trials = [{"optimizer": v["optimizer"], "lr": lr, v["knob"]: d, **v.get("extra", {}),
                   "schedule": {"name": "cosine"}, "seed": s}
                  for lr in LRS for d in v["decays"] for s in seeds]
        t0 = time.perf_counter()
        runs, _ = oe.train_pack(MODEL, ds, trials, batch_size=batch, epochs=epochs, threads=threads)
        wall = time.perf_counter() - t0
        shape = (len(LRS), len(v["decays"]), len(seeds))
        grab = lambda c: runs[c].to_numpy(dtype=float).reshape(shape).mean(axis=2)  # noqa: E731
        out[key] = {"val_loss": grab("final_val_loss").tolist(), "val_acc": grab("final_val_metric").tolist(),
                    "test_acc": grab("final_test_metric").tolist(), "diverged": int((runs["status"] != "ok").sum()),
                    "wall_s": wall}
        print(f"{key}: {wall:.0f} s", flush=True)
    return out


def best_per_row(res, decays, choose):
    score = np.array(res["val_loss"]) if choose == "val_loss" else -np.array(res["val_acc"])
    score = np.where(np.isfinite(score), score, np.inf)
    idx = score.argmin(axis=1)
    logd = np.log10(decays)
    w = np.exp(-(score - score.min(axis=1, keepdims=True)) / (SOFT_T if choose == "val_loss" else 0.01))
    soft = (w * logd).sum(axis=1) / w.sum(axis=1)
    hard = logd[idx]
    slope = lambda y: float(np.polyfit(np.log10(LRS), y, 1)[0])  # noqa: E731
    return idx, hard, soft, slope(hard), slope(soft)


def tolerated_slope(res, decays, points=2.0):
    """Per lr row, the largest decay whose validation accuracy is within ``points`` of the row's best; the
    slope of its log10 against log10(lr) (the edge of the good region: 0 = a vertical edge)."""
    acc = 100 * np.nan_to_num(np.array(res["val_acc"]), nan=0.0)
    edge = np.array([np.log10(decays[np.flatnonzero(row >= row.max() - points).max()]) for row in acc])
    return edge, float(np.polyfit(np.log10(LRS), edge, 1)[0])


def plot(results, choose, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.6), constrained_layout=True)
    for ax, (key, v) in zip(axes, VARIANTS.items()):
        res = results[key]
        err = 100 - 100 * np.array(res["test_acc"])
        im = ax.imshow(err, origin="lower", cmap="viridis_r", vmin=np.nanmin(err), vmax=min(np.nanmax(err), 60))
        for i in range(len(LRS)):
            for j in range(len(v["decays"])):
                val = err[i, j]
                ax.text(j, i, "div" if not np.isfinite(val) else f"{val:.1f}", ha="center", va="center",
                        fontsize=8, color="black", bbox={"facecolor": "white", "alpha": 0.6, "lw": 0, "pad": 1})
        idx, *_ = best_per_row(res, np.array(v["decays"]), choose)
        ax.plot(idx, np.arange(len(LRS)), "o-", color="red", ms=5, lw=1, label="best decay per lr (validation)")
        score = np.array(res["val_loss"]) if choose == "val_loss" else -np.array(res["val_acc"])
        bi, bj = np.unravel_index(np.nanargmin(np.where(np.isfinite(score), score, np.inf)), score.shape)
        ax.plot(bj, bi, "*", color="white", mec="black", ms=16, label="best cell (validation)")
        ax.set_xticks(range(len(v["decays"])), [f"{d:g}" for d in v["decays"]])
        ax.set_yticks(range(len(LRS)), [f"{lr:g}" for lr in LRS])
        ax.set_xlabel("l2" if v["knob"] == "l2" else "weight_decay")
        ax.set_ylabel("learning rate (cosine schedule from it)")
        ax.set_title(v["title"], fontsize=10)
        fig.colorbar(im, ax=ax, label="test error (%)", shrink=0.85)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=2, fontsize=9, frameon=False)
    fig.suptitle("MNIST-1D MLP: test error over learning rate x weight decay; marks chosen on validation", fontsize=11)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def table(results, meta, choose) -> str:
    lines = ["# Adam + L2 versus AdamW: learning rate x weight decay (optengine)", "",
             f"Command: `{meta['command']}`  ",
             f"Measured at commit {meta['commit']} on {meta['machine']}; wall time {meta['wall_s']:.0f} s in all "
             f"({75 * len(meta['seeds'])} trials x {meta['epochs']} epochs, compilation included).", "",
             "Published: Loshchilov & Hutter 2019, Figure 2 (CIFAR-10, ResNet, SGD/Adam with L2 vs decoupled decay): "
             "with L2 the best weight decay moves with the learning rate, decoupled the good region is "
             "axis-aligned. Here: MNIST-1D MLP 40-100-100-10, batch 100, cosine to 0, "
             f"seeds {meta['seeds']}, choice by final {choose.replace('_', ' ')}, test error reported.", "",
             "![heatmaps](adamw_decay_heatmap.png)", "",
             "| parameterisation | best decay per lr (lr = " + ", ".join(f"{lr:g}" for lr in LRS) + ") | "
             "slope of log best decay vs log lr (grid / soft) | largest decay within 2 points of the row's best "
             "validation accuracy, per lr | its slope | best cell (validation) | its test error |",
             "|---|---|---|---|---|---|---|"]
    for key, v in VARIANTS.items():
        res = results[key]
        decays = np.array(v["decays"])
        idx, hard, soft, s_hard, s_soft = best_per_row(res, decays, choose)
        score = np.array(res["val_loss"]) if choose == "val_loss" else -np.array(res["val_acc"])
        bi, bj = np.unravel_index(np.nanargmin(np.where(np.isfinite(score), score, np.inf)), score.shape)
        err = 100 - 100 * np.array(res["test_acc"])
        lines.append(f"| {v['title']} | " + ", ".join(f"{decays[i]:g}" for i in idx) +
                     f" | {s_hard:+.2f} / {s_soft:+.2f} | "
                     + ", ".join(f"{10 ** e:g}" for e in tolerated_slope(res, decays)[0])
                     + f" | {tolerated_slope(res, decays)[1]:+.2f} | lr {LRS[bi]:g}, {v['knob']} {decays[bj]:g} | "
                     f"{err[bi, bj]:.1f}% |")
    soft = {VARIANTS[k]["title"]: best_per_row(results[k], np.array(VARIANTS[k]["decays"]), choose)[4]
            for k in VARIANTS}
    order = sorted(soft, key=lambda k: abs(soft[k]))
    lines += ["", f"**Finding (this run).** Closest to separated (soft slope nearest 0): {order[0]} "
              f"({soft[order[0]]:+.2f}); then {order[1]} ({soft[order[1]]:+.2f}); then {order[2]} "
              f"({soft[order[2]]:+.2f}). A slope of s means the best decay grows by a factor 2^s per doubling of "
              "the learning rate, so over this grid's 16x range of lr it moves by 16^s: " +
              ", ".join(f"{k.split(' (')[0].split(',')[0] if k.startswith('Adam +') else k}: x{16 ** soft[k]:.1f}"
                        for k in order) + ".",
              "", "The edge of the good region (largest decay that costs at most 2 points of validation accuracy "
              "in its row) is the other measure of separation: its slope is " + ", ".join(
                  f"{VARIANTS[k]['title']}: {tolerated_slope(results[k], np.array(VARIANTS[k]['decays']))[1]:+.2f}"
                  for k in VARIANTS) + ". A vertical edge (slope 0) means the decay that starts to hurt does not "
              "depend on the lr. Choosing by validation loss (cross-entropy) favours more decay than test "
              "accuracy does at the largest lr (calibration, not accuracy): compare the marks with the colours.",
              "", "Against the paper: Loshchilov & Hutter find the decoupled basin axis-aligned (slope ~0 in their "
              "parameterisation). On this small problem no parameterisation separates the two knobs: the best decay "
              "grows with the learning rate in all three grids, which is what one expects when a larger lr both "
              "trains faster within the fixed 30 epochs and overfits more, so it wants more regularisation. "
              "Per step, the torch form decays by lr_t x weight_decay, so its best per-step decay grows as lr^(1 + "
              "slope); the paper's form decays by eta_t x weight_decay, so its slope is the per-step decay's "
              "directly. In these terms the two AdamW forms agree (both want a per-step decay growing roughly as "
              "lr^1.3-1.5) and differ only in which knob absorbs it: with the torch form the lr carries most of "
              "it, which is why that form's weight_decay moves least. Limits: 5 x 5 cells, 2 seeds, one model; "
              "the slopes' uncertainty is not estimated (a neighbouring cell changes a grid slope by about 0.3).",
              "", "Slope 0: the best decay does not move with the learning rate (lr and decay separate); "
              "slope -1: it moves inversely (only their product matters). 'soft' is the slope of the "
              f"validation-weighted mean of log10(decay) per row (weights exp(-(loss - row min) / {SOFT_T})).", ""]
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--choose", choices=["val_loss", "val_acc"], default="val_loss")
    ap.add_argument("--replot", action="store_true", help="rewrite the .md and .png from the saved .json")
    a = ap.parse_args(argv)
    if a.replot:
        saved = json.loads((HERE / "adamw_decay_heatmap.json").read_text())
        results, meta = saved["results"], saved["meta"]
    else:
        results, meta = measure(a, argv)
    plot(results, a.choose, HERE / "adamw_decay_heatmap.png")
    text = table(results, meta, a.choose)
    (HERE / "adamw_decay_heatmap.md").write_text(text)
    print(text)


def measure(a, argv):
    t0 = time.perf_counter()
    results = run(a.epochs, a.seeds, a.batch, a.threads)
    meta = {"command": "python experiments/adamw_decay_heatmap.py " + " ".join(argv if argv is not None else
                                                                                 __import__("sys").argv[1:]),
            "commit": commit(), "machine": f"{platform.machine()} ({__import__('os').cpu_count()} cores)",
            "wall_s": time.perf_counter() - t0, "epochs": a.epochs, "seeds": a.seeds,
            "lrs": LRS, "decays": {k: v["decays"] for k, v in VARIANTS.items()}}
    (HERE / "adamw_decay_heatmap.json").write_text(json.dumps({"meta": meta, "results": results}, indent=1))
    return results, meta


if __name__ == "__main__":
    main()
