"""`qmoe run`: run configs one after another in one process.

Each file given is a run config (train, ablate, noise-sweep, efficiency) or a plan file
(`kind: plan`, a list of run configs, each with its own `set` overrides). Every config is
read and validated before the first one runs, so a typo fails in a second, not an hour in.
The runs then go in order through their kind's runner (qmoe_cli/kinds.py) as their own
command would run them, each into its own run folder; what they share is this process's
start-up (the imports, seconds per command) and its worker pool (workers.map_calls keeps
it warm between runs). A run whose complete folder of the very same config is already in
the output directory is skipped (named), and an interrupted one is taken up as its own
command would (runs.find_resumable): running a plan again finishes it without redoing
what is done.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel

from qmoe_cli.config import PlanConfig, dump_config, read_yaml, validate_config
from qmoe_cli.errors import ConfigError
from qmoe_cli.kinds import RUN_KINDS, Kind, kind_of, load, resolve
from qmoe_cli.progress import out
from qmoe_cli.runs import find_complete


@dataclass(frozen=True)
class PlannedRun:
    source: str  # where it was asked for: the config path, or "<plan>: runs[i]"
    path: Path
    kind: Kind
    cfg: BaseModel


def read_plan(files: list[Path], overrides: list[str] | None = None) -> list[PlannedRun]:
    """The runs the files ask for, in order, every config validated; `overrides` (--set,
    --seeds) apply to each after its plan entry's own."""
    overrides = list(overrides or [])
    planned = []
    for file in files:
        if not file.is_file():
            raise ConfigError(f"config not found: {file}")
        raw = read_yaml(file)
        if kind_of(raw, str(file)).name == "plan":
            plan = validate_config(raw, str(file), PlanConfig)
            for i, entry in enumerate(plan.runs):
                where = f"{file}: runs[{i}]"
                path = _locate(entry.config, file)
                if path is None:
                    raise ConfigError(f"{where}: config not found: {entry.config}")
                planned.append(_planned(where, path, [*entry.set, *overrides]))
        else:
            planned.append(_planned(str(file), file, overrides))
    return planned


def _locate(config: str, plan_file: Path) -> Path | None:
    """A plan's config path: as given (from the working directory), else beside the plan."""
    for path in (Path(config), plan_file.parent / config):
        if path.is_file():
            return path
    return None


def _planned(where: str, path: Path, overrides: list[str]) -> PlannedRun:
    """One run, validated; an error names the plan entry it came from too."""
    try:
        kind = kind_of(read_yaml(path), str(path))  # before the overrides: they may not fit
        if kind.name not in RUN_KINDS:
            raise ConfigError(
                f"{path}: kind {kind.name!r} is not run by `qmoe run` (it runs "
                f"{', '.join(RUN_KINDS)} configs, and plans of them)"
            )
        cfg = load(path, overrides, kind.name)
    except ConfigError as exc:
        if where == str(path):
            raise
        raise ConfigError(f"{where}: {exc}") from None
    return PlannedRun(where, path, kind, cfg)


def run_plan(planned: list[PlannedRun], out_dir: Path | None, jobs: int) -> list[Path]:
    """Run each planned config by its kind's runner; its run folder per run, in order.
    `jobs`: worker processes for every run (0: one per core), one pool for them all."""
    workers = jobs or os.cpu_count() or 1
    folders = []
    for i, run in enumerate(planned, 1):
        where = Path(out_dir if out_dir is not None else run.cfg.output_dir)
        head = f"[{i}/{len(planned)}] {run.source}"
        done = find_complete(where, run.cfg.name, dump_config(run.cfg))
        if done is not None:
            out.print(f"{head}: done already, {done}", markup=False, highlight=False)
            folders.append(done)
            continue
        out.print(f"{head}: qmoe {run.kind.command}", markup=False, highlight=False)
        runner = resolve(run.kind.runner)
        jobs_here = max(1, min(workers, run.cfg.parallel_units()))
        folders.append(Path(runner(run.cfg, where, jobs=jobs_here)))
    return folders
