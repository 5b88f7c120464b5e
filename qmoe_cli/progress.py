"""Progress bars and result tables (rich): progress on stderr, results on stdout."""

from __future__ import annotations

import math
import os
import sys

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

# Tables wider than 80 columns stay readable when stdout is a file or a pipe.
out = Console(width=None if sys.stdout.isatty() or os.environ.get("COLUMNS") else 160)
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
