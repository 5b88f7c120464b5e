"""One tuning trial: a config trained on its seeds and scored on the validation split only.

The test split is withheld before anything is built: each seed's Splits reaches the model
and the fit loop with its test rows replaced by `Withheld`, which raises on any use, so a
trial cannot compute (or store) a test number even by mistake. The models are initialised
and trained as `qmoe train` trains them (same seed, same data, same numbers: the stacked
engine where it applies), minus the test evaluation and the effective parameter counts.
"""

from __future__ import annotations

import dataclasses
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


def score_trial(cfg: ExperimentConfig, objective: str) -> dict:
    """Train `cfg` on each of its seeds and score the kept epoch on validation: {"value":
    mean over seeds, "per_seed": [...], "epochs_run": [...], "diverged": reason or None}.
    A diverged training (a non-finite loss) scores the worst value: 0 accuracy, infinite
    loss."""
    from qmoe_cli.training import stacked  # torch modules of every kind: only when training

    torch.set_num_threads(cfg.train.threads)
    seeds = list(cfg.seeds)
    splits = [without_test(load_dataset(cfg.data, s)) for s in seeds]
    models = []
    for seed, split in zip(seeds, splits, strict=True):
        seed_everything(seed)
        models.append(build_model(cfg.model, split.n_features, split.n_classes))
    try:
        if stacked.supports(cfg) is None:
            fits = stacked.fit_stacked(models, cfg.model, splits, cfg.train, seeds)
        else:
            fits = [
                fit(m, s, cfg.train, seed) for m, s, seed in zip(models, splits, seeds, strict=True)
            ]
    except TrainingError as exc:
        worst = 0.0 if objective == "val_accuracy" else math.inf
        return {"value": worst, "per_seed": [], "epochs_run": [], "diverged": str(exc)}
    per_seed = [_kept(result, objective) for result in fits]
    return {
        "value": sum(per_seed) / len(per_seed),
        "per_seed": per_seed,
        "epochs_run": [result.epochs_run for result in fits],
        "diverged": None,
    }


def _kept(result: FitResult, objective: str) -> float:
    """The objective at the epoch whose weights were kept."""
    row = result.history[result.best_epoch - 1]
    return float(row["val_acc"] if objective == "val_accuracy" else row["val_loss"])
