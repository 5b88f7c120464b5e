"""A small circle inside a large one (sklearn.datasets.make_circles)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import Field

from qmoe_cli.data.base import Generated

if TYPE_CHECKING:
    from qmoe_cli.data import DataConfig

DEFAULT_FACTOR = 0.5


class Circles(Generated):
    name = "circles"
    features = 2

    factor: float | None = Field(
        None, gt=0.0, lt=1.0, description=f"inner/outer radius (default {DEFAULT_FACTOR})"
    )

    @classmethod
    def load(cls, cfg: DataConfig, seed: int):
        from sklearn.datasets import make_circles

        factor = DEFAULT_FACTOR if cfg.factor is None else cfg.factor
        X, y = make_circles(
            n_samples=cfg.n_samples, noise=cfg.noise, factor=factor, random_state=seed
        )
        source = f"sklearn.datasets.make_circles(n_samples={cfg.n_samples}, noise={cfg.noise}, "
        return X, y, source + f"factor={factor})"
