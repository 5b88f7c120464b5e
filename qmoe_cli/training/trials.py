"""One tuning trial: a config trained on its seeds and scored on the validation split only.

The test split is withheld before anything is built: each seed's Splits reaches the model
and the fit loop with its test rows replaced by `Withheld`, which raises on any use, so a
trial cannot compute (or store) a test number even by mistake. The models are initialised
and trained as `qmoe train` trains them (same seed, same data, same numbers: the stacked
engine where it applies), minus the test evaluation and the effective parameter counts.

Trials asked together (`score_trials`) whose configs differ only in what a stack holds per
model (train.lr, train.weight_decay: stacked.hyper_keys) train as one stacked model, every
trial's seeds in it: each model keeps its own initialisation, data, batches and optimizer
settings, so each trial's value is the one it gets alone (to the stacked engine's 1e-6; in
practice the same to ~1e-12). A divergence in such a stack (one trial's lr too high) trains
its trials again one at a time, so that one trial's failure is not the others'.

A trial scored alone may report its value as it trains (`report`, for a pruner): after each
epoch, once every one of its seeds has trained that epoch (or stopped early before it), the
mean over its seeds of the objective at the epoch each would keep if training ended there
(`CurveReporter`). The stacked engine trains the seeds together, so a trial reports from its
first epoch; seeds trained one after another report while the last one trains. The values
are the same either way; `report` raising stops the training (a pruned trial).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math

import torch

from qmoe_cli.config import ExperimentConfig
from qmoe_cli.data import Splits, load_dataset
from qmoe_cli.errors import TrainingError
from qmoe_cli.models import build_model
from qmoe_cli.training.sequential import FitResult, fit, seed_everything


class TestSplitWithheld(RuntimeError):
    """Something in a tuning trial reached for the test split."""


class Withheld:
    """Stands for a split's test rows in a trial: any use raises TestSplitWithheld."""

    def _refuse(self, *args, **kwargs):
        raise TestSplitWithheld("a tuning trial must not read the test split")

    __len__ = __iter__ = __getitem__ = __array__ = _refuse

    def __getattr__(self, name):
        self._refuse()


def without_test(splits: Splits) -> Splits:
    """The splits with their test rows withheld."""
    return dataclasses.replace(splits, X_test=Withheld(), y_test=Withheld())


def score_trial(cfg: ExperimentConfig, objective: str, report=None) -> dict:
    """Train `cfg` on each of its seeds and score the kept epoch on validation: {"value":
    mean over seeds, "per_seed": [...], "epochs_run": [...], "diverged": reason or None}.
    A diverged training (a non-finite loss) scores the worst value: 0 accuracy, infinite
    loss. `report(epoch, value)`: the trial's value so far after each epoch (CurveReporter);
    whatever it raises stops the training and propagates."""
    return _score_group([cfg], objective, report)[0]


def score_trials(cfgs: list[ExperimentConfig], objective: str, stack: bool = True) -> list[dict]:
    """score_trial for each config; with `stack`, configs that differ only in train.lr and
    train.weight_decay (and take the stacked engine) train as one stack. The same values
    either way."""
    from qmoe_cli.training import stacked

    if not stack:
        return [score_trial(cfg, objective) for cfg in cfgs]
    groups: dict[str, list[int]] = {}
    for i, cfg in enumerate(cfgs):
        key = stack_key(cfg) if stacked.supports(cfg) is None else f"alone {i}"
        groups.setdefault(key, []).append(i)
    results: list[dict | None] = [None] * len(cfgs)
    for members in groups.values():
        try:
            scored = _score_group([cfgs[i] for i in members], objective)
        except TrainingError:  # one diverged in the stack: each alone, as it would be
            scored = [score_trial(cfgs[i], objective) for i in members]
        for i, result in zip(members, scored, strict=True):
            results[i] = result
    return results  # type: ignore[return-value]


def stack_key(cfg: ExperimentConfig) -> str:
    """Configs with the same key train as one stack: the same but for train.lr and
    train.weight_decay."""
    raw = cfg.model_dump(mode="json")
    for key in ("lr", "weight_decay"):
        raw["train"].pop(key)
    return json.dumps(raw, sort_keys=True)


class CurveReporter:
    """The on_epoch callback of one trial's seeds: after each epoch that all of them have
    trained (or stopped early before), `report(epoch, value)` with the mean over the seeds of
    the objective at the epoch each would keep were training to end there (the best
    validation loss so far with early stopping, as fit keeps it; else that epoch)."""

    def __init__(self, cfg: ExperimentConfig, objective: str, report):
        self.train, self.objective, self.report = cfg.train, objective, report
        n = len(cfg.seeds)
        self.kept: list[list[float]] = [[] for _ in range(n)]  # per seed: kept value per epoch
        self.best = [math.inf] * n
        self.waited = [0] * n
        self.stopped = [False] * n
        self.reported = 0

    def __call__(self, i: int, row: dict) -> None:
        if "val_loss" not in row:  # fit's progress rows within an epoch
            return
        value = float(row["val_acc"] if self.objective == "val_accuracy" else row["val_loss"])
        kept = self.kept[i]
        if row["val_loss"] < self.best[i] - self.train.min_delta or not kept:
            self.best[i], self.waited[i] = row["val_loss"], 0
            kept.append(value)
        else:
            self.waited[i] += 1
            kept.append(kept[-1] if self.train.early_stopping else value)
        if self.train.early_stopping and self.waited[i] >= self.train.patience:
            self.stopped[i] = True
        while True:
            epoch = self.reported + 1
            ready = all(len(k) >= epoch or s for k, s in zip(self.kept, self.stopped, strict=True))
            if not ready or all(len(k) < epoch for k in self.kept):
                return
            values = [k[min(epoch, len(k)) - 1] for k in self.kept]
            self.reported = epoch
            self.report(epoch, sum(values) / len(values))


def _score_group(cfgs: list[ExperimentConfig], objective: str, report=None) -> list[dict]:
    """Configs of one stack_key (or one config), each on its seeds: one stacked model when
    the stacked engine applies. One config: a divergence scores the worst value. Several:
    a divergence raises TrainingError (score_trials trains them one by one)."""
    from qmoe_cli.training import stacked  # torch modules of every kind: only when training

    first = cfgs[0]
    if report is not None and len(cfgs) != 1:
        raise ValueError("report: one trial at a time")
    torch.set_num_threads(first.train.threads)
    data: dict[int, Splits] = {}  # the same data config in a group: one load per seed
    models, splits, trains, seeds = [], [], [], []
    for cfg in cfgs:
        for seed in cfg.seeds:
            if len(cfgs) == 1 or seed not in data:
                data[seed] = without_test(load_dataset(cfg.data, seed))
            seed_everything(seed)
            models.append(build_model(cfg.model, data[seed].n_features, data[seed].n_classes))
            splits.append(data[seed])
            trains.append(cfg.train)
            seeds.append(seed)
    curve = None if report is None else CurveReporter(first, objective, report)
    try:
        if stacked.supports(first) is None:
            fits = stacked.fit_stacked(models, first.model, splits, trains, seeds, curve)
        else:
            fits = [
                fit(m, s, t, seed, None if curve is None else functools.partial(curve, i))
                for i, (m, s, t, seed) in enumerate(zip(models, splits, trains, seeds, strict=True))
            ]
    except TrainingError as exc:
        if len(cfgs) > 1:
            raise
        worst = 0.0 if objective == "val_accuracy" else math.inf
        return [{"value": worst, "per_seed": [], "epochs_run": [], "diverged": str(exc)}]
    results, at = [], 0
    for cfg in cfgs:
        mine, at = fits[at : at + len(cfg.seeds)], at + len(cfg.seeds)
        per_seed = [_kept(result, objective) for result in mine]
        results.append(
            {
                "value": sum(per_seed) / len(per_seed),
                "per_seed": per_seed,
                "epochs_run": [result.epochs_run for result in mine],
                "diverged": None,
            }
        )
    return results


def _kept(result: FitResult, objective: str) -> float:
    """The objective at the epoch whose weights were kept."""
    row = result.history[result.best_epoch - 1]
    return float(row["val_acc"] if objective == "val_accuracy" else row["val_loss"])
