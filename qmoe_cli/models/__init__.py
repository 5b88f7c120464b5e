"""Models: router and experts kinds (configs and builders), the mixture, and building one
from a validated config.

Router kinds are in routers/ (registry `ROUTERS`), experts kinds in experts/ (registry
`EXPERTS`), each a config class whose `build` makes its torch module and which declares its
stacked form (see base.py). The torch modules: torch_routers.py, torch_experts.py,
quantum_router.py, moe.py, and the stacked forms of the kinds, stacked_forms.py.

the config package imports the kinds' configs through this package, so it imports no torch when
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
    "config_qubits",
    "count_params",
    "param_counts",
    "qubits",
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
    """Parameters are drawn from torch's global generator: seed it first.

    The quantum router's noise (`model.router.noise`) applies to every circuit of the model:
    experts with circuits of their own (a `noise` key) get it unless they state their own
    (allowed only without a quantum router, see ModelConfig).
    """
    from qmoe_cli.models.moe import MixtureOfExperts

    router = build_router(cfg.router, n_features, cfg.experts.count)
    experts = build_experts(experts_config(cfg), n_features, n_classes)
    return MixtureOfExperts(router, experts, cfg.top_k, cfg.balance_weight)


def experts_config(cfg: ModelConfig):
    """`model.experts` with the router's circuit noise passed on to expert circuits."""
    router_noise = getattr(cfg.router, "noise", None)
    if router_noise is None or "noise" not in type(cfg.experts).model_fields:
        return cfg.experts
    if cfg.experts.noise is not None:
        return cfg.experts
    return cfg.experts.model_copy(update={"noise": router_noise})


# --- qubits ---------------------------------------------------------------------------------


def qubits(model) -> dict:
    """The qubits of every circuit of a built model: {"router": n (0 without a circuit),
    "experts": [n per expert circuit] ([] for classical experts), "total": the sum (every
    circuit on a register of its own), "largest": the widest single circuit}."""
    router_spec = getattr(model.router, "spec", None)
    router = router_spec.n_qubits if router_spec is not None else 0
    experts_spec = getattr(model.experts, "spec", None)
    experts = [experts_spec.n_qubits] * model.experts.count if experts_spec is not None else []
    return _qubit_summary(router, experts)


def config_qubits(model_cfg) -> dict:
    """The same as `qubits` from a model config (a ModelConfig or its dict, as in a run's
    config.yaml), without building the model."""
    if not isinstance(model_cfg, dict):
        model_cfg = model_cfg.model_dump(mode="json")
    router = model_cfg.get("router") or {}
    experts = model_cfg.get("experts") or {}
    n_router = int(router.get("qubits") or 0) if router.get("type") == "quantum" else 0
    n_experts = []
    if experts.get("type") == "quantum":
        n_experts = [int(experts.get("qubits") or 0)] * int(experts.get("count") or 0)
    return _qubit_summary(n_router, n_experts)


def _qubit_summary(router: int, experts: list[int]) -> dict:
    return {
        "router": router,
        "experts": experts,
        "total": router + sum(experts),
        "largest": max([router, *experts]),
    }
