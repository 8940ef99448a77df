"""Every update rule in the GPU pack trainer: the CPU pack's curves, runs and parameters.

One pack with a trial per test row of ``tests/rule_cases.py`` (each rule at its defaults and at
every further setting of its row: AMSGrad, dampening, ...), so a new rule is trained on the
simulated GPU as soon as it has its row. Tolerance as in ``test_cuda_pack.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rule_cases import ROWS  # noqa: E402
from test_cuda_pack import classes, compare  # noqa: E402,F401  (classes: the fixture)


def _trials():
    trials = []
    for name, row in ROWS.items():
        for i, hyper in enumerate(({"lr": row.lr},) + tuple(row.variants)):
            lr = min(hyper["lr"], 0.05)  # a fast-moving row (adadelta's lr 1) still trains softly here
            trials.append({"optimizer": name, **hyper, "lr": lr, "seed": i})
    return trials


def test_every_rule_row_trains_as_on_the_cpu(classes):  # noqa: F811
    runs, _, _ = compare("softmax_regression", classes, _trials(), batch_size=12, epochs=2)
    assert set(runs["optimizer"]) == set(ROWS)
    assert (runs["status"] == "ok").all()
