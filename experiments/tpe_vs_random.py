"""TPE (Optuna, ``[search] kind = "tpe"``) vs random search (``kind = "random"``) with the same budget
on the search space of ``sweeps/mnist1d_optimizers.toml``.

Space: the seven update rules (categorical) x the learning rate, log-uniform over the grid's range
[1e-4, 3e-1] x the schedule (constant, or cosine with 100 warmup steps); momentum 0.9 and AdamW's
weight decay 0.01 fixed, as in the grid. The same MLP 40-100-100-10 on MNIST-1D (3200 / 800 / 1000),
batch 64. Each search gets ``--trials`` configurations (60), each trained once (training seed 0);
TPE asks them in rounds of ``--batch`` (8, the default). Both are scored on validation accuracy
(``final_val_metric``): the best configuration is chosen on validation, and its test accuracy
(``final_test_metric``) is reported. Mean over ``--seeds`` search seeds (0, 1, 2).

The folders go to ``results/tpe_vs_random/<method>-seed<k>`` (resumable: rerunning skips what is
saved). ``--epochs`` reduces training (the grid trains 20 epochs).

    python experiments/tpe_vs_random.py                       # writes tpe_vs_random.json and .md
    python experiments/tpe_vs_random.py --epochs 10 --trials 60 --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np

import optengine as oe

HERE = Path(__file__).resolve().parent
RULES = ["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw"]


def spec(method: str, seed: int, trials: int, epochs: int, batch: int) -> str:
    search = (f'kind = "tpe"\nbatch = {batch}\nobjective = "final_val_metric"\n' if method == "tpe"
              else 'kind = "random"\n')
    return f"""
name = "tpe_vs_random_{method}_{seed}"
seeds = [0]
[model]
name = "mlp"
hidden = [100, 100]
[dataset]
name = "mnist1d"
[train]
epochs = {epochs}
batch_size = 64
[optimizer]
name = {json.dumps(RULES)}
momentum = 0.9
[optimizer.adamw]
weight_decay = 0.01
[schedule]
name = ["constant", "cosine"]
[schedule.cosine]
warmup_steps = 100
[search]
{search}trials = {trials}
seed = {seed}
lr = {{ log_uniform = [1e-4, 3e-1] }}
"""


def summarise(runs) -> dict:
    ok = runs[runs["status"].astype(str) == "ok"]
    best = ok.loc[ok["final_val_metric"].idxmax()]
    val = runs["final_val_metric"].where(runs["status"].astype(str) == "ok").fillna(0.0).to_numpy()
    return {"best_val": float(best["final_val_metric"]), "test_of_best": float(best["final_test_metric"]),
            "chosen": {"optimizer": best["optimizer"], "lr": float(best["lr"]), "schedule": best["schedule"]},
            "best_so_far": np.maximum.accumulate(val).tolist(), "diverged": int((runs["status"] == "diverged").sum()),
            "trials": len(runs)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=60)
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--jobs", type=int, default=None)
    ap.add_argument("--out", default="results/tpe_vs_random")
    a = ap.parse_args(argv)
    rows = {}
    t0 = time.perf_counter()
    for seed in a.seeds:
        for method in ("random", "tpe"):
            t = time.perf_counter()
            runs = oe.run_sweep(spec(method, seed, a.trials, a.epochs, a.batch), Path(a.out) / f"{method}-seed{seed}",
                                jobs=a.jobs)
            rows[f"{method}-{seed}"] = {**summarise(runs), "method": method, "seed": seed,
                                        "seconds": round(time.perf_counter() - t, 1)}
            r = rows[f"{method}-{seed}"]
            print(f"{method:6s} seed {seed}: best val {r['best_val']:.4f}, its test {r['test_of_best']:.4f} "
                  f"({r['chosen']}), {r['seconds']} s", flush=True)
    out = {"trials": a.trials, "epochs": a.epochs, "batch": a.batch, "seeds": a.seeds, "runs": rows,
           "seconds": round(time.perf_counter() - t0, 1), "machine": platform.platform(),
           "cores": __import__("os").cpu_count()}
    for method in ("random", "tpe"):
        mine = [r for r in rows.values() if r["method"] == method]
        out[method] = {k: float(np.mean([r[k] for r in mine])) for k in ("best_val", "test_of_best")}
        out[method]["best_val_std"] = float(np.std([r["best_val"] for r in mine]))
        for n in (10, 20, 40, a.trials):
            out[method][f"best_val_after_{n}"] = float(np.mean([r["best_so_far"][min(n, len(r["best_so_far"])) - 1]
                                                               for r in mine]))
    (HERE / "tpe_vs_random.json").write_text(json.dumps(out, indent=1))
    print(json.dumps({m: out[m] for m in ("random", "tpe")}, indent=1))
    print(f"total {out['seconds']} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
