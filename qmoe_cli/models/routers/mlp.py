"""The MLP router, the paper's Model C: hidden layers, then a softmax over the experts."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator

from qmoe_cli.models.base import RouterConfigBase


class MLPRouterConfig(RouterConfigBase):
    """A multilayer perceptron ending in a softmax: the paper's Model C."""

    type: Literal["mlp"] = Field(description="selects this router")
    hidden: list[Annotated[int, Field(ge=1, le=65536)]] = Field(
        default_factory=lambda: [32],
        description="hidden layer widths; at least one layer (use `type: linear` for none)",
    )
    activation: Literal["relu", "tanh", "gelu"] = Field(
        "relu", description="activation after each hidden layer"
    )
    bias: bool = Field(
        True,
        description="a bias on every layer; `false`: weights only, e.g. `hidden: [40]` gives "
        "2 x 40 + 40 x 4 = 240 parameters for 2 inputs and 4 experts",
    )

    stacked_form = "qmoe_cli.models.stacked_forms:mlp_router"

    @field_validator("hidden")
    @classmethod
    def _not_empty(cls, v: list[int]) -> list[int]:
        if not v:
            raise ValueError("an MLP router needs at least one hidden layer (use type: linear)")
        return v

    def build(self, n_features: int, n_experts: int):
        from qmoe_cli.models.torch_routers import MLPRouter

        return MLPRouter(n_features, n_experts, self.hidden, self.activation, self.bias)
