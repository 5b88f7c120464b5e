"""The ablations that remove the quantum router's mechanism are exact (docs/quantum.md).

* `dephased`: the fast Markov-chain simulator (torch_dephased.py) equals the density-matrix
  simulation with a complete dephasing channel after every layer (every strategy of
  torch_density.py), an independent PennyLane default.mixed circuit with qml.PhaseDamping(1)
  on every wire after every layer, qmoe's PennyLane and Aer density-matrix backends, under
  noise too; gradients included.
* `no_entangler`: probabilities equal the product of single-qubit ones computed by hand, and
  an independent PennyLane circuit without entanglers; every torch path agrees.
* `spectrum_matched`: its features span every output of the quantum router exactly (a
  least-squares fit of random circuits' outputs leaves ~1e-12), and no smaller spectrum does;
  its parameter counts within the budget.
"""

from __future__ import annotations

import numpy as np
import pennylane as qml
import pytest
import torch

from qmoe_cli.config import validate_config
from qmoe_cli.errors import ConfigError
from qmoe_cli.models.routers.spectrum_matched import spectrum_layout
from qmoe_cli.models.torch_routers import SpectrumMatchedRouter, spectrum_terms
from qmoe_cli.quantum import make_backend
from qmoe_cli.quantum.noise import NoiseSpec
from qmoe_cli.quantum.pennylane_backend import MixedBackend
from qmoe_cli.quantum.qiskit_backend import AerDensityMatrixBackend, build_circuit
from qmoe_cli.quantum.spec import CircuitSpec
from qmoe_cli.quantum.torch_backend import TorchStatevector
from qmoe_cli.quantum.torch_density import TorchDensityMatrix
from qmoe_cli.quantum.torch_dephased import TorchDephased

ATOL = 1e-6
# (qubits, layers, features, experts, ansatz, embedding, readout): both ansatze, both
# readouts, cyclic features, the paper's B and B4 layouts
SPECS = [
    (2, 12, 2, 4, "ry_cz", "ry", "probs"),
    (4, 6, 2, 4, "ry_cz", "ry", "probs"),
    (3, 2, 2, 3, "ry_cz", "rx", "expval"),
    (2, 3, 2, 4, "strongly_entangling", "rx", "probs"),
    (3, 3, 2, 5, "strongly_entangling", "ry", "expval"),
    (4, 2, 3, 4, "strongly_entangling", "rx", "probs"),
    (5, 2, 2, 4, "strongly_entangling", "ry", "probs"),
]


def spec_id(s) -> str:
    return f"{s[4]}-{s[6]}-{s[5]}-q{s[0]}-l{s[1]}-f{s[2]}"


def problem(spec: CircuitSpec, seed: int = 0, batch: int = 6):
    g = torch.Generator().manual_seed(seed)
    w = torch.rand(spec.weight_shape, generator=g, dtype=torch.float64) * 2 * np.pi
    x = torch.rand(batch, spec.n_features, generator=g, dtype=torch.float64) * np.pi
    c = torch.randn(spec.n_outputs, generator=g, dtype=torch.float64)
    return w, x, c


def outputs_and_grad(backend, w, x, c):
    w = w.clone().requires_grad_(True)
    out = backend.outputs(w, x)
    (out @ c).sum().backward()
    return out.detach(), w.grad


def pennylane_dephased(spec: CircuitSpec, w, x) -> torch.Tensor:
    """Independent of qmoe's backends: the gates written out, qml.PhaseDamping(1) on every
    wire after every layer, default.mixed with backprop; (B, 2^n) probabilities."""
    n = spec.n_qubits
    dev = qml.device("default.mixed", wires=n)
    emb = {"rx": qml.RX, "ry": qml.RY, "rz": qml.RZ}[spec.embedding]

    @qml.qnode(dev, interface="torch", diff_method="backprop")
    def circuit(weights, xs):
        for q in range(n):
            emb(xs[:, q % spec.n_features], wires=q)
        for layer in range(spec.n_layers):
            for q in range(n):
                if spec.ansatz == "ry_cz":
                    qml.RY(weights[layer, q], wires=q)
                else:
                    qml.Rot(*weights[layer, q], wires=q)
            if spec.ansatz == "ry_cz":
                for q in range(n - 1):
                    qml.CZ(wires=[q, q + 1])
            else:
                r = layer % (n - 1) + 1
                for q in range(n):
                    qml.CNOT(wires=[q, (q + r) % n])
            for q in range(n):
                qml.PhaseDamping(1.0, wires=q)
        return qml.probs(wires=range(n))

    return circuit(w, x).reshape(len(x), -1)


# ----------------------------------------------------------------- dephased


@pytest.mark.parametrize("shape", SPECS, ids=spec_id)
def test_dephased_equals_density_matrix_with_dephasing_channels(shape):
    spec = CircuitSpec(*shape, mechanism="dephased")
    w, x, c = problem(spec)
    fast = make_backend(spec, "torch")
    assert isinstance(fast, TorchDephased)
    out, grad = outputs_and_grad(fast, w, x, c)
    strategies = ["auto", "batch"] + (["heisenberg"] if spec.n_qubits <= 4 else [])
    for strategy in strategies:
        ref_out, ref_grad = outputs_and_grad(
            TorchDensityMatrix(spec, NoiseSpec(), strategy), w, x, c
        )
        torch.testing.assert_close(out, ref_out, atol=ATOL, rtol=0)
        torch.testing.assert_close(grad, ref_grad, atol=ATOL, rtol=0)
    # dephasing removes something: the full circuit gives other numbers
    full = TorchStatevector(CircuitSpec(*shape)).outputs(w, x)
    assert (full - out).abs().max() > 1e-3


@pytest.mark.parametrize("shape", SPECS[:5], ids=spec_id)
def test_dephased_equals_pennylane_phase_damping(shape):
    spec = CircuitSpec(*shape, mechanism="dephased")
    w, x, _ = problem(spec, seed=1)
    probs = make_backend(spec, "torch").probs(w, x)
    w_pl = w.clone().requires_grad_(True)
    ref = pennylane_dephased(spec, w_pl, x)
    torch.testing.assert_close(probs, ref.detach(), atol=ATOL, rtol=0)
    # gradients of one probability-weighted sum through both
    g = torch.Generator().manual_seed(2)
    c = torch.randn(probs.shape[1], generator=g, dtype=torch.float64)
    (ref @ c).sum().backward()
    w_t = w.clone().requires_grad_(True)
    (make_backend(spec, "torch").probs(w_t, x) @ c).sum().backward()
    torch.testing.assert_close(w_t.grad, w_pl.grad, atol=ATOL, rtol=0)


@pytest.mark.parametrize("shape", SPECS[2:6], ids=spec_id)
def test_dephased_backends_pennylane_and_aer_agree(shape):
    spec = CircuitSpec(*shape, mechanism="dephased")
    w, x, c = problem(spec, seed=3)
    out, grad = outputs_and_grad(make_backend(spec, "torch"), w, x, c)
    pl = make_backend(spec, "pennylane")
    assert isinstance(pl, MixedBackend)
    pl_out, pl_grad = outputs_and_grad(pl, w, x, c)
    torch.testing.assert_close(out, pl_out, atol=ATOL, rtol=0)
    torch.testing.assert_close(grad, pl_grad, atol=ATOL, rtol=0)
    aer = make_backend(spec, "qiskit-aer")
    assert isinstance(aer, AerDensityMatrixBackend)
    torch.testing.assert_close(out, aer.outputs(w, x), atol=ATOL, rtol=0)


@pytest.mark.parametrize(
    "noise",
    [
        NoiseSpec(p1=0.02, p2=0.05),
        NoiseSpec(placement="notebook", wire_lam=0.03, readout_error=0.02),
    ],
    ids=["paper", "notebook"],
)
def test_dephased_under_noise_agrees_with_pennylane_mixed(noise):
    spec = CircuitSpec(3, 2, 2, 4, "strongly_entangling", "rx", "probs", "dephased")
    w, x, c = problem(spec, seed=4)
    torch_noisy = make_backend(spec, "torch", noise)
    assert isinstance(torch_noisy, TorchDensityMatrix)
    out, grad = outputs_and_grad(torch_noisy, w, x, c)
    ref_out, ref_grad = outputs_and_grad(MixedBackend(spec, noise), w, x, c)
    torch.testing.assert_close(out, ref_out, atol=ATOL, rtol=0)
    torch.testing.assert_close(grad, ref_grad, atol=ATOL, rtol=0)
    torch.testing.assert_close(
        out, AerDensityMatrixBackend(spec, noise).outputs(w, x), atol=ATOL, rtol=0
    )


def test_dephased_ry_cz_is_a_product_of_per_qubit_chains():
    """CZ is diagonal, so dephasing makes it invisible: a dephased RY + CZ router is n
    independent two-state Markov chains (one per qubit), its probabilities a product."""
    spec = CircuitSpec(4, 6, 2, 16, "ry_cz", "ry", "probs", "dephased")
    w, x, _ = problem(spec, seed=5)
    probs = make_backend(spec, "torch").probs(w, x).numpy()
    marginals = []
    for q in range(4):
        t = x[:, q % 2].numpy() / 2 + w[0, q].numpy() / 2  # RY(w) RY(x)|0>: angle (x + w) / 2
        p = np.stack([np.cos(t) ** 2, np.sin(t) ** 2], 1)
        for layer in range(1, 6):
            c, s = np.cos(w[layer, q].item() / 2) ** 2, np.sin(w[layer, q].item() / 2) ** 2
            p = p @ np.array([[c, s], [s, c]])  # the bit flips with probability sin^2(w/2)
        marginals.append(p)
    product = np.einsum("ba,bc,bd,be->bacde", *marginals).reshape(len(x), 16)
    np.testing.assert_allclose(probs, product, atol=ATOL)


def test_dephased_stacked_probs_equal_one_model_at_a_time():
    spec = CircuitSpec(3, 3, 2, 4, "strongly_entangling", "rx", "expval", "dephased")
    backend = make_backend(spec, "torch")
    g = torch.Generator().manual_seed(6)
    w = torch.rand(4, *spec.weight_shape, generator=g, dtype=torch.float64) * 6
    x = torch.rand(4, 5, 2, generator=g, dtype=torch.float64) * 3
    stacked = backend.outputs(w, x)
    for s in range(4):
        torch.testing.assert_close(stacked[s], backend.outputs(w[s], x[s]), atol=1e-12, rtol=0)


def test_dephased_has_no_unitary_circuit():
    spec = CircuitSpec(2, 2, 2, 4, mechanism="dephased")
    with pytest.raises(ValueError, match="no unitary circuit"):
        build_circuit(spec, np.zeros(spec.weight_shape))
    with pytest.raises(ValueError, match="no unitary circuit"):
        make_backend(spec, "lightning")


# ----------------------------------------------------------------- no entangler


def single_qubit_probs(spec: CircuitSpec, w: np.ndarray, x: np.ndarray) -> list[np.ndarray]:
    """(B, 2) per qubit: its embedding gate, then its L gates, on |0>, by hand."""

    def ry(t):
        return np.array([[np.cos(t / 2), -np.sin(t / 2)], [np.sin(t / 2), np.cos(t / 2)]])

    def rz(t):
        return np.diag([np.exp(-0.5j * t), np.exp(0.5j * t)])

    def rx(t):
        return np.array(
            [[np.cos(t / 2), -1j * np.sin(t / 2)], [-1j * np.sin(t / 2), np.cos(t / 2)]]
        )

    emb = {"rx": rx, "ry": ry, "rz": rz}[spec.embedding]
    out = []
    for q in range(spec.n_qubits):
        rows = []
        for xb in x:
            psi = emb(xb[q % spec.n_features]) @ np.array([1.0, 0.0])
            for layer in range(spec.n_layers):
                if spec.ansatz == "ry_cz":
                    psi = ry(w[layer, q]) @ psi
                else:
                    phi, theta, omega = w[layer, q]
                    psi = rz(omega) @ ry(theta) @ rz(phi) @ psi
            rows.append(np.abs(psi) ** 2)
        out.append(np.array(rows))
    return out


@pytest.mark.parametrize("shape", SPECS, ids=spec_id)
def test_no_entangler_probabilities_factorise(shape):
    spec = CircuitSpec(*shape, mechanism="no_entangler")
    w, x, c = problem(spec, seed=7)
    marginals = single_qubit_probs(spec, w.numpy(), x.numpy())
    product = marginals[0]
    for m in marginals[1:]:
        product = (product[:, :, None] * m[:, None, :]).reshape(len(x), -1)  # qubit 0 the MSB
    paths = {"auto": TorchStatevector(spec)}
    for strategy in ("unitary", "gates", "kernel"):
        try:
            paths[strategy] = TorchStatevector(spec, strategy)
        except ValueError:  # the kernel takes small circuits only
            pass
    for name, backend in paths.items():
        np.testing.assert_allclose(backend.probs(w, x).numpy(), product, atol=ATOL, err_msg=name)
    # PennyLane (the spec's ops, which hold no entangler) and Aer, outputs and gradients
    out, grad = outputs_and_grad(TorchStatevector(spec), w, x, c)
    pl_out, pl_grad = outputs_and_grad(make_backend(spec, "pennylane"), w, x, c)
    torch.testing.assert_close(out, pl_out, atol=ATOL, rtol=0)
    torch.testing.assert_close(grad, pl_grad, atol=ATOL, rtol=0)
    torch.testing.assert_close(
        out, make_backend(spec, "qiskit-aer").outputs(w, x), atol=ATOL, rtol=0
    )
    assert (TorchStatevector(CircuitSpec(*shape)).outputs(w, x) - out).abs().max() > 1e-3


def test_no_entangler_pennylane_by_hand():
    """An independent PennyLane circuit with the entanglers left out."""
    spec = CircuitSpec(3, 2, 2, 8, "strongly_entangling", "rx", "probs", "no_entangler")
    w, x, _ = problem(spec, seed=8)
    dev = qml.device("default.qubit", wires=3)

    @qml.qnode(dev, interface="torch")
    def circuit(weights, xs):
        for q in range(3):
            qml.RX(xs[:, q % 2], wires=q)
        for layer in range(2):
            for q in range(3):
                qml.Rot(*weights[layer, q], wires=q)
        return qml.probs(wires=range(3))

    torch.testing.assert_close(make_backend(spec).probs(w, x), circuit(w, x), atol=ATOL, rtol=0)


# ----------------------------------------------------------------- spectrum-matched


def spectrum_features(limits, x: np.ndarray) -> np.ndarray:
    """(B, 1 + T): the constant, then every term of the spectrum."""
    terms = spectrum_terms(limits)
    cols = [np.ones(len(x))]
    for term in terms:
        col = np.ones(len(x))
        for f, (k, t) in enumerate(term):
            if k:
                col = col * (np.cos(k * x[:, f]) if t == 0 else np.sin(k * x[:, f]))
        cols.append(col)
    return np.stack(cols, 1)


@pytest.mark.parametrize(
    "shape",
    [(2, 3, 2, 4), (4, 2, 2, 4), (3, 2, 2, 8), (4, 1, 3, 4), (1, 2, 1, 2)],
    ids=lambda s: f"q{s[0]}-f{s[2]}",
)
@pytest.mark.parametrize("ansatz", ["ry_cz", "strongly_entangling"])
def test_spectrum_spans_the_quantum_routers_outputs(shape, ansatz):
    n, layers, features, experts = shape
    spec = CircuitSpec(n, layers, features, experts, ansatz, "rx", "probs")
    limits = spec.frequency_limits()
    rng = np.random.default_rng(9)
    x = rng.uniform(0, np.pi, (200, features))
    phi = spectrum_features(limits, x)
    assert phi.shape[1] == np.prod([2 * r + 1 for r in limits])
    for _ in range(3):
        w = torch.as_tensor(rng.uniform(0, 2 * np.pi, spec.weight_shape))
        out = TorchStatevector(spec).outputs(w, torch.as_tensor(x)).numpy()
        coef, *_ = np.linalg.lstsq(phi, out, rcond=None)
        assert np.abs(phi @ coef - out).max() < 1e-9
    # the spectrum is tight: without the top frequency of feature 0 the basis-state
    # probabilities do not fit (grouped outputs may use less of it: B4's i mod 4 reads only
    # qubits 2 and 3, and at 2 layers their marginal has frequency 1 in x_0)
    smaller = (limits[0] - 1, *limits[1:])
    psi = spectrum_features(smaller, x)
    probs = TorchStatevector(spec).probs(w, torch.as_tensor(x)).numpy()
    coef, *_ = np.linalg.lstsq(psi, probs, rcond=None)
    assert np.abs(psi @ coef - probs).max() > 1e-5


def test_spectrum_matched_parameter_counts_meet_the_budget():
    # the paper's 24-parameter layouts, 2 features and 4 experts
    assert spectrum_layout(2, 2, 4, "truncated", 24) == (7, 0, 24)
    assert spectrum_layout(2, 2, 4, "low_rank", 24) == (8, 2, 21)
    assert spectrum_layout(2, 2, 4, "full", None) == (8, 0, 27)
    assert spectrum_layout(4, 2, 4, "truncated", 24) == (7, 0, 24)
    assert spectrum_layout(4, 2, 4, "low_rank", 24) == (24, 1, 16)
    assert spectrum_layout(4, 2, 4, "full", None) == (24, 0, 75)
    for qubits, map_, count in [(2, "truncated", 24), (2, "low_rank", 21), (4, "low_rank", 16)]:
        kept, rank, _ = spectrum_layout(qubits, 2, 4, map_, 24)
        router = SpectrumMatchedRouter(4, (qubits // 2,) * 2, kept, rank)
        assert sum(p.numel() for p in router.parameters()) == count
        gates = router(torch.rand(5, 2))
        torch.testing.assert_close(gates.sum(-1), torch.ones(5))


def test_spectrum_matched_low_rank_is_a_map_on_the_spectrum():
    """A CP map's logits are linear in the spectrum's features (the products expand)."""
    torch.manual_seed(0)
    router = SpectrumMatchedRouter(4, (2, 1), 0, rank=2).double()
    x = np.random.default_rng(10).uniform(0, np.pi, (100, 2))
    logits = router.logits(torch.as_tensor(x)).detach().numpy()
    phi = spectrum_features((2, 1), x)
    coef, *_ = np.linalg.lstsq(phi, logits, rcond=None)
    assert np.abs(phi @ coef - logits).max() < 1e-9


def config(router: dict) -> dict:
    return {
        "data": {"name": "two_moons", "n_samples": 100},
        "model": {"router": router, "experts": {"count": 4}},
    }


@pytest.mark.parametrize(
    "router, message",
    [
        ({"type": "quantum", "mechanism": "dephased", "backend": "lightning"}, "statevector"),
        ({"type": "quantum", "mechanism": "coherent"}, "mechanism"),
        ({"type": "spectrum_matched", "qubits": 4, "max_params": 5}, "max_params"),
        ({"type": "spectrum_matched", "map": "low_rank", "max_params": 11}, "rank-1"),
        ({"type": "spectrum_matched", "map": "full"}, "max_params"),
        ({"type": "spectrum_matched", "qubits": 1}, "qubits"),
    ],
)
def test_bad_mechanism_configs_are_refused(router, message):
    with pytest.raises(ConfigError, match=message):
        validate_config(config(router))
