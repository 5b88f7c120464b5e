"""`qmoe export`: the exported circuits reproduce the trained router's probabilities."""

import importlib.util
import json
import re
import runpy
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch

from qmoe_cli.config import read_yaml, validate_config
from qmoe_cli.runs import read_json

from .conftest import TINY, only_complete_run

# Inputs to compare at (within the minmax_pi range of the scaled features, and beyond).
XS = np.array([[0.0, 0.0], [0.3, 2.1], [3.1, -0.7], [1.234, 5.678]])

PROBS_ROUTER = {"type": "quantum", "qubits": 2, "layers": 2, "readout": "probs"}
EXPVAL_ROUTER = {
    "type": "quantum",
    "qubits": 3,
    "layers": 2,
    "ansatz": "strongly_entangling",
    "embedding": "ry",
    "readout": "expval",
}
_RUNS: dict = {}  # router -> run folder, trained once per session (tmp dirs outlive tests)


def quantum_config(router: dict, experts: int = 3) -> dict:
    return {
        **TINY,
        "name": "tq",
        "model": {"router": router, "experts": {"count": experts}},
        "train": {"epochs": 2, "batch_size": 32},
        "seeds": [0, 1] if router["readout"] == "expval" else [0],
    }


def trained_run(cli, write_config, tmp_path, router: dict):
    key = repr(sorted(router.items()))
    if key not in _RUNS:
        out = tmp_path / "runs"
        result = cli("train", write_config(quantum_config(router)), "--out", out)
        assert result.exit_code == 0, result.output
        _RUNS[key] = only_complete_run(out)
    return _RUNS[key]


def model_of(run, seed):
    """The run's model for `seed` in float64, with the torch simulator."""
    from qmoe_cli.models import build_model

    cfg = validate_config(read_yaml(run / "config.yaml"))
    cfg.model.router.backend = "torch"
    data = read_json(run / f"seed-{seed}" / "metrics.json")["data"]
    model = build_model(cfg.model, data["n_features"], data["n_classes"])
    state = torch.load(run / f"seed-{seed}" / "model.pt", weights_only=True)
    model.load_state_dict(state)
    return model.double().eval()


def model_probs(model, xs=XS):
    with torch.no_grad():
        x = torch.as_tensor(xs, dtype=torch.float64)
        probs = model.router.backend.probs(model.router.weights, x).numpy()
        gates = model.router(x).numpy()
    return probs, gates


def big_endian_probs(qc, values) -> np.ndarray:
    from qiskit.quantum_info import Statevector

    params = sorted(qc.parameters, key=lambda p: p.name)
    bound = qc.assign_parameters(dict(zip(params, [float(v) for v in values], strict=True)))
    return Statevector(bound).reverse_qargs().probabilities()


def export(cli, run, *args):
    result = cli("export", run, *args)
    assert result.exit_code == 0, result.output
    path = result.output.strip()
    assert "\n" not in path
    return path


# --------------------------------------------------------------------------- qasm3

QASM_GATE = re.compile(r"^(rx|ry|rz|cx|cz)(?:\(([^)]*)\))? (q\[\d+\](?:, q\[\d+\])*);$")


def parse_qasm_gates(text: str):
    """A stand-in for the OpenQASM 3 importer, for exactly the statements qmoe writes."""
    from qiskit import QuantumCircuit
    from qiskit.circuit import Parameter

    inputs = re.findall(r"^input float\[64\] (\w+);$", text, re.M)
    (n,) = (int(m) for m in re.findall(r"^qubit\[(\d+)\] q;$", text, re.M))
    params = {name: Parameter(name) for name in inputs}
    qc = QuantumCircuit(n)
    body = text.split("qubit[", 1)[1].splitlines()[1:]
    for line in body:
        if not line.strip():
            continue
        m = QASM_GATE.match(line)
        assert m, f"unexpected statement {line!r}"
        name, arg, qubits = m.groups()
        angles = [] if arg is None else [params[arg] if arg in params else float(arg)]
        wires = [int(q) for q in re.findall(r"q\[(\d+)\]", qubits)]
        getattr(qc, name)(*angles, *wires)
    return inputs, qc


def test_qasm3_export_reproduces_the_model(cli, write_config, tmp_path):
    run = trained_run(cli, write_config, tmp_path, PROBS_ROUTER)
    path = export(cli, run)
    assert path == str(run / "router_seed0.qasm")
    text = open(path).read()
    assert "readout: probs" in text and "i mod 3 == e" in text
    assert "big-endian" in text and "little-endian" in text
    assert f'run: "{run.resolve()}"  seed: 0' in text
    inputs, qc = parse_qasm_gates(text)
    assert inputs == ["x_0", "x_1"]
    assert "rx(x_0) q[0];" in text and "rx(x_1) q[1];" in text and "cz q[0], q[1];" in text
    assert qc.count_ops() == {"rx": 2, "ry": 4, "cz": 2}
    expected, _ = model_probs(model_of(run, 0))
    for x, want in zip(XS, expected, strict=True):
        np.testing.assert_allclose(big_endian_probs(qc, x), want, atol=1e-6)
    # never overwrite; a second format with the same default name needs --out
    result = cli("export", run)
    assert result.exit_code != 0 and "exists" in result.output


def test_qasm3_export_loads_with_qiskit_importer(cli, write_config, tmp_path):
    if importlib.util.find_spec("qiskit_qasm3_import") is None:
        pytest.skip("qiskit.qasm3.loads needs the optional package qiskit_qasm3_import")
    from qiskit import qasm3

    run = trained_run(cli, write_config, tmp_path, PROBS_ROUTER)
    qc = qasm3.loads(open(export(cli, run, "--out", tmp_path / "r.qasm")).read())
    expected, _ = model_probs(model_of(run, 0))
    for x, want in zip(XS, expected, strict=True):
        np.testing.assert_allclose(big_endian_probs(qc, x), want, atol=1e-6)


def test_qasm3_expval_header_has_the_adapter(cli, write_config, tmp_path):
    run = trained_run(cli, write_config, tmp_path, EXPVAL_ROUTER)
    text = open(export(cli, run, "--seed", 1, "--out", tmp_path / "e.qasm")).read()
    state = torch.load(run / "seed-1" / "model.pt", weights_only=True)
    assert "readout: expval" in text and "softmax(W z + b)" in text and "seed: 1" in text
    w = re.search(r"W \(3 x 3\) = (.*)$", text, re.M).group(1)
    np.testing.assert_array_equal(eval(w), state["router.adapter.weight"].double().numpy())
    _, qc = parse_qasm_gates(text)
    expected, _ = model_probs(model_of(run, 1))
    for x, want in zip(XS, expected, strict=True):
        np.testing.assert_allclose(big_endian_probs(qc, x), want, atol=1e-6)


# --------------------------------------------------------------------------- python


@pytest.mark.parametrize("fmt", ["qiskit", "pennylane"])
@pytest.mark.parametrize("router", [PROBS_ROUTER, EXPVAL_ROUTER], ids=["probs", "expval"])
def test_python_exports_reproduce_the_model(cli, write_config, tmp_path, fmt, router):
    run = trained_run(cli, write_config, tmp_path, router)
    seed = 1 if router["readout"] == "expval" else 0
    path = export(cli, run, "--format", fmt, "--seed", seed, "--out", tmp_path / f"{fmt}.py")
    ns = runpy.run_path(path)  # a fresh namespace, as `python file.py` would (minus __main__)
    expected_probs, expected_gates = model_probs(model_of(run, seed))
    for i, x in enumerate(XS):
        np.testing.assert_allclose(ns["probs"](x), expected_probs[i], atol=1e-6)
        np.testing.assert_allclose(ns["gates"](x), expected_gates[i], atol=1e-6)
    if fmt == "pennylane":
        np.testing.assert_allclose(ns["circuit"](list(XS[1])), expected_probs[1], atol=1e-6)
    else:
        assert ns["qc"].num_parameters == 2 and ns["qc"].num_qubits == router["qubits"]


def test_python_export_runs_as_a_script(cli, write_config, tmp_path):
    run = trained_run(cli, write_config, tmp_path, PROBS_ROUTER)
    assert export(cli, run, "--format", "qiskit") == str(run / "router_seed0_qiskit.py")
    proc = subprocess.run(
        [sys.executable, str(run / "router_seed0_qiskit.py")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    expected, _ = model_probs(model_of(run, 0), XS[:1])
    shown = re.search(r"probs at x = 0: \[(.*?)\]", proc.stdout, re.S).group(1)
    np.testing.assert_allclose(np.array(shown.split(), dtype=float), expected[0], atol=1e-6)


# --------------------------------------------------------------------------- hostile names


def hostile_copy(run, tmp_path, marker):
    """The run folder copied under a name that would end a docstring or a comment and run
    code creating `marker` (in OpenQASM: add a gate)."""
    payload = f"import pathlib; pathlib.Path({str(marker)!r}).touch()"
    name = f'run\'\'\'"""\n{payload}\nr"""\r\nx q[0];\n\\\u2028\x1b[2J\\'
    hostile = tmp_path / "hostile" / name
    shutil.copytree(run, hostile)
    return hostile


@pytest.mark.parametrize("fmt", ["qiskit", "pennylane"])
@pytest.mark.parametrize("router", [PROBS_ROUTER, EXPVAL_ROUTER], ids=["probs", "expval"])
def test_a_hostile_folder_name_is_not_run_by_the_python_export(
    cli, write_config, tmp_path, fmt, router
):
    marker = tmp_path / "pwned"
    run = hostile_copy(trained_run(cli, write_config, tmp_path, router), tmp_path, marker)
    seed = 1 if router["readout"] == "expval" else 0
    out = tmp_path / f"router_{fmt}.py"  # not qiskit.py: run as a script, it would shadow qiskit
    path = export(cli, run, "--format", fmt, "--seed", seed, "--out", out)
    ns = runpy.run_path(path)
    assert not marker.exists()
    assert json.dumps(str(run.resolve())) in ns["__doc__"]  # named, escaped, in the docstring
    proc = subprocess.run([sys.executable, path], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert not marker.exists()
    expected_probs, expected_gates = model_probs(model_of(run, seed))
    for i, x in enumerate(XS):
        np.testing.assert_allclose(ns["probs"](x), expected_probs[i], atol=1e-6)
        np.testing.assert_allclose(ns["gates"](x), expected_gates[i], atol=1e-6)


def test_a_hostile_folder_name_stays_in_a_qasm_comment(cli, write_config, tmp_path):
    run = hostile_copy(trained_run(cli, write_config, tmp_path, PROBS_ROUTER), tmp_path, "m")
    text = open(export(cli, run, "--out", tmp_path / "h.qasm")).read()
    head, _ = text.split("OPENQASM", 1)
    assert head.isascii() and all(line.startswith("// ") for line in head.splitlines())
    assert f"// run: {json.dumps(str(run.resolve()))}  seed: 0\n" in head
    _, qc = parse_qasm_gates(text)  # every statement after the header is one qmoe wrote
    assert qc.count_ops() == {"rx": 2, "ry": 4, "cz": 2}
    expected, _ = model_probs(model_of(run, 0))
    for x, want in zip(XS, expected, strict=True):
        np.testing.assert_allclose(big_endian_probs(qc, x), want, atol=1e-6)


# --------------------------------------------------------------------------- errors


def _one_line_error(result, needle):
    assert result.exit_code != 0, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    assert needle in lines[0], lines[0]
    assert "Traceback" not in result.output


def test_export_errors_are_one_line(cli, write_config, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    _one_line_error(cli("export", empty), "not a complete run folder")
    _one_line_error(cli("export", tmp_path / "nope"), "no such directory")

    out = tmp_path / "classical"
    assert cli("train", write_config(TINY), "--out", out).exit_code == 0
    linear = only_complete_run(out)
    _one_line_error(cli("export", linear), "model.router.type is 'linear'")

    run = trained_run(cli, write_config, tmp_path, PROBS_ROUTER)
    _one_line_error(cli("export", run, "--seed", 7), "seed-7/model.pt is missing")
    _one_line_error(cli("export", run, "--format", "qpy"), "--format")
    assert not list(run.glob("router_seed7*"))
