"""A circuit spec's gates as basis-state tables: what every fast simulator path shares.

The torch backend (torch_backend.py, in its unitary and gate-by-gate paths) and the compiled
kernel (jit_kernel.py) apply the same entanglers, embedding and readout; they read them
from one `CircuitTables`, built once per spec here. Conventions are spec.py's: big-endian
basis states, qubit 0 the most significant bit.

* `rows` (L, d) int: row r of layer l's matrix is row rows[l, r] of the plain Kronecker
  product of its single-qubit gates (a CNOT ring permutes basis states; identity for CZ).
* `signs` (L, d) float: row r of layer l's matrix is scaled by signs[l, r] (a CZ chain is
  diagonal: -1 on basis states with an odd number of adjacent 1-1 pairs; ones otherwise).
* `readout` (d, E) float or None: the circuit's outputs are probs @ readout (grouped
  probabilities, or <Z_q> = 1 - 2 bit_q for the expval readout); None when the
  probabilities are the outputs themselves (one expert per basis state).
* `features` (n,) int: the input feature each qubit embeds.
* `bits` (d, n) int: bit of qubit q in basis state i.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qmoe_cli.quantum.spec import CircuitSpec, Op, basis_bits


@dataclass(frozen=True)
class CircuitTables:
    rows: np.ndarray
    signs: np.ndarray
    readout: np.ndarray | None
    features: np.ndarray
    bits: np.ndarray


def circuit_tables(spec: CircuitSpec) -> CircuitTables:
    """The basis-state tables of `spec` (their meaning is in the module docstring)."""
    n, L = spec.n_qubits, spec.n_layers
    bits = basis_bits(n)
    d = 2**n
    rows = np.tile(np.arange(d), (L, 1))
    signs = np.ones((L, d))
    if spec.ansatz == "ry_cz" and spec.entanglers(0):
        signs[:] = 1 - 2 * ((bits[:, :-1] * bits[:, 1:]).sum(axis=1) % 2)
    elif spec.ansatz == "strongly_entangling":
        for layer in range(L):
            rows[layer] = cnot_gather(bits, spec.entanglers(layer))
    return CircuitTables(
        rows=rows,
        signs=signs,
        readout=readout_matrix(spec, bits),
        features=np.array([spec.feature_of_qubit(q) for q in range(n)]),
        bits=bits,
    )


def cnot_gather(bits: np.ndarray, ops: list[Op]) -> np.ndarray:
    """Index g with new_state[j] = state[g[j]] after the CNOTs `ops`, in order."""
    n = bits.shape[1]
    b = bits.copy()
    for op in ops:
        c, t = op.wires
        b[:, t] ^= b[:, c]
    image = b @ (1 << (n - 1 - np.arange(n)))  # basis state i is sent to image[i]
    gather = np.empty_like(image)
    gather[image] = np.arange(len(image))
    return gather


def readout_matrix(spec: CircuitSpec, bits: np.ndarray) -> np.ndarray | None:
    """(d, E) map from basis-state probabilities to the circuit's outputs, or None when
    they are the same (one expert per basis state)."""
    if spec.readout == "expval":
        return 1.0 - 2.0 * bits
    if spec.n_experts == 2**spec.n_qubits:
        return None
    return np.eye(spec.n_experts)[spec.expert_of_basis_state()]
