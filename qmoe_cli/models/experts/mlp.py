"""MLP experts: each expert is its own multilayer perceptron from the input to class logits."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator

from qmoe_cli.models.base import ExpertsConfigBase


class MLPExpertsConfig(ExpertsConfigBase):
    """E independent MLPs (hidden layers with an activation, then a linear map to class
    logits), computed together as batched matmuls. Parameters: E x sum over layers of
    (fan_in + 1) x fan_out. `count: 1` is one MLP classifier (with `model.router.type:
    none`)."""

    type: Literal["mlp"] = Field(
        description="each expert is its own MLP from the input to class logits"
    )
    count: int = Field(
        2,
        ge=1,
        le=1024,
        description="number of experts (1 only with model.router.type: none, no mixture)",
    )
    hidden: list[Annotated[int, Field(ge=1, le=65536)]] = Field(
        default_factory=lambda: [8], description="hidden layer widths of every expert"
    )
    activation: Literal["relu", "tanh", "gelu"] = Field(
        "tanh", description="activation after each hidden layer"
    )

    stacked_form = "qmoe_cli.models.stacked_forms:mlp_experts"

    @field_validator("hidden")
    @classmethod
    def _not_empty(cls, v: list[int]) -> list[int]:
        if not v:
            raise ValueError("MLP experts need at least one hidden layer (use type: linear)")
        return v

    def build(self, n_features: int, n_classes: int):
        from qmoe_cli.models.torch_experts import MLPExperts

        return MLPExperts(n_features, n_classes, self.count, self.hidden, self.activation)
