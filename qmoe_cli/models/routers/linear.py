"""The linear router, the paper's Model A: g(x) = Softmax(W x + b), P = E (d + 1)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from qmoe_cli.models.base import RouterConfigBase


class LinearRouterConfig(RouterConfigBase):
    """Softmax(W x + b): the paper's Model A."""

    type: Literal["linear"] = Field("linear", description="g(x) = Softmax(W x + b); no other keys")

    stacked_form = "qmoe_cli.models.stacked_forms:linear_router"

    def build(self, n_features: int, n_experts: int):
        from qmoe_cli.models.torch_routers import LinearRouter

        return LinearRouter(n_features, n_experts)
