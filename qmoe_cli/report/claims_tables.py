"""The claims part of the report: the verdict table, the scorecard's rows and how each claim
is measured."""

from __future__ import annotations

from qmoe_cli.report.audit import Paper
from qmoe_cli.report.render import Block, Figure, Heading, Para, Table
from qmoe_cli.report.verdicts import (
    CATEGORIES,
    DIRECTIONS,
    FAIR,
    FIXED,
    NOT_MEASURED,
    NOT_REPRODUCED,
    Claim,
    ClaimVerdict,
    Finding,
    Unit,
    direction_counts,
)
from qmoe_cli.report.verdicts import counts as count_categories
from qmoe_cli.report.verdicts import verdicts as claim_verdicts

CATEGORY_TEXT = (
    "reproduced = the paper's value is what our runs predict (single-run numbers: inside the "
    "95 % prediction interval for one run, widened by the paper's rounding; comparisons: the "
    "paired test agrees); not reproduced = it is not, signed (the paper overstates: its value "
    "lies above ours, or understates); inconsistent within the paper = the paper's own numbers "
    "contradict it (every claim checked against the paper's other numbers); setup-dependent = "
    "the verdict changes with a choice the paper leaves open, both ways measured (qubit layout "
    "at 24 parameters, MLP layout, input scaling of the classical routers, early stopping, "
    "noise-aware training, the fixed settings vs every router tuned on validation), each way "
    "shown; not measured = no given run measures it, or with "
    "less than the paper's budget (fewer than 5 seeds, fewer than 100 epochs)."
)
METHODS_TEXT = (
    "Methods (docs/verdicts.md). Single-run accuracies: 95 % beta-binomial predictive "
    "interval for one run on its test rows (it holds at 0 and 100 %); epoch counts: t "
    "prediction interval on the log scale; a 'within N epochs' claim: the share of seeds "
    "within N, reproduced when its Wilson 95 % interval reaches one half. Means: t-interval "
    "truncated to the range. Comparisons: paired over seeds on the same splits (paired t-test; "
    "exact Wilcoxon signed-rank p when the differences have no variance); each claim's tests "
    "(every layout pair, run, mode, device) form its family, Holm-adjusted within it: the only "
    "adjusted p-values in this report; tables elsewhere show raw p. 'At least as accurate': "
    "non-inferiority, 'comparable': equivalence (two one-sided tests), against the test set's "
    "noise floor (the standard error of one run's accuracy on its test rows), with the margin "
    "at which each verdict flips. Breakdown point: the crossing of the mean curve with the "
    "baseline; its interval a percentile bootstrap over seeds, seeds that never cross counted "
    "as censored beyond the last level. Effective parameters: the rank of the Jacobian of the "
    "gate probabilities w.r.t. the router's parameters over training inputs (singular values "
    "above 1e-8 of the largest), median over seeds. Each per-seed measurement is counted "
    "once: a row that repeats numbers counted for an earlier claim is shown, not counted."
)


def headline(by_claim: list[ClaimVerdict], n_claims: int) -> str:
    """The counts per category, "not reproduced" split by the direction of the difference."""
    tally = count_categories(by_claim)
    counted = sum(tally.values())
    split = direction_counts(by_claim)
    parts = []
    for c in CATEGORIES:
        text = f"{tally[c]} {c}"
        if c == NOT_REPRODUCED and tally[c]:
            ways = [f"{split[d]} where {d}" for d in DIRECTIONS if split[d]]
            ways += [f"{split['']} neither (a difference not shown)"] if split[""] else []
            text += f" ({'; '.join(ways)})"
        parts.append(text)
    return (
        f"{n_claims} claims of the paper, {counted} counted: "
        + ", ".join(parts)
        + f" ({n_claims - counted} repeat numbers counted under another claim)."
    )


def margins_table(findings: list[Finding]) -> Table | None:
    """Every non-inferiority and equivalence verdict: its margin, why, where it flips, and
    the verdict at other margins (each with the claim's family adjusted at that margin)."""
    rows = []
    for f in findings:
        for label, part in f.parts or (("", f),):
            m = part.margin
            if m is None:
                continue
            flip = "never up to 20 points" if m.flip == float("inf") else f"{m.flip:.2f}"
            curve = ", ".join(f"{x:g}: {'yes' if ok else 'no'}" for x, ok in m.curve)
            rows.append(
                [f.claim.id, f"{f.source} {label}".strip(), m.test, f"{m.points:.2f}", m.why,
                 flip, curve]
            )  # fmt: skip
    if not rows:
        return None
    return Table(
        ["id", "comparison", "test", "margin (points)", "why this margin",
         "shown from margin (points)", "shown at margin (points)"],
        rows,
        "Margins and the verdicts' sensitivity to them",
    )  # fmt: skip


def protocol_table(findings: list[Finding], by_claim: list[ClaimVerdict]) -> list[Block]:
    """Each claim a tuned run measures, under the paper's protocol (the runs with fixed
    settings) beside tuned on validation (the fair comparison), and the claim's verdict."""
    rows = []
    for v in by_claim:
        mine = [f for f in findings if f.claim.id == v.claim.id and f.category != NOT_MEASURED]
        tuned = [f for f in mine if f.protocol]
        if not tuned:
            continue
        fixed = [f for f in mine if not f.protocol]
        differs = bool(fixed) and {f.category for f in fixed} != {f.category for f in tuned}
        rows.append(
            [
                v.claim.id,
                v.claim.paper_text,
                "; ".join(_protocol_cell(f) for f in fixed) or "not measured",
                "; ".join(_protocol_cell(f) for f in tuned),
                _verdict_text(v) + (" (the protocols disagree)" if differs else ""),
            ]
        )
    if not rows:
        return []
    labels = sorted({f.protocol for f in findings if f.protocol})
    return [
        Heading(3, "The paper's protocol beside tuning on validation"),
        Para(
            "Each claim measured by a run whose variants were each tuned on validation with "
            f"the same budget ({'; '.join(labels)}: `qmoe tune`, docs/tune.md; the test split "
            "read once, by the final run) beside the same claim under the fixed settings of "
            "the paper's protocol. The tuned run is one more setup under the same rules (its "
            "tests join each claim's family): a claim whose verdict differs between the two is "
            "setup-dependent, with both shown; the tuned verdict is the fair comparison."
        ),
        Table(
            ["id", "paper", FIXED, f"tuned on validation ({FAIR})", "verdict"],
            rows,
            "Claims under the paper's protocol and tuned on validation",
            classed={4},
        ),
    ]


def _protocol_cell(f: Finding) -> str:
    """ "R2: setup-dependent (B vs A: reproduced, +2.9 points; ...)": the run, its verdict and
    each alternative's verdict and value, briefly (the full rows are in the table below)."""
    run = f.source.split(" ")[0] if f.source else "?"
    if not f.parts:
        value = _brief(f.measured)
        return f"{run}: {f.category}" + (f", {value}" if value else "")
    shown = []
    for label, part in f.parts:
        value = _brief(part.measured)
        shown.append(f"{label.split(' (')[0]}: {part.category}" + (f", {value}" if value else ""))
    return f"{run}: {f.category} ({'; '.join(shown)})"


def _brief(measured: str) -> str:
    """A measured value without its interval: "+2.9 points", "98.3 % ± 0.9 %"."""
    return measured.split(" (")[0].split(", median")[0].split("; ")[0].strip()


def claims_section(
    findings: list[Finding], paper: Paper, scorecard: Figure | None = None
) -> list[Block]:
    """The counts per category, the scorecard, one verdict per claim, every measurement."""
    claims = paper.claims
    by_claim = claim_verdicts(findings, claims)
    summary = Table(
        ["id", "claim", "paper", "verdict", "why"],
        [
            [
                v.claim.id,
                v.claim.text,
                v.claim.paper_text,
                _verdict_text(v),
                v.reason,
            ]
            for v in by_claim
        ],
        "One verdict per claim",
        classed={3},
    )
    rows = [
        [
            f.claim.id,
            f.claim.paper_text,
            f.measured or "—",
            f.source or "—",
            f.category + ("" if f.counted else " (not counted again)"),
            f.reason,
        ]
        for f in findings
    ]
    detail = Table(
        ["id", "paper", "measured", "measured by", "verdict", "reason"],
        rows,
        "Every measurement of every claim",
        classed={4},
    )
    blocks: list[Block] = [
        Heading(2, "Verdicts"),
        Para(headline(by_claim, len(claims))),
    ]
    if scorecard is not None:
        blocks.append(scorecard)
    blocks += [
        Para(CATEGORY_TEXT),
        summary,
        *protocol_table(findings, by_claim),
        Heading(2, "Paper claims vs measured"),
        Para(METHODS_TEXT),
        detail,
        *([margins] if (margins := margins_table(findings)) else []),
        *(Para(note) for note in paper.notes()),
    ]
    return blocks


def _verdict_text(v: ClaimVerdict) -> str:
    text = v.category + (f" ({v.direction})" if v.direction else "")
    return text if v.counted else f"{text} (counted under another claim)"


def scorecard_rows(findings: list[Finding], claims: tuple[Claim, ...]) -> list[dict]:
    """One row per claim for the scorecard figure: the paper's mark, the measured interval."""
    rows = []
    for v in claim_verdicts(findings, claims):
        f = v.primary if v.category != NOT_MEASURED else None  # nothing measured to draw
        unit = _scorecard_unit(v.claim, f)
        rows.append(
            {
                "label": f"{v.claim.id}: {v.claim.text}",
                "unit": unit,
                "paper": _scorecard_paper(v.claim, unit),
                "value": f.value if f else None,
                "low": f.low if f else None,
                "high": f.high if f else None,
                "category": v.category,
            }
        )
    return rows


def _scorecard_unit(claim: Claim, f: Finding | None) -> Unit:
    # paired differences of accuracies are drawn in percentage points
    if (
        f is not None
        and f.interval.startswith("95 % CI of the paired difference")
        and (claim.unit == "accuracy" or "points" in f.interval)
    ):
        return "points"
    return claim.unit


def _scorecard_paper(claim: Claim, unit: Unit) -> float | tuple[float, float] | None:
    if unit == "points":  # the paper's difference, if it states one in accuracy
        return 100 * claim.value if claim.unit == "accuracy" else None
    return claim.paper


def claims_definitions(claims: tuple[Claim, ...]) -> Table:
    rows = [[c.id, c.where, c.paper_text, c.run_kind, c.rule] for c in claims]
    return Table(
        ["id", "in the paper", "paper", "measured from", "rule"],
        rows,
        "How each claim is measured",
    )
