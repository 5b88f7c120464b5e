"""Models: router and experts kinds (configs and builders), the mixture, and building one
from a validated config.

Router kinds are in routers/ (registry `ROUTERS`), experts kinds in experts/ (registry
`EXPERTS`), each a config class whose `build` makes its torch module (see base.py). The
torch modules: torch_routers.py, torch_experts.py, quantum_router.py, moe.py.

config.py imports the kinds' configs through this package, so it imports no torch when
loaded: `MixtureOfExperts`, `MoEOutput`, `count_params`, `param_counts` (moe.py) and
`QuantumRouter` are loaded on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torch import nn

    from qmoe_cli.config import ModelConfig
    from qmoe_cli.models.moe import MixtureOfExperts, MoEOutput, count_params, param_counts
    from qmoe_cli.models.quantum_router import QuantumRouter

__all__ = [
    "MixtureOfExperts",
    "MoEOutput",
    "QuantumRouter",
    "build_experts",
    "build_model",
    "build_router",
    "count_params",
    "param_counts",
]

_FROM_MOE = ("MixtureOfExperts", "MoEOutput", "count_params", "param_counts")


def __getattr__(name: str):
    if name in _FROM_MOE:
        from qmoe_cli.models import moe

        return getattr(moe, name)
    if name == "QuantumRouter":
        from qmoe_cli.models.quantum_router import QuantumRouter

        return QuantumRouter
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def build_router(cfg, n_features: int, n_experts: int) -> nn.Module:
    """`model.router` -> its module (its kind's `build`)."""
    return cfg.build(n_features, n_experts)


def build_experts(cfg, n_features: int, n_classes: int) -> nn.Module:
    """`model.experts` -> its module (its kind's `build`)."""
    return cfg.build(n_features, n_classes)


def build_model(cfg: ModelConfig, n_features: int, n_classes: int) -> MixtureOfExperts:
    """Parameters are drawn from torch's global generator: seed it first."""
    from qmoe_cli.models.moe import MixtureOfExperts

    router = build_router(cfg.router, n_features, cfg.experts.count)
    experts = build_experts(cfg.experts, n_features, n_classes)
    return MixtureOfExperts(router, experts, cfg.top_k, cfg.balance_weight)
