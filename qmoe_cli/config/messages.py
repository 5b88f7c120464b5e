"""A validation error as one line: every problem led by its dotted key."""

from __future__ import annotations

from pydantic import ValidationError

from qmoe_cli.models.experts import EXPERT_TYPES
from qmoe_cli.models.routers import ROUTER_TYPES
from qmoe_cli.schema import NotANumber

# The discriminated unions put their tag into error locations (model.router.mlp.hidden):
# _dotted drops it after these keys.
UNION_TAGS = {"router": ROUTER_TYPES, "experts": EXPERT_TYPES}


def format_validation_error(exc: ValidationError) -> str:
    """All problems on one line, each led by its dotted key."""
    parts = []
    for err in exc.errors():
        loc = _dotted(err["loc"])
        msg = err["msg"]
        if err["type"] == "union_tag_invalid":
            loc = f"{loc}.type" if loc else "type"
        elif err["type"] == "extra_forbidden":
            msg = "unknown key"
        elif err["type"] == "missing":
            msg = "required key is missing"
        elif err["type"] == "finite_number":
            msg = "must be a finite number"
        elif isinstance(err.get("input"), NotANumber):  # schema.Strict: a YAML boolean
            what = "an integer" if err["type"].startswith("int") else "a number"
            msg = f"must be {what}, not {err['input']!r}"
        msg = msg.removeprefix("Value error, ")
        parts.append(f"{loc}: {msg}" if loc else msg)
    return "; ".join(parts).replace("\n", "\\n")  # one line, whatever the keys hold


def _dotted(loc: tuple) -> str:
    out: list[str] = []
    for i, item in enumerate(loc):
        # A discriminated union puts its tag into the location: drop it.
        if i > 0 and item in UNION_TAGS.get(loc[i - 1], ()):
            continue
        if isinstance(item, int):
            out.append(f"[{item}]")
        else:
            out.append(("." if out else "") + str(item))
    return "".join(out)
