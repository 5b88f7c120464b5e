"""From sampled frequencies to test accuracy: the router's gates from basis-state frequencies
(mitigated or not), the mixture's accuracy, shot-noise intervals by resampling, and the
summary over seeds."""

from __future__ import annotations

import numpy as np
import torch

from qmoe_cli.config import (
    HardwareConfig,
)
from qmoe_cli.experiments.hardware.plan import Plan
from qmoe_cli.experiments.hardware.source import TrainedRouter
from qmoe_cli.metrics import ACCURACY_RANGE, mean_ci
from qmoe_cli.models.moe import top_k_gates
from qmoe_cli.quantum import make_backend
from qmoe_cli.quantum import mitigation as mit
from qmoe_cli.quantum import runtime as rt
from qmoe_cli.quantum.spec import basis_bits

CONFIDENCE = 0.95


WITHIN = 0.01  # "within 1 point of the exact accuracy"


INTERVALS = (
    "shot noise only (the test inputs are fixed): {repeats} simulated repeats of the whole "
    "experiment at each shot count s, every circuit's s shots drawn from the multinomial "
    "with the frequencies observed at {sampled} shots (calibration circuits likewise at "
    "their {calibration} shots), mitigated and scored like the measurement; the interval is "
    "the 2.5 and 97.5 % quantiles of the repeats (over seeds: of the repeats' mean over "
    "seeds). numpy default_rng(seed)"
)


READOUT_METHOD = (
    "tensored readout mitigation: per measured qubit, the assignment matrix P(read k | "
    "prepared j) from two calibration circuits on the same physical qubits (|0...0> and "
    "|1...1>), readout errors taken as independent between qubits; its inverse applied "
    "qubit by qubit, then the closest probability vector (Euclidean projection onto the "
    "simplex)"
)


ZNE_METHOD = (
    "zero-noise extrapolation: global unitary folding U (U^dagger U)^k of the transpiled "
    "circuit (inverses in the device's own gates, so it stays ISA) at scales {scales}; "
    "each basis-state probability extrapolated to zero noise ({method}), then projected "
    "onto the simplex; readout+zne mitigates the readout of every scale first"
)


WITHIN_METHOD = (
    "the smallest shot count whose 95 % shot-noise interval lies within 1 point of the "
    "noiseless accuracy (the exact probabilities of the same trained weights); null: none"
)


def router_outputs(spec, probs: torch.Tensor) -> torch.Tensor:
    """Big-endian basis-state probabilities (..., 2^n) -> the circuit's outputs as the
    model reads them (spec.readout_from_probs, batched): grouped probabilities (..., E) or
    <Z_q> (..., n)."""
    if spec.readout == "probs":
        group = torch.zeros(2**spec.n_qubits, spec.n_experts, dtype=probs.dtype)
        group[torch.arange(2**spec.n_qubits), torch.as_tensor(spec.expert_of_basis_state())] = 1
        return probs @ group
    signs = torch.as_tensor(1 - 2 * basis_bits(spec.n_qubits), dtype=probs.dtype)
    return probs @ signs


@torch.no_grad()
def gates_of(model, probs: torch.Tensor) -> torch.Tensor:
    """The gates the model uses for these basis-state probabilities (..., B, 2^n):
    QuantumRouter's readout (grouped probabilities, or the adapter and a softmax over <Z>),
    then MixtureOfExperts' top-k if it has one."""
    router = model.router
    outputs = router_outputs(router.spec, probs)
    if router.adapter is not None:
        outputs = torch.softmax(router.adapter(outputs.to(router.adapter.weight.dtype)), dim=-1)
    if model.top_k is not None:
        shape = outputs.shape
        outputs = top_k_gates(outputs.reshape(-1, shape[-1]), model.top_k).reshape(shape)
    return outputs


@torch.no_grad()
def accuracy_of(model, expert_logits: torch.Tensor, y: torch.Tensor, probs) -> np.ndarray:
    """Test accuracy of the mixture with the gates of these probabilities (..., B, 2^n):
    y = sum_i g_i E_i(x), as MixtureOfExperts.forward; one accuracy per leading index."""
    gates = gates_of(model, torch.as_tensor(np.asarray(probs), dtype=torch.float64))
    logits = (gates.unsqueeze(-1) * expert_logits).sum(dim=-2)
    return (logits.argmax(dim=-1) == y).double().mean(dim=-1).numpy()


def exact_probs(router: TrainedRouter) -> np.ndarray:
    """The noiseless basis-state probabilities of the trained circuit (torch, big-endian)."""
    backend = make_backend(router.spec, "torch")
    with torch.no_grad():
        return backend.probs(router.weights, router.x).double().numpy()


def mitigated(method: str, freqs: dict[int, np.ndarray], cal, cfg: HardwareConfig) -> np.ndarray:
    """The distribution (..., B, 2^n) a mitigation method makes of the frequencies at each
    noise scale ({scale: (..., B, 2^n)}) and the calibration frequencies ((..., 2^n) for
    |0...0> and |1...1>, or None)."""
    if method == "none":
        return freqs[1]
    assignment = None
    if "readout" in method:
        assignment = mit.assignment_matrices(cal[0], cal[1])[..., None, :, :, :]
    if method == "readout":
        return mit.readout_mitigate(freqs[1], assignment)
    scales = cfg.zne_scales
    stack = [freqs[s] for s in scales]
    if method == "readout+zne":
        stack = [mit.readout_mitigate(f, assignment) for f in stack]
    return mit.zne_probs(np.stack(stack, axis=-2), scales, cfg.zne_extrapolation)


def score(plan: Plan, samples: dict) -> tuple[list[dict], dict]:
    """Per router: the accuracy at every shot count and mitigation (the measured point and
    its repeats), and the repeats kept to pool over seeds."""
    cfg = plan.cfg
    shots, sampled, repeats = cfg.shots, cfg.sampled_shots, cfg.repeats
    scales = cfg.zne_scales if cfg.zne else [1]
    per_seed, kept = [], {}
    for i, rc in enumerate(plan.routers):
        r = rc.router
        k = 2**r.spec.n_qubits
        with torch.no_grad():
            expert_logits = r.model.experts(r.x)
        exact = exact_probs(r)
        exact_acc = float(accuracy_of(r.model, expert_logits, r.y, exact))
        exact_gates = gates_of(r.model, torch.as_tensor(exact)).numpy()
        raw = {s: samples[("router", i, s)] for s in scales}
        cal_raw = None
        if plan.calibrations:
            q = tuple(rc.isa.qubits)
            cal_raw = (samples[("calibration", q, 0)], samples[("calibration", q, 1)])
        cal_shots = plan.calibration_shots
        cal_freq = (
            None if cal_raw is None else tuple(rt.counts(c, k)[0] / cal_shots for c in cal_raw)
        )
        full = {s: rt.counts(raw[s], k) / sampled for s in scales}  # p-hat at S shots
        rng = np.random.default_rng([cfg.seed, i])
        results, tvd, within = [], {}, {}
        for n_shots in shots:
            point = {s: rt.counts(raw[s], k, n_shots) / n_shots for s in scales}
            boot = {
                s: rng.multinomial(n_shots, full[s], size=(repeats, len(r.x))) / n_shots
                for s in scales
            }
            boot_cal = None
            if cal_freq is not None:
                boot_cal = tuple(
                    rng.multinomial(cal_shots, f, size=repeats) / cal_shots for f in cal_freq
                )
            for method in cfg.mitigation:
                probs = mitigated(method, point, cal_freq, cfg)
                acc = float(accuracy_of(r.model, expert_logits, r.y, probs))
                reps = accuracy_of(
                    r.model, expert_logits, r.y, mitigated(method, boot, boot_cal, cfg)
                )
                low, high = np.quantile(reps, [(1 - CONFIDENCE) / 2, (1 + CONFIDENCE) / 2])
                results.append(
                    {
                        "mitigation": method,
                        "shots": n_shots,
                        "accuracy": acc,
                        "repeat_mean": float(reps.mean()),
                        "low": float(low),
                        "high": float(high),
                    }
                )
                kept[(r.variant, r.seed, method, n_shots)] = reps
                if n_shots == sampled:
                    g = gates_of(r.model, torch.as_tensor(probs)).numpy()
                    tvd[method] = float(0.5 * np.abs(g - exact_gates).sum(axis=-1).mean())
        for method in cfg.mitigation:
            within[method] = next(
                (
                    row["shots"]
                    for row in results
                    if row["mitigation"] == method
                    and exact_acc - WITHIN <= row["low"]
                    and row["high"] <= exact_acc + WITHIN
                ),
                None,
            )
        per_seed.append(
            {
                "variant": r.variant,
                "seed": r.seed,
                "n_inputs": len(r.x),
                "exact_accuracy": exact_acc,
                "recorded_accuracy": r.recorded_accuracy,
                "gate_tvd": tvd,
                "shots_within_1pt": within,
                "results": results,
            }
        )
    return per_seed, kept


def summarize(plan: Plan, per_seed: list[dict], kept: dict) -> tuple[list[dict], list[dict]]:
    """Over seeds, per (variant, mitigation, shots): the accuracy's mean with its
    t-interval over seeds, the shot-noise interval of that mean, the noiseless mean; and the
    smallest shot count within 1 point of the noiseless mean."""
    cfg = plan.cfg
    rows, needed = [], []
    for variant in plan.source.variants:
        seeds = [p for p in per_seed if p["variant"] == variant]
        noiseless = float(np.mean([p["exact_accuracy"] for p in seeds]))
        for method in cfg.mitigation:
            first = None
            for n_shots in cfg.shots:
                accs = [
                    next(
                        row["accuracy"]
                        for row in p["results"]
                        if row["mitigation"] == method and row["shots"] == n_shots
                    )
                    for p in seeds
                ]
                stat = mean_ci(accs, bounds=ACCURACY_RANGE)
                pooled = np.mean(
                    [kept[(variant, p["seed"], method, n_shots)] for p in seeds], axis=0
                )
                low, high = np.quantile(pooled, [(1 - CONFIDENCE) / 2, (1 + CONFIDENCE) / 2])
                rows.append(
                    {
                        "variant": variant,
                        "mitigation": method,
                        "shots": n_shots,
                        "n_seeds": len(seeds),
                        "accuracy_mean": stat["mean"],
                        "accuracy_std": stat["std"],
                        "accuracy_ci_low": stat["ci_low"],
                        "accuracy_ci_high": stat["ci_high"],
                        "shot_low": float(low),
                        "shot_high": float(high),
                        "noiseless_mean": noiseless,
                    }
                )
                if first is None and noiseless - WITHIN <= low and high <= noiseless + WITHIN:
                    first = n_shots
            needed.append({"variant": variant, "mitigation": method, "shots": first})
    return rows, needed
