"""The benchmark harness (benchmarks/) at tiny sizes: its pieces work without the baselines.

No timing assertions: these check that the harness runs, counts and reports correctly.
PyTorch / JAX are optional ([bench] extra); where they are missing the harness must say
"not installed", which is tested by hiding them. The two checks that need them are skipped
when they are not installed.
"""

import math
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import common, jax_baseline, k1_rules, run as bench_run, torch_baseline  # noqa: E402
from benchmarks.common import Ctx, Measurement, Sizes, Target  # noqa: E402


def _hide(monkeypatch, *names):
    """Make ``import name`` fail as if the package were not installed."""
    for name in names:
        monkeypatch.setitem(sys.modules, name, None)


def _tiny_ctx(**kw):
    return Ctx(sizes=Sizes(k1_params=10_000), repeats=2, k1_repeats=2, log_fn=None, **kw)


# -- FLOP count ------------------------------------------------------------------------------------------

def test_flop_formula_matches_a_hand_count():
    # sizes 2-3-2: S = 2*3 + 3*2 = 12, S' (layers after the first) = 6.
    # per training sample: 2*12 + 2*12 + 2*6 = 60; 5 samples x 1 epoch = 300;
    # validation 2 samples x 2*12 = 48; initial pass over the training set 5 x 2*12 = 120.
    f = common.mlp_flops([2, 3, 2], n_train=5, n_val=2, epochs=1)
    assert (f["S"], f["S_input_grads"], f["train_sample"]) == (12, 6, 60)
    assert (f["train"], f["val"], f["initial"], f["total"]) == (300, 48, 120, 468)
    assert common.mlp_flops([2, 3, 2], 5, 2, 1, initial_train_eval=False)["total"] == 348
    assert common.mlp_flops([2, 3, 2], 5, 2, 3, val_each_epoch=False)["val"] == 48


def test_flop_count_of_w1():
    # 40-100-100-10: S = 4000 + 10000 + 1000 = 15000, S' = 11000; 82,000 per training sample.
    f = common.mlp_flops([40, 100, 100, 10], n_train=4000, n_val=1000, epochs=20)
    assert f["train_sample"] == 82_000
    assert f["total"] == 20 * (4000 * 82_000 + 1000 * 30_000) + 4000 * 30_000 == 7_280_000_000


# -- K1 ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("rule", common.RULES)
def test_numpy_rules_take_the_engines_steps(rule):
    from optengine.optimizers import RULE_ID, new_state, update, validate_hyper

    rng = np.random.default_rng(1)
    theta = rng.standard_normal(1000, dtype=np.float32)
    a, b = theta.copy(), theta.copy()
    s = [np.zeros_like(theta) for _ in range(4)]
    tmp = np.empty_like(theta)
    hyper = validate_hyper(rule, {"lr": 1e-2})
    state, scalars = new_state(rule, hyper, 1000, np.float32)
    hv = k1_rules.engine_hyper(rule)
    hv[0] = 1e-2
    for t in range(1, 4):
        g = rng.standard_normal(1000, dtype=np.float32)
        update(RULE_ID[rule], a, g, state, scalars, hv, 1e-2, t)
        k1_rules.numpy_step(rule, b, g, s[2], s[3], tmp, hyper, 1e-2, t)
    assert b.dtype == np.float32
    np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)


def test_k1_runs_tiny_without_baselines():
    ctx = _tiny_ctx(baselines=False)
    k1_rules.run(ctx)
    rows = {(m.variant, m.implementation): m for m in ctx.measurements}
    assert rows[("triad", "numba (reference)")].value > 0
    for rule in common.RULES:
        for impl in ("optengine", "numpy"):
            m = rows[(rule, impl)]
            assert m.status == "ok" and m.value > 0 and m.repeats == 2 and math.isfinite(m.ratio)
        assert rows[(rule, "torch fused")].status.startswith("not run")
    names = [t.name for t in ctx.targets]
    assert len(names) == 8 and all(t.verdict in ("PASS", "FAIL") for t in ctx.targets[:7])
    assert ctx.targets[7].verdict == "n/a"   # Adam vs torch fused: not measured


def test_k1_reports_torch_not_installed(monkeypatch):
    _hide(monkeypatch, "torch")
    ctx = _tiny_ctx()
    k1_rules.run(ctx)
    torch_rows = [m for m in ctx.measurements if m.implementation.startswith("torch")]
    assert len(torch_rows) == 14 and all(m.status == "not installed" for m in torch_rows)


# -- baselines ---------------------------------------------------------------------------------------------

def test_baselines_say_not_installed_when_the_import_fails(monkeypatch):
    _hide(monkeypatch, "torch", "jax", "optax")
    ok, why = torch_baseline.available()
    assert not ok and why.startswith("not installed")
    ok, why = jax_baseline.available()
    assert not ok and why.startswith("not installed")


def test_jax_unflatten_follows_the_engines_layout():
    flat = np.arange(2 * 3 + 3 + 3 * 2 + 2, dtype=np.float64)
    (w1, b1), (w2, b2) = jax_baseline.unflatten(flat, [2, 3, 2])
    assert w1.shape == (2, 3) and w1[1, 0] == 3 and list(b1) == [6, 7, 8]
    assert w2.shape == (3, 2) and w2[0, 1] == 10 and list(b2) == [15, 16]


def test_torch_mlp_computes_the_engines_forward_pass():
    torch = pytest.importorskip("torch")
    import optengine as oe

    model = oe.model("mlp", sizes=[5, 4, 3], activation="relu")
    params = model.init(3)
    X = np.random.default_rng(0).standard_normal((6, 5)).astype(np.float32)
    net = torch_baseline.build_mlp(torch, [5, 4, 3], params)
    with torch.no_grad():
        out = net(torch.from_numpy(X)).numpy()
    np.testing.assert_allclose(out, model.forward(params.astype(np.float32), X), rtol=1e-5, atol=1e-6)


# -- W1 spec, rounds, targets --------------------------------------------------------------------------------

def test_w1_spec_is_the_issues_sweep():
    from optengine.sweep import expand, load_spec

    from benchmarks import w1_sweep

    trials = expand(load_spec(w1_sweep.spec_text(20)))
    assert len(trials) == 28 == len(w1_sweep.trials())
    t = trials[0]
    assert (t.epochs, t.batch_size, t.dtype) == (20, 64, "float32")
    assert load_spec(w1_sweep.spec_text(2, "w1_warmup")).name == "w1_warmup"
    assert expand(load_spec(w1_sweep.spec_text(2)))[0].epochs == 2


def test_interleaved_runs_rounds():
    order = []
    tm = common.interleaved({"a": lambda: order.append("a"), "b": lambda: order.append("b")}, {"a": 3, "b": 1})
    assert order == ["a", "b", "a", "a"]
    assert (tm["a"].repeats, tm["b"].repeats) == (3, 1)


def test_target_verdicts():
    assert Target("K1", "x", 0.95, ">=", 0.9).verdict == "PASS"
    assert Target("K1", "x", 0.85, ">=", 0.9).verdict == "FAIL"
    assert Target("C1", "x", 2.5, "<=", 2.0, unit="s").verdict == "FAIL"
    assert Target("S1", "x", 1.1, "within", (0.85, 1.15)).verdict == "PASS"
    assert Target("S1", "x", 0.8, "within", (0.85, 1.15)).verdict == "FAIL"
    assert Target("W1", "x", float("nan"), ">=", 8.0).verdict == "n/a"


# -- writers and the command line ----------------------------------------------------------------------------

def test_markdown_and_parquet_writers_on_fake_measurements(tmp_path):
    import pandas as pd

    ctx = _tiny_ctx()
    t = common.Timing([0.2, 0.1, 0.3])
    ctx.add(Measurement.timed("K1", "adam", "optengine", "bandwidth", t, 12.5, "GB/s", baseline="triad", ratio=0.93))
    ctx.add(Measurement.missing("K1", "adam", "torch fused", "bandwidth", "not installed", note="no torch"))
    ctx.add(Measurement("W1", "best val accuracy adam", "jax", "accuracy", value=0.7))
    ctx.target(Target("K1", "adam: bandwidth / triad", 0.93, ">=", 0.9))
    ctx.target(Target("W1", "torch / optengine", float("nan"), ">=", 8.0, note="torch: not installed"))
    ctx.target(Target("C1", "warm overhead", 3.0, "<=", 2.0, unit="s"))
    ctx.section("W1", "a | table | cell")
    meta = common.run_meta(ctx, ["--quick"], 1.0, __import__("datetime").datetime.now())
    text = common.render_markdown(ctx, meta)
    for needle in ("| K1 | adam: bandwidth / triad | 0.93 x | >= 0.9 x | PASS |", "| n/a |", "| FAIL |",
                   "not installed", "BLAS used by NumPy", meta["machine"]["cpu"], "12.5 GB/s", "200.0 ms"):
        assert needle in text, needle
    assert "best val accuracy" not in text   # shown in W1's own table, kept in the Parquet file
    path = common.write_parquet(ctx.measurements, tmp_path / "r.parquet", common.flat_meta(meta))
    df = pd.read_parquet(path)
    assert len(df) == 3
    for col in ("benchmark", "variant", "implementation", "value", "unit", "ratio", "repeats", "median_s", "min_s",
                "status", "run_date", "machine_cpu", "version_numpy"):
        assert col in df.columns
    assert df.loc[0, "median_s"] == 0.2 and df.loc[0, "min_s"] == 0.1 and df.loc[1, "status"] == "not installed"


def test_run_py_writes_results_for_k1_without_torch(tmp_path, monkeypatch, capsys):
    _hide(monkeypatch, "torch", "jax", "optax")
    monkeypatch.setenv("PYTHONPATH", "")
    rc = bench_run.main(["--only", "K1", "--k1-params", "10000", "--repeats", "2", "--out", str(tmp_path)])
    assert rc == 0
    text = (tmp_path / "RESULTS.md").read_text()
    assert "## K1" in text and "not installed" in text and "## W1" not in text
    assert (tmp_path / "results.parquet").stat().st_size > 0
    assert "Targets:" in capsys.readouterr().out


def test_run_py_rejects_unknown_benchmarks():
    with pytest.raises(SystemExit):
        bench_run.parse_args(["--only", "K9"])
    assert bench_run.parse_args(["--only", "c1,k1"]).only == ["K1", "C1"]
