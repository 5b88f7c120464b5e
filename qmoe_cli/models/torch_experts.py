"""Experts as torch modules: every expert maps the input to class logits. Their configs and
builders: models/experts/."""

from __future__ import annotations

import math

import torch
from torch import nn


class LinearExperts(nn.Module):
    """E independent linear maps x -> W_i x + b_i, computed as one (features -> E*outputs) matmul.

    Expert i owns rows [i*outputs, (i+1)*outputs) of the weight; each row is initialised
    as nn.Linear would (uniform in +-1/sqrt(features)).
    """

    def __init__(self, n_features: int, n_outputs: int, count: int):
        super().__init__()
        self.count, self.n_outputs = count, n_outputs
        self.linear = nn.Linear(n_features, count * n_outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(batch, features) -> (batch, experts, outputs)."""
        return self.linear(x).view(-1, self.count, self.n_outputs)


class MLPExperts(nn.Module):
    """E independent MLPs x -> hidden layers (activation) -> class logits, as batched matmuls.

    Layer k of expert i has weight[k][i] (fan_in, fan_out) and bias[k][i], each initialised
    as nn.Linear would (uniform in +-1/sqrt(fan_in)). Parameters: E sum_k (fan_in + 1) fan_out.
    """

    def __init__(
        self, n_features: int, n_outputs: int, count: int, hidden: list[int], activation: str
    ):
        super().__init__()
        from qmoe_cli.models.torch_routers import ACTIVATIONS

        self.count, self.n_outputs = count, n_outputs
        widths = [n_features, *hidden, n_outputs]
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        for fan_in, fan_out in zip(widths[:-1], widths[1:], strict=True):
            bound = 1 / math.sqrt(fan_in)
            weight = torch.empty(count, fan_in, fan_out).uniform_(-bound, bound)
            bias = torch.empty(count, 1, fan_out).uniform_(-bound, bound)
            self.weights.append(nn.Parameter(weight))
            self.biases.append(nn.Parameter(bias))
        self.activation = ACTIVATIONS[activation]()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(batch, features) -> (batch, experts, outputs)."""
        h = x.unsqueeze(0).expand(self.count, -1, -1)  # (E, B, d)
        last = len(self.weights) - 1
        for k, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            h = torch.baddbmm(b, h, w)
            if k < last:
                h = self.activation(h)
        return h.transpose(0, 1)


class QuantumExperts(nn.Module):
    """E parameterised circuits (one CircuitSpec, E weight sets) whose readouts are class
    logits; conventions and parameter counts in models/experts/quantum.py.

    The circuits run on the router's simulators (quantum.make_backend): one backend for the
    spec, called once per expert with that expert's weights, so on CPU each small expert is
    one node of the compiled kernel, exactly as a router of the same size. `set_noise`
    simulates the same trained circuits under other noise or on another backend.
    """

    def __init__(self, spec, count: int, backend: str = "torch", noise=None):
        super().__init__()
        from qmoe_cli.quantum import TRAINABLE_BACKENDS, make_backend
        from qmoe_cli.quantum.noise import NoiseSpec

        self.spec, self.count, self.n_outputs = spec, count, spec.n_experts
        self.backend_name = backend
        self.noise = noise or NoiseSpec()
        self.backend = make_backend(spec, backend, self.noise)
        self.trainable = backend in TRAINABLE_BACKENDS
        self.weights = nn.Parameter(torch.rand(count, *spec.weight_shape) * (2 * math.pi))
        if spec.readout == "expval":
            n, c = spec.n_qubits, spec.n_experts
            bound = 1 / math.sqrt(n)
            self.adapter_weight = nn.Parameter(torch.empty(count, c, n).uniform_(-bound, bound))
            self.adapter_bias = nn.Parameter(torch.empty(count, c).uniform_(-bound, bound))
        else:
            self.adapter_weight = self.adapter_bias = None

    @property
    def n_qubits(self) -> int:
        return self.spec.n_qubits

    def set_noise(self, noise, backend: str | None = None) -> None:
        from qmoe_cli.quantum import make_backend

        self.noise = noise
        self.backend_name = backend or self.backend_name
        self.backend = make_backend(self.spec, self.backend_name, noise)

    def circuit_outputs(self, x: torch.Tensor) -> torch.Tensor:
        """(batch, experts, n_out): every expert circuit's readout (<Z_q> or grouped probs)."""
        return torch.stack([self.backend.outputs(w, x) for w in self.weights.unbind(0)], dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(batch, features) -> (batch, experts, classes) logits."""
        out = self.circuit_outputs(x).to(self.weights.dtype)
        if self.adapter_weight is None:
            return torch.log(out.clamp_min(1e-12))
        return torch.einsum("ben,ecn->bec", out, self.adapter_weight) + self.adapter_bias
