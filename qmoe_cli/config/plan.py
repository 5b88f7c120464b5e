"""The `plan` kind: run configs one after another in one process."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import (
    Field,
    field_validator,
)

from qmoe_cli.config.experiment import KIND_HELP, NAME_PATTERN
from qmoe_cli.schema import Strict


class PlanRun(Strict):
    config: str = Field(description="a run config (train, ablate, noise-sweep, efficiency)")
    set: list[str] = Field(
        default_factory=list, description="KEY=VALUE overrides of this run's config"
    )


class PlanConfig(Strict):
    kind: Literal["plan"] = Field("plan", description=KIND_HELP)
    name: str = Field("plan", pattern=NAME_PATTERN, description="what the plan is, for people")
    runs: list[PlanRun] = Field(
        description="run configs, run in this order; a path alone or {config, set}; paths "
        "relative to the working directory, else to the plan file"
    )

    @field_validator("runs", mode="before")
    @classmethod
    def _paths_alone(cls, v: Any) -> Any:
        if isinstance(v, list):
            return [{"config": r} if isinstance(r, str) else r for r in v]
        return v

    @field_validator("runs")
    @classmethod
    def _not_empty(cls, v: list[PlanRun]) -> list[PlanRun]:
        if not v:
            raise ValueError("give at least one run")
        return v
