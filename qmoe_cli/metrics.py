"""Held-out metrics: accuracy, macro F1, the paper's efficiency ratio, expert usage, CIs."""

from __future__ import annotations

import math

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


def mean_ci(values, confidence: float = 0.95) -> dict:
    """Mean, sample std and the t-based confidence interval of the mean."""
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
    return {"mean": mean, "std": std, "ci_low": mean - half, "ci_high": mean + half, "n": len(v)}


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
