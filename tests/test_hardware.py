"""`qmoe hardware`: trained routers through qiskit-ibm-runtime's SamplerV2 on fake devices and
Aer. Statistical checks use bounds that a wrong implementation fails (5 sigma of shot noise,
with the seeds fixed so a run is reproducible), and each has a check that it has teeth."""

import json
import math
import shlex
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
import yaml
from qiskit import QuantumCircuit
from qiskit.quantum_info import Operator, Statevector
from qiskit_aer import AerSimulator
from qiskit_aer.noise import NoiseModel, ReadoutError
from typer.testing import CliRunner

from qmoe_cli.cli import app
from qmoe_cli.config import HardwareConfig, hardware_config
from qmoe_cli.errors import ConfigError
from qmoe_cli.quantum import mitigation as mit
from qmoe_cli.quantum import runtime as rt
from qmoe_cli.quantum.targets import parse_target
from qmoe_cli.records import HardwareRecord, read_record

from .conftest import ROOT, only_complete_run

ABLATION = {
    "kind": "ablate",
    "name": "hwtiny",
    "data": {"name": "two_moons", "n_samples": 120, "noise": 0.1},
    "model": {"experts": {"count": 4}},
    "train": {"epochs": 3, "batch_size": 16},
    "seeds": [0],
    "reference": "B",
    "variants": {
        "A": {"router": {"type": "linear"}},
        "B": {"router": {"type": "quantum", "qubits": 2, "layers": 3}},
    },
}


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def ablation(tmp_path_factory):
    """A tiny trained ablation: a linear (A) and a quantum (B) router, one seed."""
    root = tmp_path_factory.mktemp("hw")
    (root / "abl.yaml").write_text(yaml.safe_dump(ABLATION))
    result = invoke("ablate", root / "abl.yaml", "--out", root / "runs", "--jobs", "1")
    assert result.exit_code == 0, result.output
    return only_complete_run(root / "runs")


@pytest.fixture(scope="module")
def router(ablation):
    """The quantum router of the ablation, loaded as `qmoe hardware` loads it."""
    from qmoe_cli.experiments.hardware import load_source

    cfg = HardwareConfig(run=str(ablation), target="aer")
    source = load_source(cfg)
    assert [r.variant for r in source.routers] == ["B"] and list(source.baselines) == ["A"]
    return source.routers[0]


# --- target syntax ---------------------------------------------------------------------------


def test_target_syntax_and_its_errors():
    assert parse_target("aer")["text"] == "aer"
    t = parse_target("aer:readout=0.02,depolarizing=0.010")
    assert t["text"] == "aer:depolarizing=0.01,readout=0.02"
    assert t["noise"] == {"depolarizing": 0.01, "readout": 0.02}
    assert parse_target("ibm_torino")["text"] == "ibm:ibm_torino"
    assert parse_target("ibm:ibm_fez")["kind"] == "ibm"
    assert parse_target("FakeTorino") == {
        "text": "FakeTorino",
        "kind": "fake",
        "name": "FakeTorino",
        "noise": {},
    }
    for bad, words in [
        ("aer:depolarizing=2", "not in [0, 1.0]"),
        ("aer:eps=0.1", "KEY=VALUE"),
        ("aer:readout=x", "not a number"),
        ("FakeManila", "did you mean FakeManilaV2"),
    ]:
        with pytest.raises(ValueError, match=words.replace("[", r"\[").replace("(", r"\(")):
            parse_target(bad)


def test_hardware_options_errors_name_the_option():
    with pytest.raises(ConfigError) as info:
        hardware_config({"run": "x", "target": "aer", "shots": [100, 100]})
    assert str(info.value).startswith("--shots: ")
    with pytest.raises(ConfigError, match="--target: 'nonsense'"):
        hardware_config({"run": "x", "target": "nonsense"})
    cfg = hardware_config({"run": "x", "target": "aer", "mitigation": ["zne"]})
    assert cfg.mitigation == ["none", "zne"] and cfg.sampled_shots == 10000


# --- mitigation, by hand ---------------------------------------------------------------------


def test_extrapolation_weights_are_the_hand_computed_ones():
    assert np.allclose(mit.extrapolation_weights([1, 3]), [1.5, -0.5])
    assert np.allclose(mit.extrapolation_weights([1, 3, 5]), [15 / 8, -5 / 4, 3 / 8])
    # least-squares line through (1, y1), (3, y3), (5, y5): intercept (13 y1 + 4 y3 - 5 y5) / 12
    assert np.allclose(mit.extrapolation_weights([1, 3, 5], "linear"), [13 / 12, 4 / 12, -5 / 12])
    # Richardson through 3 points is exact for a quadratic, the line for a line
    lam = np.array([1.0, 3.0, 5.0])
    assert mit.extrapolate(0.7 - 0.05 * lam + 0.002 * lam**2, lam) == pytest.approx(0.7)
    assert mit.extrapolate(0.7 - 0.05 * lam, lam, "linear") == pytest.approx(0.7)
    assert mit.extrapolate(0.7 - 0.05 * lam + 0.002 * lam**2, lam, "linear") != pytest.approx(0.7)


def test_simplex_projection():
    assert np.allclose(mit.project_simplex([0.25, 0.75]), [0.25, 0.75])
    assert np.allclose(mit.project_simplex([1.2, -0.2]), [1.0, 0.0])
    assert np.allclose(mit.project_simplex([0.6, 0.6, -0.2]), [0.5, 0.5, 0.0])
    v = np.random.default_rng(0).normal(size=(50, 8))
    p = mit.project_simplex(v)
    assert np.all(p >= 0) and np.allclose(p.sum(axis=-1), 1)


def test_readout_inverse_undoes_a_known_tensored_assignment():
    a0 = np.array([[0.95, 0.15], [0.05, 0.85]])  # P(read k | prepared j), qubit 0
    a1 = np.array([[0.9, 0.2], [0.1, 0.8]])
    ideal = np.array([0.1, 0.2, 0.3, 0.4])  # big-endian: index = 2 b0 + b1
    noisy = np.kron(a0, a1) @ ideal
    out = mit.readout_mitigate(noisy, np.stack([a0, a1]))
    assert np.allclose(out, ideal)
    # the calibration of those matrices from the two prepared states' distributions
    prep0, prep1 = np.kron(a0, a1)[:, 0], np.kron(a0, a1)[:, 3]
    assert np.allclose(mit.assignment_matrices(prep0, prep1), np.stack([a0, a1]))


def test_folding_keeps_the_unitary_and_multiplies_the_two_qubit_gates():
    device = rt.open_target("FakeManilaV2")
    qc = QuantumCircuit(2)
    qc.rx(0.3, 0)
    qc.ry(1.1, 1)
    qc.cx(0, 1)
    qc.rz(0.4, 1)
    qc.cx(1, 0)
    isa = rt.transpile(qc, device, 1, 0)
    base = sum(1 for i in isa.data if i.operation.num_qubits == 2)
    assert base >= 2
    for scale in (3, 5):
        folded = mit.fold_global(isa, scale, device.target)
        assert Operator(folded).equiv(Operator(isa))
        assert sum(1 for i in folded.data if i.operation.num_qubits == 2) == scale * base
        for inst in folded.data:  # still ISA: every gate on its qubits is the device's
            qargs = tuple(folded.find_bit(q).index for q in inst.qubits)
            assert device.target.instruction_supported(inst.operation.name, qargs), inst
    with pytest.raises(ValueError):
        mit.fold_global(isa, 2)


# --- sampling: qubit order, shot noise, mitigation on a simulator ------------------------------


def test_outcomes_are_big_endian():
    qc = QuantumCircuit(3)
    qc.x(0)
    device = rt.open_target("aer")
    samples, _ = rt.sample([rt.Pub("a", rt.measured(qc, [0, 1, 2]))], device, 50)
    assert set(samples["a"].ravel()) == {0b100}  # qubit 0 is the most significant bit


def test_jobs_are_packed_under_the_execution_limit():
    pubs = [rt.Pub(i, None, np.zeros((rows, 1))) for i, rows in enumerate([5, 3, 1])]
    jobs = rt.plan_jobs(pubs, shots=10, limit=40)  # 4 rows per job
    assert [[(p, a, b) for p, a, b in j.pieces] for j in jobs] == [
        [(0, 0, 4)],
        [(0, 4, 5), (1, 0, 3)],
        [(2, 0, 1)],
    ]
    assert all(j.executions(pubs, 10) <= 40 for j in jobs)
    assert len(rt.plan_jobs(pubs, shots=10)) == 1


def _z(freq, p, shots):
    """|f - p| in standard deviations of a binomial frequency (at least 1/shots wide)."""
    return np.abs(freq - p) / np.sqrt(np.maximum(p * (1 - p), 1 / shots) / shots)


def test_sampled_probabilities_match_the_exact_ones_in_qmoe_qubit_order(router):
    """Aer through SamplerV2 at high shots vs the torch backend on the same trained weights:
    within 5 sigma everywhere; with the qubits reversed (Qiskit's little-endian order taken as
    is) far outside, so the check has teeth."""
    from qmoe_cli.experiments.hardware import exact_probs

    device = rt.open_target("aer", seed=3)
    isa = rt.transpile_router(router.spec, router.weights, device, 2, 0)
    shots = 20000
    samples, _ = rt.sample([rt.Pub("r", isa.circuit, isa.values(router.x.numpy()))], device, shots)
    freq = rt.counts(samples["r"], 4) / shots
    exact = exact_probs(router)
    assert freq.shape == exact.shape == (len(router.x), 4)
    assert _z(freq, exact, shots).max() < 5
    reversed_ = exact[:, [0, 2, 1, 3]]  # swap qubits 0 and 1
    assert _z(freq, reversed_, shots).max() > 10


def test_readout_mitigation_recovers_a_known_bit_flip():
    """Asymmetric readout errors of known size on both qubits; |10> prepared. The calibrated
    assignment matrices match the known ones within shot noise, and the mitigated
    distribution is |10> within 5 sigma, while the raw one is far from it."""
    flips = {0: (0.05, 0.15), 1: (0.10, 0.20)}  # qubit: (P(1|0), P(0|1))
    model = NoiseModel()
    for q, (p10, p01) in flips.items():
        model.add_readout_error(ReadoutError([[1 - p10, p10], [p01, 1 - p01]]), [q])
    device = rt.Device("custom", "custom", AerSimulator(noise_model=model), True, 7)
    qc = QuantumCircuit(2)
    qc.x(0)
    pubs = [rt.Pub("x", rt.measured(qc, [0, 1]))]
    cal = rt.calibration_circuits([0, 1], device, 0)
    pubs += [rt.Pub(("cal", i), c) for i, c in enumerate(cal)]
    shots = 40000
    samples, _ = rt.sample(pubs, device, shots)
    raw = rt.counts(samples["x"], 4)[0] / shots
    c0, c1 = (rt.counts(samples[("cal", i)], 4)[0] for i in (0, 1))
    a = mit.assignment_matrices(c0, c1)
    for q, (p10, p01) in flips.items():
        known = np.array([[1 - p10, p01], [p10, 1 - p01]])
        sd = np.sqrt(known * (1 - known) / shots)
        assert np.all(np.abs(a[q] - known) <= 5 * sd + 1e-12)
    ideal = np.array([0.0, 0.0, 1.0, 0.0])
    fixed = mit.readout_mitigate(raw, a)
    # the mitigated estimate's spread: shot noise of the measurement and of the calibration,
    # propagated through the inverse (each inverse entry <= 1 / det, det >= 0.56 here)
    sd = np.sqrt(raw * (1 - raw) / shots).max() / (0.8 * 0.7) * 2
    assert np.abs(fixed - ideal).max() < 5 * sd
    assert np.abs(raw - ideal).max() > 20 * sd  # the raw readout is far off: a real test


def test_zne_moves_a_noisy_expectation_toward_the_noiseless_one():
    """<Z0 Z1> of cos(t)|00> + sin(t)|11> is exactly 1; depolarizing noise pulls it toward 0.
    Folded at scales 1, 3, 5 and extrapolated (Richardson), the estimate is closer to 1 than
    the unmitigated one by more than 5 of its standard deviations."""
    device = rt.open_target("aer:depolarizing=0.03", seed=11)
    qc = QuantumCircuit(2)
    qc.ry(0.8, 0)
    qc.cx(0, 1)
    qc.rz(0.3, 0)
    qc.rz(-0.3, 1)
    qc.cx(0, 1)
    qc.cx(0, 1)
    ideal_probs = Statevector(qc).reverse_qargs().probabilities()
    zz = np.array([1.0, -1.0, -1.0, 1.0])
    ideal = float(ideal_probs @ zz)
    assert ideal == pytest.approx(1.0)
    isa = rt.transpile(qc, device, 0, 0)
    scales, shots = [1, 3, 5], 40000
    pubs = [rt.Pub(s, rt.measured(mit.fold_global(isa, s, device.target), [0, 1])) for s in scales]
    samples, _ = rt.sample(pubs, device, shots)
    values = np.array([rt.counts(samples[s], 4)[0] / shots @ zz for s in scales])
    noisy = values[0]
    zne = mit.extrapolate(values, scales)
    w = mit.extrapolation_weights(scales)
    sd = math.sqrt(sum(wi**2 * (1 - v**2) / shots for wi, v in zip(w, values, strict=True)))
    assert values[0] > values[1] > values[2]  # more folds, more noise
    assert abs(zne - ideal) + 5 * sd < abs(noisy - ideal)
    # the same through the probability path qmoe scores with (extrapolate, project)
    probs = np.stack([rt.counts(samples[s], 4)[0] / shots for s in scales])
    assert abs(mit.zne_probs(probs, scales) @ zz - ideal) < abs(noisy - ideal)


# --- scoring: the model's own gates ------------------------------------------------------------


def test_exact_probabilities_reproduce_the_models_predictions(router):
    from qmoe_cli.experiments.hardware import accuracy_of, exact_probs, gates_of

    model = router.model
    with torch.no_grad():
        out = model(router.x)
        expert_logits = model.experts(router.x)
    exact = exact_probs(router)
    assert torch.allclose(gates_of(model, torch.as_tensor(exact)), out.gates, atol=1e-12)
    expected = float((out.logits.argmax(dim=1) == router.y).double().mean())
    assert float(accuracy_of(model, expert_logits, router.y, exact)) == expected
    assert expected == pytest.approx(router.recorded_accuracy)  # all test inputs here
    # a batch of distributions (repeats) is scored per leading index
    both = np.stack([exact, np.full_like(exact, 0.25)])
    assert accuracy_of(model, expert_logits, router.y, both).shape == (2,)


def test_cost_estimate_follows_the_stated_model():
    device = rt.open_target("FakeManilaV2")
    qc = QuantumCircuit(1)
    qc.x(0)
    isa = rt.measured(rt.transpile(qc, device, 0, 0, initial_layout=[0]), [0])
    x_props = device.target["x"][(0,)]
    m_props = device.target["measure"][(0,)]
    assert rt.circuit_duration(isa, device.target) == pytest.approx(
        x_props.duration + m_props.duration
    )
    cost = rt.estimate_cost([(isa, 7, "router")], device, 1000)
    per_shot = x_props.duration + m_props.duration + device.rep_delay
    assert device.rep_delay == pytest.approx(250e-6)
    assert cost["qpu_seconds"] == pytest.approx(7 * 1000 * per_shot + rt.JOB_OVERHEAD_SECONDS)
    assert (cost["circuits"], cost["jobs"], cost["executions"]) == (7, 1, 7000)
    assert rt.estimate_cost([(isa, 7, "router")], rt.open_target("aer"), 10)["qpu_seconds"] is None


# --- the command --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def hardware_run(ablation, tmp_path_factory):
    """`qmoe hardware` on the ablation: FakeManilaV2, 12 inputs, every mitigation."""
    out = tmp_path_factory.mktemp("hwrun")
    result = invoke(
        "hardware", ablation, "--target", "FakeManilaV2", "--shots", "1000,200",
        "--max-inputs", "12", "--out", out,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "cost estimate:" in result.output and "QPU time ~" in result.output
    return only_complete_run(out)


def test_hardware_writes_a_run_folder(hardware_run):
    run = hardware_run
    assert run.name.split("-")[2:4] == ["hardware", "FakeManilaV2"]
    for name in ("config.yaml", "env.json", "cost.json", "circuits.csv", "accuracy.csv",
                 "summary.csv", "accuracy_vs_shots.png"):  # fmt: skip
        assert (run / name).is_file(), name
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    assert cfg["kind"] == "hardware" and cfg["shots"] == [200, 1000]
    rec = read_record(run)
    assert isinstance(rec, HardwareRecord)
    assert rec.mitigation == ["none", "readout", "zne", "readout+zne"]
    assert rec.target.backend == "fake_manila" and rec.target.two_qubit_error > 0
    # one circuit per router and ZNE scale, with its transpiled depth and 2-qubit gates
    assert [(c.variant, c.scale) for c in rec.circuits] == [("B", 1), ("B", 3), ("B", 5)]
    base = rec.circuits[0]
    assert base.depth > 0 and base.two_qubit_gates > 0 and base.duration_seconds > 0
    assert rec.circuits[1].two_qubit_gates == 3 * base.two_qubit_gates
    # one PUB per circuit, all inputs in it: one job of 12 x 3 router rows + 2 calibrations
    assert len(rec.jobs) == 1 and rec.jobs[0].circuits == 12 * 3 + 2
    assert rec.cost.executions == (12 * 3 + 2) * 1000
    assert len(rec.table) == 4 * 2 and len(rec.per_seed) == 1
    seed = rec.per_seed[0]
    assert seed.n_inputs == 12 and len(seed.results) == 8
    for r in seed.results:
        assert 0 <= r.low <= r.high <= 1 and 0 <= r.accuracy <= 1
    assert list(rec.baselines) == ["A"] and len(rec.baselines["A"].per_seed) == 1
    summary = (run / "summary.csv").read_text().splitlines()
    assert len(summary) == 1 + 8
    assert json.loads((run / "cost.json").read_text())["executions"] == rec.cost.executions


def test_the_report_has_a_hardware_section_and_the_nisq_claim(ablation, hardware_run, tmp_path):
    result = invoke("report", ablation, hardware_run, "--out", tmp_path / "report")
    assert result.exit_code == 0, result.output
    text = (tmp_path / "report" / "report.md").read_text()
    assert "## Hardware runs" in text and "### hwtiny on FakeManilaV2 (R2)" in text
    assert "| B | 0 | ZNE fold x3 | " in text
    claims = json.loads((tmp_path / "report" / "claims.json").read_text())
    (row,) = [c for c in claims["claims"] if c["id"] == "hardware.nisq"]
    assert row["verdict"] == "not measured" and "a verdict needs at least 5" in row["reason"]


def _synthetic(
    template, target: str, hw: list[float], base: list[float], methods=("none",), by_method=None
):
    """A hardware run's record with these per-seed accuracies (5 seeds, 100 epochs), the
    same under every mitigation in `methods` unless `by_method` gives a method its own."""
    by_method = by_method or {}
    from qmoe_cli.report.inputs import Run

    raw = json.loads((template / "metrics.json").read_text())
    raw["target"]["text"] = target
    raw["seeds"] = list(range(len(hw)))
    raw["source"]["epochs"] = 100
    raw["mitigation"] = list(methods)
    raw["per_seed"] = [
        {
            **raw["per_seed"][0],
            "seed": s,
            "results": [
                {
                    "mitigation": method,
                    "shots": raw["sampled_shots"],
                    "accuracy": by_method.get(method, hw)[s],
                    "repeat_mean": by_method.get(method, hw)[s],
                    "low": by_method.get(method, hw)[s],
                    "high": by_method.get(method, hw)[s],
                }
                for method in methods
            ],  # fmt: skip
        }
        for s, a in enumerate(hw)
    ]
    raw["baselines"] = {"A": {"router": "linear", "per_seed": base}}
    rec = HardwareRecord.model_validate(raw)
    return Run(template, target, "hardware", rec, None, None, None)


def test_the_nisq_verdict_follows_the_rules(hardware_run):
    from qmoe_cli.paper.hybrid_qmoe.claims import CLAIMS
    from qmoe_cli.paper.hybrid_qmoe.hardware import hardware_nisq
    from qmoe_cli.paper.hybrid_qmoe.printed import PAPER_EPOCHS
    from qmoe_cli.report import verdicts as V

    claim = next(c for c in CLAIMS if c.id == "hardware.nisq")
    base = [0.85, 0.86, 0.84, 0.88, 0.85]
    good = _synthetic(hardware_run, "FakeTorino", [0.95, 0.96, 0.94, 0.97, 0.95], base)
    bad = _synthetic(hardware_run, "FakeManilaV2", [0.80, 0.78, 0.83, 0.80, 0.79], base)
    tie = _synthetic(hardware_run, "FakeLagosV2", [0.86, 0.85, 0.85, 0.87, 0.86], base)

    def verdict(*runs):
        ev = V.Evidence(list(runs), claims=CLAIMS, min_epochs=PAPER_EPOCHS)
        findings = hardware_nisq(claim, ev)
        return findings, V.verdicts(findings, (claim,))[0]

    (f,), v = verdict(good)
    assert v.category == V.REPRODUCED and "one device only" in f.reason
    assert f.low > 0 and "FakeTorino" in f.source
    (f,), v = verdict(bad)
    assert v.category == V.NOT_REPRODUCED and "significantly below" in f.reason
    assert "noiseless, the same routers are" in f.reason
    (f,), v = verdict(tie)
    assert v.category == V.NOT_REPRODUCED and "no significant advantage" in f.reason
    findings, v = verdict(good, bad)
    assert [f.category for f in findings] == [V.REPRODUCED, V.NOT_REPRODUCED]
    assert v.category == V.SETUP_DEPENDENT  # devices of different quality disagree


def test_the_nisq_family_is_the_unmitigated_tests_of_every_device(hardware_run):
    """The claim is judged on unmitigated results, one family over every device: a raw p of
    about 0.03 passes on one device and fails as one of two (Holm: 2 p > 0.05); mitigations
    are shown beside and neither join the family nor rescue the verdict."""
    from qmoe_cli.paper.hybrid_qmoe.claims import CLAIMS
    from qmoe_cli.paper.hybrid_qmoe.hardware import hardware_nisq
    from qmoe_cli.paper.hybrid_qmoe.printed import PAPER_EPOCHS
    from qmoe_cli.report import verdicts as V

    claim = next(c for c in CLAIMS if c.id == "hardware.nisq")
    base = [0.85, 0.86, 0.84, 0.88, 0.85]
    hw = [b + d for b, d in zip(base, [0.02, 0.04, 0.0, 0.02, 0.03], strict=True)]
    methods = ("none", "readout", "zne", "readout+zne")
    one = _synthetic(hardware_run, "FakeTorino", hw, base, methods)
    (finding,) = hardware_nisq(claim, V.Evidence([one], claims=CLAIMS, min_epochs=PAPER_EPOCHS))
    assert finding.category == V.REPRODUCED and "over the claim's 1 tests" in finding.measured
    assert "with mitigation (beside the verdict)" in finding.measured
    two = [one, _synthetic(hardware_run, "FakeManilaV2", hw, base, methods)]
    rows = hardware_nisq(claim, V.Evidence(two, claims=CLAIMS, min_epochs=PAPER_EPOCHS))
    assert [r.category for r in rows] == [V.NOT_REPRODUCED] * 2
    assert all("over the claim's 2 tests" in r.measured for r in rows)
    # no advantage unmitigated, a large one with readout mitigation: still not reproduced
    better = {"readout": [b + 0.10 for b in base]}
    run = _synthetic(hardware_run, "FakeTorino", base, base, ("none", "readout"), better)
    (f,) = hardware_nisq(claim, V.Evidence([run], claims=CLAIMS, min_epochs=PAPER_EPOCHS))
    assert f.category == V.NOT_REPRODUCED and "readout: 95.6 %, +10.0 points" in f.measured


def test_dry_run_prints_the_cost_and_writes_nothing(ablation, tmp_path):
    out = tmp_path / "out"
    result = invoke("hardware", ablation, "--target", "FakeManilaV2", "--dry-run", "--out", out)
    assert result.exit_code == 0, result.output
    assert "cost estimate:" in result.output and "mitigation adds:" in result.output
    assert "dry run" in result.output
    assert not out.exists() or not any(out.iterdir())


def test_a_bad_target_is_one_line_with_a_suggestion(ablation):
    result = invoke("hardware", ablation, "--target", "FakeManila")
    assert result.exit_code == 2
    (line,) = result.output.strip().splitlines()
    assert line.startswith("error: --target: 'FakeManila'") and "did you mean FakeManilaV2" in line


def test_a_run_without_a_quantum_router_is_one_line(tmp_path):
    cfg = {**ABLATION, "kind": "train", "name": "lin"}
    cfg.pop("variants")
    cfg.pop("reference")
    cfg["model"] = {"router": {"type": "linear"}, "experts": {"count": 2}}
    (tmp_path / "lin.yaml").write_text(yaml.safe_dump(cfg))
    result = invoke("train", tmp_path / "lin.yaml", "--out", tmp_path / "runs")
    assert result.exit_code == 0, result.output
    run = only_complete_run(tmp_path / "runs")
    result = invoke("hardware", run, "--target", "aer", "--out", tmp_path / "hw")
    assert result.exit_code == 2
    (line,) = result.output.strip().splitlines()
    assert line.startswith("error: ") and "no trained quantum router" in line and "linear" in line
    assert not (tmp_path / "hw").exists()


def test_sweep_rows_name_each_mitigation_and_shot_count(hardware_run):
    from qmoe_cli.experiments.hardware import sweep_rows

    rows = sweep_rows(json.loads((hardware_run / "metrics.json").read_text()))
    assert len(rows) == 8 and len({r["variant"] for r in rows}) == 8
    assert {r["target"] for r in rows} == {"FakeManilaV2"}
    assert "B readout+zne 1000 shots" in {r["variant"] for r in rows}


def test_the_same_config_and_seed_give_the_same_numbers(ablation, tmp_path):
    # the runtime's local mode drops seed_simulator=0 (Aer then seeds itself): never send it
    assert min(rt.simulator_seed(s, j) for s in range(3) for j in range(3)) > 0
    assert len({rt.simulator_seed(s, j) for s in range(3) for j in range(3)}) == 9
    args = ["--target", "aer:depolarizing=0.02", "--shots", "300", "--max-inputs", "8"]
    runs = []
    for out in ("a", "b"):
        result = invoke(
            "hardware", ablation, *args, "--mitigation", "readout", "--out", tmp_path / out
        )
        assert result.exit_code == 0, result.output
        runs.append(only_complete_run(tmp_path / out))
    assert (runs[0] / "accuracy.csv").read_text() == (runs[1] / "accuracy.csv").read_text()
    other = invoke("hardware", ablation, *args, "--set", "seed=1", "--out", tmp_path / "c")
    assert other.exit_code == 0, other.output


def test_a_real_device_without_an_account_is_one_line(ablation, tmp_path, monkeypatch):
    """The real-device path up to the service: no saved account (an empty home, no
    QISKIT_IBM_* variables) is one error line saying how to save one."""
    import os

    monkeypatch.setenv("HOME", str(tmp_path))
    for key in [k for k in os.environ if k.startswith("QISKIT_IBM")]:
        monkeypatch.delenv(key)
    result = invoke("hardware", ablation, "--target", "ibm:ibm_torino", "--dry-run")
    assert result.exit_code == 1
    (line,) = result.output.strip().splitlines()
    assert line.startswith("error: --target ibm:ibm_torino: cannot open the IBM Quantum service")
    assert "save_account" in line


# --- interrupts ------------------------------------------------------------------------------


class _Job:
    def __init__(self):
        self.cancelled = False

    def result(self):
        raise KeyboardInterrupt  # Ctrl-C while the job runs

    def cancel(self):
        self.cancelled = True


def test_an_interrupt_cancels_the_job_it_waits_for():
    """On a real device the job would run on (and be billed)."""
    job = _Job()
    with pytest.raises(KeyboardInterrupt):
        rt._result(job)
    assert job.cancelled


@pytest.fixture(scope="module")
def longer_ablation(tmp_path_factory):
    """A one-seed ablation with 80 test inputs: sampling them takes seconds."""
    root = tmp_path_factory.mktemp("hwlong")
    config = {**ABLATION, "data": {**ABLATION["data"], "n_samples": 400}, "seeds": [0]}
    (root / "abl.yaml").write_text(yaml.safe_dump(config))
    result = invoke("ablate", root / "abl.yaml", "--out", root / "runs", "--jobs", "1")
    assert result.exit_code == 0, result.output
    return only_complete_run(root / "runs")


@pytest.mark.slow
@pytest.mark.parametrize(
    "sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["sigint", "sigterm"]
)
def test_a_signal_stops_sampling_within_2_s_and_says_how_to_start_over(
    longer_ablation, tmp_path, sig, code
):
    """Aer holds the GIL for as long as it simulates: in this process no signal handler
    could run until it is done; the job runs in a worker process, killed at the signal."""
    out, log = tmp_path / "out", tmp_path / "stderr.txt"
    args = ["hardware", longer_ablation, "--target", "FakeManilaV2", "--seeds", "0"]
    args += ["--out", out]
    proc = subprocess.Popen(
        [sys.executable, "-m", "qmoe_cli.cli", *map(str, args)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=log.open("w"),
    )
    deadline = time.monotonic() + 240
    while "sampling on" not in log.read_text():
        assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
        time.sleep(0.05)
    time.sleep(0.5)  # into the Sampler job
    assert proc.poll() is None
    start = time.monotonic()
    proc.send_signal(sig)
    proc.wait(timeout=60)
    seconds = time.monotonic() - start
    assert seconds < 2.0, f"stopped {seconds:.2f} s after {sig.name}"
    assert proc.returncode == code

    last = log.read_text().strip().splitlines()[-1]
    (failed,) = out.iterdir()
    assert failed.name.endswith(".failed")
    assert last.startswith(f"interrupted ({sig.name}): nothing sampled is kept ({failed} ")
    assert "does not resume" in last and "--resume" not in last
    command = last.split("to start over, run: ", 1)[1]
    assert shlex.split(command) == ["qmoe", *map(str, args)]
    if sig == signal.SIGINT:  # the command it gives does the work
        again = subprocess.run(
            [sys.executable, "-m", "qmoe_cli.cli", *shlex.split(command)[1:]],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert again.returncode == 0, again.stderr
        assert (only_complete_run(out) / "accuracy.csv").is_file()
