"""Speed of the quantum router's simulators, measured against references in the same run.

    .venv/bin/python benchmarks/bench_quantum.py            # comparison + qubit scale table
    .venv/bin/python benchmarks/bench_quantum.py --quick    # 2 qubits, 3 layers only (< 1 min)
    .venv/bin/python benchmarks/bench_quantum.py --json out.json

Per-epoch training time of the same MoE (linear experts, Adam, batch 32, 1000 Two Moons
points) with the router simulated by: qmoe's torch backend; PennyLane lightning.qubit with
adjoint differentiation through qml.qnn.TorchLayer (the public notebooks' method);
PennyLane default.qubit with backprop; and a linear router (the floor). Targets: torch
>= 200x faster than the notebooks' method, and <= 1.5x the linear router's epoch time.

The "ceiling" column is notebook / linear: the speed-up a router that cost nothing beyond
the linear one would reach, since every method pays the same experts, loss, backward and
Adam step. When it is below 200x, no router can meet the first target on this machine.
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
import torch.nn.functional as F
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from qmoe_cli.config import DataConfig  # noqa: E402
from qmoe_cli.data import load_dataset  # noqa: E402
from qmoe_cli.models.moe import MixtureOfExperts  # noqa: E402
from qmoe_cli.models.quantum_router import QuantumRouter  # noqa: E402
from qmoe_cli.models.torch_experts import LinearExperts  # noqa: E402
from qmoe_cli.models.torch_routers import LinearRouter  # noqa: E402
from qmoe_cli.quantum.spec import CircuitSpec  # noqa: E402
from qmoe_cli.quantum.torch_backend import TorchStatevector  # noqa: E402

console = Console(width=160)  # the tables stay readable in a pipe or a file
# The two circuits of the comparison: the paper's text and the notebooks'.
CASES = {
    "ry_cz": dict(ansatz="ry_cz", readout="probs", n_experts=4),
    "strongly_entangling": dict(ansatz="strongly_entangling", readout="expval", n_experts=2),
}


class NotebookRouter(torch.nn.Module):
    """The notebooks' method: a QNode on lightning.qubit (adjoint) inside qml.qnn.TorchLayer."""

    def __init__(self, spec: CircuitSpec):
        super().__init__()
        import pennylane as qml

        n = spec.n_qubits
        dev = qml.device("lightning.qubit", wires=n)

        @qml.qnode(dev, interface="torch", diff_method="adjoint")
        def circuit(inputs, weights):
            qml.AngleEmbedding(inputs, wires=range(n), rotation="X")
            if spec.ansatz == "strongly_entangling":
                qml.StronglyEntanglingLayers(weights, wires=range(n))
            else:
                for layer in range(spec.n_layers):
                    for q in range(n):
                        qml.RY(weights[layer, q], wires=q)
                    for q in range(n - 1):
                        qml.CZ(wires=[q, q + 1])
            if spec.readout == "expval":
                return [qml.expval(qml.PauliZ(q)) for q in range(n)]
            # adjoint differentiation does not support qml.probs: project on each basis state
            return [
                qml.expval(qml.Projector(list(map(int, f"{i:0{n}b}")), wires=range(n)))
                for i in range(2**n)
            ]

        self.spec = spec
        self.layer = qml.qnn.TorchLayer(circuit, {"weights": spec.weight_shape})
        self.adapter = torch.nn.Linear(n, spec.n_experts) if spec.readout == "expval" else None

    def forward(self, x):
        out = self.layer(x)
        if self.adapter is not None:
            return torch.softmax(self.adapter(out.to(self.adapter.weight.dtype)), dim=-1)
        grouped = torch.zeros(len(x), self.spec.n_experts, dtype=x.dtype)
        return grouped.index_add(
            1, torch.arange(out.shape[1]) % self.spec.n_experts, out.to(x.dtype)
        )


def make_router(method: str, spec: CircuitSpec) -> torch.nn.Module:
    if method == "linear":
        return LinearRouter(spec.n_features, spec.n_experts)
    if method == "torch":
        return QuantumRouter(spec, "torch")
    if method == "pennylane":
        return QuantumRouter(spec, "pennylane")
    if method == "notebook":
        return NotebookRouter(spec)
    raise ValueError(method)


def make_trainer(method: str, spec: CircuitSpec, x, y):
    """A closure that runs one training epoch over (x, y), batch 32, after a warm-up."""
    torch.manual_seed(0)
    model = MixtureOfExperts(make_router(method, spec), LinearExperts(2, 2, spec.n_experts))
    opt = torch.optim.Adam(model.parameters(), lr=0.01, fused=True)

    def step(xb, yb):
        loss = F.cross_entropy(model(xb).logits, yb)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for lo in range(0, 96, 32):  # warm-up
        step(x[lo : lo + 32], y[lo : lo + 32])

    def epoch() -> float:
        start = time.perf_counter()
        for lo in range(0, len(y), 32):
            step(x[lo : lo + 32], y[lo : lo + 32])
        return time.perf_counter() - start

    return epoch


def step_seconds(n_qubits: int, batch: int, layers: int = 3) -> float:
    """Forward + backward of the torch backend alone (ry_cz, probs over 2 experts)."""
    spec = CircuitSpec(n_qubits, layers, 2, 2, "ry_cz", "rx", "probs")
    sim = TorchStatevector(spec)
    w = torch.rand(spec.weight_shape, requires_grad=True)
    x = torch.rand(batch, 2) * math.pi
    sim.outputs(w, x).sum().backward()
    reps, start = 0, time.perf_counter()
    while reps < 3 or (time.perf_counter() - start < 0.5 and reps < 200):
        w.grad = None
        sim.outputs(w, x).sum().backward()
        reps += 1
    return (time.perf_counter() - start) / reps


def compare(repeats: int) -> dict:
    splits = load_dataset(DataConfig(n_samples=1000, test_fraction=0.1, val_fraction=0.1), 0)
    x = torch.as_tensor(splits.X_train.tolist() + splits.X_val.tolist() + splits.X_test.tolist())
    x = x.float()
    y = torch.as_tensor(splits.y_train.tolist() + splits.y_val.tolist() + splits.y_test.tolist())
    results = {}
    for name, case in CASES.items():
        spec = CircuitSpec(2, 3, 2, case["n_experts"], case["ansatz"], "rx", case["readout"])
        trainers = {
            m: make_trainer(m, spec, x, y) for m in ("linear", "torch", "pennylane", "notebook")
        }
        times = {m: [] for m in trainers}
        # The fast methods alternate epoch by epoch, so drifts of a shared machine hit
        # both sides of their ratio alike; the slow references run once.
        for _ in range(repeats):
            for m in ("linear", "torch"):
                times[m].append(trainers[m]())
        for m in ("pennylane", "notebook"):
            times[m].append(trainers[m]())
        row = {m: statistics.median(t) for m, t in times.items()}
        for m in trainers:
            console.log(f"{name:20s} {m:10s} {row[m] * 1e3:9.1f} ms/epoch")
        row["speedup_vs_notebook"] = row["notebook"] / row["torch"]
        row["ratio_vs_linear"] = row["torch"] / row["linear"]
        row["ceiling_vs_notebook"] = row["notebook"] / row["linear"]
        results[name] = row
    return results


def scale(max_qubits: int) -> dict:
    table = {}
    for batch in (32, 1024):
        for n in range(2, max_qubits + 1):
            t = step_seconds(n, batch)
            table[f"{n}:{batch}"] = t
            console.log(f"scale: {n:2d} qubits, batch {batch:4d}: {t * 1e3:10.2f} ms/step")
            if t > 5.0:
                break
    largest = {
        batch: max(
            (int(k.split(":")[0]) for k, t in table.items() if k.endswith(f":{batch}") and t < 1.0),
            default=None,
        )
        for batch in (32, 1024)
    }
    return {"seconds_per_step": table, "largest_qubits_under_1s": largest}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="only the 2-qubit, 3-layer comparison")
    ap.add_argument("--json", type=Path, help="write every figure to this JSON file")
    ap.add_argument("--repeats", type=int, default=11, help="epochs timed for fast methods")
    ap.add_argument("--max-qubits", type=int, default=12)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)  # as qmoe trains (train.threads = 1); fair to every method

    result = {"comparison": compare(args.repeats), "torch_threads": 1}
    table = Table(
        title="Per-epoch training time, 1000 Two Moons points, batch 32, 2 qubits, "
        "3 layers (median)"
    )
    for col in (
        "circuit",
        "linear router",
        "torch (qmoe)",
        "default.qubit backprop",
        "lightning adjoint TorchLayer",
        "notebook / torch",
        "ceiling (notebook / linear)",
        "torch / linear",
    ):
        table.add_column(col, justify="right")
    for name, r in result["comparison"].items():
        table.add_row(
            name,
            *(f"{r[m] * 1e3:.1f} ms" for m in ("linear", "torch", "pennylane", "notebook")),
            f"{r['speedup_vs_notebook']:.0f}x",
            f"{r['ceiling_vs_notebook']:.0f}x",
            f"{r['ratio_vs_linear']:.2f}x",
        )
    console.print(table)
    console.print("targets: notebook / torch >= 200x; torch / linear <= 1.5x")

    if not args.quick:
        result["scale"] = scale(args.max_qubits)
        st = Table(title="torch backend, forward + backward per step (ry_cz, 3 layers)")
        st.add_column("qubits", justify="right")
        for batch in (32, 1024):
            st.add_column(f"batch {batch}", justify="right")
        for n in range(2, args.max_qubits + 1):
            cells = [result["scale"]["seconds_per_step"].get(f"{n}:{b}") for b in (32, 1024)]
            st.add_row(str(n), *("-" if c is None else f"{c * 1e3:.2f} ms" for c in cells))
        console.print(st)
        console.print(
            f"largest qubit count under 1 s per step: {result['scale']['largest_qubits_under_1s']}"
        )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
