"""`qmoe diagnose [RUN_DIR]`: the quantum router's mechanism measured with the literature's
instruments (docs/diagnose.md).

* spectrum (needs RUN_DIR): each trained quantum router's exact Fourier coefficients over
  its scaled inputs (quantum/fourier.py), the frequencies with non-negligible weight, and
  least-squares linear models on those trigonometric features fitted to the router's gates
  on the training inputs, judged on the test inputs (R^2, largest error);
* trainability: gradient variance at random initialisation over qubits and layers, both
  ansatze, global and local costs, three initialisations, and the fitted decay rate of
  log-variance with qubits (quantum/trainability.py);
* expressibility: Sim et al.'s expressibility and entangling capability per ansatz, layers
  and qubits (quantum/expressibility.py).

    <folder>/config.yaml env.json metrics.json (DiagnoseRecord)
    <folder>/spectrum.csv spectrum_summary.csv spectrum.png
    <folder>/trainability.csv decay.csv gradient_variance.png
    <folder>/expressibility.csv
    <folder>/cells/<key>.json   one per router and scan cell, kept when interrupted

The folder goes beside the run folder (or under --out); every cell is written when done,
so an interrupted diagnose keeps them and the same command again (or --resume) computes
only the missing ones.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch

from qmoe_cli.config import DiagnoseConfig, dump_config
from qmoe_cli.errors import ConfigError
from qmoe_cli.experiments.diagnose import scans
from qmoe_cli.experiments.diagnose.spectrum import (
    analyse,
    check_width,
    find_routers,
    load_cell,
)
from qmoe_cli.progress import out, progress_bar
from qmoe_cli.records import DiagnoseRecord, write_record
from qmoe_cli.runs import RunFolder, environment, write_csv, write_json

METHODS = {
    "spectrum": "exact Fourier coefficients c_w of the router's gates (probs readout; the "
    "<Z_q> before the adapter with expval) over its scaled inputs, from the router evaluated "
    "on the grid x_f = 2 pi k / (2 r_f + 1), r_f the qubits encoding feature f, and a "
    "discrete Fourier transform (exact: the encoding's spectrum has frequencies "
    "-r_f..r_f per feature); frequencies counted once per pair {w, -w}, the constant apart",
    "nonnegligible": "a non-zero frequency whose |c_w| reaches the threshold in some output",
    "surrogate": "a linear model on 1, cos(w . x), sin(w . x) for the non-negligible "
    "frequencies, fitted by least squares to the router's gates on the training inputs; R^2 "
    "(1 - SSE / SST over all gates) and the largest absolute error on the test inputs; "
    "full_r2 with every frequency of the encoding",
    "trainability": "variance over random initialisations (and inputs uniform in [0, pi]^n, "
    "one feature per qubit, angle-embedded) of each partial derivative of the cost, averaged "
    "over the weights; global cost P(0...0), local cost the mean <Z_q>; initialisations "
    "uniform [0, 2 pi), small [-a, a], identity blocks (each layer followed by its adjoint)",
    "decay": "least-squares slope of ln(variance) against qubits per curve, its 95 % "
    "interval from the t distribution (scipy.stats.linregress), rate < 0: exponential decay",
    "expressibility": "Sim et al. 2019: KL divergence of the histogram (75 bins) of "
    "fidelities of random weight pairs (uniform [0, 2 pi)) from the Haar distribution; "
    "entangling capability: mean Meyer-Wallach measure of the same states",
}


def _out_dir(cfg: DiagnoseConfig, out_dir: str | Path | None) -> Path:
    if out_dir is not None:
        return Path(out_dir)
    if cfg.output_dir is not None:
        return Path(cfg.output_dir)
    return Path(cfg.run).resolve().parent if cfg.run is not None else Path("runs")


def run_diagnose(
    cfg: DiagnoseConfig, out_dir: str | Path | None = None, resume: Path | None = None
) -> Path:
    started = time.perf_counter()
    scans.check_sizes(cfg)
    source = find_routers(cfg) if "spectrum" in cfg.scans else None
    torch.set_num_threads(1)  # small matmuls: threads only contend (docs/diagnose.md)
    with RunFolder(
        _out_dir(cfg, out_dir), cfg.name, dump_config(cfg), resumable=True, resume=resume
    ) as folder:
        path = folder.path
        write_json(path / "env.json", environment())
        summaries, spectrum_rows = [], []
        train_rows: list[dict] = []
        decay_rows: list[dict] = []
        expr_rows: list[dict] = []
        with progress_bar() as bar:
            if source is not None:
                task = bar.add_task("spectrum", total=len(source.cells) * len(source.seeds))
                for variant, vfolder, vcfg in source.cells:
                    for seed in source.seeds:
                        key = f"spectrum-{variant}-seed{seed}"

                        def compute(variant=variant, vfolder=vfolder, vcfg=vcfg, seed=seed):
                            cell = load_cell(variant, vfolder, vcfg, seed)
                            check_width(cell.spec, variant)
                            summary, rows = analyse(cell, cfg.threshold)
                            return {"summary": summary, "rows": rows}

                        result = scans.cell(path, key, compute)
                        mechanism = getattr(vcfg.model.router, "mechanism", "full")
                        summaries.append({**result["summary"], "mechanism": mechanism})
                        spectrum_rows += result["rows"]
                        bar.advance(task)
            if "trainability" in cfg.scans:
                task = bar.add_task("gradient variance", total=len(scans.trainability_keys(cfg)))
                train_rows = scans.trainability(cfg, path, lambda: bar.advance(task))
                decay_rows = scans.decays(cfg, train_rows)
            if "expressibility" in cfg.scans:
                task = bar.add_task("expressibility", total=len(scans.expressibility_keys(cfg)))
                expr_rows = scans.expressibility(cfg, path, lambda: bar.advance(task))
        _write_files(path, cfg, summaries, spectrum_rows, train_rows, decay_rows, expr_rows)
        record = DiagnoseRecord.model_validate(
            {
                "name": cfg.name,
                "source": None
                if source is None
                else {
                    "path": str(source.path),
                    "kind": source.kind,
                    "name": source.name,
                    "seeds": source.seeds,
                    "variants": source.variants,
                    "dataset": str(source.cells[0][2].data.name),
                },
                "scans": list(cfg.scans),
                "threshold": cfg.threshold,
                "methods": {
                    k: v
                    for k, v in METHODS.items()
                    if k in cfg.scans
                    or (k in ("nonnegligible", "surrogate") and "spectrum" in cfg.scans)
                    or (k == "decay" and "trainability" in cfg.scans)
                },
                "spectrum": summaries,
                "trainability": train_rows,
                "decay": decay_rows,
                "expressibility": expr_rows,
                "wall_seconds": time.perf_counter() - started,
            }
        )
        write_record(path / "metrics.json", record)
    print_results(record, folder.path)
    return folder.path


def _write_files(path, cfg, summaries, spectrum_rows, train_rows, decay_rows, expr_rows):
    from qmoe_cli import figures  # matplotlib: only when drawing

    if summaries:
        write_csv(
            path / "spectrum_summary.csv",
            [{**s, "degrees": " ".join(map(str, s["degrees"]))} for s in summaries],
        )
        write_csv(path / "spectrum.csv", spectrum_rows)
        figures.spectrum_heatmap(path / "spectrum.png", spectrum_rows, summaries)
    if train_rows:
        write_csv(path / "trainability.csv", train_rows)
        write_csv(
            path / "decay.csv",
            [{**d, "qubits": " ".join(map(str, d["qubits"]))} for d in decay_rows],
        )
        figures.gradient_variance_curves(path / "gradient_variance.png", train_rows)
    if expr_rows:
        write_csv(path / "expressibility.csv", expr_rows)


def _num(x, fmt: str) -> str:
    return "n/a" if x is None or x != x else format(x, fmt)


def print_results(record: DiagnoseRecord, path: Path) -> None:
    def line(text: str) -> None:
        out.print(text, markup=False, highlight=False, soft_wrap=True)

    by_variant: dict[str, list] = {}
    for s in record.spectrum:
        by_variant.setdefault(s.variant, []).append(s)
    for variant, rows in by_variant.items():
        r0 = rows[0]
        counts = sorted({r.nonnegligible for r in rows})
        r2 = [r.surrogate_r2 for r in rows if r.surrogate_r2 is not None]
        err = [r.surrogate_max_error for r in rows if r.surrogate_max_error is not None]
        line(
            f"spectrum {variant} ({r0.qubits} qubits x {r0.layers} layers, {r0.ansatz}, "
            f"{r0.embedding} embedding, {r0.readout}; {len(rows)} seed(s)): "
            f"{r0.frequencies} non-zero frequencies in the encoding's spectrum, "
            f"{'-'.join(map(str, (counts[0], counts[-1]))) if len(counts) > 1 else counts[0]} "
            f"with |c_w| >= {record.threshold:g}; surrogate on them: R^2 "
            f"{_num(min(r2) if r2 else None, '.6f')} (worst seed), max error "
            f"{_num(max(err) if err else None, '.2e')} on {r0.test_inputs} test inputs"
        )
    if record.decay:
        line("gradient-variance decay rate per qubit (slope of ln Var, 95 % interval):")
        for d in record.decay:
            line(
                f"  {d.ansatz} {d.init} {d.cost} L={d.layers}: {_num(d.rate, '.3f')} "
                f"[{_num(d.low, '.3f')}, {_num(d.high, '.3f')}] over qubits "
                f"{d.qubits[0] if d.qubits else '-'}..{d.qubits[-1] if d.qubits else '-'}"
            )
    for e in record.expressibility:
        line(
            f"expressibility {e.ansatz} L={e.layers} n={e.qubits}: "
            f"{_num(e.expressibility, '.4f')}, entangling capability "
            f"{_num(e.entangling_capability, '.3f')} (Haar {_num(e.haar_entangling, '.3f')})"
        )
    line(f"diagnose folder: {path}")


def run(cfg: DiagnoseConfig, out_dir: str | Path, *, jobs: int = 1, resume: Path | None = None):
    """The kind's runner signature (a diagnose runs in this process; `jobs` is unused)."""
    if jobs not in (0, 1):
        raise ConfigError("--jobs: qmoe diagnose runs in one process")
    return run_diagnose(cfg, out_dir, resume)


def sweep_rows(metrics: dict) -> list[dict]:
    """One row per router of the spectrum: its surrogate's R^2 as the value."""
    return [
        {
            "variant": s["variant"],
            "seed": s["seed"],
            "nonnegligible": s["nonnegligible"],
            "surrogate_r2": s["surrogate_r2"],
        }
        for s in metrics.get("spectrum", [])
    ]


__all__ = ["run", "run_diagnose", "sweep_rows"]
