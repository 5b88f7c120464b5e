"""The quantum router, the paper's Model B, and the noise of its circuit.

The circuit conventions (embedding, ansatz, readout, qubit order) are stated in
qmoe_cli/quantum/spec.py, the noise conventions in qmoe_cli/quantum/noise.py; the torch
module is models/quantum_router.py.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from qmoe_cli.errors import ConfigError
from qmoe_cli.models.base import RouterConfigBase
from qmoe_cli.schema import Strict


class NoiseConfig(Strict):
    """Noise of the quantum router's circuit, and of every other circuit of the model
    (quantum experts: docs/experts.md); conventions in qmoe_cli/quantum/noise.py.

    `depolarizing` is eps in Qiskit's convention, depolarizing_error(eps, k): the k-qubit
    state is replaced by the maximally mixed one with probability eps. It means that under
    both placements. With placement `paper` a channel follows every gate as written (1-qubit
    after 1-qubit gates, the joint 2-qubit channel after 2-qubit gates, with eps
    `depolarizing_2q` if given). With placement `notebook` a 1-qubit channel acts on every
    wire after the embedding and after the last layer, as the public notebooks did (their
    PennyLane DepolarizingChannel p is eps = 4p/3: the notebooks' p = 0.01 is eps 0.0133).
    """

    depolarizing: float = Field(
        0.0,
        ge=0.0,
        le=1.0,
        description="eps in Qiskit's convention, `depolarizing_error(eps, k)` (the k-qubit "
        "state is replaced by the maximally mixed one with probability eps), under both "
        "placements: placement `paper` after every gate as written, placement `notebook` on "
        "every wire twice (see `placement`)",
    )
    depolarizing_2q: float | None = Field(
        None,
        ge=0.0,
        le=1.0,
        description="paper placement: eps of the joint 2-qubit channel after CZ/CNOT "
        "(default: `depolarizing`)",
    )
    placement: Literal["paper", "notebook"] = Field(
        "paper",
        description="`paper`: a channel after every gate, embedding rotations included (1-qubit "
        "channel after RX/RY/RZ/Rot, Rot counting as one gate; Qiskit's joint 16-Kraus 2-qubit "
        "channel after CZ/CNOT); `notebook`: a 1-qubit channel on every wire after the "
        "embedding and after the last layer, as the public notebooks did",
    )
    readout_error: float = Field(
        0.0,
        ge=0.0,
        le=0.5,
        description="symmetric readout error: each measured bit flips with this probability",
    )
    shots: int | None = Field(
        None,
        ge=1,
        description="sample this many shots (evaluation); multinomial sampling of the "
        "probabilities; never used for training (sampling has no gradient)",
    )
    fake_backend: str | None = Field(
        None,
        description="noise model of a qiskit-ibm-runtime fake device (Aer, evaluation); the "
        "name of a `qiskit_ibm_runtime.fake_provider` device (e.g. `FakeManilaV2`, offline): "
        "its noise model (gate errors, relaxation, readout), simulated by Aer on the circuit "
        "transpiled for the device (optimization level 0, the final layout followed). "
        "Evaluation only (backend `qiskit-aer`); in a noise sweep (mode `evaluate`) the "
        "noiselessly trained routers are also evaluated on it, beside the levels. Excludes "
        "`depolarizing` and `readout_error`",
    )

    @field_validator("fake_backend")
    @classmethod
    def _known_device(cls, name: str | None) -> str | None:
        if name is None:
            return None
        from qmoe_cli.quantum.fake_devices import check_fake_device  # only when set

        return check_fake_device(name)

    @model_validator(mode="after")
    def _check(self) -> NoiseConfig:
        if self.depolarizing_2q is not None and self.placement == "notebook":
            raise ValueError("depolarizing_2q applies only to placement: paper")
        if self.fake_backend is not None and (
            self.depolarizing or self.depolarizing_2q or self.readout_error
        ):
            raise ValueError(
                "fake_backend: the device's noise model replaces depolarizing and "
                "readout_error; set only shots beside it"
            )
        return self


# Aer gives no gradients: it evaluates trained circuits (noise-sweep --simulator, hardware).
TRAINING_BACKENDS = ("torch", "pennylane", "lightning")


def check_training_backend(key: str, backend: str, noisy: bool) -> None:
    """Refuse at validation what training would refuse: `key` is the backend's dotted key."""
    if backend not in TRAINING_BACKENDS:
        raise ValueError(
            f"{key}: {backend} gives no gradients, so it cannot train; train with torch, "
            "pennylane or lightning (Aer evaluates trained circuits: `qmoe noise-sweep "
            "--simulator qiskit-aer`, `qmoe hardware --target aer`)"
        )
    if noisy and backend != "torch":
        raise ValueError(
            f"{key}: {backend} does not simulate noise in qmoe; noisy circuits train with "
            "backend torch"
        )


def is_noisy(noise: NoiseConfig | None) -> bool:
    return noise is not None and bool(
        noise.depolarizing
        or noise.depolarizing_2q
        or noise.readout_error
        or noise.shots is not None
        or noise.fake_backend is not None
    )


class QuantumRouterConfig(RouterConfigBase):
    """A parameterised circuit whose measurement gives the gate: the paper's Model B.

    The circuit conventions (embedding, ansatz, readout, qubit order) are stated in
    qmoe_cli/quantum/spec.py.
    """

    type: Literal["quantum"] = Field(description="selects this router")
    qubits: int = Field(
        2, ge=1, le=20, description="n; each input feature goes on at least one qubit"
    )
    layers: int = Field(3, ge=1, le=200, description="L, layers of the ansatz")
    ansatz: Literal["ry_cz", "strongly_entangling"] = Field(
        "ry_cz",
        description="`ry_cz`: the paper's text, P = L n; `strongly_entangling`: the public "
        "notebooks, P = 3 L n",
    )
    embedding: Literal["rx", "ry", "rz"] = Field(
        "rx",
        description="rotation gate of the angle embedding (`rz` on |0> carries no information "
        "about x)",
    )
    readout: Literal["probs", "expval"] = Field(
        "probs",
        description="`probs`: basis-state probabilities grouped by index mod E are the gates; "
        "`expval`: `<Z>` per qubit, then a trainable Linear(n -> E) and a softmax (adds n E + "
        "E parameters)",
    )
    backend: Literal["torch", "pennylane", "lightning", "qiskit-aer"] = Field(
        "torch",
        description="simulator; `qiskit-aer` gives no gradients, so training with it is "
        "refused (see [quantum.md](quantum.md#backends))",
    )
    noise: NoiseConfig = Field(
        default_factory=NoiseConfig,
        description="depolarizing noise, readout error, shots (below and [noise.md](noise.md)); "
        "default: noiseless; only the torch backend simulates noise in training",
    )
    mechanism: Literal["full", "no_entangler", "dephased"] = Field(
        "full",
        description="ablations that remove the mechanism ([quantum.md](quantum.md#mechanism-"
        "ablations)): `full`, the circuit; `no_entangler`, without its entangling gates "
        "(a product state); `dephased`, complete dephasing in the computational basis after "
        "every layer (a classical Markov chain over basis states; backends torch and "
        "pennylane, not lightning)",
    )

    stacked_form = "qmoe_cli.models.stacked_forms:quantum_router"

    @model_validator(mode="after")
    def _mechanism_backend(self) -> QuantumRouterConfig:
        if self.mechanism == "dephased" and self.backend == "lightning":
            raise ValueError(
                "mechanism: dephased is no unitary circuit and lightning.qubit a statevector "
                "device; use backend torch or pennylane (default.mixed)"
            )
        return self

    def check_fit(self, n_experts: int, n_features: int | None) -> None:
        if self.readout == "probs" and n_experts > 2**self.qubits:
            raise ValueError(
                f"model.experts.count: {n_experts} experts exceed the {2**self.qubits} basis "
                f"states of {self.qubits} qubits (readout: probs)"
            )
        if n_features is not None and n_features > self.qubits:
            raise ValueError(
                f"model.router.qubits: {self.qubits} qubits cannot embed {n_features} input "
                "features (one feature per qubit); add qubits or set data.pca_components"
            )

    def param_count(self, n_features: int, n_experts: int) -> int:
        """The router's trainable parameters, counted on the module build() makes (on the
        torch backend, noiseless: neither changes the parameters; torch's random state is
        left as it was)."""
        import torch

        plain = self.model_copy(update={"backend": "torch", "noise": NoiseConfig()})
        with torch.random.fork_rng(devices=[]):
            router = plain.build(n_features, n_experts)
        return sum(p.numel() for p in router.parameters() if p.requires_grad)

    def build(self, n_features: int, n_experts: int):
        from qmoe_cli.models.quantum_router import QuantumRouter
        from qmoe_cli.quantum.noise import NoiseSpec
        from qmoe_cli.quantum.spec import CircuitSpec

        spec = dict(
            n_qubits=self.qubits,
            n_layers=self.layers,
            n_features=n_features,
            n_experts=n_experts,
            ansatz=self.ansatz,
            embedding=self.embedding,
            readout=self.readout,
            mechanism=self.mechanism,
        )
        try:
            return QuantumRouter(
                CircuitSpec(**spec), self.backend, NoiseSpec.from_config(self.noise)
            )
        except ValueError as exc:
            raise ConfigError(f"model.router: {exc}") from None
