"""Classical routers: each maps (batch, features) to gate probabilities (batch, experts)."""

from __future__ import annotations

import torch
from torch import nn

ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "gelu": nn.GELU}


class LinearRouter(nn.Module):
    """g(x) = Softmax(W x + b): the paper's Model A, P = E (d + 1)."""

    def __init__(self, n_features: int, n_experts: int):
        super().__init__()
        self.linear = nn.Linear(n_features, n_experts)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.linear(x), dim=-1)


class MLPRouter(nn.Module):
    """A multilayer perceptron with a softmax output: the paper's Model C."""

    def __init__(self, n_features: int, n_experts: int, hidden: list[int], activation: str):
        super().__init__()
        layers: list[nn.Module] = []
        width = n_features
        for h in hidden:
            layers += [nn.Linear(width, h), ACTIVATIONS[activation]()]
            width = h
        layers.append(nn.Linear(width, n_experts))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.net(x), dim=-1)
