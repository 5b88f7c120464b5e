"""No router: the model is its one expert (a monolithic classifier, e.g. the monolithic QNN
baseline with one quantum expert). The gate is the constant 1; no parameters."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from qmoe_cli.models.base import RouterConfigBase


class NoRouterConfig(RouterConfigBase):
    """No mixture: exactly one expert (`model.experts.count: 1`), whose logits are the
    model's. Zero router parameters."""

    type: Literal["none"] = Field(
        description="selects no router: the model is its one expert (`model.experts.count: 1`)"
    )

    stacked_form = "qmoe_cli.models.stacked_forms:single_expert_router"

    def check_fit(self, n_experts: int, n_features: int | None) -> None:
        if n_experts != 1:
            raise ValueError(
                f"model.router.type: none (no mixture) takes exactly one expert, got "
                f"{n_experts}; set model.experts.count: 1"
            )

    def build(self, n_features: int, n_experts: int):
        from qmoe_cli.models.torch_routers import SingleExpertRouter

        return SingleExpertRouter()
