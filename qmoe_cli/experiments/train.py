"""`qmoe train`: one model config, trained once per seed, into one run folder.

<run>/config.yaml  env.json  metrics.json  summary.csv
<run>/decision_boundary.png  routing.png       (2-D data; the first seed's model)
<run>/seed-<s>/metrics.json  history.csv  model.pt

Per seed, besides accuracy and eta: `effective_params` = {init, trained, nominal, n_inputs,
rtol}, the numerical rank of the router's gate Jacobian at initialisation and at the trained
weights (metrics.effective_params), and `eta_effective` = test accuracy / ln(1 + trained
rank). summary.csv gives them as router_params_effective_init, router_params_effective and
eta_effective.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from rich.table import Table

from qmoe_cli.config import ExperimentConfig, dump_config
from qmoe_cli.data import Splits, load_dataset
from qmoe_cli.metrics import (
    ACCURACY_RANGE,
    COUNT_RANGE,
    ETA_DEFINITION,
    effective_inputs,
    effective_params,
    efficiency,
    evaluate,
    mean_ci,
)
from qmoe_cli.models import MixtureOfExperts, build_model, param_counts
from qmoe_cli.progress import out, progress_bar
from qmoe_cli.runs import RunFolder, environment, write_csv, write_json
from qmoe_cli.training import DTYPES, FitResult, fit, seed_everything

# aggregated over seeds, each with the range its confidence interval is truncated to
SUMMARY_METRICS = {
    "test_accuracy": ACCURACY_RANGE,
    "test_f1_macro": ACCURACY_RANGE,
    "eta": COUNT_RANGE,
    "eta_effective": COUNT_RANGE,
    "epochs_run": COUNT_RANGE,
    "fit_seconds": COUNT_RANGE,
}


@dataclass
class SeedRun:
    seed: int
    metrics: dict
    fit: FitResult
    model: MixtureOfExperts
    splits: Splits


def run_seed(cfg: ExperimentConfig, seed: int, on_epoch=None) -> SeedRun:
    """Data split, model init and training, all from this one seed."""
    splits = load_dataset(cfg.data, seed)
    seed_everything(seed)
    model = build_model(cfg.model, splits.n_features, splits.n_classes)
    x_rank = rank_inputs(model, splits)
    at_init = effective_params(model, x_rank)  # on a copy: training is as without it
    result = fit(model, splits, cfg.train, seed, on_epoch)
    test = evaluate(model, *splits.tensors("test", DTYPES[cfg.train.dtype]))
    params = param_counts(model)
    trained = effective_params(model, x_rank)
    best = result.history[result.best_epoch - 1]
    metrics = {
        "seed": seed,
        "test_accuracy": test["accuracy"],
        "test_f1_macro": test["f1_macro"],
        "val_accuracy": best["val_acc"],
        "params": params,
        "eta": efficiency(test["accuracy"], params["router"]),
        "effective_params": {
            "init": at_init["rank"],
            "trained": trained["rank"],
            "nominal": trained["nominal"],
            "n_inputs": trained["n_inputs"],
            "rtol": trained["rtol"],
        },
        "eta_effective": (
            float("nan")
            if trained["rank"] is None
            else efficiency(test["accuracy"], trained["rank"])
        ),
        "epochs_run": result.epochs_run,
        "best_epoch": result.best_epoch,
        "stopped_early": result.stopped_early,
        "epochs_to_90_val": next((r["epoch"] for r in result.history if r["val_acc"] >= 0.9), None),
        "fit_seconds": result.seconds,
        "usage": test["usage"],
        "data": splits.info(),
    }
    return SeedRun(seed, metrics, result, model, splits)


def rank_inputs(model: MixtureOfExperts, splits: Splits) -> torch.Tensor:
    """The training inputs the effective parameter count uses (metrics.effective_inputs)."""
    n = effective_inputs(len(splits.X_train), param_counts(model)["router"], model.experts.count)
    return torch.as_tensor(splits.X_train[:n], dtype=torch.float64)


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


def write_seed(folder: Path, run: SeedRun) -> None:
    folder.mkdir(parents=True)
    write_json(folder / "metrics.json", run.metrics)
    write_csv(folder / "history.csv", run.fit.history)
    torch.save(run.model.state_dict(), folder / "model.pt")


def aggregate(metrics: list[dict]) -> dict:
    """Mean, std and 95 % CI over seeds of each SUMMARY_METRICS key, the CI truncated to the
    quantity's range (accuracies to [0, 1], counts and eta to [0, inf))."""
    return {
        k: mean_ci([_number(m.get(k)) for m in metrics], bounds=bounds)
        for k, bounds in SUMMARY_METRICS.items()
    }


def _number(v) -> float:
    return float("nan") if v is None else float(v)


def write_figures(folder: Path, run: SeedRun, title: str) -> None:
    if run.splits.n_features != 2:
        return
    from qmoe_cli.report import plots

    grid = plots.predict_grid(run.model, run.splits)
    acc = run.metrics["test_accuracy"]
    plots.save_single(
        folder / "decision_boundary.png",
        plots.plot_decision_boundary,
        grid,
        run.splits,
        f"{title} (seed {run.seed}, test acc {acc:.3f})",
    )
    plots.save_single(
        folder / "routing.png",
        plots.plot_routing,
        grid,
        run.splits,
        run.model.experts.count,
        f"{title}: dominant expert (seed {run.seed})",
    )


def write_train_results(folder: Path, cfg: ExperimentConfig, runs: list[SeedRun]) -> list[dict]:
    """The body of a train-format run folder (everything but config.yaml and env.json)."""
    for run in runs:
        write_seed(folder / f"seed-{run.seed}", run)
    write_figures(folder, runs[0], cfg.name)
    per_seed = [r.metrics for r in runs]
    write_csv(folder / "summary.csv", [summary_row(m) for m in per_seed])
    write_json(
        folder / "metrics.json",
        {
            "command": "train",
            "name": cfg.name,
            "router": cfg.model.router.type,
            "params": per_seed[0]["params"],
            "data": per_seed[0]["data"],
            "eta_definition": ETA_DEFINITION,
            "aggregate": aggregate(per_seed),
            "per_seed": per_seed,
        },
    )
    return per_seed


def run_train(cfg: ExperimentConfig, out_dir: str | Path) -> tuple[Path, list[dict]]:
    """Train every seed, write the run folder, print the table; return (folder, per-seed)."""
    with RunFolder(out_dir, cfg.name, dump_config(cfg)) as folder:
        write_json(folder.path / "env.json", environment())
        runs: list[SeedRun] = []
        with progress_bar() as bar:
            for seed in cfg.seeds:
                task = bar.add_task(f"{cfg.name} seed {seed}", total=cfg.train.epochs)
                runs.append(run_seed(cfg, seed, on_epoch=lambda row, t=task: bar.advance(t)))
                bar.update(task, completed=cfg.train.epochs)
        per_seed = write_train_results(folder.path, cfg, runs)
    print_train_table(cfg, per_seed, folder.path)
    return folder.path, per_seed


def print_train_table(cfg: ExperimentConfig, per_seed: list[dict], path: Path) -> None:
    table = Table(
        title=f"{cfg.name}: {cfg.model.router.type} router, "
        f"{cfg.model.experts.count} linear experts, {cfg.data.name} (test split)"
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
            f"{m['eta']:.4f}",
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
