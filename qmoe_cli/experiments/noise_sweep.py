"""`qmoe noise-sweep`: a quantum router under each depolarizing level, beside classical baselines.

Mode `evaluate` (the hardware question): the router is trained noiseless once per seed, and
that trained circuit is evaluated under every level. Mode `train` (the noise-aware
question): the router is trained under each level and evaluated under the same level.
Shots, if configured, are used for evaluation only (sampling has no gradient). Baselines
are trained once per seed and shown as flat references.

    <group>/config.yaml env.json metrics.json noise_table.csv accuracy_vs_noise.png
    <group>/quantum/                 evaluate mode: the noiseless training (train format)
    <group>/levels/eps=<level>/      train mode: train-format folder; evaluate mode:
                                     metrics.json + summary.csv of the evaluations
    <group>/baselines/<name>/        train-format folders

metrics.json holds, besides the table, `per_seed`: every test accuracy behind it, in seed
order (`seeds`), {"quantum": {"<level>": [...]}, "<baseline name>": [...]} with the level
written as Python's repr of the float ("0.0", "0.005"), so a report can judge single-run
claims on the very numbers of the table; and `breakdown`: where the quantum router's mean
accuracy falls to the best baseline's, with a percentile-bootstrap interval over seeds
(`breakdown_interval`; censored seeds and resamples counted, never dropped).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from rich.table import Table

from qmoe_cli.config import ExperimentConfig, NoiseSweepConfig, dump_config
from qmoe_cli.metrics import ACCURACY_RANGE, breakdown_interval, evaluate, mean_ci
from qmoe_cli.progress import accuracy_cells, out
from qmoe_cli.quantum.noise import NoiseSpec
from qmoe_cli.records import LevelRecord, NoiseSweepRecord, write_record
from qmoe_cli.runs import RunFolder, environment, write_csv, write_json, write_text
from qmoe_cli.runs.group import train_all
from qmoe_cli.runs.train_format import write_variant_folder
from qmoe_cli.training import DTYPES
from qmoe_cli.training.plan import Training
from qmoe_cli.training.seeds import SeedRun


def training_config(cfg: NoiseSweepConfig, level: float | None) -> ExperimentConfig:
    """What the router is trained with: noiseless (evaluate mode) or at `level`, never shots."""
    vcfg = cfg.at_level(level or 0.0)
    noise = vcfg.model.router.noise
    if level is None:  # evaluate mode: train the circuit without any noise
        noise = noise.model_copy(update={"readout_error": 0.0, "depolarizing_2q": None})
    return vcfg.model_copy(
        update={
            "model": vcfg.model.model_copy(
                update={
                    "router": vcfg.model.router.model_copy(
                        update={"noise": noise.model_copy(update={"shots": None})}
                    )
                }
            )
        }
    )


@contextmanager
def circuit_noise(model, noise: NoiseSpec, simulator: str) -> Iterator[None]:
    """Every circuit of the model (its router's, its quantum experts') simulated under `noise`
    on `simulator` inside the block; afterwards their own noise and backend again (the
    trained model is drawn and saved as it was trained)."""
    circuits = [m for m in model.modules() if hasattr(m, "set_noise")]
    saved = [(m.noise, m.backend_name, m.backend) for m in circuits]
    for m in circuits:
        m.set_noise(noise, simulator)
    try:
        yield
    finally:
        for m, (n, name, backend) in zip(circuits, saved, strict=True):
            m.noise, m.backend_name, m.backend = n, name, backend


def accuracy_under(run: SeedRun, cfg: NoiseSweepConfig, level: float, simulator: str) -> float:
    """Test accuracy of a trained quantum router with its circuit at `level`; the router is
    left as it was found."""
    noise = NoiseSpec.from_config(cfg.at_level(level).model.router.noise)
    x, y = run.splits.tensors("test", DTYPES[cfg.train.dtype])
    with circuit_noise(run.model, noise, simulator):
        return evaluate(run.model, x, y)["accuracy"]


def fake_device_accuracy(cfg: NoiseSweepConfig, runs: list[SeedRun]) -> dict:
    """The noiselessly trained routers on a fake IBM device's noise model (Aer, transpiled)."""
    noise = cfg.model.router.noise
    spec = NoiseSpec(shots=noise.shots, fake_backend=noise.fake_backend)
    accs = []
    for run in runs:
        x, y = run.splits.tensors("test", DTYPES[cfg.train.dtype])
        with circuit_noise(run.model, spec, "qiskit-aer"):
            accs.append(evaluate(run.model, x, y)["accuracy"])
    return {
        "device": noise.fake_backend,
        "accuracy": mean_ci(accs, bounds=ACCURACY_RANGE),
        "per_seed": accs,
    }


def run(
    cfg: NoiseSweepConfig, out_dir: str | Path, *, jobs: int = 1, resume: Path | None = None
) -> Path:
    """The kind's runner (qmoe_cli/kinds.py): the quantum router's trainings and the
    baselines' on `jobs` workers, then every level evaluated on `cfg.simulator`."""
    simulator = cfg.simulator
    levels = sorted(cfg.levels)
    quantum_keys = [None] if cfg.mode == "evaluate" else levels
    with RunFolder(out_dir, cfg.name, dump_config(cfg), resumable=True, resume=resume) as group:
        write_json(group.path / "env.json", environment())
        tasks = [
            Training(
                ("quantum", key),
                training_config(cfg, key),
                seed,
                group.path / _quantum_folder(key) / f"seed-{seed}",
            )
            for key in quantum_keys
            for seed in cfg.seeds
        ]
        tasks += [
            Training(
                ("baseline", name),
                cfg.baseline(name),
                seed,
                group.path / "baselines" / name / f"seed-{seed}",
            )
            for name in cfg.baselines
            for seed in cfg.seeds
        ]
        results = train_all(
            tasks,
            jobs,
            f"{cfg.name}: noise sweep ({cfg.mode} mode)",
            on_done=lambda key, runs: _write_trained(group.path, cfg, key, runs),
        )
        acc = {level: [] for level in levels}
        for seed in cfg.seeds:
            for level in levels:
                key = ("quantum", None if cfg.mode == "evaluate" else level)
                acc[level].append(accuracy_under(results[key, seed], cfg, level, simulator))
        baselines = {
            name: [results[("baseline", name), s].metrics["test_accuracy"] for s in cfg.seeds]
            for name in cfg.baselines
        }
        _write_levels(group.path, cfg, levels, acc)
        rows, summary = summarize(cfg, levels, acc, baselines, simulator)
        summary["per_seed"] = per_seed_accuracies(levels, acc, baselines)
        if cfg.model.router.noise.fake_backend:
            summary["fake_backend"] = fake_device_accuracy(
                cfg, [results[("quantum", None), s] for s in cfg.seeds]
            )
        write_csv(group.path / "noise_table.csv", rows)
        plot(group.path / "accuracy_vs_noise.png", cfg, levels, acc, baselines)
        record = NoiseSweepRecord.model_validate({**summary, "table": rows})
        write_record(group.path / "metrics.json", record)
    print_sweep(cfg, rows, summary, group.path)
    return group.path


def _quantum_folder(level: float | None) -> str:
    """Where the quantum router's trainings go: `quantum` (evaluate mode, trained once
    noiseless) or `levels/eps=<level>` (train mode)."""
    return "quantum" if level is None else f"levels/eps={level:g}"


def _write_trained(folder: Path, cfg: NoiseSweepConfig, key: tuple, runs: list) -> None:
    """The folder of one trained config (a baseline, or the quantum router trained
    noiseless or at one level), written as soon as its seeds are in (train_all's on_done)."""
    kind, which = key
    if kind == "baseline":
        write_variant_folder(folder / "baselines" / which, cfg.baseline(which), runs)
    else:
        write_variant_folder(folder / _quantum_folder(which), training_config(cfg, which), runs)


def _write_levels(folder: Path, cfg: NoiseSweepConfig, levels, acc) -> None:
    """Evaluate mode: each level's accuracies of the routers trained noiseless."""
    if cfg.mode == "train":
        return
    for level in levels:
        path = folder / "levels" / f"eps={level:g}"
        path.mkdir(parents=True, exist_ok=True)  # a resumed group may hold it already
        write_text(path / "config.yaml", dump_config(cfg.at_level(level)))
        rows = [{"seed": s, "test_accuracy": a} for s, a in zip(cfg.seeds, acc[level], strict=True)]
        write_csv(path / "summary.csv", rows)
        record = LevelRecord(
            level=level,
            aggregate={"test_accuracy": mean_ci(acc[level], bounds=ACCURACY_RANGE)},
            per_seed=rows,
        )
        write_record(path / "metrics.json", record)


def per_seed_accuracies(levels, acc, baselines) -> dict:
    """metrics.json `per_seed`: {"quantum": {repr(level): [...]}, baseline name: [...]}."""
    return {
        "quantum": {repr(float(level)): [float(a) for a in acc[level]] for level in levels},
        **{name: [float(a) for a in values] for name, values in baselines.items()},
    }


def summarize(cfg: NoiseSweepConfig, levels, acc, baselines, simulator: str):
    best_name = max(baselines, key=lambda n: np.mean(baselines[n])) if baselines else None
    rows = []
    for level in levels:
        q = mean_ci(acc[level], bounds=ACCURACY_RANGE)
        row = {
            "level": level,
            "mode": cfg.mode,
            "placement": cfg.model.router.noise.placement,
            "quantum_mean": q["mean"],
            "quantum_std": q["std"],
            "quantum_ci_low": q["ci_low"],
            "quantum_ci_high": q["ci_high"],
        }
        for name, values in baselines.items():
            row[f"{name}_mean"] = float(np.mean(values))
        if best_name:
            row["quantum_minus_best_baseline"] = q["mean"] - float(np.mean(baselines[best_name]))
        rows.append(row)
    summary = {
        "mode": cfg.mode,
        "simulator": simulator,
        "levels": levels,
        "seeds": cfg.seeds,
        "placement": cfg.model.router.noise.placement,
        "best_baseline": best_name,
    }
    if best_name:
        found = breakdown_interval(
            levels,
            np.array([acc[level] for level in levels]).T,
            np.array([baselines[name] for name in baselines]),
        )
        summary["breakdown"] = {
            "eps": found["eps"],
            "baseline": best_name,
            "baseline_accuracy": float(np.mean(baselines[best_name])),
            "levels": [float(level) for level in levels],
            "per_seed": found["per_seed"],
            "seeds_never": found["seeds_never"],
            "seeds_at_first_level": found["seeds_at_first_level"],
            "interval": found["interval"],
        }
    return rows, summary


def plot(path: Path, cfg: NoiseSweepConfig, levels, acc, baselines) -> None:
    from qmoe_cli import figures  # matplotlib: imported when drawing only

    placement = cfg.model.router.noise.placement
    # the experiment knows no paper: `qmoe report` puts the paper's values beside these
    with figures.noise_curve(path, levels, acc, baselines, cfg.mode, placement):
        pass


def breakdown_text(b: dict) -> str:
    """The breakdown point, its bootstrap interval and the censoring counts, in words."""
    first, last = b["levels"][0], b["levels"][-1]
    if b["eps"] is None:
        text = f"never within the levels (beyond eps = {last:g})"
    elif b["eps"] == first:
        text = f"at eps = {first:g}: the quantum router is not ahead even at the first level"
    else:
        text = f"eps = {b['eps']:.4f}"
    iv = b["interval"]
    if iv is None:
        text += "; no interval (fewer than 2 seeds)"
    else:
        low = f"{iv['low']:.4f}" + (f" (censored: beyond {last:g})" if iv["low_censored"] else "")
        high = f"{iv['high']:.4f}" + (
            f" (censored: beyond {last:g})" if iv["high_censored"] else ""
        )
        text += (
            f"; {iv['confidence']:.0%} bootstrap interval over seeds [{low}, {high}]"
            f" ({iv['share_never']:.1%} of {iv['resamples']} resamples never fall to it)"
        )
    n = len(b["per_seed"])
    text += (
        f"; seeds that never fall to it within the levels: {b['seeds_never']} of {n}, "
        f"already at or below at eps = {first:g}: {b['seeds_at_first_level']} of {n}"
    )
    return (
        f"breakdown point (quantum falls to the best baseline, {b['baseline']} at "
        f"{b['baseline_accuracy']:.3f}): {text}"
    )


def print_sweep(cfg: NoiseSweepConfig, rows, summary, path: Path) -> None:
    table = Table(
        title=f"{cfg.name}: test accuracy under depolarizing noise",
        caption=f"({cfg.mode} mode, {summary['placement']} placement, "
        f"{summary['simulator']} simulator, {len(cfg.seeds)} seeds)",
    )
    table.add_column("eps", justify="right")
    table.add_column("quantum mean ± std", justify="right")
    table.add_column("95% CI", justify="right")
    for name in cfg.baselines:
        table.add_column(f"{name} (classical)", justify="right")
    for r in rows:
        acc, ci = accuracy_cells(
            r["quantum_mean"], r["quantum_std"], r["quantum_ci_low"], r["quantum_ci_high"]
        )
        table.add_row(
            f"{r['level']:g}",
            acc,
            ci,
            *(f"{r[f'{n}_mean']:.3f}" for n in cfg.baselines),
        )
    out.print(table)
    b = summary.get("breakdown")
    if b is not None:
        out.print(breakdown_text(b))
    fake = summary.get("fake_backend")
    if fake is not None:
        a = fake["accuracy"]
        acc, _ = accuracy_cells(a["mean"], a["std"], None, None)  # no "± nan" for one seed
        out.print(
            f"on {fake['device']}'s noise model (Aer, transpiled for the device): "
            f"test accuracy {acc}"
        )
    out.print(f"run folder: {path}")


def sweep_rows(metrics: dict) -> list[dict]:
    """A sweep's rows from this kind's metrics.json: one per noise level."""
    return [{**r, "test_accuracy": r["quantum_mean"]} for r in metrics["table"]]
