"""Reference backend: the spec's gate list as a PennyLane QNode, differentiable in torch.

Two devices are supported:

* ``default.qubit``: ``diff_method="backprop"``; one QNode returning ``qml.probs`` over all
  wires, evaluated once per call with parameter broadcasting over the batch (the embedding
  angles carry the batch axis, the weights do not).
* ``lightning.qubit``: ``diff_method="adjoint"``, as the paper's notebooks used. In
  PennyLane 0.45 adjoint differentiation rejects ``qml.probs`` ("does not support adjoint
  with requested circuit") but accepts expectation values and parameter broadcasting. So
  the probabilities come from one ``qml.expval(qml.Projector(|i>))`` per basis state i
  (2^n expectations, exact). The ``expval`` readout needs only n expectations, but not
  ``qml.expval(qml.PauliZ(q))``: lightning returns those (and Hermitian ones) as Python
  floats, which the torch interface turns into float32 tensors (values and gradients off
  by ~1e-8). Projector expectations come back as float64, so <Z_q> is computed as
  2 <|0><0|_q> - 1 from one single-qubit Projector per qubit, exact in float64.
  Gradients w.r.t. the weights flow through torch autograd either way.

Both follow the spec's conventions (big-endian, qubit 0 the most significant bit, which is
PennyLane's own order), so no reordering is needed. The QNodes are built once per instance.
"""

from __future__ import annotations

import numpy as np
import pennylane as qml
import torch

from qmoe_cli.quantum.spec import CircuitSpec, basis_bits

DEVICES = ("default.qubit", "lightning.qubit")


def readout_matrix(spec: CircuitSpec) -> np.ndarray:
    """(2^n, n_outputs) matrix R with outputs = probs @ R (`readout_from_probs` as a matrix)."""
    if spec.readout == "probs":
        return np.eye(spec.n_experts)[spec.expert_of_basis_state()]
    return 1.0 - 2.0 * basis_bits(spec.n_qubits)


def apply_ops(ops) -> None:
    """Queue the spec's gates, in order, as PennyLane operations of the same names."""
    for op in ops:
        getattr(qml, op.name)(*op.params, wires=list(op.wires))


class PennyLaneBackend:
    """Probabilities and outputs of a CircuitSpec via PennyLane (same API as TorchStatevector)."""

    def __init__(self, spec: CircuitSpec, device: str = "default.qubit"):
        if device not in DEVICES:
            raise ValueError(f"unsupported device {device!r}; choose from {DEVICES}")
        if spec.unitary_problem():  # a dephased router: MixedBackend
            raise ValueError(spec.unitary_problem())
        self.spec, self.device_name = spec, device
        n = spec.n_qubits
        self.device = qml.device(device, wires=n)
        self._readout = torch.as_tensor(readout_matrix(spec), dtype=torch.float64)
        wires = list(range(n))

        def circuit(weights, x_columns):
            apply_ops(spec.embedding_ops(x_columns))
            apply_ops(spec.ansatz_ops(weights))

        if device == "default.qubit":

            def probs_fn(weights, x_columns):
                circuit(weights, x_columns)
                return qml.probs(wires=wires)

            self._probs = qml.QNode(
                probs_fn, self.device, interface="torch", diff_method="backprop"
            )
            self._expval = None
        else:
            projectors = [qml.Projector(bits, wires=wires) for bits in basis_bits(n)]

            def probs_fn(weights, x_columns):
                circuit(weights, x_columns)
                return [qml.expval(p) for p in projectors]

            zeros = [qml.Projector([0], wires=[q]) for q in wires]

            def expval_fn(weights, x_columns):  # <|0><0|_q>; <Z_q> = 2 <|0><0|_q> - 1
                circuit(weights, x_columns)
                return [qml.expval(p) for p in zeros]

            kwargs = dict(interface="torch", diff_method="adjoint")
            self._probs = qml.QNode(probs_fn, self.device, **kwargs)
            self._expval = qml.QNode(expval_fn, self.device, **kwargs)

    def __reduce__(self):
        # A device holds compiled state (lightning's StateVectorC128) that cannot be pickled
        # or deep-copied: a copy is a new backend for the same spec and device.
        return (type(self), (self.spec, self.device_name))

    def _columns(self, weights: torch.Tensor, x: torch.Tensor) -> list[torch.Tensor]:
        x = torch.as_tensor(x).to(weights.dtype)
        return [x[:, f] for f in range(self.spec.n_features)]

    @staticmethod
    def _weights(weights: torch.Tensor) -> torch.Tensor:
        # PennyLane decides on derivatives from requires_grad, not from torch's grad mode:
        # under no_grad (evaluation, figures) lightning would still run its adjoint pass
        return weights if torch.is_grad_enabled() else weights.detach()

    @staticmethod
    def _stack(result, batch: int) -> torch.Tensor:
        if isinstance(result, (list, tuple)):
            result = torch.stack(list(result), -1)
        return result.reshape(batch, -1)

    def probs(self, weights: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """(B, 2^n) basis-state probabilities, big-endian."""
        w = self._weights(weights)
        out = self._stack(self._probs(w, self._columns(w, x)), len(x))
        return out.to(weights.dtype)

    def outputs(self, weights: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """(B, E) grouped probabilities or (B, n) <Z_q>, per the spec's readout."""
        if self._expval is not None and self.spec.readout == "expval":
            w = self._weights(weights)
            p0 = self._stack(self._expval(w, self._columns(w, x)), len(x))
            return (2 * p0 - 1).to(weights.dtype)
        return self.probs(weights, x) @ self._readout.to(weights.dtype)


# --------------------------------------------------------------------------- noise

_PAULIS = (
    np.eye(2),
    np.array([[0.0, 1.0], [1.0, 0.0]]),
    np.array([[0.0, -1.0j], [1.0j, 0.0]]),
    np.diag([1.0, -1.0]),
)


# Complete single-qubit dephasing, PhaseDamping(1)'s Kraus operators |0><0| and |1><1|, in
# complex128 (qml.PhaseDamping(1.0) builds them in lower precision: ~3e-8 off).
_DEPHASING_KRAUS = [np.diag([1.0, 0.0]).astype(complex), np.diag([0.0, 1.0]).astype(complex)]


def two_qubit_depolarizing_kraus(lam: float) -> list[np.ndarray]:
    """The 16 Kraus operators of Qiskit's depolarizing_error(lam, 2) (noise.py's joint channel):
    sqrt(1 - 15 lam / 16) I and sqrt(lam / 16) P_a (x) P_b for the 15 non-identity pairs,
    so that rho -> (1 - lam) rho + lam Tr(rho) I / 4. The first wire is the left factor."""
    ops = [np.sqrt(1 - 15 * lam / 16) * np.eye(4, dtype=complex)]
    for a in range(4):
        for b in range(4):
            if a or b:
                ops.append(np.sqrt(lam / 16) * np.kron(_PAULIS[a], _PAULIS[b]).astype(complex))
    return ops


def apply_noisy_sequence(items) -> None:
    """Queue gates (as in `apply_ops`) and depolarizing channels (noise.py conventions).

    A Channel's lam is Qiskit's under both placements; on one wire it becomes PennyLane's
    DepolarizingChannel(p = 3 lam / 4)."""
    from qmoe_cli.quantum.noise import Channel, pennylane_p

    for item in items:
        if not isinstance(item, Channel):
            getattr(qml, item.name)(*item.params, wires=list(item.wires))
        elif item.name == "Dephasing":  # complete dephasing: one PhaseDamping per wire
            if item.lam != 1:
                raise ValueError("only complete dephasing (lam = 1) is supported")
            for wire in item.wires:
                qml.QubitChannel(_DEPHASING_KRAUS, wires=wire)
        elif len(item.wires) == 1:
            qml.DepolarizingChannel(pennylane_p(item.lam), wires=item.wires[0])
        elif len(item.wires) == 2:
            qml.QubitChannel(two_qubit_depolarizing_kraus(item.lam), wires=list(item.wires))
        else:
            raise ValueError(f"no depolarizing channel on {len(item.wires)} wires")


class MixedBackend:
    """Noisy probabilities and outputs of a CircuitSpec on PennyLane's ``default.mixed``.

    Torch interface with backprop, parameter broadcasting over the input rows. Channels per
    noise.py: ``DepolarizingChannel(pennylane_p(lam))`` on one wire, a ``QubitChannel`` with
    the 16 Kraus operators of Qiskit's joint depolarizing_error(lam, 2) on a pair. The
    probabilities are the diagonal of ``qml.density_matrix`` (backprop through ``qml.probs``
    gives NaN gradients where a probability is exactly 0). Readout error: the probabilities
    times `readout_confusion`; shots: `sample_frequencies` (torch's global generator, as
    the torch backend; no gradient).
    """

    def __init__(self, spec: CircuitSpec, noise):
        from qmoe_cli.quantum.noise import noisy_sequence

        self.spec, self.noise = spec, noise
        n = spec.n_qubits
        self.device = qml.device("default.mixed", wires=n)
        self._readout = torch.as_tensor(readout_matrix(spec), dtype=torch.float64)
        wires = list(range(n))

        def density(weights, x_columns):
            apply_noisy_sequence(noisy_sequence(spec, noise, x_columns, weights))
            return qml.density_matrix(wires=wires)

        self._density = qml.QNode(density, self.device, interface="torch", diff_method="backprop")

    def __reduce__(self):  # a copy is a new device for the same spec and noise
        return (type(self), (self.spec, self.noise))

    def density_matrices(self, weights: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """(B, 2^n, 2^n) noisy final states (before readout)."""
        x = torch.as_tensor(x).to(weights.dtype)
        columns = [x[:, f] for f in range(self.spec.n_features)]
        d = 2**self.spec.n_qubits
        return self._density(weights, columns).reshape(len(x), d, d)

    def probs(self, weights: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """(B, 2^n) noisy basis-state probabilities (readout error and shots included)."""
        rho = self.density_matrices(weights, x)
        from qmoe_cli.quantum.torch_density import measure

        return measure(torch.diagonal(rho, dim1=-2, dim2=-1).real.to(weights.dtype), self.noise)

    def outputs(self, weights: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """(B, E) grouped probabilities or (B, n) <Z_q>, per the spec's readout."""
        return self.probs(weights, x) @ self._readout.to(weights.dtype)
