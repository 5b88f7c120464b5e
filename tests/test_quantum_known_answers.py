"""Closed-form answers derived by hand, and the router's wiring into configs and models."""

import math

import numpy as np
import pytest
import torch

from qmoe_cli.config import validate_config
from qmoe_cli.errors import ConfigError
from qmoe_cli.models import build_model, param_counts
from qmoe_cli.quantum.spec import CircuitSpec
from qmoe_cli.quantum.torch_backend import TorchStatevector

STRATEGIES = ("kernel", "unitary", "gates")
rng = np.random.default_rng(1)
ANGLES = torch.tensor(rng.uniform(0, 2 * math.pi, 8), dtype=torch.float64)
INPUTS = torch.tensor(rng.uniform(0, math.pi, (8, 1)), dtype=torch.float64)


def _run(spec, weights, x, strategy, what="outputs"):
    return getattr(TorchStatevector(spec, strategy), what)(weights, x)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_one_qubit_rx_then_ry(strategy):
    # RX(x)|0> = (cos x/2, -i sin x/2); then RY(t): P(0) = c^2 cos^2(x/2) + s^2 sin^2(x/2)
    # = (1 + cos t cos x) / 2 and <Z> = cos t cos x.
    for t in ANGLES:
        spec = CircuitSpec(1, 1, 1, 2, "ry_cz", "rx", "probs")
        p = _run(spec, t.reshape(1, 1), INPUTS, strategy)
        expected0 = (1 + torch.cos(t) * torch.cos(INPUTS[:, 0])) / 2
        torch.testing.assert_close(p[:, 0], expected0, atol=1e-12, rtol=0)
        torch.testing.assert_close(p[:, 1], 1 - expected0, atol=1e-12, rtol=0)
        z = _run(
            CircuitSpec(1, 1, 1, 2, "ry_cz", "rx", "expval"), t.reshape(1, 1), INPUTS, strategy
        )
        torch.testing.assert_close(
            z[:, 0], torch.cos(t) * torch.cos(INPUTS[:, 0]), atol=1e-12, rtol=0
        )


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_one_qubit_ry_rotations_add(strategy):
    # RY(t) RY(x) = RY(x + t): P(0) = cos^2((x + t) / 2); two layers add their angles too.
    spec = CircuitSpec(1, 2, 1, 2, "ry_cz", "ry", "probs")
    w = ANGLES[:2].reshape(2, 1)
    p = _run(spec, w, INPUTS, strategy)
    torch.testing.assert_close(
        p[:, 0], torch.cos((INPUTS[:, 0] + w.sum()) / 2) ** 2, atol=1e-12, rtol=0
    )


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_one_qubit_rot_expval(strategy):
    # Bloch vector of RX(x)|0> is (0, -sin x, cos x); RZ(phi) turns it to
    # (sin x sin phi, -sin x cos phi, cos x); RY(theta) gives
    # z' = cos theta cos x - sin theta sin x sin phi; the final RZ(omega) leaves <Z> alone.
    spec = CircuitSpec(1, 1, 1, 2, "strongly_entangling", "rx", "expval")
    for phi, theta, omega in ANGLES.reshape(-1, 2)[:, :1].repeat(1, 3) + torch.tensor(
        [0.0, 0.7, 1.9], dtype=torch.float64
    ):
        w = torch.stack([phi, theta, omega]).reshape(1, 1, 3)
        z = _run(spec, w, INPUTS, strategy)[:, 0]
        x = INPUTS[:, 0]
        expected = torch.cos(theta) * torch.cos(x) - torch.sin(theta) * torch.sin(x) * torch.sin(
            phi
        )
        torch.testing.assert_close(z, expected, atol=1e-12, rtol=0)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_two_qubits_flip_and_cz_phase(strategy):
    # x = (0, 0). Layer 1: RY(pi) on qubit 0 -> |10> (index 2, big-endian); CZ keeps it.
    # Layer 2: RY(pi/2) on qubit 1 -> |1>(|0> + |1>)/sqrt2; CZ -> |1>(|0> - |1>)/sqrt2.
    # Layer 3: RY(pi/2)(|0> - |1>)/sqrt2 = |0>, so all probability is on |10>. Without the
    # CZ phase the two RY(pi/2) would add up to RY(pi): |11>.
    spec = CircuitSpec(2, 3, 2, 4, "ry_cz", "ry", "probs")
    w = torch.tensor([[math.pi, 0.0], [0.0, math.pi / 2], [0.0, math.pi / 2]], dtype=torch.float64)
    p = _run(spec, w, torch.zeros(1, 2, dtype=torch.float64), strategy)
    torch.testing.assert_close(
        p, torch.tensor([[0.0, 0.0, 1.0, 0.0]], dtype=torch.float64), atol=1e-12, rtol=0
    )
    # The same with the first RY(pi/2) in layer 1: CZ of layer 1 supplies the phase.
    spec1 = CircuitSpec(2, 2, 2, 4, "ry_cz", "ry", "probs")
    w1 = torch.tensor([[math.pi, math.pi / 2], [0.0, math.pi / 2]], dtype=torch.float64)
    p1 = _run(spec1, w1, torch.zeros(1, 2, dtype=torch.float64), strategy)
    torch.testing.assert_close(
        p1, torch.tensor([[0.0, 0.0, 1.0, 0.0]], dtype=torch.float64), atol=1e-12, rtol=0
    )


def test_cnot_ring_permutes_basis_states():
    # Rot(0, pi, 0) = RY(pi) flips |0> to |1>; on 3 qubits flip qubit 0 only, then the
    # layer-0 CNOT ring (range 1): CNOT(0,1): |110>; CNOT(1,2): |111>; CNOT(2,0): |011>.
    spec = CircuitSpec(3, 1, 1, 2, "strongly_entangling", "ry", "expval")
    w = torch.zeros(1, 3, 3, dtype=torch.float64)
    w[0, 0, 1] = math.pi
    for strategy in STRATEGIES:
        p = _run(spec, w, torch.zeros(1, 1, dtype=torch.float64), strategy, "probs")
        assert p[0].argmax().item() == 0b011 and p[0, 0b011].item() == pytest.approx(1.0)


def test_expert_grouping_is_basis_index_mod_experts():
    spec = CircuitSpec(2, 2, 2, 3, "ry_cz", "rx", "probs")
    sim = TorchStatevector(spec)
    w = ANGLES[:4].reshape(2, 2)
    x = INPUTS.repeat(1, 2)
    probs, out = sim.probs(w, x), sim.outputs(w, x)
    torch.testing.assert_close(out[:, 0], probs[:, 0] + probs[:, 3])
    torch.testing.assert_close(out[:, 1], probs[:, 1])
    torch.testing.assert_close(out[:, 2], probs[:, 2])
    torch.testing.assert_close(out.sum(1), torch.ones(len(x), dtype=torch.float64))


def test_features_repeat_cyclically_over_qubits():
    # 3 qubits, 2 features, RY embedding, identity ansatz (RY(0), CZ does not change probs):
    # qubit 2 carries feature 0 again.
    spec = CircuitSpec(3, 1, 2, 8, "ry_cz", "ry", "probs")
    x = torch.tensor([[0.4, 1.3]], dtype=torch.float64)
    p = TorchStatevector(spec).probs(torch.zeros(1, 3, dtype=torch.float64), x)
    p0 = [math.cos(v / 2) ** 2 for v in (0.4, 1.3, 0.4)]
    assert p[0, 0].item() == pytest.approx(p0[0] * p0[1] * p0[2])
    assert p[0, 0b101].item() == pytest.approx((1 - p0[0]) * p0[1] * (1 - p0[2]))


def test_compiled_kernel_gradient_matches_autograd():
    """The shift-rule gradient of the compiled kernel against torch autograd through U."""
    for ansatz in ("ry_cz", "strongly_entangling"):
        for readout in ("probs", "expval"):
            spec = CircuitSpec(3, 2, 2, 3, ansatz, "rx", readout)
            w = torch.tensor(rng.uniform(0, 6, spec.weight_shape), requires_grad=True)
            x = torch.tensor(rng.uniform(0, 3, (5, 2)))
            coeffs = torch.tensor(rng.normal(size=(5, spec.n_outputs)))
            grads, outputs = [], []
            for strategy in ("kernel", "unitary"):
                out = TorchStatevector(spec, strategy).outputs(w, x)
                (out * coeffs).sum().backward()
                grads.append(w.grad)
                outputs.append(out.detach())
                w.grad = None
            torch.testing.assert_close(outputs[0], outputs[1], atol=1e-12, rtol=0)
            torch.testing.assert_close(grads[0], grads[1], atol=1e-12, rtol=0)
            assert grads[0].abs().max() > 1e-3


def test_auto_strategy_uses_the_kernel_only_where_it_applies():
    spec = CircuitSpec(2, 3, 2, 4)
    w = torch.rand(spec.weight_shape, requires_grad=True)
    x = torch.rand(6, 2)
    node = TorchStatevector(spec).outputs(w, x).grad_fn
    assert type(node).__name__ == "SmallCircuitFunctionBackward"
    # gradients with respect to the inputs need autograd through U
    node = TorchStatevector(spec).outputs(w, x.requires_grad_(True)).grad_fn
    assert "SmallCircuit" not in type(node).__name__
    # four qubits: the kernel up to batch 256, torch's batched matmuls above
    four = CircuitSpec(4, 1, 2, 2)
    w4 = torch.rand(four.weight_shape, requires_grad=True)
    node = TorchStatevector(four).outputs(w4, torch.rand(256, 2)).grad_fn
    assert "SmallCircuit" in type(node).__name__
    node = TorchStatevector(four).outputs(w4, torch.rand(257, 2)).grad_fn
    assert "SmallCircuit" not in type(node).__name__
    big = CircuitSpec(5, 1, 2, 2)
    assert TorchStatevector(big)._kernel is None
    with pytest.raises(ValueError, match="compiled kernel"):
        TorchStatevector(big, "kernel")


def test_quantum_router_param_counts_and_gates():
    base = {"data": {"name": "two_moons"}}
    cfg = validate_config(
        {
            **base,
            "model": {
                "router": {"type": "quantum", "qubits": 2, "layers": 12},
                "experts": {"count": 4},
            },
        }
    )
    model = build_model(cfg.model, 2, 2)
    assert param_counts(model)["router"] == 24  # L x n, the paper's Table I count
    gates = model.router(torch.rand(7, 2) * math.pi)
    torch.testing.assert_close(gates.sum(1), torch.ones(7))
    nb = validate_config(
        {
            **base,
            "model": {
                "router": {
                    "type": "quantum",
                    "qubits": 2,
                    "layers": 3,
                    "ansatz": "strongly_entangling",
                    "readout": "expval",
                },
                "experts": {"count": 2},
            },
        }
    )
    # 3 L n circuit weights + the Linear(2 -> 2) adapter
    assert param_counts(build_model(nb.model, 2, 2))["router"] == 18 + 6


@pytest.mark.parametrize(
    "router, experts, data, needle",
    [
        ({"qubits": 1}, 2, {}, "model.router.qubits: 1 qubits cannot embed 2 input features"),
        ({"qubits": 2}, 5, {}, "model.experts.count: 5 experts exceed the 4 basis states"),
        ({"qubits": 3, "ansatz": "ring"}, 2, {}, "model.router.ansatz"),
        ({"qubits": 2}, 2, {"pca_components": 3}, "cannot embed 3 input features"),
    ],
)
def test_impossible_quantum_configs_are_rejected(router, experts, data, needle):
    raw = {
        "data": {"name": "two_moons", **data},
        "model": {"router": {"type": "quantum", **router}, "experts": {"count": experts}},
    }
    with pytest.raises(ConfigError, match=needle):
        validate_config(raw)


def test_expval_readout_allows_more_experts_than_basis_states():
    cfg = validate_config(
        {
            "model": {
                "router": {"type": "quantum", "qubits": 2, "readout": "expval"},
                "experts": {"count": 6},
            }
        }
    )
    gates = build_model(cfg.model, 2, 2).router(torch.rand(3, 2))
    assert gates.shape == (3, 6)


@pytest.mark.slow
def test_quantum_router_trains_on_two_moons_through_the_cli(tmp_path):
    """Measured 0.969 +- 0.010 over seeds 0-4 (configs/two_moons_quantum.yaml).

    A uniform (broken) gate over the same linear experts measured 0.890; a router whose
    circuit ignored x, or a wrong gradient, falls far below the floor.
    """
    import json

    from .conftest import run_qmoe

    proc = run_qmoe(
        "train", "configs/two_moons_quantum.yaml", "--seeds", "0,1,2", "--out", tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    run = next(p for p in tmp_path.iterdir() if not p.name.startswith("."))
    accs = [m["test_accuracy"] for m in json.loads((run / "metrics.json").read_text())["per_seed"]]
    assert np.mean(accs) >= 0.94, accs


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_expval_router_fused_adapter_matches_torch(dtype):
    """Circuit + softmax adapter in one compiled node == the same router through autograd."""
    spec = CircuitSpec(3, 2, 2, 3, "strongly_entangling", "rx", "expval")
    w = torch.tensor(rng.uniform(0, 6, spec.weight_shape), dtype=dtype, requires_grad=True)
    a_w = torch.tensor(rng.normal(size=(3, 3)), dtype=dtype, requires_grad=True)
    a_b = torch.tensor(rng.normal(size=3), dtype=dtype, requires_grad=True)
    x = torch.tensor(rng.uniform(0, 3, (6, 2)), dtype=dtype)
    coeffs = torch.tensor(rng.normal(size=(6, 3)), dtype=dtype)
    results = []
    for strategy in ("auto", "unitary"):
        gates = TorchStatevector(spec, strategy).adapted_outputs(w, x, a_w, a_b)
        (gates * coeffs).sum().backward()
        results.append([gates.detach()] + [t.grad.clone() for t in (w, a_w, a_b)])
        w.grad = a_w.grad = a_b.grad = None
    assert (
        "SmallCircuit"
        in type(TorchStatevector(spec).adapted_outputs(w, x, a_w, a_b).grad_fn).__name__
    )
    tol = 1e-12 if dtype == torch.float64 else 1e-5
    for fused, reference in zip(*results, strict=True):
        torch.testing.assert_close(fused, reference, atol=tol, rtol=0)


def test_kernel_skips_the_shifted_unitaries_without_gradients(monkeypatch):
    from qmoe_cli.quantum import jit_kernel

    calls = []
    compiled = jit_kernel._forward

    def spy(weights, x, need_grad, *rest):
        calls.append(need_grad)
        return compiled(weights, x, need_grad, *rest)

    monkeypatch.setattr(jit_kernel, "_forward", spy)
    spec = CircuitSpec(2, 2, 2, 4)
    sim, x = TorchStatevector(spec), torch.rand(5, 2)
    w = torch.rand(spec.weight_shape, requires_grad=True)
    with_grad = sim.outputs(w, x)
    with torch.no_grad():
        without = sim.outputs(w, x)
    sim.outputs(w.detach(), x)
    assert calls == [True, False, False]
    torch.testing.assert_close(with_grad.detach(), without)
