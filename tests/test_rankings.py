"""Fair selection (notes section 10): rankings with bootstrap intervals, grid edges, budgets, profiles;
critical batch size (section 9). Hand-made results with known answers."""

import numpy as np
import pandas as pd
import pytest

from optengine import analysis
from optengine.errors import ConfigError
from test_analysis import make_runs


def test_rank_optimizers_chooses_on_validation_and_reports_on_test():
    r = analysis.rank_optimizers(make_runs(), "final_val_loss", n_boot=300, seed=0)
    assert r["optimizer"].tolist() == ["adam", "sgd"] and r["rank"].tolist() == [1, 2]
    assert r["test"].tolist() == pytest.approx([0.831, 1.331])  # the chosen configuration's test mean
    assert r["val"].tolist() == pytest.approx([0.526, 1.026])
    assert (r["ci_low"] <= r["test"]).all() and (r["test"] <= r["ci_high"]).all()
    assert r.loc[0, "ci_low"] >= 0.816 - 1e-9 and r.loc[0, "ci_high"] <= 0.846 + 1e-9  # within the seeds' values
    assert r["p_best"].tolist() == [1.0, 0.0] and r.attrs["reported_on"] == "final_test_loss"
    again = analysis.rank_optimizers(make_runs(), n_boot=300, seed=0)
    pd.testing.assert_frame_equal(r, again)  # seeded


def test_bootstrap_reselects_on_validation_and_overlapping_rules_share_ranks():
    rows = []
    rng = np.random.default_rng(0)
    for rule, mu in (("a", 1.0), ("b", 1.02)):
        for lr in (0.01, 0.1):
            for seed in range(5):
                v = mu + (0.3 if lr == 0.1 else 0) + 0.1 * rng.standard_normal()
                rows.append({"trial_id": f"{rule}{lr}{seed}", "optimizer": rule, "lr": lr, "seed": seed,
                             "status": "ok", "final_val_loss": v, "final_test_loss": v + 0.01, "model": "m",
                             "dataset": "d"})
    runs = pd.DataFrame(rows)
    r = analysis.rank_optimizers(runs, n_boot=500, seed=1)
    assert set(r["rank_low"]) == {1} and set(r["rank_high"]) == {2}  # intervals overlap: either may be best
    assert 0 < r["p_best"].min() < 0.5 < r["p_best"].max() < 1 and r["p_best"].sum() == pytest.approx(1)
    with pytest.raises(ConfigError, match="n_boot"):
        analysis.rank_optimizers(runs, n_boot=-1)
    with pytest.raises(ConfigError, match="test split"):
        analysis.rank_optimizers(runs, "final_test_loss")


def test_a_rule_that_always_diverged_ranks_last():
    runs = make_runs()
    runs.loc[runs["optimizer"] == "adam", "status"] = "diverged"
    r = analysis.rank_optimizers(runs, n_boot=50)
    assert r["optimizer"].tolist() == ["sgd", "adam"] and np.isnan(r.loc[1, "test"]) and r.loc[1, "rank"] == 2


def test_grid_edges_per_rule_and_axis():
    runs = make_runs()
    e = analysis.grid_edges(runs)
    assert set(zip(e["optimizer"], e["axis"], e["side"])) == {("sgd", "lr", "lowest"), ("adam", "lr", "lowest"),
                                                              ("sgd", "batch_size", "lowest"),
                                                              ("adam", "batch_size", "lowest")}
    assert "extend the range down" in e["message"][0]
    # a middle choice is no warning: add a smaller lr that is worse
    extra = runs[runs["lr"] == 0.1].assign(lr=0.001, trial_id=lambda d: d["trial_id"] + "s",
                                           final_val_loss=lambda d: d["final_val_loss"] + 1)
    e = analysis.grid_edges(pd.concat([runs, extra], ignore_index=True))
    assert "lr" not in set(e["axis"])


def test_random_search_edges_are_the_outer_tenth_of_the_log_range():
    lrs = np.geomspace(1e-4, 1e-1, 20)
    rows = [{"trial_id": f"t{i}", "optimizer": "adam", "lr": lr, "seed": 0, "status": "ok",
             "final_val_loss": abs(np.log10(lr) + 1.15), "model": "m", "dataset": "d"} for i, lr in enumerate(lrs)]
    e = analysis.grid_edges(pd.DataFrame(rows))  # best lr ~ 0.07: 95% of the way up the log range
    assert e["side"].tolist() == ["near the highest"]


def test_budget_from_sweep_json_or_counted():
    runs = make_runs()
    b = analysis.budget(runs)
    assert b["configurations"].tolist() == [4, 4] and (b["source"] == "counted").all()
    info = {"search": {"kind": "random", "trials": 60, "per_rule": True, "budget": {"sgd": 30, "adam": 30}}}
    assert analysis.budget(runs, info)["configurations"].tolist() == [30, 30]
    text = analysis.budget_statement(runs, info)
    assert "random search" in text and "sgd 30, adam 30" in text and "same budget" in text
    unequal = pd.concat([runs, runs[runs["optimizer"] == "adam"].assign(
        lr=0.5, trial_id=lambda d: d["trial_id"] + "x")], ignore_index=True)
    assert "Unequal budgets" in analysis.budget_statement(unequal)


def test_performance_profile_over_problems():
    a = make_runs()
    b = a.assign(dataset="wine", trial_id=a["trial_id"] + "w")
    b.loc[b["optimizer"] == "sgd", "final_test_loss"] -= 1.0  # sgd wins on wine
    ratios, profile = analysis.performance_profile(pd.concat([a, b], ignore_index=True))
    assert ratios.loc["mlp / iris", "adam"] == 1.0 and ratios.loc["mlp / wine", "sgd"] == 1.0
    assert ratios.loc["mlp / iris", "sgd"] == pytest.approx(1.331 / 0.831)
    assert profile.iloc[0].tolist() == [0.5, 0.5] and profile.iloc[-1].tolist() == [1.0, 1.0]
    assert ratios.attrs["mean_rank"].tolist() == [1.5, 1.5]


def _scaling_runs(b_crit=64.0, s_min=1000.0, unreached=()):
    rows = []
    for B in (16, 32, 64, 128, 256, 512):
        for lr, slow in ((0.1, 1.0), (0.01, 1.5)):
            for seed in (0, 1):
                steps = int(round(s_min * (1 + b_crit / B) * slow))
                rows.append({"trial_id": f"{B}-{lr}-{seed}", "optimizer": "sgd", "lr": lr, "batch_size": B,
                             "seed": seed, "status": "ok", "final_val_loss": 0.1, "model": "m", "dataset": "d",
                             "steps_to_target": -1 if (B, lr) in unreached else steps})
    return pd.DataFrame(rows)


def test_critical_batch_size_recovers_the_model():
    runs = _scaling_runs(unreached={(512, 0.1)})
    t = analysis.steps_to_target_table(runs)
    assert t["steps"].tolist()[:2] == [5000, 3000] and t["lr"].tolist()[:2] == [0.1, 0.1]
    assert t.iloc[-1]["lr"] == 0.01  # lr 0.1 never reached the target at batch 512: the best that did
    c = analysis.critical_batch_size(_scaling_runs())
    assert c.loc[0, "b_crit"] == pytest.approx(64, rel=1e-3) and c.loc[0, "s_min"] == pytest.approx(1000, rel=1e-3)
    perfect = _scaling_runs(b_crit=1e6, s_min=1e-3)
    assert analysis.critical_batch_size(perfect).loc[0, "b_crit"] > 512
    with pytest.raises(ConfigError, match="steps_to_target"):
        analysis.critical_batch_size(make_runs())


def test_steps_to_target_is_not_a_configuration_column():
    runs = _scaling_runs()
    assert "steps_to_target" not in analysis.config_columns(runs)
    assert len(analysis.summarize(runs)) == 12  # 6 batch sizes x 2 lrs, seeds averaged
