"""What every experiment shares, below the experiments: one model trained from one seed
(`run_seed`), its train-format folder (`write_train_results`, `write_variant_folder`), a
variant's summary over seeds (`summarize_variant`) and the process pool that runs many
trainings or sweep points (`run_parallel`, `train_all`).

A train-format folder:

    <run>/metrics.json  summary.csv
    <run>/decision_boundary.png  routing.png       (2-D data; the first seed's model)
    <run>/seed-<s>/metrics.json  history.csv  model.pt

Per seed, besides accuracy and eta: `effective_params` = {init, trained, nominal, n_inputs,
rtol}, the numerical rank of the router's gate Jacobian at initialisation and at the trained
weights (metrics.effective_params), and `eta_effective` = test accuracy / ln(1 + trained
rank). summary.csv gives them as router_params_effective_init, router_params_effective and
eta_effective.
"""

from __future__ import annotations

import functools
import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pydantic import ValidationError

from qmoe_cli.config import ExperimentConfig, dump_config
from qmoe_cli.data import Splits, load_dataset
from qmoe_cli.errors import RunFolderError
from qmoe_cli.metrics import (
    ACCURACY_RANGE,
    COUNT_RANGE,
    ETA_DEFINITION,
    effective_inputs,
    effective_params,
    efficiency,
    evaluate,
    mean_ci,
)
from qmoe_cli.models import MixtureOfExperts, build_model, param_counts, qubits
from qmoe_cli.progress import TrainingProgress, err, progress_bar
from qmoe_cli.records import SeedRecord, TrainRecord, as_json, write_record
from qmoe_cli.runs import (
    CorruptFile,
    load_checkpoint,
    read_csv,
    read_json,
    write_csv,
    write_error,
    write_text,
)
from qmoe_cli.training import DTYPES, FitResult, fit, seed_everything
from qmoe_cli.workers import map_calls, raise_if_interrupted, report_epoch

# aggregated over seeds, each with the range its confidence interval is truncated to
SUMMARY_METRICS = {
    "test_accuracy": ACCURACY_RANGE,
    "test_f1_macro": ACCURACY_RANGE,
    "eta": COUNT_RANGE,
    "eta_effective": COUNT_RANGE,
    "epochs_run": COUNT_RANGE,
    "fit_seconds": COUNT_RANGE,
}


# --- one model, one seed ----------------------------------------------------------------------


@dataclass
class SeedRun:
    seed: int
    metrics: dict
    fit: FitResult
    model: MixtureOfExperts
    splits: Splits


def run_seed(cfg: ExperimentConfig, seed: int, on_epoch=None) -> SeedRun:
    """Data split, model init and training, all from this one seed."""
    say = on_epoch or (lambda row: None)
    say({"phase": f"seed {seed}: data, model, rank at init"})  # minutes for a wide circuit
    start = prepare_seed(cfg, seed)
    result = fit(start.model, start.splits, cfg.train, seed, on_epoch)
    say({"phase": f"seed {seed}: test accuracy, trained rank"})
    return finish_seed(cfg, start, result)


def run_seeds(cfg: ExperimentConfig, seeds: list[int], on_epoch=None) -> list[SeedRun]:
    """run_seed for each seed, the seeds trained together as one stacked model when the
    stacked engine applies to the config (stacked.supports), one after another otherwise;
    the numbers are the same either way (tests/test_stacked.py). on_epoch(i, row): the
    epoch of the i-th seed."""
    return run_stack([cfg] * len(seeds), seeds, on_epoch)


def run_stack(cfgs: list[ExperimentConfig], seeds: list[int], on_epoch=None) -> list[SeedRun]:
    """run_seed(cfgs[i], seeds[i]) for each i, as one stacked model when the stacked engine
    takes the configs: they may differ only in seed, train.lr and train.weight_decay (sweep
    points), and stacked.supports must accept them. A stack of one is stacked too: its
    per-step overhead is lower (benchmarks/bench_throughput.py --sizes 1: 1.0-1.4x)."""
    from qmoe_cli import stacked  # torch modules of every component kind: only when training

    if any(stacked.supports(c) is not None for c in cfgs):
        return [
            run_seed(c, s, None if on_epoch is None else functools.partial(on_epoch, i))
            for i, (c, s) in enumerate(zip(cfgs, seeds, strict=True))
        ]
    starts = [prepare_seed(c, s) for c, s in zip(cfgs, seeds, strict=True)]
    fits = stacked.fit_stacked(
        [p.model for p in starts],
        [p.splits for p in starts],
        [c.train for c in cfgs],
        seeds,
        on_epoch,
    )
    return [finish_seed(c, p, r) for c, p, r in zip(cfgs, starts, fits, strict=True)]


@dataclass
class SeedStart:
    """A seed's split and freshly initialised model, before training."""

    seed: int
    splits: Splits
    model: MixtureOfExperts
    x_rank: torch.Tensor
    at_init: dict


def prepare_seed(cfg: ExperimentConfig, seed: int) -> SeedStart:
    # before any torch work: with torch's default (one thread per core) the rank's hundreds
    # of tiny backward passes take seconds instead of milliseconds
    torch.set_num_threads(cfg.train.threads)
    splits = load_dataset(cfg.data, seed)
    seed_everything(seed)
    model = build_model(cfg.model, splits.n_features, splits.n_classes)
    x_rank = rank_inputs(model, splits)
    at_init = effective_params(model, x_rank)  # on a copy: training is as without it
    return SeedStart(seed, splits, model, x_rank, at_init)


def finish_seed(cfg: ExperimentConfig, start: SeedStart, result: FitResult) -> SeedRun:
    """The trained model's metrics."""
    seed, splits, model, at_init = start.seed, start.splits, start.model, start.at_init
    test = evaluate(model, *splits.tensors("test", DTYPES[cfg.train.dtype]))
    params = param_counts(model)
    trained = effective_params(model, start.x_rank)
    best = result.history[result.best_epoch - 1]
    metrics = {
        "seed": seed,
        "test_accuracy": test["accuracy"],
        "test_f1_macro": test["f1_macro"],
        "test_per_class_accuracy": test["per_class_accuracy"],
        "val_accuracy": best["val_acc"],
        "params": params,
        "qubits": qubits(model),
        "eta": efficiency(test["accuracy"], params["router"]),
        "effective_params": {
            "init": at_init["rank"],
            "trained": trained["rank"],
            "nominal": trained["nominal"],
            "n_inputs": trained["n_inputs"],
            "rtol": trained["rtol"],
        },
        "eta_effective": (
            float("nan")
            if trained["rank"] is None
            else efficiency(test["accuracy"], trained["rank"])
        ),
        "epochs_run": result.epochs_run,
        "best_epoch": result.best_epoch,
        "stopped_early": result.stopped_early,
        "epochs_to_90_val": next((r["epoch"] for r in result.history if r["val_acc"] >= 0.9), None),
        "fit_seconds": result.seconds,
        "usage": test["usage"],
        "data": splits.info(),
    }
    return SeedRun(seed, metrics, result, model, splits)


def rank_inputs(model: MixtureOfExperts, splits: Splits) -> torch.Tensor:
    """The training inputs the effective parameter count uses (metrics.effective_inputs)."""
    n = effective_inputs(len(splits.X_train), param_counts(model)["router"], model.experts.count)
    return torch.as_tensor(splits.X_train[:n], dtype=torch.float64)


# --- the train-format folder ------------------------------------------------------------------


def summary_row(m: dict) -> dict:
    """One flat CSV row of a seed's metrics (runs written before the effective parameter
    count have None in its columns)."""
    effective = m.get("effective_params") or {}
    return {
        "seed": m["seed"],
        "test_accuracy": m["test_accuracy"],
        "test_f1_macro": m["test_f1_macro"],
        "val_accuracy": m["val_accuracy"],
        "router_params": m["params"]["router"],
        "router_params_effective_init": effective.get("init"),
        "router_params_effective": effective.get("trained"),
        "expert_params": m["params"]["experts"],
        "total_params": m["params"]["total"],
        "eta": m["eta"],
        "eta_effective": m.get("eta_effective"),
        "epochs_run": m["epochs_run"],
        "best_epoch": m["best_epoch"],
        "epochs_to_90_val": m["epochs_to_90_val"],
        "fit_seconds": m["fit_seconds"],
        "gate_entropy": m["usage"]["gate_entropy"],
        "unused_experts": m["usage"]["unused_experts"],
    }


def write_seed(folder: Path, run: SeedRun) -> None:
    folder.mkdir(parents=True)
    write_record(folder / "metrics.json", SeedRecord.model_validate(run.metrics))
    write_csv(folder / "history.csv", run.fit.history)
    try:
        torch.save(run.model.state_dict(), folder / "model.pt")
    except (OSError, RuntimeError) as exc:  # torch reports a full disk as a RuntimeError
        raise RunFolderError(f"cannot write {folder / 'model.pt'}: {exc}") from None


def aggregate(metrics: list[dict]) -> dict:
    """Mean, std and 95 % CI over seeds of each SUMMARY_METRICS key, the CI truncated to the
    quantity's range (accuracies to [0, 1], counts and eta to [0, inf))."""
    return {
        k: mean_ci([_number(m.get(k)) for m in metrics], bounds=bounds)
        for k, bounds in SUMMARY_METRICS.items()
    }


def _number(v) -> float:
    return float("nan") if v is None else float(v)


FIGURE_NOTE = "figure_note.txt"


def write_figures(folder: Path, run: SeedRun, title: str) -> None:
    """decision_boundary.png and routing.png for 2-D data. A router too large to simulate on
    the grid (figures.grid_resolution's rule) gets neither: the note saying why is printed
    and written to figure_note.txt instead, and the run goes on."""
    if run.splits.n_features != 2:
        return
    from qmoe_cli import figures  # matplotlib: imported when drawing only

    grid = figures.predict_grid(run.model, run.splits)
    if grid.note is not None:
        err.print(f"note: {grid.note}", markup=False, highlight=False, soft_wrap=True)
        write_text(folder / FIGURE_NOTE, grid.note + "\n")
        return
    acc = run.metrics["test_accuracy"]
    figures.save_single(
        folder / "decision_boundary.png",
        figures.plot_decision_boundary,
        grid,
        run.splits,
        f"{title} (seed {run.seed}, test acc {acc:.3f})",
    )
    figures.save_single(
        folder / "routing.png",
        figures.plot_routing,
        grid,
        run.splits,
        run.model.experts.count,
        f"{title}: dominant expert (seed {run.seed})",
    )


def write_train_results(folder: Path, cfg: ExperimentConfig, runs: list[SeedRun]) -> list[dict]:
    """The body of a train-format run folder (everything but config.yaml and env.json)."""
    for run in runs:
        if not is_cell(folder / f"seed-{run.seed}"):  # cells of a group are written already
            write_cell(folder / f"seed-{run.seed}", run)
    write_figures(folder, runs[0], cfg.name)
    per_seed = [r.metrics for r in runs]
    write_csv(folder / "summary.csv", [summary_row(m) for m in per_seed])
    record = TrainRecord(
        name=cfg.name,
        router=cfg.model.router.type,
        params=per_seed[0]["params"],
        data=per_seed[0]["data"],
        eta_definition=ETA_DEFINITION,
        aggregate=aggregate(per_seed),
        per_seed=per_seed,
    )
    write_record(folder / "metrics.json", record)
    return per_seed


def write_variant_folder(path: Path, cfg: ExperimentConfig, runs: list[SeedRun]) -> list[dict]:
    """A group's sub-folder for one trained config (a variant, level or baseline): its
    resolved config.yaml and the train-format body around the seed folders (cells) already
    in it; returns the per-seed metrics."""
    path.mkdir(parents=True, exist_ok=True)
    write_text(path / "config.yaml", dump_config(cfg))
    return write_train_results(path, cfg, runs)


# --- a variant over seeds ---------------------------------------------------------------------


def summarize_variant(
    name: str, label: str, per_seed: list[dict], plateau: float | None = None
) -> dict:
    """One summary row from a variant's per-seed metrics (the columns are listed in
    experiments/ablate.py's docstring)."""
    accs = [m["test_accuracy"] for m in per_seed]
    acc = mean_ci(accs, bounds=ACCURACY_RANGE)
    reached = [m["epochs_to_90_val"] for m in per_seed if m["epochs_to_90_val"] is not None]
    effective = [m.get("effective_params") or {} for m in per_seed]
    trained = [e["trained"] for e in effective if e.get("trained") is not None]
    at_init = [e["init"] for e in effective if e.get("init") is not None]
    row = {
        "variant": name,
        "label": label,
        "router": per_seed[0].get("router_type", ""),
        "router_params": per_seed[0]["params"]["router"],
        "total_params": per_seed[0]["params"]["total"],
        "n_seeds": len(per_seed),
        "test_acc_mean": acc["mean"],
        "test_acc_median": float(np.median(accs)),
        "test_acc_std": acc["std"],
        "test_acc_ci_low": acc["ci_low"],
        "test_acc_ci_high": acc["ci_high"],
        "f1_mean": float(np.mean([m["test_f1_macro"] for m in per_seed])),
        "eta_mean": _mean([m["eta"] for m in per_seed]),  # None: no router parameters
        "eta_effective_mean": _mean([m.get("eta_effective") for m in per_seed]),
        "router_params_effective_init": _median(at_init),
        "router_params_effective": _median(trained),
        "router_params_effective_min": min(trained) if trained else None,
        "router_params_effective_max": max(trained) if trained else None,
        "qubits_total": (per_seed[0].get("qubits") or {}).get("total"),
        "qubits_largest": (per_seed[0].get("qubits") or {}).get("largest"),
    }
    if plateau is not None:
        row["plateau"] = plateau
        row["share_above_plateau"] = float(np.mean([a > plateau for a in accs]))
    row.update(
        {
            "epochs_to_90_val_mean": float(np.mean(reached)) if reached else float("nan"),
            "seeds_reaching_90_val": len(reached),
            "epochs_run_mean": float(np.mean([m["epochs_run"] for m in per_seed])),
            "fit_seconds_mean": float(np.mean([m["fit_seconds"] for m in per_seed])),
            "gate_entropy_mean": float(np.mean([m["usage"]["gate_entropy"] for m in per_seed])),
            "unused_experts_mean": float(np.mean([m["usage"]["unused_experts"] for m in per_seed])),
        }
    )
    return row


def _median(values: list[int]) -> int | float | None:
    """The median of integer counts: an int when it is one (odd count or equal middles)."""
    if not values:
        return None
    m = float(np.median(values))
    return int(m) if m.is_integer() else m


def _mean(values: list) -> float:
    kept = [v for v in values if v is not None]
    return float(np.mean(kept)) if kept else float("nan")


# --- many trainings: cells, workers, progress -------------------------------------------------


@dataclass
class Training:
    """One training of a group: `key` names it in the group (a variant, a level...), `cell`
    is the seed folder it is written to as soon as it finishes."""

    key: Any
    cfg: ExperimentConfig
    seed: int
    cell: Path


def run_parallel(fn: Callable, calls: Sequence[tuple], jobs: int, label: str) -> list[Any]:
    """fn(*args) for every args of `calls`, `jobs` at a time in worker processes (in this
    process when jobs <= 1), under one progress bar; the results in the order of `calls`.
    `fn` and its arguments must pickle (a module-level function). An exception in a call or
    an interrupt stops the workers (workers.map_calls) and is raised here."""
    results: list[Any] = [None] * len(calls)
    with progress_bar() as bar:
        overall = bar.add_task(label, total=len(calls))

        def finished(i: int, result: Any) -> None:
            results[i] = result
            bar.advance(overall)

        if jobs <= 1:
            for i, args in enumerate(calls):
                finished(i, fn(*args))
        else:
            map_calls(fn, calls, jobs, finished)
    return results


def train_all(
    trainings: list[Training],
    jobs: int,
    label: str,
    on_done: Callable[[Any, list[SeedRun]], None] | None = None,
) -> dict:
    """Every training of a group, under one progress display that moves per epoch. The
    seeds of one config go together (run_seeds: one stacked model where the stacked engine
    applies), in `stacks`: the unit a worker process takes. A training whose cell is already
    complete (a resumed group) is read back instead of trained; every other one is written
    to its cell the moment its stack finishes, so an interrupt or an error keeps it.
    on_done(key, runs) is called once per key, its runs in the order given, as soon as they
    are all in: while the workers train the rest, this process writes that key's folder
    and figures. Returns {(key, seed): SeedRun}."""
    results: dict = {}
    todo = []
    for t in trainings:
        if is_cell(t.cell):
            try:
                results[t.key, t.seed] = read_cell(t.cell, t.cfg, t.seed)
                continue
            except RunFolderError as exc:
                quarantine(t.cell, exc)
        todo.append(t)
    seeds_of: dict = {}
    for t in trainings:
        seeds_of.setdefault(repr(t.key), (t.key, []))[1].append(t.seed)

    def report_done(keys) -> None:
        for key, seeds in (seeds_of.pop(k) for k in keys if k in seeds_of):
            if on_done is not None:
                on_done(key, [results[key, s] for s in seeds])

    def complete(key) -> bool:
        return all((key, s) in results for s in seeds_of.get(repr(key), (key, []))[1])

    if results:
        err.print(
            f"resuming: {len(results)} of {len(trainings)} trainings already done, "
            f"{len(todo)} to run",
            markup=False,
            highlight=False,
        )
    if trainings:  # this process evaluates and draws: at the threads the config asks for
        torch.set_num_threads(trainings[0].cfg.train.threads)
    if not todo:
        report_done(list(seeds_of))
        return results
    groups = stacks(todo, jobs)
    with TrainingProgress(label, [t.cfg.train.epochs for t in todo]) as progress:

        def finished(g: int, runs: list[SeedRun]) -> None:
            for i, run in zip(groups[g], runs, strict=True):
                write_cell(todo[i].cell, run)
                results[todo[i].key, todo[i].seed] = run
                progress.done(i)
            report_done([repr(todo[i].key) for i in groups[g] if complete(todo[i].key)])
            raise_if_interrupted()  # one swallowed while the figures were drawn

        def on_epoch(g: int, j: int, row: dict) -> None:
            progress.epoch(groups[g][j], row)

        calls = [(todo[g[0]].cfg, [todo[i].seed for i in g]) for g in groups]
        if jobs <= 1:
            for g, (cfg, seeds) in enumerate(calls):
                finished(g, run_seeds(cfg, seeds, functools.partial(on_epoch, g)))
        else:
            map_calls(
                _train_in_worker, calls, jobs, finished, on_epoch=lambda g, item: on_epoch(g, *item)
            )
    report_done(list(seeds_of))  # keys read back whole from their cells
    return results


def stacks(todo: list[Training], jobs: int) -> list[list[int]]:
    """Indices of `todo` grouped by config (same key, same config: the seeds of one
    variant or level), each group cut into about `jobs / groups` stacks so that every
    worker has one: with 4 variants x 20 seeds and 2 workers, 4 stacks of 20; with one
    variant and 2 workers, 2 stacks of 10. The stacked engine bounds its memory by chunks
    of its own (stacked.chunk_size). Configs the engine does not take train one seed a
    stack (finished trainings are kept seed by seed). The costliest units come first."""
    from qmoe_cli import stacked

    by_config: dict = {}
    for i, t in enumerate(todo):
        by_config.setdefault((repr(t.key), dump_config(t.cfg)), []).append(i)
    stackable, alone = [], []
    for members in by_config.values():
        if stacked.supports(todo[members[0]].cfg) is None:
            stackable.append(members)
        else:  # one at a time: one a stack
            alone += [[i] for i in members]
    units = split_for_workers(stackable, jobs, len(by_config)) + alone
    # the workers take units in this order: the costliest first, so that cheap ones fill the
    # end instead of a big one starting last (the order changes no number)
    return sorted(units, key=lambda unit: -_cost(todo[unit[0]].cfg, len(unit)))


def _cost(cfg: ExperimentConfig, n_models: int) -> float:
    """A rough cost of training n_models of cfg, only to order the work: epochs times the
    size of its circuits' states (density matrices: squared) per model."""
    size = 1.0
    for circuit in (cfg.model.router, cfg.model.experts):
        if circuit.type != "quantum":
            continue
        noise = getattr(cfg.model.router, "noise", None) or getattr(circuit, "noise", None)
        noisy = noise is not None and bool(
            noise.depolarizing or noise.depolarizing_2q or noise.readout_error
        )
        count = getattr(circuit, "count", 1) if circuit is cfg.model.experts else 1
        size += count * circuit.layers * 2 ** (circuit.qubits * (2 if noisy else 1))
    return n_models * cfg.train.epochs * size


def split_for_workers(groups: list[list], jobs: int, n_groups: int | None = None) -> list[list]:
    """Each group cut into about `jobs / n_groups` equal parts (n_groups: len(groups) by
    default), so that every worker has a part when there are fewer groups than workers."""
    parts = max(1, -(-jobs // max(n_groups or len(groups), 1)))  # ceil
    out = []
    for group in groups:
        size = -(-len(group) // min(parts, len(group)))
        out += [group[k : k + size] for k in range(0, len(group), size)]
    return out


def _train_in_worker(cfg: ExperimentConfig, seeds: list[int]) -> list[SeedRun]:
    return run_seeds(cfg, seeds, on_epoch=lambda j, row: report_epoch((j, row)))


# --- cells: one finished training on disk -----------------------------------------------------

CELL_FILES = ("metrics.json", "history.csv", "model.pt")


def is_cell(folder: Path) -> bool:
    """Whether a seed folder is complete (write_cell renames it into place when whole)."""
    return all((folder / name).is_file() for name in CELL_FILES)


def write_cell(folder: Path, run: SeedRun) -> None:
    """The training's seed folder, written under `.<name>.part` and renamed into place;
    run.metrics becomes what the file holds (NaN as None), so a group gives the same
    numbers whether its trainings ran now or are read back on resume."""
    part = folder.with_name(f".{folder.name}.part")
    shutil.rmtree(part, ignore_errors=True)  # a write killed part-way
    part.parent.mkdir(parents=True, exist_ok=True)
    try:
        write_seed(part, run)
        os.replace(part, folder)
    except BaseException as exc:  # a full disk, an interrupt: no half-written folder stays
        shutil.rmtree(part, ignore_errors=True)
        if isinstance(exc, OSError):
            raise write_error(folder, exc) from None
        raise
    run.metrics = read_seed_metrics(folder)


def quarantine(cell: Path, problem: RunFolderError) -> Path:
    """Move a seed folder that cannot be read back aside (`.<name>.corrupt`, kept for a
    look, never read as a cell) so that its training runs again; one line says so."""
    aside = cell.with_name(f".{cell.name}.corrupt")
    n = 1
    while aside.exists():
        n += 1
        aside = cell.with_name(f".{cell.name}.corrupt-{n}")
    try:
        cell.rename(aside)
    except OSError as exc:
        raise write_error(aside, exc) from None
    err.print(
        f"{getattr(problem, 'problem', problem)}: moved to {aside.name}, training it again",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    return aside


def read_seed_metrics(folder: Path) -> dict:
    try:
        return as_json(SeedRecord.model_validate(read_json(folder / "metrics.json")))
    except ValidationError as exc:
        raise CorruptFile(
            f"{folder / 'metrics.json'}: not a seed record ({exc.errors()[0]['msg']})",
            folder / "metrics.json",
        ) from None


def read_cell(folder: Path, cfg: ExperimentConfig, seed: int) -> SeedRun:
    """A finished training read back: its metrics and history, the model rebuilt from the
    config and loaded with its weights, the split drawn again from the seed."""
    metrics = read_seed_metrics(folder)
    try:
        history = [
            {k: int(v) if k == "epoch" else float(v) for k, v in row.items()}
            for row in read_csv(folder / "history.csv")
        ]
    except (TypeError, ValueError) as exc:  # a cell cut short, or edited by hand
        raise CorruptFile(
            f"{folder / 'history.csv'}: not a history ({exc})", folder / "history.csv"
        ) from None
    fit_result = FitResult(
        history=history,
        best_epoch=metrics["best_epoch"],
        epochs_run=metrics["epochs_run"],
        stopped_early=metrics["stopped_early"],
        seconds=metrics["fit_seconds"],
    )
    splits = load_dataset(cfg.data, seed)
    model = build_model(cfg.model, splits.n_features, splits.n_classes).to(DTYPES[cfg.train.dtype])
    state = load_checkpoint(folder / "model.pt")
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:  # other keys or shapes than the config's model
        first = str(exc).splitlines()[0]
        raise CorruptFile(
            f"cannot load {folder / 'model.pt'}: {first}", folder / "model.pt"
        ) from None
    return SeedRun(seed, metrics, fit_result, model, splits)
