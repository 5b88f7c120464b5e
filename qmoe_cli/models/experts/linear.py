"""Linear experts: each expert is a linear map from the input to class logits."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from qmoe_cli.models.base import ExpertsConfigBase


class LinearExpertsConfig(ExpertsConfigBase):
    """The experts: each maps the input to class logits."""

    type: Literal["linear"] = Field(
        "linear",
        description="each expert is a linear map from the input to class logits; the default "
        "when `type` is not given",
    )

    stacked_form = "qmoe_cli.models.stacked_forms:linear_experts"

    def build(self, n_features: int, n_classes: int):
        from qmoe_cli.models.torch_experts import LinearExperts

        return LinearExperts(n_features, n_classes, self.count)
