"""`qmoe train`: one model config, trained once per seed, into one run folder.

<run>/config.yaml  env.json  metrics.json  summary.csv
<run>/decision_boundary.png  routing.png       (2-D data; the first seed's model)
<run>/seed-<s>/metrics.json  history.csv  model.pt

The single-model core (run_seed) and the train-format folder (write_train_results) are in
qmoe_cli/training/seeds.py and qmoe_cli/runs/train_format.py, shared with the other
experiments; train_format.py's docstring lists the
per-seed metrics (effective parameters, eta_effective) and summary.csv's columns.
"""

from __future__ import annotations

from pathlib import Path

from rich.table import Table

from qmoe_cli.config import ExperimentConfig, dump_config
from qmoe_cli.metrics import ETA_DEFINITION
from qmoe_cli.progress import out
from qmoe_cli.runs import RunFolder, environment, write_json
from qmoe_cli.runs.group import train_all
from qmoe_cli.runs.train_format import aggregate, summary_row, write_train_results
from qmoe_cli.training.plan import Training
from qmoe_cli.training.seeds import SeedRun


def run(
    cfg: ExperimentConfig, out_dir: str | Path, *, jobs: int = 1, resume: Path | None = None
) -> Path:
    """The kind's runner (qmoe_cli/kinds.py): train every seed (one stack, in this process:
    `jobs` is for kinds with configs to run side by side), write the run folder, print the
    table; returns the folder."""
    with RunFolder(out_dir, cfg.name, dump_config(cfg), resumable=True, resume=resume) as folder:
        write_json(folder.path / "env.json", environment())
        trainings = [Training(cfg.name, cfg, s, folder.path / f"seed-{s}") for s in cfg.seeds]
        results = train_all(trainings, 1, cfg.name)
        runs = [results[cfg.name, s] for s in cfg.seeds]
        per_seed = write_train_results(folder.path, cfg, runs)
    print_train_table(cfg, per_seed, folder.path)
    return folder.path


def write_trained(cfg: ExperimentConfig, out_dir: str | Path, runs: list[SeedRun]) -> Path:
    """The run folder `qmoe train` writes, for seeds trained elsewhere (a sweep's stack of
    points); prints the table as `run` does."""
    with RunFolder(out_dir, cfg.name, dump_config(cfg)) as folder:
        write_json(folder.path / "env.json", environment())
        per_seed = write_train_results(folder.path, cfg, runs)
    print_train_table(cfg, per_seed, folder.path)
    return folder.path


def print_train_table(cfg: ExperimentConfig, per_seed: list[dict], path: Path) -> None:
    table = Table(
        title=f"{cfg.name}: {cfg.model.router.type} router, "
        f"{cfg.model.experts.count} {cfg.model.experts.type} experts, {cfg.data.name} (test split)"
    )
    columns = ("seed", "test acc", "F1", "router P", "eff P", "total P", "eta", "epochs", "seconds")
    for col in columns:
        table.add_column(col, justify="right")
    for m in per_seed:
        table.add_row(
            str(m["seed"]),
            f"{m['test_accuracy']:.4f}",
            f"{m['test_f1_macro']:.4f}",
            str(m["params"]["router"]),
            _rank((m.get("effective_params") or {}).get("trained")),
            str(m["params"]["total"]),
            "n/a" if m["eta"] is None else f"{m['eta']:.4f}",
            str(m["epochs_run"]),
            f"{m['fit_seconds']:.2f}",
        )
    agg = aggregate(per_seed)
    if len(per_seed) > 1:
        table.add_section()
        table.add_row(
            "mean ± std",
            *(_pm(agg[k]) for k in ("test_accuracy", "test_f1_macro")),
            "",
            "",
            "",
            _pm(agg["eta"]),
            f"{agg['epochs_run']['mean']:.1f}",
            f"{agg['fit_seconds']['mean']:.2f}",
        )
    out.print(table)
    out.print(
        f"{ETA_DEFINITION}; eff P: rank of the router's gate Jacobian at the trained weights "
        "(numerical, relative tolerance 1e-8)"
    )
    out.print(f"run folder: {path}")


def _rank(rank: int | None) -> str:
    return "n/a" if rank is None else str(rank)


def _pm(stat: dict) -> str:
    return f"{stat['mean']:.4f} ± {stat['std']:.4f}"


def sweep_rows(metrics: dict) -> list[dict]:
    """A sweep's rows from this kind's metrics.json: one per seed."""
    return [summary_row(m) for m in metrics["per_seed"]]
