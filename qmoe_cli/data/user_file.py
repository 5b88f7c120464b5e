"""What the user-file datasets (csv_file.py, npz_file.py) share: the `path` and `test_path`
keys, the label mapping and the checks that run before any split.

- Paths: a relative path written in a config file is resolved against that file's folder
  when the config is read (config.read_yaml through `path_keys`), a relative `--set` value
  against the working directory; the resolved config (a run folder's config.yaml) holds the
  absolute path.
- Split: without `test_path` the rows are split like every dataset (stratified by seed,
  test_fraction and val_fraction, or n_train/n_test). With a test file the test rows are
  that file's, fixed; validation is carved from the training file by seed (val_fraction of
  its rows, stratified). PCA and scaling are fitted on the training rows only, as always.
- Labels of any values (-1/1, 0.0/1.0, strings) are mapped to class indices 0..C-1 in
  sorted order: numerically when every label is a number, else as text. The original label
  of each index is written into every run's metrics.json (`data.labels`).
- Errors are one line (DataError) naming the file and, where there is one, the row and
  column: a missing or unreadable file, an empty file, a non-numeric or non-finite cell, a
  single class, test labels the training file lacks, different column counts.

Nothing here imports numpy at module level (the config package imports this package).
"""

from __future__ import annotations

import hashlib
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import Field

from qmoe_cli import files
from qmoe_cli.data.base import Dataset
from qmoe_cli.errors import DataError

if TYPE_CHECKING:
    import numpy as np

    from qmoe_cli.data import DataConfig
    from qmoe_cli.data.common import Splits


class UserFile(Dataset):
    """A dataset read from the user's own file(s)."""

    path_keys = ("path", "test_path")

    path: str | None = Field(
        None,
        description="the data file (required; relative paths: to the config file's folder)",
    )
    test_path: str | None = Field(
        None,
        description="a fixed test file in the same format (default: none, the rows of `path` "
        "are split by seed)",
    )

    @classmethod
    def check(cls, cfg: DataConfig) -> None:
        if not cfg.path:
            raise ValueError(f"path: required for dataset '{cfg.name}' (the data file)")
        if cfg.test_path is not None and (cfg.n_train is not None or cfg.n_test is not None):
            raise ValueError(
                "n_train: with test_path the test rows are that file's; leave n_train and "
                "n_test unset (validation takes val_fraction of the training file)"
            )

    # --- what each format provides ---------------------------------------------------------

    @classmethod
    def read(cls, cfg: DataConfig, path: Path, key: str, train_width: int | None) -> Table:
        """The rows of one file; `train_width`: the training file's feature count, when
        reading a test file (a different count is an error naming the file)."""
        raise NotImplementedError(f"{cls.__name__}.read")

    @classmethod
    def embedded_test(cls, cfg: DataConfig, path: Path, table: Table) -> Table | None:
        """A test set stored in the training file itself (npz: X_test, y_test), or None."""
        return None

    # --- shared ----------------------------------------------------------------------------

    @classmethod
    def splits(cls, cfg: DataConfig, seed: int) -> Splits:
        from qmoe_cli.data.common import split_and_preprocess, split_fixed

        path = existing_file(cfg.path, "data.path")
        train = cls.read(cfg, path, "data.path", None)
        test = cls.embedded_test(cfg, path, train)
        if test is not None and cfg.test_path is not None:
            raise DataError(
                f"data.test_path: {path} holds a test set of its own (X_test, y_test); "
                "remove test_path or those arrays"
            )
        if test is None and cfg.test_path is not None:
            test_file = existing_file(cfg.test_path, "data.test_path")
            test = cls.read(cfg, test_file, "data.test_path", train.X.shape[1])
        elif test is not None and cfg.n_train is not None:
            raise DataError(
                f"data.n_train: {path} holds a test set of its own (X_test, y_test); leave "
                "n_train and n_test unset"
            )
        names, y = map_labels(train)
        source = f"{cls.name} file {path} ({len(y)} rows, {train.X.shape[1]} features, "
        source += f"{len(names)} classes, sha256 {file_digest(path)}"
        if test is None:
            splits = split_and_preprocess(train.X, y, cfg, seed, source + ")")
        else:
            y_test = map_test_labels(test, names, train)
            if test.path != path:
                source += f"; test file {test.path} ({len(y_test)} rows, "
                source += f"sha256 {file_digest(test.path)})"
            else:
                source += f"; its X_test, y_test ({len(y_test)} rows)"
            splits = split_fixed(train.X, y, test.X, y_test, cfg, seed, source + ")")
        splits.labels = names
        return splits


class Table:
    """The rows of one file: features (float64, finite), labels (as read) and where each
    label came from, for error messages."""

    def __init__(self, path: Path, X: np.ndarray, y: np.ndarray, where) -> None:
        self.path = path
        self.X = X
        self.y = y
        self.where = where  # row index -> "line 7, column 5" (the label's cell)
        self.numeric: bool | None = None  # labels read as numbers (set by map_labels)


def existing_file(value: str, key: str) -> Path:
    path = Path(os.path.abspath(os.path.expanduser(value)))
    if not path.exists():
        raise DataError(f"{key}: file not found: {path}")
    reason = files.not_regular(path.stat().st_mode)
    if reason:  # a device or a pipe never ends, and a folder is no table
        raise DataError(f"{key}: {path} is {reason}")
    if not os.access(path, os.R_OK):
        raise DataError(f"{key}: file not readable (permission denied): {path}")
    return path


def file_digest(path: Path) -> str:
    """The first 12 hex digits of the file's SHA-256 (which bytes were trained on)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:12]


def _label_key(values: np.ndarray) -> tuple[np.ndarray, bool]:
    """Labels as numbers when every one is a number (then sorted numerically), else as
    text; (keys, numeric)."""
    import numpy as np

    if values.dtype.kind in "biuf":
        return values.astype(np.float64), True
    text = values.astype(str)
    try:
        return np.array([float(v) for v in text], dtype=np.float64), True
    except ValueError:
        return np.char.strip(text), False


def _label_text(key, numeric: bool) -> str:
    if not numeric:
        return str(key)
    return str(int(key)) if float(key).is_integer() else repr(float(key))


def map_labels(table: Table) -> tuple[list[str], np.ndarray]:
    """Training labels -> (the original label of each class index, class indices)."""
    import numpy as np

    keys, numeric = _label_key(table.y)
    if numeric:
        bad = np.flatnonzero(~np.isfinite(keys))
        if len(bad):
            i = int(bad[0])
            raise DataError(f"{table.path}, {table.where(i)}: label {table.y[i]!r} is not finite")
    classes, y = np.unique(keys, return_inverse=True)
    names = [_label_text(k, numeric) for k in classes]
    if len(classes) < 2:
        raise DataError(
            f"{table.path}: every row has label {names[0]!r}; a classifier needs at least "
            "two classes"
        )
    table.numeric = numeric
    return names, y.astype(np.int64)


def map_test_labels(test: Table, names: list[str], train: Table) -> np.ndarray:
    """Test labels -> the training file's class indices; a label the training rows lack is
    an error naming its row."""
    import numpy as np

    keys, numeric = _label_key(test.y)
    if numeric != train.numeric:  # e.g. '1'/'2' in training, 'a' in the test file
        keys = np.char.strip(test.y.astype(str)) if not numeric else keys
        numeric = False
    lookup = {}
    for i, name in enumerate(names):
        lookup[float(name) if train.numeric else name] = i
    y = np.empty(len(keys), dtype=np.int64)
    for r, key in enumerate(keys.tolist()):
        k = float(key) if (train.numeric and numeric) else str(key)
        if isinstance(k, float) and not math.isfinite(k):
            raise DataError(f"{test.path}, {test.where(r)}: label {test.y[r]!r} is not finite")
        index = lookup.get(k)
        if index is None:
            raise DataError(
                f"{test.path}, {test.where(r)}: label {_label_text(key, numeric)!r} does not "
                f"occur in the training file {train.path} (its labels: {', '.join(names)})"
            )
        y[r] = index
    return y
