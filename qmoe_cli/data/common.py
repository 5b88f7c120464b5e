"""What every dataset shares: stratified train/val/test splits by seed, PCA and scaling
fitted on the training rows only, and the class filter of the image datasets.

Imported (through qmoe_cli/data/__init__.py) by the config package, so numpy, sklearn and torch are
imported inside the functions that use them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from qmoe_cli.errors import DataError

if TYPE_CHECKING:
    import numpy as np
    import torch
    from sklearn.pipeline import Pipeline

    from qmoe_cli.data import DataConfig


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
    # Row indices into the loaded (class-filtered) pool: {"train": ..., "val": ..., "test": ...}
    # (with a fixed test file, "test" indexes that file's rows)
    rows: dict[str, np.ndarray] | None = field(default=None, repr=False)
    # The original label of each class index 0..C-1 (user files: their labels as text, in
    # sorted order); written into metrics.json's `data` as `labels`.
    labels: list[str] | None = None
    # data.scaling as applied (a variant may replace the shared one); in metrics.json's `data`
    scaling: str | None = None

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
            **({"labels": list(self.labels)} if self.labels is not None else {}),
            **({"scaling": self.scaling} if self.scaling is not None else {}),
        }

    def tensors(self, split: str, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        import torch

        X = getattr(self, f"X_{split}")
        y = getattr(self, f"y_{split}")
        return torch.as_tensor(X, dtype=dtype), torch.as_tensor(y, dtype=torch.long)


def split_and_preprocess(
    X: np.ndarray, y: np.ndarray, cfg: DataConfig, seed: int, source: str
) -> Splits:
    """Stratified train/val/test split by seed; PCA and scaling fitted on training rows only.

    With data.n_train/n_test null, the test and validation splits are test_fraction and
    val_fraction of all rows (rounded up). Otherwise n_train + n_test rows are drawn,
    stratified, from the pool and validation takes val_fraction of the n_train rows; when
    the pool is smaller, it is divided in the same ratio and `source` says so.
    """
    import numpy as np
    from sklearn.model_selection import train_test_split

    X = np.asarray(X)
    classes, y = np.unique(np.asarray(y), return_inverse=True)
    idx = np.arange(len(y))
    if cfg.n_train is not None and cfg.n_test is not None:
        n_train, n_test = cfg.n_train, cfg.n_test
        if n_train + n_test > len(y):
            n_test = max(1, round(len(y) * cfg.n_test / (cfg.n_train + cfg.n_test)))
            n_train = len(y) - n_test
            source += (
                f"; only {len(y)} rows for n_train={cfg.n_train} + n_test={cfg.n_test}: "
                f"used n_train={n_train} + n_test={n_test} (same ratio)"
            )
        n_val = math.ceil(cfg.val_fraction * n_train)
        key = "data.n_train"
    else:
        n_test = math.ceil(cfg.test_fraction * len(y))
        n_val = math.ceil(cfg.val_fraction * len(y))
        n_train = len(y) - n_test
        key = "data.n_samples" if cfg.n_samples is not None else "data.classes"
    if min(n_test, n_val, n_train - n_val) < len(classes):
        raise DataError(
            f"{key}: {len(y)} samples are too few to split into train/val/test "
            f"with every one of the {len(classes)} classes in each"
        )
    # Split row indices (the same draw as splitting X itself), then copy only those rows.
    idx_rest, idx_test, y_rest, y_test = train_test_split(
        idx, y, train_size=n_train, test_size=n_test, stratify=y, random_state=seed
    )
    idx_train, idx_val, y_train, y_val = train_test_split(
        idx_rest, y_rest, test_size=n_val, stratify=y_rest, random_state=seed
    )
    X_train, X_val, X_test = (
        np.asarray(X[i], dtype=np.float64) for i in (idx_train, idx_val, idx_test)
    )
    pre = build_preprocessor(cfg, n_features=X.shape[1], n_train=len(y_train))
    if pre is not None:
        X_train = pre.fit_transform(X_train)  # fitted on training rows only
        X_val, X_test = pre.transform(X_val), pre.transform(X_test)
    rows = {"train": idx_train, "val": idx_val, "test": idx_test}
    splits = (X_train, y_train, X_val, y_val, X_test, y_test)
    return Splits(*splits, len(classes), source, pre, rows, scaling=cfg.scaling)


def split_fixed(
    X: np.ndarray,
    y: np.ndarray,
    X_test: np.ndarray,
    y_test: np.ndarray,
    cfg: DataConfig,
    seed: int,
    source: str,
) -> Splits:
    """A fixed test set (a user's test file): validation is carved, stratified by seed, from
    the training rows (val_fraction of them, rounded up); PCA and scaling are fitted on the
    remaining training rows only. Labels must already be class indices 0..C-1 (C from the
    training rows)."""
    import numpy as np
    from sklearn.model_selection import train_test_split

    y = np.asarray(y)
    n_classes = int(y.max()) + 1
    n_val = math.ceil(cfg.val_fraction * len(y))
    if min(n_val, len(y) - n_val) < n_classes:
        raise DataError(
            f"data.path: {len(y)} training rows are too few to split into train/val with "
            f"every one of the {n_classes} classes in each"
        )
    idx_train, idx_val, y_train, y_val = train_test_split(
        np.arange(len(y)), y, test_size=n_val, stratify=y, random_state=seed
    )
    X_train, X_val = (np.asarray(X[i], dtype=np.float64) for i in (idx_train, idx_val))
    X_test = np.asarray(X_test, dtype=np.float64)
    pre = build_preprocessor(cfg, n_features=X.shape[1], n_train=len(y_train))
    if pre is not None:
        X_train = pre.fit_transform(X_train)  # fitted on training rows only
        X_val, X_test = pre.transform(X_val), pre.transform(X_test)
    rows = {"train": idx_train, "val": idx_val, "test": np.arange(len(y_test))}
    y_test = np.asarray(y_test)
    splits = (X_train, y_train, X_val, y_val, X_test, y_test)
    return Splits(*splits, n_classes, source, pre, rows, scaling=cfg.scaling)


def build_preprocessor(cfg: DataConfig, n_features: int, n_train: int) -> Pipeline | None:
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import MinMaxScaler, StandardScaler

    steps = []
    if cfg.pca_components is not None:
        # only here: a slow import (docs/performance.md, "Start-up")
        from sklearn.decomposition import PCA

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


def keep_classes(
    X: np.ndarray, y: np.ndarray, cfg: DataConfig
) -> tuple[np.ndarray, np.ndarray, str]:
    """Rows whose label is in data.classes (all rows when null), and a note for `source`."""
    import numpy as np

    if cfg.classes is None:
        return X, y, ""
    missing = sorted(set(cfg.classes) - set(np.unique(y).tolist()))
    if missing:
        raise DataError(f"data.classes: label(s) {missing} do not occur in dataset '{cfg.name}'")
    keep = np.isin(y, cfg.classes)
    return X[keep], y[keep], f"; classes {sorted(cfg.classes)}: {int(keep.sum())} images"
