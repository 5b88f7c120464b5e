"""`qmoe diagnose`: the router's Fourier spectrum (against PennyLane's), gradient variance
(against closed forms), expressibility and entangling capability (against Sim et al.'s
published single-qubit values and known Meyer-Wallach values), and the command's files,
errors and resume."""

import json
import math

import numpy as np
import pytest
import torch
import yaml

from qmoe_cli.quantum import expressibility as ex
from qmoe_cli.quantum import fourier
from qmoe_cli.quantum import trainability as tr
from qmoe_cli.quantum.ansatz_states import AnsatzStates, probabilities
from qmoe_cli.quantum.spec import CircuitSpec
from qmoe_cli.quantum.torch_backend import TorchStatevector
from qmoe_cli.records import DiagnoseRecord, read_record

from .conftest import only_complete_run

# --- the spectrum ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "spec",
    [
        CircuitSpec(3, 2, 2, 4, ansatz="ry_cz", embedding="ry"),  # feature 0 on 2 qubits
        CircuitSpec(2, 3, 2, 3, ansatz="strongly_entangling", embedding="rx"),
        CircuitSpec(3, 1, 1, 2, ansatz="strongly_entangling", embedding="rx", readout="expval"),
    ],
    ids=str,
)
def test_coefficients_equal_pennylanes(spec):
    """The exact coefficients from the grid + FFT equal qml.fourier.coefficients of the
    same circuit on default.qubit, to 1e-6, every output."""
    import pennylane as qml

    from qmoe_cli.quantum.pennylane_backend import PennyLaneBackend

    torch.manual_seed(3)
    weights = torch.rand(spec.weight_shape, dtype=torch.float64) * 2 * math.pi
    fast = TorchStatevector(spec)
    degs = fourier.degrees(spec)
    assert degs == [sum(1 for q in range(spec.n_qubits) if q % spec.n_features == f)
                    for f in range(spec.n_features)]  # fmt: skip
    ours = fourier.coefficients(
        lambda x: fast.outputs(weights, torch.as_tensor(x)).detach().numpy(), degs
    )
    reference = PennyLaneBackend(spec, "default.qubit")
    for e in range(spec.n_outputs):

        def f(x, e=e):
            xt = torch.as_tensor(np.asarray(x, dtype=np.float64)).reshape(1, -1)
            return float(reference.outputs(weights, xt)[0, e])

        theirs = qml.fourier.coefficients(f, spec.n_features, max(degs))
        # PennyLane's array has degree max(degs) along every axis: take ours' frequencies
        freqs = fourier.frequencies(degs)
        got = ours[e].reshape(-1)
        want = np.array([theirs[tuple(int(w) for w in omega)] for omega in freqs])
        assert np.max(np.abs(got - want)) < 1e-6
        # and nothing outside the encoding's spectrum
        inside = np.zeros(theirs.shape, dtype=bool)
        for omega in freqs:
            inside[tuple(int(w) for w in omega)] = True
        assert np.max(np.abs(theirs[~inside]), initial=0.0) < 1e-6


def test_the_full_spectrum_surrogate_is_exact_and_a_truncated_one_is_not():
    spec = CircuitSpec(4, 3, 2, 4, embedding="ry")
    torch.manual_seed(0)
    weights = torch.rand(spec.weight_shape, dtype=torch.float64) * 2 * math.pi
    sim = TorchStatevector(spec)

    def outputs(x):
        return sim.outputs(weights, torch.as_tensor(x)).detach().numpy()

    degs = fourier.degrees(spec)
    assert degs == [2, 2] and fourier.grid_size(degs) == 25
    freqs = fourier.frequencies(degs)
    half = fourier.half_spectrum(freqs)
    assert half.sum() == 13  # 12 pairs {w, -w} and the constant
    rng = np.random.default_rng(0)
    x_fit, x_test = rng.uniform(0, np.pi, (300, 2)), rng.uniform(0, np.pi, (100, 2))
    full = fourier.least_squares_surrogate(
        x_fit, outputs(x_fit), x_test, outputs(x_test), freqs[half]
    )
    assert full["r2"] > 1 - 1e-12 and full["max_error"] < 1e-9 and full["features"] == 25
    # frequency 1 only (Model D's features): not enough for a 2-qubit-per-feature encoding
    low = freqs[half & (np.abs(freqs).max(axis=1) <= 1)]
    part = fourier.least_squares_surrogate(x_fit, outputs(x_fit), x_test, outputs(x_test), low)
    assert part["r2"] < 1 - 1e-6


# --- the ansatz simulator ----------------------------------------------------------------------


@pytest.mark.parametrize("ansatz", ["ry_cz", "strongly_entangling"])
def test_ansatz_states_match_the_router_simulator_and_identity_blocks_are_identity(ansatz):
    spec = CircuitSpec(5, 3, 5, 32, ansatz=ansatz, embedding="rx")
    sim = AnsatzStates(spec)
    rng = np.random.default_rng(1)
    w = torch.as_tensor(rng.uniform(0, 2 * np.pi, (4, *spec.weight_shape)))
    x = torch.as_tensor(rng.uniform(0, np.pi, (4, 5)))
    psi0 = sim.embedded(x)
    got = probabilities(sim.apply(w, psi0))
    want = torch.stack([TorchStatevector(spec).probs(w[i], x[i : i + 1])[0] for i in range(4)])
    assert torch.allclose(got, want, atol=1e-12)
    blocks = sim.apply(torch.stack([w, w], 1), psi0, identity_blocks=True)
    assert torch.allclose(blocks, psi0, atol=1e-12)


# --- gradient variance ------------------------------------------------------------------------


def test_gradient_variance_of_single_qubit_closed_forms():
    """RY(theta) on |0>, theta uniform: <Z> = cos theta, Var[-sin theta] = 1/2;
    P(0) = cos^2(theta / 2), Var[-sin(theta) / 2] = 1/8."""
    spec = CircuitSpec(1, 1, 1, 2, embedding="ry")
    r = tr.gradient_variance(spec, "uniform", 40000, 0, inputs="zero")
    assert r["local"]["variance"] == pytest.approx(0.5, rel=0.03)
    assert r["global"]["variance"] == pytest.approx(0.125, rel=0.03)
    assert abs(r["local"]["mean_gradient"]) < 0.02


def test_gradient_variance_of_the_global_cost_decays_as_its_closed_form():
    """One RY + CZ layer on |0...0>: P(0...0) = prod_q cos^2(theta_q / 2), so
    Var[dP/dtheta_0] = (1/8) (3/8)^(n-1) and the decay rate is ln(3/8) = -0.981 per qubit;
    the local cost's derivatives have variance 1 / (2 n^2)."""
    qubits, variances = [2, 3, 4, 5, 6], []
    for n in qubits:
        spec = CircuitSpec(n, 1, n, 2, embedding="ry")
        r = tr.gradient_variance(spec, "uniform", 20000, n, inputs="zero")
        want = 0.125 * (3 / 8) ** (n - 1)
        assert r["global"]["variance_first"] == pytest.approx(want, rel=0.06)
        assert r["global"]["variance"] == pytest.approx(want, rel=0.06)
        assert r["local"]["variance"] == pytest.approx(1 / (2 * n * n), rel=0.06)
        variances.append(r["global"]["variance"])
    fit = tr.decay(qubits, variances)
    assert fit["low"] < math.log(3 / 8) < fit["high"]
    assert fit["rate"] == pytest.approx(math.log(3 / 8), abs=0.03)
    assert math.isnan(tr.decay([2, 3], [0.1, 0.05])["low"])  # no interval from 2 points


def test_identity_blocks_keep_gradients_that_uniform_initialisation_loses():
    spec = CircuitSpec(8, 8, 8, 2, embedding="ry")
    uniform = tr.gradient_variance(spec, "uniform", 200, 0)["global"]["variance"]
    identity = tr.gradient_variance(spec, "identity", 200, 0)["global"]["variance"]
    assert identity > 5 * uniform


# --- expressibility and entangling capability ------------------------------------------------

H = np.array([[1, 1], [1, -1]]) / np.sqrt(2)
ZERO = np.array([1, 0], dtype=complex)


def _rz(a):
    return np.diag([np.exp(-0.5j * a), np.exp(0.5j * a)])


def _rx(a):
    c, s = np.cos(a / 2), np.sin(a / 2)
    return np.array([[c, -1j * s], [-1j * s, c]])


def _ry(a):
    c, s = np.cos(a / 2), np.sin(a / 2)
    return np.array([[c, -s], [s, c]])


def _states(f):
    return lambda theta: torch.as_tensor(np.array([f(t) for t in theta]))


# Sim, Johnson and Aspuru-Guzik 2019, Fig. 1: the single-qubit reference circuits and their
# expressibility (5000 pairs, 75 bins), with a tolerance for sampling at 5000 pairs.
SIM_FIG1 = [
    ("idle", 1, lambda t: ZERO, 4.30, 0.05),
    ("A: H, RZ", 1, lambda t: _rz(t[0]) @ H @ ZERO, 0.22, 0.04),
    ("B: H, RZ, RX", 2, lambda t: _rx(t[1]) @ _rz(t[0]) @ H @ ZERO, 0.02, 0.015),
    ("C: H, U3", 3, lambda t: _rz(t[1]) @ _ry(t[0]) @ _rz(t[2]) @ H @ ZERO, 0.007, 0.01),
]


@pytest.mark.parametrize("name, n_params, circuit, published, tol", SIM_FIG1, ids=lambda v: v)
def test_expressibility_reproduces_sim_et_al(name, n_params, circuit, published, tol):
    got = ex.describe(_states(circuit), n_params, 1, 5000, np.random.default_rng(7))
    assert got["expressibility"] == pytest.approx(published, abs=tol)
    assert got["entangling_capability"] == pytest.approx(0.0, abs=1e-12)


def test_meyer_wallach_known_values():
    ghz = np.zeros(16, dtype=complex)
    ghz[[0, 15]] = 1 / np.sqrt(2)
    product = np.kron(np.kron(_ry(0.3) @ ZERO, _rx(1.1) @ ZERO), np.kron(H @ ZERO, ZERO))
    q = ex.meyer_wallach(torch.as_tensor(np.stack([ghz, product])), 4)
    assert q == pytest.approx([1.0, 0.0], abs=1e-12)
    # Haar-random 4-qubit states: mean (2^n - 2) / (2^n + 1) = 14/17; KL near 0
    rng = np.random.default_rng(0)

    def haar(theta):
        v = rng.normal(size=(len(theta), 16)) + 1j * rng.normal(size=(len(theta), 16))
        return torch.as_tensor(v / np.linalg.norm(v, axis=1, keepdims=True))

    got = ex.describe(haar, 1, 4, 5000, rng)
    assert got["entangling_capability"] == pytest.approx(ex.haar_mean_meyer_wallach(4), abs=0.01)
    assert got["expressibility"] < 0.02


def test_sim_circuit_1_on_four_qubits_has_no_entanglement():
    """Sim et al.'s circuit 1 (RX then RZ on every qubit): a product state, Ent = 0."""

    def states(theta):
        out = []
        for t in theta:
            psi = np.array([1.0 + 0j])
            for q in range(4):
                psi = np.kron(psi, _rz(t[4 + q]) @ _rx(t[q]) @ ZERO)
            out.append(psi)
        return torch.as_tensor(np.array(out))

    got = ex.describe(states, 8, 4, 1000, np.random.default_rng(0))
    assert got["entangling_capability"] == pytest.approx(0.0, abs=1e-12)
    assert 0.1 < got["expressibility"] < 1.0


# --- the command ---------------------------------------------------------------------------------

ABLATION = {
    "kind": "ablate",
    "name": "dgtiny",
    "data": {"name": "two_moons", "n_samples": 120, "noise": 0.1},
    "model": {"experts": {"count": 4}},
    "train": {"epochs": 2, "batch_size": 16},
    "seeds": [0, 1],
    "reference": "B",
    "variants": {
        "A": {"router": {"type": "linear"}},
        "B": {"router": {"type": "quantum", "qubits": 3, "layers": 2}},
    },
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    from typer.testing import CliRunner

    from qmoe_cli.cli import app

    root = tmp_path_factory.mktemp("dg")
    out = {}
    for name, variants in (
        ("both", ABLATION["variants"]),
        ("linear", {"A": ABLATION["variants"]["A"]}),
    ):
        cfg = {**ABLATION, "name": name, "variants": variants, "reference": "A"}
        (root / f"{name}.yaml").write_text(yaml.safe_dump(cfg))
        result = CliRunner().invoke(
            app, ["ablate", str(root / f"{name}.yaml"), "--out", str(root / name), "--jobs", "1"]
        )
        assert result.exit_code == 0, result.output
        out[name] = only_complete_run(root / name)
    return out


def test_diagnose_writes_the_spectrum_of_the_quantum_routers(runs, cli, tmp_path):
    result = cli("diagnose", runs["both"], "--out", tmp_path)
    assert result.exit_code == 0, result.output
    folder = only_complete_run(tmp_path)
    record = read_record(folder)
    assert isinstance(record, DiagnoseRecord)
    assert [(s.variant, s.seed) for s in record.spectrum] == [("B", 0), ("B", 1)]
    s = record.spectrum[0]
    assert s.degrees == [2, 1] and s.grid_points == 15 and s.frequencies == 7
    assert s.full_r2 is not None and s.full_r2 > 1 - 1e-9
    for name in ("spectrum.csv", "spectrum_summary.csv", "spectrum.png", "config.yaml"):
        assert (folder / name).is_file()
    assert "spectrum B (3 qubits x 2 layers" in result.output


def test_diagnose_errors_are_one_line_exit_2(runs, cli, tmp_path):
    cases = [
        (("diagnose", runs["linear"]), "no quantum router to diagnose"),
        (
            ("diagnose", "--scan", "trainability", "--qubits", "6-3"),
            "--qubits: the range 6-3 is empty",
        ),
        (("diagnose", "--scan", "trainability", "--qubits", "20"), "too wide for the trainability"),
        (("diagnose", "--scan", "expressibility", "--expressibility-qubits", "16"), "too wide"),
        (("diagnose", "--scan", "spectrum"), "give RUN_DIR"),
        (("diagnose", runs["both"], "--variants", "Z"), "--variants: Z not among"),
    ]
    for args, words in cases:
        result = cli(*args, "--out", tmp_path)
        assert result.exit_code == 2, (args, result.output)
        (line,) = result.output.strip().splitlines()
        assert words in line, line
    assert not any(tmp_path.iterdir())  # refused before any folder was made


def test_scans_resume_after_an_interrupt(cli, tmp_path, monkeypatch):
    calls = []
    real = tr.gradient_variance

    def interrupted_on_the_third(*args, **kwargs):
        calls.append(args[0].n_qubits)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(tr, "gradient_variance", interrupted_on_the_third)
    args = ("diagnose", "--scan", "trainability,expressibility", "--qubits", "2-4",
            "--layers", "1", "--ansatz", "ry_cz", "--init", "uniform", "--samples", "20",
            "--pairs", "200", "--expressibility-qubits", "2", "--out", tmp_path)  # fmt: skip
    result = cli(*args)
    assert result.exit_code == 130, result.output
    assert "finished cells are kept in" in result.output
    (failed,) = tmp_path.iterdir()
    assert failed.name.endswith(".failed") and len(list((failed / "cells").iterdir())) == 2
    result = cli(*args)
    assert result.exit_code == 0, result.output
    assert len(calls) == 4  # the third cell again, nothing else recomputed
    record = read_record(only_complete_run(tmp_path))
    assert [r.qubits for r in record.trainability if r.cost == "global"] == [2, 3, 4]
    (decay,) = [d for d in record.decay if d.cost == "global"]
    assert decay.points == 3 and decay.rate is not None and decay.rate < 0
    assert record.expressibility[0].qubits == 2


def test_the_report_reads_a_diagnose_folder_as_a_run(runs, cli, tmp_path):
    """A tiny diagnose (the spectrum and the paper's sizes' gradient variance) given to
    `qmoe report`: its diagnostics section and the two mechanism claims it measures."""
    args = ("--qubits", "2,4", "--layers", "6,12", "--ansatz", "ry_cz", "--init", "uniform")
    result = cli(
        "diagnose", runs["both"], "--scan", "spectrum,trainability", *args,
        "--samples", "20", "--out", tmp_path / "diag",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    folder = only_complete_run(tmp_path / "diag")
    record = read_record(folder)
    assert isinstance(record, DiagnoseRecord) and record.source is not None
    assert record.source.dataset == "two_moons"
    assert {s.mechanism for s in record.spectrum} == {"full"}
    result = cli("report", folder, "--out", tmp_path / "rep")
    assert result.exit_code == 0, result.output
    text = (tmp_path / "rep" / "report.md").read_text()
    assert "Diagnostics: the router's mechanism" in text
    assert (tmp_path / "rep" / "figures" / "R1-spectrum.png").is_file()
    assert (tmp_path / "rep" / "figures" / "R1-gradient_variance.png").is_file()
    claims = {
        c["id"]: c for c in json.loads((tmp_path / "rep" / "claims.json").read_text())["claims"]
    }
    assert claims["mech.kernel"]["verdict"] == "not measured"  # 2 seeds
    assert "2 seed(s)" in claims["mech.kernel"]["reason"]
    assert claims["mech.barren"]["verdict"] != "not measured"
    assert "2 qubits x 12 layers" in claims["mech.barren"]["measured"]
