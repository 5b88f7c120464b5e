"""The fast simulator: batched statevectors in torch, differentiable with respect to weights.

Three ways to compute the same thing, chosen per call (tests compare each to PennyLane and
Qiskit Aer):

* `kernel` (small circuits on CPU, the default there): the whole circuit as one autograd
  node compiled with Numba, with the exact shift-rule gradient (see jit_kernel.py).
* `unitary`: the trainable unitary U does not depend on the input, so it is built once
  per forward pass and applied to the whole batch of embedded product states in one
  matmul: every layer's single-qubit gates and entanglers (CZ signs, CNOT permutations)
  become one matrix by a single gather + product over precomputed indices, and the layers
  are multiplied together; plain torch autograd.
* `gates`: when the Hilbert space is larger than the batch (many qubits, small batches) the
  layers are applied to the batched state instead (each layer's gates as two half-size
  Kronecker factors, two small matmuls per layer), with plain autograd.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch

from qmoe_cli.quantum.gates import circuit_tables
from qmoe_cli.quantum.spec import CircuitSpec

COMPLEX = {torch.float32: torch.complex64, torch.float64: torch.complex128}
MAX_UNITARY_QUBITS = 8
KRON_GATHER_QUBITS = 6  # above this the gather index (L n 4^n entries) costs too much memory
# The compiled kernel's loops beat torch's batched matmuls up to 3 qubits at any batch and at
# 4 qubits up to batch 256 (benchmarks/bench_quantum.py's scale table; not above), and its
# P shifted unitaries must stay small.
KERNEL_MAX_QUBITS = 4
KERNEL_MAX_BATCH_AT_MAX_QUBITS = 256
KERNEL_MAX_ELEMENTS = 2**16  # (P + 1) L 4^n entries of the shifted unitaries

# RY(t) = [[c, -s], [s, c]] with (c, s) = cos/sin(t/2): cos(t/2 + shift) gives both at once.
_RY_SHIFT = (0.0, -math.pi / 2)
_RY_ENTRIES = ((1.0, 0.0, 0.0, 1.0), (0.0, -1.0, 1.0, 0.0))  # [c, s] @ this = [c, -s, s, c]
# Rot(phi, theta, omega): cosines/sines of a = (phi+omega)/2, b = (phi-omega)/2, t = theta/2
# as cos(weights @ _ROT_ANGLES + _ROT_SHIFT) = [cos a, sin a, cos b, sin b, cos t, sin t];
# then entry k's real/imag part = v[_ROT_LEFT[k]] * v[_ROT_RIGHT[k]] * _ROT_SIGN[k]:
#   m00 = e^{-ia} cos t, m01 = -e^{ib} sin t, m10 = e^{-ib} sin t, m11 = e^{ia} cos t.
_ROT_ANGLES = (
    (0.5, 0.5, 0.5, 0.5, 0.0, 0.0),
    (0.0, 0.0, 0.0, 0.0, 0.5, 0.5),
    (0.5, 0.5, -0.5, -0.5, 0.0, 0.0),
)
_ROT_SHIFT = (0.0, -math.pi / 2) * 3
_ROT_LEFT = (0, 1, 2, 3, 2, 3, 0, 1)
_ROT_RIGHT = (4, 4, 5, 5, 5, 5, 4, 4)
_ROT_SIGN = (1.0, -1.0, -1.0, -1.0, 1.0, -1.0, 1.0, 1.0)


@functools.cache
def _const(values, dtype: torch.dtype) -> torch.Tensor:
    return torch.tensor(values, dtype=dtype)


def single_qubit_matrices(spec: CircuitSpec, weights: torch.Tensor) -> torch.Tensor:
    """(..., L, n, 2, 2) single-qubit gate matrices (real for RY, complex for Rot)."""
    dt = weights.dtype
    if spec.ansatz == "ry_cz":
        cs = torch.cos(torch.addcmul(_const(_RY_SHIFT, dt), weights.unsqueeze(-1), _const(0.5, dt)))
        return (cs @ _const(_RY_ENTRIES, dt)).unflatten(-1, (2, 2))
    v = torch.cos(weights @ _const(_ROT_ANGLES, dt) + _const(_ROT_SHIFT, dt))
    parts = v[..., _ROT_LEFT] * v[..., _ROT_RIGHT] * _const(_ROT_SIGN, dt)
    return torch.view_as_complex(parts.unflatten(-1, (4, 2))).unflatten(-1, (2, 2))


def embedding_vectors(spec: CircuitSpec, x: torch.Tensor) -> torch.Tensor:
    """(B, n, 2) complex single-qubit states R(x_f)|0> of the angle embedding."""
    ctype = COMPLEX[x.dtype]
    angles = x[:, [spec.feature_of_qubit(q) for q in range(spec.n_qubits)]] / 2
    c, s = torch.cos(angles), torch.sin(angles)
    if spec.embedding == "rx":  # cos|0> - i sin|1>
        return torch.stack([c.to(ctype), torch.complex(torch.zeros_like(s), -s)], -1)
    if spec.embedding == "ry":  # cos|0> + sin|1>
        return torch.stack([c, s], -1).to(ctype)
    phase = torch.polar(torch.ones_like(c), -angles)  # rz: exp(-i x/2)|0>
    return torch.stack([phase, torch.zeros_like(phase)], -1)


def kron_rows(vectors: torch.Tensor) -> torch.Tensor:
    """(..., n, k) -> (..., k^n): Kronecker product over the n axis, qubit 0 most significant."""
    out = vectors[..., 0, :]
    for q in range(1, vectors.shape[-2]):
        out = (out.unsqueeze(-1) * vectors[..., q, None, :]).flatten(-2)
    return out


def kron_matrices(mats: torch.Tensor) -> torch.Tensor:
    """(..., n, 2, 2) -> (..., 2^n, 2^n) Kronecker product, qubit 0 most significant."""
    out = mats[..., 0, :, :]
    for q in range(1, mats.shape[-3]):
        m = mats[..., q, :, :]
        a = out.shape[-1]
        out = (out[..., :, None, :, None] * m[..., None, :, None, :]).reshape(
            *out.shape[:-2], 2 * a, 2 * a
        )
    return out


def chain_product(layers: torch.Tensor) -> torch.Tensor:
    """(..., L, d, d) -> M_{L-1} ... M_1 M_0 (later layers on the left)."""
    parts = layers.unbind(-3)
    u = parts[0]
    for m in parts[1:]:
        u = m @ u
    return u


class TorchStatevector:
    """Exact probabilities and outputs of a CircuitSpec, batched over inputs."""

    def __init__(self, spec: CircuitSpec, strategy: str = "auto"):
        if strategy not in ("auto", "kernel", "unitary", "gates"):
            raise ValueError(f"unknown strategy {strategy!r}")
        self.spec, self.strategy = spec, strategy
        n, L = spec.n_qubits, spec.n_layers
        d = 2**n
        self.tables = tables = circuit_tables(spec)
        bits, rows, signs = tables.bits, tables.rows, tables.signs
        phase = (-1j) ** bits.sum(axis=1)
        self._np = {
            "rows": rows,
            "signs": signs[:, :, None],
            "readout": tables.readout,
            "features": tables.features,
            "embed_index": bits.T.copy(),  # (n, d): bit of qubit q in basis state i
            # RX's phase (-i)^(number of ones) as (real, imaginary) rows over the batch
            "rx_phase": np.stack([phase.real, phase.imag])[:, None, :],
        }
        if n <= KRON_GATHER_QUBITS:
            # For flat position p = r d + c of layer l, qubit q contributes its matrix entry
            # 2 bit_q(rows[l, r]) + bit_q(c) (entries flattened row-major).
            idx = 2 * bits[rows][:, :, None, :] + bits[None, None, :, :]  # (L, r, c, n)
            kron_index = idx.reshape(L, d * d, n).transpose(0, 2, 1).copy()  # (L, n, d^2)
            self._np["kron_index"] = kron_index
            # RY entries [c, -s, s, c]: which of (cos, sin) each is, and its sign
            self._np["ry_index"] = np.array([0, 1, 1, 0])[kron_index]
            entry_sign = np.array([1.0, -1.0, 1.0, 1.0])[kron_index].prod(axis=1)  # (L, d^2)
            self._np["ry_sign"] = entry_sign * np.repeat(signs, d, axis=1)
        self._identity_features = spec.n_features == n
        self._cache: dict = {}
        small = n <= KERNEL_MAX_QUBITS and (spec.n_weights + 1) * L * d * d <= KERNEL_MAX_ELEMENTS
        self._kernel = None
        if small:  # Numba (a slow import) only once a circuit needs the kernel
            from qmoe_cli.quantum.jit_kernel import SmallCircuitKernel

            self._kernel = SmallCircuitKernel(spec, tables)
        if strategy == "kernel" and self._kernel is None:
            raise ValueError(f"the compiled kernel does not take circuits this large ({spec})")

    def _const(self, name: str, dtype: torch.dtype) -> torch.Tensor:
        key = (name, dtype)
        if key not in self._cache:
            value = self._np[name]
            kind = torch.long if value.dtype.kind in "iu" else dtype
            self._cache[key] = torch.as_tensor(value, dtype=kind)
        return self._cache[key]

    # ----------------------------------------------------------------- the unitary path

    def layer_matrices(self, weights: torch.Tensor) -> torch.Tensor:
        """(..., L, 2^n, 2^n): each layer's gates, entanglers included, as one matrix."""
        L, n, d = self.spec.n_layers, self.spec.n_qubits, 2**self.spec.n_qubits
        batch = weights.shape[: weights.dim() - len(self.spec.weight_shape)]
        dt = weights.dtype
        if self.spec.ansatz == "ry_cz" and "kron_index" in self._np:
            # Entries of RY are +-cos or +-sin of t/2: gather those straight from (cos, sin),
            # the signs of all n factors and of the CZ chain folded into one constant.
            cs = torch.cos(
                torch.addcmul(_const(_RY_SHIFT, dt), weights.unsqueeze(-1), _const(0.5, dt))
            )
            index = self._const("ry_index", dt).expand(*batch, L, n, d * d)
            flat = torch.gather(cs, -1, index).prod(dim=-2) * self._const("ry_sign", dt)
            return flat.unflatten(-1, (d, d))
        mats = single_qubit_matrices(self.spec, weights)  # (..., L, n, 2, 2)
        if "kron_index" in self._np:
            index = self._const("kron_index", dt).expand(*batch, L, n, d * d)
            layers = torch.gather(mats.flatten(-2), -1, index).prod(dim=-2).unflatten(-1, (d, d))
        else:
            layers = kron_matrices(mats)
            rows = self._const("rows", dt)
            layers = torch.stack(
                [layers[..., i, :, :].index_select(-2, rows[i]) for i in range(L)], dim=-3
            )
        if self.spec.ansatz == "ry_cz" and n > 1:
            layers = layers * self._const("signs", dt)
        return layers

    def unitary(self, weights: torch.Tensor) -> torch.Tensor:
        """(..., 2^n, 2^n) matrix of the trainable part, U[out, in]; weights may be batched."""
        return chain_product(self.layer_matrices(weights))

    def apply_unitary(self, u: torch.Tensor, psi: torch.Tensor):
        """(amplitudes, probabilities) of U psi; psi (B, d) complex or (k, B, d) real parts."""
        if u.is_complex():
            psi = self._as_complex(psi).to(u.dtype)
            amps = psi @ u.mT
            return amps, torch.view_as_real(amps).square().sum(-1)
        amps = psi @ u.mT  # a real U acts on real and imaginary parts alike: no complex ops
        return amps, amps.square().sum(0)

    # ----------------------------------------------------------------- embedding

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 2^n) complex embedded product states."""
        return self._as_complex(self._embed_parts(x))

    @staticmethod
    def _as_complex(parts: torch.Tensor) -> torch.Tensor:
        if parts.is_complex():
            return parts
        if len(parts) == 1:
            return parts[0].to(COMPLEX[parts.dtype])
        return torch.complex(parts[0], parts[1])

    def _embed_parts(self, x: torch.Tensor) -> torch.Tensor:
        """(k, B, 2^n) real: k = 1 (RY: real states) or 2 (real and imaginary parts)."""
        if self.spec.embedding == "rz":
            psi = kron_rows(embedding_vectors(self.spec, x))
            return torch.stack((psi.real, psi.imag))
        # RX and RY put amplitude prod_q (cos or sin)(x_q / 2) on each basis state; RX adds
        # the phase (-i)^(number of ones), a constant per basis state.
        dt = x.dtype
        features = x if self._identity_features else x.index_select(1, self._const("features", dt))
        cs = torch.cos(
            torch.addcmul(_const(_RY_SHIFT, dt), features.unsqueeze(-1), _const(0.5, dt))
        )
        index = self._const("embed_index", dt).expand(len(x), -1, -1)
        magnitude = torch.gather(cs, 2, index).prod(dim=1)  # (B, 2^n)
        if self.spec.embedding == "ry":
            return magnitude.unsqueeze(0)
        return magnitude * self._const("rx_phase", dt)

    # ----------------------------------------------------------------- public interface

    def probs(self, weights: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """(B, 2^n) basis-state probabilities, big-endian."""
        return self._evaluate(weights, x, grouped=False)

    def outputs(self, weights: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """(B, E) grouped probabilities or (B, n) <Z_q>, per the spec's readout."""
        return self._evaluate(weights, x, grouped=True)

    def adapted_outputs(self, weights, x, adapter_weight, adapter_bias) -> torch.Tensor:
        """softmax(W outputs + b): the expval router's gates (one node with the kernel)."""
        x = x.to(weights.dtype)
        same_dtype = adapter_weight.dtype == adapter_bias.dtype == weights.dtype
        if same_dtype and self._use_kernel(weights, x):
            return self._kernel.run(weights, x, True, adapter_weight, adapter_bias)
        outputs = self.outputs(weights, x).to(adapter_weight.dtype)
        return torch.softmax(torch.nn.functional.linear(outputs, adapter_weight, adapter_bias), -1)

    def _evaluate(self, weights: torch.Tensor, x: torch.Tensor, grouped: bool) -> torch.Tensor:
        x = x.to(weights.dtype)
        if self._use_kernel(weights, x):
            return self._kernel.run(weights, x, grouped)
        if self._use_unitary(len(x)):
            probs = self.apply_unitary(self.unitary(weights), self._embed_parts(x))[1]
        else:
            probs = self._apply_layers(weights, x)
        if not grouped or self._np["readout"] is None:
            return probs
        return probs @ self._const("readout", weights.dtype)

    def _apply_layers(self, weights: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Layer by layer on the batched state: cheaper than U when 2^n exceeds the batch.

        A layer's single-qubit gates form K = K_A (x) K_B over the first and second half of
        the qubits, so with the state viewed as a (2^h, 2^(n-h)) matrix per input, K psi is
        K_A psi K_B^T: two small matmuls instead of n gate applications. Returns probs.
        Weights (*S, L, n) with inputs (*S, B, F) -> (*S, B, 2^n): S parameter sets, each on
        its own inputs (the stacked engine's models), the same arithmetic per set.
        """
        n, d = self.spec.n_qubits, 2**self.spec.n_qubits
        h = max(1, n // 2)
        mats = single_qubit_matrices(self.spec, weights)  # (*S, L, n, 2, 2)
        k_a = kron_matrices(mats[..., :h, :, :]).unsqueeze(-3)  # (*S, L, 1, 2^h, 2^h)
        k_b = kron_matrices(mats[..., h:, :, :]).unsqueeze(-3) if n > h else None
        rows = self._const("rows", weights.dtype)
        signs = self._const("signs", weights.dtype)
        # real gates (ry_cz) act on the real and imaginary parts alike: (k, *S, B, d) real
        # parts; complex gates on the complex state (*S, B, d)
        flat = x.flatten(0, -2)
        parts = self._embed_parts(flat) if not mats.is_complex() else None
        if parts is not None:
            psi = parts.unflatten(1, x.shape[:-1])
        else:
            psi = self.embed(flat).to(mats.dtype).unflatten(0, x.shape[:-1])
        if self.spec.ansatz == "ry_cz" and n > h and self.spec.n_layers >= 2:
            return self._ry_cz_layers(k_a, k_b, signs, psi, h)
        lead = psi.shape[:-1]
        for layer in range(self.spec.n_layers):
            v = k_a[..., layer, :, :, :] @ psi.reshape(*lead, 2**h, d // 2**h)
            if k_b is not None:
                v = v @ k_b[..., layer, :, :, :].mT
            psi = v.reshape(*lead, d)
            if self.spec.ansatz == "ry_cz":
                psi = psi * signs[layer, :, 0]
            else:
                psi = psi.index_select(-1, rows[layer])
        if psi.is_complex():
            return torch.view_as_real(psi).square().sum(-1)
        return psi.square().sum(0)

    def _ry_cz_layers(self, k_a, k_b, signs, psi: torch.Tensor, h: int) -> torch.Tensor:
        """_apply_layers' loop for RY + CZ (real parts psi (k, *S, B, d)) with each set's
        states kept as one (2^h, B 2^(n-h)) matrix: K_A psi and psi K_B^T are then one
        matmul over the whole batch instead of one small one per input. Moving the batch axis
        in and out has a cost of its own, hence from 2 layers (both measured:
        docs/performance.md, "Where the code's choices were measured")."""
        *pre, batch, d = psi.shape
        a, c = 2**h, d // 2**h
        sign = signs[..., 0].reshape(-1, a, 1, c)  # CZ signs per layer, in this layout
        psi = psi.reshape(*pre, batch, a, c).transpose(-3, -2)  # (*pre, a, B, c)
        for layer in range(self.spec.n_layers):
            psi = k_a[..., layer, 0, :, :] @ psi.reshape(*pre, a, batch * c)
            psi = psi.reshape(*pre, a * batch, c) @ k_b[..., layer, 0, :, :].mT
            psi = psi.reshape(*pre, a, batch, c) * sign[layer]
        return psi.transpose(-3, -2).reshape(*pre, batch, d).square().sum(0)

    def stacked_probs(self, weights: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """(S, B, 2^n) probabilities of S parameter sets (S, *weight_shape), each on its own
        inputs (S, B, F), by the path `probs` takes for one set at this batch size (the
        compiled kernel excepted: models/stacked_forms.py runs its stacked form)."""
        x = x.to(weights.dtype)
        if self._use_unitary(x.shape[1]):
            parts = self._embed_parts(x.flatten(0, 1)).unflatten(1, x.shape[:2])  # (k, S, B, d)
            return self.apply_unitary(self.unitary(weights), parts)[1]
        return self._apply_layers(weights, x)

    def _use_kernel(self, weights: torch.Tensor, x: torch.Tensor) -> bool:
        if self.strategy != "auto":
            return self.strategy == "kernel"
        # the kernel takes CPU tensors, and it differentiates by the weights only
        if self._kernel is None or weights.device.type != "cpu" or x.requires_grad:
            return False
        return self.spec.n_qubits < KERNEL_MAX_QUBITS or len(x) <= KERNEL_MAX_BATCH_AT_MAX_QUBITS

    def _use_unitary(self, batch: int) -> bool:
        if self.strategy != "auto":
            return self.strategy == "unitary"
        n = self.spec.n_qubits
        return n <= MAX_UNITARY_QUBITS and 2**n <= max(batch, 1) * math.ceil(self.spec.n_layers / 2)
