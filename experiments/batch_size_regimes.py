"""Steps to a target validation accuracy against batch size: the three regimes of Shallue et al. (2018).

Shallue, Lee, Antognini, Sohl-Dickstein, Frostig & Dahl, "Measuring the Effects of Data Parallelism on
Neural Network Training" (JMLR 2019, arXiv 1811.03600): with the learning rate (and momentum) tuned
for every batch size, the number of training steps needed to reach a target validation performance
falls as 1/B for small batches (perfect scaling), then more slowly (diminishing returns), then not at
all (maximal data parallelism). This script measures that curve on MNIST-1D.

Setup: ``oe.dataset("mnist1d")`` (3200 train / 800 val / 1000 test), the MLP 40-100-100-10, heavy-ball
momentum 0.9 (Shallue et al.'s main optimizer), constant learning rate, float32. For every batch size
B in 16 ... 1024 a grid of learning rates around a sqrt-scaled centre, lr = c * sqrt(B / 128) with
c in {0.025, 0.05, 0.1, 0.2, 0.4} (wide enough that each batch size's best lies inside; the table
flags a best at the grid's edge); each (B, lr) with ``--seeds`` seeds. A trial's steps to target is
the first step at which the validation accuracy reaches ``--target``; the best lr for a batch size
is the one with the fewest steps (mean over seeds; a seed that never reaches the target counts as
not reaching it). The step budget per batch size is ``--max-steps`` (capped at ``--max-epochs``).

Measurement of steps to target: with the trainer's ``eval_every`` / ``target`` (runs column
``steps_to_target``, issue 12) the validation split is scored every ``eval_every`` steps. Until that
lands, the script falls back to the per-epoch curves: the first epoch end at which the validation
accuracy reached the target, as a step count (``step`` of that curve row = epochs x steps per
epoch). The fallback overstates steps by up to one epoch (3200 / B steps: 200 at B = 16, 4 at B =
1024), so the small-batch end of the curve is coarse; the table says which measurement was used.

Regimes are read off the fitted curve: the slope of log steps against log B between neighbouring
batch sizes (-1: perfect scaling; between -1 and 0: diminishing returns; ~0: maximal data
parallelism). The critical batch size is estimated as the smallest B whose doubling saves less
than a third of the steps (local slope above log2(2/3) ~ -0.58).

    python experiments/batch_size_regimes.py             # writes batch_size_regimes.{md,json,png}
"""

from __future__ import annotations

import argparse
import inspect
import json
import math
import platform
import time
from pathlib import Path

import numpy as np

import optengine as oe
from common import commit  # experiments/common.py (the script's folder is on sys.path)

HERE = Path(__file__).resolve().parent
BATCHES = [16, 32, 64, 128, 256, 512, 1024]
LR_FACTORS = [0.025, 0.05, 0.1, 0.2, 0.4]
MODEL = {"name": "mlp", "hidden": [100, 100], "activation": "relu"}


def has_target_support() -> bool:
    return "target" in inspect.signature(oe.train_pack).parameters


def first_step_reached(curves, trial_ids, target):
    """Per trial: the step at the first epoch end whose validation accuracy >= target (-1: never)."""
    out = []
    for tid in trial_ids:
        c = curves[curves["trial_id"] == tid].sort_values("epoch")
        hit = c[c["val_metric"] >= target]
        out.append(int(hit["step"].iloc[0]) if len(hit) else -1)
    return np.array(out)


def run(seeds, target, max_steps, max_epochs, eval_every, threads):
    ds = oe.dataset("mnist1d")
    native = has_target_support()
    rows = []
    for B in BATCHES:
        per_epoch = math.ceil(ds.n_train / B)
        epochs = min(max_epochs, math.ceil(max_steps / per_epoch))
        lrs = [c * math.sqrt(B / 128) for c in LR_FACTORS]
        trials = [{"optimizer": "momentum", "momentum": 0.9, "lr": lr, "seed": s} for lr in lrs for s in seeds]
        kw = {"eval_every": eval_every, "target": {"val_metric": target}} if native else {}
        t0 = time.perf_counter()
        runs, curves = oe.train_pack(MODEL, ds, trials, batch_size=B, epochs=epochs, threads=threads, **kw)
        wall = time.perf_counter() - t0
        if native and "steps_to_target" in runs.columns:
            steps = runs["steps_to_target"].to_numpy(dtype=np.int64)
        else:
            steps = first_step_reached(curves, list(runs["trial_id"]), target)
        steps = steps.reshape(len(lrs), len(seeds))
        reached = (steps >= 0).all(axis=1)
        mean = np.where(reached, np.where(steps >= 0, steps, 0).mean(axis=1), np.inf)
        best = int(np.argmin(mean))
        rows.append({"batch": B, "epochs": epochs, "steps_per_epoch": per_epoch, "lrs": lrs,
                     "steps": steps.tolist(), "best_lr": lrs[best] if np.isfinite(mean[best]) else None,
                     "best_steps": float(mean[best]) if np.isfinite(mean[best]) else None,
                     "best_at_edge": bool(np.isfinite(mean[best]) and best in (0, len(lrs) - 1)),
                     "wall_s": wall})
        print(f"B={B}: best lr {rows[-1]['best_lr']}, steps {rows[-1]['best_steps']} ({wall:.0f} s)", flush=True)
    return rows, ("steps_to_target (eval_every)" if native else "per-epoch curves (fallback)")


def regimes(rows):
    B = np.array([r["batch"] for r in rows], dtype=float)
    S = np.array([r["best_steps"] if r["best_steps"] is not None else np.nan for r in rows])
    slopes = np.diff(np.log2(S)) / np.diff(np.log2(B))
    labels = ["perfect scaling" if s <= -0.8 else "diminishing returns" if s <= -0.2 else "maximal data parallelism"
              if np.isfinite(s) else "n/a" for s in slopes]
    crit = next((int(B[i]) for i, s in enumerate(slopes) if np.isfinite(s) and s > math.log2(2 / 3)), None)
    return slopes, labels, crit


def plot(rows, target, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    B = np.array([r["batch"] for r in rows], dtype=float)
    S = np.array([r["best_steps"] if r["best_steps"] is not None else np.nan for r in rows])
    fig, ax = plt.subplots(figsize=(6, 4.5), constrained_layout=True)
    ax.loglog(B, S, "o-", label="steps to target (best lr per batch size)")
    i0 = int(np.nanargmin(np.where(np.isfinite(S), B, np.inf)))
    ax.loglog(B, S[i0] * B[i0] / B, "--", color="grey", label="perfect scaling (steps x B constant)")
    _, _, crit = regimes(rows)
    if crit:
        ax.axvline(crit, color="red", lw=1, ls=":", label=f"critical batch size ~ {crit}")
    ax.set_xlabel("batch size")
    ax.set_ylabel(f"steps to validation accuracy {target:.0%}")
    ax.set_xticks(B, [str(int(b)) for b in B])
    ax.set_title("MNIST-1D MLP, momentum 0.9, lr tuned per batch size", fontsize=10)
    ax.legend(fontsize=8)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def table(rows, meta) -> str:
    slopes, labels, crit = regimes(rows)
    lines = ["# Batch size regimes on MNIST-1D (optengine)", "",
             f"Command: `{meta['command']}`  ",
             f"Measured at commit {meta['commit']} on {meta['machine']}; wall time {meta['wall_s']:.0f} s in all "
             "(compilation included).  ",
             f"Steps to target measured with: **{meta['measurement']}**.", "",
             "Published: Shallue et al. 2018 (Figure 1 and section 4): steps to a target fall as 1/B (perfect "
             "scaling), then more slowly (diminishing returns), then stop falling (maximal data parallelism), "
             "with lr tuned per batch size.", "",
             "![steps to target](batch_size_regimes.png)", "",
             f"Target: validation accuracy {meta['target']:.0%}; seeds {meta['seeds']}; momentum 0.9, lr = c x "
             "sqrt(B / 128), c in " + ", ".join(f"{c:g}" for c in LR_FACTORS) + ".", "",
             "| batch | best lr | steps to target | epochs run (steps/epoch) | slope to next B | regime | best lr at "
             "grid edge |", "|---|---|---|---|---|---|---|"]
    for i, r in enumerate(rows):
        sl = f"{slopes[i]:+.2f}" if i < len(slopes) and np.isfinite(slopes[i]) else ""
        lab = labels[i] if i < len(labels) else ""
        lines.append(f"| {r['batch']} | {r['best_lr']:.3g} | {r['best_steps']:.0f} | {r['epochs']} "
                     f"({r['steps_per_epoch']}) | {sl} | {lab} | {'yes' if r['best_at_edge'] else ''} |"
                     if r["best_lr"] is not None else
                     f"| {r['batch']} | not reached | - | {r['epochs']} ({r['steps_per_epoch']}) | | | |")
    lines += ["", f"Critical batch size (first B whose doubling saves less than a third of the steps): "
              f"{crit if crit else 'not reached in this range'}.", ""]
    if meta["measurement"].startswith("per-epoch"):
        lines += ["Note: measured from per-epoch curves (the trainer's `eval_every`/`target` had not landed): a "
                  "trial's steps to target is rounded up to the end of an epoch, up to 3200 / B steps late.", ""]
    return "\n".join(lines)


def main(argv=None):
    import sys

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--target", type=float, default=0.55)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--max-steps", type=int, default=3000)
    ap.add_argument("--max-epochs", type=int, default=120)
    ap.add_argument("--eval-every", type=int, default=10)
    ap.add_argument("--threads", type=int, default=None)
    a = ap.parse_args(argv)
    t0 = time.perf_counter()
    rows, how = run(a.seeds, a.target, a.max_steps, a.max_epochs, a.eval_every, a.threads)
    meta = {"command": "python experiments/batch_size_regimes.py " + " ".join(sys.argv[1:] if argv is None else argv),
            "commit": commit(), "machine": f"{platform.machine()} ({__import__('os').cpu_count()} cores)",
            "wall_s": time.perf_counter() - t0, "target": a.target, "seeds": a.seeds, "measurement": how}
    (HERE / "batch_size_regimes.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    plot(rows, a.target, HERE / "batch_size_regimes.png")
    text = table(rows, meta)
    (HERE / "batch_size_regimes.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
