"""The paper's Sec. VI-E comparison with the fully quantum QMoE, as three measured sub-claims
(qmoe_cli/paper/hybrid_qmoe/fully_quantum.py: fq.accuracy, fq.qubits, fq.noise), on hand-made
runs; and that a fully quantum variant or sweep measures none of the paper's hybrid claims."""

from pathlib import Path

import numpy as np

from qmoe_cli import records
from qmoe_cli.config import ExperimentConfig, ModelConfig
from qmoe_cli.paper.hybrid_qmoe.claims import CLAIMS, fq_comparison_run
from qmoe_cli.paper.hybrid_qmoe.fully_quantum import fq_accuracy, fq_noise, fq_qubits
from qmoe_cli.paper.hybrid_qmoe.noise import noise_columns, noise_level
from qmoe_cli.paper.hybrid_qmoe.printed import PAPER_EPOCHS
from qmoe_cli.paper.hybrid_qmoe.table_i import ablation_columns, model_accuracy
from qmoe_cli.report import verdicts as V
from qmoe_cli.report.inputs import Run, Stat
from qmoe_cli.report.measured import ModelResult, NoiseSweep

ROUTER = {"type": "quantum", "qubits": 2, "layers": 12, "readout": "probs"}
LINEAR = {"type": "linear", "count": 4}
QUANTUM = {"type": "quantum", "count": 4, "qubits": 2, "layers": 3}


def _claim(cid: str) -> V.Claim:
    return next(c for c in CLAIMS if c.id == cid)


def _run(label="R1", kind="ablate", experts=None) -> Run:
    config = {
        "data": {"name": "two_moons"},
        "train": {"epochs": 100, "early_stopping": True},
        "seeds": [0, 1, 2, 3, 4],
        "model": {"router": ROUTER, "experts": experts or LINEAR},
    }
    return Run(Path(f"/x/{label}"), label, kind, None, None, ExperimentConfig(**config), "")


def _model(run, variant, router, experts, accs, router_params=24, n_test=100) -> ModelResult:
    model = ModelConfig(router=router, experts=experts)
    return ModelResult(run, variant, variant, router["type"], router_params, router_params + 12,
                       Stat(float(np.mean(accs)), n=len(accs)), [5] * len(accs), 100,
                       model=model, per_seed_acc=list(accs), early_stopping=True,
                       n_test=n_test)  # fmt: skip


def _evidence(*models, runs=None, sweeps=()) -> V.Evidence:
    runs = runs if runs is not None else list({id(m.run): m.run for m in models}.values())
    return V.Evidence(runs, list(models), list(sweeps), [], CLAIMS, PAPER_EPOCHS)


def _pair(hybrid_accs, fq_accs, n_test=100):
    run = _run()
    b = _model(run, "B", ROUTER, LINEAR, hybrid_accs, n_test=n_test)
    fq = _model(run, "FQ", ROUTER, QUANTUM, fq_accs, n_test=n_test)
    return run, b, fq


def test_comparable_accuracy_is_an_equivalence_test_at_the_noise_floor():
    claim = _claim("fq.accuracy")
    hybrid, full = [0.97, 0.96, 0.98, 0.97, 0.96], [0.98, 0.97, 0.98, 0.98, 0.97]
    _, b, fq = _pair(hybrid, full)  # 100 test rows: margin sqrt(.972 .028 / 100) = 1.65 points
    (f,) = fq_accuracy(claim, _evidence(b, fq))
    assert f.category == V.REPRODUCED and "qubits 2 vs 10" in f.measured
    m = f.margin
    assert m is not None and m.test == "equivalence" and abs(m.points - 1.65) < 0.01
    # the 90 % CI of the difference is -0.8 +- t(0.95, 4) 0.2 = [-1.23, -0.37]: it flips there
    assert 1.2 <= m.flip <= 1.3 and dict(m.curve)[1.0] is False and dict(m.curve)[1.5] is True
    # the same numbers on 200 test rows: margin 1.17 points, below the flip: not shown
    _, b, fq = _pair(hybrid, full, n_test=200)
    (g,) = fq_accuracy(claim, _evidence(b, fq))
    assert g.category == V.NOT_REPRODUCED and g.margin is not None and g.margin.points < 1.2
    assert "not comparable" in g.reason and g.direction == V.OVERSTATES  # significantly worse
    # the hybrid 20 points below: the paper overstates
    _, b, fq = _pair([0.77, 0.76, 0.78, 0.77, 0.76], [0.98, 0.97, 0.98, 0.98, 0.97])
    (f,) = fq_accuracy(claim, _evidence(b, fq))
    assert f.category == V.NOT_REPRODUCED and "overstates" in f.reason
    # a wide interval shows no comparability
    _, b, fq = _pair([0.97, 0.70, 0.98, 0.75, 0.96], [0.98, 0.97, 0.98, 0.98, 0.97])
    (f,) = fq_accuracy(claim, _evidence(b, fq))
    assert f.category == V.NOT_REPRODUCED and "not shown" in f.reason
    # four seeds give no verdict
    _, b, fq = _pair([0.97] * 4, [0.98] * 4)
    assert fq_accuracy(claim, _evidence(b, fq))[0].category == V.NOT_MEASURED
    # without a fully quantum variant: not measured, saying what to run
    (f,) = fq_accuracy(claim, _evidence(b))
    assert f.category == V.NOT_MEASURED and "fully_quantum.yaml" in f.reason


def test_the_qubit_share_is_set_by_the_configs():
    claim = _claim("fq.qubits")
    run, b, fq = _pair([0.97] * 5, [0.98] * 5)
    qnn = _model(run, "QNN", {"type": "none"}, {**QUANTUM, "count": 1, "qubits": 10}, [0.99] * 5)
    (f,) = fq_qubits(claim, _evidence(b, fq, qnn))
    # one configuration measured: not setup-dependent (that needs both ways measured)
    assert f.value == 2 / 10 and f.category == V.NOT_REPRODUCED
    assert f.direction == V.UNDERSTATES  # these models save 80 %, more than the paper's 40 %
    assert "80 % fewer (2 vs 10 qubits" in f.measured and "QNN: 10 qubits" in f.measured
    assert "2 n_r / 3" in f.reason
    # a router of 3 qubits and two 1-qubit experts: exactly 40 % fewer
    router3 = {**ROUTER, "qubits": 3}
    run = _run("R2")
    b = _model(run, "B", router3, LINEAR, [0.97] * 5)
    fq = _model(run, "FQ", router3, {**QUANTUM, "count": 2, "qubits": 1}, [0.98] * 5)
    (f,) = fq_qubits(claim, _evidence(b, fq))
    assert abs(f.value - 0.6) < 1e-12 and f.category == V.REPRODUCED


def _noise_sweep(label, experts, per_seed: np.ndarray, mode="evaluate") -> NoiseSweep:
    levels = [0.0, 0.01, 0.02, 0.03]
    run = _run(label, "noise-sweep", experts)
    per_level = {lv: list(per_seed[:, i]) for i, lv in enumerate(levels)}
    interval = records.BreakdownInterval(
        low=0.015, high=0.025, low_censored=False, high_censored=False, confidence=0.95,
        resamples=1000, share_never=0.0, method="percentile bootstrap over seeds",
    )  # fmt: skip
    breakdown = records.Breakdown(
        eps=0.02, baseline="A", baseline_accuracy=0.65, levels=levels, per_seed=[0.02] * 5,
        seeds_never=0, seeds_at_first_level=0, interval=interval,
    )  # fmt: skip
    return NoiseSweep(run, mode, "torch", "paper", levels, [], {}, "A", breakdown, per_level)


def test_noise_resilience_compares_paired_slopes():
    claim = _claim("fq.noise")
    levels = np.array([0.0, 0.01, 0.02, 0.03])
    jitter = np.array([[0.0, 0.01, -0.01, 0.0]] * 5) * np.arange(1, 6)[:, None] / 5
    hybrid = 0.97 - 2.0 * levels + jitter  # 2 points per 0.01 eps
    full = 0.98 - 6.0 * levels + jitter[::-1]  # 6 points per 0.01 eps
    h = _noise_sweep("H", LINEAR, hybrid)
    f = _noise_sweep("F", QUANTUM, full)
    (row,) = fq_noise(claim, _evidence(runs=[h.run, f.run], sweeps=[h, f]))
    assert row.category == V.REPRODUCED and row.value > 3.5
    assert "breakdown vs the best baseline: hybrid 0.0200 [0.0150, 0.0250]" in row.measured
    # the other way round: the paper overstates
    h2, f2 = _noise_sweep("H", LINEAR, full), _noise_sweep("F", QUANTUM, hybrid)
    (row,) = fq_noise(claim, _evidence(runs=[h2.run, f2.run], sweeps=[h2, f2]))
    assert row.category == V.NOT_REPRODUCED and "overstates" in row.reason
    # modes are alternatives of one row: disagreeing modes are setup-dependent
    h3 = _noise_sweep("H3", LINEAR, full, "train")
    f3 = _noise_sweep("F3", QUANTUM, hybrid, "train")
    runs = [h.run, f.run, h3.run, f3.run]
    (row,) = fq_noise(claim, _evidence(runs=runs, sweeps=[h, f, h3, f3]))
    assert row.category == V.SETUP_DEPENDENT and "train mode" in row.measured
    # a fully quantum sweep without its hybrid partner is not measured
    (row,) = fq_noise(claim, _evidence(runs=[f.run], sweeps=[f]))
    assert row.category == V.NOT_MEASURED and "no hybrid sweep matches" in row.reason
    (row,) = fq_noise(claim, _evidence(runs=[h.run], sweeps=[h]))
    assert row.category == V.NOT_MEASURED


def test_fully_quantum_runs_measure_none_of_the_papers_hybrid_claims():
    run, b, fq = _pair([0.94] * 5, [0.99] * 5)
    ev = _evidence(b, fq)
    (f,) = model_accuracy(_claim("table1.B.accuracy"), ev, "quantum", 24)
    assert "FQ" not in f.source and f.category == V.REPRODUCED
    fq_only = _evidence(fq)
    (f,) = model_accuracy(_claim("table1.B.accuracy"), fq_only, "quantum", 24)
    assert f.category == V.NOT_MEASURED
    sweep = _noise_sweep("F", QUANTUM, np.full((5, 4), 0.9))
    (f,) = noise_level(_claim("table2.eps=0.01"), _evidence(runs=[sweep.run], sweeps=[sweep]), 0.01)
    assert f.category == V.NOT_MEASURED
    assert ablation_columns(run, fq) == {
        "paper model": "— (not in the paper: experts of another type)"
    }
    assert noise_columns(sweep.run, 0.01) == {}


def test_an_fq_comparison_run_is_not_evidence_for_table_i():
    """The linear-experts B of an ablation built for the fully quantum comparison (it has an
    FQ variant) must not change Table I's verdict; the same B alone in a run does."""
    claim = _claim("table1.B.accuracy")
    accs = [0.94, 0.95, 0.93, 0.94, 0.95]
    run, b, fq = _pair(accs, [0.98, 0.97, 0.98, 0.98, 0.97])
    measure = claim.measure  # on the paper's runs: without fully quantum comparison runs
    assert fq_comparison_run(run, [b, fq])
    assert measure(claim, _evidence(b, fq)) == [] or all(
        f.category == V.NOT_MEASURED for f in measure(claim, _evidence(b, fq))
    )
    alone = _model(_run("R2"), "B", ROUTER, LINEAR, accs)
    assert not fq_comparison_run(alone.run, [alone])
    findings = measure(claim, _evidence(alone))
    assert any(f.category != V.NOT_MEASURED for f in findings)
