"""``optengine report DIR``: a summary table for the terminal, PNG figures and ``report.md`` in the folder."""

from __future__ import annotations

import json
import math
import textwrap
from pathlib import Path

import pandas as pd

from . import analysis, plots
from .results import ResultsError, atomic_write_bytes, load, read_sweep_info
from .sweep import manifest


def _fmt(v) -> str:
    if isinstance(v, float):
        return "-" if math.isnan(v) else f"{v:.4g}"
    return str(v)


def _table(df: pd.DataFrame) -> list[list[str]]:
    return [list(map(str, df.columns))] + [[_fmt(v) for v in row] for row in df.itertuples(index=False)]


def _text_table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _md_table(rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    out += ["| " + " | ".join(r) + " |" for r in rows[1:]]
    return "\n".join(out)


def _mean_std(m, s) -> str:
    if isinstance(m, float) and math.isnan(m):
        return "-"
    return f"{_fmt(m)} ± {s:.2g}" if not math.isnan(s) else _fmt(m)


def best_table(runs: pd.DataFrame, metric: str, mode: str | None = None) -> pd.DataFrame:
    """Best configuration per optimizer, chosen on the validation ``metric`` (``mean ± std`` over seeds), with
    the other validation column, the test columns (``mean ± std``; ``n/a`` without a test split) and the
    rule's divergence count."""
    best = analysis.best_per_optimizer(runs, metric, mode)
    other = "final_val_metric" if metric != "final_val_metric" else "final_val_loss"
    other_mean = {}
    for i, row in best.iterrows():
        sel = runs[runs["trial_id"].isin(row["trial_ids"]) & (runs["status"].astype(str) == "ok")]
        other_mean[i] = sel[other].mean() if len(sel) == len(row["trial_ids"]) else float("nan")
    per_rule = runs.groupby("optimizer", observed=True, sort=False)["status"]
    bad = per_rule.agg(lambda s: f"{int((s.astype(str) != 'ok').sum())}/{len(s)}")
    table = best.drop(columns=["trial_ids", "diverged", "failed"]).copy()
    table[metric] = [_mean_std(m, s) for m, s in zip(best["mean"], best["std"])]
    table[other] = [other_mean[i] for i in best.index]
    for col in analysis.TEST_COLUMNS:
        measured = col in runs.columns and runs[col].notna().any()
        table[col] = [_mean_std(m, s) if measured else "n/a" for m, s in zip(best[col], best[f"{col}_std"])]
    table["diverged or failed"] = [bad[o] for o in best["optimizer"]]
    axes = [c for c in table.columns if c not in ("mean", "std", "seeds", metric, other, "diverged or failed")
            and c not in analysis.TEST_COLUMNS and not c.endswith("_std")]
    return table[[*axes, metric, other, *analysis.TEST_COLUMNS, "seeds", "diverged or failed"]]


def report(folder, metric: str = "final_val_loss", mode: str | None = None, figures: bool = True) -> str:
    """Write ``report.md`` and figures into ``folder``; return the terminal summary.

    A folder that cannot be written (read-only, full disk) still gets its summary; the summary then
    says what could not be written, where, and why."""
    folder = Path(folder)
    runs, curves = load(folder)
    info = read_sweep_info(folder) or {}
    name = info.get("name", folder.name)
    if runs.empty:
        return f"{folder}: no finished trials yet"
    status = runs["status"].astype(str).value_counts()
    counts = ", ".join(f"{status.get(s, 0)} {s}" for s in ("ok", "diverged", "failed"))
    expected = info.get("trials")
    head = f"sweep {name}: {len(runs)} trials" + (f" of {expected}" if expected and expected != len(runs) else "")
    head += f" ({counts})"
    table = best_table(runs, metric, mode)
    direction = analysis.direction(metric, mode, runs)
    tests = ", ".join(analysis.TEST_COLUMNS)
    no_test = not any(c in runs.columns and runs[c].notna().any() for c in analysis.TEST_COLUMNS)
    how = (f"best configuration per optimizer, chosen on validation, reported on test: chosen by {metric} "
           f"({'lower' if direction == 'min' else 'higher'} is better; mean ± std over seeds; configurations with "
           f"a diverged or failed seed are not ranked); {tests}: the test split, evaluated once after training, "
           "mean ± std over the same seeds"
           + (" (n/a: these results have no test split, e.g. written before optengine kept one)" if no_test else ""))
    text = [head, textwrap.fill(how + ":", 110), _text_table(_table(table))]

    md = [f"# Sweep `{name}`", ""]
    description = (info.get("spec") or {}).get("description")
    if description:
        md += [description, ""]
    md += [head + ".", "", f"## Best configuration per optimizer (chosen on validation `{metric}`, reported on test)",
           "", how[0].upper() + how[1:] + ".", "", _md_table(_table(table)), ""]
    sens = analysis.lr_sensitivity(runs, metric, mode)
    md += [f"## Learning-rate sensitivity (`{metric}`, best over other settings, mean over seeds)", "",
           _md_table(_table(sens.reset_index())), ""]
    written, problems = [], []
    if figures:
        fig_dir = folder / "figures"
        todo = {"lr_sensitivity.png": lambda p: plots.plot_lr_sensitivity(runs, p, metric, mode)}
        if len(curves):
            todo["best_curves.png"] = lambda p: plots.plot_best_curves(runs, curves, p, metric, mode)
        if runs["batch_size"].nunique() > 1:
            todo["lr_batch_heatmap.png"] = lambda p: plots.plot_lr_batch_heatmap(runs, p, metric, mode=mode)
        try:
            manifest.record(folder, [fig_dir / name for name in todo])  # before writing: --fresh may delete them
            for name, plot in todo.items():
                written.append(plot(fig_dir / name))
        except (OSError, ResultsError) as exc:
            problems.append(f"could not write the figures into {fig_dir}: {_reason(exc)}")
        if written:
            md += ["## Figures", ""] + [f"![{p.stem}](figures/{p.name})" for p in written] + [""]
    failed = runs[runs["status"].astype(str) == "failed"]
    if len(failed):
        md += ["## Failed trials", ""]
        for _, r in failed.head(20).iterrows():
            first = (r["error"].strip().splitlines() or [""])[-1]
            md.append(f"- `{r['trial_id']}` {r['optimizer']} lr={r['lr']:g} seed={r['seed']}: {first}")
        md.append("")
    env = folder / "environment.json"
    if env.is_file():
        try:
            rec = json.loads(env.read_text())[-1]
            md += ["## Environment (last run)", "", f"{rec.get('host')}, {rec.get('cores')} cores, backend "
                   f"{rec.get('backend')} x {rec.get('jobs')} jobs, trainer threads per worker "
                   f"{rec.get('numba_threads_per_worker')}, device {rec.get('device')}; "
                   + ", ".join(f"{k} {v}" for k, v in rec.get("versions", {}).items())
                   + (f"; optengine commit {rec['git_commit'][:12]}{' (modified)' if rec.get('git_dirty') else ''}"
                      if rec.get("git_commit") else ""), ""]
        except (ValueError, IndexError, AttributeError, KeyError, TypeError, OSError):
            pass
    try:
        manifest.record(folder, [folder / "report.md"])
        atomic_write_bytes(folder / "report.md", "\n".join(md).encode())
    except (OSError, ResultsError) as exc:
        problems.insert(0, f"could not write {folder / 'report.md'}: {_reason(exc)}")
    else:
        written.insert(0, folder / "report.md")
    wrote = [f"wrote {folder / 'report.md'}"] if (folder / "report.md") in written else []
    figs = [p for p in written if p.suffix == ".png"]
    if figs:
        wrote.append(f"{len(figs)} figure(s) in {folder / 'figures'}")
    text.append("")
    if wrote:
        text.append(" and ".join(wrote))
    text += problems
    return "\n".join(text)


def _reason(exc: Exception) -> str:
    """The OS's reason (a ResultsError wraps the OSError it was raised for)."""
    os_error = exc if isinstance(exc, OSError) else exc.__context__
    if isinstance(os_error, OSError):
        return os_error.strerror or str(os_error) or type(os_error).__name__
    return str(exc)
