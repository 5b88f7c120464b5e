"""The hidden manifold model (Goldt et al. 2020), as described in Bowles, Ahmed & Schuld
2024 (arXiv 2403.07059, "Data sets"): inputs in d dimensions that depend only on
coordinates on a hidden m-dimensional manifold, labelled by a function of those coordinates.

Followed from the description: latent coordinates c ~ N(0, I_m); a random feature matrix
F (m x d) ~ N(0, 1) and biases b ~ U(-1, 1)^d embed them as x = tanh(c F / sqrt(m) - b)
(the element-wise non-linearity bends the m-dimensional subspace into a manifold); the
label is the sign of a randomly initialised one-hidden-layer network on c,
v . tanh(W c) / sqrt(m), with W (m x m) and v (m) ~ N(0, 1), thresholded at its median so
that the classes are balanced.

Our choices: the threshold is the median of the network's output over the latent
distribution (estimated once per task from 20,000 draws of the task's generator), not over
the rows drawn, so a label is a fixed function of c for every seed; the classes are then
balanced exactly by keeping the first n/2 rows of each (literature.balanced). F, b, W, v
come from `task_seed`, c from the run's seed (literature.py). `noise` (default 0) adds
Gaussian noise to x after the embedding, taking the rows off the manifold.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import Field

from qmoe_cli.data.literature import PAPER, LiteratureTask, add_noise, balanced, rngs

if TYPE_CHECKING:
    import numpy as np

    from qmoe_cli.data import DataConfig

THRESHOLD_DRAWS = 20_000


class HiddenManifold(LiteratureTask):
    name = "hidden_manifold"

    manifold_dimension: int = Field(
        6, ge=1, le=1024, description="dimension m of the hidden manifold (latent coordinates)"
    )

    @classmethod
    def load(cls, cfg: DataConfig, seed: int):
        task_rng, rng = rngs(cfg, seed)
        task = make_task(cfg.n_features, cfg.manifold_dimension, task_rng)
        X, y, _ = generate(task, cfg.n_samples, cfg.noise, rng)
        source = (
            f"hidden manifold model ({PAPER}): n_samples={cfg.n_samples}, "
            f"n_features={cfg.n_features}, manifold_dimension={cfg.manifold_dimension}, "
            f"noise={cfg.noise}, task_seed={cfg.task_seed}"
        )
        return X, y, source


def make_task(d: int, m: int, rng: np.random.Generator) -> dict:
    """The task's random parts: F, b (embedding), W, v (labelling network), threshold."""
    import numpy as np

    F = rng.normal(size=(m, d))
    b = rng.uniform(-1.0, 1.0, size=d)
    W = rng.normal(size=(m, m))
    v = rng.normal(size=m)
    task = {"F": F, "b": b, "W": W, "v": v, "threshold": 0.0}
    task["threshold"] = float(np.median(score(task, rng.normal(size=(THRESHOLD_DRAWS, m)))))
    return task


def score(task: dict, C: np.ndarray) -> np.ndarray:
    """The labelling network's output on latent coordinates C (rows)."""
    import numpy as np

    m = C.shape[1]
    return np.tanh(C @ task["W"].T) @ task["v"] / np.sqrt(m)


def labels(task: dict, C: np.ndarray) -> np.ndarray:
    """Class 1 where the network's output exceeds the task's threshold."""
    return (score(task, C) > task["threshold"]).astype(int)


def embed(task: dict, C: np.ndarray) -> np.ndarray:
    import numpy as np

    m = C.shape[1]
    return np.tanh(C @ task["F"] / np.sqrt(m) - task["b"])


def generate(task: dict, n: int, noise: float, rng: np.random.Generator):
    """(X, y, C): n rows, exactly balanced, and their latent coordinates."""
    m = task["F"].shape[0]

    def draw(k: int):
        C = rng.normal(size=(k, m))
        return C, labels(task, C)

    C, y = balanced(draw, n, "manifold_dimension", "the labelling network's output")
    return add_noise(embed(task, C), noise, rng), y, C
