"""Figures for 2-D datasets: decision boundaries and routing maps (which expert dominates where)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, never a window
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from qmoe_cli.data import Splits  # noqa: E402
from qmoe_cli.metrics import predict  # noqa: E402
from qmoe_cli.models import MixtureOfExperts  # noqa: E402


@dataclass
class Grid:
    xx: np.ndarray
    yy: np.ndarray
    classes: np.ndarray  # predicted class per grid point
    expert: np.ndarray  # dominant expert per grid point


def predict_grid(model: MixtureOfExperts, splits: Splits, resolution: int = 150) -> Grid:
    points = np.vstack([splits.X_train, splits.X_val, splits.X_test])
    lo, hi = points.min(axis=0), points.max(axis=0)
    pad = 0.08 * (hi - lo)
    xs = np.linspace(lo[0] - pad[0], hi[0] + pad[0], resolution)
    ys = np.linspace(lo[1] - pad[1], hi[1] + pad[1], resolution)
    xx, yy = np.meshgrid(xs, ys)
    dtype = next(model.parameters()).dtype
    x = torch.as_tensor(np.c_[xx.ravel(), yy.ravel()], dtype=dtype)
    classes, gates = predict(model, x)
    return Grid(xx, yy, classes.reshape(xx.shape), gates.argmax(axis=1).reshape(xx.shape))


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
    ax.set_xticks([])
    ax.set_yticks([])


def plot_decision_boundary(ax, grid: Grid, splits: Splits, title: str) -> None:
    n = splits.n_classes
    ax.contourf(
        grid.xx, grid.yy, grid.classes, levels=np.arange(n + 1) - 0.5, cmap="coolwarm", alpha=0.35
    )
    _scatter_test(ax, splits)
    ax.set_title(title, fontsize=9)


def plot_routing(ax, grid: Grid, splits: Splits, n_experts: int, title: str) -> None:
    cmap = plt.get_cmap("tab10", max(n_experts, 2))
    ax.contourf(
        grid.xx,
        grid.yy,
        grid.expert,
        levels=np.arange(n_experts + 1) - 0.5,
        cmap=cmap,
        alpha=0.45,
        vmin=-0.5,
        vmax=n_experts - 0.5,
    )
    _scatter_test(ax, splits)
    ax.set_title(title, fontsize=9)


def save_single(path: Path, draw, *args) -> None:
    fig, ax = plt.subplots(figsize=(4.2, 4))
    draw(ax, *args)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def save_panels(path: Path, panels: list) -> None:
    """One row of panels; each is (draw function, its arguments after the axes)."""
    fig, axes = plt.subplots(1, len(panels), figsize=(3.6 * len(panels), 3.8), squeeze=False)
    for ax, (draw, args) in zip(axes[0], panels, strict=True):
        draw(ax, *args)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def training_curves(path: Path, histories: dict[str, list[list[dict]]]) -> None:
    """Validation loss and accuracy per epoch: each seed thin, the mean over seeds bold."""
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
    ax_acc.axhline(0.9, color="grey", linestyle=":", linewidth=1)
    ax_acc.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
