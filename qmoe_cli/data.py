"""Dataset registry -> stratified train/val/test splits, with PCA and scaling fitted on train.

Every dataset is a function `(DataConfig, seed) -> (X, y, source)`; the seed drives both
the generator (for synthetic data) and the split, so one seed is one reproducible draw.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from sklearn import datasets as skdatasets
from sklearn.decomposition import PCA
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MinMaxScaler, StandardScaler

from qmoe_cli.config import DataConfig
from qmoe_cli.errors import DataError

Loader = Callable[[DataConfig, int], tuple[np.ndarray, np.ndarray, str]]
REGISTRY: dict[str, Loader] = {}


def register(name: str) -> Callable[[Loader], Loader]:
    def deco(fn: Loader) -> Loader:
        REGISTRY[name] = fn
        return fn

    return deco


@register("two_moons")
def _two_moons(cfg: DataConfig, seed: int):
    X, y = skdatasets.make_moons(n_samples=cfg.n_samples, noise=cfg.noise, random_state=seed)
    return X, y, f"sklearn.datasets.make_moons(n_samples={cfg.n_samples}, noise={cfg.noise})"


@register("circles")
def _circles(cfg: DataConfig, seed: int):
    factor = 0.5 if cfg.factor is None else cfg.factor
    X, y = skdatasets.make_circles(
        n_samples=cfg.n_samples, noise=cfg.noise, factor=factor, random_state=seed
    )
    source = f"sklearn.datasets.make_circles(n_samples={cfg.n_samples}, noise={cfg.noise}, "
    return X, y, source + f"factor={factor})"


@dataclass
class Splits:
    """Preprocessed splits as float64 numpy arrays, plus where they came from."""

    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    n_classes: int
    source: str
    preprocessor: Pipeline | None = field(default=None, repr=False)

    @property
    def n_features(self) -> int:
        return self.X_train.shape[1]

    def info(self) -> dict:
        return {
            "source": self.source,
            "n_train": len(self.y_train),
            "n_val": len(self.y_val),
            "n_test": len(self.y_test),
            "n_features": self.n_features,
            "n_classes": self.n_classes,
        }

    def tensors(self, split: str, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        X = getattr(self, f"X_{split}")
        y = getattr(self, f"y_{split}")
        return torch.as_tensor(X, dtype=dtype), torch.as_tensor(y, dtype=torch.long)


def load_dataset(cfg: DataConfig, seed: int) -> Splits:
    if cfg.name not in REGISTRY:
        raise DataError(f"data.name: unknown dataset '{cfg.name}' (known: {', '.join(REGISTRY)})")
    X, y, source = REGISTRY[cfg.name](cfg, seed)
    return split_and_preprocess(X, y, cfg, seed, source)


def split_and_preprocess(
    X: np.ndarray, y: np.ndarray, cfg: DataConfig, seed: int, source: str
) -> Splits:
    X = np.asarray(X, dtype=np.float64)
    classes, y = np.unique(np.asarray(y), return_inverse=True)
    n_test = math.ceil(cfg.test_fraction * len(y))
    n_val = math.ceil(cfg.val_fraction * len(y))
    if min(n_test, n_val, len(y) - n_test - n_val) < len(classes):
        raise DataError(
            f"data.n_samples: {len(y)} samples are too few to split into train/val/test "
            f"with every one of the {len(classes)} classes in each"
        )
    X_rest, X_test, y_rest, y_test = train_test_split(
        X, y, test_size=n_test, stratify=y, random_state=seed
    )
    X_train, X_val, y_train, y_val = train_test_split(
        X_rest, y_rest, test_size=n_val, stratify=y_rest, random_state=seed
    )
    pre = build_preprocessor(cfg, n_features=X.shape[1], n_train=len(y_train))
    if pre is not None:
        X_train = pre.fit_transform(X_train)  # fitted on training rows only
        X_val, X_test = pre.transform(X_val), pre.transform(X_test)
    return Splits(X_train, y_train, X_val, y_val, X_test, y_test, len(classes), source, pre)


def build_preprocessor(cfg: DataConfig, n_features: int, n_train: int) -> Pipeline | None:
    steps = []
    if cfg.pca_components is not None:
        if cfg.pca_components > min(n_features, n_train):
            raise DataError(
                f"data.pca_components: {cfg.pca_components} exceeds the {n_features} features "
                f"(or {n_train} training rows) of the data"
            )
        steps.append(("pca", PCA(n_components=cfg.pca_components, random_state=0)))
    if cfg.scaling == "minmax_pi":
        # The paper's angle range: each feature becomes a rotation angle in [0, pi].
        steps.append(("scale", MinMaxScaler(feature_range=(0.0, math.pi))))
    elif cfg.scaling == "standard":
        steps.append(("scale", StandardScaler()))
    return Pipeline(steps) if steps else None
