"""The base of every config model: strict pydantic (unknown keys are errors, assignments are
validated). Light on purpose: config.py and the component config modules (qmoe_cli/data/,
qmoe_cli/models/routers/, qmoe_cli/models/experts/) all build on it without importing each
other or anything heavy."""

from __future__ import annotations

import math

from pydantic import BaseModel, ConfigDict


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


def json_finite(value):
    """JSON has no NaN: null instead, so every JSON reader accepts the file (run folders)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_finite(v) for v in value]
    return value
