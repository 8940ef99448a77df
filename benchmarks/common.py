"""Shared pieces of the harness: timing, machine and version info, result records, the FLOP
count of the W1 workload, and the Markdown / Parquet writers.

Every figure is a :class:`Measurement` (one row of ``results.parquet``); every target of the
issue is a :class:`Target` (one row of RESULTS.md's first table, PASS / FAIL / n/a).
"""

from __future__ import annotations

import datetime as _dt
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from optengine.optimizers import RULE_HYPER as _DEFAULTS
from optengine.rules import BY_NAME as _RECORDS

ROOT = Path(__file__).resolve().parents[1]
BENCH_DIR = ROOT / "benchmarks"

# W1's grid (the issue's), over the notes' seven rules; K1 also times the engine's other rules.
RULES = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw")
ENGINE_RULES = tuple(_RECORDS)
W1_LRS = (1e-3, 3e-3, 1e-2, 3e-2)
W1_SIZES = (40, 100, 100, 10)
W1_BATCH = 64

# Hyperparameters every implementation uses: the engine's defaults, set explicitly in the baselines.
HYPER = {"momentum": _DEFAULTS["momentum"]["momentum"], "adagrad_eps": _DEFAULTS["adagrad"]["eps"],
         "rmsprop_alpha": _DEFAULTS["rmsprop"]["decay"], "rmsprop_eps": _DEFAULTS["rmsprop"]["eps"],
         "betas": (_DEFAULTS["adam"]["beta1"], _DEFAULTS["adam"]["beta2"]), "adam_eps": _DEFAULTS["adam"]["eps"],
         "adamw_weight_decay": _DEFAULTS["adamw"]["weight_decay"]}

# Bytes one step of each rule (at its defaults) must read and write per float32 parameter, from the
# records: theta and g read, theta written (3 x 4 B); each state buffer in use adds a read and a
# write (+8 B). sgd 12, momentum 20, adam 28, ...
RULE_BYTES = {name: 4 * r.traffic() for name, r in _RECORDS.items()}
TRIAD_BYTES = 12  # a[i] = b[i] + s*c[i]: read b, c; write a


# -- run context --------------------------------------------------------------------------------------

@dataclass
class Sizes:
    """Workload sizes of one harness run (full, --quick, or the tests' tiny ones)."""

    k1_params: int = 16 * 2**20
    w1_epochs: int = 20
    s1_epochs: int = 20
    s1_seeds: tuple = (1, 4, 16)
    matmul_n: int = 2048
    accuracy_seeds: int = 3      # seeds of the engine's seed-to-seed spread (W1 accuracy tolerance)
    cold_cli: bool = True        # C1: also a cold start through the CLI (a second compile)

    @classmethod
    def full(cls) -> "Sizes":
        return cls()

    @classmethod
    def quick(cls) -> "Sizes":
        return cls(k1_params=2**20, w1_epochs=2, s1_epochs=1, s1_seeds=(1, 2, 4), matmul_n=1024,
                   accuracy_seeds=3, cold_cli=False)


@dataclass
class Ctx:
    """What the benchmark modules share: sizes, repeats, collected results and a cache of
    measurements that several benchmarks use (e.g. W1's warm pack time is C1's reference)."""

    sizes: Sizes
    repeats: int = 3
    k1_repeats: int = 10
    quick: bool = False
    baselines: bool = True
    measurements: list = field(default_factory=list)
    targets: list = field(default_factory=list)
    sections: dict = field(default_factory=dict)   # benchmark -> extra Markdown (tables, notes)
    cache: dict = field(default_factory=dict)
    log_fn: object = print

    def log(self, *args) -> None:
        if self.log_fn is not None:
            self.log_fn(*args, flush=True) if self.log_fn is print else self.log_fn(*args)

    def add(self, m: "Measurement") -> "Measurement":
        self.measurements.append(m)
        return m

    def target(self, t: "Target") -> "Target":
        self.targets.append(t)
        return t

    def section(self, bench: str, text: str) -> None:
        self.sections.setdefault(bench, []).append(text)


# -- timing -------------------------------------------------------------------------------------------

@dataclass
class Timing:
    """Seconds of ``repeats`` timed calls (after the warm-up calls)."""

    times: list

    @property
    def median(self) -> float:
        return statistics.median(self.times) if self.times else math.nan

    @property
    def min(self) -> float:
        return min(self.times) if self.times else math.nan

    @property
    def max(self) -> float:
        return max(self.times) if self.times else math.nan

    @property
    def repeats(self) -> int:
        return len(self.times)


def time_calls(fn, repeats: int, warmup: int = 1) -> Timing:
    """Wall time of ``repeats`` calls of ``fn()``, each timed alone, after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return Timing(times)


def interleaved(calls: dict, repeats) -> dict:
    """Time several callables in rounds (A, B, C, A, B, C, ...), so that a slow spell of a shared
    machine hits all of them alike. ``repeats``: an int, or {name: int} (a name with fewer
    repeats drops out of the later rounds). Returns {name: Timing}."""
    reps = {k: (repeats if isinstance(repeats, int) else repeats[k]) for k in calls}
    times = {k: [] for k in calls}
    for r in range(max(reps.values(), default=0)):
        for k, fn in calls.items():
            if r < reps[k]:
                t0 = time.perf_counter()
                fn()
                times[k].append(time.perf_counter() - t0)
    return {k: Timing(v) for k, v in times.items()}


# -- records ------------------------------------------------------------------------------------------

STATUS_OK = "ok"
NOT_INSTALLED = "not installed"
NOT_SUPPORTED = "not supported"


@dataclass
class Measurement:
    """One figure. ``value`` in ``unit``; ``ratio`` = this figure relative to ``baseline`` (a
    description of the reference measured in the same run; the direction is in ``ratio_meaning``).
    ``median_s``/``min_s``/``max_s`` are the raw times behind ``value`` (seconds per call)."""

    benchmark: str
    variant: str
    implementation: str
    metric: str
    value: float = math.nan
    unit: str = ""
    baseline: str = ""
    ratio: float = math.nan
    ratio_meaning: str = ""
    repeats: int = 0
    median_s: float = math.nan
    min_s: float = math.nan
    max_s: float = math.nan
    status: str = STATUS_OK
    note: str = ""

    @classmethod
    def timed(cls, benchmark, variant, implementation, metric, timing: Timing, value, unit, **kw):
        return cls(benchmark, variant, implementation, metric, value=value, unit=unit, repeats=timing.repeats,
                   median_s=timing.median, min_s=timing.min, max_s=timing.max, **kw)

    @classmethod
    def missing(cls, benchmark, variant, implementation, metric, status, note=""):
        return cls(benchmark, variant, implementation, metric, status=status, note=note)


@dataclass
class Target:
    """A target of the issue: ``measured`` (a ratio, or seconds) against ``threshold`` with ``op``."""

    benchmark: str
    name: str
    measured: float
    op: str            # ">=", "<=", "within" (threshold = (lo, hi))
    threshold: object
    unit: str = "x"
    note: str = ""

    @property
    def verdict(self) -> str:
        if self.measured is None or (isinstance(self.measured, float) and math.isnan(self.measured)):
            return "n/a"
        if self.op == ">=":
            ok = self.measured >= self.threshold
        elif self.op == "<=":
            ok = self.measured <= self.threshold
        elif self.op == "within":
            lo, hi = self.threshold
            ok = lo <= self.measured <= hi
        else:
            raise ValueError(self.op)
        return "PASS" if ok else "FAIL"

    def target_text(self) -> str:
        if self.op == "within":
            lo, hi = self.threshold
            return f"{fmt(lo)} to {fmt(hi)} {self.unit}".strip()
        return f"{self.op} {fmt(self.threshold)} {self.unit}".strip()


def ratio(a: float, b: float) -> float:
    """a / b, NaN when either is missing or b is 0."""
    try:
        if a is None or b is None or not (math.isfinite(a) and math.isfinite(b)) or b == 0:
            return math.nan
        return a / b
    except TypeError:
        return math.nan


def fmt(x, digits: int = 3) -> str:
    """Short human form of a number (3 significant digits); '-' for missing."""
    if x is None:
        return "-"
    if isinstance(x, str):
        return x
    if isinstance(x, bool):
        return str(x)
    if isinstance(x, int):
        return str(x)
    if not math.isfinite(x):
        return "-"
    if x == 0:
        return "0"
    mag = abs(x)
    if mag >= 1000:
        return f"{x:,.0f}"
    if mag >= 1e-3:
        return f"{x:.{digits}g}"
    return f"{x:.2e}"


# -- the W1 workload's useful FLOPs ---------------------------------------------------------------------

def mlp_flops(sizes, n_train: int, n_val: int, epochs: int, *, val_each_epoch: bool = True,
              initial_train_eval: bool = True) -> dict:
    """Useful floating-point operations of one trial of dense-MLP training (multiply-adds count 2).

    With S = sum over layers of din*dout and S' = the same sum without the first layer:

    - a training sample costs 2S (forward) + 2S (weight gradients) + 2S' (gradients with respect
      to each layer's input; the first layer's input is the data, which needs none);
    - every epoch trains on all ``n_train`` samples (the last, smaller batch included), so the
      batch size drops out;
    - every epoch evaluates the validation set (2S per sample) when ``val_each_epoch``;
    - the engine evaluates the whole training set once at the start (2S per sample) to judge
      divergence (``initial_train_eval``).

    Bias additions, activations, the softmax and the update rule are not counted.
    """
    S = sum(int(sizes[i]) * int(sizes[i + 1]) for i in range(len(sizes) - 1))
    S_in = sum(int(sizes[i]) * int(sizes[i + 1]) for i in range(1, len(sizes) - 1))
    per_sample = 2 * S + 2 * S + 2 * S_in
    train = epochs * n_train * per_sample
    val = epochs * n_val * 2 * S if val_each_epoch else n_val * 2 * S
    initial = n_train * 2 * S if initial_train_eval else 0
    return {"S": S, "S_input_grads": S_in, "train_sample": per_sample, "train": train, "val": val,
            "initial": initial, "total": train + val + initial}


# -- machine, versions ----------------------------------------------------------------------------------

def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def memory_gib() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 2**20
    except (OSError, ValueError, IndexError):
        pass
    return math.nan


def machine_info() -> dict:
    from optengine.sweep import environment

    return {"cpu": cpu_model(), "cores": environment.cores(), "logical_cpus": os.cpu_count(),
            "memory_gib": round(memory_gib(), 1), "os": platform.platform(), "load_avg": _load()}


def _load():
    try:
        return tuple(round(x, 2) for x in os.getloadavg())
    except OSError:
        return None


def dist_version(name: str) -> str | None:
    """Installed version of a distribution, without importing it; None if not installed."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return None


def versions() -> dict:
    out = {"python": platform.python_version()}
    for name in ("optengine", "numpy", "numba", "llvmlite", "pandas", "pyarrow", "joblib", "threadpoolctl",
                 "torch", "jax", "jaxlib", "optax"):
        out[name] = dist_version(name) or NOT_INSTALLED
    out["blas"] = blas_info()
    out["git"] = git_commit()
    return out


def blas_info() -> str:
    """The BLAS NumPy uses (threadpoolctl), e.g. 'openblas 0.3.29 (Haswell, 2 threads)'."""
    try:
        import numpy  # noqa: F401  (loads the BLAS)
        from threadpoolctl import threadpool_info
    except ImportError:
        return "unknown (threadpoolctl not installed)"
    libs = [i for i in threadpool_info() if i.get("user_api") == "blas"]
    if not libs:
        return "none found"
    return "; ".join(f"{i.get('internal_api')} {i.get('version')} ({i.get('architecture') or '?'}, "
                     f"{i.get('num_threads')} threads, {Path(i.get('filepath', '')).name})" for i in libs)


def git_commit() -> str:
    try:
        out = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, timeout=10)
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10)
        return out.stdout.strip() + (" (modified)" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def child_env(**extra) -> dict:
    """Environment for child processes: this checkout's optengine and benchmarks first on the path."""
    env = dict(os.environ)
    path = env.get("PYTHONPATH", "")
    parts = [p for p in path.split(os.pathsep) if p]
    if str(ROOT) not in parts:
        parts.insert(0, str(ROOT))
    env["PYTHONPATH"] = os.pathsep.join(parts)
    env.update({k: str(v) for k, v in extra.items()})
    return env


def ensure_root_on_path() -> None:
    """This checkout first on sys.path and on the PYTHONPATH that worker processes inherit."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    os.environ["PYTHONPATH"] = child_env()["PYTHONPATH"]


# -- writers --------------------------------------------------------------------------------------------

COLUMNS = [f for f in Measurement.__dataclass_fields__]


def measurements_frame(measurements):
    import pandas as pd

    return pd.DataFrame([asdict(m) for m in measurements], columns=COLUMNS)


def write_parquet(measurements, path: Path, meta: dict | None = None) -> Path:
    """One row per measurement; ``meta`` (date, machine, versions) goes into every row as columns."""
    df = measurements_frame(measurements)
    for key, value in (meta or {}).items():
        df[key] = str(value)
    path.parent.mkdir(parents=True, exist_ok=True)
    df.to_parquet(path, index=False)
    return path


def md_table(header, rows) -> str:
    """A GitHub Markdown table; cells are formatted with :func:`fmt`."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(fmt(c).replace("|", "\\|") for c in row) + " |")
    return "\n".join(lines)


def targets_table(targets) -> str:
    rows = [(t.benchmark, t.name, fmt(t.measured) + (f" {t.unit}" if t.unit and fmt(t.measured) != "-" else ""),
             t.target_text(), t.verdict, t.note) for t in targets]
    return md_table(["bench", "target", "measured", "target", "result", "note"], rows)


def measurements_table(measurements) -> str:
    rows = []
    for m in measurements:
        value = f"{fmt(m.value)} {m.unit}".strip() if m.status == STATUS_OK else m.status
        rows.append((m.variant, m.implementation, m.metric, value,
                     fmt(m.ratio) if m.status == STATUS_OK else "-", m.baseline if m.status == STATUS_OK else "-",
                     m.repeats or "-", _secs(m.median_s), _secs(m.min_s), m.note))
    return md_table(["variant", "implementation", "metric", "value", "ratio", "ratio to", "repeats",
                     "median", "min", "note"], rows)


def _secs(s: float) -> str:
    if s is None or not math.isfinite(s):
        return "-"
    if s < 1e-3:
        return f"{s * 1e6:.0f} us"
    if s < 1:
        return f"{s * 1e3:.1f} ms"
    return f"{s:.2f} s"


BENCH_TITLES = {"K1": "K1: update rules (one step, float32, single thread)",
                "W1": "W1: MNIST-1D sweep (7 rules x 4 learning rates)",
                "S1": "S1: scaling", "C1": "C1: start-up", "M": "Matrix-multiply reference"}


def render_markdown(ctx: Ctx, meta: dict) -> str:
    """RESULTS.md: date, machine, versions, run settings, the targets, then one section per benchmark."""
    v = meta["versions"]
    m = meta["machine"]
    lines = [
        "# optengine benchmark results",
        "",
        f"Written by `python benchmarks/run.py {meta['argv']}` on {meta['date']} "
        f"(wall time of the run: {meta['wall_s']:.0f} s).",
        "" if not ctx.quick else "\n**Quick run (`--quick`): small sizes, for checking the harness. The targets "
                                 "are meant for the full run; its ratios are indicative only.**",
        "",
        f"- Machine: {m['cpu']}, {m['cores']} cores usable ({m['logical_cpus']} logical CPUs), "
        f"{m['memory_gib']} GiB memory, {m['os']}; load average (1, 5, 15 min) {meta.get('load_start')} at the "
        f"start, {m['load_avg']} at the end (the machine is shared: every figure is a ratio to a baseline "
        "measured in the same run, medians over repeats).",
        "- Versions: " + ", ".join(f"{k} {v[k]}" for k in v if k not in ("blas", "git")) + ".",
        f"- BLAS used by NumPy: {v['blas']}.",
        f"- optengine checkout: {v['git']}.",
        f"- Sizes: {meta['sizes']}; repeats: {ctx.repeats} (K1: {ctx.k1_repeats}).",
        "",
        "## Targets",
        "",
        "Measured ratio against the issue's target, on this machine. `n/a`: not measured in this run "
        "(a baseline not installed, or a benchmark not selected).",
        "",
        targets_table(ctx.targets) if ctx.targets else "_no targets measured_",
        "",
    ]
    for bench in ("K1", "W1", "S1", "C1", "M"):
        # accuracies are shown by W1's own side-by-side table (they stay in the Parquet file)
        ms = [x for x in ctx.measurements if x.benchmark == bench and x.metric != "accuracy"]
        extra = ctx.sections.get(bench, [])
        if not ms and not extra:
            continue
        lines += [f"## {BENCH_TITLES[bench]}", ""]
        for text in extra:
            lines += [text, ""]
        if ms:
            lines += [measurements_table(ms), ""]
    lines += ["All rows are also in `results.parquet` (one row per measurement).", ""]
    return "\n".join(lines)


def run_meta(ctx: Ctx, argv, wall_s: float, started: _dt.datetime, load_start=None) -> dict:
    s = ctx.sizes
    sizes = (f"K1 {s.k1_params:,} parameters; W1 {s.w1_epochs} epochs; S1 {s.s1_epochs} epochs, seeds "
             f"{'/'.join(map(str, s.s1_seeds))}; matmul {s.matmul_n}x{s.matmul_n}")
    return {"date": started.strftime("%Y-%m-%d %H:%M %Z").strip() or started.isoformat(),
            "argv": " ".join(argv), "wall_s": wall_s, "machine": machine_info(), "versions": versions(),
            "sizes": sizes, "load_start": load_start}


def flat_meta(meta: dict) -> dict:
    """The columns the Parquet file repeats on every row."""
    out = {"run_date": meta["date"], "run_args": meta["argv"]}
    out.update({f"machine_{k}": v for k, v in meta["machine"].items()})
    out.update({f"version_{k}": v for k, v in meta["versions"].items()})
    return out
