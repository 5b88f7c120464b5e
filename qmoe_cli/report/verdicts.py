"""The rules by which a paper's claims are judged against measured runs: general, knowing
no paper (each audited paper, in qmoe_cli/paper/, states its claims and how each is
measured, with these rules). docs/verdicts.md states them for readers; in short:

* Single-run numbers (a paper's accuracy, epoch count, ...): the paper's value, widened by
  its rounding (half of its last printed digit), against where one more run of ours would
  fall: for an accuracy a beta-binomial predictive interval on the run's test rows (it holds
  at 0 and 100 %), for epoch counts a t interval on the log scale (they are skewed), and a
  "within N" claim by the share of seeds within N (reproduced when its Wilson interval
  reaches one half: such a run is typical). Outside: "not reproduced", signed by direction.
* Comparative claims: paired tests over seeds on the same splits. Each claim owns its family
  (every test it makes: every layout pair, run, mode, device), Holm-adjusted within it, and
  no other adjustment is shown anywhere. "Beats" needs a significant difference in the
  claimed direction; "at least as accurate" is a non-inferiority test and "comparable" an
  equivalence test (TOST), both against a stated margin (the noise floor of the test set),
  with the margin at which the verdict flips and a small curve of verdict against margin.
* Choices a paper leaves open (layouts, scaling, early stopping, noise-aware training) are
  judged each way where both were measured; a claim whose verdict differs between them is
  "setup-dependent".
* A run tuned on validation (`qmoe tune`'s final ablation, `Run.tuned`) is one more setup
  under the same rules; its rows carry its protocol, and a claim whose verdict differs
  between it and the fixed-protocol runs is "setup-dependent", both shown, the tuned one
  named as the fair comparison.
* "inconsistent within the paper": the paper's own numbers contradict the claim (checked
  mechanically for every claim, `Claim.contradiction`).
* "not measured": no given run measures it, or with less than the paper's budget (fewer
  than MIN_SEEDS seeds, fewer epochs than the paper trained); the reason says which.
* Counted once: a row whose per-seed numbers were already counted for an earlier claim is
  shown, but does not count again.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt

from qmoe_cli.metrics import (
    ACCURACY_RANGE,
    COUNT_RANGE,
    accuracy_prediction_interval,
    epochs_prediction_interval,
    holm,
    noise_floor,
    non_inferiority,
    paired_comparison,
    prediction_interval,
    share_within,
)
from qmoe_cli.report import fmt
from qmoe_cli.report.inputs import Run
from qmoe_cli.report.measured import ModelResult, NoiseSweep, model_results, noise_sweep

REPRODUCED = "reproduced"
NOT_REPRODUCED = "not reproduced"
INCONSISTENT = "inconsistent within the paper"
SETUP_DEPENDENT = "setup-dependent"
NOT_MEASURED = "not measured"
CATEGORIES = (REPRODUCED, NOT_REPRODUCED, INCONSISTENT, SETUP_DEPENDENT, NOT_MEASURED)
VERDICTS = CATEGORIES  # the report's name for them

OVERSTATES = "the paper overstates"
UNDERSTATES = "the paper understates"
DIRECTIONS = (OVERSTATES, UNDERSTATES)

MIN_SEEDS = 5  # fewer seeds give no verdict
# the two protocols a run's settings come from: its config's (the paper's where it states
# them), or each variant's best on validation, found with the same budget (`qmoe tune`)
FIXED = "the paper's protocol (fixed settings)"
FAIR = "the fair comparison"
ALPHA = 0.05
# margins (accuracy points) at which a non-inferiority or equivalence verdict is shown again
SENSITIVITY_MARGINS = (0.5, 1.0, 1.5, 2.0, 3.0, 5.0)
RANGES = {
    "accuracy": ACCURACY_RANGE,
    "epochs": COUNT_RANGE,
    "eta": COUNT_RANGE,
    "ratio": COUNT_RANGE,
    "params": COUNT_RANGE,
    "eps": (0.0, 1.0),
}


Unit = Literal["accuracy", "params", "eta", "epochs", "eps", "ratio", "points"]
# A claim's measuring function: (the claim, the evidence) -> its findings, one per run.
Measure = Callable[["Claim", "Evidence"], list["Finding"]]


@dataclass(frozen=True)
class Compare:
    """What a comparative claim compares: per seed on the same splits, `metric` of the
    variants with router `a` against those with router `b`; `expect` is the paper's
    direction (a greater, a less, or a not less than b)."""

    metric: Literal["accuracy", "eta", "epochs"]
    a: str  # router type
    b: str
    expect: Literal["greater", "less", "not less"]
    a_mechanism: str = "full"  # the quantum router's mechanism (models.routers.quantum)
    b_mechanism: str = "full"
    # trained layer-wise (train.layerwise) or plainly
    a_layerwise: bool = False
    b_layerwise: bool = False
    # which a-b pairs a run compares: every pair (layouts the paper leaves open), or only b
    # built on a's circuit (the same router but for its mechanism; a classical router on the
    # same qubits' spectrum within a's parameter count)
    pairing: Literal["all", "same_circuit"] = "all"


def same_circuit(a: ModelResult, b: ModelResult) -> bool:
    """b is a's circuit with its mechanism removed, or a classical router on a's spectrum
    (the same qubits) with at most a's parameters."""
    ra, rb = a.model.router if a.model else None, b.model.router if b.model else None
    if ra is None or rb is None:
        return False
    if rb.type == ra.type:
        da, db = ra.model_dump(exclude={"mechanism"}), rb.model_dump(exclude={"mechanism"})
        return da == db
    within = (b.router_params or 0) <= (a.router_params or 0)
    return getattr(ra, "qubits", None) == getattr(rb, "qubits", -1) and within


@dataclass(frozen=True, kw_only=True)
class Claim:
    """One number or comparison a paper states, and how it is measured (named fields only:
    a paper's claims read as a table)."""

    id: str
    where: str  # place in the paper
    text: str  # the claim in words
    paper: float | tuple[float, float]  # accuracy as a fraction; a range for eta.ratio
    paper_text: str  # as the paper prints it
    unit: Unit
    rule: str  # how it is judged, in words (shown in the report)
    run_kind: str  # which kind of run measures it
    measure: Measure  # the function measuring it (its own arguments bound)
    compare: Compare | None = None  # a comparative claim's test (measure: `comparison`)
    dataset: str | None = None  # the data set its runs must be on (None: any)
    # where the paper's own numbers contradict the claim ("" when they do not), found by
    # checking the claim mechanically against the paper's other numbers
    contradiction: str = ""

    @property
    def value(self) -> float:
        """The paper's value, for a claim stating one number (not a range)."""
        if isinstance(self.paper, tuple):
            raise TypeError(f"{self.id}: the paper states a range, not one value")
        return self.paper

    @property
    def range(self) -> tuple[float, float]:
        """The paper's range (one value v: (v, v))."""
        return self.paper if isinstance(self.paper, tuple) else (self.paper, self.paper)

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


@dataclass(frozen=True)
class Margin:
    """The margin of a non-inferiority or equivalence verdict (accuracy points), why it is
    that, and the verdict's sensitivity to it: the margin at which it flips and the verdict at
    SENSITIVITY_MARGINS (each with the claim's whole family adjusted at that margin)."""

    test: Literal["non-inferiority", "equivalence"]
    points: float
    why: str
    flip: float  # the smallest margin (points) at which the claim is shown; inf: none <= 20
    curve: tuple[tuple[float, bool], ...] = ()


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
    margin: Margin | None = None  # a non-inferiority or equivalence test's margin
    parts: tuple[tuple[str, Finding], ...] = ()  # the alternatives combined into this row
    # the protocol of the run measuring it: "tuned on validation (N trials per variant)"
    # when `qmoe tune` chose its settings, "" for a config's fixed settings
    protocol: str = ""

    @property
    def verdict(self) -> str:
        return self.category

    @property
    def direction(self) -> str:
        """For a row not reproduced: whether the paper overstates or understates (as its
        reason says; a combined row: the direction its not-reproduced alternatives share)."""
        if self.category != NOT_REPRODUCED:
            return ""
        if self.parts:
            found = {f.direction for _, f in self.parts if f.category == NOT_REPRODUCED}
            return found.pop() if len(found) == 1 else ""
        return next((d for d in DIRECTIONS if d in self.reason), "")

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
            "protocol": self.protocol or FIXED,
        }


@dataclass
class ClaimVerdict:
    """The verdict on one claim over all its counted rows."""

    claim: Claim
    category: str
    reason: str
    counted: bool  # False when every row repeats numbers counted for another claim
    primary: Finding | None  # the row whose numbers the scorecard shows
    direction: str = ""  # not reproduced: OVERSTATES, UNDERSTATES or "" (neither / mixed)

    def as_dict(self) -> dict:
        return {
            "id": self.claim.id,
            "claim": self.claim.text,
            "paper": self.claim.paper_text,
            "verdict": self.category,
            "direction": self.direction,
            "counted": self.counted,
            "reason": self.reason,
        }


SINGLE = "single run: the paper's value +- its rounding vs the 95 % prediction interval"
WITHIN = (
    "single run, one-sided: reproduced when a run within the bound is typical (the share of "
    "seeds within it, its Wilson 95 % CI reaching one half)"
)
PAIRED = "paired test over seeds, Holm-adjusted within the claim's tests"
NON_INFERIOR = (
    "non-inferiority over seeds (one-sided paired t-test) at the test set's noise floor, "
    "Holm-adjusted within the claim's tests; the margin at which it flips shown"
)
COUNT = "the count that the paper's architecture gives"
PRINTED = "the printed value against the paper's own formula"


@dataclass
class Evidence:
    """What the given runs measured, gathered once for all claims."""

    runs: list[Run]
    models: list[ModelResult] = field(default_factory=list)  # ablate variants, train runs
    sweeps: list[NoiseSweep] = field(default_factory=list)
    efficiency: list[Run] = field(default_factory=list)
    claims: tuple[Claim, ...] = ()  # the audited paper's claims (set by evaluate)
    min_epochs: int | None = None  # the paper's training budget: fewer epochs test nothing
    _comparisons: dict[tuple[str, str], list[tuple[str, Finding]]] | None = None
    _views: dict[str, Evidence] = field(default_factory=dict)

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

    def comparisons(self) -> dict[tuple[str, str], list[tuple[str, Finding]]]:
        if self._comparisons is None:
            self._comparisons = all_comparisons(self)
        return self._comparisons

    def without(self, name: str, drop: Callable[[Run, list[ModelResult]], bool]) -> Evidence:
        """The evidence without the runs `drop` rejects (given the run and every model), built
        once per evaluation under `name`, so its comparisons and their Holm families are too."""
        view = self._views.get(name)
        if view is None or view.claims is not self.claims:
            gone = {id(r) for r in self.runs if drop(r, self.models)}
            view = Evidence(
                [r for r in self.runs if id(r) not in gone],
                [m for m in self.models if id(m.run) not in gone],
                list(self.sweeps),
                list(self.efficiency),
                self.claims,
                self.min_epochs,
            )
            self._views[name] = view
        return view


def evaluate(ev: Evidence, claims: tuple[Claim, ...], min_epochs: int | None) -> list[Finding]:
    """Every claim measured on the evidence, then the repeated numbers marked."""
    ev.claims, ev.min_epochs, ev._comparisons, ev._views = claims, min_epochs, None, {}
    findings = []
    for claim in claims:
        findings += claim.measure(claim, ev)
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
                f" [the same per-seed numbers as {', '.join(sorted(w for w in first if w))}: "
                "shown, counted there]"
            )
            continue
        where = f"{f.claim.id} ({f.source.split(' ')[0]})" if f.source else f.claim.id
        for v in f.numbers:
            seen.setdefault(v, where)


def verdicts(findings: list[Finding], claims: tuple[Claim, ...]) -> list[ClaimVerdict]:
    """One verdict per claim: inconsistent within the paper when its own numbers contradict
    it, else the category its counted rows share, setup-dependent when they differ (e.g.
    between a run with and one without early stopping)."""
    out = [_inconsistent(v) if v.claim.contradiction else v for v in _measured(findings, claims)]
    for v in out:
        if v.category == NOT_REPRODUCED:
            rows = [f for f in findings if f.claim.id == v.claim.id and f.counted]
            found = {f.direction for f in rows if f.category == NOT_REPRODUCED}
            v.direction = found.pop() if len(found) == 1 else ""
    return out


def _inconsistent(v: ClaimVerdict) -> ClaimVerdict:
    measured = f" (measured: {v.category}: {v.reason})" if v.category != NOT_MEASURED else ""
    return ClaimVerdict(v.claim, INCONSISTENT, v.claim.contradiction + measured, True, v.primary)


def _measured(findings: list[Finding], claims: tuple[Claim, ...]) -> list[ClaimVerdict]:
    out = []
    for claim in claims:
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
            if len({bool(f.protocol) for f in counted}) == 2:
                reason = f"the paper's protocol and tuning on validation agree; {reason}"
            out.append(ClaimVerdict(claim, f.category, reason, True, f))
        elif len({bool(f.protocol) for f in counted}) == 2:  # fixed and tuned disagree
            fixed = [f for f in counted if not f.protocol]
            tuned = [f for f in counted if f.protocol]
            reason = (
                "the verdict depends on the protocol: "
                + "; ".join(f"{FIXED}, {f.source}: {f.category}" for f in fixed)
                + "; "
                + "; ".join(f"{f.protocol} ({FAIR}), {f.source}: {f.category}" for f in tuned)
            )
            out.append(ClaimVerdict(claim, SETUP_DEPENDENT, reason, True, tuned[0]))
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


def direction_counts(claim_verdicts: list[ClaimVerdict]) -> dict[str, int]:
    """The counted "not reproduced" verdicts split by direction ("": neither or mixed)."""
    rows = [v for v in claim_verdicts if v.counted and v.category == NOT_REPRODUCED]
    return {d: sum(v.direction == d for v in rows) for d in (*DIRECTIONS, "")}


# --- judging ------------------------------------------------------------------------------


def budget_problem(n: int, epochs: int | None, min_epochs: int | None) -> str:
    """Why a run is too small to judge a claim ("" when it is not)."""
    if n < MIN_SEEDS:
        return f"{n} seed(s): a verdict needs at least {MIN_SEEDS} (the paper configs run 20)"
    if epochs is not None and min_epochs is not None and epochs < min_epochs:
        return f"the run trains at most {epochs} epochs, fewer than the paper's {min_epochs}"
    return ""


def numbers_of(unit: str, *vectors: Sequence[float]) -> frozenset:
    return frozenset((unit, tuple(round(float(v), 12) for v in vec)) for vec in vectors if vec)


def describe(values: list[float], unit: str, low: float, high: float, interval: str) -> str:
    v = np.asarray(values, dtype=float)
    return (
        f"{fmt.value(float(v.mean()), unit)} ± {fmt.value(float(v.std(ddof=1)), unit)}, median "
        f"{fmt.value(float(np.median(v)), unit)} ({interval} [{fmt.value(low, unit)}, "
        f"{fmt.value(high, unit)}], n = {len(v)})"
    )


def one_run_interval(
    values: list[float], unit: str, n_test: int | None
) -> tuple[float, float, str]:
    """Where one more run would fall, by the quantity's kind (docs/verdicts.md): accuracies
    on n_test rows by a beta-binomial predictive (it holds at 0 and 100 %), epoch counts on
    the log scale (they are skewed), anything else by the t prediction interval."""
    if unit == "accuracy" and n_test:
        low, high = accuracy_prediction_interval(values, n_test)
        return low, high, f"95 % prediction interval for one run (beta-binomial, {n_test} rows)"
    if unit == "epochs" and min(values) > 0:
        low, high = epochs_prediction_interval(values)
        return low, high, "95 % prediction interval for one run (log scale)"
    low, high = prediction_interval(values, bounds=RANGES[unit])
    return low, high, "95 % prediction interval for one run"


def judge_single(
    claim: Claim,
    source: str,
    values: list[float] | None,
    epochs: int | None = None,
    min_epochs: int | None = None,
    one_sided: bool = False,
    note: str = "",
    n_test: int | None = None,
) -> Finding:
    """A single-run paper number against where one more run of ours would fall; a one-sided
    "within" claim by the share of seeds within the paper's bound."""
    if not values:
        return Finding(claim, source, "", NOT_MEASURED, "the run recorded no per-seed values")
    problem = budget_problem(len(values), epochs, min_epochs)
    mean = float(np.mean(values))
    if problem:
        measured = f"{fmt.value(mean, claim.unit)} (n = {len(values)})"
        return Finding(claim, source, measured, NOT_MEASURED, problem, mean)
    if one_sided:
        return _judge_within(claim, source, values, note)
    low, high, kind = one_run_interval(values, claim.unit, n_test)
    paper, r = claim.value, claim.rounding
    half = f"{100 * r:g} %" if claim.unit == "accuracy" else f"{r:g}"
    shown = f"the paper's {claim.paper_text}" + (f" (+- {half})" if r else "")
    interval = f"[{fmt.value(low, claim.unit)}, {fmt.value(high, claim.unit)}]"
    if paper - r > high:
        ok, reason = False, f"{OVERSTATES}: {shown} lies above the interval {interval}"
    elif paper + r < low:
        ok, reason = False, f"{UNDERSTATES}: {shown} lies below the interval {interval}"
    else:
        ok, reason = True, f"{shown} lies inside the interval {interval}"
    reason = f"{reason}; {note}" if note else reason
    return Finding(
        claim,
        source,
        describe(values, claim.unit, low, high, kind),
        REPRODUCED if ok else NOT_REPRODUCED,
        reason,
        mean,
        low,
        high,
        kind,
        numbers_of(claim.unit, values),
    )


def _judge_within(claim: Claim, source: str, values: list[float], note: str) -> Finding:
    """'Within N' (one run of the paper): reproduced when such a run is typical of ours, the
    Wilson 95 % interval of the share of seeds within N reaching one half. (A prediction
    interval's lower end would pass a router whose runs all take longer.)"""
    bound = claim.value + claim.rounding
    share, low, high = share_within(values, bound)
    within = sum(v <= bound for v in values)
    v = np.asarray(values, dtype=float)
    measured = (
        f"{fmt.value(float(v.mean()), claim.unit)} ± {fmt.value(float(v.std(ddof=1)), claim.unit)}"
        f", median {fmt.value(float(np.median(v)), claim.unit)}; {within} of {len(v)} seeds "
        f"within {claim.paper_text} ({fmt.pct(share, 0)}, Wilson 95 % CI "
        f"[{fmt.pct(low, 0)}, {fmt.pct(high, 0)}])"
    )
    typical, (lo, hi) = float(np.median(v)), one_run_interval(values, claim.unit, None)[:2]
    if high >= 0.5:
        ok, reason = True, f"a run within {claim.paper_text} is typical: {within} of {len(v)} seeds"
    else:
        ok = False
        reason = (
            f"{UNDERSTATES}: runs within {claim.paper_text} are the exception ({within} of "
            f"{len(v)} seeds; the share's interval ends at {fmt.pct(high, 0)}, below one half)"
        )
    return Finding(
        claim,
        source,
        measured,
        REPRODUCED if ok else NOT_REPRODUCED,
        f"{reason}; {note}" if note else reason,
        typical,
        lo,
        hi,
        "median and 95 % prediction interval for one run (the verdict: the share within)",
        numbers_of(claim.unit, values),
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
        parts=tuple(alternatives),
    )


def with_protocol(f: Finding, run: Run) -> Finding:
    """The finding marked with its run's protocol (tuned on validation, or fixed)."""
    f.protocol = run.protocol
    return f


def missing(claim: Claim, reason: str) -> list[Finding]:
    return [Finding(claim, "", "", NOT_MEASURED, reason)]


# --- which models measure a claim -----------------------------------------------------------


def runs_on(ev: Evidence, dataset: str | None) -> list[Run]:
    """The ablate and train runs on this data set (any, for None), each once, in order."""
    runs: list[Run] = []
    for m in ev.models:
        if (dataset is None or m.run.dataset == dataset) and not any(m.run is r for r in runs):
            runs.append(m.run)
    return runs


def models_of(
    ev: Evidence,
    run: Run,
    router: str,
    experts: str = "linear",
    mechanism: str = "full",
    layerwise: bool = False,
) -> list[ModelResult]:
    """The run's models with this router type, experts type, mechanism and training (the
    paper's claims are about linear experts, the full circuit and plain training: a fully
    quantum variant, a router with its interference removed, or one trained layer-wise,
    measures none of them)."""
    return [
        m
        for m in ev.models
        if m.run is run and m.router == router and m.experts == experts
        and m.mechanism == mechanism and (m.layerwise is not None) == layerwise
    ]  # fmt: skip


def closest(models: list[ModelResult], params: int) -> list[ModelResult]:
    """The models whose router size is closest to the paper's (ties: all of them)."""
    distance = {id(m): abs(math.log(p / params)) for m in models if (p := m.router_params)}
    if not distance:
        return models[:1]
    best = min(distance.values())
    return [m for m in models if distance.get(id(m)) == best]


def model_label(m: ModelResult) -> str:
    name = m.variant or m.label or m.router
    return f"{name} ({m.label}, P = {m.router_params})" if m.label and m.variant else name


def run_source(run: Run, models: list[ModelResult]) -> str:
    setup = models[0].setup if models else ""
    names = ", ".join(str(m.variant or m.label) for m in models)
    return f"{run.label} {names} ({setup})" if names else f"{run.label} ({setup})"


def no_model_reason(ev: Evidence, router: str, dataset: str | None) -> str:
    where = f" on {dataset}" if dataset else ""
    reason = f"no ablate or train run{where} with a {router} router was given"
    others = sorted({m.run.label for m in ev.models if dataset and m.run.dataset != dataset})
    return reason + (f" (given runs {', '.join(others)} are on other datasets)" if others else "")


def per_run(
    ev: Evidence,
    claim: Claim,
    router: str,
    judge: Callable[[ModelResult], Finding],
    size: int | None,
) -> list[Finding]:
    """For each Two Moons run with this router: judge each model of the size closest to the
    paper's (all of them without a size), the alternatives combined into one row."""
    findings = []
    for run in runs_on(ev, claim.dataset):
        models = models_of(ev, run, router)
        if models:
            picked = closest(models, size) if size else models
            alts = [(model_label(m), judge(m)) for m in picked]
            findings.append(with_protocol(combine(claim, run_source(run, picked), alts), run))
    return findings or missing(claim, no_model_reason(ev, router, claim.dataset))


def epochs_to_90(m: ModelResult) -> list[float] | None:
    """Epochs to 90 % validation accuracy per seed; a seed that never got there counts as
    the budget + 1 (censored: it would have needed more)."""
    budget = m.epoch_budget
    if not m.epochs_to_90 or (None in m.epochs_to_90 and not budget):
        return None
    return [float(e) if e is not None else float((budget or 0) + 1) for e in m.epochs_to_90]


# --- comparative claims: paired, Holm-adjusted within an ablation ---------------------------


@dataclass(frozen=True)
class Paired:
    """metrics.paired_comparison of a - b over seeds: the mean difference, its 95 % CI, and
    the primary test's p (NaN: no test, every difference 0)."""

    mean_diff: float
    ci_low: float
    ci_high: float
    p: float
    n_seeds: int


def paired(a: npt.ArrayLike, b: npt.ArrayLike) -> Paired:
    d = paired_comparison(a, b, "a", "b")
    p = d["p"]
    return Paired(
        d["mean_diff"],
        d["ci_low"],
        d["ci_high"],
        float(p) if fmt.finite(p) else math.nan,
        d["n_seeds"],
    )


@dataclass
class _Test:
    claim: Claim
    compare: Compare
    run: Run
    label: str  # "B vs A"
    diff: Paired
    a: list[float]
    b: list[float]
    p: float = math.nan  # the test's raw p (non-inferiority: one-sided, at the margin)
    margin: float = math.nan  # non-inferiority margin (fraction); NaN for other tests
    margin_why: str = ""
    p_holm: float = math.nan


def values_of(m: ModelResult, metric: str) -> list[float] | None:
    if metric == "accuracy":
        return m.per_seed_acc
    if metric == "eta":
        return m.per_seed_eta
    return epochs_to_90(m)


def noise_floor_margin(a: list[float], b: list[float], n_test: int | None) -> tuple[float, str]:
    """The margin of a non-inferiority or equivalence test of accuracies: the noise floor of
    the test set, the standard error of one run's accuracy on its test rows at the pair's mean
    accuracy (a difference below it is within what one test set cannot resolve)."""
    p = float(np.mean([*a, *b]))
    if not n_test:
        return math.nan, "the runs do not record their test rows"
    margin = noise_floor(p, n_test)
    why = (
        f"noise floor of the test set: sqrt(p (1 - p) / n) = {100 * margin:.2f} points at the "
        f"pair's mean accuracy p = {fmt.pct(p)} on n = {n_test} test rows"
    )
    return margin, why


def family_holm(tests: list[_Test]) -> None:
    """Holm over one claim's family (every test it makes), in place."""
    for t, p in zip(tests, holm([t.p for t in tests]), strict=True):
        t.p_holm = p


def all_comparisons(ev: Evidence) -> dict[tuple[str, str], list[tuple[str, Finding]]]:
    """(claim id, run label) -> [(alternative label, Finding)] for every comparative claim
    (those with a `compare`). A claim's family is every test it makes (every layout pair of
    every run), Holm-adjusted within the claim and nowhere else."""
    out: dict[tuple[str, str], list[tuple[str, Finding]]] = {}
    for claim in ev.claims:
        if claim.compare is None:
            continue
        tests, problems = _claim_tests(ev, claim, claim.compare)
        family_holm(tests)
        for t in tests:
            finding = judge_test(t, len(tests))
            if t.compare.expect == "not less":
                finding.margin = _ni_margin(t, tests)
            out.setdefault((claim.id, t.run.label), []).append((t.label, finding))
        for run, label, why in problems:
            finding = Finding(claim, "", "", NOT_MEASURED, why)
            out.setdefault((claim.id, run.label), []).append((label, finding))
    return out


def _claim_tests(
    ev: Evidence, claim: Claim, compare: Compare
) -> tuple[list[_Test], list[tuple[Run, str, str]]]:
    tests: list[_Test] = []
    problems: list[tuple[Run, str, str]] = []
    for run in runs_on(ev, claim.dataset):
        a_models = models_of(ev, run, compare.a, mechanism=compare.a_mechanism,
                             layerwise=compare.a_layerwise)  # fmt: skip
        for a in a_models:
            for b in models_of(ev, run, compare.b, mechanism=compare.b_mechanism,
                               layerwise=compare.b_layerwise):  # fmt: skip
                if compare.pairing == "same_circuit" and not same_circuit(a, b):
                    continue
                av, bv = values_of(a, compare.metric), values_of(b, compare.metric)
                label = f"{a.variant or a.router} vs {b.variant or b.router}"
                n = min(len(av or []), len(bv or []))
                problem = budget_problem(n, a.epoch_budget, ev.min_epochs)
                if not av or not bv or len(av) != len(bv) or problem:
                    why = problem or "the runs recorded no paired per-seed values"
                    problems.append((run, label, why))
                    continue
                t = _Test(claim, compare, run, label, paired(av, bv), av, bv)
                t.p = t.diff.p
                if compare.expect == "not less":
                    t.margin, t.margin_why = noise_floor_margin(av, bv, a.n_test or b.n_test)
                    if math.isfinite(t.margin):
                        t.p = non_inferiority(av, bv, t.margin, ALPHA)["p"]
                tests.append(t)
    return tests, problems


def _ni_margin(t: _Test, family: list[_Test]) -> Margin | None:
    """The test's margin, and its verdict at other margins (the whole family at each)."""
    if not math.isfinite(t.margin):
        return None
    pairs = [(x.a, x.b) for x in family]
    return family_margin(
        "non-inferiority", non_inferiority, pairs, family.index(t), t.margin, t.margin_why
    )


def family_margin(
    test: Literal["non-inferiority", "equivalence"],
    decide: Callable[..., dict],
    pairs: list[tuple[list[float], list[float]]],
    index: int,
    margin: float,
    why: str,
) -> Margin:
    """Margin `margin` (a fraction) of the `index`-th of a claim's paired tests, the margin
    (points, 0.05 steps up to 20) from which it is shown with the whole family Holm-adjusted
    at that margin, and the verdict at SENSITIVITY_MARGINS. Every raw p falls as the margin
    grows, so the adjusted one does too: the flip is found by bisection."""

    def shown_at(points: float) -> bool:
        ps = [decide(a, b, points / 100, ALPHA)["p"] for a, b in pairs]
        return holm(ps)[index] < ALPHA

    grid = [x / 20 for x in range(0, 401)]  # 0 to 20 points in steps of 0.05
    lo, hi = 0, len(grid)  # the first shown grid point lies in [lo, hi]; hi: none
    while lo < hi:
        mid = (lo + hi) // 2
        if shown_at(grid[mid]):
            hi = mid
        else:
            lo = mid + 1
    flip = grid[lo] if lo < len(grid) else math.inf
    curve = tuple((x, shown_at(x)) for x in SENSITIVITY_MARGINS)
    return Margin(test, 100 * margin, why, flip, curve)


def judge_test(t: _Test, n_tests: int) -> Finding:
    claim, d, expect = t.claim, t.diff, t.compare.expect
    unit = claim.unit
    scale = 100 if unit == "accuracy" else 1
    what = {"accuracy": "points", "eta": "", "epochs": "epochs"}[unit]
    mean, low, high = d.mean_diff, d.ci_low, d.ci_high
    p = t.p_holm
    significant = fmt.finite(p) and p < ALPHA
    k = 3 if unit == "eta" else 1
    family = f"Holm-adjusted p = {fmt_p(p)} over the claim's {n_tests} tests"
    if expect == "not less" and math.isfinite(t.margin):
        family = f"non-inferiority at a margin of {100 * t.margin:.2f} points, one-sided, {family}"
    text = (
        f"{scale * mean:+.{k}f} {what} (95 % CI [{scale * low:+.{k}f}, "
        f"{scale * high:+.{k}f}], {family}, n = {d.n_seeds})"
    ).replace("  ", " ")
    if expect == "greater":
        ok = significant and mean > 0
        why = "significantly higher" if ok else (
            f"significantly lower: {OVERSTATES}" if significant
            else f"no significant difference: {OVERSTATES}")  # fmt: skip
    elif expect == "less":
        ok = significant and mean < 0
        why = "significantly fewer" if ok else (
            f"significantly more: {OVERSTATES}" if significant
            else f"no significant difference: {OVERSTATES}")  # fmt: skip
    elif math.isfinite(t.margin):  # "not less": non-inferiority within the margin
        ok = significant
        why = (
            f"non-inferior: the deficit is significantly smaller than {100 * t.margin:.2f} points"
            if ok
            else f"non-inferiority not shown at {100 * t.margin:.2f} points: {OVERSTATES}"
        )
    else:  # no margin (no test rows recorded): only a significant deficit refutes it
        ok = not (significant and mean < 0)
        why = "not significantly lower" if ok else f"significantly lower: {OVERSTATES}"
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
        numbers_of(f"{claim.id}", t.a, t.b),
    )


fmt_p = fmt.p_value


def comparison(claim: Claim, ev: Evidence) -> list[Finding]:
    """A comparative claim (its `compare`): per run, the paired tests of every pair of the two
    routers' variants (the layouts the paper leaves open), combined into one row."""
    if claim.compare is None:
        raise TypeError(f"{claim.id}: a comparison needs `compare`")
    a_router, b_router = claim.compare.a, claim.compare.b
    found = ev.comparisons()
    findings = []
    for run in runs_on(ev, claim.dataset):
        alts = found.get((claim.id, run.label))
        if alts:
            c = claim.compare
            models = models_of(
                ev, run, a_router, mechanism=c.a_mechanism, layerwise=c.a_layerwise
            ) + models_of(ev, run, b_router, mechanism=c.b_mechanism, layerwise=c.b_layerwise)
            f = with_protocol(combine(claim, run_source(run, models), alts), run)
            if claim.compare.metric == "eta":
                f.reason += "; " + effective_eta_note(ev, run)
            findings.append(f)
    if findings:
        return findings
    where = f" on {claim.dataset}" if claim.dataset else ""
    routers = f"a {a_router} and a {b_router} router"
    return missing(claim, f"no ablation{where} with {routers} was given")


def effective_eta_note(ev: Evidence, run: Run) -> str:
    parts = []
    for m in ev.models:
        if m.run is run and m.effective_params and m.per_seed_acc and m.experts == "linear":
            eff = float(np.mean([a / math.log1p(m.effective_params) for a in m.per_seed_acc]))
            parts.append(f"{m.variant} {eff:.3f} (P_eff = {m.effective_params:g})")
    return ("eta on effective parameters: " + ", ".join(parts)) if parts else ""


def sweeps_for(claim: Claim, ev: Evidence) -> list[NoiseSweep]:
    """The noise sweeps of the paper's hybrid (linear experts) on the claim's data set."""
    sweeps = [s for s in ev.sweeps if claim.dataset is None or s.run.dataset == claim.dataset]
    # not fully quantum sweeps, nor routers with their interference removed
    return [s for s in sweeps if s.experts == "linear" and s.mechanism == "full"]


def over_sweeps(
    claim: Claim, ev: Evidence, judge: Callable[[NoiseSweep], Finding]
) -> list[Finding]:
    """The sweeps' modes (trained noiseless or under noise) are the alternatives of one
    setup the paper leaves open; sweeps with other training budgets are rows of their own."""
    sweeps = sweeps_for(claim, ev)
    if not sweeps:
        where = f" on {claim.dataset}" if claim.dataset else ""
        others = [f"{s.run.label} is on {s.run.dataset}" for s in ev.sweeps]
        reason = f"no noise-sweep run{where} was given"
        return missing(claim, reason + (f" ({'; '.join(others)})" if others else ""))
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
