"""The `diagnose` kind: the quantum router's mechanism, measured (docs/diagnose.md)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from qmoe_cli.config.experiment import KIND_HELP, NAME_PATTERN
from qmoe_cli.config.messages import _dotted, format_validation_error
from qmoe_cli.config.overrides import apply_overrides
from qmoe_cli.errors import ConfigError
from qmoe_cli.schema import Strict

SCANS = ("spectrum", "trainability", "expressibility")
ANSATZE = ("ry_cz", "strongly_entangling")
INITS = ("uniform", "small", "identity")


class DiagnoseConfig(Strict):
    """`qmoe diagnose`: a trained run's quantum routers' Fourier spectrum and classical
    surrogate, and scans of gradient variance (trainability), expressibility and entangling
    capability over qubits and layers. The command builds it from its options and writes it
    resolved."""

    kind: Literal["diagnose"] = Field("diagnose", description=KIND_HELP)
    name: str = Field("diagnose", pattern=NAME_PATTERN, description="run name")
    run: str | None = Field(
        None,
        description="the trained run folder whose quantum routers the spectrum reads (train, "
        "ablate, efficiency, evaluate-mode noise-sweep); null: scans only",
    )
    scans: list[Literal["spectrum", "trainability", "expressibility"]] = Field(
        default_factory=lambda: ["spectrum"], description="what to measure"
    )
    seeds: list[int] | None = Field(None, description="the run's seeds to read (null: all)")
    max_seeds: int | None = Field(
        None, ge=1, description="the first N of those seeds only (null: all)"
    )
    variants: list[str] | None = Field(
        None, description="a group's quantum variants to read (null: all)"
    )
    threshold: float = Field(
        1e-3,
        gt=0.0,
        description="a frequency counts as non-negligible when its coefficient's magnitude "
        "|c_w| reaches this in some gate (gates are probabilities: a term below it moves a "
        "gate by at most twice this)",
    )
    qubits: list[int] = Field(
        default_factory=lambda: [2, 4, 6, 8, 10, 12],
        description="qubit counts of the trainability scan",
    )
    layers: list[int] = Field(
        default_factory=lambda: [1, 4, 8], description="layer counts of both scans"
    )
    ansatze: list[Literal["ry_cz", "strongly_entangling"]] = Field(
        default_factory=lambda: list(ANSATZE), description="ansatze of both scans"
    )
    inits: list[Literal["uniform", "small", "identity"]] = Field(
        default_factory=lambda: list(INITS),
        description="initialisations of the trainability scan: uniform in [0, 2 pi), small "
        "angles in [-small_angle, small_angle], identity blocks (Grant et al. 2019)",
    )
    small_angle: float = Field(0.1, gt=0.0, le=3.2, description="half-width of `small`")
    embedding: Literal["rx", "ry"] = Field(
        "ry", description="the angle embedding of the trainability scan's random inputs"
    )
    samples: int = Field(
        200, ge=10, le=100_000, description="random initialisations per trainability cell"
    )
    expressibility_qubits: list[int] = Field(
        default_factory=lambda: [2, 4, 6], description="qubit counts of the expressibility scan"
    )
    pairs: int = Field(
        5000, ge=100, le=1_000_000, description="fidelity pairs per expressibility cell "
        "(Sim et al.: 5000)"
    )  # fmt: skip
    seed: int = Field(0, ge=0, description="seeds the scans' random draws")
    output_dir: str | None = Field(
        None,
        description="where the diagnose folder goes (overridden by `--out`; null: beside "
        "the run folder, or `runs` without one)",
    )

    @field_validator("scans", "ansatze", "inits", "seeds", "variants")
    @classmethod
    def _distinct(cls, v: list | None) -> list | None:
        if v is not None and (not v or len(set(v)) != len(v)):
            raise ValueError("give distinct values (an empty list measures nothing)")
        return v

    @field_validator("qubits", "layers", "expressibility_qubits")
    @classmethod
    def _counts(cls, v: list[int]) -> list[int]:
        if not v:
            raise ValueError("the range is empty")
        if any(c < 1 for c in v):
            raise ValueError("counts must be at least 1")
        return sorted(set(v))

    @model_validator(mode="after")
    def _needs_run(self) -> DiagnoseConfig:
        if "spectrum" in self.scans and self.run is None:
            raise ValueError("scans: the spectrum reads a trained run: give RUN_DIR")
        return self


# option of `qmoe diagnose` -> the config key it sets (errors name the option)
DIAGNOSE_OPTIONS = {
    "scans": "--scan",
    "seeds": "--seeds",
    "max_seeds": "--max-seeds",
    "variants": "--variants",
    "threshold": "--threshold",
    "qubits": "--qubits",
    "layers": "--layers",
    "ansatze": "--ansatz",
    "inits": "--init",
    "samples": "--samples",
    "pairs": "--pairs",
    "expressibility_qubits": "--expressibility-qubits",
}


def diagnose_config(raw: dict, overrides: list[str] | None = None) -> DiagnoseConfig:
    """`qmoe diagnose`'s options (a raw mapping, then `--set` overrides) -> the validated
    config; a problem is one ConfigError naming the option or key."""
    raw = apply_overrides(dict(raw), overrides or [])
    try:
        return DiagnoseConfig.model_validate(raw)
    except ValidationError as exc:
        parts = []
        for err in exc.errors():
            key = _dotted(err["loc"])
            top = str(err["loc"][0]) if err["loc"] else ""
            where = DIAGNOSE_OPTIONS.get(top, key)
            one = format_validation_error(ValidationError.from_exception_data(exc.title, [err]))
            msg = one.split(": ", 1)[1] if one.startswith(f"{key}: ") else one
            parts.append(f"{where}: {msg}" if where else msg)
        raise ConfigError("; ".join(parts)) from None
