"""Table II and Sec. VI-C: accuracy under depolarizing noise, the classical baseline, the
advantage up to eps = 0.02 and the breakdown point, measured on noise sweeps (both modes);
the paper's values beside our noise table."""

from __future__ import annotations

import math

from qmoe_cli.metrics import holm
from qmoe_cli.paper.hybrid_qmoe.printed import (
    PAPER_CLASSICAL,
    PAPER_EPOCHS,
    PAPER_TABLE_II,
)
from qmoe_cli.report import fmt
from qmoe_cli.report.inputs import Run
from qmoe_cli.report.measured import ModelResult, NoiseSweep, experts_type
from qmoe_cli.report.verdicts import (
    ALPHA,
    NOT_MEASURED,
    NOT_REPRODUCED,
    OVERSTATES,
    REPRODUCED,
    UNDERSTATES,
    Claim,
    Evidence,
    Finding,
    Paired,
    budget_problem,
    combine,
    fmt_p,
    judge_single,
    numbers_of,
    over_sweeps,
    paired,
    sweeps_for,
)


def noise_level(claim: Claim, ev: Evidence, level: float) -> list[Finding]:
    def judge(sweep: NoiseSweep) -> Finding:
        if sweep.row_at(level) is None:
            levels = ", ".join(fmt.eps(x) for x in sweep.levels)
            reason = f"eps = {level:g} is not among this sweep's levels ({levels})"
            return Finding(claim, sweep.source, "", NOT_MEASURED, reason)
        return judge_single(
            claim,
            sweep.source,
            sweep.seeds_at(level),
            sweep.epoch_budget,
            PAPER_EPOCHS,
            n_test=sweep.n_test,
        )

    return over_sweeps(claim, ev, judge)


def noise_classical(claim: Claim, ev: Evidence) -> list[Finding]:
    def judge(sweep: NoiseSweep) -> Finding:
        bases = sweep.linear_baselines
        if not bases:
            return Finding(claim, sweep.source, "", NOT_MEASURED, "no classical baseline")
        alts = [
            (
                f"{base.variant}",
                judge_single(
                    claim,
                    f"{sweep.run.label} baseline {base.variant}: {base.router} router",
                    base.per_seed_acc,
                    base.epoch_budget,
                    PAPER_EPOCHS,
                    n_test=base.n_test,
                ),
            )
            for base in bases
        ]
        return combine(claim, sweep.source, alts)

    return over_sweeps(claim, ev, judge)


def noise_advantage(claim: Claim, ev: Evidence) -> list[Finding]:
    """Per sweep and linear baseline (each input scaling an alternative), the quantum router
    against the baseline at eps = 0.02, paired over seeds; the claim's family is every such
    test (modes, layouts, baselines, runs), Holm-adjusted."""
    level = claim.value
    tests: dict[tuple[int, str], tuple[Paired, list[float], list[float]]] = {}
    for sweep in sweeps_for(claim, ev):
        quantum = sweep.seeds_at(level)
        if not quantum or budget_problem(len(quantum), sweep.epoch_budget, PAPER_EPOCHS):
            continue
        for base in sweep.linear_baselines:
            if base.per_seed_acc and len(base.per_seed_acc) == len(quantum):
                key = (id(sweep), base.variant or "")
                tests[key] = (paired(quantum, base.per_seed_acc), quantum, base.per_seed_acc)
    adjusted = dict(zip(tests, holm([d.p for d, _, _ in tests.values()]), strict=True))

    def judge_one(sweep: NoiseSweep, base: ModelResult) -> Finding:
        key = (id(sweep), base.variant or "")
        if key not in tests:
            n = len(sweep.seeds_at(level) or [])
            problem = budget_problem(n, sweep.epoch_budget, PAPER_EPOCHS) if n else ""
            why = problem or f"no per-seed baseline or no eps = {level:g} level in this sweep"
            return Finding(claim, sweep.source, "", NOT_MEASURED, why)
        d, quantum, baseline = tests[key]
        p = adjusted[key]
        ok = fmt.finite(p) and p < ALPHA and d.mean_diff > 0
        measured = (
            f"quantum - {base.variant} at eps = {level:g}: {100 * d.mean_diff:+.1f} points "
            f"(95 % CI [{100 * d.ci_low:+.1f}, {100 * d.ci_high:+.1f}], Holm-adjusted p = "
            f"{fmt_p(p)} over the claim's {len(tests)} tests)"
        )
        if ok:
            why = "significantly above the baseline"
        elif fmt.finite(p) and p < ALPHA:
            why = f"{OVERSTATES}: the quantum router is significantly below the baseline"
        else:
            why = f"{OVERSTATES}: no significant advantage over the baseline"
        return Finding(
            claim,
            sweep.source,
            measured,
            REPRODUCED if ok else NOT_REPRODUCED,
            why,
            100 * d.mean_diff,
            100 * d.ci_low,
            100 * d.ci_high,
            "95 % CI of the paired difference (points)",
            numbers_of("noise.advantage", quantum, baseline),
        )

    def judge(sweep: NoiseSweep) -> Finding:
        bases = sweep.linear_baselines
        if not bases:
            return Finding(claim, sweep.source, "", NOT_MEASURED, "no classical baseline")
        alts = [(f"vs {base.variant}", judge_one(sweep, base)) for base in bases]
        return combine(claim, sweep.source, alts)

    return over_sweeps(claim, ev, judge)


def noise_breakdown(claim: Claim, ev: Evidence) -> list[Finding]:
    """The crossing with each linear baseline (each input scaling an alternative)."""

    def judge_one(sweep: NoiseSweep, base: ModelResult) -> Finding:
        b = sweep.breakdown_vs(base)
        source = f"{sweep.source}, vs {base.variant}"
        if b is None:
            return Finding(claim, source, "", NOT_MEASURED, "no per-seed numbers at every level")
        top = max(sweep.levels) if sweep.levels else math.nan
        n = len(b.per_seed)
        problem = budget_problem(n, sweep.epoch_budget, PAPER_EPOCHS)
        if not problem and top < claim.value:
            problem = f"the sweep stops at eps = {fmt.eps(top)}, below the paper's 0.025"
        interval = b.interval
        if not problem and interval is None:
            problem = "the run has no interval for the breakdown point"
        eps = b.eps
        point = f"{fmt.num(eps, 4)}" if fmt.finite(eps) else f"never up to {fmt.eps(top)}"
        if problem or interval is None:
            return Finding(claim, source, point, NOT_MEASURED, problem)
        low, high = interval.low, interval.high
        high_open = interval.high_censored
        shown = fmt.censored_interval(low, high, interval.low_censored, high_open)
        censor = (
            f"{b.seeds_never} of {n} seeds never fall to the baseline, "
            f"{b.seeds_at_first_level} are at or below it at the first level"
        )
        measured = (
            f"vs {base.variant} ({fmt.pct(b.baseline_accuracy)}): {point} (95 % bootstrap "
            f"interval {shown}; {censor})"
        )
        r = claim.rounding
        if claim.value - r > high and not high_open:
            category, why = NOT_REPRODUCED, f"{OVERSTATES}: ~0.025 lies above the interval"
        elif claim.value + r < low:
            category, why = NOT_REPRODUCED, f"{UNDERSTATES}: ~0.025 lies below the interval"
        else:
            category, why = REPRODUCED, "~0.025 lies inside the interval"
        return Finding(
            claim,
            source,
            measured,
            category,
            why,
            eps if fmt.finite(eps) else None,
            low,
            top if high_open else high,
            "95 % bootstrap interval over seeds",
            numbers_of("noise.breakdown", [x if x is not None else -1 for x in b.per_seed]),
        )

    def judge(sweep: NoiseSweep) -> Finding:
        bases = sweep.linear_baselines
        if not bases:
            return Finding(claim, sweep.source, "", NOT_MEASURED, "no classical baseline")
        return combine(
            claim, sweep.source, [(f"vs {b.variant}", judge_one(sweep, b)) for b in bases]
        )

    return over_sweeps(claim, ev, judge)


def noise_columns(run: Run, level: float) -> dict[str, str]:
    """The paper's Table II beside a Two Moons noise sweep's level."""
    fully_quantum = experts_type(run.model) == "quantum"
    if run.dataset != "two_moons" or fully_quantum:
        return {}  # the paper's Table II is its hybrid's, not a fully quantum model's
    paper = next((v for k, v in PAPER_TABLE_II.items() if math.isclose(k, level)), None)
    return {
        "paper quantum": fmt.pct(paper, 0) if paper is not None else "—",
        "paper classical": fmt.pct(PAPER_CLASSICAL, 0) if paper is not None else "—",
    }
