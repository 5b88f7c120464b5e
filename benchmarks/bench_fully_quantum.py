"""Speed of quantum experts: the fully quantum QMoE's training epoch against its parts.

    .venv/bin/python benchmarks/bench_fully_quantum.py             # the table (~1 min)
    .venv/bin/python benchmarks/bench_fully_quantum.py --json out.json

Per-epoch training time (Adam, batch 32, the 1000 Two Moons points of configs/
fully_quantum.yaml, float32, one thread) of the models of that ablation:

* A      linear router + 4 linear experts (the floor)
* B      hybrid: the paper's quantum router (2 qubits, 12 ry_cz layers) + 4 linear experts
* FQ     fully quantum: the same router + 4 quantum experts (2 qubits, 3 layers, expval)
* FQ-ref the same fully quantum model with the experts' circuits run by hand through the
         existing kernel (TorchStatevector(spec, "kernel").outputs once per expert, the
         affine readout in plain torch): what "running their circuits through the existing
         kernel" costs. Target: FQ <= 1.1 x FQ-ref.
* FQ-batched  the experts as ONE batched call over the E weight sets on the unitary path
         (U built for all experts at once, one matmul): the alternative to one kernel node
         per expert, measured so the choice is on record.
* QNN    the monolithic QNN: one 10-qubit circuit (5 layers, expval)
* FQ noisy   FQ under depolarizing eps = 0.01 after every gate (density matrices).

The median of `--repeats` epochs after a warm-up is reported.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from qmoe_cli.config import AblationConfig, load_config  # noqa: E402
from qmoe_cli.data import load_dataset  # noqa: E402
from qmoe_cli.models import build_model  # noqa: E402
from qmoe_cli.models.torch_experts import QuantumExperts  # noqa: E402
from qmoe_cli.quantum.torch_backend import TorchStatevector  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
console = Console(width=160)


class KernelReference(torch.nn.Module):
    """The experts of a QuantumExperts module, each circuit run through the kernel by hand."""

    def __init__(self, experts: QuantumExperts, strategy: str = "kernel"):
        super().__init__()
        self.inner = experts
        self.count = experts.count
        self.sim = TorchStatevector(experts.spec, strategy)

    def forward(self, x):
        e = self.inner
        outs = [self.sim.outputs(e.weights[i], x) for i in range(e.count)]
        out = torch.stack(outs, 1).to(e.weights.dtype)
        return torch.einsum("ben,ecn->bec", out, e.adapter_weight) + e.adapter_bias


class BatchedUnitary(torch.nn.Module):
    """All experts in one call: U for the E weight sets at once (unitary path), one matmul."""

    def __init__(self, experts: QuantumExperts):
        super().__init__()
        self.inner = experts
        self.count = experts.count
        self.sim = TorchStatevector(experts.spec, "unitary")

    def forward(self, x):
        e, sim = self.inner, self.sim
        x = x.to(e.weights.dtype)
        probs = sim.apply_unitary(sim.unitary(e.weights), sim._embed_parts(x).unsqueeze(-3))[1]
        z = probs @ sim._const("readout", e.weights.dtype)  # (E, B, n) for a real U
        return torch.einsum("ebn,ecn->bec", z, e.adapter_weight) + e.adapter_bias


def model_for(cfg: AblationConfig, variant: str, level: float | None = None):
    vcfg = cfg.variant(variant)
    if level is not None:
        raw = vcfg.model.model_dump(mode="json")
        raw["router"]["noise"]["depolarizing"] = level
        vcfg = vcfg.model_copy(update={"model": type(vcfg.model).model_validate(raw)})
    torch.manual_seed(0)
    return build_model(vcfg.model, 2, 2)


def epoch_seconds(model, x, y, repeats: int) -> float:
    opt = torch.optim.Adam(model.parameters(), lr=0.01)

    def step(xb, yb):
        loss = F.cross_entropy(model(xb).logits, yb)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for lo in range(0, 96, 32):  # warm-up (and the kernel's first compilation)
        step(x[lo : lo + 32], y[lo : lo + 32])
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for lo in range(0, len(y), 32):
            step(x[lo : lo + 32], y[lo : lo + 32])
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=5, help="epochs timed per model")
    ap.add_argument("--json", type=Path, help="write every figure to this JSON file")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    cfg = load_config(ROOT / "configs" / "fully_quantum.yaml", schema=AblationConfig)
    splits = load_dataset(cfg.data, 0)
    x = torch.as_tensor(splits.X_train, dtype=torch.float32)
    y = torch.as_tensor(splits.y_train, dtype=torch.long)
    models = {
        "A": model_for(cfg, "A"),
        "B": model_for(cfg, "B"),
        "FQ": model_for(cfg, "FQ"),
        "FQ-ref": model_for(cfg, "FQ"),
        "FQ-batched": model_for(cfg, "FQ"),
        "QNN": model_for(cfg, "QNN"),
        "FQ noisy (eps 0.01)": model_for(cfg, "FQ", 0.01),
    }
    models["FQ-ref"].experts = KernelReference(models["FQ-ref"].experts)
    models["FQ-batched"].experts = BatchedUnitary(models["FQ-batched"].experts)
    rows = {}
    for name, model in models.items():
        rows[name] = epoch_seconds(model, x, y, args.repeats if "noisy" not in name else 2)
    table = Table(title=f"training epoch, {len(y)} points, batch 32 (median of {args.repeats})")
    for col in ("model", "epoch (ms)", "x linear (A)", "x hybrid (B)"):
        table.add_column(col, justify="right")
    for name, sec in rows.items():
        table.add_row(name, f"{1e3 * sec:.1f}", f"{sec / rows['A']:.2f}", f"{sec / rows['B']:.2f}")
    console.print(table)
    ratio = rows["FQ"] / rows["FQ-ref"]
    verdict = "met" if ratio <= 1.1 else "NOT met"
    console.print(f"FQ / FQ-ref (experts through the existing kernel by hand): {ratio:.2f} "
                  f"(target <= 1.1: {verdict}); FQ-batched / FQ: "
                  f"{rows['FQ-batched'] / rows['FQ']:.2f}")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps({"epoch_seconds": rows, "fq_over_ref": ratio}, indent=1))
    return 0 if ratio <= 1.1 else 1


if __name__ == "__main__":
    raise SystemExit(main())
