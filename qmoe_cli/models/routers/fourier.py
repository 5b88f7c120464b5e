"""The Fourier-feature router, Model D: the classical control for the "interference" claim."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from qmoe_cli.errors import ConfigError
from qmoe_cli.models.base import RouterConfigBase


class FourierRouterConfig(RouterConfigBase):
    """Softmax(W f(x) + b) over trigonometric features: Model D, the classical control.

    With each feature angle-encoded once, every probability or expectation of the circuit
    is a trigonometric polynomial with frequencies in {-1, 0, 1} per feature (Schuld,
    Sweke, Meyer 2021). f(x) holds the products over features of {1, cos(k x_i),
    sin(k x_i)} for k <= max_frequency, without the constant, keeping products of at most
    max_order non-constant factors; `random_features: N` draws N of them at random instead
    of keeping all (for many features).
    """

    type: Literal["fourier"] = Field(description="selects this router")
    max_frequency: int = Field(
        1, ge=1, le=8, description="K: each factor is 1, cos(k x_i) or sin(k x_i) with k <= K"
    )
    max_order: int | None = Field(
        None,
        ge=1,
        description="at most this many non-constant factors per product; null: all features "
        "interact",
    )
    random_features: int | None = Field(
        None,
        ge=1,
        le=100_000,
        description="keep this many distinct terms, drawn at random (seeded), instead of all "
        "of them",
    )

    stacked_form = "qmoe_cli.models.stacked_forms:fourier_router"

    def build(self, n_features: int, n_experts: int):
        from qmoe_cli.models.torch_routers import FourierRouter

        try:
            return FourierRouter(
                n_features, n_experts, self.max_frequency, self.max_order, self.random_features
            )
        except ValueError as exc:
            raise ConfigError(f"model.router: {exc}") from None
