"""Two curves (after Buchanan et al. 2021), as described in Bowles, Ahmed & Schuld 2024
(arXiv 2403.07059, "Data sets"): two 1-D curves embedded in d dimensions, one per class,
whose distance (the offset) and curvature (the Fourier degree) set the difficulty.

Followed from the description: a point t ~ U(0, 1) on the curve is embedded coordinate by
coordinate with d Fourier series of degree D, f_i(t) = a_i0 + sum_{k=1..D} a_ik cos(pi k t)
+ b_ik sin(pi k t), coefficients ~ U(0, 1) normalised together to unit norm; the second
class uses the same functions shifted by the offset Delta in every coordinate; Gaussian
noise of std `noise` is added to every coordinate.

Our choices: the coefficients come from `task_seed`, t and the noise from the run's seed
(literature.py); the constant term is one coefficient a_i0 (the authors' code adds two,
a_i0 + b_i0: the same family of curves); no standardisation over all rows (qmoe scales on
the training rows only); n - n // 2 rows of class 0 and n // 2 of class 1.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import Field

from qmoe_cli.data.literature import PAPER, LiteratureTask, add_noise, rngs

if TYPE_CHECKING:
    import numpy as np

    from qmoe_cli.data import DataConfig


class TwoCurves(LiteratureTask):
    name = "two_curves"

    noise: float = Field(0.01, ge=0.0, le=10.0, description="std of the Gaussian noise")
    degree: int = Field(5, ge=1, le=100, description="degree D of the curves' Fourier series")
    offset: float = Field(
        0.1, ge=0.0, le=100.0, description="shift Delta between the two curves, per coordinate"
    )

    @classmethod
    def load(cls, cfg: DataConfig, seed: int):
        task_rng, rng = rngs(cfg, seed)
        coeffs = make_task(cfg.n_features, cfg.degree, task_rng)
        X, y, _ = generate(coeffs, cfg.offset, cfg.n_samples, cfg.noise, rng)
        source = (
            f"two curves ({PAPER}): n_samples={cfg.n_samples}, n_features={cfg.n_features}, "
            f"degree={cfg.degree}, offset={cfg.offset}, noise={cfg.noise}, "
            f"task_seed={cfg.task_seed}"
        )
        return X, y, source


def make_task(d: int, degree: int, rng: np.random.Generator) -> np.ndarray:
    """Fourier coefficients (d, degree + 1, 2): [i, k] = (cos, sin) of frequency k in
    coordinate i (the sin term of k = 0 is unused), unit norm over all."""
    import numpy as np

    coeffs = rng.uniform(size=(d, degree + 1, 2))
    coeffs[:, 0, 1] = 0.0
    return coeffs / np.linalg.norm(coeffs)


def curve(coeffs: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Points (len(t), d) of the curve at parameters t in [0, 1]."""
    import numpy as np

    k = np.arange(coeffs.shape[1])
    phase = np.pi * np.outer(t, k)  # (n, degree + 1)
    return np.cos(phase) @ coeffs[:, :, 0].T + np.sin(phase) @ coeffs[:, :, 1].T


def generate(coeffs: np.ndarray, offset: float, n: int, noise: float, rng: np.random.Generator):
    """(X, y, t): n - n // 2 rows of class 0 on the curve, n // 2 of class 1 on the curve
    shifted by `offset`, noise added; t the curve parameter of each row."""
    import numpy as np

    y = np.repeat([0, 1], [n - n // 2, n // 2])
    t = rng.uniform(size=n)
    X = curve(coeffs, t) + offset * y[:, None]
    return add_noise(X, noise, rng), y, t
