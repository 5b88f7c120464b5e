"""Experts as torch modules: every expert maps the input to class logits. Their configs and
builders: models/experts/."""

from __future__ import annotations

import torch
from torch import nn


class LinearExperts(nn.Module):
    """E independent linear maps x -> W_i x + b_i, computed as one (features -> E*outputs) matmul.

    Expert i owns rows [i*outputs, (i+1)*outputs) of the weight; each row is initialised
    as nn.Linear would (uniform in +-1/sqrt(features)).
    """

    def __init__(self, n_features: int, n_outputs: int, count: int):
        super().__init__()
        self.count, self.n_outputs = count, n_outputs
        self.linear = nn.Linear(n_features, count * n_outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(batch, features) -> (batch, experts, outputs)."""
        return self.linear(x).view(-1, self.count, self.n_outputs)
