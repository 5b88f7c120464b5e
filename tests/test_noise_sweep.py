import json

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from qmoe_cli.config import NoiseSweepConfig, validate_config
from qmoe_cli.errors import ConfigError
from qmoe_cli.experiments.noise_sweep import accuracy_under, training_config
from qmoe_cli.metrics import breakdown, breakdown_interval, crossings
from qmoe_cli.runs import read_csv
from qmoe_cli.runs import train_format as train_module
from qmoe_cli.training import DTYPES
from qmoe_cli.training.seeds import run_seed

from .conftest import only_complete_run, run_group

TINY_SWEEP = {
    "kind": "noise-sweep",
    "name": "tiny-noise",
    "data": {"name": "two_moons", "n_samples": 120},
    "model": {
        "router": {"type": "quantum", "qubits": 2, "layers": 2, "noise": {"readout_error": 0.01}},
        "experts": {"count": 4},
    },
    "train": {"epochs": 3, "batch_size": 32, "patience": 2},
    "seeds": [0, 1],
    "levels": [0.0, 0.02, 0.1],
    "baselines": {"A": {"router": {"type": "linear"}}},
}


@pytest.mark.parametrize("mode", ["evaluate", "train"])
def test_tiny_noise_sweep_writes_every_output(tmp_path, write_config, cli, mode):
    cfg = write_config({**TINY_SWEEP, "mode": mode})
    outputs = ("config.yaml", "env.json", "metrics.json", "noise_table.csv")
    outputs += ("accuracy_vs_noise.png",)
    group, output = run_group(cli, "noise-sweep", cfg, tmp_path, outputs)
    rows = read_csv(group / "noise_table.csv")
    assert [float(r["level"]) for r in rows] == [0.0, 0.02, 0.1]
    assert all(r["mode"] == mode for r in rows)
    for level in ("0", "0.02", "0.1"):
        level_dir = group / "levels" / f"eps={level}"
        per_seed = json.loads((level_dir / "metrics.json").read_text())["per_seed"]
        accs = [p["test_accuracy"] for p in per_seed]
        row = next(r for r in rows if f"{float(r['level']):g}" == level)
        assert float(row["quantum_mean"]) == pytest.approx(sum(accs) / len(accs))
    assert (group / "baselines" / "A" / "seed-1" / "model.pt").is_file()
    assert ((group / "quantum").is_dir()) == (mode == "evaluate")
    metrics = json.loads((group / "metrics.json").read_text())
    assert metrics["mode"] == mode
    b = metrics["breakdown"]
    assert list(b) == [
        "eps",
        "baseline",
        "baseline_accuracy",
        "levels",
        "per_seed",
        "seeds_never",
        "seeds_at_first_level",
        "interval",
    ]
    assert b["baseline"] == "A" and b["levels"] == [0.0, 0.02, 0.1] and len(b["per_seed"]) == 2
    assert b["seeds_never"] == sum(e is None for e in b["per_seed"])
    assert list(b["interval"]) == [
        "low",
        "high",
        "low_censored",
        "high_censored",
        "confidence",
        "resamples",
        "share_never",
        "method",
    ]
    assert 0.0 <= b["interval"]["low"] <= b["interval"]["high"] <= 0.1
    assert (b["interval"]["confidence"], b["interval"]["resamples"]) == (0.95, 2000)
    # every accuracy behind the table, per seed, in seed order; not in the CSV
    per_seed = metrics["per_seed"]
    assert set(per_seed) == {"quantum", "A"} and list(per_seed["quantum"]) == ["0.0", "0.02", "0.1"]
    for row in rows:
        accs = per_seed["quantum"][repr(float(row["level"]))]
        assert len(accs) == 2 and float(row["quantum_mean"]) == pytest.approx(np.mean(accs))
        assert 0.0 <= float(row["quantum_ci_low"]) <= float(row["quantum_ci_high"]) <= 1.0
        assert float(row["A_mean"]) == pytest.approx(np.mean(per_seed["A"]))
    baseline = json.loads((group / "baselines" / "A" / "metrics.json").read_text())
    assert per_seed["A"] == [m["test_accuracy"] for m in baseline["per_seed"]]
    assert not any("per_seed" in key or "[" in str(v) for r in rows for key, v in r.items())
    assert f"({mode} mode" in output
    assert "bootstrap interval" in output and "seeds that never fall" in output


def test_evaluate_mode_trains_without_noise_and_never_with_shots():
    raw = {
        **TINY_SWEEP,
        "model": {
            **TINY_SWEEP["model"],
            "router": {
                **TINY_SWEEP["model"]["router"],
                "noise": {"readout_error": 0.02, "shots": 100},
            },
        },
    }
    cfg = validate_config(raw, schema=NoiseSweepConfig)
    quiet = training_config(cfg, None).model.router.noise
    assert quiet.depolarizing == 0 and quiet.readout_error == 0 and quiet.shots is None
    noisy = training_config(cfg, 0.02).model.router.noise
    assert noisy.depolarizing == 0.02 and noisy.readout_error == 0.02 and noisy.shots is None
    assert cfg.at_level(0.02).model.router.noise.shots == 100  # evaluation keeps the shots


def test_breakdown_interpolates_between_levels():
    levels = [0.0, 0.01, 0.02, 0.03]
    assert breakdown(levels, [0.95, 0.90, 0.80, 0.70], 0.85) == pytest.approx(0.015)
    assert breakdown(levels, [0.95, 0.94, 0.93, 0.92], 0.85) is None
    assert breakdown(levels, [0.80, 0.79, 0.78, 0.77], 0.85) == 0.0
    assert breakdown(levels, [0.95, 0.85, 0.80, 0.70], 0.85) == pytest.approx(0.01)


# --------------------------------------------------------------------------- router state


def _tiny_run():
    cfg = validate_config(TINY_SWEEP, schema=NoiseSweepConfig)
    return cfg, run_seed(training_config(cfg, None), 0)


def test_accuracy_under_leaves_the_router_as_it_found_it():
    cfg, run = _tiny_run()
    router = run.model.router
    before = router.noise, router.backend_name, router.backend
    x, _ = run.splits.tensors("test", DTYPES[cfg.train.dtype])
    with torch.no_grad():
        clean = run.model(x)
        accuracy_under(run, cfg, 0.1, "torch")
        assert (router.noise, router.backend_name, router.backend) == before
        assert router.noise.is_noiseless
        torch.testing.assert_close(run.model(x), clean, atol=0, rtol=0)


def test_evaluate_mode_draws_and_saves_the_noiseless_circuit(
    tmp_path, write_config, cli, monkeypatch
):
    """quantum/decision_boundary.png is drawn after the levels were evaluated; the model
    it draws must be the noiselessly trained one, not the last level's noisy circuit."""
    drawn = []
    original = train_module.write_figures

    def spy(folder, run, title):
        drawn.append((folder.name, getattr(run.model.router, "noise", None)))
        original(folder, run, title)

    monkeypatch.setattr(train_module, "write_figures", spy)
    cfg = write_config({**TINY_SWEEP, "mode": "evaluate", "seeds": [0]})
    run_group(cli, "noise-sweep", cfg, tmp_path / "out")
    quantum = [noise for name, noise in drawn if name == "quantum"]
    assert len(quantum) == 1 and quantum[0].is_noiseless


# --------------------------------------------------------------------------- breakdown


LEVELS = [0.0, 0.01, 0.02, 0.03]


def _curves_crossing_at(points: list[float], baseline: float = 0.8) -> np.ndarray:
    """Straight lines from 0.9 at eps 0 through `baseline` at each of `points`."""
    lv = np.array(LEVELS)
    return np.array([0.9 - (0.9 - baseline) * lv / e for e in points])


def test_crossings_match_breakdown():
    q = _curves_crossing_at([0.015, 0.025])
    np.testing.assert_allclose(crossings(LEVELS, q, [0.8, 0.8]), [0.015, 0.025])
    assert breakdown(LEVELS, list(q[0]), 0.8) == pytest.approx(0.015)
    assert np.isnan(crossings(LEVELS, [[0.9, 0.9, 0.9, 0.9]], [0.8])).all()


def test_breakdown_interval_all_seeds_cross():
    points = [0.012, 0.015, 0.018, 0.02, 0.025]
    q = _curves_crossing_at(points)
    found = breakdown_interval(LEVELS, q, np.full(len(points), 0.8))
    np.testing.assert_allclose(found["per_seed"], points)
    assert found["seeds_never"] == found["seeds_at_first_level"] == 0
    assert min(points) <= found["eps"] <= max(points)
    iv = found["interval"]
    assert min(points) <= iv["low"] < found["eps"] < iv["high"] <= max(points)
    assert not iv["low_censored"] and not iv["high_censored"] and iv["share_never"] == 0
    assert (iv["confidence"], iv["resamples"]) == (0.95, 2000) and "bootstrap" in iv["method"]
    assert breakdown_interval(LEVELS, q, np.full(len(points), 0.8)) == found  # seeded


def test_breakdown_interval_no_seed_crosses():
    q = np.array([[0.95, 0.94, 0.93, 0.92], [0.97, 0.95, 0.9, 0.86]])
    found = breakdown_interval(LEVELS, q, [0.8, 0.85])
    assert found["eps"] is None and found["per_seed"] == [None, None]
    assert found["seeds_never"] == 2 and found["seeds_at_first_level"] == 0
    iv = found["interval"]
    assert iv["low"] == iv["high"] == LEVELS[-1]
    assert iv["low_censored"] and iv["high_censored"] and iv["share_never"] == 1


def test_breakdown_interval_some_seeds_never_cross():
    q = np.vstack([_curves_crossing_at([0.015, 0.02, 0.025]), [[0.9, 0.89, 0.88, 0.87]] * 2])
    found = breakdown_interval(LEVELS, q, np.full(5, 0.8))
    assert found["seeds_never"] == 2 and found["per_seed"][3:] == [None, None]
    iv = found["interval"]
    assert 0 < iv["share_never"] < 1
    assert LEVELS[0] <= iv["low"] <= iv["high"] <= LEVELS[-1]
    assert iv["high_censored"] and iv["high"] == LEVELS[-1]  # some resamples never fall
    assert not iv["low_censored"]


def test_breakdown_interval_seeds_below_at_the_first_level():
    q = np.vstack([[[0.75, 0.74, 0.73, 0.72]] * 3, _curves_crossing_at([0.02, 0.025])])
    found = breakdown_interval(LEVELS, q, np.full(5, 0.8))
    assert found["seeds_at_first_level"] == 3 and found["per_seed"][:3] == [0.0] * 3
    assert found["seeds_never"] == 0
    iv = found["interval"]
    assert iv["low"] == LEVELS[0] and not iv["low_censored"]  # left-censored: the first level
    assert iv["high"] <= 0.025 and iv["share_never"] == 0


def test_breakdown_interval_needs_two_seeds_and_takes_the_best_baseline():
    one = breakdown_interval(LEVELS, _curves_crossing_at([0.02]), [0.8])
    assert one["eps"] == pytest.approx(0.02) and one["interval"] is None
    q = _curves_crossing_at([0.015, 0.025], baseline=0.85)
    # two baselines (baselines x seeds): the better one (0.85) decides
    found = breakdown_interval(LEVELS, q, [[0.7, 0.7], [0.85, 0.85]])
    np.testing.assert_allclose(found["per_seed"], [0.015, 0.025])
    assert found["eps"] == pytest.approx(0.01875)  # the mean curve: 2 / (1/0.015 + 1/0.025)


accuracies = st.floats(0.0, 1.0, allow_nan=False)


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 6).flatmap(
        lambda n_levels: st.tuples(
            st.lists(
                st.floats(0.0, 1.0, allow_nan=False),
                min_size=n_levels,
                max_size=n_levels,
                unique=True,
            ).map(sorted),
            st.integers(1, 8).flatmap(
                lambda n_seeds: st.tuples(
                    st.lists(
                        st.lists(accuracies, min_size=n_levels, max_size=n_levels),
                        min_size=n_seeds,
                        max_size=n_seeds,
                    ),
                    st.lists(accuracies, min_size=n_seeds, max_size=n_seeds),
                )
            ),
        )
    )
)
def test_breakdown_interval_stays_within_the_levels(case):
    levels, (quantum, baseline) = case
    found = breakdown_interval(levels, np.array(quantum), np.array(baseline))
    for eps in [found["eps"], *found["per_seed"]]:
        assert eps is None or levels[0] <= eps <= levels[-1]
    assert found["seeds_never"] == sum(e is None for e in found["per_seed"])
    iv = found["interval"]
    if len(quantum) < 2:
        assert iv is None
        return
    assert levels[0] <= iv["low"] <= iv["high"] <= levels[-1]
    assert 0 <= iv["share_never"] <= 1
    assert not iv["low_censored"] or iv["high_censored"]
    if iv["high_censored"]:
        assert iv["high"] == levels[-1]


def test_noise_sweep_config_checks():
    with pytest.raises(ConfigError, match="needs a quantum router"):
        validate_config(
            {**TINY_SWEEP, "model": {"router": {"type": "linear"}}}, schema=NoiseSweepConfig
        )
    with pytest.raises(ConfigError, match="baselines.Q: baselines are classical"):
        validate_config(
            {**TINY_SWEEP, "baselines": {"Q": {"router": {"type": "quantum"}}}},
            schema=NoiseSweepConfig,
        )
    with pytest.raises(ConfigError, match="levels"):
        validate_config({**TINY_SWEEP, "levels": [0.01, 0.01]}, schema=NoiseSweepConfig)


def test_noise_sweep_example_config_validates(cli):
    result = cli("validate", "configs/two_moons_noise.yaml")
    assert result.exit_code == 0, result.output
    assert "mode: evaluate" in result.output


@pytest.mark.slow
def test_noise_sweep_on_aer_and_a_fake_device(tmp_path, write_config, cli):
    """--simulator qiskit-aer gives the torch numbers (exact methods agree), and a fake
    device's noise model is evaluated beside the levels."""
    raw = {**TINY_SWEEP, "seeds": [0], "levels": [0.0, 0.03]}
    torch_run = cli("noise-sweep", write_config(raw), "--out", tmp_path / "t", "--jobs", "1")
    aer_run = cli(
        "noise-sweep",
        write_config(raw, name="b.yaml"),
        "--out",
        tmp_path / "a",
        "--jobs",
        "1",
        "--simulator",
        "qiskit-aer",
    )
    assert torch_run.exit_code == 0 and aer_run.exit_code == 0, aer_run.output
    tables = [read_csv(only_complete_run(tmp_path / k) / "noise_table.csv") for k in ("t", "a")]
    for a, b in zip(*tables, strict=True):
        assert a["quantum_mean"] == b["quantum_mean"]
    fake = {
        **raw,
        "model": {
            **raw["model"],
            "router": {**raw["model"]["router"], "noise": {"fake_backend": "FakeManilaV2"}},
        },
    }
    result = cli(
        "noise-sweep", write_config(fake, name="f.yaml"), "--out", tmp_path / "f", "--jobs", "1"
    )
    assert result.exit_code == 0, result.output
    assert "FakeManilaV2's noise model" in result.output


def test_one_seed_tables_show_no_nan(capsys):
    """One seed has no standard deviation: the table and the fake-device line show the
    mean alone (the fake device's line printed "0.800 ± nan")."""
    from qmoe_cli.experiments.noise_sweep import print_sweep

    cfg = validate_config({**TINY_SWEEP, "seeds": [0]}, schema=NoiseSweepConfig)
    rows = [
        {"level": 0.0, "quantum_mean": 0.8, "quantum_std": float("nan"),
         "quantum_ci_low": None, "quantum_ci_high": None, "A_mean": 0.75},
    ]  # fmt: skip
    summary = {
        "placement": "paper",
        "simulator": "torch",
        "breakdown": None,
        "fake_backend": {"device": "FakeManilaV2", "accuracy": {"mean": 0.8, "std": float("nan")}},
    }
    print_sweep(cfg, rows, summary, "runs/x")
    output = capsys.readouterr().out
    assert "nan" not in output.lower(), output
    assert "test accuracy 0.800\n" in output
