"""Every figure, below the experiments and the report: decision boundaries and routing maps
for 2-D datasets (which expert dominates where), training curves, accuracy against router
size (efficiency), accuracy against noise level (noise sweep), and the report's claim
scorecard (a forest plot, one row a claim). Figures are PNG files; nothing opens a window."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib

from qmoe_cli.palette import CATEGORY_COLOURS

matplotlib.use("Agg")  # files only, never a window
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from matplotlib.colors import ListedColormap  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch, Rectangle  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from qmoe_cli.data import Splits  # noqa: E402
from qmoe_cli.errors import RunFolderError  # noqa: E402
from qmoe_cli.metrics import (  # noqa: E402
    ACCURACY_RANGE,
    mean_ci,
    on_torch_simulator,
    predict,
    uses_reference_backend,
)
from qmoe_cli.models import MixtureOfExperts  # noqa: E402


@dataclass
class Grid:
    xx: np.ndarray
    yy: np.ndarray
    classes: np.ndarray  # predicted class per grid point
    expert: np.ndarray  # dominant expert per grid point
    note: str | None = None  # why the grid was not evaluated (its arrays are then empty)


# The decision-boundary and routing grid. A quantum router simulates, per grid point, a state
# of 2^n amplitudes (statevector) or 4^n entries (density matrix, with noise) through each
# of its L layers, so the grid's cost is points x state entries x L. The rule:
# * the points are evaluated in chunks holding at most GRID_CHUNK_BYTES of simulator state
#   (GRID_BYTES_PER_ENTRY: complex128 with the few copies a layer keeps alive), so memory
#   stays bounded at any size;
# * the resolution (GRID_RESOLUTION per axis) is lowered until points x state entries x L
#   is at most GRID_WORK, the default grid on a 10-qubit, 3-layer statevector router (its
#   time: docs/performance.md);
# * below GRID_MIN_RESOLUTION per axis the figure is skipped with a note instead: that is
#   state entries x L > GRID_WORK / GRID_MIN_RESOLUTION^2 = 43,200, e.g. 16 qubits, 15
#   qubits with 2 layers or 14 qubits with 3 layers (statevector), 8 qubits with noise.
GRID_RESOLUTION = 150
GRID_MIN_RESOLUTION = 40
GRID_WORK = GRID_RESOLUTION**2 * 2**10 * 3
GRID_CHUNK_BYTES = 256 * 2**20
GRID_BYTES_PER_ENTRY = 64


def grid_cost(model: MixtureOfExperts) -> tuple[int, str]:
    """(state entries x layers per grid point, a description of the router's circuit); a
    classical router counts 1."""
    router = getattr(model, "router", None)
    spec = getattr(router, "spec", None)
    if spec is None:
        return 1, "classical router"
    noise = getattr(router, "noise", None)
    mixed = noise is not None and not noise.is_noiseless
    entries = 4**spec.n_qubits if mixed else 2**spec.n_qubits
    what = "density matrix" if mixed else "statevector"
    layers = f"{spec.n_layers} layer{'s' if spec.n_layers != 1 else ''}"
    return entries * spec.n_layers, f"{spec.n_qubits} qubits, {layers}, {what}"


def grid_resolution(model: MixtureOfExperts, resolution: int = GRID_RESOLUTION) -> int | str:
    """The grid's points per axis under the rule above, or the note saying why it is
    skipped."""
    work, what = grid_cost(model)
    fit = math.isqrt(GRID_WORK // work)
    if fit >= min(resolution, GRID_MIN_RESOLUTION):
        return min(resolution, fit)
    return (
        f"decision-boundary and routing figures skipped: the router ({what}) is too large "
        f"to simulate on a {GRID_MIN_RESOLUTION}x{GRID_MIN_RESOLUTION} grid (state entries "
        f"x layers = {work:,} > {GRID_WORK // GRID_MIN_RESOLUTION**2:,} per point)"
    )


def predict_grid(
    model: MixtureOfExperts, splits: Splits, resolution: int = GRID_RESOLUTION
) -> Grid:
    """Predicted class and dominant expert on a grid over the data, memory-bounded and
    time-bounded by the rule above; when the router is too large the Grid is empty and
    its `note` says why (the plots then show the test points and the note)."""
    points = np.vstack([splits.X_train, splits.X_val, splits.X_test])
    lo, hi = points.min(axis=0), points.max(axis=0)
    pad = 0.08 * (hi - lo)
    plan = grid_resolution(model, resolution)
    if isinstance(plan, str):
        empty = np.zeros((0, 0))
        return Grid(empty, empty, empty.astype(int), empty.astype(int), note=plan)
    xs = np.linspace(lo[0] - pad[0], hi[0] + pad[0], plan)
    ys = np.linspace(lo[1] - pad[1], hi[1] + pad[1], plan)
    xx, yy = np.meshgrid(xs, ys)
    dtype = next(model.parameters()).dtype
    x = torch.as_tensor(np.c_[xx.ravel(), yy.ravel()], dtype=dtype)
    if uses_reference_backend(model):  # lightning runs one grid point at a time
        model = on_torch_simulator(model)
    chunk = max(1, GRID_CHUNK_BYTES // (GRID_BYTES_PER_ENTRY * grid_cost(model)[0]))
    classes, experts = [], []
    with torch.no_grad():
        for start in range(0, len(x), chunk):
            c, gates = predict(model, x[start : start + chunk])
            classes.append(c)
            experts.append(gates.argmax(axis=1))
    return Grid(
        xx, yy, np.concatenate(classes).reshape(xx.shape), np.concatenate(experts).reshape(xx.shape)
    )


def feature_labels(splits: Splits) -> tuple[str, str]:
    """Axis labels for the two model inputs, from the fitted preprocessing when it is known:
    PCA components or raw features, and the scaling applied ("scaled to [0, π]", ...)."""
    pre = splits.preprocessor
    steps = dict(getattr(pre, "named_steps", {}) or {})
    if not steps:  # no preprocessing recorded: the scale of the inputs is unknown
        return "feature 1", "feature 2"
    base = ("PC1", "PC2") if "pca" in steps else ("x1", "x2")
    scale = steps.get("scale")
    if scale is None:
        note = ""
    elif hasattr(scale, "feature_range"):
        note = f" (scaled to [{_range_end(scale.feature_range[0])}, "
        note += f"{_range_end(scale.feature_range[1])}])"
    elif type(scale).__name__ == "StandardScaler":
        note = " (standardised)"
    else:
        note = " (scaled)"
    return base[0] + note, base[1] + note


def _range_end(x: float) -> str:
    for k, name in ((1, "π"), (2, "2π"), (0.5, "π/2")):
        if math.isclose(x, k * math.pi):
            return name
    return f"{x:g}"


def _scatter_test(ax, splits: Splits) -> None:
    ax.scatter(
        splits.X_test[:, 0],
        splits.X_test[:, 1],
        c=splits.y_test,
        cmap="coolwarm",
        s=12,
        edgecolors="k",
        linewidths=0.3,
    )
    xlabel, ylabel = feature_labels(splits)
    ax.set_xlabel(xlabel, fontsize=8)
    ax.set_ylabel(ylabel, fontsize=8)
    ax.tick_params(labelsize=7)


def _grid_note(ax, grid: Grid) -> bool:
    """Write a skipped grid's note across the panel; whether it was skipped."""
    if grid.note is None:
        return False
    text = grid.note.split(": ", 1)[-1]
    ax.text(
        0.5,
        0.5,
        text,
        transform=ax.transAxes,
        ha="center",
        va="center",
        fontsize=6,
        wrap=True,
        color="0.3",
        bbox={"facecolor": "white", "alpha": 0.8, "edgecolor": "0.7"},
    )
    return True


def plot_decision_boundary(ax, grid: Grid, splits: Splits, title: str):
    n = splits.n_classes
    if not _grid_note(ax, grid):
        ax.contourf(
            grid.xx,
            grid.yy,
            grid.classes,
            levels=np.arange(n + 1) - 0.5,
            cmap="coolwarm",
            alpha=0.35,
        )
    _scatter_test(ax, splits)
    ax.set_title(title, fontsize=9)
    return ax


def expert_colours(n_experts: int) -> list:
    """One colour per expert, the same in the routing map and its legend."""
    cmap = plt.get_cmap("tab10" if n_experts <= 10 else "tab20")
    return [cmap(i % cmap.N) for i in range(max(n_experts, 1))]


ROUTING_ALPHA = 0.45


def plot_routing(ax, grid: Grid, splits: Splits, n_experts: int, title: str):
    colours = expert_colours(n_experts)
    if not _grid_note(ax, grid):
        ax.contourf(
            grid.xx,
            grid.yy,
            grid.expert,
            levels=np.arange(n_experts + 1) - 0.5,
            cmap=ListedColormap(colours),
            alpha=ROUTING_ALPHA,
            vmin=-0.5,
            vmax=n_experts - 0.5,
        )
    _scatter_test(ax, splits)
    ax.set_title(title, fontsize=9)
    handles = [
        Patch(facecolor=c, alpha=ROUTING_ALPHA, edgecolor="0.3", label=f"expert {i}")
        for i, c in enumerate(colours[:n_experts])
    ]
    ax.legend(
        handles=handles,
        title="dominant expert",
        fontsize=7,
        title_fontsize=7,
        loc="best",
        ncol=1 if n_experts <= 4 else 2,
        framealpha=0.85,
    )
    return ax


def savefig(fig, path: Path, **kwargs) -> None:
    """Write the figure as PNG (110 dpi) and close it; a file that cannot be written (a full
    disk, no permission) is one RunFolderError naming it."""
    try:
        fig.savefig(path, dpi=110, **kwargs)
    except OSError as exc:
        raise RunFolderError(f"cannot write {path}: {exc.strerror or exc}") from None
    finally:
        plt.close(fig)


def save_single(path: Path, draw, *args):
    """One panel; returns the (closed) figure, for inspection."""
    fig, ax = plt.subplots(figsize=(4.2, 4))
    draw(ax, *args)
    fig.tight_layout()
    savefig(fig, path)
    return fig


def save_panels(path: Path, panels: list):
    """One row of panels; each is (draw function, its arguments after the axes). Returns the
    (closed) figure, for inspection."""
    fig, axes = plt.subplots(1, len(panels), figsize=(3.6 * len(panels), 3.8), squeeze=False)
    for ax, (draw, args) in zip(axes[0], panels, strict=True):
        draw(ax, *args)
    fig.tight_layout()
    savefig(fig, path)
    return fig


def training_curves(path: Path, histories: dict[str, list[list[dict]]]):
    """Validation loss and accuracy per epoch: each seed thin, the mean over seeds bold.

    Returns the (closed) figure, for inspection: its axes are (loss, accuracy)."""
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 3.8))
    colors = plt.get_cmap("tab10")
    for i, (name, runs) in enumerate(histories.items()):
        for key, ax in (("val_loss", ax_loss), ("val_acc", ax_acc)):
            longest = max(len(h) for h in runs)
            for h in runs:
                ax.plot(
                    [r["epoch"] for r in h],
                    [r[key] for r in h],
                    color=colors(i),
                    alpha=0.25,
                    linewidth=0.8,
                )
            mean = [np.mean([h[e][key] for h in runs if len(h) > e]) for e in range(longest)]
            ax.plot(range(1, longest + 1), mean, color=colors(i), linewidth=2, label=name)
    ax_loss.set(xlabel="epoch", ylabel="validation loss (cross-entropy)")
    ax_acc.set(xlabel="epoch", ylabel="validation accuracy")
    for ax in (ax_loss, ax_acc):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
    ax_acc.axhline(0.9, color="grey", linestyle=":", linewidth=1)
    ax_acc.legend(fontsize=8)
    fig.tight_layout()
    savefig(fig, path)
    return fig


# --- accuracy against router size (`qmoe efficiency`) ------------------------------------------


def accuracy_vs_params(path: Path, name: str, points: list[dict]):
    """Test accuracy (mean, 95 % CI) against router parameters, one line per router type, and
    the Pareto front chosen by validation accuracy. Each point is an efficiency.csv row
    (router, router_params, test_acc_mean, test_acc_ci_low, test_acc_ci_high, pareto).
    Returns the (closed) figure, for inspection."""
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    colors = plt.get_cmap("tab10")
    for i, router in enumerate(sorted({p["router"] for p in points})):
        pts = sorted((p for p in points if p["router"] == router), key=lambda p: p["router_params"])
        xs = [p["router_params"] for p in pts]
        ys = [p["test_acc_mean"] for p in pts]
        err = [
            [
                0 if math.isnan(p["test_acc_ci_low"]) else p["test_acc_mean"] - p["test_acc_ci_low"]
                for p in pts
            ],
            [
                0
                if math.isnan(p["test_acc_ci_high"])
                else p["test_acc_ci_high"] - p["test_acc_mean"]
                for p in pts
            ],
        ]
        ax.errorbar(xs, ys, yerr=err, fmt="o-", color=colors(i), capsize=3, label=router)
    front = sorted((p for p in points if p["pareto"]), key=lambda p: p["router_params"])
    ax.plot(
        [p["router_params"] for p in front],
        [p["test_acc_mean"] for p in front],
        "k:",
        linewidth=1,
        label="Pareto front (chosen by validation acc.)",
    )
    ax.set_xscale("log")
    sizes = sorted({p["router_params"] for p in points if p["router_params"] > 0})
    if sizes:  # the measured router sizes as ticks, not powers of ten
        ax.set_xticks(sizes, [str(s) for s in sizes], fontsize=8)
        ax.xaxis.set_minor_locator(plt.NullLocator())
    ax.set(
        xlabel="router parameters",
        ylabel="test accuracy (mean, 95% CI)",
        title=f"{name}: accuracy vs router size",
    )
    ax.legend(fontsize=8)
    fig.tight_layout()
    savefig(fig, path)
    return fig


# --- accuracy against noise (`qmoe noise-sweep`) --------------------------------------------


@contextmanager
def noise_curve(
    path: Path,
    levels: list[float],
    acc: dict[float, list[float]],
    baselines: dict[str, list[float]],
    mode: str,
    placement: str,
) -> Iterator:
    """The quantum router's test accuracy per depolarizing level (mean, and its 95 % CI band
    with more than one seed) and each classical baseline as a flat dashed line. The block
    gets the axes to draw reference marks on; on leaving it the axes are labelled and the
    figure is written to `path`."""
    fig, ax = plt.subplots(figsize=(6, 4))
    means = np.array([np.mean(acc[level]) for level in levels])
    cis = [mean_ci(acc[level], bounds=ACCURACY_RANGE) for level in levels]
    ax.plot(levels, means, "o-", color="tab:purple", label=f"quantum ({mode} mode)")
    if levels and len(acc[levels[0]]) > 1:  # seeds enough for an interval
        ax.fill_between(
            levels,
            [c["ci_low"] for c in cis],
            [c["ci_high"] for c in cis],
            color="tab:purple",
            alpha=0.2,
            label="95% CI",
        )
    for i, (name, values) in enumerate(baselines.items()):
        ax.axhline(
            np.mean(values),
            color=plt.get_cmap("tab10")(i),
            linestyle="--",
            label=f"{name} (classical, noiseless)",
        )
    try:
        yield ax
        ax.set(
            xlabel=f"depolarizing eps per gate ({placement} placement)",
            ylabel="test accuracy",
        )
        ax.legend(fontsize=7)
        fig.tight_layout()
        savefig(fig, path)
    finally:
        plt.close(fig)


# --- claim scorecard --------------------------------------------------------------------------

# "points": a paired difference of accuracies, in percentage points
SCORECARD_UNITS = ("accuracy", "params", "eta", "epochs", "eps", "ratio", "points")
LABEL_CHARS = 76  # longer claim labels are cut with an ellipsis
ROW_INCHES = 0.3


@dataclass
class Scorecard:
    """What `scorecard` drew, for inspection: per row (in the order given) the measured
    interval's bar (None when the row has no interval), its category and its colour."""

    figure: object
    bars: list[Rectangle | None] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    colours: list[str] = field(default_factory=list)


def _num(x) -> float | None:
    """A finite float, or None (None, NaN and infinities read as missing)."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def _paper_marks(paper) -> tuple[float, ...]:
    """The paper's value as () if none, (v,) for a point, (low, high) for a range."""
    if paper is None:
        return ()
    if isinstance(paper, Sequence) and not isinstance(paper, str):
        ends = tuple(v for v in (_num(p) for p in paper) if v is not None)
        if len(ends) == 2 and math.isclose(ends[0], ends[1]):
            return (ends[0],)
        return tuple(sorted(ends))[:2]
    v = _num(paper)
    return () if v is None else (v,)


def _fmt(x: float, unit: str, *, suffix: bool = True) -> str:
    """A number in its unit: accuracy as a percentage, counts as integers, ..."""
    if unit == "accuracy":
        text = f"{100 * x:.1f}"
        return f"{text} %" if suffix else text
    if unit in ("params", "epochs"):
        return f"{x:.0f}" if math.isclose(x, round(x), abs_tol=0.05) else f"{x:.1f}"
    if unit == "eta":
        return f"{x:.2f}"
    if unit == "eps":
        return f"{x:.3g}"
    if unit == "points":
        return f"{x:+.1f} pts" if suffix else f"{x:+.1f}"
    return f"{x:.2f}x" if suffix else f"{x:.2f}"  # ratio


def _fmt_paper(marks: tuple[float, ...], unit: str) -> str:
    if not marks:
        return "no figure"
    if unit == "accuracy":  # the paper's own rounding: 94 %, 96.5 %
        texts = [f"{100 * m:.1f}".removesuffix(".0") for m in marks]
        return "–".join(texts) + " %"
    if len(marks) == 1:
        return _fmt(marks[0], unit)
    return f"{_fmt(marks[0], unit, suffix=False)}–{_fmt(marks[1], unit)}"


def _row_text(row: dict, marks, value, low, high) -> str:
    unit = row["unit"]
    paper = f"paper {_fmt_paper(marks, unit)}"
    if value is None and low is None and high is None:
        return f"{paper} | not measured"
    measured = "measured " + ("–" if value is None else _fmt(value, unit))
    if low is not None and high is not None:
        measured += f" [{_fmt(low, unit, suffix=False)}, {_fmt(high, unit, suffix=False)}]"
    return f"{paper} | {measured}"


def _row_scale(numbers: list[float]) -> tuple[float, float]:
    """The row's own range: every mark and the interval, with a margin either side."""
    lo, hi = min(numbers), max(numbers)
    span = hi - lo
    if span <= 0:
        span = max(abs(hi) * 0.1, 1e-3)
        lo, hi = lo - span / 2, hi + span / 2
    margin = 0.12 * span
    return lo - margin, hi + margin


def _truncate(text: str, limit: int = LABEL_CHARS) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _bracket(ax, x: float, y: float, side: int, half: float = 0.3, arm: float = 0.018) -> None:
    """One side of a range bracket: '[' at the low end (side=+1), ']' at the high end (-1)."""
    ax.plot(
        [x + side * arm, x, x, x + side * arm],
        [y - half, y - half, y + half, y + half],
        color="black",
        linewidth=1.6,
        solid_joinstyle="miter",
        zorder=4,
    )


def scorecard(path: str | Path, rows: list[dict]) -> Scorecard:
    """A forest plot of the paper's claims, one row a claim, written as a PNG at `path`.

    Each row is a dict:
        label     str, the claim id and a short text (cut with an ellipsis when long)
        unit      "accuracy" | "params" | "eta" | "epochs" | "eps" | "ratio"
        paper     the paper's value: a float, a (low, high) range, or None
        value     the measured point, or None
        low, high the measured interval (a prediction interval for single-run claims), or None
        category  a key of CATEGORY_COLOURS

    Units differ, so each row has its own scale, fitted to its paper mark and measured
    interval with a margin. The measured interval is a bar in the category's colour, the
    measured point a dot, the paper's value a black tick (a range: a black bracket); the
    numbers, in the row's unit, are written at the right. Rows without a measurement show
    the paper mark and "not measured". Returns what was drawn, for inspection.
    """
    for i, row in enumerate(rows):
        if row.get("category") not in CATEGORY_COLOURS:
            raise ValueError(
                f"scorecard row {i}: category {row.get('category')!r} is not one of "
                f"{', '.join(CATEGORY_COLOURS)}"
            )
        if row.get("unit") not in SCORECARD_UNITS:
            raise ValueError(
                f"scorecard row {i}: unit {row.get('unit')!r} is not one of "
                f"{', '.join(SCORECARD_UNITS)}"
            )
    n = max(len(rows), 1)
    header_in, footer_in = 1.05, 0.3
    height = header_in + footer_in + ROW_INCHES * n
    fig = plt.figure(figsize=(13.0, height))
    grid = fig.add_gridspec(
        2,
        3,
        width_ratios=(4.9, 4.0, 4.1),
        height_ratios=(header_in - 0.25, ROW_INCHES * n),
        wspace=0.02,
        hspace=0.25 / (header_in - 0.25 + ROW_INCHES * n) * 2,
        left=0.005,
        right=0.995,
        top=1 - 0.05 / height,
        bottom=footer_in / height,
    )
    ax_legend = fig.add_subplot(grid[0, :])
    ax_label = fig.add_subplot(grid[1, 0])
    ax_plot = fig.add_subplot(grid[1, 1], sharey=ax_label)
    ax_text = fig.add_subplot(grid[1, 2], sharey=ax_label)
    for ax in (ax_label, ax_plot, ax_text):
        ax.set_xlim(0, 1)
        ax.set_xticks([])
        ax.tick_params(left=False, labelleft=False)
        for spine in ax.spines.values():
            spine.set_visible(False)
        for i in range(0, n, 2):  # zebra stripes to follow a row across the columns
            ax.axhspan(i - 0.5, i + 0.5, color="0.94", zorder=0, linewidth=0)
    ax_plot.set_xlim(-0.03, 1.03)
    ax_label.set_ylim(n - 0.5, -0.5)  # first row on top
    ax_label.set_title("claim", loc="left", fontsize=9, fontweight="bold")
    ax_plot.set_title(
        "measured vs paper (per-row scale)", loc="center", fontsize=9, fontweight="bold"
    )
    ax_text.set_title("paper | measured [interval]", loc="left", fontsize=9, fontweight="bold")

    card = Scorecard(fig)
    for i, row in enumerate(rows):
        category, colour = row["category"], CATEGORY_COLOURS[row["category"]]
        marks = _paper_marks(row.get("paper"))
        value, low, high = _num(row.get("value")), _num(row.get("low")), _num(row.get("high"))
        if low is not None and high is not None and low > high:
            low, high = high, low
        interval = low is not None and high is not None
        measured = value is not None or interval

        ax_label.add_patch(
            Rectangle((0.0, i - 0.28), 0.022, 0.56, facecolor=colour, edgecolor="none")
        )
        ax_label.text(0.035, i, _truncate(row.get("label", "")), va="center", ha="left", fontsize=8)
        ax_text.text(
            0.02,
            i,
            _row_text(row, marks, value, low, high),
            va="center",
            ha="left",
            fontsize=8,
            color="black" if measured else "0.35",
        )

        numbers = [*marks, *(x for x in (value, low, high) if x is not None)]
        bar = None
        if numbers:
            lo, hi = _row_scale(numbers)

            def norm(x: float, lo=lo, hi=hi) -> float:
                return (x - lo) / (hi - lo)

            ax_plot.hlines(i, 0, 1, color="0.8", linewidth=0.6, zorder=1)  # the row's axis
            if interval:
                left, width = norm(low), max(norm(high) - norm(low), 0.006)
                bar = Rectangle(
                    (left, i - 0.2), width, 0.4, facecolor=colour, edgecolor="none", zorder=2
                )
                ax_plot.add_patch(bar)
            if value is not None:
                ax_plot.plot(
                    norm(value),
                    i,
                    "o",
                    markersize=5.5,
                    markerfacecolor="white" if not interval else "0.15",
                    markeredgecolor=colour if not interval else "white",
                    markeredgewidth=1.6 if not interval else 0.8,
                    zorder=3,
                )
            if len(marks) == 1:
                ax_plot.plot(
                    norm(marks[0]),
                    i,
                    marker="|",
                    markersize=15,
                    markeredgewidth=2.4,
                    color="black",
                    zorder=4,
                )
            elif len(marks) == 2:
                _bracket(ax_plot, norm(marks[0]), i, +1)
                _bracket(ax_plot, norm(marks[1]), i, -1)
        if not measured:
            ax_plot.text(
                0.5 if not marks else 0.98,
                i,
                "not measured",
                va="center",
                ha="center" if not marks else "right",
                fontsize=7,
                color="0.4",
                style="italic",
                zorder=5,
            )
        card.bars.append(bar)
        card.categories.append(category)
        card.colours.append(colour)

    ax_legend.axis("off")
    handles = [Patch(facecolor=c, label=name) for name, c in CATEGORY_COLOURS.items()]
    handles += [
        Line2D(
            [],
            [],
            marker="|",
            color="black",
            linestyle="none",
            markersize=12,
            markeredgewidth=2.2,
            label="paper value",
        ),
        Line2D(
            [],
            [],
            marker=r"$[\;\;]$",
            color="black",
            linestyle="none",
            markersize=14,
            label="paper range",
        ),
        Line2D(
            [],
            [],
            marker="o",
            color="none",
            markerfacecolor="0.15",
            markeredgecolor="white",
            markersize=6,
            label="measured",
        ),
    ]
    ax_legend.legend(
        handles=handles,
        loc="center",
        ncol=4,
        fontsize=8,
        frameon=False,
        handlelength=1.6,
        columnspacing=1.4,
    )
    ax_legend.set_title(
        "Paper claims: measured interval (bar, coloured by verdict) vs the paper's value",
        fontsize=10,
        fontweight="bold",
    )
    fig.text(
        0.5,
        0.003,
        "Bars: 95 % CI of the mean over seeds, or a 95 % prediction interval for a "
        "single-run claim. Row scales differ; read the numbers at the right.",
        ha="center",
        va="bottom",
        fontsize=7,
        color="0.35",
    )
    savefig(fig, path, bbox_inches="tight", pad_inches=0.15)
    return card


# --- accuracy against shots (`qmoe hardware`) -----------------------------------------------


def hardware_curves(path: Path, title: str, rows: list[dict], baselines: dict[str, float]):
    """Test accuracy against shots on a target, one line per variant and mitigation (mean
    over seeds, shaded: its 95 % shot-noise interval), the noiseless accuracy dashed and the
    classical baselines dotted. `rows`: summary.csv rows of `qmoe hardware`. Returns the
    (closed) figure, for inspection."""
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    colors = plt.get_cmap("tab10")
    lines = list(dict.fromkeys((r["variant"], r["mitigation"]) for r in rows))  # as written
    variants = list(dict.fromkeys(r["variant"] for r in rows))
    for i, (variant, method) in enumerate(lines):
        pts = sorted(
            (r for r in rows if r["variant"] == variant and r["mitigation"] == method),
            key=lambda r: r["shots"],
        )
        xs = [r["shots"] for r in pts]
        label = method if len(variants) == 1 else f"{variant} {method}"
        ax.plot(xs, [r["accuracy_mean"] for r in pts], "o-", color=colors(i), label=label)
        ax.fill_between(
            xs, [r["shot_low"] for r in pts], [r["shot_high"] for r in pts], color=colors(i),
            alpha=0.15, linewidth=0,
        )  # fmt: skip
    for variant in variants:
        noiseless = next(r["noiseless_mean"] for r in rows if r["variant"] == variant)
        name = "noiseless" if len(variants) == 1 else f"{variant} noiseless"
        ax.axhline(noiseless, color="black", linestyle="--", linewidth=1, label=name)
    for j, (name, value) in enumerate(baselines.items()):
        ax.axhline(value, color=colors(len(lines) + j), linestyle=":", linewidth=1.2,
                   label=f"{name} (classical)")  # fmt: skip
    ax.set_xscale("log")
    ax.set(xlabel="shots per circuit", ylabel="test accuracy (mean over seeds)", title=title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    savefig(fig, path)
    return fig


def spectrum_heatmap(path: Path, rows: list[dict], summaries: list[dict], top: int = 40):
    """The routers' Fourier coefficient magnitudes |c_w| (mean over seeds), one panel per
    variant: a row per frequency w (one per pair {w, -w}; the `top` largest when there are
    more), a column per output, on a log colour scale. `rows`: spectrum.csv's rows."""
    from matplotlib.colors import LogNorm

    variants = list(dict.fromkeys(s["variant"] for s in summaries))
    fig, axes = plt.subplots(1, len(variants), figsize=(3.2 * len(variants) + 1.2, 5.2))
    axes = np.atleast_1d(axes)
    mats = []
    for variant in variants:
        mine = [r for r in rows if r["variant"] == variant]
        freqs = list(dict.fromkeys(r["frequency"] for r in mine))
        outputs = sorted({r["output"] for r in mine})
        mag = np.zeros((len(freqs), len(outputs)))
        count = np.zeros_like(mag)
        fi = {f: i for i, f in enumerate(freqs)}
        for r in mine:
            mag[fi[r["frequency"]], r["output"]] += r["magnitude"]
            count[fi[r["frequency"]], r["output"]] += 1
        mag = mag / np.maximum(count, 1)
        order = np.argsort(-mag.max(axis=1), kind="stable")[:top]
        mats.append((variant, [freqs[i] for i in order], mag[order], outputs))
    positive = [m[m > 0] for _, _, m, _ in mats]
    vmax = max((float(p.max()) for p in positive if p.size), default=1.0)
    norm = LogNorm(vmin=max(vmax * 1e-6, 1e-12), vmax=vmax)
    for ax, (variant, freqs, mag, outputs) in zip(axes, mats, strict=True):
        image = ax.imshow(np.maximum(mag, norm.vmin), norm=norm, cmap="viridis", aspect="auto")
        ax.set_yticks(range(len(freqs)), [f"({f.replace(' ', ', ')})" for f in freqs], fontsize=7)
        ax.set_xticks(range(len(outputs)), [str(o) for o in outputs], fontsize=8)
        s = next(s for s in summaries if s["variant"] == variant)
        ax.set(xlabel="output (expert)", title=f"{variant}: {s['qubits']} qubits x {s['layers']}")
    axes[0].set_ylabel("frequency w")
    fig.colorbar(image, ax=list(axes), label="|c_w| (mean over seeds)")
    savefig(fig, path)
    return fig


def gradient_variance_curves(path: Path, rows: list[dict]):
    """Variance of the cost gradient against qubits (log scale), one panel per ansatz and
    cost, a line per initialisation and layer count. `rows`: trainability.csv's rows."""
    ansatze = list(dict.fromkeys(r["ansatz"] for r in rows))
    costs = list(dict.fromkeys(r["cost"] for r in rows))
    lines = list(dict.fromkeys((r["init"], r["layers"]) for r in rows))
    fig, axes = plt.subplots(
        len(costs), len(ansatze), figsize=(5.2 * len(ansatze), 3.8 * len(costs)), squeeze=False
    )
    colors = plt.get_cmap("tab10")
    inits = list(dict.fromkeys(i for i, _ in lines))
    depths = sorted({d for _, d in lines})
    styles = ["o-", "s--", "^:", "d-.", "v-"]
    for i, cost in enumerate(costs):
        for j, ansatz in enumerate(ansatze):
            ax = axes[i][j]
            for init, layers in lines:
                pts = sorted(
                    (r["qubits"], r["variance"])
                    for r in rows
                    if (r["ansatz"], r["cost"], r["init"], r["layers"])
                    == (ansatz, cost, init, layers)
                    and r["variance"] is not None
                    and r["variance"] > 0
                )
                if not pts:
                    continue
                xs, ys = zip(*pts, strict=True)
                ax.plot(xs, ys, styles[depths.index(layers) % len(styles)],
                        color=colors(inits.index(init)), label=f"{init}, L={layers}")  # fmt: skip
            ax.set_yscale("log")
            ax.set(xlabel="qubits", ylabel="Var[dC/dtheta]", title=f"{ansatz}, {cost} cost")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes[0][-1].legend(fontsize=7)
    fig.tight_layout()
    savefig(fig, path)
    return fig


# --- tuning (`qmoe tune`): a variant's optimisation history and parameter importances ----------


def tuning_history(path: Path, title: str, trials: list[dict], ylabel: str, maximize: bool):
    """Every complete trial's value by trial number (dots) and the best so far (a step
    line). `trials`: {"number", "value"}. Returns the (closed) figure."""
    fig, ax = plt.subplots(figsize=(5.2, 3.6))
    numbers = [t["number"] for t in trials]
    values = [t["value"] for t in trials]
    finite = [(n, v) for n, v in zip(numbers, values, strict=True) if math.isfinite(v)]
    if finite:
        ax.scatter(*zip(*finite, strict=True), s=16, color="#0072B2", label="trial", zorder=3)
        best, running = [], None
        for _, v in finite:
            running = v if running is None else (max if maximize else min)(running, v)
            best.append(running)
        ax.step([n for n, _ in finite], best, where="post", color="#D55E00", label="best so far")
        ax.legend(fontsize=8, loc="best")
    else:
        ax.text(0.5, 0.5, "no complete trial", ha="center", va="center", transform=ax.transAxes)
    ax.set(xlabel="trial", ylabel=ylabel, title=title)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.tight_layout()
    savefig(fig, path)
    return fig


def param_importances(path: Path, title: str, importances: dict[str, float], note: str = ""):
    """One horizontal bar per searched key: its share of the variance of the trial values
    (fANOVA), the largest on top; `note` instead when there are none. Returns the (closed)
    figure."""
    fig, ax = plt.subplots(figsize=(5.2, 0.9 + 0.35 * max(len(importances), 2)))
    if importances:
        keys = sorted(importances, key=importances.get)
        ax.barh(keys, [importances[k] for k in keys], color="#009E73")
        for i, k in enumerate(keys):
            ax.text(importances[k], i, f" {importances[k]:.2f}", va="center", fontsize=8)
        ax.set_xlim(0, 1.15)
    else:
        ax.text(0.5, 0.5, note or "no importances", ha="center", va="center", wrap=True,
                transform=ax.transAxes)  # fmt: skip
        ax.set_yticks([])
    ax.set(xlabel="importance (fANOVA, share of the value's variance)", title=title)
    fig.tight_layout()
    savefig(fig, path)
    return fig
