"""Reading a config file (bounded, safe YAML) and validating it against a kind's schema."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from qmoe_cli import files
from qmoe_cli.config.experiment import NAME_PATTERN, ExperimentConfig
from qmoe_cli.config.messages import format_validation_error
from qmoe_cli.config.overrides import apply_overrides
from qmoe_cli.config.yaml_io import MAX_CONFIG_BYTES, _yaml_problem, load_yaml_text
from qmoe_cli.data import resolve_paths
from qmoe_cli.errors import ConfigError


def read_yaml(path: str | Path) -> dict:
    """Read a YAML mapping; every failure is a ConfigError naming the file."""
    p = Path(path)
    try:
        text = files.read_text(p, MAX_CONFIG_BYTES)
    except files.Refused as exc:
        raise ConfigError(f"config file {p}: {exc.reason}") from None
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {p}") from None
    except PermissionError:
        raise ConfigError(f"config file not readable (permission denied): {p}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"config file is not UTF-8 text: {p}") from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {p}: {exc.strerror or exc}") from None
    try:
        data = load_yaml_text(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{p}: not valid YAML ({_yaml_problem(exc)})") from None
    except ValueError as exc:
        raise ConfigError(f"{p}: {exc}") from None
    if data is None:
        raise ConfigError(f"config file is empty: {p}")
    if not isinstance(data, dict):
        raise ConfigError(
            f"{p}: the top level must be a mapping of keys, got {type(data).__name__}"
        )
    if isinstance(data.get("data"), dict):  # data files: relative to this file's folder
        data["data"] = resolve_paths(data["data"], p.absolute().parent)
    if data.get("kind") == "tune" and "base" in data:
        data["base"] = _tune_base(data["base"], p.absolute().parent)
    return data


def _tune_base(base: Any, folder: Path) -> Any:
    """A tune config's `base`: a path (relative to the tune file's folder) read into it, so
    that `--set base.<key>=<value>` reaches it and the resolved config holds it whole."""
    if isinstance(base, str) and base:
        path = Path(base) if Path(base).is_absolute() else folder / base
        return read_yaml(path)
    if isinstance(base, dict) and isinstance(base.get("data"), dict):
        return {**base, "data": resolve_paths(base["data"], folder)}
    return base


def load_raw(path: str | Path, overrides: list[str] | None = None) -> dict:
    """YAML file + overrides -> the raw mapping (name defaults to the file's stem)."""
    raw = apply_overrides(read_yaml(path), overrides or [])
    if "name" not in raw and re.match(NAME_PATTERN, Path(path).stem):
        raw["name"] = Path(path).stem
    return raw


def load_config(path: str | Path, overrides: list[str] | None = None, schema=None):
    """YAML file + overrides -> a config validated against `schema` (the kind's schema is
    chosen by qmoe_cli/kinds.py's `load`)."""
    return validate_config(load_raw(path, overrides), source=str(path), schema=schema)


def validate_config(raw: Any, source: str = "config", schema=None):
    schema = schema or ExperimentConfig
    try:
        return schema.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"{source}: {format_validation_error(exc)}") from None
