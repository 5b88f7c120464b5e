"""The `noise-sweep` kind: a quantum router under several depolarizing levels."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    Field,
    model_validator,
)

from qmoe_cli.config.experiment import (
    KIND_HELP,
    ExperimentConfig,
    VariantConfig,
    check_names,
    with_variant,
)


class NoiseSweepConfig(ExperimentConfig):
    """A quantum router (the shared model) under several depolarizing levels, with classical
    baselines trained once per seed as flat references."""

    kind: Literal["noise-sweep"] = Field("noise-sweep", description=KIND_HELP)
    levels: list[Annotated[float, Field(ge=0.0, le=1.0)]] = Field(
        default_factory=lambda: [0.0, 0.005, 0.01, 0.02, 0.03, 0.05],
        description="values given to `model.router.noise.depolarizing`; distinct",
    )
    mode: Literal["evaluate", "train"] = Field(
        "evaluate",
        description="`evaluate`: train noiseless and evaluate under each level; `train`: train "
        "under each level and evaluate under the same level",
    )
    simulator: Literal["torch", "qiskit-aer"] = Field(
        "torch",
        description="what evaluates the noisy circuit at each level: the torch simulator or "
        "Aer's density matrix (the exact methods agree to 1e-6); `qmoe noise-sweep "
        "--simulator` sets it",
    )
    baselines: dict[str, VariantConfig] = Field(
        default_factory=dict,
        description="classical routers, trained once per seed (each like a variant: `label`, "
        "`router`, `experts`, `scaling`, `train`); not named `quantum`",
    )

    @model_validator(mode="after")
    def _check_sweep(self) -> NoiseSweepConfig:
        if self.model.router.type != "quantum":
            raise ValueError("model.router.type: a noise sweep needs a quantum router")
        if self.model.router.noise.fake_backend and self.mode != "evaluate":
            raise ValueError("model.router.noise.fake_backend: evaluated in mode evaluate only")
        if not self.levels or len(set(self.levels)) != len(self.levels):
            raise ValueError("levels: give distinct noise levels")
        check_names(self.baselines, "baselines", allow_empty=True)
        if "quantum" in self.baselines:
            raise ValueError("baselines.quantum: the name is the quantum router's; pick another")
        for name, variant in self.baselines.items():
            if variant.router.type == "quantum":
                raise ValueError(f"baselines.{name}: baselines are classical routers")
            if (variant.experts or self.model.experts).type == "quantum":
                raise ValueError(
                    f"baselines.{name}.experts: baselines are classical; give the baseline "
                    "classical experts (e.g. experts: {count: 4}, linear)"
                )
        return self

    def _noisy_levels(self) -> bool:  # mode evaluate trains noiseless, then adds the noise
        return self.mode == "train" and any(self.levels)

    def parallel_units(self) -> int:
        quantum = 1 if self.mode == "evaluate" else len(self.levels)
        return len(self.seeds) * (quantum + len(self.baselines))

    def at_level(self, level: float) -> ExperimentConfig:
        """The quantum router's config with its circuit at this depolarizing level."""
        raw = self.model_dump(mode="json", include=set(ExperimentConfig.model_fields))
        raw["name"] = f"{self.name}-eps{level:g}"[:64]
        raw["kind"] = "train"
        raw["model"]["router"]["noise"]["depolarizing"] = level
        raw["model"]["router"]["noise"]["fake_backend"] = None  # evaluated on its own
        return ExperimentConfig.model_validate(raw)

    def baseline(self, name: str) -> ExperimentConfig:
        return with_variant(self, name, self.baselines[name])
