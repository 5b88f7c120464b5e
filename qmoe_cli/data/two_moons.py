"""Two interleaving half circles in the plane (sklearn.datasets.make_moons): the paper's
main dataset."""

from __future__ import annotations

from typing import TYPE_CHECKING

from qmoe_cli.data.base import Generated

if TYPE_CHECKING:
    from qmoe_cli.data import DataConfig


class TwoMoons(Generated):
    name = "two_moons"
    features = 2

    @classmethod
    def load(cls, cfg: DataConfig, seed: int):
        from sklearn.datasets import make_moons

        X, y = make_moons(n_samples=cfg.n_samples, noise=cfg.noise, random_state=seed)
        return X, y, f"sklearn.datasets.make_moons(n_samples={cfg.n_samples}, noise={cfg.noise})"
