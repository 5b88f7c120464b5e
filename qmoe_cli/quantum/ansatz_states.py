"""States of the trainable ansatz for many parameter sets at once, its layers also run
backwards: what the trainability and expressibility scans (quantum/trainability.py,
quantum/expressibility.py) simulate.

A layer of either ansatz is K then E: K the single-qubit gates (RY, or Rot) as one
Kronecker product, E the entanglers (the CZ chain's signs, or the CNOT ring's permutation of
basis states), as spec.py states them and torch_backend.py computes them. Its adjoint is
E^dagger then K^dagger, which no spec describes: an identity block (Grant et al. 2019) is a
layer followed by its adjoint with the same angles, so the block is the identity whatever
the angles. States are (S, 2^n) complex, one per parameter set, K applied as two half-size
Kronecker factors (K psi = K_A psi K_B^T with psi viewed as a 2^h x 2^(n-h) matrix), so a
12-qubit layer is two small matmuls per set; plain torch autograd differentiates it.
"""

from __future__ import annotations

import numpy as np
import torch

from qmoe_cli.quantum.gates import circuit_tables
from qmoe_cli.quantum.spec import CircuitSpec
from qmoe_cli.quantum.torch_backend import (
    embedding_vectors,
    kron_matrices,
    kron_rows,
    single_qubit_matrices,
)


class AnsatzStates:
    """The ansatz of `spec` on (S, 2^n) states; weights (S, *spec.weight_shape)."""

    def __init__(self, spec: CircuitSpec):
        self.spec = spec
        tables = circuit_tables(spec)
        self.n, self.d = spec.n_qubits, 2**spec.n_qubits
        self.h = max(1, self.n // 2)
        self.rows = torch.as_tensor(tables.rows)
        self.inverse_rows = torch.as_tensor(np.argsort(tables.rows, axis=1))
        self.signs = torch.as_tensor(tables.signs)

    def zero_state(self, sets: int) -> torch.Tensor:
        psi = torch.zeros(sets, self.d, dtype=torch.complex128)
        psi[:, 0] = 1.0
        return psi

    def embedded(self, x: torch.Tensor) -> torch.Tensor:
        """(S, 2^n) product states of the spec's angle embedding of inputs x (S, features)."""
        return kron_rows(embedding_vectors(self.spec, x.to(torch.float64))).to(torch.complex128)

    def _factors(self, weights: torch.Tensor):
        mats = single_qubit_matrices(self.spec, weights.to(torch.float64)).to(torch.complex128)
        k_a = kron_matrices(mats[..., : self.h, :, :])  # (S, L, 2^h, 2^h)
        k_b = kron_matrices(mats[..., self.h :, :, :]) if self.n > self.h else None
        return k_a, k_b

    def _gates(self, psi, k_a, k_b, layer: int, adjoint: bool) -> torch.Tensor:
        s = psi.shape[0]
        m = psi.reshape(s, 2**self.h, self.d // 2**self.h)
        a = k_a[:, layer]
        m = (a.mH if adjoint else a) @ m
        if k_b is not None:
            b = k_b[:, layer]
            m = m @ (b.conj() if adjoint else b.mT)
        return m.reshape(s, self.d)

    def _entangle(self, psi, layer: int, adjoint: bool) -> torch.Tensor:
        if self.spec.ansatz == "ry_cz":
            return psi * self.signs[layer].to(psi.dtype)  # diagonal +-1: its own inverse
        index = self.inverse_rows[layer] if adjoint else self.rows[layer]
        return psi.index_select(-1, index)

    def apply(self, weights: torch.Tensor, psi: torch.Tensor, identity_blocks: bool = False):
        """The ansatz's L layers on psi; with `identity_blocks`, each layer followed by its
        adjoint with the same angles (2L layers, the identity at these weights; the adjoint
        layers' angles are separate leaves: pass (S, 2, *weight_shape) weights, [:, 0] the
        layers' and [:, 1] their adjoints')."""
        if identity_blocks:
            fwd, back = self._factors(weights[:, 0]), self._factors(weights[:, 1])
        else:
            fwd, back = self._factors(weights), None
        for layer in range(self.spec.n_layers):
            psi = self._entangle(self._gates(psi, *fwd, layer, False), layer, False)
            if back is not None:
                psi = self._gates(self._entangle(psi, layer, True), *back, layer, True)
        return psi


def probabilities(psi: torch.Tensor) -> torch.Tensor:
    return torch.view_as_real(psi).square().sum(-1)
