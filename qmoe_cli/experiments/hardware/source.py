"""The trained routers of a run folder that `qmoe hardware` runs: which folders, variants and
seeds, each router's weights and its classical experts."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from qmoe_cli.config import HardwareConfig
from qmoe_cli.errors import ConfigError
from qmoe_cli.runs.cells import read_cell
from qmoe_cli.runs.members import choose
from qmoe_cli.runs.members import members as _members
from qmoe_cli.runs.members import train_config as _train_config

CLASSICAL_ROUTERS = ("linear", "mlp", "fourier", "spectrum_matched")


@dataclass
class TrainedRouter:
    """One trained quantum router (a variant x seed) and what it is scored on."""

    variant: str
    seed: int
    model: torch.nn.Module  # the whole mixture (its experts score the gates)
    x: torch.Tensor  # the test inputs evaluated
    y: torch.Tensor
    recorded_accuracy: float  # the run's own test accuracy (the whole test split)
    data: dict  # the seed's DataInfo

    @property
    def spec(self):
        return self.model.router.spec

    @property
    def weights(self) -> torch.Tensor:
        return self.model.router.weights.detach()


@dataclass
class Source:
    path: Path
    kind: str
    name: str
    routers: list[TrainedRouter]
    baselines: dict[str, dict]  # name -> {"router": type, "per_seed": [accuracy]}
    seeds: list[int]
    variants: list[str]
    epochs: int | None
    early_stopping: bool | None
    skipped: list[str] = field(default_factory=list)


def load_source(cfg: HardwareConfig) -> Source:
    """The run's trained quantum routers with classical experts (the chosen variants and
    seeds), and its classical routers as baselines scored on the same inputs."""
    path = Path(cfg.run)
    kind, name, candidates, baseline_folders = _members(path)
    quantum, skipped, classical = [], [], []
    for variant, folder in candidates:
        vcfg = _train_config(folder)
        router, experts = vcfg.model.router.type, vcfg.model.experts.type
        dephased = router == "quantum" and vcfg.model.router.mechanism == "dephased"
        if dephased:  # complete dephasing between layers has no gate-only circuit
            skipped.append(f"{variant} (mechanism dephased: no unitary circuit to run)")
        elif router == "quantum" and experts != "quantum":
            quantum.append((variant, folder, vcfg))
        elif router == "quantum":
            skipped.append(f"{variant} (quantum experts: not classical, not run here)")
    for variant, folder in baseline_folders:
        vcfg = _train_config(folder)
        if vcfg.model.router.type in CLASSICAL_ROUTERS:
            classical.append((variant, folder, vcfg))
    if not quantum:
        routers = sorted({_train_config(f).model.router.type for _, f in candidates})
        raise ConfigError(
            f"{path}: no trained quantum router with classical experts to run (model.router."
            f"type: {', '.join(routers) or 'none'}); qmoe hardware runs quantum routers"
        )
    quantum, seeds = choose(path, quantum, cfg.variants, cfg.seeds)
    routers = []
    for variant, folder, vcfg in quantum:
        for seed in seeds:
            cell = read_cell(folder / f"seed-{seed}", vcfg, seed)
            x, y = cell.splits.tensors("test", torch.float64)
            n = len(x) if cfg.max_inputs is None else min(cfg.max_inputs, len(x))
            model = cell.model.double().eval()
            routers.append(
                TrainedRouter(
                    variant,
                    seed,
                    model,
                    x[:n],
                    y[:n],
                    float(cell.metrics["test_accuracy"]),
                    dict(cell.metrics["data"]),
                )
            )
    baselines = {}
    for variant, folder, vcfg in classical:
        accs = []
        for seed in seeds:
            cell = read_cell(folder / f"seed-{seed}", vcfg, seed)
            x, y = cell.splits.tensors("test", torch.float64)
            n = len(routers[0].x)
            with torch.no_grad():
                pred = cell.model.double().eval()(x[:n]).logits.argmax(dim=1)
            accs.append(float((pred == y[:n]).double().mean()))
        baselines[variant] = {"router": vcfg.model.router.type, "per_seed": accs}
    first = quantum[0][2]
    return Source(
        path.resolve(),
        kind,
        name,
        routers,
        baselines,
        seeds,
        [v for v, _, _ in quantum],
        first.train.epochs,
        first.train.early_stopping,
        skipped,
    )
