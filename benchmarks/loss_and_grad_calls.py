"""What a call of ``model.loss_and_grad(params, X, y)`` from Python costs, against the trainer's step.

Run: python benchmarks/loss_and_grad_calls.py [--repeats 7] [--only mlp,gru]   (from a checkout)

Per model family, on the same shapes (64 rows, float32, one thread):

- call: one ``model.loss_and_grad(params, X, y)`` from Python on 64 rows of the training data,
  input checks and conversion included (median over rounds of a ~20 ms loop of calls, after a
  warm-up call), with one BLAS thread as in the trainer. Beside it: ``evaluate`` and ``forward``
  on the same rows, and (call*) ``loss_and_grad`` with the BLAS's default thread count, for
  information only: on a busy machine a multi-threaded BLAS product waits for its other threads;
- step: the trainer's time per step: ``oe.train_pack`` with one SGD trial, batch 64, threads=1,
  256 batches an epoch (16 for cnn1d, rnn, gru), run for 1 epoch and for enough epochs to take
  ~0.15 s longer; step = (median long time - median short time) / (long steps - short steps)
  (the ``steps`` column), so the pack's set-up cancels and the per-epoch shuffle and 64-row
  validation pass are shared out over the steps. The call's loop, the short and the long run are
  timed in the same rounds (A, B, C, A, B, C, ...), so a slow spell of the machine hits all three;
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
from optengine.blas import one_blas_thread  # noqa: E402

ROWS = 64            # rows of a Python call = the trainer's batch size
SLACK_S = 50e-6      # the target's constant
SHORT_EPOCHS = 1
LONG_S = 0.15        # aim for about this much more training time in the long run than in the short one
SLOW = ("cnn1d", "rnn", "gru")  # ms-long steps: 16 steps an epoch; the others 256


def _n_train(name):
    return ROWS * (16 if name in SLOW else 256)


def _arrays(name, n_features, n_classes=None, seed=0):
    """Training arrays plus a 64-row validation set; classification if ``n_classes``, else regression."""
    n = _n_train(name)
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n + ROWS, n_features)).astype(np.float32)
    y = rng.integers(0, n_classes, n + ROWS) if n_classes else rng.standard_normal(n + ROWS)
    return oe.dataset("arrays", X=X[:n], y=y[:n], X_val=X[n:], y_val=y[n:])


def _case(name, settings, dataset=None):
    """(model, training data, X and y of a Python call: the first 64 training rows)."""
    model = oe.model(name, **settings)
    if model.task == "surface":
        from optengine.models.surfaces import noise_dataset

        X, _ = noise_dataset(_n_train(name), 0)
        return model, {"name": "surface_noise", "n_samples": _n_train(name)}, X[:ROWS], None
    ds = dataset if dataset is not None else _arrays(name, model.n_features,
                                                     model.n_outputs if model.task == "classification" else None)
    return model, ds, ds.X_train[:ROWS], ds.y_train[:ROWS]


CASES = {
    "mlp": lambda: _case("mlp", {"sizes": [40, 100, 100, 10]}),
    "linear_regression": lambda: _case("linear_regression", {"n_features": 40}),
    "softmax_regression": lambda: _case("softmax_regression", {"n_features": 40, "n_classes": 10}),
    "cnn1d": lambda: _case("cnn1d", {"input_length": 40, "n_outputs": 10}),
    "rnn": lambda: _case("rnn", {"seq_len": 40, "n_outputs": 10}),
    "gru": lambda: _case("gru", {"seq_len": 40, "n_outputs": 10}),
    "sparse_logreg": lambda: _case("sparse_logreg", {"vocab_size": 2000, "n_classes": 4}, oe.dataset(
        "synthetic_text", n_docs=_n_train("sparse_logreg") * 5 // 4, vocab_size=2000, n_classes=4, doc_length=40)),
    "rosenbrock": lambda: _case("rosenbrock", {}),
    "noisy_quadratic": lambda: _case("noisy_quadratic", {}),
}
LABELS = {"mlp": "mlp 40-100-100-10", "linear_regression": "linear_regression 40->1",
          "softmax_regression": "softmax_regression 40->10", "cnn1d": "cnn1d 1x40 (25,25,25)->10",
          "rnn": "rnn 40x1 h32->10", "gru": "gru 40x1 h32->10", "sparse_logreg": "sparse_logreg V=2000 C=4",
          "rosenbrock": "rosenbrock", "noisy_quadratic": "noisy_quadratic"}


def _loop(fn):
    """(a function running ``fn`` n times, n): n calls take about 20 ms (after a warm-up call)."""
    fn()
    t0 = time.perf_counter()
    fn()
    n = max(1, min(2000, int(0.02 / max(time.perf_counter() - t0, 1e-7))))

    def loop():
        for _ in range(n):
            fn()

    return loop, n


def per_call(fn, repeats: int) -> float:
    """Median seconds of one ``fn()`` over ``repeats`` rounds of a loop of calls."""
    loop, n = _loop(fn)
    return interleaved({"loop": loop}, repeats)["loop"].median / n


def trainer_runs(model, dataset):
    """(short run, long run, {epochs: steps}, long run's epochs): ``oe.train_pack`` of one SGD trial
    for SHORT_EPOCHS, and for enough more epochs to take about LONG_S / 2 to LONG_S longer."""
    trial = [{"optimizer": "sgd", "lr": 1e-4, "seed": 0}]
    steps = {}

    def run(epochs):
        runs, _ = oe.train_pack(model, dataset, trial, batch_size=ROWS, epochs=epochs, dtype="float32", threads=1)
        if runs["status"].iloc[0] != "ok":
            raise RuntimeError(f"{model.name}: the timing trial ended {runs['status'].iloc[0]}")
        steps[epochs] = int(runs["steps"].iloc[0])

    run(SHORT_EPOCHS)  # compile or load the trainer
    extra = 2
    while True:  # more epochs until the long run takes LONG_S / 2 more than the short one (or 4096 more epochs)
        t0 = time.perf_counter()
        run(SHORT_EPOCHS)
        t1 = time.perf_counter()
        run(SHORT_EPOCHS + extra)
        more = time.perf_counter() - 2 * t1 + t0
        if more >= LONG_S / 2 or extra >= 4096:
            break
        extra = min(4096, extra * max(2, min(16, int(LONG_S / max(more, 1e-6)))))
    return (lambda: run(SHORT_EPOCHS)), (lambda: run(SHORT_EPOCHS + extra)), steps, SHORT_EPOCHS + extra


def measure(name: str, repeats: int) -> dict:
    """The figures of one family; the call and the step are timed in the same rounds, so that a slow
    spell of a shared machine hits both alike."""
    model, dataset, X, y = CASES[name]()
    params = model.init(0, np.float32)
    out = {"family": LABELS[name]}
    out["call_blas"] = per_call(lambda: model.loss_and_grad(params, X, y), repeats)
    with one_blas_thread():  # as in the trainer
        out["evaluate"] = per_call(lambda: model.evaluate(params, X, y), repeats)
        if model.task != "surface":
            out["forward"] = per_call(lambda: model.forward(params, X), repeats)
        call, n = _loop(lambda: model.loss_and_grad(params, X, y))
        short, long, steps, long_epochs = trainer_runs(model, dataset)
        t = interleaved({"call": call, "short": short, "long": long}, repeats)
    out["call"] = t["call"].median / n
    out["step"] = max(t["long"].median - t["short"].median, 0.0) / (steps[long_epochs] - steps[SHORT_EPOCHS])
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
          f"{'evaluate':>9s} {'forward':>9s} {'call*':>9s}")
    failed = 0
    for name in names:
        r = measure(name, args.repeats)
        failed += not r["ok"]
        print(f"{r['family']:30s} {_us(r['call'])} {_us(r['step'])} {r['ratio']:9.2f} {_us(r['target'])} "
              f"{'PASS' if r['ok'] else 'FAIL':>7s} {_us(r['evaluate'])} {_us(r.get('forward'))} "
              f"{_us(r['call_blas'])}", flush=True)
    print("call*: loss_and_grad with the BLAS's own thread count (information; the dense models' products)")
    print(f"{len(names) - failed}/{len(names)} families within the target")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
