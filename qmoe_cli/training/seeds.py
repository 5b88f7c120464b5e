"""One model trained from one seed: its split, its initial model, its training (alone, or
stacked with others of the same config) and its metrics. Everything random comes from the
seed, so a seed's numbers are the same however it is run."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch

from qmoe_cli.config import ExperimentConfig
from qmoe_cli.data import Splits, load_dataset
from qmoe_cli.metrics import (
    effective_inputs,
    effective_params,
    efficiency,
    evaluate,
)
from qmoe_cli.models import MixtureOfExperts, build_model, param_counts, qubits
from qmoe_cli.training.sequential import DTYPES, FitResult, fit, seed_everything


@dataclass
class SeedRun:
    seed: int
    metrics: dict
    fit: FitResult
    model: MixtureOfExperts
    splits: Splits


def run_seed(cfg: ExperimentConfig, seed: int, on_epoch=None) -> SeedRun:
    """Data split, model init and training, all from this one seed."""
    say = on_epoch or (lambda row: None)
    say({"phase": f"seed {seed}: data, model, rank at init"})  # minutes for a wide circuit
    start = prepare_seed(cfg, seed)
    result = fit(start.model, start.splits, cfg.train, seed, on_epoch)
    say({"phase": f"seed {seed}: test accuracy, trained rank"})
    return finish_seed(cfg, start, result)


def run_seeds(cfg: ExperimentConfig, seeds: list[int], on_epoch=None) -> list[SeedRun]:
    """run_seed for each seed, the seeds trained together as one stacked model when the
    stacked engine applies to the config (stacked.supports), one after another otherwise;
    the numbers are the same either way (tests/test_stacked.py). on_epoch(i, row): the
    epoch of the i-th seed."""
    return run_stack([cfg] * len(seeds), seeds, on_epoch)


def run_stack(cfgs: list[ExperimentConfig], seeds: list[int], on_epoch=None) -> list[SeedRun]:
    """run_seed(cfgs[i], seeds[i]) for each i, as one stacked model when the stacked engine
    takes the configs: they may differ only in seed, train.lr and train.weight_decay (sweep
    points), and stacked.supports must accept them. A stack of one is stacked too: its
    per-step overhead is lower (docs/performance.md, the stacked engine's S = 1 rows)."""
    from qmoe_cli.training import stacked  # torch modules of every kind: only when training

    if any(stacked.supports(c) is not None for c in cfgs):
        return [
            run_seed(c, s, None if on_epoch is None else functools.partial(on_epoch, i))
            for i, (c, s) in enumerate(zip(cfgs, seeds, strict=True))
        ]
    starts = [prepare_seed(c, s) for c, s in zip(cfgs, seeds, strict=True)]
    fits = stacked.fit_stacked(
        [p.model for p in starts],
        cfgs[0].model,
        [p.splits for p in starts],
        [c.train for c in cfgs],
        seeds,
        on_epoch,
    )
    return [finish_seed(c, p, r) for c, p, r in zip(cfgs, starts, fits, strict=True)]


@dataclass
class SeedStart:
    """A seed's split and freshly initialised model, before training."""

    seed: int
    splits: Splits
    model: MixtureOfExperts
    x_rank: torch.Tensor
    at_init: dict


def prepare_seed(cfg: ExperimentConfig, seed: int) -> SeedStart:
    # before any torch work: with torch's default (one thread per core) the rank's hundreds
    # of tiny backward passes are far slower (docs/performance.md, "Start-up")
    torch.set_num_threads(cfg.train.threads)
    splits = load_dataset(cfg.data, seed)
    seed_everything(seed)
    model = build_model(cfg.model, splits.n_features, splits.n_classes)
    x_rank = rank_inputs(model, splits)
    at_init = effective_params(model, x_rank)  # on a copy: training is as without it
    return SeedStart(seed, splits, model, x_rank, at_init)


def finish_seed(cfg: ExperimentConfig, start: SeedStart, result: FitResult) -> SeedRun:
    """The trained model's metrics."""
    seed, splits, model, at_init = start.seed, start.splits, start.model, start.at_init
    test = evaluate(model, *splits.tensors("test", DTYPES[cfg.train.dtype]))
    params = param_counts(model)
    trained = effective_params(model, start.x_rank)
    best = result.history[result.best_epoch - 1]
    metrics = {
        "seed": seed,
        "test_accuracy": test["accuracy"],
        "test_f1_macro": test["f1_macro"],
        "test_per_class_accuracy": test["per_class_accuracy"],
        "val_accuracy": best["val_acc"],
        "params": params,
        "qubits": qubits(model),
        "eta": efficiency(test["accuracy"], params["router"]),
        "effective_params": {
            "init": at_init["rank"],
            "trained": trained["rank"],
            "nominal": trained["nominal"],
            "n_inputs": trained["n_inputs"],
            "rtol": trained["rtol"],
        },
        "eta_effective": (
            float("nan")
            if trained["rank"] is None
            else efficiency(test["accuracy"], trained["rank"])
        ),
        "epochs_run": result.epochs_run,
        "best_epoch": result.best_epoch,
        "stopped_early": result.stopped_early,
        "epochs_to_90_val": next((r["epoch"] for r in result.history if r["val_acc"] >= 0.9), None),
        "fit_seconds": result.seconds,
        "usage": test["usage"],
        "data": splits.info(),
    }
    return SeedRun(seed, metrics, result, model, splits)


def rank_inputs(model: MixtureOfExperts, splits: Splits) -> torch.Tensor:
    """The training inputs the effective parameter count uses (metrics.effective_inputs)."""
    n = effective_inputs(len(splits.X_train), param_counts(model)["router"], model.experts.count)
    return torch.as_tensor(splits.X_train[:n], dtype=torch.float64)
