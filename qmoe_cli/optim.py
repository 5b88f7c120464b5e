"""Adam and SGD as torch.optim's fused CPU kernels, without torch.optim.

torch.optim.Optimizer wraps its methods so that their first call imports torch._dynamo,
start-up that may cost a command more than its fit (docs/performance.md, "Start-up"). These
classes call the
very kernels `torch.optim.Adam(..., fused=True)` and `torch.optim.SGD(..., fused=True)` call
(`torch._fused_adam_`, `torch._fused_sgd_`) with the same state, so every number is the
same bit for bit (tests/test_optim.py trains both side by side).
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

ADAM_BETAS, ADAM_EPS = (0.9, 0.999), 1e-8  # torch.optim.Adam's defaults


def adam_step(params, grads, exp_avgs, exp_avg_sqs, steps, lr, weight_decay) -> None:
    """One fused Adam update in place (steps already advanced), as Adam(fused=True) does."""
    torch._fused_adam_(
        params,
        grads,
        exp_avgs,
        exp_avg_sqs,
        [],
        steps,
        amsgrad=False,
        lr=lr,
        beta1=ADAM_BETAS[0],
        beta2=ADAM_BETAS[1],
        weight_decay=weight_decay,
        eps=ADAM_EPS,
        maximize=False,
        grad_scale=None,
        found_inf=None,
    )


def sgd_step(params, grads, buffers, lr, momentum, weight_decay, first: bool) -> None:
    """One fused SGD update in place (buffers: [] without momentum), as torch.optim.SGD."""
    torch._fused_sgd_(
        params,
        grads,
        buffers,
        weight_decay=weight_decay,
        momentum=momentum,
        lr=lr,
        dampening=0.0,
        nesterov=False,
        maximize=False,
        is_first_step=first,
        grad_scale=None,
        found_inf=None,
    )


class _Fused:
    """What both optimizers share: the trainable parameters, lr, weight decay, zero_grad."""

    def __init__(self, params: Iterable[torch.Tensor], lr: float, weight_decay: float):
        self.params = [p for p in params if p.requires_grad]
        self.lr, self.weight_decay = lr, weight_decay

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    def _live(self) -> list[torch.Tensor]:
        """The parameters with a gradient this step (torch.optim skips the others)."""
        return [p for p in self.params if p.grad is not None]


class FusedAdam(_Fused):
    """Adam with L2 weight decay added to the gradient (torch.optim.Adam's semantics)."""

    def __init__(self, params: Iterable[torch.Tensor], lr: float, weight_decay: float = 0.0):
        super().__init__(params, lr, weight_decay)
        self.state: dict[torch.Tensor, dict[str, torch.Tensor]] = {}

    @torch.no_grad()
    def step(self) -> None:
        live = self._live()
        if not live:
            return
        for p in live:
            if p not in self.state:  # torch.optim's lazy state: fused steps count in float32
                self.state[p] = {
                    "step": torch.zeros((), dtype=torch.float32, device=p.device),
                    "exp_avg": torch.zeros_like(p, memory_format=torch.preserve_format),
                    "exp_avg_sq": torch.zeros_like(p, memory_format=torch.preserve_format),
                }
        states = [self.state[p] for p in live]
        steps = [s["step"] for s in states]
        torch._foreach_add_(steps, 1)
        adam_step(
            live,
            [p.grad for p in live],
            [s["exp_avg"] for s in states],
            [s["exp_avg_sq"] for s in states],
            steps,
            self.lr,
            self.weight_decay,
        )


class FusedSGD(_Fused):
    """SGD with momentum and L2 weight decay (torch.optim.SGD's semantics, no dampening)."""

    def __init__(
        self,
        params: Iterable[torch.Tensor],
        lr: float,
        momentum: float = 0.0,
        weight_decay: float = 0.0,
    ):
        super().__init__(params, lr, weight_decay)
        self.momentum = momentum
        self.buffers: dict[torch.Tensor, torch.Tensor] = {}

    @torch.no_grad()
    def step(self) -> None:
        live = self._live()
        if not live:
            return
        first = self.momentum != 0 and not self.buffers
        if first:
            self.buffers = {p: torch.empty_like(p.grad) for p in live}
        sgd_step(
            live,
            [p.grad for p in live],
            [] if self.momentum == 0 else [self.buffers[p] for p in live],
            self.lr,
            self.momentum,
            self.weight_decay,
            first,
        )
