"""`qmoe run`: run configs and plan files one after another in one process."""

import json

import yaml

from qmoe_cli.runs import is_complete_run

from .conftest import TINY

ABLATE = {
    "kind": "ablate",
    "name": "tiny_ablate",
    "data": {"name": "two_moons", "n_samples": 120, "noise": 0.1},
    "model": {"experts": {"count": 2}},
    "train": {"epochs": 2, "batch_size": 16},
    "seeds": [0, 1],
    "reference": "A",
    "variants": {"A": {"router": {"type": "linear"}}, "C": {"router": {"type": "mlp"}}},
}


def plan_files(tmp_path):
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(TINY))
    (tmp_path / "ablate.yaml").write_text(yaml.safe_dump(ABLATE))
    plan = {
        "kind": "plan",
        "name": "both",
        "runs": ["tiny.yaml", {"config": "ablate.yaml", "set": ["train.epochs=3"]}],
    }
    path = tmp_path / "plan.yaml"
    path.write_text(yaml.safe_dump(plan))
    return path


def complete_runs(folder):
    return sorted(p for p in folder.iterdir() if is_complete_run(p))


def test_a_plan_runs_each_config_with_its_overrides_and_a_rerun_skips_them(cli, tmp_path):
    plan = plan_files(tmp_path)
    out = tmp_path / "out"
    result = cli("run", plan, "--out", out, "--jobs", "1", "--report", tmp_path / "report")
    assert result.exit_code == 0, result.output
    runs = complete_runs(out)
    assert [p.name.split("-")[2] for p in runs] == ["tiny", "tiny_ablate"]
    ablation = yaml.safe_load((runs[1] / "config.yaml").read_text())
    assert ablation["train"]["epochs"] == 3  # the plan entry's own `set`
    assert json.loads((runs[1] / "metrics.json").read_text())["command"] == "ablate"
    assert (tmp_path / "report" / "report.md").is_file()
    assert "[2/2]" in result.output

    again = cli("run", plan, "--out", out, "--jobs", "1")
    assert again.exit_code == 0, again.output
    assert again.output.count("done already") == 2
    assert complete_runs(out) == runs  # nothing run twice


def test_command_line_overrides_reach_every_run_and_seeds_too(cli, tmp_path):
    plan = plan_files(tmp_path)
    out = tmp_path / "out"
    result = cli("run", plan, "--out", out, "--jobs", "1", "--seeds", "3", "--set", "train.lr=0.02")
    assert result.exit_code == 0, result.output
    for run in complete_runs(out):
        cfg = yaml.safe_load((run / "config.yaml").read_text())
        assert cfg["seeds"] == [3] and cfg["train"]["lr"] == 0.02


def test_every_config_is_checked_before_anything_runs(cli, tmp_path):
    plan = plan_files(tmp_path)
    raw = yaml.safe_load(plan.read_text())
    raw["runs"].append({"config": "ablate.yaml", "set": ["train.epochz=3"]})
    plan.write_text(yaml.safe_dump(raw))
    result = cli("run", plan, "--out", tmp_path / "out")
    assert result.exit_code == 2
    assert result.output.strip() == (
        f"error: {plan}: runs[2]: {tmp_path / 'ablate.yaml'}: train.epochz: unknown key"
    )
    assert not (tmp_path / "out").exists()  # the first two did not run


def test_bad_plans_get_one_line_naming_what_is_wrong(cli, tmp_path, write_config):
    cases = {
        "missing.yaml": None,
        "empty_runs.yaml": {"kind": "plan", "runs": []},
        "no_file.yaml": {"kind": "plan", "runs": ["nope.yaml"]},
        "sweep_in_plan.yaml": {"kind": "plan", "runs": ["a_sweep.yaml"]},
    }
    write_config({"kind": "sweep", "base": "x.yaml", "grid": {"train.lr": [0.1]}}, "a_sweep.yaml")
    expected = {
        "missing.yaml": "config not found",
        "empty_runs.yaml": "runs: give at least one run",
        "no_file.yaml": "runs[0]: config not found: nope.yaml",
        "sweep_in_plan.yaml": "kind 'sweep' is not run by `qmoe run`",
    }
    for name, data in cases.items():
        path = tmp_path / name
        if data is not None:
            path.write_text(yaml.safe_dump(data))
        result = cli("run", path)
        assert result.exit_code == 2, (name, result.output)
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), (name, result.output)
        assert expected[name] in lines[0], (name, lines[0])


def test_validate_checks_every_run_of_a_plan(cli, tmp_path):
    plan = plan_files(tmp_path)
    result = cli("validate", plan)
    assert result.exit_code == 0, result.output
    assert "runs[0]" in result.output and "runs[1]" in result.output
    assert f"# {plan}: valid" in result.output


def test_an_interrupted_plan_goes_on_where_it_stopped(cli, tmp_path, monkeypatch):
    """SIGTERM in the second run: the first is kept, the line says to run the same command
    again (`qmoe run` has no --resume), and running it again skips the first, finishes the
    second."""
    import signal

    from qmoe_cli.errors import Interrupted
    from qmoe_cli.experiments import ablate

    plan = plan_files(tmp_path)
    out = tmp_path / "out"
    real = ablate.run

    def interrupted(cfg, out_dir, *, jobs, resume=None):
        from qmoe_cli.runs import RunFolder

        with RunFolder(out_dir, cfg.name, "x", resumable=True):
            raise Interrupted(signal.SIGTERM, "SIGTERM")

    monkeypatch.setattr(ablate, "run", interrupted)
    result = cli("run", plan, "--out", out, "--jobs", "1")
    assert result.exit_code == 143, result.output
    line = result.output.strip().splitlines()[-1]
    assert line.startswith("interrupted (SIGTERM): finished trainings are kept in ")
    assert "run the same command again to train only the missing ones" in line
    assert "--resume" not in line
    assert [p.name.split("-")[2] for p in complete_runs(out)] == ["tiny"]

    monkeypatch.setattr(ablate, "run", real)
    again = cli("run", plan, "--out", out, "--jobs", "1")
    assert again.exit_code == 0, again.output
    assert again.output.count("done already") == 1
    assert [p.name.split("-")[2] for p in complete_runs(out)] == ["tiny", "tiny_ablate"]
