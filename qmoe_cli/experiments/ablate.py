"""`qmoe ablate`: several routers on the same data, experts, training budget and seeds.

    <group>/config.yaml env.json metrics.json summary.csv comparisons.csv
    <group>/decision_boundaries.png routing_maps.png training_curves.png   (figures)
    <group>/variants/<name>/   one train-format run folder per variant (config.yaml, ...)

Every variant sees the same split for a given seed (the split depends on the seed only;
a variant with a `scaling` of its own sees the same rows, scaled its way), so the
comparison of the reference variant with each other one is paired seed by seed.
Each variant's per-seed test accuracies are in variants/<name>/metrics.json (`per_seed`).

summary.csv, one row per variant (metrics.json `summary` holds the same rows):
    variant label router router_params total_params n_seeds
    test_acc_mean test_acc_median test_acc_std test_acc_ci_low test_acc_ci_high
        (95 % t-interval of the mean, truncated to [0, 1])
    f1_mean eta_mean eta_effective_mean
    router_params_effective_init router_params_effective router_params_effective_min
    router_params_effective_max
        (rank of the router's gate Jacobian, metrics.effective_params: median over seeds at
        initialisation and at the trained weights, and the trained rank's range over seeds)
    plateau share_above_plateau   (only with `plateau` in the config: the share of seeds
        whose test accuracy is above it)
    epochs_to_90_val_mean seeds_reaching_90_val epochs_run_mean fit_seconds_mean
    gate_entropy_mean unused_experts_mean

comparisons.csv, one row per variant other than the reference (metrics.compare_to_reference):
    a b n_seeds mean_diff ci_low ci_high   (a - b in accuracy, 95 % t-interval)
    p test           the primary test's p and its name: the paired t-test, or the exact
                     Wilcoxon signed-rank test when the differences have no variance
    t_test_p wilcoxon_p   both tests' p (t_test_p NaN when undefined)
    p_holm n_comparisons  p Holm-adjusted over this ablation's comparisons, and their number
    verdict          reached on p_holm
"""

from __future__ import annotations

import math
from pathlib import Path

from rich import box
from rich.table import Table

from qmoe_cli.config import AblationConfig, dump_config
from qmoe_cli.metrics import ETA_DEFINITION, compare_to_reference
from qmoe_cli.progress import accuracy_cells, out
from qmoe_cli.records import AblateRecord, write_record
from qmoe_cli.runs import RunFolder, environment, write_csv, write_json
from qmoe_cli.runs.group import train_all
from qmoe_cli.runs.train_format import summarize_variant, write_variant_folder
from qmoe_cli.training.plan import Training
from qmoe_cli.training.seeds import SeedRun


def run(
    cfg: AblationConfig,
    out_dir: str | Path,
    *,
    jobs: int = 1,
    resume: Path | None = None,
    records: dict[str, dict] | None = None,
) -> Path:
    """The kind's runner (qmoe_cli/kinds.py): every variant x seed on `jobs` workers.
    `records`: more JSON files for the folder (file name -> content), written before it is
    complete (`qmoe tune`'s tuned.json)."""
    variants = {name: cfg.variant(name) for name in cfg.variants}
    with RunFolder(out_dir, cfg.name, dump_config(cfg), resumable=True, resume=resume) as group:
        write_json(group.path / "env.json", environment())
        for file_name, content in (records or {}).items():
            write_json(group.path / file_name, content)
        tasks = [
            Training(name, vcfg, seed, group.path / "variants" / name / f"seed-{seed}")
            for name, vcfg in variants.items()
            for seed in cfg.seeds
        ]
        per_variant = {}

        def variant_done(name: str, runs: list[SeedRun]) -> None:
            per_variant[name] = write_variant_folder(
                group.path / "variants" / name, variants[name], runs
            )

        results = train_all(
            tasks,
            jobs,
            f"{cfg.name}: {len(variants)} variants x {len(cfg.seeds)} seeds",
            on_done=variant_done,
        )
        runs = {name: [results[name, s] for s in cfg.seeds] for name in variants}
        summary = []
        for name, vcfg in variants.items():
            row = summarize_variant(name, cfg.variants[name].label, per_variant[name], cfg.plateau)
            row["router"] = vcfg.model.router.type
            summary.append(row)
        comparisons = compare_to_reference(
            cfg.reference,
            {name: [m["test_accuracy"] for m in per_variant[name]] for name in variants},
        )
        write_csv(group.path / "summary.csv", summary)
        write_csv(group.path / "comparisons.csv", comparisons)
        write_figures(group.path, cfg, runs)
        record = AblateRecord(
            name=cfg.name,
            reference=cfg.reference,
            seeds=cfg.seeds,
            eta_definition=ETA_DEFINITION,
            data=per_variant[cfg.reference][0]["data"],
            summary=summary,
            comparisons=comparisons,
        )
        write_record(group.path / "metrics.json", record)
    print_ablation(cfg, summary, comparisons, group.path)
    return group.path


def write_figures(folder: Path, cfg: AblationConfig, runs: dict[str, list[SeedRun]]) -> None:
    from qmoe_cli import figures  # matplotlib: imported when drawing only

    first = {name: rs[0] for name, rs in runs.items()}
    figures.training_curves(
        folder / "training_curves.png",
        {_title(cfg, n): [r.fit.history for r in rs] for n, rs in runs.items()},
    )
    if next(iter(first.values())).splits.n_features != 2:
        return
    panels = []
    for name, run in first.items():
        grid = figures.predict_grid(run.model, run.splits)
        panels.append((name, run, grid))
    figures.save_panels(
        folder / "decision_boundaries.png",
        [
            (
                figures.plot_decision_boundary,
                (g, r.splits, f"{_title(cfg, n)}\ntest acc {r.metrics['test_accuracy']:.3f}"),
            )
            for n, r, g in panels
        ],
    )
    figures.save_panels(
        folder / "routing_maps.png",
        [
            (
                figures.plot_routing,
                (g, r.splits, r.model.experts.count, f"{_title(cfg, n)}\ndominant expert"),
            )
            for n, r, g in panels
        ],
    )


def _ratio(value) -> str:
    """eta: 'n/a' where undefined (a model without router parameters)."""
    return "n/a" if value is None or math.isnan(value) else f"{value:.3f}"


def _count(value) -> str:
    return "n/a" if value is None else f"{value:g}"


def _effective_cell(row: dict) -> str:
    """Median trained rank, with its range over seeds when the seeds differ."""
    low, high = row["router_params_effective_min"], row["router_params_effective_max"]
    spread = f" [{low}-{high}]" if low is not None and low != high else ""
    return _count(row["router_params_effective"]) + spread


def _title(cfg: AblationConfig, name: str) -> str:
    label = cfg.variants[name].label
    return f"{name}: {label}" if label else name


def print_ablation(
    cfg: AblationConfig, summary: list[dict], comparisons: list[dict], path: Path
) -> None:
    """Two tables that fit 120 columns: accuracy and size, then how training went."""
    n = len(cfg.seeds)
    plateau = cfg.plateau is not None
    accuracy = Table(
        title=f"{cfg.name}: test accuracy over {n} seeds (held-out test split)",
        box=box.SIMPLE_HEAD,
    )
    for col in (
        "variant",
        "router P",
        "eff P",
        "test acc mean ± std",
        "95% CI",
        "median",
        *([f"> {cfg.plateau:g}"] if plateau else []),
        "F1",
        "eta",
    ):
        accuracy.add_column(col, justify="left" if col == "variant" else "right", no_wrap=True)
    training = Table(title=f"{cfg.name}: size and training", box=box.SIMPLE_HEAD)
    training.add_column("variant", overflow="fold")  # labels may be long: wrapped, not cut
    for col in (
        "total P",
        "eff P init",
        "eta eff",
        "ep→90% val",
        "epochs",
        "fit s",
        "gate H",
        "unused",
    ):
        training.add_column(col, justify="right", no_wrap=True)
    for r in summary:
        ep90 = (
            "never"
            if r["seeds_reaching_90_val"] == 0
            else f"{r['epochs_to_90_val_mean']:.0f} ({r['seeds_reaching_90_val']}/{n})"
        )
        acc, ci = accuracy_cells(
            r["test_acc_mean"], r["test_acc_std"], r["test_acc_ci_low"], r["test_acc_ci_high"]
        )
        accuracy.add_row(
            r["variant"],
            str(r["router_params"]),
            _effective_cell(r),
            acc,
            ci,
            f"{r['test_acc_median']:.3f}",
            *([f"{r['share_above_plateau']:.0%}"] if plateau else []),
            f"{r['f1_mean']:.3f}",
            _ratio(r["eta_mean"]),
        )
        training.add_row(
            _title(cfg, r["variant"]),
            str(r["total_params"]),
            _count(r["router_params_effective_init"]),
            _ratio(r["eta_effective_mean"]),
            ep90,
            f"{r['epochs_run_mean']:.0f}",
            f"{r['fit_seconds_mean']:.1f}",
            f"{r['gate_entropy_mean']:.2f}",
            f"{r['unused_experts_mean']:.1f}",
        )
    out.print(accuracy)
    out.print(training)
    out.print(
        ETA_DEFINITION + "; gate H: mean gate entropy (nats)\n"
        "eff P: rank of the router's gate Jacobian (relative tolerance 1e-8), median over "
        "seeds (the trained rank's range over seeds in brackets when they differ), at "
        "initialisation and trained; eta eff: eta with P = trained rank"
        + (f"\n> {cfg.plateau:g}: share of seeds with test accuracy above it" if plateau else "")
    )
    for c in comparisons:
        out.print(f"paired over {c['n_seeds']} seeds: {c['verdict']}")
    figures = [
        name
        for name in ("decision_boundaries.png", "routing_maps.png", "training_curves.png")
        if (path / name).is_file()
    ]  # decision boundaries and routing maps for 2-feature data only
    out.print(f"figures: {path}/{', '.join(figures)}")
    out.print(f"run folder: {path}")


def sweep_rows(metrics: dict) -> list[dict]:
    """A sweep's rows from this kind's metrics.json: one per variant."""
    return [{**r, "test_accuracy": r["test_acc_mean"]} for r in metrics["summary"]]
