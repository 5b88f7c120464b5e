"""Error mitigation for sampled circuits: readout-error mitigation and zero-noise
extrapolation (ZNE), written here (mitiq 1.1 pins numpy < 2.3, below ours).

Probabilities are big-endian (qmoe_cli/quantum/spec.py: qubit 0 is the most significant bit
of a basis index) and carry any leading batch axes: (..., 2^n).

Readout (tensored): each measured qubit q has an assignment matrix
A_q[k, j] = P(read k | prepared j), estimated from two calibration circuits on the same
physical qubits, one preparing |0...0> and one |1...1> (X on every qubit): column 0 of A_q
is qubit q's marginal in the first, column 1 in the second. The readout errors of different
qubits are taken as independent, so the full matrix is A_0 (x) A_1 (x) ... and its inverse
is applied qubit by qubit (`readout_mitigate`). The result may have negative entries; it is
replaced by the closest probability vector in Euclidean distance (`project_simplex`).

ZNE: the circuit is run at noise scale factors lambda_1 = 1 < lambda_2 < ... by global
unitary folding, U -> U (U^dagger U)^k for lambda = 2 k + 1 (`fold_global`, on the
transpiled circuit, every gate replaced by its inverse in the device's own gates, so the
folded circuit is still ISA and the transpiler cannot cancel the folds). Each probability is
extrapolated to lambda = 0 (`extrapolation_weights`: Richardson, the polynomial of degree
J - 1 through the J points, or the least-squares line), a fixed linear combination of the
values at the scales, then projected onto the simplex.
"""

from __future__ import annotations

import math

import numpy as np

EXTRAPOLATIONS = ("richardson", "linear")


# --- readout ---------------------------------------------------------------------------------


def assignment_matrices(prep0: np.ndarray, prep1: np.ndarray) -> np.ndarray:
    """Per-qubit assignment matrices (..., n, 2, 2), A[..., q, k, j] = P(read k | prepared j),
    from the measured distributions (..., 2^n) of the all-|0> and the all-|1> calibration
    circuits (counts or frequencies, big-endian)."""
    p0, p1 = _normalised(prep0), _normalised(prep1)
    n = _qubits(p0.shape[-1])
    out = np.empty(p0.shape[:-1] + (n, 2, 2))
    for q in range(n):
        one0, one1 = _marginal_one(p0, q, n), _marginal_one(p1, q, n)
        out[..., q, :, 0] = np.stack([1 - one0, one0], axis=-1)
        out[..., q, :, 1] = np.stack([1 - one1, one1], axis=-1)
    return out


def readout_mitigate(probs: np.ndarray, assignment: np.ndarray, project: bool = True):
    """The measured distribution (..., 2^n) corrected by the inverse of the tensored
    assignment matrices (..., n, 2, 2) (broadcast against the batch axes of `probs`), then
    projected onto the probability simplex (`project`)."""
    probs = np.asarray(probs, dtype=float)
    n = _qubits(probs.shape[-1])
    inverse = np.linalg.inv(np.asarray(assignment, dtype=float))  # (..., n, 2, 2)
    batch = np.broadcast_shapes(probs.shape[:-1], inverse.shape[:-3])
    p = np.broadcast_to(probs, batch + probs.shape[-1:]).reshape(-1, 2**n)
    inv = np.broadcast_to(inverse, batch + inverse.shape[-3:]).reshape(-1, n, 2, 2)
    for q in range(n):  # big-endian: qubit q is axis q of the (2,) * n tensor
        p = p.reshape(len(p), 2**q, 2, 2 ** (n - q - 1))
        p = np.einsum("bkj,bajc->bakc", inv[:, q], p)
    p = p.reshape(batch + (2**n,))
    return project_simplex(p) if project else p


def project_simplex(v: np.ndarray) -> np.ndarray:
    """The closest probability vector (Euclidean) to each row of `v` (..., K): sort, find
    the threshold theta with sum(max(v - theta, 0)) = 1, clip (Duchi et al. 2008)."""
    v = np.asarray(v, dtype=float)
    k = v.shape[-1]
    u = -np.sort(-v, axis=-1)
    css = np.cumsum(u, axis=-1) - 1.0
    idx = np.arange(1, k + 1)
    rho = np.count_nonzero(u - css / idx > 0, axis=-1)  # >= 1 always
    theta = np.take_along_axis(css, (rho - 1)[..., None], axis=-1) / rho[..., None]
    return np.maximum(v - theta, 0.0)


# --- zero-noise extrapolation --------------------------------------------------------------


def extrapolation_weights(scales, method: str = "richardson") -> np.ndarray:
    """w with sum_j w_j y(lambda_j) = the extrapolated y(0), for noise scales lambda_j.

    richardson: the Lagrange polynomial through every point at 0, w_j = prod_{m != j}
    lambda_m / (lambda_m - lambda_j) (for 1, 3: (3/2, -1/2); for 1, 3, 5: (15/8, -5/4, 3/8)).
    linear: the intercept of the least-squares line, w = first row of (X^T X)^-1 X^T with
    X = [1, lambda]."""
    lam = np.asarray(scales, dtype=float)
    if lam.ndim != 1 or len(lam) < 2 or len(set(lam.tolist())) != len(lam) or np.any(lam <= 0):
        raise ValueError("give at least two distinct positive scale factors")
    if method == "richardson":
        return np.array(
            [
                math.prod(lam[m] / (lam[m] - lam[j]) for m in range(len(lam)) if m != j)
                for j in range(len(lam))
            ]
        )
    if method == "linear":
        x = np.stack([np.ones_like(lam), lam], axis=1)
        return np.linalg.pinv(x)[0]
    raise ValueError(f"unknown extrapolation {method!r} (known: {', '.join(EXTRAPOLATIONS)})")


def extrapolate(values: np.ndarray, scales, method: str = "richardson") -> np.ndarray:
    """Values at the scales on the last axis (..., J) -> the zero-noise estimate (...)."""
    return np.asarray(values, dtype=float) @ extrapolation_weights(scales, method)


def zne_probs(probs_at_scales: np.ndarray, scales, method: str = "richardson") -> np.ndarray:
    """Distributions at each scale (..., J, K) -> the extrapolated distribution (..., K),
    projected onto the simplex."""
    w = extrapolation_weights(scales, method)
    return project_simplex(np.einsum("...jk,j->...k", np.asarray(probs_at_scales, float), w))


# --- unitary folding --------------------------------------------------------------------------


def fold_global(circuit, scale: int, target=None):
    """U (U^dagger U)^k for scale = 2 k + 1, of an unmeasured circuit (gates only). With a
    `target` (a transpiler Target), every inverse is written in the target's own gates
    (`isa_inverse`), so a transpiled circuit stays ISA."""
    if scale < 1 or scale % 2 == 0:
        raise ValueError(f"a global folding scale is an odd integer >= 1, got {scale}")
    inverse = isa_inverse(circuit, target)
    folded = circuit.copy()
    for _ in range((scale - 1) // 2):
        folded.compose(inverse, inplace=True)
        folded.compose(circuit, inplace=True)
    return folded


def isa_inverse(circuit, target=None):
    """The inverse of a circuit of gates (no measurements), each gate's inverse expressed in
    the target's gates: rz(a) -> rz(-a), sx -> rz(pi) sx rz(pi) (sx^dagger up to a global
    phase), self-inverse gates (x, cx, cz, ecr, id) as they are; other gates by their
    `inverse()` when the target supports it, else translated by the BasisTranslator."""
    from qiskit.circuit import QuantumCircuit

    out = circuit.copy_empty_like()
    for inst in reversed(circuit.data):
        op, qargs = inst.operation, inst.qubits
        if op.name in ("measure", "reset") or getattr(op, "_directive", False) is True:
            if op.name == "barrier":
                out.append(op, qargs, inst.clbits)
                continue
            raise ValueError(f"cannot fold a circuit with {op.name!r}: fold before measuring")
        if op.name == "delay":
            out.append(op, qargs)
            continue
        if op.name == "sx" and not _supported(target, "sxdg", circuit, qargs):
            out.rz(math.pi, qargs[0])
            out.sx(qargs[0])
            out.rz(math.pi, qargs[0])
            continue
        inv = op.inverse()
        if _supported(target, inv.name, circuit, qargs):
            out.append(inv, qargs)
            continue
        piece = QuantumCircuit(len(qargs))
        piece.append(inv, range(len(qargs)))
        out.compose(_translate(piece, target), qubits=qargs, inplace=True)
    return out


def _supported(target, name: str, circuit, qargs) -> bool:
    if target is None:
        return True
    qubits = tuple(circuit.find_bit(q).index for q in qargs)
    return bool(target.instruction_supported(name, qubits))


def _translate(piece, target):
    from qiskit.circuit.equivalence_library import SessionEquivalenceLibrary
    from qiskit.transpiler import PassManager
    from qiskit.transpiler.passes import BasisTranslator

    return PassManager([BasisTranslator(SessionEquivalenceLibrary, target.operation_names)]).run(
        piece
    )


# --- helpers ----------------------------------------------------------------------------------


def _normalised(counts) -> np.ndarray:
    c = np.asarray(counts, dtype=float)
    total = c.sum(axis=-1, keepdims=True)
    return c / np.where(total > 0, total, 1.0)


def _qubits(k: int) -> int:
    n = int(round(math.log2(k))) if k > 0 else -1
    if n < 0 or 2**n != k:
        raise ValueError(f"a distribution over 2^n outcomes expected, got {k}")
    return n


def _marginal_one(p: np.ndarray, q: int, n: int) -> np.ndarray:
    """P(bit of qubit q = 1) of big-endian distributions (..., 2^n)."""
    bit = (np.arange(2**n) >> (n - 1 - q)) & 1
    return p @ bit.astype(float)
