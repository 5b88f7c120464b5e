"""The user's own CSV file(s): one row per sample, numeric feature columns and one label
column of any values (user_file.py: paths, split, label mapping, errors).

`data: {name: csv, path: train.csv, test_path: test.csv, label_column: -1, header: auto}`.
Cells are separated by commas (tabs for .tsv/.tab files); blank lines are skipped; a
leading UTF-8 byte-order mark is ignored. Line and column numbers in errors count from 1,
as an editor or a spreadsheet shows them.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import Field, StrictBool, StrictInt

from qmoe_cli.data.user_file import Table, UserFile
from qmoe_cli.errors import DataError

if TYPE_CHECKING:
    from qmoe_cli.data import DataConfig

MAX_BYTES = 2 * 2**30  # 2 GiB: a larger CSV is a mistake or wants a binary format (npz)


class Csv(UserFile):
    name = "csv"

    label_column: StrictInt | str = Field(
        -1,
        description="the label column: an index (0-based; negative from the end, -1 the last) "
        "or a header name",
    )
    header: Literal["auto"] | StrictBool = Field(
        "auto",
        description="whether the first row names the columns: true, false or auto (a first "
        "row with a non-numeric feature cell is a header)",
    )

    @classmethod
    def check(cls, cfg: DataConfig) -> None:
        super().check(cfg)
        if cfg.header is False and isinstance(cfg.label_column, str):
            raise ValueError(
                f"label_column: the name {cfg.label_column!r} needs a header row "
                "(header: true or auto), or give the column's index"
            )

    @classmethod
    def read(cls, cfg: DataConfig, path: Path, key: str, train_width: int | None) -> Table:
        import csv

        import numpy as np

        if path.stat().st_size > MAX_BYTES:
            raise DataError(f"{key}: {path} is larger than 2 GiB; use an .npz file")
        delimiter = "\t" if path.suffix.lower() in (".tsv", ".tab") else ","
        records = []  # (line number, cells) of the non-blank rows
        reader = None
        try:
            with open(path, encoding="utf-8-sig", newline="") as f:
                reader = csv.reader(f, delimiter=delimiter, strict=True)
                for row in reader:
                    if row and any(cell.strip() for cell in row):
                        records.append((reader.line_num, row))
        except UnicodeDecodeError:
            raise DataError(f"{path}: not UTF-8 text (is it a CSV file?)") from None
        except csv.Error as exc:
            line = reader.line_num if reader is not None else 0
            raise DataError(f"{path}, line {line}: not valid CSV ({exc})") from None
        except OSError as exc:
            raise DataError(f"{key}: cannot read {path}: {exc.strerror or exc}") from None
        if not records:
            raise DataError(f"{path}: the file is empty (no rows)")
        first_line, first = records[0]
        width = len(first)
        if train_width is not None and width != train_width + 1:
            raise DataError(
                f"{path}, line {first_line}: {width} columns, but the training file has "
                f"{train_width + 1}"
            )
        if width < 2:
            raise DataError(
                f"{path}, line {first_line}: 1 column; a CSV dataset needs at least one "
                "feature column and a label column (cells separated by "
                f"{'tabs' if delimiter == chr(9) else 'commas'})"
            )
        label = -1 if cfg.label_column is None else cfg.label_column
        has_header = cfg.header
        if has_header is None or has_header == "auto":
            has_header = isinstance(label, str) or any(
                not _is_number(cell) for j, cell in enumerate(first) if j != _index(label, width)
            )
        names = [cell.strip() for cell in first] if has_header else None
        if isinstance(label, str):
            if label not in names:
                raise DataError(
                    f"data.label_column: no column named {label!r} in the header of {path} "
                    f"(columns: {', '.join(names)})"
                )
            col = names.index(label)
        else:
            if not -width <= label < width:
                raise DataError(
                    f"data.label_column: {label} is out of range for the {width} columns of "
                    f"{path} (use 0..{width - 1}, or -1 for the last)"
                )
            col = label % width
        rows = records[1:] if has_header else records
        if not rows:
            raise DataError(f"{path}: the file holds a header but no data rows")
        for line, row in rows:
            if len(row) != width:
                raise DataError(
                    f"{path}, line {line}: {len(row)} columns, but line {first_line} has {width}"
                )
        features = [j for j in range(width) if j != col]

        def column(j: int) -> str:
            name = f' ("{names[j]}")' if names else ""
            return f"column {j + 1}{name}"

        cells = [[row[j] for j in features] for _, row in rows]
        try:
            X = np.array(cells, dtype=np.float64)
        except ValueError:
            X = None
        if X is None:  # find the first cell that is not a number, to name it
            for line, row in rows:
                for j in features:
                    if not _is_number(row[j]):
                        what = "an empty cell" if not row[j].strip() else repr(row[j])
                        raise DataError(f"{path}, line {line}, {column(j)}: {what} is not a number")
            raise DataError(f"{path}: the feature cells are not all numbers")  # unreachable
        bad = np.argwhere(~np.isfinite(X))
        if len(bad):
            r, k = (int(v) for v in bad[0])
            line, row = rows[r]
            raise DataError(
                f"{path}, line {line}, {column(features[k])}: {row[features[k]].strip()!r} is "
                "not a finite number"
            )
        y = np.array([row[col].strip() for _, row in rows], dtype=str)
        empty = np.flatnonzero(np.char.str_len(y) == 0)
        if len(empty):
            raise DataError(f"{path}, line {rows[int(empty[0])][0]}, {column(col)}: empty label")
        lines = [line for line, _ in rows]
        return Table(path, X, y, lambda r: f"line {lines[r]}, {column(col)}")


def _index(label: int | str, width: int) -> int | None:
    if isinstance(label, str) or not -width <= label < width:
        return None
    return label % width


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
