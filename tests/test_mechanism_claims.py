"""mech.kernel and mech.barren judged on hand-made `qmoe diagnose` records (both outcomes of
each rule), and the report reading a diagnose folder as a run with its diagnostics section."""

from __future__ import annotations

from pathlib import Path

import pytest

from qmoe_cli import records
from qmoe_cli.paper import hybrid_qmoe
from qmoe_cli.paper.hybrid_qmoe import mechanism as M
from qmoe_cli.paper.hybrid_qmoe.claims import CLAIMS
from qmoe_cli.report import verdicts as V
from qmoe_cli.report.build import assemble
from qmoe_cli.report.inputs import Run
from qmoe_cli.report.render import Table, to_markdown


def _claim(cid: str) -> V.Claim:
    return next(c for c in CLAIMS if c.id == cid)


def _router(variant: str, seed: int, r2: float, qubits=2, mechanism="full", nonneg=4) -> dict:
    freqs = 4 if qubits == 2 else 12
    return {
        "variant": variant, "seed": seed, "mechanism": mechanism, "qubits": qubits,
        "layers": 12 if qubits == 2 else 6, "ansatz": "ry_cz", "embedding": "ry",
        "readout": "probs", "features": 2, "degrees": [qubits // 2] * 2, "of": "gates",
        "outputs": 4, "grid_points": (qubits + 1) ** 2, "frequencies": freqs,
        "nonnegligible": nonneg, "largest": 0.125, "surrogate_features": 1 + 2 * nonneg,
        "surrogate_r2": r2, "surrogate_max_error": 1e-6, "full_r2": 1.0,
        "full_max_error": 1e-12, "fit_inputs": 600, "test_inputs": 200,
    }  # fmt: skip


def _gradient(qubits: int, layers: int, variance: float, cost="global") -> dict:
    return {
        "ansatz": "ry_cz", "init": "uniform", "cost": cost, "layers": layers, "qubits": qubits,
        "variance": variance, "variance_first": variance, "mean_gradient": 0.0, "samples": 200,
    }  # fmt: skip


def _decay(layers: int, cost="global") -> dict:
    return {
        "ansatz": "ry_cz", "init": "uniform", "cost": cost, "layers": layers,
        "qubits": [2, 4, 6], "rate": -1.1, "low": -1.2, "high": -1.0, "intercept": 0.0,
        "points": 3,
    }  # fmt: skip


def _record(spectrum=(), trainability=(), decay=(), expressibility=()) -> records.DiagnoseRecord:
    return records.DiagnoseRecord.model_validate(
        {
            "name": "diagnose-two_moons",
            "source": {
                "path": "/runs/two_moons", "kind": "ablate", "name": "two_moons",
                "seeds": sorted({s["seed"] for s in spectrum}), "variants": ["B", "B4"],
                "dataset": "two_moons",
            } if spectrum else None,
            "scans": ["spectrum", "trainability"], "threshold": 1e-3, "methods": {},
            "spectrum": list(spectrum), "trainability": list(trainability),
            "decay": list(decay), "expressibility": list(expressibility), "wall_seconds": 1.0,
        }
    )  # fmt: skip


def _run(rec: records.DiagnoseRecord, label="R1") -> Run:
    return Run(Path(f"/runs/{label}-diagnose"), label, "diagnose", rec, None, None, None)


def _judge(cid: str, *recs: records.DiagnoseRecord) -> list[V.Finding]:
    ev = V.Evidence.gather([_run(r, f"R{i + 1}") for i, r in enumerate(recs)])
    return V.evaluate(ev, (_claim(cid),), None)


def test_kernel_not_reproduced_when_a_linear_model_on_the_spectrum_is_the_router():
    rows = [_router("B", s, 1.0 - 1e-9) for s in range(5)]
    rows += [_router("B4", s, 0.9999, qubits=4, nonneg=11) for s in range(5)]
    (f,) = _judge("mech.kernel", _record(rows))
    assert f.category == V.NOT_REPRODUCED and f.direction == V.OVERSTATES
    assert "F = 4 non-negligible" in f.measured and "9 features" in f.measured
    assert "F = 11" in f.measured and "23 features" in f.measured  # B4: 1 + 2 x 11


def test_kernel_reproduced_when_the_surrogate_misses_the_router_and_layouts_can_differ():
    rows = [_router("B", s, 0.95) for s in range(5)]
    (f,) = _judge("mech.kernel", _record(rows))
    assert f.category == V.REPRODUCED
    rows += [_router("B4", s, 0.999, qubits=4) for s in range(5)]
    (g,) = _judge("mech.kernel", _record(rows))
    assert g.category == V.SETUP_DEPENDENT


def test_kernel_reads_only_full_mechanism_routers_and_needs_five_seeds():
    dephased = [_router("B_dephased", s, 0.5, mechanism="dephased") for s in range(5)]
    (f,) = _judge("mech.kernel", _record(dephased + [_router("B", s, 1.0) for s in range(5)]))
    assert f.category == V.NOT_REPRODUCED and "B_dephased" not in f.source
    (g,) = _judge("mech.kernel", _record([_router("B", s, 1.0) for s in range(3)]))
    assert g.category == V.NOT_MEASURED and "3 seed(s)" in g.reason
    (h,) = V.evaluate(V.Evidence.gather([]), (_claim("mech.kernel"),), None)
    assert h.category == V.NOT_MEASURED and "qmoe diagnose" in h.reason


def _scan(v2: float, v4: float) -> records.DiagnoseRecord:
    rows = [_gradient(2, 12, v2), _gradient(4, 6, v4), _gradient(4, 12, 1e-9)]
    rows += [_gradient(2, 12, 1e-9, cost="local")]  # other cells do not count
    return _record(trainability=rows, decay=[_decay(12), _decay(6), _decay(6, "local")])


def test_barren_not_reproduced_above_the_shot_noise_level_with_the_decay_beside():
    (f,) = _judge("mech.barren", _scan(0.02, 0.004))
    assert f.category == V.NOT_REPRODUCED and f.direction == V.OVERSTATES
    assert "-1.100 per qubit [-1.200, -1.000]" in f.measured
    assert f"{0.02 / M.BARREN_THRESHOLD:.3g} x the shot-noise level" in f.measured


def test_barren_reproduced_below_it_and_setup_dependent_when_the_sizes_disagree():
    below = 0.5 * M.BARREN_THRESHOLD
    (f,) = _judge("mech.barren", _scan(below, below))
    assert f.category == V.REPRODUCED
    (g,) = _judge("mech.barren", _scan(0.02, below))
    assert g.category == V.SETUP_DEPENDENT
    (h,) = _judge("mech.barren", _record(trainability=[_gradient(2, 4, 1e-9)]))
    assert h.category == V.NOT_MEASURED and "--layers 6,12" in h.reason


def test_the_threshold_is_the_shot_noise_of_a_parameter_shift_estimate():
    assert M.shot_noise_variance(1000) == pytest.approx(1.25e-4) == M.BARREN_THRESHOLD
    assert M.flip_shots(1.25e-4) == pytest.approx(1000)
    (table,) = M.barren_sensitivity([_run(_scan(0.02, 0.0005))])
    assert isinstance(table, Table) and len(table.rows) == 2
    assert table.rows[0][2] == "2.00e-02" and "none" in table.rows[0][-1]
    # 4 x 6: a plateau with 100 shots (level 1 / 800), none with 1,000 (1 / 8000)
    assert table.rows[1][3] == "250" and "plateau" in table.rows[1][4]
    assert "none" in table.rows[1][5]


def test_the_diagnostics_section_shows_spectrum_decay_and_expressibility():
    expr = {
        "ansatz": "ry_cz", "layers": 1, "qubits": 4, "expressibility": 0.657,
        "entangling_capability": 0.31, "entangling_std": 0.1, "mean_fidelity": 0.2,
        "haar_entangling": 0.824, "pairs": 5000,
    }  # fmt: skip
    rec = _record([_router("B", s, 1.0) for s in range(5)], _scan(0.02, 0.004).trainability,
                  _scan(0.02, 0.004).decay, [expr])  # fmt: skip
    blocks = assemble([_run(rec)], [], lambda run, name, caption: None, None, hybrid_qmoe.PAPER)
    text = to_markdown(blocks)
    assert "Diagnostics: the router's mechanism" in text
    assert "| B | full | 2 x 12 |" in text and "0.657" in text and "-1.100" in text
    assert "mech.barren's sensitivity" in text
    none = to_markdown(assemble([], [], lambda *a: None, None, hybrid_qmoe.PAPER))
    assert "Diagnostics" not in none


# --- mech.layerwise: layer-wise vs plain training on hand-made per-seed records ------------


def _lw_model(run: Run, variant: str, router: dict, accs, epochs90, layerwise: str | None):
    from qmoe_cli.config import ModelConfig
    from qmoe_cli.report.inputs import Stat
    from qmoe_cli.report.measured import ModelResult

    params = router["qubits"] * router["layers"]
    m = ModelResult(
        run, variant, variant, "quantum", params, params + 12,
        Stat(sum(accs) / len(accs), n=len(accs)), list(epochs90), 100,
        model=ModelConfig(router=router, experts={"type": "linear", "count": 4}),
        per_seed_acc=list(accs), early_stopping=False, n_test=200, layerwise=layerwise,
    )  # fmt: skip
    return m


def _lw_run(label="R1") -> Run:
    from qmoe_cli.config import ExperimentConfig

    config = {"data": {"name": "two_moons"}, "train": {"epochs": 100, "early_stopping": False}}
    return Run(Path(f"/x/{label}"), label, "ablate", None, None, ExperimentConfig(**config), "")


B_ROUTER = {"type": "quantum", "qubits": 2, "layers": 12, "ansatz": "ry_cz", "embedding": "ry"}
W_ROUTER = {**B_ROUTER, "qubits": 6}
SCHEDULE = (
    "3 layers x 10 epochs, 6 layers x 10 epochs, then the full circuit; added layers start at "
    "zero angles"
)


def _lw_evidence(gain: float, faster: int, n: int = 10, seed: int = 0) -> V.Evidence:
    import numpy as np

    rng = np.random.default_rng(seed)
    run = _lw_run()
    models = []
    for name, router in (("B", B_ROUTER), ("W6", W_ROUTER)):
        base = 0.95 + 0.01 * rng.standard_normal(n)
        staged = np.clip(base + gain + 0.003 * rng.standard_normal(n), 0, 1)
        e_plain = rng.integers(5, 30, n)
        e_staged = np.maximum(1, e_plain - faster + rng.integers(-1, 2, n))
        models.append(_lw_model(run, name, router, list(base), list(e_plain), None))
        models.append(_lw_model(run, f"{name}_lw", router, list(staged), list(e_staged), SCHEDULE))
    return V.Evidence([run], models, [], [], CLAIMS, hybrid_qmoe.PAPER.min_epochs)


def test_layerwise_reproduced_when_it_beats_its_own_plain_circuit():
    ev = _lw_evidence(gain=0.02, faster=5)
    (f,) = M.mech_layerwise(_claim("mech.layerwise"), ev)
    assert f.category == V.REPRODUCED
    assert [label for label, _ in f.parts] == ["B_lw vs B", "W6_lw vs W6"]  # same circuits only
    assert "over the claim's 2 tests" in f.measured and SCHEDULE in f.reason
    (g,) = M.mech_layerwise(_claim("mech.layerwise_convergence"), ev)
    assert g.category == V.REPRODUCED and "epochs" in g.measured


def test_layerwise_not_reproduced_without_a_difference_or_when_slower():
    ev = _lw_evidence(gain=0.0, faster=-6, seed=1)
    (f,) = M.mech_layerwise(_claim("mech.layerwise"), ev)
    assert f.category == V.NOT_REPRODUCED and f.direction == V.OVERSTATES
    (g,) = M.mech_layerwise(_claim("mech.layerwise_convergence"), ev)
    assert g.category == V.NOT_REPRODUCED and "significantly more" in g.reason


def test_layerwise_runs_measure_only_the_layerwise_claims():
    from qmoe_cli.paper.hybrid_qmoe.table_i import model_accuracy

    ev = _lw_evidence(gain=0.02, faster=5)
    findings = {f.claim.id: f for f in V.evaluate(ev, CLAIMS, hybrid_qmoe.PAPER.min_epochs)}
    assert findings["mech.layerwise"].category == V.REPRODUCED
    for cid in ("table1.B.accuracy", "convergence.quantum", "mech.coherence"):
        assert findings[cid].category == V.NOT_MEASURED, cid
    # a layer-wise-trained router is no Model B, even outside a layer-wise ablation
    (acc,) = model_accuracy(_claim("table1.B.accuracy"), ev, "quantum", 24)
    assert "_lw" not in acc.source
    (none,) = M.mech_layerwise(_claim("mech.layerwise"), V.Evidence([_lw_run()], []))
    assert none.category == V.NOT_MEASURED and "two_moons_layerwise.yaml" in none.reason
    few = _lw_evidence(gain=0.02, faster=5, n=3)
    (f,) = M.mech_layerwise(_claim("mech.layerwise"), few)
    assert f.category == V.NOT_MEASURED
