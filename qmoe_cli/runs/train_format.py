"""The train-format folder (qmoe train's, and every variant, level or baseline of a group):

    <run>/metrics.json  summary.csv  config.yaml (sub-folders)
    <run>/decision_boundary.png  routing.png       (2-D data; the first seed's model)
    <run>/seed-<s>/metrics.json  history.csv  model.pt

Per seed, besides accuracy and eta: `effective_params` = {init, trained, nominal, n_inputs,
rtol}, the numerical rank of the router's gate Jacobian at initialisation and at the trained
weights (metrics.effective_params), and `eta_effective` = test accuracy / ln(1 + trained
rank). summary.csv gives them as router_params_effective_init, router_params_effective and
eta_effective. A variant over seeds is summed up by `summarize_variant`."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from qmoe_cli.config import ExperimentConfig, dump_config
from qmoe_cli.metrics import (
    ACCURACY_RANGE,
    COUNT_RANGE,
    ETA_DEFINITION,
    mean_ci,
)
from qmoe_cli.progress import err
from qmoe_cli.records import TrainRecord, write_record
from qmoe_cli.runs.cells import is_cell, write_cell
from qmoe_cli.runs.folder import write_csv, write_text
from qmoe_cli.training.seeds import SeedRun

# aggregated over seeds, each with the range its confidence interval is truncated to
SUMMARY_METRICS = {
    "test_accuracy": ACCURACY_RANGE,
    "test_f1_macro": ACCURACY_RANGE,
    "eta": COUNT_RANGE,
    "eta_effective": COUNT_RANGE,
    "epochs_run": COUNT_RANGE,
    "fit_seconds": COUNT_RANGE,
}


def summary_row(m: dict) -> dict:
    """One flat CSV row of a seed's metrics (runs written before the effective parameter
    count have None in its columns)."""
    effective = m.get("effective_params") or {}
    return {
        "seed": m["seed"],
        "test_accuracy": m["test_accuracy"],
        "test_f1_macro": m["test_f1_macro"],
        "val_accuracy": m["val_accuracy"],
        "router_params": m["params"]["router"],
        "router_params_effective_init": effective.get("init"),
        "router_params_effective": effective.get("trained"),
        "expert_params": m["params"]["experts"],
        "total_params": m["params"]["total"],
        "eta": m["eta"],
        "eta_effective": m.get("eta_effective"),
        "epochs_run": m["epochs_run"],
        "best_epoch": m["best_epoch"],
        "epochs_to_90_val": m["epochs_to_90_val"],
        "fit_seconds": m["fit_seconds"],
        "gate_entropy": m["usage"]["gate_entropy"],
        "unused_experts": m["usage"]["unused_experts"],
    }


def aggregate(metrics: list[dict]) -> dict:
    """Mean, std and 95 % CI over seeds of each SUMMARY_METRICS key, the CI truncated to the
    quantity's range (accuracies to [0, 1], counts and eta to [0, inf))."""
    return {
        k: mean_ci([_number(m.get(k)) for m in metrics], bounds=bounds)
        for k, bounds in SUMMARY_METRICS.items()
    }


def _number(v) -> float:
    return float("nan") if v is None else float(v)


FIGURE_NOTE = "figure_note.txt"


def write_figures(folder: Path, run: SeedRun, title: str) -> None:
    """decision_boundary.png and routing.png for 2-D data. A router too large to simulate on
    the grid (figures.grid_resolution's rule) gets neither: the note saying why is printed
    and written to figure_note.txt instead, and the run goes on."""
    if run.splits.n_features != 2:
        return
    from qmoe_cli import figures  # matplotlib: imported when drawing only

    grid = figures.predict_grid(run.model, run.splits)
    if grid.note is not None:
        err.print(f"note: {grid.note}", markup=False, highlight=False, soft_wrap=True)
        write_text(folder / FIGURE_NOTE, grid.note + "\n")
        return
    acc = run.metrics["test_accuracy"]
    figures.save_single(
        folder / "decision_boundary.png",
        figures.plot_decision_boundary,
        grid,
        run.splits,
        f"{title} (seed {run.seed}, test acc {acc:.3f})",
    )
    figures.save_single(
        folder / "routing.png",
        figures.plot_routing,
        grid,
        run.splits,
        run.model.experts.count,
        f"{title}: dominant expert (seed {run.seed})",
    )


def write_train_results(folder: Path, cfg: ExperimentConfig, runs: list[SeedRun]) -> list[dict]:
    """The body of a train-format run folder (everything but config.yaml and env.json)."""
    for run in runs:
        if not is_cell(folder / f"seed-{run.seed}"):  # cells of a group are written already
            write_cell(folder / f"seed-{run.seed}", run)
    write_figures(folder, runs[0], cfg.name)
    per_seed = [r.metrics for r in runs]
    write_csv(folder / "summary.csv", [summary_row(m) for m in per_seed])
    record = TrainRecord(
        name=cfg.name,
        router=cfg.model.router.type,
        params=per_seed[0]["params"],
        data=per_seed[0]["data"],
        eta_definition=ETA_DEFINITION,
        aggregate=aggregate(per_seed),
        per_seed=per_seed,
    )
    write_record(folder / "metrics.json", record)
    return per_seed


def write_variant_folder(path: Path, cfg: ExperimentConfig, runs: list[SeedRun]) -> list[dict]:
    """A group's sub-folder for one trained config (a variant, level or baseline): its
    resolved config.yaml and the train-format body around the seed folders (cells) already
    in it; returns the per-seed metrics."""
    path.mkdir(parents=True, exist_ok=True)
    write_text(path / "config.yaml", dump_config(cfg))
    return write_train_results(path, cfg, runs)


def summarize_variant(
    name: str, label: str, per_seed: list[dict], plateau: float | None = None
) -> dict:
    """One summary row from a variant's per-seed metrics (the columns are listed in
    experiments/ablate.py's docstring)."""
    accs = [m["test_accuracy"] for m in per_seed]
    acc = mean_ci(accs, bounds=ACCURACY_RANGE)
    reached = [m["epochs_to_90_val"] for m in per_seed if m["epochs_to_90_val"] is not None]
    effective = [m.get("effective_params") or {} for m in per_seed]
    trained = [e["trained"] for e in effective if e.get("trained") is not None]
    at_init = [e["init"] for e in effective if e.get("init") is not None]
    row = {
        "variant": name,
        "label": label,
        "router": per_seed[0].get("router_type", ""),
        "router_params": per_seed[0]["params"]["router"],
        "total_params": per_seed[0]["params"]["total"],
        "n_seeds": len(per_seed),
        "test_acc_mean": acc["mean"],
        "test_acc_median": float(np.median(accs)),
        "test_acc_std": acc["std"],
        "test_acc_ci_low": acc["ci_low"],
        "test_acc_ci_high": acc["ci_high"],
        "f1_mean": float(np.mean([m["test_f1_macro"] for m in per_seed])),
        "eta_mean": _mean([m["eta"] for m in per_seed]),  # None: no router parameters
        "eta_effective_mean": _mean([m.get("eta_effective") for m in per_seed]),
        "router_params_effective_init": _median(at_init),
        "router_params_effective": _median(trained),
        "router_params_effective_min": min(trained) if trained else None,
        "router_params_effective_max": max(trained) if trained else None,
        "qubits_total": (per_seed[0].get("qubits") or {}).get("total"),
        "qubits_largest": (per_seed[0].get("qubits") or {}).get("largest"),
    }
    if plateau is not None:
        row["plateau"] = plateau
        row["share_above_plateau"] = float(np.mean([a > plateau for a in accs]))
    row.update(
        {
            "epochs_to_90_val_mean": float(np.mean(reached)) if reached else float("nan"),
            "seeds_reaching_90_val": len(reached),
            "epochs_run_mean": float(np.mean([m["epochs_run"] for m in per_seed])),
            "fit_seconds_mean": float(np.mean([m["fit_seconds"] for m in per_seed])),
            "gate_entropy_mean": float(np.mean([m["usage"]["gate_entropy"] for m in per_seed])),
            "unused_experts_mean": float(np.mean([m["usage"]["unused_experts"] for m in per_seed])),
        }
    )
    return row


def _median(values: list[int]) -> int | float | None:
    """The median of integer counts: an int when it is one (odd count or equal middles)."""
    if not values:
        return None
    m = float(np.median(values))
    return int(m) if m.is_integer() else m


def _mean(values: list) -> float:
    kept = [v for v in values if v is not None]
    return float(np.mean(kept)) if kept else float("nan")
