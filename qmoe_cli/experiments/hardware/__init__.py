"""`qmoe hardware RUN_DIR --target NAME`: the trained quantum routers of a run folder run
through qiskit-ibm-runtime's SamplerV2 on a target (a fake IBM device offline, Aer, or a real
device), with shots, transpilation, error mitigation and a cost estimate (docs/hardware.md).

What runs: each trained router (a variant x seed of the run folder) is one ISA circuit with
its weights bound and its inputs as parameters, sent as one PUB whose parameter-value array
holds the test inputs (quantum/runtime.py); with ZNE, its folded copies (scales 3, 5, ...)
as PUBs of their own; with readout mitigation, two calibration circuits per set of measured
physical qubits. Everything is sampled once at the largest shot count S; a smaller count s
is the first s shots of every circuit (shots are independent draws, so that is an s-shot
experiment). The basis-state frequencies, mitigated or not, become the router's gates as the
model computes them from exact probabilities (grouped probabilities; or <Z> -> adapter ->
softmax), and the classical experts are applied in torch on those gates (models/moe.py),
so the accuracy is the mixture's test accuracy on the target.

Shot noise (`INTERVALS`): at each s the accuracy of R simulated repeats of the whole s-shot
experiment, every circuit's s shots drawn from the multinomial with the frequencies observed
at S shots (calibration circuits likewise at their own shot count); the 95 % interval is the
2.5 and 97.5 % quantiles of the repeats. The smallest s whose interval lies within 1 point
of the noiseless (exact) accuracy is reported per mitigation.

    <run>/config.yaml env.json metrics.json (HardwareRecord) cost.json
    <run>/circuits.csv  accuracy.csv (per seed)  summary.csv (over seeds)
    <run>/accuracy_vs_shots.png
"""

from __future__ import annotations

import time
from pathlib import Path

from qmoe_cli.config import (
    HardwareConfig,
    dump_config,
)
from qmoe_cli.errors import ConfigError
from qmoe_cli.experiments.hardware.output import (
    _record,
    _write_files,
    print_plan,
    print_results,
)
from qmoe_cli.experiments.hardware.plan import Plan, make_plan
from qmoe_cli.experiments.hardware.scoring import (
    accuracy_of,
    exact_probs,
    gates_of,
    score,
    summarize,
)
from qmoe_cli.experiments.hardware.source import load_source
from qmoe_cli.progress import err, out
from qmoe_cli.quantum import runtime as rt
from qmoe_cli.records import write_record
from qmoe_cli.runs import RunFolder, environment, write_json


def run_hardware(cfg: HardwareConfig, out_dir: str | Path, dry_run: bool = False) -> Path | None:
    """Load the run's routers, transpile, print the cost; unless `dry_run`, sample, score
    and write the run folder (returned)."""
    started = time.perf_counter()
    source = load_source(cfg)
    device = rt.open_target(cfg.target, cfg.seed)
    plan = make_plan(cfg, source, device)
    print_plan(plan)
    if dry_run:
        out.print("dry run: nothing was sampled and no run folder was written")
        return None
    with RunFolder(out_dir, cfg.name, dump_config(cfg)) as folder:
        write_json(folder.path / "env.json", environment())
        write_json(folder.path / "cost.json", plan.cost)

        def on_job(j: int, n: int, record: dict) -> None:
            err.print(
                f"job {j + 1}/{n}: {record['circuits']} circuits, {record['executions']:,} "
                f"executions, {record['seconds']:.1f} s",
                markup=False,
                highlight=False,
            )

        err.print(
            f"sampling on {device.text} ({len(plan.pubs)} PUBs, {plan.cost['jobs']} job(s))...",
            markup=False,
            highlight=False,
        )
        samples, jobs = _sample(plan, on_job)
        per_seed, kept = score(plan, samples)
        table, needed = summarize(plan, per_seed, kept)
        record = _record(plan, per_seed, table, needed, jobs, time.perf_counter() - started)
        _write_files(folder.path, plan, per_seed, table)
        write_record(folder.path / "metrics.json", record)
    print_results(plan, record, folder.path)
    return folder.path


def _sample(plan: Plan, on_job) -> tuple[dict, list[dict]]:
    """The router PUBs at the sampled shots; calibration PUBs at theirs (one more set of
    jobs when the counts differ)."""
    cfg = plan.cfg
    main = [p for p in plan.pubs if p.key[0] == "router"]
    cal = [p for p in plan.pubs if p.key[0] == "calibration"]
    if not cal or plan.calibration_shots == cfg.sampled_shots:
        return rt.sample(plan.pubs, plan.device, cfg.sampled_shots, on_job)
    samples, jobs = rt.sample(main, plan.device, cfg.sampled_shots, on_job)
    more, more_jobs = rt.sample(cal, plan.device, plan.calibration_shots, on_job)
    return {**samples, **more}, jobs + more_jobs


def run(
    cfg: HardwareConfig, out_dir: str | Path, *, jobs: int = 1, resume: Path | None = None
) -> Path:
    """The kind's runner (qmoe_cli/kinds.py): the Sampler jobs are the work; a hardware run
    does not resume (`resume` must be None)."""
    if resume is not None:
        raise ConfigError("--resume: a hardware run does not resume; run it again")
    path = run_hardware(cfg, out_dir)
    assert path is not None
    return path


def sweep_rows(metrics: dict) -> list[dict]:
    """A sweep's rows from this kind's metrics.json: one per router seed, mitigation and shot
    count, named in `variant` (`B readout 1000 shots`) so the sweep's summary averages each
    over its seeds."""
    return [
        {
            "variant": f"{p['variant']} {r['mitigation']} {r['shots']} shots",
            "target": metrics["target"]["text"],
            "mitigation": r["mitigation"],
            "shots": r["shots"],
            "test_accuracy": r["accuracy"],
            "noiseless_accuracy": p["exact_accuracy"],
        }
        for p in metrics["per_seed"]
        for r in p["results"]
    ]


__all__ = [
    "accuracy_of",
    "exact_probs",
    "gates_of",
    "load_source",
    "run",
    "run_hardware",
    "sweep_rows",
]
