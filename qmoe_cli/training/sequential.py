"""One fit loop for every model: mini-batch training with early stopping on validation loss."""

from __future__ import annotations

import copy
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from qmoe_cli.config import TrainConfig
from qmoe_cli.data import Splits
from qmoe_cli.errors import ConfigError, TrainingError
from qmoe_cli.models import MixtureOfExperts
from qmoe_cli.optim import FusedAdam, FusedSGD
from qmoe_cli.training.layerwise import LayerwiseControl
from qmoe_cli.workers import raise_if_interrupted

DTYPES = {"float32": torch.float32, "float64": torch.float64}
# on_epoch gets a row per epoch, and between them, at most this often, a progress row
# {"epoch", "batch" (done), "batches"}: only an epoch slower than this sends any.
EpochCallback = Callable[[dict], None]
BATCH_REPORT_SECONDS = 2.0


@dataclass
class FitResult:
    history: list[dict] = field(default_factory=list)  # one row per epoch
    best_epoch: int = 0  # epoch whose weights were kept (1-based)
    epochs_run: int = 0
    stopped_early: bool = False
    seconds: float = 0.0


def seed_everything(seed: int) -> None:
    """Seed every generator the model and data code may touch."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def make_optimizer(model: torch.nn.Module, cfg: TrainConfig) -> FusedAdam | FusedSGD:
    # The fused kernels cut the per-step overhead that dominates these small models;
    # qmoe_cli/optim.py calls them without torch.optim (which imports torch._dynamo).
    if cfg.optimizer == "adam":
        return FusedAdam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    return FusedSGD(
        model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay
    )


def loss_of(
    model: MixtureOfExperts, x: torch.Tensor, y: torch.Tensor, with_aux: bool = False
) -> tuple[torch.Tensor, int]:
    """Cross-entropy of the mixture's logits (plus the balance loss in training), and how
    many predictions were right."""
    out = model(x)
    loss = F.cross_entropy(out.logits, y)
    if with_aux and (aux := model.aux_loss(out)) is not None:
        loss = loss + aux
    correct = int((out.logits.argmax(dim=1) == y).sum())
    return loss, correct


def fit(
    model: MixtureOfExperts,
    splits: Splits,
    cfg: TrainConfig,
    seed: int,
    on_epoch: EpochCallback | None = None,
) -> FitResult:
    """Train in place; with early stopping, the best-validation-loss weights are restored.
    With `cfg.layerwise`, the quantum router trains in stages (training/layerwise.py): the
    history rows then say each epoch's `stage` and `layers`, and early stopping and the
    best weights count only epochs with the full circuit applied."""
    if not getattr(model.router, "trainable", True):
        raise ConfigError(
            f"model.router.backend: {model.router.backend_name} gives no gradients "
            "(inference only); train with backend torch, pennylane or lightning"
        )
    torch.set_num_threads(cfg.threads)
    dtype = DTYPES[cfg.dtype]
    model.to(dtype)
    x_train, y_train = splits.tensors("train", dtype)
    x_val, y_val = splits.tensors("val", dtype)
    optimizer = make_optimizer(model, cfg)
    shuffler = torch.Generator().manual_seed(seed)
    result = FitResult()
    best_loss, best_state, waited = float("inf"), None, 0
    start = time.perf_counter()
    n = len(y_train)
    batches = -(-n // cfg.batch_size)
    reported = start
    staged = None
    if cfg.layerwise is not None:
        if not hasattr(model.router, "set_active_layers"):
            raise ConfigError("train.layerwise: layer-wise training needs a quantum router")
        staged = LayerwiseControl(model.router, cfg)

    for epoch in range(1, cfg.epochs + 1):
        raise_if_interrupted()
        stage = staged.at_epoch(epoch) if staged is not None else None
        model.train()
        order = torch.randperm(n, generator=shuffler)
        total_loss, total_correct = 0.0, 0
        for lo in range(0, n, cfg.batch_size):
            if on_epoch is not None and time.perf_counter() - reported > BATCH_REPORT_SECONDS:
                # a wide circuit's epoch takes minutes: say how far it is
                reported = time.perf_counter()
                on_epoch({"epoch": epoch, "batch": lo // cfg.batch_size, "batches": batches})
            idx = order[lo : lo + cfg.batch_size]
            loss, correct = loss_of(model, x_train[idx], y_train[idx], with_aux=True)
            if not torch.isfinite(loss):
                raise TrainingError(
                    f"training diverged: loss is {loss.item()} at epoch {epoch}, "
                    f"batch {lo // cfg.batch_size + 1}; try a smaller train.lr"
                )
            optimizer.zero_grad()
            loss.backward()
            if staged is not None:
                staged.before_step()
                optimizer.step()
                staged.after_step()
            else:
                optimizer.step()
            total_loss += loss.item() * len(idx)
            total_correct += correct

        model.eval()
        with torch.no_grad():
            val_loss, val_correct = loss_of(model, x_val, y_val)
        val_loss = val_loss.item()
        if not np.isfinite(val_loss):
            raise TrainingError(
                f"training diverged: validation loss is {val_loss} at epoch {epoch}"
            )
        row = {
            "epoch": epoch,
            "train_loss": total_loss / n,
            "train_acc": total_correct / n,
            "val_loss": val_loss,
            "val_acc": val_correct / len(y_val),
            "seconds": time.perf_counter() - start,
        }
        if stage is not None:
            row["stage"], row["layers"] = stage.index, stage.layers
        result.history.append(row)
        if on_epoch is not None:
            on_epoch(row)

        if stage is not None and not stage.full(staged.n_layers):
            continue  # a truncated circuit's validation loss is not the model's
        if val_loss < best_loss - cfg.min_delta:
            best_loss, waited, result.best_epoch = val_loss, 0, epoch
            best_state = copy.deepcopy(model.state_dict())
        else:
            waited += 1
        if cfg.early_stopping and waited >= cfg.patience:
            result.stopped_early = True
            break

    if staged is not None:
        staged.finish()
    result.epochs_run = len(result.history)
    if cfg.early_stopping and best_state is not None:
        model.load_state_dict(best_state)
    else:
        result.best_epoch = result.epochs_run
    result.seconds = time.perf_counter() - start
    return result
