"""Shared pieces of W2-W5 and C2: the layer engine's networks against their PyTorch twins.

The problems (``PROBLEMS``):

- ``cnn1d``  MNIST-1D, ``oe.model("cnn1d", preset="mnist1d")``: Conv1d(1,25,5,2,1)+ReLU,
  Conv1d(25,25,3,2,1)+ReLU x2, flatten, Linear(125,10); batch 100;
- ``gru``    MNIST-1D, ``oe.model("gru", preset="mnist1d")``: bidirectional GRU, hidden 6, Linear on
  all 40 steps' outputs; batch 100;
- ``conv2d`` sklearn digits (8x8 images, input [1, 8, 8]), ``oe.model("sequential", layers=DIGITS_LAYERS)``:
  Conv2d(1,16,3,p1)+ReLU, MaxPool2d(2), Conv2d(16,32,3,p1)+ReLU, global average pool, Linear(32,10);
  batch 64;
- ``sparse`` the synthetic bag-of-words text set of ``sweeps/text_sparse_adaptive.toml`` (read from it),
  ``sparse_logreg`` (softmax regression on token counts, dense update as the engine documents) against
  ``nn.EmbeddingBag(mode="sum", per_sample_weights)`` + bias; batch 32 (the sweep's).

Two measurements, each in interleaved rounds (medians), float32, compilation excluded (the engine is
warmed first; its first call in the harness process is reported on its own):

- ``bench_pack``: 28 trials = 14 learning rates (log-spaced 1e-4..1e-1) x {adam, momentum}, seed 0:
  one ``oe.train_pack(threads=2)`` (trainer threads, one BLAS thread) against PyTorch, one trial per
  joblib (loky) task, 2 workers x 1 torch thread (as W1);
- ``bench_single``: one trial, ``oe.train(threads=1)`` against PyTorch in this process with
  ``torch.set_num_threads(1)``.

Every PyTorch model starts from the engine's initial weights (``model.init(0)``, copied tensor after
tensor; checked by comparing the two forward passes on validation rows), trains on the same arrays
with the same batch size, epochs and hyperparameters, shuffles every epoch, evaluates the validation
set after every epoch and the test split once at the end, as the engine does.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from . import torch_baseline
from .common import ROOT, STATUS_OK, Ctx, Measurement, Target, fmt, interleaved, md_table, ratio

LAYER_BENCHES = ("W2", "W3", "W4", "W5", "C2")
TITLES = {"W2": "W2: MNIST-1D 1-D CNN (layer engine)", "W3": "W3: MNIST-1D GRU (layer engine)",
          "W4": "W4: digits 2-D CNN (layer engine)", "W5": "W5: sparse bag-of-words logistic regression (layer engine)",
          "C2": "C2: layer engine start-up (cold, warm, no recompile)"}

PACK_RULES = ("adam", "momentum")
PACK_LRS = tuple(float(x) for x in np.logspace(-4, -1, 14))
DTYPE = "float32"
TEXT_SPEC = ROOT / "sweeps" / "text_sparse_adaptive.toml"

# The 2-D CNN of W4, defined once (the engine's layer list; build_net's "conv2d" is its PyTorch twin).
DIGITS_LAYERS = [{"type": "conv2d", "channels": 16, "kernel": 3, "padding": 1}, {"type": "relu"},
                 {"type": "maxpool2d", "kernel": 2},
                 {"type": "conv2d", "channels": 32, "kernel": 3, "padding": 1}, {"type": "relu"},
                 {"type": "global_avg_pool"}, {"type": "dense"}]


@dataclass
class Problem:
    key: str
    title: str
    batch: int
    single: dict            # the single trial: optimizer, lr
    epochs_full: int
    epochs_quick: int = 1


PROBLEMS = {
    "cnn1d": Problem("cnn1d", "MNIST-1D, cnn1d preset mnist1d", 100, {"optimizer": "adam", "lr": 3e-3}, 2),
    "gru": Problem("gru", "MNIST-1D, gru preset mnist1d (bidirectional, hidden 6, output all)", 100,
                   {"optimizer": "adam", "lr": 3e-3}, 2),
    "conv2d": Problem("conv2d", "digits 8x8, conv2d 16 / maxpool / conv2d 32 / global avg pool / dense", 64,
                      {"optimizer": "adam", "lr": 3e-3}, 5),
    "sparse": Problem("sparse", "synthetic_text (text_sparse_adaptive.toml), sparse_logreg", 32,
                      {"optimizer": "adam", "lr": 1e-2}, 10),
}


@dataclass
class LayerSizes:
    """Epochs per problem (W2 cnn1d 2, W3 gru 2, W4 conv2d 5, W5 sparse 10 as its sweep; quick: 1 each)."""

    epochs: dict = field(default_factory=lambda: {k: p.epochs_full for k, p in PROBLEMS.items()})

    @classmethod
    def full(cls) -> "LayerSizes":
        return cls()

    @classmethod
    def quick(cls) -> "LayerSizes":
        return cls({k: p.epochs_quick for k, p in PROBLEMS.items()})

    def text(self) -> str:
        return "layer engine epochs " + ", ".join(f"{k} {v}" for k, v in self.epochs.items())


def layer_sizes(ctx: Ctx) -> LayerSizes:
    if "layer_sizes" not in ctx.cache:
        ctx.cache["layer_sizes"] = LayerSizes.quick() if ctx.quick else LayerSizes.full()
    return ctx.cache["layer_sizes"]


def pack_trials(seed: int = 0) -> list:
    """The 28 trials: rule-major, then the 14 learning rates."""
    return [{"optimizer": r, "lr": lr, "seed": seed} for r in PACK_RULES for lr in PACK_LRS]


# -- problems -----------------------------------------------------------------------------------------

def text_dataset_settings() -> dict:
    """The [dataset] table of sweeps/text_sparse_adaptive.toml (the bundled sparse text example)."""
    try:
        import tomllib
    except ImportError:  # Python < 3.11
        import tomli as tomllib
    spec = tomllib.loads(TEXT_SPEC.read_text())
    return dict(spec["dataset"]), dict(spec["model"])


def _engine_problem(key: str):
    """(dataset, model, torch spec) of a problem."""
    import optengine as oe
    from optengine.models.sequence_models import PRESETS

    if key == "cnn1d":
        ds = oe.dataset("mnist1d")
        model = oe.model("cnn1d", preset="mnist1d")
        p = PRESETS["cnn1d"]["mnist1d"]
        spec = {"kind": "cnn1d", "in_channels": p["in_channels"], "length": p["input_length"],
                "channels": p["channels"], "kernel": p["kernel_size"], "stride": p["stride"],
                "padding": p["padding"], "n_outputs": p["n_outputs"]}
    elif key == "gru":
        ds = oe.dataset("mnist1d")
        model = oe.model("gru", preset="mnist1d")
        p = PRESETS["gru"]["mnist1d"]
        spec = {"kind": "gru", **{k: p[k] for k in ("seq_len", "input_size", "hidden_size", "bidirectional",
                                                     "head", "n_outputs")}}
    elif key == "conv2d":
        ds = oe.dataset("digits")
        shape = list(ds.info["input_shape"])
        model = oe.model("sequential", layers=DIGITS_LAYERS, input_shape=shape, n_outputs=ds.n_outputs)
        spec = {"kind": "conv2d", "in_channels": shape[0], "channels": (16, 32), "n_outputs": ds.n_outputs}
    elif key == "sparse":
        ds_settings, model_settings = text_dataset_settings()
        ds = oe.dataset(ds_settings.pop("name"), **ds_settings)
        model = oe.model("sparse_logreg", vocab_size=ds.n_features, n_classes=ds.n_outputs,
                         init=model_settings.get("init", "zeros"))
        spec = {"kind": "sparse", "vocab_size": ds.n_features, "n_outputs": ds.n_outputs}
    else:
        raise ValueError(key)
    return ds, model, spec


def padded_bags(X) -> tuple:
    """A CSR bag-of-words matrix as (token ids int64, counts float32), both (documents, slots): each row's
    tokens first, then id 0 with count 0 up to the longest document (EmbeddingBag's 2-D input)."""
    import scipy.sparse as sp

    A = sp.csr_matrix(X)
    nnz = np.diff(A.indptr)
    width = max(1, int(nnz.max()) if nnz.size else 1)
    ids = np.zeros((A.shape[0], width), dtype=np.int64)
    counts = np.zeros((A.shape[0], width), dtype=np.float32)
    rows = np.repeat(np.arange(A.shape[0]), nnz)
    slots = np.arange(A.nnz) - np.repeat(A.indptr[:-1], nnz)
    ids[rows, slots] = A.indices
    counts[rows, slots] = A.data
    return ids, counts


def torch_data(key: str, ds) -> tuple:
    """(X, y, Xv, yv, Xt, yt) in PyTorch's input layout (float32 / int64), the engine's arrays reshaped."""
    def feats(X):
        if key == "sparse":
            return padded_bags(X)
        X = np.ascontiguousarray(X, dtype=np.float32)
        if key == "cnn1d":
            return X.reshape(X.shape[0], 1, -1)                 # (N, channels 1, length)
        if key == "gru":
            return X.reshape(X.shape[0], -1, 1)                 # (N, steps, inputs 1), batch_first
        if key == "conv2d":
            return X.reshape(X.shape[0], *ds.info["input_shape"])  # (N, 1, 8, 8)
        return X

    def labels(y):
        return np.asarray(y, dtype=np.int64)

    test = (feats(ds.X_test), labels(ds.y_test)) if getattr(ds, "X_test", None) is not None else (None, None)
    return (feats(ds.X_train), labels(ds.y_train), feats(ds.X_val), labels(ds.y_val), *test)


def problem(ctx: Ctx, key: str) -> dict:
    """The problem's dataset, model, torch spec and data; cached for the run."""
    ck = f"layers_problem_{key}"
    if ck not in ctx.cache:
        ds, model, spec = _engine_problem(key)
        ctx.cache[ck] = {"ds": ds, "model": model, "spec": spec, "data": torch_data(key, ds),
                         "problem": PROBLEMS[key], "epochs": layer_sizes(ctx).epochs[key]}
    return ctx.cache[ck]


def torch_init(ctx: Ctx, key: str) -> tuple[dict, str]:
    """({seed 0: the engine's initial vector}, note) when the PyTorch twin takes the engine's flat vector
    and computes the same forward pass with it (checked on 50 validation rows with random weights, N(0,
    0.3), so that a zero init checks something too); else ({}, why): the twin keeps torch's own init."""
    P = problem(ctx, key)
    if "torch_init" in P:
        return P["torch_init"]
    import torch

    model, data = P["model"], P["data"]
    init = model.init(0, np.float32)
    probe = np.random.default_rng(0).normal(0.0, 0.3, model.n_params).astype(np.float32)
    try:
        with torch_baseline.single_thread():
            net = torch_baseline.build_net(torch, P["spec"], probe)
            rows = slice(0, 50)
            xv = torch_baseline._take(torch_baseline._tensors(torch, data[2]), rows)
            with torch.no_grad():
                got = net(xv).numpy()
        Xv = P["ds"].X_val[:50]
        want = model.forward(probe, Xv)
        diff = float(np.max(np.abs(got - want)))
        scale = max(1.0, float(np.max(np.abs(want))))
        if not np.isfinite(diff) or diff > 1e-3 * scale:
            out = ({}, f"torch's own init: the forward passes differ from the engine's by {diff:.2g} with the same "
                       "weights")
        else:
            out = ({0: init}, f"same initial weights (forward passes with one weight vector agree to {diff:.1e})")
    except Exception as exc:
        out = ({}, f"torch's own init ({type(exc).__name__}: {str(exc)[:120]})")
    P["torch_init"] = out
    ctx.log(f"  {key}: torch twin: {out[1]}")
    return out


# -- optengine calls ------------------------------------------------------------------------------------

def first_call(ctx: Ctx, key: str) -> dict:
    """The engine's first call on this problem in this process (2 trials, 1 epoch, threads=2): it compiles
    the driver or loads it from the numba cache (untimed by the rounds; reported on its own)."""
    P = problem(ctx, key)
    if "first" not in P:
        import optengine as oe

        t0 = time.perf_counter()
        runs, _ = oe.train_pack(P["model"], P["ds"], pack_trials()[:2], batch_size=P["problem"].batch, epochs=1,
                                dtype=DTYPE, threads=2)
        wall = time.perf_counter() - t0
        P["first"] = {"wall_s": wall, "compile_s": float(runs["compile_s"].sum()),
                      "ok": bool((runs["status"] == "ok").all())}
        ctx.log(f"  {key}: first engine call in this process {wall:.2f} s (compile / cache load "
                f"{P['first']['compile_s']:.2f} s)")
    return P["first"]


def _add_first(ctx: Ctx, bench: str, key: str) -> None:
    f = first_call(ctx, key)
    ctx.add(Measurement(bench, "first call in the harness process", "optengine train_pack", "wall time",
                        value=f["wall_s"], unit="s", repeats=1, median_s=f["wall_s"],
                        note=f"2 trials, 1 epoch; compile or numba-cache load {f['compile_s']:.2f} s of it "
                             "(a cold start in a fresh process: C2)"))


def _best(rows) -> dict:
    best = {}
    for rule, acc in rows:
        if acc == acc:
            best[rule] = max(best.get(rule, -1.0), float(acc))
    return best


# -- the two measurements -------------------------------------------------------------------------------

def bench_pack(ctx: Ctx, bench: str, key: str, target: float) -> None:
    """28 trials: one engine pack on 2 trainer threads vs PyTorch, 2 loky workers x 1 thread."""
    import optengine as oe

    P = problem(ctx, key)
    pr, epochs, R = P["problem"], P["epochs"], ctx.repeats
    trials = pack_trials()
    variant = f"28 trials, {epochs} epoch(s)"
    ctx.log(f"{bench} pack: {pr.title}; 28 trials, {epochs} epoch(s), batch {pr.batch}, {R} rounds")
    _add_first(ctx, bench, key)
    kw = dict(batch_size=pr.batch, epochs=epochs, dtype=DTYPE, threads=2)

    def pack():
        pack.runs = oe.train_pack(P["model"], P["ds"], trials, **kw)[0]

    calls = {"optengine": pack}
    ok, info = torch_baseline.available() if ctx.baselines else (False, "not run (--no-baselines)")
    init_note = ""
    if ok:
        inits, init_note = torch_init(ctx, key)
        start = torch_baseline.warm_net_pool(P["spec"], P["data"], pr.batch)
        ctx.log(f"  torch: 2 loky workers warm ({start:.1f} s)")

        def torch_call():
            torch_call.rows = torch_baseline.net_sweep(P["spec"], trials, P["data"], epochs, pr.batch, inits)[1]

        calls["torch"] = torch_call
    tm = interleaved(calls, R)
    for k, t in tm.items():
        ctx.log(f"    {k}: {t.median:.2f} s (median of {t.repeats}; min {t.min:.2f} s)")
    t_oe = tm["optengine"].median
    ref = "optengine train_pack (threads=2)"
    ctx.add(Measurement.timed(bench, variant, "optengine train_pack", "pack wall time", tm["optengine"], t_oe, "s",
                              baseline=ref, ratio=1.0, ratio_meaning="time / optengine time",
                              note="one pack, 2 trainer threads, 1 BLAS thread, warm"))
    runs = pack.runs
    accs = {"optengine": _best(zip(runs.optimizer, runs.final_val_metric))}
    bad = int((runs["status"] != "ok").sum())
    t_torch = math.nan
    if ok:
        t_torch = tm["torch"].median
        ctx.add(Measurement.timed(bench, variant, "torch eager", "pack wall time", tm["torch"], t_torch, "s",
                                  baseline=ref, ratio=ratio(t_torch, t_oe), ratio_meaning="time / optengine time",
                                  note="joblib loky 2 workers x 1 thread, one trial per task, warm workers; "
                                       + init_note))
        accs["torch"] = _best((r["optimizer"], r["final_val_metric"]) for r in calls["torch"].rows)
    else:
        ctx.add(Measurement.missing(bench, variant, "torch eager", "pack wall time", info.split(" (")[0], note=info))
    ctx.target(Target(bench, f"{key}: torch time / optengine time, 28 trials, 2 workers", ratio(t_torch, t_oe),
                      ">=", target, note=(f"{fmt(t_torch)} s vs {t_oe:.3g} s" if ok else f"torch: {info}")
                      + (f"; {bad} engine trials not ok" if bad else "")))
    rows = []
    for rule in PACK_RULES:
        e, t = accs["optengine"].get(rule, math.nan), accs.get("torch", {}).get(rule, math.nan)
        rows.append([rule, e, t])
        for impl, v in (("optengine", e), ("torch", t)):
            ctx.add(Measurement(bench, f"best val accuracy {rule}", impl, "accuracy", value=v, unit="",
                                status=STATUS_OK if impl in accs else "not measured",
                                note="best final validation accuracy over the 14 learning rates"))
    ctx.section(bench, "\n".join([
        f"{pr.title}. Pack: 28 trials = 14 learning rates (log-spaced 1e-4..1e-1) x {{adam, momentum}}, seed 0, "
        f"batch {pr.batch}, {epochs} epoch(s), float32; `oe.train_pack(threads=2)` (2 trainer threads, one BLAS "
        "thread) against PyTorch eager, one trial per joblib task on 2 loky workers x 1 torch thread. "
        f"{R} interleaved rounds, medians; `ratio` = time / optengine's time (a baseline's ratio is the engine's "
        f"speed-up). PyTorch: {init_note or info}.",
        "",
        "Best final validation accuracy over the learning rates (a sanity check, not a target; the baseline "
        "shuffles with its own stream):",
        "",
        md_table(["rule", "optengine", "PyTorch"], rows)]))


def bench_single(ctx: Ctx, bench: str, key: str, target: float) -> None:
    """One trial on one thread: ``oe.train(threads=1)`` vs PyTorch with ``torch.set_num_threads(1)``."""
    import optengine as oe

    P = problem(ctx, key)
    pr, epochs, R = P["problem"], P["epochs"], ctx.repeats
    opt, lr = pr.single["optimizer"], pr.single["lr"]
    variant = f"single trial, 1 thread, {epochs} epoch(s)"
    ctx.log(f"{bench} single: {pr.title}; {opt} lr {lr:g}, {epochs} epoch(s), batch {pr.batch}, {R} rounds")
    first_call(ctx, key)

    def engine():
        engine.summary = oe.train(P["model"], P["ds"], optimizer=opt, lr=lr, batch_size=pr.batch, epochs=epochs,
                                  dtype=DTYPE, threads=1)[0]
        engine.train_s.append(float(engine.summary["wall_s"]))

    engine.train_s = []
    engine()  # warm (the driver is compiled by first_call)
    engine.train_s.clear()
    calls = {"optengine": engine}
    ok, info = torch_baseline.available() if ctx.baselines else (False, "not run (--no-baselines)")
    init_note = ""
    if ok:
        inits, init_note = torch_init(ctx, key)

        def torch_call():
            with torch_baseline.single_thread():
                torch_call.row = torch_baseline.net_trial(P["spec"], opt, lr, 0, P["data"], epochs, pr.batch,
                                                          inits.get(0), threads=None)

        torch_call()  # warm (first-call allocations, oneDNN primitives)
        calls["torch"] = torch_call
    tm = interleaved(calls, R)
    for k, t in tm.items():
        ctx.log(f"    {k}: {t.median:.3f} s (median of {t.repeats}; min {t.min:.3f} s)")
    t_oe = tm["optengine"].median
    s = engine.summary
    ref = "optengine oe.train (threads=1)"
    ctx.add(Measurement.timed(bench, variant, "optengine oe.train", "trial wall time", tm["optengine"], t_oe, "s",
                              baseline=ref, ratio=1.0, ratio_meaning="time / optengine time",
                              note=f"whole oe.train call (data preparation, test split); training alone "
                                   f"{np.median(engine.train_s):.3g} s (median, the engine's wall_s); {opt} lr "
                                   f"{lr:g}; val acc {s['final_val_metric']:.3f}"))
    t_torch = math.nan
    if ok:
        t_torch = tm["torch"].median
        row = calls["torch"].row
        ctx.add(Measurement.timed(bench, variant, "torch eager", "trial wall time", tm["torch"], t_torch, "s",
                                  baseline=ref, ratio=ratio(t_torch, t_oe), ratio_meaning="time / optengine time",
                                  note=f"torch.set_num_threads(1), in process; {init_note}; val acc "
                                       f"{row['final_val_metric']:.3f}"))
    else:
        ctx.add(Measurement.missing(bench, variant, "torch eager", "trial wall time", info.split(" (")[0], note=info))
    ctx.target(Target(bench, f"{key}: torch time / optengine time, single trial, 1 thread", ratio(t_torch, t_oe),
                      ">=", target, note=(f"{fmt(t_torch)} s vs {t_oe:.3g} s" if ok else f"torch: {info}")
                      + ("" if s["status"] == "ok" else f"; engine trial {s['status']}")))
    ctx.section(bench, f"Single trial: {opt}, lr {lr:g}, seed 0, batch {pr.batch}, {epochs} epoch(s), float32; "
                       "`oe.train(threads=1)` (one BLAS thread) against PyTorch in the harness process with "
                       f"`torch.set_num_threads(1)`; {R} interleaved rounds after an untimed call each, medians. "
                       "The engine's time is the whole `oe.train` call (it also evaluates the whole training set "
                       "once at the start and the test split at the end; the baseline evaluates the test split too).")
