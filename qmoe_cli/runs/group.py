"""Many trainings of a group into its run folder: finished ones read back from their cells,
the others planned into stacks, trained by the workers and written cell by cell as each
stack finishes."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import torch

from qmoe_cli.errors import RunFolderError
from qmoe_cli.progress import TrainingProgress, err
from qmoe_cli.runs.cells import is_cell, quarantine, read_cell, write_cell
from qmoe_cli.training.plan import Training, stacks
from qmoe_cli.training.pool import _train_in_worker
from qmoe_cli.training.seeds import SeedRun, run_seeds
from qmoe_cli.workers import map_calls, raise_if_interrupted


def train_all(
    trainings: list[Training],
    jobs: int,
    label: str,
    on_done: Callable[[Any, list[SeedRun]], None] | None = None,
) -> dict:
    """Every training of a group, under one progress display that moves per epoch. The
    seeds of one config go together (run_seeds: one stacked model where the stacked engine
    applies), in `stacks`: the unit a worker process takes. A training whose cell is already
    complete (a resumed group) is read back instead of trained; every other one is written
    to its cell the moment its stack finishes, so an interrupt or an error keeps it.
    on_done(key, runs) is called once per key, its runs in the order given, as soon as they
    are all in: while the workers train the rest, this process writes that key's folder
    and figures. Returns {(key, seed): SeedRun}."""
    results: dict = {}
    todo = []
    for t in trainings:
        if is_cell(t.cell):
            try:
                results[t.key, t.seed] = read_cell(t.cell, t.cfg, t.seed)
                continue
            except RunFolderError as exc:
                quarantine(t.cell, exc)
        todo.append(t)
    seeds_of: dict = {}
    for t in trainings:
        seeds_of.setdefault(repr(t.key), (t.key, []))[1].append(t.seed)

    def report_done(keys) -> None:
        for key, seeds in (seeds_of.pop(k) for k in keys if k in seeds_of):
            if on_done is not None:
                on_done(key, [results[key, s] for s in seeds])

    def complete(key) -> bool:
        return all((key, s) in results for s in seeds_of.get(repr(key), (key, []))[1])

    if results:
        err.print(
            f"resuming: {len(results)} of {len(trainings)} trainings already done, "
            f"{len(todo)} to run",
            markup=False,
            highlight=False,
        )
    if trainings:  # this process evaluates and draws: at the threads the config asks for
        torch.set_num_threads(trainings[0].cfg.train.threads)
    if not todo:
        report_done(list(seeds_of))
        return results
    groups = stacks(todo, jobs)
    with TrainingProgress(label, [t.cfg.train.epochs for t in todo]) as progress:

        def finished(g: int, runs: list[SeedRun]) -> None:
            for i, run in zip(groups[g], runs, strict=True):
                write_cell(todo[i].cell, run)
                results[todo[i].key, todo[i].seed] = run
                progress.done(i)
            report_done([repr(todo[i].key) for i in groups[g] if complete(todo[i].key)])
            raise_if_interrupted()  # one swallowed while the figures were drawn

        def on_epoch(g: int, j: int, row: dict) -> None:
            progress.epoch(groups[g][j], row)

        calls = [(todo[g[0]].cfg, [todo[i].seed for i in g]) for g in groups]
        if jobs <= 1:
            for g, (cfg, seeds) in enumerate(calls):
                finished(g, run_seeds(cfg, seeds, functools.partial(on_epoch, g)))
        else:
            map_calls(
                _train_in_worker, calls, jobs, finished, on_epoch=lambda g, item: on_epoch(g, *item)
            )
    report_done(list(seeds_of))  # keys read back whole from their cells
    return results
