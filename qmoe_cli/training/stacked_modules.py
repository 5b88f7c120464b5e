"""S models of one architecture as one computation: every tensor gains a leading model axis.

The stacked training engine (qmoe_cli/training/stacked.py) keeps each parameter of S models of one
architecture as one tensor with a leading model axis (S, *shape) (`ParamLayout`: which,
and a model's values as one flat row), and `StackedMoE` computes the mixture of all S
models on their own inputs in one pass of batched operations (bmm instead of mm, a leading
axis on the quantum unitary, the compiled circuit kernel looping over parameter sets, a
leading axis through a noisy circuit's superoperators), so that the per-operation overhead
that dominates these tiny models is paid once per step instead of S times.

Layout: activations are (S, width, B), the batch innermost. The widths here are tiny (2
features, 4 experts, 2 classes) and torch's CPU kernels vectorise along the innermost axis:
a softmax over an innermost axis of 4 costs far more than over a leading one (measured:
docs/performance.md, the stacked engine's "How"). So inputs
are x (S, F, B), gates (S, E, B), expert logits (S, E, C, B), logits (S, C, B).

Every stacked form computes, per model, what the module computes alone (tests hold them to
agree): the same functions on the same values, only batched. A component kind without a
stacked form here is simply trained one model at a time (`stacked_router`/`stacked_experts`
return None, and qmoe_cli/training/stacked.py's `supports` gives the reason); to add one, write its
forward below and list its module class in `ROUTER_FORMS` / `EXPERT_FORMS`, and its config
type in `STACKED_ROUTER_TYPES` / `STACKED_EXPERT_TYPES`.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from qmoe_cli.models.moe import MixtureOfExperts
from qmoe_cli.models.quantum_router import QuantumRouter
from qmoe_cli.models.torch_experts import LinearExperts, MLPExperts, QuantumExperts
from qmoe_cli.models.torch_routers import (
    FourierRouter,
    LinearRouter,
    MLPRouter,
    SingleExpertRouter,
)
from qmoe_cli.quantum.torch_backend import TorchStatevector
from qmoe_cli.quantum.torch_density import TorchDensityMatrix

Params = dict[str, torch.Tensor]  # parameter name -> (S, *shape)
StackedForward = Callable[[Params, Params, torch.Tensor], torch.Tensor]

# config `type` tags with a stacked form (checked by stacked.supports before any model is built)
STACKED_ROUTER_TYPES = ("linear", "mlp", "fourier", "quantum", "none")
STACKED_EXPERT_TYPES = ("linear", "mlp", "quantum")


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


def linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """nn.Linear per model: x (S, in, B), weight (S, out, in), bias (S, out) -> (S, out, B)."""
    return torch.baddbmm(bias.unsqueeze(-1), weight, x)


# ------------------------------------------------------------ routers: (S, F, B) -> (S, E, B)


def _linear_router(module: LinearRouter, prefix: str) -> StackedForward:
    w, b = f"{prefix}.linear.weight", f"{prefix}.linear.bias"

    def forward(p: Params, c: Params, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(linear(x, p[w], p[b]), dim=1)

    return forward


def _mlp_router(module: MLPRouter, prefix: str) -> StackedForward:
    steps: list = []
    for i, layer in enumerate(module.net):
        if isinstance(layer, nn.Linear):
            steps.append((f"{prefix}.net.{i}.weight", f"{prefix}.net.{i}.bias"))
        else:  # an elementwise activation: the module itself applies to any shape
            steps.append(layer)

    def forward(p: Params, c: Params, x: torch.Tensor) -> torch.Tensor:
        h = x
        for step in steps:
            h = linear(h, p[step[0]], p[step[1]]) if isinstance(step, tuple) else step(h)
        return torch.softmax(h, dim=1)

    return forward


def _fourier_router(module: FourierRouter, prefix: str) -> StackedForward:
    w, b = f"{prefix}.linear.weight", f"{prefix}.linear.bias"
    freq, phase, constant = (f"{prefix}.{k}" for k in ("freq", "phase", "constant"))

    def forward(p: Params, c: Params, x: torch.Tensor) -> torch.Tensor:
        # as FourierRouter.features, with each model's own terms (S, T, F): (S, T, F, B)
        factors = torch.sin(x.unsqueeze(1) * c[freq].unsqueeze(-1) + c[phase].unsqueeze(-1))
        factors = torch.where(c[constant].unsqueeze(-1), torch.ones_like(factors), factors)
        return torch.softmax(linear(factors.prod(dim=2), p[w], p[b]), dim=1)

    return forward


def stacked_circuit_outputs(
    backend: TorchStatevector | TorchDensityMatrix, weights: torch.Tensor, x: torch.Tensor
) -> torch.Tensor:
    """backend.outputs for S parameter sets, each on its own inputs: weights
    (S, *weight_shape), x (S, F, B) -> (S, outputs, B).

    Noiseless (TorchStatevector): where the backend would use its compiled kernel for one
    model (same rule, same batch), the kernel runs over all S sets in one call; otherwise
    the path one model would take at this batch (TorchStatevector.stacked_probs): the S
    unitaries built at once and applied by one batched matmul, or, for wide circuits on
    small batches, the layers applied to the S batched states. Noisy
    (TorchDensityMatrix): its own forward with a leading model axis (each model's
    superoperator, or its Heisenberg observables, built at once; one batched matmul with
    each model's embedded density matrices; readout error as for one model).
    """
    if isinstance(backend, TorchDensityMatrix):
        return backend.outputs(weights, x.mT).mT
    if backend._use_kernel(weights[0], x[0].mT):
        return _run_kernel(backend, weights, x)
    probs = backend.stacked_probs(weights, x.mT)  # (S, B, d)
    if backend._np["readout"] is not None:
        probs = probs @ backend._const("readout", weights.dtype)
    return probs.mT


def _run_kernel(backend: TorchStatevector, weights, x, *adapter) -> torch.Tensor:
    # Imported here: Numba is a slow import (docs/performance.md), and only circuits that
    # take the compiled kernel need it (backend._kernel has imported it already).
    from qmoe_cli.quantum.jit_kernel import run_stacked_kernel

    return run_stacked_kernel(backend._kernel, weights, x, True, *adapter)


def _quantum_router(module: QuantumRouter, prefix: str) -> StackedForward:
    backend = module.backend
    w = f"{prefix}.weights"
    aw, ab = f"{prefix}.adapter.weight", f"{prefix}.adapter.bias"

    def forward(p: Params, c: Params, x: torch.Tensor) -> torch.Tensor:
        weights = p[w]
        x = x.to(weights.dtype)
        if module.adapter is None:
            return stacked_circuit_outputs(backend, weights, x)
        same_dtype = p[aw].dtype == p[ab].dtype == weights.dtype
        fused = isinstance(backend, TorchStatevector) and same_dtype  # as QuantumRouter.forward
        if fused and backend._use_kernel(weights[0], x[0].mT):  # as adapted_outputs
            return _run_kernel(backend, weights, x, p[aw], p[ab])
        out = stacked_circuit_outputs(backend, weights, x).to(p[aw].dtype)
        return torch.softmax(linear(out, p[aw], p[ab]), dim=1)

    return forward


def _single_expert_router(module: SingleExpertRouter, prefix: str) -> StackedForward:
    def forward(p: Params, c: Params, x: torch.Tensor) -> torch.Tensor:
        return torch.ones(x.shape[0], 1, x.shape[2], dtype=x.dtype)

    return forward


def _quantum_stackable(module: nn.Module) -> bool:
    """A circuit simulated by the noiseless torch backend (its kernel or unitary path), or by
    the noisy one with a stacked strategy (superoperator or Heisenberg) and without shots
    (sampling is evaluation only, and its draws would come in another order)."""
    backend = module.backend
    if type(backend) is TorchStatevector:
        return backend.strategy == "auto"
    if type(backend) is TorchDensityMatrix:
        return backend.stackable
    return False


ROUTER_FORMS: dict[type, Callable[[nn.Module, str], StackedForward]] = {
    LinearRouter: _linear_router,
    MLPRouter: _mlp_router,
    FourierRouter: _fourier_router,
    QuantumRouter: _quantum_router,
    SingleExpertRouter: _single_expert_router,
}


# ------------------------------------------------------------ experts: (S, F, B) -> (S, E, C, B)


def _linear_experts(module: LinearExperts, prefix: str) -> StackedForward:
    w, b = f"{prefix}.linear.weight", f"{prefix}.linear.bias"
    shape = (module.count, module.n_outputs)

    def forward(p: Params, c: Params, x: torch.Tensor) -> torch.Tensor:
        return linear(x, p[w], p[b]).unflatten(1, shape)

    return forward


def _mlp_experts(module: MLPExperts, prefix: str) -> StackedForward:
    layers = [(f"{prefix}.weights.{k}", f"{prefix}.biases.{k}") for k in range(len(module.weights))]
    activation, count = module.activation, module.count

    def forward(p: Params, c: Params, x: torch.Tensor) -> torch.Tensor:
        # MLPExperts per model: layer k of expert e maps h (S, E, in, B) by its weight
        # (S, E, in, out) and bias (S, E, 1, out), as one bmm over S E
        n = x.shape[0]
        h = x.unsqueeze(1).expand(n, count, *x.shape[1:]).flatten(0, 1)  # (S E, F, B)
        for k, (w, b) in enumerate(layers):
            h = torch.baddbmm(p[b].flatten(0, 1).mT, p[w].flatten(0, 1).mT, h)
            if k < len(layers) - 1:
                h = activation(h)
        return h.unflatten(0, (n, count))  # (S, E, C, B)

    return forward


def _quantum_experts(module: QuantumExperts, prefix: str) -> StackedForward:
    backend, count = module.backend, module.count
    w, aw, ab = (f"{prefix}.{k}" for k in ("weights", "adapter_weight", "adapter_bias"))

    def forward(p: Params, c: Params, x: torch.Tensor) -> torch.Tensor:
        # QuantumExperts per model: the S E circuits as S E parameter sets, expert e of
        # model s on model s's inputs
        weights = p[w]
        n = weights.shape[0]
        x = x.to(weights.dtype).repeat_interleave(count, dim=0)  # (S E, F, B)
        out = stacked_circuit_outputs(backend, weights.flatten(0, 1), x)  # (S E, out, B)
        if module.adapter_weight is None:
            return torch.log(out.clamp_min(1e-12)).unflatten(0, (n, count))
        logits = linear(out, p[aw].flatten(0, 1), p[ab].flatten(0, 1))
        return logits.unflatten(0, (n, count))

    return forward


EXPERT_FORMS: dict[type, Callable[[nn.Module, str], StackedForward]] = {
    LinearExperts: _linear_experts,
    MLPExperts: _mlp_experts,
    QuantumExperts: _quantum_experts,
}


def stacked_router(module: nn.Module, prefix: str = "router") -> StackedForward | None:
    form = ROUTER_FORMS.get(type(module))
    if form is None or (isinstance(module, QuantumRouter) and not _quantum_stackable(module)):
        return None
    return form(module, prefix)


def stacked_experts(module: nn.Module, prefix: str = "experts") -> StackedForward | None:
    form = EXPERT_FORMS.get(type(module))
    if form is None or (isinstance(module, QuantumExperts) and not _quantum_stackable(module)):
        return None
    return form(module, prefix)


# ----------------------------------------------------------------- the mixture


class StackedMoE:
    """MixtureOfExperts for S models of one architecture (built from any one of them)."""

    def __init__(self, model: MixtureOfExperts):
        router, experts = stacked_router(model.router), stacked_experts(model.experts)
        if router is None or experts is None:
            part = "router" if router is None else "experts"
            raise ValueError(f"{type(getattr(model, part)).__name__} has no stacked form")
        self.router, self.experts = router, experts
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
