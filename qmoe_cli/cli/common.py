"""What every command shares: the common options, one-line errors and interrupts, and the
checks of paths, seeds and job counts."""

from __future__ import annotations

import functools
from pathlib import Path

import typer

from qmoe_cli.errors import ConfigError, QmoeError
from qmoe_cli.imports import heavy_imports

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


JOBS_OPT = typer.Option(0, "--jobs", metavar="N", help=JOBS_HELP)


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
