"""The `ablate` kind: several routers (variants) on the same data, experts, budget and seeds."""

from __future__ import annotations

from typing import Literal

from pydantic import (
    Field,
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


class AblationConfig(ExperimentConfig):
    """Shared data, experts, training and seeds, and the routers to compare on them."""

    kind: Literal["ablate"] = Field("ablate", description=KIND_HELP)
    variants: dict[str, VariantConfig] = Field(
        description="the routers to compare, at least one; names follow the rules of `name`"
    )
    reference: str = Field(
        "B",
        description="the variant compared, seed by seed, to the others; must be one of `variants`",
    )
    plateau: float | None = Field(
        None,
        ge=0.0,
        le=1.0,
        description="report each variant's share of seeds whose test accuracy lies above "
        "this; e.g. the top of Model A's loss plateau",
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

    def parallel_units(self) -> int:
        return len(self.variants) * len(self.seeds)

    def variant(self, name: str) -> ExperimentConfig:
        """The full ExperimentConfig of one variant (validated like any config)."""
        return with_variant(self, name, self.variants[name])
