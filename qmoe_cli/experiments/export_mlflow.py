"""`qmoe export RUN_DIR... --format mlflow`: run folders into an MLflow tracking store.

Each folder becomes a tree of MLflow runs that mirrors it: the folder (train, ablate,
noise-sweep, efficiency, hardware, or a sweep) is the parent run; each sub-folder with its
own metrics.json (`variants/<name>`, `levels/eps=<x>`, `quantum`, `baselines/<name>`, a
sweep's points) is a run nested under it; each `seed-<s>` training is a run nested under
its folder's. A run holds:

* params: the folder's config.yaml (a sweep: sweep.yaml) flattened to dotted keys, lists as
  JSON; a seed run: its training's config and `seed`;
* metrics: the numbers of metrics.json, flattened the same way (rows of a table keyed by
  their variant, level or comparison); a seed run also its history.csv, one step per epoch;
* artifacts: the folder's figures (PNG), metrics.json, config and CSV tables; a seed run its
  metrics.json and history.csv;
* tags: `qmoe.kind`, `qmoe.variant`, `qmoe.seed`, `qmoe.git` (also as MLflow's
  `mlflow.source.git.commit`), `qmoe.version`, `qmoe.folder`, and `qmoe.key`: a hash of the
  top folder's name and the path inside it. Exporting a folder again finds its runs by that
  key and creates only the missing ones (a run left unfinished by an interrupted export is
  deleted and made again).

The store is the one MLflow itself would use (`MLFLOW_TRACKING_URI`, else its default),
or `tracking_uri`; the experiment is the top folder's config `name` unless one is given.
mlflow is imported only here, when the export runs (start-up of the other commands).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from qmoe_cli.config import read_yaml
from qmoe_cli.errors import ConfigError, QmoeError, RunFolderError
from qmoe_cli.records import SeedRecord, read_record, validation_message
from qmoe_cli.runs import is_complete_run, read_csv, read_json

INSTALL_HINT = "--format mlflow needs MLflow: pip install 'qmoe-cli[mlflow]'"
ARTIFACT_SUFFIXES = (".png", ".json", ".yaml", ".csv")
SEED_ARTIFACTS = ("metrics.json", "history.csv")
SWEEP_FILES = ("sweep.yaml", "summary.csv")  # what makes a folder a sweep's (report/inputs.py)
MAX_DEPTH = 4  # group / variants / <name> / seed-<s>: deeper folders are not looked into
PARAM_MAX = 6000  # MLflow's longest param value
BATCH = 100  # params (and tags) per log_batch call; metrics go 1000 at a time
NOT_IN_METRICS = ("seed", "seeds")  # which seeds: the config's and a tag, not measurements
KEY_TAG, TREE_TAG = "qmoe.key", "qmoe.tree"
PARENT_TAG = "mlflow.parentRunId"


@dataclass
class Node:
    """A folder that becomes one MLflow run, and the folders nested under it."""

    path: Path
    rel: str  # the path inside the top folder ("" for the top)
    kind: str  # metrics.json's `command`; "seed" for a training, "sweep" for a sweep folder
    name: str  # the run's name in MLflow
    variant: str | None = None
    seed: int | None = None
    children: list[Node] = field(default_factory=list)

    def walk(self):
        yield self
        for child in self.children:
            yield from child.walk()


@dataclass
class Exported:
    folder: Path
    experiment: str
    tracking_uri: str
    created: int
    kept: int


# --------------------------------------------------------------------------- the folders


def is_sweep_folder(path: Path) -> bool:
    return path.is_dir() and all((path / name).is_file() for name in SWEEP_FILES)


def top_folders(paths: list[Path]) -> list[Path]:
    """The run (or sweep) folders to export: each path given, or the ones directly in a
    folder of run folders (`runs/`); one error line for a path that is neither."""
    found: list[Path] = []
    for path in paths:
        if is_complete_run(path) or is_sweep_folder(path):
            found.append(path)
            continue
        if not path.is_dir():
            raise RunFolderError(f"not a run folder (no such directory): {path}")
        inside = sorted(p for p in path.iterdir() if is_complete_run(p) or is_sweep_folder(p))
        if not inside:
            raise RunFolderError(
                f"not a run folder: {path} (no metrics.json, no sweep.yaml + summary.csv, and "
                "no complete run folder in it)"
            )
        found += inside
    return list(dict.fromkeys(p.resolve() for p in found))


def tree(top: Path) -> Node:
    """The MLflow runs one top folder becomes."""
    if is_sweep_folder(top):
        root = Node(top, "", "sweep", top.name)
        points = top / "points"
        if points.is_dir():
            root.children = [
                _node(p, top, p.name, 1) for p in sorted(points.iterdir()) if is_complete_run(p)
            ]
        return root
    return _node(top, top, top.name, 0)


def _node(path: Path, top: Path, name: str, depth: int, variant: str | None = None) -> Node:
    kind = read_record(path).command  # validated: a bad metrics.json is one error naming it
    node = Node(path, path.relative_to(top).as_posix() if path != top else "", kind, name)
    node.variant = variant if depth > 0 else None
    node.children = _children(node, top, depth)
    return node


def _children(node: Node, top: Path, depth: int) -> list[Node]:
    out: list[Node] = []
    if depth >= MAX_DEPTH:
        return out
    for sub in _subfolders(node.path):
        if sub.name.startswith("seed-") and (sub / "metrics.json").is_file():
            seed = _seed_of(sub)
            label = f"{node.variant} seed {seed}" if node.variant else f"seed {seed}"
            child = Node(sub, sub.relative_to(top).as_posix(), "seed", label, node.variant, seed)
            out.append(child)
        elif (sub / "metrics.json").is_file():
            out.append(_node(sub, top, sub.name, depth + 1, sub.name))
        else:  # a container: variants/, levels/, baselines/
            for inner in _subfolders(sub):
                if (inner / "metrics.json").is_file():
                    out.append(_node(inner, top, inner.name, depth + 1, inner.name))
    return out


def _subfolders(path: Path) -> list[Path]:
    """Complete sub-folders in a stable order (seeds by number); hidden and failed ones are
    being written or were given up."""
    subs = [
        p
        for p in path.iterdir()
        if p.is_dir() and not p.name.startswith(".") and not p.name.endswith(".failed")
    ]
    return sorted(subs, key=lambda p: (p.name.startswith("seed-"), _seed_key(p.name), p.name))


def _seed_key(name: str) -> int:
    tail = name[len("seed-") :]
    return int(tail) if name.startswith("seed-") and tail.isdigit() else -1


def _seed_of(folder: Path) -> int:
    from pydantic import ValidationError

    raw = read_json(folder / "metrics.json")
    try:
        return SeedRecord.model_validate(raw).seed
    except ValidationError as exc:
        raise RunFolderError(f"{folder / 'metrics.json'}: {validation_message(exc, raw)}") from None


# --------------------------------------------------------------------------- what a run holds


_BAD_KEY_CHARS = re.compile(r"[^\w.\- ]")


def mlflow_key(key: str) -> str:
    """A name MLflow accepts for a param or metric (letters, digits, _ . - and spaces)."""
    return _BAD_KEY_CHARS.sub("_", key)[:250]


def flat_params(config: Any, prefix: str = "") -> dict[str, str]:
    """A config as dotted keys: nested mappings are walked, lists written as JSON."""
    out: dict[str, str] = {}
    if isinstance(config, dict):
        for key, value in config.items():
            out.update(flat_params(value, f"{prefix}{key}."))
        return out
    text = config if isinstance(config, str) else json.dumps(config, default=str)
    out[mlflow_key(prefix.rstrip("."))] = text[:PARAM_MAX]
    return out


def flat_metrics(data: Any, prefix: str = "") -> dict[str, float]:
    """The numbers of a metrics.json as dotted keys; a list's rows keyed by their variant,
    level or pair of variants where they have one; text and nulls left out."""
    out: dict[str, float] = {}
    if isinstance(data, bool | int | float):
        out[mlflow_key(prefix.rstrip("."))] = float(data)
    elif isinstance(data, dict):
        for key, value in data.items():
            if not prefix and key in NOT_IN_METRICS:
                continue
            out.update(flat_metrics(value, f"{prefix}{key}."))
    elif isinstance(data, list):
        for i, item in enumerate(data):
            out.update(flat_metrics(item, f"{prefix}{_row_label(item, i)}."))
    return out


def _row_label(item: Any, index: int) -> str:
    if isinstance(item, dict):
        if isinstance(item.get("variant"), str):
            return item["variant"]
        if isinstance(item.get("level"), int | float):
            return f"eps {item['level']}"
        if isinstance(item.get("a"), str) and isinstance(item.get("b"), str):
            return f"{item['a']} vs {item['b']}"
        if isinstance(item.get("seed"), int):
            return f"seed {item['seed']}"
    return str(index)


def history_metrics(path: Path) -> dict[str, list[tuple[int, float]]]:
    """history.csv: each column but `epoch` as (epoch, value) steps."""
    rows = read_csv(path)
    series: dict[str, list[tuple[int, float]]] = {}
    for row in rows:
        try:
            step = int(row["epoch"])
        except (KeyError, TypeError, ValueError):
            raise RunFolderError(f"{path}: a row without an integer epoch") from None
        for key, value in row.items():
            if key in (None, "epoch") or value in (None, ""):
                continue
            try:
                series.setdefault(mlflow_key(key), []).append((step, float(value)))
            except ValueError:
                raise RunFolderError(f"{path}: {key}: not a number: {value!r}") from None
    return series


def node_config(node: Node) -> dict:
    if node.kind == "sweep":
        config = read_yaml(node.path / "sweep.yaml")
    else:
        folder = node.path.parent if node.kind == "seed" else node.path
        config = read_yaml(folder / "config.yaml") if (folder / "config.yaml").is_file() else {}
    return config if isinstance(config, dict) else {}


def artifacts(node: Node) -> list[Path]:
    if node.kind == "seed":
        return [node.path / n for n in SEED_ARTIFACTS if (node.path / n).is_file()]
    return sorted(
        p
        for p in node.path.iterdir()
        if p.is_file() and p.suffix in ARTIFACT_SUFFIXES and not p.name.startswith(".")
    )


def run_env(node: Node, inherited: dict) -> dict:
    """env.json of the folder, else of the folder it is in (variant folders have none)."""
    path = node.path / "env.json"
    env = read_json(path) if path.is_file() else inherited
    return env if isinstance(env, dict) else {}


def env_tags(env: dict) -> dict[str, str]:
    tags = {}
    git = env.get("git")
    if isinstance(git, dict) and git.get("revision"):
        revision = str(git["revision"])
        tags["qmoe.git"] = revision + ("-dirty" if git.get("dirty") else "")
        tags["mlflow.source.git.commit"] = revision
    packages = env.get("packages")
    if isinstance(packages, dict) and packages.get("qmoe-cli"):
        tags["qmoe.version"] = str(packages["qmoe-cli"])
    return tags


def start_ms(env: dict, folder: Path) -> int:
    """When the run was made (env.json's time, else the folder's), in ms."""
    try:
        return int(datetime.strptime(env["time"], "%Y-%m-%dT%H:%M:%S%z").timestamp() * 1000)
    except (KeyError, TypeError, ValueError):
        return int(folder.stat().st_mtime * 1000)


def tree_id(top: Path) -> str:
    """What identifies a top folder across exports: its name (a run folder's holds its time and
    config hash); a sweep folder's name with its sweep.yaml."""
    if is_sweep_folder(top):
        digest = hashlib.sha256((top / "sweep.yaml").read_bytes()).hexdigest()[:12]
        return f"{top.name}-{digest}"
    return top.name


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


# --------------------------------------------------------------------------- MLflow


def import_mlflow():
    try:
        import mlflow
        from mlflow.entities import Metric, Param
    except ImportError:
        raise QmoeError(INSTALL_HINT) from None
    return mlflow, Metric, Param


def export_mlflow(
    paths: list[Path],
    tracking_uri: str | None = None,
    experiment: str | None = None,
    progress=None,
) -> list[Exported]:
    """Log every run folder of `paths` to MLflow; returns what each top folder became.
    `progress(total)` -> callable(advance) is an optional progress-bar factory."""
    tops = top_folders(paths)
    trees = [tree(top) for top in tops]  # every folder read and checked before any write
    mlflow, *_ = import_mlflow()
    logging.getLogger("mlflow").setLevel(logging.WARNING)  # not its database set-up notes
    logging.getLogger("alembic").setLevel(logging.WARNING)
    uri = tracking_uri or mlflow.get_tracking_uri()
    advance = progress(sum(len(list(t.walk())) for t in trees)) if progress else None
    done = []
    _check_sqlite(uri)
    try:
        client = mlflow.MlflowClient(tracking_uri=uri)
        for top, root in zip(tops, trees, strict=True):
            name = experiment or _experiment_name(root)
            experiment_id = _experiment_id(client, name, _artifact_root(uri))
            created, kept = _export_tree(client, experiment_id, top, root, advance)
            done.append(Exported(top, name, uri, created, kept))
    except _store_errors() as exc:
        first = (str(getattr(exc, "message", "") or exc).strip().splitlines() or [""])[0]
        raise QmoeError(f"MLflow tracking store {uri}: {first}") from None
    return done


def _check_sqlite(uri: str) -> None:
    """A SQLite database that cannot be opened is one line now: MLflow would retry for over
    a minute first. Its folder is made, as MLflow would."""
    if not uri.startswith("sqlite:"):
        return
    import sqlite3

    try:
        from sqlalchemy.engine import make_url
    except ImportError:  # MLflow says what it lacks
        return
    database = make_url(uri).database
    if not database or database == ":memory:":
        return
    try:
        Path(database).parent.mkdir(parents=True, exist_ok=True)
        with contextlib.closing(sqlite3.connect(database)) as db:
            db.execute("PRAGMA schema_version")
    except (OSError, sqlite3.Error) as exc:
        raise QmoeError(f"MLflow tracking store {uri}: cannot open {database}: {exc}") from None


def _store_errors() -> tuple[type[BaseException], ...]:
    """What a tracking store raises for a URI it cannot use (unknown scheme, a database file
    that cannot be opened, a server that refuses)."""
    from mlflow.exceptions import MlflowException

    errors: tuple[type[BaseException], ...] = (MlflowException,)
    try:
        from sqlalchemy.exc import SQLAlchemyError
    except ImportError:
        return errors
    return (*errors, SQLAlchemyError)


def _experiment_name(root: Node) -> str:
    name = node_config(root).get("name")
    return str(name) if name else root.path.name


def _artifact_root(uri: str) -> str | None:
    """Where a new experiment's artifacts go: beside a SQLite store's file (MLflow's own
    default, ./mlruns, is wherever the command happens to run), else the store's choice."""
    if not uri.startswith("sqlite:"):
        return None
    from sqlalchemy.engine import make_url

    database = make_url(uri).database
    if not database or database == ":memory:":
        return None
    return (Path(database).absolute().parent / "mlartifacts").as_uri()


def _experiment_id(client, name: str, artifact_root: str | None = None) -> str:
    found = client.get_experiment_by_name(name)
    if found is None:
        location = f"{artifact_root}/{name}" if artifact_root else None
        return client.create_experiment(name, artifact_location=location)
    if found.lifecycle_stage != "active":
        raise ConfigError(
            f"--experiment: MLflow experiment {name!r} is deleted; restore it or choose "
            "another with --experiment"
        )
    return found.experiment_id


def _existing(client, experiment_id: str, tree_key: str) -> dict[str, Any]:
    """The runs an earlier export of this tree made: {qmoe.key: run}."""
    runs, token = {}, None
    while True:
        page = client.search_runs(
            [experiment_id],
            filter_string=f"tags.`{TREE_TAG}` = '{tree_key}'",
            max_results=1000,
            page_token=token,
        )
        for run in page:
            runs[run.data.tags.get(KEY_TAG)] = run
        token = page.token
        if not token:
            return runs


def _export_tree(client, experiment_id: str, top: Path, root: Node, advance) -> tuple[int, int]:
    ident = tree_id(top)
    tree_key = _hash(ident)[:32]
    existing = _existing(client, experiment_id, tree_key)
    created = kept = 0
    run_ids: dict[int, str] = {}  # id(node) -> its MLflow run
    envs: dict[int, dict] = {}
    parents = {id(c): n for n in root.walk() for c in n.children}
    for node in root.walk():
        parent = parents.get(id(node))
        parent_id = run_ids.get(id(parent)) if parent is not None else None
        env = run_env(node, envs.get(id(parent), {}) if parent is not None else {})
        envs[id(node)] = env
        key = _hash(f"{ident}/{node.rel}")
        old = existing.get(key)
        if (
            old is not None
            and old.info.status == "FINISHED"
            and old.data.tags.get(PARENT_TAG) == parent_id
        ):
            run_ids[id(node)] = old.info.run_id
            kept += 1
        else:
            if old is not None:  # an export stopped part-way, or its parent was made again
                client.delete_run(old.info.run_id)
            run_ids[id(node)] = _log_run(client, experiment_id, node, env, tree_key, key, parent_id)
            created += 1
        if advance:
            advance(1)
    return created, kept


def _log_run(client, experiment_id, node: Node, env, tree_key, key, parent_id) -> str:
    _, Metric, Param = import_mlflow()
    start = start_ms(env, node.path)
    tags = {
        KEY_TAG: key,
        TREE_TAG: tree_key,
        "qmoe.kind": node.kind,
        "qmoe.folder": str(node.path),
        **env_tags(env),
    }
    if node.variant is not None:
        tags["qmoe.variant"] = node.variant
    if node.seed is not None:
        tags["qmoe.seed"] = str(node.seed)
    if parent_id is not None:
        tags[PARENT_TAG] = parent_id
    run = client.create_run(experiment_id, start_time=start, tags=tags, run_name=node.name)
    run_id = run.info.run_id

    params = flat_params(node_config(node))
    if node.seed is not None:
        params["seed"] = str(node.seed)
    raw = read_json(node.path / "metrics.json") if node.kind != "sweep" else {}
    if node.children and isinstance(raw, dict):
        raw = {k: v for k, v in raw.items() if k != "per_seed"}  # the nested runs hold them
    numbers = flat_metrics(raw)
    metrics = [Metric(k, v, start, 0) for k, v in numbers.items()]
    if node.kind == "seed" and (node.path / "history.csv").is_file():
        for k, steps in history_metrics(node.path / "history.csv").items():
            metrics += [Metric(k, v, start, step) for step, v in steps]
    items = [Param(k, v) for k, v in params.items()]
    for i in range(0, len(items), BATCH):
        client.log_batch(run_id, params=items[i : i + BATCH])
    for i in range(0, len(metrics), 1000):
        client.log_batch(run_id, metrics=metrics[i : i + 1000])
    for path in artifacts(node):
        client.log_artifact(run_id, str(path))
    client.set_terminated(run_id, "FINISHED", end_time=start)
    return run_id
