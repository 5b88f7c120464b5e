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
