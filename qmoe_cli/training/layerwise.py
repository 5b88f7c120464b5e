"""Layer-wise training of a quantum router (`train.layerwise`; Skolik et al. 2021, "Layerwise
learning for quantum neural networks", Quantum Mach. Intell. 3, 5; docs/quantum.md,
"Layer-wise training").

The schedule: the configured stages in order, each for its epochs, then the epochs left of
`train.epochs` as one more stage with the full circuit and every weight trained. During a
stage of k layers the router applies only the first k layers of its ansatz
(QuantumRouter.set_active_layers: truncated, not zero angles), so its outputs are those of a
k-layer router with the first k rows of its weights. The circuit weights that do not train
in a stage (the layers not applied; with `train: new` also the layers of earlier stages) get
a zero gradient, and their values are put back after every optimizer step, so that neither
Adam's momentum nor weight decay moves them. One optimizer serves the whole run, as in plain
training: a single stage of the full depth training every layer is plain training, step
for step. The experts (and an `expval` router's adapter) always train.

The layers a stage adds (every stage but the first, and the full-circuit remainder) start at
zero angles when first applied (`train.layerwise_init: zero`, Skolik et al.'s choice: with
RY + CZ and basis-state probabilities, zero layers appended to the circuit leave its outputs
as they were, so a stage starts where the last one ended), or keep the values the router was
built with (`kept`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from qmoe_cli.config import TrainConfig


@dataclass(frozen=True)
class Stage:
    """Epochs `first`..`last` (1-based, inclusive): the first `layers` layers applied, the
    circuit-weight rows `trained_from`..`layers` - 1 trained."""

    index: int  # 1-based; the full-circuit remainder is the last
    first: int
    last: int
    layers: int
    trained_from: int

    def full(self, n_layers: int) -> bool:
        """Whether the whole circuit is applied (its validation loss is the model's)."""
        return self.layers == n_layers


def schedule(cfg: TrainConfig, n_layers: int) -> list[Stage]:
    """The run's stages, the full-circuit remainder included when epochs are left."""
    stages, epoch, before = [], 1, 0
    for i, s in enumerate(cfg.layerwise or (), start=1):
        start = before if s.train == "new" else 0
        stages.append(Stage(i, epoch, epoch + s.epochs - 1, s.layers, start))
        epoch, before = epoch + s.epochs, s.layers
    if epoch <= cfg.epochs:
        stages.append(Stage(len(stages) + 1, epoch, cfg.epochs, n_layers, 0))
    return stages


class LayerwiseControl:
    """What fit does with a schedule: the router's depth and the held weights per stage."""

    def __init__(self, router: torch.nn.Module, cfg: TrainConfig):
        self.router = router
        self.n_layers = router.spec.n_layers
        self.stages = schedule(cfg, self.n_layers)
        self.stage: Stage | None = None
        self.zero_added = cfg.layerwise_init == "zero"
        self.held: torch.Tensor | None = None  # rows of the weights held this stage
        self.values: torch.Tensor | None = None

    def at_epoch(self, epoch: int) -> Stage:
        """Enter the stage of this epoch (the router's depth, the weights it holds)."""
        stage = next(s for s in self.stages if s.first <= epoch <= s.last)
        if stage is not self.stage:
            added_from = self.stage.layers if self.stage is not None else stage.layers
            if self.zero_added and stage.layers > added_from:
                with torch.no_grad():  # the added layers start at zero angles
                    self.router.weights[added_from : stage.layers] = 0.0
            self.stage = stage
            self.router.set_active_layers(stage.layers)
            rows = torch.arange(self.n_layers)
            held = (rows < stage.trained_from) | (rows >= stage.layers)
            self.held = held if bool(held.any()) else None
            self.values = self.router.weights.detach().clone() if self.held is not None else None
        return stage

    def before_step(self) -> None:
        """Zero the held rows' gradient (Adam's moments learn nothing of them)."""
        grad = self.router.weights.grad
        if self.held is not None and grad is not None:
            grad[self.held] = 0.0

    @torch.no_grad()
    def after_step(self) -> None:
        """Put the held rows back (momentum and weight decay move nothing held)."""
        if self.held is not None:
            self.router.weights[self.held] = self.values[self.held]

    def finish(self) -> None:
        """The full circuit again, for evaluation."""
        self.router.set_active_layers(None)
