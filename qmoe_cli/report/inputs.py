"""The run folders given to `qmoe report`: checked, read once, and turned into plain records.

Every kind of run the report reads (train, ablate, noise-sweep, efficiency) becomes a `Run`
whose metrics.json is parsed once into its record (qmoe_cli/records.py: `Run.record`, and
`Run.metrics` its plain mapping); a metrics.json that does not validate is one error naming
the file and the key. The models it measured become `ModelResult`s (one per ablation
variant, train run or efficiency point) and a noise sweep a `NoiseSweep`. A sweep folder
written by `qmoe sweep` (not a run folder: no metrics.json at its top, but sweep.yaml and
summary.csv) becomes a `Run` of kind "sweep" carrying a `SweepFolder`. Nothing here formats
or judges.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from qmoe_cli import records
from qmoe_cli.data import DATASETS  # data.name values, from the dataset registry
from qmoe_cli.errors import ConfigError, RunFolderError
from qmoe_cli.kinds import RUN_KINDS
from qmoe_cli.runs import COMPLETE_MARKER, is_complete_run, read_json, read_text

KINDS = RUN_KINDS  # the kinds of run folder (qmoe_cli/kinds.py)
SWEEP = "sweep"  # the kind of a sweep folder (it is not a run folder, so not in KINDS)
SWEEP_FILES = ("sweep.yaml", "summary.csv")
# summary.csv's statistics columns; every other column names the point (swept keys, ...)
SWEEP_STATS = ("n_seeds", "test_acc_mean", "test_acc_std", "test_acc_ci_low", "test_acc_ci_high")
CLASSICAL_ROUTERS = ("mlp", "linear", "fourier")


def _num(value) -> float:
    """A JSON number, or NaN for null / missing (NaN is written as null in run folders)."""
    if value is None or isinstance(value, bool):
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


@dataclass(frozen=True)
class Stat:
    """A mean over seeds with its sample std and 95 % t-interval (NaN when not defined)."""

    mean: float
    std: float = math.nan
    ci_low: float = math.nan
    ci_high: float = math.nan
    n: int | None = None

    @classmethod
    def from_ci(cls, d: dict | None) -> Stat:
        d = d or {}
        n = d.get("n")
        return cls(
            _num(d.get("mean")),
            _num(d.get("std")),
            _num(d.get("ci_low")),
            _num(d.get("ci_high")),
            int(n) if isinstance(n, int | float) and not isinstance(n, bool) else None,
        )

    @classmethod
    def of(cls, s: records.Stat) -> Stat:
        """A record's mean_ci (None in the file: NaN)."""
        return cls(_num(s.mean), _num(s.std), _num(s.ci_low), _num(s.ci_high), s.n)

    @classmethod
    def from_row(cls, row: dict, prefix: str, n: int | None = None) -> Stat:
        return cls(
            _num(row.get(f"{prefix}_mean")),
            _num(row.get(f"{prefix}_std")),
            _num(row.get(f"{prefix}_ci_low")),
            _num(row.get(f"{prefix}_ci_high")),
            n,
        )

    @property
    def has_ci(self) -> bool:
        return math.isfinite(self.ci_low) and math.isfinite(self.ci_high)

    def contains(self, value: float) -> bool:
        return self.has_ci and self.ci_low <= value <= self.ci_high

    def scaled(self, factor: float) -> Stat:
        return Stat(
            self.mean * factor,
            self.std * factor,
            self.ci_low * factor,
            self.ci_high * factor,
            self.n,
        )


def eta_of(acc: Stat, router_params: int | None) -> Stat:
    """eta = accuracy / ln(1 + P): with P fixed across seeds, its CI is the accuracy CI scaled."""
    if not router_params or router_params <= 0:
        return Stat(math.nan)
    return acc.scaled(1.0 / math.log1p(router_params))


@dataclass
class Run:
    """One run folder given on the command line, with its files read."""

    path: Path
    label: str  # R1, R2, ... in the order given
    kind: str
    metrics: dict  # the record's plain mapping ({} for a sweep folder)
    env: dict | None
    config: dict | None
    config_text: str | None
    sweep: SweepFolder | None = None  # kind "sweep" only
    record: records.Record | None = None  # metrics.json, parsed (None for a sweep folder)
    # the sub-folders' metrics.json, parsed: "variants/A/metrics.json" -> its record
    subs: dict[str, records.Record] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.path.name

    def read(self, relative: str) -> dict | None:
        """A JSON file inside the folder, or None when it is missing or unreadable."""
        path = self.path / relative
        if not path.is_file():
            return None
        try:
            data = read_json(path)
        except RunFolderError:
            return None
        return data if isinstance(data, dict) else None

    def read_train(self, relative: str) -> records.TrainRecord | None:
        """A train-format sub-folder's record (`variants/<name>/metrics.json`, ...), read and
        checked with the run (load_run), or None when the folder has none."""
        record = self.subs.get(relative)
        return record if isinstance(record, records.TrainRecord) else None

    def read_config(self, relative: str) -> dict | None:
        return _read_yaml(self.path / relative)

    @property
    def data_info(self) -> dict:
        """What was loaded: the metrics' `data` block, else the first sub-run's (for a sweep:
        the distinct data sources of its points)."""
        if self.sweep is not None:
            sources = _distinct(p.run.data_info.get("source") for p in self.sweep.points)
            return {"source": "; ".join(map(str, sources))} if sources else {}
        data = self.metrics.get("data")
        if isinstance(data, dict) and data:
            return data
        subs = ("quantum", *_subfolders(self.path, "baselines"), *_subfolders(self.path, "levels"))
        for sub in subs:
            record = self.read_train(f"{sub}/{COMPLETE_MARKER}")
            if record is not None:
                return records.as_json(record.data)
        return {}

    @property
    def dataset(self) -> str | None:
        if self.sweep is not None:
            return ", ".join(self.sweep.datasets) or None
        data = (self.config or {}).get("data")
        if isinstance(data, dict) and data.get("name") in DATASETS:
            return data["name"]
        text = f"{self.data_info.get('source', '')} {self.metrics.get('name', '')}".lower()
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
        if isinstance(self.metrics.get("seeds"), list):
            return list(self.metrics["seeds"])
        if self.kind == "train" and isinstance(self.metrics.get("per_seed"), list):
            return [m.get("seed") for m in self.metrics["per_seed"] if isinstance(m, dict)]
        seeds = (self.config or {}).get("seeds")
        return list(seeds) if isinstance(seeds, list) else []

    @property
    def epoch_budget(self) -> int | None:
        train = (self.config or {}).get("train")
        return train.get("epochs") if isinstance(train, dict) else None


def _subfolders(path: Path, under: str) -> list[str]:
    if not (path / under).is_dir():
        return []
    return sorted(f"{under}/{p.name}" for p in (path / under).iterdir() if p.is_dir())


def _read_yaml(path: Path) -> dict | None:
    try:
        data = yaml.safe_load(read_text(path))
    except (RunFolderError, yaml.YAMLError):
        return None
    return data if isinstance(data, dict) else None


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
    env = None
    if (path / "env.json").is_file():
        try:
            env = read_json(path / "env.json")
        except RunFolderError as exc:
            raise ConfigError(str(exc)) from None
    config_path = path / "config.yaml"
    try:
        config_text = read_text(config_path) if config_path.is_file() else None
    except RunFolderError:
        config_text = None
    config = _read_yaml(config_path) if config_text is not None else None
    env = env if isinstance(env, dict) else None
    metrics = records.as_json(record)
    subs = _sub_records(path)
    return Run(path, label, kind, metrics, env, config, config_text, record=record, subs=subs)


TRAIN_SUBFOLDERS = ("variants", "baselines")  # train-format sub-folders of a run group


def _sub_records(path: Path) -> dict[str, records.Record]:
    """Every sub-folder's metrics.json (quantum/, variants/*/, baselines/*/, levels/*/), read
    once and checked: one error naming the file and key when one does not validate, or when
    a train-format sub-folder holds another kind of record."""
    found: dict[str, records.Record] = {}
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
    return found


# --- sweep folders (`qmoe sweep`) ---------------------------------------------------------


@dataclass
class SweepPoint:
    """One finished point of a sweep: its run folder (points/<id>/) and point.json."""

    id: str
    swept: dict
    seed: int | None
    run: Run


@dataclass
class SweepFolder:
    """What a sweep folder holds: the sweep file, its points' states and summary.csv."""

    name: str
    command: str
    base: str
    grid: dict[str, list]
    zip: dict[str, list]
    seeds: list
    expected: int | None  # points x seeds the sweep file asks for (None: cannot tell)
    points: list[SweepPoint]  # done: complete folders under points/
    failed: dict[str, str]  # point id -> the error in status/<id>.json
    unfinished: list[str]  # point ids with a points/.<id>.work folder (running or killed)
    unreadable: dict[str, str]  # point id -> why its complete folder could not be read
    keys: list[str]  # summary.csv's columns naming a point (swept keys, variant, level)
    summary: list[dict]  # summary.csv rows
    rows: list[dict]  # sweep.csv rows (one per point and seed)

    @property
    def pending(self) -> int | None:
        if self.expected is None:
            return None
        return max(0, self.expected - len(self.points) - len(self.failed) - len(self.unfinished))

    @property
    def datasets(self) -> list[str]:
        return [str(d) for d in _distinct(p.run.dataset for p in self.points)]


def is_sweep_folder(path: Path) -> bool:
    return path.is_dir() and all((path / name).is_file() for name in SWEEP_FILES)


def _distinct(values) -> list:
    """The distinct non-empty values in first-seen order."""
    seen: list = []
    for v in values:
        if v not in (None, "") and v not in seen:
            seen.append(v)
    return seen


def _read_csv(path: Path) -> tuple[list[str], list[dict]]:
    try:
        reader = csv.DictReader(io.StringIO(read_text(path, newline=""), newline=""))
        rows = list(reader)
        return list(reader.fieldnames or []), rows
    except RunFolderError as exc:
        raise ConfigError(str(exc)) from None
    except csv.Error as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None


def _sweep_defaults() -> tuple[str, list]:
    """The sweep file's defaults for `command` and `seeds`, from the sweep schema itself."""
    from qmoe_cli.config import SweepConfig

    fields = SweepConfig.model_fields
    # sweep files written before the kinds registry default to train runs
    return "train", fields["seeds"].get_default(call_default_factory=True)


def _mapping_of_lists(value) -> dict[str, list]:
    if not isinstance(value, dict):
        return {}
    return {str(k): v if isinstance(v, list) else [v] for k, v in value.items()}


def load_sweep(path: Path, label: str) -> Run:
    """A sweep folder: sweep.yaml, summary.csv, sweep.csv, status/*.json and points/*/."""
    sweep_file = path / "sweep.yaml"
    try:
        config_text = read_text(sweep_file)
    except RunFolderError as exc:
        raise ConfigError(str(exc)) from None
    config = _read_yaml(sweep_file)
    if config is None:
        raise ConfigError(f"{sweep_file}: not a sweep file (expected a YAML mapping)")
    default_command, default_seeds = _sweep_defaults()
    grid, zipped = _mapping_of_lists(config.get("grid")), _mapping_of_lists(config.get("zip"))
    seeds = config.get("seeds", default_seeds)
    seeds = seeds if isinstance(seeds, list) else [seeds]
    expected = math.prod(len(v) for v in grid.values()) * len(seeds)
    if zipped:
        lengths = {len(v) for v in zipped.values()}
        expected = expected * lengths.pop() if len(lengths) == 1 else None

    points, unreadable = [], {}
    points_dir = path / "points"
    folders = sorted(points_dir.iterdir()) if points_dir.is_dir() else []
    for folder in folders:
        if not is_complete_run(folder):
            continue
        try:
            run = load_run(folder, f"{label}/{folder.name}")
        except ConfigError as exc:
            unreadable[folder.name] = str(exc)
            continue
        info = run.read("point.json") or {}
        swept = info.get("swept") if isinstance(info.get("swept"), dict) else {}
        points.append(SweepPoint(folder.name, swept, _int(info.get("seed")), run))
    done = {p.id for p in points} | set(unreadable)
    unfinished = [
        f.name[1 : -len(".work")]
        for f in folders
        if f.name.startswith(".") and f.name.endswith(".work") and f.is_dir()
    ]
    failed = {}
    status_dir = path / "status"
    for status in sorted(status_dir.glob("*.json")) if status_dir.is_dir() else []:
        pid = status.stem
        try:
            state = read_json(status)
        except RunFolderError:
            continue
        if isinstance(state, dict) and state.get("state") == "failed" and pid not in done:
            if pid not in unfinished:
                failed[pid] = str(state.get("error") or "no error recorded").splitlines()[0]

    fields, summary = _read_csv(path / "summary.csv")
    keys = [f for f in fields if f not in SWEEP_STATS]
    rows = _read_csv(path / "sweep.csv")[1] if (path / "sweep.csv").is_file() else []
    sweep = SweepFolder(
        name=path.name,  # `qmoe sweep` names the folder after the sweep
        command=str(config.get("command") or default_command),
        base=str(config.get("base", "?")),
        grid=grid,
        zip=zipped,
        seeds=seeds,
        expected=expected,
        points=points,
        failed=failed,
        unfinished=unfinished,
        unreadable=unreadable,
        keys=keys,
        summary=summary,
        rows=rows,
    )
    return Run(path, label, SWEEP, {}, None, config, config_text, sweep)


# --- models measured by a run -------------------------------------------------------------


@dataclass
class ModelResult:
    """One model's test accuracy over seeds: an ablation variant, a train run or an
    efficiency point."""

    run: Run
    variant: str | None
    label: str
    router: str
    router_params: int | None
    total_params: int | None
    acc: Stat
    epochs_to_90: list[int | None] | None = None  # per seed (validation accuracy)
    epoch_budget: int | None = None
    extra: dict = field(default_factory=dict)
    per_seed_acc: list[float] | None = None  # test accuracy per seed, in seed order
    effective_params: float | None = None  # median Jacobian rank at the trained point
    early_stopping: bool | None = None
    # test accuracy of each class (index 0..C-1), mean over the seeds that record it
    per_class_acc: list[float] | None = None

    @property
    def n_seeds(self) -> int:
        return len(self.per_seed_acc) if self.per_seed_acc else (self.acc.n or 0)

    @property
    def model_config(self) -> dict:
        """The model section of this model's resolved config ({} when not read)."""
        model = self.extra.get("model")
        return model if isinstance(model, dict) else {}

    @property
    def experts(self) -> str:
        """The experts' type (`linear` unless the config says otherwise)."""
        experts = self.model_config.get("experts")
        kind = experts.get("type") if isinstance(experts, dict) else None
        return kind if isinstance(kind, str) else "linear"

    @property
    def qubits(self) -> dict:
        """Qubits of every circuit of the model, from its config (models.config_qubits)."""
        from qmoe_cli.models import config_qubits

        return config_qubits(self.model_config)

    @property
    def per_seed_eta(self) -> list[float] | None:
        if not self.per_seed_acc or not self.router_params:
            return None
        return [a / math.log1p(self.router_params) for a in self.per_seed_acc]

    @property
    def setup(self) -> str:
        """How it was trained, as far as a verdict may depend on it."""
        budget = f"{self.epoch_budget} epochs" if self.epoch_budget else "? epochs"
        if self.early_stopping is None:
            return budget
        return budget + (", early stopping" if self.early_stopping else ", no early stopping")

    @property
    def eta(self) -> Stat:
        return eta_of(self.acc, self.router_params)

    @property
    def source(self) -> str:
        what = f" variant {self.variant}" if self.variant else ""
        return f"{self.run.label}{what}: {self.router} router, P = {self.router_params}"


def _int(value) -> int | None:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def model_results(run: Run) -> list[ModelResult]:
    """The models of an ablate, train or efficiency run (none for a skipped efficiency run)."""
    record = run.record
    if isinstance(record, records.AblateRecord):
        return [_variant(run, row) for row in record.summary]
    if isinstance(record, records.TrainRecord):
        train = (run.config or {}).get("train")
        stopping = train.get("early_stopping") if isinstance(train, dict) else None
        model = (run.config or {}).get("model")
        model = model if isinstance(model, dict) else None
        return [_train_model(run, record, None, run.epoch_budget, stopping, model)]
    if isinstance(record, records.EfficiencyRecord):
        return [_variant(run, p) for p in record.points]
    return []


def _variant(run: Run, row: records.VariantSummary) -> ModelResult:
    """An ablation variant (a summary row) or an efficiency point, with its per-seed
    numbers from variants/<name>/."""
    sub = run.read_train(f"variants/{row.variant}/metrics.json")
    cfg = run.read_config(f"variants/{row.variant}/config.yaml") or {}
    train = cfg.get("train") if isinstance(cfg.get("train"), dict) else {}
    budget = train.get("epochs")
    per_seed = sub.per_seed if sub is not None else None
    return ModelResult(
        run,
        row.variant,
        row.label,
        row.router or (sub.router if sub is not None else "") or "?",
        row.router_params,
        row.total_params,
        Stat(
            _num(row.test_acc_mean),
            _num(row.test_acc_std),
            _num(row.test_acc_ci_low),
            _num(row.test_acc_ci_high),
            row.n_seeds,
        ),
        [m.epochs_to_90_val for m in per_seed] if per_seed else None,
        budget if budget is not None else run.epoch_budget,
        {"row": records.as_json(row), "model": cfg.get("model")},
        _accuracies(per_seed),
        _median_effective(per_seed),
        train.get("early_stopping") if isinstance(train.get("early_stopping"), bool) else None,
        _per_class(per_seed),
    )


def _train_model(
    run: Run,
    m: records.TrainRecord,
    variant: str | None,
    budget: int | None,
    stopping: bool | None = None,
    model: dict | None = None,
) -> ModelResult:
    return ModelResult(
        run,
        variant,
        m.name,
        m.router or "?",
        m.params.router,
        m.params.total,
        Stat.of(m.aggregate.test_accuracy),
        [s.epochs_to_90_val for s in m.per_seed],
        budget,
        {"model": model} if model is not None else {},
        per_seed_acc=_accuracies(m.per_seed),
        effective_params=_median_effective(m.per_seed),
        early_stopping=stopping,
        per_class_acc=_per_class(m.per_seed),
    )


def _accuracies(per_seed: list[records.SeedRecord] | None) -> list[float] | None:
    if not per_seed:
        return None
    values = [_num(m.test_accuracy) for m in per_seed]
    return values if all(math.isfinite(v) for v in values) else None


def _per_class(per_seed: list[records.SeedRecord] | None) -> list[float] | None:
    """Each class's test accuracy, mean over the seeds (None when no seed records it)."""
    rows = [m.test_per_class_accuracy for m in per_seed or [] if m.test_per_class_accuracy]
    if not rows or len({len(r) for r in rows}) != 1:
        return None
    out = []
    for values in zip(*rows, strict=True):
        finite = [v for v in values if v is not None and math.isfinite(v)]
        out.append(sum(finite) / len(finite) if finite else math.nan)
    return out


def _median_effective(per_seed: list[records.SeedRecord] | None) -> float | None:
    """Median over seeds of the router's Jacobian rank at the trained point."""
    ranks = sorted(
        float(m.effective_params.trained)
        for m in per_seed or []
        if m.effective_params.trained is not None
    )
    if not ranks:
        return None
    mid = len(ranks) // 2
    return ranks[mid] if len(ranks) % 2 else (ranks[mid - 1] + ranks[mid]) / 2


# --- noise sweeps -------------------------------------------------------------------------


@dataclass
class NoiseSweep:
    run: Run
    mode: str
    simulator: str
    placement: str
    levels: list[float]
    rows: list[dict]
    baselines: dict[str, ModelResult]  # name -> the classical baseline's train-format result
    best_baseline: str | None
    breakdown: dict | None
    per_level: dict[float, list[float]] = field(default_factory=dict)  # quantum, per seed

    def row_at(self, level: float) -> dict | None:
        return next((r for r in self.rows if math.isclose(_num(r.get("level")), level)), None)

    def seeds_at(self, level: float) -> list[float] | None:
        """The quantum router's test accuracy per seed at this level."""
        return next((v for k, v in self.per_level.items() if math.isclose(k, level)), None)

    @property
    def epoch_budget(self) -> int | None:
        return self.run.epoch_budget

    @property
    def early_stopping(self) -> bool | None:
        train = (self.run.config or {}).get("train")
        value = train.get("early_stopping") if isinstance(train, dict) else None
        return value if isinstance(value, bool) else None

    @property
    def model_config(self) -> dict:
        """The swept model's section of the sweep's config ({} when not read)."""
        model = (self.run.config or {}).get("model")
        return model if isinstance(model, dict) else {}

    @property
    def experts(self) -> str:
        """The swept model's experts type: `linear` (the paper's hybrid) or `quantum` (the
        fully quantum QMoE, every circuit under the same noise)."""
        experts = self.model_config.get("experts")
        kind = experts.get("type") if isinstance(experts, dict) else None
        return kind if isinstance(kind, str) else "linear"

    @property
    def seeds(self) -> list:
        seeds = (self.run.config or {}).get("seeds")
        return list(seeds) if isinstance(seeds, list) else []

    @property
    def classical(self) -> ModelResult | None:
        """The paper's classical baseline: a linear router (Model A) if swept, else the best."""
        linear = [b for b in self.baselines.values() if b.router == "linear"]
        if linear:
            return linear[0]
        return self.baselines.get(self.best_baseline or "")

    @property
    def source(self) -> str:
        return f"{self.run.label} ({self.mode} mode, {self.simulator}, {self.placement} placement)"


def noise_sweep(run: Run) -> NoiseSweep:
    m = run.record
    if not isinstance(m, records.NoiseSweepRecord):
        raise ConfigError(f"{run.path}: not a noise sweep (command {run.kind!r})")
    means = m.table[0].baseline_means if m.table else {}
    baselines = {}
    train = (run.config or {}).get("train")
    stopping = train.get("early_stopping") if isinstance(train, dict) else None
    for name, mean in means.items():
        sub = run.read_train(f"baselines/{name}/metrics.json")
        if sub is not None:
            result = _train_model(run, sub, name, run.epoch_budget, stopping)
        else:  # only the mean is in the table
            result = ModelResult(run, name, name, "?", None, None, Stat(_num(mean)))
        baselines[name] = result
    return NoiseSweep(
        run,
        m.mode,
        m.simulator,
        m.placement,
        [float(x) for x in m.levels],
        [records.as_json(r) for r in m.table],
        baselines,
        m.best_baseline,
        records.as_json(m.breakdown) if m.breakdown is not None else None,
        _per_level(m.per_seed.quantum),
    )


def _per_level(quantum: dict[str, list[float | None]]) -> dict[float, list[float]]:
    """metrics.json `per_seed.quantum`: {"<level>": [accuracy per seed]} as floats (levels
    with an undefined accuracy are left out)."""
    out = {}
    for key, values in quantum.items():
        level = _num(key)
        if math.isfinite(level):
            accs = [_num(v) for v in values]
            if accs and all(math.isfinite(a) for a in accs):
                out[level] = accs
    return out
