"""The spectrum of a run's trained quantum routers: which routers, their exact Fourier
coefficients over the scaled inputs, and least-squares classical surrogates on those
frequencies (docs/diagnose.md)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from qmoe_cli.config import DiagnoseConfig
from qmoe_cli.errors import ConfigError
from qmoe_cli.quantum import fourier
from qmoe_cli.quantum.spec import CircuitSpec
from qmoe_cli.runs.cells import read_cell
from qmoe_cli.runs.members import choose, members, train_config
from qmoe_cli.workers import raise_if_interrupted

# The exact spectrum evaluates the router on prod_f (2 r_f + 1) grid inputs, each a state of
# 2^n amplitudes: refused above this many amplitudes in all (about a minute of simulation).
MAX_SPECTRUM_AMPLITUDES = 2**32
EVAL_CHUNK = 4096


@dataclass
class RouterCell:
    """One trained circuit router (a variant x seed) with its data."""

    variant: str
    seed: int
    router: torch.nn.Module
    x_train: np.ndarray
    x_test: np.ndarray

    @property
    def spec(self) -> CircuitSpec:
        return self.router.spec


@dataclass
class SpectrumSource:
    path: Path
    kind: str
    name: str
    variants: list[str]
    seeds: list[int]
    cells: list[tuple[str, Path, object]]  # (variant, folder, train config)


def find_routers(cfg: DiagnoseConfig) -> SpectrumSource:
    """The run's circuit routers (the router config has `qubits`), the chosen variants and
    seeds; one line, exit 2, when it has none."""
    assert cfg.run is not None
    path = Path(cfg.run)
    kind, name, candidates, _ = members(path, "qmoe diagnose")
    quantum, types = [], []
    for variant, folder in candidates:
        vcfg = train_config(folder)
        types.append(vcfg.model.router.type)
        if getattr(vcfg.model.router, "qubits", None) is not None:
            quantum.append((variant, folder, vcfg))
    if not quantum:
        raise ConfigError(
            f"{path}: no quantum router to diagnose (model.router.type: "
            f"{', '.join(sorted(set(types))) or 'none'}); qmoe diagnose reads quantum routers"
        )
    quantum, seeds = choose(path, quantum, cfg.variants, cfg.seeds)
    if cfg.max_seeds is not None:
        seeds = seeds[: cfg.max_seeds]
    return SpectrumSource(path.resolve(), kind, name, [v for v, _, _ in quantum], seeds, quantum)


def check_width(spec: CircuitSpec, variant: str) -> None:
    """One line, exit 2, for a router whose exact spectrum would cost too much."""
    degs = fourier.degrees(spec)
    points = fourier.grid_size(degs)
    amplitudes = points * 2**spec.n_qubits
    if amplitudes > MAX_SPECTRUM_AMPLITUDES:
        grid = " x ".join(str(2 * d + 1) for d in degs)
        raise ConfigError(
            f"router {variant} is too wide for the exact spectrum: {spec.n_qubits} qubits "
            f"over {spec.n_features} features needs a grid of {grid} = {points:,} inputs of "
            f"2^{spec.n_qubits} amplitudes each ({amplitudes:.2e} amplitudes, "
            f"{spec.n_layers} layers); the limit is {MAX_SPECTRUM_AMPLITUDES:.2e}"
        )


def load_cell(variant: str, folder: Path, vcfg, seed: int) -> RouterCell:
    cell = read_cell(folder / f"seed-{seed}", vcfg, seed)
    router = cell.model.double().eval().router
    if not isinstance(getattr(router, "spec", None), CircuitSpec):
        raise ConfigError(f"{folder}: router {variant} has no circuit (no spec) to diagnose")
    x_train = cell.splits.tensors("train", torch.float64)[0].numpy()
    x_test = cell.splits.tensors("test", torch.float64)[0].numpy()
    return RouterCell(variant, seed, router, x_train, x_test)


def circuit_outputs(router, x: np.ndarray) -> np.ndarray:
    """What is a trigonometric polynomial of x: the gates with the probs readout, the
    <Z_q> before the adapter with expval."""
    out = []
    with torch.no_grad():
        for start in range(0, len(x), EVAL_CHUNK):
            xb = torch.as_tensor(x[start : start + EVAL_CHUNK])
            if getattr(router, "adapter", None) is not None:
                y = router.backend.outputs(router.weights, xb)
            else:
                y = router(xb)
            out.append(y.double().numpy())
    return np.concatenate(out)


def gates(router, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return np.concatenate(
            [
                router(torch.as_tensor(x[s : s + EVAL_CHUNK])).double().numpy()
                for s in range(0, len(x), EVAL_CHUNK)
            ]
        )


def analyse(cell: RouterCell, threshold: float) -> tuple[dict, list[dict]]:
    """(summary, spectrum rows) of one trained router."""
    spec = cell.spec
    degs = fourier.degrees(spec)
    coef = fourier.coefficients(lambda x: circuit_outputs(cell.router, x), degs)
    raise_if_interrupted()
    freqs = fourier.frequencies(degs)
    half = fourier.half_spectrum(freqs)
    flat = coef.reshape(coef.shape[0], -1)  # (outputs, G), C order = freqs' order
    nonzero = half & np.any(freqs != 0, axis=1)
    magnitude = np.abs(flat)
    strong = nonzero & (magnitude.max(axis=0) >= threshold)
    y_train, y_test = gates(cell.router, cell.x_train), gates(cell.router, cell.x_test)
    kept = fourier.least_squares_surrogate(
        cell.x_train, y_train, cell.x_test, y_test, freqs[strong]
    )
    full = fourier.least_squares_surrogate(
        cell.x_train, y_train, cell.x_test, y_test, freqs[nonzero]
    )
    summary = {
        "variant": cell.variant,
        "seed": cell.seed,
        "qubits": spec.n_qubits,
        "layers": spec.n_layers,
        "ansatz": spec.ansatz,
        "embedding": spec.embedding,
        "readout": spec.readout,
        "features": spec.n_features,
        "degrees": degs,
        "of": "gates" if getattr(cell.router, "adapter", None) is None else "<Z_q>",
        "outputs": int(flat.shape[0]),
        "grid_points": fourier.grid_size(degs),
        "frequencies": int(nonzero.sum()),
        "nonnegligible": int(strong.sum()),
        "largest": float(magnitude[:, nonzero].max()) if nonzero.any() else float("nan"),
        "surrogate_features": kept["features"],
        "surrogate_r2": kept["r2"],
        "surrogate_max_error": kept["max_error"],
        "full_r2": full["r2"],
        "full_max_error": full["max_error"],
        "fit_inputs": len(cell.x_train),
        "test_inputs": len(cell.x_test),
    }
    rows = [
        {
            "variant": cell.variant,
            "seed": cell.seed,
            "output": e,
            "frequency": " ".join(str(int(v)) for v in freqs[i]),
            **{f"w{f + 1}": int(freqs[i][f]) for f in range(freqs.shape[1])},
            "re": float(flat[e, i].real),
            "im": float(flat[e, i].imag),
            "magnitude": float(magnitude[e, i]),
            "nonnegligible": bool(strong[i]),
        }
        for e in range(flat.shape[0])
        for i in np.flatnonzero(half)
    ]
    return summary, rows
