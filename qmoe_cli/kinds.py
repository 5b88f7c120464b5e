"""The experiment kinds: one table from a config's `kind:` to its schema, the function that
runs it, the rows a sweep takes from its run folder, and the report section that shows it.

Every config file states its kind (`kind: ablate`, ...); the command line, `qmoe validate`,
`qmoe sweep`, `qmoe export` and `qmoe report` all look it up here, never by sniffing keys.
Runners and sections are named by import path and resolved when used, so this table sits
low in the layers (it imports only config) and every layer above can read it. A new kind is
one schema module in qmoe_cli/config/, one runner and one line here (plus a command in cli.py).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from qmoe_cli.config import (
    AblationConfig,
    EfficiencyConfig,
    ExperimentConfig,
    HardwareConfig,
    NoiseSweepConfig,
    PlanConfig,
    SweepConfig,
    load_raw,
    validate_config,
)
from qmoe_cli.errors import ConfigError


@dataclass(frozen=True)
class Kind:
    name: str  # the value of `kind:` and of metrics.json's `command`
    command: str  # the `qmoe` command that runs it
    schema: type[BaseModel]
    runner: str | None  # "module:function" (cfg, out_dir, jobs) -> run folder; sweeps run it
    sweep_rows: str | None  # "module:function" (metrics.json) -> rows of a sweep's sweep.csv
    section: str | None  # "module:function" (runs, figure, paper) -> the report's blocks
    what: str


KINDS: dict[str, Kind] = {
    k.name: k
    for k in (
        Kind("train", "train", ExperimentConfig, "qmoe_cli.experiments.train:run",
             "qmoe_cli.experiments.train:sweep_rows", "qmoe_cli.report.tables:train_sections",
             "one model, trained once per seed"),
        Kind("ablate", "ablate", AblationConfig, "qmoe_cli.experiments.ablate:run",
             "qmoe_cli.experiments.ablate:sweep_rows", "qmoe_cli.report.tables:ablate_sections",
             "several routers on the same data, experts, budget and seeds"),
        Kind("noise-sweep", "noise-sweep", NoiseSweepConfig,
             "qmoe_cli.experiments.noise_sweep:run", "qmoe_cli.experiments.noise_sweep:sweep_rows",
             "qmoe_cli.report.tables:noise_sections",
             "a quantum router under each depolarizing level, beside classical baselines"),
        Kind("efficiency", "efficiency", EfficiencyConfig, "qmoe_cli.experiments.efficiency:run",
             "qmoe_cli.experiments.efficiency:sweep_rows",
             "qmoe_cli.report.tables:efficiency_sections",
             "accuracy against router size, Pareto front, smallest router per threshold"),
        Kind("hardware", "hardware", HardwareConfig, "qmoe_cli.experiments.hardware:run",
             "qmoe_cli.experiments.hardware:sweep_rows", "qmoe_cli.report.hardware:sections",
             "trained quantum routers on a device through IBM's runtime (SamplerV2)"),
        Kind("sweep", "sweep", SweepConfig, None, None, None,
             "a grid of overrides x seeds over a base config of another kind"),
        Kind("plan", "run", PlanConfig, None, None, None,
             "run configs one after another in one process (one start-up, one worker pool)"),
    )
}  # fmt: skip
RUN_KINDS = tuple(k for k in KINDS if KINDS[k].runner)  # kinds that write a run folder
# sections in the report, in this order
REPORT_ORDER = ("ablate", "noise-sweep", "efficiency", "hardware", "train")


def resolve(target: str) -> Any:
    """The object named "module:attribute"."""
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


def kind_of(raw: dict, source: str) -> Kind:
    """The kind a raw config mapping states; one clear error when it states none or a wrong
    one."""
    names = ", ".join(KINDS)
    if "kind" not in raw:
        raise ConfigError(f"{source}: kind: required key is missing (one of: {names})")
    value = raw["kind"]
    if not isinstance(value, str) or value not in KINDS:
        raise ConfigError(f"{source}: kind: {value!r} is not a kind (one of: {names})")
    return KINDS[value]


def load(path: str | Path, overrides: list[str] | None = None, expect: str | None = None):
    """YAML file + overrides -> the validated config of the kind it states (`expect`: the
    kind the calling command runs; another kind is one error naming the right command)."""
    raw = load_raw(path, overrides)
    kind = kind_of(raw, str(path))
    if expect is not None and kind.name != expect:
        raise ConfigError(
            f"{path}: kind: {kind.name!r} configs run with `qmoe {kind.command}`, "
            f"not `qmoe {KINDS[expect].command}`"
        )
    return validate_config(raw, source=str(path), schema=kind.schema)


def run_config_kind(raw: dict) -> Kind:
    """The kind of a run folder's config.yaml. Folders written before configs stated their
    kind are read through this one explicit migration: the kind their keys imply."""
    if "kind" in raw:
        return kind_of(raw, "config.yaml")
    if "variants" in raw:
        return KINDS["efficiency" if "thresholds" in raw else "ablate"]
    if "levels" in raw or "baselines" in raw or "mode" in raw:
        return KINDS["noise-sweep"]
    return KINDS["train"]
