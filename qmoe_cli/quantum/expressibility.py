"""Expressibility and entangling capability (Sim, Johnson and Aspuru-Guzik 2019).

* Expressibility: draw `pairs` pairs of weight vectors uniformly in [0, 2 pi), prepare
  |psi(theta)> = U(theta)|0...0> for each, and histogram the fidelities
  F = |<psi(theta)|psi(phi)>|^2 in 75 equal bins on [0, 1], as the paper does. The value is
  the Kullback-Leibler divergence KL(P_circuit || P_Haar) of that histogram from the Haar
  distribution's, whose density is (N - 1)(1 - F)^(N - 2) for N = 2^n: bin j holds
  (1 - l_j)^(N-1) - (1 - u_j)^(N-1) of it (exact integrals over the bins). Low is
  expressive: a circuit that only ever makes one state gives ln 75 = 4.32, the paper's
  idle circuit. The estimate carries a sampling bias of about (bins - 1) / (2 pairs)
  (0.007 at 5000 pairs, the paper's count), so values near that are all "Haar-like".
* Entangling capability: the mean over the same 2 x pairs states of the Meyer-Wallach
  measure Q = 2 (1 - (1/n) sum_k Tr rho_k^2), rho_k the reduced state of qubit k; 0 for
  product states, 1 for e.g. GHZ; Haar-random states average (2^n - 2) / (2^n + 1).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch

from qmoe_cli.quantum.ansatz_states import AnsatzStates
from qmoe_cli.quantum.spec import CircuitSpec

BINS = 75
STATES_PER_CHUNK = 2048


def haar_bin_probabilities(n_qubits: int, bins: int = BINS) -> np.ndarray:
    edges = np.linspace(0.0, 1.0, bins + 1)
    dim = 2**n_qubits
    cdf_tail = (1.0 - edges) ** (dim - 1)  # P(F > edge)
    return cdf_tail[:-1] - cdf_tail[1:]


def kl_from_haar(fidelities: np.ndarray, n_qubits: int, bins: int = BINS) -> float:
    counts, _ = np.histogram(np.clip(fidelities, 0.0, 1.0), bins=bins, range=(0.0, 1.0))
    p = counts / counts.sum()
    q = haar_bin_probabilities(n_qubits, bins)
    keep = p > 0
    return float(np.sum(p[keep] * np.log(p[keep] / q[keep])))


def meyer_wallach(psi: torch.Tensor, n_qubits: int) -> np.ndarray:
    """(S,) Meyer-Wallach measure of S pure states (S, 2^n), qubit 0 the most significant."""
    s = psi.shape[0]
    purity = torch.zeros(s, dtype=torch.float64)
    for k in range(n_qubits):
        m = psi.reshape(s, 2**k, 2, 2 ** (n_qubits - k - 1))
        rho = torch.einsum("saib,sajb->sij", m, m.conj())
        purity += torch.view_as_real(rho).square().sum((-1, -2, -3))
    return (2.0 * (1.0 - purity / n_qubits)).numpy()


def describe(
    states: Callable[[np.ndarray], torch.Tensor], n_params: int, n_qubits: int, pairs: int, rng
) -> dict:
    """Expressibility and entangling capability of the circuit whose states for weights
    (S, n_params) `states` returns (S, 2^n)."""
    fidelities, ent = [], []
    per = max(1, STATES_PER_CHUNK // 2)
    for start in range(0, pairs, per):
        m = min(per, pairs - start)
        theta = rng.uniform(0.0, 2 * math.pi, size=(2 * m, n_params))
        psi = states(theta)
        a, b = psi[:m], psi[m:]
        overlap = (a.conj() * b).sum(-1)
        fidelities.append((overlap.real**2 + overlap.imag**2).numpy())
        ent.append(meyer_wallach(psi, n_qubits))
    f = np.concatenate(fidelities)
    q = np.concatenate(ent)
    return {
        "expressibility": kl_from_haar(f, n_qubits),
        "entangling_capability": float(q.mean()),
        "entangling_std": float(q.std(ddof=1)) if len(q) > 1 else float("nan"),
        "mean_fidelity": float(f.mean()),
        "pairs": int(pairs),
    }


def ansatz_descriptors(spec: CircuitSpec, pairs: int, seed: int) -> dict:
    """`describe` for the spec's ansatz on |0...0> (no embedding), weights uniform in
    [0, 2 pi) as Sim et al. draw them."""
    sim = AnsatzStates(spec)

    def states(theta: np.ndarray) -> torch.Tensor:
        w = torch.as_tensor(theta).reshape(len(theta), *spec.weight_shape)
        with torch.no_grad():
            return sim.apply(w, sim.zero_state(len(theta)))

    return describe(states, spec.n_weights, spec.n_qubits, pairs, np.random.default_rng(seed))


def haar_mean_meyer_wallach(n_qubits: int) -> float:
    d = 2**n_qubits
    return (d - 2) / (d + 1)
