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

import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from rich.table import Table

from qmoe_cli.config import (
    ExperimentConfig,
    HardwareConfig,
    dump_config,
    read_yaml,
    validate_config,
)
from qmoe_cli.errors import ConfigError, RunFolderError
from qmoe_cli.kinds import run_config_kind
from qmoe_cli.metrics import ACCURACY_RANGE, mean_ci
from qmoe_cli.models.moe import top_k_gates
from qmoe_cli.progress import err, out
from qmoe_cli.quantum import make_backend
from qmoe_cli.quantum import mitigation as mit
from qmoe_cli.quantum import runtime as rt
from qmoe_cli.quantum.spec import basis_bits
from qmoe_cli.records import HardwareRecord, write_record
from qmoe_cli.runs import RunFolder, environment, is_complete_run, write_csv, write_json
from qmoe_cli.runs.cells import read_cell

CLASSICAL_ROUTERS = ("linear", "mlp", "fourier")
CONFIDENCE = 0.95
WITHIN = 0.01  # "within 1 point of the exact accuracy"
INTERVALS = (
    "shot noise only (the test inputs are fixed): {repeats} simulated repeats of the whole "
    "experiment at each shot count s, every circuit's s shots drawn from the multinomial "
    "with the frequencies observed at {sampled} shots (calibration circuits likewise at "
    "their {calibration} shots), mitigated and scored like the measurement; the interval is "
    "the 2.5 and 97.5 % quantiles of the repeats (over seeds: of the repeats' mean over "
    "seeds). numpy default_rng(seed)"
)
READOUT_METHOD = (
    "tensored readout mitigation: per measured qubit, the assignment matrix P(read k | "
    "prepared j) from two calibration circuits on the same physical qubits (|0...0> and "
    "|1...1>), readout errors taken as independent between qubits; its inverse applied "
    "qubit by qubit, then the closest probability vector (Euclidean projection onto the "
    "simplex)"
)
ZNE_METHOD = (
    "zero-noise extrapolation: global unitary folding U (U^dagger U)^k of the transpiled "
    "circuit (inverses in the device's own gates, so it stays ISA) at scales {scales}; "
    "each basis-state probability extrapolated to zero noise ({method}), then projected "
    "onto the simplex; readout+zne mitigates the readout of every scale first"
)
WITHIN_METHOD = (
    "the smallest shot count whose 95 % shot-noise interval lies within 1 point of the "
    "noiseless accuracy (the exact probabilities of the same trained weights); null: none"
)


# --- the trained routers of a run folder ----------------------------------------------------


@dataclass
class TrainedRouter:
    """One trained quantum router (a variant x seed) and what it is scored on."""

    variant: str
    seed: int
    model: torch.nn.Module  # the whole mixture (its experts score the gates)
    x: torch.Tensor  # the test inputs evaluated
    y: torch.Tensor
    recorded_accuracy: float  # the run's own test accuracy (the whole test split)
    data: dict  # the seed's DataInfo

    @property
    def spec(self):
        return self.model.router.spec

    @property
    def weights(self) -> torch.Tensor:
        return self.model.router.weights.detach()


@dataclass
class Source:
    path: Path
    kind: str
    name: str
    routers: list[TrainedRouter]
    baselines: dict[str, dict]  # name -> {"router": type, "per_seed": [accuracy]}
    seeds: list[int]
    variants: list[str]
    epochs: int | None
    early_stopping: bool | None
    skipped: list[str] = field(default_factory=list)


def _train_config(folder: Path) -> ExperimentConfig:
    raw = read_yaml(folder / "config.yaml")
    raw.setdefault("kind", "train")
    raw["kind"] = "train"  # a group's sub-folder is a train-format folder
    return validate_config(raw, source=str(folder / "config.yaml"), schema=ExperimentConfig)


def _members(path: Path) -> tuple[str, str, list[tuple[str, Path]], list[tuple[str, Path]]]:
    """(kind, name, candidate router folders, baseline folders) of a run folder."""
    if not path.is_dir():
        raise RunFolderError(f"run folder not found: {path}")
    if not is_complete_run(path):
        raise RunFolderError(
            f"not a complete run folder: {path} (no metrics.json, or a .tmp/.failed folder)"
        )
    if not (path / "config.yaml").is_file():
        raise RunFolderError(
            f"not a run folder: {path} (no config.yaml; for a seed folder, give the run "
            "folder holding it)"
        )
    raw = read_yaml(path / "config.yaml")
    kind = run_config_kind(raw).name
    name = str(raw.get("name") or path.name)
    if kind == "train":
        return kind, name, [(name, path)], []
    if kind in ("ablate", "efficiency"):
        folders = [(p.name, p) for p in sorted((path / "variants").glob("*")) if p.is_dir()]
        return kind, name, folders, folders
    if kind == "noise-sweep":
        if raw.get("mode") == "train":
            raise ConfigError(
                f"{path}: a train-mode noise sweep trains a router per level: give one of its "
                f"{path / 'levels'}/eps=<level> folders"
            )
        base = [(p.name, p) for p in sorted((path / "baselines").glob("*")) if p.is_dir()]
        return kind, name, [("quantum", path / "quantum")], base
    raise ConfigError(
        f"{path}: a {kind!r} run has no trained routers; give a train, ablate, efficiency or "
        "evaluate-mode noise-sweep run folder"
    )


def load_source(cfg: HardwareConfig) -> Source:
    """The run's trained quantum routers with classical experts (the chosen variants and
    seeds), and its classical routers as baselines scored on the same inputs."""
    path = Path(cfg.run)
    kind, name, candidates, baseline_folders = _members(path)
    quantum, skipped, classical = [], [], []
    for variant, folder in candidates:
        vcfg = _train_config(folder)
        router, experts = vcfg.model.router.type, vcfg.model.experts.type
        if router == "quantum" and experts != "quantum":
            quantum.append((variant, folder, vcfg))
        elif router == "quantum":
            skipped.append(f"{variant} (quantum experts: not classical, not run here)")
    for variant, folder in baseline_folders:
        vcfg = _train_config(folder)
        if vcfg.model.router.type in CLASSICAL_ROUTERS:
            classical.append((variant, folder, vcfg))
    if not quantum:
        routers = sorted({_train_config(f).model.router.type for _, f in candidates})
        raise ConfigError(
            f"{path}: no trained quantum router with classical experts to run (model.router."
            f"type: {', '.join(routers) or 'none'}); qmoe hardware runs quantum routers"
        )
    if cfg.variants is not None:
        known = [v for v, _, _ in quantum]
        unknown = [v for v in cfg.variants if v not in known]
        if unknown:
            raise ConfigError(
                f"--variants: {', '.join(unknown)} not among the quantum variants of {path} "
                f"({', '.join(known)})"
            )
        quantum = [q for q in quantum if q[0] in cfg.variants]
    run_seeds = list(quantum[0][2].seeds)
    seeds = run_seeds if cfg.seeds is None else list(cfg.seeds)
    missing = [s for s in seeds if s not in run_seeds]
    if missing:
        raise ConfigError(
            f"--seeds: {', '.join(map(str, missing))} not trained in {path} "
            f"(seeds: {', '.join(map(str, run_seeds))})"
        )
    routers = []
    for variant, folder, vcfg in quantum:
        for seed in seeds:
            cell = read_cell(folder / f"seed-{seed}", vcfg, seed)
            x, y = cell.splits.tensors("test", torch.float64)
            n = len(x) if cfg.max_inputs is None else min(cfg.max_inputs, len(x))
            model = cell.model.double().eval()
            routers.append(
                TrainedRouter(
                    variant,
                    seed,
                    model,
                    x[:n],
                    y[:n],
                    float(cell.metrics["test_accuracy"]),
                    dict(cell.metrics["data"]),
                )
            )
    baselines = {}
    for variant, folder, vcfg in classical:
        accs = []
        for seed in seeds:
            cell = read_cell(folder / f"seed-{seed}", vcfg, seed)
            x, y = cell.splits.tensors("test", torch.float64)
            n = len(routers[0].x)
            with torch.no_grad():
                pred = cell.model.double().eval()(x[:n]).logits.argmax(dim=1)
            accs.append(float((pred == y[:n]).double().mean()))
        baselines[variant] = {"router": vcfg.model.router.type, "per_seed": accs}
    first = quantum[0][2]
    return Source(
        path.resolve(),
        kind,
        name,
        routers,
        baselines,
        seeds,
        [v for v, _, _ in quantum],
        first.train.epochs,
        first.train.early_stopping,
        skipped,
    )


# --- scoring gates ------------------------------------------------------------------------


def router_outputs(spec, probs: torch.Tensor) -> torch.Tensor:
    """Big-endian basis-state probabilities (..., 2^n) -> the circuit's outputs as the
    model reads them (spec.readout_from_probs, batched): grouped probabilities (..., E) or
    <Z_q> (..., n)."""
    if spec.readout == "probs":
        group = torch.zeros(2**spec.n_qubits, spec.n_experts, dtype=probs.dtype)
        group[torch.arange(2**spec.n_qubits), torch.as_tensor(spec.expert_of_basis_state())] = 1
        return probs @ group
    signs = torch.as_tensor(1 - 2 * basis_bits(spec.n_qubits), dtype=probs.dtype)
    return probs @ signs


@torch.no_grad()
def gates_of(model, probs: torch.Tensor) -> torch.Tensor:
    """The gates the model uses for these basis-state probabilities (..., B, 2^n):
    QuantumRouter's readout (grouped probabilities, or the adapter and a softmax over <Z>),
    then MixtureOfExperts' top-k if it has one."""
    router = model.router
    outputs = router_outputs(router.spec, probs)
    if router.adapter is not None:
        outputs = torch.softmax(router.adapter(outputs.to(router.adapter.weight.dtype)), dim=-1)
    if model.top_k is not None:
        shape = outputs.shape
        outputs = top_k_gates(outputs.reshape(-1, shape[-1]), model.top_k).reshape(shape)
    return outputs


@torch.no_grad()
def accuracy_of(model, expert_logits: torch.Tensor, y: torch.Tensor, probs) -> np.ndarray:
    """Test accuracy of the mixture with the gates of these probabilities (..., B, 2^n):
    y = sum_i g_i E_i(x), as MixtureOfExperts.forward; one accuracy per leading index."""
    gates = gates_of(model, torch.as_tensor(np.asarray(probs), dtype=torch.float64))
    logits = (gates.unsqueeze(-1) * expert_logits).sum(dim=-2)
    return (logits.argmax(dim=-1) == y).double().mean(dim=-1).numpy()


def exact_probs(router: TrainedRouter) -> np.ndarray:
    """The noiseless basis-state probabilities of the trained circuit (torch, big-endian)."""
    backend = make_backend(router.spec, "torch")
    with torch.no_grad():
        return backend.probs(router.weights, router.x).double().numpy()


def mitigated(method: str, freqs: dict[int, np.ndarray], cal, cfg: HardwareConfig) -> np.ndarray:
    """The distribution (..., B, 2^n) a mitigation method makes of the frequencies at each
    noise scale ({scale: (..., B, 2^n)}) and the calibration frequencies ((..., 2^n) for
    |0...0> and |1...1>, or None)."""
    if method == "none":
        return freqs[1]
    assignment = None
    if "readout" in method:
        assignment = mit.assignment_matrices(cal[0], cal[1])[..., None, :, :, :]
    if method == "readout":
        return mit.readout_mitigate(freqs[1], assignment)
    scales = cfg.zne_scales
    stack = [freqs[s] for s in scales]
    if method == "readout+zne":
        stack = [mit.readout_mitigate(f, assignment) for f in stack]
    return mit.zne_probs(np.stack(stack, axis=-2), scales, cfg.zne_extrapolation)


# --- the plan: circuits, PUBs, cost -----------------------------------------------------------


@dataclass
class RouterCircuits:
    router: TrainedRouter
    isa: rt.IsaCircuit
    circuits: dict[int, object]  # scale -> measured ISA circuit
    stats: dict[int, dict]
    values: np.ndarray  # (inputs, parameters)


@dataclass
class Plan:
    cfg: HardwareConfig
    device: rt.Device
    source: Source
    routers: list[RouterCircuits]
    calibrations: dict[tuple, tuple]  # physical qubits -> (|0..0>, |1..1>) circuits
    pubs: list[rt.Pub]
    cost: dict

    @property
    def calibration_shots(self) -> int:
        return self.cfg.calibration_shots or self.cfg.sampled_shots


def make_plan(cfg: HardwareConfig, source: Source, device: rt.Device) -> Plan:
    """Every circuit transpiled for the device, the PUBs and the cost estimate."""
    scales = cfg.zne_scales if cfg.zne else [1]
    routers, calibrations = [], {}
    for i, r in enumerate(source.routers):
        isa = rt.transpile_router(r.spec, r.weights, device, cfg.optimization_level, cfg.seed + i)
        circuits = {1: isa.circuit}
        for s in scales[1:]:
            folded = mit.fold_global(isa.unmeasured, s, device.target)
            circuits[s] = rt.measured(folded, isa.qubits)
        stats = {s: rt.circuit_stats(c, device) for s, c in circuits.items()}
        routers.append(RouterCircuits(r, isa, circuits, stats, isa.values(r.x.numpy())))
        if cfg.readout and tuple(isa.qubits) not in calibrations:
            calibrations[tuple(isa.qubits)] = rt.calibration_circuits(isa.qubits, device, cfg.seed)
    pubs, costed = [], []
    for i, rc in enumerate(routers):
        for s, circuit in rc.circuits.items():
            pubs.append(rt.Pub(("router", i, s), circuit, rc.values))
            costed.append((circuit, len(rc.values), "router" if s == 1 else "zne"))
    for qubits, pair in calibrations.items():
        for prep, circuit in enumerate(pair):
            pubs.append(rt.Pub(("calibration", qubits, prep), circuit))
            costed.append((circuit, 1, "readout"))
    cost = rt.estimate_cost(costed, device, cfg.sampled_shots)
    if calibrations and (cfg.calibration_shots or cfg.sampled_shots) != cfg.sampled_shots:
        cost = _with_calibration_shots(cost, costed, device, cfg)
    cost["by_mitigation"] = _mitigation_cost(cost, cfg)
    return Plan(cfg, device, source, routers, calibrations, pubs, cost)


def _with_calibration_shots(cost: dict, costed, device, cfg: HardwareConfig) -> dict:
    """The estimate with the calibration circuits at their own shot count."""
    main = rt.estimate_cost([c for c in costed if c[2] != "readout"], device, cfg.sampled_shots)
    cal = rt.estimate_cost([c for c in costed if c[2] == "readout"], device, cfg.calibration_shots)
    total = dict(main)
    total["circuits"] += cal["circuits"]
    total["pubs"] += cal["pubs"]
    total["jobs"] += cal["jobs"]
    total["executions"] += cal["executions"]
    if main["qpu_seconds"] is not None and cal["qpu_seconds"] is not None:
        total["qpu_seconds"] = main["qpu_seconds"] + cal["qpu_seconds"]
    total["by"] = {**main["by"], **cal["by"]}
    return total


def _mitigation_cost(cost: dict, cfg: HardwareConfig) -> dict:
    """What each mitigation adds to the unmitigated run (circuits, shots, QPU seconds)."""
    by = cost["by"]
    zero = {"circuits": 0, "shots": 0, "qpu_seconds": 0.0}

    def plus(*parts):
        out = dict(zero)
        for part in parts:
            p = by.get(part, zero)
            out["circuits"] += p["circuits"]
            out["shots"] += p["shots"]
            q = p["qpu_seconds"]
            out["qpu_seconds"] = (
                None if q is None or out["qpu_seconds"] is None else out["qpu_seconds"] + q
            )
        return out

    parts = {
        "none": (),
        "readout": ("readout",),
        "zne": ("zne",),
        "readout+zne": ("readout", "zne"),
    }
    return {m: plus(*parts[m]) for m in cfg.mitigation}


# --- running and scoring --------------------------------------------------------------------


def score(plan: Plan, samples: dict) -> tuple[list[dict], dict]:
    """Per router: the accuracy at every shot count and mitigation (the measured point and
    its repeats), and the repeats kept to pool over seeds."""
    cfg = plan.cfg
    shots, sampled, repeats = cfg.shots, cfg.sampled_shots, cfg.repeats
    scales = cfg.zne_scales if cfg.zne else [1]
    per_seed, kept = [], {}
    for i, rc in enumerate(plan.routers):
        r = rc.router
        k = 2**r.spec.n_qubits
        with torch.no_grad():
            expert_logits = r.model.experts(r.x)
        exact = exact_probs(r)
        exact_acc = float(accuracy_of(r.model, expert_logits, r.y, exact))
        exact_gates = gates_of(r.model, torch.as_tensor(exact)).numpy()
        raw = {s: samples[("router", i, s)] for s in scales}
        cal_raw = None
        if plan.calibrations:
            q = tuple(rc.isa.qubits)
            cal_raw = (samples[("calibration", q, 0)], samples[("calibration", q, 1)])
        cal_shots = plan.calibration_shots
        cal_freq = (
            None if cal_raw is None else tuple(rt.counts(c, k)[0] / cal_shots for c in cal_raw)
        )
        full = {s: rt.counts(raw[s], k) / sampled for s in scales}  # p-hat at S shots
        rng = np.random.default_rng([cfg.seed, i])
        results, tvd, within = [], {}, {}
        for n_shots in shots:
            point = {s: rt.counts(raw[s], k, n_shots) / n_shots for s in scales}
            boot = {
                s: rng.multinomial(n_shots, full[s], size=(repeats, len(r.x))) / n_shots
                for s in scales
            }
            boot_cal = None
            if cal_freq is not None:
                boot_cal = tuple(
                    rng.multinomial(cal_shots, f, size=repeats) / cal_shots for f in cal_freq
                )
            for method in cfg.mitigation:
                probs = mitigated(method, point, cal_freq, cfg)
                acc = float(accuracy_of(r.model, expert_logits, r.y, probs))
                reps = accuracy_of(
                    r.model, expert_logits, r.y, mitigated(method, boot, boot_cal, cfg)
                )
                low, high = np.quantile(reps, [(1 - CONFIDENCE) / 2, (1 + CONFIDENCE) / 2])
                results.append(
                    {
                        "mitigation": method,
                        "shots": n_shots,
                        "accuracy": acc,
                        "repeat_mean": float(reps.mean()),
                        "low": float(low),
                        "high": float(high),
                    }
                )
                kept[(r.variant, r.seed, method, n_shots)] = reps
                if n_shots == sampled:
                    g = gates_of(r.model, torch.as_tensor(probs)).numpy()
                    tvd[method] = float(0.5 * np.abs(g - exact_gates).sum(axis=-1).mean())
        for method in cfg.mitigation:
            within[method] = next(
                (
                    row["shots"]
                    for row in results
                    if row["mitigation"] == method
                    and exact_acc - WITHIN <= row["low"]
                    and row["high"] <= exact_acc + WITHIN
                ),
                None,
            )
        per_seed.append(
            {
                "variant": r.variant,
                "seed": r.seed,
                "n_inputs": len(r.x),
                "exact_accuracy": exact_acc,
                "recorded_accuracy": r.recorded_accuracy,
                "gate_tvd": tvd,
                "shots_within_1pt": within,
                "results": results,
            }
        )
    return per_seed, kept


def summarize(plan: Plan, per_seed: list[dict], kept: dict) -> tuple[list[dict], list[dict]]:
    """Over seeds, per (variant, mitigation, shots): the accuracy's mean with its
    t-interval over seeds, the shot-noise interval of that mean, the noiseless mean; and the
    smallest shot count within 1 point of the noiseless mean."""
    cfg = plan.cfg
    rows, needed = [], []
    for variant in plan.source.variants:
        seeds = [p for p in per_seed if p["variant"] == variant]
        noiseless = float(np.mean([p["exact_accuracy"] for p in seeds]))
        for method in cfg.mitigation:
            first = None
            for n_shots in cfg.shots:
                accs = [
                    next(
                        row["accuracy"]
                        for row in p["results"]
                        if row["mitigation"] == method and row["shots"] == n_shots
                    )
                    for p in seeds
                ]
                stat = mean_ci(accs, bounds=ACCURACY_RANGE)
                pooled = np.mean(
                    [kept[(variant, p["seed"], method, n_shots)] for p in seeds], axis=0
                )
                low, high = np.quantile(pooled, [(1 - CONFIDENCE) / 2, (1 + CONFIDENCE) / 2])
                rows.append(
                    {
                        "variant": variant,
                        "mitigation": method,
                        "shots": n_shots,
                        "n_seeds": len(seeds),
                        "accuracy_mean": stat["mean"],
                        "accuracy_std": stat["std"],
                        "accuracy_ci_low": stat["ci_low"],
                        "accuracy_ci_high": stat["ci_high"],
                        "shot_low": float(low),
                        "shot_high": float(high),
                        "noiseless_mean": noiseless,
                    }
                )
                if first is None and noiseless - WITHIN <= low and high <= noiseless + WITHIN:
                    first = n_shots
            needed.append({"variant": variant, "mitigation": method, "shots": first})
    return rows, needed


# --- the command ---------------------------------------------------------------------------------


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


# --- printing --------------------------------------------------------------------------------


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


# --- the kind's entries (qmoe_cli/kinds.py) -------------------------------------------------------


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
