"""The claims part of the report: the verdict table, the scorecard's rows and how each claim
is measured."""

from __future__ import annotations

from qmoe_cli.report.audit import Paper
from qmoe_cli.report.render import Block, Figure, Heading, Para, Table
from qmoe_cli.report.verdicts import CATEGORIES, Claim, Finding, Unit
from qmoe_cli.report.verdicts import counts as count_categories
from qmoe_cli.report.verdicts import verdicts as claim_verdicts

CATEGORY_TEXT = (
    "reproduced = the paper's value is what our runs predict (single-run numbers: inside the "
    "95 % prediction interval for one run, widened by the paper's rounding; comparisons: the "
    "paired test agrees); not reproduced = it is not, signed (the paper overstates or "
    "understates); inconsistent within the paper = the paper's own numbers contradict it; "
    "setup-dependent = the verdict changes with a choice the paper leaves open (qubit layout "
    "at 24 parameters, MLP layout, noise-aware training, early stopping), each way shown; "
    "not measured = no given run measures it, or with less than the paper's budget (fewer "
    "than 5 seeds, fewer than 100 epochs)."
)
METHODS_TEXT = (
    "Methods. Single-run claims: 95 % prediction interval for one run, mean +- t(0.975, n-1) "
    "s sqrt(1 + 1/n) over seeds, truncated to the quantity's range. Means: t-interval "
    "truncated to the range (accuracy within [0, 1], epochs and eta >= 0). Comparisons: "
    "paired t-test over seeds on the same splits (exact Wilcoxon signed-rank p when the "
    "differences have no variance), Holm-adjusted over every comparative test on one "
    "ablation. Breakdown point: the crossing of the mean curve with the baseline; its "
    "interval a percentile bootstrap over seeds, seeds that never cross counted as censored "
    "beyond the last level. Effective parameters: the rank of the Jacobian of the gate "
    "probabilities w.r.t. the router's parameters over training inputs (singular values "
    "above 1e-8 of the largest), median over seeds. Each per-seed measurement is counted "
    "once: a row that repeats numbers counted for an earlier claim is shown, not counted."
)


def claims_section(
    findings: list[Finding], paper: Paper, scorecard: Figure | None = None
) -> list[Block]:
    """The counts per category, the scorecard, one verdict per claim, every measurement."""
    claims = paper.claims
    by_claim = claim_verdicts(findings, claims)
    tally = count_categories(by_claim)
    counted = sum(tally.values())
    summary = Table(
        ["id", "claim", "paper", "verdict", "why"],
        [
            [
                v.claim.id,
                v.claim.text,
                v.claim.paper_text,
                v.category if v.counted else f"{v.category} (counted under another claim)",
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
        Para(
            f"{len(claims)} claims of the paper, {counted} counted: "
            + ", ".join(f"{tally[c]} {c}" for c in CATEGORIES)
            + f" ({len(claims) - counted} repeat numbers counted under another claim)."
        ),
    ]
    if scorecard is not None:
        blocks.append(scorecard)
    blocks += [
        Para(CATEGORY_TEXT),
        summary,
        Heading(2, "Paper claims vs measured"),
        Para(METHODS_TEXT),
        detail,
        *(Para(note) for note in paper.notes()),
    ]
    return blocks


def scorecard_rows(findings: list[Finding], claims: tuple[Claim, ...]) -> list[dict]:
    """One row per claim for the scorecard figure: the paper's mark, the measured interval."""
    rows = []
    for v in claim_verdicts(findings, claims):
        f = v.primary
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
