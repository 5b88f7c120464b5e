"""The user's own NumPy .npz file: arrays `X` (rows, features) and `y` (rows,), optionally
`X_test` and `y_test` (a fixed test set; or a second .npz named by `test_path`, holding `X`
and `y`). Labels of any values (user_file.py: paths, split, label mapping, errors).

`data: {name: npz, path: data.npz}`. Files are read with allow_pickle=False: object arrays
are refused. Row and column indices in errors count from 0, as X[row, column] does.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from qmoe_cli import files
from qmoe_cli.data.user_file import Table, UserFile
from qmoe_cli.errors import DataError

MAX_UNPACKED_BYTES = 4 * 2**30  # the arrays of a table that fits this machine's memory

if TYPE_CHECKING:
    from qmoe_cli.data import DataConfig


class Npz(UserFile):
    name = "npz"

    @classmethod
    def _arrays(cls, path: Path, key: str) -> dict:
        import zipfile

        import numpy as np

        try:
            with np.load(path, allow_pickle=False) as f:
                if not hasattr(f, "files"):
                    raise DataError(f"{path}: a single .npy array, not an .npz of X and y")
                # a compressed member can unpack to any size: its declared size is bounded
                unpacked = sum(info.file_size for info in f.zip.infolist())
                if unpacked > MAX_UNPACKED_BYTES:
                    raise DataError(
                        f"{key}: {path} unpacks to {unpacked} bytes, more than "
                        f"{files.describe_size(MAX_UNPACKED_BYTES)} (the limit)"
                    )
                return {name: f[name] for name in f.files}
        except DataError:
            raise
        except (zipfile.BadZipFile, EOFError):
            raise DataError(f"{path}: not a valid .npz file (truncated or not a zip)") from None
        except ValueError as exc:  # object arrays (pickles) or a file numpy cannot read
            raise DataError(f"{path}: cannot read as .npz ({exc})") from None
        except OSError as exc:
            raise DataError(f"{key}: cannot read {path}: {exc.strerror or exc}") from None

    @classmethod
    def _table(cls, path: Path, arrays: dict, xname: str, yname: str, width: int | None) -> Table:
        import numpy as np

        for name in (xname, yname):
            if name not in arrays:
                held = ", ".join(sorted(arrays)) or "none"
                raise DataError(f"{path}: holds no array '{name}' (its arrays: {held})")
        X, y = arrays[xname], arrays[yname]
        if X.ndim != 2:
            raise DataError(f"{path}: {xname} must be 2-D (rows, features), got shape {X.shape}")
        if y.ndim != 1:
            raise DataError(f"{path}: {yname} must be 1-D (rows,), got shape {y.shape}")
        if len(X) == 0:
            raise DataError(f"{path}: {xname} holds no rows (the file is empty)")
        if X.shape[1] == 0:
            raise DataError(f"{path}: {xname} has no feature columns (shape {X.shape})")
        if len(y) != len(X):
            raise DataError(f"{path}: {xname} has {len(X)} rows but {yname} has {len(y)}")
        if width is not None and X.shape[1] != width:
            raise DataError(
                f"{path}: {xname} has {X.shape[1]} columns, but the training file has {width}"
            )
        if X.dtype.kind not in "biuf":
            flat = X.astype(str)
            for (r, c), text in np.ndenumerate(flat):
                try:
                    float(text)
                except ValueError:
                    raise DataError(
                        f"{path}: {xname}[{r}, {c}] (row {r}, column {c}) = {text!r} is not a "
                        "number"
                    ) from None
            X = flat.astype(np.float64)
        X = np.asarray(X, dtype=np.float64)
        bad = np.argwhere(~np.isfinite(X))
        if len(bad):
            r, c = (int(v) for v in bad[0])
            raise DataError(
                f"{path}: {xname}[{r}, {c}] (row {r}, column {c}) is {X[r, c]}, not a finite number"
            )
        if y.dtype.kind not in "biufUS":
            raise DataError(f"{path}: {yname} must hold numbers or strings, not {y.dtype}")
        if y.dtype.kind == "S":
            y = y.astype(str)
        return Table(path, X, y, lambda r: f"{yname}[{r}] (row {r})")

    @classmethod
    def read(cls, cfg: DataConfig, path: Path, key: str, train_width: int | None) -> Table:
        arrays = cls._arrays(path, key)
        if train_width is not None and "X" not in arrays and "X_test" in arrays:
            return cls._table(path, arrays, "X_test", "y_test", train_width)
        return cls._table(path, arrays, "X", "y", train_width)

    @classmethod
    def embedded_test(cls, cfg: DataConfig, path: Path, table: Table) -> Table | None:
        arrays = cls._arrays(path, "data.path")
        present = [k for k in ("X_test", "y_test") if k in arrays]
        if not present:
            return None
        if len(present) == 1:
            missing = "y_test" if present == ["X_test"] else "X_test"
            raise DataError(f"{path}: holds {present[0]} but not {missing}; give both or neither")
        return cls._table(path, arrays, "X_test", "y_test", table.X.shape[1])
