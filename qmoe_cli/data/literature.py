"""The keys and helpers the QML literature's generators share (hidden_manifold.py,
two_curves.py, hyperplanes_parity.py, linearly_separable.py).

Each generator is re-implemented from the description in Bowles, Ahmed & Schuld, "Better
than classical? The subtle art of benchmarking quantum machine learning models" (arXiv
2403.07059, section "Data sets"), each module's docstring saying what it follows and which
choices are ours. Choices common to all four:

- Two seeds. `task_seed` (a key, default 0) draws the task itself: the hidden manifold's
  embedding and labelling network, the curves' Fourier coefficients, the hyperplanes, the
  separating hyperplane. The run's seed draws the samples (and the split), as it does for
  two_moons. So the seeds of one config are the same task with fresh samples; set
  `task_seed` to vary the task.
- Labels are 0/1 (the paper's -1/1, mapped), and the two classes are exactly balanced
  (n_samples // 2 of class 1, the rest class 0), as in the paper's data.
- No standardisation inside the generator (the authors' code standardises X over all rows,
  test rows included): qmoe's scaling and PCA are fitted on the training rows only.
- `noise` (std of Gaussian noise added to every feature after the generator) defaults to 0
  except for two_curves, where it is part of the paper's description.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from pydantic import Field

from qmoe_cli.data.base import Generated
from qmoe_cli.errors import DataError

if TYPE_CHECKING:
    import numpy as np

    from qmoe_cli.data import DataConfig

PAPER = "Bowles, Ahmed & Schuld 2024, arXiv 2403.07059"
MAX_DRAWS = 64  # rounds of rejection sampling before a generator gives up


class LiteratureTask(Generated):
    """A generator from the QML benchmarking literature: its input width is a key."""

    n_features: int = Field(10, ge=1, le=4096, description="input dimension d of the rows")
    task_seed: int = Field(
        0,
        ge=0,
        le=2**31 - 1,
        description="seed of the task itself (embedding, labelling function, hyperplanes, "
        "curves); the rows are drawn from the run's seed",
    )
    noise: float = Field(0.0, ge=0.0, le=10.0, description="std of the Gaussian noise")

    @classmethod
    def input_width(cls, cfg: DataConfig) -> int | None:
        return cfg.n_features


def rngs(cfg: DataConfig, seed: int) -> tuple[np.random.Generator, np.random.Generator]:
    """(the task's generator, the samples' generator)."""
    import numpy as np

    return np.random.default_rng([cfg.task_seed, 1]), np.random.default_rng([seed, 2])


def balanced(
    draw: Callable[[int], tuple[np.ndarray, np.ndarray]], n: int, key: str, what: str
) -> tuple[np.ndarray, np.ndarray]:
    """Exactly n // 2 rows of class 1 and n - n // 2 of class 0 from `draw(m) -> (rows,
    labels)`, called until both classes are filled (rows kept in the order drawn, class 0
    first); a DataError naming `key` when a class stays too rare."""
    import numpy as np

    need = {0: n - n // 2, 1: n // 2}
    got: dict[int, list] = {0: [], 1: []}
    count = {0: 0, 1: 0}
    for _ in range(MAX_DRAWS):
        rows, labels = draw(2 * n)
        for c in (0, 1):
            take = rows[labels == c][: need[c] - count[c]]
            got[c].append(take)
            count[c] += len(take)
        if count[0] == need[0] and count[1] == need[1]:
            X = np.concatenate(got[0] + got[1])
            return X, np.repeat([0, 1], [need[0], need[1]])
    rare = 0 if count[0] < need[0] else 1
    raise DataError(
        f"data.{key}: class {rare} is too rare under these settings ({what}: "
        f"{count[rare]} of {need[rare]} rows after {MAX_DRAWS * 2 * n} draws); change {key}"
    )


def add_noise(X: np.ndarray, noise: float, rng: np.random.Generator) -> np.ndarray:
    return X + rng.normal(scale=noise, size=X.shape) if noise > 0 else X
