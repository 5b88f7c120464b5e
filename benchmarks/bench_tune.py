"""Tuning throughput: trials asked in batches and trained as one stacked model vs the same
trials trained one at a time.

    .venv/bin/python benchmarks/bench_tune.py            # 16 trials per router, batches of 8
    .venv/bin/python benchmarks/bench_tune.py --quick    # 8 trials, 10 epochs (< 1 min)
    .venv/bin/python benchmarks/bench_tune.py --json out.json

A study per router (Model A linear, B quantum 2 qubits x 12 ry_cz layers, C MLP 12-12; 4
linear experts; Two Moons 1000 points, batch 32, Adam, float64, no early stopping, one torch
thread) searching train.lr and train.weight_decay, each trial scored on 3 seeds, the trials
asked from the TPE sampler `--batch` at a time (`trial_batch`). Both sides run the same
trials through `qmoe tune`'s own loop (experiments/tune.py `pull_trials`, SQLite study in a
fresh temporary folder, sampling and storage included): "one at a time" trains each trial
alone (its seeds as one stack, as `trial_batch: 1` would), "stacked" trains a batch's
trials together (every trial's seeds in one stack). They are timed in the same run,
alternately, `--repeats` times, and each side's median is reported as trials per minute,
so that load on a shared machine hits both sides of the ratio alike. The largest difference
between the two sides' trial values is printed too (it must be below 1e-6).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from qmoe_cli.config import TuneConfig  # noqa: E402
from qmoe_cli.experiments import tune  # noqa: E402

console = Console(width=160)
ROUTERS = {
    "A linear": {"type": "linear"},
    "B quantum": {"type": "quantum", "qubits": 2, "layers": 12, "ansatz": "ry_cz"},
    "C mlp": {"type": "mlp", "hidden": [12, 12]},
}


def config(router: dict, epochs: int, trials: int, batch: int) -> TuneConfig:
    return TuneConfig.model_validate(
        {
            "kind": "tune",
            "name": "bench",
            "base": {
                "kind": "train",
                "name": "bench",
                "data": {"name": "two_moons", "n_samples": 1000},
                "model": {"router": router, "experts": {"count": 4}},
                "train": {"epochs": epochs, "batch_size": 32, "early_stopping": False},
            },
            "space": {
                "train.lr": {"type": "float", "low": 0.001, "high": 0.2, "log": True},
                "train.weight_decay": {"type": "float", "low": 1e-6, "high": 1e-2, "log": True},
            },
            "trials": trials,
            "trial_batch": batch,
            "trial_seeds": [1000, 1001, 1002],
        }
    )


def search(cfg: TuneConfig, stack: bool) -> tuple[float, list[float]]:
    """Seconds for the whole study (fresh SQLite), and its trial values in order."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        start = time.perf_counter()
        searches = tune._searches(cfg, tune.storage_url(cfg, folder), folder)
        tune.pull_trials(searches, cfg.trial_batch, lambda: None, stack=stack)
        seconds = time.perf_counter() - start
        values = [t.value for s in searches.values() for t in s.trials()]
    return seconds, values


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="8 trials, 10 epochs, 2 repeats")
    ap.add_argument("--json", type=Path, help="write every figure to this JSON file")
    ap.add_argument("--trials", type=int, help="trials per router (default 16, quick 8)")
    ap.add_argument("--batch", type=int, default=8, help="trials asked together (default 8)")
    ap.add_argument("--epochs", type=int, help="epochs per model (default 20, quick 10)")
    ap.add_argument("--repeats", type=int, help="alternating timings (default 3, quick 2)")
    ap.add_argument("--routers", nargs="+", choices=list(ROUTERS), help="these routers only")
    args = ap.parse_args(argv)
    routers = {name: ROUTERS[name] for name in args.routers or ROUTERS}
    trials = args.trials or (8 if args.quick else 16)
    epochs = args.epochs or (10 if args.quick else 20)
    repeats = args.repeats or (2 if args.quick else 3)
    torch.set_num_threads(1)

    for router in routers.values():  # warm-up: compiled kernels, allocator, imports
        warm = config(router, 1, 2, 2)
        search(warm, True)
        search(warm, False)

    rows = []
    for name, router in routers.items():
        cfg = config(router, epochs, trials, args.batch)
        times: dict[bool, list[float]] = {False: [], True: []}
        values: dict[bool, list[float]] = {}
        for _ in range(repeats):
            for stack in (False, True):
                seconds, values[stack] = search(cfg, stack)
                times[stack].append(seconds)
        alone, together = (statistics.median(times[s]) for s in (False, True))
        gap = max(abs(a - b) for a, b in zip(values[False], values[True], strict=True))
        row = {
            "router": name,
            "trials": trials,
            "batch": args.batch,
            "one_at_a_time_per_min": trials * 60 / alone,
            "stacked_per_min": trials * 60 / together,
            "ratio": alone / together,
            "max_value_difference": gap,
        }
        rows.append(row)
        console.log(
            f"{name:10s}: one at a time {row['one_at_a_time_per_min']:7.1f}, stacked "
            f"{row['stacked_per_min']:7.1f} trials/min ({row['ratio']:4.1f}x); values "
            f"differ by at most {gap:.1e}"
        )

    table = Table(
        title=f"Trials per minute (median of {repeats}; {trials} trials asked {args.batch} at "
        f"a time, 3 seeds each, {epochs} epochs, Two Moons 700 training rows, batch 32, 4 "
        "linear experts, float64, 1 thread)"
    )
    for col in ("router", "one at a time", "stacked", "stacked / one at a time", "max |dvalue|"):
        table.add_column(col, justify="right")
    for r in rows:
        table.add_row(
            r["router"],
            f"{r['one_at_a_time_per_min']:.1f}",
            f"{r['stacked_per_min']:.1f}",
            f"{r['ratio']:.1f}x",
            f"{r['max_value_difference']:.1e}",
        )
    console.print(table)
    if args.json:
        result = {"epochs": epochs, "repeats": repeats, "torch_threads": 1, "rows": rows}
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
