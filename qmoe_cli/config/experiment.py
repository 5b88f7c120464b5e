"""The `train` kind's schema, and the pieces every run kind shares: the model, the training,
the variants of a group."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from qmoe_cli.config.messages import format_validation_error
from qmoe_cli.config.overrides import DOTTED_KEY, set_dotted
from qmoe_cli.data import DataConfig, n_input_features
from qmoe_cli.errors import ConfigError
from qmoe_cli.models.experts import ExpertsConfig, LinearExpertsConfig
from qmoe_cli.models.routers import (
    LinearRouterConfig,
    RouterConfig,
    check_training_backend,
    is_noisy,
)
from qmoe_cli.schema import Strict

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"


class ModelConfig(Strict):
    router: RouterConfig = Field(
        default_factory=LinearRouterConfig,
        description="the router, selected by its `type` (below)",
    )
    experts: ExpertsConfig = Field(
        default_factory=LinearExpertsConfig, description="the experts (below)"
    )
    top_k: int | None = Field(
        None,
        ge=1,
        description="keep the k largest gates per input, renormalised to sum to 1; null: every "
        "expert weighted (dense); at most `experts.count`",
    )
    balance_weight: float = Field(
        0.0,
        ge=0.0,
        description="weight of the Switch-Transformer load-balancing loss; added to the "
        "training loss; 0: none",
    )

    @model_validator(mode="after")
    def _check(self) -> ModelConfig:
        if self.top_k is not None and self.top_k > self.experts.count:
            raise ValueError(
                f"top_k: {self.top_k} exceeds the {self.experts.count} experts "
                "(model.experts.count)"
            )
        return self

    def check_parts(self) -> None:
        """Router and experts together (raised by ExperimentConfig, led by the full key)."""
        if self.experts.count == 1 and self.router.type != "none":
            raise ValueError(
                "model.experts.count: one expert is no mixture; set model.router.type: none "
                "for a monolithic model, or give at least 2 experts"
            )
        if self.router.type == "quantum" and getattr(self.experts, "noise", None) is not None:
            raise ValueError(
                "model.experts.noise: with a quantum router, model.router.noise applies to "
                "every circuit of the model (the experts' too); set the noise there"
            )


class LayerwiseStage(Strict):
    """One stage of layer-wise training (Skolik et al. 2021, "Layerwise learning for quantum
    neural networks", Quantum Mach. Intell. 3, 5): for `epochs` epochs only the first
    `layers` layers of the quantum router's ansatz are applied, the deeper ones not at all
    (truncated, not set to zero angles: a zero-angle RY + CZ layer is not the identity)."""

    layers: int = Field(
        ge=1,
        le=200,
        description="layers of the router's ansatz applied in this stage (the first ones); "
        "more than the stage before, at most `model.router.layers`",
    )
    epochs: int = Field(ge=1, le=100_000, description="epochs of this stage")
    train: Literal["active", "new"] = Field(
        "active",
        description="which circuit weights train in this stage: `active`, every applied layer; "
        "`new`, only the layers this stage adds (beyond the previous stage's `layers`; the "
        "first stage's all), the earlier ones held as Skolik et al.'s first phase does. "
        "Weights of layers not applied never change; the experts (and an `expval` router's "
        "adapter) always train",
    )


class TrainConfig(Strict):
    optimizer: Literal["adam", "sgd"] = Field("adam", description="the optimiser")
    lr: float = Field(0.01, gt=0.0, le=10.0, description="learning rate")
    momentum: float = Field(
        0.0, ge=0.0, lt=1.0, description="sgd only; a non-zero value with `adam` is an error"
    )
    weight_decay: float = Field(0.0, ge=0.0, description="the optimiser's weight decay")
    batch_size: int = Field(32, ge=1, description="mini-batch size")
    epochs: int = Field(100, ge=1, le=100_000, description="maximum epochs")
    early_stopping: bool = Field(
        True,
        description="stop after `patience` epochs without validation-loss improvement and "
        "restore the best-validation-loss weights; if `false`, the last epoch's weights are kept",
    )
    patience: int = Field(10, ge=1, description="epochs without val-loss improvement")
    min_delta: float = Field(0.0, ge=0.0, description="improvement smaller than this is none")
    dtype: Literal["float32", "float64"] = Field(
        "float64",
        description="model and data precision; float64: the stacked engine and the sequential "
        "reference agree to 1e-6 (in practice 1e-9); float32 trains one model at a time",
    )
    threads: int = Field(
        1,
        ge=1,
        le=256,
        description="torch threads per run; seeds and variants run in parallel processes instead",
    )
    engine: Literal["stacked", "sequential"] = Field(
        "stacked",
        description="stacked: the seeds of a config trained together as one batched model "
        "where it applies (qmoe_cli/training/stacked.py), same numbers; sequential: one at a time",
    )
    layerwise: list[LayerwiseStage] | None = Field(
        None,
        description="layer-wise training of a quantum router ([quantum.md](quantum.md#layer-"
        "wise-training)): stages `{layers, epochs, train}` run first, in order, each applying "
        "only the first `layers` layers of the ansatz; the epochs left of `epochs` then train "
        "the full circuit, every weight. Early stopping and the best-weights record count only "
        "epochs with the full circuit applied. The stages' epochs count within `epochs`; the "
        "schedule must end on the full circuit (epochs left over, or a last stage of "
        "`model.router.layers` layers). Trains one seed at a time (the stacked engine does not "
        "take it). null: plain training",
    )
    layerwise_init: Literal["zero", "kept"] = Field(
        "zero",
        description="with `layerwise`: the angles of the layers a stage adds (every stage but "
        "the first, and the full-circuit epochs after them) when they are first applied: "
        "`zero`, set to 0 (Skolik et al.: appended after the circuit trained so far, a zero "
        "RY + CZ layer leaves its basis-state probabilities as they were); `kept`, the "
        "initial values the router was built with (uniform in [0, 2 pi))",
    )

    @model_validator(mode="after")
    def _check(self) -> TrainConfig:
        if self.momentum and self.optimizer != "sgd":
            raise ValueError("'momentum' applies only to optimizer: sgd")
        return self

    @property
    def staged_epochs(self) -> int:
        """Epochs of the layer-wise stages (0 without them)."""
        return sum(s.epochs for s in self.layerwise or ())

    def check_layerwise(self, router: Any) -> None:
        """The schedule against the router (raised by ExperimentConfig, led by the full key)."""
        if self.layerwise is None:
            if self.layerwise_init != "zero":
                raise ValueError("train.layerwise_init: applies only with train.layerwise")
            return
        if not self.layerwise:
            raise ValueError("train.layerwise: give at least one stage, or null for plain training")
        layers = [s.layers for s in self.layerwise]
        if any(b <= a for a, b in zip(layers, layers[1:], strict=False)):
            raise ValueError(f"train.layerwise: the stages' layers must increase, not {layers}")
        if self.staged_epochs > self.epochs:
            raise ValueError(
                f"train.layerwise: the stages take {self.staged_epochs} epochs, more than "
                f"train.epochs: {self.epochs}"
            )
        if router.type != "quantum":
            raise ValueError(
                f"train.layerwise: layer-wise training applies to a quantum router's layers, "
                f"and model.router.type is {router.type}; remove it or use a quantum router"
            )
        deepest = self.layerwise[-1].layers
        if deepest > router.layers:
            raise ValueError(
                f"train.layerwise: a stage of {deepest} layers exceeds the router's "
                f"{router.layers} (model.router.layers)"
            )
        if self.staged_epochs == self.epochs and deepest < router.layers:
            raise ValueError(
                f"train.layerwise: the stages take all {self.epochs} epochs and end at "
                f"{deepest} of the router's {router.layers} layers; leave epochs for the full "
                "circuit or end on a stage of model.router.layers layers"
            )


KIND_HELP = "the experiment kind: which command runs this config (qmoe_cli/kinds.py)"


class ExperimentConfig(Strict):
    """One experiment: data + model + training, run once per seed."""

    kind: Literal["train"] = Field("train", description=KIND_HELP)
    name: str = Field(
        "experiment",
        pattern=NAME_PATTERN,
        description="run name, 1-64 characters of `A-Z a-z 0-9 _ . -` starting with a letter "
        "or digit; when the file has no `name`, its stem (else `experiment`)",
    )
    data: DataConfig = Field(default_factory=DataConfig, description="dataset, split, scaling")
    model: ModelConfig = Field(
        default_factory=ModelConfig, description="`router`, `experts`, `top_k`, `balance_weight`"
    )
    train: TrainConfig = Field(default_factory=TrainConfig, description="optimiser and fit loop")
    seeds: list[Annotated[int, Field(ge=0, le=2**31 - 1)]] = Field(
        default_factory=lambda: [0, 1, 2, 3, 4],
        description="one training run per seed; non-empty, no repeats",
    )
    output_dir: str = Field("runs", description="where run folders go (overridden by `--out`)")

    @model_validator(mode="after")
    def _router_fits_data_and_experts(self) -> ExperimentConfig:
        # each router kind states its own checks against the experts and the input width
        self.model.check_parts()
        self.train.check_layerwise(self.model.router)
        self.model.router.check_fit(self.model.experts.count, n_input_features(self.data))
        self.model.experts.check_fit(n_input_features(self.data))
        router_noise = getattr(self.model.router, "noise", None)
        for part in ("router", "experts"):
            noise = getattr(getattr(self.model, part), "noise", None)
            backend = getattr(getattr(self.model, part), "backend", None)
            if backend is not None:  # a circuit; a quantum router's noise is every circuit's
                noisy = is_noisy(noise) or is_noisy(router_noise) or self._noisy_levels()
                check_training_backend(f"model.{part}.backend", backend, noisy)
            if self.kind != "noise-sweep" and noise is not None and noise.fake_backend:
                # training simulates the circuit in torch: the device would be ignored silently
                raise ValueError(
                    f"model.{part}.noise.fake_backend: a fake device is evaluated only by "
                    f"`qmoe noise-sweep` (mode: evaluate), not by `qmoe {self.kind}`; remove it"
                )
        return self

    def _noisy_levels(self) -> bool:
        """Whether the experiment adds noise of its own (a noise sweep's levels)."""
        return False

    def parallel_units(self) -> int:
        """Trainings that may run side by side in worker processes: configs of their own
        (a config's seeds train together as one stack, in one process)."""
        return 1

    @field_validator("seeds")
    @classmethod
    def _seeds(cls, v: list[int]) -> list[int]:
        if not v:
            raise ValueError("give at least one seed")
        if len(set(v)) != len(v):
            raise ValueError("seeds must not repeat")
        return v


def check_names(named: dict, key: str, allow_empty: bool = False) -> None:
    """Variant and baseline names become folder names: keep them plain."""
    if not named and not allow_empty:
        raise ValueError(f"{key}: give at least one")
    for name in named:
        if not re.match(NAME_PATTERN, name):
            raise ValueError(f"{key}.{name}: names use letters, digits, '_', '.', '-'")


class VariantConfig(Strict):
    """One arm of an ablation: the shared config with this router (and experts and overrides
    of shared keys, if given)."""

    label: str = Field("", max_length=80, description="shown in tables and figures")
    router: RouterConfig = Field(description="any `model.router` above")
    experts: ExpertsConfig | None = Field(
        None, description="replaces `model.experts` for this variant"
    )
    overrides: dict[str, Any] = Field(
        default_factory=dict,
        description="dotted keys of the shared config set for this variant only, after its "
        "router and experts (`train.lr: 0.05`, `data.scaling: standard`); `qmoe tune` writes "
        "each variant's tuned settings here; not `kind`, `name`, `seeds` or `output_dir`",
    )

    @field_validator("overrides")
    @classmethod
    def _override_keys(cls, v: dict[str, Any]) -> dict[str, Any]:
        for key in v:
            check_override_key(key)
        return v


FIXED_KEYS = ("kind", "name", "seeds", "output_dir")  # a group's, never one variant's


def check_override_key(key: str) -> None:
    """A dotted key a variant (or a tuning trial) may set: a ValueError led by the key."""
    if not DOTTED_KEY.match(key):
        raise ValueError(f"{key}: not a dotted key (e.g. train.lr)")
    if key.split(".")[0] in FIXED_KEYS:
        raise ValueError(f"{key}: the group's own key, the same for every variant")


def with_variant(base: ExperimentConfig, name: str, variant: VariantConfig) -> ExperimentConfig:
    """The shared part of a group config (its ExperimentConfig fields) with a variant's
    router (and experts and overrides, if given), validated like any config."""
    raw = base.model_dump(mode="json", include=set(ExperimentConfig.model_fields))
    raw["name"] = f"{base.name}-{name}"[:64]
    raw["kind"] = "train"
    raw["model"]["router"] = variant.router.model_dump(mode="json")
    if variant.experts is not None:
        raw["model"]["experts"] = variant.experts.model_dump(mode="json")
    for key, value in variant.overrides.items():
        set_dotted(raw, key, value)
    try:
        return ExperimentConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc)) from None
