"""Cells: one finished training on disk, a seed folder written whole or not at all, read back
when a group resumes, moved aside when it cannot be."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import torch
from pydantic import ValidationError

from qmoe_cli.config import ExperimentConfig
from qmoe_cli.data import load_dataset
from qmoe_cli.errors import RunFolderError
from qmoe_cli.models import build_model
from qmoe_cli.progress import err
from qmoe_cli.records import SeedRecord, as_json, write_record
from qmoe_cli.runs.folder import (
    CorruptFile,
    load_checkpoint,
    read_csv,
    read_json,
    write_csv,
    write_error,
)
from qmoe_cli.training.seeds import SeedRun
from qmoe_cli.training.sequential import DTYPES, FitResult

CELL_FILES = ("metrics.json", "history.csv", "model.pt")


def is_cell(folder: Path) -> bool:
    """Whether a seed folder is complete (write_cell renames it into place when whole)."""
    return all((folder / name).is_file() for name in CELL_FILES)


def write_seed(folder: Path, run: SeedRun) -> None:
    folder.mkdir(parents=True)
    write_record(folder / "metrics.json", SeedRecord.model_validate(run.metrics))
    write_csv(folder / "history.csv", run.fit.history)
    try:
        torch.save(run.model.state_dict(), folder / "model.pt")
    except (OSError, RuntimeError) as exc:  # torch reports a full disk as a RuntimeError
        raise RunFolderError(f"cannot write {folder / 'model.pt'}: {exc}") from None


def write_cell(folder: Path, run: SeedRun) -> None:
    """The training's seed folder, written under `.<name>.part` and renamed into place;
    run.metrics becomes what the file holds (NaN as None), so a group gives the same
    numbers whether its trainings ran now or are read back on resume."""
    part = folder.with_name(f".{folder.name}.part")
    shutil.rmtree(part, ignore_errors=True)  # a write killed part-way
    part.parent.mkdir(parents=True, exist_ok=True)
    try:
        write_seed(part, run)
        os.replace(part, folder)
    except BaseException as exc:  # a full disk, an interrupt: no half-written folder stays
        shutil.rmtree(part, ignore_errors=True)
        if isinstance(exc, OSError):
            raise write_error(folder, exc) from None
        raise
    run.metrics = read_seed_metrics(folder)


def quarantine(cell: Path, problem: RunFolderError) -> Path:
    """Move a seed folder that cannot be read back aside (`.<name>.corrupt`, kept for a
    look, never read as a cell) so that its training runs again; one line says so."""
    aside = cell.with_name(f".{cell.name}.corrupt")
    n = 1
    while aside.exists():
        n += 1
        aside = cell.with_name(f".{cell.name}.corrupt-{n}")
    try:
        cell.rename(aside)
    except OSError as exc:
        raise write_error(aside, exc) from None
    err.print(
        f"{getattr(problem, 'problem', problem)}: moved to {aside.name}, training it again",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    return aside


def read_seed_metrics(folder: Path) -> dict:
    try:
        return as_json(SeedRecord.model_validate(read_json(folder / "metrics.json")))
    except ValidationError as exc:
        raise CorruptFile(
            f"{folder / 'metrics.json'}: not a seed record ({exc.errors()[0]['msg']})",
            folder / "metrics.json",
        ) from None


def read_cell(folder: Path, cfg: ExperimentConfig, seed: int) -> SeedRun:
    """A finished training read back: its metrics and history, the model rebuilt from the
    config and loaded with its weights, the split drawn again from the seed."""
    metrics = read_seed_metrics(folder)
    try:
        history = [
            {k: int(v) if k == "epoch" else float(v) for k, v in row.items()}
            for row in read_csv(folder / "history.csv")
        ]
    except (TypeError, ValueError) as exc:  # a cell cut short, or edited by hand
        raise CorruptFile(
            f"{folder / 'history.csv'}: not a history ({exc})", folder / "history.csv"
        ) from None
    fit_result = FitResult(
        history=history,
        best_epoch=metrics["best_epoch"],
        epochs_run=metrics["epochs_run"],
        stopped_early=metrics["stopped_early"],
        seconds=metrics["fit_seconds"],
    )
    splits = load_dataset(cfg.data, seed)
    model = build_model(cfg.model, splits.n_features, splits.n_classes).to(DTYPES[cfg.train.dtype])
    state = load_checkpoint(folder / "model.pt")
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:  # other keys or shapes than the config's model
        first = str(exc).splitlines()[0]
        raise CorruptFile(
            f"cannot load {folder / 'model.pt'}: {first}", folder / "model.pt"
        ) from None
    return SeedRun(seed, metrics, fit_result, model, splits)
