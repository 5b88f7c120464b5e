"""The commands that use run folders: export, hardware, diagnose, report, and data fetch."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import typer

from qmoe_cli.cli.app import app
from qmoe_cli.cli.common import (
    SET_OPT,
    _out_dir,
    _out_path,
    _write_report,
    one_line_errors,
)
from qmoe_cli.errors import ConfigError
from qmoe_cli.imports import heavy_imports


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


def _listed(text: str | None, option: str, cast=str) -> list | None:
    """A comma-separated option (`--seeds 0,1`); None when not given."""
    if text is None:
        return None
    try:
        return [cast(v.strip()) for v in text.split(",")]  # an empty item is a typo
    except ValueError:
        raise ConfigError(f"{option}: expected a comma-separated list, got {text!r}") from None


def _counts(text: str | None, option: str) -> list[int] | None:
    """`2-12` (every count from 2 to 12) or `2,4,8`; an empty range is one line."""
    if text is None:
        return None
    if "-" in text and "," not in text:
        low, _, high = text.partition("-")
        try:
            lo, hi = int(low), int(high)
        except ValueError:
            raise ConfigError(
                f"{option}: expected A-B or a comma-separated list, got {text!r}"
            ) from None
        if hi < lo:
            raise ConfigError(f"{option}: the range {text} is empty")
        return list(range(lo, hi + 1))
    return _listed(text, option, int)


@app.command()
@one_line_errors
def diagnose(
    run_dir: Path = typer.Argument(
        None,
        help="A trained run folder with quantum routers (train, ablate, efficiency or "
        "evaluate-mode noise-sweep); needed by the spectrum, not by the scans.",
        show_default=False,
        metavar="[RUN_DIR]",
    ),
    scan: str = typer.Option(
        None,
        "--scan",
        metavar="spectrum,trainability,expressibility|all",
        help="What to measure (default: spectrum with RUN_DIR, else trainability).",
    ),
    seeds: str = typer.Option(
        None, "--seeds", metavar="S,S,...", help="The run's seeds to read (default: all)."
    ),
    max_seeds: int = typer.Option(
        None, "--max-seeds", metavar="N", help="The first N of those seeds only."
    ),
    variants: str = typer.Option(
        None, "--variants", metavar="NAME,...", help="A group's quantum variants (default: all)."
    ),
    threshold: float = typer.Option(
        None, "--threshold", metavar="T", help="|c_w| counted as non-negligible (default 1e-3)."
    ),
    qubits: str = typer.Option(
        None,
        "--qubits",
        metavar="A-B|N,N,...",
        help="Trainability scan qubits (default 2,4,6,8,10,12).",
    ),
    layers: str = typer.Option(
        None, "--layers", metavar="N,N,...", help="Layers of both scans (default 1,4,8)."
    ),
    ansatz: str = typer.Option(
        None, "--ansatz", metavar="ry_cz,strongly_entangling", help="Ansatze (default: both)."
    ),
    init: str = typer.Option(
        None, "--init", metavar="uniform,small,identity", help="Initialisations (default: all)."
    ),
    samples: int = typer.Option(
        None, "--samples", metavar="N", help="Initialisations per trainability cell (default 200)."
    ),
    pairs: int = typer.Option(
        None, "--pairs", metavar="N", help="Fidelity pairs per expressibility cell (default 5000)."
    ),
    expressibility_qubits: str = typer.Option(
        None,
        "--expressibility-qubits",
        metavar="A-B|N,N,...",
        help="Expressibility scan qubits (default 2,4,6).",
    ),  # fmt: skip
    set_: list[str] = SET_OPT,
    out: str = typer.Option(
        None, "--out", metavar="DIR", help="Output directory (default: beside RUN_DIR, else runs)."
    ),
    resume: str = typer.Option(
        None,
        "--resume",
        metavar="DIR",
        help="Finish this interrupted diagnose folder "
        "(without it, the newest one of the same options in --out is taken up).",
    ),  # fmt: skip
):
    """The quantum router's mechanism: its Fourier spectrum and classical surrogate, gradient
    variance (barren plateaus), expressibility and entangling capability."""
    from qmoe_cli.config import diagnose_config
    from qmoe_cli.config.diagnose import SCANS

    if run_dir is not None and not run_dir.exists():
        raise ConfigError(f"run folder not found: {run_dir}")
    scans = _listed(scan, "--scan")
    if scans == ["all"]:
        scans = list(SCANS)
    elif scans is None:
        scans = ["spectrum"] if run_dir is not None else ["trainability"]
    name = f"diagnose-{run_dir.resolve().name}" if run_dir is not None else "diagnose"
    options = {
        "name": name[:100],
        "run": str(run_dir.resolve()) if run_dir is not None else None,
        "scans": scans,
        "seeds": _listed(seeds, "--seeds", int),
        "max_seeds": max_seeds,
        "variants": _listed(variants, "--variants"),
        "threshold": threshold,
        "qubits": _counts(qubits, "--qubits"),
        "layers": _counts(layers, "--layers"),
        "ansatze": _listed(ansatz, "--ansatz"),
        "inits": _listed(init, "--init"),
        "samples": samples,
        "pairs": pairs,
        "expressibility_qubits": _counts(expressibility_qubits, "--expressibility-qubits"),
    }
    cfg = diagnose_config({k: v for k, v in options.items() if v is not None}, set_)
    out_path = _out_path(out)
    resume_path = _out_path(resume, "--resume", "a diagnose folder")
    with heavy_imports():  # torch: after validation
        from qmoe_cli.experiments.diagnose import run_diagnose

    try:
        run_diagnose(cfg, out_path, resume_path)
    except KeyboardInterrupt as exc:
        folder = getattr(exc, "folder", None)
        if folder is not None:
            exc.rerun = (
                f"finished cells are kept in {folder}; run the same command again (or add "
                f"--resume {folder}) to compute only the missing ones"
            )
        raise


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
