"""The router circuit gives the same numbers in every backend.

torch (both strategies), PennyLane default.qubit (backprop), PennyLane lightning.qubit
(adjoint) and Qiskit Aer (statevector) are compared on a fixed, seeded sample of specs
covering every ansatz x readout x embedding, 1..6 qubits and 1..4 layers: full basis-state
probabilities, outputs, and gradients of a random linear functional of the outputs.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from qmoe_cli.quantum.pennylane_backend import PennyLaneBackend
from qmoe_cli.quantum.qiskit_backend import AerStatevectorBackend, build_circuit
from qmoe_cli.quantum.spec import CircuitSpec
from qmoe_cli.quantum.torch_backend import TorchStatevector

ATOL = 1e-6
ANSATZE = ("ry_cz", "strongly_entangling")
READOUTS = ("probs", "expval")
EMBEDDINGS = ("rx", "ry", "rz")
REPEATS = 3  # 2 ansatze x 2 readouts x 3 embeddings x 3 = 36 cases


def make_cases(seed: int = 20240611) -> list[tuple[CircuitSpec, int]]:
    """36 (spec, seed) pairs; qubit and layer counts are shuffled tiles, so all occur."""
    rng = np.random.default_rng(seed)
    combos = list(itertools.product(ANSATZE, READOUTS, EMBEDDINGS)) * REPEATS
    qubits = rng.permutation(np.resize(np.arange(1, 7), len(combos)))
    layers = rng.permutation(np.resize(np.arange(1, 5), len(combos)))
    cases = []
    for i, ((ansatz, readout, embedding), n, n_layers) in enumerate(
        zip(combos, qubits, layers, strict=True)
    ):
        n, n_layers = int(n), int(n_layers)
        n_features = int(rng.integers(1, min(n, 3) + 1))
        max_experts = 2**n if readout == "probs" else 5
        n_experts = int(rng.integers(2, max_experts + 1))
        spec = CircuitSpec(n, n_layers, n_features, n_experts, ansatz, embedding, readout)
        cases.append((spec, 1000 + i))
    return cases


CASES = make_cases()


def case_id(case) -> str:
    s, _ = case
    sizes = f"q{s.n_qubits}-l{s.n_layers}-f{s.n_features}-e{s.n_experts}"
    return f"{s.ansatz}-{s.readout}-{s.embedding}-{sizes}"


def random_problem(spec: CircuitSpec, seed: int):
    """Weights in [0, 2 pi), inputs in [0, pi] (batch 4..8), a fixed functional, float64."""
    g = torch.Generator().manual_seed(seed)
    batch = int(torch.randint(4, 9, (1,), generator=g))
    weights = torch.rand(spec.weight_shape, generator=g, dtype=torch.float64) * 2 * math.pi
    x = torch.rand(batch, spec.n_features, generator=g, dtype=torch.float64) * math.pi
    coeffs = torch.randn(batch, spec.n_outputs, generator=g, dtype=torch.float64)
    return weights, x, coeffs


def all_backends(spec: CircuitSpec) -> dict:
    backends = {
        "torch-auto": TorchStatevector(spec),
        "torch-unitary": TorchStatevector(spec, "unitary"),
        "torch-gates": TorchStatevector(spec, "gates"),
        "default.qubit": PennyLaneBackend(spec, "default.qubit"),
        "lightning.qubit": PennyLaneBackend(spec, "lightning.qubit"),
        "aer": AerStatevectorBackend(spec),
    }
    if backends["torch-auto"]._kernel is not None:  # small circuits: the compiled kernel too
        backends["torch-kernel"] = TorchStatevector(spec, "kernel")
    return backends


def differentiable_backends(spec: CircuitSpec) -> dict:
    backends = all_backends(spec)
    del backends["aer"]  # inference only
    return backends


def max_diffs(results: dict) -> dict:
    ref = results["torch-gates"]
    return {name: (value - ref).abs().max().item() for name, value in results.items()}


def test_sample_covers_every_kind_of_circuit():
    specs = [spec for spec, _ in CASES]
    assert {s.n_qubits for s in specs} == set(range(1, 7))
    assert {s.n_layers for s in specs} == set(range(1, 5))
    assert {(s.ansatz, s.readout, s.embedding) for s in specs} == set(
        itertools.product(ANSATZE, READOUTS, EMBEDDINGS)
    )
    assert all(1 <= s.n_features <= min(s.n_qubits, 3) for s in specs)
    assert len({s.n_features for s in specs}) == 3


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_probs_and_outputs_agree(case):
    spec, seed = case
    weights, x, _ = random_problem(spec, seed)
    probs, outputs = {}, {}
    for name, backend in all_backends(spec).items():
        probs[name] = backend.probs(weights, x)
        outputs[name] = backend.outputs(weights, x)
        assert probs[name].shape == (len(x), 2**spec.n_qubits), name
        assert outputs[name].shape == (len(x), spec.n_outputs), name
        assert probs[name].dtype == outputs[name].dtype == torch.float64, name
    assert torch.allclose(probs["torch-gates"].sum(1), torch.ones(len(x), dtype=torch.float64))
    for what, results in (("probs", probs), ("outputs", outputs)):
        diffs = max_diffs(results)
        assert max(diffs.values()) < ATOL, (what, diffs)


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_gradients_agree(case):
    spec, seed = case
    weights, x, coeffs = random_problem(spec, seed)
    grads = {}
    for name, backend in differentiable_backends(spec).items():
        w = weights.clone().requires_grad_(True)
        (backend.outputs(w, x) * coeffs).sum().backward()
        assert w.grad is not None and w.grad.shape == spec.weight_shape, name
        grads[name] = w.grad
    diffs = max_diffs(grads)
    assert max(diffs.values()) < ATOL, diffs
    assert grads["torch-gates"].abs().max() > 1e-3  # a functional that actually varies


@pytest.mark.parametrize("kind", list(itertools.product(ANSATZE, READOUTS, EMBEDDINGS)))
def test_compiled_kernel_agrees_on_every_kind_of_circuit(kind):
    """The random sample gives the kernel most kinds; this gives it all, against PennyLane."""
    ansatz, readout, embedding = kind
    spec = CircuitSpec(3, 2, 2, 3, ansatz, embedding, readout)
    weights, x, coeffs = random_problem(spec, 7)
    results = {}
    for name, backend in (
        ("kernel", TorchStatevector(spec, "kernel")),
        ("default.qubit", PennyLaneBackend(spec, "default.qubit")),
    ):
        w = weights.clone().requires_grad_(True)
        out = backend.outputs(w, x)
        (out * coeffs).sum().backward()
        results[name] = (backend.probs(weights, x), out.detach(), w.grad)
    for mine, reference in zip(results["kernel"], results["default.qubit"], strict=True):
        assert (mine - reference).abs().max() < ATOL


@pytest.mark.parametrize("readout", READOUTS)
def test_qubit_zero_is_the_most_significant_bit(readout):
    """Flip qubit 0 only: |10> = basis index 2 in every backend (pins the Qiskit reversal)."""
    spec = CircuitSpec(2, 1, 2, 4, "ry_cz", "ry", readout)
    weights = torch.zeros(spec.weight_shape, dtype=torch.float64)
    x = torch.tensor([[math.pi, 0.0]], dtype=torch.float64)
    expected_probs = torch.tensor([[0.0, 0.0, 1.0, 0.0]], dtype=torch.float64)
    expected_out = expected_probs if readout == "probs" else torch.tensor([[-1.0, 1.0]]).double()
    for name, backend in all_backends(spec).items():
        torch.testing.assert_close(
            backend.probs(weights, x), expected_probs, atol=1e-12, rtol=0, msg=name
        )
        torch.testing.assert_close(
            backend.outputs(weights, x), expected_out, atol=1e-12, rtol=0, msg=name
        )


def test_lightning_expval_is_full_float64():
    """lightning returns PauliZ expvals as Python floats, which torch makes float32 (~1e-8
    off); the backend avoids that path. Hold it to float64 precision, values and gradients."""
    spec = CircuitSpec(4, 2, 3, 3, "strongly_entangling", "rx", "expval")
    weights, x, coeffs = random_problem(spec, 7)
    grads, outs = {}, {}
    for name, backend in (
        ("torch", TorchStatevector(spec)),
        ("lightning", PennyLaneBackend(spec, "lightning.qubit")),
    ):
        w = weights.clone().requires_grad_(True)
        outs[name] = backend.outputs(w, x)
        (outs[name] * coeffs).sum().backward()
        grads[name] = w.grad
    assert (outs["torch"] - outs["lightning"]).abs().max() < 1e-12
    assert (grads["torch"] - grads["lightning"]).abs().max() < 1e-12


def test_pennylane_and_aer_keep_float32():
    spec = CircuitSpec(3, 2, 2, 3, "ry_cz", "rx", "probs")
    weights, x, _ = random_problem(spec, 3)
    weights, x = weights.float(), x.float()
    ref = TorchStatevector(spec).outputs(weights, x)
    for backend in (PennyLaneBackend(spec), AerStatevectorBackend(spec)):
        out = backend.outputs(weights, x)
        assert out.dtype == torch.float32
        assert (out - ref).abs().max() < 1e-5


def test_build_circuit_is_the_spec_gate_list_with_unbound_inputs():
    spec = CircuitSpec(3, 2, 2, 4, "strongly_entangling", "ry", "expval")
    weights, _, _ = random_problem(spec, 11)
    qc = build_circuit(spec, weights)
    assert [p.name for p in qc.parameters] == ["x[0]", "x[1]"]
    names = [inst.operation.name for inst in qc.data]
    expected = [op.name.lower() for op in spec.embedding_ops([0.0] * spec.n_features)]
    for op in spec.ansatz_ops(weights):
        expected += {"Rot": ["rz", "ry", "rz"], "CNOT": ["cx"]}.get(op.name, [op.name.lower()])
    assert names == expected
    assert qc.num_clbits == 0 and "measure" not in names
    # Rot(phi, theta, omega): rz(phi) first, then ry(theta), then rz(omega).
    phi, theta, omega = (float(v) for v in weights[0, 0])
    first = [inst.operation.params[0] for inst in qc.data[3:6]]
    assert first == pytest.approx([phi, theta, omega])


@pytest.mark.parametrize("strategy", ["gates", "unitary", "auto"])
@pytest.mark.parametrize("case", CASES[::3], ids=case_id)
def test_stacked_parameter_sets_give_each_sets_own_probabilities_and_gradients(case, strategy):
    """stacked_probs: S parameter sets, each on its own inputs, in one pass (the stacked
    engine's wide circuits) = each set alone, values and weight gradients."""
    spec, seed = case
    backend = TorchStatevector(spec, "gates" if strategy == "gates" else "unitary")
    if strategy == "auto":
        backend = TorchStatevector(spec)
    problems = [random_problem(spec, seed + k) for k in range(3)]
    batch = min(len(x) for _, x, _ in problems)
    weights = torch.stack([w for w, _, _ in problems]).requires_grad_(True)
    x = torch.stack([x[:batch] for _, x, _ in problems])
    coeffs = torch.randn(3, batch, 2**spec.n_qubits, dtype=torch.float64)
    stacked = backend.stacked_probs(weights, x)
    (grad,) = torch.autograd.grad((stacked * coeffs).sum(), weights)
    for k in range(3):
        one = weights[k].detach().requires_grad_(True)
        alone = backend.probs(one, x[k])
        (grad_alone,) = torch.autograd.grad((alone * coeffs[k]).sum(), one)
        assert (stacked[k] - alone).abs().max().item() < 1e-12
        assert (grad[k] - grad_alone).abs().max().item() < 1e-12
