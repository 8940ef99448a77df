"""The harness's layer-engine entries (W2-W5, C2; benchmarks/layer_models.py) at tiny sizes.

No timing assertions: the problems, the PyTorch twins (same flat layout, same forward pass), the
sparse input conversion, the options and the report's sections. Where torch is missing the twin
checks are skipped and the entries must say "not run"/"not installed".
"""

import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import common, layer_models, run as bench_run  # noqa: E402
from benchmarks.common import Ctx, Measurement, Sizes, Target  # noqa: E402


def _ctx(**kw):
    return Ctx(sizes=Sizes(k1_params=10_000), repeats=1, k1_repeats=1, log_fn=None, **kw)


def test_pack_trials_are_14_log_spaced_lrs_times_two_rules():
    trials = layer_models.pack_trials()
    assert len(trials) == 28 and {t["optimizer"] for t in trials} == {"adam", "momentum"}
    lrs = sorted({t["lr"] for t in trials})
    assert len(lrs) == 14 and lrs[0] == pytest.approx(1e-4) and lrs[-1] == pytest.approx(1e-1)
    assert np.allclose(np.diff(np.log10(lrs)), 3 / 13)


def test_padded_bags_hold_every_token_once():
    import scipy.sparse as sp

    dense = np.array([[0, 2, 0, 1], [0, 0, 0, 0], [3, 0, 1, 5]], dtype=np.float64)
    ids, counts = layer_models.padded_bags(sp.csr_matrix(dense))
    assert ids.shape == counts.shape == (3, 3) and ids.dtype == np.int64 and counts.dtype == np.float32
    back = np.zeros_like(dense)
    for r in range(3):
        np.add.at(back[r], ids[r], counts[r])
    np.testing.assert_array_equal(back, dense)


@pytest.mark.parametrize("key", list(layer_models.PROBLEMS))
def test_torch_twins_take_the_engines_weights(key):
    pytest.importorskip("torch")
    ctx = _ctx()
    P = layer_models.problem(ctx, key)
    X, y, Xv, yv, Xt, yt = P["data"]
    assert len(y) == P["ds"].n_train and len(yv) == P["ds"].n_val
    inits, note = layer_models.torch_init(ctx, key)
    assert 0 in inits, note
    assert inits[0].size == P["model"].n_params


def test_layer_options_and_sections(tmp_path):
    args = bench_run.parse_args(["--only", "w2,c2,k1", "--layer-epochs", "3"])
    assert args.only == ["K1", "W2", "C2"]
    ctx = bench_run.make_ctx(args, log_fn=None)
    assert set(ctx.cache["layer_sizes"].epochs.values()) == {3}
    quick = bench_run.make_ctx(bench_run.parse_args(["--quick"]), log_fn=None)
    assert set(quick.cache["layer_sizes"].epochs.values()) == {1}
    with pytest.raises(SystemExit):
        bench_run.parse_args(["--layer-epochs", "0"])
    ctx.add(Measurement.timed("W2", "28 trials", "optengine train_pack", "pack wall time", common.Timing([1.0]),
                              1.0, "s", ratio=1.0))
    ctx.add(Measurement("W2", "best val accuracy adam", "optengine", "accuracy", value=0.5))
    ctx.target(Target("W2", "cnn1d: torch / optengine", 2.5, ">=", 2.0))
    ctx.section("W2", "the W2 note")
    meta = common.run_meta(ctx, ["--only", "W2"], 1.0, __import__("datetime").datetime.now())
    text = bench_run.render_markdown(ctx, meta)
    assert "## W2: MNIST-1D 1-D CNN" in text and "the W2 note" in text and "| PASS |" in text
    assert "best val accuracy" not in text and "## C2" not in text
    assert text.index("## W2") < text.index("All rows are also in")


def test_w5_single_trial_runs_without_baselines():
    ctx = _ctx(baselines=False)
    ctx.cache["layer_sizes"] = layer_models.LayerSizes.quick()
    layer_models.bench_single(ctx, "W5", "sparse", 1.0)
    rows = {m.implementation: m for m in ctx.measurements if m.metric == "trial wall time"}
    assert rows["optengine oe.train"].status == "ok" and rows["optengine oe.train"].value > 0
    assert rows["torch eager"].status.startswith("not run")
    assert [t.verdict for t in ctx.targets] == ["n/a"]
