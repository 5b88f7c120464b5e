"""The decision framework on hand-made inputs (docs/verdicts.md): one family per claim and one
adjusted p per comparison in a report, non-inferiority at and around its margin, single-run
intervals at 0 and 100 %, skewed epoch counts, the mechanical consistency check, and the
headline's direction split."""

import math
import re
from pathlib import Path

import numpy as np
import pytest

from qmoe_cli.config import ExperimentConfig
from qmoe_cli.paper import hybrid_qmoe
from qmoe_cli.paper.hybrid_qmoe import consistency as C
from qmoe_cli.paper.hybrid_qmoe.claims import CLAIMS
from qmoe_cli.paper.hybrid_qmoe.printed import PAPER_EPOCHS
from qmoe_cli.paper.hybrid_qmoe.table_i import convergence, model_accuracy
from qmoe_cli.report import claims_tables, render
from qmoe_cli.report import verdicts as V
from qmoe_cli.report.inputs import Run, Stat
from qmoe_cli.report.measured import ModelResult


def _claim(cid: str) -> V.Claim:
    return next(c for c in CLAIMS if c.id == cid)


def _run(label: str) -> Run:
    config = {"data": {"name": "two_moons"}, "train": {"epochs": 100, "early_stopping": False}}
    return Run(Path(f"/x/{label}"), label, "ablate", None, None, ExperimentConfig(**config), "")


def _model(run, variant, router, params, accs, epochs90=None, n_test=200) -> ModelResult:
    return ModelResult(
        run, variant, variant, router, params, params + 12,
        Stat(float(np.mean(accs)), n=len(accs)),
        epochs90 if epochs90 is not None else [5] * len(accs), 100,
        per_seed_acc=list(accs), early_stopping=False, n_test=n_test,
    )  # fmt: skip


def _evidence(*models) -> V.Evidence:
    runs = list({id(m.run): m.run for m in models}.values())
    return V.Evidence(runs, list(models), [], [], CLAIMS, PAPER_EPOCHS)


def _ablations(seed=0):
    """Two runs of A, B, B4, C, C16 with differences of a few points."""
    rng = np.random.default_rng(seed)
    models = []
    for label in ("R1", "R2"):
        run = _run(label)
        a = 0.90 + 0.02 * rng.standard_normal(10)
        for name, router, params, shift in (
            ("A", "linear", 12, 0.0), ("B", "quantum", 24, 0.03), ("B4", "quantum", 24, 0.04),
            ("C", "mlp", 244, 0.035), ("C16", "mlp", 116, 0.02),
        ):  # fmt: skip
            accs = np.clip(a + shift + 0.01 * rng.standard_normal(10), 0, 1)
            epochs = list(rng.integers(5, 40, 10))
            models.append(_model(run, name, router, params, list(accs), epochs))
    return models


# --- families -----------------------------------------------------------------------------


def test_one_adjusted_p_per_comparison_and_one_family_per_claim_in_a_report():
    ev = _evidence(*_ablations())
    findings = V.evaluate(ev, CLAIMS, PAPER_EPOCHS)
    paper = hybrid_qmoe.PAPER
    md = render.to_markdown(claims_tables.claims_section(findings, paper))
    statement = re.compile(
        r"(\S+ vs \S+): [^;|]*?Holm-adjusted p = ([\d.e+-]+|n/a) over the claim's (\d+) tests"
    )
    seen: dict[tuple, set] = {}
    family: dict[str, set] = {}
    for line in md.splitlines():
        cells = [c.strip() for c in line.split("|")]
        if len(cells) < 3 or not cells[1].startswith(("cmp.", "eta.", "convergence.")):
            continue
        for label, p, n in statement.findall(line):
            source = next((c for c in cells if re.match(r"R\d ", c)), "")
            seen.setdefault((cells[1], source.split(" ")[0], label), set()).add(p)
            family.setdefault(cells[1], set()).add(int(n))
    assert seen, "no adjusted p-value found in the report"
    assert all(len(ps) == 1 for ps in seen.values()), {k: v for k, v in seen.items() if len(v) > 1}
    # each claim's family is its tests over both runs: 2 runs x 2 quantum x (1 or 2) others
    assert family["cmp.quantum_vs_linear"] == {4} and family["cmp.quantum_vs_deep"] == {8}
    assert family["eta.quantum_vs_linear"] == {4} and family["convergence.faster"] == {8}


# --- non-inferiority ------------------------------------------------------------------------


def _deep_pair(deficit: float, n_test: int):
    run = _run("R1")
    rng = np.random.default_rng(5)
    c = 0.95 + 0.01 * rng.standard_normal(20)
    b = c - deficit + 0.004 * rng.standard_normal(20)
    return _evidence(
        _model(run, "B", "quantum", 24, list(b), n_test=n_test),
        _model(run, "C", "mlp", 244, list(c), n_test=n_test),
    )


def test_at_least_as_accurate_is_non_inferiority_at_the_noise_floor_and_flips_at_its_bound():
    claim = _claim("cmp.quantum_vs_deep")
    ev = _deep_pair(0.005, 200)  # half a point worse
    (f,) = V.comparison(claim, ev)
    m = f.margin
    assert m is not None and m.test == "non-inferiority"
    p = np.mean([a for x in ev.models for a in x.per_seed_acc])
    assert m.points == pytest.approx(100 * math.sqrt(p * (1 - p) / 200))
    assert f.category == V.REPRODUCED and m.flip < m.points
    # the flip is where the one-sided bound of the deficit lies: passes just above, not below
    assert dict(m.curve)[0.5] is False and dict(m.curve)[1.0] is True
    # a deficit of 2 points, larger than the 1.6-point noise floor: not shown, signed
    (g,) = V.comparison(claim, _deep_pair(0.02, 200))
    assert g.category == V.NOT_REPRODUCED and g.direction == V.OVERSTATES
    assert g.margin is not None and g.margin.flip > g.margin.points
    # the same 2-point deficit on 30 test rows: a 4-point noise floor, non-inferior
    (h,) = V.comparison(claim, _deep_pair(0.02, 30))
    assert h.category == V.REPRODUCED and h.margin is not None and h.margin.points > 3.5


def test_the_margins_table_shows_every_margin_and_where_it_flips():
    ev = _deep_pair(0.005, 200)
    findings = V.comparison(_claim("cmp.quantum_vs_deep"), ev)
    table = claims_tables.margins_table(findings)
    assert table is not None and len(table.rows) == 1
    row = table.rows[0]
    assert row[2] == "non-inferiority" and "noise floor" in row[4] and "0.5: no" in row[6]


# --- single-run intervals at the edges -------------------------------------------------------


def test_a_single_run_prediction_at_100_percent_is_not_a_point():
    claim = _claim("mnist.classical")  # the paper's 95.8 %
    f = V.judge_single(claim, "s", [1.0] * 5, n_test=167)
    assert f.high == 1.0 and f.low < 1.0 and "beta-binomial, 167 rows" in f.measured
    assert f.category == V.NOT_REPRODUCED and f.direction == V.UNDERSTATES
    g = V.judge_single(_claim("table1.A.accuracy"), "s", [0.0] * 5, n_test=167)
    assert g.low == 0.0 and g.high > 0.0 and g.direction == V.OVERSTATES


def test_within_n_epochs_is_judged_by_the_share_of_seeds_within():
    claim = _claim("convergence.quantum")  # "within 20 epochs"
    run = _run("R1")
    slow = _model(run, "B", "quantum", 24, [0.95] * 20, epochs90=[25, 30, 35, 28, 32] * 4)
    (f,) = convergence(claim, _evidence(slow), "quantum", True)
    # the old rule (a prediction interval's lower end <= 20.5) passed this router
    assert f.category == V.NOT_REPRODUCED and "0 of 20 seeds" in f.measured
    skewed = [10, 12, 14, 11, 13, 15, 12, 10, 11, 14, 60, 80, 100, 70, 90, 12, 13, 11, 10, 14]
    fast = _model(run, "B", "quantum", 24, [0.95] * 20, epochs90=skewed)
    (g,) = convergence(claim, _evidence(fast), "quantum", True)
    assert g.category == V.REPRODUCED and g.low is not None and g.low > 0  # log scale


def test_about_n_epochs_uses_a_log_scale_interval_that_stays_positive():
    claim = _claim("convergence.deep_classical")  # "about 50 epochs"
    run = _run("R1")
    skewed = [5, 6, 5, 7, 6, 5, 8, 40, 6, 5]
    m = _model(run, "C", "mlp", 244, [0.97] * 10, epochs90=skewed)
    (f,) = convergence(claim, _evidence(m), "mlp", False)
    assert f.low is not None and f.low > 0 and "log scale" in f.measured


# --- the mechanical consistency check ------------------------------------------------------------


def test_every_claim_is_checked_against_the_papers_other_numbers():
    assert set(C.CHECKS) == {c.id for c in CLAIMS}
    found = {c.id for c in CLAIMS if c.contradiction}
    assert found == {"table1.A.eta", "table1.B.eta", "table1.C.eta", "eta.ratio",
                     "noise.breakdown"}  # fmt: skip


def test_consistency_checks_on_hand_made_numbers():
    assert C.eta_contradiction(0.94, 24, 0.29) == ""  # 0.94 / ln 25 = 0.292
    assert "log base" in C.eta_contradiction(0.94, 24, 7.14)
    table = {0.0: 0.94, 0.01: 0.89, 0.02: 0.82, 0.03: 0.73}
    assert C.crossing(table, 0.65) is None
    assert "still above" in C.breakdown_contradiction(table, 0.65, 0.025, 0.0005)
    falling = {0.0: 0.94, 0.02: 0.80, 0.03: 0.60}
    assert C.crossing(falling, 0.65) == pytest.approx(0.0275)  # 0.02 + 0.01 x 0.15 / 0.20
    assert C.breakdown_contradiction(falling, 0.65, 0.0275, 0.0005) == ""
    assert "0.0275" in C.breakdown_contradiction(falling, 0.65, 0.02, 0.0005)
    assert C.advantage_contradiction(table, 0.65, 0.02) == ""
    assert "eps = 0.02" in C.advantage_contradiction({0.0: 0.9, 0.02: 0.6}, 0.65, 0.02)
    assert C.ratio_contradiction({"x": 1.7, "y": 2.0}, (1.5, 2.5)) == ""
    assert "y outside" in C.ratio_contradiction({"x": 1.7, "y": 1.4}, (1.5, 2.5))
    assert C.order_contradiction(94, 65, "greater", "acc") == ""
    assert "do not show it" in C.order_contradiction(20, 50, "greater", "epochs")
    assert "Table II" in C.same_number_contradiction(0.94, 0.93, "Table II")


def test_a_contradicted_claim_is_inconsistent_whatever_was_measured():
    claim = _claim("noise.breakdown")
    assert claim.contradiction
    f = V.Finding(claim, "R3", "0.03", V.REPRODUCED, "~0.025 lies inside the interval")
    (v,) = [x for x in V.verdicts([f], CLAIMS) if x.claim.id == claim.id]
    assert v.category == V.INCONSISTENT and "measured: reproduced" in v.reason


# --- the headline ---------------------------------------------------------------------------------


def test_the_headline_splits_not_reproduced_by_direction():
    over = V.judge_single(_claim("table1.B.accuracy"), "s", [0.80, 0.81, 0.79, 0.80, 0.80])
    under = V.judge_single(_claim("table1.A.accuracy"), "s", [0.95, 0.96, 0.94, 0.95, 0.96])
    assert over.direction == V.OVERSTATES and under.direction == V.UNDERSTATES
    by_claim = V.verdicts([over, under], CLAIMS)
    split = V.direction_counts(by_claim)
    assert split[V.OVERSTATES] == 1 and split[V.UNDERSTATES] == 1
    text = claims_tables.headline(by_claim, len(CLAIMS))
    assert "2 not reproduced (1 where the paper overstates; 1 where the paper understates)" in text


def test_one_palette_for_the_categories_in_the_figure_and_the_html():
    from qmoe_cli import figures, palette

    assert figures.CATEGORY_COLOURS is palette.CATEGORY_COLOURS
    assert set(palette.CATEGORY_COLOURS) == set(V.CATEGORIES)
    for category, colour in palette.CATEGORY_COLOURS.items():
        assert (
            f"td.{palette.css_class(category)} {{ background: {palette.tint(colour)}" in render.CSS
        )
    table = render.Table(["verdict"], [["not reproduced (the paper overstates)"]], "t", {0})
    assert 'class="not-reproduced"' in render.to_html([table], "x")


# --- the mechanism claims ------------------------------------------------------------------------


def _router_model(run, variant, router: dict, params, accs) -> ModelResult:
    from qmoe_cli.config import ModelConfig

    m = _model(run, variant, router["type"], params, accs)
    m.model = ModelConfig(router=router, experts={"type": "linear", "count": 4})
    return m


def test_mechanism_claims_pair_each_circuit_with_its_own_ablation_only():
    run = _run("R1")
    rng = np.random.default_rng(7)
    base = 0.97 + 0.005 * rng.standard_normal(10)
    b = {"type": "quantum", "qubits": 2, "layers": 12, "ansatz": "ry_cz", "embedding": "ry"}
    b4 = {**b, "qubits": 4, "layers": 6}
    models = [
        _router_model(run, "B", b, 24, list(base)),
        _router_model(run, "B_dephased", {**b, "mechanism": "dephased"}, 24, list(base - 0.03)),
        _router_model(run, "B4", b4, 24, list(base + 0.01)),
        _router_model(run, "B4_dephased", {**b4, "mechanism": "dephased"}, 24, list(base - 0.02)),
        _router_model(
            run,
            "S2",
            {"type": "spectrum_matched", "qubits": 2, "max_params": 24},
            24,
            list(base + 0.02),
        ),  # fmt: skip
        _router_model(
            run,
            "S2_full",
            {"type": "spectrum_matched", "qubits": 2, "map": "full", "max_params": None},
            27,
            list(base + 0.02),
        ),  # fmt: skip
    ]
    ev = _evidence(*models)
    (f,) = V.comparison(_claim("mech.coherence"), ev)
    assert f.category == V.REPRODUCED
    assert [label for label, _ in f.parts] == ["B vs B_dephased", "B4 vs B4_dephased"]
    (g,) = V.comparison(_claim("mech.classical_spectrum"), ev)
    assert g.category == V.NOT_REPRODUCED and g.direction == V.OVERSTATES
    assert "S2_full" not in g.measured and "B4 vs S2" not in g.measured  # over budget, other qubits
    # a router with its interference removed is no Model B
    (acc,) = model_accuracy(_claim("table1.B.accuracy"), ev, "quantum", 24)
    assert "dephased" not in acc.source
