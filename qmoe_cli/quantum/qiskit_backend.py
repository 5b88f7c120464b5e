"""Reference backend: the spec's gate list as a Qiskit circuit, run on Aer's statevector.

`build_circuit` writes the spec's gates one for one (Rot(phi, theta, omega) as rz(phi),
ry(theta), rz(omega) in time order, which is exact, global phase included) with the inputs
as an unbound ``ParameterVector("x", n_features)`` and the weights bound as numbers, so the
circuit can be exported as is. `AerStatevectorBackend` evaluates it exactly (no shots, no
transpilation) for all input rows in one ``run`` call and reverses Qiskit's little-endian
qubit order into the spec's big-endian one. Inference only: the results carry no gradient.

Noise (conventions in quantum/noise.py) is simulated exactly by `AerDensityMatrixBackend` on
Aer's density-matrix method, without transpiling (which would merge gates and change the
number of noisy gates). `build_noisy_circuit` writes Rot as ONE gate ``u(theta, omega,
phi)`` so that it gets one channel; placement ``notebook`` puts the channels into the
circuit as instructions, placement ``paper`` takes them from `noise_model`, which attaches
them to every gate name the circuit uses (rx ry rz u; cz cx). Readout error: exact
probabilities (``save_probabilities``, no measurement) are multiplied by
`readout_confusion`; with shots the circuit is measured and the noise model's
``ReadoutError`` flips each measured bit, which samples the same distribution.
With ``fake_backend`` (a device of ``qiskit_ibm_runtime.fake_provider``) the device's own
noise model is used instead and the circuit is transpiled onto the device.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
from qiskit import QuantumCircuit
from qiskit.circuit import ParameterVector
from qiskit_aer import AerSimulator
from qiskit_aer.noise import NoiseModel, ReadoutError, depolarizing_error, phase_damping_error

from qmoe_cli.quantum.fake_devices import fake_backend_names
from qmoe_cli.quantum.noise import Channel, NoiseSpec, noisy_sequence, readout_confusion
from qmoe_cli.quantum.spec import CircuitSpec, readout_from_probs


def build_circuit(spec: CircuitSpec, weights) -> QuantumCircuit:
    """The spec's circuit with inputs as Parameters x[0..d-1] and weights as numbers."""
    if spec.unitary_problem():  # a dephased router: no gate-only circuit
        raise ValueError(spec.unitary_problem())
    x = ParameterVector("x", spec.n_features)
    weights = _weights_array(spec, weights)
    qc = QuantumCircuit(spec.n_qubits, name="qmoe_router")
    for op in spec.embedding_ops(list(x)):
        _append(qc, op.name, op.wires, op.params)
    for op in spec.ansatz_ops(weights):
        _append(qc, op.name, op.wires, tuple(float(p) for p in op.params))
    return qc


def _weights_array(spec: CircuitSpec, weights) -> np.ndarray:
    if isinstance(weights, torch.Tensor):
        weights = weights.detach().cpu().numpy()
    weights = np.asarray(weights, dtype=float)
    if weights.shape != spec.weight_shape:
        raise ValueError(f"weights have shape {weights.shape}, expected {spec.weight_shape}")
    return weights


def _append(qc: QuantumCircuit, name: str, wires, params) -> None:
    if name == "RX":
        qc.rx(params[0], wires[0])
    elif name == "RY":
        qc.ry(params[0], wires[0])
    elif name == "RZ":
        qc.rz(params[0], wires[0])
    elif name == "Rot":  # PennyLane Rot(phi, theta, omega) = RZ(omega) RY(theta) RZ(phi)
        phi, theta, omega = params
        qc.rz(phi, wires[0])
        qc.ry(theta, wires[0])
        qc.rz(omega, wires[0])
    elif name == "CZ":
        qc.cz(wires[0], wires[1])
    elif name == "CNOT":
        qc.cx(wires[0], wires[1])
    else:
        raise ValueError(f"unknown gate {name!r}")


class AerStatevectorBackend:
    """Exact probabilities and outputs of a CircuitSpec from Aer (no gradients)."""

    def __init__(self, spec: CircuitSpec):
        self.spec = spec
        self.simulator = AerSimulator(method="statevector")

    def __reduce__(self):  # a copy is a new simulator for the same spec
        return (type(self), (self.spec,))

    def probs(self, weights: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """(B, 2^n) basis-state probabilities, big-endian (qubit 0 most significant)."""
        n = self.spec.n_qubits
        x_np = torch.as_tensor(x).detach().cpu().to(torch.float64).numpy()
        qc = build_circuit(self.spec, weights)
        params = list(qc.parameters)  # the x[f] (sorted by index)
        qc.save_statevector()
        binds = {p: x_np[:, int(p.index)].tolist() for p in params}
        result = self.simulator.run(qc, parameter_binds=[binds]).result()
        states = np.stack(
            [np.asarray(result.get_statevector(i)) for i in range(len(x_np))]
        ).reshape(len(x_np), 2**n)
        probs = np.abs(states) ** 2
        # Qiskit index = sum_q b_q 2^q: C-order axes are (b_{n-1}, ..., b_0); reverse them.
        probs = probs.reshape((len(x_np),) + (2,) * n)
        probs = probs.transpose(0, *range(n, 0, -1)).reshape(len(x_np), 2**n)
        return torch.as_tensor(probs).to(_dtype(weights))

    def outputs(self, weights: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """(B, E) grouped probabilities or (B, n) <Z_q>, per the spec's readout."""
        probs = self.probs(weights, x)
        out = readout_from_probs(probs.to(torch.float64).numpy(), self.spec)
        return torch.as_tensor(out).to(probs.dtype)


def _dtype(weights) -> torch.dtype:
    return weights.dtype if isinstance(weights, torch.Tensor) else torch.float64


# --------------------------------------------------------------------------- noise

ONE_QUBIT_GATES = ("rx", "ry", "rz", "u")  # every 1-qubit name build_noisy_circuit writes
TWO_QUBIT_GATES = ("cz", "cx")


def build_noisy_circuit(spec: CircuitSpec, noise: NoiseSpec, weights) -> QuantumCircuit:
    """The circuit of `noisy_sequence` with inputs as Parameters x[0..d-1].

    Rot(phi, theta, omega) is one gate ``u(theta, omega, phi)`` (equal up to a global
    phase), so it carries one channel under a NoiseModel. Placement ``notebook``: the
    channels are in the circuit, as ``depolarizing_error(lam, 1)`` instructions (lam is the
    config's ``depolarizing``, unconverted, as for placement ``paper``). Placement
    ``paper``: the circuit has gates only; the channels come from `noise_model(noise)`.
    """
    return _noisy_circuit(spec, noise, _weights_array(spec, weights))


def _noisy_circuit(spec: CircuitSpec, noise: NoiseSpec, weights: np.ndarray) -> QuantumCircuit:
    """`build_noisy_circuit` for weights that may be numbers or Parameters (not checked)."""
    x = ParameterVector("x", spec.n_features)
    qc = QuantumCircuit(spec.n_qubits, name="qmoe_router_noisy")
    for item in noisy_sequence(spec, noise, list(x), weights):
        if isinstance(item, Channel) and item.name == "Dephasing":
            for wire in item.wires:  # complete dephasing: one phase damping (1) per wire
                qc.append(phase_damping_error(item.lam).to_instruction(), [wire])
        elif isinstance(item, Channel):
            if noise.placement == "notebook":
                error = depolarizing_error(item.lam, len(item.wires))
                qc.append(error.to_instruction(), list(item.wires))
        elif item.name == "Rot":
            phi, theta, omega = (_number(p) for p in item.params)
            qc.u(theta, omega, phi, item.wires[0])
        else:
            _append(qc, item.name, item.wires, tuple(_number(p) for p in item.params))
    return qc


def _number(value):
    """Plain float for numbers (numpy scalars included); Parameters pass through."""
    return float(value) if isinstance(value, (int, float, np.number)) else value


def noise_model(noise: NoiseSpec) -> NoiseModel:
    """Aer NoiseModel of the gate channels (placement ``paper``) and the readout error.

    depolarizing_error(p1, 1) on every 1-qubit gate name (rx ry rz u), depolarizing_error(
    p2, 2) (the joint 16-Kraus channel) on cz and cx, and a symmetric ReadoutError(r) on
    every measured qubit. Placement ``notebook`` has no gate errors here (its channels are
    circuit instructions). The readout error acts on measurements only (shots), not on
    ``save_probabilities``.
    """
    model = NoiseModel(basis_gates=[*ONE_QUBIT_GATES, *TWO_QUBIT_GATES])
    if noise.placement == "paper":
        if noise.p1:
            model.add_all_qubit_quantum_error(depolarizing_error(noise.p1, 1), ONE_QUBIT_GATES)
        if noise.p2:
            model.add_all_qubit_quantum_error(depolarizing_error(noise.p2, 2), TWO_QUBIT_GATES)
    elif noise.placement != "notebook":
        raise ValueError(f"unknown noise placement {noise.placement!r}")
    if noise.readout_error:
        r = noise.readout_error
        model.add_all_qubit_readout_error(ReadoutError([[1 - r, r], [r, 1 - r]]))
    return model


def load_fake_backend(name: str):
    """An instance of the fake device `name` (e.g. "FakeManilaV2"); ValueError if unknown."""
    names = fake_backend_names()
    if name not in names:
        raise ValueError(f"unknown fake backend {name!r}; available: {', '.join(names)}")
    import qiskit_ibm_runtime.fake_provider as provider

    return getattr(provider, name)()


class AerDensityMatrixBackend:
    """Noisy probabilities and outputs of a CircuitSpec from Aer's density matrix (no gradients).

    Exact probabilities by default (``save_probabilities``); with ``noise.shots`` the circuit
    is measured and sampled with ``seed_simulator`` = `seed`, or, when `seed` is None, a
    seed drawn from torch's global generator at every call (reproducible under
    ``torch.manual_seed``). All input rows go into one ``run`` call (``parameter_binds``);
    the circuit (weights as Parameters too) is built once.

    ``fake_backend``: name of a device in ``qiskit_ibm_runtime.fake_provider``. The noise
    is ``NoiseModel.from_backend(device)`` (gate errors, thermal relaxation, readout errors)
    instead of the NoiseSpec's, so the NoiseSpec may set only ``shots``. The circuit is
    transpiled for the device (optimization_level=0, initial layout: physical qubits
    0..n-1, routing may permute them; the final layout is followed). Exact probabilities
    are taken on the logical qubits' final physical qubits and multiplied by the device's
    per-qubit readout-error matrices; with shots those errors act on the measurements.
    """

    def __init__(
        self,
        spec: CircuitSpec,
        noise: NoiseSpec,
        fake_backend: str | None = None,
        seed: int | None = None,
    ):
        self.spec, self.noise, self.seed = spec, noise, seed
        self.fake_backend = fake_backend
        n = spec.n_qubits
        w = ParameterVector("w", spec.n_weights)
        qc = _noisy_circuit(spec, noise, np.array(list(w), dtype=object).reshape(spec.weight_shape))
        self.confusion: np.ndarray | None = None
        if fake_backend is None:
            self.device = None
            self.noise_model = noise_model(noise)
            self.qubits = list(range(n))  # logical qubit q is simulator qubit q
            if noise.readout_error:
                self.confusion = readout_confusion(n, noise.readout_error)
        else:
            if noise.has_channels or noise.readout_error:
                raise ValueError(
                    "with a fake backend the device's noise model replaces the NoiseSpec's; "
                    "set only shots (no depolarizing channels, no readout error)"
                )
            from qiskit import transpile

            self.device = load_fake_backend(fake_backend)
            if n > self.device.num_qubits:
                raise ValueError(
                    f"{fake_backend} has {self.device.num_qubits} qubits, the circuit needs {n}"
                )
            self.noise_model = NoiseModel.from_backend(self.device)
            with warnings.catch_warnings():  # qiskit-ibm-runtime's own plugin deprecation
                warnings.filterwarnings(
                    "ignore",
                    message=".*IBMFractionalTranslationPlugin",
                    category=DeprecationWarning,
                )
                qc = transpile(
                    qc,
                    self.device,
                    optimization_level=0,
                    initial_layout=list(range(n)),
                    seed_transpiler=0,
                )
            self.qubits = list(qc.layout.final_index_layout())  # physical qubit of q at the end
            if noise.shots is None:
                self.confusion = device_readout_confusion(self.noise_model, self.qubits)
        self.circuit = qc  # gates (and notebook channels) with Parameters x and w
        self._w = list(w)
        model = None if self.noise_model.is_ideal() else self.noise_model
        self.simulator = AerSimulator(method="density_matrix", noise_model=model)

    def __reduce__(self):  # a copy is a new simulator (and device) for the same arguments
        return (type(self), (self.spec, self.noise, self.fake_backend, self.seed))

    def _executable(self) -> QuantumCircuit:
        qc = self.circuit.copy()
        if self.noise.shots is None:
            qc.save_probabilities(self.qubits)
        else:
            from qiskit.circuit import ClassicalRegister

            creg = ClassicalRegister(self.spec.n_qubits, "out")
            qc.add_register(creg)
            qc.measure(self.qubits, creg)  # logical qubit q -> bit q
        return qc

    def probs(self, weights: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """(B, 2^n) noisy basis-state probabilities (or shot frequencies), big-endian."""
        n, d = self.spec.n_qubits, 2**self.spec.n_qubits
        x_np = torch.as_tensor(x).detach().cpu().to(torch.float64).numpy()
        batch = len(x_np)
        w_np = _weights_array(self.spec, weights).reshape(-1)
        qc = self._executable()
        x_params = {p.name: p for p in qc.parameters if p.name.startswith("x[")}
        binds = {p: x_np[:, int(p.index)].tolist() for p in x_params.values()}
        binds.update({p: [float(w_np[p.index])] * batch for p in self._w if p in qc.parameters})
        options = {}
        if self.noise.shots is not None:
            options = dict(shots=int(self.noise.shots), seed_simulator=self._seed())
        result = self.simulator.run(qc, parameter_binds=[binds], **options).result()
        if self.noise.shots is None:
            probs = np.stack([np.asarray(result.data(i)["probabilities"]) for i in range(batch)])
            probs = little_to_big_endian(probs.reshape(batch, d), n)
            if self.confusion is not None:
                probs = probs @ self.confusion
        else:
            probs = np.zeros((batch, d))
            for i in range(batch):
                for bits, count in result.get_counts(i).items():
                    # bits = "c_{n-1} ... c_0" with c_q the bit of logical qubit q
                    probs[i, int(bits.replace(" ", "")[::-1], 2)] += count
            probs /= self.noise.shots
        return torch.as_tensor(probs).to(_dtype(weights))

    def outputs(self, weights: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """(B, E) grouped probabilities or (B, n) <Z_q>, per the spec's readout."""
        probs = self.probs(weights, x)
        out = readout_from_probs(probs.to(torch.float64).numpy(), self.spec)
        return torch.as_tensor(out).to(probs.dtype)

    def _seed(self) -> int:
        if self.seed is not None:
            return int(self.seed)
        return int(torch.randint(0, 2**31 - 1, (1,)).item())


def little_to_big_endian(probs: np.ndarray, n: int) -> np.ndarray:
    """(B, 2^n) probabilities indexed sum_q b_q 2^q -> indexed with qubit 0 the MSB."""
    batch = len(probs)
    probs = probs.reshape((batch,) + (2,) * n)
    return probs.transpose(0, *range(n, 0, -1)).reshape(batch, 2**n)


def device_readout_confusion(model: NoiseModel, qubits: list[int]) -> np.ndarray:
    """Kronecker product (qubit 0 first) of the readout matrices P(read k | true j) of the
    given physical qubits, from a NoiseModel's (1-qubit) readout errors; identity where
    none. Raises if the model has errors that act before a measurement (exact mode misses
    them) or correlated readout errors."""
    local, default = {}, np.eye(2)
    for error in model.to_dict()["errors"]:
        if error["type"] == "qerror" and "measure" in error["operations"]:
            raise NotImplementedError("quantum errors on measure: use shots")
        if error["type"] != "roerror":
            continue
        matrix = np.asarray(error["probabilities"], dtype=float)
        if matrix.shape != (2, 2):
            raise NotImplementedError("correlated multi-qubit readout errors: use shots")
        if "gate_qubits" in error:
            for qs in error["gate_qubits"]:
                local[tuple(qs)[0]] = matrix
        else:
            default = matrix
    out = np.ones((1, 1))
    for q in qubits:
        out = np.kron(out, local.get(q, default))
    return out
