"""Linearly separable data with a margin, as described in Bowles, Ahmed & Schuld 2024
(arXiv 2403.07059, "Data sets"): points in a hypercube labelled by the side of a hyperplane,
with the points inside a margin around it removed (the perceptron's easy case).

Followed from the description: x ~ U(-1, 1)^d; the label is the side of a hyperplane
through the origin; points closer to it than the margin are rejected and redrawn.

Our choices: the hyperplane's normal is random (a unit vector drawn from `task_seed`; the
authors' code uses the all-ones vector), and the margin is the Euclidean distance to the
hyperplane (theirs is |x . 1| > margin, a distance of margin / sqrt(d)); the classes are
balanced exactly; `noise` (default 0) adds Gaussian noise to x, which can break the
separability.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import Field

from qmoe_cli.data.literature import PAPER, LiteratureTask, add_noise, balanced, rngs

if TYPE_CHECKING:
    import numpy as np

    from qmoe_cli.data import DataConfig


class LinearlySeparable(LiteratureTask):
    name = "linearly_separable"

    margin: float = Field(
        0.1, ge=0.0, le=10.0, description="distance from the hyperplane kept free of points"
    )

    @classmethod
    def load(cls, cfg: DataConfig, seed: int):
        task_rng, rng = rngs(cfg, seed)
        normal = make_task(cfg.n_features, task_rng)
        X, y = generate(normal, cfg.margin, cfg.n_samples, cfg.noise, rng)
        source = (
            f"linearly separable ({PAPER}): n_samples={cfg.n_samples}, "
            f"n_features={cfg.n_features}, margin={cfg.margin}, noise={cfg.noise}, "
            f"task_seed={cfg.task_seed}"
        )
        return X, y, source


def make_task(d: int, rng: np.random.Generator) -> np.ndarray:
    """The hyperplane's unit normal."""
    import numpy as np

    w = rng.normal(size=d)
    return w / np.linalg.norm(w)


def generate(normal: np.ndarray, margin: float, n: int, noise: float, rng: np.random.Generator):
    """(X, y): n rows of the hypercube at least `margin` from the hyperplane, balanced."""
    d = len(normal)

    def draw(m: int):
        X = rng.uniform(-1.0, 1.0, size=(m, d))
        side = X @ normal
        keep = abs(side) > margin
        return X[keep], (side[keep] > 0).astype(int)

    X, y = balanced(draw, n, "margin", "points outside the margin")
    return add_noise(X, noise, rng), y
