"""Model construction from the validated config."""

from __future__ import annotations

from torch import nn

from qmoe_cli.config import ModelConfig
from qmoe_cli.errors import ConfigError
from qmoe_cli.models.experts import LinearExperts
from qmoe_cli.models.moe import MixtureOfExperts, MoEOutput, count_params, param_counts
from qmoe_cli.models.routers import FourierRouter, LinearRouter, MLPRouter

__all__ = ["MixtureOfExperts", "MoEOutput", "build_model", "count_params", "param_counts"]


def build_router(cfg, n_features: int, n_experts: int) -> nn.Module:
    if cfg.type == "linear":
        return LinearRouter(n_features, n_experts)
    if cfg.type == "mlp":
        return MLPRouter(n_features, n_experts, cfg.hidden, cfg.activation)
    if cfg.type == "fourier":
        try:
            return FourierRouter(
                n_features, n_experts, cfg.max_frequency, cfg.max_order, cfg.random_features
            )
        except ValueError as exc:
            raise ConfigError(f"model.router: {exc}") from None
    if cfg.type == "quantum":
        from qmoe_cli.models.quantum_router import QuantumRouter
        from qmoe_cli.quantum.noise import NoiseSpec
        from qmoe_cli.quantum.spec import CircuitSpec

        spec = dict(
            n_qubits=cfg.qubits,
            n_layers=cfg.layers,
            n_features=n_features,
            n_experts=n_experts,
            ansatz=cfg.ansatz,
            embedding=cfg.embedding,
            readout=cfg.readout,
        )
        try:
            return QuantumRouter(CircuitSpec(**spec), cfg.backend, NoiseSpec.from_config(cfg.noise))
        except ValueError as exc:
            raise ConfigError(f"model.router: {exc}") from None
    raise ValueError(f"unknown router type {cfg.type!r}")


def build_model(cfg: ModelConfig, n_features: int, n_classes: int) -> MixtureOfExperts:
    """Parameters are drawn from torch's global generator: seed it first."""
    router = build_router(cfg.router, n_features, cfg.experts.count)
    experts = LinearExperts(n_features, n_classes, cfg.experts.count)
    return MixtureOfExperts(router, experts, cfg.top_k, cfg.balance_weight)
