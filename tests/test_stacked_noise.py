"""The stacked engine with noisy circuits (density matrices, quantum/torch_density.py)
against the sequential reference, training.fit: per seed, the same trained parameters,
history and early stopping (float64, 1e-6); and the density-matrix simulator's stacked
form (leading model axes) against one model at a time."""

import itertools

import pytest
import torch

from qmoe_cli.config import NoiseSweepConfig, validate_config
from qmoe_cli.experiments.noise_sweep import training_config
from qmoe_cli.models.stacked_forms import NOISY_STACKED_MAX_QUBITS, stacked_circuit_outputs
from qmoe_cli.quantum.noise import NoiseSpec
from qmoe_cli.quantum.spec import CircuitSpec
from qmoe_cli.quantum.torch_density import TorchDensityMatrix
from qmoe_cli.training.plan import Training, stacks
from qmoe_cli.training.stacked import supports
from qmoe_cli.training.stacked_modules import StackedMoE

from .test_stacked import EARLY_STOP, NO_STOP, build, compare, experts_config, make_config

PAPER = {"depolarizing": 0.03, "depolarizing_2q": 0.05, "readout_error": 0.02}
NOISY_ROUTERS = {
    # the paper's circuit (ry_cz, probs) with a channel after every gate, readout error
    "paper": {"type": "quantum", "qubits": 2, "layers": 3, "noise": PAPER},
    "paper-1q-only": {
        "type": "quantum",
        "qubits": 2,
        "layers": 2,
        "noise": {"depolarizing": 0.05, "depolarizing_2q": 0.0},
    },
    "readout-only": {"type": "quantum", "qubits": 2, "layers": 3, "noise": {"readout_error": 0.05}},
    # the notebooks' circuit (strongly entangling, expval + adapter: complex superoperators)
    "notebook": {
        "type": "quantum",
        "qubits": 2,
        "layers": 2,
        "ansatz": "strongly_entangling",
        "readout": "expval",
        "noise": {"placement": "notebook", "depolarizing": 0.04, "readout_error": 0.01},
    },
    "three-qubits": {
        "type": "quantum",
        "qubits": 3,
        "layers": 2,
        "embedding": "rx",
        "noise": {"depolarizing": 0.02, "readout_error": 0.01},
    },
}


@pytest.mark.parametrize("router", list(NOISY_ROUTERS))
@pytest.mark.parametrize("train", [NO_STOP, EARLY_STOP], ids=["fixed-epochs", "early-stopping"])
def test_noisy_router_stacked_equals_sequential_per_seed(router, train):
    cfg = make_config(NOISY_ROUTERS[router], train)
    assert supports(cfg) is None
    model = build(cfg)[0][0]
    assert isinstance(model.router.backend, TorchDensityMatrix)
    assert StackedMoE(model, cfg.model)  # the stacked form takes the density-matrix circuit
    reference, _ = compare(cfg)
    if train["early_stopping"]:
        assert any(r.stopped_early for r in reference)  # the test covers stopping


NOISY_EXPERTS = {
    # the router's noise applies to the experts' circuits too (expval: adapters)
    "router-noise": (
        {**NOISY_ROUTERS["paper"], "layers": 2},
        {"type": "quantum", "count": 2, "qubits": 2, "layers": 2},
    ),
    # experts with noise of their own under a classical router (probs readout)
    "own-noise-probs": (
        {"type": "linear"},
        {
            "type": "quantum",
            "count": 2,
            "qubits": 2,
            "layers": 2,
            "readout": "probs",
            "noise": {"placement": "notebook", "depolarizing": 0.05, "readout_error": 0.02},
        },
    ),
    "monolithic-noisy-qnn": (
        {"type": "none"},
        {"type": "quantum", "count": 1, "qubits": 2, "noise": PAPER},
    ),
}


@pytest.mark.parametrize("kind", list(NOISY_EXPERTS))
def test_noisy_quantum_experts(kind):
    cfg = experts_config(*NOISY_EXPERTS[kind])
    assert supports(cfg) is None
    assert isinstance(build(cfg)[0][0].experts.backend, TorchDensityMatrix)
    compare(cfg)


def test_supports_noisy_circuits_and_says_why_not():
    quantum = {"type": "quantum", "qubits": 2, "layers": 2}
    for noise in ({"depolarizing": 0.01}, {"readout_error": 0.01}, {"depolarizing_2q": 0.01}):
        assert supports(make_config({**quantum, "noise": noise}, NO_STOP)) is None
    wide = {**quantum, "qubits": NOISY_STACKED_MAX_QUBITS + 1, "noise": {"depolarizing": 0.01}}
    assert supports(make_config(wide, NO_STOP)) is None  # the compiled epoch takes it
    sgd = make_config(wide, {**NO_STOP, "optimizer": "sgd"})  # the torch stacked path: no
    assert "noisy circuit of more than" in supports(sgd)
    # noiseless, the same width stacks
    noiseless = {k: v for k, v in wide.items() if k != "noise"}
    assert supports(make_config(noiseless, NO_STOP)) is None
    for noise in ({"shots": 100}, {"depolarizing": 0.01, "shots": 100}):
        assert "shots" in supports(make_config({**quantum, "noise": noise}, NO_STOP))
    noisy_wide_experts = validate_config(
        {
            "model": {
                "router": {"type": "linear"},
                "experts": {
                    "type": "quantum",
                    "count": 2,
                    "qubits": NOISY_STACKED_MAX_QUBITS + 1,
                    "noise": {"depolarizing": 0.01},
                },
            }
        }
    )
    assert "model.experts.qubits" in supports(noisy_wide_experts)


NOISE_SWEEP = {
    "kind": "noise-sweep",
    "name": "stacked-noise",
    "data": {"name": "two_moons", "n_samples": 80},
    "model": {
        "router": {"type": "quantum", "qubits": 2, "layers": 2, "noise": {"shots": 50}},
        "experts": {"count": 2},
    },
    "train": {"epochs": 2, "early_stopping": False},
    "seeds": [0, 1, 2, 3],
    "levels": [0.0, 0.01, 0.05],
    "baselines": {"A": {"label": "linear", "router": {"type": "linear"}}},
}


@pytest.mark.parametrize("mode", ["train", "evaluate"])
def test_noise_sweep_trainings_are_stacked(mode):
    """training.plan.stacks puts the seeds of each level together in both modes: in train
    mode every level (noisy, shots left for evaluation) is one stack per worker share."""
    cfg = validate_config({**NOISE_SWEEP, "mode": mode}, schema=NoiseSweepConfig)
    keys = cfg.levels if mode == "train" else [None]
    todo = [
        Training(("quantum", key), training_config(cfg, key), seed, None)
        for key in keys
        for seed in cfg.seeds
    ]
    for t in todo:
        assert supports(t.cfg) is None
    groups = stacks(todo, jobs=1)
    assert len(groups) == len(keys)  # one stack per level, all its seeds
    assert sorted(len(g) for g in groups) == [len(cfg.seeds)] * len(keys)
    # evaluation under shots stays unstacked (and is not trained)
    assert "shots" in supports(cfg.at_level(0.01))


CIRCUITS = [  # (ansatz, readout, qubits, embedding)
    ("ry_cz", "probs", 2, "ry"),
    ("ry_cz", "expval", 3, "rx"),
    ("strongly_entangling", "probs", 2, "rz"),
    ("strongly_entangling", "expval", 3, "ry"),
]
NOISES = {
    "paper": NoiseSpec(0.02, 0.03, "paper", 0.0, 0.01),
    "notebook": NoiseSpec(placement="notebook", wire_lam=0.05, readout_error=0.02),
}


@pytest.mark.parametrize(
    "circuit,noise,strategy",
    list(itertools.product(CIRCUITS, NOISES, ["superoperator", "heisenberg", "batch"])),
)
def test_density_matrix_stack_is_each_model_alone(circuit, noise, strategy):
    """TorchDensityMatrix.outputs with a leading model axis: each model's outputs and
    gradients as when it is simulated alone."""
    ansatz, readout, n, embedding = circuit
    spec = CircuitSpec(n, 3, 2, 2 if readout == "probs" else 4, ansatz, embedding, readout)
    sim = TorchDensityMatrix(spec, NOISES[noise], strategy)
    gen = torch.Generator().manual_seed(0)
    S = 3
    weights = torch.rand((S, *spec.weight_shape), generator=gen, dtype=torch.float64) * 6
    weights.requires_grad_()
    x = torch.rand(S, 5, 2, generator=gen, dtype=torch.float64)
    out = sim.outputs(weights, x)
    assert out.shape == (S, 5, spec.n_outputs)
    upstream = torch.randn(out.shape, generator=gen, dtype=torch.float64)
    (out * upstream).sum().backward()
    for s in range(S):
        w = weights[s].detach().clone().requires_grad_()
        one = sim.outputs(w, x[s])
        (one * upstream[s]).sum().backward()
        torch.testing.assert_close(out[s], one, atol=1e-12, rtol=0)
        torch.testing.assert_close(weights.grad[s], w.grad, atol=1e-12, rtol=0)
    # the stacked modules' layout: (S, F, B) in, (S, outputs, B) out
    layout = stacked_circuit_outputs(sim, weights.detach(), x.mT)
    torch.testing.assert_close(layout, out.detach().mT, atol=0, rtol=0)


def test_density_matrix_stack_of_one_is_the_model_and_inputs_are_checked():
    spec = CircuitSpec(2, 2, 2, 2)
    sim = TorchDensityMatrix(spec, NoiseSpec(0.01, readout_error=0.02))
    gen = torch.Generator().manual_seed(1)
    weights = torch.rand((1, *spec.weight_shape), generator=gen, dtype=torch.float64)
    x = torch.rand(1, 5, 2, generator=gen, dtype=torch.float64)
    assert torch.equal(sim.outputs(weights, x), sim.outputs(weights[0], x[0]).unsqueeze(0))
    with pytest.raises(ValueError, match="do not match"):
        sim.outputs(torch.zeros(3, *spec.weight_shape), torch.zeros(2, 5, 2))
