"""DeepOBS ``quadratic_deep``: the initial test loss and SGD (lr 0.01) at epoch 100, next to the published figures.

Published: DeepOBS (Schneider, Balles & Hennig 2019) gives the problem's initial test loss, 353.4468;
the Crowded Valley results (Schmidt, Schneider & Hennig 2021) give SGD at lr 0.01 a test loss of
87.29 at epoch 100 (batch 128, 100 epochs: DeepOBS's settings for this problem).

The problem is DeepOBS's, taken from its sources (``optengine/models/quadratic.py`` quotes them): the
loss 0.5 (theta - x)^T Q (theta - x) averaged over the batch, Q's eigenvalues and rotation drawn from
numpy's legacy ``RandomState(42)``, data x ~ N(0, 0.6^2 I_100) from ``RandomState`` seeds 42 (train),
44 (validation), 43 (test), theta starting at ones. DeepOBS scores a split in batches of 128 and
drops the remainder, so its test loss is the mean over the first 896 test draws; the dataset
``quadratic_deep`` does the same. Because the generator and seeds are DeepOBS's, the initial test
loss is reproduced exactly (to the 4 decimals published).

The SGD figure depends on the batch order, which came from TensorFlow's shuffle and cannot be
reproduced; the table gives the mean and spread over seeds. Two protocols differ by design:
DeepOBS drops a random 104 of the 1000 training draws each epoch (7 steps of 128), optengine's
trainer uses all 1000 (8 steps: 7 of 128 and one of 104). The script also runs DeepOBS's exact
protocol in NumPy (same Hessian and data, its drop-remainder batching, numpy permutations) with the
same seeds, so the effect of that difference is measured, not guessed.

    python experiments/deepobs_quadratic_deep.py             # 10 seeds, writes deepobs_quadratic_deep.md
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np

import optengine as oe
from optengine.models.quadratic import reference_loss_grad
from common import commit  # experiments/common.py (the script's folder is on sys.path)

HERE = Path(__file__).resolve().parent
PUBLISHED_INITIAL = 353.4468
PUBLISHED_SGD = 87.29
BATCH, EPOCHS, LR = 128, 100, 0.01
# What we hold and why (written into the table).
TOL_INITIAL = 5e-5   # the published figure's last digit: same generator, same seeds, same 896 test draws
TOL_SGD = 0.25       # ~2.5 x the seed-to-seed std of one run (about 0.1): batch order is not reproducible


def deepobs_protocol_numpy(Q, X_train, X_test, seed, epochs=EPOCHS, batch=BATCH, lr=LR):
    """SGD as DeepOBS runs it: each epoch a fresh permutation, floor(n / batch) full batches (the rest
    dropped), theta -= lr * Q (theta - mean(x_B)); test loss over X_test at the end. float64."""
    rng = np.random.default_rng(seed)
    theta = np.ones(Q.shape[0])
    n = X_train.shape[0]
    for _ in range(epochs):
        order = rng.permutation(n)
        for b in range(n // batch):
            theta = theta - lr * (Q @ (theta - X_train[order[b * batch:(b + 1) * batch]].mean(axis=0)))
    return reference_loss_grad(Q, theta, X_test)[0]


def run(seeds, threads=None):
    t_all = time.perf_counter()
    ds = oe.dataset("quadratic_deep")
    model = oe.model("quadratic_deep")
    assert (ds.n_train, ds.n_val, ds.n_test) == (1000, 896, 896)
    init64 = model.evaluate(model.init(0), ds.X_test, ds.y_test)[0]
    init32 = model.evaluate(model.init(0, np.float32), ds.X_test, ds.y_test)[0]

    t0 = time.perf_counter()
    trials = [{"optimizer": "sgd", "lr": LR, "seed": s} for s in seeds]
    runs, curves = oe.train_pack(model, ds, trials, batch_size=BATCH, epochs=EPOCHS, dtype="float32",
                                 threads=threads)
    wall_engine = time.perf_counter() - t0
    ours = runs["final_test_loss"].to_numpy()
    assert (runs["status"] == "ok").all() and (runs["steps"] == 8 * EPOCHS).all()

    t0 = time.perf_counter()
    deepobs = np.array([deepobs_protocol_numpy(model.hessian, ds.X_train, ds.X_test, s) for s in seeds])
    wall_numpy = time.perf_counter() - t0
    return {"seeds": list(seeds), "initial_test_loss_float64": init64, "initial_test_loss_float32": init32,
            "sgd_test_loss": ours.tolist(), "sgd_val_loss": runs["final_val_loss"].tolist(),
            "deepobs_protocol_numpy": deepobs.tolist(), "wall_engine_s": wall_engine, "wall_numpy_s": wall_numpy,
            "wall_total_s": time.perf_counter() - t_all, "commit": commit(),
            "machine": f"{platform.machine()} ({__import__('os').cpu_count()} cores)"}


def table(r) -> str:
    ours = np.array(r["sgd_test_loss"])
    dob = np.array(r["deepobs_protocol_numpy"])
    n = len(ours)
    d_init = r["initial_test_loss_float64"] - PUBLISHED_INITIAL
    d_sgd = ours.mean() - PUBLISHED_SGD
    ok = lambda b: "yes" if b else "**no**"  # noqa: E731
    lines = [
        "# DeepOBS quadratic_deep (optengine)", "",
        f"Command: `python experiments/deepobs_quadratic_deep.py --seeds {' '.join(map(str, r['seeds']))}`  ",
        f"Measured at commit {r['commit']} on {r['machine']}; wall time {r['wall_total_s']:.0f} s in all "
        f"(engine: {r['wall_engine_s']:.1f} s for the {n} SGD runs as one pack, compilation included; "
        f"NumPy cross-check {r['wall_numpy_s']:.1f} s).", "",
        "Published: initial test loss from DeepOBS (Schneider et al. 2019); SGD lr 0.01 at epoch 100 from the "
        "Crowded Valley results (Schmidt et al. 2021). Batch 128, 100 epochs, float32, theta_0 = 1.", "",
        "| quantity | published | optengine | diff | tolerance held | within |",
        "|---|---|---|---|---|---|",
        f"| initial test loss (theta = 1) | {PUBLISHED_INITIAL:.4f} | {r['initial_test_loss_float64']:.4f} "
        f"(float32 params: {r['initial_test_loss_float32']:.4f}) | {d_init:+.1e} | {TOL_INITIAL:g} | "
        f"{ok(abs(d_init) <= TOL_INITIAL)} |",
        f"| SGD lr 0.01, test loss at epoch 100 | {PUBLISHED_SGD:.2f} | {ours.mean():.2f} ± {ours.std(ddof=1):.2f} "
        f"(mean ± std, {n} seeds; min {ours.min():.2f}, max {ours.max():.2f}) | {d_sgd:+.2f} | ±{TOL_SGD} on the "
        f"mean | {ok(abs(d_sgd) <= TOL_SGD)} |",
        f"| same, DeepOBS's batching in NumPy (7 steps/epoch, remainder dropped) | {PUBLISHED_SGD:.2f} | "
        f"{dob.mean():.2f} ± {dob.std(ddof=1):.2f} | {dob.mean() - PUBLISHED_SGD:+.2f} | ±{TOL_SGD} | "
        f"{ok(abs(dob.mean() - PUBLISHED_SGD) <= TOL_SGD)} |",
        "",
        "Per seed (optengine): " + ", ".join(f"{v:.2f}" for v in ours) + "  ",
        "Per seed (DeepOBS batching, NumPy): " + ", ".join(f"{v:.2f}" for v in dob), "",
        "## Tolerances and why", "",
        f"- **Initial test loss, {TOL_INITIAL:g} (exact to the published digits).** Nothing random is left: the "
        "Hessian comes from numpy's legacy `RandomState(42)` in DeepOBS's order (90 eigenvalues U(0, 1), 10 "
        "U(30, 60), then the Diaconis-Shahshahani rotation), the test draws from `RandomState(43)` cast to "
        "float32, and DeepOBS's evaluation (batches of 128, remainder dropped) scores the first 896 of the 1000 "
        "test draws. Over all 1000 draws the same point gives 353.93: the 896 is what makes the figure match. "
        "(The Hessian is what DeepOBS's module-level generator gives the first `quadratic_deep` built in a "
        "process, which is how its runner builds one.)",
        f"- **SGD at epoch 100, ±{TOL_SGD} on the mean over seeds.** The trajectory depends on the batch order "
        "(TensorFlow's shuffle, seeded by DeepOBS's runner), which cannot be replayed here; one run's final test "
        f"loss varies by about {ours.std(ddof=1):.2f} (std) between seeds, and the published figure is itself "
        "a statistic of seeded runs. The test loss is 86.93 at theta = 0 (the minimiser of the expected "
        "loss) and 87.05 at the mean of the training draws (the training loss's minimiser); the rest of the gap "
        "is SGD's noise and the eigen-directions with eigenvalues below about 0.1, which 700-800 steps at lr "
        "0.01 leave unconverged, so the figure depends on the number of steps: optengine's trainer takes 8 steps per epoch (all 1000 draws: 7 batches of 128 "
        "and one of 104) where DeepOBS takes 7 (a random 104 dropped each epoch). The NumPy row runs "
        "DeepOBS's batching exactly (same Hessian and data, numpy permutations) to measure that difference.",
        "",
    ]
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=list(range(10)))
    ap.add_argument("--threads", type=int, default=None)
    a = ap.parse_args(argv)
    r = run(a.seeds, a.threads)
    (HERE / "deepobs_quadratic_deep.json").write_text(json.dumps(r, indent=1))
    text = table(r)
    (HERE / "deepobs_quadratic_deep.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
