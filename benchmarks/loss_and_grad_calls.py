"""What a call of ``model.loss_and_grad(params, X, y)`` from Python costs, against the trainer's step.

Run: python benchmarks/loss_and_grad_calls.py [--repeats 7] [--only mlp,gru]   (from a checkout)

Per model family, on the same shapes (64 rows, float32, one thread):

- call: one ``model.loss_and_grad(params, X, y)`` from Python on 64 rows of the training data,
  input checks and conversion included (median over rounds of a loop of calls, after a warm-up
  call); ``evaluate`` and ``forward`` on the same rows are shown beside it;
- step: the trainer's time per step: ``oe.train_pack`` with one SGD trial, batch 64, threads=1,
  run for a short and a long number of epochs in alternating rounds; step = (median long time -
  median short time) / (long steps - short steps) (the ``steps`` column), so the pack's set-up
  cancels and the per-epoch shuffle and 64-row validation pass are shared out over the steps;
- target (issue 15): call <= 2 x step + 50 us.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

if __package__ in (None, ""):  # run as a script: make ``benchmarks`` (and this checkout's optengine) importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import optengine as oe  # noqa: E402
from benchmarks.common import interleaved  # noqa: E402

ROWS = 64           # rows of a Python call = the trainer's batch size
N_TRAIN = 16 * ROWS  # 16 steps per epoch
SLACK_S = 50e-6     # the target's constant
SHORT_EPOCHS = 1
LONG_S = 0.15       # aim for about this much extra training time in the long run


def _arrays(n_features, n_classes=None, seed=0):
    """Training arrays plus a 64-row validation set; classification if ``n_classes``, else regression."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((N_TRAIN + ROWS, n_features)).astype(np.float32)
    y = rng.integers(0, n_classes, N_TRAIN + ROWS) if n_classes else rng.standard_normal(N_TRAIN + ROWS)
    return oe.dataset("arrays", X=X[:N_TRAIN], y=y[:N_TRAIN], X_val=X[N_TRAIN:], y_val=y[N_TRAIN:])


def _dataset_case(model, ds):
    return model, ds, ds.X_train[:ROWS], ds.y_train[:ROWS]


def _surface_case(model):
    from optengine.models.surfaces import noise_dataset

    X, _ = noise_dataset(N_TRAIN, 0)
    return model, {"name": "surface_noise", "n_samples": N_TRAIN}, X[:ROWS], None


CASES = {
    "mlp": lambda: _dataset_case(oe.model("mlp", sizes=[40, 100, 100, 10]), _arrays(40, 10)),
    "linear_regression": lambda: _dataset_case(oe.model("linear_regression", n_features=40), _arrays(40)),
    "softmax_regression": lambda: _dataset_case(oe.model("softmax_regression", n_features=40, n_classes=10),
                                                _arrays(40, 10)),
    "cnn1d": lambda: _dataset_case(oe.model("cnn1d", input_length=40, n_outputs=10), _arrays(40, 10)),
    "rnn": lambda: _dataset_case(oe.model("rnn", seq_len=40, n_outputs=10), _arrays(40, 10)),
    "gru": lambda: _dataset_case(oe.model("gru", seq_len=40, n_outputs=10), _arrays(40, 10)),
    "sparse_logreg": lambda: _dataset_case(
        oe.model("sparse_logreg", vocab_size=2000, n_classes=4),
        oe.dataset("synthetic_text", n_docs=2 * N_TRAIN, vocab_size=2000, n_classes=4, doc_length=40)),
    "rosenbrock": lambda: _surface_case(oe.model("rosenbrock")),
    "noisy_quadratic": lambda: _surface_case(oe.model("noisy_quadratic")),
}
LABELS = {"mlp": "mlp 40-100-100-10", "linear_regression": "linear_regression 40->1",
          "softmax_regression": "softmax_regression 40->10", "cnn1d": "cnn1d 1x40 (25,25,25)->10",
          "rnn": "rnn 40x1 h32->10", "gru": "gru 40x1 h32->10", "sparse_logreg": "sparse_logreg V=2000 C=4",
          "rosenbrock": "rosenbrock", "noisy_quadratic": "noisy_quadratic"}


def per_call(fn, repeats: int) -> float:
    """Median seconds of one ``fn()`` over ``repeats`` rounds of a loop of calls (~20 ms a round)."""
    fn()
    t0 = time.perf_counter()
    fn()
    n = max(1, min(2000, int(0.02 / max(time.perf_counter() - t0, 1e-7))))

    def loop():
        for _ in range(n):
            fn()

    return interleaved({"loop": loop}, repeats)["loop"].median / n


def step_time(model, dataset, repeats: int) -> float:
    """Seconds per trainer step: two epoch counts timed in alternating rounds, the difference per step."""
    trial = [{"optimizer": "sgd", "lr": 1e-4, "seed": 0}]
    steps = {}

    def run(epochs):
        runs, _ = oe.train_pack(model, dataset, trial, batch_size=ROWS, epochs=epochs, dtype="float32", threads=1)
        if runs["status"].iloc[0] != "ok":
            raise RuntimeError(f"{model.name}: the timing trial ended {runs['status'].iloc[0]}")
        steps[epochs] = int(runs["steps"].iloc[0])

    run(SHORT_EPOCHS)  # compile or load the trainer
    t0 = time.perf_counter()
    run(SHORT_EPOCHS + 4)
    rough = (time.perf_counter() - t0) / 4  # per epoch, set-up included: an upper bound
    long_epochs = SHORT_EPOCHS + max(4, min(400, int(LONG_S / max(rough, 1e-6))))
    t = interleaved({"short": lambda: run(SHORT_EPOCHS), "long": lambda: run(long_epochs)}, repeats)
    return max(t["long"].median - t["short"].median, 0.0) / (steps[long_epochs] - steps[SHORT_EPOCHS])


def measure(name: str, repeats: int) -> dict:
    model, dataset, X, y = CASES[name]()
    params = model.init(0, np.float32)
    out = {"family": LABELS[name],
           "call": per_call(lambda: model.loss_and_grad(params, X, y), repeats),
           "evaluate": per_call(lambda: model.evaluate(params, X, y), repeats),
           "step": step_time(model, dataset, repeats)}
    if model.task != "surface":
        out["forward"] = per_call(lambda: model.forward(params, X), repeats)
    out["target"] = 2 * out["step"] + SLACK_S
    out["ratio"] = out["call"] / out["step"] if out["step"] > 0 else float("inf")
    out["ok"] = out["call"] <= out["target"]
    return out


def _us(s) -> str:
    return "-" if s is None else f"{s * 1e6:9.1f}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--only", default="", help=f"comma-separated families of {', '.join(CASES)}")
    args = ap.parse_args(argv)
    names = [n.strip() for n in args.only.split(",") if n.strip()] or list(CASES)
    unknown = [n for n in names if n not in CASES]
    if unknown:
        ap.error(f"unknown families {unknown}; choose from {', '.join(CASES)}")
    print(f"per-call times in us, {ROWS} rows, float32, one thread; target: call <= 2 x step + {SLACK_S * 1e6:.0f} us")
    print(f"{'family':30s} {'call':>9s} {'step':>9s} {'call/step':>9s} {'target':>9s} {'verdict':>7s} "
          f"{'evaluate':>9s} {'forward':>9s}")
    failed = 0
    for name in names:
        r = measure(name, args.repeats)
        failed += not r["ok"]
        print(f"{r['family']:30s} {_us(r['call'])} {_us(r['step'])} {r['ratio']:9.2f} {_us(r['target'])} "
              f"{'PASS' if r['ok'] else 'FAIL':>7s} {_us(r['evaluate'])} {_us(r.get('forward'))}", flush=True)
    print(f"{len(names) - failed}/{len(names)} families within the target")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
