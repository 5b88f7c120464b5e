"""Quantum experts: each expert is its own parameterised circuit whose readout gives class
logits; with a quantum router this is the fully quantum QMoE (Nguyen et al., arXiv
2507.05190), and one quantum expert without a router (`model.router.type: none`) is the
monolithic QNN baseline.

Every expert is the router's circuit family (qmoe_cli/quantum/spec.py: the same embedding,
ansatz and qubit order), on `qubits` qubits of its own, with `layers` layers of its own
weights; the inputs are embedded into every expert circuit (each expert reads x itself, as
the router does). Readout, per expert:

* `expval` (default): <Z_q> on every qubit, then a small trainable affine map
  W_e <Z> + b_e (n -> C) gives the expert's C class logits. Parameters per expert: the
  circuit's (L n for ry_cz, 3 L n for strongly_entangling) + n C + C.
* `probs`: the basis-state probabilities grouped per class (state i counts for class
  i mod C, as the router groups them per expert); the logits are their natural logs (a
  lone expert's softmax gives back exactly those probabilities). Parameters per expert:
  the circuit's only. C <= 2^n is required.

The mixture then weighs the experts' logits by the router's gates (models/moe.py), as for
classical experts. The circuits run on the router's simulators (torch statevector with the
compiled kernel for training, density matrices under noise, PennyLane and Qiskit Aer as
references), one circuit call per expert. Noise: the quantum router's `model.router.noise`
applies to every circuit of the model, the experts' included (build_model passes it on);
`noise` here is only for a model without a quantum router.

What Nguyen et al. leave open, and what qmoe chooses (docs/experts.md):
embedding and ansatz of the experts (the router's: RX angle embedding, ry_cz or
strongly_entangling), qubits per expert (a config key; default 2, one per Two Moons
feature), readout (expval through an affine map, or grouped probabilities), how the
router's measurement becomes gates (the router's own readout), aggregation (the classical
gate-weighted sum of expert logits, every expert evaluated: dense routing unless `top_k`),
separate registers (the qubit count of a model is the sum over its circuits), and
initialisation (circuit weights uniform in [0, 2 pi), adapters as nn.Linear).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from qmoe_cli.errors import ConfigError
from qmoe_cli.models.base import ExpertsConfigBase
from qmoe_cli.models.routers.quantum import NoiseConfig


class QuantumExpertsConfig(ExpertsConfigBase):
    """Each expert a parameterised circuit with its own weights (and, with the expval
    readout, its own affine map to class logits). `count: 1` with `model.router.type: none`
    is the monolithic QNN."""

    type: Literal["quantum"] = Field(
        description="each expert is its own parameterised circuit ([experts.md](experts.md))"
    )
    count: int = Field(
        2,
        ge=1,
        le=64,
        description="number of experts (1 only with model.router.type: none: a monolithic QNN)",
    )
    qubits: int = Field(2, ge=1, le=12, description="qubits of each expert's circuit")
    layers: int = Field(3, ge=1, le=200, description="ansatz layers of each expert's circuit")
    ansatz: Literal["ry_cz", "strongly_entangling"] = Field(
        "ry_cz",
        description="as the router's: `ry_cz` has L n circuit weights per expert, "
        "`strongly_entangling` 3 L n",
    )
    embedding: Literal["rx", "ry", "rz"] = Field(
        "rx", description="rotation gate of the angle embedding, as the router's"
    )
    readout: Literal["expval", "probs"] = Field(
        "expval",
        description="expval: <Z_q> through a trainable affine map to class logits; "
        "probs: log of the basis-state probabilities grouped per class",
    )
    backend: Literal["torch", "pennylane", "lightning", "qiskit-aer"] = Field(
        "torch", description="simulator, as the router's (`qiskit-aer` cannot train)"
    )
    noise: NoiseConfig | None = Field(
        None,
        description="noise of the experts' circuits when the router is not quantum "
        "(with a quantum router, model.router.noise applies to every circuit)",
    )

    stacked_form = "qmoe_cli.models.stacked_forms:quantum_experts"

    def check_fit(self, n_features: int | None) -> None:
        if n_features is not None and n_features > self.qubits:
            raise ValueError(
                f"model.experts.qubits: {self.qubits} qubits cannot embed {n_features} input "
                "features (one feature per qubit); add qubits or set data.pca_components"
            )

    def circuit_params(self) -> int:
        """Trainable circuit weights of one expert."""
        return self.layers * self.qubits * (3 if self.ansatz == "strongly_entangling" else 1)

    def build(self, n_features: int, n_classes: int):
        from qmoe_cli.models.torch_experts import QuantumExperts
        from qmoe_cli.quantum.noise import NoiseSpec
        from qmoe_cli.quantum.spec import CircuitSpec

        if self.readout == "probs" and n_classes > 2**self.qubits:
            raise ConfigError(
                f"model.experts.qubits: {n_classes} classes exceed the {2**self.qubits} basis "
                f"states of {self.qubits} qubits (readout: probs)"
            )
        try:
            spec = CircuitSpec(
                n_qubits=self.qubits,
                n_layers=self.layers,
                n_features=n_features,
                n_experts=n_classes,  # the readout's groups: one per class
                ansatz=self.ansatz,
                embedding=self.embedding,
                readout=self.readout,
            )
            noise = NoiseSpec.from_config(self.noise) if self.noise is not None else None
            return QuantumExperts(spec, self.count, self.backend, noise)
        except ValueError as exc:
            raise ConfigError(f"model.experts: {exc}") from None
