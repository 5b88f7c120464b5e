"""`qmoe efficiency`: accuracy against router parameters (the paper's Figure 2).

Routers of several sizes (the config's variants: MLP widths, quantum layers and qubits, ...)
are trained on the same data, experts and seeds. Output, in a run-group folder:

    config.yaml env.json metrics.json efficiency.csv accuracy_vs_params.png
    variants/<name>/   one train-format run folder per router size

metrics.json holds every point (router type, parameters, mean validation accuracy, test
accuracy mean/std/95 % CI, eta), the Pareto front (no router with as few parameters has as
high a mean validation accuracy) and, per threshold and router type, the smallest router
whose mean validation accuracy reaches it, with that router's test accuracy.

Selection is on the validation split, never the test split: the validation accuracy is the
one of the kept weights (each seed's `val_accuracy`), so the test accuracy reported for a
selected router is not inflated by the choice (`"selected_by"` in metrics.json says so).
When the data cannot be loaded (e.g. Fashion-MNIST without its files) the experiment is
written as skipped, with the reason.
"""

from __future__ import annotations

import math
from pathlib import Path

from rich.table import Table

from qmoe_cli.config import EfficiencyConfig, dump_config
from qmoe_cli.data import load_dataset
from qmoe_cli.errors import DataError
from qmoe_cli.metrics import ACCURACY_RANGE, ETA_DEFINITION, mean_ci
from qmoe_cli.progress import accuracy_cells, out
from qmoe_cli.records import EfficiencyRecord, write_record
from qmoe_cli.runs import RunFolder, environment, write_csv, write_json
from qmoe_cli.runs.group import train_all
from qmoe_cli.runs.train_format import summarize_variant, write_variant_folder
from qmoe_cli.training.plan import Training

SELECTED_BY = "mean validation accuracy"
SELECTION_KEY = "val_acc_mean"  # what the Pareto front and the thresholds look at
TEST_KEYS = ("test_acc_mean", "test_acc_std", "test_acc_ci_low", "test_acc_ci_high")


def efficiency_point(name: str, label: str, router: str, per_seed: list[dict]) -> dict:
    """One router size: the ablation summary, plus the mean validation accuracy it is selected
    by and the test accuracy's 95 % CI truncated to [0, 1]."""
    row = summarize_variant(name, label, per_seed)
    row["router"] = router
    val = mean_ci([m["val_accuracy"] for m in per_seed], bounds=ACCURACY_RANGE)
    test = mean_ci([m["test_accuracy"] for m in per_seed], bounds=ACCURACY_RANGE)
    row["val_acc_mean"] = val["mean"]
    row["val_acc_std"] = val["std"]
    row["test_acc_mean"] = test["mean"]
    row["test_acc_std"] = test["std"]
    row["test_acc_ci_low"] = test["ci_low"]
    row["test_acc_ci_high"] = test["ci_high"]
    return row


def _selection_score(p: dict) -> float:
    v = p.get(SELECTION_KEY, math.nan)
    return -math.inf if v is None or math.isnan(v) else float(v)


def pareto_front(points: list[dict]) -> list[str]:
    """Variants that no router with as few or fewer parameters matches in mean validation
    accuracy (the test accuracy plays no part in the choice)."""
    front, best = [], -math.inf
    for p in sorted(points, key=lambda p: (p["router_params"], -_selection_score(p))):
        if _selection_score(p) > best:
            front.append(p["variant"])
            best = _selection_score(p)
    return front


def _selected(p: dict) -> dict:
    """What is recorded of a selected router: its size, the validation accuracy it was chosen
    by, and its test accuracy (mean, std, 95 % CI)."""
    return {
        "variant": p["variant"],
        "router_params": p["router_params"],
        SELECTION_KEY: p.get(SELECTION_KEY),
        **{k: p.get(k) for k in TEST_KEYS},
    }


def smallest_reaching(points: list[dict], thresholds: list[float]) -> dict:
    """Per threshold and router type, the smallest router whose mean validation accuracy
    reaches the threshold (None if none does), with its test accuracy."""
    out_: dict = {}
    for t in thresholds:
        out_[f"{t:g}"] = {}
        for router in sorted({p["router"] for p in points}):
            ok = [p for p in points if p["router"] == router and _selection_score(p) >= t]
            best = min(ok, key=lambda p: (p["router_params"], -_selection_score(p)), default=None)
            out_[f"{t:g}"][router] = None if best is None else _selected(best)
    return out_


def run(
    cfg: EfficiencyConfig, out_dir: str | Path, *, jobs: int = 1, resume: Path | None = None
) -> Path:
    """The kind's runner (qmoe_cli/kinds.py): every router size x seed on `jobs` workers."""
    with RunFolder(out_dir, cfg.name, dump_config(cfg), resumable=True, resume=resume) as group:
        write_json(group.path / "env.json", environment())
        try:
            data_info = load_dataset(cfg.data, cfg.seeds[0]).info()
        except DataError as exc:  # reported as skipped, never dropped silently
            record = EfficiencyRecord(
                name=cfg.name,
                skipped=str(exc),
                data=None,
                selected_by=SELECTED_BY,
                points=[],
                pareto=[],
                smallest_reaching={},
            )
            write_record(group.path / "metrics.json", record)
            skipped = exc
        else:
            skipped = None
            points, reaching = _measure(cfg, group.path, data_info, jobs)
    if skipped is not None:
        out.print(f"{cfg.name}: skipped: {skipped}", markup=False)
        out.print(f"run folder: {group.path}")
        return group.path
    print_efficiency(cfg, points, reaching, group.path)
    return group.path


def _measure(cfg: EfficiencyConfig, group: Path, data_info: dict, jobs: int):
    """Train every router size, write the variants' folders and the group's outputs."""
    variants = {name: cfg.variant(name) for name in cfg.variants}
    tasks = [
        Training(name, v, seed, group / "variants" / name / f"seed-{seed}")
        for name, v in variants.items()
        for seed in cfg.seeds
    ]
    per_variant = {}

    def variant_done(name: str, runs: list) -> None:
        per_variant[name] = write_variant_folder(group / "variants" / name, variants[name], runs)

    train_all(
        tasks,
        jobs,
        f"{cfg.name}: {len(variants)} router sizes x {len(cfg.seeds)} seeds",
        on_done=variant_done,
    )
    points = [
        efficiency_point(name, cfg.variants[name].label, vcfg.model.router.type, per_variant[name])
        for name, vcfg in variants.items()
    ]
    front = pareto_front(points)
    for p in points:
        p["pareto"] = p["variant"] in front
    reaching = smallest_reaching(points, cfg.thresholds)
    write_csv(group / "efficiency.csv", points)
    plot(group / "accuracy_vs_params.png", cfg, points)
    record = EfficiencyRecord(
        name=cfg.name,
        skipped=None,
        data=data_info,
        eta_definition=ETA_DEFINITION,
        seeds=cfg.seeds,
        selected_by=SELECTED_BY,
        points=points,
        pareto=front,
        smallest_reaching=reaching,
    )
    write_record(group / "metrics.json", record)
    return points, reaching


def plot(path: Path, cfg: EfficiencyConfig, points: list[dict]) -> None:
    from qmoe_cli import figures  # matplotlib: imported when drawing only

    figures.accuracy_vs_params(path, cfg.name, points)


def print_efficiency(cfg: EfficiencyConfig, points, reaching, path: Path) -> None:
    table = Table(title=f"{cfg.name}: test accuracy vs router size ({len(cfg.seeds)} seeds)")
    columns = ("variant", "router", "router P", "val acc mean", "test acc mean ± std", "95% CI")
    for col in (*columns, "eta", "Pareto"):
        table.add_column(col, justify="right")
    for p in sorted(points, key=lambda p: (p["router"], p["router_params"])):
        acc, ci = accuracy_cells(
            p["test_acc_mean"], p["test_acc_std"], p["test_acc_ci_low"], p["test_acc_ci_high"]
        )
        table.add_row(
            p["variant"],
            p["router"],
            str(p["router_params"]),
            f"{p[SELECTION_KEY]:.3f}",
            acc,
            ci,
            f"{p['eta_mean']:.3f}",
            "yes" if p["pareto"] else "",
        )
    out.print(table)
    out.print(
        f"Pareto front and thresholds are chosen by {SELECTED_BY}; test accuracy is reported."
    )
    for t, by_router in reaching.items():
        parts = [_reached_text(r, v) for r, v in by_router.items()]
        out.print(
            f"smallest router reaching {float(t):.0%} {SELECTED_BY}: " + "; ".join(parts),
            markup=False,
        )
    out.print(ETA_DEFINITION)
    out.print(f"run folder: {path}")


def _reached_text(router: str, v: dict | None) -> str:
    if not v:
        return f"{router}: none"
    acc, ci = accuracy_cells(
        v["test_acc_mean"], v["test_acc_std"], v["test_acc_ci_low"], v["test_acc_ci_high"]
    )
    return f"{router}: {v['router_params']} params ({v['variant']}), test acc {acc} {ci}"


def sweep_rows(metrics: dict) -> list[dict]:
    """A sweep's rows from this kind's metrics.json: one per router (none when skipped)."""
    return [{**p, "test_accuracy": p["test_acc_mean"]} for p in metrics.get("points") or []]
