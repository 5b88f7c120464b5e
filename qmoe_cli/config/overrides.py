"""`--set KEY=VALUE` overrides: parsed as YAML, applied to the raw mapping by dotted key."""

from __future__ import annotations

import copy
import re
from typing import Any

import yaml

from qmoe_cli.config.yaml_io import _yaml_problem, load_yaml_text
from qmoe_cli.errors import ConfigError

DOTTED_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


def parse_override(text: str) -> tuple[str, Any]:
    """'a.b=value' -> ('a.b', value parsed as YAML)."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not DOTTED_KEY.match(key):
        raise ConfigError(
            f"bad override '{text}': expected KEY=VALUE with a dotted key, e.g. train.epochs=5"
        )
    try:
        value = load_yaml_text(raw) if raw.strip() else None
    except yaml.YAMLError as exc:
        problem = _yaml_problem(exc)
        raise ConfigError(f"bad override '{text}': value is not valid YAML ({problem})") from None
    except ValueError as exc:
        raise ConfigError(f"bad override '{text}': {exc}") from None
    return key, value


def apply_overrides(raw: dict, overrides: list[str]) -> dict:
    """Set each dotted key in a copy of the raw mapping (creating missing mappings)."""
    data = copy.deepcopy(raw)
    for text in overrides:
        key, value = parse_override(text)
        set_dotted(data, key, value)
    return data


def set_dotted(data: dict, key: str, value: Any) -> None:
    parts = key.split(".")
    node = data
    for i, part in enumerate(parts[:-1]):
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        if not isinstance(child, dict):
            where = ".".join(parts[: i + 1])
            raise ConfigError(f"cannot set '{key}': '{where}' is not a mapping")
        node = child
    node[parts[-1]] = value


def get_dotted(data: dict, key: str) -> Any:
    """The value at a dotted key of a mapping (None where a part is missing)."""
    node: Any = data
    for part in key.split("."):
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return node
