"""Router kinds: the registry.

Each kind is one module here holding its config class (a `RouterConfigBase`: its keys and
its `build`); `ROUTERS` lists them once, and `RouterConfig` (the `model.router` union,
selected by `type`) and `ROUTER_TYPES` follow from it. No torch is imported here
(the config package imports this package): each `build` imports its torch module when called.
"""

from __future__ import annotations

from typing import Annotated, Union

from pydantic import Field

from qmoe_cli.models.base import RouterConfigBase, type_tag
from qmoe_cli.models.routers.fourier import FourierRouterConfig
from qmoe_cli.models.routers.linear import LinearRouterConfig
from qmoe_cli.models.routers.mlp import MLPRouterConfig
from qmoe_cli.models.routers.none import NoRouterConfig
from qmoe_cli.models.routers.quantum import (
    NoiseConfig,
    QuantumRouterConfig,
    check_training_backend,
    is_noisy,
)
from qmoe_cli.models.routers.spectrum_matched import SpectrumMatchedRouterConfig

__all__ = [
    "ROUTERS",
    "ROUTER_TYPES",
    "FourierRouterConfig",
    "LinearRouterConfig",
    "MLPRouterConfig",
    "NoRouterConfig",
    "NoiseConfig",
    "QuantumRouterConfig",
    "check_training_backend",
    "is_noisy",
    "RouterConfig",
    "RouterConfigBase",
    "SpectrumMatchedRouterConfig",
]

# The registry: one line per router kind, in the order error messages list them.
ROUTERS: tuple[type[RouterConfigBase], ...] = (
    LinearRouterConfig,
    MLPRouterConfig,
    QuantumRouterConfig,
    FourierRouterConfig,
    SpectrumMatchedRouterConfig,
    NoRouterConfig,
)

ROUTER_TYPES = tuple(type_tag(kind) for kind in ROUTERS)
RouterConfig = Annotated[Union[ROUTERS], Field(discriminator="type")]  # noqa: UP007
