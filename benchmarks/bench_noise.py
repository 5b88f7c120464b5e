"""Speed and agreement of the noisy (density-matrix) simulators, measured in the same run.

    .venv/bin/python benchmarks/bench_noise.py              # 2, 4 and 6 qubits
    .venv/bin/python benchmarks/bench_noise.py --quick      # 2 and 4 qubits, one repeat
    .venv/bin/python benchmarks/bench_noise.py --json out.json

Exact noisy basis-state probabilities of 1000 inputs (paper placement, depolarizing 0.01
after every gate, ry_cz, 3 layers, rx embedding, float64, inference) from qmoe's
TorchDensityMatrix (strategy "auto": superoperator up to 4 qubits, gate by gate on the
batch above), Qiskit Aer's density-matrix method (AerDensityMatrixBackend, all inputs in
one run call) and PennyLane default.mixed (MixedBackend, broadcast over the inputs). One
thread each: torch.set_num_threads(1), Aer max_parallel_threads=1. Times are medians of
`--repeats` runs after a warm-up call; runs longer than a few seconds are repeated less
(the table says how many). default.mixed is skipped where a 100-input probe extrapolates
to more than 60 s. Targets: Aer / torch >= 10x at 4 and 6 qubits; max |torch - Aer| <= 1e-6
(the exit code is 1 if the agreement fails, not for a missed speed target).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from qmoe_cli.quantum.noise import NoiseSpec  # noqa: E402
from qmoe_cli.quantum.pennylane_backend import MixedBackend  # noqa: E402
from qmoe_cli.quantum.qiskit_backend import AerDensityMatrixBackend  # noqa: E402
from qmoe_cli.quantum.spec import CircuitSpec  # noqa: E402
from qmoe_cli.quantum.torch_density import TorchDensityMatrix  # noqa: E402

console = Console(width=160)  # the tables stay readable in a pipe or a file
EPS, LAYERS, INPUTS = 0.01, 3, 1000
MIXED_LIMIT_S = 60.0
SLOW_S = 2.0  # calls longer than this are not warmed up separately and repeated less
AGREEMENT = 1e-6
SPEED_TARGET = 10.0


def timed(fn, repeats: int) -> tuple[float, int, object]:
    """(median seconds, number of timed runs, last result). A warm-up call is discarded
    unless it alone took more than SLOW_S, in which case it counts and at most two more
    runs are timed."""
    start = time.perf_counter()
    result = fn()
    first = time.perf_counter() - start
    times = [first] if first > SLOW_S else []
    more = min(repeats, 2) - 1 if first > SLOW_S else repeats
    for _ in range(max(more, 0)):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), len(times), result


def torch_strategy(sim: TorchDensityMatrix) -> str:
    return sim._strategy()


def measure(n_qubits: int, repeats: int) -> dict:
    spec = CircuitSpec(n_qubits, LAYERS, 2, 2, "ry_cz", "rx", "probs")
    noise = NoiseSpec(EPS, EPS, "paper")
    g = torch.Generator().manual_seed(n_qubits)
    weights = torch.rand(spec.weight_shape, generator=g, dtype=torch.float64) * 2 * math.pi
    x = torch.rand(INPUTS, 2, generator=g, dtype=torch.float64) * math.pi
    row: dict = {"qubits": n_qubits}

    sim = TorchDensityMatrix(spec, noise)
    row["torch_strategy"] = torch_strategy(sim)
    with torch.no_grad():
        row["torch_s"], row["torch_runs"], p_torch = timed(lambda: sim.probs(weights, x), repeats)
    log(n_qubits, f"torch ({row['torch_strategy']})", row["torch_s"], row["torch_runs"])

    aer = AerDensityMatrixBackend(spec, noise)
    aer.simulator.set_options(max_parallel_threads=1)
    row["aer_s"], row["aer_runs"], p_aer = timed(lambda: aer.probs(weights, x), repeats)
    log(n_qubits, "aer", row["aer_s"], row["aer_runs"])
    row["aer_over_torch"] = row["aer_s"] / row["torch_s"]
    row["max_abs_diff_torch_aer"] = (p_torch - p_aer).abs().max().item()

    mixed = MixedBackend(spec, noise)
    with torch.no_grad():
        start = time.perf_counter()
        mixed.probs(weights, x[:100])
        estimate = (time.perf_counter() - start) * INPUTS / 100
    row["mixed_estimate_s"] = estimate
    if estimate > MIXED_LIMIT_S:
        row["mixed_s"] = row["mixed_runs"] = row["max_abs_diff_torch_mixed"] = None
        console.log(
            f"{n_qubits} qubits: default.mixed skipped (100-input probe: ~{estimate:.0f} s)"
        )
    else:
        with torch.no_grad():
            row["mixed_s"], row["mixed_runs"], p_mixed = timed(
                lambda: mixed.probs(weights, x), repeats
            )
        log(n_qubits, "default.mixed", row["mixed_s"], row["mixed_runs"])
        row["mixed_over_torch"] = row["mixed_s"] / row["torch_s"]
        row["max_abs_diff_torch_mixed"] = (p_torch - p_mixed).abs().max().item()
    return row


def log(n: int, name: str, seconds: float, runs: int) -> None:
    console.log(f"{n} qubits: {name:28s} {seconds * 1e3:10.1f} ms (median of {runs})")


def seconds(value, runs) -> str:
    if value is None:
        return "skipped"
    return f"{value * 1e3:.1f} ms" + (
        "" if runs is None or runs >= 3 else f" ({runs} run{'s' if runs > 1 else ''})"
    )


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="2 and 4 qubits, one timed run each")
    ap.add_argument("--json", type=Path, help="write every figure to this JSON file")
    ap.add_argument("--repeats", type=int, default=3, help="timed runs per method (median)")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)  # as qmoe trains (train.threads = 1); Aer gets one thread too

    qubits = (2, 4) if args.quick else (2, 4, 6)
    repeats = 1 if args.quick else args.repeats
    rows = [measure(n, repeats) for n in qubits]

    table = Table(
        title=f"Noisy probabilities of {INPUTS} inputs: ry_cz, {LAYERS} layers, paper placement, "
        f"depolarizing {EPS}, float64, 1 thread (median)"
    )
    for col in (
        "qubits",
        "torch strategy",
        "torch",
        "Aer density matrix",
        "default.mixed",
        "Aer / torch",
        "default.mixed / torch",
        "max |torch - Aer|",
        "max |torch - mixed|",
    ):
        table.add_column(col, justify="right")
    for r in rows:
        mixed_ratio = r.get("mixed_over_torch")
        mixed_diff = r["max_abs_diff_torch_mixed"]
        table.add_row(
            str(r["qubits"]),
            r["torch_strategy"],
            seconds(r["torch_s"], r["torch_runs"]),
            seconds(r["aer_s"], r["aer_runs"]),
            seconds(r["mixed_s"], r["mixed_runs"]),
            f"{r['aer_over_torch']:.1f}x",
            "-" if mixed_ratio is None else f"{mixed_ratio:.1f}x",
            f"{r['max_abs_diff_torch_aer']:.1e}",
            "-" if mixed_diff is None else f"{mixed_diff:.1e}",
        )
    console.print(table)

    agree = all(r["max_abs_diff_torch_aer"] <= AGREEMENT for r in rows) and all(
        r["max_abs_diff_torch_mixed"] is None or r["max_abs_diff_torch_mixed"] <= AGREEMENT
        for r in rows
    )
    speed = {r["qubits"]: r["aer_over_torch"] >= SPEED_TARGET for r in rows if r["qubits"] >= 4}
    for r in rows:
        if r["mixed_s"] is None:
            console.print(
                f"default.mixed skipped at {r['qubits']} qubits: the 100-input probe "
                f"extrapolates to {r['mixed_estimate_s']:.0f} s > {MIXED_LIMIT_S:.0f} s"
            )
    console.print(f"agreement (max |diff| <= {AGREEMENT:g}): {'ok' if agree else 'FAILED'}")
    console.print(
        f"speed target Aer / torch >= {SPEED_TARGET:g}x: "
        + ", ".join(f"{n} qubits {'met' if ok else 'MISSED'}" for n, ok in speed.items())
    )
    if args.json:
        result = {
            "rows": rows,
            "settings": dict(eps=EPS, layers=LAYERS, inputs=INPUTS, threads=1, repeats=repeats),
            "agreement_ok": agree,
            "speed_target_met": speed,
        }
        args.json.write_text(json.dumps(result, indent=2))
    return 0 if agree else 1


if __name__ == "__main__":
    raise SystemExit(main())
