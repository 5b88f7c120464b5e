import json

import pytest

from qmoe_cli.config import NoiseSweepConfig, validate_config
from qmoe_cli.errors import ConfigError
from qmoe_cli.experiments.noise_sweep import breakdown, training_config
from qmoe_cli.runs import read_csv

from .conftest import only_complete_run, run_group

TINY_SWEEP = {
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
    assert metrics["mode"] == mode and "breakdown" in metrics
    assert f"({mode} mode" in output


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
