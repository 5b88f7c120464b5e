"""Held-out metrics: accuracy, macro F1, the paper's efficiency ratio, expert usage, the
router's effective parameter count, CIs and paired tests."""

from __future__ import annotations

import copy
import math
import random

import numpy as np
import torch
from scipy import stats
from sklearn.metrics import accuracy_score, f1_score

from qmoe_cli.models import MixtureOfExperts

ETA_DEFINITION = "eta = test accuracy (fraction in [0, 1]) / ln(1 + router parameters)"


@torch.no_grad()
def predict(model: MixtureOfExperts, x: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Predicted classes and gate probabilities, as numpy arrays."""
    model.eval()
    out = model(x)
    return out.logits.argmax(dim=1).numpy(), out.gates.double().numpy()


def efficiency(accuracy: float, router_params: int) -> float:
    """The paper's eta = accuracy / log(1 + P), with the natural log and P = router params."""
    return accuracy / math.log1p(router_params) if router_params > 0 else float("nan")


def expert_usage(gates: np.ndarray) -> dict:
    """How the router spreads inputs over experts."""
    n_experts = gates.shape[1]
    top_share = np.bincount(gates.argmax(axis=1), minlength=n_experts) / len(gates)
    entropy = -(gates * np.log(np.clip(gates, 1e-12, 1.0))).sum(axis=1).mean()
    return {
        "mean_gate": gates.mean(axis=0).round(6).tolist(),
        "top_expert_share": top_share.round(6).tolist(),
        "gate_entropy": float(entropy),  # nats, mean over inputs; max is ln(experts)
        "gate_entropy_max": math.log(n_experts),
        "unused_experts": int((top_share == 0).sum()),
    }


def evaluate(model: MixtureOfExperts, x: torch.Tensor, y: torch.Tensor) -> dict:
    pred, gates = predict(model, x)
    y = y.numpy()
    return {
        "accuracy": float(accuracy_score(y, pred)),
        "f1_macro": float(f1_score(y, pred, average="macro")),
        "usage": expert_usage(gates),
    }


# Singular values of the gate Jacobian at or below EFFECTIVE_RTOL * sigma_max count as zero.
# Structural degeneracies (softmax's shift invariance, a circuit's unreachable directions)
# give singular values at machine-epsilon level (~1e-16 relative) in float64, genuine
# directions far above 1e-8, so the count does not hinge on the threshold.
EFFECTIVE_RTOL = 1e-8
EFFECTIVE_MIN_INPUTS = 64
EFFECTIVE_MAX_INPUTS = 256


def effective_inputs(n_train: int, nominal: int, n_experts: int) -> int:
    """How many training inputs the effective parameter count uses:
    n = min(n_train, max(64, ceil(2 P / E)), 256) for P router parameters and E experts.

    The gates of one input sum to 1, so each input gives at most E - 1 independent rows of
    the Jacobian; with n >= 2 P / E inputs there are n (E - 1) >= P of them for E >= 2, so
    the inputs, not their number, limit the rank (up to P = 128 (E / 2) at the cap of 256).
    """
    wanted = max(EFFECTIVE_MIN_INPUTS, math.ceil(2 * nominal / max(n_experts, 1)))
    return min(n_train, wanted, EFFECTIVE_MAX_INPUTS)


def gate_jacobian(model: MixtureOfExperts, x: torch.Tensor) -> torch.Tensor:
    """(N E, P) Jacobian of the gate probabilities model(x).gates with respect to the router's
    trainable parameters, in the model's dtype; the model must be a copy the caller may
    change (its gradients are not touched, but it is put in eval mode).

    One backward pass per output: the quantum router's compiled kernel supports neither
    forward-mode nor vmap, and the outputs are few (N E <= 256 E)."""
    params = [p for p in model.router.parameters() if p.requires_grad]
    model.eval()
    with torch.enable_grad():
        gates = model(x).gates.reshape(-1)
        rows = []
        for k in range(len(gates)):
            grads = torch.autograd.grad(gates[k], params, retain_graph=True, allow_unused=True)
            rows.append(
                torch.cat(
                    [
                        (torch.zeros_like(p) if g is None else g).reshape(-1)
                        for p, g in zip(params, grads, strict=True)
                    ]
                )
            )
    if not rows:
        return torch.zeros(0, sum(p.numel() for p in params), dtype=x.dtype)
    return torch.stack(rows)


def effective_params(model: MixtureOfExperts, x: torch.Tensor) -> dict:
    """The router's effective parameter count at its current weights: the numerical rank of
    the Jacobian of the gate probabilities (model(x).gates, N x E) with respect to the
    router's trainable parameters, over the inputs x (use the first `effective_inputs(...)`
    rows of the training split).

    Rank = number of singular values > EFFECTIVE_RTOL (1e-8) x the largest one, computed in
    float64 on a deep copy: the model passed in (weights, dtype, noise, mode) and the global
    random generators (torch, NumPy, random) are left as they were.
    Returns {"rank", "nominal" (trainable router parameters), "n_inputs", "rtol"}.
    """
    nominal = sum(p.numel() for p in model.router.parameters() if p.requires_grad)
    result = {"rank": 0, "nominal": nominal, "n_inputs": len(x), "rtol": EFFECTIVE_RTOL}
    if nominal == 0 or len(x) == 0:
        return result
    py_state, np_state = random.getstate(), np.random.get_state()
    try:
        with torch.random.fork_rng(devices=[]):
            twin = copy.deepcopy(model).to(torch.float64)
            jac = gate_jacobian(twin, x.detach().to(torch.float64))
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)
    sv = torch.linalg.svdvals(jac)
    if len(sv) and sv[0] > 0:
        result["rank"] = int((sv > EFFECTIVE_RTOL * sv[0]).sum())
    return result


ACCURACY_RANGE = (0.0, 1.0)
COUNT_RANGE = (0.0, math.inf)  # epochs, parameters


def _clip(x: float, bounds: tuple[float, float] | None) -> float:
    return x if bounds is None or math.isnan(x) else min(max(x, bounds[0]), bounds[1])


def mean_ci(values, confidence: float = 0.95, bounds: tuple[float, float] | None = None) -> dict:
    """Mean, sample std and the t-based confidence interval of the mean.

    With `bounds` (the quantity's range, e.g. ACCURACY_RANGE) the interval is truncated to
    it: a mean accuracy cannot lie above 1, so neither can its interval.
    """
    v = np.asarray(values, dtype=float)
    mean = float(v.mean())
    if len(v) < 2:
        return {
            "mean": mean,
            "std": float("nan"),
            "ci_low": float("nan"),
            "ci_high": float("nan"),
            "n": len(v),
        }
    std = float(v.std(ddof=1))
    half = float(stats.t.ppf(0.5 + confidence / 2, len(v) - 1) * std / math.sqrt(len(v)))
    return {
        "mean": mean,
        "std": std,
        "ci_low": _clip(mean - half, bounds),
        "ci_high": _clip(mean + half, bounds),
        "n": len(v),
    }


def prediction_interval(
    values, confidence: float = 0.95, bounds: tuple[float, float] | None = None
) -> tuple[float, float]:
    """Where one more run would fall: mean +- t(1 - a/2, n - 1) * s * sqrt(1 + 1/n).

    This, not the CI of the mean, is what a paper's single-run number is judged against.
    Truncated to `bounds`; NaN with fewer than 2 values.
    """
    v = np.asarray(values, dtype=float)
    if len(v) < 2:
        return float("nan"), float("nan")
    mean, std = float(v.mean()), float(v.std(ddof=1))
    half = float(stats.t.ppf(0.5 + confidence / 2, len(v) - 1) * std * math.sqrt(1 + 1 / len(v)))
    return _clip(mean - half, bounds), _clip(mean + half, bounds)


def holm(pvalues: list[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values (NaN stays NaN and is not counted as a test)."""
    finite = sorted((p, i) for i, p in enumerate(pvalues) if not math.isnan(p))
    adjusted = [float("nan")] * len(pvalues)
    running = 0.0
    for rank, (p, i) in enumerate(finite):
        running = max(running, min(1.0, (len(finite) - rank) * p))
        adjusted[i] = running
    return adjusted


def paired_comparison(a, b, name_a: str, name_b: str, confidence: float = 0.95) -> dict:
    """Seed-by-seed comparison of two variants' accuracies (same splits per seed).

    The difference a - b is summarised by its mean, t-based CI and a paired t-test
    (scipy.stats.ttest_rel); the Wilcoxon signed-rank p is given beside it (with n < 6 seeds
    it cannot go below 0.0625, so it cannot reach 0.05).
    """
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    diff = a - b
    ci = mean_ci(diff, confidence)
    if len(diff) < 2 or not np.any(diff):
        p = float("nan")  # nothing to test
    elif np.ptp(diff) == 0:
        p = 0.0  # every seed differs by the same amount: the t statistic is infinite
    else:
        p = float(stats.ttest_rel(a, b).pvalue)
    try:
        wilcoxon = float(stats.wilcoxon(a, b).pvalue) if np.any(diff) else float("nan")
    except ValueError:
        wilcoxon = float("nan")
    points = 100 * ci["mean"]
    if math.isnan(p) or p >= 1 - confidence:
        verdict = (
            f"no significant difference between {name_a} and {name_b} "
            f"({name_a} - {name_b} = {points:+.1f} points, p = {_p(p)})"
        )
    else:
        winner, loser = (name_a, name_b) if points > 0 else (name_b, name_a)
        sign = 1 if points > 0 else -1  # state the CI of winner - loser
        low, high = sorted((100 * sign * ci["ci_low"], 100 * sign * ci["ci_high"]))
        verdict = (
            f"{winner} beats {loser} by {abs(points):.1f} points "
            f"(95% CI {low:.1f} to {high:.1f}, paired t-test p = {_p(p)})"
        )
    return {
        "a": name_a,
        "b": name_b,
        "n_seeds": len(diff),
        "mean_diff": ci["mean"],
        "ci_low": ci["ci_low"],
        "ci_high": ci["ci_high"],
        "t_test_p": p,
        "wilcoxon_p": wilcoxon,
        "verdict": verdict,
    }


def _p(p: float) -> str:
    return "n/a" if math.isnan(p) else (f"{p:.3g}" if p >= 1e-4 else f"{p:.1e}")
