"""Barren plateaus, measured: the variance of the cost gradient at random initialisation
(McClean et al. 2018; global and local costs as in Cerezo et al. 2021).

One cell of the scan is an ansatz at n qubits and L layers. Each of S samples draws the
circuit weights from the initialisation and an input x uniform in [0, pi]^n (the router's
scaled range, one feature per qubit, embedded by the spec's angle embedding; `inputs:
zero` starts from |0...0> instead), runs the circuit and differentiates two costs with
respect to every weight (autograd, exact):

* global: P(0...0) = |<0...0|U psi(x)>|^2, the projector on the all-zero state;
* local: the mean over qubits of <Z_q>.

Initialisations: `uniform` (every weight uniform in [0, 2 pi), the notebooks' and qmoe's
own), `small` (uniform in [-a, a], a = `small_angle`), `identity` (Grant et al. 2019: each
layer followed by its adjoint with the same angles, the adjoint's angles separate weights
of their own, so each block is the identity and the circuit starts as U = 1; the layers'
angles uniform in [0, 2 pi)).

Reported per cell and cost: the variance over samples of each partial derivative, averaged
over the weights (`variance`), that of the first weight alone (`variance_first`: layer 0,
qubit 0), and the mean gradient (a check: 0 up to sampling for the uniform initialisation).
`decay` fits log(variance) = a + b n by least squares over the qubit counts of one
(ansatz, initialisation, cost, layers) curve: b is the decay rate per qubit (exponential
decay: b < 0 with its 95 % interval below 0), with its 95 % interval from the t
distribution with m - 2 degrees of freedom (scipy.stats.linregress).
"""

from __future__ import annotations

import math
import zlib

import numpy as np
import torch

from qmoe_cli.quantum.ansatz_states import AnsatzStates, probabilities
from qmoe_cli.quantum.spec import CircuitSpec, basis_bits

INITS = ("uniform", "small", "identity")
COSTS = ("global", "local")
# Autograd keeps a few (S, 2^n) complex states per layer: sets are run in chunks whose
# saved states stay under this many bytes.
CHUNK_BYTES = 2**28


def cell_seed(seed: int, key: str) -> int:
    """A stable 32-bit seed per (run seed, cell): a cell's numbers do not depend on which
    other cells ran before it (a resumed scan gives the same numbers)."""
    return (seed * 1_000_003 + zlib.crc32(key.encode())) % 2**32


def draw_weights(spec: CircuitSpec, init: str, samples: int, rng, small_angle: float):
    """(S, *weight_shape) or, for identity blocks, (S, 2, *weight_shape) weights."""
    shape = (samples, *spec.weight_shape)
    if init == "uniform":
        return rng.uniform(0.0, 2 * math.pi, size=shape)
    if init == "small":
        return rng.uniform(-small_angle, small_angle, size=shape)
    if init == "identity":
        w = rng.uniform(0.0, 2 * math.pi, size=shape)
        return np.stack([w, w], axis=1)
    raise ValueError(f"unknown initialisation {init!r} (known: {', '.join(INITS)})")


def saved_bytes(n_qubits: int, n_layers: int, init: str) -> int:
    """Bytes autograd keeps per sample: about 4 complex states per layer applied."""
    layers = n_layers * (2 if init == "identity" else 1)
    return 16 * 2**n_qubits * 4 * layers


def gradient_variance(
    spec: CircuitSpec,
    init: str,
    samples: int,
    seed: int,
    small_angle: float = 0.1,
    inputs: str = "uniform",
) -> dict:
    """Per cost: {variance, variance_first, mean_gradient} over `samples` draws."""
    rng = np.random.default_rng(seed)
    weights = draw_weights(spec, init, samples, rng, small_angle)
    x = rng.uniform(0.0, math.pi, size=(samples, spec.n_features))
    sim = AnsatzStates(spec)
    z = torch.as_tensor(1.0 - 2.0 * basis_bits(spec.n_qubits), dtype=torch.float64).mean(1)
    chunk = max(1, CHUNK_BYTES // saved_bytes(spec.n_qubits, spec.n_layers, init))
    grads: dict[str, list[np.ndarray]] = {c: [] for c in COSTS}
    for start in range(0, samples, chunk):
        w = torch.tensor(weights[start : start + chunk], requires_grad=True)
        if inputs == "zero":
            psi = sim.zero_state(len(w))
        else:
            psi = sim.embedded(torch.as_tensor(x[start : start + chunk]))
        probs = probabilities(sim.apply(w, psi, identity_blocks=init == "identity"))
        costs = {"global": probs[:, 0], "local": probs @ z}
        for i, c in enumerate(COSTS):
            (g,) = torch.autograd.grad(costs[c].sum(), w, retain_graph=i < len(COSTS) - 1)
            grads[c].append(g.reshape(len(w), -1).numpy())
    result = {}
    for c in COSTS:
        g = np.concatenate(grads[c])
        var = g.var(axis=0, ddof=1)
        result[c] = {
            "variance": float(var.mean()),
            "variance_first": float(var[0]),
            "mean_gradient": float(np.abs(g.mean(axis=0)).max()),
        }
    return result


def decay(qubits: list[int], variances: list[float]) -> dict:
    """The slope of log(variance) against qubits with its 95 % interval (t, m - 2 degrees of
    freedom); NaN where fewer than 3 finite positive points (no interval)."""
    from scipy import stats

    pts = [(q, v) for q, v in zip(qubits, variances, strict=True) if v > 0 and math.isfinite(v)]
    nan = float("nan")
    if len(pts) < 2:
        return {"rate": nan, "low": nan, "high": nan, "intercept": nan, "points": len(pts)}
    q, v = np.array(pts, dtype=float).T
    fit = stats.linregress(q, np.log(v))
    if len(pts) < 3:
        low = high = nan
    else:
        half = stats.t.ppf(0.975, len(pts) - 2) * fit.stderr
        low, high = fit.slope - half, fit.slope + half
    return {
        "rate": float(fit.slope),
        "low": float(low),
        "high": float(high),
        "intercept": float(fit.intercept),
        "points": len(pts),
    }
