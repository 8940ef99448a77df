"""The results schema: the columns of the runs and curves tables, importable without numba.

Reading a results folder (``oe.load``, ``optengine report``) needs only this module, pandas and
pyarrow; the trainer and the update rules are never imported for it.

Versioning
----------
Every part file carries ``{"format": N, "table": "runs" | "curves" | "steps" | "trajectories"}`` in its
Parquet metadata. ``steps`` (the step table, ``log_every``/``eval_every``) and ``trajectories`` (the
parameter path of 2-parameter models) are optional tables, added within format 2: a folder without
them reads as having none (``results.load_table`` returns the empty table with its columns).

* **Format 1** (before the Hardening issue): runs column ``clip`` (now ``clipping``), ``schedule``
  held the schedule's label; no test columns, no ``compile_s``. Mapped to format 2 on read.
* **Format 2** (this version): the columns below.

Within a format, the **hyperparameter columns evolve without a new format number**. A runs table
has fixed columns (``RUN_COLUMNS_BEFORE`` + hyperparameters + ``RUN_COLUMNS_AFTER``, then
``EXTRA_RUN_COLUMNS``); every other column of a runs part is a rule hyperparameter (float64, NaN for
a rule that does not take it). Hyperparameter columns are all optional on read: a part written
before a hyperparameter existed reads with NaN in that column, so adding a hyperparameter (or a
rule) never makes an existing folder unreadable or unresumable, and an older optengine reading a
newer folder simply does not show the columns it does not know. ``HYPER_COLUMNS_V2`` are the
hyperparameter columns format 2 started with: a loaded runs table always has them (so its columns
are stable), followed by any later hyperparameter columns present in the folder, in the order of
``hyper_order`` (the trainer's order when known, otherwise first appearance).

``lr_base`` (float64) is read the same way: the sweep runner writes it, beside ``config_id``, only
for a sweep with ``[scaling]`` (linked axes, ``sweep/linked.py``): the unscaled lr of a trial whose
``lr`` follows its batch size. It is optional on read (absent, or NaN in parts without it), so it
changes neither the format nor any trial_id. It is the one such column that is not a rule
hyperparameter (``SCALING_COLUMNS``).

**Added columns** (``ADDED_RUN_COLUMNS``, within format 2): columns appended after the fixed ones
whose absence has one meaning, their default. A part written before such a column existed reads with
the default (``steps_to_target``: -1, "no target / not reached"), so older folders still load and
resume; an older optengine reading a newer folder sees it as one more (hyperparameter-like) column.

A new *fixed* column, a renamed column or a changed meaning needs a new format number, a reader
for the old one (as ``results._from_format_1``) and an entry above.

trial_ids: a trial's id is the hash of its canonical settings (``settings.TrialConfig``); a
hyperparameter added to a rule later is left out of that form while it has its default, so the
ids of existing configurations never change (see ``settings.canonical_hyper``).
"""

from __future__ import annotations

import pyarrow as pa

FORMAT = 2
READ_FORMATS = (1, 2)

RUN_COLUMNS_BEFORE = ["trial_id", "sweep", "model", "dataset", "optimizer", "lr", "batch_size", "epochs", "seed",
                      "schedule", "schedule_settings", "clipping"]
RUN_COLUMNS_AFTER = ["dtype", "status", "error", "final_train_loss", "final_val_loss", "final_val_metric",
                     "best_val_loss", "best_epoch", "final_test_loss", "final_test_metric", "steps",
                     "diverged_at_step", "early_stopped", "wall_s", "compile_s"]
# added within format 2, with the value a part written before them reads with (see "Added columns")
ADDED_RUN_COLUMNS = {"steps_to_target": -1}
# written by the sweep runner beside the trainer's columns (empty in parts of older versions)
EXTRA_RUN_COLUMNS = ["config_id", "model_spec", "dataset_spec", "device"]
# optional columns read like hyperparameter columns that are not rule hyperparameters (see the module)
SCALING_COLUMNS = ["lr_base"]
# the hyperparameter columns of results format 2 as first released (lr is a fixed column)
HYPER_COLUMNS_V2 = ["momentum", "beta1", "beta2", "eps", "decay", "weight_decay", "l2"]
CURVE_COLUMNS = ["trial_id", "epoch", "step", "lr", "train_loss", "val_loss", "val_metric", "grad_norm"]
# the step table: a row every log_every steps (lr, means over those steps of the loss and pre-clip gradient
# norm, fraction clipped) and every eval_every steps (validation); NaN where not recorded
STEP_COLUMNS = ["trial_id", "step", "lr", "train_loss", "grad_norm", "clip_fraction", "val_loss", "val_metric"]
# the path of a 2-parameter model: step 0 = the start, then after every step; loss = the training loss there
TRAJECTORY_COLUMNS = ["trial_id", "step", "p0", "p1", "loss"]
# runs columns added by format 2 (NaN in format-1 parts)
ADDED_IN_2 = ("final_test_loss", "final_test_metric", "compile_s")

_FIXED = set(RUN_COLUMNS_BEFORE) | set(RUN_COLUMNS_AFTER) | set(EXTRA_RUN_COLUMNS) | set(ADDED_RUN_COLUMNS) | {"clip"}
_INT = {"batch_size", "epochs", "seed", "best_epoch", "steps", "diverged_at_step", "epoch", "step", "steps_to_target"}
_STR = {"trial_id", "sweep", "model", "dataset", "optimizer", "schedule", "schedule_settings", "clipping", "dtype",
        "status", "error", "model_spec", "dataset_spec", "device", "config_id"}
STATUSES = ("ok", "diverged", "failed", "pruned")  # pruned: stopped by a halving search or median stopping


def is_hyper_column(name: str) -> bool:
    """True for a runs column that holds a rule hyperparameter (any column that is not a fixed one)."""
    return name not in _FIXED and not name.startswith("_")


def hyper_order(*column_lists) -> list[str]:
    """The hyperparameter columns of several column lists, format 2's first, then the others in the
    order they first appear."""
    out = list(HYPER_COLUMNS_V2)
    for cols in column_lists:
        out += [c for c in cols if is_hyper_column(c) and c not in out]
    return out


def run_columns(hyper_columns=HYPER_COLUMNS_V2, extra: bool = False) -> list[str]:
    """The runs table's columns with these hyperparameter columns (+ the runner's columns with ``extra``)."""
    return (RUN_COLUMNS_BEFORE + list(hyper_columns) + RUN_COLUMNS_AFTER + list(ADDED_RUN_COLUMNS)
            + (EXTRA_RUN_COLUMNS if extra else []))


def column_type(col: str) -> pa.DataType:
    if col in _INT:
        return pa.int64()
    if col in _STR:
        return pa.string()
    if col == "early_stopped":
        return pa.bool_()
    return pa.float64()


def runs_schema(hyper_columns=HYPER_COLUMNS_V2) -> pa.Schema:
    """The Arrow schema of a runs part with these hyperparameter columns."""
    return pa.schema([(c, column_type(c)) for c in run_columns(hyper_columns, extra=True)])


RUNS_SCHEMA = runs_schema()  # format 2 with its first hyperparameter columns
CURVES_SCHEMA = pa.schema([(c, column_type(c)) for c in CURVE_COLUMNS])
STEPS_SCHEMA = pa.schema([(c, column_type(c)) for c in STEP_COLUMNS])
TRAJECTORIES_SCHEMA = pa.schema([(c, column_type(c)) for c in TRAJECTORY_COLUMNS])
SCHEMAS = {"runs": RUNS_SCHEMA, "curves": CURVES_SCHEMA, "steps": STEPS_SCHEMA, "trajectories": TRAJECTORIES_SCHEMA}
# the tables written beside a pack's runs part (same part number), optional
SIDE_TABLES = ("steps", "trajectories")
