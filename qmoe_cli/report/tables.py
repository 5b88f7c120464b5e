"""The report's sections as document blocks: the runs given, Table I (ablation), Table II
(noise), the parameter-efficiency results, train runs and sweeps (claims_tables.py and
provenance.py hold the claims table and the provenance section)."""

from __future__ import annotations

import math
from collections.abc import Callable

from qmoe_cli import records
from qmoe_cli.config import get_dotted
from qmoe_cli.errors import ConfigError
from qmoe_cli.metrics import paired_comparison
from qmoe_cli.report import fmt
from qmoe_cli.report.audit import Paper
from qmoe_cli.report.inputs import Run, Stat, SweepFolder, eta_of
from qmoe_cli.report.measured import ModelResult, NoiseSweep, model_results, noise_sweep
from qmoe_cli.report.render import Block, Bullets, Figure, Heading, Para, Table

# (run, file name in the run folder, caption) -> the figure copied into the report, or None
FigureFn = Callable[[Run, str, str], Figure | None]


def runs_table(runs: list[Run]) -> Table:
    rows = [[r.label, r.kind, r.dataset or "?", _seeds(r.seeds), str(r.path)] for r in runs]
    return Table(["run", "kind", "dataset", "seeds", "folder"], rows, "Runs read by this report")


def problems_list(runs: list[Run]) -> list[Block]:
    """The files of the runs that could not be read (an older folder's config.yaml that no
    longer validates, ...): the report uses none of their settings."""
    items = [f"{r.label}: {p}" for r in runs for p in r.problems]
    if not items:
        return []
    note = Para(
        "Files not readable (config not readable: the report uses none of its settings, such "
        "as the epochs, early stopping, data set or model):"
    )
    return [note, Bullets(items)]


def skipped_list(skipped: list) -> list[Block]:
    """The folders found under a given folder but not read (inputs.Skipped), briefly."""
    if not skipped:
        return []
    items = [f"{s.path}: {s.why.splitlines()[0]}" for s in skipped[:LISTED]]
    more = len(skipped) - LISTED
    note = Para(f"Skipped {len(skipped)} folder(s) found that are not complete runs:")
    return [note, Bullets(items + ([f"and {more} more"] if more > 0 else []))]


def _seeds(seeds: list) -> str:
    return ", ".join(str(s) for s in seeds) if seeds else "?"


# --- Table I: ablations ---------------------------------------------------------------------


def ablation_section(run: Run, figure: FigureFn, paper: Paper) -> list[Block]:
    """One ablation's table (the paper's values beside it where the paper has them),
    its paired comparisons and figures."""
    dataset = run.dataset or "an unknown dataset"
    title = paper.section_titles.get(("ablate", run.dataset or "")) or f"Ablation on {dataset}"
    title = f"{title} ({run.label})"
    models = model_results(run)
    paper_cells = [paper.ablation_columns(run, m) for m in models]
    paper_headers = list(dict.fromkeys(k for cells in paper_cells for k in cells))
    n = len(run.seeds)
    headers = [
        "variant",
        "router",
        "accuracy mean ± std",
        "median",
        "95 % CI",
        "router P",
        "effective P (init → trained)",
        "total P",
        "eta (formula)",
        "eta 95 % CI",
        "eta on effective P",
        "epochs to 90 % val (seeds)",
    ]
    plateau = run.plateau
    if fmt.finite(plateau):
        headers.append(f"seeds above {fmt.pct(plateau, 1)}")
    # experts other than linear (docs/experts.md): their type and every circuit's qubits
    expert_types = any(m.experts != "linear" for m in models)
    if expert_types:
        headers += ["experts", "qubits: total (per circuit)"]
    headers += paper_headers
    rows = []
    for m, extra in zip(models, paper_cells, strict=True):
        row = m.row
        reached = row.seeds_reaching_90_val
        ep90 = (
            "never" if not reached else f"{fmt.num(row.epochs_to_90_val_mean, 1)} ({reached}/{n})"
        )
        eff_init, eff = row.router_params_effective_init, row.router_params_effective
        cells = [
            f"{m.variant}: {m.label}" if m.label else str(m.variant),
            m.router,
            fmt.mean_std(m.acc),
            fmt.pct(row.test_acc_median),
            fmt.ci(m.acc),
            str(m.router_params),
            f"{fmt.num(eff_init, 0)} → {fmt.num(eff, 0)}" if fmt.finite(eff) else fmt.NA,
            str(m.total_params),
            fmt.num(m.eta.mean),
            fmt.ci(m.eta, "eta"),
            fmt.num(row.eta_effective_mean),
            ep90,
        ]
        if fmt.finite(plateau):
            share = row.share_above_plateau
            cells.append(f"{fmt.num(100 * share, 0)} %" if fmt.finite(share) else fmt.NA)
        if expert_types:
            q = m.qubits
            circuits = ([q.router] if q.router else []) + q.experts
            cells += [m.experts, f"{q.total} ({' + '.join(map(str, circuits)) or 'none'})"]
        cells += [extra.get(h, "") for h in paper_headers]
        rows.append(cells)
    data = run.data_info
    about = (
        f"{data.source}; {data.n_train} train / {data.n_val} val / {data.n_test} test rows"
        if data is not None
        else "data source ?; ? train / ? val / ? test rows"
    )
    blocks: list[Block] = [
        Heading(3, title),
        Table(headers, rows, f"{run.name}: test accuracy over {n} seeds ({about})"),
    ]
    comparisons = run.record_as(records.AblateRecord).comparisons
    if comparisons:
        blocks.append(
            Para(
                f"Paired comparisons of the reference with every other variant (same splits "
                f"per seed, {n} seeds), raw p: the verdicts above adjust each claim's tests "
                "within the claim (docs/verdicts.md), and no other adjusted p is shown:"
            )
        )
        blocks.append(Bullets([raw_comparison(c) for c in comparisons]))
    blocks += multiclass_blocks(run, models)
    for name, caption in (
        ("decision_boundaries.png", "Decision boundaries on the test points (first seed)"),
        ("routing_maps.png", "Routing maps: the dominant expert per region (first seed)"),
        ("training_curves.png", "Training curves: loss and validation accuracy per epoch"),
    ):
        fig = figure(run, name, f"{run.label} {caption}")
        if fig:
            blocks.append(fig)
    note = boundary_note(data)
    if note:
        blocks.append(Para(note))
    return blocks


def raw_comparison(c: records.Comparison) -> str:
    """One paired comparison with its unadjusted p."""
    ci = (
        f", 95 % CI [{100 * c.ci_low:+.1f}, {100 * c.ci_high:+.1f}]"
        if fmt.finite(c.ci_low) and fmt.finite(c.ci_high)
        else ""
    )
    p = fmt.p_value(c.p) if fmt.finite(c.p) else "n/a (no difference)"
    diff = f"{100 * c.mean_diff:+.1f}" if fmt.finite(c.mean_diff) else fmt.NA
    return f"{c.a} - {c.b}: {diff} points{ci}, {c.test} p = {p} (raw)"


def boundary_note(data: records.DataInfo | None) -> str | None:
    """Why a run has no decision-boundary or routing figures when its inputs are not 2-D."""
    if data is None or data.n_features == 2:
        return None
    width = data.n_features
    return (
        f"No decision-boundary or routing figures: they are drawn for 2-feature inputs only, "
        f"and this model's inputs have {width} features."
    )


def class_names(data: records.DataInfo) -> list[str]:
    """Column names of a per-class table: the original labels when mapped (user files),
    else the class indices."""
    if data.labels is not None and len(data.labels) == data.n_classes:
        return [str(x) for x in data.labels]
    return [str(i) for i in range(data.n_classes)]


def multiclass_blocks(run: Run, models: list[ModelResult]) -> list[Block]:
    """For more than two classes: macro-F1 and each class's test accuracy per model (mean
    over seeds), when the run records them."""
    data = run.data_info
    if data is None or data.n_classes <= 2:
        return []
    n = data.n_classes
    names = class_names(data)
    rows = []
    for m in models:
        f1 = m.summary.f1_mean if m.summary is not None else None
        if f1 is None and isinstance(run.record, records.TrainRecord):  # its aggregate
            f1 = run.record.aggregate.test_f1_macro.mean
        per_class = m.per_class_acc if m.per_class_acc and len(m.per_class_acc) == n else None
        cells = [m.variant or m.label, fmt.num(f1) if fmt.finite(f1) else fmt.NA]
        values: list[float | None] = list(per_class) if per_class else [None] * n
        cells += [fmt.num(v) if fmt.finite(v) else fmt.NA for v in values]
        rows.append(cells)
    return [
        Table(
            ["model", "macro F1", *(f"class {c}" for c in names)],
            rows,
            f"{run.name}: {n} classes: macro-F1 and each class's test accuracy (its recall), "
            "mean over seeds (n/a: not recorded by this run)",
        )
    ]


# --- Table II: noise ------------------------------------------------------------------------


def noise_section(run: Run, figure: FigureFn, paper: Paper) -> list[Block]:
    """One noise sweep's table (the paper's values beside it where it has them)."""
    sweep = noise_sweep(run)
    n = len(run.seeds)
    base_names = list(sweep.baselines)
    levels = [row.level for row in sweep.rows]
    paper_cells = [paper.noise_columns(run, level) for level in levels]
    paper_headers = list(dict.fromkeys(k for cells in paper_cells for k in cells))
    headers = ["eps", "quantum mean ± std", "95 % CI"]
    headers += [f"{name} ({sweep.baselines[name].router} router, noiseless)" for name in base_names]
    headers += paper_headers
    rows = []
    for row, level, extra in zip(sweep.rows, levels, paper_cells, strict=True):
        q = Stat.of_values(
            row.quantum_mean, row.quantum_std, row.quantum_ci_low, row.quantum_ci_high, n
        )
        rows.append(
            [
                fmt.eps(level),
                fmt.mean_std(q),
                fmt.ci(q),
                *(fmt.mean_std(sweep.baselines[b].acc) for b in base_names),
                *(extra.get(h, "") for h in paper_headers),
            ]
        )
    title = paper.section_titles.get(("noise-sweep", run.dataset or "")) or "Noise sweep"
    blocks: list[Block] = [
        Heading(3, f"{title} ({run.label}, {sweep.mode} mode)"),
        Para(_mode_text(sweep.mode)),
        Table(
            headers,
            rows,
            f"{run.name}: {run.dataset} test accuracy, {sweep.mode} mode, {sweep.simulator} "
            f"simulator, {sweep.placement} noise placement, {n} seeds",
        ),
        Para(_breakdown_text(sweep)),
    ]
    fake = run.record_as(records.NoiseSweepRecord).fake_backend
    if fake is not None:
        acc = Stat.of(fake.accuracy)
        blocks.append(
            Para(
                f"On {fake.device}'s noise model (Aer, transpiled for the device): test "
                f"accuracy {fmt.with_ci(acc, 'accuracy')}."
            )
        )
    fig = figure(run, "accuracy_vs_noise.png", f"{run.label} accuracy vs depolarizing eps")
    if fig:
        blocks.append(fig)
    return blocks


def _mode_text(mode: str) -> str:
    if mode == "evaluate":
        return (
            "Evaluate mode (the hardware question): the router is trained without noise once "
            "per seed, and that trained circuit is evaluated under each level."
        )
    if mode == "train":
        return (
            "Train mode (the noise-aware question): the router is trained under each level "
            "and evaluated under the same level."
        )
    return f"Mode: {mode}."


def _breakdown_text(sweep: NoiseSweep) -> str:
    b = sweep.breakdown
    if b is None:
        return "Breakdown point: not computed (the sweep has no classical baseline)."
    head = f"Breakdown point (quantum falls to the best baseline, {sweep.best_baseline}): "
    top = max(sweep.levels) if sweep.levels else math.nan
    text = f"eps = {fmt.num(b.eps, 4)}" if fmt.finite(b.eps) else f"never up to {fmt.eps(top)}"
    iv = b.interval
    if iv is not None:
        shown = fmt.censored_interval(iv.low, iv.high, iv.low_censored, iv.high_censored)
        text += f", 95 % bootstrap interval over seeds {shown}"
    text += (
        f"; {b.seeds_never} of {len(b.per_seed)} seeds never fall to the baseline within the "
        f"levels, {b.seeds_at_first_level} are at or below it at the first level"
    )
    return head + text + ". The paper: ~0.025."


def _float(x: str) -> float:
    try:
        return float(x)
    except (TypeError, ValueError):
        return math.nan


# --- parameter efficiency -------------------------------------------------------------------


def efficiency_section(run: Run, figure: FigureFn) -> list[Block]:
    m = run.record_as(records.EfficiencyRecord)
    data = m.data
    about = (
        f"{run.name}: {data.source}; {data.n_train} train / {data.n_test} test rows, "
        f"{data.n_features} features."
        if data is not None
        else f"{run.name}: no data loaded."
    )
    blocks: list[Block] = [
        Heading(3, f"Parameter efficiency on {run.dataset or '?'} ({run.label})"),
        Para(about),
    ]
    if m.skipped:
        blocks.append(Para(f"Skipped: {m.skipped}"))
        return blocks
    pareto = set(m.pareto)
    points = sorted(
        model_results(run), key=lambda p: (p.router, p.router_params or 0, str(p.variant))
    )
    rows = [
        [
            str(p.variant),
            p.router,
            str(p.router_params),
            fmt.num(p.effective_params, 0),
            str(p.total_params),
            fmt.pct(p.val_acc_mean),
            fmt.mean_std(p.acc),
            fmt.ci(p.acc),
            fmt.num(eta_of(p.acc, p.router_params).mean),
            str(p.acc.n or "?"),
            "yes" if p.variant in pareto else "",
        ]
        for p in points
    ]
    blocks.append(
        Table(
            [
                "variant",
                "router",
                "router P",
                "effective P",
                "total P",
                "val accuracy",
                "test accuracy mean ± std",
                "95 % CI",
                "eta (formula)",
                "seeds",
                "Pareto front",
            ],
            rows,
            "Accuracy vs router parameters (Pareto front and the smallest routers chosen on "
            "mean validation accuracy; test accuracy reported for what was chosen)",
        )
    )
    reaching = m.smallest_reaching
    routers = sorted({r for entry in reaching.values() if entry for r in entry})
    if reaching and routers:
        rows = []
        for threshold, entry in sorted(reaching.items(), key=lambda kv: _float(kv[0])):
            cells = [fmt.pct(_float(threshold))]
            for r in routers:
                hit = entry.get(r)
                cells.append(f"{hit.variant} (P = {hit.router_params})" if hit else "not reached")
            rows.append(cells)
        blocks.append(
            Table(["accuracy threshold", *routers], rows, "Smallest router reaching each accuracy")
        )
    fig = figure(run, "accuracy_vs_params.png", f"{run.label} accuracy vs router parameters")
    if fig:
        blocks.append(fig)
    return blocks


# --- train runs -----------------------------------------------------------------------------


def train_section(runs: list[Run], figure: FigureFn) -> list[Block]:
    rows = []
    figures: list[Block] = []
    for run in runs:
        m = run.record_as(records.TrainRecord)
        model = model_results(run)[0]
        f1 = Stat.of(m.aggregate.test_f1_macro)
        rows.append(
            [
                run.label,
                m.name,
                run.dataset or "?",
                model.router,
                str(model.router_params),
                str(model.total_params),
                fmt.mean_std(model.acc),
                fmt.ci(model.acc),
                fmt.num(f1.mean),
                fmt.num(model.eta.mean),
                _seeds(run.seeds),
            ]
        )
        for name, caption in (
            ("decision_boundary.png", "decision boundary (first seed)"),
            ("routing.png", "dominant expert per region (first seed)"),
        ):
            fig = figure(run, name, f"{run.label} {caption}")
            if fig:
                figures.append(fig)
    table = Table(
        [
            "run",
            "name",
            "dataset",
            "router",
            "router P",
            "total P",
            "accuracy mean ± std",
            "95 % CI",
            "macro F1",
            "eta (formula)",
            "seeds",
        ],
        rows,
        "Train runs (held-out test split)",
    )
    extra: list[Block] = []
    for run in runs:
        extra += multiclass_blocks(run, model_results(run))
    notes = [f"{run.label}: {boundary_note(run.data_info)}" for run in runs]
    notes = [n for n, run in zip(notes, runs, strict=True) if boundary_note(run.data_info)]
    if notes:
        extra.append(Bullets(notes))
    return [Heading(2, "Train runs"), table, *extra, *figures]


# --- sweeps ------------------------------------------------------------------------------

SWEEPS_NOTE = (
    "Each sweep folder (written by `qmoe sweep`) is read from its own files: sweep.yaml (the "
    "sweep file as given; overrides on the `qmoe sweep` command line are not recorded there), "
    "points/ and status/*.json (which points are done, failed or unfinished) and summary.csv "
    "(test accuracy per point: mean, sample standard deviation and 95 % t-interval over the "
    "sweep's seeds). Sweeps do not feed the paper claims table above: they are shown here "
    "as measured, without verdicts. To confront one point with the paper, give its run "
    "folder (points/<id>/) to the report directly."
)
LISTED = 10  # failed / unreadable points listed by id before "and N more"


def sweeps_section(runs: list[Run]) -> list[Block]:
    blocks: list[Block] = [Heading(2, "Sweeps"), Para(SWEEPS_NOTE)]
    for run in runs:
        blocks += sweep_section(run)
    return blocks


def sweep_section(run: Run) -> list[Block]:
    s = run.sweep
    if s is None:
        return []
    swept = [f"grid {k} = {_values(v)}" for k, v in s.grid.items()]
    swept += [f"zip {k} = {_values(v)}" for k, v in s.zip.items()]
    about = (
        f"{run.path}: `{s.command}` runs of the base config {s.base}, "
        f"{'; '.join(swept) if swept else 'no swept keys'}; seeds {_seeds(s.seeds)}; "
        f"dataset {run.dataset or '?'}."
    )
    expected = "?" if s.expected is None else str(s.expected)
    pending = "?" if s.pending is None else str(s.pending)
    state = (
        f"Points x seeds: {len(s.points)} done, {len(s.failed)} failed, "
        f"{len(s.unfinished)} unfinished (running or killed), {pending} not run, of {expected} "
        "the sweep file asks for."
    )
    blocks: list[Block] = [Heading(3, f"Sweep {s.name} ({run.label})"), Para(about), Para(state)]
    problems = [f"failed {pid}: {error}" for pid, error in s.failed.items()]
    problems += [f"unreadable {pid}: {why}" for pid, why in s.unreadable.items()]
    if problems:
        more = len(problems) - LISTED
        blocks.append(Bullets(problems[:LISTED] + ([f"and {more} more"] if more > 0 else [])))
    if not s.summary:
        blocks.append(Para("summary.csv has no rows: no point of this sweep has finished."))
        return blocks
    router_params = _sweep_router_params(s)
    headers = [*s.keys, *(["router P"] if router_params else [])]
    headers += ["n seeds", "test accuracy mean ± std", "95 % CI"]
    rows = []
    for row in s.summary:
        cells = list(row.point(s.keys))
        if router_params:
            cells.append(router_params.get(row.point(s.keys), "?"))
        n = "?" if row.n_seeds is None else str(row.n_seeds)
        cells += [n, fmt.mean_std(row.acc), fmt.ci(row.acc)]
        rows.append(cells)
    caption = (
        f"{s.name}: test accuracy per point over {len(s.seeds)} seed(s), from summary.csv "
        "(held-out test split; not judged against the paper)"
    )
    blocks.append(Table(headers, rows, caption))
    return blocks


def _values(values: list) -> str:
    return ", ".join(str(v) for v in values)


def _sweep_router_params(s: SweepFolder) -> dict[tuple[str, ...], str]:
    """Router parameters per point, from sweep.csv (empty when it does not record them)."""
    found: dict[tuple[str, ...], list[str]] = {}
    for row in s.rows:
        value = row.router_params
        if value is not None:
            values = found.setdefault(row.point(s.keys), [])
            if value not in values:
                values.append(value)
    return {k: ", ".join(v) for k, v in found.items()}


# --- one entry per run kind, named in qmoe_cli/kinds.py: (runs, figure, paper) -> blocks ----


def _each(
    title: str, kind: str, runs: list[Run], section: Callable[[Run], list[Block]]
) -> list[Block]:
    blocks: list[Block] = [Heading(2, title)]
    if not runs:
        blocks.append(Para(f"Not measured: no {kind} run was given."))
    for run in runs:
        blocks += section(run)
    return blocks


def ablate_sections(runs: list[Run], figure: FigureFn, paper: Paper) -> list[Block]:
    def section(run: Run) -> list[Block]:
        blocks = ablation_section(run, figure, paper)
        if run.tuned is not None:
            blocks += tuned_section(run, [r for r in runs if r.tuned is None])
        return blocks

    return _each("Ablations", "ablate", runs, section)


# --- tuned ablations ------------------------------------------------------------------------


def _setting(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    if isinstance(value, bool) or value is None:
        return str(value).lower() if value is not None else "—"
    return str(value)


def tuned_settings_table(run: Run) -> Table:
    """Each tuned variant's best settings beside the fixed protocol's value of each key."""
    tuned = run.tuned
    if tuned is None:
        raise ConfigError(f"{run.path}: not a tuned ablation (no tuned.json)")
    keys = list(dict.fromkeys(k for v in tuned.variants.values() for k in v.space))
    rows = []
    for name, v in tuned.variants.items():
        best = "—" if v.best_value is None else f"{v.best_value:.4g} (trial {v.best_trial})"
        cells = [name, f"{v.trials_complete}/{tuned.budget.get(name, '?')}", best]
        cfg = run.sub_configs.get(f"variants/{name}/config.yaml")
        used = cfg.model_dump(mode="json") if cfg is not None else {}
        for key in keys:
            if key not in v.space:  # the value it kept, from its config in this run
                kept = get_dotted(used, key)
                cells.append(f"{_setting(kept) if cfg is not None else '?'} (not searched)")
            elif key in v.fixed:
                cells.append(f"{_setting(v.fixed[key])} → {_setting(v.settings.get(key))}")
            else:  # folders written before `fixed` was recorded
                cells.append(_setting(v.settings.get(key)))
        rows.append(cells)
    return Table(
        ["variant", "trials", f"best {tuned.objective or 'value'} (validation)", *keys],
        rows,
        f"{run.label} best settings per variant on validation (fixed protocol → tuned)",
    )


def tuned_section(run: Run, fixed_runs: list[Run]) -> list[Block]:
    """How the tuned run was tuned, its best settings beside the fixed protocol's, and each
    variant's test accuracy beside the same variant of the fixed-protocol ablations (paired
    over the seeds both ran: the same splits per seed)."""
    tuned = run.tuned
    if tuned is None:
        return []
    seeds = ", ".join(map(str, tuned.trial_seeds)) or "?"
    blocks: list[Block] = [
        Heading(3, f"{run.label}: {tuned.label}"),
        Para(
            f"Every variant of {run.label} was tuned on validation with the same budget "
            f"({tuned.trials_text}; "
            f"{tuned.sampler or 'TPE'}), each trial scored by its {tuned.objective} over the "
            f"trial seeds {seeds} (their validation rows: no trial read a test row), then each "
            f"variant's best settings trained on {len(run.seeds)} seeds and tested once: the "
            "table above. Its rows in the verdicts are labelled with this protocol."
        ),
        tuned_settings_table(run),
    ]
    rows = []
    for m in model_results(run):
        for other in fixed_runs:
            if other.dataset != run.dataset:
                continue
            for f in model_results(other):
                if f.variant != m.variant:
                    continue
                rows.append([str(m.variant), f"{other.label} ({f.setup})", fmt.mean_std(f.acc),
                             fmt.mean_std(m.acc), _paired_text(run, m, other, f)])  # fmt: skip
    if rows:
        blocks.append(
            Table(
                [
                    "variant",
                    "fixed protocol (run)",
                    "fixed: accuracy",
                    "tuned: accuracy",
                    "tuned - fixed (paired over common seeds, raw p)",
                ],
                rows,
                f"{run.label}: test accuracy tuned on validation beside the fixed protocol",
            )  # fmt: skip
        )
    return blocks


def _paired_text(run: Run, m: ModelResult, other: Run, f: ModelResult) -> str:
    """tuned - fixed over the seeds both ran, paired (the same split per seed)."""
    a = dict(zip(run.seeds, m.per_seed_acc or [], strict=False))
    b = dict(zip(other.seeds, f.per_seed_acc or [], strict=False))
    common = [s for s in a if s in b]
    if len(common) < 2:
        return fmt.NA
    d = paired_comparison([a[s] for s in common], [b[s] for s in common], "tuned", "fixed")
    p = fmt.p_value(d["p"]) if fmt.finite(d["p"]) else "n/a (no difference)"
    return (
        f"{100 * d['mean_diff']:+.1f} points (95 % CI [{100 * d['ci_low']:+.1f}, "
        f"{100 * d['ci_high']:+.1f}], p = {p}, n = {len(common)})"
    )


def noise_sections(runs: list[Run], figure: FigureFn, paper: Paper) -> list[Block]:
    return _each("Noise sweeps", "noise-sweep", runs, lambda r: noise_section(r, figure, paper))


def efficiency_sections(runs: list[Run], figure: FigureFn, paper: Paper) -> list[Block]:
    return _each(
        "Parameter efficiency", "efficiency", runs, lambda r: efficiency_section(r, figure)
    )


def train_sections(runs: list[Run], figure: FigureFn, paper: Paper) -> list[Block]:
    return train_section(runs, figure) if runs else []
