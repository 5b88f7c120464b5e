"""The router's effective parameter count: rank of the gate Jacobian, known answers."""

import copy
import random

import numpy as np
import pytest
import torch

from qmoe_cli import metrics
from qmoe_cli.config import validate_config
from qmoe_cli.metrics import EFFECTIVE_RTOL, effective_inputs, effective_params, gate_jacobian
from qmoe_cli.models import build_model, param_counts


def make_model(router: dict, n_features: int = 2, n_experts: int = 4, seed: int = 0, **model):
    torch.manual_seed(seed)
    cfg = validate_config({"model": {"router": router, "experts": {"count": n_experts}, **model}})
    return build_model(cfg.model, n_features, 2)


def inputs(n: int = 64, n_features: int = 2, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, n_features, generator=g, dtype=torch.float64) * torch.pi


def rank(router: dict, n_features: int = 2, n_experts: int = 4, **kw) -> int:
    model = make_model(router, n_features, n_experts, **kw)
    return effective_params(model, inputs(64, n_features))["rank"]


QUANTUM_2Q = {"type": "quantum", "qubits": 2, "ansatz": "ry_cz", "readout": "probs"}


@pytest.mark.parametrize(("d", "e"), [(2, 4), (3, 4), (5, 3), (2, 2)])
def test_linear_softmax_router_loses_one_logit_to_the_shift_invariance(d, e):
    # softmax(Wx + b) is unchanged by adding the same (w, b) to every expert's row:
    # E (d + 1) parameters, (E - 1)(d + 1) directions that move the gates
    result = effective_params(make_model({"type": "linear"}, d, e), inputs(64, d))
    assert result["nominal"] == e * (d + 1)
    assert result["rank"] == (e - 1) * (d + 1)
    assert result["n_inputs"] == 64 and result["rtol"] == EFFECTIVE_RTOL == 1e-8


@pytest.mark.parametrize("embedding", ["rx", "ry"])
@pytest.mark.parametrize(("layers", "expected"), [(1, 2), (2, 4), (3, 6), (12, 6), (24, 6)])
def test_two_qubit_ry_cz_router_reaches_at_most_so4(embedding, layers, expected):
    # RY and CZ are real: U ranges over real orthogonal 4 x 4 matrices, SO(4) has dimension 6,
    # so 12 or 24 parameters move the gates in 6 directions only (measured: exactly 6)
    router = {**QUANTUM_2Q, "layers": layers, "embedding": embedding}
    assert rank(router) == expected


def test_four_qubits_by_six_layers_have_more_directions_than_two_by_twelve():
    # both 24 parameters (measured: 14 against 6)
    two = rank({**QUANTUM_2Q, "layers": 12, "embedding": "ry"})
    four = rank({**QUANTUM_2Q, "qubits": 4, "layers": 6, "embedding": "ry"})
    assert two == 6 and four > two
    assert four <= 24


def test_fourier_router_rank_is_the_linear_count_over_its_features():
    # Softmax(W f(x) + b) over 8 features: (E - 1)(8 + 1) = 27 of 36 parameters
    assert rank({"type": "fourier", "max_frequency": 1}) == 27


def test_mlp_rank_is_below_nominal():
    result = effective_params(make_model({"type": "mlp", "hidden": [12, 12]}), inputs(122))
    assert result["nominal"] == 244
    assert 0 < result["rank"] < result["nominal"]


def test_jacobian_matches_finite_differences_through_the_compiled_kernel():
    # the quantum router's gradient comes from the kernel's shift rule
    model = copy.deepcopy(make_model({**QUANTUM_2Q, "layers": 3})).double()
    x = inputs(5)
    jac = gate_jacobian(model, x)
    w = model.router.weights
    numeric = []
    with torch.no_grad():
        for i in range(w.numel()):
            step = torch.zeros_like(w).view(-1)
            step[i] = 1e-6
            w.add_(step.view_as(w))
            plus = model(x).gates.reshape(-1).clone()
            w.sub_(2 * step.view_as(w))
            minus = model(x).gates.reshape(-1).clone()
            w.add_(step.view_as(w))
            numeric.append((plus - minus) / 2e-6)
    torch.testing.assert_close(jac, torch.stack(numeric, dim=1), atol=1e-8, rtol=1e-6)


@pytest.mark.parametrize(
    "router",
    [
        {"type": "quantum", "qubits": 2, "layers": 12},
        {"type": "quantum", "qubits": 3, "layers": 2, "ansatz": "strongly_entangling",
         "embedding": "rx"},
        {"type": "quantum", "qubits": 2, "layers": 3,
         "noise": {"depolarizing": 0.03, "depolarizing_2q": 0.05, "readout_error": 0.02}},
        {"type": "quantum", "qubits": 4, "layers": 2, "noise": {"depolarizing": 0.01,
         "placement": "notebook"}},
        {"type": "quantum", "qubits": 3, "layers": 3, "mechanism": "dephased"},
        {"type": "quantum", "qubits": 2, "layers": 3, "mechanism": "no_entangler"},
    ],
    ids=["paper-B", "strongly-entangling-rx", "noisy", "notebook-4-qubits", "dephased",
         "no-entangler"],
)  # fmt: skip
def test_the_shift_rule_jacobian_equals_autograds(router):
    """The quantum router's gate Jacobian by the parameter-shift rule (2P circuit runs) is
    the autograd one (a backward pass per output) to rounding."""
    model = copy.deepcopy(make_model(router, n_features=3 if "rx" in str(router) else 2))
    model = model.double().eval()
    x = inputs(30, model.router.spec.n_features)
    shifted = metrics.shift_rule_gate_jacobian(model, x)
    params = [p for p in model.router.parameters() if p.requires_grad]
    with torch.enable_grad():
        by_autograd = metrics._jacobian_rows(model(x).gates.reshape(-1), params)
    assert shifted is not None and shifted.shape == by_autograd.shape
    torch.testing.assert_close(shifted, by_autograd, atol=1e-12, rtol=0)


def test_the_shift_rule_is_not_taken_where_it_does_not_apply():
    for router, model in (
        ({**QUANTUM_2Q, "readout": "expval"}, {}),  # the adapter's classical parameters
        (QUANTUM_2Q, {"top_k": 1}),  # top-k gates are not the router's outputs
        ({"type": "linear"}, {}),
    ):
        built = make_model(router, **model).double()
        assert metrics.shift_rule_gate_jacobian(built, inputs(5)) is None


@pytest.mark.parametrize("rows_done", [0, metrics.ROWS_BEFORE_BATCHING], ids=["rows", "batched"])
def test_jacobian_of_a_linear_router_matches_the_closed_form(rows_done, monkeypatch):
    # both ways of taking the rows: one backward pass each (a process's first rows) and one
    # batched pass (after ROWS_BEFORE_BATCHING rows)
    monkeypatch.setattr(metrics, "_rows_one_by_one", rows_done)
    # g = softmax(z), z = W x + b: dg_e / dW_jk = g_e (delta_ej - g_j) x_k, dg_e / db_j likewise
    model = copy.deepcopy(make_model({"type": "linear"}, 3, 4)).double()
    x = inputs(7, 3)
    g = model.router(x).detach()
    dz = torch.diag_embed(g) - g.unsqueeze(2) * g.unsqueeze(1)  # (N, e, j)
    d_weight = dz.unsqueeze(-1) * x[:, None, None, :]  # (N, e, j, k)
    expected = torch.cat([d_weight.flatten(2), dz], dim=2).flatten(0, 1)
    torch.testing.assert_close(gate_jacobian(model, x), expected)
    assert (metrics._rows_one_by_one > rows_done) == (rows_done == 0)


def test_top_k_gates_are_what_is_differentiated():
    # with top-1 routing every gate is 0 or 1 almost everywhere: no direction moves them
    model = make_model({"type": "linear"}, top_k=1)
    assert effective_params(model, inputs())["rank"] == 0


def _rng_states():
    return torch.get_rng_state(), np.random.get_state()[1].copy(), random.getstate()


@pytest.mark.parametrize(
    "router",
    [
        {**QUANTUM_2Q, "layers": 12},
        {"type": "mlp", "hidden": [12, 12]},
        {**QUANTUM_2Q, "layers": 2, "noise": {"depolarizing": 0.02}},
    ],
)
def test_the_model_and_the_random_generators_are_left_alone(router):
    model = make_model(router)
    model.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    noise = copy.deepcopy(model.router.noise) if hasattr(model.router, "noise") else None
    torch.manual_seed(123)
    np.random.seed(5)
    random.seed(9)
    rng = _rng_states()
    effective_params(model, inputs().float())
    after = _rng_states()
    assert torch.equal(rng[0], after[0]) and np.array_equal(rng[1], after[1])
    assert rng[2] == after[2]
    state = model.state_dict()
    assert state.keys() == before.keys()
    for k, v in before.items():
        assert state[k].dtype == v.dtype == torch.float32 and torch.equal(state[k], v), k
    assert model.training  # its mode too
    if noise is not None:
        assert model.router.noise == noise


def test_noise_is_kept_in_the_copy():
    # depolarizing channels after every gate leave the real orthogonal group: the noisy
    # circuit's gates move in more directions than the noiseless one's 6 (measured: 12)
    noiseless = rank({**QUANTUM_2Q, "layers": 12})
    noisy = rank({**QUANTUM_2Q, "layers": 12, "noise": {"depolarizing": 0.02}})
    assert noiseless == 6 and noisy > noiseless


def test_input_count_rule():
    # n = min(n_train, max(64, ceil(2 P / E)), 256)
    assert effective_inputs(700, 24, 4) == 64
    assert effective_inputs(700, 244, 4) == 122
    assert effective_inputs(700, 245, 4) == 123
    assert effective_inputs(50, 24, 4) == 50
    assert effective_inputs(10_000, 2_000, 2) == 256
    model = make_model({"type": "mlp", "hidden": [12, 12]})
    n = effective_inputs(700, param_counts(model)["router"], 4)
    assert n * (4 - 1) >= param_counts(model)["router"]  # enough rows for every parameter


def test_shots_are_left_out_of_the_copy_only():
    # sampled frequencies have no gradient: the rank is that of the probabilities they estimate
    router = {**QUANTUM_2Q, "layers": 12, "noise": {"depolarizing": 0.02, "shots": 100}}
    model = make_model(router)
    torch.manual_seed(4)
    rng = torch.get_rng_state()
    result = effective_params(model, inputs())
    assert torch.equal(torch.get_rng_state(), rng)
    assert model.router.noise.shots == 100
    assert result["rank"] == rank({**QUANTUM_2Q, "layers": 12, "noise": {"depolarizing": 0.02}})
