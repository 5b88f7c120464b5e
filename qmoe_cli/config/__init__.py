"""Validated configs: YAML file -> `--set` overrides -> the pydantic schema of its kind.

Every key of a config is declared with its default, so `qmoe validate` can print the whole
resolved config and an unknown key is an error, not a silent no-op. One module per kind's
schema (experiment.py holds the `train` kind and the pieces all run kinds share); reading
and validating in loading.py, YAML in yaml_io.py, `--set` in overrides.py. The component
configs (data:, model.router, model.experts) live with their components.
"""

from qmoe_cli.config.ablate import AblationConfig
from qmoe_cli.config.diagnose import DiagnoseConfig, diagnose_config
from qmoe_cli.config.efficiency import EfficiencyConfig
from qmoe_cli.config.experiment import (
    KIND_HELP,
    NAME_PATTERN,
    ExperimentConfig,
    ModelConfig,
    TrainConfig,
    VariantConfig,
    check_names,
    with_variant,
)
from qmoe_cli.config.hardware import HARDWARE_OPTIONS, MITIGATIONS, HardwareConfig, hardware_config
from qmoe_cli.config.loading import load_config, load_raw, read_yaml, validate_config
from qmoe_cli.config.messages import format_validation_error
from qmoe_cli.config.noise_sweep import NoiseSweepConfig
from qmoe_cli.config.overrides import apply_overrides, get_dotted, parse_override, set_dotted
from qmoe_cli.config.plan import PlanConfig, PlanRun
from qmoe_cli.config.sweep import SlurmConfig, SweepConfig
from qmoe_cli.config.tune import OBJECTIVES, SearchParam, TuneConfig
from qmoe_cli.config.yaml_io import (
    MAX_CONFIG_BYTES,
    MAX_YAML_VALUES,
    YamlDumper,
    YamlLoader,
    dump_config,
    load_yaml_text,
)
from qmoe_cli.data import DATASET_FEATURES, DATASET_ONLY_KEYS, DATASETS, DataConfig
from qmoe_cli.models.experts import ExpertsConfig
from qmoe_cli.models.routers import (
    ROUTER_TYPES,
    FourierRouterConfig,
    LinearRouterConfig,
    MLPRouterConfig,
    NoiseConfig,
    QuantumRouterConfig,
    RouterConfig,
)

__all__ = [
    "DATASETS",
    "DATASET_FEATURES",
    "DATASET_ONLY_KEYS",
    "DIAGNOSE_OPTIONS",
    "HARDWARE_OPTIONS",
    "KIND_HELP",
    "MAX_CONFIG_BYTES",
    "MAX_YAML_VALUES",
    "MITIGATIONS",
    "NAME_PATTERN",
    "OBJECTIVES",
    "ROUTER_TYPES",
    "AblationConfig",
    "DataConfig",
    "DiagnoseConfig",
    "EfficiencyConfig",
    "ExperimentConfig",
    "ExpertsConfig",
    "FourierRouterConfig",
    "HardwareConfig",
    "LinearRouterConfig",
    "MLPRouterConfig",
    "ModelConfig",
    "NoiseConfig",
    "NoiseSweepConfig",
    "PlanConfig",
    "PlanRun",
    "QuantumRouterConfig",
    "RouterConfig",
    "SearchParam",
    "SlurmConfig",
    "SweepConfig",
    "TrainConfig",
    "TuneConfig",
    "VariantConfig",
    "YamlDumper",
    "YamlLoader",
    "apply_overrides",
    "check_names",
    "diagnose_config",
    "dump_config",
    "format_validation_error",
    "get_dotted",
    "hardware_config",
    "load_config",
    "load_raw",
    "load_yaml_text",
    "parse_override",
    "read_yaml",
    "set_dotted",
    "validate_config",
    "with_variant",
]
