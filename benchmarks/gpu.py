"""GPU benchmark of optengine's CUDA kernels: update-rule bandwidth and a 10,000-trial MLP sweep.

How to run
----------
On a machine with an NVIDIA GPU and the project installed with its CUDA extra
(``pip install -e '.[cuda,test]'``), from the repository root::

    .venv/bin/python benchmarks/gpu.py --tests --out gpu-results.json

In one go (under 5 minutes on an H200) it

1. ``--tests``: runs the CUDA tests compiled for the device, not the simulator
   (``OPTENGINE_CUDA_TESTS=1 pytest -q tests/cuda``) and reports their outcome;
2. measures the bandwidth of each update rule (``optengine.cuda.optimizers.update``, one launch
   for a pack of K trials x P parameters, float32) against a device-to-device copy of the same
   bytes; target: every rule >= 80 % of the copy's bandwidth;
3. trains a 10,000-trial MNIST-1D sweep (MLP 40-100-100-10, relu, batch 100, 20 epochs, the 7
   rules with log-uniform learning rates, constant/cosine/step schedules, with and without norm
   clipping) with ``oe.train_pack(..., device="cuda")``; reports wall time (the whole call:
   validation, initial parameters, GPU training, result tables), the GPU trainer's share,
   trials/s and the achieved TFLOP/s of the layers' useful multiply-adds over the wall time
   (padding, losses and updates not counted); target: <= 60 s on an H200. Compilation is
   timed separately, on a 2-trial warm-up;
4. re-trains one trial per rule on the CPU and reports how far its GPU curve is from it.

It prints a Markdown block (date, GPU, figures) to paste into ``benchmarks/RESULTS.md`` and,
with ``--out``, writes the same figures as JSON.

``--smoke`` runs every code path at a tiny size; it works without a GPU on numba's simulator::

    NUMBA_ENABLE_CUDASIM=1 .venv/bin/python benchmarks/gpu.py --smoke
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import optengine as oe  # noqa: E402
from optengine import optimizers as O  # noqa: E402

from optengine.rules import BY_NAME as RECORDS  # noqa: E402

# Elements each rule reads + writes per parameter (from the records): theta, g -> theta, and each
# state buffer in use in and out. The bandwidth and sweep parts use the notes' seven rules.
TRAFFIC = {name: r.traffic() for name, r in RECORDS.items()}
SEVEN = O.RULES[:7]


def _sync():
    from numba import cuda

    cuda.synchronize()


def _time(fn, reps: int) -> float:
    """Seconds per call of ``fn`` (after one warm-up call), by CUDA events on a GPU."""
    from numba import cuda

    fn()
    _sync()
    if os.environ.get("NUMBA_ENABLE_CUDASIM") == "1":
        t0 = time.perf_counter()
        for _ in range(reps):
            fn()
        _sync()
        return (time.perf_counter() - t0) / reps
    start, end = cuda.event(), cuda.event()
    start.record()
    for _ in range(reps):
        fn()
    end.record()
    end.synchronize()
    return cuda.event_elapsed_time(start, end) / 1e3 / reps


def bandwidth(K: int, P: int, reps: int) -> dict:
    """GB/s of a device-to-device copy and of each rule over K x P float32 parameters."""
    from numba import cuda

    from optengine.cuda.optimizers import launch_update, pack_state

    n = K * P
    rng = np.random.default_rng(0)
    src = cuda.to_device(rng.standard_normal(n).astype(np.float32))
    dst = cuda.device_array(n, dtype=np.float32)
    t_copy = _time(lambda: dst.copy_to_device(src), reps)
    copy_gbs = 2 * 4 * n / t_copy / 1e9
    theta = cuda.to_device(rng.standard_normal((K, P)).astype(np.float32))
    g = cuda.to_device((1e-3 * rng.standard_normal((K, P))).astype(np.float32))
    lrs = cuda.to_device(np.full(K, 1e-3))
    ts = cuda.to_device(np.ones(K, dtype=np.int64))
    out = {"K": K, "P": P, "copy_GBps": copy_gbs, "rules": {}}
    for name in SEVEN:
        rule_ids = np.full(K, O.RULE_ID[name], dtype=np.int64)
        hyper = np.tile(O.hyper_vector(O.validate_hyper(name, {"lr": 1e-3})), (K, 1))
        state, scal = (cuda.to_device(a) for a in pack_state(rule_ids, hyper, P, np.float32))  # fresh per rule
        rules, hypers = cuda.to_device(rule_ids), cuda.to_device(hyper)
        t = _time(lambda: launch_update(rules, theta, g, state, scal, hypers, lrs, ts), reps)
        gbs = TRAFFIC[name] * 4 * n / t / 1e9
        out["rules"][name] = {"ms": t * 1e3, "GBps": gbs, "of_copy": gbs / copy_gbs}
    return out


def _trials(n: int, seed: int = 0) -> list:
    rng = np.random.default_rng(seed)
    lo = {"sgd": -3, "momentum": -3.5, "nesterov": -3.5, "adagrad": -3, "rmsprop": -4.5, "adam": -4.5, "adamw": -4.5}
    scheds = [None, "cosine", {"name": "step", "step_size": 300, "gamma": 0.5}]
    out = []
    for i in range(n):
        rule = SEVEN[i % 7]
        out.append({"optimizer": rule, "lr": float(10 ** rng.uniform(lo[rule], lo[rule] + 2.5)), "seed": i % 10,
                    "schedule": scheds[(i // 7) % 3], "clip": [None, {"norm": 1.0}][(i // 21) % 2]})
    return out


def mlp_flops(sizes, runs, curves, n_train: int, n_val: int, batch: int) -> float:
    """Useful floating-point operations of the layers (2 per multiply-add) over the whole sweep:
    every trained row (forward, weight gradients, input deltas but the first layer's) and every
    evaluated row (the initial pass over the training set, then the validation set each epoch)."""
    macs = sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))
    back_inputs = sum(a * b for a, b in zip(sizes[1:-1], sizes[2:]))
    per_train_row = 2 * (2 * macs + back_inputs)
    per_eval_row = 2 * macs
    n_batches = -(-n_train // batch)
    steps = runs["steps"].to_numpy()
    rows_trained = (steps // n_batches) * n_train + (steps % n_batches) * batch  # partial epochs: full batches
    rows_eval = len(runs) * n_train + len(curves) * n_val
    return float(per_train_row * rows_trained.sum() + per_eval_row * rows_eval)


def sweep(n_trials: int, epochs: int, sizes, ds, batch: int) -> dict:
    model = {"name": "mlp", "sizes": list(sizes)}
    trials = _trials(n_trials)
    t0 = time.perf_counter()
    oe.train_pack(model, ds, trials[:2], batch_size=batch, epochs=1, device="cuda")  # compiles the kernels
    compile_s = time.perf_counter() - t0
    from optengine.cuda import pack_kernel

    device_trainer = pack_kernel.train_pack
    trainer_s = []

    def timed(*args, **kwargs):  # the GPU trainer alone: uploads, kernels, per-epoch metrics back
        t = time.perf_counter()
        compile_s = device_trainer(*args, **kwargs)  # train.py needs the compile seconds back
        trainer_s.append(time.perf_counter() - t)
        return compile_s

    pack_kernel.train_pack = timed
    try:
        t0 = time.perf_counter()
        runs, curves = oe.train_pack(model, ds, trials, batch_size=batch, epochs=epochs, device="cuda")
        wall = time.perf_counter() - t0
    finally:
        pack_kernel.train_pack = device_trainer
    flops = mlp_flops(sizes, runs, curves, ds.X_train.shape[0], ds.X_val.shape[0], batch)
    ok = runs[runs.status == "ok"]
    return {"trials": n_trials, "epochs": epochs, "sizes": list(sizes), "batch_size": batch,
            "n_train": int(ds.X_train.shape[0]), "n_val": int(ds.X_val.shape[0]),
            "compile_and_warmup_s": compile_s, "wall_s": wall, "gpu_trainer_s": sum(trainer_s),
            "trials_per_s": n_trials / wall,
            "TFLOPs": flops / wall / 1e12, "TFLOPs_gpu_trainer": flops / max(sum(trainer_s), 1e-9) / 1e12,
            "flop": flops, "status": runs["status"].value_counts().to_dict(),
            "best_val_accuracy": float(ok["final_val_metric"].max()) if len(ok) else float("nan"),
            "median_val_accuracy_ok": float(ok["final_val_metric"].median()) if len(ok) else float("nan"),
            "_trials": trials, "_curves": curves, "_runs": runs}


def cpu_agreement(sw: dict, ds) -> dict:
    """One trial per rule re-trained on the CPU: max relative difference of its curves."""
    picks = list(range(7))
    model = {"name": "mlp", "sizes": sw["sizes"]}
    trials = [sw["_trials"][i] for i in picks]
    runs, curves = oe.train_pack(model, ds, trials, batch_size=sw["batch_size"], epochs=sw["epochs"])
    gpu = sw["_curves"]
    worst = {}
    for col in ("train_loss", "val_loss", "val_metric"):
        errs = []
        for tid in runs["trial_id"]:
            a = curves.loc[curves.trial_id == tid, col].to_numpy()
            b = gpu.loc[gpu.trial_id == tid, col].to_numpy()
            m = min(len(a), len(b))
            if m:
                errs.append(np.max(np.abs(a[:m] - b[:m]) / np.maximum(np.abs(a[:m]), 1e-12)))
        worst[col] = float(max(errs)) if errs else float("nan")
    same_status = bool((runs["status"].to_numpy() == sw["_runs"]["status"].to_numpy()[picks]).all())
    return {"trials": len(picks), "max_rel_diff": worst, "same_status": same_status}


def run_tests() -> dict:
    env = dict(os.environ, OPTENGINE_CUDA_TESTS="1")
    env.pop("NUMBA_ENABLE_CUDASIM", None)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])])
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/cuda"],
                          cwd=ROOT, env=env, capture_output=True, text=True)
    tail = (proc.stdout + proc.stderr).strip().splitlines()
    print("\n".join(tail[-25:]))
    return {"returncode": proc.returncode, "summary": tail[-1] if tail else "", "s": time.perf_counter() - t0}


def device_name() -> str:
    from numba import cuda

    if os.environ.get("NUMBA_ENABLE_CUDASIM") == "1":
        return "numba CUDA simulator"
    dev = cuda.get_current_device()
    name = dev.name.decode() if isinstance(dev.name, bytes) else str(dev.name)
    return f"{name} (cc {dev.compute_capability[0]}.{dev.compute_capability[1]}, {dev.MULTIPROCESSOR_COUNT} SMs)"


def markdown(res: dict) -> str:
    lines = [f"### GPU benchmark, {res['date']}: {res['device']}", ""]
    if "tests" in res:
        lines += [f"- CUDA tests on the device (`OPTENGINE_CUDA_TESTS=1 pytest tests/cuda`): "
                  f"{res['tests']['summary']} (rc {res['tests']['returncode']})", ""]
    bw = res["bandwidth"]
    lines += [f"Update rules, {bw['K']} trials x {bw['P']} float32 parameters; device-to-device copy "
              f"{bw['copy_GBps']:.0f} GB/s (target: every rule >= 80 % of it)", "",
              "| rule | ms | GB/s | of copy |", "|---|---:|---:|---:|"]
    for name, r in bw["rules"].items():
        lines.append(f"| {name} | {r['ms']:.3f} | {r['GBps']:.0f} | {100 * r['of_copy']:.0f} % |")
    sw = res["sweep"]
    lines += ["", f"Sweep: {sw['trials']} trials, MNIST-1D ({sw['n_train']} train / {sw['n_val']} val), "
              f"MLP {'-'.join(map(str, sw['sizes']))}, batch {sw['batch_size']}, {sw['epochs']} epochs "
              "(target <= 60 s on an H200)", "",
              "| wall s | GPU trainer s | trials/s | TFLOP/s (wall / trainer) | compile + warm-up s | status "
              "| best / median val acc |",
              "|---:|---:|---:|---:|---:|---|---|",
              f"| {sw['wall_s']:.1f} | {sw['gpu_trainer_s']:.1f} | {sw['trials_per_s']:.0f} | {sw['TFLOPs']:.2f} / "
              f"{sw['TFLOPs_gpu_trainer']:.2f} | "
              f"{sw['compile_and_warmup_s']:.1f} | {sw['status']} | {sw['best_val_accuracy']:.3f} / "
              f"{sw['median_val_accuracy_ok']:.3f} |"]
    if "cpu_agreement" in res:
        ca = res["cpu_agreement"]
        lines += ["", f"CPU agreement ({ca['trials']} trials, one per rule, full length): max relative difference "
                  + ", ".join(f"{k} {v:.2g}" for k, v in ca["max_rel_diff"].items())
                  + f"; same status: {ca['same_status']}"]
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--smoke", action="store_true", help="tiny sizes: every code path, runs on the simulator")
    ap.add_argument("--tests", action="store_true", help="first run tests/cuda on the device (not the simulator)")
    ap.add_argument("--trials", type=int, default=None, help="sweep size (default 10000; 7 with --smoke)")
    ap.add_argument("--epochs", type=int, default=None, help="sweep epochs (default 20; 1 with --smoke)")
    ap.add_argument("--no-cpu-check", action="store_true", help="skip re-training one trial per rule on the CPU")
    ap.add_argument("--out", type=Path, help="write the figures as JSON here")
    args = ap.parse_args(argv)

    from optengine.cuda import require_device, simulating

    from optengine.errors import ConfigError

    try:
        require_device()
    except ConfigError as exc:
        print(f"gpu.py: {exc}", file=sys.stderr)
        return 2
    if simulating():
        sys.setswitchinterval(1e-4)  # simulated threads meet at every syncthreads: switch fast
    res = {"date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "device": device_name(),
           "smoke": args.smoke}
    if args.tests:
        res["tests"] = run_tests()
    t0 = time.perf_counter()
    if args.smoke:
        res["bandwidth"] = bandwidth(K=2, P=600, reps=1)
        small = oe.dataset("mnist1d", num_samples=200)  # MNIST-1D's generator, 160 train / 40 val rows
        ds = oe.dataset("arrays", X=small.X_train[:40], y=small.y_train[:40], X_val=small.X_val[:10],
                        y_val=small.y_val[:10], task="classification", standardize=False)
        sizes, batch = (40, 8, 10), 20
    else:
        res["bandwidth"] = bandwidth(K=256, P=262144, reps=20)
        ds = oe.dataset("mnist1d")
        sizes, batch = (40, 100, 100, 10), 100
    n_trials = args.trials or (7 if args.smoke else 10_000)
    epochs = args.epochs or (1 if args.smoke else 20)
    sw = sweep(n_trials, epochs, sizes, ds, batch)
    if not args.no_cpu_check:
        res["cpu_agreement"] = cpu_agreement(sw, ds)
    res["sweep"] = {k: v for k, v in sw.items() if not k.startswith("_")}
    res["total_s"] = time.perf_counter() - t0
    text = markdown(res)
    print(text)
    if args.out:
        args.out.write_text(json.dumps({**res, "markdown": text}, indent=2, default=str))
    failed = args.tests and res["tests"]["returncode"] != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
