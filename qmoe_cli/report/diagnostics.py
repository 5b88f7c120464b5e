"""The report's diagnostics section, for `qmoe diagnose` folders: each trained router's
spectrum and classical surrogate (with the heat map of coefficient magnitudes), the
gradient-variance decay (table and curves) and the expressibility table. Nothing here
judges: the paper's mechanism claims are measured in its own module, and what it prints
beside these tables comes from `Paper.diagnostics`."""

from __future__ import annotations

import statistics

from qmoe_cli import records
from qmoe_cli.report import fmt
from qmoe_cli.report.audit import Paper
from qmoe_cli.report.inputs import Run
from qmoe_cli.report.render import Block, Heading, Para, Table
from qmoe_cli.report.tables import FigureFn


def sections(runs: list[Run], figure: FigureFn, paper: Paper) -> list[Block]:
    """Nothing without a diagnose folder (the diagnostics are optional inputs)."""
    runs = [r for r in runs if isinstance(r.record, records.DiagnoseRecord)]
    if not runs:
        return []
    blocks: list[Block] = [
        Heading(2, "Diagnostics: the router's mechanism"),
        Para(
            "From `qmoe diagnose` folders (docs/diagnose.md): the exact Fourier spectrum of "
            "each trained quantum router over its scaled inputs and a linear model on its "
            "non-negligible frequencies; the variance of the cost gradient at random "
            "initialisation over qubits and layers, with the fitted decay rate of its "
            "logarithm per qubit; Sim et al.'s expressibility and entangling capability."
        ),
    ]
    for run in runs:
        blocks += section(run, figure)
    blocks += paper.diagnostics(runs)
    return blocks


def section(run: Run, figure: FigureFn) -> list[Block]:
    rec = run.record
    assert isinstance(rec, records.DiagnoseRecord)
    source = rec.source
    about = f"of {source.name} ({source.kind}, {len(source.seeds)} seeds)" if source else "(scans)"
    blocks: list[Block] = [Heading(3, f"{run.label}: {run.name} {about}")]
    if rec.spectrum:
        blocks.append(spectrum_table(rec))
        fig = figure(
            run,
            "spectrum.png",
            f"{run.label}: |c_w| of each router's outputs per frequency (mean over seeds, log "
            "colour scale)",
        )
        if fig is not None:
            blocks.append(fig)
    if rec.decay:
        blocks.append(decay_table(rec))
    if rec.trainability:
        fig = figure(
            run,
            "gradient_variance.png",
            f"{run.label}: variance of the cost gradient at initialisation against qubits (log "
            "scale), a panel per ansatz and cost",
        )
        if fig is not None:
            blocks.append(fig)
    if rec.expressibility:
        blocks.append(expressibility_table(rec))
    return blocks


def spectrum_table(rec: records.DiagnoseRecord) -> Table:
    by_variant: dict[str, list[records.SpectrumRouter]] = {}
    for s in rec.spectrum:
        by_variant.setdefault(s.variant, []).append(s)
    rows = []
    for variant, rs in by_variant.items():
        r0 = rs[0]
        counts = sorted(s.nonnegligible for s in rs)
        r2 = [s.surrogate_r2 for s in rs if fmt.finite(s.surrogate_r2)]
        err = [s.surrogate_max_error for s in rs if fmt.finite(s.surrogate_max_error)]
        features = sorted({s.surrogate_features for s in rs})
        rows.append(
            [
                variant,
                r0.mechanism,
                f"{r0.qubits} x {r0.layers}",
                f"{r0.ansatz}, {r0.embedding}, {r0.readout}",
                str(r0.frequencies),
                f"{counts[0]}" if counts[0] == counts[-1] else f"{counts[0]}-{counts[-1]}",
                "-".join(map(str, dict.fromkeys((features[0], features[-1])))),
                fmt.num(statistics.median(r2), 6) if r2 else fmt.NA,
                fmt.num(min(r2), 6) if r2 else fmt.NA,
                f"{max(err):.1e}" if err else fmt.NA,
                str(len(rs)),
            ]
        )
    return Table(
        ["variant", "mechanism", "qubits x layers", "circuit", "frequencies (encoding)",
         "F non-negligible", "features 1 + 2F", "R^2 median", "R^2 worst", "largest error",
         "seeds"],
        rows,
        f"Spectrum of the trained routers: non-zero frequency pairs the encoding allows, those "
        f"with |c_w| >= {rec.threshold:g} in some output (F), and a linear model on 1, "
        "cos(w . x), sin(w . x) of those, fitted on the training inputs, judged on the test "
        "inputs (R^2 over all gates, largest absolute error)",
    )  # fmt: skip


def decay_table(rec: records.DiagnoseRecord) -> Table:
    rows = [
        [d.ansatz, d.init, d.cost, str(d.layers),
         f"{d.qubits[0]}-{d.qubits[-1]}" if d.qubits else "-", fmt.num(d.rate, 3),
         f"[{fmt.num(d.low, 3)}, {fmt.num(d.high, 3)}]", str(d.points)]
        for d in rec.decay
    ]  # fmt: skip
    return Table(
        ["ansatz", "init", "cost", "layers", "qubits", "decay rate", "95 % interval", "points"],
        rows,
        "Gradient-variance decay: least-squares slope of ln Var against qubits, its 95 % "
        "interval (t distribution); below 0 with the interval below 0: exponential decay. "
        "The local cost's 1/n alone gives about -0.35 over 2-12 qubits",
    )


def expressibility_table(rec: records.DiagnoseRecord) -> Table:
    rows = [
        [e.ansatz, str(e.layers), str(e.qubits), fmt.num(e.expressibility, 4),
         fmt.num(e.entangling_capability, 3), fmt.num(e.haar_entangling, 3), str(e.pairs)]
        for e in rec.expressibility
    ]  # fmt: skip
    return Table(
        ["ansatz", "layers", "qubits", "expressibility (KL)", "entangling capability",
         "Haar", "pairs"],
        rows,
        "Expressibility (Sim et al. 2019: KL divergence of the fidelity histogram from Haar's; "
        "lower is more expressive, about 0.007 is Haar-like with 5000 pairs) and entangling "
        "capability (mean Meyer-Wallach measure) beside its Haar average",
    )  # fmt: skip
