"""Experts kinds: the registry.

Each kind is one module here holding its config class (an `ExpertsConfigBase`: `type`,
`count`, its own keys and its `build`); `EXPERTS` lists them once, and `ExpertsConfig`
(the `model.experts` union, selected by `type`, `linear` when not given) and
`EXPERT_TYPES` follow from it. No torch is imported here (the config package imports this package).
"""

from __future__ import annotations

from typing import Annotated, Any, Union

from pydantic import BeforeValidator, Discriminator

from qmoe_cli.models.base import ExpertsConfigBase, type_tag
from qmoe_cli.models.experts.linear import LinearExpertsConfig
from qmoe_cli.models.experts.mlp import MLPExpertsConfig
from qmoe_cli.models.experts.quantum import QuantumExpertsConfig

__all__ = [
    "DEFAULT_EXPERTS",
    "EXPERTS",
    "EXPERT_TYPES",
    "ExpertsConfig",
    "ExpertsConfigBase",
    "LinearExpertsConfig",
    "MLPExpertsConfig",
    "QuantumExpertsConfig",
]

# The registry: one line per experts kind.
EXPERTS: tuple[type[ExpertsConfigBase], ...] = (
    LinearExpertsConfig,
    MLPExpertsConfig,
    QuantumExpertsConfig,
)
DEFAULT_EXPERTS = "linear"  # the kind of a `model.experts` mapping without `type`

EXPERT_TYPES = tuple(type_tag(kind) for kind in EXPERTS)


def _default_type(value: Any) -> Any:
    if isinstance(value, dict) and "type" not in value:
        return {"type": DEFAULT_EXPERTS, **value}
    return value


ExpertsConfig = Annotated[
    Union[EXPERTS],  # noqa: UP007
    Discriminator("type"),
    BeforeValidator(_default_type),
]
