"""S models of one architecture as one computation: every tensor gains a leading model axis.

The stacked training engine (qmoe_cli/training/stacked.py) keeps each parameter of S models of
one architecture as one tensor with a leading model axis (S, *shape) (`ParamLayout`: which,
and a model's values as one flat row), and `StackedMoE` computes the mixture of all S
models on their own inputs in one pass of batched operations: the router and the experts by
the stacked forms their kinds declare (`declared_form`; the forms and their layout, (S,
width, B) with the batch innermost: qmoe_cli/models/stacked_forms.py), the mixture, its
losses and its predictions here, logits (S, C, B).
"""

from __future__ import annotations

import importlib

import torch
import torch.nn.functional as F
from torch import nn

from qmoe_cli.config import ModelConfig
from qmoe_cli.models import experts_config
from qmoe_cli.models.base import stacked_declaration
from qmoe_cli.models.moe import MixtureOfExperts
from qmoe_cli.models.stacked_forms import Params, StackedForm


def declared_form(kind: type) -> StackedForm | None:
    """The StackedForm a router or experts kind declares (its `stacked_form` import path,
    models/base.py), or None when it declares `no_stacked_form`. TypeError when it declares
    neither or both, or its path names no StackedForm."""
    path, _ = stacked_declaration(kind)
    if path is None:
        return None
    module, _, name = path.partition(":")
    form = getattr(importlib.import_module(module), name, None) if name else None
    if not isinstance(form, StackedForm):
        raise TypeError(
            f"{kind.__name__}.stacked_form: {path!r} names no StackedForm "
            "(expected 'package.module:name')"
        )
    return form


def model_forms(cfg: ModelConfig) -> list[tuple[str, object, StackedForm | None]]:
    """(part, its config, its declared form) for the router and the experts of a model
    config (`part`: their attribute of MixtureOfExperts, `model.<part>` their key), the
    experts' with the router's circuit noise passed on, as build_model builds them."""
    return [
        ("router", cfg.router, declared_form(type(cfg.router))),
        ("experts", experts_config(cfg), declared_form(type(cfg.experts))),
    ]


class ParamLayout:
    """A model's parameters (`named_parameters` order) as S-stacked tensors, and as one flat
    row (P,) per model (the form of a model's snapshot: best state, frozen state)."""

    def __init__(self, model: nn.Module):
        named = [(k, p) for k, p in model.named_parameters() if p.requires_grad]
        self.names = [k for k, _ in named]
        self.shapes = [tuple(p.shape) for _, p in named]
        self.sizes = [p.numel() for _, p in named]
        self.total = sum(self.sizes)

    def matches(self, model: nn.Module) -> bool:
        return ParamLayout(model).signature() == self.signature()

    def signature(self) -> tuple:
        return tuple(zip(self.names, self.shapes, strict=True))

    def stack(self, models: list[nn.Module]) -> list[torch.Tensor]:
        """One (S, *shape) leaf per parameter, row s a copy of model s's."""
        per_model = [dict(m.named_parameters()) for m in models]
        return [
            torch.stack([params[k].detach() for params in per_model]).requires_grad_()
            for k in self.names
        ]

    def named(self, stacked: list[torch.Tensor]) -> Params:
        return dict(zip(self.names, stacked, strict=True))

    def row(self, stacked: list[torch.Tensor], index: int) -> torch.Tensor:
        """Model `index`'s values (P,) of S-stacked tensors (parameters or optimizer state)."""
        return torch.cat([t[index].detach().reshape(-1) for t in stacked])

    @torch.no_grad()
    def write(self, model: nn.Module, row: torch.Tensor) -> None:
        """Copy one row (P,) into the model's parameters."""
        params = dict(model.named_parameters())
        for k, part, shape in zip(self.names, row.split(self.sizes), self.shapes, strict=True):
            params[k].copy_(part.view(shape))


def stack_buffers(models: list[nn.Module]) -> Params:
    """name -> (S, *shape): each model's buffers (e.g. a Fourier router's terms), stacked."""
    names = [k for k, _ in models[0].named_buffers()]
    buffers = [dict(m.named_buffers()) for m in models]
    return {k: torch.stack([b[k] for b in buffers]) for k in names}


# ----------------------------------------------------------------- the mixture


class StackedMoE:
    """MixtureOfExperts for S models of one architecture (built from any one of them, and the
    model config they were all built from: its kinds' declared stacked forms)."""

    def __init__(self, model: MixtureOfExperts, cfg: ModelConfig):
        forwards = []
        for part, _, form in model_forms(cfg):
            module = getattr(model, part)
            forward = None if form is None else form.forward(module, part)
            if forward is None:
                raise ValueError(f"model.{part}: {type(module).__name__} has no stacked form")
            forwards.append(forward)
        self.router, self.experts = forwards
        self.top_k, self.balance_weight = model.top_k, model.balance_weight
        self._classes: torch.Tensor | None = None

    def classes(self, logits: torch.Tensor) -> torch.Tensor:
        """(1, C, 1): the class indices, to compare labels (S, 1, B) with."""
        n = logits.shape[1]
        if self._classes is None or len(self._classes[0]) != n:
            self._classes = torch.arange(n).view(1, n, 1)
        return self._classes

    def forward(self, p: Params, c: Params, x: torch.Tensor):
        """x (S, F, B) -> (logits (S, C, B), gates (S, E, B), router probabilities (S, E, B))."""
        probs = self.router(p, c, x)
        gates = probs if self.top_k is None else top_k_gates(probs, self.top_k)
        expert_logits = self.experts(p, c, x)
        return (gates.unsqueeze(2) * expert_logits).sum(dim=1), gates, probs

    def losses(
        self, p: Params, c: Params, x: torch.Tensor, y: torch.Tensor, with_aux: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Each model's loss (S,) as training.loss_of computes it (cross-entropy, plus the
        weighted balance loss in training), and its count of right predictions (S,)."""
        logits, gates, probs = self.forward(p, c, x)
        loss = self._cross_entropy(torch.log_softmax(logits, dim=1), y)
        if with_aux and self.balance_weight:
            loss = loss + self.balance_weight * balance_loss(probs, gates)
        return loss, correct_count(logits, y)

    def objective(
        self, p: Params, c: Params, x: torch.Tensor, weight: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The training step's: (sum over models of their losses, to differentiate; each
        model's loss (S,) without gradient; the logits (S, C, B), detached).

        `weight` (S, C, B) is -1/B at each input's label and 0 elsewhere, so the sum of
        log-probabilities times it is the sum of the models' mean cross-entropies, and its
        gradient is each model's own (-1/B per label, as the mean's backward gives).
        """
        logits, gates, probs = self.forward(p, c, x)
        terms = torch.log_softmax(logits, dim=1) * weight
        total = terms.sum()
        loss = terms.detach().sum(dim=(1, 2))
        if self.balance_weight:
            aux = self.balance_weight * balance_loss(probs, gates)
            total = total + aux.sum()
            loss = loss + aux.detach()
        return total, loss, logits.detach()

    def _cross_entropy(self, log_probs: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """(S,): each model's mean of -log p(label) over its batch, as F.cross_entropy. The
        label's term is picked by a mask (gather's backward, a scatter along axis 1, costs
        more), which adds only exact zeros."""
        target = y.unsqueeze(1) == self.classes(log_probs)
        return -torch.where(target, log_probs, 0.0).sum(dim=1).mean(dim=1)


def correct_count(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """(S,): right predictions per model, logits (S, C, B), labels (S, B)."""
    return (first_argmax(logits) == y).sum(dim=1)


def first_argmax(values: torch.Tensor) -> torch.Tensor:
    """argmax over axis 1 (the first maximum, as argmax gives it): `max`'s indices, faster
    than `argmax` along a leading axis on CPU (docs/performance.md)."""
    return values.max(dim=1).indices


def top_k_gates(probs: torch.Tensor, k: int) -> torch.Tensor:
    """moe.top_k_gates per model, probs (S, E, B): each input's k largest probabilities,
    renormalised."""
    values, index = probs.topk(k, dim=1)
    sparse = torch.zeros_like(probs).scatter(1, index, values)
    return sparse / sparse.sum(dim=1, keepdim=True)


def balance_loss(probs: torch.Tensor, gates: torch.Tensor) -> torch.Tensor:
    """moe.balance_loss per model: probs, gates (S, E, B) -> (S,)."""
    n_experts = probs.shape[1]
    if gates is probs:  # dense routing: each input counts for its top expert
        dispatched = F.one_hot(first_argmax(probs), n_experts).to(probs.dtype).mT
    else:
        dispatched = (gates > 0).to(probs.dtype)
    f = dispatched.sum(dim=2) / dispatched.sum(dim=(1, 2)).unsqueeze(-1)
    return n_experts * (f.detach() * probs.mean(dim=2)).sum(dim=-1)
