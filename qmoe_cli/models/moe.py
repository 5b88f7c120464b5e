"""The Mixture of Experts: y = sum_i g_i(x) E_i(x)."""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn


class MoEOutput(NamedTuple):
    logits: torch.Tensor  # (batch, classes)
    gates: torch.Tensor  # (batch, experts), rows sum to 1


class MixtureOfExperts(nn.Module):
    def __init__(self, router: nn.Module, experts: nn.Module):
        super().__init__()
        self.router = router
        self.experts = experts

    def forward(self, x: torch.Tensor) -> MoEOutput:
        gates = self.router(x)
        expert_logits = self.experts(x)
        return MoEOutput((gates.unsqueeze(-1) * expert_logits).sum(dim=1), gates)


def count_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def param_counts(model: MixtureOfExperts) -> dict[str, int]:
    router, experts = count_params(model.router), count_params(model.experts)
    return {"router": router, "experts": experts, "total": router + experts}
