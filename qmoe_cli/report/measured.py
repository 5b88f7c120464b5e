"""What the runs given to `qmoe report` measured (read by qmoe_cli/report/inputs.py): the
models of an ablate, train or efficiency run as `ModelResult`s (accuracy over seeds, per
seed, parameters, the config of the model) and a noise sweep as a `NoiseSweep`."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from qmoe_cli import records
from qmoe_cli.config import ModelConfig, TrainConfig
from qmoe_cli.errors import ConfigError
from qmoe_cli.metrics import breakdown_interval
from qmoe_cli.models import config_qubits
from qmoe_cli.models.base import ExpertsConfigBase, RouterConfigBase
from qmoe_cli.report.inputs import Run, Stat, eta_of, to_float

# --- models measured by a run -------------------------------------------------------------


@dataclass
class ModelResult:
    """One model's test accuracy over seeds: an ablation variant, a train run or an
    efficiency point."""

    run: Run
    variant: str | None
    label: str
    router: str
    router_params: int | None
    total_params: int | None
    acc: Stat
    epochs_to_90: list[int | None] | None = None  # per seed (validation accuracy)
    epoch_budget: int | None = None
    # its row of the run's summary (ablation variants and efficiency points)
    summary: records.VariantSummary | None = None
    model: ModelConfig | None = None  # the model section of its config (None: not read)
    per_seed_acc: list[float] | None = None  # test accuracy per seed, in seed order
    effective_params: float | None = None  # median Jacobian rank at the trained point
    early_stopping: bool | None = None
    # test accuracy of each class (index 0..C-1), mean over the seeds that record it
    per_class_acc: list[float] | None = None
    n_test: int | None = None  # test rows of one seed (the median over seeds)
    # its train.layerwise schedule as text ("2/4 layers x 10 epochs, then the full circuit"):
    # trained layer-wise; None: plainly (or its config was not read)
    layerwise: str | None = None

    @property
    def n_seeds(self) -> int:
        return len(self.per_seed_acc) if self.per_seed_acc else (self.acc.n or 0)

    @property
    def row(self) -> records.VariantSummary:
        """Its summary row (a model of an ablation or efficiency run has one)."""
        if self.summary is None:
            raise ConfigError(f"{self.source}: no summary row in the run's metrics.json")
        return self.summary

    @property
    def val_acc_mean(self) -> float | None:
        """Mean validation accuracy (recorded for efficiency points: they are selected by it)."""
        point = self.summary
        return point.val_acc_mean if isinstance(point, records.EfficiencyPoint) else None

    @property
    def experts(self) -> str:
        """The experts' type (`linear` unless the config says otherwise)."""
        return experts_type(self.model)

    @property
    def mechanism(self) -> str:
        """A quantum router's mechanism (full, no_entangler, dephased); "full" otherwise."""
        return mechanism_of(self.model)

    @property
    def qubits(self) -> records.Qubits:
        """Qubits of every circuit of the model, from its config (models.config_qubits)."""
        return records.Qubits.model_validate(config_qubits(self.model or {}))

    @property
    def per_seed_eta(self) -> list[float] | None:
        if not self.per_seed_acc or not self.router_params:
            return None
        return [a / math.log1p(self.router_params) for a in self.per_seed_acc]

    @property
    def tuned(self) -> records.TunedVariant | None:
        """Its search, when `qmoe tune` chose its settings on validation (None: fixed)."""
        tuned = self.run.tuned
        return tuned.variants.get(self.variant or "") if tuned is not None else None

    @property
    def setup(self) -> str:
        """How it was trained, as far as a verdict may depend on it (a tuned run's models:
        "tuned on validation (N trials per variant)" first)."""
        budget = f"{self.epoch_budget} epochs" if self.epoch_budget else "? epochs"
        if self.run.protocol:  # early stopping is one of the settings tuned per variant
            return f"{self.run.protocol}: {budget}, each variant's best settings"
        if self.early_stopping is not None:
            budget += ", early stopping" if self.early_stopping else ", no early stopping"
        return budget

    @property
    def eta(self) -> Stat:
        return eta_of(self.acc, self.router_params)

    @property
    def source(self) -> str:
        what = f" variant {self.variant}" if self.variant else ""
        return f"{self.run.label}{what}: {self.router} router, P = {self.router_params}"


def experts_type(model: ModelConfig | None) -> str:
    """A model's experts type (`linear` when its config was not read)."""
    if model is None:
        return "linear"
    experts: ExpertsConfigBase = model.experts  # the registry's union: every kind has `type`
    return experts.type


def mechanism_of(model: ModelConfig | None) -> str:
    """The router's mechanism option (quantum routers; "full" for every other router)."""
    return str(getattr(router_config(model), "mechanism", "full"))


def router_config(model: ModelConfig | None) -> RouterConfigBase | None:
    """A model's router config (the registry's union, as its base class)."""
    return model.router if model is not None else None


def model_results(run: Run) -> list[ModelResult]:
    """The models of an ablate, train or efficiency run (none for a skipped efficiency run)."""
    record = run.record
    if isinstance(record, records.AblateRecord):
        return [_variant(run, row) for row in record.summary]
    if isinstance(record, records.TrainRecord):
        return [_train_model(run, record, None, run.epoch_budget, run.early_stopping, run.model)]
    if isinstance(record, records.EfficiencyRecord):
        return [_variant(run, p) for p in record.points]
    return []


def _variant(run: Run, row: records.VariantSummary) -> ModelResult:
    """An ablation variant (a summary row) or an efficiency point, with its per-seed
    numbers from variants/<name>/."""
    sub = run.read_train(f"variants/{row.variant}/metrics.json")
    cfg = run.sub_configs.get(f"variants/{row.variant}/config.yaml")
    per_seed = sub.per_seed if sub is not None else None
    return ModelResult(
        run,
        row.variant,
        row.label,
        row.router or (sub.router if sub is not None else "") or "?",
        row.router_params,
        row.total_params,
        Stat.of_values(
            row.test_acc_mean,
            row.test_acc_std,
            row.test_acc_ci_low,
            row.test_acc_ci_high,
            row.n_seeds,
        ),
        [m.epochs_to_90_val for m in per_seed] if per_seed else None,
        cfg.train.epochs if cfg is not None else run.epoch_budget,
        row,
        cfg.model if cfg is not None else None,
        _accuracies(per_seed),
        _median_effective(per_seed),
        cfg.train.early_stopping if cfg is not None else None,
        _per_class(per_seed),
        _n_test(per_seed),
        layerwise_text(cfg.train if cfg is not None else None),
    )


def _train_model(
    run: Run,
    m: records.TrainRecord,
    variant: str | None,
    budget: int | None,
    stopping: bool | None = None,
    model: ModelConfig | None = None,
) -> ModelResult:
    return ModelResult(
        run,
        variant,
        m.name,
        m.router or "?",
        m.params.router,
        m.params.total,
        Stat.of(m.aggregate.test_accuracy),
        [s.epochs_to_90_val for s in m.per_seed],
        budget,
        model=model,
        per_seed_acc=_accuracies(m.per_seed),
        effective_params=_median_effective(m.per_seed),
        early_stopping=stopping,
        per_class_acc=_per_class(m.per_seed),
        n_test=_n_test(m.per_seed),
        layerwise=layerwise_text(run.experiment.train if run.experiment is not None else None),
    )


def layerwise_text(train: TrainConfig | None) -> str | None:
    """A layer-wise schedule in words (None: plain training, or no config read)."""
    if train is None or train.layerwise is None:
        return None
    stages = ", ".join(
        f"{s.layers} layers x {s.epochs} epochs"
        + (" (new layers only)" if s.train == "new" else "")
        for s in train.layerwise
    )
    init = "zero" if train.layerwise_init == "zero" else "their initial"
    return f"{stages}, then the full circuit; added layers start at {init} angles"


def _accuracies(per_seed: list[records.SeedRecord] | None) -> list[float] | None:
    if not per_seed:
        return None
    values = [to_float(m.test_accuracy) for m in per_seed]
    return values if all(math.isfinite(v) for v in values) else None


def _n_test(per_seed: list[records.SeedRecord] | None) -> int | None:
    """The test rows of one seed (median over seeds; they differ only by rounding)."""
    rows = sorted(m.data.n_test for m in per_seed or [])
    return rows[len(rows) // 2] if rows else None


def _per_class(per_seed: list[records.SeedRecord] | None) -> list[float] | None:
    """Each class's test accuracy, mean over the seeds (None when no seed records it)."""
    rows = [m.test_per_class_accuracy for m in per_seed or [] if m.test_per_class_accuracy]
    if not rows or len({len(r) for r in rows}) != 1:
        return None
    out = []
    for values in zip(*rows, strict=True):
        finite = [v for v in values if v is not None and math.isfinite(v)]
        out.append(sum(finite) / len(finite) if finite else math.nan)
    return out


def _median_effective(per_seed: list[records.SeedRecord] | None) -> float | None:
    """Median over seeds of the router's Jacobian rank at the trained point."""
    ranks = sorted(
        float(m.effective_params.trained)
        for m in per_seed or []
        if m.effective_params.trained is not None
    )
    if not ranks:
        return None
    mid = len(ranks) // 2
    return ranks[mid] if len(ranks) % 2 else (ranks[mid - 1] + ranks[mid]) / 2


# --- noise sweeps -------------------------------------------------------------------------


@dataclass
class NoiseSweep:
    run: Run
    mode: str
    simulator: str
    placement: str
    levels: list[float]
    rows: list[records.NoiseRow]
    baselines: dict[str, ModelResult]  # name -> the classical baseline's train-format result
    best_baseline: str | None
    breakdown: records.Breakdown | None
    per_level: dict[float, list[float]] = field(default_factory=dict)  # quantum, per seed

    def row_at(self, level: float) -> records.NoiseRow | None:
        return next((r for r in self.rows if math.isclose(r.level, level)), None)

    def seeds_at(self, level: float) -> list[float] | None:
        """The quantum router's test accuracy per seed at this level."""
        return next((v for k, v in self.per_level.items() if math.isclose(k, level)), None)

    @property
    def epoch_budget(self) -> int | None:
        return self.run.epoch_budget

    @property
    def early_stopping(self) -> bool | None:
        return self.run.early_stopping

    @property
    def model(self) -> ModelConfig | None:
        """The swept model's section of the sweep's config (None when not read)."""
        return self.run.model

    @property
    def mechanism(self) -> str:
        return mechanism_of(self.model)

    @property
    def experts(self) -> str:
        """The swept model's experts type: `linear` (the paper's hybrid) or `quantum` (the
        fully quantum QMoE, every circuit under the same noise)."""
        return experts_type(self.model)

    @property
    def n_test(self) -> int | None:
        """Test rows of one seed: the baselines' (the quantum router sees the same splits)."""
        return next((b.n_test for b in self.baselines.values() if b.n_test), None)

    @property
    def seeds(self) -> list[int]:
        cfg = self.run.experiment
        return list(cfg.seeds) if cfg is not None else []

    @property
    def classical(self) -> ModelResult | None:
        """The paper's classical baseline: a linear router (Model A) if swept, else the best."""
        linear = [b for b in self.baselines.values() if b.router == "linear"]
        if linear:
            return linear[0]
        return self.baselines.get(self.best_baseline or "")

    @property
    def linear_baselines(self) -> list[ModelResult]:
        """The paper's classical baseline, the linear router (Model A), under each input
        scaling the sweep ran it with (a setup choice: each is an alternative); the best
        baseline when no linear one has per-seed numbers."""
        linear = [b for b in self.baselines.values() if b.router == "linear" and b.per_seed_acc]
        return linear or ([self.classical] if self.classical is not None else [])

    def breakdown_vs(self, base: ModelResult) -> records.Breakdown | None:
        """Where the quantum router's mean accuracy falls to this baseline's, with its
        bootstrap interval (metrics.breakdown_interval, as the sweep computes it against its
        best baseline); None without per-seed numbers at every level."""
        levels = sorted(self.per_level)
        rows = [self.per_level[level] for level in levels]
        base_acc = base.per_seed_acc
        if not levels or not base_acc or any(len(r) != len(base_acc) for r in rows):
            return None
        found = breakdown_interval(levels, np.asarray(rows).T, np.asarray(base_acc))
        return records.Breakdown.model_validate(
            {
                **found,
                "baseline": base.variant or base.label,
                "baseline_accuracy": float(np.mean(base_acc)),
                "levels": levels,
            }
        )

    @property
    def source(self) -> str:
        return f"{self.run.label} ({self.mode} mode, {self.simulator}, {self.placement} placement)"


def noise_sweep(run: Run) -> NoiseSweep:
    m = run.record_as(records.NoiseSweepRecord)
    means = m.table[0].baseline_means if m.table else {}
    baselines = {}
    for name, mean in means.items():
        sub = run.read_train(f"baselines/{name}/metrics.json")
        if sub is not None:
            result = _train_model(run, sub, name, run.epoch_budget, run.early_stopping)
        else:  # only the mean is in the table
            result = ModelResult(run, name, name, "?", None, None, Stat(to_float(mean)))
        baselines[name] = result
    return NoiseSweep(
        run,
        m.mode,
        m.simulator,
        m.placement,
        [float(x) for x in m.levels],
        list(m.table),
        baselines,
        m.best_baseline,
        m.breakdown,
        _per_level(m.per_seed.quantum),
    )


def _per_level(quantum: dict[str, list[float | None]]) -> dict[float, list[float]]:
    """metrics.json `per_seed.quantum`: {"<level>": [accuracy per seed]} as floats (levels
    with an undefined accuracy are left out)."""
    out = {}
    for key, values in quantum.items():
        level = to_float(key)
        if math.isfinite(level):
            accs = [to_float(v) for v in values]
            if accs and all(math.isfinite(a) for a in accs):
                out[level] = accs
    return out
