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


def spectrum_terms(limits: tuple[int, ...]) -> np.ndarray:
    """(T, F, 2) non-constant terms of the spectrum with max frequency limits[f] in feature
    f: per feature (frequency k, 0 = cos / 1 = sin), k = 0 the factor 1; ordered by total
    frequency, then number of non-constant factors, then feature, frequency, cos first
    (models/routers/spectrum_matched.py: the truncation keeps a prefix)."""
    per_feature = [[(0, 0)] + [(k, t) for k in range(1, r + 1) for t in (0, 1)] for r in limits]
    combos = [c for c in itertools.product(*per_feature) if any(k for k, _ in c)]

    def key(combo):
        order = [(f, k, t) for f, (k, t) in enumerate(combo) if k]
        return (sum(k for k, _ in combo), len(order), order)

    combos.sort(key=key)
    return np.array(combos, dtype=np.int64).reshape(len(combos), len(limits), 2)


class SpectrumMatchedRouter(nn.Module):
    """Softmax over E logits, the last fixed at 0, the others a linear map on the spectrum's
    trigonometric features (models/routers/spectrum_matched.py). `rank` 0: a full map on
    the first `kept` terms (`linear`); rank R: a CP-rank-R map on all of them, per feature f
    the factor u_jf . phi_f(x_f) (`factors.<f>`, (R, 2 r_f + 1)), mixed by `mix` (E - 1, R)
    plus `bias` (E - 1). Buffers per term and factor: `freq` (integer frequencies), `cosine`
    (cos or sin), `constant` (the factor 1), so cos and sin are exact in any dtype."""

    def __init__(self, n_experts: int, limits: tuple[int, ...], kept: int, rank: int = 0):
        super().__init__()
        free = n_experts - 1
        self.rank = rank
        if rank == 0:
            terms = spectrum_terms(limits)[:kept]  # (T, F, 2)
            self._buffers_of("", terms[..., 0], terms[..., 1] == 0)
            self.linear = nn.Linear(len(terms), free)
            return
        self.factors = nn.ParameterList()
        for f, r in enumerate(limits):
            width = 2 * r + 1
            freq = np.array([0] + [k for k in range(1, r + 1) for _ in (0, 1)])
            self._buffers_of(f"_{f}", freq, np.arange(width) % 2 == 1)  # 1, cos, sin, cos, ..
            # the constant component 1, the others small: each factor starts near 1
            u = (torch.rand(rank, width) * 2 - 1) / math.sqrt(width)
            u[:, 0] = 1.0
            self.factors.append(nn.Parameter(u))
        self.mix = nn.Parameter((torch.rand(free, rank) * 2 - 1) / math.sqrt(rank))
        self.bias = nn.Parameter((torch.rand(free) * 2 - 1) / math.sqrt(rank))

    def _buffers_of(self, suffix: str, freq: np.ndarray, cosine: np.ndarray) -> None:
        self.register_buffer(f"freq{suffix}", torch.as_tensor(freq, dtype=torch.float32))
        self.register_buffer(f"cosine{suffix}", torch.as_tensor(cosine))
        self.register_buffer(f"constant{suffix}", torch.as_tensor(freq == 0))

    @staticmethod
    def trig(angles: torch.Tensor, cosine: torch.Tensor, constant: torch.Tensor) -> torch.Tensor:
        """1, cos or sin of each angle, per the masks (broadcast against `angles`)."""
        value = torch.where(cosine, torch.cos(angles), torch.sin(angles))
        return torch.where(constant, torch.ones_like(value), value)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """(B, E - 1) free logits."""
        if self.rank == 0:
            angles = x.unsqueeze(1) * self.freq.to(x.dtype)  # (B, T, F)
            return self.linear(self.trig(angles, self.cosine, self.constant).prod(dim=-1))
        z = None
        for f, u in enumerate(self.factors):
            freq = getattr(self, f"freq_{f}").to(x.dtype)
            phi = self.trig(
                x[:, f : f + 1] * freq, getattr(self, f"cosine_{f}"), getattr(self, f"constant_{f}")
            )  # (B, 2 r_f + 1): 1, cos x_f, sin x_f, ...
            zf = phi @ u.mT  # (B, R)
            z = zf if z is None else z * zf
        return z @ self.mix.mT + self.bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.logits(x)
        zero = torch.zeros(*logits.shape[:-1], 1, dtype=logits.dtype, device=logits.device)
        return torch.softmax(torch.cat([logits, zero], dim=-1), dim=-1)
