"""The trained models of a run folder: which sub-folders hold trainings (a train run itself,
a group's variants, a noise sweep's router and baselines), each read back as a train config.
`qmoe hardware` and `qmoe diagnose` read trained routers through it."""

from __future__ import annotations

from pathlib import Path

from qmoe_cli.config import ExperimentConfig, read_yaml, validate_config
from qmoe_cli.errors import ConfigError, RunFolderError
from qmoe_cli.kinds import run_config_kind
from qmoe_cli.runs.folder import is_complete_run


def train_config(folder: Path) -> ExperimentConfig:
    """A train-format folder's config (a group's sub-folder states its group's kind)."""
    raw = read_yaml(folder / "config.yaml")
    raw.setdefault("kind", "train")
    raw["kind"] = "train"  # a group's sub-folder is a train-format folder
    return validate_config(raw, source=str(folder / "config.yaml"), schema=ExperimentConfig)


def members(
    path: Path, command: str = "qmoe hardware"
) -> tuple[str, str, list[tuple[str, Path]], list[tuple[str, Path]]]:
    """(kind, name, candidate router folders, baseline folders) of a run folder."""
    if not path.is_dir():
        raise RunFolderError(f"run folder not found: {path}")
    if not is_complete_run(path):
        raise RunFolderError(
            f"not a complete run folder: {path} (no metrics.json, or a .tmp/.failed folder)"
        )
    if not (path / "config.yaml").is_file():
        raise RunFolderError(
            f"not a run folder: {path} (no config.yaml; for a seed folder, give the run "
            "folder holding it)"
        )
    raw = read_yaml(path / "config.yaml")
    kind = run_config_kind(raw).name
    name = str(raw.get("name") or path.name)
    if kind == "train":
        return kind, name, [(name, path)], []
    if kind in ("ablate", "efficiency"):
        folders = [(p.name, p) for p in sorted((path / "variants").glob("*")) if p.is_dir()]
        return kind, name, folders, folders
    if kind == "noise-sweep":
        if raw.get("mode") == "train":
            raise ConfigError(
                f"{path}: a train-mode noise sweep trains a router per level: give one of its "
                f"{path / 'levels'}/eps=<level> folders"
            )
        base = [(p.name, p) for p in sorted((path / "baselines").glob("*")) if p.is_dir()]
        return kind, name, [("quantum", path / "quantum")], base
    raise ConfigError(
        f"{path}: a {kind!r} run has no trained routers; give a train, ablate, efficiency or "
        f"evaluate-mode noise-sweep run folder to {command}"
    )


def choose(
    path: Path,
    quantum: list[tuple[str, Path, ExperimentConfig]],
    variants: list[str] | None,
    seeds: list[int] | None,
) -> tuple[list[tuple[str, Path, ExperimentConfig]], list[int]]:
    """The asked variants of a run's quantum routers and the asked seeds among those trained
    (all of either by default); one ConfigError naming the option otherwise."""
    if variants is not None:
        known = [v for v, _, _ in quantum]
        unknown = [v for v in variants if v not in known]
        if unknown:
            raise ConfigError(
                f"--variants: {', '.join(unknown)} not among the quantum variants of {path} "
                f"({', '.join(known)})"
            )
        quantum = [q for q in quantum if q[0] in variants]
    run_seeds = list(quantum[0][2].seeds)
    chosen = run_seeds if seeds is None else list(seeds)
    missing = [s for s in chosen if s not in run_seeds]
    if missing:
        raise ConfigError(
            f"--seeds: {', '.join(map(str, missing))} not trained in {path} "
            f"(seeds: {', '.join(map(str, run_seeds))})"
        )
    return quantum, chosen
