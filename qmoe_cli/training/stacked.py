"""The stacked training engine: S models of one architecture trained as one.

qmoe's work is many tiny models (variants x seeds, levels x seeds), and for these sizes a
training step costs per-operation overhead (autograd, optimizer, Python), not arithmetic.
This engine trains the seeds of one config together: each parameter becomes one tensor with
a leading model axis (S, *shape), the mixture runs on all S at once
(training/stacked_modules.py, the router and experts by the stacked forms their kinds
declare, models/stacked_forms.py: bmm instead of mm, a leading parameter-set axis through
the quantum unitary or the compiled circuit kernel, and through a noisy circuit's
density-matrix superoperators, quantum/torch_density.py), the S losses are summed so that each
model's gradient is exactly its own, and training.make_optimizer's fused Adam (or SGD)
kernel updates every model in one call.

Per model, everything `training.fit` does is kept (the numbers agree with it to 1e-6 in
float64, in practice to ~1e-9 after 100 epochs; tests/test_stacked.py trains both side by
side for every router kind, tests/test_stacked_noise.py for noisy circuits):

* its own data split; its initialisation (the caller builds each model as run_seed does);
  its own shuffling order (a torch.Generator seeded with its seed, one randperm per epoch),
  hence its own batches, with the same boundaries (every model of a stack has the same
  number of training and validation rows; models whose splits differ in size are stacked
  apart); its own lr and weight decay (one TrainConfig per model may be given: sweep points
  that differ only there share a stack);
* its loss (cross-entropy, plus its own balance loss), its divergence checks (the same
  TrainingError as fit, naming the first diverged batch), its history rows, its early
  stopping: a model that stops leaves the stack (its rows of the parameters and of the
  optimizer state are dropped, so nothing of it moves again: its Adam state does not
  advance) and its best state is kept and restored, as fit restores it.

`seconds` in the history rows and FitResult.seconds is each model's share of its stack's
wall time (time since the stack started / models in the stack).

The chunk rule (bounding memory): the models of one call are grouped by split sizes, then
cut into stacks of `chunk_size` models: MAX_CHUNK (128), fewer when a model's working set
(`model_bytes`: its inputs, 8 copies of its parameters (gradients, Adam moments, best and
frozen states), the activations of its largest pass (a batch or the validation set) and
for a circuit the kernel's layer matrices, or a noisy circuit's layer superoperators) times
the stack would exceed CHUNK_BYTES (256 MiB). Larger stacks are faster per model
(docs/performance.md, "The chunk rule").

What it takes (`supports`): float64; a router and experts whose kinds declare a stacked form
(models/base.py; every shipped kind does), for the configs their form takes
(models/stacked_forms.py: circuits on the torch backend of up to STACKED_MAX_QUBITS qubits,
noiseless or with depolarizing noise and readout error, noisy ones up to
NOISY_STACKED_MAX_QUBITS unless the compiled epoch takes the stack; not shots or fake
devices, evaluation only); not layer-wise training (`train.layerwise`:
training/layerwise.py, sequential only).

Entry points, for training/seeds.py and training/plan.py: `supports(cfg)` (None when this
engine applies, else why not) and `fit_stacked(models, model_cfg, splits, cfg, seeds,
on_epoch)` (training.fit's contract per model).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from qmoe_cli.config import ExperimentConfig, ModelConfig, TrainConfig
from qmoe_cli.data import Splits
from qmoe_cli.errors import ConfigError, TrainingError
from qmoe_cli.models import MixtureOfExperts
from qmoe_cli.models.base import stacked_declaration
from qmoe_cli.models.stacked_forms import circuit_refusal, noisy_size_refusal
from qmoe_cli.optim import adam_step, sgd_step
from qmoe_cli.quantum.torch_backend import KERNEL_MAX_QUBITS
from qmoe_cli.quantum.torch_density import TorchDensityMatrix
from qmoe_cli.training import fused_epoch
from qmoe_cli.training.sequential import DTYPES, FitResult
from qmoe_cli.training.stacked_modules import (
    ParamLayout,
    StackedMoE,
    correct_count,
    model_forms,
    stack_buffers,
)
from qmoe_cli.workers import raise_if_interrupted

StackedEpochCallback = Callable[[int, dict], None]  # (index of the model in `models`, row)

MAX_CHUNK = 128
CHUNK_BYTES = 256 * 2**20


def supports(cfg: ExperimentConfig) -> str | None:
    """None when the stacked engine trains this config's seeds; else why it does not (they
    are then trained one at a time by training.fit). The router and the experts answer for
    themselves: the stacked form their kind declares (models/base.py), or its reason for
    having none, and the form's refusal of this config (a backend, a size)."""
    if cfg.train.engine != "stacked":
        return f"train.engine is {cfg.train.engine}"
    if cfg.train.dtype != "float64":  # speed may never change a number
        return "train.dtype is float32: stacked and sequential agree only to its rounding"
    if cfg.train.layerwise is not None:
        return (
            "train.layerwise is set: the stages change the circuit's depth and the weights "
            "that train epoch by epoch, which the stacked forms (one circuit depth, every "
            "parameter trained) do not model; its seeds train one at a time"
        )
    parts = model_forms(cfg.model)
    for part, component, form in parts:
        if form is None:
            return (
                f"model.{part}.type: {part} type '{component.type}' has no stacked form: "
                f"{stacked_declaration(type(component))[1]}"
            )
    compiled = fused_epoch.refusal(cfg.model, cfg.train) is None
    for part, component, form in parts:
        refusal = form.refusal(component, f"model.{part}")
        if refusal is None and form.refusal is circuit_refusal and not compiled:
            refusal = noisy_size_refusal(component, f"model.{part}")
        if refusal is not None:
            return refusal
    return None


# ----------------------------------------------------------------- chunks


def model_bytes(
    model: MixtureOfExperts, n_features: int, n_train: int, n_val: int, cfg: TrainConfig
) -> int:
    """A model's working set in the stack, in bytes (an estimate in float64 values): its
    inputs, 8 copies of its parameters, the activations of its largest pass (a batch or the
    validation set) through the widest parts (router, experts, a circuit's states or density
    matrices), and for a circuit the kernel's layer matrices, the unitary path's gathered
    layer entries or a noisy circuit's layer superoperators."""
    n_params = sum(p.numel() for p in model.parameters())
    router, experts = model.router, model.experts
    width = experts.count * (2 + getattr(experts, "n_outputs", 2))
    if hasattr(router, "net"):  # an MLP router's hidden layers
        width += sum(m.out_features for m in router.net if isinstance(m, torch.nn.Linear))
    if hasattr(router, "n_terms"):  # a Fourier router's terms
        width += router.n_terms * (n_features + 1)
    if isinstance(getattr(experts, "weights", None), torch.nn.ParameterList):  # MLP experts
        width += experts.count * sum(w.shape[-1] for w in experts.weights)
    per_model = 0
    for module, copies in ((router, 1), (experts, experts.count)):
        spec = getattr(module, "spec", None)
        if spec is None:
            continue
        d = 2**spec.n_qubits
        if isinstance(module.backend, TorchDensityMatrix):  # noisy: superoperators
            width += copies * 4 * d * d  # embedded density matrices, complex
            # per layer K (x) K^*, A_l times it and the chain's product (each d^2 x d^2,
            # complex for Rot gates), kept for the backward pass
            per_model += copies * 2 * 3 * spec.n_layers * d**4
            continue
        width += copies * 4 * d  # embedded states and amplitudes, complex
        if spec.n_qubits <= KERNEL_MAX_QUBITS:  # the compiled kernel's M_l and P_l
            per_model += copies * 2 * (2 * spec.n_layers + 1) * d * d
        else:  # the unitary path: per layer n gathered factors and products
            per_model += copies * 2 * (spec.n_qubits + 2) * spec.n_layers * d * d
    rows = max(cfg.batch_size, n_val)
    values = (n_train + n_val) * (n_features + 1) + 8 * n_params + rows * width + per_model
    return 8 * values


def chunk_size(
    model: MixtureOfExperts, n_features: int, n_train: int, n_val: int, cfg: TrainConfig
) -> int:
    """Models per chunk: MAX_CHUNK, fewer when their working sets exceed CHUNK_BYTES."""
    per_model = model_bytes(model, n_features, n_train, n_val, cfg)
    return max(1, min(MAX_CHUNK, CHUNK_BYTES // per_model))


def fit_stacked(
    models: list[MixtureOfExperts],
    model_cfg: ModelConfig,
    splits: list[Splits],
    cfg: TrainConfig | Sequence[TrainConfig],
    seeds: list[int],
    on_epoch: StackedEpochCallback | None = None,
) -> list[FitResult]:
    """training.fit for each (model, splits, seed), trained together: each model in place,
    left with the weights fit would leave (the best state restored with early stopping);
    one FitResult per model, in order; on_epoch(model index, row) per model per epoch.
    `model_cfg` is the config every model was built from (build_model): its router's and
    experts' stacked forms.

    `cfg` is one TrainConfig for all, or one per model (sweep points stacked together)
    differing at most in `lr` and `weight_decay` (`hyper_keys`).
    """
    if not len(models) == len(splits) == len(seeds):
        raise ValueError("fit_stacked: models, splits and seeds differ in length")
    cfgs = per_model_configs(cfg, len(models))
    cfg = cfgs[0]
    for model in models:
        if not getattr(model.router, "trainable", True):
            raise ConfigError(
                f"model.router.backend: {model.router.backend_name} gives no gradients "
                "(inference only); train with backend torch, pennylane or lightning"
            )
    torch.set_num_threads(cfg.threads)
    groups: dict[tuple[int, int], list[int]] = {}
    for i, s in enumerate(splits):
        groups.setdefault((len(s.y_train), len(s.y_val)), []).append(i)
    for members in groups.values():  # equal (lr, weight_decay) adjacent: one optimizer call each
        members.sort(key=lambda i: hyper_keys(cfgs[i]))
    results: list[FitResult | None] = [None] * len(models)
    for (n_train, n_val), members in groups.items():
        first = members[0]
        size = chunk_size(models[first], splits[first].n_features, n_train, n_val, cfg)
        for lo in range(0, len(members), size):
            chunk = members[lo : lo + size]
            trainer = StackedTrainer(
                [models[i] for i in chunk],
                model_cfg,
                [splits[i] for i in chunk],
                [cfgs[i] for i in chunk],
                [seeds[i] for i in chunk],
            )
            callback = None
            if on_epoch is not None:

                def callback(j, row, chunk=chunk):
                    on_epoch(chunk[j], row)

            for i, result in zip(chunk, trainer.run(callback), strict=True):
                results[i] = result
    return results  # type: ignore[return-value]


def hyper_keys(cfg: TrainConfig) -> tuple[float, float]:
    """What may differ between the models of one stack: each model's lr and weight decay."""
    return (cfg.lr, cfg.weight_decay)


def per_model_configs(cfg: TrainConfig | Sequence[TrainConfig], n: int) -> list[TrainConfig]:
    """One TrainConfig per model, checked to differ only in `hyper_keys`."""
    cfgs = [cfg] * n if isinstance(cfg, TrainConfig) else list(cfg)
    if len(cfgs) != n:
        raise ValueError("fit_stacked: give one TrainConfig, or one per model")
    shared = cfgs[0].model_dump(exclude={"lr", "weight_decay"})
    for other in cfgs[1:]:
        differ = [
            k for k, v in other.model_dump(exclude={"lr", "weight_decay"}).items() if v != shared[k]
        ]
        if differ:
            raise ValueError(
                f"fit_stacked: the models' train configs differ in {', '.join(differ)} "
                "(only lr and weight_decay may differ within a stack)"
            )
    return cfgs


# ----------------------------------------------------------------- the engine


class StackedTrainer:
    """S models trained as one: `run()` is training.fit for each of them.

    `epoch()` runs one epoch of every model still training (for tests and tools);
    `rows[j]` is the stack row of model j while it trains (None once it has stopped), and
    `frozen[j]` its parameters and optimizer state as they were when it stopped.
    """

    def __init__(
        self,
        models: list[MixtureOfExperts],
        model_cfg: ModelConfig,
        splits: list[Splits],
        cfg: TrainConfig | Sequence[TrainConfig],
        seeds: list[int],
    ):
        if len({(len(s.y_train), len(s.y_val)) for s in splits}) != 1:
            raise ValueError("a stack's models need splits of the same sizes")
        cfgs = per_model_configs(cfg, len(models))
        self.models, self.cfg = models, cfgs[0]
        cfg = cfgs[0]
        self.hyper = [hyper_keys(c) for c in cfgs]  # per model: (lr, weight_decay)
        torch.set_num_threads(cfg.threads)
        dtype = DTYPES[cfg.dtype]
        for model in models:
            model.to(dtype)
        self.layout = ParamLayout(models[0])
        if not all(self.layout.matches(m) for m in models[1:]):
            raise ValueError("a stack's models must share one architecture")
        self.net = StackedMoE(models[0], model_cfg)
        self.params = self.layout.stack(models)  # (S, *shape) leaves, layout order
        self.named = self.layout.named(self.params)
        self.consts = stack_buffers(models)
        self.n_classes = splits[0].n_classes
        train = [s.tensors("train", dtype) for s in splits]
        val = [s.tensors("val", dtype) for s in splits]
        # inputs as the stacked mixture takes them: (S, F, n), the rows innermost
        x_train, self.y_train = (torch.stack(t) for t in zip(*train, strict=True))
        x_val, self.y_val = (torch.stack(t) for t in zip(*val, strict=True))
        self.x_train, self.x_val = x_train.mT.contiguous(), x_val.mT.contiguous()
        self.shufflers = [torch.Generator().manual_seed(seed) for seed in seeds]
        # the optimizer's state, one row per model in the stack (training.make_optimizer's)
        self.step_count = torch.zeros((), dtype=torch.float32)  # fused Adam counts in float32
        self.exp_avg = [torch.zeros_like(t) for t in self.params]
        self.exp_avg_sq = [torch.zeros_like(t) for t in self.params]
        self.momentum: list[torch.Tensor] | None = None
        # per model
        S = len(models)
        self.active = list(range(S))  # model index of each stack row
        self.runs = self._runs()
        self.rows: list[int | None] = list(range(S))
        self.frozen: list[dict | None] = [None] * S
        self.results = [FitResult() for _ in range(S)]
        self.best_loss = [math.inf] * S
        self.best_state: list[torch.Tensor | None] = [None] * S
        self.waited = [0] * S
        self.epoch_count = 0
        # the compiled epoch where it covers the kinds (training/fused_epoch.py), else None
        # with the reason in `fused_refusal`; its flat state holds the parameters and Adam
        # moments, and the tensors above become views of it
        self.fused_refusal = fused_epoch.refusal(model_cfg, cfg)
        self.fused: fused_epoch.FusedEpoch | None = None
        if self.fused_refusal is None:
            self.fused = fused_epoch.FusedEpoch(
                models[0], self.layout, self.params, self.x_train, self.y_train,
                self.x_val, self.y_val, cfg.batch_size, self.n_classes, self.consts,
            )  # fmt: skip
            self._fused_views()
        self.start = time.perf_counter()

    # -------------------------------------------------------------- steps

    def _runs(self) -> list[tuple[int, int, float, float]]:
        """(first row, end row, lr, weight decay) of each run of adjacent stack rows that
        share lr and weight decay (one run when every model has the same)."""
        runs: list[tuple[int, int, float, float]] = []
        for row, i in enumerate(self.active):
            lr, decay = self.hyper[i]
            if runs and runs[-1][2:] == (lr, decay):
                runs[-1] = (runs[-1][0], row + 1, lr, decay)
            else:
                runs.append((row, row + 1, lr, decay))
        return runs

    def _step(self) -> None:
        """One optimizer step of every row: training.make_optimizer's fused kernels, called
        once per run of rows sharing lr and weight decay (on views of those rows)."""
        cfg = self.cfg
        with torch.no_grad():
            if cfg.optimizer == "adam":
                self.step_count += 1
            first = cfg.optimizer == "sgd" and cfg.momentum != 0 and self.momentum is None
            if first:
                self.momentum = [torch.empty_like(t) for t in self.params]
            whole = len(self.runs) == 1
            for lo, hi, lr, decay in self.runs:

                def rows(tensors, lo=lo, hi=hi):
                    return tensors if whole else [t[lo:hi] for t in tensors]

                params, grads = rows(self.params), rows([t.grad for t in self.params])
                if cfg.optimizer == "adam":
                    adam_step(
                        params,
                        grads,
                        rows(self.exp_avg),
                        rows(self.exp_avg_sq),
                        [self.step_count] * len(params),
                        lr,
                        decay,
                    )
                    continue
                momentum = [] if cfg.momentum == 0 else rows(self.momentum)
                sgd_step(params, grads, momentum, lr, cfg.momentum, decay, first)

    def epoch(self, on_epoch: StackedEpochCallback | None = None) -> None:
        """One epoch of every model still training: batches, validation, history rows,
        early stopping (stopped models leave the stack)."""
        raise_if_interrupted()
        self.epoch_count += 1
        epoch = self.epoch_count
        n = self.y_train.shape[1]
        # each model's own order: fit's randperm from its own generator
        order = torch.stack([torch.randperm(n, generator=self.shufflers[i]) for i in self.active])
        if self.fused is not None:
            train_loss, train_correct, val_losses, val_correct = self._fused_epoch(order, epoch)
        else:
            train_loss, train_correct = self._train_batches(order, epoch)
            with torch.no_grad():
                val_loss, val_right = self.net.losses(
                    self.named, self.consts, self.x_val, self.y_val
                )
            val_losses, val_correct = val_loss.tolist(), val_right.tolist()
        self._record(epoch, train_loss, train_correct, val_losses, val_correct, on_epoch)

    def _lengths(self) -> list[int]:
        n, size = self.y_train.shape[1], self.cfg.batch_size
        return [min(size, n - lo) for lo in range(0, n, size)]

    def _train_batches(self, order: torch.Tensor, epoch: int) -> tuple[list, list]:
        """The torch path: every batch of every model, a dozen torch operations, autograd and
        the fused optimizer per batch. Returns each row's summed batch loss x length and its
        right answers."""
        n, size = self.y_train.shape[1], self.cfg.batch_size
        x_epoch = self.x_train.gather(2, order.unsqueeze(1).expand_as(self.x_train))
        y_epoch = self.y_train.gather(1, order)
        # -1/B at each input's label (StackedMoE.objective), B the length of its batch
        weight = F.one_hot(y_epoch, self.n_classes).mT.to(self.params[0].dtype).contiguous()
        lengths = self._lengths()
        weight[..., : n - lengths[-1]] *= -1.0 / size
        weight[..., n - lengths[-1] :] *= -1.0 / lengths[-1]
        losses, logits = [], []
        for lo in range(0, n, size):
            total, loss, batch_logits = self.net.objective(
                self.named, self.consts, x_epoch[..., lo : lo + size], weight[..., lo : lo + size]
            )
            for t in self.params:
                t.grad = None
            total.backward()  # the sum of the models' losses: each one's gradient its own
            self._step()
            losses.append(loss)
            logits.append(batch_logits)
        batch_losses = torch.stack(losses)  # (batches, S)
        self._check_finite(batch_losses, epoch)
        # fit's Python sum, in its order: sum over batches of loss.item() * batch length
        train_loss = [0.0] * len(self.active)
        for values, length in zip(batch_losses.double().tolist(), lengths, strict=True):
            for row, value in enumerate(values):
                train_loss[row] += value * length
        return train_loss, correct_count(torch.cat(logits, dim=2), y_epoch).tolist()

    def _fused_epoch(self, order: torch.Tensor, epoch: int) -> tuple[list, list, list, list]:
        """The compiled epoch (training/fused_epoch.py): the same, and validation, in one
        call."""
        first_step = int(self.step_count.item())
        batch_losses, train_loss, train_correct, val_loss, val_correct = self.fused.run(
            order.numpy(), first_step, self.fused_lr, self.fused_decay
        )
        self.step_count += batch_losses.shape[1]
        self._check_finite(torch.from_numpy(batch_losses).T, epoch)
        return train_loss.tolist(), train_correct.tolist(), val_loss.tolist(), val_correct.tolist()

    @staticmethod
    def _check_finite(batch_losses: torch.Tensor, epoch: int) -> None:
        """batch_losses (batches, S). Checked once per epoch (a sync per step costs): fit
        would have raised at the first non-finite loss, which is what is reported; nothing
        of this epoch is kept."""
        if not bool(torch.isfinite(batch_losses).all()):
            batch, row = (~torch.isfinite(batch_losses)).nonzero()[0].tolist()
            raise TrainingError(
                f"training diverged: loss is {batch_losses[batch, row].item()} at epoch "
                f"{epoch}, batch {batch + 1}; try a smaller train.lr"
            )

    def _record(self, epoch, train_loss, train_correct, val_losses, val_correct, on_epoch):
        """History rows, best states and early stopping, as fit after its epoch."""
        cfg = self.cfg
        n, n_val = self.y_train.shape[1], self.y_val.shape[1]
        seconds = (time.perf_counter() - self.start) / len(self.models)
        stopped = []
        for value in val_losses:  # as fit, after its epoch's training
            if not math.isfinite(value):
                raise TrainingError(
                    f"training diverged: validation loss is {value} at epoch {epoch}"
                )
        for row, i in enumerate(self.active):
            record = {
                "epoch": epoch,
                "train_loss": train_loss[row] / n,
                "train_acc": train_correct[row] / n,
                "val_loss": val_losses[row],
                "val_acc": val_correct[row] / n_val,
                "seconds": seconds,
            }
            result = self.results[i]
            result.history.append(record)
            if on_epoch is not None:
                on_epoch(i, record)
            if val_losses[row] < self.best_loss[i] - cfg.min_delta:
                self.best_loss[i], self.waited[i], result.best_epoch = val_losses[row], 0, epoch
                self.best_state[i] = self._row(self.params, row)
            else:
                self.waited[i] += 1
            if cfg.early_stopping and self.waited[i] >= cfg.patience:
                result.stopped_early = True
                stopped.append(row)
        if stopped:
            self._leave(stopped)

    def _row(self, stacked: list[torch.Tensor], row: int) -> torch.Tensor:
        """A row's values (P,) of S-stacked tensors; of the parameters, a copy of the compiled
        epoch's flat row when it runs (the same values, in the same order, without a
        concatenation per model and epoch)."""
        if self.fused is not None and stacked is self.params:
            return self.fused.row(row)
        return self.layout.row(stacked, row)

    def _leave(self, stopped: list[int]) -> None:
        """Models at these stack rows stop: their state is kept aside, the stack shrinks."""
        for row in stopped:
            i = self.active[row]
            self.frozen[i] = self._state_of_row(row)
            self.rows[i] = None
        keep = [r for r in range(len(self.active)) if r not in stopped]
        self.active = [self.active[r] for r in keep]
        for j, i in enumerate(self.active):
            self.rows[i] = j
        self.runs = self._runs()
        index = torch.tensor(keep, dtype=torch.long)
        self.params = [t.detach().index_select(0, index).requires_grad_() for t in self.params]
        self.named = self.layout.named(self.params)
        self.exp_avg = [t.index_select(0, index) for t in self.exp_avg]
        self.exp_avg_sq = [t.index_select(0, index) for t in self.exp_avg_sq]
        if self.momentum is not None:
            self.momentum = [t.index_select(0, index) for t in self.momentum]
        self.consts = {k: v.index_select(0, index) for k, v in self.consts.items()}
        self.x_train, self.y_train = self.x_train[index], self.y_train[index]
        self.x_val, self.y_val = self.x_val[index], self.y_val[index]
        if self.fused is not None:
            self.fused.keep(index.numpy())
            self._fused_views()

    def _fused_views(self) -> None:
        """The parameters and Adam moments as views of the compiled epoch's flat state, and
        each row's lr and weight decay."""
        fused = self.fused
        self.params = fused.views(fused.params)
        self.named = self.layout.named(self.params)
        self.exp_avg, self.exp_avg_sq = fused.views(fused.exp_avg), fused.views(fused.exp_avg_sq)
        self.fused_lr = np.array([self.hyper[i][0] for i in self.active], dtype=np.float64)
        self.fused_decay = np.array([self.hyper[i][1] for i in self.active], dtype=np.float64)

    def _state_of_row(self, row: int) -> dict:
        state = {
            "params": self.layout.row(self.params, row),
            "exp_avg": self.layout.row(self.exp_avg, row),
            "exp_avg_sq": self.layout.row(self.exp_avg_sq, row),
            "step": self.step_count.clone(),
        }
        if self.momentum is not None:
            state["momentum"] = self.layout.row(self.momentum, row)
        return state

    def state(self, j: int) -> dict:
        """Model j's parameters (P,) and optimizer state: live while it trains, as it was
        at its stop once stopped."""
        if self.rows[j] is None:
            return self.frozen[j]  # type: ignore[return-value]
        return self._state_of_row(self.rows[j])  # type: ignore[arg-type]

    # -------------------------------------------------------------- the whole fit

    def run(self, on_epoch: StackedEpochCallback | None = None) -> list[FitResult]:
        while self.active and self.epoch_count < self.cfg.epochs:
            self.epoch(on_epoch)
        return self.finish()

    def finish(self) -> list[FitResult]:
        """Write each model's final weights back (its best state with early stopping, as
        fit restores it) and complete the FitResults."""
        seconds = (time.perf_counter() - self.start) / len(self.models)
        for j, model in enumerate(self.models):
            result = self.results[j]
            result.epochs_run = len(result.history)
            last = self.state(j)["params"]
            if self.cfg.early_stopping and self.best_state[j] is not None:
                self.layout.write(model, self.best_state[j])
            else:
                self.layout.write(model, last)
                result.best_epoch = result.epochs_run
            result.seconds = seconds
            model.eval()
        return self.results


def compile_ahead() -> None:
    """Compile the compiled epoch's signatures (or load them from Numba's cache), as `make
    install` does for the circuit kernel (quantum/jit_kernel.py: compile_ahead), so that the
    first run and parallel workers find them ready: one epoch of a stack of two, with the
    quantum router and with the linear one (the MLP and Fourier routers take the same
    signature: training/fused_epoch.py)."""
    from qmoe_cli.config import validate_config
    from qmoe_cli.data import load_dataset
    from qmoe_cli.models import build_model

    for router in ({"type": "quantum", "qubits": 2, "layers": 1}, {"type": "linear"}):
        cfg = validate_config(
            {
                "data": {"name": "two_moons", "n_samples": 40},
                "model": {"router": router, "experts": {"count": 2}},
                "train": {"epochs": 1, "early_stopping": False},
            }
        )
        splits = [load_dataset(cfg.data, seed) for seed in (0, 1)]
        models = [build_model(cfg.model, s.n_features, s.n_classes) for s in splits]
        StackedTrainer(models, cfg.model, splits, cfg.train, [0, 1]).run()
