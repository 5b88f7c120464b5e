"""The report's verdict rules on hand-made measurements: prediction intervals, rounding,
signed verdicts, setup-dependence, Holm-adjusted comparisons, counting once, budgets."""

import math
from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from qmoe_cli import records
from qmoe_cli.config import ExperimentConfig
from qmoe_cli.metrics import holm, prediction_interval
from qmoe_cli.paper.hybrid_qmoe.claims import CLAIMS
from qmoe_cli.paper.hybrid_qmoe.efficiency import eta_ratio
from qmoe_cli.paper.hybrid_qmoe.noise import noise_advantage, noise_breakdown, noise_level
from qmoe_cli.paper.hybrid_qmoe.printed import PAPER_EPOCHS
from qmoe_cli.paper.hybrid_qmoe.table_i import model_accuracy, model_eta
from qmoe_cli.report import verdicts as V
from qmoe_cli.report.inputs import Run, Stat
from qmoe_cli.report.measured import ModelResult, NoiseSweep


def _claim(cid: str) -> V.Claim:
    return next(c for c in CLAIMS if c.id == cid)


def _run(label="R1", epochs=100, kind="ablate") -> Run:
    config = {"data": {"name": "two_moons"}, "train": {"epochs": epochs, "early_stopping": False}}
    return Run(Path(f"/x/{label}"), label, kind, None, None, ExperimentConfig(**config), "")


def _model(run, variant, router, params, accs, epochs90=None, eff=None, n_test=None) -> ModelResult:
    return ModelResult(
        run,
        variant,
        variant,
        router,
        params,
        params + 12,
        Stat(float(np.mean(accs)), n=len(accs)),
        epochs90 if epochs90 is not None else [5] * len(accs),
        run.epoch_budget,
        per_seed_acc=list(accs),
        effective_params=eff,
        early_stopping=False,
        n_test=n_test,
    )


def _evidence(*models, runs=None, sweeps=()) -> V.Evidence:
    if runs is None:
        runs = []
        for m in models:
            if not any(m.run is r for r in runs):
                runs.append(m.run)
    return V.Evidence(runs, list(models), list(sweeps), [], CLAIMS, PAPER_EPOCHS)


# --- single-run numbers ---------------------------------------------------------------------


def test_rounding_is_half_the_last_printed_digit():
    assert _claim("table1.B.accuracy").rounding == 0.005  # "94 %"
    assert math.isclose(_claim("mnist.quantum").rounding, 0.0005)  # "96.5 %"
    assert _claim("noise.breakdown").rounding == 0.0005  # "~0.025"
    assert _claim("convergence.quantum").rounding == 0.5  # "20 epochs"
    assert _claim("table1.B.params").rounding == 0.0


def test_prediction_interval_formula_and_truncation():
    values = [0.90, 0.92, 0.94, 0.96, 0.98]
    low, high = prediction_interval(values)
    half = stats.t.ppf(0.975, 4) * np.std(values, ddof=1) * math.sqrt(1 + 1 / 5)
    assert math.isclose(low, 0.94 - half) and math.isclose(high, 0.94 + half)
    assert prediction_interval([0.99, 1.0, 0.97, 1.0, 1.0], bounds=(0, 1))[1] == 1.0


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0, 1), min_size=2, max_size=25))
def test_single_run_intervals_stay_in_range(values):
    f = V.judge_single(_claim("table1.B.accuracy"), "s", values + [0.5] * 5)
    assert 0.0 <= f.low <= f.high <= 1.0


def test_a_value_inside_the_prediction_interval_is_reproduced():
    claim = _claim("table1.B.accuracy")  # 94 %
    f = V.judge_single(claim, "s", [0.92, 0.93, 0.95, 0.96, 0.94])
    assert f.category == V.REPRODUCED and f.interval.startswith("95 % prediction interval")


def test_outside_it_the_verdict_is_signed():
    claim = _claim("table1.A.accuracy")  # 65 %
    high = V.judge_single(claim, "s", [0.93, 0.95, 0.94, 0.96, 0.92])
    assert high.category == V.NOT_REPRODUCED and "the paper understates" in high.reason
    low = V.judge_single(claim, "s", [0.40, 0.42, 0.41, 0.43, 0.40])
    assert low.category == V.NOT_REPRODUCED and "the paper overstates" in low.reason


def test_rounding_widens_the_paper_value():
    claim = _claim("table1.B.accuracy")  # 94 %: anything from 93.5 % to 94.5 %
    values = [0.9455, 0.9460, 0.9465, 0.9460, 0.9460]  # interval just above 94.5 %?
    low, _ = prediction_interval(values)
    assert 0.94 < low < 0.945  # 94 % itself lies below the interval ...
    assert V.judge_single(claim, "s", values).category == V.REPRODUCED  # ... 94.5 % inside
    shifted = [v + 0.01 for v in values]
    assert V.judge_single(claim, "s", shifted).category == V.NOT_REPRODUCED


def test_a_mean_ci_would_reject_what_the_prediction_interval_accepts():
    # 20 seeds around 0.96 +- 0.01: the paper's single run at 94 % is a plausible run,
    # although it lies far below the CI of the mean
    values = list(np.random.default_rng(0).normal(0.96, 0.01, 20))
    ci_low = np.mean(values) - stats.t.ppf(0.975, 19) * np.std(values, ddof=1) / math.sqrt(20)
    assert 0.945 < ci_low
    assert V.judge_single(_claim("table1.B.accuracy"), "s", values).category == V.REPRODUCED


def test_budgets_below_the_papers_are_not_measured():
    claim = _claim("table1.B.accuracy")
    few = V.judge_single(claim, "s", [0.94, 0.95])
    assert few.category == V.NOT_MEASURED and "at least 5" in few.reason
    short = V.judge_single(claim, "s", [0.94] * 5, epochs=3, min_epochs=100)
    assert short.category == V.NOT_MEASURED and "3 epochs" in short.reason


def test_within_claims_are_one_sided():
    claim = _claim("convergence.quantum")  # within 20 epochs
    assert V.judge_single(claim, "s", [4, 5, 6, 5, 4], one_sided=True).category == V.REPRODUCED
    slow = V.judge_single(claim, "s", [40, 42, 41, 43, 40], one_sided=True)
    assert slow.category == V.NOT_REPRODUCED


# --- alternatives, runs, counting once --------------------------------------------------------


def test_alternatives_that_disagree_are_setup_dependent():
    run = _run()
    b2 = _model(run, "B", "quantum", 24, [0.98, 0.985, 0.98, 0.985, 0.98])
    b4 = _model(run, "B4", "quantum", 24, [0.94, 0.93, 0.95, 0.94, 0.95])
    (f,) = model_accuracy(_claim("table1.B.accuracy"), _evidence(b2, b4), "quantum", 24)
    assert f.category == V.SETUP_DEPENDENT and "B4" in f.measured
    (same,) = model_accuracy(_claim("table1.B.accuracy"), _evidence(b4), "quantum", 24)
    assert same.category == V.REPRODUCED


def test_every_mlp_layout_measures_model_c_and_the_papers_size_the_others():
    run = _run()
    c = _model(run, "C", "mlp", 244, [0.93, 0.92, 0.94, 0.93, 0.93])
    c16 = _model(run, "C16", "mlp", 116, [0.5] * 5)
    (f,) = model_accuracy(_claim("table1.C.accuracy"), _evidence(c, c16), "mlp", 240)
    assert f.category == V.SETUP_DEPENDENT and "C16" in f.source  # one Model C set, every row
    b = _model(run, "B", "quantum", 24, [0.93, 0.94, 0.95, 0.94, 0.94])
    big = _model(run, "B8", "quantum", 96, [0.5] * 5)
    (g,) = model_accuracy(_claim("table1.B.accuracy"), _evidence(b, big), "quantum", 24)
    assert g.category == V.REPRODUCED and "B8" not in g.source


def test_the_same_numbers_are_counted_once():
    run = _run()
    b = _model(run, "B", "quantum", 24, [0.93, 0.94, 0.95, 0.94, 0.94])
    first = V.judge_single(_claim("table1.B.accuracy"), "ablation", b.per_seed_acc)
    again = V.judge_single(_claim("table2.eps=0"), "noise sweep", list(b.per_seed_acc))
    other = V.judge_single(_claim("table2.eps=0.005"), "noise sweep", [0.9, 0.91, 0.92, 0.9, 0.9])
    findings = [first, again, other]
    V.count_once(findings)
    assert first.counted and not again.counted and other.counted
    assert "table1.B.accuracy" in again.reason
    by_id = {v.claim.id: v for v in V.verdicts(findings, CLAIMS)}
    assert not by_id["table2.eps=0"].counted and by_id["table1.B.accuracy"].counted
    tally = V.counts(list(by_id.values()))
    assert tally[V.REPRODUCED] == 2  # table1.B and eps = 0.005; eps = 0 not again


def test_runs_that_disagree_make_the_claim_setup_dependent():
    claim = _claim("table1.A.accuracy")
    fixed = V.judge_single(claim, "R1 (no early stopping)", [0.95, 0.96, 0.94, 0.95, 0.96])
    stopped = V.judge_single(claim, "R2 (early stopping)", [0.66, 0.64, 0.65, 0.65, 0.66])
    verdict = next(v for v in V.verdicts([fixed, stopped], CLAIMS) if v.claim.id == claim.id)
    assert verdict.category == V.SETUP_DEPENDENT and "R2 (early stopping)" in verdict.reason


def test_claims_without_runs_are_not_measured_and_say_why():
    findings = V.evaluate(_evidence(runs=[_run()]), CLAIMS, PAPER_EPOCHS)
    by_id = {v.claim.id: v for v in V.verdicts(findings, CLAIMS)}
    assert set(by_id) == {c.id for c in CLAIMS}
    assert by_id["mnist.quantum"].category == V.NOT_MEASURED
    assert "no efficiency run on mnist" in by_id["mnist.quantum"].reason


# --- comparative claims -------------------------------------------------------------------------


def test_comparisons_are_paired_and_holm_adjusted_within_an_ablation():
    run = _run()
    rng = np.random.default_rng(1)
    a = _model(run, "A", "linear", 12, list(0.90 + 0.01 * rng.standard_normal(8)))
    b = _model(run, "B", "quantum", 24, [x + 0.03 for x in a.per_seed_acc])
    b.per_seed_acc = [x + 0.001 * rng.standard_normal() for x in b.per_seed_acc]
    c = _model(run, "C", "mlp", 244, [x + 0.05 for x in a.per_seed_acc])
    ev = _evidence(a, b, c)
    (beats,) = V.comparison(_claim("cmp.quantum_vs_linear"), ev)
    assert beats.category == V.REPRODUCED and "Holm-adjusted" in beats.measured
    (deep,) = V.comparison(_claim("cmp.quantum_vs_deep"), ev)
    assert deep.category == V.NOT_REPRODUCED and "significantly lower" in deep.reason
    # each claim's family is its own tests: here one pair each, whatever the other claims test
    n_tests = {
        m.split(" over the claim's ")[1].split(" tests")[0] for m in (beats.measured, deep.measured)
    }
    assert n_tests == {"1"}


def test_a_claims_family_spans_its_runs_and_layouts_and_nothing_else():
    rng = np.random.default_rng(3)
    models = []
    for label in ("R1", "R2"):
        run = _run(label)
        a = _model(run, "A", "linear", 12, list(0.90 + 0.01 * rng.standard_normal(8)))
        models += [a, _model(run, "B", "quantum", 24, [x + 0.02 for x in a.per_seed_acc])]
        models += [_model(run, "B4", "quantum", 24, [x + 0.01 for x in a.per_seed_acc])]
        models += [_model(run, "C", "mlp", 244, [x + 0.03 for x in a.per_seed_acc])]
    ev = _evidence(*models)
    rows = V.comparison(_claim("cmp.quantum_vs_linear"), ev)
    assert len(rows) == 2  # one row per run, one family over both: 2 runs x 2 layouts
    assert all("over the claim's 4 tests" in r.measured for r in rows)
    raw = [V.paired(b.per_seed_acc, a.per_seed_acc).p for a, b in
           [(models[i], models[i + j]) for i in (0, 4) for j in (1, 2)]]  # fmt: skip
    shown = {float(x.split("Holm-adjusted p = ")[1].split(" ")[0]) for r in rows
             for x in r.measured.split("; ")}  # fmt: skip
    assert shown == {float(V.fmt_p(p)) for p in holm(raw)}


def test_holm_adjustment():
    assert holm([0.01, 0.04, 0.03]) == [0.03, 0.06, 0.06]
    adjusted = holm([0.01, math.nan, 0.02])
    assert adjusted[0] == 0.02 and math.isnan(adjusted[1]) and adjusted[2] == 0.02


def test_a_comparison_that_flips_between_layouts_is_setup_dependent():
    run = _run()
    a = _model(run, "A", "linear", 12, [0.90, 0.91, 0.89, 0.90, 0.92, 0.91])
    b = _model(run, "B", "quantum", 24, [0.97, 0.98, 0.96, 0.975, 0.99, 0.985])
    b4 = _model(run, "B4", "quantum", 24, [0.90, 0.92, 0.88, 0.91, 0.91, 0.90])
    claim = _claim("cmp.quantum_vs_linear")
    (f,) = V.comparison(claim, _evidence(a, b, b4))
    assert f.category == V.SETUP_DEPENDENT


def test_convergence_faster_counts_seeds_that_never_converge_at_the_budget():
    run = _run()
    b = _model(run, "B", "quantum", 24, [0.95] * 6, epochs90=[5, 6, None, 5, 4, 6])
    c = _model(run, "C", "mlp", 244, [0.99] * 6, epochs90=[3, 4, 3, 3, 4, 3])
    assert V.epochs_to_90(b) == [5.0, 6.0, 101.0, 5.0, 4.0, 6.0]
    claim = _claim("convergence.faster")
    (f,) = V.comparison(claim, _evidence(b, c))
    assert f.category == V.NOT_REPRODUCED


# --- noise ----------------------------------------------------------------------------------


def _sweep(run, breakdown, per_level=None, mode="evaluate") -> NoiseSweep:
    return NoiseSweep(run, mode, "torch", "paper", [0, 0.01, 0.02, 0.03], [], {}, "A",
                      breakdown, per_level or {})  # fmt: skip


def _curves(sweep_rows: list[list[float]], base: list[float], run=None) -> NoiseSweep:
    """A sweep of these per-seed curves (levels 0, 0.01, 0.02, 0.03) against a linear A."""
    run = run or _run(kind="noise-sweep")
    a = _model(run, "A", "linear", 12, base)
    levels = [0, 0.01, 0.02, 0.03]
    per_level = {lv: [row[i] for row in sweep_rows] for i, lv in enumerate(levels)}
    return NoiseSweep(run, "evaluate", "torch", "paper", levels, [], {"A": a}, "A", None,
                      per_level)  # fmt: skip


def test_breakdown_against_the_bootstrap_interval_with_censoring():
    claim = _claim("noise.breakdown")
    jitter = np.linspace(-0.004, 0.004, 20)
    crossing = [[0.94, 0.85, 0.70 + j, 0.60 + j] for j in jitter]  # falls to 65 % at ~0.025
    inside = _curves(crossing, [0.65] * 20)
    (f,) = noise_breakdown(claim, _evidence(runs=[inside.run], sweeps=[inside]))
    assert f.category == V.REPRODUCED and "vs A" in f.measured
    early = _curves([[0.94, 0.60 + j, 0.55, 0.5] for j in jitter], [0.65] * 20)
    (g,) = noise_breakdown(claim, _evidence(runs=[early.run], sweeps=[early]))
    assert g.category == V.NOT_REPRODUCED and "overstates" in g.reason
    # seeds that never fall within the levels make resamples that never cross: open upwards
    never = _curves(crossing[:10] + [[0.94, 0.92, 0.90, 0.88]] * 10, [0.65] * 20)
    (h,) = noise_breakdown(claim, _evidence(runs=[never.run], sweeps=[never]))
    assert ">= 0.0300" in h.measured and "10 of 20 seeds never fall" in h.measured
    few = _curves(crossing[:2], [0.65] * 2)
    (k,) = noise_breakdown(claim, _evidence(runs=[few.run], sweeps=[few]))
    assert k.category == V.NOT_MEASURED


def test_each_linear_baseline_is_an_alternative_of_the_noise_claims():
    """A and A_std (the input scaling a setup choice): the breakdown and the advantage are
    judged against each; verdicts that differ make the row setup-dependent."""
    claim = _claim("noise.breakdown")
    run = _run(kind="noise-sweep")
    jitter = np.linspace(-0.004, 0.004, 20)
    sweep = _curves([[0.94, 0.85, 0.70 + j, 0.60 + j] for j in jitter], [0.65] * 20, run)
    sweep.baselines["A_std"] = _model(run, "A_std", "linear", 12, [0.98] * 20)
    (f,) = noise_breakdown(claim, _evidence(runs=[run], sweeps=[sweep]))
    assert f.category == V.SETUP_DEPENDENT and "vs A_std" in f.measured
    (adv,) = noise_advantage(_claim("noise.advantage"), _evidence(runs=[run], sweeps=[sweep]))
    assert adv.category == V.SETUP_DEPENDENT  # above A at 0.02, below A_std
    assert "over the claim's 2 tests" in adv.measured


def test_both_noise_modes_are_one_row_setup_dependent_when_they_disagree():
    claim = _claim("table2.eps=0.02")  # 82 %
    run1, run2 = _run("R1", kind="noise-sweep"), _run("R2", kind="noise-sweep")
    rows = [
        records.NoiseRow(level=x, mode="evaluate", placement="paper", quantum_mean=None,
                         quantum_std=None, quantum_ci_low=None, quantum_ci_high=None)
        for x in (0, 0.01, 0.02, 0.03)
    ]  # fmt: skip
    ev_sweeps = []
    for run, mode, accs in ((run1, "evaluate", [0.82, 0.81, 0.83, 0.82, 0.82]),
                            (run2, "train", [0.95, 0.94, 0.96, 0.95, 0.95])):  # fmt: skip
        s = _sweep(run, None, {0.02: accs}, mode)
        s.rows = rows
        ev_sweeps.append(s)
    (f,) = noise_level(claim, _evidence(runs=[run1, run2], sweeps=ev_sweeps), 0.02)
    assert f.category == V.SETUP_DEPENDENT and "evaluate mode" in f.measured


# --- eta ----------------------------------------------------------------------------------


def test_the_printed_eta_is_inconsistent_within_the_paper():
    run = _run()
    b = _model(run, "B", "quantum", 24, [0.94] * 5, eff=6)
    claim = _claim("table1.B.eta")
    (f,) = model_eta(claim, _evidence(b), "quantum", 0.94, 24)
    assert f.category == V.NOT_REPRODUCED and f.direction == V.OVERSTATES
    assert "effective P = 6" in f.measured
    (verdict,) = [v for v in V.verdicts([f], CLAIMS) if v.claim.id == claim.id]
    assert verdict.category == V.INCONSISTENT and "log base" in verdict.reason
    assert "measured: not reproduced" in verdict.reason


def test_eta_ratio_depends_on_the_mlp_size():
    run = _run()
    accs = [0.96, 0.97, 0.95, 0.96, 0.97]
    b = _model(run, "B", "quantum", 24, accs)
    big = _model(run, "C", "mlp", 244, accs)  # ratio ln(245)/ln(25) = 1.71
    small = _model(run, "C16", "mlp", 116, accs)  # ratio ln(117)/ln(25) = 1.48
    ev = _evidence(b, big, small)
    ev.runs = [run]
    (f,) = eta_ratio(_claim("eta.ratio"), ev)
    assert f.category == V.SETUP_DEPENDENT
    ev_big = _evidence(b, big)
    (g,) = eta_ratio(_claim("eta.ratio"), ev_big)
    assert g.category == V.REPRODUCED
