"""The noisy simulator: batched density matrices in torch, differentiable by autograd.

The noisy circuit is a linear map on density matrices. The embedding part is a product
state per input (each qubit's rotated state, mixed by its channel); the trainable part
Phi (gates and channels of the ansatz) does not depend on the input. For small circuits
Phi is built once per forward pass as a superoperator, layer by layer: a layer's
single-qubit channels commute with its single-qubit gates (the depolarizing channel is
unitarily covariant), so layer l is A_l (K_l (x) K_l^*), with K_l the layer's gates as one
matrix (as in the statevector backend) and A_l the constant superoperator of its channels
and entanglers, computed once. The diagonal rows of the product give
M[i, jk] = <i|Phi(E_jk)|i>, and probs = vec(rho_in) @ M^T for the whole batch in one
matmul. For larger circuits the adjoint channel Phi^dagger is applied gate by gate to the d
projectors |i><i| (the Heisenberg picture: d matrices to evolve instead of B inputs), and
p_i = Tr(Phi^dagger(|i><i|) rho_in). Strategy "batch" (evolving the inputs) stays for checks.
Conventions (placement, channel strength, readout error, shots) are in quantum/noise.py.

Stacks of models (the stacked training engine, models/stacked_forms.py): `probs` and
`outputs` take weights with leading axes (S, *weight_shape) and inputs (S, B, F), model s on
its own inputs, and return (S, B, 2^n) / (S, B, outputs). The superoperator and Heisenberg
strategies carry the leading axis through every step (each model's K_l (x) K_l^* times the
shared A_l, one batched chain product, one batched matmul with the inputs); without leading
axes the operations are exactly the one-model ones, so a model alone is the S = () case of
the same code. Strategy "batch" takes a stack one model at a time.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from qmoe_cli.quantum.noise import Channel, NoiseSpec, noisy_sequence, readout_confusion
from qmoe_cli.quantum.spec import CircuitSpec
from qmoe_cli.quantum.torch_backend import (
    COMPLEX,
    TorchStatevector,
    embedding_vectors,
    kron_matrices,
    single_qubit_matrices,
)

SUPEROPERATOR_MAX_QUBITS = 4  # d^2 = 256 matrix units; beyond, evolve the batch itself


class TorchDensityMatrix:
    """Exact noisy probabilities and outputs of a CircuitSpec under a NoiseSpec."""

    def __init__(self, spec: CircuitSpec, noise: NoiseSpec, strategy: str = "auto"):
        if strategy not in ("auto", "superoperator", "heisenberg", "batch"):
            raise ValueError(f"unknown strategy {strategy!r}")
        self.spec, self.noise, self.strategy = spec, noise, strategy
        self._sv = TorchStatevector(spec)  # readout matrices, CNOT permutations, CZ signs
        # Which gates are in the ansatz (and where the channels go): the spec's own list,
        # with weights replaced by their flat index so the gate angles can be looked up.
        index = np.arange(spec.n_weights).reshape(spec.weight_shape)
        self._ansatz = [
            item for item in noisy_sequence(spec, noise, [0.0] * spec.n_features, index)
        ][self._n_embedding_items() :]
        if self._strategy() == "superoperator":
            self._layer_superops = self._constant_superoperators()
        self._superop_cache: dict = {}  # dtype -> (A_l, tail) in that dtype

    def _n_embedding_items(self) -> int:
        n = self.spec.n_qubits
        if self.noise.placement == "notebook":
            return n + (n if self.noise.wire_lam else 0)
        return n * (2 if self.noise.p1 else 1)

    def _fixed_parts(self) -> tuple[list[list], list]:
        """Per layer, the input-independent items that follow its single-qubit gates (the
        1-qubit channels, which commute with those gates, then the entanglers and their
        channels, in order); and the items after the last layer (notebook wire channels)."""
        n = self.spec.n_qubits
        paper = self.noise.placement == "paper"
        n1 = n * (2 if paper and self.noise.p1 else 1)  # a layer's 1-qubit gates (+ channels)
        n_ent = len(self.spec.entanglers(0)) * (2 if paper and self.noise.p2 else 1)
        per_layer = n1 + n_ent + (self.spec.mechanism == "dephased")  # its dephasing last
        layers = []
        for layer in range(self.spec.n_layers):
            seq = self._ansatz[layer * per_layer : (layer + 1) * per_layer]
            layers.append([it for it in seq[:n1] if isinstance(it, Channel)] + seq[n1:])
        return layers, self._ansatz[per_layer * self.spec.n_layers :]

    def _constant_superoperators(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(A_l for every layer, the trailing wire channels' superoperator or None), in
        row-major vec convention: vec(X rho Y)[ij] = (X (x) Y^T) vec(rho)."""
        d = 2**self.spec.n_qubits
        units = torch.eye(d * d, dtype=torch.complex128).reshape(d * d, d, d)

        def superop(seq) -> torch.Tensor:
            rho = units
            for item in seq:
                rho = self._apply_fixed(rho, item)
            return rho.reshape(d * d, d * d).T  # column jk holds vec(channel(E_jk))

        layers, tail = self._fixed_parts()
        return torch.stack([superop(seq) for seq in layers]), (superop(tail) if tail else None)

    def _lead(self, weights: torch.Tensor) -> tuple[int, ...]:
        """The leading (model) axes of `weights` before the spec's weight shape."""
        return tuple(weights.shape[: weights.dim() - len(self.spec.weight_shape)])

    def heisenberg_observables(self, weights: torch.Tensor, ctype: torch.dtype) -> torch.Tensor:
        """(..., d, d, d): Phi^dagger(|i><i|) for every basis state i, layer by layer
        (adjoint of rho -> K rho K^dagger is O -> K^dagger O K; channels, CZ, CNOT are
        self-adjoint); weights (..., *weight_shape), one set of observables per set."""
        d = 2**self.spec.n_qubits
        lead = self._lead(weights)
        k = kron_matrices(single_qubit_matrices(self.spec, weights)).to(ctype)  # (..., L, d, d)
        obs = torch.diag_embed(torch.eye(d, dtype=ctype))
        layers, tail = self._fixed_parts()
        for item in reversed(tail):
            obs = self._apply_fixed(obs, item)
        for layer in reversed(range(self.spec.n_layers)):
            for item in reversed(layers[layer]):  # the same for every model: one flat batch
                obs = self._apply_fixed(obs.reshape(-1, d, d), item).reshape(obs.shape)
            kl = k[..., layer, :, :]
            if lead:  # (..., 1, d, d): each model's gates on its d observables
                kl = kl.unsqueeze(-3)
            obs = kl.conj().mT @ obs @ kl
        return obs

    def _apply_fixed(self, rho: torch.Tensor, item) -> torch.Tensor:
        n = self.spec.n_qubits
        if isinstance(item, Channel):
            return apply_channel(rho, n, item)
        if item.name == "CZ":
            return apply_cz(rho, n, *item.wires)
        if item.name == "CNOT":
            return apply_cnot(rho, n, *item.wires)
        raise ValueError(f"{item.name} is not a fixed gate")

    def superoperator_probs_matrix(self, weights: torch.Tensor) -> torch.Tensor:
        """(..., d, d^2) matrix M with probs = vec(rho_in) @ M^T, differentiable in the
        weights (..., *weight_shape): one M per set of weights."""
        d = 2**self.spec.n_qubits
        k = kron_matrices(
            single_qubit_matrices(self.spec, weights)
        )  # (..., L, d, d), no entanglers
        kk = (k[..., :, :, None, :, None] * k.conj()[..., :, None, :, None, :]).reshape(
            *k.shape[:-2], d * d, d * d
        )
        consts, tail = self._superoperators(kk.dtype)
        layers = consts @ kk  # (..., L, d^2, d^2): A_l (K_l (x) K_l^*)
        parts = layers.unbind(-3)
        s = parts[0]
        for m in parts[1:]:
            s = m @ s
        if tail is not None:
            s = tail @ s
        return s[..., torch.arange(d) * (d + 1), :]  # rows (i, i)

    def _superoperators(self, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The constant A_l and tail superoperator in `dtype` (real parts for a real one:
        the channels and entanglers are real maps), converted once per dtype."""
        if dtype not in self._superop_cache:
            consts, tail = self._layer_superops
            consts = consts.to(dtype) if dtype.is_complex else consts.real.to(dtype)
            if tail is not None:
                tail = (tail if dtype.is_complex else tail.real).to(dtype)
            self._superop_cache[dtype] = consts, tail
        return self._superop_cache[dtype]

    # ----------------------------------------------------------------- embedding

    def embedded(self, x: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        """(B, d, d) product states after the embedding rotations and their channels."""
        v = embedding_vectors(self.spec, x.to(dtype))  # (B, n, 2)
        rho = v.unsqueeze(-1) * v.conj().unsqueeze(-2)  # (B, n, 2, 2)
        lam = self.noise.p1 if self.noise.placement == "paper" else self.noise.wire_lam
        if lam:
            eye = torch.eye(2, dtype=rho.dtype) / 2
            rho = (1 - lam) * rho + lam * eye
        return kron_matrices(rho)

    # ----------------------------------------------------------------- the channel Phi

    def apply_ansatz(
        self, rho: torch.Tensor, weights: torch.Tensor, adjoint: bool = False
    ) -> torch.Tensor:
        """Phi applied to a batch (N, d, d) of matrices; with `adjoint`, its adjoint Phi^dagger
        (the items in reverse order, each gate U as U^dagger; channels, CZ and CNOT are
        self-adjoint), so that Tr(O Phi(rho)) = Tr(Phi^dagger(O) rho)."""
        mats = single_qubit_matrices(self.spec, weights).to(rho.dtype)
        flat = mats.reshape(-1, 2, 2)  # gate matrices in the order the gates appear
        if adjoint:
            flat = flat.conj().mT
        n = self.spec.n_qubits
        gate_index = len(flat) - 1 if adjoint else 0
        for item in reversed(self._ansatz) if adjoint else self._ansatz:
            if isinstance(item, Channel):
                rho = apply_channel(rho, n, item)
            elif item.name in ("RY", "Rot"):
                rho = apply_1q(rho, n, item.wires[0], flat[gate_index])
                gate_index += -1 if adjoint else 1
            elif item.name == "CZ":
                rho = apply_cz(rho, n, *item.wires)
            elif item.name == "CNOT":
                rho = apply_cnot(rho, n, *item.wires)
            else:
                raise ValueError(f"unexpected gate {item.name}")
        return rho

    def probs(self, weights: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """(..., B, 2^n) noisy basis-state probabilities (readout error and shots included)
        of weights (..., *weight_shape) on inputs (..., B, F): without leading axes one
        circuit on a batch; with them (a stack of S models: (S, *weight_shape), (S, B, F))
        each set of weights on its own inputs."""
        lead = self._lead(weights)
        if tuple(x.shape[:-2]) != lead:
            raise ValueError(f"inputs {tuple(x.shape)} do not match weights {tuple(weights.shape)}")
        if lead and math.prod(lead) == 1:  # a stack of one: the one-model operations (cheaper)
            one = self.probs(weights.reshape(self.spec.weight_shape), x.reshape(x.shape[-2:]))
            return one.reshape(*lead, *one.shape)
        ctype = COMPLEX[weights.dtype]
        d = 2**self.spec.n_qubits
        if lead and self._strategy() not in ("superoperator", "heisenberg"):  # batch: one by one
            flat_w, flat_x = weights.reshape(-1, *self.spec.weight_shape), x.flatten(0, -3)
            probs = torch.stack([self.probs(w, xs) for w, xs in zip(flat_w, flat_x, strict=True)])
            return probs.reshape(*lead, *probs.shape[1:])
        rho_in = self.embedded(x.reshape(-1, x.shape[-1]), weights.dtype).to(ctype)  # (N, d, d)
        vec = rho_in.reshape(*lead, -1, d * d)  # (..., B, d^2)
        if self._use_superoperator():
            m = self.superoperator_probs_matrix(weights)  # (..., d, d^2)
            # probs are real for Hermitian rho_in; with a real M only Re(rho_in) contributes
            probs = (vec @ m.mT).real if m.is_complex() else vec.real @ m.mT
        elif self._strategy() == "heisenberg":
            # p_i = Tr(|i><i| Phi(rho)) = Tr(Phi^dagger(|i><i|) rho): evolve the d projectors
            # instead of the B input states.
            obs = self.heisenberg_observables(weights, ctype)  # (..., d, d, d)
            probs = (vec @ obs.mT.reshape(*lead, d, d * d).mT).real
        else:
            probs = torch.diagonal(self.apply_ansatz(rho_in, weights), dim1=-2, dim2=-1).real
        return measure(probs.clamp_min(0.0), self.noise)

    def outputs(self, weights: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """(..., B, outputs): the spec's readout (grouped probabilities or <Z_q>) of `probs`,
        with the same leading axes."""
        probs = self.probs(weights, x)
        readout = self._sv.tables.readout
        if readout is None:
            return probs
        return probs @ self._sv._const("readout", weights.dtype)

    @property
    def stackable(self) -> bool:
        """Whether a stack of models (leading axes) runs as one computation with each model's
        numbers as alone: the superoperator and Heisenberg strategies, without shots
        (sampling draws a stack's rows in another order than one model after another)."""
        return self._strategy() in ("superoperator", "heisenberg") and self.noise.shots is None

    def _strategy(self) -> str:
        if self.strategy != "auto":
            return self.strategy
        return "superoperator" if self.spec.n_qubits <= SUPEROPERATOR_MAX_QUBITS else "heisenberg"

    def _use_superoperator(self) -> bool:
        return self._strategy() == "superoperator"


def measure(probs: torch.Tensor, noise: NoiseSpec) -> torch.Tensor:
    """Exact probabilities -> what is measured: readout error, then shots if any."""
    if noise.readout_error:
        n = int(math.log2(probs.shape[-1]))
        confusion = torch.as_tensor(readout_confusion(n, noise.readout_error))
        probs = probs @ confusion.to(probs.dtype)
    if noise.shots is not None:
        probs = sample_frequencies(probs, noise.shots)
    return probs


def sample_frequencies(probs: torch.Tensor, shots: int) -> torch.Tensor:
    """Frequencies of `shots` draws from each row (torch's global, seeded generator); rows
    with leading axes are drawn in their flattened order."""
    if probs.dim() > 2:
        return sample_frequencies(probs.flatten(0, -2), shots).reshape(probs.shape)
    p = probs.detach().clamp_min(0)
    draws = torch.multinomial(p / p.sum(dim=1, keepdim=True), shots, replacement=True)
    counts = torch.zeros_like(p).scatter_add_(1, draws, torch.ones_like(draws, dtype=p.dtype))
    return counts / shots


def apply_1q(rho: torch.Tensor, n: int, q: int, u: torch.Tensor) -> torch.Tensor:
    """U rho U^dagger with U acting on qubit q (big-endian)."""
    N, d = rho.shape[0], 2**n
    a, b = 2**q, 2 ** (n - q - 1)
    rho = torch.einsum("ij,xajc->xaic", u, rho.reshape(N, a, 2, b * d))
    rho = torch.einsum("xajc,ij->xaic", rho.reshape(N, d * a, 2, b), u.conj())
    return rho.reshape(N, d, d)


def _basis_bits(n: int) -> np.ndarray:
    idx = np.arange(2**n)[:, None]
    return (idx >> (n - 1 - np.arange(n))[None, :]) & 1


def apply_cz(rho: torch.Tensor, n: int, q1: int, q2: int) -> torch.Tensor:
    bits = _basis_bits(n)
    s = torch.as_tensor(1 - 2 * (bits[:, q1] * bits[:, q2]), dtype=rho.real.dtype)
    return rho * (s[:, None] * s[None, :])


def apply_cnot(rho: torch.Tensor, n: int, control: int, target: int) -> torch.Tensor:
    bits = _basis_bits(n).copy()
    bits[:, target] ^= bits[:, control]
    perm = torch.as_tensor(bits @ (1 << (n - 1 - np.arange(n))))  # CNOT is its own inverse
    return rho.index_select(1, perm).index_select(2, perm)


def apply_channel(rho: torch.Tensor, n: int, item: Channel) -> torch.Tensor:
    """A channel of noise.py on a batch (N, d, d): depolarizing, or dephasing (self-adjoint,
    as the depolarizing channel, so also its own adjoint in the Heisenberg picture)."""
    if item.name == "Dephasing":
        return dephase(rho, n, item.wires, item.lam)
    return depolarize(rho, n, item.wires, item.lam)


def dephase(rho: torch.Tensor, n: int, wires: tuple[int, ...], lam: float) -> torch.Tensor:
    """(1 - lam) rho + lam D(rho), D zeroing every entry whose row and column differ in a bit
    of `wires` (complete dephasing of those wires in the computational basis)."""
    bits = _basis_bits(n)[:, list(wires)]
    keep = torch.as_tensor((bits[:, None, :] == bits[None, :, :]).all(-1), dtype=rho.real.dtype)
    mask = (1 - lam) + lam * keep if lam != 1 else keep
    return rho * mask


def depolarize(rho: torch.Tensor, n: int, wires: tuple[int, ...], lam: float) -> torch.Tensor:
    """(1 - lam) rho + lam Tr_wires(rho) (x) I / 2^k on the given wires (k = len(wires))."""
    N = rho.shape[0]
    t = rho.reshape(N, *([2] * (2 * n)))  # axes 1..n: row bits, n+1..2n: column bits
    rows = n
    for w in sorted(wires, reverse=True):  # trace out each wire (row bit = column bit)
        t = t.diagonal(0, 1 + w, 1 + rows + w).sum(-1)
        rows -= 1
    for w in sorted(wires):  # put the wires back as size-1 axes, rows first
        t = t.unsqueeze(1 + w)
    for w in sorted(wires):
        t = t.unsqueeze(1 + n + w)
    for w in wires:  # times the identity on each wire
        shape = [1] * (2 * n + 1)
        shape[1 + w] = shape[1 + n + w] = 2
        t = t * torch.eye(2, dtype=rho.dtype).reshape(shape)
    mixed = t.reshape(N, 2**n, 2**n) / 2 ** len(wires)
    return (1 - lam) * rho + lam * mixed
