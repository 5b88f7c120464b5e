"""Hyperplanes and parity, as described in Bowles, Ahmed & Schuld 2024 (arXiv 2403.07059,
"Data sets"): the label is the parity of the sides of several hyperplanes a point lies on,
in a low-dimensional space that is then embedded linearly into the input space.

Followed from the description: k hyperplanes in an h-dimensional space (normals and
offsets ~ U(0, 1)); latent points z ~ N(0, I_h); the label is the parity of the number of
hyperplanes with w . z + b > 0; the points are embedded into d dimensions by a random
matrix (h x d) ~ U(0, 1), x = z M; the classes are balanced by keeping n/2 points of each.

Our choices: class 0 is even parity, class 1 odd (the authors' code ends with the same
split: after balancing, even parity is labelled -1 and odd +1, which qmoe's sorted mapping
would also make 0 and 1); the hyperplanes and M come from `task_seed`, z from the run's
seed (literature.py); no standardisation over all rows; `noise` (default 0) adds Gaussian
noise to x.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import Field

from qmoe_cli.data.literature import PAPER, LiteratureTask, add_noise, balanced, rngs

if TYPE_CHECKING:
    import numpy as np

    from qmoe_cli.data import DataConfig


class HyperplanesParity(LiteratureTask):
    name = "hyperplanes_parity"

    n_hyperplanes: int = Field(3, ge=1, le=64, description="number k of hyperplanes")
    dim_hyperplanes: int = Field(
        3, ge=1, le=1024, description="dimension h of the space the hyperplanes live in"
    )

    @classmethod
    def load(cls, cfg: DataConfig, seed: int):
        task_rng, rng = rngs(cfg, seed)
        task = make_task(cfg.n_features, cfg.n_hyperplanes, cfg.dim_hyperplanes, task_rng)
        X, y, _ = generate(task, cfg.n_samples, cfg.noise, rng)
        source = (
            f"hyperplanes and parity ({PAPER}): n_samples={cfg.n_samples}, "
            f"n_features={cfg.n_features}, n_hyperplanes={cfg.n_hyperplanes}, "
            f"dim_hyperplanes={cfg.dim_hyperplanes}, noise={cfg.noise}, "
            f"task_seed={cfg.task_seed}"
        )
        return X, y, source


def make_task(d: int, k: int, h: int, rng: np.random.Generator) -> dict:
    """Hyperplane normals (k, h) and offsets (k), and the embedding M (h, d)."""
    return {
        "weights": rng.uniform(size=(k, h)),
        "biases": rng.uniform(size=k),
        "embedding": rng.uniform(size=(h, d)),
    }


def parity(task: dict, Z: np.ndarray) -> np.ndarray:
    """1 where an odd number of hyperplanes have the point on their positive side."""
    sides = (Z @ task["weights"].T + task["biases"]) > 0
    return sides.sum(axis=1) % 2


def generate(task: dict, n: int, noise: float, rng: np.random.Generator):
    """(X, y, Z): n rows, exactly balanced, and their latent points."""
    h = task["weights"].shape[1]

    def draw(m: int):
        Z = rng.normal(size=(m, h))
        return Z, parity(task, Z)

    Z, y = balanced(draw, n, "n_hyperplanes", "parity of the hyperplane sides")
    return add_noise(Z @ task["embedding"], noise, rng), y, Z
