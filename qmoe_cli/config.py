"""Validated experiment configs: YAML file -> `--set` overrides -> pydantic models.

Every key of a config is declared here with its default, so `qmoe validate` can
print the whole resolved config and an unknown key is an error, not a silent no-op.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from qmoe_cli import files

# The component configs live with their components, each kind in a module of its own with
# a registry listing them (qmoe_cli/data/__init__.py, qmoe_cli/models/routers/__init__.py,
# qmoe_cli/models/experts/__init__.py); those modules import no torch or sklearn.
from qmoe_cli.data import DATASET_FEATURES as DATASET_FEATURES
from qmoe_cli.data import DATASET_ONLY_KEYS as DATASET_ONLY_KEYS
from qmoe_cli.data import DATASETS as DATASETS
from qmoe_cli.data import DataConfig as DataConfig
from qmoe_cli.data import n_input_features as n_input_features
from qmoe_cli.data import resolve_paths
from qmoe_cli.errors import ConfigError
from qmoe_cli.models.experts import EXPERT_TYPES, LinearExpertsConfig
from qmoe_cli.models.experts import ExpertsConfig as ExpertsConfig
from qmoe_cli.models.routers import ROUTER_TYPES as ROUTER_TYPES
from qmoe_cli.models.routers import FourierRouterConfig as FourierRouterConfig
from qmoe_cli.models.routers import LinearRouterConfig as LinearRouterConfig
from qmoe_cli.models.routers import MLPRouterConfig as MLPRouterConfig
from qmoe_cli.models.routers import NoiseConfig as NoiseConfig
from qmoe_cli.models.routers import QuantumRouterConfig as QuantumRouterConfig
from qmoe_cli.models.routers import RouterConfig as RouterConfig
from qmoe_cli.models.routers import check_training_backend, is_noisy
from qmoe_cli.schema import NotANumber
from qmoe_cli.schema import Strict as Strict

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
# The discriminated unions put their tag into error locations (model.router.mlp.hidden):
# _dotted drops it after these keys.
UNION_TAGS = {"router": ROUTER_TYPES, "experts": EXPERT_TYPES}


class ModelConfig(Strict):
    router: RouterConfig = Field(default_factory=LinearRouterConfig)
    experts: ExpertsConfig = Field(default_factory=LinearExpertsConfig)
    top_k: int | None = Field(
        None, ge=1, description="keep the k largest gates and renormalise (default: dense)"
    )
    balance_weight: float = Field(
        0.0, ge=0.0, description="weight of the Switch-Transformer load-balancing loss"
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


class TrainConfig(Strict):
    optimizer: Literal["adam", "sgd"] = "adam"
    lr: float = Field(0.01, gt=0.0, le=10.0)
    momentum: float = Field(0.0, ge=0.0, lt=1.0, description="sgd only")
    weight_decay: float = Field(0.0, ge=0.0)
    batch_size: int = Field(32, ge=1)
    epochs: int = Field(100, ge=1, le=100_000)
    early_stopping: bool = True
    patience: int = Field(10, ge=1, description="epochs without val-loss improvement")
    min_delta: float = Field(0.0, ge=0.0, description="improvement smaller than this is none")
    dtype: Literal["float32", "float64"] = Field(
        "float64",
        description="float64: the stacked engine and the sequential reference agree to "
        "1e-6 (in practice 1e-9); float32 trains one model at a time",
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
        "where it applies (qmoe_cli/stacked.py), same numbers; sequential: one at a time",
    )

    @model_validator(mode="after")
    def _check(self) -> TrainConfig:
        if self.momentum and self.optimizer != "sgd":
            raise ValueError("'momentum' applies only to optimizer: sgd")
        return self


KIND_HELP = "the experiment kind: which command runs this config (qmoe_cli/kinds.py)"


class ExperimentConfig(Strict):
    """One experiment: data + model + training, run once per seed."""

    kind: Literal["train"] = Field("train", description=KIND_HELP)
    name: str = Field("experiment", pattern=NAME_PATTERN)
    data: DataConfig = Field(default_factory=DataConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    seeds: list[Annotated[int, Field(ge=0, le=2**31 - 1)]] = Field(
        default_factory=lambda: [0, 1, 2, 3, 4]
    )
    output_dir: str = "runs"

    @model_validator(mode="after")
    def _router_fits_data_and_experts(self) -> ExperimentConfig:
        # each router kind states its own checks against the experts and the input width
        self.model.check_parts()
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
    """One arm of an ablation: the shared config with this router (and experts, if given)."""

    label: str = Field("", max_length=80, description="shown in tables and figures")
    router: RouterConfig
    experts: ExpertsConfig | None = None


class AblationConfig(ExperimentConfig):
    """Shared data, experts, training and seeds, and the routers to compare on them."""

    kind: Literal["ablate"] = Field("ablate", description=KIND_HELP)
    variants: dict[str, VariantConfig]
    reference: str = Field("B", description="the variant compared, seed by seed, to the others")
    plateau: float | None = Field(
        None,
        ge=0.0,
        le=1.0,
        description="report each variant's share of seeds whose test accuracy lies above this",
    )

    @model_validator(mode="after")
    def _check_variants(self) -> AblationConfig:
        check_names(self.variants, "variants")
        for name in self.variants:
            try:
                self.variant(name)
            except ConfigError as exc:
                raise ValueError(f"variants.{name}: {exc}") from None
        if self.reference not in self.variants:
            raise ValueError(
                f"reference: '{self.reference}' is not one of the variants "
                f"({', '.join(self.variants)})"
            )
        return self

    def variant(self, name: str) -> ExperimentConfig:
        """The full ExperimentConfig of one variant (validated like any config)."""
        return with_variant(self, name, self.variants[name])


class NoiseSweepConfig(ExperimentConfig):
    """A quantum router (the shared model) under several depolarizing levels, with classical
    baselines trained once per seed as flat references."""

    kind: Literal["noise-sweep"] = Field("noise-sweep", description=KIND_HELP)
    levels: list[Annotated[float, Field(ge=0.0, le=1.0)]] = Field(
        default_factory=lambda: [0.0, 0.005, 0.01, 0.02, 0.03, 0.05]
    )
    mode: Literal["evaluate", "train"] = "evaluate"
    baselines: dict[str, VariantConfig] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check_sweep(self) -> NoiseSweepConfig:
        if self.model.router.type != "quantum":
            raise ValueError("model.router.type: a noise sweep needs a quantum router")
        if self.model.router.noise.fake_backend and self.mode != "evaluate":
            raise ValueError("model.router.noise.fake_backend: evaluated in mode evaluate only")
        if not self.levels or len(set(self.levels)) != len(self.levels):
            raise ValueError("levels: give distinct noise levels")
        check_names(self.baselines, "baselines", allow_empty=True)
        if "quantum" in self.baselines:
            raise ValueError("baselines.quantum: the name is the quantum router's; pick another")
        for name, variant in self.baselines.items():
            if variant.router.type == "quantum":
                raise ValueError(f"baselines.{name}: baselines are classical routers")
            if (variant.experts or self.model.experts).type == "quantum":
                raise ValueError(
                    f"baselines.{name}.experts: baselines are classical; give the baseline "
                    "classical experts (e.g. experts: {count: 4}, linear)"
                )
        return self

    def _noisy_levels(self) -> bool:  # mode evaluate trains noiseless, then adds the noise
        return self.mode == "train" and any(self.levels)

    def at_level(self, level: float) -> ExperimentConfig:
        """The quantum router's config with its circuit at this depolarizing level."""
        raw = self.model_dump(mode="json", include=set(ExperimentConfig.model_fields))
        raw["name"] = f"{self.name}-eps{level:g}"[:64]
        raw["kind"] = "train"
        raw["model"]["router"]["noise"]["depolarizing"] = level
        raw["model"]["router"]["noise"]["fake_backend"] = None  # evaluated on its own
        return ExperimentConfig.model_validate(raw)

    def baseline(self, name: str) -> ExperimentConfig:
        return with_variant(self, name, self.baselines[name])


class EfficiencyConfig(ExperimentConfig):
    """Routers of several sizes (variants) on the same data and experts: accuracy against
    router parameters, the Pareto front, and the smallest router reaching each threshold."""

    kind: Literal["efficiency"] = Field("efficiency", description=KIND_HELP)
    variants: dict[str, VariantConfig]
    thresholds: list[Annotated[float, Field(gt=0.0, le=1.0)]] = Field(
        default_factory=lambda: [0.9, 0.95]
    )

    @field_validator("thresholds")
    @classmethod
    def _distinct_thresholds(cls, v: list[float]) -> list[float]:
        if not v or len(set(v)) != len(v):  # each is a row of the table: once each
            raise ValueError("give distinct accuracy thresholds")
        return v

    @model_validator(mode="after")
    def _check_variants(self) -> EfficiencyConfig:
        check_names(self.variants, "variants")
        for name in self.variants:
            try:
                self.variant(name)
            except ConfigError as exc:
                raise ValueError(f"variants.{name}: {exc}") from None
        return self

    def variant(self, name: str) -> ExperimentConfig:
        return with_variant(self, name, self.variants[name])


def with_variant(base: ExperimentConfig, name: str, variant: VariantConfig) -> ExperimentConfig:
    """The shared part of a group config (its ExperimentConfig fields) with a variant's
    router (and experts, if given), validated like any config."""
    raw = base.model_dump(mode="json", include=set(ExperimentConfig.model_fields))
    raw["name"] = f"{base.name}-{name}"[:64]
    raw["kind"] = "train"
    raw["model"]["router"] = variant.router.model_dump(mode="json")
    if variant.experts is not None:
        raw["model"]["experts"] = variant.experts.model_dump(mode="json")
    try:
        return ExperimentConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc)) from None


# --------------------------------------------------------------------------- loading

_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


def parse_override(text: str) -> tuple[str, Any]:
    """'a.b=value' -> ('a.b', value parsed as YAML)."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not _KEY.match(key):
        raise ConfigError(
            f"bad override '{text}': expected KEY=VALUE with a dotted key, e.g. train.epochs=5"
        )
    try:
        value = load_yaml_text(raw) if raw.strip() else None
    except yaml.YAMLError as exc:
        problem = _yaml_problem(exc)
        raise ConfigError(f"bad override '{text}': value is not valid YAML ({problem})") from None
    except ValueError as exc:
        raise ConfigError(f"bad override '{text}': {exc}") from None
    return key, value


def apply_overrides(raw: dict, overrides: list[str]) -> dict:
    """Set each dotted key in a copy of the raw mapping (creating missing mappings)."""
    data = copy.deepcopy(raw)
    for text in overrides:
        key, value = parse_override(text)
        set_dotted(data, key, value)
    return data


def set_dotted(data: dict, key: str, value: Any) -> None:
    parts = key.split(".")
    node = data
    for i, part in enumerate(parts[:-1]):
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        if not isinstance(child, dict):
            where = ".".join(parts[: i + 1])
            raise ConfigError(f"cannot set '{key}': '{where}' is not a mapping")
        node = child
    node[parts[-1]] = value


MAX_CONFIG_BYTES = 1_000_000  # 1 MB: a config is a few kB; a larger file is a mistake
MAX_YAML_VALUES = 100_000  # values of a YAML document with its aliases expanded


class YamlLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # C parser if built
    """PyYAML's safe loader with YAML 1.2 numbers and no duplicate keys.

    YAML 1.1 (PyYAML) reads 1e9, 1e-3 and 1E+3 as strings: they are floats here, as in
    YAML 1.2 (an int field takes an integral float such as 1e3). A key given twice in one
    mapping is an error naming it and its lines, not the last one silently winning.
    """

    yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:float"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen: dict = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge" or not isinstance(
                    key_node, yaml.ScalarNode
                ):
                    continue
                key = self.construct_object(key_node)
                try:
                    first = seen.setdefault(key, key_node)
                except TypeError:  # unhashable: the constructor reports it
                    continue
                if first is not key_node:
                    raise yaml.constructor.ConstructorError(
                        None,
                        None,
                        f"duplicate key '{key}', first given on line {first.start_mark.line + 1}",
                        key_node.start_mark,
                    )
        return super().construct_mapping(node, deep=deep)


YamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
        |[-+]?(?:[0-9][0-9_]*)[eE][-+]?[0-9]+
        |[-+]?\.[0-9][0-9_]*(?:[eE][-+]?[0-9]+)?
        |[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
        re.X,
    ),
    list("-+0123456789."),
)


class YamlDumper(yaml.SafeDumper):
    """Quotes the strings YamlLoader reads as numbers (name: '1e3'), so a dumped config
    reads back the same."""

    yaml_implicit_resolvers = YamlLoader.yaml_implicit_resolvers


def load_yaml_text(text: str) -> Any:
    """Parse one YAML document (YamlLoader); yaml.YAMLError or ValueError (too many values
    once aliases are expanded, e.g. a billion-laughs file) on bad input."""
    loader = YamlLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _count_values(node)
        return loader.construct_document(node)
    except RecursionError:
        raise ValueError("the YAML is nested too deeply") from None
    finally:
        loader.dispose()


def _count_values(root) -> None:
    """Count the nodes of a composed YAML document as constructing it would visit them,
    each alias expanded, and stop at MAX_YAML_VALUES (iterative, with the counts of shared
    nodes memoised, so a billion laughs is counted in microseconds)."""
    sizes: dict[int, int] = {}
    stack = [(root, False)]
    active: set[int] = set()
    while stack:
        node, done = stack.pop()
        if id(node) in sizes and not done:
            continue
        if isinstance(node, yaml.ScalarNode):
            sizes[id(node)] = 1
            continue
        children = (
            [n for pair in node.value for n in pair]
            if isinstance(node, yaml.MappingNode)
            else list(node.value)
        )
        if not done:
            if id(node) in active:
                raise ValueError("a YAML alias refers to a node that contains it")
            active.add(id(node))
            stack.append((node, True))
            for child in children:
                if id(child) in active:
                    raise ValueError("a YAML alias refers to a node that contains it")
                stack.append((child, False))
            continue
        active.discard(id(node))
        total = 1 + sum(sizes[id(c)] for c in children)
        if total > MAX_YAML_VALUES:
            raise ValueError(
                f"the YAML holds more than {MAX_YAML_VALUES} values once its aliases are "
                "expanded (the limit)"
            )
        sizes[id(node)] = total


def read_yaml(path: str | Path) -> dict:
    """Read a YAML mapping; every failure is a ConfigError naming the file."""
    p = Path(path)
    try:
        text = files.read_text(p, MAX_CONFIG_BYTES)
    except files.Refused as exc:
        raise ConfigError(f"config file {p}: {exc.reason}") from None
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {p}") from None
    except PermissionError:
        raise ConfigError(f"config file not readable (permission denied): {p}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"config file is not UTF-8 text: {p}") from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {p}: {exc.strerror or exc}") from None
    try:
        data = load_yaml_text(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{p}: not valid YAML ({_yaml_problem(exc)})") from None
    except ValueError as exc:
        raise ConfigError(f"{p}: {exc}") from None
    if data is None:
        raise ConfigError(f"config file is empty: {p}")
    if not isinstance(data, dict):
        raise ConfigError(
            f"{p}: the top level must be a mapping of keys, got {type(data).__name__}"
        )
    if isinstance(data.get("data"), dict):  # data files: relative to this file's folder
        data["data"] = resolve_paths(data["data"], p.absolute().parent)
    return data


def load_raw(path: str | Path, overrides: list[str] | None = None) -> dict:
    """YAML file + overrides -> the raw mapping (name defaults to the file's stem)."""
    raw = apply_overrides(read_yaml(path), overrides or [])
    if "name" not in raw and re.match(NAME_PATTERN, Path(path).stem):
        raw["name"] = Path(path).stem
    return raw


def load_config(path: str | Path, overrides: list[str] | None = None, schema=None):
    """YAML file + overrides -> a config validated against `schema` (the kind's schema is
    chosen by qmoe_cli/kinds.py's `load`)."""
    return validate_config(load_raw(path, overrides), source=str(path), schema=schema)


def validate_config(raw: Any, source: str = "config", schema=None):
    schema = schema or ExperimentConfig
    try:
        return schema.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"{source}: {format_validation_error(exc)}") from None


def format_validation_error(exc: ValidationError) -> str:
    """All problems on one line, each led by its dotted key."""
    parts = []
    for err in exc.errors():
        loc = _dotted(err["loc"])
        msg = err["msg"]
        if err["type"] == "union_tag_invalid":
            loc = f"{loc}.type" if loc else "type"
        elif err["type"] == "extra_forbidden":
            msg = "unknown key"
        elif err["type"] == "missing":
            msg = "required key is missing"
        elif err["type"] == "finite_number":
            msg = "must be a finite number"
        elif isinstance(err.get("input"), NotANumber):  # schema.Strict: a YAML boolean
            what = "an integer" if err["type"].startswith("int") else "a number"
            msg = f"must be {what}, not {err['input']!r}"
        msg = msg.removeprefix("Value error, ")
        parts.append(f"{loc}: {msg}" if loc else msg)
    return "; ".join(parts).replace("\n", "\\n")  # one line, whatever the keys hold


def dump_config(cfg: BaseModel) -> str:
    return yaml.dump(cfg.model_dump(mode="json"), Dumper=YamlDumper, sort_keys=False)


def _dotted(loc: tuple) -> str:
    out: list[str] = []
    for i, item in enumerate(loc):
        # A discriminated union puts its tag into the location: drop it.
        if i > 0 and item in UNION_TAGS.get(loc[i - 1], ()):
            continue
        if isinstance(item, int):
            out.append(f"[{item}]")
        else:
            out.append(("." if out else "") + str(item))
    return "".join(out)


def _yaml_problem(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    if mark is not None:
        return f"line {mark.line + 1}, column {mark.column + 1}: {problem}"
    return problem


# --- `qmoe sweep`: a grid of overrides x seeds over a base config (experiments/sweep.py) ------


class SlurmConfig(Strict):
    partition: str | None = None
    time_min: int = Field(60, ge=1)
    cpus_per_task: int = Field(1, ge=1)
    mem: str = "1G"
    array_parallelism: int = Field(64, ge=1)
    points_per_task: int = Field(1, ge=1, description="chunk cheap points into one task")


class SweepConfig(Strict):
    kind: Literal["sweep"] = Field("sweep", description=KIND_HELP)
    name: str = Field("sweep", pattern=NAME_PATTERN)
    base: str
    command: Literal["train", "ablate", "noise-sweep", "efficiency"] | None = Field(
        None,
        description="the base config's kind, read from it (give it only to check it)",
    )
    grid: dict[str, list[Any]] = Field(default_factory=dict)
    zip: dict[str, list[Any]] = Field(default_factory=dict)
    seeds: list[int] = Field(default_factory=lambda: [0, 1, 2, 3, 4])
    output_dir: str = "runs/sweeps"
    slurm: SlurmConfig = Field(default_factory=SlurmConfig)

    @field_validator("grid", "zip")
    @classmethod
    def _no_empty(cls, v: dict, info: ValidationInfo) -> dict:
        for key, values in v.items():
            if not values:
                raise ValueError(f"{key}: give at least one value")
            if info.field_name == "grid":
                # a repeated value would train one point and write its rows twice
                seen: dict = {}
                for i, value in enumerate(values):
                    first = seen.setdefault(_canonical(value), i)
                    if first != i:
                        raise ValueError(
                            f"{key}: value {_show(value)} is given twice "
                            f"([{first}] and [{i}]); give distinct values"
                        )
        return v

    @model_validator(mode="after")
    def _check(self) -> SweepConfig:
        if len({len(v) for v in self.zip.values()}) > 1:
            raise ValueError("zip: every key needs the same number of values")
        seen: dict = {}
        for i, point in enumerate(zip(*self.zip.values(), strict=True)):
            first = seen.setdefault(tuple(map(_canonical, point)), i)
            if first != i:
                keys = ", ".join(f"{k}={_show(v)}" for k, v in zip(self.zip, point, strict=True))
                raise ValueError(
                    f"zip: point [{i}] ({keys}) repeats point [{first}]; give distinct points"
                )
        both = set(self.grid) & set(self.zip)
        if both:
            raise ValueError(f"grid and zip both set {', '.join(sorted(both))}")
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise ValueError("seeds: give distinct seeds")
        return self


# --- `qmoe run`: several run configs in one process (experiments/plan.py) --------------------


class PlanRun(Strict):
    config: str = Field(description="a run config (train, ablate, noise-sweep, efficiency)")
    set: list[str] = Field(
        default_factory=list, description="KEY=VALUE overrides of this run's config"
    )


class PlanConfig(Strict):
    kind: Literal["plan"] = Field("plan", description=KIND_HELP)
    name: str = Field("plan", pattern=NAME_PATTERN, description="what the plan is, for people")
    runs: list[PlanRun] = Field(
        description="run configs, run in this order; a path alone or {config, set}; paths "
        "relative to the working directory, else to the plan file"
    )

    @field_validator("runs", mode="before")
    @classmethod
    def _paths_alone(cls, v: Any) -> Any:
        if isinstance(v, list):
            return [{"config": r} if isinstance(r, str) else r for r in v]
        return v

    @field_validator("runs")
    @classmethod
    def _not_empty(cls, v: list[PlanRun]) -> list[PlanRun]:
        if not v:
            raise ValueError("give at least one run")
        return v


def _canonical(value: Any) -> Any:
    """A hashable form of a YAML value under which values that set the same override are
    equal (2 and 2.0; mappings in any key order)."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return (type(value).__name__, value)
    if isinstance(value, int | float):
        return ("number", float(value) if value == value else "nan")
    if isinstance(value, list | tuple):
        return ("list", tuple(_canonical(v) for v in value))
    if isinstance(value, dict):
        return ("map", tuple(sorted((str(k), _canonical(v)) for k, v in value.items())))
    return ("other", repr(value))


def _show(value: Any) -> str:
    """A value as a one-line YAML flow scalar/collection, as the user would write it."""
    text = yaml.dump(value, Dumper=YamlDumper, default_flow_style=True, width=10**9).strip()
    return text.removesuffix("\n...").removesuffix("...").strip()


# --- `qmoe hardware`: trained routers on a device through IBM's runtime (experiments/hardware.py)

MITIGATIONS = ("none", "readout", "zne", "readout+zne")
AER_NOISE_KEYS = {"depolarizing": 1.0, "depolarizing_2q": 1.0, "readout": 0.5}  # key -> max
TARGET_SYNTAX = (
    "aer, aer:depolarizing=EPS[,depolarizing_2q=EPS][,readout=R], a fake IBM device of "
    "qiskit_ibm_runtime.fake_provider (FakeManilaV2, FakeSherbrooke, FakeTorino, ...) or "
    "ibm:BACKEND (a real device, with a saved IBM Quantum account)"
)
TARGET_HINT = (
    "targets: aer, aer:depolarizing=EPS,readout=R, a fake device (e.g. FakeTorino), ibm:BACKEND"
)


def parse_target(text: str) -> dict:
    """`--target` -> {"text": canonical form, "kind": "aer" | "fake" | "ibm", "name": device
    or "aer", "noise": {aer noise key: value}}; a ValueError naming the problem, with the
    closest fake devices (the check of model.router.noise.fake_backend) for an unknown name.

    `aer`: Aer's noiseless simulator; `aer:depolarizing=0.01,readout=0.02`: Aer with
    depolarizing_error(eps) after every 1-qubit gate and the joint 2-qubit channel after every
    2-qubit gate (`depolarizing_2q`, default the same eps) and a symmetric readout bit flip;
    `FakeTorino` etc.: qiskit-ibm-runtime's local testing mode on that fake device;
    `ibm:ibm_torino` (or just `ibm_torino`): the real device through QiskitRuntimeService."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"give a target: {TARGET_SYNTAX}")
    text = text.strip()
    head, sep, rest = text.partition(":")
    if head.lower() == "aer":
        noise: dict[str, float] = {}
        for item in rest.split(",") if sep else []:
            key, eq, value = (s.strip() for s in item.partition("="))
            if key not in AER_NOISE_KEYS or not eq:
                raise ValueError(
                    f"{text!r}: {item.strip()!r} is not KEY=VALUE with KEY one of "
                    f"{', '.join(AER_NOISE_KEYS)}"
                )
            try:
                number = float(value)
            except ValueError:
                raise ValueError(f"{text!r}: {key}: {value!r} is not a number") from None
            if not 0.0 <= number <= AER_NOISE_KEYS[key]:
                raise ValueError(f"{text!r}: {key}: {value} is not in [0, {AER_NOISE_KEYS[key]}]")
            if key in noise:
                raise ValueError(f"{text!r}: {key} is given twice")
            noise[key] = number
        if sep and not noise:
            raise ValueError(f"{text!r}: give KEY=VALUE after 'aer:' (or plain 'aer')")
        canonical = "aer" + (
            ":" + ",".join(f"{k}={noise[k]:g}" for k in AER_NOISE_KEYS if k in noise)
            if noise
            else ""
        )
        return {"text": canonical, "kind": "aer", "name": "aer", "noise": noise}
    if head.lower() == "ibm" and sep or text.startswith("ibm_"):
        name = rest.strip() if sep else text
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
            raise ValueError(
                f"{text!r}: give an IBM backend name after 'ibm:', e.g. ibm:ibm_torino"
            )
        return {"text": f"ibm:{name}", "kind": "ibm", "name": name, "noise": {}}
    try:  # the same check (and hint) as model.router.noise.fake_backend
        NoiseConfig.model_validate({"fake_backend": text})
    except ValidationError as exc:
        why = exc.errors()[0]["msg"].removeprefix("Value error, ")
        raise ValueError(f"{why}; {TARGET_HINT}") from None
    return {"text": text, "kind": "fake", "name": text, "noise": {}}


def target_slug(text: str) -> str:
    """A target as a run-name piece: `aer:depolarizing=0.01` -> `aer-depolarizing-0.01`."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-.")[:50] or "target"


class HardwareConfig(Strict):
    """`qmoe hardware`: the trained quantum routers of a run folder evaluated on a target
    through qiskit-ibm-runtime's SamplerV2, with shots, transpilation and error mitigation
    (docs/hardware.md). The command builds it from its options and writes it resolved."""

    kind: Literal["hardware"] = Field("hardware", description=KIND_HELP)
    name: str = Field("hardware", pattern=NAME_PATTERN, description="run name")
    run: str = Field(
        description="the trained run folder: train, ablate, efficiency, or an evaluate-mode "
        "noise-sweep (its `quantum/` router and `baselines/`)"
    )
    target: str = Field(description=f"where the circuits run: {TARGET_SYNTAX}")
    shots: list[int] = Field(
        default_factory=lambda: [100, 300, 1000, 3000, 10000],
        description="shot counts reported; the largest is sampled, each smaller one is the "
        "first shots of it",
    )
    mitigation: list[Literal["none", "readout", "zne", "readout+zne"]] = Field(
        default_factory=lambda: list(MITIGATIONS),
        description="error mitigation, each reported beside the others (`none` always)",
    )
    optimization_level: int = Field(2, ge=0, le=3, description="transpiler preset level")
    zne_scales: list[int] = Field(
        default_factory=lambda: [1, 3, 5],
        description="noise scale factors of zero-noise extrapolation: odd, increasing, from 1 "
        "(global unitary folding U (U^dagger U)^k)",
    )
    zne_extrapolation: Literal["richardson", "linear"] = Field(
        "richardson", description="Richardson (polynomial through every scale) or a line"
    )
    calibration_shots: int | None = Field(
        None, ge=1, le=1_000_000, description="shots per readout calibration circuit; "
        "null: the largest of `shots`"
    )  # fmt: skip
    repeats: int = Field(
        200, ge=20, le=100_000, description="simulated repeats of an experiment at each "
        "shot count for its shot-noise interval"
    )  # fmt: skip
    max_inputs: int | None = Field(
        None, ge=1, description="evaluate the first N test inputs only (null: all)"
    )
    seeds: list[int] | None = Field(None, description="the run's seeds to evaluate (null: all)")
    variants: list[str] | None = Field(
        None, description="the quantum variants of a group to evaluate (null: all)"
    )
    seed: int = Field(0, ge=0, description="seeds the simulator, transpiler and resampling")
    output_dir: str = "runs"

    @field_validator("target")
    @classmethod
    def _target(cls, v: str) -> str:
        return parse_target(v)["text"]

    @field_validator("shots")
    @classmethod
    def _shots(cls, v: list[int]) -> list[int]:
        if not v:
            raise ValueError("give at least one shot count")
        if any(s < 1 or s > 1_000_000 for s in v):
            raise ValueError("every shot count must be in [1, 1000000]")
        if len(set(v)) != len(v):
            raise ValueError("give distinct shot counts")
        return sorted(v)

    @field_validator("mitigation")
    @classmethod
    def _mitigation(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError("give each mitigation once")
        return [m for m in MITIGATIONS if m in v or m == "none"]  # `none` is always reported

    @field_validator("zne_scales")
    @classmethod
    def _scales(cls, v: list[int]) -> list[int]:
        if len(v) < 2 or v[0] != 1 or any(s % 2 == 0 for s in v) or v != sorted(set(v)):
            raise ValueError("give at least two odd, increasing scale factors starting at 1")
        return v

    @field_validator("seeds", "variants")
    @classmethod
    def _distinct(cls, v: list | None) -> list | None:
        if v is not None and (not v or len(set(v)) != len(v)):
            raise ValueError("give distinct values (or null for all)")
        return v

    @property
    def sampled_shots(self) -> int:
        return max(self.shots)

    @property
    def zne(self) -> bool:
        return any("zne" in m for m in self.mitigation)

    @property
    def readout(self) -> bool:
        return any("readout" in m for m in self.mitigation)


# option of `qmoe hardware` -> the config key it sets (errors name the option)
HARDWARE_OPTIONS = {
    "target": "--target",
    "shots": "--shots",
    "mitigation": "--mitigation",
    "optimization_level": "--optimization-level",
    "seeds": "--seeds",
    "variants": "--variants",
    "max_inputs": "--max-inputs",
    "seed": "--seed",
}


def hardware_config(raw: dict, overrides: list[str] | None = None) -> HardwareConfig:
    """`qmoe hardware`'s options (a raw mapping, then `--set` overrides) -> the validated
    config; a problem is one ConfigError naming the option (`--target: ...`) or key."""
    raw = apply_overrides(dict(raw), overrides or [])
    try:
        return HardwareConfig.model_validate(raw)
    except ValidationError as exc:
        parts = []
        for err in exc.errors():
            key = _dotted(err["loc"])
            top = str(err["loc"][0]) if err["loc"] else ""
            where = HARDWARE_OPTIONS.get(top, key)
            one = format_validation_error(ValidationError.from_exception_data(exc.title, [err]))
            msg = one.split(": ", 1)[1] if one.startswith(f"{key}: ") else one
            parts.append(f"{where}: {msg}")
        raise ConfigError("; ".join(parts)) from None
