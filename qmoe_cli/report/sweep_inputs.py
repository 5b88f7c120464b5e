"""Sweep folders written by `qmoe sweep` (not run folders: sweep.yaml and summary.csv at the
top, each point a complete run folder under points/), read into a `Run` of kind "sweep"
carrying a `SweepFolder`."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import yaml
from pydantic import ValidationError

from qmoe_cli import records
from qmoe_cli.config import (
    SweepConfig,
    load_yaml_text,
    validate_config,
)
from qmoe_cli.errors import ConfigError, RunFolderError
from qmoe_cli.report.stats import Stat
from qmoe_cli.runs import is_complete_run, read_json, read_text

if TYPE_CHECKING:  # inputs.py reads sweep folders through this module
    from qmoe_cli.report.inputs import Run

SWEEP = "sweep"  # the kind of a sweep folder (it is not a run folder, so not in KINDS)
SWEEP_FILES = ("sweep.yaml", "summary.csv")
T = TypeVar("T", bound=records.Tolerant)


@dataclass(frozen=True)
class SweepRow:
    """A row of a sweep folder's summary.csv (one per point) or sweep.csv (one per point
    and seed): the columns naming its point as written, and the statistics read as numbers
    (NaN / None where the file has none)."""

    cells: dict[str, str]
    n_seeds: int | None
    acc: Stat  # test accuracy over the point's seeds (summary.csv)
    router_params: str | None  # sweep.csv: the run's router parameters, as written

    STATS = ("n_seeds", "test_acc_mean", "test_acc_std", "test_acc_ci_low", "test_acc_ci_high")

    @classmethod
    def parse(cls, cells: dict[str, str]) -> SweepRow:
        n = cells.get("n_seeds")
        return cls(
            cells,
            int(n) if n is not None and n.isdigit() else None,
            Stat.of_values(
                cells.get("test_acc_mean"),
                cells.get("test_acc_std"),
                cells.get("test_acc_ci_low"),
                cells.get("test_acc_ci_high"),
                int(n) if n is not None and n.isdigit() else None,
            ),
            cells.get("router_params") or None,
        )

    def point(self, keys: list[str]) -> tuple[str, ...]:
        """The values of the columns naming the point, as written."""
        return tuple(str(self.cells.get(k, "")) for k in keys)


@dataclass
class SweepPoint:
    """One finished point of a sweep: its run folder (points/<id>/) and point.json."""

    id: str
    swept: dict
    seed: int | None
    run: Run


@dataclass
class SweepFolder:
    """What a sweep folder holds: the sweep file, its points' states and summary.csv."""

    name: str
    command: str
    base: str
    grid: dict[str, list]
    zip: dict[str, list]
    seeds: list[int]
    expected: int | None  # points x seeds the sweep file asks for (None: cannot tell)
    points: list[SweepPoint]  # done: complete folders under points/
    failed: dict[str, str]  # point id -> the error in status/<id>.json
    unfinished: list[str]  # point ids with a points/.<id>.work folder (running or killed)
    unreadable: dict[str, str]  # point id -> why its complete folder could not be read
    keys: list[str]  # summary.csv's columns naming a point (swept keys, variant, level)
    summary: list[SweepRow]  # summary.csv
    rows: list[SweepRow]  # sweep.csv (one per point and seed)

    @property
    def pending(self) -> int | None:
        if self.expected is None:
            return None
        return max(0, self.expected - len(self.points) - len(self.failed) - len(self.unfinished))

    @property
    def datasets(self) -> list[str]:
        return _distinct(p.run.dataset for p in self.points)


def is_sweep_folder(path: Path) -> bool:
    return path.is_dir() and all((path / name).is_file() for name in SWEEP_FILES)


def _distinct(values: Iterable[str | None]) -> list[str]:
    """The distinct non-empty values in first-seen order."""
    seen: list[str] = []
    for v in values:
        if v is not None and v != "" and v not in seen:
            seen.append(v)
    return seen


def _read_csv(path: Path) -> tuple[list[str], list[SweepRow]]:
    try:
        reader = csv.DictReader(io.StringIO(read_text(path, newline=""), newline=""))
        rows = [SweepRow.parse(row) for row in reader]
        return list(reader.fieldnames or []), rows
    except RunFolderError as exc:
        raise ConfigError(str(exc)) from None
    except csv.Error as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None


def _read_model(model: type[T], path: Path) -> T | None:
    """A small JSON file of a sweep folder, or None when it is missing or unreadable."""
    try:
        return model.model_validate(read_json(path)) if path.is_file() else None
    except (RunFolderError, ValidationError):
        return None


def load_sweep(path: Path, label: str) -> Run:
    """A sweep folder: sweep.yaml, summary.csv, sweep.csv, status/*.json and points/*/."""
    from qmoe_cli.report.inputs import Run, load_run  # a point is a run folder of its own

    sweep_file = path / "sweep.yaml"
    try:
        config_text = read_text(sweep_file)
    except RunFolderError as exc:
        raise ConfigError(str(exc)) from None
    try:
        raw = load_yaml_text(config_text)
    except (yaml.YAMLError, ValueError):
        raw = None
    if not isinstance(raw, dict):
        raise ConfigError(f"{sweep_file}: not a sweep file (expected a YAML mapping)")
    problems = []
    try:
        config: SweepConfig | None = validate_config(raw, "sweep.yaml", SweepConfig)
    except ConfigError as exc:
        config, problems = None, [str(exc)]
    grid = config.grid if config is not None else {}
    zipped = config.zip if config is not None else {}
    seeds = list(config.seeds) if config is not None else []
    expected = math.prod(len(v) for v in grid.values()) * len(seeds) if config is not None else None
    if zipped and expected is not None:
        expected *= len(next(iter(zipped.values())))

    points, unreadable = [], {}
    points_dir = path / "points"
    folders = sorted(points_dir.iterdir()) if points_dir.is_dir() else []
    for folder in folders:
        if not is_complete_run(folder):
            continue
        try:
            run = load_run(folder, f"{label}/{folder.name}")
        except ConfigError as exc:
            unreadable[folder.name] = str(exc)
            continue
        point = _read_model(records.SweepPointRecord, folder / "point.json")
        point = point or records.SweepPointRecord()
        points.append(SweepPoint(folder.name, point.swept, point.seed, run))
    done = {p.id for p in points} | set(unreadable)
    unfinished = [
        f.name[1 : -len(".work")]
        for f in folders
        if f.name.startswith(".") and f.name.endswith(".work") and f.is_dir()
    ]
    failed = {}
    status_dir = path / "status"
    for status in sorted(status_dir.glob("*.json")) if status_dir.is_dir() else []:
        pid = status.stem
        state = _read_model(records.SweepStatusRecord, status)
        if state is not None and state.state == "failed":
            if pid not in done and pid not in unfinished:
                failed[pid] = (state.error or "no error recorded").splitlines()[0]

    fields, summary = _read_csv(path / "summary.csv")
    keys = [f for f in fields if f not in SweepRow.STATS]
    rows = _read_csv(path / "sweep.csv")[1] if (path / "sweep.csv").is_file() else []
    sweep = SweepFolder(
        name=path.name,  # `qmoe sweep` names the folder after the sweep
        # sweep files written before the kinds registry run train points
        command=str(config.command or "train") if config is not None else "?",
        base=config.base if config is not None else "?",
        grid=grid,
        zip=zipped,
        seeds=seeds,
        expected=expected,
        points=points,
        failed=failed,
        unfinished=unfinished,
        unreadable=unreadable,
        keys=keys,
        summary=summary,
        rows=rows,
    )
    return Run(path, label, SWEEP, None, None, config, config_text, sweep, problems=problems)
