"""The base of every config model: strict pydantic (unknown keys are errors, assignments are
validated). Light on purpose: config.py and the component config modules (qmoe_cli/data/,
qmoe_cli/models/routers/, qmoe_cli/models/experts/) all build on it without importing each
other or anything heavy.

Numbers are checked alike in every model: a float field rejects NaN and infinities ("must be
a finite number"), and a number field (int or float) rejects YAML booleans, which Python
would read as 1 and 0. An integral float (1e3, read from YAML as 1000.0) is taken for an int
field; a fractional one is an error.
"""

from __future__ import annotations

import math
import types
import typing
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, model_validator


class Strict(BaseModel):
    model_config = ConfigDict(
        extra="forbid", validate_assignment=True, allow_inf_nan=False, defer_build=True
    )

    @model_validator(mode="before")
    @classmethod
    def _no_bool_for_numbers(cls, data: Any) -> Any:
        """A boolean given to a number field becomes a NotANumber, which the field's own
        validator rejects at the field's location (format_validation_error words it)."""
        if not isinstance(data, dict):
            return data
        out = None
        for name, value in data.items():
            field = cls.model_fields.get(name) if isinstance(name, str) else None
            if field is None:
                continue
            if isinstance(value, bool) and _plain_number(field.annotation):
                new = NotANumber(value)
            elif isinstance(value, list) and _plain_number(_item(field.annotation)):
                if not any(isinstance(v, bool) for v in value):
                    continue
                new = [NotANumber(v) if isinstance(v, bool) else v for v in value]
            else:
                continue
            out = out if out is not None else dict(data)
            out[name] = new
        return data if out is None else out


class NotANumber:
    """A YAML boolean where a number belongs (Python would read true as 1)."""

    def __init__(self, value: bool):
        self.value = value

    def __repr__(self) -> str:
        return str(self.value).lower()


def _leaves(annotation: Any) -> set:
    """The plain types an annotation accepts at its top level (Annotated, Optional, unions
    and Literals unwrapped; a Literal gives the types of its values)."""
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        return _leaves(typing.get_args(annotation)[0])
    if origin is Union or origin is types.UnionType:
        return set().union(*(_leaves(a) for a in typing.get_args(annotation)))
    if origin is Literal:
        return {type(v) for v in typing.get_args(annotation)}
    return {origin or annotation}


def _plain_number(annotation: Any) -> bool:
    """Whether the annotation takes numbers (int or float) and nothing else but None."""
    leaves = _leaves(annotation)
    return bool(leaves & {int, float}) and leaves <= {int, float, type(None)}


def _item(annotation: Any) -> Any:
    """The item annotation of a list annotation (seeds, levels, ...), else None."""
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        return _item(typing.get_args(annotation)[0])
    if origin is list:
        return typing.get_args(annotation)[0]
    return None


def json_finite(value):
    """JSON has no NaN: null instead, so every JSON reader accepts the file (run folders)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_finite(v) for v in value]
    return value
