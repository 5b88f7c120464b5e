"""The `sweep` kind: a grid of overrides x seeds over a base config of another kind."""

from __future__ import annotations

from typing import Any, Literal

import yaml
from pydantic import (
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from qmoe_cli.config.experiment import KIND_HELP, NAME_PATTERN
from qmoe_cli.config.yaml_io import YamlDumper
from qmoe_cli.schema import Strict


class SlurmResources(Strict):
    """What one SLURM array task asks for."""

    partition: str | None = Field(None, description="SLURM partition; null: the cluster's default")
    time_min: int = Field(60, ge=1, description="time limit of one array task, minutes")
    cpus_per_task: int = Field(1, ge=1, description="CPUs of one array task")
    mem: str = Field("1G", description="memory of one array task, in SLURM's syntax (`500M`, `1G`)")
    array_parallelism: int = Field(
        64, ge=1, description="at most this many array tasks run at once"
    )


class SlurmConfig(SlurmResources):
    points_per_task: int = Field(
        1,
        ge=1,
        description="chunk cheap points into one task; points x seeds run by one array task",
    )


class SweepConfig(Strict):
    kind: Literal["sweep"] = Field("sweep", description=KIND_HELP)
    name: str = Field(
        "sweep",
        pattern=NAME_PATTERN,
        description="the sweep's folder, `<output_dir>/<name>/`; when the file has no `name`, "
        "its stem",
    )
    base: str = Field(
        description="any config `train`, `ablate` or `noise-sweep` takes; a relative path is "
        "tried from the working directory, then from the sweep file's folder"
    )
    command: Literal["train", "ablate", "noise-sweep", "efficiency"] | None = Field(
        None,
        description="the base config's kind, read from it (give it only to check it); what "
        "each point runs",
    )
    grid: dict[str, list[Any]] = Field(
        default_factory=dict,
        description="dotted keys of the base config -> lists of values; the product is taken",
    )
    zip: dict[str, list[Any]] = Field(
        default_factory=dict,
        description="keys varied together (lists of equal length); not also in `grid`",
    )
    seeds: list[int] = Field(
        default_factory=lambda: [0, 1, 2, 3, 4],
        description="every point runs once per seed; distinct",
    )
    output_dir: str = Field("runs/sweeps", description="sweeps folder (overridden by `--out`)")
    slurm: SlurmConfig = Field(
        default_factory=SlurmConfig, description="job settings for `--executor slurm` (below)"
    )

    @field_validator("grid", "zip")
    @classmethod
    def _no_empty(cls, v: dict, info: ValidationInfo) -> dict:
        for key, values in v.items():
            if not values:
                raise ValueError(f"{key}: give at least one value")
            if info.field_name == "grid":
                # a repeated value would train one point and write its rows twice
                seen: dict = {}
                for i, value in enumerate(values):
                    first = seen.setdefault(_canonical(value), i)
                    if first != i:
                        raise ValueError(
                            f"{key}: value {_show(value)} is given twice "
                            f"([{first}] and [{i}]); give distinct values"
                        )
        return v

    @model_validator(mode="after")
    def _check(self) -> SweepConfig:
        if len({len(v) for v in self.zip.values()}) > 1:
            raise ValueError("zip: every key needs the same number of values")
        seen: dict = {}
        for i, point in enumerate(zip(*self.zip.values(), strict=True)):
            first = seen.setdefault(tuple(map(_canonical, point)), i)
            if first != i:
                keys = ", ".join(f"{k}={_show(v)}" for k, v in zip(self.zip, point, strict=True))
                raise ValueError(
                    f"zip: point [{i}] ({keys}) repeats point [{first}]; give distinct points"
                )
        both = set(self.grid) & set(self.zip)
        if both:
            raise ValueError(f"grid and zip both set {', '.join(sorted(both))}")
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise ValueError("seeds: give distinct seeds")
        return self


# --- `qmoe run`: several run configs in one process (experiments/plan.py) --------------------


def _canonical(value: Any) -> Any:
    """A hashable form of a YAML value under which values that set the same override are
    equal (2 and 2.0; mappings in any key order)."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return (type(value).__name__, value)
    if isinstance(value, int | float):
        return ("number", float(value) if value == value else "nan")
    if isinstance(value, list | tuple):
        return ("list", tuple(_canonical(v) for v in value))
    if isinstance(value, dict):
        return ("map", tuple(sorted((str(k), _canonical(v)) for k, v in value.items())))
    return ("other", repr(value))


def _show(value: Any) -> str:
    """A value as a one-line YAML flow scalar/collection, as the user would write it."""
    text = yaml.dump(value, Dumper=YamlDumper, default_flow_style=True, width=10**9).strip()
    return text.removesuffix("\n...").removesuffix("...").strip()
