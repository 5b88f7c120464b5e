"""The commands that run configs: validate, one command per kind of the table (kinds.py),
sweep and run."""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import typer

from qmoe_cli.cli.app import app
from qmoe_cli.cli.common import (
    CONFIG_ARG,
    JOBS_OPT,
    OUT_OPT,
    RESUME_OPT,
    SEEDS_OPT,
    SET_OPT,
    _check_jobs,
    _group_setup,
    _load,
    _out_path,
    _with_seeds,
    _workers,
    _write_report,
    one_line_errors,
)
from qmoe_cli.errors import ConfigError
from qmoe_cli.imports import heavy_imports
from qmoe_cli.kinds import KINDS, Kind, Option, resolve


@app.command()
@one_line_errors
def validate(config: Path = CONFIG_ARG, set_: list[str] = SET_OPT, seeds: str = SEEDS_OPT):
    """Check a config of any kind and print it resolved, with every default filled in."""
    from qmoe_cli.config import dump_config, read_yaml
    from qmoe_cli.progress import out

    kind = read_yaml(config).get("kind")
    if kind == "sweep":  # with its base config, and base.* overrides
        from qmoe_cli.experiments.sweep import expand_points, read_sweep, sweep_yaml

        overrides = _with_seeds(set_, seeds)
        sweep, base_raw, base_sets = read_sweep(config, overrides)
        n_points = len(
            expand_points(sweep, base_raw, str(config))
        )  # each point validated, as sweep does
        text = sweep_yaml(sweep, base_sets) + f"# {n_points} points x seeds, each valid\n"
    elif kind == "plan":  # every run of it, with its overrides and these
        from qmoe_cli.experiments.plan import read_plan

        text = dump_config(_load(config, None, None, "plan")) + "".join(
            f"# {run.source}: {run.path} ({run.kind.name}) valid\n"
            for run in read_plan([config], _with_seeds(set_, seeds))
        )
    else:
        text = dump_config(_load(config, set_, seeds, None))
    out.print(text, markup=False, highlight=False, end="")
    out.print(f"# {config}: valid", markup=False, highlight=False)


def _run_command(kind: Kind) -> None:
    """`qmoe <command> CONFIG` for a kind of the table (kinds.py): the options every run
    command shares, then the kind's own flags, each one config key set (`--simulator X` is
    `--set simulator=X`); then the kind's runner, run(cfg, out_dir, *, jobs, resume)."""

    def command(config, set_, seeds, out, jobs, resume, **flags) -> None:
        own = [f"{o.key}={flags[_param(o)]}" for o in kind.options if flags[_param(o)] is not None]
        cfg, out_dir, resume_path = _group_setup(
            kind.name, config, [*(set_ or []), *own], seeds, out, resume, jobs
        )
        with heavy_imports():  # torch: after the config is valid
            runner = resolve(kind.runner)
        runner(cfg, out_dir, jobs=_workers(jobs, cfg.parallel_units()), resume=resume_path)

    shared = {
        "config": (Path, CONFIG_ARG),
        "set_": (list[str], SET_OPT),
        "seeds": (str, SEEDS_OPT),
        "out": (str, OUT_OPT),
        "jobs": (int, JOBS_OPT),
        "resume": (str, RESUME_OPT),
    }
    own = {
        _param(o): (str, typer.Option(None, o.flag, metavar=o.metavar, help=o.help))
        for o in kind.options
    }
    command.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [
            inspect.Parameter(
                name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=d, annotation=t
            )
            for name, (t, d) in {**shared, **own}.items()
        ]
    )
    command.__doc__ = kind.what
    command.__name__ = kind.command.replace("-", "_")
    app.command(kind.command)(one_line_errors(command))


def _param(option: Option) -> str:
    return option.key.replace(".", "_")


for _kind in KINDS.values():
    if _kind.config_command:
        _run_command(_kind)


@app.command()
@one_line_errors
def sweep(
    sweep_file: Path = typer.Argument(
        ..., help="YAML sweep file.", show_default=False, metavar="SWEEP_FILE"
    ),
    set_: list[str] = SET_OPT,
    executor: str = typer.Option(
        "local", "--executor", metavar="local|slurm", help="Where the points run."
    ),
    jobs: int = typer.Option(
        0, "--jobs", metavar="N", help="Local worker processes (default 0: one per core)."
    ),
    status: bool = typer.Option(False, "--status", help="Show done/running/failed/pending."),
    out: str = typer.Option(
        None, "--out", metavar="DIR", help="Sweeps directory (default: runs/sweeps)."
    ),
):
    """A grid of config overrides x seeds, locally or as SLURM job arrays; resumable."""
    from qmoe_cli.experiments.sweep import run_sweep, sweep_status  # torch: when it runs

    _check_jobs(jobs)
    if executor not in ("local", "slurm"):
        raise ConfigError(f"--executor: expected local or slurm, got {executor!r}")
    out_path = _out_path(out)
    out_dir = str(out_path) if out_path is not None else None
    if status:
        sweep_status(sweep_file, list(set_ or []), out_dir)
        return
    run_sweep(sweep_file, list(set_ or []), executor, _workers(jobs, 10**6), out_dir)


@app.command()
@one_line_errors
def tune(
    config: Path = CONFIG_ARG,
    set_: list[str] = SET_OPT,
    seeds: str = SEEDS_OPT,
    storage: str = typer.Option(
        None,
        "--storage",
        metavar="URL",
        help="The Optuna storage: sqlite:///FILE, another SQLAlchemy URL or journal:FILE "
        "(sets the config's `storage`; default: study.db in the tuning folder).",
    ),
    status: bool = typer.Option(
        False, "--status", help="Print the trials done per variant and the best so far."
    ),
    out: str = typer.Option(
        None, "--out", metavar="DIR", help="Tuning folders go here (default: runs/tune)."
    ),
    jobs: int = JOBS_OPT,
    resume: bool = typer.Option(
        False, "--resume", help="Continue the study; an error if there is none yet."
    ),
    executor: str = typer.Option(
        "local",
        "--executor",
        metavar="local|slurm",
        help="Where trials run: here, or in SLURM array tasks pulling them from the study "
        "(the final ablation runs here).",
    ),
    workers: int = typer.Option(
        None,
        "--workers",
        metavar="N",
        help="SLURM array tasks with --executor slurm (sets the config's `slurm.workers`).",
    ),
):
    """Tune every variant on validation with the same budget (Optuna), then test each one's
    best settings once, as an ablation run folder. Run again to continue the study; several
    processes on one storage share its trials."""
    # as a quoted YAML string: `journal:FILE` would read as a mapping
    if executor not in ("local", "slurm"):
        raise ConfigError(f"--executor: expected local or slurm, got {executor!r}")
    quoted = [f"storage={json.dumps(storage)}"] if storage is not None else []
    if workers is not None:
        quoted.append(f"slurm.workers={workers}")
    overrides = [*(set_ or []), *quoted]
    cfg, out_dir, _ = _group_setup("tune", config, overrides, seeds, out, None, jobs)
    with heavy_imports():  # torch, optuna: after the config is valid
        from qmoe_cli.experiments import tune as tuning
    if status:
        tuning.status(cfg, out_dir)
        return
    n_units = len(cfg.variant_names()) * len(cfg.seeds)
    tuning.run(cfg, out_dir, jobs=_workers(jobs, n_units), resume=resume, executor=executor)


@app.command("run")
@one_line_errors
def run_configs(
    configs: list[Path] = typer.Argument(
        ...,
        help="Run configs (train, ablate, noise-sweep, efficiency) or plan files (kind: plan).",
        show_default=False,
        metavar="CONFIG",
    ),
    set_: list[str] = SET_OPT,
    seeds: str = SEEDS_OPT,
    out: str = OUT_OPT,
    jobs: int = JOBS_OPT,
    report_dir: str = typer.Option(
        None,
        "--report",
        metavar="DIR",
        help="Then write `qmoe report` over the runs' folders into DIR.",
    ),
):
    """Run configs one after another in one process: one start-up, one worker pool.

    Every config is validated first. A run whose complete folder of the same config is in
    the output directory is skipped, an interrupted one is finished: run it again to go on."""
    _check_jobs(jobs)
    out_path = _out_path(out)
    report_path = _out_path(report_dir, "--report")
    from qmoe_cli.experiments.plan import read_plan, run_plan

    planned = read_plan(configs, _with_seeds(set_, seeds))
    with heavy_imports():  # what every run needs (torch, scikit-learn), before the first
        import qmoe_cli.runs.group  # noqa: F401
    try:
        folders = run_plan(planned, out_path, jobs)
    except KeyboardInterrupt as exc:
        exc.resume_option = False  # `qmoe run` takes no --resume: running it again goes on
        raise
    if report_path is not None:
        _write_report(folders, "hybrid-qmoe", report_path)
