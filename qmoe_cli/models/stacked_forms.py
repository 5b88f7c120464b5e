"""The stacked forms of the router and experts kinds: S modules of one architecture as one
computation, every tensor with a leading model axis.

A router or experts kind declares its stacked form beside its config (models/base.py:
`stacked_form = "qmoe_cli.models.stacked_forms:linear_router"`, or `no_stacked_form` with
the reason), and the stacked training engine (training/stacked.py) trains S models of one
config with it: their parameters as one tensor (S, *shape) each (training/stacked_modules.py:
`ParamLayout`, and `StackedMoE`, the mixture), each component computed for all S models on
their own inputs in one pass of batched operations (bmm instead of mm, a leading axis on the
quantum unitary, the compiled circuit kernel looping over parameter sets, a leading axis
through a noisy circuit's superoperators), so that the per-operation overhead that dominates
these tiny models is paid once per step instead of S times.

Layout: activations are (S, width, B), the batch innermost. The widths here are tiny (2
features, 4 experts, 2 classes) and torch's CPU kernels vectorise along the innermost axis:
a softmax over an innermost axis of 4 costs far more than over a leading one (measured:
docs/performance.md, the stacked engine's "How"). So inputs
are x (S, F, B), gates (S, E, B), expert logits (S, E, C, B).

A form (`StackedForm`) is `forward(module, prefix)`: given one built module of the kind (its
parameters named `<prefix>.<name>` in the model), the function computing all S models,
`(params, buffers, x) -> output` on S-stacked tensors; and `refusal(config, key)`: why a
config of the kind is trained one model at a time after all (a backend or a size the form
does not take), led by its dotted key, or None. Every form computes, per model, what the
module computes alone: the same functions on the same values, only batched
(tests/test_stacked.py holds each kind to the sequential engine to 1e-6).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from qmoe_cli.models.quantum_router import QuantumRouter
from qmoe_cli.models.torch_experts import LinearExperts, MLPExperts, QuantumExperts
from qmoe_cli.models.torch_routers import (
    FourierRouter,
    LinearRouter,
    MLPRouter,
    SpectrumMatchedRouter,
)
from qmoe_cli.quantum.torch_backend import MAX_UNITARY_QUBITS, TorchStatevector
from qmoe_cli.quantum.torch_density import SUPEROPERATOR_MAX_QUBITS, TorchDensityMatrix
from qmoe_cli.quantum.torch_dephased import TorchDephased

Params = dict[str, torch.Tensor]  # parameter (or buffer) name -> (S, *shape)
StackedForward = Callable[[Params, Params, torch.Tensor], torch.Tensor]


def _always(config: Any, key: str) -> str | None:
    return None


@dataclass(frozen=True)
class StackedForm:
    """How the stacked engine computes a kind (the module docstring): `forward(module,
    prefix)` -> the StackedForward of S models like `module` (None: this module does not take
    the form after all); `refusal(config, key)` -> why a config of the kind does not stack,
    led by `key` (model.router, model.experts), or None (every config stacks)."""

    forward: Callable[[Any, str], StackedForward | None]
    refusal: Callable[[Any, str], str | None] = _always


def linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """nn.Linear per model: x (S, in, B), weight (S, out, in), bias (S, out) -> (S, out, B)."""
    return torch.baddbmm(bias.unsqueeze(-1), weight, x)


# ------------------------------------------------------------ circuits

# Up to 8 qubits the stack takes the path one model takes at its batch (the unitary, or the
# layers applied to the batched states when 2^n exceeds the batch), faster than one model at
# a time with the same numbers. Wider circuits train one at a time: the arithmetic of the
# 2^n states dominates, and a stack is slower (both measured: docs/performance.md, the
# stacked engine's "Wide circuits" and "What falls back").
STACKED_MAX_QUBITS = min(8, MAX_UNITARY_QUBITS)
# Noisy circuits (density matrices: each model's superoperator, d^2 x d^2 per layer) stack up
# to 3 qubits; from 4, the d^6 arithmetic of a layer dominates and a stack's superoperators
# leave the cache, so a stack is no faster than one model after another (measured per
# model-step of the circuit alone: docs/performance.md, "What falls back").
NOISY_STACKED_MAX_QUBITS = min(3, SUPEROPERATOR_MAX_QUBITS)


def noisy_size_refusal(circuit: Any, key: str) -> str | None:
    """Why a noisy circuit is too wide for the torch stacked path (NOISY_STACKED_MAX_QUBITS);
    the compiled epoch (training/fused_epoch.py), which carries only d rows of each model's
    channel, stacks it faster than one model at a time (training.stacked.supports asks)."""
    noise = circuit.noise
    noisy = noise is not None and (
        noise.depolarizing or noise.depolarizing_2q or noise.readout_error
    )
    if noisy and circuit.qubits > NOISY_STACKED_MAX_QUBITS:
        return (
            f"{key}.qubits: a noisy circuit of more than {NOISY_STACKED_MAX_QUBITS} qubits "
            "on the torch stacked path (its density-matrix arithmetic dominates: one model at "
            "a time is as fast or faster)"
        )
    return None


def circuit_refusal(circuit: Any, key: str) -> str | None:
    """Why a circuit's config (a quantum router's, or quantum experts' with the router's
    noise passed on: models.experts_config) trains one model at a time: the torch backend
    only, noiseless or with depolarizing noise and readout error (density matrices; the
    width of a noisy one: noisy_size_refusal), up to STACKED_MAX_QUBITS; not shots or fake
    devices (evaluation only)."""
    if circuit.backend != "torch":
        return f"{key}.backend is {circuit.backend} (stacked: torch only)"
    noise = circuit.noise
    if noise is not None:
        if noise.shots is not None or noise.fake_backend is not None:
            return "shots or a fake device (evaluation only)"
    if circuit.qubits > STACKED_MAX_QUBITS:
        return (
            f"{key}.qubits: more than {STACKED_MAX_QUBITS} qubits (there one model at a time "
            "is as fast or faster)"
        )
    return None


def _quantum_stackable(module: QuantumRouter | QuantumExperts) -> bool:
    """A circuit simulated by the noiseless torch backend (its kernel or unitary path), or by
    the noisy one with a stacked strategy (superoperator or Heisenberg) and without shots
    (sampling is evaluation only, and its draws would come in another order)."""
    backend = module.backend
    if type(backend) is TorchStatevector:
        return backend.strategy == "auto"
    if type(backend) is TorchDephased:  # its probs take a leading model axis
        return True
    if type(backend) is TorchDensityMatrix:
        return backend.stackable
    return False


def stacked_circuit_outputs(
    backend: TorchStatevector | TorchDensityMatrix | TorchDephased,
    weights: torch.Tensor,
    x: torch.Tensor,
) -> torch.Tensor:
    """backend.outputs for S parameter sets, each on its own inputs: weights
    (S, *weight_shape), x (S, F, B) -> (S, outputs, B).

    Noiseless (TorchStatevector): where the backend would use its compiled kernel for one
    model (same rule, same batch), the kernel runs over all S sets in one call; otherwise
    the path one model would take at this batch (TorchStatevector.stacked_probs): the S
    unitaries built at once and applied by one batched matmul, or, for wide circuits on
    small batches, the layers applied to the S batched states. Noisy
    (TorchDensityMatrix): its own forward with a leading model axis (each model's
    superoperator, or its Heisenberg observables, built at once; one batched matmul with
    each model's embedded density matrices; readout error as for one model). Dephased
    (TorchDephased): its own forward with a leading model axis.
    """
    if isinstance(backend, (TorchDensityMatrix, TorchDephased)):
        return backend.outputs(weights, x.mT).mT
    if backend._use_kernel(weights[0], x[0].mT):
        return _run_kernel(backend, weights, x)
    probs = backend.stacked_probs(weights, x.mT)  # (S, B, d)
    if backend._np["readout"] is not None:
        probs = probs @ backend._const("readout", weights.dtype)
    return probs.mT


def _run_kernel(backend: TorchStatevector, weights, x, *adapter) -> torch.Tensor:
    # Imported here: Numba is a slow import (docs/performance.md), and only circuits that
    # take the compiled kernel need it (backend._kernel has imported it already).
    from qmoe_cli.quantum.jit_kernel import run_stacked_kernel

    return run_stacked_kernel(backend._kernel, weights, x, True, *adapter)


# ------------------------------------------------------------ routers: (S, F, B) -> (S, E, B)


def _linear_router(module: LinearRouter, prefix: str) -> StackedForward:
    w, b = f"{prefix}.linear.weight", f"{prefix}.linear.bias"

    def forward(p: Params, c: Params, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(linear(x, p[w], p[b]), dim=1)

    return forward


def _mlp_router(module: MLPRouter, prefix: str) -> StackedForward:
    steps: list = []
    for i, layer in enumerate(module.net):
        if isinstance(layer, nn.Linear):  # (weight, bias or None: a router without biases)
            bias = f"{prefix}.net.{i}.bias" if layer.bias is not None else None
            steps.append((f"{prefix}.net.{i}.weight", bias))
        else:  # an elementwise activation: the module itself applies to any shape
            steps.append(layer)

    def forward(p: Params, c: Params, x: torch.Tensor) -> torch.Tensor:
        h = x
        for step in steps:
            if not isinstance(step, tuple):
                h = step(h)
            elif step[1] is None:
                h = torch.bmm(p[step[0]], h)
            else:
                h = linear(h, p[step[0]], p[step[1]])
        return torch.softmax(h, dim=1)

    return forward


def _fourier_router(module: FourierRouter, prefix: str) -> StackedForward:
    w, b = f"{prefix}.linear.weight", f"{prefix}.linear.bias"
    freq, phase, constant = (f"{prefix}.{k}" for k in ("freq", "phase", "constant"))

    def forward(p: Params, c: Params, x: torch.Tensor) -> torch.Tensor:
        # as FourierRouter.features, with each model's own terms (S, T, F): (S, T, F, B)
        factors = torch.sin(x.unsqueeze(1) * c[freq].unsqueeze(-1) + c[phase].unsqueeze(-1))
        factors = torch.where(c[constant].unsqueeze(-1), torch.ones_like(factors), factors)
        return torch.softmax(linear(factors.prod(dim=2), p[w], p[b]), dim=1)

    return forward


def _spectrum_matched_router(module: SpectrumMatchedRouter, prefix: str) -> StackedForward:
    trig = SpectrumMatchedRouter.trig
    if module.rank == 0:  # as the module: its kept terms (S, T, F), then a full map
        w, b = f"{prefix}.linear.weight", f"{prefix}.linear.bias"
        freq, cosine, constant = (f"{prefix}.{k}" for k in ("freq", "cosine", "constant"))

        def logits(p: Params, c: Params, x: torch.Tensor) -> torch.Tensor:
            angles = x.unsqueeze(1) * c[freq].to(x.dtype).unsqueeze(-1)  # (S, T, F, B)
            factors = trig(angles, c[cosine].unsqueeze(-1), c[constant].unsqueeze(-1))
            return linear(factors.prod(dim=2), p[w], p[b])

    else:  # per feature f: phi_f (S, 2 r_f + 1, B), u_f (S, R, 2 r_f + 1) @ phi_f: (S, R, B)
        keys = [
            tuple(
                f"{prefix}.{k}"
                for k in (f"factors.{f}", f"freq_{f}", f"cosine_{f}", f"constant_{f}")
            )
            for f in range(len(module.factors))
        ]
        mix, bias = f"{prefix}.mix", f"{prefix}.bias"

        def logits(p: Params, c: Params, x: torch.Tensor) -> torch.Tensor:
            z = None
            for f, (u, freq, cosine, constant) in enumerate(keys):
                angles = x[:, f : f + 1, :] * c[freq].to(x.dtype).unsqueeze(-1)
                phi = trig(angles, c[cosine].unsqueeze(-1), c[constant].unsqueeze(-1))
                zf = torch.bmm(p[u], phi)
                z = zf if z is None else z * zf
            return linear(z, p[mix], p[bias])

    def forward(p: Params, c: Params, x: torch.Tensor) -> torch.Tensor:
        free = logits(p, c, x)  # (S, E - 1, B)
        zero = torch.zeros(free.shape[0], 1, free.shape[2], dtype=free.dtype)
        return torch.softmax(torch.cat([free, zero], dim=1), dim=1)

    return forward


def _quantum_router(module: QuantumRouter, prefix: str) -> StackedForward | None:
    if not _quantum_stackable(module):
        return None
    backend = module.backend
    w = f"{prefix}.weights"
    aw, ab = f"{prefix}.adapter.weight", f"{prefix}.adapter.bias"

    def forward(p: Params, c: Params, x: torch.Tensor) -> torch.Tensor:
        weights = p[w]
        x = x.to(weights.dtype)
        if module.adapter is None:
            return stacked_circuit_outputs(backend, weights, x)
        same_dtype = p[aw].dtype == p[ab].dtype == weights.dtype
        fused = isinstance(backend, TorchStatevector) and same_dtype  # as QuantumRouter.forward
        if fused and backend._use_kernel(weights[0], x[0].mT):  # as adapted_outputs
            return _run_kernel(backend, weights, x, p[aw], p[ab])
        out = stacked_circuit_outputs(backend, weights, x).to(p[aw].dtype)
        return torch.softmax(linear(out, p[aw], p[ab]), dim=1)

    return forward


def _single_expert_router(module: nn.Module, prefix: str) -> StackedForward:
    def forward(p: Params, c: Params, x: torch.Tensor) -> torch.Tensor:
        return torch.ones(x.shape[0], 1, x.shape[2], dtype=x.dtype)

    return forward


linear_router = StackedForm(_linear_router)
mlp_router = StackedForm(_mlp_router)
fourier_router = StackedForm(_fourier_router)
spectrum_matched_router = StackedForm(_spectrum_matched_router)
quantum_router = StackedForm(_quantum_router, circuit_refusal)
single_expert_router = StackedForm(_single_expert_router)


# ------------------------------------------------------------ experts: (S, F, B) -> (S, E, C, B)


def _linear_experts(module: LinearExperts, prefix: str) -> StackedForward:
    w, b = f"{prefix}.linear.weight", f"{prefix}.linear.bias"
    shape = (module.count, module.n_outputs)

    def forward(p: Params, c: Params, x: torch.Tensor) -> torch.Tensor:
        return linear(x, p[w], p[b]).unflatten(1, shape)

    return forward


def _mlp_experts(module: MLPExperts, prefix: str) -> StackedForward:
    layers = [(f"{prefix}.weights.{k}", f"{prefix}.biases.{k}") for k in range(len(module.weights))]
    activation, count = module.activation, module.count

    def forward(p: Params, c: Params, x: torch.Tensor) -> torch.Tensor:
        # MLPExperts per model: layer k of expert e maps h (S, E, in, B) by its weight
        # (S, E, in, out) and bias (S, E, 1, out), as one bmm over S E
        n = x.shape[0]
        h = x.unsqueeze(1).expand(n, count, *x.shape[1:]).flatten(0, 1)  # (S E, F, B)
        for k, (w, b) in enumerate(layers):
            h = torch.baddbmm(p[b].flatten(0, 1).mT, p[w].flatten(0, 1).mT, h)
            if k < len(layers) - 1:
                h = activation(h)
        return h.unflatten(0, (n, count))  # (S, E, C, B)

    return forward


def _quantum_experts(module: QuantumExperts, prefix: str) -> StackedForward | None:
    if not _quantum_stackable(module):
        return None
    backend, count = module.backend, module.count
    w, aw, ab = (f"{prefix}.{k}" for k in ("weights", "adapter_weight", "adapter_bias"))

    def forward(p: Params, c: Params, x: torch.Tensor) -> torch.Tensor:
        # QuantumExperts per model: the S E circuits as S E parameter sets, expert e of
        # model s on model s's inputs
        weights = p[w]
        n = weights.shape[0]
        x = x.to(weights.dtype).repeat_interleave(count, dim=0)  # (S E, F, B)
        out = stacked_circuit_outputs(backend, weights.flatten(0, 1), x)  # (S E, out, B)
        if module.adapter_weight is None:
            return torch.log(out.clamp_min(1e-12)).unflatten(0, (n, count))
        logits = linear(out, p[aw].flatten(0, 1), p[ab].flatten(0, 1))
        return logits.unflatten(0, (n, count))

    return forward


linear_experts = StackedForm(_linear_experts)
mlp_experts = StackedForm(_mlp_experts)
quantum_experts = StackedForm(_quantum_experts, circuit_refusal)
