"""The plan of a hardware run: every router's circuits (and ZNE's folded copies, readout
calibration), the PUBs they make and what they cost."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qmoe_cli.config import (
    HardwareConfig,
)
from qmoe_cli.experiments.hardware.source import Source, TrainedRouter
from qmoe_cli.quantum import mitigation as mit
from qmoe_cli.quantum import runtime as rt


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
