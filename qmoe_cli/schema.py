"""The base of every config model: strict pydantic (unknown keys are errors, assignments are
validated). Light on purpose: config.py and the component config modules (qmoe_cli/data/,
qmoe_cli/models/routers/, qmoe_cli/models/experts/) all build on it without importing each
other or anything heavy."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)
