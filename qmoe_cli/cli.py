"""The `qmoe` command line: each command is a thin call into `experiments/`."""

from __future__ import annotations

import functools
import gc
import inspect
import shlex
import signal
import sys
from pathlib import Path

import typer

from qmoe_cli.errors import ConfigError, QmoeError
from qmoe_cli.imports import heavy_imports
from qmoe_cli.kinds import KINDS, Kind, Option, resolve

# typer prints an argument's Python type beside its metavar (`CONFIG <list[Path]>`,
# `DATASET <str>`): the metavar and the help say what to give, in the user's words.
typer.core.TyperArgument.display_type = lambda self, ctx: ""  # type: ignore[method-assign]

app = typer.Typer(
    name="qmoe",
    help="A lab for hybrid quantum-classical Mixture-of-Experts research.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain help: real placeholders, flags without a <bool> type
)


def _print_version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        print(f"qmoe {version('qmoe-cli')}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(
        False,
        "--version",
        callback=_print_version,
        is_eager=True,
        help="Print qmoe's version and exit.",
    ),
):
    """A lab for hybrid quantum-classical Mixture-of-Experts research."""


CONFIG_ARG = typer.Argument(
    ..., help="YAML experiment config.", show_default=False, metavar="CONFIG"
)
SET_OPT = typer.Option(
    None,
    "--set",
    metavar="KEY=VALUE",
    help="Override a config key (dotted path; the value is parsed as YAML). Repeatable.",
)
OUT_OPT = typer.Option(
    None, "--out", metavar="DIR", help="Output directory (default: the config's output_dir)."
)
SEEDS_OPT = typer.Option(
    None, "--seeds", metavar="S,S,...", help="Comma-separated seeds, e.g. 0,1,2."
)
JOBS_HELP = "Worker processes (default 0: one per core)."
RESUME_OPT = typer.Option(
    None,
    "--resume",
    metavar="RUN_DIR",
    help="Finish this interrupted or failed run folder (<name>.failed or .<name>.tmp) of "
    "the same config: only the missing trainings run. Without it, the newest such folder "
    "of the same config in the output directory is taken up.",
)


def one_line_errors(fn):
    """Turn qmoe's errors into one line on stderr and their exit code, never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from qmoe_cli.progress import err
        from qmoe_cli.workers import install_signal_handlers, interrupt_seen

        install_signal_handlers()
        try:
            return fn(*args, **kwargs)
        except QmoeError as exc:
            line = f"error: {exc}" if exc.exit_code else str(exc)  # exit 0: nothing to do
            err.print(line, markup=False, highlight=False, soft_wrap=True)
            raise typer.Exit(exc.exit_code) from None
        except OSError as exc:  # the last line of defence: a file a write site did not name
            err.print(f"error: {os_error_line(exc)}", markup=False, highlight=False, soft_wrap=True)
            raise typer.Exit(1) from None
        except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM, SIGHUP (workers.Interrupted)
            interrupt_seen()
            err.print(interrupted_line(exc), markup=False, highlight=False, soft_wrap=True)
            raise typer.Exit(getattr(exc, "exit_code", 130)) from None

    return wrapper


def interrupted_line(exc: KeyboardInterrupt) -> str:
    """What an interrupt kept and how to go on: `exc.rerun` when the command said it, else
    the trainings kept in `exc.folder` (`exc.resume_option`: the command takes --resume)."""
    what = f"interrupted ({getattr(exc, 'signal_name', 'SIGINT')})"
    rerun = getattr(exc, "rerun", None)
    if rerun is not None:
        return f"{what}: {rerun}"
    folder = getattr(exc, "folder", None)
    if folder is None:
        return what
    resume = f" (or add --resume {folder})" if getattr(exc, "resume_option", True) else ""
    return (
        f"{what}: finished trainings are kept in {folder}; run the same command "
        f"again{resume} to train only the missing ones"
    )


def os_error_line(exc: OSError) -> str:
    """`PATH: No space left on device`, the file named when the error knows it."""
    what = exc.strerror or str(exc) or type(exc).__name__
    return f"{exc.filename}: {what}" if exc.filename else what


def _out_path(out: str | None, option: str = "--out", what: str = "a directory") -> Path | None:
    """The path given to --out (None when not given); an empty one is an error, not the
    current directory."""
    if out is None:
        return None
    if not out.strip():
        raise ConfigError(f"{option}: give {what} (got an empty path)")
    return Path(out)


def _load(config: Path, overrides: list[str] | None, seeds: str | None, kind: str | None):
    """The config of the kind `kind` (None: whatever kind the file states)."""
    from qmoe_cli.kinds import load

    return load(config, _with_seeds(overrides, seeds), kind)


def _with_seeds(overrides: list[str] | None, seeds: str | None) -> list[str]:
    """--set overrides, then --seeds as one more."""
    overrides = list(overrides or [])
    if seeds is not None:
        try:
            values = [int(s) for s in seeds.split(",")]  # an empty item is a typo, not 0
        except ValueError:
            raise ConfigError(
                f"--seeds: expected comma-separated integers, got {seeds!r}"
            ) from None
        overrides.append(f"seeds={values}")
    return overrides


def _resume_path(resume: str | None, out: Path | None) -> Path | None:
    """--resume RUN_DIR; with --out too, the folder must be in that directory."""
    path = _out_path(resume, "--resume", "a run folder")
    if path is not None and out is not None and path.resolve().parent != out.resolve():
        raise ConfigError(f"--resume: {path} is not in --out {out}")
    return path


def _group_setup(kind, config, set_, seeds, out, resume, jobs: int = 0):
    """A run command's arguments checked and its config validated (nothing heavy imported
    yet): (config, output directory, --resume folder)."""
    _check_jobs(jobs)
    out_path = _out_path(out)
    resume_path = _resume_path(resume, out_path)
    cfg = _load(config, set_, seeds, kind)
    return cfg, _out_dir(out_path, cfg), resume_path


def _out_dir(out: Path | None, cfg) -> Path | str:
    """--out if given, else the config's output_dir."""
    return out if out is not None else cfg.output_dir


def _check_jobs(jobs: int) -> int:
    if jobs < 0:
        raise ConfigError(f"--jobs: expected 0 (one per core) or a positive number, got {jobs}")
    return jobs


def _workers(jobs: int, n_tasks: int) -> int:
    """--jobs 0 means one worker per core; never more workers than tasks."""
    import os

    return max(1, min(_check_jobs(jobs) or os.cpu_count() or 1, n_tasks))


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


JOBS_OPT = typer.Option(0, "--jobs", metavar="N", help=JOBS_HELP)


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


@app.command()
@one_line_errors
def export(
    run_dirs: list[Path] = typer.Argument(
        ...,
        help="A train-format run folder with a quantum router (qasm3, qiskit, pennylane); "
        "for mlflow: run folders of any kind, sweep folders, or a folder of them.",
        show_default=False,
        metavar="RUN_DIR...",
    ),
    seed: int = typer.Option(
        None, "--seed", metavar="SEED", help="Which seed's model (default: the first)."
    ),
    format_: str = typer.Option(
        "qasm3",
        "--format",
        metavar="qasm3|qiskit|pennylane|mlflow",
        help="qasm3 (OpenQASM 3 text), qiskit or pennylane (Python source) of the router; "
        "mlflow: every run of the folders into an MLflow tracking store.",
    ),
    out: str = typer.Option(
        None,
        "--out",
        metavar="FILE",
        help="Output file (default: <RUN_DIR>/router_seed<S>.qasm or .py).",
    ),
    tracking_uri: str = typer.Option(
        None,
        "--tracking-uri",
        metavar="URI",
        help="mlflow: the tracking store (default: MLflow's own, $MLFLOW_TRACKING_URI or "
        "sqlite:///mlflow.db).",
    ),
    experiment: str = typer.Option(
        None,
        "--experiment",
        metavar="NAME",
        help="mlflow: the experiment (default: each folder's config name).",
    ),
):
    """Write a trained quantum router's circuit as OpenQASM 3, Qiskit or PennyLane code, or
    log run folders to MLflow."""
    from qmoe_cli.progress import out as console

    if format_ == "mlflow":
        _export_mlflow(run_dirs, seed, out, tracking_uri, experiment)
        return
    from qmoe_cli.experiments.export import FORMATS, run_export

    if format_ not in FORMATS:
        raise ConfigError(
            f"--format: expected one of {', '.join(FORMATS)}, mlflow; got {format_!r}"
        )
    for given, option in ((tracking_uri, "--tracking-uri"), (experiment, "--experiment")):
        if given is not None:
            raise ConfigError(f"{option}: only for --format mlflow")
    if len(run_dirs) != 1:
        raise ConfigError(f"--format {format_}: give one run folder (got {len(run_dirs)})")
    path = run_export(run_dirs[0], seed, format_, _out_path(out, "--out", "a file"))
    console.print(str(path), markup=False, highlight=False, soft_wrap=True)


def _export_mlflow(run_dirs, seed, out, tracking_uri, experiment) -> None:
    from qmoe_cli.experiments.export_mlflow import export_mlflow
    from qmoe_cli.progress import out as console
    from qmoe_cli.progress import progress_bar

    for given, option in ((seed, "--seed"), (out, "--out")):
        if given is not None:
            raise ConfigError(f"{option}: not for --format mlflow (every seed is exported)")
    if tracking_uri is not None and not tracking_uri.strip():
        raise ConfigError("--tracking-uri: give a URI (got an empty one)")
    if experiment is not None and not experiment.strip():
        raise ConfigError("--experiment: give a name (got an empty one)")
    with progress_bar() as bar:

        def progress(total):
            task = bar.add_task("MLflow runs", total=total)
            return lambda n: bar.advance(task, n)

        done = export_mlflow(run_dirs, tracking_uri, experiment, progress)
    for d in done:
        console.print(
            f"{d.folder}: {d.created + d.kept} MLflow runs in experiment {d.experiment!r} "
            f"({d.created} new, {d.kept} already there)",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
    console.print(
        f"tracking store: {done[0].tracking_uri}", markup=False, highlight=False, soft_wrap=True
    )


@app.command()
@one_line_errors
def hardware(
    run_dir: Path = typer.Argument(
        ...,
        help="A trained run folder: train, ablate, efficiency or evaluate-mode noise-sweep.",
        show_default=False,
        metavar="RUN_DIR",
    ),
    target: str = typer.Option(
        ...,
        "--target",
        metavar="NAME",
        help="aer, aer:depolarizing=EPS,readout=R, a fake IBM device (FakeTorino, "
        "FakeManilaV2, ...) or ibm:BACKEND (docs/hardware.md).",
        show_default=False,
    ),
    shots: str = typer.Option(
        None,
        "--shots",
        metavar="N,N,...",
        help="Shot counts reported (default 100,300,1000,3000,10000); the largest is sampled.",
    ),
    mitigation: str = typer.Option(
        None,
        "--mitigation",
        metavar="none|readout|zne|readout+zne",
        help="Comma-separated; `none` is always reported (default: all four).",
    ),
    optimization_level: int = typer.Option(
        None, "--optimization-level", metavar="0-3", help="Transpiler preset (default 2)."
    ),
    seeds: str = typer.Option(
        None, "--seeds", metavar="S,S,...", help="The run's seeds to run (default: all)."
    ),
    variants: str = typer.Option(
        None, "--variants", metavar="NAME,...", help="A group's quantum variants (default: all)."
    ),
    max_inputs: int = typer.Option(
        None, "--max-inputs", metavar="N", help="The first N test inputs only (default: all)."
    ),
    set_: list[str] = SET_OPT,
    out: str = typer.Option(None, "--out", metavar="DIR", help="Output directory (default: runs)."),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Print the circuits and the cost estimate; run and write nothing."
    ),
):
    """Run a run folder's trained quantum routers on a device through IBM's runtime."""
    from qmoe_cli.config import hardware_config
    from qmoe_cli.quantum.targets import target_slug

    def listed(text: str | None, option: str, cast=str) -> list | None:
        if text is None:
            return None
        try:
            return [cast(v.strip()) for v in text.split(",")]  # an empty item is a typo
        except ValueError:
            raise ConfigError(f"{option}: expected a comma-separated list, got {text!r}") from None

    if not run_dir.exists():
        raise ConfigError(f"run folder not found: {run_dir}")
    options = {
        "name": f"hardware-{target_slug(target)}",
        "run": str(run_dir.resolve()),
        "target": target,
        "shots": listed(shots, "--shots", int),
        "mitigation": listed(mitigation, "--mitigation"),
        "optimization_level": optimization_level,
        "seeds": listed(seeds, "--seeds", int),
        "variants": listed(variants, "--variants"),
        "max_inputs": max_inputs,
    }
    cfg = hardware_config({k: v for k, v in options.items() if v is not None}, set_)
    out_path = _out_path(out)
    with heavy_imports():  # torch, qiskit: after validation
        from qmoe_cli.experiments.hardware import run_hardware

    try:
        run_hardware(cfg, _out_dir(out_path, cfg), dry_run)
    except KeyboardInterrupt as exc:  # no --resume: a rerun samples everything again
        exc.rerun = _hardware_rerun(getattr(exc, "folder", None))
        raise


def _hardware_rerun(folder: Path | None) -> str:
    """What an interrupted `qmoe hardware` kept, and the command that starts it over."""
    kept = f" ({folder} holds the plan and cost estimate)" if folder is not None else ""
    command = shlex.join(["qmoe", *sys.argv[1:]])
    return (
        f"nothing sampled is kept{kept}, and qmoe hardware does not resume; to start "
        f"over, run: {command}"
    )


data_app = typer.Typer(
    help="Datasets: download the IDX files of MNIST and Fashion-MNIST.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(data_app, name="data")


@data_app.command("fetch")
@one_line_errors
def data_fetch(
    dataset: str = typer.Argument(
        ..., help="mnist or fashion-mnist.", show_default=False, metavar="DATASET"
    ),
    dir_: str = typer.Option(
        None,
        "--dir",
        metavar="DIR",
        help="Folder for the four files (default: $QMOE_DATA_DIR/<dataset>, else the user "
        "cache, ~/.cache/qmoe/<dataset>); point data.data_dir at it if you choose one.",
    ),
):
    """Download a dataset's four IDX files, each checked against its published MD5."""
    from rich.progress import DownloadColumn, Progress, TextColumn, TransferSpeedColumn

    from qmoe_cli.data import fetch
    from qmoe_cli.progress import err, out

    bars: list[Progress] = []  # started on the first download, so errors print alone

    def progress(url: str, total: int | None):
        if not bars:
            columns = (TextColumn("{task.description}"), DownloadColumn(), TransferSpeedColumn())
            bars.append(Progress(*columns, console=err, transient=True))
            bars[0].start()
        task = bars[0].add_task(url.rsplit("/", 1)[-1], total=total)
        return lambda n: bars[0].advance(task, n)

    try:
        folder, status = fetch(dataset, _out_path(dir_, "--dir"), progress)
    finally:
        for bar in bars:
            bar.stop()
    for line in status:
        err.print(line, markup=False, highlight=False, soft_wrap=True)
    out.print(str(folder), markup=False, highlight=False, soft_wrap=True)


@app.command()
@one_line_errors
def report(
    run_dirs: list[Path] = typer.Argument(
        ...,
        help="Run folders (train, ablate, noise-sweep, efficiency) or sweep folders (any number).",
        show_default=False,
        metavar="RUN_DIR",
    ),
    out: str = typer.Option(
        None,
        "--out",
        metavar="DIR",
        help="Folder for report.md and report.html (default: a new runs/<timestamp>-report/).",
    ),
    paper: str = typer.Option(
        "hybrid-qmoe",
        "--paper",
        metavar="hybrid-qmoe",
        help="The audited paper whose claims are judged (qmoe_cli/paper/): hybrid-qmoe.",
    ),
):
    """Tables, figures and the paper's claims beside the measured values (Markdown + HTML)."""
    out_path = _out_path(out)
    for path in run_dirs:  # before the imports below (torch, matplotlib): a typo fails fast
        if not path.exists():
            raise ConfigError(f"run folder not found: {path}")
    _write_report(run_dirs, paper, out_path)


def _write_report(run_dirs: list[Path], paper: str, out_path: Path | None) -> None:
    """`qmoe report`: the report over these folders, judged against `paper`'s claims."""
    from qmoe_cli.paper import PAPERS
    from qmoe_cli.progress import out as console

    with heavy_imports():
        from qmoe_cli.report.build import build_report

    if paper not in PAPERS:
        raise ConfigError(f"--paper: unknown paper {paper!r} (known: {', '.join(PAPERS)})")
    for path in build_report(run_dirs, PAPERS[paper], out_path):
        console.print(str(path), markup=False, highlight=False, soft_wrap=True)


def run() -> None:
    """The `qmoe` executable. gc.freeze() at the end spares the interpreter's final garbage
    collection over every torch and matplotlib object (docs/performance.md, "Start-up")."""
    try:
        app()
    finally:
        workers = sys.modules.get("qmoe_cli.workers")
        if workers is not None:  # the kept worker pool (workers.map_calls) ends with us
            lost = workers.interrupt_seen()  # a signal whose exception was swallowed
            signum = workers.end_of_command()
            signum = lost.exit_code - 128 if lost is not None else signum
            if signum is not None:  # the command's work was done and written meanwhile
                from qmoe_cli.progress import err

                name = signal.Signals(signum).name
                err.print(f"interrupted ({name}) as the command ended; its work is complete")
                raise SystemExit(128 + signum)
        gc.freeze()


if __name__ == "__main__":
    run()
