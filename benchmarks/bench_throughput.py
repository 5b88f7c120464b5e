"""Training throughput: many models at once (the stacked engine) vs one at a time.

    .venv/bin/python benchmarks/bench_throughput.py            # S = 1, 5, 20, 100, 500; 20 epochs
    .venv/bin/python benchmarks/bench_throughput.py --quick    # S = 1, 5, 20; 4 epochs (< 1 min)
    .venv/bin/python benchmarks/bench_throughput.py --json out.json
    .venv/bin/python benchmarks/bench_throughput.py --routers "B noisy"   # some routers only

Per model-epoch training time of S seeds of one architecture, trained by
qmoe_cli/training/stacked.py (`fit_stacked`, the seeds as one stacked model: its compiled
epoch where it covers the kinds, training/fused_epoch.py, else its torch path), by its torch
path alone (the stacked engine before the compiled epoch: a dozen torch operations, autograd
and the fused optimizer per batch) and by training.fit one seed after another (the
sequential reference), for each router of the
paper's ablation: Model A (linear), B (quantum, 2 qubits x 12 ry_cz layers, probs), C (MLP
12-12), D (Fourier, frequency 1), and Model B noisy (its circuit under depolarizing noise
0.01 after every gate, the paper's placement, as the noise sweep trains it in mode train:
density matrices); 4 linear experts, Two Moons 1000 points (700 training rows), batch 32,
Adam, float64 (the default), no early stopping (every model runs every epoch), one torch
thread. Targets: stacked >= 10x faster
per model-epoch at S = 20 for Models A and B; the compiled epoch faster than the torch path
(`new / old` < 1), per model-epoch at S = 5 close to S = 500's.

The sides are measured in the same run, alternately, `--repeats` times per S (the
sequential side on min(S, 3) of the seeds: its per-model time does not depend on S), and
each side's median is reported, so that load on a shared machine hits both sides of a ratio
alike. Models are built as training.seeds.run_seed builds them (seed_everything(seed), then
build_model), outside the timed region.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import time
from pathlib import Path
from unittest import mock

import torch
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from qmoe_cli.config import validate_config  # noqa: E402
from qmoe_cli.data import load_dataset  # noqa: E402
from qmoe_cli.models import build_model  # noqa: E402
from qmoe_cli.training import fit, fused_epoch, seed_everything  # noqa: E402
from qmoe_cli.training.stacked import fit_stacked, supports  # noqa: E402

console = Console(width=160)
ROUTERS = {
    "A linear": {"type": "linear"},
    "B quantum": {"type": "quantum", "qubits": 2, "layers": 12, "ansatz": "ry_cz"},
    "C mlp": {"type": "mlp", "hidden": [12, 12]},
    "D fourier": {"type": "fourier", "max_frequency": 1},
    "B noisy": {
        "type": "quantum",
        "qubits": 2,
        "layers": 12,
        "ansatz": "ry_cz",
        "noise": {"depolarizing": 0.01, "placement": "paper"},
    },
    "B4 noisy": {  # the paper's 4-qubit layout under the same noise (not in the default run)
        "type": "quantum",
        "qubits": 4,
        "layers": 6,
        "ansatz": "ry_cz",
        "noise": {"depolarizing": 0.01, "placement": "paper"},
    },
}
DEFAULT_ROUTERS = ["A linear", "B quantum", "C mlp", "D fourier", "B noisy"]
SEQUENTIAL_MODELS = 3


def config(router: dict, epochs: int):
    return validate_config(
        {
            "data": {"name": "two_moons", "n_samples": 1000},
            "model": {"router": router, "experts": {"count": 4}},
            "train": {"epochs": epochs, "batch_size": 32, "early_stopping": False},
        }
    )


def build(cfg, seeds: list[int]):
    models, splits = [], []
    for seed in seeds:
        split = load_dataset(cfg.data, seed)
        seed_everything(seed)
        models.append(build_model(cfg.model, split.n_features, split.n_classes))
        splits.append(split)
    return models, splits


def sequential_ms(cfg, built, seeds: list[int]) -> float:
    """ms per model-epoch of training.fit, one seed after another (fresh copies)."""
    models, splits = copy.deepcopy(built[0][: len(seeds)]), built[1]
    start = time.perf_counter()
    for model, split, seed in zip(models, splits, seeds, strict=False):
        fit(model, split, cfg.train, seed)
    return (time.perf_counter() - start) * 1e3 / (len(seeds) * cfg.train.epochs)


def stacked_ms(cfg, built, seeds: list[int]) -> float:
    """ms per model-epoch of fit_stacked over all the seeds (fresh copies)."""
    models, splits = copy.deepcopy(built[0]), built[1]
    start = time.perf_counter()
    fit_stacked(models, cfg.model, splits, cfg.train, seeds)
    return (time.perf_counter() - start) * 1e3 / (len(seeds) * cfg.train.epochs)


def torch_path_ms(cfg, built, seeds: list[int]) -> float:
    """stacked_ms with every stack on the torch path (the compiled epoch refused)."""
    with mock.patch.object(fused_epoch, "refusal", lambda model, train: "benchmark"):
        return stacked_ms(cfg, built, seeds)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="S = 1, 5, 20 and 4 epochs")
    ap.add_argument("--json", type=Path, help="write every figure to this JSON file")
    ap.add_argument("--epochs", type=int, help="epochs per model (default 20, quick 4)")
    ap.add_argument("--sizes", type=int, nargs="+", help="stack sizes (default 1 5 20 100 500)")
    ap.add_argument("--repeats", type=int, help="alternating timings per S (default 3, quick 2)")
    ap.add_argument("--routers", nargs="+", choices=list(ROUTERS), help="these routers only")
    args = ap.parse_args(argv)
    routers = {name: ROUTERS[name] for name in args.routers or DEFAULT_ROUTERS}
    repeats = args.repeats or (2 if args.quick else 3)
    epochs = args.epochs or (4 if args.quick else 20)
    sizes = args.sizes or ([1, 5, 20] if args.quick else [1, 5, 20, 100, 500])
    torch.set_num_threads(1)

    for router in routers.values():  # warm-up: compiled kernels loaded, allocator primed
        cfg = config(router, 1)
        assert supports(cfg) is None, supports(cfg)
        built = build(cfg, [0, 1])
        stacked_ms(cfg, built, [0, 1])
        torch_path_ms(cfg, built, [0, 1])
        sequential_ms(cfg, built, [0])

    rows = []
    for name, router in routers.items():
        cfg = config(router, epochs)
        for size in sizes:
            seeds = list(range(size))
            built = build(cfg, seeds)
            times: dict[str, list[float]] = {"sequential": [], "torch": [], "stacked": []}
            compiled = fused_epoch.refusal(cfg.model, cfg.train) is None
            for _ in range(repeats):
                times["sequential"].append(sequential_ms(cfg, built, seeds[:SEQUENTIAL_MODELS]))
                if compiled:
                    times["torch"].append(torch_path_ms(cfg, built, seeds))
                times["stacked"].append(stacked_ms(cfg, built, seeds))
            seq, stk = statistics.median(times["sequential"]), statistics.median(times["stacked"])
            old = statistics.median(times["torch"]) if compiled else stk
            rows.append(
                {
                    "router": name,
                    "S": size,
                    "sequential_ms": seq,
                    "torch_path_ms": old,
                    "stacked_ms": stk,
                    "ratio": seq / stk,
                    "new_over_old": stk / old,
                    "compiled_epoch": compiled,
                }
            )
            console.log(
                f"{name:10s} S={size:4d}: sequential {seq:8.3f} ms, torch path {old:8.3f} ms, "
                f"stacked {stk:8.3f} ms per model-epoch ({seq / stk:5.1f}x; new / old "
                f"{stk / old:.2f})"
            )

    table = Table(
        title=f"Per model-epoch training time (median of {repeats}; {epochs} epochs, Two Moons "
        "700 training rows, batch 32, 4 linear experts, Adam, float64, 1 thread)"
    )
    columns = ("router", "S", "sequential", "stacked, torch path (old)", "stacked (new)")
    for col in (*columns, "sequential / stacked", "new / old"):
        table.add_column(col, justify="right")
    for r in rows:
        table.add_row(
            r["router"],
            str(r["S"]),
            f"{r['sequential_ms']:.2f} ms",
            f"{r['torch_path_ms']:.3f} ms",
            f"{r['stacked_ms']:.3f} ms" + ("" if r["compiled_epoch"] else " (torch path)"),
            f"{r['ratio']:.1f}x",
            f"{r['new_over_old']:.2f}",
        )
    console.print(table)
    console.print("target: sequential / stacked >= 10x at S = 20 for A linear and B quantum")
    console.print("compiled epoch: new / old < 1, per model-epoch at S = 5 close to S = 500's")
    if args.json:
        result = {"epochs": epochs, "repeats": repeats, "torch_threads": 1, "rows": rows}
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
