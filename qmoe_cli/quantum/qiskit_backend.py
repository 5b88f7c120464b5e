"""Reference backend: the spec's gate list as a Qiskit circuit, run on Aer's statevector.

`build_circuit` writes the spec's gates one for one (Rot(phi, theta, omega) as rz(phi),
ry(theta), rz(omega) in time order, which is exact, global phase included) with the inputs
as an unbound ``ParameterVector("x", n_features)`` and the weights bound as numbers, so the
circuit can be exported as is. `AerStatevectorBackend` evaluates it exactly (no shots, no
transpilation) for all input rows in one ``run`` call and reverses Qiskit's little-endian
qubit order into the spec's big-endian one. Inference only: the results carry no gradient.
"""

from __future__ import annotations

import numpy as np
import torch
from qiskit import QuantumCircuit
from qiskit.circuit import ParameterVector
from qiskit_aer import AerSimulator

from qmoe_cli.quantum.spec import CircuitSpec, readout_from_probs


def build_circuit(spec: CircuitSpec, weights) -> QuantumCircuit:
    """The spec's circuit with inputs as Parameters x[0..d-1] and weights as numbers."""
    x = ParameterVector("x", spec.n_features)
    if isinstance(weights, torch.Tensor):
        weights = weights.detach().cpu().numpy()
    weights = np.asarray(weights, dtype=float)
    if weights.shape != spec.weight_shape:
        raise ValueError(f"weights have shape {weights.shape}, expected {spec.weight_shape}")
    qc = QuantumCircuit(spec.n_qubits, name="qmoe_router")
    for op in spec.embedding_ops(list(x)):
        _append(qc, op.name, op.wires, op.params)
    for op in spec.ansatz_ops(weights):
        _append(qc, op.name, op.wires, tuple(float(p) for p in op.params))
    return qc


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
