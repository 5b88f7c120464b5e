"""Start-up time of qmoe's commands, against a bare interpreter measured in the same run.

    .venv/bin/python benchmarks/bench_startup.py            # 5 repeats each (about 1 min)
    .venv/bin/python benchmarks/bench_startup.py --quick    # 2 repeats
    .venv/bin/python benchmarks/bench_startup.py --json out.json

Each command runs as a fresh process (the installed `qmoe` next to this interpreter); the
table gives the median wall time, the time above `python -c pass`, and the target of
issue 13: commands that answer without training within 0.5 s of the bare interpreter, and
`qmoe train configs/two_moons_linear.yaml --seeds 0` under 3 s. The "libraries" row imports
what that train command cannot do without (torch, scikit-learn, matplotlib) as `qmoe` does:
the garbage collector paused while they import (qmoe_cli/imports.py), then gc.freeze(), which
also spares the interpreter's final collection over every torch object. That is the floor
any training command pays on this machine before qmoe's own work; the last line gives the
train command's time above it.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
QMOE = str(Path(sys.executable).with_name("qmoe"))
console = Console(width=120)


def cases(out: str) -> list[tuple[str, list[str], float | None]]:
    """(label, argv, target seconds above the bare interpreter or absolute for train)."""
    py = sys.executable
    linear = "configs/two_moons_linear.yaml"
    return [
        ("python -c pass", [py, "-c", "pass"], None),
        ("libraries (torch, sklearn, matplotlib)", [py, "-c", LIBRARIES], None),
        ("qmoe --help", [QMOE, "--help"], 0.5),
        ("qmoe --version", [QMOE, "--version"], 0.5),
        ("qmoe validate CONFIG", [QMOE, "validate", linear], 0.5),
        ("qmoe validate SWEEP", [QMOE, "validate", "configs/sweeps/two_moons_quantum_grid.yaml"],
         0.5),
        ("qmoe train --nope (bad option)", [QMOE, "train", "--nope"], 0.5),
        ("qmoe ablate --set nope=1 (bad key)", [QMOE, "ablate", "configs/two_moons.yaml",
                                                "--set", "nope=1"], 0.5),
        ("qmoe report MISSING", [QMOE, "report", "no/such/run"], 0.5),
        ("qmoe data fetch cifar10 (bad name)", [QMOE, "data", "fetch", "cifar10"], 0.5),
        ("qmoe train linear --seeds 0", [QMOE, "train", linear, "--seeds", "0", "--out", out],
         3.0),
    ]  # fmt: skip


LIBRARIES = (
    "import gc; gc.disable(); "
    "import torch, sklearn.datasets, sklearn.model_selection, sklearn.preprocessing, "
    "sklearn.metrics, matplotlib.figure; gc.freeze(); gc.enable()"
)


def wall(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, cwd=ROOT, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="2 repeats instead of 5")
    ap.add_argument("--json", type=Path, help="write every figure to this JSON file")
    args = ap.parse_args()
    repeats = 2 if args.quick else 5
    rows = []
    with tempfile.TemporaryDirectory() as out:
        for label, argv, target in cases(out):
            wall(argv)  # warm the file cache
            times = [wall(argv) for _ in range(repeats)]
            rows.append({"command": label, "median_s": statistics.median(times),
                         "target": target})  # fmt: skip
    bare = rows[0]["median_s"]
    table = Table(title=f"start-up, median of {repeats} runs (seconds, wall)")
    for col in ("command", "wall", "above python", "target", "met"):
        table.add_column(col, justify="left" if col == "command" else "right")
    for r in rows:
        r["above_python_s"] = r["median_s"] - bare
        target, met = r["target"], ""
        if target is not None:
            absolute = r["command"].startswith("qmoe train linear")
            value = r["median_s"] if absolute else r["above_python_s"]
            r["met"] = value <= target
            met = "yes" if r["met"] else "no"
            target = f"< {target:g} s" + ("" if absolute else " above python")
        table.add_row(
            r["command"],
            f"{r['median_s']:.2f}",
            f"{r['above_python_s']:.2f}",
            target or "",
            met,
        )
    console.print(table)
    by_command = {r["command"]: r["median_s"] for r in rows}
    own = by_command["qmoe train linear --seeds 0"] - by_command[rows[1]["command"]]
    console.print(
        f"qmoe train linear --seeds 0: {own:.2f} s above the libraries' imports "
        "(its own imports and work: data, fit, metrics, figures, files)"
    )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
