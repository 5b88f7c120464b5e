"""The kinds registry: every config states its kind, every command and tool looks it up."""

import json
from pathlib import Path

import pytest
import yaml

from qmoe_cli.config import (
    AblationConfig,
    DiagnoseConfig,
    EfficiencyConfig,
    ExperimentConfig,
    HardwareConfig,
    NoiseSweepConfig,
    PlanConfig,
    SweepConfig,
    TuneConfig,
)
from qmoe_cli.kinds import KINDS, REPORT_KINDS, REPORT_ORDER, RUN_KINDS, resolve, run_config_kind

from .conftest import ROOT, TINY, only_complete_run

CONFIGS = sorted((ROOT / "configs").rglob("*.yaml"))


def test_one_table_names_every_kind_and_what_it_uses():
    assert list(KINDS) == [
        "train", "ablate", "noise-sweep", "efficiency", "hardware", "diagnose", "sweep", "tune",
        "plan",
    ]  # fmt: skip
    schemas = [
        ExperimentConfig, AblationConfig, NoiseSweepConfig, EfficiencyConfig, HardwareConfig,
        DiagnoseConfig, SweepConfig, TuneConfig, PlanConfig,
    ]  # fmt: skip
    assert [k.schema for k in KINDS.values()] == schemas
    assert set(RUN_KINDS) == set(KINDS) - {"diagnose", "sweep", "tune", "plan"}
    assert set(REPORT_KINDS) == set(REPORT_ORDER) == {*RUN_KINDS, "diagnose"}
    assert callable(resolve(KINDS["diagnose"].section))  # a report section, no runner
    for name in RUN_KINDS:  # every import path in the table resolves
        kind = KINDS[name]
        assert callable(resolve(kind.runner)) and callable(resolve(kind.sweep_rows))
        assert callable(resolve(kind.section))
        assert kind.schema.model_fields["kind"].default == name


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_shipped_config_states_its_kind_and_validates(path, cli):
    kind = yaml.safe_load(path.read_text())["kind"]
    assert kind in KINDS
    result = cli("validate", path)
    assert result.exit_code == 0, result.output
    assert f"kind: {kind}" in result.output


def test_a_config_without_kind_is_one_line_naming_the_kinds(write_config, cli):
    path = write_config({k: v for k, v in TINY.items() if k != "kind"})
    for command in ("train", "validate", "ablate"):
        result = cli(command, path)
        assert result.exit_code == 2, result.output
        (line,) = result.output.strip().splitlines()
        assert line == (
            f"error: {path}: kind: required key is missing "
            "(one of: train, ablate, noise-sweep, efficiency, hardware, diagnose, sweep, tune, "
            "plan)"
        )


def test_a_config_of_another_kind_names_the_command_that_runs_it(write_config, cli):
    path = write_config({**TINY, "kind": "ablate"})
    result = cli("train", path)
    assert result.exit_code == 2
    assert "kind: 'ablate' configs run with `qmoe ablate`, not `qmoe train`" in result.output
    bogus = write_config({**TINY, "kind": "tuning"}, name="bogus.yaml")
    result = cli("validate", bogus)
    assert result.exit_code == 2 and "kind: 'tuning' is not a kind" in result.output


def test_validate_checks_a_sweep_file_and_its_base(tmp_path, cli):
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(TINY))
    sweep = {"kind": "sweep", "base": "base.yaml", "grid": {"train.lr": [0.01, 0.1]}}
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(sweep))
    result = cli("validate", tmp_path / "s.yaml")
    assert result.exit_code == 0, result.output
    assert "command: train" in result.output  # read from the base config's kind
    sweep["grid"] = {"train.nothing": [1]}
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(sweep))
    result = cli("validate", tmp_path / "s.yaml")
    assert result.exit_code == 2 and "'train.nothing' is not a key" in result.output


def test_a_sweep_over_an_efficiency_config(tmp_path, cli):
    base = {
        **TINY,
        "kind": "efficiency",
        "variants": {"lin": {"router": {"type": "linear"}}},
        "thresholds": [0.5],
    }
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(base))
    sweep = {"kind": "sweep", "name": "e", "base": "base.yaml", "seeds": [0]}
    sweep["grid"] = {"train.epochs": [1, 2]}
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(sweep))
    result = cli("sweep", tmp_path / "s.yaml", "--out", tmp_path / "sweeps", "--jobs", "1")
    assert result.exit_code == 0, result.output
    root = tmp_path / "sweeps" / "e"
    assert yaml.safe_load((root / "sweep.yaml").read_text())["command"] == "efficiency"
    rows = (root / "sweep.csv").read_text().splitlines()
    assert len(rows) == 3 and "lin" in rows[1]  # header + one router per point


def test_run_folders_from_before_kinds_are_read_through_one_migration():
    assert run_config_kind({"kind": "ablate"}).name == "ablate"
    assert run_config_kind({"variants": {}}).name == "ablate"
    assert run_config_kind({"variants": {}, "thresholds": [0.9]}).name == "efficiency"
    assert run_config_kind({"levels": [0.0]}).name == "noise-sweep"
    assert run_config_kind({"data": {}}).name == "train"


def test_run_folders_record_their_kind(tmp_path, write_config, cli):
    result = cli("train", write_config(), "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output
    run = only_complete_run(tmp_path / "out")
    assert yaml.safe_load((run / "config.yaml").read_text())["kind"] == "train"
    assert json.loads((run / "metrics.json").read_text())["command"] == "train"
    assert Path(run).is_dir()
