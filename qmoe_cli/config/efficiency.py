"""The `efficiency` kind: accuracy against router size."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    Field,
    field_validator,
    model_validator,
)

from qmoe_cli.config.experiment import (
    KIND_HELP,
    ExperimentConfig,
    VariantConfig,
    check_names,
    with_variant,
)
from qmoe_cli.errors import ConfigError


class EfficiencyConfig(ExperimentConfig):
    """Routers of several sizes (variants) on the same data and experts: accuracy against
    router parameters, the Pareto front, and the smallest router reaching each threshold."""

    kind: Literal["efficiency"] = Field("efficiency", description=KIND_HELP)
    variants: dict[str, VariantConfig] = Field(
        description="routers of several sizes, as in an ablation"
    )
    thresholds: list[Annotated[float, Field(gt=0.0, le=1.0)]] = Field(
        default_factory=lambda: [0.9, 0.95],
        description="per threshold and router type, the smallest router whose mean validation "
        "accuracy reaches it is reported, with its test accuracy",
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

    def parallel_units(self) -> int:
        return len(self.variants) * len(self.seeds)

    def variant(self, name: str) -> ExperimentConfig:
        return with_variant(self, name, self.variants[name])
