"""The run folders given to `qmoe report`: checked, and read once into typed records.

Every kind of run the report reads (train, ablate, noise-sweep, efficiency, hardware,
diagnose)
becomes a `Run`: its metrics.json parsed into its record (qmoe_cli/records.py), its
env.json into an `EnvRecord` and its config.yaml validated by its kind's schema
(qmoe_cli/kinds.py), and so are the metrics.json and config.yaml of its sub-folders. A
metrics.json that does not validate is one error naming the file and the key; a config.yaml
or env.json of an older folder that no longer validates is None, and `Run.problems` says so.
What it measured is read from these by qmoe_cli/report/measured.py (`ModelResult`,
`NoiseSweep`). A sweep folder written by `qmoe sweep`
(not a run folder: no metrics.json at its top, but sweep.yaml and summary.csv) becomes a
`Run` of kind "sweep" carrying a `SweepFolder`. Nothing here formats or judges, and nothing
downstream reads a file or looks a field up by its name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from qmoe_cli import records
from qmoe_cli.config import (
    AblationConfig,
    ExperimentConfig,
    ModelConfig,
    load_yaml_text,
    validate_config,
)
from qmoe_cli.data import DATASETS  # data.name values, from the dataset registry
from qmoe_cli.errors import ConfigError, RunFolderError
from qmoe_cli.kinds import REPORT_KINDS, run_config_kind

# Stat, eta_of, to_float and SWEEP are read from here by the report and the papers
from qmoe_cli.report.stats import Stat as Stat
from qmoe_cli.report.stats import eta_of as eta_of
from qmoe_cli.report.stats import to_float as to_float
from qmoe_cli.report.sweep_inputs import SWEEP as SWEEP
from qmoe_cli.report.sweep_inputs import (
    SWEEP_FILES,
    SweepFolder,
    _distinct,
    is_sweep_folder,
    load_sweep,
)
from qmoe_cli.runs import COMPLETE_MARKER, is_complete_run, read_json, read_text

KINDS = REPORT_KINDS  # the kinds of run folder it reads (qmoe_cli/kinds.py)
CLASSICAL_ROUTERS = ("mlp", "linear", "fourier", "spectrum_matched")

R = TypeVar("R", bound=records.Record)
T = TypeVar("T", bound=records.Tolerant)


@dataclass
class Run:
    """One run folder given on the command line, with its files read."""

    path: Path
    label: str  # R1, R2, ... in the order given
    kind: str
    record: records.Record | None  # metrics.json, parsed (None for a sweep folder)
    env: records.EnvRecord | None  # env.json (None: absent or not readable)
    # config.yaml validated by its kind's schema (a sweep folder: sweep.yaml by the sweep
    # schema); None when absent or no longer valid (see `problems`)
    config: BaseModel | None
    config_text: str | None
    sweep: SweepFolder | None = None  # kind "sweep" only
    # the sub-folders' metrics.json, parsed: "variants/A/metrics.json" -> its record
    subs: dict[str, records.Record] = field(default_factory=dict)
    # the sub-folders' config.yaml, validated: "variants/A/config.yaml" -> its config
    sub_configs: dict[str, ExperimentConfig] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)  # its files that could not be read
    # tuned.json of an ablation whose variants `qmoe tune` tuned on validation (None: the
    # settings are the config's own, a fixed protocol)
    tuned: records.TunedRecord | None = None

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def protocol(self) -> str:
        """How its settings were chosen: "tuned on validation (8 trials per variant)", or
        "" for a config's fixed settings."""
        return self.tuned.label if self.tuned is not None else ""

    def record_as(self, kind: type[R]) -> R:
        """The run's record, which must be of this kind."""
        if not isinstance(self.record, kind):
            raise ConfigError(f"{self.path}: not a {kind.__name__} run (command {self.kind!r})")
        return self.record

    @property
    def experiment(self) -> ExperimentConfig | None:
        """The config of a train, ablate, noise-sweep or efficiency run (None otherwise)."""
        return self.config if isinstance(self.config, ExperimentConfig) else None

    def read_train(self, relative: str) -> records.TrainRecord | None:
        """A train-format sub-folder's record (`variants/<name>/metrics.json`, ...), read and
        checked with the run (load_run), or None when the folder has none."""
        record = self.subs.get(relative)
        return record if isinstance(record, records.TrainRecord) else None

    @property
    def data_info(self) -> records.DataInfo | None:
        """What was loaded: the record's `data`, else the first sub-run's (None for a
        sweep folder: see data_source)."""
        record = self.record
        if isinstance(
            record,
            records.TrainRecord
            | records.AblateRecord
            | records.EfficiencyRecord
            | records.HardwareRecord,
        ):
            if record.data is not None:
                return record.data
        subs = ("quantum", *_subfolders(self.path, "baselines"), *_subfolders(self.path, "levels"))
        for sub in subs:
            train = self.read_train(f"{sub}/{COMPLETE_MARKER}")
            if train is not None:
                return train.data
        return None

    @property
    def data_source(self) -> str | None:
        """The data source (for a sweep: the distinct sources of its points)."""
        if self.sweep is not None:
            sources = _distinct(p.run.data_source for p in self.sweep.points)
            return "; ".join(sources) if sources else None
        data = self.data_info
        return data.source if data is not None else None

    @property
    def record_name(self) -> str:
        """The name in the record ("" for kinds that record none)."""
        record = self.record
        if isinstance(
            record,
            records.TrainRecord
            | records.AblateRecord
            | records.EfficiencyRecord
            | records.HardwareRecord
            | records.DiagnoseRecord,
        ):
            return record.name
        return ""

    @property
    def dataset(self) -> str | None:
        if isinstance(self.record, records.DiagnoseRecord):  # the diagnosed run's data set
            source = self.record.source
            if source is not None and source.dataset is not None:
                return source.dataset
        if self.sweep is not None:
            return ", ".join(self.sweep.datasets) or None
        cfg = self.experiment
        if cfg is not None and cfg.data.name in DATASETS:
            return str(cfg.data.name)
        text = f"{self.data_source or ''} {self.record_name}".lower()
        if "make_moons" in text or "two_moons" in text or "two-moons" in text:
            return "two_moons"
        if "make_circles" in text or "circles" in text:
            return "circles"
        if "fashion" in text:
            return "fashion_mnist"
        if "mnist" in text:
            return "mnist"
        if "digits" in text:
            return "digits"
        return None

    @property
    def seeds(self) -> list[int]:
        if self.sweep is not None:
            return list(self.sweep.seeds)
        record = self.record
        if isinstance(
            record, records.AblateRecord | records.NoiseSweepRecord | records.HardwareRecord
        ):
            return list(record.seeds)
        if isinstance(record, records.EfficiencyRecord) and record.seeds is not None:
            return list(record.seeds)
        if isinstance(record, records.TrainRecord):
            return [s.seed for s in record.per_seed]
        if isinstance(record, records.DiagnoseRecord):
            return list(record.source.seeds) if record.source is not None else []
        cfg = self.experiment
        return list(cfg.seeds) if cfg is not None else []

    @property
    def epoch_budget(self) -> int | None:
        cfg = self.experiment
        return cfg.train.epochs if cfg is not None else None

    @property
    def early_stopping(self) -> bool | None:
        cfg = self.experiment
        return cfg.train.early_stopping if cfg is not None else None

    @property
    def model(self) -> ModelConfig | None:
        """The model section of the config (None when not read)."""
        cfg = self.experiment
        return cfg.model if cfg is not None else None

    @property
    def plateau(self) -> float | None:
        """An ablation's accuracy plateau (its config's `plateau`), if it sets one."""
        return self.config.plateau if isinstance(self.config, AblationConfig) else None


def _subfolders(path: Path, under: str) -> list[str]:
    if not (path / under).is_dir():
        return []
    return sorted(f"{under}/{p.name}" for p in (path / under).iterdir() if p.is_dir())


def read_config(path: Path, source: str) -> tuple[str | None, BaseModel | None, str | None]:
    """A config.yaml: its text, the config validated by the schema of the kind it states
    (folders written before configs stated it: the kind its keys imply), and why it could
    not be read (None when it could, or when there is no such file)."""
    if not path.is_file():
        return None, None, None
    try:
        text = read_text(path)
    except RunFolderError as exc:
        return None, None, str(exc)
    try:
        raw = load_yaml_text(text)
    except (yaml.YAMLError, ValueError):
        return text, None, f"{source}: not valid YAML"
    if not isinstance(raw, dict):
        return text, None, f"{source}: not a mapping of keys"
    try:
        return text, validate_config(raw, source, run_config_kind(raw).schema), None
    except ConfigError as exc:
        return text, None, str(exc)


def read_env(path: Path) -> tuple[records.EnvRecord | None, str | None]:
    """env.json (None when absent) and why it could not be read."""
    if not path.is_file():
        return None, None
    try:
        raw = read_json(path)
    except RunFolderError as exc:
        raise ConfigError(str(exc)) from None
    if not isinstance(raw, dict):
        return None, f"{path.name}: not a JSON object"
    try:
        return records.EnvRecord.model_validate(raw), None
    except ValidationError as exc:
        return None, f"{path.name}: {records.validation_message(exc, raw)}"


@dataclass(frozen=True)
class Skipped:
    """A folder found under a folder given to `qmoe report` that is not read: failed,
    unfinished, or unreadable. The report lists it."""

    path: Path
    why: str


@dataclass
class Inputs:
    """What `qmoe report` reads: the runs (labelled R1, R2, ... in order) and the folders
    it found but skipped."""

    runs: list[Run]
    skipped: list[Skipped] = field(default_factory=list)


def load_runs(paths: list[Path]) -> list[Run]:
    """Check and read every folder (see gather); the first bad one is one clear error."""
    return gather(paths).runs


def gather(paths: list[Path]) -> Inputs:
    """Every run and sweep folder given, and those found under the other folders given.

    A path given that is a run folder (complete) or a sweep folder is read as it is; a
    failed, unfinished or unreadable one is one clear error naming it. Any other folder is
    searched (discover): the complete run and sweep folders under it are read in name order,
    and the failed, unfinished and unreadable ones found are skipped and listed, never fatal.
    The same folder given or found twice is read once."""
    if not paths:
        raise ConfigError("report: give at least one run folder")
    runs: list[Run] = []
    skipped: list[Skipped] = []
    seen: set[Path] = set()

    def add(path: Path) -> None:
        runs.append(load_run(path, f"R{len(runs) + 1}"))

    for path in map(Path, paths):
        resolved = path.resolve()
        if resolved in seen:
            continue
        seen.add(resolved)
        if not _searchable(path):
            add(path)  # a run or sweep folder, or one clear error naming it
            continue
        found, skips = discover(path)
        if not found:
            add(path)  # nothing to read under it: the error says why
        for folder in found:
            if folder.resolve() in seen:
                continue
            seen.add(folder.resolve())
            try:
                add(folder)
            except ConfigError as exc:  # found, not given: skipped and listed
                skipped.append(Skipped(folder, str(exc)))
        skipped += [s for s in skips if s.path.resolve() not in seen]
        seen.update(s.path.resolve() for s in skips)
    if not runs:  # every folder found was unreadable
        first = skipped[0]
        raise ConfigError(f"no run could be read: {first.path}: {first.why}")
    return Inputs(runs, skipped)


def _searchable(path: Path) -> bool:
    """A folder that is no run folder of any state nor a sweep folder: one to search."""
    return (
        path.is_dir()
        and not is_complete_run(path)
        and not is_sweep_folder(path)
        and not path.name.endswith(".failed")
        and not path.name.startswith(".")
        and not (path / "sweep.yaml").is_file()
        and not (path / "config.yaml").is_file()
    )


def discover(root: Path) -> tuple[list[Path], list[Skipped]]:
    """The complete run folders and sweep folders under `root` (recursively, in name order,
    depth first), and the run-like folders skipped there: failed (`*.failed`), unfinished
    (`.*.tmp`, a folder with config.yaml but no metrics.json, a sweep folder without
    summary.csv). A run or sweep folder's own sub-folders (variants/, seed-*/, points/) are
    part of it and not searched; report folders (`qmoe report`'s own) and other hidden
    folders are passed over."""
    found: list[Path] = []
    skipped: list[Skipped] = []
    visited: set[Path] = set()

    def walk(folder: Path) -> None:
        resolved = folder.resolve()
        if resolved in visited:  # a symlink loop, or a folder reached twice
            return
        visited.add(resolved)
        try:
            children = sorted(p for p in folder.iterdir() if p.is_dir())
        except OSError as exc:
            skipped.append(Skipped(folder, f"cannot list it ({exc.strerror or exc})"))
            return
        for child in children:
            name = child.name
            if is_complete_run(child):
                if _command(child) != "report":
                    found.append(child)
            elif is_sweep_folder(child):
                found.append(child)
            elif name.endswith(".failed"):
                skipped.append(Skipped(child, "the run failed (see error.txt)"))
            elif name.startswith("."):
                if name.endswith(".tmp"):
                    why = "unfinished (still being written, or was killed)"
                    skipped.append(Skipped(child, why))
            elif (child / "sweep.yaml").is_file():
                why = "a sweep folder without summary.csv: rerun `qmoe sweep` to finish it"
                skipped.append(Skipped(child, why))
            elif (child / "config.yaml").is_file():
                skipped.append(Skipped(child, f"unfinished: config.yaml but no {COMPLETE_MARKER}"))
            else:
                walk(child)

    walk(root)
    return found, skipped


def _command(path: Path) -> str | None:
    """The `command` in a complete run folder's metrics.json (None when unreadable)."""
    try:
        raw = read_json(path / COMPLETE_MARKER)
    except RunFolderError:
        return None
    return raw.get("command") if isinstance(raw, dict) else None


def load_run(path: Path, label: str) -> Run:
    if not path.exists():
        raise ConfigError(f"run folder not found: {path}")
    if not is_complete_run(path):
        if is_sweep_folder(path):
            return load_sweep(path, label)
        if not path.is_dir():
            why = "not a folder"
        elif path.name.endswith(".failed"):
            why = (
                "the run failed (see error.txt); give the folder holding it to read the "
                "complete runs there and list the failed ones"
            )
        elif path.name.startswith("."):
            why = "the run is unfinished (still being written, or was killed)"
        elif (path / "sweep.yaml").is_file():
            why = "a sweep folder without summary.csv: rerun `qmoe sweep` to finish it"
        elif (path / "config.yaml").is_file() and not (path / COMPLETE_MARKER).is_file():
            why = f"the run is unfinished: config.yaml but no {COMPLETE_MARKER}"
        else:
            why = (
                f"no {COMPLETE_MARKER}, no {' + '.join(SWEEP_FILES)} of a sweep folder, and no "
                "complete run or sweep folder under it"
            )
            failed = discover(path)[1] if _searchable(path) else []
            if failed:
                why += f" ({len(failed)} skipped: {', '.join(s.path.name for s in failed[:3])})"
        raise ConfigError(f"neither a complete run folder nor a sweep folder: {path} ({why})")
    try:
        raw = read_json(path / COMPLETE_MARKER)
    except RunFolderError as exc:
        raise ConfigError(str(exc)) from None
    kind = raw.get("command") if isinstance(raw, dict) else None
    if kind not in KINDS:
        raise ConfigError(
            f"{path / COMPLETE_MARKER}: command {kind!r} is not a run qmoe report reads "
            f"(expected one of: {', '.join(KINDS)})"
        )
    try:
        record = records.parse_record(raw, str(path / COMPLETE_MARKER))
    except RunFolderError as exc:
        raise ConfigError(str(exc)) from None
    env, env_problem = read_env(path / "env.json")
    config_text, config, config_problem = read_config(path / "config.yaml", "config.yaml")
    subs, sub_configs, sub_problems = _sub_folders(path)
    problems = [p for p in (env_problem, config_problem, *sub_problems) if p]
    tuned = read_tuned(path / TUNED_FILE) if kind == "ablate" else None
    return Run(
        path,
        label,
        kind,
        record,
        env,
        config,
        config_text,
        subs=subs,
        sub_configs=sub_configs,
        problems=problems,
        tuned=tuned,
    )


TUNED_FILE = "tuned.json"  # beside the metrics.json of an ablation `qmoe tune` ran


def read_tuned(path: Path) -> records.TunedRecord | None:
    """A tuned ablation's tuned.json (None when absent); one error naming the file and the
    key when it is not one (a tuned run read as a fixed one would mislabel every verdict)."""
    if not path.is_file():
        return None
    try:
        raw = read_json(path)
    except RunFolderError as exc:
        raise ConfigError(str(exc)) from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: not a JSON object")
    try:
        return records.TunedRecord.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"{path}: {records.validation_message(exc, raw)}") from None


TRAIN_SUBFOLDERS = ("variants", "baselines")  # train-format sub-folders of a run group


def _sub_folders(
    path: Path,
) -> tuple[dict[str, records.Record], dict[str, ExperimentConfig], list[str]]:
    """Every sub-folder's metrics.json and config.yaml (quantum/, variants/*/, baselines/*/,
    levels/*/), read once and checked: one error naming the file and key when a metrics.json
    does not validate, or when a train-format sub-folder holds another kind of record; a
    config.yaml that no longer validates is left out and said why."""
    found: dict[str, records.Record] = {}
    configs: dict[str, ExperimentConfig] = {}
    problems: list[str] = []
    subs = ["quantum", *(s for u in (*TRAIN_SUBFOLDERS, "levels") for s in _subfolders(path, u))]
    for sub in subs:
        file = path / sub / COMPLETE_MARKER
        if not file.is_file():
            continue
        try:
            record = records.read_record(file)
        except RunFolderError as exc:
            raise ConfigError(str(exc)) from None
        if sub.split("/")[0] != "levels" and not isinstance(record, records.TrainRecord):
            raise ConfigError(f"{file}: command: {record.command!r}, expected 'train'")
        found[f"{sub}/{COMPLETE_MARKER}"] = record
        _, config, problem = read_config(path / sub / "config.yaml", f"{sub}/config.yaml")
        if isinstance(config, ExperimentConfig):
            configs[f"{sub}/config.yaml"] = config
        elif problem:
            problems.append(problem)
    return found, configs, problems
