"""The scans of `qmoe diagnose`: one cell per (ansatz, initialisation, layers, qubits) of
the gradient-variance scan and per (ansatz, layers, qubits) of the expressibility scan, each
written to cells/<key>.json when done, so an interrupted scan computes only the missing
cells when run again (each cell's random draws come from its own seed)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

from qmoe_cli.config import DiagnoseConfig
from qmoe_cli.errors import ConfigError
from qmoe_cli.quantum import expressibility as ex
from qmoe_cli.quantum import trainability as tr
from qmoe_cli.quantum.spec import CircuitSpec
from qmoe_cli.runs import write_text
from qmoe_cli.workers import raise_if_interrupted

MAX_TRAINABILITY_QUBITS = 16
MAX_EXPRESSIBILITY_QUBITS = 14


def _gib(n_bytes: float) -> str:
    return f"{n_bytes / 2**30:.1f} GiB"


def check_sizes(cfg: DiagnoseConfig) -> None:
    """One line, exit 2, for a scan too wide to run, with what it would cost."""
    if "trainability" in cfg.scans:
        n, layers = max(cfg.qubits), max(cfg.layers)
        if n > MAX_TRAINABILITY_QUBITS:
            per_sample = tr.saved_bytes(n, layers, "identity")
            raise ConfigError(
                f"--qubits: {n} qubits is too wide for the trainability scan: each of the "
                f"{cfg.samples} samples at {layers} layers keeps {_gib(per_sample)} of states "
                f"for autograd ({_gib(per_sample * cfg.samples)} per cell, run in chunks) and "
                f"each layer costs 2^{n - 12} = {2 ** (n - 12)}x a 12-qubit one or more; "
                f"qmoe diagnose scans at most {MAX_TRAINABILITY_QUBITS} qubits"
            )
    if "expressibility" in cfg.scans:
        n = max(cfg.expressibility_qubits)
        if n > MAX_EXPRESSIBILITY_QUBITS:
            states = 2 * cfg.pairs * 2**n * 16
            raise ConfigError(
                f"--expressibility-qubits: {n} qubits is too wide for the expressibility "
                f"scan: {2 * cfg.pairs:,} states of 2^{n} amplitudes ({_gib(states)} of "
                f"states per cell); qmoe diagnose scans at most {MAX_EXPRESSIBILITY_QUBITS} "
                "qubits"
            )


def trainability_keys(cfg: DiagnoseConfig) -> list[tuple[str, str, int, int]]:
    return [
        (a, i, layers, n)
        for a in cfg.ansatze
        for i in cfg.inits
        for layers in cfg.layers
        for n in cfg.qubits
    ]


def expressibility_keys(cfg: DiagnoseConfig) -> list[tuple[str, int, int]]:
    return [
        (a, layers, n)
        for a in cfg.ansatze
        for layers in cfg.layers
        for n in cfg.expressibility_qubits
    ]


def cell(folder: Path, key: str, compute: Callable[[], dict]) -> dict:
    """The cell's result: read back when a previous run wrote it, else computed and
    written whole."""
    path = folder / "cells" / f"{key}.json"
    if path.is_file():
        return json.loads(path.read_text())
    raise_if_interrupted()
    result = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text(path, json.dumps(result))
    return result


def trainability(cfg: DiagnoseConfig, folder: Path, advance: Callable[[], None]) -> list[dict]:
    rows = []
    for ansatz, init, layers, n in trainability_keys(cfg):
        key = f"trainability-{ansatz}-{init}-L{layers}-n{n}"
        spec = CircuitSpec(n, layers, n, 2, ansatz=ansatz, embedding=cfg.embedding)

        def compute(spec=spec, init=init, key=key) -> dict:
            started = time.perf_counter()
            seed = tr.cell_seed(cfg.seed, key)
            result = tr.gradient_variance(spec, init, cfg.samples, seed, cfg.small_angle)
            return {"costs": result, "seconds": time.perf_counter() - started}

        result = cell(folder, key, compute)
        for cost in tr.COSTS:
            rows.append(
                {
                    "ansatz": ansatz,
                    "init": init,
                    "cost": cost,
                    "layers": layers,
                    "qubits": n,
                    **result["costs"][cost],
                    "samples": cfg.samples,
                }
            )
        advance()
    return rows


def decays(cfg: DiagnoseConfig, rows: list[dict]) -> list[dict]:
    out = []
    for ansatz in cfg.ansatze:
        for init in cfg.inits:
            for cost in tr.COSTS:
                for layers in cfg.layers:
                    curve = sorted(
                        (r["qubits"], r["variance"])
                        for r in rows
                        if (r["ansatz"], r["init"], r["cost"], r["layers"])
                        == (ansatz, init, cost, layers)
                    )
                    qubits = [q for q, _ in curve]
                    fit = tr.decay(qubits, [v for _, v in curve])
                    out.append(
                        {
                            "ansatz": ansatz,
                            "init": init,
                            "cost": cost,
                            "layers": layers,
                            "qubits": qubits,
                            **fit,
                        }
                    )
    return out


def expressibility(cfg: DiagnoseConfig, folder: Path, advance: Callable[[], None]) -> list[dict]:
    rows = []
    for ansatz, layers, n in expressibility_keys(cfg):
        key = f"expressibility-{ansatz}-L{layers}-n{n}"
        spec = CircuitSpec(n, layers, 1, 2, ansatz=ansatz)

        def compute(spec=spec, key=key) -> dict:
            return ex.ansatz_descriptors(spec, cfg.pairs, tr.cell_seed(cfg.seed, key))

        result = cell(folder, key, compute)
        rows.append(
            {
                "ansatz": ansatz,
                "layers": layers,
                "qubits": n,
                "expressibility": result["expressibility"],
                "entangling_capability": result["entangling_capability"],
                "entangling_std": result["entangling_std"],
                "mean_fidelity": result["mean_fidelity"],
                "haar_entangling": ex.haar_mean_meyer_wallach(n),
                "pairs": result["pairs"],
            }
        )
        advance()
    return rows
