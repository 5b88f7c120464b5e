"""The dephased router's exact simulator: a classical Markov chain over basis states.

With complete dephasing in the computational basis after every layer (spec.py, mechanism
`dephased`), the state between layers is diagonal, p = diag(rho). Layer l maps it to
p'[r] = sum_i |U_l[r, i]|^2 p[i], and U_l = (entangler) K_l with K_l the Kronecker product
of the layer's single-qubit gates: a CZ chain only signs rows (no effect on |U_l|^2), a CNOT
ring permutes them (gates.py: row r of U_l is row rows[l, r] of K_l). So

* layer 1 acts on the embedded product state coherently: its probabilities are the product
  over qubits of |k_{1,q} R(x_q)|0>|^2, then permuted by the entangler;
* every later layer is the stochastic matrix |K_l|^2 = (x)_q |k_{l,q}|^2 (elementwise
  squares of each single-qubit gate: a product of per-qubit bit-flip processes), then the
  entangler's permutation.

That is O(L n 2^n) per input, differentiable by plain autograd, with no complex arithmetic
after the first layer. tests/test_mechanism.py holds it to the density-matrix backend with a
complete dephasing channel after every layer (torch_density.py) and to PennyLane's
default.mixed with PhaseDamping(1) on every wire. Weights may carry leading model axes
(S, *weight_shape) with inputs (S, B, F): the stacked engine's form, the same arithmetic.
"""

from __future__ import annotations

import torch

from qmoe_cli.quantum.gates import circuit_tables
from qmoe_cli.quantum.spec import CircuitSpec
from qmoe_cli.quantum.torch_backend import embedding_vectors, kron_rows, single_qubit_matrices


class TorchDephased:
    """Exact probabilities and outputs of a dephased CircuitSpec, batched over inputs."""

    def __init__(self, spec: CircuitSpec):
        if spec.mechanism != "dephased":
            raise ValueError(f"TorchDephased simulates mechanism dephased, not {spec.mechanism}")
        self.spec = spec
        tables = circuit_tables(spec)
        self._rows = torch.as_tensor(tables.rows)  # (L, d) the entanglers' permutations
        self._permutes = [
            bool((tables.rows[k] != range(2**spec.n_qubits)).any()) for k in range(spec.n_layers)
        ]
        self._features = torch.as_tensor(tables.features)
        self._readout = None if tables.readout is None else torch.as_tensor(tables.readout)

    def _lead(self, weights: torch.Tensor) -> tuple[int, ...]:
        return tuple(weights.shape[: weights.dim() - len(self.spec.weight_shape)])

    def probs(self, weights: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """(..., B, 2^n) basis-state probabilities of weights (..., *weight_shape) on inputs
        (..., B, F): one circuit, or S stacked circuits each on its own inputs."""
        spec = self.spec
        n, d = spec.n_qubits, 2**spec.n_qubits
        lead = self._lead(weights)
        if tuple(x.shape[:-2]) != lead:
            raise ValueError(f"inputs {tuple(x.shape)} do not match weights {tuple(weights.shape)}")
        x = x.to(weights.dtype)
        mats = single_qubit_matrices(spec, weights)  # (*S, L, n, 2, 2)
        flat = x.reshape(-1, x.shape[-1])
        states = embedding_vectors(spec, flat).unflatten(0, x.shape[:-1])  # (*S, B, n, 2)
        first = mats[..., 0, :, :, :].to(states.dtype).unsqueeze(-4)  # (*S, 1, n, 2, 2)
        amps = (first @ states.unsqueeze(-1)).squeeze(-1)  # (*S, B, n, 2)
        p = kron_rows(amps.real.square() + amps.imag.square())  # (*S, B, d)
        p = self._permute(p, 0)
        if spec.n_layers > 1:
            m = mats[..., 1:, :, :, :]
            stochastic = m.real.square() + m.imag.square() if m.is_complex() else m.square()
            for layer in range(1, spec.n_layers):
                p = self._bit_flips(p, stochastic[..., layer - 1, :, :, :], n, d)
                p = self._permute(p, layer)
        return p

    def _permute(self, p: torch.Tensor, layer: int) -> torch.Tensor:
        return p.index_select(-1, self._rows[layer]) if self._permutes[layer] else p

    @staticmethod
    def _bit_flips(p: torch.Tensor, t: torch.Tensor, n: int, d: int) -> torch.Tensor:
        """(x)_q t_q applied to p (*S, B, d); t (*S, n, 2, 2), qubit 0 most significant."""
        shape = p.shape
        for q in range(n):
            a, b = 2**q, d // 2 ** (q + 1)
            tq = t[..., q, :, :].unsqueeze(-3)  # (*S, 1, 2, 2)
            p = (tq @ p.reshape(*shape[:-1], a, 2, b).flatten(-4, -3)).reshape(shape)
        return p

    def outputs(self, weights: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """(..., B, E) grouped probabilities or (..., B, n) <Z_q>, per the spec's readout."""
        probs = self.probs(weights, x)
        if self._readout is None:
            return probs
        return probs @ self._readout.to(probs.dtype)
