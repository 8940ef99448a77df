"""Successive halving vs the full grid on the search space of sweeps/mnist1d_optimizers.toml.

Target (issue 13): halving finds a configuration within 1 point of the grid's best validation accuracy
using at most 35% of the grid's training epochs. Both runs train the same trials (same trial ids: the
halving search's trials are the grid's, stopped at rungs), so the grid's curves also check that every
halving trial's curve is the grid's own curve up to where it stopped.

Reduced to fit about 10 minutes on 2 cores: epochs 18 instead of 20 (rungs 3, 9, 18 with eta = 3).

    PYTHONPATH=. python experiments/halving_vs_grid.py [OUT]     (default OUT: results/halving_vs_grid)
"""

import json
import sys
import time
import tomllib
from pathlib import Path

import numpy as np

import optengine as oe
from optengine.sweep import run_sweep

EPOCHS, MIN_EPOCHS, ETA = 18, 3, 3
OBJECTIVE = "final_val_metric"  # the validation accuracy, what the target compares


def spec(search: dict | None) -> dict:
    raw = tomllib.loads((Path(__file__).parent.parent / "sweeps" / "mnist1d_optimizers.toml").read_text())
    raw["train"]["epochs"] = EPOCHS
    raw["name"] = "halving_vs_grid_" + ("grid" if search is None else search["kind"])
    if search:
        raw["search"] = search
    return raw


def best_accuracy(runs) -> tuple[float, str]:
    ok = runs[runs["status"].astype(str) == "ok"]
    by = ok.groupby("config_id")
    full = by["steps"].transform("max") == ok["steps"].max()  # configurations trained to the end only
    acc = ok[full].groupby("config_id")["final_val_metric"].mean()
    return float(acc.max()), str(acc.idxmax())


def main(out=Path("results/halving_vs_grid")):
    out = Path(out)
    t0 = time.perf_counter()
    grid = run_sweep(spec(None), out / "grid", fresh=True)
    t_grid = time.perf_counter() - t0
    t0 = time.perf_counter()
    halved = run_sweep(spec({"kind": "halving", "min_epochs": MIN_EPOCHS, "eta": ETA, "objective": OBJECTIVE}),
                       out / "halving", fresh=True)
    t_halving = time.perf_counter() - t0
    record = json.loads((out / "halving" / "halving.json").read_text())
    grid_best, grid_cfg = best_accuracy(grid)
    halving_best, halving_cfg = best_accuracy(halved)
    # the curves of the halving trials are the grid's, bit for bit, up to where they stopped
    _, gc = oe.load(out / "grid")
    _, hc = oe.load(out / "halving")
    m = hc.merge(gc, on=["trial_id", "epoch"], suffixes=("", "_g"))
    same = len(m) == len(hc) and np.array_equal(m["val_loss"], m["val_loss_g"], equal_nan=True)
    result = {"epochs": EPOCHS, "rungs": record["rungs"], "grid_best_val_accuracy": grid_best,
              "grid_best_config": grid_cfg, "halving_best_val_accuracy": halving_best,
              "halving_best_config": halving_cfg, "gap_points": 100 * (grid_best - halving_best),
              "trained_epochs": record["trained_epochs"], "grid_epochs": record["grid_epochs"],
              "fraction_of_grid": record["fraction_of_grid"], "curves_identical_to_grid": bool(same),
              "wall_s": {"grid": round(t_grid, 1), "halving": round(t_halving, 1)},
              "target_met": bool(100 * (grid_best - halving_best) <= 1.0 and record["fraction_of_grid"] <= 0.35)}
    print(json.dumps(result, indent=1))
    (out / "result.json").write_text(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main(*sys.argv[1:])
