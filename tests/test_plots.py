"""Figures: expert legends, axis labels, integer epoch ticks, and the claim scorecard."""

import numpy as np
import pytest
from matplotlib.colors import to_hex
from matplotlib.ticker import MaxNLocator

from qmoe_cli import figures as plots
from qmoe_cli.config import DataConfig
from qmoe_cli.data import Splits, load_dataset


def _splits(**data) -> Splits:
    return load_dataset(DataConfig(name="two_moons", n_samples=120, **data), seed=0)


def _grid(splits: Splits, n_experts: int) -> plots.Grid:
    xs = np.linspace(splits.X_train[:, 0].min(), splits.X_train[:, 0].max(), 30)
    ys = np.linspace(splits.X_train[:, 1].min(), splits.X_train[:, 1].max(), 30)
    xx, yy = np.meshgrid(xs, ys)
    expert = np.minimum((xx - xs[0]) / (xs[-1] - xs[0]) * n_experts, n_experts - 1).astype(int)
    return plots.Grid(xx, yy, (yy > yy.mean()).astype(int), expert)


@pytest.mark.parametrize("n_experts", [2, 3, 6])
def test_routing_map_has_one_legend_entry_per_expert(n_experts):
    splits = _splits()
    fig, ax = plots.plt.subplots()
    plots.plot_routing(ax, _grid(splits, n_experts), splits, n_experts, "routing")
    legend = ax.get_legend()
    labels = [t.get_text() for t in legend.get_texts()]
    assert labels == [f"expert {i}" for i in range(n_experts)]
    # The legend's colours are the map's colours, expert by expert.
    colours = [to_hex(h.get_facecolor(), keep_alpha=False) for h in legend.legend_handles]
    assert colours == [to_hex(c, keep_alpha=False) for c in plots.expert_colours(n_experts)]
    plots.plt.close(fig)


def test_boundary_and_routing_axes_name_the_scaled_features(tmp_path):
    splits = _splits()
    grid = _grid(splits, 2)
    fig = plots.save_panels(
        tmp_path / "panels.png",
        [
            (plots.plot_decision_boundary, (grid, splits, "boundary")),
            (plots.plot_routing, (grid, splits, 2, "routing")),
        ],
    )
    assert (tmp_path / "panels.png").stat().st_size > 0
    for ax in fig.axes:
        assert ax.get_xlabel() == "x1 (scaled to [0, π])"
        assert ax.get_ylabel() == "x2 (scaled to [0, π])"


def test_feature_labels_follow_the_preprocessing():
    assert plots.feature_labels(_splits(scaling="standard")) == (
        "x1 (standardised)",
        "x2 (standardised)",
    )
    assert plots.feature_labels(_splits(scaling="none")) == ("feature 1", "feature 2")
    digits = load_dataset(DataConfig(name="digits", classes=[0, 1], pca_components=2), seed=0)
    assert plots.feature_labels(digits) == ("PC1 (scaled to [0, π])", "PC2 (scaled to [0, π])")


def test_single_panel_figures_have_axis_labels(tmp_path):
    splits = _splits()
    fig = plots.save_single(
        tmp_path / "b.png", plots.plot_decision_boundary, _grid(splits, 2), splits, "t"
    )
    (ax,) = fig.axes
    assert ax.get_xlabel() and ax.get_ylabel()


def test_training_curves_have_integer_epoch_ticks(tmp_path):
    history = [
        {"epoch": e, "val_loss": 1.0 / e, "val_acc": min(0.5 + 0.1 * e, 1.0)} for e in (1, 2, 3)
    ]
    fig = plots.training_curves(tmp_path / "curves.png", {"A": [history, history[:2]]})
    assert (tmp_path / "curves.png").stat().st_size > 0
    for ax in fig.axes:
        locator = ax.xaxis.get_major_locator()
        assert isinstance(locator, MaxNLocator) and locator._integer
        ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
        assert ticks and all(float(t).is_integer() for t in ticks)


SCORE_ROWS = [
    {
        "label": "C1 Two Moons, quantum router accuracy",
        "unit": "accuracy",
        "paper": 0.94,
        "value": 0.969,
        "low": 0.951,
        "high": 0.987,
        "category": "reproduced",
    },
    {
        "label": "C2 linear router accuracy",
        "unit": "accuracy",
        "paper": 0.65,
        "value": 0.86,
        "low": 0.84,
        "high": 0.88,
        "category": "not reproduced",
    },
    {
        "label": "C3 eta ratio across datasets " + "with a very long explanation " * 5,
        "unit": "ratio",
        "paper": (1.5, 2.5),
        "value": 1.2,
        "low": 0.9,
        "high": 1.6,
        "category": "setup-dependent",
    },
    {
        "label": "C4 eta of Model B",
        "unit": "eta",
        "paper": 7.14,
        "value": 0.30,
        "low": None,
        "high": None,
        "category": "inconsistent within the paper",
    },
    {
        "label": "C5 noise threshold",
        "unit": "eps",
        "paper": 0.02,
        "value": None,
        "low": None,
        "high": None,
        "category": "not measured",
    },
    {
        "label": "C6 convergence",
        "unit": "epochs",
        "paper": 20,
        "value": float("nan"),
        "low": 18.0,
        "high": 31.0,
        "category": "not reproduced",
    },
    {
        "label": "C7 router parameters",
        "unit": "params",
        "paper": None,
        "value": 24,
        "low": 24,
        "high": 24,
        "category": "reproduced",
    },
]


def test_scorecard_writes_a_png_with_bars_coloured_by_category(tmp_path):
    path = tmp_path / "scorecard.png"
    card = plots.scorecard(path, SCORE_ROWS)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert card.categories == [r["category"] for r in SCORE_ROWS]
    for row, bar, colour in zip(SCORE_ROWS, card.bars, card.colours, strict=True):
        assert colour == plots.CATEGORY_COLOURS[row["category"]]
        has_interval = row["low"] is not None and row["high"] is not None
        assert (bar is not None) == has_interval
        if bar is not None:
            assert to_hex(bar.get_facecolor()) == to_hex(plots.CATEGORY_COLOURS[row["category"]])
    texts = [t.get_text() for ax in card.figure.axes for t in ax.texts]
    assert "paper 94 % | measured 96.9 % [95.1, 98.7]" in texts
    assert "paper 1.50–2.50x | measured 1.20x [0.90, 1.60]" in texts
    assert "paper 0.02 | not measured" in texts
    assert any(t.endswith("…") and len(t) <= plots.LABEL_CHARS for t in texts)
    # The legend names every category, in the palette's colours.
    legend = next(ax.get_legend() for ax in card.figure.axes if ax.get_legend())
    names = [t.get_text() for t in legend.get_texts()]
    assert set(plots.CATEGORY_COLOURS) <= set(names)


def test_scorecard_height_grows_with_rows_and_stays_readable(tmp_path):
    rows = [dict(SCORE_ROWS[i % len(SCORE_ROWS)], label=f"C{i} claim") for i in range(30)]
    small = plots.scorecard(tmp_path / "small.png", SCORE_ROWS[:3]).figure
    big = plots.scorecard(tmp_path / "big.png", rows).figure
    assert big.get_figheight() > small.get_figheight()
    assert big.get_figheight() / 30 >= 0.25  # at least a quarter inch a row
    assert (tmp_path / "big.png").stat().st_size > 0


def test_scorecard_palette_is_the_five_categories():
    assert list(plots.CATEGORY_COLOURS) == [
        "reproduced",
        "not reproduced",
        "inconsistent within the paper",
        "setup-dependent",
        "not measured",
    ]
    assert len(set(plots.CATEGORY_COLOURS.values())) == 5


def test_scorecard_rejects_an_unknown_category(tmp_path):
    with pytest.raises(ValueError, match="category"):
        plots.scorecard(tmp_path / "x.png", [dict(SCORE_ROWS[0], category="maybe")])
