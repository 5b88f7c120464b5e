"""`qmoe export`: a trained quantum router's circuit as OpenQASM 3, Qiskit or PennyLane code.

The circuit is the one of quantum/spec.py (embedding, then the ansatz with the learned
weights written as numbers); the inputs stay free: x[0..d-1], the (scaled) input features.
Formats (the file is never overwritten):

* ``qasm3`` (``.qasm``): ``qiskit.qasm3.dumps`` of `build_circuit`, with the inputs as
  ``input float[64] x_0; ...`` (x_f is x[f]). A comment header states the readout (the
  probs grouping, or the expval adapter's weight and bias), the qubit order and the run.
* ``qiskit`` (``.py``): Python source that rebuilds the same ``QuantumCircuit`` (named
  ``qc``, inputs ``x = ParameterVector("x", d)``) gate for gate, and defines
  ``probs(values)`` (big-endian basis-state probabilities via ``Statevector``) and
  ``gates(values)`` (the router's expert probabilities). Not QPY: plain source is readable,
  diffable and does not depend on the QPY version.
* ``pennylane`` (``.py``): Python source defining ``circuit(x)``, a ``qml.qnode`` on
  ``default.qubit`` that applies the spec's gates (Rot as ``qml.Rot``, as the PennyLane
  backend does) and returns ``qml.probs`` over all wires (big-endian), and ``gates(x)``.

Qubit order: qmoe and PennyLane are big-endian (qubit 0 is the most significant bit of a
basis index), Qiskit is little-endian (qubit 0 is the least significant bit). Only the
noiseless circuit is exported; a configured noise model is named in the header.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qmoe_cli.config import ExperimentConfig, read_yaml, validate_config
from qmoe_cli.errors import ConfigError, RunFolderError
from qmoe_cli.kinds import run_config_kind
from qmoe_cli.quantum.spec import CircuitSpec
from qmoe_cli.runs import is_complete_run, load_checkpoint, read_json

FORMATS = {"qasm3": "qasm", "qiskit": "py", "pennylane": "py"}


@dataclass
class TrainedRouter:
    """What an export needs from one seed of a run: the circuit, its weights, the readout."""

    run: Path
    seed: int
    config: ExperimentConfig
    spec: CircuitSpec
    weights: np.ndarray  # spec.weight_shape, float64
    adapter_weight: np.ndarray | None  # (E, n) for the expval readout
    adapter_bias: np.ndarray | None  # (E,)

    def ops(self, x):
        """The spec's gates with inputs `x` (a sequence of names or numbers)."""
        return self.spec.embedding_ops(x) + self.spec.ansatz_ops(self.weights)


def load_trained_router(run_dir: str | Path, seed: int | None = None) -> TrainedRouter:
    """The quantum router of one seed of a train-format run folder (errors name the file)."""
    run = Path(run_dir)
    if not run.is_dir():
        raise RunFolderError(f"not a run folder (no such directory): {run}")
    if not is_complete_run(run):
        raise RunFolderError(
            f"not a complete run folder: {run} (no metrics.json, or a .tmp/.failed folder)"
        )
    raw = read_yaml(run / "config.yaml")
    kind = run_config_kind(raw).name
    if kind in ("ablate", "efficiency"):
        raise RunFolderError(
            f"{run} is an {'ablation' if kind == 'ablate' else 'efficiency'} group: export one "
            f"of its variants, {run / 'variants'}/<name>"
        )
    if kind == "noise-sweep":
        raise RunFolderError(
            f"{run} is a noise-sweep group: export {run / 'quantum'} (evaluate mode) or "
            f"{run / 'levels'}/eps=<level> (train mode)"
        )
    raw.setdefault("kind", "train")
    cfg = validate_config(raw, source=str(run / "config.yaml"))
    router = cfg.model.router
    if router.type != "quantum":
        raise ConfigError(
            f"{run / 'config.yaml'}: model.router.type is {router.type!r}; "
            "only a quantum router has a circuit to export"
        )
    seed = cfg.seeds[0] if seed is None else seed
    folder = run / f"seed-{seed}"
    model_path = folder / "model.pt"
    if not model_path.is_file():
        have = sorted(p.name for p in run.glob("seed-*") if (p / "model.pt").is_file())
        raise RunFolderError(
            f"{run}: no trained model for seed {seed} ({folder.name}/model.pt is missing; "
            f"found: {', '.join(have) or 'none'})"
        )
    data = read_json(folder / "metrics.json").get("data") or {}
    if not isinstance(data.get("n_features"), int):
        raise RunFolderError(f"{folder / 'metrics.json'}: data.n_features is missing")
    try:
        spec = CircuitSpec(
            n_qubits=router.qubits,
            n_layers=router.layers,
            n_features=data["n_features"],
            n_experts=cfg.model.experts.count,
            ansatz=router.ansatz,
            embedding=router.embedding,
            readout=router.readout,
            mechanism=router.mechanism,
        )
    except ValueError as exc:
        raise ConfigError(f"{run / 'config.yaml'}: model.router: {exc}") from None
    if spec.unitary_problem():
        raise ConfigError(f"{run / 'config.yaml'}: model.router: {spec.unitary_problem()}")
    state = load_checkpoint(model_path)
    weights = _tensor(state, "router.weights", model_path, spec.weight_shape)
    adapter_w = adapter_b = None
    if spec.readout == "expval":
        shape = (spec.n_experts, spec.n_qubits)
        adapter_w = _tensor(state, "router.adapter.weight", model_path, shape)
        adapter_b = _tensor(state, "router.adapter.bias", model_path, (spec.n_experts,))
    return TrainedRouter(run, seed, cfg, spec, weights, adapter_w, adapter_b)


def _tensor(state: dict, key: str, path: Path, shape: tuple[int, ...]) -> np.ndarray:
    if key not in state:
        raise RunFolderError(f"{path}: no '{key}' in the state dict")
    value = state[key].detach().cpu().double().numpy()
    if value.shape != tuple(shape):
        raise RunFolderError(f"{path}: '{key}' has shape {value.shape}, expected {tuple(shape)}")
    return value


# --------------------------------------------------------------------------- rendering


def header_lines(tr: TrainedRouter, fmt: str) -> list[str]:
    """The comment header shared by every format (without comment markers)."""
    spec, router = tr.spec, tr.config.model.router
    n, d, e = spec.n_qubits, spec.n_features, spec.n_experts
    inputs = f"x_0 .. x_{d - 1}" if fmt == "qasm3" else f"x[0] .. x[{d - 1}]"
    lines = [
        "qmoe quantum router, exported by `qmoe export`",
        f"run: {quoted(tr.run.resolve())}  seed: {tr.seed}",
        f"circuit: {n} qubits, {spec.n_layers} layers, ansatz {spec.ansatz}, "
        f"embedding {spec.embedding}, {d} input features, {e} experts",
        f"inputs: {inputs} = the scaled features (data.scaling: {tr.config.data.scaling}); "
        f"qubit q gets feature q mod {d}",
        "qubit order: qmoe and PennyLane are big-endian (qubit 0 is the most significant bit",
        "  of a basis index i = sum_q b_q 2^(n-1-q)); Qiskit is little-endian (qubit 0 is the",
        "  least significant bit, i = sum_q b_q 2^q): reverse the qubits to compare.",
    ]
    if spec.readout == "probs":
        lines += [
            "readout: probs. P(expert e | x) = sum of the big-endian basis-state probabilities",
            f"  p_i with i mod {e} == e, for i = 0 .. {2**n - 1}.",
        ]
    else:
        lines += [
            f"readout: expval. z_q = <Z_q> for q = 0 .. {n - 1}; P(expert | x) = softmax(W z + b)",
            f"  W ({e} x {n}) = {_array_literal(tr.adapter_weight)}",
            f"  b ({e}) = {_array_literal(tr.adapter_bias)}",
        ]
    noise = router.noise.model_dump(mode="json")
    if any(v not in (None, 0, 0.0, False) for k, v in noise.items() if k != "placement"):
        lines.append(f"noise (NOT in this circuit, which is noiseless): {json.dumps(noise)}")
    return lines


def quoted(text) -> str:
    """Free text (a folder name may hold quotes, newlines, control characters) as a JSON
    string: one line of printable ASCII, no bare quote inside, so it can end neither a comment
    nor a docstring of the generated file."""
    return json.dumps(str(text), ensure_ascii=True)


def _array_literal(a: np.ndarray) -> str:
    return json.dumps(np.asarray(a, dtype=float).tolist())


def render_qasm3(tr: TrainedRouter) -> str:
    from qiskit import qasm3
    from qiskit.circuit import Parameter

    from qmoe_cli.quantum.qiskit_backend import build_circuit

    qc = build_circuit(tr.spec, tr.weights)
    # x[f] would be written as the mangled identifier _x_f_: name the inputs x_f instead.
    qc = qc.assign_parameters({p: Parameter(f"x_{p.index}") for p in qc.parameters})
    lines = header_lines(tr, "qasm3")
    header = "".join(f"// {line}\n" for line in lines)
    if header.count("\n") != len(lines) or not header.isascii() or "\r" in header:
        raise AssertionError("a header line of the OpenQASM export is not one comment line")
    return header + qasm3.dumps(qc)


def render_qiskit(tr: TrainedRouter) -> str:
    from qmoe_cli.quantum.qiskit_backend import build_circuit

    qc = build_circuit(tr.spec, tr.weights)
    body = []
    for inst in qc.data:
        args = [_qiskit_param(p) for p in inst.operation.params]
        args += [str(qc.find_bit(q).index) for q in inst.qubits]
        body.append(f"qc.{inst.operation.name}({', '.join(args)})")
    spec = tr.spec
    return _python_file(
        tr,
        "qiskit",
        imports=[
            "import numpy as np",
            "from qiskit import QuantumCircuit",
            "from qiskit.circuit import ParameterVector",
            "from qiskit.quantum_info import Statevector",
        ],
        body=[
            'x = ParameterVector("x", N_FEATURES)',
            'qc = QuantumCircuit(N_QUBITS, name="qmoe_router")',
            *body,
            "",
            "",
            "def probs(values):",
            '    """Basis-state probabilities of the circuit at x = values, big-endian (qmoe).',
            "",
            "    Qiskit's Statevector is little-endian: reverse the qubits to get qmoe's order.",
            '    """',
            "    bound = qc.assign_parameters(dict(zip(x, [float(v) for v in values])))",
            "    return Statevector(bound).reverse_qargs().probabilities()",
        ],
        spec=spec,
    )


def _qiskit_param(p) -> str:
    if isinstance(p, (int, float, np.number)):
        return repr(float(p))
    name = str(p)  # an input, e.g. "x[0]"
    if not name.startswith("x[") or len(p.parameters) != 1:
        raise ValueError(f"unexpected circuit parameter {name!r}")
    return name


def render_pennylane(tr: TrainedRouter) -> str:
    body = []
    for op in tr.ops([f"x[{f}]" for f in range(tr.spec.n_features)]):
        args = [p if isinstance(p, str) else repr(float(p)) for p in op.params]
        wires = str(op.wires[0]) if len(op.wires) == 1 else str(list(op.wires))
        body.append(f"    qml.{op.name}({', '.join([*args, f'wires={wires}'])})")
    return _python_file(
        tr,
        "pennylane",
        imports=["import numpy as np", "import pennylane as qml"],
        body=[
            'dev = qml.device("default.qubit", wires=N_QUBITS)',
            "",
            "",
            "@qml.qnode(dev)",
            "def circuit(x):",
            '    """Basis-state probabilities at input x (length N_FEATURES), big-endian."""',
            *body,
            "    return qml.probs(wires=range(N_QUBITS))",
            "",
            "",
            "def probs(values):",
            "    return np.asarray(circuit([float(v) for v in values]), dtype=float)",
        ],
        spec=tr.spec,
    )


def _python_file(tr: TrainedRouter, fmt: str, imports, body, spec: CircuitSpec) -> str:
    doc = "\n".join(header_lines(tr, fmt))
    consts = [
        f"N_QUBITS = {spec.n_qubits}",
        f"N_FEATURES = {spec.n_features}",
        f"N_EXPERTS = {spec.n_experts}",
        f'READOUT = "{spec.readout}"',
    ]
    if spec.readout == "expval":
        consts += [
            f"ADAPTER_WEIGHT = np.array({_array_literal(tr.adapter_weight)})",
            f"ADAPTER_BIAS = np.array({_array_literal(tr.adapter_bias)})",
        ]
    gates = [
        "def gates(values):",
        '    """The router\'s expert probabilities P(expert | x = values)."""',
        "    p = probs(values)",
        "    n = N_QUBITS",
        '    if READOUT == "probs":',
        "        return np.bincount(np.arange(2**n) % N_EXPERTS, weights=p, minlength=N_EXPERTS)",
        "    bits = (np.arange(2**n)[:, None] >> (n - 1 - np.arange(n))[None, :]) & 1",
        "    z = p @ (1 - 2 * bits)",
        "    logits = ADAPTER_WEIGHT @ z + ADAPTER_BIAS",
        "    e = np.exp(logits - logits.max())",
        "    return e / e.sum()",
    ]
    main = [
        'if __name__ == "__main__":',
        "    x0 = [0.0] * N_FEATURES",
        '    print("probs at x = 0:", probs(x0))',
        '    print("gates at x = 0:", gates(x0))',
    ]
    parts = [
        f'r"""{doc}\n"""',  # raw: a path may hold backslashes
        "\n".join(imports),
        "\n".join(consts),
        "\n".join(body),
        "\n".join(gates),
        "\n".join(main),
    ]
    sep = ["\n\n", "\n\n", "\n\n", "\n\n\n", "\n\n\n"]
    text = parts[0]
    for s, part in zip(sep, parts[1:], strict=True):
        text += s + part
    _check_docstring(text, doc + "\n")
    return text + "\n"


def _check_docstring(text: str, doc: str) -> None:
    """The generated module's docstring is exactly the header: no text in it ended it early."""
    import ast

    tree = ast.parse(text)
    first = tree.body[0] if tree.body else None
    if not (
        isinstance(first, ast.Expr)
        and isinstance(first.value, ast.Constant)
        and first.value.value == doc
    ):
        raise AssertionError("the docstring of the Python export is not its header")


RENDERERS = {"qasm3": render_qasm3, "qiskit": render_qiskit, "pennylane": render_pennylane}


def run_export(
    run_dir: str | Path, seed: int | None = None, fmt: str = "qasm3", out: str | Path | None = None
) -> Path:
    """Write the router circuit of one seed of a run in `fmt`; return the file written."""
    if fmt not in FORMATS:
        raise ConfigError(f"--format: expected one of {', '.join(FORMATS)}, got {fmt!r}")
    tr = load_trained_router(run_dir, seed)
    suffix = "" if fmt == "qasm3" else f"_{fmt}"  # the two Python exports must not clash
    default = tr.run / f"router_seed{tr.seed}{suffix}.{FORMATS[fmt]}"
    path = Path(out) if out is not None else default
    if path.exists():
        raise RunFolderError(f"output file exists, not overwriting: {path} (choose one with --out)")
    text = RENDERERS[fmt](tr)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("x", encoding="utf-8") as fh:  # "x": fail rather than overwrite
            fh.write(text)
    except FileExistsError:
        raise RunFolderError(
            f"output file exists, not overwriting: {path} (choose one with --out)"
        ) from None
    except OSError as exc:
        raise RunFolderError(f"cannot write {path}: {exc.strerror or exc}") from None
    return path
