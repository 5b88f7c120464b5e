"""The quantum router (Model B): circuit outputs -> gate probabilities.

With the `probs` readout the grouped basis-state probabilities are the gates (they sum to 1);
with `expval` the <Z_q> pass through a trainable Linear(n -> E) and a softmax, and the
adapter's parameters count as router parameters.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from qmoe_cli.quantum import TRAINABLE_BACKENDS, make_backend
from qmoe_cli.quantum.noise import NoiseSpec
from qmoe_cli.quantum.spec import CircuitSpec
from qmoe_cli.quantum.torch_backend import TorchStatevector


class QuantumRouter(nn.Module):
    def __init__(self, spec: CircuitSpec, backend: str = "torch", noise: NoiseSpec | None = None):
        super().__init__()
        self.spec, self.backend_name = spec, backend
        self.noise = noise or NoiseSpec()
        self.backend = make_backend(spec, backend, self.noise)
        self.trainable = backend in TRAINABLE_BACKENDS
        # The notebooks' initialisation: uniform in [0, 2 pi), from torch's seeded generator.
        self.weights = nn.Parameter(torch.rand(spec.weight_shape) * (2 * math.pi))
        self.adapter = (
            nn.Linear(spec.n_qubits, spec.n_experts) if spec.readout == "expval" else None
        )

    def set_noise(self, noise: NoiseSpec, backend: str | None = None) -> None:
        """Simulate the same trained circuit under other noise (or on another backend)."""
        self.noise = noise
        self.backend_name = backend or self.backend_name
        self.backend = make_backend(self.spec, self.backend_name, noise)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.adapter is None:
            return self.backend.outputs(self.weights, x)
        if isinstance(self.backend, TorchStatevector):  # circuit and adapter in one node
            return self.backend.adapted_outputs(
                self.weights, x, self.adapter.weight, self.adapter.bias
            )
        out = self.backend.outputs(self.weights, x)
        return torch.softmax(self.adapter(out.to(self.adapter.weight.dtype)), dim=-1)
