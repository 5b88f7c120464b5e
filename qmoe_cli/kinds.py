"""The experiment kinds: one table from a config's `kind:` to its schema, the function that
runs it, the rows a sweep takes from its run folder, and the report section that shows it.

Every config file states its kind (`kind: ablate`, ...); the command line, `qmoe validate`,
`qmoe sweep`, `qmoe export` and `qmoe report` all look it up here, never by sniffing keys.
Runners and sections are named by import path and resolved when used, so this table sits
low in the layers (it imports only config) and every layer above can read it. A new kind is
one schema module in qmoe_cli/config/, one runner and one line here: with
`config_command=True` cli/running.py builds its command, with the options every such command shares
(and the kind's own flags, each setting one config key).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pydantic import BaseModel

from qmoe_cli.errors import ConfigError


@dataclass(frozen=True)
class Option:
    """A command-line flag of a kind's command that sets one config key (`--simulator X` is
    `--set simulator=X`), so every command shares one runner signature."""

    flag: str
    key: str
    metavar: str
    help: str


@dataclass(frozen=True)
class Kind:
    name: str  # the value of `kind:` and of metrics.json's `command`
    command: str  # the `qmoe` command that runs it
    schema_path: str  # "module:class" of its config schema (resolved when used: no import here)
    # "module:function" run(cfg, out_dir, *, jobs, resume) -> the run folder; the command
    # line, sweeps and plans all call it
    runner: str | None
    sweep_rows: str | None  # "module:function" (metrics.json) -> rows of a sweep's sweep.csv
    section: str | None  # "module:function" (runs, figure, paper) -> the report's blocks
    what: str
    # a command CONFIG with the shared options (built by cli/running.py); False: its own
    config_command: bool = False
    options: tuple[Option, ...] = ()

    @property
    def schema(self) -> type[BaseModel]:
        return resolve(self.schema_path)


EXP = "qmoe_cli.experiments"


def _kind(
    name: str,
    schema: str,
    *,
    command: str | None = None,
    runs: str | None = None,
    section: str | None = None,
    **rest: Any,
) -> Kind:
    """A table row: `runs` names the experiments module whose `run` and `sweep_rows` it uses."""
    return Kind(
        name=name,
        command=command or name,
        schema_path=f"qmoe_cli.config:{schema}",
        runner=f"{EXP}.{runs}:run" if runs else None,
        sweep_rows=f"{EXP}.{runs}:sweep_rows" if runs else None,
        section=section,
        **rest,
    )


KINDS: dict[str, Kind] = {
    k.name: k
    for k in (
        _kind("train", "ExperimentConfig", runs="train",
              section="qmoe_cli.report.tables:train_sections", config_command=True,
              what="Train one model per seed and write a run folder."),
        _kind("ablate", "AblationConfig", runs="ablate",
              section="qmoe_cli.report.tables:ablate_sections", config_command=True,
              what="Compare routers (variants) on the same data, experts, budget and seeds."),
        _kind("noise-sweep", "NoiseSweepConfig", runs="noise_sweep",
              section="qmoe_cli.report.tables:noise_sections", config_command=True,
              what="A quantum router under each depolarizing level, beside classical "
                   "baselines.",
              options=(Option("--simulator", "simulator", "torch|qiskit-aer",
                              "Evaluate the noisy circuit with torch or qiskit-aer (sets the "
                              "config's `simulator`)."),)),
        _kind("efficiency", "EfficiencyConfig", runs="efficiency",
              section="qmoe_cli.report.tables:efficiency_sections", config_command=True,
              what="Accuracy against router size: the Pareto front and the smallest router "
                   "per threshold."),
        _kind("hardware", "HardwareConfig", runs="hardware",
              section="qmoe_cli.report.hardware:sections",
              what="Trained quantum routers on a device through IBM's runtime (SamplerV2)."),
        _kind("diagnose", "DiagnoseConfig", section="qmoe_cli.report.diagnostics:sections",
              what="A run's quantum routers' Fourier spectrum and classical surrogate; "
                   "gradient variance, expressibility and entangling capability scans."),
        _kind("sweep", "SweepConfig",
              what="A grid of overrides x seeds over a base config of another kind."),
        _kind("tune", "TuneConfig",
              what="Tune every variant on validation with the same budget (Optuna), then "
                   "test each one's best settings once."),
        _kind("plan", "PlanConfig", command="run",
              what="Run configs one after another in one process (one start-up, one worker "
                   "pool)."),
    )
}  # fmt: skip
RUN_KINDS = tuple(k for k in KINDS if KINDS[k].runner)  # kinds that write a run folder
# sections in the report, in this order
REPORT_ORDER = ("ablate", "noise-sweep", "efficiency", "hardware", "train", "diagnose")
# the run folders `qmoe report` reads: every kind with a section (a diagnose folder has its
# own command, not a runner, but the report reads it as a run)
REPORT_KINDS = tuple(k for k in KINDS if KINDS[k].section)


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
    from qmoe_cli.config import load_raw, validate_config

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
