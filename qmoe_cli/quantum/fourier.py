"""The Fourier spectrum of a circuit's outputs over its inputs, exact from the encoding.

With each input feature angle-encoded (RX, RY or RZ(x_f) = exp(-i x_f G / 2), G^2 = 1) on
r_f qubits, every probability and every expectation value of the circuit is a
trigonometric polynomial in x whose frequencies per feature lie in {-r_f, ..., r_f}
(Schuld, Sweke and Meyer 2021): f(x) = sum_w c_w exp(i w . x), period 2 pi per feature.
Sampled on the grid x_f = 2 pi k / (2 r_f + 1), k = 0 .. 2 r_f, its discrete Fourier
transform gives every c_w exactly (no aliasing: the grid has one point per frequency), so
`coefficients` needs prod_f (2 r_f + 1) evaluations of the circuit and nothing else.

Arrays of coefficients are in numpy's FFT order along each feature axis (index k is
frequency k for k <= r_f, k - (2 r_f + 1) above), as PennyLane's
`qml.fourier.coefficients` returns them. A real output has c_{-w} = conj(c_w): the
frequencies are counted once per pair {w, -w} (`half_spectrum`), and a linear model on
1, cos(w . x), sin(w . x) over that half spans exactly the functions the circuit can
compute (`trig_features`).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import numpy as np

from qmoe_cli.quantum.spec import CircuitSpec


def degrees(spec: CircuitSpec) -> list[int]:
    """The largest frequency of each input feature: the number of qubits encoding it (0 for
    an `rz` embedding on |0>, which only adds a phase)."""
    if spec.embedding == "rz":
        return [0] * spec.n_features
    counts = [0] * spec.n_features
    for q in range(spec.n_qubits):
        counts[spec.feature_of_qubit(q)] += 1
    return counts


def grid_size(degs: list[int]) -> int:
    """Circuit evaluations `coefficients` needs: prod_f (2 r_f + 1)."""
    return int(np.prod([2 * d + 1 for d in degs]))


def grid(degs: list[int]) -> np.ndarray:
    """(G, F) inputs: every point of the sampling grid, the last feature fastest (the
    C order of the coefficient array)."""
    axes = [2 * np.pi * np.arange(2 * d + 1) / (2 * d + 1) for d in degs]
    return np.array(list(itertools.product(*axes)), dtype=np.float64).reshape(-1, len(degs))


def coefficients(f: Callable[[np.ndarray], np.ndarray], degs: list[int]) -> np.ndarray:
    """(outputs, 2 r_1 + 1, ..., 2 r_F + 1) complex Fourier coefficients of the real
    function f: (G, F) inputs -> (G, outputs), exact for a trigonometric polynomial of
    these degrees."""
    values = np.asarray(f(grid(degs)), dtype=np.float64)
    shape = [2 * d + 1 for d in degs]
    values = values.T.reshape(values.shape[1], *shape)
    axes = tuple(range(1, len(degs) + 1))
    return np.fft.fftn(values, axes=axes) / grid_size(degs)


def frequencies(degs: list[int]) -> np.ndarray:
    """(G, F) integer frequency vectors in the order of the coefficient array, flattened."""
    axes = [np.fft.fftfreq(2 * d + 1, 1.0 / (2 * d + 1)).round().astype(int) for d in degs]
    return np.array(list(itertools.product(*axes)), dtype=int).reshape(-1, len(degs))


def half_spectrum(freqs: np.ndarray) -> np.ndarray:
    """Mask of the frequencies kept once per pair {w, -w}: w = 0 and those whose first
    non-zero component is positive."""
    keep = np.zeros(len(freqs), dtype=bool)
    for i, w in enumerate(freqs):
        nonzero = w[w != 0]
        keep[i] = len(nonzero) == 0 or nonzero[0] > 0
    return keep


def trig_features(x: np.ndarray, freqs: np.ndarray) -> np.ndarray:
    """(B, 1 + 2 K) design matrix: 1, then cos(w . x) and sin(w . x) for each of the K
    non-zero frequencies `freqs` (one per pair {w, -w})."""
    freqs = np.asarray([w for w in freqs if np.any(w != 0)], dtype=float).reshape(-1, x.shape[1])
    phase = x @ freqs.T
    return np.concatenate([np.ones((len(x), 1)), np.cos(phase), np.sin(phase)], axis=1)


def least_squares_surrogate(
    x_fit: np.ndarray, y_fit: np.ndarray, x_test: np.ndarray, y_test: np.ndarray, freqs
) -> dict:
    """A linear model on `trig_features(freqs)` fitted by least squares to y_fit (B, outputs)
    at x_fit, judged at x_test: R^2 over all outputs (1 - SSE / total sum of squares about
    each output's mean) and the largest absolute error."""
    design = trig_features(x_fit, freqs)
    coef, *_ = np.linalg.lstsq(design, y_fit, rcond=None)
    pred = trig_features(x_test, freqs) @ coef
    sse = float(((pred - y_test) ** 2).sum())
    sst = float(((y_test - y_test.mean(axis=0)) ** 2).sum())
    return {
        "r2": 1.0 - sse / sst if sst > 0 else float("nan"),
        "max_error": float(np.abs(pred - y_test).max()),
        "features": int(design.shape[1]),
    }
