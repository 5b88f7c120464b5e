"""Noise on the router circuit, stated once and independently of any simulator.

Conventions (every backend follows them; tests hold them to agree):

* Depolarizing strength is `lam` in Qiskit's convention, `depolarizing_error(lam, k)`:
  the k-qubit state is replaced by the maximally mixed one with probability lam,
      D_lam(rho) = (1 - lam) rho + lam Tr_k(rho) (x) I / 2^k.
  PennyLane's DepolarizingChannel(p) applies X, Y, Z each with probability p / 3, which is
  the same channel for p = 3 lam / 4 (`pennylane_p` / `qiskit_lam` convert). The 2-qubit
  channel is the joint one (Qiskit's 16-Kraus `depolarizing_error(lam, 2)`), not two
  1-qubit channels.
* Placement `paper`: a channel follows every gate of the circuit as written, embedding
  rotations included: the 1-qubit channel (lam = p1) after RX/RY/RZ/Rot (Rot is one gate,
  one channel; in Qiskit it is one `u(theta, omega, phi)`), the 2-qubit channel (lam = p2)
  after CZ/CNOT on that pair.
* Placement `notebook` (the public notebooks): no channel after gates, but a 1-qubit channel
  D_lam on every wire after the embedding and again after the last layer. Its strength is
  Qiskit's lam as well (`wire_lam`, from the config's `depolarizing` unchanged): the
  notebooks' PennyLane DepolarizingChannel(p) is lam = 4 p / 3, so their p = 0.01 is
  lam = 0.0133. Both placements therefore read `depolarizing` the same way.
* Dephasing (the router's mechanism `dephased`, spec.py): complete dephasing in the
  computational basis on all wires after every layer of the ansatz (after its entanglers),
  rho -> diag(rho); a `Channel` named "Dephasing" with lam = 1 (rho -> (1 - lam) rho + lam
  diag(rho)). It is the product of one complete single-qubit dephasing per wire (PennyLane's
  PhaseDamping(1), Qiskit's phase_damping_error(1)), so it is exact under any noise: the
  depolarizing channels of the layer's gates come first, the dephasing last.
* Readout error: each measured bit flips with probability r (symmetric), independently.
* Shots: the basis-state probabilities are sampled `shots` times (multinomial); the
  frequencies replace the probabilities (evaluation only: sampling has no gradient).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qmoe_cli.quantum.spec import CircuitSpec, Op


def pennylane_p(lam: float) -> float:
    """PennyLane DepolarizingChannel parameter of Qiskit's depolarizing_error(lam, 1)."""
    return 3 * lam / 4


def qiskit_lam(p: float) -> float:
    """Qiskit depolarizing_error parameter of PennyLane's DepolarizingChannel(p)."""
    return 4 * p / 3


@dataclass(frozen=True)
class Channel:
    """A depolarizing channel on 1 or 2 wires, strength lam in Qiskit's convention."""

    wires: tuple[int, ...]
    lam: float
    name: str = "Depolarizing"  # or "Dephasing": rho -> (1 - lam) rho + lam diag(rho)


@dataclass(frozen=True)
class NoiseSpec:
    p1: float = 0.0  # paper placement: after each 1-qubit gate (Qiskit lam)
    p2: float = 0.0  # paper placement: after each 2-qubit gate (Qiskit lam)
    placement: str = "paper"
    wire_lam: float = 0.0  # notebook placement: on every wire, twice (Qiskit lam)
    readout_error: float = 0.0
    shots: int | None = None
    fake_backend: str | None = None  # a qiskit-ibm-runtime fake device: Aer only

    @classmethod
    def from_config(cls, cfg) -> NoiseSpec:
        """From a NoiseConfig (model.router.noise): `depolarizing` is Qiskit's lam under
        both placements, so it is passed on as is (p1 or wire_lam), never converted."""
        if cfg.placement == "notebook":
            return cls(
                placement="notebook",
                wire_lam=cfg.depolarizing,
                readout_error=cfg.readout_error,
                shots=cfg.shots,
            )
        p2 = cfg.depolarizing if cfg.depolarizing_2q is None else cfg.depolarizing_2q
        return cls(cfg.depolarizing, p2, "paper", 0.0, cfg.readout_error, cfg.shots)

    @property
    def has_channels(self) -> bool:
        return bool(self.p1 or self.p2 or self.wire_lam)

    @property
    def is_noiseless(self) -> bool:
        return (
            not self.has_channels
            and not self.readout_error
            and self.shots is None
            and self.fake_backend is None
        )


def noisy_sequence(spec: CircuitSpec, noise: NoiseSpec, x, weights) -> list[Op | Channel]:
    """The circuit for one input row as gates and channels, in time order (with mechanism
    `dephased`, a complete dephasing channel on all wires closes every layer)."""
    embedding, ansatz = spec.embedding_ops(x), _dephased(spec, spec.ansatz_ops(weights))
    if noise.placement == "notebook":
        wires = [Channel((q,), noise.wire_lam) for q in range(spec.n_qubits)]
        if not noise.wire_lam:
            wires = []
        return [*embedding, *wires, *ansatz, *wires]
    seq: list[Op | Channel] = []
    for op in [*embedding, *ansatz]:
        seq.append(op)
        if isinstance(op, Channel):
            continue
        lam = noise.p1 if len(op.wires) == 1 else noise.p2
        if lam:
            seq.append(Channel(op.wires, lam))
    return seq


def dephasing(n_qubits: int) -> Channel:
    """Complete dephasing in the computational basis on all wires."""
    return Channel(tuple(range(n_qubits)), 1.0, "Dephasing")


def _dephased(spec: CircuitSpec, ops: list[Op]) -> list[Op | Channel]:
    """The ansatz's gates, with a dephasing channel after each layer for mechanism
    `dephased` (a layer: n single-qubit gates, then its entanglers)."""
    if spec.mechanism != "dephased":
        return list(ops)
    out: list[Op | Channel] = []
    i = 0
    for layer in range(spec.n_layers):
        size = spec.n_qubits + len(spec.entanglers(layer))
        out += [*ops[i : i + size], dephasing(spec.n_qubits)]
        i += size
    return out


def readout_confusion(n_qubits: int, r: float) -> np.ndarray:
    """(2^n, 2^n) matrix C with noisy = probs @ C: each bit flips with probability r."""
    flip = np.array([[1 - r, r], [r, 1 - r]])
    out = np.ones((1, 1))
    for _ in range(n_qubits):
        out = np.kron(out, flip)
    return out
