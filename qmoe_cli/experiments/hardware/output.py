"""What a hardware run writes and prints: its files, its record, the plan and the results."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from rich.table import Table

from qmoe_cli.config import (
    HardwareConfig,
)
from qmoe_cli.experiments.hardware.plan import Plan
from qmoe_cli.experiments.hardware.scoring import (
    INTERVALS,
    READOUT_METHOD,
    WITHIN_METHOD,
    ZNE_METHOD,
)
from qmoe_cli.progress import out
from qmoe_cli.quantum import runtime as rt
from qmoe_cli.records import HardwareRecord
from qmoe_cli.runs import write_csv


def _circuit_rows(plan: Plan, qubits_as) -> list[dict]:
    """One row per transpiled circuit (router x ZNE scale): its statistics, the physical
    qubits as `qubits_as` gives them (a list for metrics.json, text for the CSV)."""
    return [
        {
            "variant": rc.router.variant,
            "seed": rc.router.seed,
            "scale": scale,
            "physical_qubits": qubits_as(rc.isa.qubits),
            **stats,
        }
        for rc in plan.routers
        for scale, stats in rc.stats.items()
    ]


def _record(plan: Plan, per_seed, table, needed, jobs, seconds: float) -> HardwareRecord:
    cfg, device, source = plan.cfg, plan.device, plan.source
    circuits = _circuit_rows(plan, list)
    local = device.simulator
    return HardwareRecord.model_validate(
        {
            "name": cfg.name,
            "source": {
                "path": str(source.path),
                "kind": source.kind,
                "name": source.name,
                "epochs": source.epochs,
                "early_stopping": source.early_stopping,
                "skipped": source.skipped,
            },
            "data": plan.routers[0].router.data,
            "target": {
                "text": device.text,
                "kind": device.kind,
                "backend": device.name,
                "num_qubits": device.num_qubits,
                "processor": device.processor,
                "simulator": device.simulator,
                **device.quality(),
            },
            "optimization_level": cfg.optimization_level,
            "seeds": source.seeds,
            "variants": source.variants,
            "shots": cfg.shots,
            "sampled_shots": cfg.sampled_shots,
            "calibration_shots": plan.calibration_shots if plan.calibrations else None,
            "mitigation": cfg.mitigation,
            "zne_scales": cfg.zne_scales if cfg.zne else None,
            "zne_extrapolation": cfg.zne_extrapolation if cfg.zne else None,
            "repeats": cfg.repeats,
            "methods": _methods(plan),
            "cost": plan.cost,
            "circuits": circuits,
            "per_seed": per_seed,
            "table": table,
            "shots_needed": needed,
            "baselines": source.baselines,
            "jobs": [
                {**j, "quantum_seconds": None if local else j["quantum_seconds"]} for j in jobs
            ],
            "wall_seconds": seconds,
        }
    )


def _methods(plan: Plan) -> dict:
    cfg = plan.cfg
    methods = {
        "gates": "the model's own readout of the sampled basis-state frequencies (grouped "
        "probabilities, or <Z> -> adapter -> softmax; top-k as configured), the classical "
        "experts applied in torch: the mixture's test accuracy on the target",
        "intervals": INTERVALS.format(
            repeats=cfg.repeats,
            sampled=cfg.sampled_shots,
            calibration=plan.calibration_shots if plan.calibrations else "(no)",
        ),
        "within_1pt": WITHIN_METHOD,
    }
    if cfg.readout:
        methods["readout"] = READOUT_METHOD
    if cfg.zne:
        methods["zne"] = ZNE_METHOD.format(
            scales=", ".join(map(str, cfg.zne_scales)), method=cfg.zne_extrapolation
        )
    methods["cost"] = rt.COST_MODEL
    return methods


def _write_files(path: Path, plan: Plan, per_seed: list[dict], table: list[dict]) -> None:
    rows = _circuit_rows(plan, lambda qubits: " ".join(map(str, qubits)))
    write_csv(path / "circuits.csv", rows)
    write_csv(
        path / "accuracy.csv",
        [
            {
                "variant": p["variant"],
                "seed": p["seed"],
                **row,
                "noiseless_accuracy": p["exact_accuracy"],
            }
            for p in per_seed
            for row in p["results"]
        ],
    )
    write_csv(path / "summary.csv", table)
    from qmoe_cli import figures  # matplotlib: only when drawing

    figures.hardware_curves(
        path / "accuracy_vs_shots.png",
        f"{plan.source.name} on {plan.device.text}",
        table,
        {name: float(np.mean(b["per_seed"])) for name, b in plan.source.baselines.items()},
    )


def print_plan(plan: Plan) -> None:
    cfg, device, cost = plan.cfg, plan.device, plan.cost
    quality = device.quality()
    about = [device.processor] if device.processor else []
    if quality["two_qubit_error"] is not None:
        about.append(f"median 2-qubit gate error {100 * quality['two_qubit_error']:.2f} %")
    if quality["readout_error"] is not None:
        about.append(f"readout error {100 * quality['readout_error']:.2f} %")
    out.print(
        f"{plan.source.name} ({plan.source.kind}, {len(plan.routers)} router(s): "
        f"{', '.join(plan.source.variants)} x seeds {', '.join(map(str, plan.source.seeds))}, "
        f"{len(plan.routers[0].router.x)} test inputs each) on {device.text} "
        f"[{device.name}{'; ' + '; '.join(about) if about else ''}], SamplerV2, "
        f"optimization level {cfg.optimization_level}",
        markup=False,
        highlight=False,
    )
    for line in plan.source.skipped:
        out.print(f"  skipped: {line}", markup=False, highlight=False)
    for rc in plan.routers:
        base = rc.stats[1]
        folds = "".join(
            f"; x{s}: depth {st['depth']}, {st['two_qubit_gates']} 2q"
            for s, st in rc.stats.items()
            if s != 1
        )
        duration = base["duration_seconds"]
        dur = f", {1e6 * duration:.2f} us" if duration is not None else ""
        out.print(
            f"  {rc.router.variant} seed {rc.router.seed}: physical qubits {rc.isa.qubits}, "
            f"depth {base['depth']}, {base['two_qubit_gates']} two-qubit gates{dur}{folds}",
            markup=False,
            highlight=False,
        )
    out.print(cost_text(cost, cfg), markup=False, highlight=False)


def cost_text(cost: dict, cfg: HardwareConfig) -> str:
    qpu = rt.human_seconds(cost["qpu_seconds"])
    if cost["qpu_seconds"] is None:
        qpu += f" ({cost['qpu_seconds_missing']})"
    lines = [
        f"cost estimate: {cost['circuits']:,} circuits in {cost['pubs']} PUBs, "
        f"{cost['jobs']} job(s), {cfg.sampled_shots:,} shots per circuit, "
        f"{cost['executions']:,} executions; QPU time ~ {qpu}"
    ]
    extra = [
        f"{m}: +{c['circuits']:,} circuits, +{c['shots']:,} shots, "
        f"+{rt.human_seconds(c['qpu_seconds'])}"
        for m, c in cost["by_mitigation"].items()
        if m != "none"
    ]
    if extra:
        lines.append("  mitigation adds: " + "; ".join(extra))
    if cost["rep_delay_seconds"] is not None:
        lines.append(
            f"  model: shots x (circuit duration + rep_delay {1e6 * cost['rep_delay_seconds']:g} "
            f"us) + {cost['job_overhead_seconds']:g} s per job (docs/hardware.md)"
        )
    return "\n".join(lines)


def print_results(plan: Plan, record: HardwareRecord, path: Path) -> None:
    cfg = plan.cfg
    baselines = plan.source.baselines
    for variant in plan.source.variants:
        rows = [r for r in record.table if r.variant == variant]
        n = rows[0].n_seeds
        who = plan.source.name if variant == plan.source.name else f"{plan.source.name} {variant}"
        table = Table(
            title=f"{who} on {plan.device.text}: test accuracy "
            f"({n} seed(s), {len(plan.routers[0].router.x)} inputs)",
            caption=f"shot-noise 95 % interval: {cfg.repeats} simulated repeats; noiseless: "
            "exact probabilities of the same weights",
        )
        for col in ("mitigation", "shots", "accuracy", "shot-noise 95 %", "noiseless", "diff"):
            table.add_column(col, justify="left" if col == "mitigation" else "right")
        for r in rows:
            acc = f"{r.accuracy_mean:.3f}"
            if r.accuracy_std is not None and not math.isnan(r.accuracy_std):
                acc += f" ± {r.accuracy_std:.3f}"
            table.add_row(
                r.mitigation,
                f"{r.shots:,}",
                acc,
                f"[{r.shot_low:.3f}, {r.shot_high:.3f}]",
                f"{r.noiseless_mean:.3f}",
                f"{100 * (r.accuracy_mean - r.noiseless_mean):+.1f} pt",
            )
        out.print(table)
        needed = [s for s in record.shots_needed if s.variant == variant]
        out.print(
            "within 1 point of noiseless (95 % of repeats): "
            + "; ".join(
                f"{s.mitigation}: {f'{s.shots:,} shots' if s.shots else 'not within the shots'}"
                for s in needed
            ),
            markup=False,
            highlight=False,
        )
    for name, b in baselines.items():
        out.print(
            f"classical baseline {name} ({b['router']} router, exact): "
            f"{np.mean(b['per_seed']):.3f} on the same inputs",
            markup=False,
            highlight=False,
        )
    total = sum(j.seconds for j in record.jobs)
    out.print(
        f"wall time {record.wall_seconds:.1f} s ({total:.1f} s in {len(record.jobs)} "
        f"Sampler job(s))",
        markup=False,
        highlight=False,
    )
    out.print(f"run folder: {path}", markup=False, highlight=False)
