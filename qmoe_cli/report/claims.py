"""The paper's numeric claims, and how each is confronted with the runs given to the report.

`CLAIMS` holds one entry per claim (DESIGN.md, "What the paper claims"): its id, the claim
in words, the paper's value, which kind of run measures it and how. `evaluate(evidence)`
returns one `Finding` per claim and measuring source (a claim measured by two runs gets two
rows; a claim no given run measures gets one "not measured" row saying which run is missing).

Verdicts: "consistent" when the paper's value lies inside the measured 95 % confidence
interval (for an ordering claim: the measured ordering agrees and is significant), "not
consistent" with the reason, "not measured" with why.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from qmoe_cli.report import fmt
from qmoe_cli.report.inputs import (
    ModelResult,
    NoiseSweep,
    Run,
    Stat,
    model_results,
    noise_sweep,
)

CONSISTENT = "consistent"
NOT_CONSISTENT = "not consistent"
NOT_MEASURED = "not measured"
VERDICTS = (CONSISTENT, NOT_CONSISTENT, NOT_MEASURED)

# The paper's Table I: model -> (router type, accuracy, router parameters, printed eta).
PAPER_TABLE_I = {
    "A": ("linear", 0.65, 12, 2.79),
    "C": ("mlp", 0.93, 240, 3.82),
    "B": ("quantum", 0.94, 24, 7.14),
}
PAPER_MODEL_NAMES = {"A": "linear router (Model A)", "B": "quantum router (Model B)"}
PAPER_MODEL_NAMES["C"] = "deep classical router (Model C)"
# The paper's Table II (Two Moons): eps -> quantum accuracy; the classical baseline is flat.
PAPER_TABLE_II = {0.0: 0.94, 0.005: 0.92, 0.01: 0.89, 0.02: 0.82, 0.03: 0.73}
PAPER_CLASSICAL = 0.65
PAPER_BREAKDOWN = 0.025
# Section VI-B: MNIST 0 vs 1, PCA to 8 features.
PAPER_MNIST = {"quantum": (0.965, 32), "classical": (0.958, 128)}
PAPER_ETA_RATIO = (1.5, 2.5)
WIDE_CI = 0.2  # an accuracy CI wider than 20 points hardly tests anything: say so


@dataclass(frozen=True)
class Claim:
    id: str
    where: str  # place in the paper
    text: str  # the claim in words
    paper: float | tuple[float, float]  # accuracy as a fraction; a range for eta.ratio
    paper_text: str  # as the paper prints it
    unit: str  # accuracy | params | eta | epochs | eps | ratio
    run_kind: str  # which kind of run measures it
    how: str  # how the measured value is obtained from that run
    measure: str  # the measuring function in MEASURES
    args: tuple = ()


def _table_i_claims() -> list[Claim]:
    claims = []
    for model, (router, acc, params, eta) in PAPER_TABLE_I.items():
        who = f"Two Moons, {PAPER_MODEL_NAMES[model]}"
        source = f"ablate on two_moons (the variant with a {router} router), or train on two_moons"
        claims += [
            Claim(
                f"table1.{model}.accuracy",
                "Table I, Sec. VI-A",
                f"{who}: test accuracy",
                acc,
                f"{100 * acc:.0f} %",
                "accuracy",
                source,
                "held-out test accuracy: mean over seeds, 95 % t-interval",
                "model_accuracy",
                (router,),
            ),
            Claim(
                f"table1.{model}.params",
                "Table I",
                f"{who}: router parameters",
                params,
                str(params),
                "params",
                source,
                "trainable parameters of the router (experts not counted)",
                "model_params",
                (router,),
            ),
            Claim(
                f"table1.{model}.eta",
                "Table I",
                f"{who}: efficiency ratio eta",
                eta,
                f"{eta:.2f}",
                "eta",
                source,
                "eta = accuracy fraction / ln(1 + router parameters) per seed; mean, 95 % CI",
                "model_eta",
                (router, acc, params),
            ),
        ]
    return claims


def _table_ii_claims() -> list[Claim]:
    claims = [
        Claim(
            f"table2.eps={level:g}",
            "Table II, Sec. VI-C",
            f"Two Moons, quantum router under depolarizing noise eps = {level:g}: test accuracy",
            acc,
            f"{100 * acc:.0f} %",
            "accuracy",
            "noise-sweep on two_moons with this level (each mode is its own row)",
            "quantum router's test accuracy at this level: mean over seeds, 95 % t-interval",
            "noise_level",
            (level,),
        )
        for level, acc in PAPER_TABLE_II.items()
    ]
    claims.append(
        Claim(
            "table2.classical",
            "Table II",
            "Two Moons, classical baseline beside the noisy quantum router: test accuracy",
            PAPER_CLASSICAL,
            "65 %",
            "accuracy",
            "noise-sweep on two_moons with a classical baseline",
            "the sweep's linear-router baseline (else its best baseline): mean, 95 % CI",
            "noise_classical",
        )
    )
    claims.append(
        Claim(
            "noise.breakdown",
            "Sec. VI-C",
            "breakdown point: the eps at which the quantum router falls to the classical baseline",
            PAPER_BREAKDOWN,
            "~0.025",
            "eps",
            "noise-sweep on two_moons with a classical baseline",
            "eps where the quantum accuracy falls to the best baseline's (linear interpolation "
            "between levels); 95 % t-interval over the per-seed breakdown points",
            "noise_breakdown",
        )
    )
    return claims


CLAIMS: tuple[Claim, ...] = (
    *_table_i_claims(),
    Claim(
        "mnist.quantum",
        "Sec. VI-B",
        "MNIST 0 vs 1 (PCA 8), quantum router with 32 parameters: test accuracy",
        0.965,
        "96.5 % (32 params)",
        "accuracy",
        "efficiency on mnist",
        "the quantum point with 32 router parameters (else the nearest count): mean test "
        "accuracy over seeds, 95 % t-interval",
        "efficiency_point",
        ("mnist", ("quantum",), 32),
    ),
    Claim(
        "mnist.classical",
        "Sec. VI-B",
        "MNIST 0 vs 1 (PCA 8), classical router with 128 parameters: test accuracy",
        0.958,
        "95.8 % (128 params)",
        "accuracy",
        "efficiency on mnist",
        "the MLP-router point (else linear) with 128 router parameters (else the nearest "
        "count): mean test accuracy over seeds, 95 % t-interval",
        "efficiency_point",
        ("mnist", ("mlp", "linear"), 128),
    ),
    Claim(
        "eta.ratio",
        "Sec. VI-B",
        "eta across datasets: the quantum router ahead of the classical router by 1.5x to 2.5x",
        PAPER_ETA_RATIO,
        "1.5x to 2.5x",
        "ratio",
        "ablate (any dataset) and efficiency runs",
        "per dataset, eta(quantum) / eta(MLP router): ablation variants; efficiency runs: the "
        "smallest of each reaching the highest accuracy threshold both reach (else the most "
        "accurate of each). Consistent when quantum's eta CI lies above the MLP's on every "
        "measured dataset and each ratio's interval meets 1.5-2.5",
        "eta_ratio",
    ),
    *_table_ii_claims(),
    Claim(
        "convergence.quantum",
        "Sec. VI-D",
        "Two Moons: the quantum router reaches 90 % accuracy within 20 epochs",
        20,
        "20 epochs",
        "epochs",
        "ablate on two_moons (quantum variant), or train on two_moons",
        "first epoch with validation accuracy >= 90 % (the paper does not say which split): "
        "mean over seeds, 95 % t-interval",
        "convergence",
        ("quantum",),
    ),
    Claim(
        "convergence.deep_classical",
        "Sec. VI-D",
        "Two Moons: the deep classical router reaches 90 % accuracy within 50 epochs",
        50,
        "50 epochs",
        "epochs",
        "ablate on two_moons (MLP variant), or train on two_moons",
        "first epoch with validation accuracy >= 90 %: mean over seeds, 95 % t-interval",
        "convergence",
        ("mlp",),
    ),
)


@dataclass
class Finding:
    claim: Claim
    source: str  # which run (and variant / mode) measured it; "" when not measured
    measured: str  # the measured value with its 95 % CI, as text
    verdict: str
    reason: str
    value: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None

    def as_dict(self) -> dict:
        return {
            "id": self.claim.id,
            "claim": self.claim.text,
            "paper": self.claim.paper_text,
            "source": self.source,
            "measured": self.measured,
            "value": self.value,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "verdict": self.verdict,
            "reason": self.reason,
        }


@dataclass
class Evidence:
    """What the given runs measured, gathered once for all claims."""

    runs: list[Run]
    models: list[ModelResult] = field(default_factory=list)  # ablate variants, train runs
    sweeps: list[NoiseSweep] = field(default_factory=list)
    efficiency: list[Run] = field(default_factory=list)

    @classmethod
    def gather(cls, runs: list[Run]) -> Evidence:
        ev = cls(runs)
        for run in runs:
            if run.kind in ("ablate", "train"):
                ev.models += model_results(run)
            elif run.kind == "noise-sweep":
                ev.sweeps.append(noise_sweep(run))
            elif run.kind == "efficiency":
                ev.efficiency.append(run)
        return ev


def evaluate(ev: Evidence) -> list[Finding]:
    findings = []
    for claim in CLAIMS:
        findings += MEASURES[claim.measure](claim, ev, *claim.args)
    return findings


# --- verdict helpers ----------------------------------------------------------------------


def _judge(claim: Claim, source: str, s: Stat, note: str = "") -> Finding:
    """Consistent iff the paper's value lies inside the measured 95 % CI."""
    measured = fmt.with_ci(s, claim.unit)
    paper = claim.paper_text
    if not fmt.finite(s.mean):
        verdict, reason = NOT_MEASURED, "the run recorded no value"
    elif not s.has_ci:
        verdict = NOT_MEASURED
        reason = f"{s.n or 1} seed(s) give no 95 % confidence interval: run at least 2 seeds"
    elif s.contains(claim.paper):
        verdict, reason = CONSISTENT, f"the paper's {paper} lies inside the measured 95 % CI"
        if claim.unit == "accuracy" and s.ci_high - s.ci_low > WIDE_CI:
            reason += (
                f" (a wide interval, {100 * (s.ci_high - s.ci_low):.0f} points: more seeds "
                "would make this a sharper test)"
            )
    else:
        side = "above" if claim.paper > s.ci_high else "below"
        verdict = NOT_CONSISTENT
        reason = f"the paper's {paper} lies {side} the measured 95 % CI {fmt.ci(s, claim.unit)}"
    reason = f"{reason}; {note}" if note else reason
    return Finding(
        claim, source, measured, verdict, reason, _opt(s.mean), _opt(s.ci_low), _opt(s.ci_high)
    )


def _opt(x: float) -> float | None:
    return x if fmt.finite(x) else None


def _missing(claim: Claim, reason: str) -> list[Finding]:
    return [Finding(claim, "", "", NOT_MEASURED, reason)]


def _two_moons_models(ev: Evidence, router: str) -> list[ModelResult]:
    return [m for m in ev.models if m.router == router and m.run.dataset == "two_moons"]


def _no_model_reason(ev: Evidence, router: str) -> str:
    reason = f"no ablate or train run on two_moons with a {router} router was given"
    others = sorted({m.run.label for m in ev.models if m.run.dataset != "two_moons"})
    return reason + (f" (given runs {', '.join(others)} are on other datasets)" if others else "")


# --- measuring functions: (claim, evidence, *claim.args) -> findings -------------------------


def model_accuracy(claim: Claim, ev: Evidence, router: str) -> list[Finding]:
    models = _two_moons_models(ev, router)
    if not models:
        return _missing(claim, _no_model_reason(ev, router))
    return [_judge(claim, m.source, m.acc) for m in models]


def model_params(claim: Claim, ev: Evidence, router: str) -> list[Finding]:
    models = _two_moons_models(ev, router)
    if not models:
        return _missing(claim, _no_model_reason(ev, router))
    findings = []
    for m in models:
        if m.router_params is None:
            findings.append(Finding(claim, m.source, "", NOT_MEASURED, "no parameter count"))
        elif m.router_params == claim.paper:
            findings.append(
                Finding(claim, m.source, str(m.router_params), CONSISTENT, "the same count")
            )
        else:
            note = (
                "; the paper gives no layout for its 240 (two hidden layers of 12 give 244)"
                if router == "mlp"
                else ""
            )
            reason = f"the measured router has {m.router_params} parameters, set by its config"
            findings.append(
                Finding(
                    claim,
                    m.source,
                    str(m.router_params),
                    NOT_CONSISTENT,
                    reason + note,
                    float(m.router_params),
                )
            )
    return findings


def model_eta(
    claim: Claim, ev: Evidence, router: str, paper_acc: float, paper_params: int
) -> list[Finding]:
    models = _two_moons_models(ev, router)
    if not models:
        return _missing(claim, _no_model_reason(ev, router))
    from_formula = paper_acc / math.log1p(paper_params)
    note = (
        f"the paper's own {100 * paper_acc:.0f} % and {paper_params} parameters give "
        f"{from_formula:.3f} by the formula, and no eta above 1/ln(1 + {paper_params}) = "
        f"{1 / math.log1p(paper_params):.3f} is reachable with the natural log; the printed "
        f"{claim.paper:.2f} needs log base {implied_base(paper_acc, paper_params, claim.paper):.3g}"
        ", a different base for every row of Table I"
    )
    findings = []
    for m in models:
        f = _judge(claim, m.source, m.eta)
        if f.verdict == NOT_CONSISTENT:
            f.reason += f"; {note}"
        findings.append(f)
    return findings


def implied_base(acc: float, params: int, eta: float) -> float:
    """The log base b with acc / log_b(1 + P) = eta: b = (1 + P) ** (eta / acc)."""
    return (1 + params) ** (eta / acc)


def efficiency_point(
    claim: Claim, ev: Evidence, dataset: str, routers: tuple[str, ...], target: int
) -> list[Finding]:
    runs = [r for r in ev.efficiency if r.dataset == dataset]
    if not runs:
        given = ", ".join(
            f"{r.label} on {r.dataset or 'an unknown dataset'}" for r in ev.efficiency
        )
        why = f"no efficiency run on {dataset} was given" + (f" (given: {given})" if given else "")
        return _missing(claim, why)
    findings = []
    for run in runs:
        source = f"{run.label} (efficiency on {dataset})"
        if run.metrics.get("skipped"):
            reason = f"the efficiency run {run.label} was skipped: {run.metrics['skipped']}"
            findings.append(Finding(claim, source, "", NOT_MEASURED, reason))
            continue
        points = model_results(run)
        candidates = []
        for router in routers:
            candidates = [p for p in points if p.router == router and p.router_params]
            if candidates:
                break
        if not candidates:
            reason = f"{run.label} has no {' or '.join(routers)} router point"
            findings.append(Finding(claim, source, "", NOT_MEASURED, reason))
            continue
        best = min(candidates, key=lambda p: abs(math.log(p.router_params / target)))
        note = (
            ""
            if best.router_params == target
            else f"no {target}-parameter point: nearest is {best.router_params} parameters"
        )
        setup = _setup_difference(run)
        note = "; ".join(x for x in (note, setup) if x)
        findings.append(_judge(claim, best.source, best.acc, note))
    return findings


def _setup_difference(run: Run) -> str:
    """How an MNIST efficiency run differs from the paper's setup (0 vs 1, PCA 8)."""
    data = (run.config or {}).get("data")
    if not isinstance(data, dict):
        return ""
    diffs = []
    if data.get("classes") != [0, 1]:
        diffs.append(f"classes {data.get('classes') or 'all'} (paper: 0 vs 1)")
    if data.get("pca_components") != 8:
        diffs.append(f"PCA {data.get('pca_components')} (paper: 8)")
    return "setup differs from the paper: " + ", ".join(diffs) if diffs else ""


def eta_ratio(claim: Claim, ev: Evidence) -> list[Finding]:
    pairs: list[tuple[str, ModelResult, ModelResult]] = []
    skipped = []
    for run in ev.runs:
        if run.kind not in ("ablate", "efficiency"):
            continue
        if run.kind == "efficiency" and run.metrics.get("skipped"):
            skipped.append(f"{run.label} ({run.dataset}) skipped: {run.metrics['skipped']}")
            continue
        pair = _eta_pair(run)
        if pair is None:
            skipped.append(f"{run.label} ({run.dataset}) has no quantum and MLP router pair")
        else:
            pairs.append((f"{run.dataset} ({run.label})", *pair))
    if not pairs:
        why = "no ablate or efficiency run with both a quantum and an MLP router was given"
        return _missing(claim, why + (f"; {'; '.join(skipped)}" if skipped else ""))
    measured, problems, undetermined = [], [], []
    lo_target, hi_target = claim.paper
    for name, q, c in pairs:
        qe, ce = q.eta, c.eta
        ratio = qe.mean / ce.mean if ce.mean else math.nan
        text = (
            f"{name}: {fmt.value(ratio, 'ratio')} (eta {fmt.num(qe.mean)} at P = "
            f"{q.router_params} vs {fmt.num(ce.mean)} at P = {c.router_params}"
        )
        if not (qe.has_ci and ce.has_ci):
            measured.append(text + ")")
            undetermined.append(f"{name}: no 95 % CI (one seed)")
            continue
        low = qe.ci_low / ce.ci_high if ce.ci_high > 0 else math.nan
        high = qe.ci_high / ce.ci_low if ce.ci_low > 0 else math.inf
        measured.append(text + f", interval [{fmt.num(low, 2)}, {fmt.num(high, 2)}])")
        if not qe.ci_low > ce.ci_high:
            problems.append(f"{name}: quantum's eta CI does not lie above the MLP router's")
        elif high < lo_target or low > hi_target:
            problems.append(f"{name}: the ratio's interval misses {lo_target}-{hi_target}x")
    covered = {n.split(" ")[0] for n, _, _ in pairs}
    absent = [d for d in ("two_moons", "mnist", "fashion_mnist") if d not in covered]
    coverage = f"not measured on {', '.join(absent)}" if absent else "all three datasets"
    if problems:
        verdict, reason = NOT_CONSISTENT, "; ".join(problems)
    elif undetermined:
        verdict, reason = NOT_MEASURED, "; ".join(undetermined)
    else:
        verdict = CONSISTENT
        reason = "quantum's eta is significantly higher on every measured dataset, by 1.5x-2.5x"
    reason += f" ({coverage}). {paper_eta_ratio_note()}"
    if skipped:
        reason += f" Not usable: {'; '.join(skipped)}."
    source = ", ".join(sorted({p[1].run.label for p in pairs}))
    return [Finding(claim, source, "; ".join(measured), verdict, reason)]


def paper_eta_ratio_note() -> str:
    _, a_acc, a_p, _ = PAPER_TABLE_I["A"]
    _, c_acc, c_p, _ = PAPER_TABLE_I["C"]
    _, b_acc, b_p, _ = PAPER_TABLE_I["B"]
    (q_acc, q_p), (k_acc, k_p) = PAPER_MNIST["quantum"], PAPER_MNIST["classical"]

    def eta(a, p):
        return a / math.log1p(p)

    return (
        "The paper's own accuracies and parameter counts give, by the formula, "
        f"{eta(b_acc, b_p) / eta(c_acc, c_p):.2f}x (Two Moons, B vs C), "
        f"{eta(b_acc, b_p) / eta(a_acc, a_p):.2f}x (B vs A) and "
        f"{eta(q_acc, q_p) / eta(k_acc, k_p):.2f}x (MNIST, 32 vs 128 parameters)."
    )


def _eta_pair(run: Run) -> tuple[ModelResult, ModelResult] | None:
    models = model_results(run)
    quantum = [m for m in models if m.router == "quantum" and m.router_params]
    mlp = [m for m in models if m.router == "mlp" and m.router_params]
    if not quantum or not mlp:
        return None
    if run.kind == "ablate":
        return _prefer(quantum, "B"), _prefer(mlp, "C")
    by_variant = {m.variant: m for m in models}
    reaching = run.metrics.get("smallest_reaching") or {}
    thresholds = sorted((t for t in reaching if fmt.finite(_float(t))), key=_float, reverse=True)
    for threshold in thresholds:
        entry = reaching[threshold] or {}
        q, c = entry.get("quantum"), entry.get("mlp")
        if q and c and q.get("variant") in by_variant and c.get("variant") in by_variant:
            return by_variant[q["variant"]], by_variant[c["variant"]]
    key = lambda m: (m.acc.mean if fmt.finite(m.acc.mean) else -1, -m.router_params)  # noqa: E731
    return max(quantum, key=key), max(mlp, key=key)


def _prefer(models: list[ModelResult], variant: str) -> ModelResult:
    return next((m for m in models if m.variant == variant), models[0])


def _float(text) -> float:
    try:
        return float(text)
    except (TypeError, ValueError):
        return math.nan


def _two_moons_sweeps(ev: Evidence) -> list[NoiseSweep]:
    return [s for s in ev.sweeps if s.run.dataset == "two_moons"]


def _no_sweep_reason(ev: Evidence) -> str:
    reason = "no noise-sweep run on two_moons was given"
    others = [f"{s.run.label} is on {s.run.dataset}" for s in ev.sweeps]
    return reason + (f" ({'; '.join(others)})" if others else "")


def noise_level(claim: Claim, ev: Evidence, level: float) -> list[Finding]:
    sweeps = _two_moons_sweeps(ev)
    if not sweeps:
        return _missing(claim, _no_sweep_reason(ev))
    findings = []
    for sweep in sweeps:
        row = sweep.row_at(level)
        if row is None:
            levels = ", ".join(fmt.eps(x) for x in sweep.levels)
            reason = f"eps = {level:g} is not among this sweep's levels ({levels})"
            findings.append(Finding(claim, sweep.source, "", NOT_MEASURED, reason))
            continue
        stat = Stat.from_row(row, "quantum", len(sweep.run.seeds) or None)
        findings.append(_judge(claim, sweep.source, stat))
    return findings


def noise_classical(claim: Claim, ev: Evidence) -> list[Finding]:
    sweeps = _two_moons_sweeps(ev)
    if not sweeps:
        return _missing(claim, _no_sweep_reason(ev))
    findings = []
    for sweep in sweeps:
        base = sweep.classical
        if base is None:
            reason = "this sweep has no classical baseline"
            findings.append(Finding(claim, sweep.source, "", NOT_MEASURED, reason))
            continue
        source = f"{sweep.run.label} baseline {base.variant}: {base.router} router"
        findings.append(_judge(claim, source, base.acc))
    return findings


def noise_breakdown(claim: Claim, ev: Evidence) -> list[Finding]:
    sweeps = _two_moons_sweeps(ev)
    if not sweeps:
        return _missing(claim, _no_sweep_reason(ev))
    note = paper_breakdown_note()
    findings = []
    for sweep in sweeps:
        b, source = sweep.breakdown, f"{sweep.source}, vs {sweep.best_baseline}"
        top = max(sweep.levels) if sweep.levels else math.nan
        if b is None:
            findings.append(Finding(claim, source, "", NOT_MEASURED, "no classical baseline"))
            continue
        eps, ci = b.get("eps"), b.get("ci")
        if eps is None:
            measured = f"never within the levels (up to {fmt.eps(top)})"
            if top < claim.paper:
                verdict = NOT_MEASURED
                reason = f"the sweep stops at eps = {fmt.eps(top)}, below the paper's 0.025"
            else:
                verdict = NOT_CONSISTENT
                reason = f"the quantum router stays above the baseline up to {fmt.eps(top)}"
            findings.append(Finding(claim, source, measured, verdict, f"{reason}; {note}"))
            continue
        if sweep.levels and eps == min(sweep.levels):
            measured = f"at eps = {fmt.eps(eps)} (the first level)"
            reason = "the quantum router is not ahead of the baseline even at the lowest level"
            findings.append(Finding(claim, source, measured, NOT_CONSISTENT, reason, eps))
            continue
        if isinstance(ci, dict):
            stat = Stat.from_ci(ci)
            stat = Stat(float(eps), stat.std, stat.ci_low, stat.ci_high, stat.n)
            findings.append(_judge(claim, source, stat, note))
            continue
        without = b.get("seeds_without_breakdown") or 0
        why = (
            f"{without} of {len(b.get('per_seed') or [])} seeds never fall to the baseline "
            f"within the levels (up to {fmt.eps(top)}), so there is no CI"
            if without
            else "one seed gives no 95 % CI: run at least 2 seeds"
        )
        finding = Finding(claim, source, f"{fmt.eps(eps)} (no CI)", NOT_MEASURED, why, eps)
        findings.append(finding)
    return findings


def paper_breakdown_note() -> str:
    last = max(PAPER_TABLE_II)
    return (
        f"by the paper's own Table II the quantum router is still above {PAPER_CLASSICAL:.0%} "
        f"at eps = {last:g} ({PAPER_TABLE_II[last]:.0%}), so its breakdown would lie beyond "
        f"{last:g}, not at ~{PAPER_BREAKDOWN}"
    )


def convergence(claim: Claim, ev: Evidence, router: str) -> list[Finding]:
    from qmoe_cli.metrics import mean_ci

    models = _two_moons_models(ev, router)
    if not models:
        return _missing(claim, _no_model_reason(ev, router))
    findings = []
    for m in models:
        if not m.epochs_to_90:
            reason = "the run does not record the epoch each seed reached 90 %"
            findings.append(Finding(claim, m.source, "", NOT_MEASURED, reason))
            continue
        reached = [e for e in m.epochs_to_90 if e is not None]
        n, k = len(m.epochs_to_90), len(reached)
        if k < n:
            budget = m.epoch_budget
            measured = f"{k} of {n} seeds reach 90 % validation accuracy"
            if reached:
                measured += f" (mean epoch {sum(reached) / k:.1f})"
            if budget is not None and budget < claim.paper:
                verdict = NOT_MEASURED
                reason = f"the run trains at most {budget} epochs, fewer than the paper's "
                reason += f"{claim.paper_text}"
            else:
                verdict = NOT_CONSISTENT
                reason = f"{n - k} of {n} seeds never reach 90 % validation accuracy"
                reason += f" within the run's {budget} epochs" if budget else ""
                reason += " (early stopping may end a run first)"
            findings.append(Finding(claim, m.source, measured, verdict, reason))
            continue
        findings.append(_judge(claim, m.source, Stat.from_ci(mean_ci(reached))))
    return findings


MEASURES = {
    "model_accuracy": model_accuracy,
    "model_params": model_params,
    "model_eta": model_eta,
    "efficiency_point": efficiency_point,
    "eta_ratio": eta_ratio,
    "noise_level": noise_level,
    "noise_classical": noise_classical,
    "noise_breakdown": noise_breakdown,
    "convergence": convergence,
}
