"""The layer engine's use cases (notes section 13): three sweeps of user-defined architectures.

- ``sweeps/digits_conv2d.toml``: a Conv2d network on scikit-learn's digits images;
- ``sweeps/mnist1d_residual_cnn.toml``: a residual 1-D CNN on MNIST-1D;
- ``sweeps/warmup_deep.toml``: a 10-layer tanh MLP, warmup of 0 / 100 / 400 steps.

For the first two, each (rule, schedule) gets its learning rate chosen on validation accuracy (mean
over seeds) and is reported on test (mean ± std over seeds). For the warmup sweep, every (rule, lr,
warmup) cell is shown: validation-chosen nothing, just the effect of warmup at a high and a moderate lr.

Run: ``python experiments/layers_use_cases.py [--results DIR]`` (runs or resumes the three sweeps into
``DIR/<name>``, default ``results/``), then writes ``experiments/layers_use_cases.md``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

import optengine as oe
from common import commit  # experiments/common.py

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SWEEPS = ("digits_conv2d", "mnist1d_residual_cnn", "warmup_deep")


def compare_table(runs) -> str:
    """Per (optimizer, schedule): the lr with the best mean validation accuracy; its test accuracy."""
    g = runs.groupby(["optimizer", "schedule", "lr"])
    stats = g.agg(val=("final_val_metric", "mean"), test=("final_test_metric", "mean"),
                  test_sd=("final_test_metric", "std"), n=("final_test_metric", "size"),
                  diverged=("status", lambda s: int((s != "ok").sum()))).reset_index()
    rows = ["| rule | schedule | lr (chosen on val) | val acc | test acc (mean ± std over seeds) | not ok |",
            "|---|---|---|---|---|---|"]
    best = stats.loc[stats.groupby(["optimizer", "schedule"]).val.idxmax()]
    for _, r in best.sort_values("val", ascending=False).iterrows():
        rows.append(f"| {r.optimizer} | {'cosine + warmup' if r.schedule == 'cosine' else r.schedule} | {r.lr:g} | "
                    f"{100 * r.val:.1f}% | {100 * r.test:.1f}% ± {100 * r.test_sd:.1f} | {r.diverged} |")
    return "\n".join(rows)


def warmup_table(runs) -> str:
    runs = runs.copy()
    runs["warmup"] = runs["schedule_settings"].str.extract(r"warmup_steps=(\d+)").fillna("0").astype(int)
    g = runs.groupby(["optimizer", "lr", "warmup"])
    stats = g.agg(val=("final_val_metric", "mean"), test=("final_test_metric", "mean"),
                  diverged=("status", lambda s: int((s != "ok").sum())), n=("status", "size")).reset_index()
    rows = ["| rule | lr | warmup steps | val acc | test acc | diverged / seeds |", "|---|---|---|---|---|---|"]
    for _, r in stats.iterrows():
        val = "n/a" if np.isnan(r.val) else f"{100 * r.val:.1f}%"
        test = "n/a" if np.isnan(r.test) else f"{100 * r.test:.1f}%"
        rows.append(f"| {r.optimizer} | {r.lr:g} | {r.warmup} | {val} | {test} | {r.diverged} / {r.n} |")
    return "\n".join(rows)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results", default=str(ROOT / "results"), help="where the sweeps' folders go")
    ap.add_argument("--out", default=str(HERE / "layers_use_cases.md"))
    args = ap.parse_args(argv)
    parts = [f"# The layer engine's use cases (notes section 13)\n\nMeasured at commit {commit()} with "
             f"`python experiments/layers_use_cases.py`. Learning rates are chosen on validation accuracy "
             f"(mean over seeds); test accuracy is reported for the chosen setting only.\n"]
    for name in SWEEPS:
        folder = Path(args.results) / name
        t0 = time.perf_counter()
        runs = oe.run_sweep(str(ROOT / "sweeps" / f"{name}.toml"), str(folder))
        took = time.perf_counter() - t0
        spec = oe.sweep.load_spec(str(ROOT / "sweeps" / f"{name}.toml"))
        parts.append(f"## {name}\n\n{spec.description}. {len(runs)} trials; this call took {took:.0f} s "
                     f"(0 when resumed from a finished folder); training time summed over trials "
                     f"{runs.wall_s.sum():.0f} s.\n")
        parts.append(warmup_table(runs) if name == "warmup_deep" else compare_table(runs))
        parts.append("")
    text = "\n".join(parts) + "\n"
    Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
