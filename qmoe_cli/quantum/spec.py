"""The router circuit, stated once and independently of any simulator.

Conventions (every backend follows them; tests hold them to agree):

* Qubits are numbered 0..n-1 and basis states are big-endian, as in PennyLane: qubit 0 is
  the most significant bit of the basis index. (Qiskit is little-endian; its backend
  reverses the qubit axes before returning.)
* Embedding: `R(x_f)` on qubit q with f = q mod d, for d input features and R in
  {RX, RY, RZ}; with more qubits than features the features repeat cyclically. More
  features than qubits is rejected. Note that RZ on |0> only adds a phase: an `rz`
  embedding as first operation carries no information about x into the probabilities.
* Ansatz, L layers:
  - `ry_cz` (the paper's text): RY(theta[l, q]) on every qubit, then CZ(q, q+1) for
    q = 0..n-2 (a chain, not a ring). P = L n.
  - `strongly_entangling` (the public notebooks): PennyLane's StronglyEntanglingLayers,
    Rot(phi, theta, omega) = RZ(omega) RY(theta) RZ(phi) on every qubit with
    weights[l, q] = (phi, theta, omega), then CNOT(q, (q + r_l) mod n) for q = 0..n-1
    with range r_l = (l mod (n-1)) + 1 (no CNOTs for one qubit). P = 3 L n.
* Readout:
  - `probs` (the paper): P(expert e | x) = sum of |<i|U psi(x)>|^2 over the basis
    states i with i mod E = e (with E = 2^n experts, exactly the paper's formula).
    More experts than basis states is rejected.
  - `expval` (the notebooks): <Z_q> for every qubit; the router then applies a trainable
    Linear(n -> E) and a softmax (see models/quantum_router.py).
* Mechanism (the ablations that remove it, issue 27):
  - `full`: the circuit above.
  - `no_entangler`: the same circuit without its entangling gates (no CZ, no CNOT): the
    state stays a product state, so the basis-state probabilities factorise per qubit.
  - `dephased`: the same circuit with complete dephasing in the computational basis after
    every layer (after its entanglers): rho -> diag(rho), no coherence carried from one
    layer to the next. What is left is a classical Markov chain over basis states: the
    first layer's probabilities |U_1 psi(x)|^2, then for each later layer the stochastic
    matrix |U_l[i, j]|^2. Not a unitary circuit: simulated exactly by
    torch_dephased.py (and by the density-matrix backends, where it is a channel in
    noise.py's `noisy_sequence`); it has no gate-only export.
* Initialisation: circuit weights uniform in [0, 2 pi), drawn from torch's global
  generator (seeded per run), as the notebooks do.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

Ansatz = Literal["ry_cz", "strongly_entangling"]
Embedding = Literal["rx", "ry", "rz"]
Readout = Literal["probs", "expval"]
Mechanism = Literal["full", "no_entangler", "dephased"]
MECHANISMS = ("full", "no_entangler", "dephased")


@dataclass(frozen=True)
class Op:
    """One gate: name in {RX, RY, RZ, Rot, CZ, CNOT}, wires, angles."""

    name: str
    wires: tuple[int, ...]
    params: tuple = ()


@dataclass(frozen=True)
class CircuitSpec:
    n_qubits: int
    n_layers: int
    n_features: int
    n_experts: int
    ansatz: Ansatz = "ry_cz"
    embedding: Embedding = "rx"
    readout: Readout = "probs"
    mechanism: Mechanism = "full"

    def __post_init__(self) -> None:
        problem = self.problem()
        if problem:
            raise ValueError(problem)

    def problem(self) -> str | None:
        """Why this circuit cannot be built, or None."""
        if self.mechanism not in MECHANISMS:
            return f"unknown mechanism {self.mechanism!r} (known: {', '.join(MECHANISMS)})"
        if self.n_qubits < 1 or self.n_layers < 1:
            return "a circuit needs at least one qubit and one layer"
        if self.n_features > self.n_qubits:
            return (
                f"{self.n_features} input features need at least {self.n_features} qubits "
                f"(one feature per qubit), got {self.n_qubits}"
            )
        if self.readout == "probs" and self.n_experts > 2**self.n_qubits:
            return (
                f"{self.n_experts} experts exceed the {2**self.n_qubits} basis states of "
                f"{self.n_qubits} qubits (probs readout)"
            )
        return None

    @property
    def weight_shape(self) -> tuple[int, ...]:
        if self.ansatz == "ry_cz":
            return (self.n_layers, self.n_qubits)
        return (self.n_layers, self.n_qubits, 3)

    @property
    def n_weights(self) -> int:
        return int(np.prod(self.weight_shape))

    @property
    def n_outputs(self) -> int:
        """Width of the circuit's output: grouped probabilities or one <Z> per qubit."""
        return self.n_experts if self.readout == "probs" else self.n_qubits

    def feature_of_qubit(self, q: int) -> int:
        return q % self.n_features

    def ranges(self) -> list[int]:
        """StronglyEntanglingLayers' CNOT range per layer (0: one qubit, no CNOTs)."""
        n = self.n_qubits
        return [(layer % (n - 1)) + 1 if n > 1 else 0 for layer in range(self.n_layers)]

    def entanglers(self, layer: int) -> list[Op]:
        """The entangling gates of a layer (none with mechanism `no_entangler`)."""
        n = self.n_qubits
        if self.mechanism == "no_entangler":
            return []
        if self.ansatz == "ry_cz":
            return [Op("CZ", (q, q + 1)) for q in range(n - 1)]
        r = self.ranges()[layer]
        return [Op("CNOT", (q, (q + r) % n)) for q in range(n)] if n > 1 else []

    def embedding_ops(self, x) -> list[Op]:
        """Gates that load one input row x (length n_features)."""
        gate = self.embedding.upper()
        return [Op(gate, (q,), (x[self.feature_of_qubit(q)],)) for q in range(self.n_qubits)]

    def ansatz_ops(self, weights) -> list[Op]:
        """Gates of the trainable part, in time order; `weights` has `weight_shape`. (With
        mechanism `dephased` the dephasing between layers is not a gate: `noisy_sequence`
        places it, and gate-only circuit builders refuse the spec, `unitary_problem`.)"""
        ops: list[Op] = []
        for layer in range(self.n_layers):
            for q in range(self.n_qubits):
                if self.ansatz == "ry_cz":
                    ops.append(Op("RY", (q,), (weights[layer][q],)))
                else:
                    w = weights[layer][q]
                    ops.append(Op("Rot", (q,), (w[0], w[1], w[2])))
            ops += self.entanglers(layer)
        return ops

    def unitary_problem(self) -> str | None:
        """Why the circuit is not the gates of `ansatz_ops` alone (a dephased router), or
        None: what gate-only builders (statevector devices, circuit export) check."""
        if self.mechanism == "dephased":
            return (
                "mechanism dephased is no unitary circuit (complete dephasing after every "
                "layer): simulate it with the torch or pennylane backend"
            )
        return None

    def frequency_limits(self) -> tuple[int, ...]:
        """Per input feature f, the largest frequency r_f of the circuit's outputs in x_f:
        the number of qubits that embed it (cyclic repetition). Each angle-encoding gate
        R(x_f) puts exp(+-i x_f / 2) into the amplitudes, so r_f gates give amplitudes with
        frequencies in {-r_f/2, ..., r_f/2} and probabilities (amplitude times conjugate)
        with integer frequencies in {-r_f, ..., r_f} (Schuld, Sweke, Meyer 2021)."""
        return encoding_frequency_limits(self.n_qubits, self.n_features)

    def expert_of_basis_state(self) -> np.ndarray:
        """expert index of each of the 2^n basis states (probs readout): i mod E."""
        return np.arange(2**self.n_qubits) % self.n_experts


def encoding_frequency_limits(n_qubits: int, n_features: int) -> tuple[int, ...]:
    """`CircuitSpec.frequency_limits` without a spec: feature f sits on the qubits q with
    q mod n_features = f."""
    return tuple(len(range(f, n_qubits, n_features)) for f in range(n_features))


def basis_bits(n_qubits: int) -> np.ndarray:
    """(2^n, n) array: bit of qubit q in basis state i (big-endian: qubit 0 is the MSB)."""
    idx = np.arange(2**n_qubits)[:, None]
    return (idx >> (n_qubits - 1 - np.arange(n_qubits))[None, :]) & 1


def readout_from_probs(probs: np.ndarray, spec: CircuitSpec) -> np.ndarray:
    """Basis-state probabilities (batch, 2^n), big-endian -> the circuit's outputs."""
    if spec.readout == "probs":
        out = np.zeros((probs.shape[0], spec.n_experts), dtype=probs.dtype)
        np.add.at(out.T, spec.expert_of_basis_state(), probs.T)
        return out
    return probs @ (1 - 2 * basis_bits(spec.n_qubits)).astype(probs.dtype)
