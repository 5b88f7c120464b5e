"""The quantum router (Model B): circuit outputs -> gate probabilities.

With the `probs` readout the grouped basis-state probabilities are the gates (they sum to 1);
with `expval` the <Z_q> pass through a trainable Linear(n -> E) and a softmax, and the
adapter's parameters count as router parameters.
"""

from __future__ import annotations

import math
from dataclasses import replace

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
        # layer-wise training (training/layerwise.py): only the first `active_layers` layers
        # are applied (None: all); their backends built once per depth
        self.active_layers: int | None = None
        self._truncated: dict[int, object] = {}

    def set_active_layers(self, layers: int | None) -> None:
        """Apply only the first `layers` layers of the ansatz from now on (None or all of
        them: the full circuit). The deeper layers are left out of the circuit, not set to
        zero angles (a zero-angle RY + CZ layer is not the identity): the outputs are those
        of a `layers`-layer router with the first rows of these weights."""
        if layers is not None and not 1 <= layers <= self.spec.n_layers:
            raise ValueError(f"active layers {layers} outside 1..{self.spec.n_layers}")
        self.active_layers = None if layers == self.spec.n_layers else layers

    def _circuit(self):
        """The backend and the weights of the layers applied."""
        k = self.active_layers
        if k is None:
            return self.backend, self.weights
        backend = self._truncated.get(k)
        if backend is None:
            backend = make_backend(replace(self.spec, n_layers=k), self.backend_name, self.noise)
            self._truncated[k] = backend
        return backend, self.weights[:k]

    def set_noise(self, noise: NoiseSpec, backend: str | None = None) -> None:
        """Simulate the same trained circuit under other noise (or on another backend)."""
        self.noise = noise
        self.backend_name = backend or self.backend_name
        self.backend = make_backend(self.spec, self.backend_name, noise)
        self._truncated = {}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        backend, weights = self._circuit()
        if self.adapter is None:
            return backend.outputs(weights, x)
        if isinstance(backend, TorchStatevector):  # circuit and adapter in one node
            return backend.adapted_outputs(weights, x, self.adapter.weight, self.adapter.bias)
        out = backend.outputs(weights, x)
        return torch.softmax(self.adapter(out.to(self.adapter.weight.dtype)), dim=-1)
