"""Layer-wise training (train.layerwise; training/layerwise.py): its validation, the
truncated router, exactness against plain training, held weights, the recorded stages."""

from __future__ import annotations

import copy

import pytest
import torch

from qmoe_cli.config import validate_config
from qmoe_cli.data import load_dataset
from qmoe_cli.errors import ConfigError
from qmoe_cli.models import build_model
from qmoe_cli.training import fit, seed_everything, stacked
from qmoe_cli.training.layerwise import LayerwiseControl, schedule
from qmoe_cli.training.seeds import run_seed

from .conftest import TINY


def _cfg(router=None, **train):
    router = router or {"type": "quantum", "qubits": 2, "layers": 4, "embedding": "ry"}
    base = {"epochs": 6, "batch_size": 16, "early_stopping": False}
    return validate_config(
        {
            **TINY,
            "model": {"router": router, "experts": {"count": 4}},
            "train": {**base, **train},
        }
    )


def _start(cfg, seed=3):
    splits = load_dataset(cfg.data, seed)
    seed_everything(seed)
    return build_model(cfg.model, splits.n_features, splits.n_classes), splits


def _strip(history):
    return [{k: v for k, v in row.items() if k not in ("seconds", "stage", "layers")}
            for row in history]  # fmt: skip


@pytest.mark.parametrize(
    ("train", "router", "needle"),
    [
        ({"layerwise": [{"layers": 2, "epochs": 2}, {"layers": 2, "epochs": 2}]}, None,
         "train.layerwise: the stages' layers must increase, not [2, 2]"),
        ({"layerwise": [{"layers": 5, "epochs": 2}]}, None,
         "train.layerwise: a stage of 5 layers exceeds the router's 4 (model.router.layers)"),
        ({"layerwise": [{"layers": 2, "epochs": 2}]}, {"type": "linear"},
         "train.layerwise: layer-wise training applies to a quantum router's layers, and "
         "model.router.type is linear"),
        ({"layerwise": [{"layers": 2, "epochs": 7}]}, None,
         "train.layerwise: the stages take 7 epochs, more than train.epochs: 6"),
        ({"layerwise": [{"layers": 2, "epochs": 6}]}, None,
         "the stages take all 6 epochs and end at 2 of the router's 4 layers"),
        ({"layerwise": []}, None, "train.layerwise: give at least one stage"),
        ({"layerwise": [{"layers": 2, "epochs": 2, "train": "old"}]}, None,
         "train.layerwise[0].train"),
        ({"layerwise": [{"layers": 0, "epochs": 2}]}, None, "train.layerwise[0].layers"),
        ({"layerwise_init": "kept"}, None,
         "train.layerwise_init: applies only with train.layerwise"),
    ],
)  # fmt: skip
def test_bad_schedules_are_refused_in_one_line_naming_the_key(train, router, needle):
    with pytest.raises(ConfigError) as err:
        _cfg(router, **train)
    message = str(err.value)
    assert needle in message and "\n" not in message


def test_the_schedule_ends_on_the_full_circuit():
    cfg = _cfg(layerwise=[{"layers": 1, "epochs": 2, "train": "new"}, {"layers": 3, "epochs": 1}])
    stages = schedule(cfg.train, 4)
    assert [(s.index, s.first, s.last, s.layers, s.trained_from) for s in stages] == [
        (1, 1, 2, 1, 0), (2, 3, 3, 3, 0), (3, 4, 6, 4, 0)
    ]  # fmt: skip
    new = _cfg(layerwise=[{"layers": 1, "epochs": 2}, {"layers": 4, "epochs": 4, "train": "new"}])
    assert [(s.layers, s.trained_from) for s in schedule(new.train, 4)] == [(1, 0), (4, 1)]
    assert stacked.supports(cfg) is not None and "train.layerwise" in stacked.supports(cfg)


@pytest.mark.parametrize(
    "router",
    [
        {"type": "quantum", "qubits": 2, "layers": 5, "embedding": "ry"},  # compiled kernel
        {"type": "quantum", "qubits": 5, "layers": 3, "ansatz": "strongly_entangling",
         "readout": "expval"},  # torch paths, with the adapter
        {"type": "quantum", "qubits": 2, "layers": 4, "mechanism": "dephased"},
        {"type": "quantum", "qubits": 3, "layers": 3, "noise": {"depolarizing": 0.02}},
    ],
)  # fmt: skip
def test_a_truncated_router_is_a_plain_router_of_that_depth_with_the_same_weights(router):
    cfg = _cfg(router)
    model, splits = _start(cfg)
    model.to(torch.float64)
    x = torch.as_tensor(splits.X_train[:40], dtype=torch.float64)
    full = model.router(x)
    for k in range(1, router["layers"]):
        shallow_cfg = _cfg({**router, "layers": k})
        shallow, _ = _start(shallow_cfg)
        shallow.to(torch.float64)
        with torch.no_grad():
            shallow.router.weights.copy_(model.router.weights[:k])
            if model.router.adapter is not None:
                shallow.router.adapter.load_state_dict(model.router.adapter.state_dict())
        model.router.set_active_layers(k)
        torch.testing.assert_close(model.router(x), shallow.router(x), rtol=0, atol=1e-12)
        assert not torch.allclose(model.router(x), full)  # the deeper layers do something
    model.router.set_active_layers(None)
    torch.testing.assert_close(model.router(x), full, rtol=0, atol=0)


@pytest.mark.parametrize("early_stopping", [False, True])
def test_one_full_depth_stage_is_plain_training(early_stopping):
    extra = {"early_stopping": early_stopping, "patience": 2, "epochs": 8}
    plain = _cfg(**extra)
    staged = _cfg(layerwise=[{"layers": 4, "epochs": 5}], **extra)
    a, sa = _start(plain)
    b, sb = _start(staged)
    ra, rb = fit(a, sa, plain.train, 3), fit(b, sb, staged.train, 3)
    assert _strip(ra.history) == _strip(rb.history)
    assert (ra.best_epoch, ra.epochs_run) == (rb.best_epoch, rb.epochs_run)
    for (name, p), q in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        torch.testing.assert_close(p, q, rtol=0, atol=1e-12, msg=name)
    assert [r["stage"] for r in rb.history] == [1] * 5 + [2] * (rb.epochs_run - 5)


def _weights_per_epoch(cfg, seed=3):
    model, splits = _start(cfg, seed)
    seen = []
    fit(model, splits, cfg.train, seed, on_epoch=lambda row: seen.append(
        (row, model.router.weights.detach().clone(), model.experts.linear.weight.detach().clone())
    ) if "train_loss" in row else None)  # fmt: skip
    start, _ = _start(cfg, seed)
    return start.router.weights.detach().to(torch.float64), seen, model


@pytest.mark.parametrize("weight_decay", [0.0, 0.01])
def test_held_weights_do_not_change_during_a_stage(weight_decay):
    stages = [{"layers": 1, "epochs": 2}, {"layers": 3, "epochs": 2, "train": "new"}]
    cfg = _cfg(layerwise=stages, weight_decay=weight_decay, epochs=6)
    w0, seen, model = _weights_per_epoch(cfg)
    rows = [r for r, _, _ in seen]
    assert [(r["stage"], r["layers"]) for r in rows] == [(1, 1)] * 2 + [(2, 3)] * 2 + [(3, 4)] * 2
    w = [w for _, w, _ in seen]
    experts = [e for _, _, e in seen]
    # stage 1: layer 0 trains, layers 1-3 held at their initial values
    assert torch.equal(w[1][1:], w0[1:]) and not torch.equal(w[1][0], w0[0])
    # stage 2 (train: new): layers 1-2 train, layer 0 held at its value after stage 1, 3 held
    assert torch.equal(w[3][0], w[1][0]) and torch.equal(w[3][3], w0[3])
    assert not torch.equal(w[3][1:3], w0[1:3])
    # the full circuit: every layer moves; the experts moved in every stage
    assert all(not torch.equal(w[5][i], w[3][i]) for i in range(4))
    assert all(not torch.equal(a, b) for a, b in zip(experts, experts[1:], strict=False))
    assert model.router.active_layers is None  # evaluated on the full circuit


def test_early_stopping_counts_only_full_circuit_epochs():
    cfg = _cfg(layerwise=[{"layers": 1, "epochs": 4}], early_stopping=True, patience=1,
               epochs=12)  # fmt: skip
    model, splits = _start(cfg)
    result = fit(model, splits, cfg.train, 3)
    assert result.epochs_run >= 5 and result.best_epoch >= 5  # a stage epoch is never "best"


def test_a_layerwise_run_records_the_stage_per_epoch_and_is_reproducible():
    cfg = _cfg(layerwise=[{"layers": 2, "epochs": 3}])
    a, b = run_seed(cfg, 5), run_seed(cfg, 5)
    assert [r["stage"] for r in a.fit.history] == [1, 1, 1, 2, 2, 2]
    assert [r["layers"] for r in a.fit.history] == [2, 2, 2, 4, 4, 4]
    assert _strip(a.fit.history) == _strip(b.fit.history)
    assert a.metrics["test_accuracy"] == b.metrics["test_accuracy"]
    plain = run_seed(_cfg(), 5)
    assert "stage" not in plain.fit.history[0]
    assert copy.deepcopy(cfg.train.layerwise)[0].layers == 2


@pytest.mark.parametrize("init", ["zero", "kept"])
def test_added_layers_start_at_zero_and_leave_the_outputs_as_they_were(init):
    stages = [{"layers": 1, "epochs": 2}, {"layers": 3, "epochs": 2, "train": "new"}]
    cfg = _cfg(layerwise=stages, layerwise_init=init, epochs=5)
    model, splits = _start(cfg)
    model.to(torch.float64)
    w0 = model.router.weights.detach().clone()
    x = torch.as_tensor(splits.X_val, dtype=torch.float64)
    control = LayerwiseControl(model.router, cfg.train)
    outputs = []
    for epoch in (1, 3, 5):  # the first epoch of each stage: 1, 3, then 4 layers
        control.at_epoch(epoch)
        with torch.no_grad():
            outputs.append(model.router(x))
    w = model.router.weights.detach()
    if init == "zero":  # RY(0) is the identity and a CZ chain only signs amplitudes
        assert torch.equal(w[0], w0[0]) and bool((w[1:] == 0).all())
        for later in outputs[1:]:
            torch.testing.assert_close(later, outputs[0], rtol=0, atol=1e-12)
    else:
        assert torch.equal(w, w0)
        assert not torch.allclose(outputs[1], outputs[0])
    control.finish()
    assert model.router.active_layers is None
