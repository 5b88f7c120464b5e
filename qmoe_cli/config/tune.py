"""The `tune` kind: every variant of a base config tuned on validation data with the same
budget, then its best settings trained on the final seeds and tested once (`qmoe tune`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, PrivateAttr, ValidationError, field_validator, model_validator

from qmoe_cli.config.ablate import AblationConfig
from qmoe_cli.config.experiment import (
    KIND_HELP,
    NAME_PATTERN,
    ExperimentConfig,
    VariantConfig,
    check_names,
    check_override_key,
)
from qmoe_cli.config.messages import format_validation_error
from qmoe_cli.config.overrides import get_dotted, set_dotted
from qmoe_cli.config.sweep import SlurmResources, _canonical, _show
from qmoe_cli.errors import ConfigError
from qmoe_cli.schema import Strict

LAYOUT_KEY = "model.router.layout"  # a quantum router's (qubits, layers) within a budget
LAYOUT_MAX_QUBITS = 10
OBJECTIVES = {"val_accuracy": "maximize", "val_loss": "minimize"}
Seed = Annotated[int, Field(ge=0, le=2**31 - 1)]


class SearchParam(Strict):
    """One key's search range: Optuna's float, int or categorical distribution, or the
    quantum router's layouts within a parameter budget (a categorical of them)."""

    type: Literal["float", "int", "categorical", "layout"] = Field(
        description="float (FloatDistribution), int (IntDistribution), categorical, or "
        f"layout (key `{LAYOUT_KEY}`: the quantum router's [qubits, layers] pairs with "
        "exactly `params` router parameters, a categorical of them)"
    )
    low: float | None = Field(None, description="float and int: the smallest value")
    high: float | None = Field(None, description="float and int: the largest value, above low")
    log: bool = Field(False, description="float and int: sample log-uniformly (low above 0)")
    step: float | None = Field(
        None, gt=0, description="float and int: the grid step (int: 1 by default); not with log"
    )
    choices: list[Any] | None = Field(
        None, description="categorical: the values, distinct; any YAML values (lists too)"
    )
    params: int | None = Field(
        None,
        ge=1,
        le=1_000_000,
        description="layout: the router parameter count every layout offered has exactly "
        "(counted on the built router, for the variant's ansatz, readout and experts)",
    )
    max_qubits: int | None = Field(
        None,
        ge=1,
        le=20,
        description=f"layout: the most qubits a layout may have (default {LAYOUT_MAX_QUBITS})",
    )

    @model_validator(mode="after")
    def _check(self) -> SearchParam:
        if self.type != "layout" and (self.params is not None or self.max_qubits is not None):
            raise ValueError(f"params, max_qubits: only for type layout, not {self.type}")
        if self.type == "layout":
            given = [k for k in ("low", "high", "step", "choices") if getattr(self, k) is not None]
            if given or self.log:
                shown = ", ".join(given or ["log"])
                raise ValueError(f"a layout takes `params` and `max_qubits` only (not {shown})")
            if self.params is None:
                raise ValueError("a layout needs `params`: the router's parameter count")
            return self
        if self.type == "categorical":
            if self.low is not None or self.high is not None or self.step is not None or self.log:
                raise ValueError("a categorical takes `choices` only (not low, high, step, log)")
            if not self.choices:
                raise ValueError("choices: give at least one value")
            seen: dict = {}
            for i, value in enumerate(self.choices):
                first = seen.setdefault(_canonical(value), i)
                if first != i:
                    raise ValueError(
                        f"choices: {_show(value)} is given twice ([{first}] and [{i}]); "
                        "give distinct values"
                    )
            return self
        if self.choices is not None:
            raise ValueError(f"choices: only for type categorical, not {self.type}")
        if self.low is None or self.high is None:
            raise ValueError(f"a {self.type} range needs `low` and `high`")
        if self.type == "int":
            for key in ("low", "high", "step"):
                value = getattr(self, key)
                if value is not None and value != int(value):
                    raise ValueError(f"{key}: an int range takes integers, got {value:g}")
        if self.low >= self.high:
            raise ValueError(
                f"low {self.low:g} is not below high {self.high:g}: the range is "
                + ("empty" if self.low == self.high else "inverted")
            )
        if self.log and self.low <= 0:
            raise ValueError(f"log: a log range must lie above 0, but low is {self.low:g}")
        if self.log and self.step is not None:
            raise ValueError("step: not with log (Optuna samples a log range without a grid)")
        return self

    def probes(self) -> list[Any]:
        """Values whose validity stands for the range's: its ends, or every choice."""
        if self.type == "categorical":
            return list(self.choices or [])
        if self.type == "int":
            return [int(self.low or 0), int(self.high or 0)]
        return [self.low, self.high]

    def distribution(self):
        """The Optuna distribution (choices that are not scalars go in as JSON text)."""
        import optuna

        if self.type == "float":
            return optuna.distributions.FloatDistribution(
                self.low, self.high, log=self.log, step=self.step
            )
        if self.type == "int":
            return optuna.distributions.IntDistribution(
                int(self.low), int(self.high), log=self.log, step=int(self.step or 1)
            )
        return optuna.distributions.CategoricalDistribution([_encode(c) for c in self.choices])

    def decode(self, value: Any) -> Any:
        """A sampled value back to the config's value."""
        if self.type not in ("categorical", "layout"):
            return value
        return {_encode(c): c for c in self.choices or []}[value]


def _encode(choice: Any) -> Any:
    scalar = choice is None or isinstance(choice, bool | int | float | str)
    return choice if scalar else json.dumps(choice, sort_keys=True)


class TuneSlurmConfig(SlurmResources):
    """The array tasks of `qmoe tune --executor slurm`: what each asks for, and how many."""

    workers: int = Field(
        4,
        ge=1,
        le=10_000,
        description="array tasks that pull trials from the study (`--workers`); each runs "
        "trials until every variant's budget is complete",
    )
    poll_seconds: float = Field(
        5.0, gt=0, le=600, description="how often the submitting process looks at the study"
    )


class TuneConfig(Strict):
    """A base config's variants, each tuned on validation with the same number of trials."""

    kind: Literal["tune"] = Field("tune", description=KIND_HELP)
    name: str = Field(
        "tune",
        pattern=NAME_PATTERN,
        description="the tuning folder, `<output_dir>/<name>/`, and the final ablation's name; "
        "when the file has no `name`, its stem",
    )
    base: dict[str, Any] = Field(
        description="the config tuned, of kind `train` or `ablate` (every variant tuned): a "
        "path relative to this file, read into this key, or the config itself"
    )
    variants: list[str] | None = Field(
        None,
        description="the base ablation's variants to tune (and test in the final run), in "
        "this order; null: every variant (a train config: its one model)",
    )
    space: dict[str, SearchParam] = Field(
        default_factory=dict,
        description="dotted keys of a variant's config (`train.lr`) -> their search range; "
        "shared by every variant",
    )
    variant_space: dict[str, dict[str, SearchParam]] = Field(
        default_factory=dict,
        description="variant -> keys searched for that variant only (`data.scaling` for the "
        "classical ones); a key also in `space` takes this range for the variant",
    )
    trials: int = Field(
        20,
        ge=1,
        le=100_000,
        description="finished trials per variant (complete, or pruned with a pruner), the "
        "same for every one",
    )
    variant_trials: dict[str, Annotated[int, Field(ge=1, le=100_000)]] = Field(
        default_factory=dict,
        description="variant -> its own number of trials, instead of `trials` (an unequal "
        "budget, recorded as such in tuned.json)",
    )
    trial_seeds: list[Seed] = Field(
        default_factory=lambda: [1000, 1001, 1002],
        description="the seeds every trial trains on; its value is the mean over them",
    )
    objective: Literal["val_accuracy", "val_loss"] = Field(
        "val_accuracy",
        description="what a trial scores on the validation split (at the kept epoch): "
        "accuracy (maximised) or loss (minimised); the test split is never read by a trial",
    )
    seeds: list[Seed] = Field(
        default_factory=lambda: [0, 1, 2, 3, 4],
        description="the final run's seeds: each variant's best settings trained and tested once",
    )
    sampler_seed: int = Field(
        0, ge=0, le=2**31 - 1, description="seeds Optuna's TPE sampler (with the trial number)"
    )
    pruner: Literal["none", "median"] = Field(
        "none",
        description="stop unpromising trials early on their validation curve: `median` "
        "(Optuna's MedianPruner: after each epoch, a trial whose value so far is worse than "
        "the median of earlier trials' at that epoch is PRUNED); a pruned trial counts toward "
        "the budget (Optuna's finished trials), the best is chosen among complete ones; "
        "only with trial_batch 1",
    )
    pruner_startup_trials: int = Field(
        5,
        ge=1,
        le=100_000,
        description="`median`: trials of a variant that finish before any is pruned "
        "(MedianPruner's n_startup_trials)",
    )
    pruner_warmup_epochs: int = Field(
        5,
        ge=0,
        le=100_000,
        description="`median`: epochs a trial trains before it may be pruned "
        "(MedianPruner's n_warmup_steps)",
    )
    trial_batch: int = Field(
        1,
        ge=1,
        le=1024,
        description="trials asked from the sampler together, before it sees their values; "
        "those whose settings differ only in train.lr and train.weight_decay train as one "
        "stacked model (their values are those of one trial at a time)",
    )
    storage: str | None = Field(
        None,
        description="the Optuna storage (`--storage`): an SQLAlchemy URL (`sqlite:///f.db`, "
        "`postgresql://...`) or `journal:PATH` (a journal file); null: `study.db` in the "
        "tuning folder",
    )
    output_dir: str = Field("runs/tune", description="tuning folders go here (`--out`)")
    slurm: TuneSlurmConfig = Field(
        default_factory=TuneSlurmConfig,
        description="array tasks of `--executor slurm` (below)",
    )

    _base: ExperimentConfig = PrivateAttr()
    _layouts: dict[tuple[str, str], SearchParam] = PrivateAttr(default_factory=dict)

    @field_validator("base", mode="before")
    @classmethod
    def _read_base(cls, v: Any) -> Any:
        if isinstance(v, str):  # set by --set base=PATH: from the working directory
            from qmoe_cli.config.loading import read_yaml

            try:
                return read_yaml(Path(v))
            except ConfigError as exc:
                raise ValueError(str(exc)) from None
        return v

    @field_validator("trial_seeds", "seeds")
    @classmethod
    def _seeds(cls, v: list[int]) -> list[int]:
        if not v:
            raise ValueError("give at least one seed")
        if len(set(v)) != len(v):
            raise ValueError("seeds must not repeat")
        return v

    @model_validator(mode="after")
    def _check(self) -> TuneConfig:
        kind = self.base.get("kind")
        schemas = {"train": ExperimentConfig, "ablate": AblationConfig}
        if kind not in schemas:
            raise ValueError(f"base: kind: {kind!r}: tune takes a train or ablate config")
        try:
            self._base = schemas[kind].model_validate(self.base)
        except ValidationError as exc:
            raise ValueError(f"base: {format_validation_error(exc)}") from None
        every = self._all_variants()
        check_names(dict.fromkeys(every), "base.variants")
        if self.variants is not None:
            if not self.variants:
                raise ValueError("variants: give at least one, or null for every variant")
            for i, name in enumerate(self.variants):
                if name not in every:
                    raise ValueError(
                        f"variants.{i}: {name!r} is not a variant of base ({', '.join(every)})"
                    )
                if self.variants.index(name) != i:
                    raise ValueError(f"variants.{i}: {name!r} is given twice")
            base = self._base
            if isinstance(base, AblationConfig) and base.reference not in self.variants:
                raise ValueError(
                    f"variants: base's reference {base.reference!r} is not among them; "
                    "add it, or set base.reference to one of them"
                )
        if self.pruner != "none" and self.trial_batch != 1:
            raise ValueError(
                f"pruner: {self.pruner} needs trial_batch 1 (got {self.trial_batch}): trials "
                "trained as one stack cannot stop one trial alone; set trial_batch: 1 or "
                "pruner: none"
            )
        names = self.variant_names()
        for key, named in (
            ("variant_space", self.variant_space),
            ("variant_trials", self.variant_trials),
        ):
            for name in named:
                if name not in names:
                    raise ValueError(f"{key}.{name}: not a variant of base ({', '.join(names)})")
        for name in names:
            self._check_space(name)
        return self

    def _check_space(self, name: str) -> None:
        """Every key of the variant's space set to each end of its range (each choice) in
        the variant's config, validated: a ValueError naming the key."""
        space = {**self.space, **self.variant_space.get(name, {})}
        if not space:
            raise ValueError(f"space: nothing to tune for variant {name}; give a key")
        config = self.variant_config(name)
        own = self.variant_space.get(name, {})
        for key, param in space.items():
            where = f"variant_space.{name}.{key}" if key in own else f"space.{key}"
            if param.type == "layout" or key == LAYOUT_KEY:
                self._layout(name, key, param, where)
                continue
            try:
                check_override_key(key)
            except ValueError as exc:
                raise ValueError(f"{where}: {exc}") from None
            for value in param.probes():
                problem = _problem(config, key, value)
                if problem is None:
                    continue
                if "unknown key" in problem or "is not a mapping" in problem:
                    raise ValueError(f"{where}: not a key of variant {name}'s config ({problem})")
                shown = _show(_plain(value))
                raise ValueError(
                    f"{where}: {shown} is no valid value for variant {name} ({problem})"
                )

    def _all_variants(self) -> list[str]:
        base = self._base
        return list(base.variants) if isinstance(base, AblationConfig) else [base.name]

    def variant_names(self) -> list[str]:
        """The variants tuned: `variants`, else an ablation's every variant, or the train
        config's one model (its name)."""
        return list(self.variants) if self.variants is not None else self._all_variants()

    def variant_config(self, name: str) -> ExperimentConfig:
        base = self._base
        return base.variant(name) if isinstance(base, AblationConfig) else base

    def space_of(self, name: str) -> dict[str, SearchParam]:
        """The variant's search space, a layout entry with its layouts as `choices`."""
        space = {**self.space, **self.variant_space.get(name, {})}
        return {
            k: self._layout(name, k, p, k) if p.type == "layout" else p for k, p in space.items()
        }

    def _layout(self, name: str, key: str, param: SearchParam, where: str) -> SearchParam:
        """A layout entry resolved for a variant: its [qubits, layers] pairs as `choices`; a
        ValueError naming `where` when the entry does not apply or no layout fits."""
        if (name, key) in self._layouts:
            return self._layouts[name, key]
        if param.type != "layout":
            raise ValueError(f"{where}: the layout key takes type layout (with `params`)")
        if key != LAYOUT_KEY:
            raise ValueError(f"{where}: a layout's key is {LAYOUT_KEY}")
        config = self.variant_config(name)
        router = config.model.router
        if router.type != "quantum":
            raise ValueError(
                f"{where}: variant {name}'s router is {router.type}, not quantum; search "
                "layouts in the quantum variants' variant_space"
            )
        most = param.max_qubits or LAYOUT_MAX_QUBITS
        found = layouts(config, param.params or 0, most)
        if not found:
            raise ValueError(
                f"{where}: no layout of at most {most} qubits has exactly {param.params} router "
                f"parameters for variant {name} (ansatz {router.ansatz}, readout "
                f"{router.readout}, {config.model.experts.count} experts)"
            )
        resolved = param.model_copy(update={"choices": found})
        self._layouts[name, key] = resolved
        return resolved

    def budget(self) -> dict[str, int]:
        """Complete trials per variant."""
        return {n: self.variant_trials.get(n, self.trials) for n in self.variant_names()}

    def trial_config(self, name: str, values: dict[str, Any]) -> ExperimentConfig:
        """The variant's config with a trial's settings, on the trial seeds."""
        raw = self.variant_config(name).model_dump(mode="json")
        for key, value in expand_settings(values).items():
            set_dotted(raw, key, value)
        raw["seeds"] = list(self.trial_seeds)
        try:
            return ExperimentConfig.model_validate(raw)
        except ValidationError as exc:
            raise ConfigError(f"variant {name}: {format_validation_error(exc)}") from None

    def final_config(self, best: dict[str, dict[str, Any]]) -> AblationConfig:
        """The ablation of the final run: every variant with its best settings as its
        `overrides`, on `seeds`, under this config's name."""
        base = self._base
        if isinstance(base, AblationConfig):
            raw = base.model_dump(mode="json")
        else:
            raw = base.model_dump(mode="json", exclude={"kind"})
            raw["variants"] = {
                base.name: VariantConfig(
                    router=base.model.router, experts=base.model.experts
                ).model_dump(mode="json")
            }
            raw["reference"] = base.name
        raw["kind"] = "ablate"
        raw["variants"] = {n: raw["variants"][n] for n in self.variant_names()}
        for name, values in best.items():
            raw["variants"][name]["overrides"] = {
                **raw["variants"][name].get("overrides", {}),
                **expand_settings(values),
            }
        raw["name"], raw["seeds"] = self.name, list(self.seeds)
        try:
            return AblationConfig.model_validate(raw)
        except ValidationError as exc:
            raise ConfigError(f"the tuned ablation: {format_validation_error(exc)}") from None


def layouts(config: ExperimentConfig, params: int, max_qubits: int) -> list[list[int]]:
    """The [qubits, layers] pairs of the config's quantum router with exactly `params`
    router parameters (the router's own param_count), up to `max_qubits` qubits, each a valid
    config (the experts' and features' needs on qubits, the layers' limit). A layer is
    taken to add parameters: for each width, layers are counted up until the count passes
    `params`."""
    from qmoe_cli.data import n_input_features

    router = config.model.router
    experts = config.model.experts.count
    features = n_input_features(config.data) or 1  # unknown: no count depends on it
    found = []
    for qubits in range(1, max_qubits + 1):
        if _problem_of(config, {"qubits": qubits, "layers": 1}) is not None:
            continue  # too few qubits for the experts or the features
        for layers in range(1, 201):
            shape = router.model_copy(update={"qubits": qubits, "layers": layers})
            count = shape.param_count(min(features, qubits), experts)
            if (
                count == params
                and _problem_of(config, {"qubits": qubits, "layers": layers}) is None
            ):
                found.append([qubits, layers])
            if count >= params:
                break
    return found


def expand_settings(values: dict[str, Any]) -> dict[str, Any]:
    """A trial's settings as config keys: a layout [qubits, layers] as the router's two."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        if key == LAYOUT_KEY:
            parent = key.rsplit(".", 1)[0]
            out[f"{parent}.qubits"], out[f"{parent}.layers"] = value
        else:
            out[key] = value
    return out


def setting_of(raw: dict, key: str) -> Any:
    """A searched key's value in a config (a layout: [qubits, layers])."""
    if key == LAYOUT_KEY:
        parent = key.rsplit(".", 1)[0]
        return [get_dotted(raw, f"{parent}.qubits"), get_dotted(raw, f"{parent}.layers")]
    return get_dotted(raw, key)


def _problem_of(config: ExperimentConfig, router: dict[str, Any]) -> str | None:
    raw = config.model_dump(mode="json")
    raw["model"]["router"].update(router)
    try:
        ExperimentConfig.model_validate(raw)
    except ValidationError as exc:
        return format_validation_error(exc)
    return None


def _plain(value: Any) -> Any:
    """100.0 shown as 100, as the user wrote it."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _problem(config: ExperimentConfig, key: str, value: Any) -> str | None:
    """Why `key: value` is no valid setting of `config` (None: it is)."""
    raw = config.model_dump(mode="json")
    try:
        set_dotted(raw, key, value)
        ExperimentConfig.model_validate(raw)
    except ConfigError as exc:
        return str(exc)
    except ValidationError as exc:
        return format_validation_error(exc)
    return None
