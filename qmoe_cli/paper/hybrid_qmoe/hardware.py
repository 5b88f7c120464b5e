"""Abstract, Sec. VI-C and VIII-B4: NISQ feasibility, measured on `qmoe hardware` runs (the
trained routers on fake IBM devices of different quality) against the classical baseline."""

from __future__ import annotations

import math

import numpy as np

from qmoe_cli import records
from qmoe_cli.metrics import holm
from qmoe_cli.paper.hybrid_qmoe.printed import PAPER_EPOCHS
from qmoe_cli.report import fmt
from qmoe_cli.report.inputs import Run
from qmoe_cli.report.verdicts import (
    ALPHA,
    NOT_MEASURED,
    NOT_REPRODUCED,
    OVERSTATES,
    REPRODUCED,
    Claim,
    Evidence,
    Finding,
    budget_problem,
    combine,
    fmt_p,
    missing,
    numbers_of,
    paired,
)


def _hardware_baseline(rec: records.HardwareRecord) -> tuple[str, list[float]] | None:
    """The run's classical baseline: a linear router (the paper's Model A) if it has one,
    else its best classical router by mean."""
    if not rec.baselines:
        return None
    linear = [n for n, b in rec.baselines.items() if b.router == "linear"]
    name = (
        linear[0]
        if linear
        else max(rec.baselines, key=lambda n: np.mean(rec.baselines[n].per_seed))
    )
    return name, list(rec.baselines[name].per_seed)


def _hardware_accuracies(rec: records.HardwareRecord, variant: str, method: str) -> list[float]:
    """Per seed (in `seeds` order), the accuracy at the largest shot count."""
    out = []
    for seed in rec.seeds:
        p = next(p for p in rec.per_seed if p.variant == variant and p.seed == seed)
        out.append(
            next(
                r.accuracy
                for r in p.results
                if r.mitigation == method and r.shots == rec.sampled_shots
            )
        )
    return out


UNMITIGATED = "none"


def hardware_nisq(claim: Claim, ev: Evidence) -> list[Finding]:
    """Judged on unmitigated results (the paper's claim is about a device's noise as it is),
    mitigations shown beside. The claim's family: every variant on every device."""
    runs = [
        r
        for r in ev.runs
        if r.kind == "hardware" and (claim.dataset is None or r.dataset == claim.dataset)
    ]
    if not runs:
        others = [f"{r.label} is on {r.dataset}" for r in ev.runs if r.kind == "hardware"]
        why = f"no hardware run on {claim.dataset} was given (`qmoe hardware`)"
        return missing(claim, why + (f" ({'; '.join(others)})" if others else ""))
    devices = sorted({r.record_as(records.HardwareRecord).target.text for r in runs})
    note = (
        f"devices: {', '.join(devices)}"
        if len(devices) > 1
        else f"measured on one device only ({devices[0]}): the claim asks for devices of "
        "different quality"
    )
    tests = []  # (run, variant, raw p) of every unmitigated test that can be made
    for run in runs:
        rec = run.record_as(records.HardwareRecord)
        base = _hardware_baseline(rec)
        if base is None or UNMITIGATED not in rec.mitigation:
            continue
        if budget_problem(len(rec.seeds), rec.source.epochs, PAPER_EPOCHS):
            continue
        for variant in rec.variants:
            hw = _hardware_accuracies(rec, variant, UNMITIGATED)
            tests.append((run, variant, paired(hw, base[1]).p))
    adjusted = {
        (id(run), variant): p
        for (run, variant, _), p in zip(tests, holm([t[2] for t in tests]), strict=True)
    }
    return [_hardware_finding(claim, run, note, adjusted, len(tests)) for run in runs]


def _hardware_finding(
    claim: Claim, run: Run, note: str, adjusted: dict[tuple[int, str], float], family: int
) -> Finding:
    """One device (a hardware run): each variant an alternative, judged unmitigated."""
    rec = run.record_as(records.HardwareRecord)
    t = rec.target
    quality = ", ".join(
        f"{what} {100 * value:.2f} %"
        for what, value in (
            ("2-qubit error", t.two_qubit_error),
            ("readout error", t.readout_error),
        )
        if value is not None
    )
    source = f"{run.label} ({rec.source.name} on {t.text}{'; ' + quality if quality else ''})"
    base = _hardware_baseline(rec)
    if base is None:
        why = (
            "the hardware run has no classical baseline: run `qmoe hardware` on an ablate or "
            "evaluate-mode noise-sweep folder with a linear router"
        )
        return Finding(claim, source, "", NOT_MEASURED, why)
    if UNMITIGATED not in rec.mitigation:
        why = (
            "the run has no unmitigated results (mitigation: none): the claim is about the "
            "device's noise as it is, mitigations are shown beside it"
        )
        return Finding(claim, source, "", NOT_MEASURED, why)
    problem = budget_problem(len(rec.seeds), rec.source.epochs, PAPER_EPOCHS)
    alts = [
        (
            variant,
            _judge_hardware(
                claim, rec, variant, base, note, problem,
                adjusted.get((id(run), variant), math.nan), family,
            ),
        )
        for variant in rec.variants
    ]  # fmt: skip
    if problem:  # one reason for all of them
        measured = "; ".join(f"{label}: {f.measured}" for label, f in alts)
        return Finding(claim, source, measured, NOT_MEASURED, problem)
    return combine(claim, source, alts)


def _mitigated_beside(rec: records.HardwareRecord, variant: str, baseline: list[float]) -> str:
    """The mitigations' results beside the verdict (raw p: they do not decide it)."""
    parts = []
    for method in rec.mitigation:
        if method == UNMITIGATED:
            continue
        hw = _hardware_accuracies(rec, variant, method)
        d = paired(hw, baseline)
        parts.append(
            f"{method}: {fmt.pct(float(np.mean(hw)))}, {100 * d.mean_diff:+.1f} points "
            f"(raw p = {fmt_p(d.p)})"
        )
    return f"; with mitigation (beside the verdict): {'; '.join(parts)}" if parts else ""


def _judge_hardware(
    claim: Claim,
    rec: records.HardwareRecord,
    variant: str,
    base: tuple[str, list[float]],
    note: str,
    problem: str,
    p_holm: float,
    family: int,
) -> Finding:
    name, baseline = base
    hw = _hardware_accuracies(rec, variant, UNMITIGATED)
    noiseless = float(np.mean([p.exact_accuracy for p in rec.per_seed if p.variant == variant]))
    head = (
        f"{fmt.pct(float(np.mean(hw)))} at {rec.sampled_shots:,} shots (noiseless "
        f"{fmt.pct(noiseless)}) vs {name} {fmt.pct(float(np.mean(baseline)))}"
    )
    if problem:
        return Finding(claim, "", f"{head} (n = {len(hw)})", NOT_MEASURED, problem)
    d = paired(hw, baseline)
    p = p_holm  # the decision: Holm-adjusted over the claim's unmitigated tests
    diff, low, high = (100 * x for x in (d.mean_diff, d.ci_low, d.ci_high))
    measured = (
        f"unmitigated {head}: {diff:+.1f} points (95 % CI [{low:+.1f}, {high:+.1f}], "
        f"Holm-adjusted p = {fmt_p(p)} over the claim's {family} tests, n = {len(hw)})"
        + _mitigated_beside(rec, variant, baseline)
    )
    exact = [
        next(p.exact_accuracy for p in rec.per_seed if p.variant == variant and p.seed == seed)
        for seed in rec.seeds
    ]
    d0 = paired(exact, baseline)
    p0 = d0.p
    ahead = fmt.finite(p0) and p0 < ALPHA and d0.mean_diff > 0
    noiseless_text = (
        f"noiseless, the same routers are {100 * d0.mean_diff:+.1f} points from the "
        f"baseline (p = {fmt_p(p0)}): "
        + ("the device loses a significant advantage" if ahead else "not significantly ahead")
    )
    if fmt.finite(p) and p < ALPHA and diff > 0:
        category, why = REPRODUCED, "significantly above the classical baseline on the device"
    elif fmt.finite(p) and p < ALPHA:
        category, why = NOT_REPRODUCED, f"{OVERSTATES}: significantly below the baseline"
    else:
        category, why = (
            NOT_REPRODUCED,
            f"{OVERSTATES}: no significant advantage on the device",
        )
    if category == NOT_REPRODUCED:
        why += f" ({noiseless_text})"
    return Finding(
        claim,
        "",
        measured,
        category,
        f"{why}; {note}",
        diff,
        low,
        high,
        "95 % CI of the paired difference (points)",
        numbers_of("hardware.nisq", hw, baseline),
    )
