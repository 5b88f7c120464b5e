"""sklearn's 8x8 handwritten digits (1797 images, bundled with scikit-learn: no download)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from qmoe_cli.data.base import Images
from qmoe_cli.data.common import keep_classes

if TYPE_CHECKING:
    from qmoe_cli.data import DataConfig


class Digits(Images):
    name = "digits"
    features = 64

    @classmethod
    def load(cls, cfg: DataConfig, seed: int):
        import numpy as np
        from sklearn.datasets import load_digits

        d = load_digits()
        X, y, note = keep_classes(d.data, d.target, cfg)
        source = f"sklearn.datasets.load_digits (8x8 images, {len(d.target)} images{note})"
        return X.astype(np.float32) / np.float32(16.0), y, source  # pixels 0..16 -> [0, 1]
