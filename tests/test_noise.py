"""Noisy circuits give the same numbers in every backend, under noise.py's conventions.

TorchDensityMatrix (both strategies), Qiskit Aer's density matrix (AerDensityMatrixBackend)
and PennyLane's default.mixed (MixedBackend) are compared on a fixed, seeded sample of
small circuits (1..3 qubits, 1..2 layers, both ansatze, both placements, strengths 0,
0.005 and 0.03, some with a separate 2-qubit strength, some with readout error). The
conventions are also checked on their own: Qiskit's depolarizing_error(lam, k) against
PennyLane's channels and the torch backend's `depolarize`, the placement of the channels,
the limits eps = 0 (noiseless) and eps = 1 (uniform), the config's `depolarizing` as
Qiskit's eps under placement notebook too, shot sampling, finite-difference gradients and
an IBM fake device's noise model.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pennylane as qml
import pytest
import torch
from qiskit.quantum_info import Choi, DensityMatrix, Kraus, random_density_matrix
from qiskit_aer import AerSimulator
from qiskit_aer.noise import depolarizing_error

from qmoe_cli.quantum.noise import (
    Channel,
    NoiseSpec,
    noisy_sequence,
    pennylane_p,
    qiskit_lam,
    readout_confusion,
)
from qmoe_cli.quantum.pennylane_backend import MixedBackend, two_qubit_depolarizing_kraus
from qmoe_cli.quantum.qiskit_backend import (
    AerDensityMatrixBackend,
    build_noisy_circuit,
    noise_model,
)
from qmoe_cli.quantum.spec import CircuitSpec
from qmoe_cli.quantum.torch_backend import TorchStatevector
from qmoe_cli.quantum.torch_density import TorchDensityMatrix, depolarize

ATOL = 1e-6
ANSATZE = ("ry_cz", "strongly_entangling")
PLACEMENTS = ("paper", "notebook")
EPS = (0.0, 0.005, 0.03)


def make_cases(seed: int = 20250101) -> list[tuple[CircuitSpec, NoiseSpec, int]]:
    """24 (spec, noise, seed) triples: every ansatz x placement x eps twice, sizes shuffled."""
    rng = np.random.default_rng(seed)
    combos = list(itertools.product(ANSATZE, PLACEMENTS, EPS)) * 2
    qubits = rng.permutation(np.resize(np.arange(1, 4), len(combos)))
    layers = rng.permutation(np.resize(np.arange(1, 3), len(combos)))
    cases = []
    for i, ((ansatz, placement, eps), n, n_layers) in enumerate(
        zip(combos, qubits, layers, strict=True)
    ):
        n, n_layers = int(n), int(n_layers)
        readout = ("probs", "expval")[i % 2]
        embedding = ("rx", "ry", "rz")[i % 3]
        n_features = int(rng.integers(1, n + 1))
        n_experts = int(rng.integers(2, 2**n + 1)) if readout == "probs" else 3
        spec = CircuitSpec(n, n_layers, n_features, n_experts, ansatz, embedding, readout)
        readout_error = 0.02 if i % 4 == 3 else 0.0
        if placement == "notebook":
            noise = NoiseSpec(placement="notebook", wire_lam=eps, readout_error=readout_error)
        else:
            p2 = eps if i % 3 else 2 * eps + 0.01  # some with a separate 2-qubit strength
            noise = NoiseSpec(eps, p2, "paper", readout_error=readout_error)
        cases.append((spec, noise, 500 + i))
    return cases


CASES = make_cases()


def case_id(case) -> str:
    s, nz, _ = case
    strength = f"p{nz.p1}-{nz.p2}" if nz.placement == "paper" else f"w{nz.wire_lam}"
    return (
        f"{s.ansatz}-{s.readout}-{s.embedding}-q{s.n_qubits}-l{s.n_layers}-"
        f"{nz.placement}-{strength}-r{nz.readout_error}"
    )


def random_problem(spec: CircuitSpec, seed: int, batch: int | None = None):
    """Weights in [0, 2 pi), inputs in [0, pi], a fixed linear functional, float64."""
    g = torch.Generator().manual_seed(seed)
    batch = batch or int(torch.randint(3, 7, (1,), generator=g))
    weights = torch.rand(spec.weight_shape, generator=g, dtype=torch.float64) * 2 * math.pi
    x = torch.rand(batch, spec.n_features, generator=g, dtype=torch.float64) * math.pi
    coeffs = torch.randn(batch, spec.n_outputs, generator=g, dtype=torch.float64)
    return weights, x, coeffs


def noisy_backends(spec: CircuitSpec, noise: NoiseSpec) -> dict:
    return {
        "torch-superoperator": TorchDensityMatrix(spec, noise, "superoperator"),
        "torch-batch": TorchDensityMatrix(spec, noise, "batch"),
        "torch-heisenberg": TorchDensityMatrix(spec, noise, "heisenberg"),
        "aer": AerDensityMatrixBackend(spec, noise),
        "default.mixed": MixedBackend(spec, noise),
    }


def max_diff(results: dict, ref: str = "torch-batch") -> dict:
    return {name: (value - results[ref]).abs().max().item() for name, value in results.items()}


# --------------------------------------------------------------------------- the sample


def test_sample_covers_every_kind_of_circuit():
    specs = [s for s, _, _ in CASES]
    noises = [nz for _, nz, _ in CASES]
    assert {s.n_qubits for s in specs} == {1, 2, 3}
    assert {s.n_layers for s in specs} == {1, 2}
    assert {(s.ansatz, nz.placement) for s, nz, _ in CASES} == set(
        itertools.product(ANSATZE, PLACEMENTS)
    )
    assert {nz.p1 for nz in noises if nz.placement == "paper"} == set(EPS)
    assert {nz.wire_lam for nz in noises if nz.placement == "notebook"} == set(EPS)
    assert any(nz.p1 != nz.p2 for nz in noises if nz.placement == "paper")
    assert any(nz.readout_error for nz in noises) and not all(nz.readout_error for nz in noises)
    # a circuit with entanglers and channels on them in both ansatze
    assert {s.ansatz for s, nz, _ in CASES if s.n_qubits > 1 and nz.p2} == set(ANSATZE)


# --------------------------------------------------------------------------- agreement


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_noisy_probs_and_outputs_agree(case):
    spec, noise, seed = case
    weights, x, _ = random_problem(spec, seed)
    probs, outputs = {}, {}
    for name, backend in noisy_backends(spec, noise).items():
        probs[name] = backend.probs(weights, x)
        outputs[name] = backend.outputs(weights, x)
        assert probs[name].shape == (len(x), 2**spec.n_qubits), name
        assert outputs[name].shape == (len(x), spec.n_outputs), name
        assert probs[name].dtype == outputs[name].dtype == torch.float64, name
    ones = torch.ones(len(x), dtype=torch.float64)
    torch.testing.assert_close(probs["torch-batch"].sum(1), ones, atol=1e-12, rtol=0)
    assert probs["torch-batch"].min() >= 0
    for what, results in (("probs", probs), ("outputs", outputs)):
        diffs = max_diff(results)
        assert max(diffs.values()) < ATOL, (what, diffs)


GRADIENT_CASES = [c for c in CASES if c[1].has_channels and c[0].n_qubits > 1][::3]


def test_gradient_sample_is_varied():
    assert len(GRADIENT_CASES) >= 4
    assert {s.ansatz for s, _, _ in GRADIENT_CASES} == set(ANSATZE)
    assert {nz.placement for _, nz, _ in GRADIENT_CASES} == set(PLACEMENTS)


@pytest.mark.parametrize("case", GRADIENT_CASES, ids=case_id)
def test_gradients_agree_with_default_mixed_backprop(case):
    spec, noise, seed = case
    weights, x, coeffs = random_problem(spec, seed)
    grads = {}
    for name, backend in noisy_backends(spec, noise).items():
        if name == "aer":
            continue  # inference only
        w = weights.clone().requires_grad_(True)
        (backend.outputs(w, x) * coeffs).sum().backward()
        assert w.grad is not None and torch.isfinite(w.grad).all(), name
        grads[name] = w.grad
    diffs = max_diff(grads)
    assert max(diffs.values()) < ATOL, diffs
    assert grads["torch-batch"].abs().max() > 1e-3


def test_mixed_backend_gradient_is_finite_where_a_probability_is_zero():
    """qml.probs on default.mixed backprops NaN at p = 0; the density-matrix diagonal not."""
    spec = CircuitSpec(2, 1, 2, 4, "ry_cz", "ry", "probs")
    weights = torch.zeros(spec.weight_shape, dtype=torch.float64, requires_grad=True)
    x = torch.zeros(1, 2, dtype=torch.float64)  # |00>: three probabilities exactly 0
    noise = NoiseSpec(placement="notebook", wire_lam=0.0)
    probs = MixedBackend(spec, noise).probs(weights, x)
    (probs * torch.arange(4.0, dtype=torch.float64)).sum().backward()
    assert torch.isfinite(weights.grad).all()


def test_float32_is_kept():
    spec = CircuitSpec(2, 2, 2, 3, "strongly_entangling", "rx", "probs")
    noise = NoiseSpec(0.01, 0.02, readout_error=0.01)
    weights, x, _ = random_problem(spec, 3)
    ref = TorchDensityMatrix(spec, noise).outputs(weights, x)
    for name, backend in noisy_backends(spec, noise).items():
        out = backend.outputs(weights.float(), x.float())
        assert out.dtype == torch.float32, name
        assert (out.double() - ref).abs().max() < 1e-5, name


# --------------------------------------------------------------------------- conventions


@pytest.mark.parametrize("lam", [0.0, 0.01, 0.3, 1.0])
def test_qiskit_one_qubit_depolarizing_is_pennylane_channel(lam):
    qiskit = Choi(depolarizing_error(lam, 1).to_quantumchannel())
    kraus = qml.DepolarizingChannel(pennylane_p(lam), wires=0).kraus_matrices()
    pennylane = Choi(Kraus(kraus))
    np.testing.assert_allclose(qiskit.data, pennylane.data, atol=1e-12)
    assert qiskit_lam(pennylane_p(lam)) == pytest.approx(lam)
    # and the channel's action, as the torch backend writes it
    for seed in range(3):
        rho = random_density_matrix(2, seed=seed)
        expected = rho.evolve(depolarizing_error(lam, 1).to_quantumchannel()).data
        got = depolarize(torch.as_tensor(rho.data)[None], 1, (0,), lam)[0].numpy()
        np.testing.assert_allclose(got, expected, atol=1e-12)


NOTEBOOK_SPECS = [
    CircuitSpec(1, 2, 1, 2, "ry_cz", "ry", "probs"),
    CircuitSpec(2, 2, 2, 2, "strongly_entangling", "rx", "expval"),
    CircuitSpec(3, 1, 2, 4, "strongly_entangling", "ry", "probs"),
]


@pytest.mark.parametrize("eps", [0.005, 0.03, 0.9])
@pytest.mark.parametrize("spec", NOTEBOOK_SPECS, ids=lambda s: f"{s.ansatz}-q{s.n_qubits}")
def test_notebook_depolarizing_is_qiskit_eps_on_every_wire(spec, eps):
    """`depolarizing: eps` with placement notebook is Qiskit's depolarizing_error(eps, 1) on
    every wire (PennyLane's DepolarizingChannel(3 eps / 4)), as under placement paper; the
    torch backend, default.mixed and Aer agree on it, from the config on."""
    from qmoe_cli.config import NoiseConfig

    noise = NoiseSpec.from_config(NoiseConfig(placement="notebook", depolarizing=eps))
    assert noise.placement == "notebook" and noise.wire_lam == eps
    weights, x, _ = random_problem(spec, 11)
    probs = {name: b.probs(weights, x) for name, b in noisy_backends(spec, noise).items()}
    assert max(max_diff(probs).values()) < ATOL, max_diff(probs)

    # an independent reference: PennyLane's own channel with p = 3 eps / 4 on every wire
    dev = qml.device("default.mixed", wires=spec.n_qubits)
    wires = range(spec.n_qubits)

    @qml.qnode(dev)
    def reference(row):
        for op in spec.embedding_ops(row):
            getattr(qml, op.name)(*op.params, wires=list(op.wires))
        for q in wires:
            qml.DepolarizingChannel(3 * eps / 4, wires=q)
        for op in spec.ansatz_ops(weights.numpy()):
            getattr(qml, op.name)(*op.params, wires=list(op.wires))
        for q in wires:
            qml.DepolarizingChannel(3 * eps / 4, wires=q)
        return qml.density_matrix(wires=list(wires))

    expected = torch.stack(
        [torch.tensor(np.diag(np.asarray(reference(row.tolist()))).real) for row in x]
    )
    assert (probs["torch-batch"] - expected).abs().max().item() < ATOL
    # ...and not the old reading (eps taken as PennyLane's p), which is a different channel
    old = NoiseSpec(placement="notebook", wire_lam=qiskit_lam(eps))
    assert (TorchDensityMatrix(spec, old).probs(weights, x) - expected).abs().max() > 1e-6


def test_notebook_placement_accepts_eps_up_to_one():
    """Qiskit's lam is a channel up to 4/3 on one qubit, so the old p <= 3/4 cap is gone; the
    config keeps eps <= 1 (full depolarization) for both placements."""
    from qmoe_cli.config import NoiseConfig, NoiseSweepConfig, validate_config
    from qmoe_cli.errors import ConfigError

    for eps in (0.9, 1.0):
        cfg = NoiseConfig(placement="notebook", depolarizing=eps)
        assert NoiseSpec.from_config(cfg).wire_lam == eps
    depolarizing_error(0.9, 1)  # a valid Qiskit channel
    assert 0 <= pennylane_p(1.0) <= 1  # and a valid PennyLane one
    raw = {
        "name": "nb",
        "data": {"name": "two_moons", "n_samples": 120},
        "model": {
            "router": {
                "type": "quantum",
                "qubits": 2,
                "layers": 1,
                "noise": {"placement": "notebook"},
            },  # fmt: skip
            "experts": {"count": 2},
        },
        "levels": [0.0, 0.5, 0.9],
    }
    sweep = validate_config(raw, schema=NoiseSweepConfig)
    assert NoiseSpec.from_config(sweep.at_level(0.9).model.router.noise).wire_lam == 0.9
    with pytest.raises((ConfigError, ValueError)):
        NoiseConfig(placement="notebook", depolarizing=1.1)


@pytest.mark.parametrize("lam", [0.0, 0.02, 0.5, 1.0, 16 / 15])
def test_joint_two_qubit_channel_is_qiskit_depolarizing_error(lam):
    kraus = two_qubit_depolarizing_kraus(lam)
    assert len(kraus) == 16
    completeness = sum(k.conj().T @ k for k in kraus)
    np.testing.assert_allclose(completeness, np.eye(4), atol=1e-12)
    qiskit = depolarizing_error(lam, 2).to_quantumchannel()
    np.testing.assert_allclose(Choi(Kraus(kraus)).data, Choi(qiskit).data, atol=1e-12)
    # ...which is not two 1-qubit channels (for 0 < lam)
    if 0 < lam < 1:
        one = depolarizing_error(lam, 1).to_quantumchannel()
        assert not np.allclose(Choi(one.tensor(one)).data, Choi(qiskit).data, atol=1e-6)
    # action on a 3-qubit state, wires (0, 2), big-endian in torch and PennyLane
    rho = random_density_matrix(8, seed=1)
    # Qiskit is little-endian: big-endian wire w is Qiskit qubit 2 - w
    big_in = torch.as_tensor(_reverse_qubits(rho.data, 3))
    expected = _reverse_qubits(rho.evolve(qiskit, qargs=[2, 0]).data, 3)
    got = depolarize(big_in[None], 3, (0, 2), lam)[0].numpy()
    np.testing.assert_allclose(got, expected, atol=1e-12)
    dev = qml.device("default.mixed", wires=3)

    @qml.qnode(dev)
    def evolve():
        qml.QubitDensityMatrix(big_in.numpy(), wires=[0, 1, 2])
        qml.QubitChannel(kraus, wires=[0, 2])
        return qml.density_matrix(wires=[0, 1, 2])

    np.testing.assert_allclose(np.asarray(evolve()), expected, atol=1e-12)


def _reverse_qubits(rho: np.ndarray, n: int) -> np.ndarray:
    """Density matrix with the qubit order reversed (little- <-> big-endian)."""
    t = rho.reshape((2,) * (2 * n))
    order = [*range(n - 1, -1, -1), *range(2 * n - 1, n - 1, -1)]
    return t.transpose(order).reshape(2**n, 2**n)


def test_qiskit_density_matrix_reversal_helper():
    rho = DensityMatrix.from_label("100")  # Qiskit: qubit 2 is 1
    big = _reverse_qubits(rho.data, 3)
    assert big[1, 1] == 1  # big-endian: qubit 2 is the least significant bit


@pytest.mark.parametrize("ansatz", ANSATZE)
@pytest.mark.parametrize("n", [1, 2, 3])
def test_noisy_sequence_places_channels_as_documented(ansatz, n):
    spec = CircuitSpec(n, 2, 1, 2, ansatz)
    weights, x, _ = random_problem(spec, n)
    row = x[0].tolist()
    gates = [*spec.embedding_ops(row), *spec.ansatz_ops(weights)]
    n_two = sum(len(op.wires) == 2 for op in gates)
    assert n_two == (spec.n_layers * (n - 1) if ansatz == "ry_cz" else spec.n_layers * n * (n > 1))

    paper = noisy_sequence(spec, NoiseSpec(0.01, 0.02), row, weights)
    channels = [item for item in paper if isinstance(item, Channel)]
    assert len(channels) == len(gates) == n + spec.n_layers * n + n_two
    for gate, channel in zip(paper[::2], paper[1::2], strict=True):  # gate, its channel, ...
        assert not isinstance(gate, Channel) and isinstance(channel, Channel)
        assert channel.wires == gate.wires
        assert channel.lam == (0.01 if len(gate.wires) == 1 else 0.02)
    only_2q = noisy_sequence(spec, NoiseSpec(0.0, 0.02), row, weights)
    assert sum(isinstance(item, Channel) for item in only_2q) == n_two

    notebook = noisy_sequence(spec, NoiseSpec(placement="notebook", wire_lam=0.05), row, weights)
    wires = [Channel((q,), 0.05) for q in range(n)]
    assert notebook == [*spec.embedding_ops(row), *wires, *spec.ansatz_ops(weights), *wires]
    assert noisy_sequence(spec, NoiseSpec(placement="notebook"), row, weights) == gates
    assert noisy_sequence(spec, NoiseSpec(), row, weights) == gates


@pytest.mark.parametrize("placement", PLACEMENTS)
@pytest.mark.parametrize("ansatz", ANSATZE)
def test_qiskit_circuit_has_one_channel_per_noisy_item(ansatz, placement):
    """Rot is one `u` gate; the noise model covers every gate name, so the number of noisy
    operations in Aer is the number of channels of noisy_sequence."""
    spec = CircuitSpec(3, 2, 2, 4, ansatz, "ry")
    weights, x, _ = random_problem(spec, 1)
    noise = NoiseSpec(0.01, 0.02) if placement == "paper" else NoiseSpec(0.0, 0.0, placement, 0.01)
    qc = build_noisy_circuit(spec, noise, weights)
    assert [p.name for p in qc.parameters] == ["x[0]", "x[1]"]
    names = [inst.operation.name for inst in qc.data]
    model = noise_model(noise)
    noisy_gates = sum(name in model.noise_instructions for name in names)
    n_channels = sum(isinstance(i, Channel) for i in noisy_sequence(spec, noise, [0, 0], weights))
    assert noisy_gates + names.count("quantum_channel") == n_channels
    n_gates = len(spec.embedding_ops([0, 0])) + len(spec.ansatz_ops(weights))
    assert len(names) - names.count("quantum_channel") == n_gates
    if ansatz == "strongly_entangling":
        assert names.count("u") == spec.n_layers * spec.n_qubits
    if placement == "notebook":
        assert names.count("quantum_channel") == 2 * spec.n_qubits
        assert set(names[3:6]) == {"quantum_channel"} and set(names[-3:]) == {"quantum_channel"}
        assert not model.noise_instructions


# --------------------------------------------------------------------------- limits


@pytest.mark.parametrize("case", CASES[:12], ids=case_id)
def test_zero_noise_is_the_statevector(case):
    spec, _, seed = case
    weights, x, _ = random_problem(spec, seed)
    ref = TorchStatevector(spec).probs(weights, x)
    for noise in (NoiseSpec(), NoiseSpec(0.0, 0.0, "notebook", 0.0)):
        for name, backend in noisy_backends(spec, noise).items():
            diff = (backend.probs(weights, x) - ref).abs().max().item()
            assert diff < 1e-12, (name, diff)


@pytest.mark.parametrize("case", CASES[:12], ids=case_id)
def test_full_depolarizing_gives_the_uniform_distribution(case):
    spec, _, seed = case
    weights, x, _ = random_problem(spec, seed)
    d = 2**spec.n_qubits
    uniform = torch.full((len(x), d), 1 / d, dtype=torch.float64)
    for noise in (NoiseSpec(1.0, 1.0), NoiseSpec(readout_error=0.5)):
        for name, backend in noisy_backends(spec, noise).items():
            diff = (backend.probs(weights, x) - uniform).abs().max().item()
            assert diff < 1e-12, (name, noise, diff)


def test_readout_confusion_flips_bits_independently():
    c = readout_confusion(2, 0.1)
    np.testing.assert_allclose(c.sum(1), 1)
    assert c[0b10, 0b11] == pytest.approx(0.9 * 0.1)  # |10> read as |11>: qubit 1 flipped
    assert c[0b00, 0b11] == pytest.approx(0.01)


# --------------------------------------------------------------------------- shots


def _within_binomial_bounds(freq: torch.Tensor, exact: torch.Tensor, shots: int) -> None:
    sigma = torch.sqrt(exact * (1 - exact) / shots)
    excess = (freq - exact).abs() - (5 * sigma + 1e-9)
    assert excess.max() <= 0, ((freq - exact).abs().max().item(), excess.max().item())


SHOT_CASES = [
    (CircuitSpec(3, 2, 2, 8, "ry_cz", "rx"), NoiseSpec(0.03, 0.05, readout_error=0.02)),
    (
        CircuitSpec(2, 2, 2, 2, "strongly_entangling", "ry", "expval"),
        NoiseSpec(0.0, 0.0, "notebook", 0.05),
    ),
]


@pytest.mark.parametrize("spec, noise", SHOT_CASES)
def test_shot_frequencies_converge_to_exact_probabilities(spec, noise):
    shots = 20_000
    weights, x, _ = random_problem(spec, 9, batch=4)
    exact = TorchDensityMatrix(spec, noise).probs(weights, x)
    sampled = NoiseSpec(noise.p1, noise.p2, noise.placement, noise.wire_lam,
                        noise.readout_error, shots)  # fmt: skip
    torch.manual_seed(0)
    backends = {
        "torch": TorchDensityMatrix(spec, sampled),
        "default.mixed": MixedBackend(spec, sampled),
        "aer": AerDensityMatrixBackend(spec, sampled),
    }
    for name, backend in backends.items():
        freq = backend.probs(weights, x)
        assert freq.shape == exact.shape and freq.dtype == torch.float64, name
        torch.testing.assert_close(freq.sum(1), torch.ones(len(x), dtype=torch.float64))
        counts = freq * shots
        torch.testing.assert_close(counts, counts.round(), atol=1e-9, rtol=0)
        _within_binomial_bounds(freq, exact, shots)
        out = backend.outputs(weights, x)
        assert out.shape == (len(x), spec.n_outputs), name
    # seeded: the same torch seed gives the same frequencies, another seed others
    torch.manual_seed(1)
    first = backends["torch"].probs(weights, x), backends["aer"].probs(weights, x)
    torch.manual_seed(1)
    second = backends["torch"].probs(weights, x), backends["aer"].probs(weights, x)
    assert all(torch.equal(a, b) for a, b in zip(first, second, strict=True))
    assert not torch.equal(first[1], backends["aer"].probs(weights, x))


# --------------------------------------------------------------------------- gradients


FD_CASES = [
    (CircuitSpec(3, 2, 2, 3, "ry_cz", "rx", "probs"), NoiseSpec(0.02, 0.05, readout_error=0.01)),
    (CircuitSpec(3, 2, 3, 3, "strongly_entangling", "ry", "expval"), NoiseSpec(0.01, 0.03)),
    (CircuitSpec(2, 2, 2, 4, "strongly_entangling", "rx"), NoiseSpec(0.0, 0.0, "notebook", 0.1)),
]


@pytest.mark.parametrize("strategy", ["superoperator", "heisenberg", "batch"])
@pytest.mark.parametrize("spec, noise", FD_CASES)
def test_gradients_match_finite_differences(spec, noise, strategy):
    weights, x, coeffs = random_problem(spec, 21)
    sim = TorchDensityMatrix(spec, noise, strategy)

    def loss(w):
        return (sim.outputs(w, x) * coeffs).sum()

    w = weights.clone().requires_grad_(True)
    loss(w).backward()
    h = 1e-6
    fd = torch.zeros_like(weights).reshape(-1)
    with torch.no_grad():
        for i in range(weights.numel()):
            e = torch.zeros_like(fd)
            e[i] = h
            e = e.reshape(weights.shape)
            fd[i] = (loss(weights + e) - loss(weights - e)) / (2 * h)
    torch.testing.assert_close(w.grad, fd.reshape(weights.shape), atol=1e-6, rtol=0)
    assert w.grad.abs().max() > 1e-3


# --------------------------------------------------------------------------- fake device


FAKE = "FakeManilaV2"


@pytest.mark.slow
@pytest.mark.parametrize("ansatz", ANSATZE)
def test_fake_backend_noise_runs_offline(ansatz):
    spec = CircuitSpec(3, 2, 2, 4, ansatz, "rx", "probs")
    weights, x, _ = random_problem(spec, 5)
    backend = AerDensityMatrixBackend(spec, NoiseSpec(), FAKE)
    probs = backend.probs(weights, x)
    ideal = TorchStatevector(spec).probs(weights, x)
    torch.testing.assert_close(probs.sum(1), torch.ones(len(x), dtype=torch.float64))
    assert probs.min() >= 0
    assert (probs - ideal).abs().max() > 1e-3  # noisy...
    assert (0.5 * (probs - ideal).abs().sum(1)).max() < 0.3  # ...but close
    assert backend.outputs(weights, x).shape == (len(x), spec.n_outputs)
    # shots on the device: measured on the mapped qubits, with its readout errors
    shots = AerDensityMatrixBackend(spec, NoiseSpec(shots=20_000), FAKE, seed=3)
    _within_binomial_bounds(shots.probs(weights, x), probs, 20_000)


@pytest.mark.slow
def test_fake_backend_follows_the_final_layout():
    """Routing on the device's line moves logical qubits; without noise the result must be
    the noiseless one exactly, big-endian."""
    spec = CircuitSpec(3, 1, 2, 8, "strongly_entangling", "ry", "probs")
    weights, x, _ = random_problem(spec, 6)
    backend = AerDensityMatrixBackend(spec, NoiseSpec(), FAKE)
    assert backend.qubits != sorted(backend.qubits)  # routing permuted the qubits
    assert backend.confusion is not None
    backend.simulator = AerSimulator(method="density_matrix")  # the same circuit, no noise
    backend.confusion = None
    ideal = TorchStatevector(spec).probs(weights, x)
    assert (backend.probs(weights, x) - ideal).abs().max() < 1e-9


def test_fake_backend_names_are_checked():
    spec = CircuitSpec(2, 1, 2, 2)
    with pytest.raises(ValueError, match="FakeManilaV2"):
        AerDensityMatrixBackend(spec, NoiseSpec(), "FakeNoSuchDevice")
    with pytest.raises(ValueError, match="replaces"):
        AerDensityMatrixBackend(spec, NoiseSpec(0.01, 0.01), FAKE)
