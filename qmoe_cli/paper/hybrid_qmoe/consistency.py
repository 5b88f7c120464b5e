"""Every claim checked against the paper's other numbers: where they contradict it, the claim
is "inconsistent within the paper" whatever we measure (verdicts.Claim.contradiction).

The checks are pure functions of printed numbers (tested on hand-made ones); CHECKS names the
check of every claim (None: the paper prints no other number it could contradict), and a
test keeps CHECKS and CLAIMS in step, so a new claim cannot skip the check.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

from qmoe_cli.paper.hybrid_qmoe.printed import (
    PAPER_ADVANTAGE_TO,
    PAPER_BREAKDOWN,
    PAPER_CLASSICAL,
    PAPER_ETA_RATIO,
    PAPER_MNIST,
    PAPER_TABLE_I,
    PAPER_TABLE_II,
)

ETA_ROUNDING = 0.005  # eta printed to two decimals


def eta_formula(acc: float, params: int) -> float:
    """eta = accuracy / ln(1 + P), the paper's formula with the natural log."""
    return acc / math.log1p(params)


def eta_contradiction(acc: float, params: int, printed: float) -> str:
    """A printed eta that its own accuracy and parameter count do not give."""
    formula = eta_formula(acc, params)
    if abs(formula - printed) <= ETA_ROUNDING:
        return ""
    ceiling = 1 / math.log1p(params)
    base = (1 + params) ** (printed / acc)
    return (
        f"the paper's own {100 * acc:.0f} % and {params} parameters give eta = {formula:.3f} "
        f"by its formula, not the printed {printed:.2f}; no eta above 1/ln(1 + {params}) = "
        f"{ceiling:.3f} is reachable with the natural log (the printed value needs log base "
        f"{base:.3g})"
    )


def crossing(table: Mapping[float, float], baseline: float) -> float | None:
    """Where a curve (level -> accuracy) first falls to the baseline, linearly interpolated
    between levels; None when it stays above it over the levels printed."""
    levels = sorted(table)
    for lo, hi in zip(levels, levels[1:], strict=False):
        a, b = table[lo] - baseline, table[hi] - baseline
        if a <= 0:
            return lo
        if b <= 0:
            return lo + (hi - lo) * a / (a - b)
    return None


def breakdown_contradiction(
    table: Mapping[float, float], baseline: float, claimed: float, rounding: float
) -> str:
    """A breakdown point that the printed curve and baseline do not give."""
    at = crossing(table, baseline)
    last = max(table)
    if at is None:
        if claimed <= last:
            return (
                f"by the paper's own Table II the quantum router is still above "
                f"{100 * baseline:.0f} % at eps = {last:g} ({100 * table[last]:.0f} %), so "
                f"its curve does not fall to the baseline by {last:g}, and not at ~{claimed:g}"
            )
        return ""
    if abs(at - claimed) > rounding:
        return (
            f"the paper's own Table II falls to {100 * baseline:.0f} % at eps = {at:.3g}, "
            f"not at ~{claimed:g}"
        )
    return ""


def advantage_contradiction(table: Mapping[float, float], baseline: float, up_to: float) -> str:
    """An advantage claimed up to a level where the printed curve is not above the baseline."""
    below = [lvl for lvl, acc in sorted(table.items()) if lvl <= up_to and acc <= baseline]
    if not below:
        return ""
    return (
        f"the paper's own Table II is at or below the baseline ({100 * baseline:.0f} %) at "
        f"eps = {below[0]:g}, within the claimed range up to {up_to:g}"
    )


def ratio_contradiction(ratios: Mapping[str, float], claimed: tuple[float, float]) -> str:
    """A range of ratios claimed across data sets that the paper's own ratios leave."""
    lo, hi = claimed
    outside = {k: r for k, r in ratios.items() if not lo <= r <= hi}
    if not outside:
        return ""
    given = ", ".join(f"{r:.2f}x ({k})" for k, r in ratios.items())
    return (
        f"the paper's own accuracies and parameter counts give, by its formula, {given}: "
        f"{', '.join(outside)} outside its {lo:g}x to {hi:g}x"
    )


def order_contradiction(a: float, b: float, expect: str, what: str) -> str:
    """A comparison whose own printed numbers point the other way."""
    ok = {"greater": a > b, "less": a < b, "not less": a >= b}[expect]
    return "" if ok else f"the paper's own numbers ({what}: {a:g} vs {b:g}) do not show it"


def same_number_contradiction(value: float, other: float, where: str) -> str:
    """One quantity printed twice with different values."""
    return "" if math.isclose(value, other) else f"{where} prints {other:g} for the same quantity"


def _eta(model: str) -> Callable[[], str]:
    row = PAPER_TABLE_I[model]
    return lambda: eta_contradiction(row.accuracy, row.params, row.eta)


def _eta_ratios() -> dict[str, float]:
    b, c = PAPER_TABLE_I["B"], PAPER_TABLE_I["C"]
    (q_acc, q_p), (k_acc, k_p) = PAPER_MNIST["quantum"], PAPER_MNIST["classical"]
    return {
        "Two Moons, B vs C": eta_formula(b.accuracy, b.params) / eta_formula(c.accuracy, c.params),
        "MNIST, 32 vs 128 parameters": eta_formula(q_acc, q_p) / eta_formula(k_acc, k_p),
    }


_A, _B, _C = PAPER_TABLE_I["A"], PAPER_TABLE_I["B"], PAPER_TABLE_I["C"]
# claim id -> its check (None: the paper prints no other number it could contradict)
CHECKS: dict[str, Callable[[], str] | None] = {
    "table1.A.accuracy": lambda: same_number_contradiction(
        _A.accuracy, PAPER_CLASSICAL, "Table II's classical baseline"
    ),
    "table1.A.params": None,
    "table1.A.eta": _eta("A"),
    "table1.C.accuracy": None,
    "table1.C.params": None,
    "table1.C.eta": _eta("C"),
    "table1.B.accuracy": lambda: same_number_contradiction(
        _B.accuracy, PAPER_TABLE_II[0.0], "Table II at eps = 0"
    ),
    "table1.B.params": None,
    "table1.B.eta": _eta("B"),
    "cmp.quantum_vs_linear": lambda: order_contradiction(
        _B.accuracy, _A.accuracy, "greater", "Table I accuracy"
    ),
    "cmp.quantum_vs_deep": lambda: order_contradiction(
        _B.accuracy, _C.accuracy, "not less", "Table I accuracy"
    ),
    "eta.quantum_vs_linear": lambda: order_contradiction(
        eta_formula(_B.accuracy, _B.params),
        eta_formula(_A.accuracy, _A.params),
        "greater",
        "eta by its formula from Table I",
    ),  # fmt: skip
    "eta.quantum_vs_deep": lambda: order_contradiction(
        eta_formula(_B.accuracy, _B.params),
        eta_formula(_C.accuracy, _C.params),
        "greater",
        "eta by its formula from Table I",
    ),  # fmt: skip
    "mnist.quantum": None,
    "mnist.classical": None,
    "eta.ratio": lambda: ratio_contradiction(_eta_ratios(), PAPER_ETA_RATIO),
    **{f"table2.eps={level:g}": None for level in PAPER_TABLE_II if level},
    "table2.eps=0": lambda: same_number_contradiction(
        PAPER_TABLE_II[0.0], _B.accuracy, "Table I (Model B)"
    ),
    "table2.classical": lambda: same_number_contradiction(
        PAPER_CLASSICAL, _A.accuracy, "Table I (Model A)"
    ),
    "noise.advantage": lambda: advantage_contradiction(
        PAPER_TABLE_II, PAPER_CLASSICAL, PAPER_ADVANTAGE_TO
    ),
    "noise.breakdown": lambda: breakdown_contradiction(
        PAPER_TABLE_II, PAPER_CLASSICAL, PAPER_BREAKDOWN, 0.0005
    ),
    "convergence.quantum": None,
    "convergence.deep_classical": None,
    "convergence.faster": lambda: order_contradiction(20, 50, "less", "Sec. VI-D epochs"),
    "fq.accuracy": None,
    "fq.qubits": None,
    "fq.noise": None,
    "hardware.nisq": None,
    "mech.coherence": None,
    "mech.entanglement": None,
    "mech.classical_spectrum": None,
    "mech.kernel": None,
    "mech.barren": None,
    "mech.layerwise": None,
    "mech.layerwise_convergence": None,
}


def contradiction(claim_id: str) -> str:
    """The paper's own numbers against the claim ("" when they agree or cannot tell)."""
    check = CHECKS[claim_id]  # KeyError: a claim without a check (tests/test_claims.py)
    return check() if check is not None else ""
