"""The stacked engine (qmoe_cli/training/stacked.py) against the sequential reference, training.fit:
per seed, the same trained parameters, history and early stopping (float64, 1e-6)."""

import copy
import dataclasses

import pytest
import torch

from qmoe_cli.config import validate_config
from qmoe_cli.data import load_dataset
from qmoe_cli.errors import TrainingError
from qmoe_cli.models import build_model
from qmoe_cli.models.experts import LinearExpertsConfig
from qmoe_cli.models.routers import LinearRouterConfig
from qmoe_cli.quantum.jit_kernel import SmallCircuitKernel, run_kernel, run_stacked_kernel
from qmoe_cli.quantum.spec import CircuitSpec
from qmoe_cli.training import epoch_kernel, fit, fused_epoch, seed_everything, stacked
from qmoe_cli.training.stacked import StackedTrainer, fit_stacked, supports
from qmoe_cli.training.stacked_modules import StackedMoE

TOL = 1e-6
SEEDS = [0, 1, 2]
ROUTERS = {
    "linear": {"type": "linear"},
    "mlp": {"type": "mlp", "hidden": [6, 4], "activation": "tanh"},
    "mlp-no-bias": {"type": "mlp", "hidden": [6, 4], "bias": False},
    "fourier": {"type": "fourier", "max_frequency": 2},
    "quantum": {"type": "quantum", "qubits": 2, "layers": 3},
    "quantum-notebook": {
        "type": "quantum",
        "qubits": 2,
        "layers": 2,
        "ansatz": "strongly_entangling",
        "readout": "expval",
    },
    # wider than the batch: training batches go layer by layer (the gates path), the
    # validation set through the unitary, as for one model
    "quantum-wide": {"type": "quantum", "qubits": 7, "layers": 1, "embedding": "ry"},
    # the mechanism ablations (docs/quantum.md): a Markov chain over basis states, a product
    # state, and the classical routers on the circuit's spectrum
    "quantum-dephased": {"type": "quantum", "qubits": 3, "layers": 3, "mechanism": "dephased"},
    "quantum-dephased-notebook": {
        "type": "quantum",
        "qubits": 2,
        "layers": 2,
        "ansatz": "strongly_entangling",
        "readout": "expval",
        "mechanism": "dephased",
    },
    "quantum-no-entangler": {
        "type": "quantum",
        "qubits": 2,
        "layers": 3,
        "ansatz": "strongly_entangling",
        "mechanism": "no_entangler",
    },
    "spectrum-truncated": {"type": "spectrum_matched", "qubits": 4, "max_params": 8},
    "spectrum-low-rank": {"type": "spectrum_matched", "qubits": 3, "map": "low_rank"},
}
NO_STOP = {"epochs": 6, "batch_size": 16, "dtype": "float64", "early_stopping": False}
EARLY_STOP = {
    "epochs": 12,
    "batch_size": 16,
    "dtype": "float64",
    "lr": 0.05,
    "weight_decay": 0.01,
    "early_stopping": True,
    "patience": 1,
}


def make_config(router: dict, train: dict, seeds=SEEDS, experts: int = 2, **model):
    return validate_config(
        {
            "data": {"name": "two_moons", "n_samples": 120, "noise": 0.2},
            "model": {"router": router, "experts": {"count": experts}, **model},
            "train": train,
            "seeds": seeds,
        }
    )


def build(cfg):
    """Models and splits exactly as training.seeds.run_seed makes them."""
    models, splits = [], []
    for seed in cfg.seeds:
        split = load_dataset(cfg.data, seed)
        seed_everything(seed)
        models.append(build_model(cfg.model, split.n_features, split.n_classes))
        splits.append(split)
    return models, splits


def assert_same(reference, results, ref_models, models):
    for a, b, ma, mb in zip(reference, results, ref_models, models, strict=True):
        assert (a.best_epoch, a.epochs_run, a.stopped_early) == (
            b.best_epoch,
            b.epochs_run,
            b.stopped_early,
        )
        assert len(a.history) == len(b.history)
        for row_a, row_b in zip(a.history, b.history, strict=True):
            assert row_a.keys() == row_b.keys()
            for key in row_a:
                if key != "seconds":
                    assert row_b[key] == pytest.approx(row_a[key], abs=TOL, rel=0), key
        for (name, pa), (_, pb) in zip(
            ma.state_dict().items(), mb.state_dict().items(), strict=True
        ):
            assert pa.dtype == pb.dtype, name
            torch.testing.assert_close(pb, pa, atol=TOL, rtol=0, msg=name)


def compare(cfg):
    """Train every seed sequentially and stacked; assert they agree; return both."""
    models, splits = build(cfg)
    ref_models = [copy.deepcopy(m) for m in models]
    reference = [
        fit(m, s, cfg.train, seed) for m, s, seed in zip(ref_models, splits, cfg.seeds, strict=True)
    ]
    calls = []
    results = fit_stacked(
        models,
        cfg.model,
        splits,
        cfg.train,
        list(cfg.seeds),
        on_epoch=lambda i, row: calls.append((i, row)),
    )
    assert_same(reference, results, ref_models, models)
    for i, result in enumerate(results):  # on_epoch: every row of every model, in order
        assert [row for j, row in calls if j == i] == result.history
    return reference, results


def torch_path(monkeypatch):
    """Stacks take the torch stacked path, as the kinds the compiled epoch does not cover."""
    monkeypatch.setattr(fused_epoch, "refusal", lambda model, train: "the test's choice")


@pytest.mark.parametrize("router", list(ROUTERS))
@pytest.mark.parametrize("train", [NO_STOP, EARLY_STOP], ids=["fixed-epochs", "early-stopping"])
@pytest.mark.parametrize("path", ["default", "torch"])
def test_stacked_equals_sequential_per_seed(router, train, path, monkeypatch):
    cfg = make_config(ROUTERS[router], train)
    assert supports(cfg) is None
    compiled = fused_epoch.refusal(cfg.model, cfg.train) is None
    assert compiled == (router in COMPILED)
    if path == "torch":
        if not compiled:
            pytest.skip("the default path is the torch path")
        torch_path(monkeypatch)
    reference, _ = compare(cfg)
    if train["early_stopping"]:
        assert any(r.stopped_early for r in reference)  # the test covers stopping


# The compiled epoch (training/fused_epoch.py): the kinds it covers, held to fit like the
# torch path (above, and here the paper's own circuits and 4 experts); the others say why not.
COMPILED = {"linear", "mlp", "mlp-no-bias", "fourier", "quantum"}
PAPER_B = {"type": "quantum", "qubits": 2, "layers": 12, "ansatz": "ry_cz", "embedding": "ry"}
PAPER_B4 = {**PAPER_B, "qubits": 4, "layers": 6}
PAPER_C = {"type": "mlp", "hidden": [12, 12]}
PAPER_C240 = {"type": "mlp", "hidden": [40], "bias": False}
PAPER_C16 = {"type": "mlp", "hidden": [16]}
PAPER_D = {"type": "fourier", "max_frequency": 1}


@pytest.mark.parametrize(
    "router, experts, train",
    [
        (PAPER_B, 4, NO_STOP),
        (PAPER_B4, 4, EARLY_STOP),
        ({**ROUTERS["quantum"], "embedding": "rz", "qubits": 3}, 3, EARLY_STOP),
        (ROUTERS["linear"], 4, {**NO_STOP, "weight_decay": 0.05}),
        (PAPER_C, 4, NO_STOP),
        (PAPER_C, 4, EARLY_STOP),
        (PAPER_C240, 4, EARLY_STOP),
        (PAPER_C240, 4, {**NO_STOP, "weight_decay": 0.05}),
        (PAPER_C16, 4, EARLY_STOP),
        ({"type": "mlp", "hidden": [5, 3, 4], "activation": "gelu"}, 3, EARLY_STOP),
        ({**PAPER_C16, "activation": "tanh", "bias": False}, 2, NO_STOP),
        (PAPER_D, 4, EARLY_STOP),
        ({**PAPER_D, "max_order": 1, "random_features": 3}, 3, NO_STOP),
        # channels on density matrices: the noisy torch path's superoperators
        ({**PAPER_B, "noise": {"depolarizing": 0.02}}, 4, NO_STOP),
        ({**PAPER_B4, "layers": 2, "noise": {"depolarizing": 0.01, "depolarizing_2q": 0.05,
          "readout_error": 0.03}}, 4, EARLY_STOP),
        ({**ROUTERS["quantum"], "qubits": 3, "embedding": "rx",
          "noise": {"depolarizing": 0.02, "placement": "notebook"}}, 3, NO_STOP),
        ({**ROUTERS["quantum-dephased"], "noise": {"readout_error": 0.02}}, 4, NO_STOP),
        ({**PAPER_B, "mechanism": "dephased", "noise": {"depolarizing": 0.01}}, 4, EARLY_STOP),
        ({**PAPER_B, "mechanism": "no_entangler", "noise": {"depolarizing": 0.01}}, 4,
         EARLY_STOP),
    ],
    ids=[
        "paper-B", "paper-B4", "rz-3-qubits", "linear-weight-decay", "paper-C",
        "paper-C-early-stopping", "paper-C240-early-stopping", "paper-C240-weight-decay",
        "paper-C16-early-stopping", "mlp-gelu-3-layers", "mlp-tanh-no-bias", "paper-D",
        "fourier-random-features", "paper-B-depolarizing", "B4-all-noise-early-stopping",
        "rx-notebook-noise", "dephased-3-qubits-readout-error", "paper-B-dephased-noisy",
        "paper-B-no-entangler-noisy",
    ],
)  # fmt: skip
def test_compiled_epoch_equals_sequential_and_the_torch_path(router, experts, train, monkeypatch):
    cfg = make_config(router, train, experts=experts)
    assert fused_epoch.refusal(cfg.model, cfg.train) is None
    models, splits = build(cfg)  # the kernel's own path: a circuit, or a channel
    trainer = StackedTrainer(models, cfg.model, splits, cfg.train, list(cfg.seeds))
    channel = "noise" in router
    if router["type"] == "quantum":
        kind = epoch_kernel.ROUTER_CHANNEL if channel else epoch_kernel.ROUTER_QUANTUM
        assert trainer.fused.router == kind
    _, compiled = compare(cfg)
    torch_path(monkeypatch)
    models, splits = build(cfg)
    through_torch = fit_stacked(models, cfg.model, splits, cfg.train, list(cfg.seeds))
    for a, b in zip(compiled, through_torch, strict=True):
        for row_a, row_b in zip(a.history, b.history, strict=True):
            for key in row_a.keys() - {"seconds"}:
                assert row_b[key] == pytest.approx(row_a[key], abs=TOL, rel=0), key


def test_compiled_epoch_takes_the_stack_when_it_covers_it():
    cfg = make_config(PAPER_B, NO_STOP)
    models, splits = build(cfg)
    trainer = StackedTrainer(models, cfg.model, splits, cfg.train, list(cfg.seeds))
    assert trainer.fused is not None and trainer.fused_refusal is None
    cfg = make_config(ROUTERS["spectrum-truncated"], NO_STOP)
    models, splits = build(cfg)
    trainer = StackedTrainer(models, cfg.model, splits, cfg.train, list(cfg.seeds))
    assert trainer.fused is None and "type is spectrum_matched" in trainer.fused_refusal


@pytest.mark.parametrize(
    "router, model, train, reason",
    [
        (ROUTERS["spectrum-truncated"], {}, {}, "model.router.type is spectrum_matched"),
        (ROUTERS["quantum-dephased"], {}, {}, "model.router.mechanism is dephased without noise"),
        ({**PAPER_B, "mechanism": "no_entangler"}, {}, {}, "mechanism is no_entangler without"),
        (ROUTERS["mlp"], {"top_k": 1}, {}, "model.top_k"),
        (ROUTERS["quantum-notebook"], {}, {}, "ansatz strongly_entangling, readout expval"),
        ({**PAPER_B, "readout": "expval"}, {}, {}, "readout expval"),
        ({**PAPER_B, "noise": {"shots": 100}}, {}, {}, "model.router.noise.shots"),
        ({**PAPER_B, "backend": "pennylane"}, {}, {}, "model.router.backend is pennylane"),
        ({**PAPER_B, "qubits": 5}, {}, {}, "model.router.qubits: more than 4"),
        (ROUTERS["linear"], {}, {"optimizer": "sgd"}, "train.optimizer is sgd"),
        (ROUTERS["linear"], {"top_k": 1}, {}, "model.top_k"),
        (ROUTERS["linear"], {"balance_weight": 0.1}, {}, "model.balance_weight"),
        (PAPER_B, {}, {"layerwise": [{"layers": 1, "epochs": 1}]}, "train.layerwise"),
    ],
)
def test_compiled_epoch_says_why_not(router, model, train, reason):
    cfg = make_config(router, {**NO_STOP, **train}, **model)
    assert reason in fused_epoch.refusal(cfg.model, cfg.train)


def test_compiled_epoch_says_why_not_for_other_experts():
    cfg = experts_config(*EXPERTS["mlp-experts"])
    assert "model.experts.type is mlp" in fused_epoch.refusal(cfg.model, cfg.train)


EXPERTS = {
    "mlp-experts": ({"type": "linear"}, {"type": "mlp", "count": 3, "hidden": [5]}),
    "quantum-experts": (
        ROUTERS["quantum"],
        {"type": "quantum", "count": 3, "qubits": 2, "layers": 2},
    ),
    "quantum-experts-probs": (
        {"type": "linear"},
        {"type": "quantum", "count": 2, "qubits": 2, "layers": 2, "readout": "probs"},
    ),
    "monolithic-qnn": ({"type": "none"}, {"type": "quantum", "count": 1, "qubits": 2}),
    "monolithic-mlp": ({"type": "none"}, {"type": "mlp", "count": 1, "hidden": [6]}),
}


def experts_config(router: dict, experts: dict):
    """A small early-stopped config with these router and experts."""
    return validate_config(
        {
            "data": {"name": "two_moons", "n_samples": 120, "noise": 0.2},
            "model": {"router": router, "experts": experts},
            "train": {**EARLY_STOP, "epochs": 6},
            "seeds": SEEDS,
        }
    )


@pytest.mark.parametrize("kind", list(EXPERTS))
def test_every_expert_kind(kind):
    cfg = experts_config(*EXPERTS[kind])
    assert supports(cfg) is None
    compare(cfg)


def test_balance_loss_top_k_and_four_experts():
    cfg = make_config(ROUTERS["mlp"], NO_STOP, experts=4, top_k=2, balance_weight=0.1)
    compare(cfg)
    compare(make_config(ROUTERS["quantum"], NO_STOP, experts=4, balance_weight=0.1))


def test_sgd_with_momentum():
    compare(make_config(ROUTERS["linear"], {**NO_STOP, "optimizer": "sgd", "momentum": 0.9}))


@pytest.mark.parametrize("path", ["default", "torch"])
def test_sweep_points_with_their_own_lr_and_weight_decay(path, monkeypatch):
    if path == "torch":
        torch_path(monkeypatch)
    cfg = make_config(ROUTERS["quantum"], EARLY_STOP, seeds=[0, 1, 2, 3])
    hyper = [(0.05, 0.01), (0.01, 0.0), (0.05, 0.01), (0.02, 0.1)]  # 3 runs after sorting
    cfgs = [cfg.train.model_copy(update={"lr": lr, "weight_decay": wd}) for lr, wd in hyper]
    models, splits = build(cfg)
    ref_models = [copy.deepcopy(m) for m in models]
    reference = [
        fit(m, s, c, seed)
        for m, s, c, seed in zip(ref_models, splits, cfgs, cfg.seeds, strict=True)
    ]
    results = fit_stacked(models, cfg.model, splits, cfgs, list(cfg.seeds))
    assert_same(reference, results, ref_models, models)
    with pytest.raises(ValueError, match="differ in batch_size"):
        fit_stacked(
            models,
            cfg.model,
            splits,
            [cfgs[0], cfgs[1].model_copy(update={"batch_size": 8})] * 2,
            list(cfg.seeds),
        )


def test_float32_stays_close():
    # float32 sums round differently in batched kernels: close, not 1e-6 (float64 is)
    cfg = make_config(ROUTERS["quantum"], {**NO_STOP, "dtype": "float32"})
    models, splits = build(cfg)
    ref_models = [copy.deepcopy(m) for m in models]
    for m, s, seed in zip(ref_models, splits, cfg.seeds, strict=True):
        fit(m, s, cfg.train, seed)
    fit_stacked(models, cfg.model, splits, cfg.train, list(cfg.seeds))
    for ma, mb in zip(ref_models, models, strict=True):
        for pa, pb in zip(ma.parameters(), mb.parameters(), strict=True):
            assert pb.dtype == torch.float32
            torch.testing.assert_close(pb, pa, atol=1e-4, rtol=0)


def test_chunks_and_unequal_splits_keep_each_model_its_own(monkeypatch):
    monkeypatch.setattr(stacked, "MAX_CHUNK", 2)  # stacks of at most 2 models
    cfg = make_config(ROUTERS["linear"], EARLY_STOP, seeds=[0, 1, 2, 3])
    models, splits = build(cfg)
    # a split with fewer training rows goes to a stack of its own
    short = splits[1]
    splits[1] = dataclasses.replace(short, X_train=short.X_train[:-5], y_train=short.y_train[:-5])
    ref_models = [copy.deepcopy(m) for m in models]
    reference = [
        fit(m, s, cfg.train, seed) for m, s, seed in zip(ref_models, splits, cfg.seeds, strict=True)
    ]
    results = fit_stacked(models, cfg.model, splits, cfg.train, list(cfg.seeds))
    assert_same(reference, results, ref_models, models)


# the torch path, the compiled epoch
@pytest.mark.parametrize("router", ["spectrum-truncated", "mlp"])
def test_a_stopped_model_is_frozen(router):
    cfg = make_config(ROUTERS[router], EARLY_STOP)
    models, splits = build(cfg)
    trainer = StackedTrainer(models, cfg.model, splits, cfg.train, list(cfg.seeds))
    at_stop: dict[int, dict] = {}
    while trainer.active and trainer.epoch_count < cfg.train.epochs:
        trainer.epoch()
        for j in range(len(models)):
            if trainer.rows[j] is None and j not in at_stop:
                at_stop[j] = {k: v.clone() for k, v in trainer.state(j).items()}
    assert at_stop, "no model stopped early"
    steps_per_epoch = -(-len(splits[0].y_train) // cfg.train.batch_size)
    for j, state in at_stop.items():
        now = trainer.state(j)
        for key, value in state.items():
            assert torch.equal(now[key], value), key  # parameters and Adam state unmoved
        epochs = len(trainer.results[j].history)
        assert state["step"].item() == epochs * steps_per_epoch  # no step after its stop
    results = trainer.finish()
    assert all(r.epochs_run == len(r.history) for r in results)


@pytest.mark.parametrize("path", ["default", "torch"])
def test_divergence_raises_as_fit_does(path, monkeypatch):
    if path == "torch":
        torch_path(monkeypatch)
    cfg = make_config(ROUTERS["linear"], NO_STOP)
    models, splits = build(cfg)
    with torch.no_grad():
        models[1].experts.linear.weight.fill_(float("nan"))
    ref = copy.deepcopy(models[1])
    with pytest.raises(TrainingError) as sequential:
        fit(ref, splits[1], cfg.train, cfg.seeds[1])
    with pytest.raises(TrainingError) as together:
        fit_stacked(models, cfg.model, splits, cfg.train, list(cfg.seeds))
    assert str(together.value) == str(sequential.value)


def test_supports_says_why_not():
    quantum = ROUTERS["quantum"]
    assert supports(make_config(quantum, NO_STOP)) is None
    assert "sequential" in supports(make_config(quantum, {**NO_STOP, "engine": "sequential"}))
    pennylane = make_config({**quantum, "backend": "pennylane"}, NO_STOP)
    assert "backend" in supports(pennylane)
    noisy = make_config({**quantum, "noise": {"depolarizing": 0.01}}, NO_STOP)
    assert supports(noisy) is None  # density matrices stack (tests/test_stacked_noise.py)
    wide_noisy = make_config({**quantum, "qubits": 4, "noise": {"depolarizing": 0.01}}, NO_STOP)
    assert supports(wide_noisy) is None  # the compiled epoch stacks it
    wide_noisy_sgd = make_config(
        {**quantum, "qubits": 4, "noise": {"depolarizing": 0.01}}, {**NO_STOP, "optimizer": "sgd"}
    )
    assert "noisy" in supports(wide_noisy_sgd)  # the torch stacked path would not be faster
    shots = make_config({**quantum, "noise": {"shots": 100}}, NO_STOP)
    assert "shots" in supports(shots)
    big = make_config({**quantum, "qubits": 9}, NO_STOP)
    assert "qubits" in supports(big)
    stages = {**NO_STOP, "layerwise": [{"layers": 1, "epochs": 1}]}
    assert "train.layerwise is set" in supports(make_config(quantum, stages))
    noisy_experts = validate_config(
        {
            "model": {
                "router": {"type": "linear"},
                "experts": {
                    "type": "quantum",
                    "count": 2,
                    "qubits": 4,
                    "noise": {"depolarizing": 0.01},
                },
            }
        }
    )
    assert "noisy" in supports(noisy_experts)
    assert make_config(ROUTERS["linear"], {}).train.engine == "stacked"  # the default


def test_a_kind_without_a_stacked_form_says_why_and_one_declaring_nothing_is_an_error(
    monkeypatch,
):
    cfg = make_config(ROUTERS["linear"], NO_STOP)
    monkeypatch.delattr(LinearExpertsConfig, "stacked_form")
    monkeypatch.setattr(LinearExpertsConfig, "no_stacked_form", "not written yet", raising=False)
    assert supports(cfg) == (
        "model.experts.type: experts type 'linear' has no stacked form: not written yet"
    )
    models, splits = build(cfg)
    with pytest.raises(ValueError, match="model.experts: LinearExperts has no stacked form"):
        StackedMoE(models[0], cfg.model)
    monkeypatch.delattr(LinearExpertsConfig, "no_stacked_form")
    with pytest.raises(TypeError, match="LinearExpertsConfig declares neither stacked_form"):
        supports(cfg)
    monkeypatch.setattr(LinearRouterConfig, "no_stacked_form", "both", raising=False)
    with pytest.raises(TypeError, match="LinearRouterConfig declares both"):
        supports(cfg)


# What the stacked engine took before the kinds declared their stacked forms (issue 24): the
# same configs, the same reasons, word for word.
Q = {"type": "quantum", "qubits": 2, "layers": 1}
SUPPORTED_BEFORE = [
    ({"type": "fourier"}, {"type": "mlp", "hidden": [3]}, {}, None),
    ({"type": "mlp", "hidden": [3]}, {**Q, "qubits": 8}, {}, None),
    ({"type": "none"}, {"type": "mlp", "count": 1}, {}, None),
    ({**Q, "qubits": 8}, {"type": "linear"}, {}, None),
    ({**Q, "qubits": 3, "noise": {"depolarizing": 0.01}}, Q, {}, None),
    ({**Q, "noise": {"readout_error": 0.01}}, {**Q, "readout": "probs"}, {}, None),
    ({**Q, "qubits": 4, "noise": {"placement": "notebook"}}, Q, {}, None),
    ({"type": "none"}, {**Q, "count": 1, "noise": {"depolarizing": 0.01}}, {}, None),
    (
        {"type": "linear"},
        {"type": "linear"},
        {"dtype": "float32"},
        "train.dtype is float32: stacked and sequential agree only to its rounding",
    ),
    (
        {"type": "linear"},
        {"type": "linear"},
        {"engine": "sequential"},
        "train.engine is sequential",
    ),
    (
        {**Q, "backend": "lightning"},
        {**Q, "backend": "pennylane"},
        {},
        "model.router.backend is lightning (stacked: torch only)",
    ),
    (
        {"type": "fourier"},
        {**Q, "backend": "pennylane"},
        {},
        "model.experts.backend is pennylane (stacked: torch only)",
    ),
    (
        {**Q, "qubits": 4, "noise": {"depolarizing_2q": 0.01}},
        Q,
        {},
        "model.router.qubits: a noisy circuit of more than 3 qubits on the torch stacked path "
        "(its density-matrix arithmetic dominates: one model at a time is as fast or faster)",
    ),
    (
        {**Q, "noise": {"depolarizing": 0.01}},
        {**Q, "qubits": 4},
        {},
        "model.experts.qubits: a noisy circuit of more than 3 qubits on the torch stacked path "
        "(its density-matrix arithmetic dominates: one model at a time is as fast or faster)",
    ),
    (
        {**Q, "qubits": 9},
        {**Q, "qubits": 9},
        {},
        "model.router.qubits: more than 8 qubits (there one model at a time is as fast or faster)",
    ),
    (
        {"type": "mlp"},
        {**Q, "qubits": 9},
        {},
        "model.experts.qubits: more than 8 qubits (there one model at a time is as fast or faster)",
    ),
    ({**Q, "noise": {"shots": 100}}, Q, {}, "shots or a fake device (evaluation only)"),
    (
        {"type": "linear"},
        {**Q, "noise": {"shots": 10}},
        {},
        "shots or a fake device (evaluation only)",
    ),
]


@pytest.mark.parametrize("router, experts, train, expected", SUPPORTED_BEFORE)
def test_supports_takes_the_configs_it_took_before(router, experts, train, expected):
    cfg = validate_config({"model": {"router": router, "experts": experts}, "train": train})
    assert supports(cfg) == expected


@pytest.mark.parametrize(
    "case",
    [
        ("ry_cz", "probs", 4, 2, "rx"),
        ("ry_cz", "expval", 2, 3, "rz"),
        ("ry_cz", "probs", 2, 4, "ry"),
        ("strongly_entangling", "expval", 2, 3, "ry"),
        ("strongly_entangling", "probs", 3, 3, "rz"),
    ],
)
def test_stacked_kernel_matches_the_one_model_kernel(case):
    ansatz, readout, n_experts, n_qubits, embedding = case
    spec = CircuitSpec(n_qubits, 3, 2, n_experts, ansatz, embedding, readout)
    kernel = SmallCircuitKernel(spec)
    gen = torch.Generator().manual_seed(0)
    weights = torch.rand((3, *spec.weight_shape), generator=gen, dtype=torch.float64) * 6
    weights.requires_grad_()
    x = torch.rand(3, 5, 2, generator=gen, dtype=torch.float64)
    adapter = readout == "expval"
    aw = torch.randn(3, n_experts, n_qubits, generator=gen, dtype=torch.float64)
    ab = torch.randn(3, n_experts, generator=gen, dtype=torch.float64)
    aw.requires_grad_(), ab.requires_grad_()
    args = (aw, ab) if adapter else ()
    out = run_stacked_kernel(kernel, weights, x.mT, True, *args)  # (S, F, B) -> (S, E, B)
    upstream = torch.randn(out.shape, generator=gen, dtype=torch.float64)
    (out * upstream).sum().backward()
    for s in range(3):
        w = weights[s].detach().clone().requires_grad_()
        one_args = tuple(a[s].detach().clone().requires_grad_() for a in args)
        one = run_kernel(kernel, w, x[s], True, *one_args)  # (B, F) -> (B, E)
        (one * upstream[s].T).sum().backward()
        torch.testing.assert_close(out[s].T, one, atol=1e-12, rtol=0)
        torch.testing.assert_close(weights.grad[s], w.grad, atol=1e-12, rtol=0)
        for a, b in zip(args, one_args, strict=True):
            torch.testing.assert_close(a.grad[s], b.grad, atol=1e-12, rtol=0)


def test_workers_take_the_costliest_stacks_first():
    """training.plan.stacks orders its units by a rough cost (epochs x circuit size x
    models), so that a big stack never starts last on an otherwise idle pool."""
    from qmoe_cli.training.plan import Training, stacks

    cheap = make_config(ROUTERS["linear"], NO_STOP, seeds=[0, 1, 2, 3])
    small = make_config(ROUTERS["quantum"], NO_STOP, seeds=[0, 1])
    wide = make_config(ROUTERS["quantum-wide"], NO_STOP, seeds=[0, 1])
    noisy = make_config({**ROUTERS["quantum"], "noise": {"depolarizing": 0.01}}, NO_STOP)
    todo = [
        Training(key, cfg, seed, None)
        for key, cfg in (("A", cheap), ("B", small), ("W", wide), ("N", noisy))
        for seed in cfg.seeds
    ]
    order = [todo[unit[0]].key for unit in stacks(todo, jobs=1)]
    assert order == ["W", "N", "B", "A"]  # 2^7 x 1 x 2 models > 4^2 x 3 x 3 > 2^2 x 3 x 2 > 1
