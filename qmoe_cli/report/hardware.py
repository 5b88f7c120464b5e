"""The report's section for `qmoe hardware` runs (named in qmoe_cli/kinds.py): per run, the
device, the transpiled circuits, the cost estimate, the accuracy per mitigation and shot
count beside the noiseless accuracy and the classical baselines, and the figure."""

from __future__ import annotations

import math

import numpy as np

from qmoe_cli import records
from qmoe_cli.report import fmt
from qmoe_cli.report.audit import Paper
from qmoe_cli.report.inputs import Run
from qmoe_cli.report.render import Block, Bullets, Heading, Para, Table
from qmoe_cli.report.tables import FigureFn

METHOD_NAMES = {
    "gates": "Gates and accuracy",
    "intervals": "Shot-noise intervals",
    "within_1pt": "Shots needed",
    "readout": "Readout mitigation",
    "zne": "Zero-noise extrapolation",
    "cost": "Cost model",
}


def sections(runs: list[Run], figure: FigureFn, paper: Paper) -> list[Block]:
    blocks: list[Block] = [Heading(2, "Hardware runs")]
    if not runs:
        blocks.append(Para("Not measured: no hardware run was given (`qmoe hardware`)."))
    for run in runs:
        blocks += section(run, figure)
    return blocks


def _pct(x: float | None) -> str:
    return "n/a" if x is None or not math.isfinite(x) else f"{100 * x:.2f} %"


def device_text(rec: records.HardwareRecord) -> str:
    t = rec.target
    parts = [t.backend]
    if t.processor:
        parts.append(t.processor)
    if t.two_qubit_error is not None:
        parts.append(f"median 2-qubit gate error {_pct(t.two_qubit_error)}")
    if t.readout_error is not None:
        parts.append(f"median readout error {_pct(t.readout_error)}")
    where = "simulated offline" if t.simulator else "a real device"
    return f"{t.text} ({'; '.join(parts)}; {where})"


def section(run: Run, figure: FigureFn) -> list[Block]:
    rec = run.record
    if not isinstance(rec, records.HardwareRecord):
        return []
    n_inputs = rec.per_seed[0].n_inputs
    blocks: list[Block] = [
        Heading(3, f"{rec.source.name} on {rec.target.text} ({run.label})"),
        Para(
            f"The trained quantum router(s) of {rec.source.path} ({rec.source.kind}; variants "
            f"{', '.join(rec.variants)}; seeds {', '.join(map(str, rec.seeds))}; {n_inputs} "
            f"test inputs each) run through qiskit-ibm-runtime's SamplerV2 on "
            f"{device_text(rec)}, transpiled at optimization level {rec.optimization_level}; "
            f"{rec.sampled_shots:,} shots sampled per circuit, smaller shot counts being its "
            f"first shots. {len(rec.jobs)} Sampler job(s), wall time {rec.wall_seconds:.1f} s."
        ),
        circuits_table(rec),
        accuracy_table(rec),
        Para(within_text(rec)),
        Para(cost_paragraph(rec)),
        Para("Methods:"),
        Bullets([f"{METHOD_NAMES.get(k, k)}: {v}." for k, v in rec.methods.items()]),
    ]
    fig = figure(run, "accuracy_vs_shots.png", f"{run.label} test accuracy against shots")
    if fig:
        blocks.append(fig)
    return blocks


def circuits_table(rec: records.HardwareRecord) -> Table:
    rows = []
    for c in rec.circuits:
        rows.append(
            [
                c.variant,
                str(c.seed),
                "router" if c.scale == 1 else f"ZNE fold x{c.scale}",
                " ".join(map(str, c.physical_qubits)),
                str(c.depth),
                str(c.two_qubit_gates),
                "n/a" if c.duration_seconds is None else f"{1e6 * c.duration_seconds:.2f}",
                "n/a" if c.esp is None else f"{c.esp:.3f}",
            ]
        )
    return Table(
        ["variant", "seed", "circuit", "physical qubits", "depth", "2-qubit gates", "us", "ESP"],
        rows,
        f"Transpiled circuits on {rec.target.text} (depth and 2-qubit gates of the ISA circuit "
        "with its measurements; us: the longest path through the device's gate durations; "
        "ESP: product of 1 - error over its instructions)",
    )


def accuracy_table(rec: records.HardwareRecord) -> Table:
    base = {name: float(np.mean(b.per_seed)) for name, b in rec.baselines.items()}
    rows = []
    for r in rec.table:
        ci = (
            "n/a"
            if r.accuracy_ci_low is None
            else f"[{fmt.num(r.accuracy_ci_low)}, {fmt.num(r.accuracy_ci_high)}]"
        )
        std = "" if r.accuracy_std is None else f" ± {fmt.num(r.accuracy_std)}"
        rows.append(
            [
                r.variant,
                r.mitigation,
                f"{r.shots:,}",
                f"{fmt.num(r.accuracy_mean)}{std}",
                ci,
                f"[{fmt.num(r.shot_low)}, {fmt.num(r.shot_high)}]",
                fmt.num(r.noiseless_mean),
                *(f"{100 * (r.accuracy_mean - v):+.1f} pt" for v in base.values()),
            ]
        )
    return Table(
        [
            "variant",
            "mitigation",
            "shots",
            "accuracy (mean ± std over seeds)",
            "95 % CI over seeds",
            "95 % shot-noise interval",
            "noiseless",
            *(
                f"vs {name} ({rec.baselines[name].router}, {fmt.num(v)})"
                for name, v in base.items()
            ),
        ],
        rows,
        f"Test accuracy on {rec.target.text} ({len(rec.seeds)} seed(s)); noiseless: the exact "
        "probabilities of the same trained weights; baselines: the run's classical routers, "
        "exact, on the same inputs",
    )


def within_text(rec: records.HardwareRecord) -> str:
    parts = [
        f"{s.variant} {s.mitigation}: "
        + (f"{s.shots:,} shots" if s.shots else "not within the shot counts run")
        for s in rec.shots_needed
    ]
    return (
        "Smallest shot count whose 95 % shot-noise interval lies within 1 point of the "
        "noiseless accuracy: " + "; ".join(parts) + "."
    )


def _seconds(x: float | None) -> str:
    if x is None:
        return "n/a"
    return f"{x:.1f} s" if x < 120 else f"{x / 60:.1f} min" if x < 7200 else f"{x / 3600:.1f} h"


def cost_paragraph(rec: records.HardwareRecord) -> str:
    c = rec.cost
    qpu = _seconds(c.qpu_seconds) if c.qpu_seconds is not None else f"n/a ({c.qpu_seconds_missing})"
    extra = "; ".join(
        f"{m} +{p.circuits:,} circuits, +{p.shots:,} shots, +{_seconds(p.qpu_seconds)}"
        for m, p in c.by_mitigation.items()
        if m != "none"
    )
    used = [j.quantum_seconds for j in rec.jobs if j.quantum_seconds is not None]
    real = f" The device reported {sum(used):.1f} quantum seconds." if used else ""
    return (
        f"Cost estimate (printed before running): {c.circuits:,} circuits in {c.pubs} PUBs and "
        f"{c.jobs} job(s), {c.shots_per_circuit:,} shots each, {c.executions:,} executions; "
        f"QPU time ~ {qpu}" + (f"; mitigation adds: {extra}" if extra else "") + f".{real}"
    )
