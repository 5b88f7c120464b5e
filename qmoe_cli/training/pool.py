"""Trainings and other calls run in worker processes (qmoe_cli/workers.py), under one progress
display."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from qmoe_cli.config import ExperimentConfig
from qmoe_cli.progress import progress_bar
from qmoe_cli.training.seeds import SeedRun, run_seeds
from qmoe_cli.workers import map_calls, report_epoch


def run_parallel(fn: Callable, calls: Sequence[tuple], jobs: int, label: str) -> list[Any]:
    """fn(*args) for every args of `calls`, `jobs` at a time in worker processes (in this
    process when jobs <= 1), under one progress bar; the results in the order of `calls`.
    `fn` and its arguments must pickle (a module-level function). An exception in a call or
    an interrupt stops the workers (workers.map_calls) and is raised here."""
    results: list[Any] = [None] * len(calls)
    with progress_bar() as bar:
        overall = bar.add_task(label, total=len(calls))

        def finished(i: int, result: Any) -> None:
            results[i] = result
            bar.advance(overall)

        if jobs <= 1:
            for i, args in enumerate(calls):
                finished(i, fn(*args))
        else:
            map_calls(fn, calls, jobs, finished)
    return results


def _train_in_worker(cfg: ExperimentConfig, seeds: list[int]) -> list[SeedRun]:
    return run_seeds(cfg, seeds, on_epoch=lambda j, row: report_epoch((j, row)))
