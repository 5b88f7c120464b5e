"""Every backend a config accepts for training trains end to end, through the commands, to
the numbers torch gives; the ones that cannot train are refused at validation.

The reference backends (PennyLane's default.qubit with backprop, lightning.qubit with
adjoint) simulate the same circuits from the same seeded weights on the same batches, so
their training curves follow torch's to float64 round-off. A model that holds a device
(lightning's compiled state vector cannot be pickled) is still ranked, saved, read back and
copied: nothing deep-copies or pickles the device itself.
"""

import copy
import json
import pickle

import pytest
import torch

from qmoe_cli.quantum import make_backend
from qmoe_cli.quantum.spec import CircuitSpec

from .conftest import TINY

BACKENDS = ("pennylane", "lightning")
ROUTER = {"type": "quantum", "qubits": 2, "layers": 2}
EXPERTS = {"type": "quantum", "count": 2, "qubits": 2, "layers": 1, "readout": "expval"}
BASE = {**TINY, "data": {**TINY["data"], "n_samples": 80}, "train": {"epochs": 3, "batch_size": 16}}


def _config(backend: str, experts: bool, kind: str = "train") -> dict:
    model = {"router": {**ROUTER, "backend": backend}, "experts": {"count": 2}}
    if experts:
        model["experts"] = {**EXPERTS, "backend": backend}
    return {**BASE, "kind": kind, "model": model, "seeds": [0, 1]}


def _histories(run) -> dict:
    out = {}
    for seed_dir in sorted(run.rglob("seed-*")):
        lines = (seed_dir / "history.csv").read_text().splitlines()
        header = lines[0].split(",")
        rows = [dict(zip(header, line.split(","), strict=True)) for line in lines[1:]]
        key = str(seed_dir.relative_to(run))
        out[key] = [(float(r["train_loss"]), float(r["val_loss"])) for r in rows]
    return out


def _one_run(out):
    (run,) = [p for p in out.iterdir() if not p.name.startswith(".")]
    return run


@pytest.mark.parametrize("experts", [False, True], ids=["router", "router+experts"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_each_backend_trains_to_torchs_losses(backend, experts, write_config, cli, tmp_path):
    """`qmoe train` on PennyLane (the sequential fit: the stacked engine takes torch only)
    against torch (stacked): same per-epoch losses, same test accuracy, a complete run."""
    results = {}
    for name in ("torch", backend):
        out = tmp_path / name
        result = cli("train", write_config(_config(name, experts), f"{name}.yaml"), "--out", out)
        assert result.exit_code == 0, result.output
        run = _one_run(out)
        metrics = json.loads((run / "metrics.json").read_text())
        results[name] = (_histories(run), [s["test_accuracy"] for s in metrics["per_seed"]])
    (h_ref, acc_ref), (h, acc) = results["torch"], results[backend]
    assert h.keys() == h_ref.keys() and len(h) == 2
    for key in h:
        assert torch.allclose(torch.tensor(h[key]), torch.tensor(h_ref[key]), atol=1e-6, rtol=0), (
            key
        )
    assert acc == acc_ref


@pytest.mark.parametrize("backend", BACKENDS)
def test_each_backend_trains_through_ablate(backend, write_config, cli, tmp_path):
    """An ablation with a torch and a PennyLane variant of one circuit, two workers: the
    variants' losses agree, so the worker processes built (and pickled) nothing they
    could not."""
    cfg = {k: v for k, v in _config("torch", True, "ablate").items() if k != "model"}
    cfg["model"] = {"experts": {"count": 2}}
    cfg["reference"] = "P"
    cfg["variants"] = {
        "T": {"router": {**ROUTER, "backend": "torch"}, "experts": {**EXPERTS}},
        "P": {
            "router": {**ROUTER, "backend": backend},
            "experts": {**EXPERTS, "backend": backend},
        },
    }
    result = cli("ablate", write_config(cfg), "--out", tmp_path / "runs", "--jobs", "2")
    assert result.exit_code == 0, result.output
    h = _histories(_one_run(tmp_path / "runs"))
    for seed in (0, 1):
        ref, other = h[f"variants/T/seed-{seed}"], h[f"variants/P/seed-{seed}"]
        assert torch.allclose(torch.tensor(other), torch.tensor(ref), atol=1e-6, rtol=0)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_backend_copies_and_pickles_as_a_new_device(backend):
    """copy.deepcopy and pickle rebuild the backend from its spec (a new device), so a
    model on lightning can be ranked (metrics deep-copies it) and sent to a worker."""
    spec = CircuitSpec(n_qubits=2, n_layers=2, n_features=2, n_experts=4)
    original = make_backend(spec, backend)
    w = torch.rand(spec.weight_shape, dtype=torch.float64)
    x = torch.rand(5, 2, dtype=torch.float64)
    for twin in (copy.deepcopy(original), pickle.loads(pickle.dumps(original))):
        assert twin.device is not original.device
        assert torch.allclose(twin.probs(w, x), original.probs(w, x), atol=1e-12)
