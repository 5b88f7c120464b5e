"""`qmoe sweep`: a grid of config overrides x seeds, run locally or as SLURM job arrays.

    runs/sweeps/<name>/sweep.yaml           the sweep file resolved (with its overrides)
    runs/sweeps/<name>/points/<id>/         one complete run folder per point and seed
    runs/sweeps/<name>/points/.<id>.work/   a point being run (or killed part-way)
    runs/sweeps/<name>/status/<id>.json     what happened to a point (failed: the error)
    runs/sweeps/<name>/sweep.csv            one row per point and seed: swept keys + metrics
    runs/sweeps/<name>/summary.csv          mean, std and 95 % CI over seeds per point

A point's id is the hash of its resolved config (seed included), so it is stable across
runs: running the same sweep again skips points whose folder is complete, reruns the
others, and never produces a point twice (the final folder appears by one atomic rename).
The same function, `run_point`, runs a point in both executors.

`--set` on a sweep file: `base.<key>=<value>` overrides a key of the base config (it reaches
every point, so their ids change with it, and sweep.yaml records it under `base_overrides`);
any other key is the sweep file's own (`seeds=[0,1]`, `grid.train.lr=[0.1]`, `base=other.yaml`).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import shutil
import time
import traceback
from pathlib import Path
from typing import Any

import yaml

from qmoe_cli.config import (
    SweepConfig,
    apply_overrides,
    dump_config,
    read_yaml,
    validate_config,
)
from qmoe_cli.errors import ConfigError
from qmoe_cli.imports import heavy_imports
from qmoe_cli.kinds import KINDS, RUN_KINDS, kind_of, resolve
from qmoe_cli.records import as_json, read_record
from qmoe_cli.runs import (
    OWNER,
    is_complete_run,
    owner,
    owner_alive,
    read_json,
    write_csv,
    write_json,
)


def _schema(command: str):
    return KINDS[command].schema


BASE_PREFIX = "base."  # `--set base.<key>=<value>`: a key of the base config, not the sweep's
BASE_OVERRIDES = "base_overrides"  # sweep.yaml: those overrides, as `<key>=<value>` strings


def split_overrides(overrides: list[str]) -> tuple[list[str], list[str]]:
    """`--set` overrides of a sweep file -> (the sweep file's own, the base config's).

    `base.<dotted key>=<value>` sets a key of the base config (the prefix dropped); every
    other override, `base=<path>` included, sets a key of the sweep file itself."""
    own, base = [], []
    for text in overrides:
        key = text.partition("=")[0].strip()
        if key.startswith(BASE_PREFIX) and key != BASE_PREFIX:
            base.append(text.strip()[len(BASE_PREFIX) :])
        else:
            own.append(text)
    return own, base


def load_sweep(path: str | Path, overrides: list[str] | None = None) -> tuple[SweepConfig, dict]:
    """The validated sweep file and its base config's raw mapping (keys checked), with the
    `--set` overrides applied: `base.<key>=<value>` ones to the base config, the others to
    the sweep file (split_overrides)."""
    sweep, base_raw, _ = read_sweep(path, overrides)
    return sweep, base_raw


def read_sweep(
    path: str | Path, overrides: list[str] | None = None
) -> tuple[SweepConfig, dict, list[str]]:
    """load_sweep, plus the overrides applied to the base config: the sweep file's own
    `base_overrides` (a list of `<key>=<value>`, as the sweep folder's sweep.yaml records
    them) followed by the `--set base.<key>=<value>` ones."""
    own, base_sets = split_overrides(list(overrides or []))
    raw = apply_overrides(read_yaml(path), own)
    if kind_of(raw, str(path)).name != "sweep":
        raise ConfigError(f"{path}: kind: {raw['kind']!r} is not a sweep file (kind: sweep)")
    listed = raw.pop(BASE_OVERRIDES, None)
    if listed is None:
        listed = []
    if not isinstance(listed, list) or not all(isinstance(x, str) for x in listed):
        raise ConfigError(
            f"{path}: {BASE_OVERRIDES}: expected a list of KEY=VALUE strings, got {listed!r}"
        )
    base_sets = [*listed, *base_sets]
    if "name" not in raw:
        raw["name"] = Path(path).stem
    sweep = validate_config(raw, source=str(path), schema=SweepConfig)
    if not sweep.grid and not sweep.zip:
        raise ConfigError(f"{path}: grid: give at least one key to sweep (or zip)")
    base_path = Path(sweep.base)
    if not base_path.is_absolute() and not base_path.exists():
        base_path = Path(path).parent / sweep.base
    base_raw = read_yaml(base_path)
    command = kind_of(base_raw, str(base_path)).name
    if command not in RUN_KINDS:
        raise ConfigError(f"{path}: base: a sweep's base config cannot be of kind {command!r}")
    if sweep.command is not None and sweep.command != command:
        raise ConfigError(
            f"{path}: command: {sweep.command!r}, but the base config {base_path} is of kind "
            f"{command!r}"
        )
    sweep = sweep.model_copy(update={"command": command})
    base_raw = apply_overrides(base_raw, base_sets)
    if base_raw.get("kind") != command:
        raise ConfigError(f"{path}: base.kind: a base override cannot change the base's kind")
    where = f"{base_path} (with {', '.join(base_sets)})" if base_sets else str(base_path)
    base = validate_config(base_raw, where, _schema(command))
    resolved = yaml.safe_load(dump_config(base))
    for key in [*sweep.grid, *sweep.zip]:
        if key == "seeds" or not _has_key(resolved, key):
            raise ConfigError(
                f"{path}: grid key '{key}' is not a key of the base config "
                f"{base_path} (seeds go in the sweep's own `seeds`)"
            )
    base_raw.setdefault("name", base_path.stem)
    return sweep.model_copy(update={"base": str(base_path.resolve())}), base_raw, base_sets


def _has_key(data: dict, dotted: str) -> bool:
    node: Any = data
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def expand_points(sweep: SweepConfig, base_raw: dict, where: str = "sweep") -> list[dict]:
    """Every (overrides, seed) of the sweep with its resolved config and stable id; an
    invalid point is a ConfigError led by `where` (the sweep file)."""
    grid_keys = list(sweep.grid)
    combos = list(itertools.product(*sweep.grid.values())) if grid_keys else [()]
    zipped = list(zip(*sweep.zip.values(), strict=True)) if sweep.zip else [()]
    points = []
    for combo in combos:
        for zvalues in zipped:
            swept = dict(zip(grid_keys, combo, strict=True))
            swept.update(zip(sweep.zip, zvalues, strict=True))
            for seed in sweep.seeds:
                raw = apply_overrides(
                    base_raw,
                    [f"{k}={json.dumps(v)}" for k, v in swept.items()] + [f"seeds=[{seed}]"],
                )
                cfg = validate_config(raw, f"{where}: grid point {swept}", _schema(sweep.command))
                text = dump_config(cfg)
                pid = hashlib.sha256(f"{sweep.command}\n{text}".encode()).hexdigest()[:12]
                points.append({"id": pid, "swept": swept, "seed": seed, "config": text})
    return points


def point_state(root: Path, point_id: str) -> str:
    final = root / "points" / point_id
    work = root / "points" / f".{point_id}.work"
    if is_complete_run(final):
        # killed between the final rename and the clean-up: the work folder is stale
        if work.exists() and not owner_alive(work / OWNER):
            shutil.rmtree(work, ignore_errors=True)
        return "done"
    status = root / "status" / f"{point_id}.json"
    if work.exists() and owner_alive(work / OWNER):
        return "running"
    if status.exists() and read_json(status).get("state") == "failed":
        return "failed"
    return "pending"


def run_point(root: str, point: dict, command: str) -> str:
    """Run one point into points/<id>; the same function for both executors."""
    return run_points(root, [point], command)[0]


def run_points(root: str, points: list[dict], command: str) -> list[str]:
    """Run points into points/<id> ("done" or "failed" each). Points of `train` configs
    that differ only in seed, train.lr and train.weight_decay are trained as one stacked
    model (training.seeds.run_stack: the same numbers as one at a time); each still gets its
    own run folder, renamed into place when complete, and its own status."""
    with heavy_imports():  # torch, scikit-learn (in a worker or a SLURM job: its first call)
        import qmoe_cli.runs.group  # noqa: F401
    root_path = Path(root)
    states = {}
    for group in stackable_groups(points, command):
        todo = [p for p in group if not is_complete_run(root_path / "points" / p["id"])]
        states.update({p["id"]: "done" for p in group if p not in todo})
        if not todo:
            continue
        works = {p["id"]: _claim(root_path, p) for p in todo}
        try:
            if len(todo) == 1:
                _commit(root_path, todo[0], _run_one(command, todo[0], works[todo[0]["id"]]))
                states[todo[0]["id"]] = "done"
            else:
                states.update(_run_stack(root_path, todo, works))
        except Exception as exc:  # recorded, and the other points go on
            for p in todo:
                if p["id"] not in states:
                    _fail(root_path, p, exc)
                    states[p["id"]] = "failed"
        finally:
            for work in works.values():
                shutil.rmtree(work, ignore_errors=True)
    return [states[p["id"]] for p in points]


STACK_FREE_KEYS = ("lr", "weight_decay")  # train keys a stack's points may differ in


def stackable_groups(points: list[dict], command: str) -> list[list[dict]]:
    """Points in groups that train as one stack: for `train` points, those whose configs
    are the same but for seeds and STACK_FREE_KEYS; every other point alone."""
    if command != "train":
        return [[p] for p in points]
    groups: dict = {}
    for p in points:
        raw = yaml.safe_load(p["config"])
        raw.pop("seeds", None)
        for key in STACK_FREE_KEYS:
            raw.get("train", {}).pop(key, None)
        groups.setdefault(json.dumps(raw, sort_keys=True), []).append(p)
    return list(groups.values())


def _claim(root: Path, point: dict) -> Path:
    work = root / "points" / f".{point['id']}.work"
    shutil.rmtree(work, ignore_errors=True)  # a killed earlier attempt: start afresh
    work.mkdir(parents=True)
    write_json(work / OWNER, owner())
    return work


def _commit(root: Path, point: dict, folder: Path) -> None:
    write_json(folder / "point.json", {k: point[k] for k in ("id", "swept", "seed")})
    os.rename(folder, root / "points" / point["id"])  # the commit point: fails if it exists
    _status(root, point, {"state": "done", "time": time.time()})


def _fail(root: Path, point: dict, exc: Exception) -> None:
    _status(
        root,
        point,
        {
            "state": "failed",
            "error": f"{type(exc).__name__}: {exc}",
            "traceback": "".join(traceback.format_exception(exc)),
            "time": time.time(),
        },
    )


def _status(root: Path, point: dict, state: dict) -> None:
    (root / "status").mkdir(exist_ok=True)
    write_json(root / "status" / f"{point['id']}.json", state)


def _point_config(point: dict, command: str):
    from qmoe_cli.config import validate_config

    return validate_config(yaml.safe_load(point["config"]), "sweep point", _schema(command))


def _run_one(command: str, point: dict, work: Path) -> Path:
    from qmoe_cli.progress import out as console

    cfg = _point_config(point, command)
    with console.capture():  # a point's own tables stay out of the sweep's output
        return resolve(KINDS[command].runner)(cfg, work / "out", jobs=1)


def _run_stack(root: Path, points: list[dict], works: dict) -> dict:
    """`train` points trained as one stack, then each written as `qmoe train` writes it."""
    from qmoe_cli.experiments.train import write_trained
    from qmoe_cli.progress import out as console
    from qmoe_cli.training.seeds import run_stack

    cfgs = [_point_config(p, "train") for p in points]
    runs = run_stack(cfgs, [p["seed"] for p in points])
    states = {}
    for p, cfg, run in zip(points, cfgs, runs, strict=True):
        try:
            with console.capture():
                folder = write_trained(cfg, works[p["id"]] / "out", [run])
            _commit(root, p, folder)
            states[p["id"]] = "done"
        except Exception as exc:  # this point's folder only
            _fail(root, p, exc)
            states[p["id"]] = "failed"
    return states


def run_chunk(root: str, points: list[dict], command: str) -> list[str]:
    """A SLURM array task: several cheap points (stacked where they can be)."""
    return run_points(root, points, command)


def run_sweep(
    sweep_path: Path, overrides: list[str], executor: str, jobs: int, out_dir: str | None = None
) -> Path:
    from qmoe_cli.progress import out

    sweep, base_raw, base_sets = read_sweep(sweep_path, overrides)
    points = expand_points(sweep, base_raw, str(sweep_path))  # all valid before any write
    root = Path(out_dir or sweep.output_dir) / sweep.name
    (root / "points").mkdir(parents=True, exist_ok=True)
    (root / "sweep.yaml").write_text(sweep_yaml(sweep, base_sets))
    todo = [p for p in points if point_state(root, p["id"]) not in ("done", "running")]
    out.print(
        f"{sweep.name}: {len(points)} points ({len(points) - len(todo)} already done "
        f"or running), executor {executor}"
    )
    try:
        if todo and executor == "local":
            with heavy_imports():  # torch: once the sweep file and every point are valid
                from qmoe_cli.training.pool import run_parallel

            calls = [(str(root), unit, sweep.command) for unit in work_units(todo, sweep, jobs)]
            run_parallel(run_points, calls, jobs, f"{sweep.name}: sweep")
        elif todo:
            submit_slurm(root, sweep, todo)
    except KeyboardInterrupt as exc:  # the CLI's last line says what is kept and how to go on
        if executor == "slurm":  # its queued tasks would run twice if submitted again now
            then = "submitted SLURM jobs run on (--status shows them); once they end, run"
        else:
            then = "run"
        exc.rerun = (
            f"finished points are kept in {root}; {then} the same command again to run only "
            "the missing ones"
        )
        raise
    aggregate(root, sweep, points)
    print_status(root, sweep, points)
    return root


def work_units(todo: list[dict], sweep: SweepConfig, jobs: int) -> list[list[dict]]:
    """The points each worker call takes: stackable groups (stackable_groups), each cut in
    about `jobs / groups` parts so that every worker has one."""
    from qmoe_cli.training.plan import split_for_workers

    return split_for_workers(stackable_groups(todo, sweep.command), jobs)


def sweep_yaml(sweep: SweepConfig, base_sets: list[str]) -> str:
    """The sweep folder's sweep.yaml: the sweep resolved (overrides applied, base path made
    absolute), with the base config's overrides under `base_overrides` when there are any
    (read back by load_sweep, so the file reruns the same points)."""
    text = dump_config(sweep)
    if base_sets:
        text += yaml.safe_dump({BASE_OVERRIDES: list(base_sets)}, sort_keys=False)
    return text


def submit_slurm(root: Path, sweep: SweepConfig, todo: list[dict]) -> None:
    """One submitit job array, one task per chunk of points; waits for it to finish."""
    from qmoe_cli.progress import out
    from qmoe_cli.training.slurm import slurm_executor, submit_array

    folder = root / "submitit" / time.strftime("%Y%m%d-%H%M%S")  # fresh per submission
    executor = slurm_executor(folder, sweep.slurm, f"qmoe-{sweep.name}")
    size = sweep.slurm.points_per_task
    chunks = [todo[i : i + size] for i in range(0, len(todo), size)]
    jobs = submit_array(
        executor,
        folder,
        run_chunk,
        [str(root)] * len(chunks),
        chunks,
        [sweep.command] * len(chunks),
    )
    out.print(f"submitted {len(chunks)} array tasks to SLURM (job {jobs[0].job_id.split('_')[0]})")
    for job, chunk in zip(jobs, chunks, strict=True):
        try:
            job.result()
        except Exception as exc:  # a killed task or node failure: record every point
            for p in chunk:
                if point_state(root, p["id"]) != "done":
                    status = root / "status" / f"{p['id']}.json"
                    status.parent.mkdir(exist_ok=True)
                    write_json(
                        status,
                        {
                            "state": "failed",
                            "time": time.time(),
                            "error": f"SLURM task {job.job_id}: {str(exc).splitlines()[0][:300]}",
                        },
                    )


def aggregate(root: Path, sweep: SweepConfig, points: list[dict]) -> None:
    """sweep.csv (one row per point and seed) and summary.csv (mean ± CI over seeds)."""
    from qmoe_cli import metrics  # torch: only once there are results to sum up

    rows = []
    for p in points:
        folder = root / "points" / p["id"]
        if not is_complete_run(folder):
            continue
        for metric_row in _metric_rows(folder, sweep.command):
            rows.append({"point": p["id"], **p["swept"], "seed": p["seed"], **metric_row})
    write_csv(root / "sweep.csv", rows)
    groups: dict = {}
    for r in rows:
        key = tuple((k, json.dumps(r[k])) for k in [*sweep.grid, *sweep.zip]) + tuple(
            (k, r[k]) for k in ("variant", "level") if k in r
        )
        groups.setdefault(key, []).append(r)
    summary = []
    for key, members in groups.items():
        row = {k: json.loads(v) if k in sweep.grid or k in sweep.zip else v for k, v in key}
        accs = [float(m["test_accuracy"]) for m in members if m.get("test_accuracy") != ""]
        ci = metrics.mean_ci(accs, bounds=metrics.ACCURACY_RANGE) if accs else {}
        row.update(
            {
                "n_seeds": len(members),
                "test_acc_mean": ci.get("mean"),
                "test_acc_std": ci.get("std"),
                "test_acc_ci_low": ci.get("ci_low"),
                "test_acc_ci_high": ci.get("ci_high"),
            }
        )
        summary.append(row)
    write_csv(root / "summary.csv", summary)


def _metric_rows(folder: Path, command: str) -> list[dict]:
    """The point's rows for sweep.csv, from its metrics.json read through its record."""
    return resolve(KINDS[command].sweep_rows)(as_json(read_record(folder)))


def sweep_status(sweep_path: Path, overrides: list[str], out_dir: str | None = None) -> None:
    sweep, base_raw = load_sweep(sweep_path, overrides)
    root = Path(out_dir or sweep.output_dir) / sweep.name
    print_status(root, sweep, expand_points(sweep, base_raw, str(sweep_path)))


def print_status(root: Path, sweep: SweepConfig, points: list[dict]) -> None:
    from qmoe_cli.progress import out

    states = {"done": 0, "running": 0, "failed": 0, "pending": 0}
    failed = []
    for p in points:
        state = point_state(root, p["id"])
        states[state] += 1
        if state == "failed":
            failed.append((p, read_json(root / "status" / f"{p['id']}.json")["error"]))
    out.print(
        f"{sweep.name}: "
        + ", ".join(f"{n} {s}" for s, n in states.items())
        + f" (of {len(points)} points x seeds)"
    )
    for p, error in failed[:10]:
        out.print(f"  failed {p['id']} {p['swept']} seed {p['seed']}: {error}", markup=False)
    out.print(f"sweep folder: {root}")
