"""Progress bars and result tables (rich): progress on stderr, results on stdout."""

from __future__ import annotations

import math
import os
import sys
import threading

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

# Tables are laid out for 120 columns; a file or a pipe gets them at that width.
TABLE_WIDTH = 120
# Prose is not cut into lines (soft wrap): a terminal wraps it, a file keeps it whole.
# With stdout closed (`>&-`) sys.stdout is None: rich then writes nowhere, and so do we.
_terminal = sys.stdout is not None and sys.stdout.isatty()
out = Console(
    width=None if _terminal or os.environ.get("COLUMNS") else TABLE_WIDTH,
    soft_wrap=True,
)
err = Console(stderr=True)


def progress_bar() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    )


def accuracy_cells(mean: float, std: float, ci_low, ci_high) -> tuple[str, str]:
    """'mean ± std' and '[low, high]' table cells; std and CI read 'n/a' for one seed."""
    std_text = "" if std is None or math.isnan(std) else f" ± {std:.3f}"
    ci = "n/a" if ci_low is None or math.isnan(ci_low) else f"[{ci_low:.3f}, {ci_high:.3f}]"
    return f"{mean:.3f}{std_text}", ci


class TrainingProgress:
    """One bar for many trainings that moves per epoch, whichever process runs them: the
    epochs done of all epochs asked for, trainings finished, the latest training loss and
    validation accuracy, elapsed time and ETA. A training that stops early counts its
    remaining epochs as done. Safe to call from the thread that reads workers' events."""

    def __init__(self, label: str, epochs: list[int]):
        self.epochs, self.seen = list(epochs), [0] * len(epochs)
        self.part = [0.0] * len(epochs)  # of the epoch under way, from batch rows
        self.finished = 0
        self._lock = threading.Lock()
        self.bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(bar_width=24),
            TextColumn("{task.fields[trainings]}"),
            TextColumn("{task.fields[latest]}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=err,
            transient=True,
        )
        self.task = self.bar.add_task(
            label, total=max(sum(epochs), 1), trainings=self._count(), latest=""
        )

    def _count(self) -> str:
        return f"{self.finished}/{len(self.epochs)} trainings"

    def __enter__(self) -> TrainingProgress:
        self.bar.start()
        return self

    def __exit__(self, *exc) -> None:
        self.bar.stop()

    def epoch(self, index: int, row: dict) -> None:
        """An epoch's history row; or, within a slow training, a `phase` row (what it does
        now) or a `batch` row (how far the current epoch is)."""
        with self._lock:
            if "phase" in row:
                self.bar.update(self.task, latest=row["phase"])
                return
            if "batch" in row:
                part = row["batch"] / max(row["batches"], 1)
                advance, self.part[index] = part - self.part[index], part
                latest = f"epoch {row['epoch']}: batch {row['batch']}/{row['batches']}"
                self.bar.update(self.task, advance=advance, latest=latest)
                return
            advance, self.part[index] = 1 - self.part[index], 0.0
            self.seen[index] += 1
            latest = f"loss {row['train_loss']:.3f} val acc {row['val_acc']:.3f}"
            self.bar.update(self.task, advance=advance, latest=latest)

    def done(self, index: int) -> None:
        with self._lock:
            rest = max(self.epochs[index] - self.seen[index] - self.part[index], 0)
            self.part[index] = 0.0
            self.seen[index] = self.epochs[index]
            self.finished += 1
            self.bar.update(self.task, advance=rest, trainings=self._count())
