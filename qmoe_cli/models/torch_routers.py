"""Classical routers as torch modules: each maps (batch, features) to gate probabilities
(batch, experts). Their configs and builders: models/routers/linear.py, mlp.py, fourier.py."""

from __future__ import annotations

import itertools
import math

import numpy as np
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
    """A multilayer perceptron with a softmax output: the paper's Model C. Without `bias`,
    every layer is a plain matrix (P = sum of width_in x width_out)."""

    def __init__(
        self,
        n_features: int,
        n_experts: int,
        hidden: list[int],
        activation: str,
        bias: bool = True,
    ):
        super().__init__()
        layers: list[nn.Module] = []
        width = n_features
        for h in hidden:
            layers += [nn.Linear(width, h, bias=bias), ACTIVATIONS[activation]()]
            width = h
        layers.append(nn.Linear(width, n_experts, bias=bias))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.net(x), dim=-1)


MAX_FOURIER_TERMS = 50_000


def count_fourier_terms(n_features: int, max_frequency: int, max_order: int | None) -> int:
    """sum over j <= order of C(d, j) (2K)^j: j features carry cos or sin of one of K freqs."""
    order = min(max_order or n_features, n_features)
    return sum(math.comb(n_features, j) * (2 * max_frequency) ** j for j in range(1, order + 1))


def fourier_terms(
    n_features: int, max_frequency: int, max_order: int | None, sample: int | None = None
) -> np.ndarray:
    """(T, n_features, 2) table of terms: per feature (frequency k, 0 = cos / 1 = sin).

    Frequency 0 stands for the factor 1; the all-constant term is left out (the bias).
    With `sample`, that many distinct terms drawn at random (torch's seeded generator).
    """
    order = max_order or n_features
    per_feature = [(0, 0)] + [(k, t) for k in range(1, max_frequency + 1) for t in (0, 1)]
    total = count_fourier_terms(n_features, max_frequency, max_order)
    if sample is None or sample >= total:
        if total > MAX_FOURIER_TERMS:
            raise ValueError(
                f"{total} Fourier terms are too many: set max_order or random_features"
            )
        terms = [
            combo
            for combo in itertools.product(per_feature, repeat=n_features)
            if 0 < sum(k > 0 for k, _ in combo) <= order
        ]
    else:
        chosen: dict = {}
        while len(chosen) < sample:
            draw = torch.randint(len(per_feature), (n_features,)).tolist()
            combo = tuple(per_feature[i] for i in draw)
            if 0 < sum(k > 0 for k, _ in combo) <= order:
                chosen.setdefault(combo, None)
        terms = sorted(chosen)
    return np.array(terms, dtype=np.int64).reshape(len(terms), n_features, 2)


class FourierRouter(nn.Module):
    """Softmax(W f(x) + b) with f(x) = products over features of {1, cos k x_i, sin k x_i}.

    The same frequency spectrum a circuit with each feature angle-encoded once can express,
    computed classically: the control for the paper's "interference" claim. Parameters:
    (T + 1) E for T terms. `random_features` keeps a seeded random subset of the terms.
    """

    def __init__(
        self,
        n_features: int,
        n_experts: int,
        max_frequency: int = 1,
        max_order: int | None = None,
        random_features: int | None = None,
    ):
        super().__init__()
        terms = fourier_terms(n_features, max_frequency, max_order, random_features)
        self.register_buffer("freq", torch.as_tensor(terms[..., 0], dtype=torch.float32))
        # cos(a) = sin(a + pi/2): a sine with phase pi/2 for cosine factors, 0 for sines
        phase = np.where(terms[..., 1] == 0, np.pi / 2, 0.0)
        self.register_buffer("phase", torch.as_tensor(phase, dtype=torch.float32))
        self.register_buffer("constant", torch.as_tensor(terms[..., 0] == 0))
        self.linear = nn.Linear(len(terms), n_experts)

    @property
    def n_terms(self) -> int:
        return self.freq.shape[0]

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T): every term evaluated at every input."""
        factors = torch.sin(x.unsqueeze(1) * self.freq + self.phase)  # (B, T, d)
        factors = torch.where(self.constant, torch.ones_like(factors), factors)
        return factors.prod(dim=-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.linear(self.features(x)), dim=-1)


class SingleExpertRouter(nn.Module):
    """No router: the gate of the one expert is 1 for every input (no parameters)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.ones(len(x), 1, dtype=x.dtype, device=x.device)
