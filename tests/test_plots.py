"""Figures: each takes ax= and returns its figure; the defects found in review stay fixed."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.colors import to_rgba  # noqa: E402

from optengine import plots  # noqa: E402
from test_analysis import make_curves, make_runs  # noqa: E402
from test_rankings import _scaling_runs  # noqa: E402


def _x_marks(ax):
    """(x data, y axes-fraction) of the divergence marks drawn on ``ax``."""
    out = []
    for line in ax.lines:
        if line.get_marker() == "x" and len(line.get_xdata()):
            out += list(zip(line.get_xdata(), line.get_ydata()))
    return out


def _random_search():
    """A random search: 20 sampled lrs per rule; the single divergence is adam at its largest lr."""
    rng = np.random.default_rng(0)
    rows = []
    base = make_runs().iloc[0].to_dict()
    for rule in ("sgd", "adam"):
        for i, lr in enumerate(10 ** rng.uniform(-4, 0, 20)):
            rows.append({**base, "trial_id": f"{rule}{i}", "optimizer": rule, "lr": lr, "seed": 0,
                         "final_val_loss": 1 + (np.log10(lr) + 2) ** 2, "status": "ok"})
    runs = pd.DataFrame(rows)
    top = runs[runs["optimizer"] == "adam"]["lr"].idxmax()
    runs.loc[top, ["status", "final_val_loss"]] = ["diverged", np.nan]
    runs["status"] = pd.Categorical(runs["status"], categories=["ok", "diverged", "failed"])
    return runs, float(runs.loc[top, "lr"])


def test_every_plot_takes_ax_and_returns_its_figure(tmp_path):
    runs = make_runs()
    curves = make_curves(runs)
    calls = [lambda ax: plots.plot_lr_sensitivity(runs, ax=ax),
             lambda ax: plots.plot_train_val(runs, curves, ax=ax),
             lambda ax: plots.plot_grad_norm(runs, curves, ax=ax),
             lambda ax: plots.plot_lr_schedule(runs, curves, ax=ax),
             lambda ax: plots.plot_lr_batch_heatmap(runs, optimizer="sgd", ax=ax),
             lambda ax: plots.plot_steps_to_target(_scaling_runs(), ax=ax)]
    for call in calls:
        fig, ax = plt.subplots()
        assert call(ax) is fig and ax.has_data()
        plt.close(fig)
    fig, axs = plt.subplots(1, 2)
    assert plots.plot_best_curves(runs, curves, ax=axs) is fig
    plt.close(fig)
    fig, axs = plt.subplots(1, 2)
    assert plots.plot_lr_batch_heatmap(runs, ax=axs) is fig  # one axes per rule
    plt.close(fig)
    fig = plots.plot_lr_sensitivity(runs, tmp_path / "a.png")
    assert (tmp_path / "a.png").read_bytes()[:4] == b"\x89PNG" and hasattr(fig, "savefig")


def test_divergence_is_marked_only_at_sampled_lrs():
    runs, bad_lr = _random_search()
    fig = plots.plot_lr_sensitivity(runs)
    marks = _x_marks(fig.axes[0])
    assert len(marks) <= 1  # one divergence: at most one mark (binned: the bin of the diverged lr)
    pts = plots.lr_points(runs)
    assert pts["binned"].all() and pts.loc[pts["bad"] > 0, "optimizer"].tolist() == ["adam"]
    plt.close(fig)
    # a grid where trials diverged at an lr (not all of them): open markers, no x
    grid = make_runs()
    fig = plots.plot_lr_sensitivity(grid)
    assert _x_marks(fig.axes[0]) == []
    assert any(line.get_markerfacecolor() == "none" for line in fig.axes[0].lines)
    plt.close(fig)
    # every trial of sgd at lr 0.1 diverged: one x, at that lr, on the top edge
    grid.loc[(grid["optimizer"] == "sgd") & (grid["lr"] == 0.1), "status"] = "diverged"
    fig = plots.plot_lr_sensitivity(grid)
    assert [x for x, _ in _x_marks(fig.axes[0])] == [0.1]
    plt.close(fig)


def test_an_outlier_does_not_squash_the_axis():
    runs = make_runs()
    runs.loc[runs["trial_id"].str.startswith("sgd-0.1"), "final_val_loss"] = 1e4
    fig = plots.plot_lr_sensitivity(runs)
    assert fig.axes[0].get_yscale() == "log"
    plt.close(fig)
    fig, ax = plt.subplots()  # a metric (no log axis): clipped at the outlier, which the title notes
    ax.plot(range(9), [0.5, 0.52, 0.49, 0.51, 0.5, 0.53, 0.48, 0.5, -50.0])
    note = plots._y_scale(ax, [0.5, 0.52, 0.49, 0.51, 0.5, 0.53, 0.48, 0.5, -50.0], "final_val_metric")
    assert ax.get_yscale() == "linear" and ax.get_ylim()[0] > -1 and "1 below (down to -50)" in note
    plt.close(fig)


def test_seed_error_bars_and_legend_outside():
    fig = plots.plot_lr_sensitivity(make_runs())
    ax = fig.axes[0]
    assert ax.containers and all(c.has_yerr for c in ax.containers)
    legend = ax.get_legend()
    fig.canvas.draw()
    lb, ab = legend.get_window_extent(), ax.get_window_extent()
    assert lb.x0 >= ab.x1  # beside the axes, never over the data
    plt.close(fig)


def test_best_curves_labels_ticks_and_legend():
    runs = make_runs()
    fig = plots.plot_best_curves(runs, make_curves(runs))
    ax1, ax2 = fig.axes
    assert ax2.get_ylabel() == "validation accuracy" and "cross-entropy" in ax1.get_ylabel()
    fig.canvas.draw()
    ticks = [t for t in ax1.get_xticks() if ax1.get_xlim()[0] <= t <= ax1.get_xlim()[1]]
    assert all(float(t).is_integer() for t in ticks)  # whole epochs
    labels = [t.get_text() for t in ax1.get_yticklabels(minor=True) if t.get_text()]
    assert labels == []  # one set of labels on the log axis
    texts = [t.get_text() for t in ax2.get_legend().get_texts()]
    assert texts == ["sgd lr=0.01 batch=16", "adam lr=0.01 batch=16"]  # the settings that differ
    # title and right-hand label do not overlap (constrained layout)
    for a in (ax1, ax2):
        assert not a.title.get_window_extent().overlaps(a.yaxis.label.get_window_extent())
    plt.close(fig)


@pytest.mark.parametrize("dataset,model,want", [("diabetes", "mlp", "R²"), ("iris", "mlp", "accuracy"),
                                                 ("surface_noise", "ravine", "distance to the minimiser")])
def test_metric_name_follows_the_task(dataset, model, want):
    assert plots.metric_name(make_runs().assign(dataset=dataset, model=model)) == want


def test_heatmap_text_contrasts_with_its_cell_and_one_panel_per_rule():
    assert plots.text_color(to_rgba("yellow")) == "black" and plots.text_color(to_rgba("navy")) == "white"
    runs = make_runs()
    fig = plots.plot_lr_batch_heatmap(runs)
    panels = [a for a in fig.axes if a.images]
    assert [a.get_title() for a in panels] == ["sgd", "adam"]
    for a in panels:
        im = a.images[0]
        for t in a.texts:
            if t.get_text() == "x":
                continue
            j, i = (int(round(v)) for v in t.get_position())
            cell = im.cmap(im.norm(im.get_array()[i, j]))
            assert t.get_color() == plots.text_color(cell)
    plt.close(fig)


def test_random_search_heatmap_bins_the_lr():
    runs, _ = _random_search()
    runs["batch_size"] = np.where(np.arange(len(runs)) % 2, 16, 64)
    grid = plots.lr_batch_table(runs, optimizer="adam")
    assert len(grid.index) <= 8 and "-" in str(grid.index[0])
    plt.close(plots.plot_lr_batch_heatmap(runs, optimizer="adam"))


def test_trajectories_on_the_ravine(tmp_path):
    rows, runs = [], []
    for k, (rule, lr) in enumerate((("sgd", 0.019), ("adam", 0.1))):
        p = np.array([-4.0, 1.0])
        for step in range(30):
            rows.append({"trial_id": f"t{k}", "step": step, "p0": p[0], "p1": p[1],
                         "loss": 0.5 * (p[0] ** 2 + 100 * p[1] ** 2)})
            g = np.array([p[0], 100 * p[1]])
            p = p - lr * (g if rule == "sgd" else np.sign(g))
        runs.append({"trial_id": f"t{k}", "optimizer": rule, "lr": lr, "model": "ravine",
                     "model_spec": '{"kappa": 100.0, "name": "ravine"}'})
    fig = plots.plot_trajectories(pd.DataFrame(rows), "ravine", pd.DataFrame(runs), path=tmp_path / "t.png")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_legend().get_texts()][:2] == ["sgd lr=0.019", "adam lr=0.1"]
    assert (tmp_path / "t.png").is_file() and ax.collections  # the contours


def test_steps_to_target_figure_has_the_perfect_scaling_line():
    fig = plots.plot_steps_to_target(_scaling_runs())
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "perfect scaling" in texts and any("B_crit ≈ 64" in t for t in texts)
    plt.close(fig)


def test_performance_profile_figure():
    a = make_runs()
    b = a.assign(dataset="wine", trial_id=a["trial_id"] + "w")
    fig = plots.plot_performance_profile(pd.concat([a, b], ignore_index=True))
    assert "2 problems" in fig.axes[0].get_title()
    plt.close(fig)
