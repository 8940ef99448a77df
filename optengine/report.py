"""``optengine report DIR``: a summary table for the terminal, PNG figures, ``report.md`` and a
self-contained ``report.html`` (figures embedded as base64 PNG) in the folder; ``export_csv`` for
``optengine export DIR --csv``.

The report holds: the best configuration per rule (chosen on validation, reported on test) with the
diagnosis of its trials; the rankings with bootstrapped intervals over seeds; warnings for best
settings at the edge of the searched range; the search budget per rule; lr sensitivity; the
diagnosis of every trial that is not healthy (notes section 11); the critical batch size when the
runs have ``steps_to_target``; and the figures (section 6 trajectories for surface sweeps, section 9
steps to target, section 10 performance profile when the folder holds several problems).
"""

from __future__ import annotations

import base64
import html
import json
import math
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd

from . import analysis, plots
from .diagnose import diagnose
from .results import ResultsError, atomic_write_bytes, load, os_errors, read_sweep_info
from .sweep import manifest

N_BOOT = 1000


def load_side_table(folder, name: str) -> pd.DataFrame | None:
    """The folder's ``steps`` or ``trajectories`` table, or None when this optengine or the folder has none."""
    try:
        from .results import load_table
    except ImportError:
        return None
    try:
        table = load_table(folder, name)
    except Exception:  # noqa: BLE001 - an older reader, or no such table: the feature says it is absent
        return None
    return table if len(table) else None


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


def _diagnosis_of(ids, labels: dict | None) -> str:
    """The labels of a configuration's trials: ``healthy``, or ``healthy 2/3, oscillating 1/3``."""
    if not labels:
        return "-"
    found = [labels.get(t, "-") for t in ids]
    counts = pd.Series(found).value_counts()
    if len(counts) == 1:
        return str(counts.index[0])
    return ", ".join(f"{k} {v}/{len(found)}" for k, v in counts.items())


def best_table(runs: pd.DataFrame, metric: str, mode: str | None = None, labels: dict | None = None) -> pd.DataFrame:
    """Best configuration per optimizer, chosen on the validation ``metric`` (``mean ± std`` over seeds), with
    the other validation column, the test columns (``mean ± std``; ``n/a`` without a test split), the
    rule's divergence count and, with ``labels`` (trial_id -> diagnosis), the diagnosis of its trials."""
    best = analysis.best_per_optimizer(runs, metric, mode)
    other = "final_val_metric" if metric != "final_val_metric" else "final_val_loss"
    other_mean = {}
    for i, row in best.iterrows():
        sel = runs[runs["trial_id"].isin(row["trial_ids"]) & (runs["status"].astype(str) == "ok")]
        other_mean[i] = sel[other].mean() if len(sel) == len(row["trial_ids"]) else float("nan")
    per_rule = runs.groupby("optimizer", observed=True, sort=False)["status"]
    bad = per_rule.agg(lambda s: f"{int((~s.astype(str).isin(['ok', 'pruned'])).sum())}/{len(s)}")
    table = best.drop(columns=["trial_ids", "diverged", "failed"]).copy()
    table[metric] = [_mean_std(m, s) for m, s in zip(best["mean"], best["std"])]
    table[other] = [other_mean[i] for i in best.index]
    for col in analysis.TEST_COLUMNS:
        measured = col in runs.columns and runs[col].notna().any()
        table[col] = [_mean_std(m, s) if measured else "n/a" for m, s in zip(best[col], best[f"{col}_std"])]
    table["diverged or failed"] = [bad[o] for o in best["optimizer"]]
    if (runs["status"].astype(str) == "pruned").any():  # a halving search: pruned trials are not ranked
        pruned = per_rule.agg(lambda s: f"{int((s.astype(str) == 'pruned').sum())}/{len(s)}")
        table["pruned"] = [pruned[o] for o in best["optimizer"]]
    extra = []
    if labels is not None:
        table["diagnosis"] = [_diagnosis_of(ids, labels) for ids in best["trial_ids"]]
        extra = ["diagnosis"]
    axes = [c for c in table.columns if c not in ("mean", "std", "seeds", metric, other, "diverged or failed", "pruned",
                                                  "diagnosis")
            and c not in analysis.TEST_COLUMNS and not c.endswith("_std")]
    return table[[*axes, metric, other, *analysis.TEST_COLUMNS, "seeds", "diverged or failed",
                  *(["pruned"] if "pruned" in table.columns else []), *extra]]


def ranking_table(ranks: pd.DataFrame) -> pd.DataFrame:
    """``analysis.rank_optimizers`` for print: value [CI], rank [range], P(best)."""
    rep = ranks.attrs.get("reported_on", "test")
    ci = int(round(100 * ranks.attrs.get("ci", 0.95)))
    out = pd.DataFrame({"problem": ranks["problem"], "rank": ranks["rank"], "optimizer": ranks["optimizer"]})
    axes = [c for c in ranks.columns if c not in ("problem", "optimizer", "val", "val_std", "test", "test_std",
                                                  "ci_low", "ci_high", "rank", "rank_low", "rank_high", "p_best",
                                                  "seeds", "configurations", "trial_ids")]
    for c in axes:
        out[c] = ranks[c]
    out[f"{rep} (chosen config)"] = [_fmt(v) for v in ranks["test"]]
    if "ci_low" in ranks:
        out[f"{ci}% CI over seeds"] = [f"[{_fmt(a)}, {_fmt(b)}]" for a, b in zip(ranks["ci_low"], ranks["ci_high"])]
        out["rank range"] = [f"{a}-{b}" if a != b else f"{a}" for a, b in zip(ranks["rank_low"], ranks["rank_high"])]
        out["P(best)"] = [f"{p:.2f}" for p in ranks["p_best"]]
    out["seeds"] = ranks["seeds"]
    out["configurations"] = ranks["configurations"]
    if out["problem"].nunique() <= 1:
        out = out.drop(columns="problem")
    return out


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
    counts = ", ".join(f"{status.get(s, 0)} {s}" for s in ("ok", "diverged", "failed", "pruned")
                       if s != "pruned" or status.get(s, 0))
    expected = info.get("trials")
    head = f"sweep {name}: {len(runs)} trials" + (f" of {expected}" if expected and expected != len(runs) else "")
    head += f" ({counts})"
    steps = load_side_table(folder, "steps")
    diag = diagnose(runs, curves, steps)
    labels = dict(zip(diag["trial_id"], diag["label"]))
    table = best_table(runs, metric, mode, labels)
    direction = analysis.direction(metric, mode, runs)
    tests = ", ".join(analysis.TEST_COLUMNS)
    no_test = not any(c in runs.columns and runs[c].notna().any() for c in analysis.TEST_COLUMNS)
    how = (f"best configuration per optimizer, chosen on validation, reported on test: chosen by {metric} "
           f"({'lower' if direction == 'min' else 'higher'} is better; mean ± std over seeds; configurations with "
           f"a diverged or failed seed are not ranked); {tests}: the test split, evaluated once after training, "
           "mean ± std over the same seeds"
           + (" (n/a: these results have no test split, e.g. written before optengine kept one)" if no_test else ""))
    text = [head, textwrap.fill(how + ":", 110), _text_table(_table(table))]

    ranks = analysis.rank_optimizers(runs, metric, n_boot=N_BOOT, seed=0, mode=mode)
    rank_view = ranking_table(ranks)
    rep = ranks.attrs["reported_on"]
    rank_how = (f"Rules ranked by {rep} of the configuration each chose on validation {metric}; intervals: "
                f"{N_BOOT} bootstrap draws of the seeds, choosing again on validation in every draw "
                "(P(best): the share of draws in which the rule ranks first)"
                + (". One seed: the intervals are points; run more seeds" if runs["seed"].nunique() < 2 else ""))
    edges = analysis.grid_edges(runs, metric, mode)
    budget = analysis.budget_statement(runs, info)
    text += ["", textwrap.fill(rank_how + ":", 110), _text_table(_table(rank_view))]
    if len(edges):
        text += [""] + [f"warning: {m}" for m in edges["message"]]
    text += ["", textwrap.fill(budget, 110)]
    halving_lines = _halving_lines(folder)
    if halving_lines:
        text += [""] + halving_lines
    bad = diag[~diag["label"].isin(["healthy"])]
    counts = diag["label"].value_counts()
    diag_line = "diagnosis (notes section 11): " + ", ".join(f"{v} {k}" for k, v in counts.items())
    text += ["", diag_line + (f"; `optengine diagnose {folder}` for the evidence and remedies" if len(bad) else "")]

    md = [f"# Sweep `{name}`", ""]
    description = (info.get("spec") or {}).get("description")
    if description:
        md += [description, ""]
    md += [head + ".", "", f"## Best configuration per optimizer (chosen on validation `{metric}`, reported on test)",
           "", how[0].upper() + how[1:] + ".", "", _md_table(_table(table)), ""]
    md += ["## Rankings", "", rank_how + ".", "", _md_table(_table(rank_view)), ""]
    if len(edges):
        md += ["**Best settings at the edge of the searched range:**", ""] + [f"- {m}" for m in edges["message"]] + [""]
    md += ["## Search budget", "", budget, ""]
    if halving_lines:
        md += ["## Pruning (halving search)", ""] + [f"- {line}" for line in halving_lines] + [""]
    sens = analysis.lr_sensitivity(runs, metric, mode)
    md += [f"## Learning-rate sensitivity (`{metric}`, best over other settings, mean over seeds)", "",
           _md_table(_table(sens.reset_index())), ""]
    crit = None
    if "steps_to_target" in runs.columns and (runs["steps_to_target"] >= 0).any():
        crit = analysis.critical_batch_size(runs)
        md += ["## Critical batch size (steps to target)", "",
               "The fewest steps to the target per batch size (best lr per batch size), fitted by "
               "S = S_min (1 + B_crit / B) (McCandlish et al. 2018): below B_crit doubling the batch nearly "
               "halves the steps; above it the steps approach S_min.", "",
               _md_table(_table(analysis.steps_to_target_table(runs))), "", _md_table(_table(crit)), ""]
        text += ["", "critical batch size (S = S_min (1 + B_crit / B)):"] + [
            f"  {r.optimizer}: B_crit {_fmt(r.b_crit)}, S_min {_fmt(r.s_min)} ({r.note})" for r in crit.itertuples()]
    md += ["## Diagnosis (notes section 11)", "", diag_line + ". Labels, thresholds and remedies: "
           "`optengine diagnose`; every trial that is not healthy:", ""]
    if len(bad):
        view = bad.merge(runs[["trial_id", "optimizer", "lr", "seed"]], on="trial_id")
        view = view[["trial_id", "optimizer", "lr", "seed", "label", "evidence", "remedy"]]
        md += [_md_table(_table(view.head(50))), ""]
        if len(view) > 50:
            md += [f"({len(view) - 50} more: `optengine diagnose {folder}`)", ""]
    written, problems = [], []
    if figures:
        fig_dir = folder / "figures"
        todo = {"lr_sensitivity.png": lambda p: plots.plot_lr_sensitivity(runs, p, metric, mode)}
        if len(curves):
            todo["best_curves.png"] = lambda p: plots.plot_best_curves(runs, curves, p, metric, mode)
            todo["train_val.png"] = lambda p: plots.plot_train_val(runs, curves, p, metric, mode)
            todo["grad_norm.png"] = lambda p: plots.plot_grad_norm(runs, curves, p, steps, metric, mode)
            todo["lr_schedule.png"] = lambda p: plots.plot_lr_schedule(runs, curves, p, steps, metric, mode)
        if runs["batch_size"].nunique() > 1:
            todo["lr_batch_heatmap.png"] = lambda p: plots.plot_lr_batch_heatmap(runs, p, metric, mode=mode)
        traj = load_side_table(folder, "trajectories")
        if traj is not None and runs["model"].isin(analysis.SURFACES).all() and runs["model"].nunique() == 1:
            todo["trajectories.png"] = lambda p: plots.plot_trajectories(traj, str(runs["model"].iloc[0]), runs,
                                                                         path=p)
        if crit is not None:
            todo["steps_to_target.png"] = lambda p: plots.plot_steps_to_target(runs, p)
        if len(analysis.problem_columns(runs)) and runs.groupby(analysis.problem_columns(runs)).ngroups > 1:
            todo["performance_profile.png"] = lambda p: plots.plot_performance_profile(runs, p, metric, mode)
        try:
            manifest.record(folder, [fig_dir / name for name in todo])  # before writing: --fresh may delete them
            for fname, plot in todo.items():
                plot(fig_dir / fname)
                written.append(fig_dir / fname)
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
    try:
        page = _html(name, md, written)
        manifest.record(folder, [folder / "report.html"])
        atomic_write_bytes(folder / "report.html", page.encode())
    except (OSError, ResultsError) as exc:
        problems.insert(1, f"could not write {folder / 'report.html'}: {_reason(exc)}")
    else:
        written.insert(1, folder / "report.html")
    wrote = [f"wrote {folder / 'report.md'}"] if (folder / "report.md") in written else []
    if (folder / "report.html") in written:
        wrote.append(f"{folder / 'report.html'}")
    figs = [p for p in written if p.suffix == ".png"]
    if figs:
        wrote.append(f"{len(figs)} figure(s) in {folder / 'figures'}")
    text.append("")
    if wrote:
        text.append(", ".join(wrote))
    text += problems
    return "\n".join(text)


def _reason(exc: Exception) -> str:
    """The OS's reason (a ResultsError wraps the OSError it was raised for)."""
    os_error = exc if isinstance(exc, OSError) else exc.__context__
    if isinstance(os_error, OSError):
        return os_error.strerror or str(os_error) or type(os_error).__name__
    return str(exc)


# -- HTML --------------------------------------------------------------------------------------------

_CSS = """body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;max-width:1200px;margin:2em auto;
padding:0 1em;color:#222;line-height:1.45}table{border-collapse:collapse;margin:.6em 0 1.2em;font-size:.85em}
th,td{border:1px solid #ccc;padding:.25em .5em;text-align:left;vertical-align:top}th{background:#f3f3f3}
tr:nth-child(even) td{background:#fafafa}img{max-width:100%;margin:.5em 0 1.5em;border:1px solid #eee}
code{background:#f3f3f3;padding:0 .2em}h1,h2{border-bottom:1px solid #ddd;padding-bottom:.2em}"""


def _inline(text: str) -> str:
    """Markdown's `code` and **bold** in one escaped line."""
    import re

    out = html.escape(text)
    out = re.sub(r"`([^`]+)`", r"<code>\1</code>", out)
    return re.sub(r"\*\*([^*]+)\*\*", r"<b>\1</b>", out)


def _html(name: str, md: list[str], figures: list[Path]) -> str:
    """The report as one HTML file: the markdown lines rendered (headings, tables, lists, paragraphs) and
    every figure embedded as a base64 PNG (no file beside it is needed)."""
    body, i = [], 0
    lines = "\n".join(md).split("\n")
    while i < len(lines):
        line = lines[i]
        if line.startswith("|"):
            rows = []
            while i < len(lines) and lines[i].startswith("|"):
                rows.append([c.strip() for c in lines[i].strip().strip("|").split(" | ")])
                i += 1
            head, rest = rows[0], [r for r in rows[1:] if not set("".join(r)) <= set("-|")]
            body.append("<table><tr>" + "".join(f"<th>{_inline(c)}</th>" for c in head) + "</tr>"
                        + "".join("<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in r) + "</tr>" for r in rest)
                        + "</table>")
            continue
        if line.startswith("!["):
            i += 1
            continue  # figures come from the files, embedded below
        if line.startswith("## "):
            body.append(f"<h2>{_inline(line[3:])}</h2>")
        elif line.startswith("# "):
            body.append(f"<h1>{_inline(line[2:])}</h1>")
        elif line.startswith("- "):
            items = []
            while i < len(lines) and lines[i].startswith("- "):
                items.append(f"<li>{_inline(lines[i][2:])}</li>")
                i += 1
            body.append("<ul>" + "".join(items) + "</ul>")
            continue
        elif line.strip():
            body.append(f"<p>{_inline(line)}</p>")
        i += 1
    pngs = [p for p in figures if p.suffix == ".png"]
    if pngs and "<h2>Figures</h2>" not in body:
        body.append("<h2>Figures</h2>")
    for p in pngs:
        with os_errors(p, "read"):
            data = base64.b64encode(p.read_bytes()).decode()
        body.append(f'<figure><img alt="{html.escape(p.stem)}" src="data:image/png;base64,{data}">'
                    f"<figcaption>{html.escape(p.stem.replace('_', ' '))}</figcaption></figure>")
    return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>optengine report: "
            f"{html.escape(name)}</title><style>{_CSS}</style></head><body>\n" + "\n".join(body)
            + "\n</body></html>\n")


# -- CSV export --------------------------------------------------------------------------------------

def export_csv(folder) -> list[Path]:
    """Write ``runs.csv``, ``curves.csv`` and, when the folder has them, ``steps.csv`` and ``trajectories.csv``
    into ``<folder>/export/``; return their paths. The folder must be an optengine results folder (a
    foreign one is refused); every file is named in the folder's manifest before it is written, and an
    I/O error names the file."""
    folder = Path(folder)
    runs, curves = load(folder)
    tables = {"runs": runs, "curves": curves}
    for side in ("steps", "trajectories"):
        t = load_side_table(folder, side)
        if t is not None:
            tables[side] = t
    out = folder / "export"
    paths = [out / f"{k}.csv" for k in tables]
    manifest.record(folder, paths)
    with os_errors(out, "create"):
        out.mkdir(exist_ok=True)
    for (k, t), p in zip(tables.items(), paths):
        atomic_write_bytes(p, t.to_csv(index=False).encode())
    return paths


def _halving_lines(folder: Path) -> list[str]:
    """What a multi-fidelity search (halving.json) pruned when, and its compute against the full grid."""
    import json

    path = folder / "halving.json"
    if not path.is_file():
        return []
    try:
        rec = json.loads(path.read_text())
    except (OSError, ValueError):
        return []
    lines = [f"{rec.get('kind')} search, rungs at epochs {rec.get('rungs')}: trained "
             f"{rec.get('trained_epochs')} epochs, {rec.get('fraction_of_grid', 0):.0%} of the full grid's "
             f"{rec.get('grid_epochs')}"]
    for st in rec.get("steps", []):
        if "rung" in st:
            lines.append(f"bracket {st['bracket']}, rung {st['rung']} (epoch {st['epochs']}): "
                         f"{st['configurations']} configurations, {len(st['kept'])} kept, {len(st['pruned'])} pruned"
                         + (f" ({', '.join(st['pruned'][:6])}{' ...' if len(st['pruned']) > 6 else ''})"
                            if st['pruned'] else ""))
    return lines
