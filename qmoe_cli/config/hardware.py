"""The `hardware` kind: trained routers on a device through IBM's runtime."""

from __future__ import annotations

from typing import Literal

from pydantic import (
    Field,
    ValidationError,
    field_validator,
)

from qmoe_cli.config.experiment import KIND_HELP, NAME_PATTERN
from qmoe_cli.config.messages import _dotted, format_validation_error
from qmoe_cli.config.overrides import apply_overrides
from qmoe_cli.errors import ConfigError

# the target grammar is the runtime's own (a light module: no qiskit until a device is named)
from qmoe_cli.quantum.targets import TARGET_SYNTAX, parse_target
from qmoe_cli.schema import Strict

# --- `qmoe hardware`: trained routers on a device through IBM's runtime (experiments/hardware/)

MITIGATIONS = ("none", "readout", "zne", "readout+zne")


class HardwareConfig(Strict):
    """`qmoe hardware`: the trained quantum routers of a run folder evaluated on a target
    through qiskit-ibm-runtime's SamplerV2, with shots, transpilation and error mitigation
    (docs/hardware.md). The command builds it from its options and writes it resolved."""

    kind: Literal["hardware"] = Field("hardware", description=KIND_HELP)
    name: str = Field("hardware", pattern=NAME_PATTERN, description="run name")
    run: str = Field(
        description="the trained run folder: train, ablate, efficiency, or an evaluate-mode "
        "noise-sweep (its `quantum/` router and `baselines/`)"
    )
    target: str = Field(description=f"where the circuits run: {TARGET_SYNTAX}")
    shots: list[int] = Field(
        default_factory=lambda: [100, 300, 1000, 3000, 10000],
        description="shot counts reported; the largest is sampled, each smaller one is the "
        "first shots of it",
    )
    mitigation: list[Literal["none", "readout", "zne", "readout+zne"]] = Field(
        default_factory=lambda: list(MITIGATIONS),
        description="error mitigation, each reported beside the others (`none` always)",
    )
    optimization_level: int = Field(2, ge=0, le=3, description="transpiler preset level")
    zne_scales: list[int] = Field(
        default_factory=lambda: [1, 3, 5],
        description="noise scale factors of zero-noise extrapolation: odd, increasing, from 1 "
        "(global unitary folding U (U^dagger U)^k)",
    )
    zne_extrapolation: Literal["richardson", "linear"] = Field(
        "richardson", description="Richardson (polynomial through every scale) or a line"
    )
    calibration_shots: int | None = Field(
        None, ge=1, le=1_000_000, description="shots per readout calibration circuit; "
        "null: the largest of `shots`"
    )  # fmt: skip
    repeats: int = Field(
        200, ge=20, le=100_000, description="simulated repeats of an experiment at each "
        "shot count for its shot-noise interval"
    )  # fmt: skip
    max_inputs: int | None = Field(
        None, ge=1, description="evaluate the first N test inputs only (null: all)"
    )
    seeds: list[int] | None = Field(None, description="the run's seeds to evaluate (null: all)")
    variants: list[str] | None = Field(
        None, description="the quantum variants of a group to evaluate (null: all)"
    )
    seed: int = Field(0, ge=0, description="seeds the simulator, transpiler and resampling")
    output_dir: str = Field("runs", description="where the run folder goes (overridden by `--out`)")

    @field_validator("target")
    @classmethod
    def _target(cls, v: str) -> str:
        return parse_target(v)["text"]

    @field_validator("shots")
    @classmethod
    def _shots(cls, v: list[int]) -> list[int]:
        if not v:
            raise ValueError("give at least one shot count")
        if any(s < 1 or s > 1_000_000 for s in v):
            raise ValueError("every shot count must be in [1, 1000000]")
        if len(set(v)) != len(v):
            raise ValueError("give distinct shot counts")
        return sorted(v)

    @field_validator("mitigation")
    @classmethod
    def _mitigation(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError("give each mitigation once")
        return [m for m in MITIGATIONS if m in v or m == "none"]  # `none` is always reported

    @field_validator("zne_scales")
    @classmethod
    def _scales(cls, v: list[int]) -> list[int]:
        if len(v) < 2 or v[0] != 1 or any(s % 2 == 0 for s in v) or v != sorted(set(v)):
            raise ValueError("give at least two odd, increasing scale factors starting at 1")
        return v

    @field_validator("seeds", "variants")
    @classmethod
    def _distinct(cls, v: list | None) -> list | None:
        if v is not None and (not v or len(set(v)) != len(v)):
            raise ValueError("give distinct values (or null for all)")
        return v

    @property
    def sampled_shots(self) -> int:
        return max(self.shots)

    @property
    def zne(self) -> bool:
        return any("zne" in m for m in self.mitigation)

    @property
    def readout(self) -> bool:
        return any("readout" in m for m in self.mitigation)


# option of `qmoe hardware` -> the config key it sets (errors name the option)
HARDWARE_OPTIONS = {
    "target": "--target",
    "shots": "--shots",
    "mitigation": "--mitigation",
    "optimization_level": "--optimization-level",
    "seeds": "--seeds",
    "variants": "--variants",
    "max_inputs": "--max-inputs",
    "seed": "--seed",
}


def hardware_config(raw: dict, overrides: list[str] | None = None) -> HardwareConfig:
    """`qmoe hardware`'s options (a raw mapping, then `--set` overrides) -> the validated
    config; a problem is one ConfigError naming the option (`--target: ...`) or key."""
    raw = apply_overrides(dict(raw), overrides or [])
    try:
        return HardwareConfig.model_validate(raw)
    except ValidationError as exc:
        parts = []
        for err in exc.errors():
            key = _dotted(err["loc"])
            top = str(err["loc"][0]) if err["loc"] else ""
            where = HARDWARE_OPTIONS.get(top, key)
            one = format_validation_error(ValidationError.from_exception_data(exc.title, [err]))
            msg = one.split(": ", 1)[1] if one.startswith(f"{key}: ") else one
            parts.append(f"{where}: {msg}")
        raise ConfigError("; ".join(parts)) from None
