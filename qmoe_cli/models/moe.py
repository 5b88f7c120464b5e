"""The Mixture of Experts: y = sum_i g_i(x) E_i(x), optionally top-k sparse and load-balanced."""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn


class MoEOutput(NamedTuple):
    logits: torch.Tensor  # (batch, classes)
    gates: torch.Tensor  # (batch, experts): the weights used, rows sum to 1
    router_probs: torch.Tensor  # (batch, experts): the router's dense probabilities


class MixtureOfExperts(nn.Module):
    def __init__(
        self,
        router: nn.Module,
        experts: nn.Module,
        top_k: int | None = None,
        balance_weight: float = 0.0,
    ):
        super().__init__()
        self.router = router
        self.experts = experts
        self.top_k = top_k
        self.balance_weight = balance_weight

    def forward(self, x: torch.Tensor) -> MoEOutput:
        probs = self.router(x)
        gates = probs if self.top_k is None else top_k_gates(probs, self.top_k)
        expert_logits = self.experts(x)
        return MoEOutput((gates.unsqueeze(-1) * expert_logits).sum(dim=1), gates, probs)

    def aux_loss(self, out: MoEOutput) -> torch.Tensor | None:
        """The weighted load-balancing loss, or None when its weight is 0."""
        if not self.balance_weight:
            return None
        return self.balance_weight * balance_loss(out.router_probs, out.gates)


def top_k_gates(probs: torch.Tensor, k: int) -> torch.Tensor:
    """Keep each row's k largest probabilities, renormalised to sum to 1."""
    values, index = probs.topk(k, dim=1)
    sparse = torch.zeros_like(probs).scatter(1, index, values)
    return sparse / sparse.sum(dim=1, keepdim=True)


def balance_loss(probs: torch.Tensor, gates: torch.Tensor) -> torch.Tensor:
    """Switch Transformer's auxiliary loss E * sum_i f_i P_i (Fedus et al. 2021, eq. 4).

    f_i: share of the batch dispatched to expert i (its top gate; with top-k, the share of
    the k assignments), P_i: mean router probability of expert i. It is 1 for a perfectly
    balanced router and E when every input goes to one expert; f carries no gradient.
    """
    n_experts = probs.shape[1]
    if gates is probs:  # dense routing: each input counts for its top expert
        dispatched = nn.functional.one_hot(probs.argmax(dim=1), n_experts).to(probs.dtype)
    else:
        dispatched = (gates > 0).to(probs.dtype)
    f = dispatched.sum(dim=0) / dispatched.sum()
    return n_experts * (f.detach() * probs.mean(dim=0)).sum()


def count_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def param_counts(model: MixtureOfExperts) -> dict[str, int]:
    router, experts = count_params(model.router), count_params(model.experts)
    return {"router": router, "experts": experts, "total": router + experts}
