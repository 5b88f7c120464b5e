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
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from rich.table import Table

from qmoe_cli.config import ExperimentConfig, NoiseSweepConfig, dump_config
from qmoe_cli.experiments.ablate import train_all
from qmoe_cli.experiments.train import SeedRun, write_train_results
from qmoe_cli.metrics import evaluate, mean_ci
from qmoe_cli.progress import accuracy_cells, out
from qmoe_cli.quantum.noise import NoiseSpec
from qmoe_cli.runs import RunFolder, environment, write_csv, write_json
from qmoe_cli.training import DTYPES

# The paper's Table II (Two Moons), drawn beside the measurements for reference.
PAPER_TABLE_II = {0.0: 0.94, 0.005: 0.92, 0.01: 0.89, 0.02: 0.82, 0.03: 0.73}
PAPER_CLASSICAL = 0.65


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


def accuracy_under(run: SeedRun, cfg: NoiseSweepConfig, level: float, simulator: str) -> float:
    """Test accuracy of a trained quantum router with its circuit at `level`."""
    noise = NoiseSpec.from_config(cfg.at_level(level).model.router.noise)
    run.model.router.set_noise(noise, simulator)
    x, y = run.splits.tensors("test", DTYPES[cfg.train.dtype])
    return evaluate(run.model, x, y)["accuracy"]


def fake_device_accuracy(cfg: NoiseSweepConfig, runs: list[SeedRun]) -> dict:
    """The noiselessly trained routers on a fake IBM device's noise model (Aer, transpiled)."""
    noise = cfg.model.router.noise
    spec = NoiseSpec(shots=noise.shots, fake_backend=noise.fake_backend)
    accs = []
    for run in runs:
        run.model.router.set_noise(spec, "qiskit-aer")
        x, y = run.splits.tensors("test", DTYPES[cfg.train.dtype])
        accs.append(evaluate(run.model, x, y)["accuracy"])
    return {"device": noise.fake_backend, "accuracy": mean_ci(accs), "per_seed": accs}


def breakdown(levels: list[float], quantum: list[float], classical: float) -> float | None:
    """First eps where the quantum accuracy falls to the classical one (linear
    interpolation between levels); the first level if it starts at or below; None if never."""
    if quantum[0] <= classical:
        return levels[0]
    for i in range(1, len(levels)):
        (l0, q0), (l1, q1) = (levels[i - 1], quantum[i - 1]), (levels[i], quantum[i])
        if q1 <= classical:
            return l0 + (q0 - classical) / (q0 - q1) * (l1 - l0)
    return None


def run_noise_sweep(
    cfg: NoiseSweepConfig, out_dir: str | Path, jobs: int, simulator: str = "torch"
) -> Path:
    levels = sorted(cfg.levels)
    quantum_keys = [None] if cfg.mode == "evaluate" else levels
    tasks = [
        (("quantum", key), training_config(cfg, key), seed)
        for key in quantum_keys
        for seed in cfg.seeds
    ]
    tasks += [
        (("baseline", name), cfg.baseline(name), seed)
        for name in cfg.baselines
        for seed in cfg.seeds
    ]
    with RunFolder(out_dir, cfg.name, dump_config(cfg)) as group:
        write_json(group.path / "env.json", environment())
        results = train_all(tasks, jobs, f"{cfg.name}: noise sweep ({cfg.mode} mode)")
        acc = {level: [] for level in levels}
        for seed in cfg.seeds:
            for level in levels:
                key = ("quantum", None if cfg.mode == "evaluate" else level)
                acc[level].append(accuracy_under(results[key, seed], cfg, level, simulator))
        baselines = {
            name: [results[("baseline", name), s].metrics["test_accuracy"] for s in cfg.seeds]
            for name in cfg.baselines
        }
        _write_runs(group.path, cfg, levels, results, acc)
        rows, summary = summarize(cfg, levels, acc, baselines, simulator)
        if cfg.model.router.noise.fake_backend:
            summary["fake_backend"] = fake_device_accuracy(
                cfg, [results[("quantum", None), s] for s in cfg.seeds]
            )
        write_csv(group.path / "noise_table.csv", rows)
        plot(group.path / "accuracy_vs_noise.png", cfg, levels, acc, baselines)
        write_json(
            group.path / "metrics.json", {"command": "noise-sweep", **summary, "table": rows}
        )
    print_sweep(cfg, rows, summary, group.path)
    return group.path


def _write_runs(folder: Path, cfg: NoiseSweepConfig, levels, results, acc) -> None:
    def train_folder(path: Path, vcfg: ExperimentConfig, runs: list[SeedRun]) -> None:
        path.mkdir(parents=True)
        (path / "config.yaml").write_text(dump_config(vcfg))
        write_train_results(path, vcfg, runs)

    for name in cfg.baselines:
        train_folder(
            folder / "baselines" / name,
            cfg.baseline(name),
            [results[("baseline", name), s] for s in cfg.seeds],
        )
    if cfg.mode == "train":
        for level in levels:
            train_folder(
                folder / "levels" / f"eps={level:g}",
                training_config(cfg, level),
                [results[("quantum", level), s] for s in cfg.seeds],
            )
        return
    train_folder(
        folder / "quantum",
        training_config(cfg, None),
        [results[("quantum", None), s] for s in cfg.seeds],
    )
    for level in levels:
        path = folder / "levels" / f"eps={level:g}"
        path.mkdir(parents=True)
        (path / "config.yaml").write_text(dump_config(cfg.at_level(level)))
        rows = [{"seed": s, "test_accuracy": a} for s, a in zip(cfg.seeds, acc[level], strict=True)]
        write_csv(path / "summary.csv", rows)
        write_json(
            path / "metrics.json",
            {
                "command": "noise-sweep/evaluate",
                "level": level,
                "aggregate": {"test_accuracy": mean_ci(acc[level])},
                "per_seed": rows,
            },
        )


def summarize(cfg: NoiseSweepConfig, levels, acc, baselines, simulator: str):
    best_name = max(baselines, key=lambda n: np.mean(baselines[n])) if baselines else None
    rows = []
    for level in levels:
        q = mean_ci(acc[level])
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
        row["paper_quantum"] = PAPER_TABLE_II.get(level)
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
        best = float(np.mean(baselines[best_name]))
        mean_curve = [float(np.mean(acc[level])) for level in levels]
        per_seed = [
            breakdown(
                levels, [acc[level][i] for level in levels], max(b[i] for b in baselines.values())
            )
            for i in range(len(cfg.seeds))
        ]
        found = [b for b in per_seed if b is not None]
        summary["breakdown"] = {
            "eps": breakdown(levels, mean_curve, best),
            "per_seed": per_seed,
            "ci": mean_ci(found) if len(found) == len(per_seed) and len(found) > 1 else None,
            "seeds_without_breakdown": len(per_seed) - len(found),
        }
    return rows, summary


def plot(path: Path, cfg: NoiseSweepConfig, levels, acc, baselines) -> None:
    from qmoe_cli.report.plots import plt

    fig, ax = plt.subplots(figsize=(6, 4))
    means = np.array([np.mean(acc[level]) for level in levels])
    cis = [mean_ci(acc[level]) for level in levels]
    ax.plot(levels, means, "o-", color="tab:purple", label=f"quantum ({cfg.mode} mode)")
    if len(cfg.seeds) > 1:
        ax.fill_between(
            levels,
            [c["ci_low"] for c in cis],
            [c["ci_high"] for c in cis],
            color="tab:purple",
            alpha=0.2,
            label="95% CI",
        )
    for i, (name, values) in enumerate(baselines.items()):
        ax.axhline(
            np.mean(values),
            color=plt.get_cmap("tab10")(i),
            linestyle="--",
            label=f"{name} (classical, noiseless)",
        )
    paper = sorted(PAPER_TABLE_II.items())
    ax.plot(
        [p[0] for p in paper],
        [p[1] for p in paper],
        "x:",
        color="grey",
        label="paper Table II (quantum)",
    )
    ax.axhline(PAPER_CLASSICAL, color="grey", linestyle=":", linewidth=0.8)
    ax.set(
        xlabel=f"depolarizing eps per gate ({cfg.model.router.noise.placement} placement)",
        ylabel="test accuracy",
    )
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def print_sweep(cfg: NoiseSweepConfig, rows, summary, path: Path) -> None:
    table = Table(
        title=f"{cfg.name}: test accuracy under depolarizing noise "
        f"({cfg.mode} mode, {summary['placement']} placement, "
        f"{summary['simulator']} simulator, {len(cfg.seeds)} seeds)"
    )
    table.add_column("eps", justify="right")
    table.add_column("quantum mean ± std", justify="right")
    table.add_column("95% CI", justify="right")
    for name in cfg.baselines:
        table.add_column(f"{name} (classical)", justify="right")
    table.add_column("paper quantum", justify="right")
    for r in rows:
        acc, ci = accuracy_cells(
            r["quantum_mean"], r["quantum_std"], r["quantum_ci_low"], r["quantum_ci_high"]
        )
        paper = "" if r["paper_quantum"] is None else f"{r['paper_quantum']:.2f}"
        table.add_row(
            f"{r['level']:g}",
            acc,
            ci,
            *(f"{r[f'{n}_mean']:.3f}" for n in cfg.baselines),
            paper,
        )
    out.print(table)
    b = summary.get("breakdown")
    if b is not None:
        if b["eps"] is None:
            text = "never within the range of levels"
        elif b["eps"] == summary["levels"][0]:
            text = f"at eps = {b['eps']:g}: the quantum router is not ahead even without noise"
        else:
            text = f"eps = {b['eps']:.4f}"
            if b["ci"] is not None:
                text += f" (95% CI over seeds [{b['ci']['ci_low']:.4f}, {b['ci']['ci_high']:.4f}])"
            if b["seeds_without_breakdown"]:
                text += (
                    f"; {b['seeds_without_breakdown']} of {len(b['per_seed'])} seeds never "
                    "fall to the baseline within the range, so no CI"
                )
        out.print(
            f"breakdown point (quantum falls to the best baseline, "
            f"{summary['best_baseline']}): {text}"
        )
    fake = summary.get("fake_backend")
    if fake is not None:
        a = fake["accuracy"]
        out.print(
            f"on {fake['device']}'s noise model (Aer, transpiled for the device): "
            f"test accuracy {a['mean']:.3f} ± {a['std']:.3f}"
        )
    out.print(f"run folder: {path}")
