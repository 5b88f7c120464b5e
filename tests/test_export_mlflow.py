"""`qmoe export --format mlflow`: real run folders into a SQLite tracking store, read back
with MlflowClient."""

import json
import subprocess
import sys

import pytest
import yaml
from mlflow import MlflowClient

from qmoe_cli.runs import read_csv

from .conftest import ROOT, only_complete_run
from .test_records import CONFIGS

ABLATE = CONFIGS["ablate"][1]  # variants A (linear) and B (quantum), seeds 0 and 1


@pytest.fixture(scope="module")
def ablation(tmp_path_factory):
    from typer.testing import CliRunner

    from qmoe_cli.cli import app

    root = tmp_path_factory.mktemp("mlflow-ablation")
    (root / "a.yaml").write_text(yaml.safe_dump(ABLATE))
    args = ["ablate", str(root / "a.yaml"), "--out", str(root / "runs"), "--jobs", "1"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    return only_complete_run(root / "runs")


@pytest.fixture
def store(tmp_path, monkeypatch):
    """A fresh tracking store; MLflow puts artifacts under ./mlruns, here in tmp_path."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return f"sqlite:///{tmp_path / 'mlflow.db'}"


def export(cli, uri, *folders, code=0):
    result = cli("export", *folders, "--format", "mlflow", "--tracking-uri", uri)
    assert result.exit_code == code, result.output
    return result.output


def runs_of(uri, experiment):
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name(experiment)
    return client, client.search_runs([exp.experiment_id], max_results=1000)


def test_an_ablation_is_a_tree_of_runs_with_params_metrics_artifacts_and_tags(ablation, store, cli):
    output = export(cli, store, ablation)
    assert "7 MLflow runs in experiment 'rec-ablate' (7 new, 0 already there)" in output
    client, runs = runs_of(store, "rec-ablate")
    by_kind = {}
    for run in runs:
        by_kind.setdefault(run.data.tags["qmoe.kind"], []).append(run)
    assert {k: len(v) for k, v in by_kind.items()} == {"ablate": 1, "train": 2, "seed": 4}
    (group,) = by_kind["ablate"]
    ids = {r.info.run_id: r for r in runs}
    assert "mlflow.parentRunId" not in group.data.tags
    variants = {r.data.tags["qmoe.variant"]: r for r in by_kind["train"]}
    assert set(variants) == {"A", "B"}
    assert all(r.data.tags["mlflow.parentRunId"] == group.info.run_id for r in variants.values())
    for run in by_kind["seed"]:
        parent = ids[run.data.tags["mlflow.parentRunId"]]
        assert parent.data.tags["qmoe.variant"] == run.data.tags["qmoe.variant"]
        assert run.info.status == "FINISHED"

    # the group: its config as dotted params, its tables as metrics, its files as artifacts
    assert group.info.run_name == ablation.name
    assert group.data.params["variants.B.router.type"] == "quantum"
    assert group.data.params["seeds"] == "[0, 1]"
    summary = {r["variant"]: r for r in read_csv(ablation / "summary.csv")}
    got = group.data.metrics["summary.A.test_acc_mean"]
    assert got == pytest.approx(float(summary["A"]["test_acc_mean"]))
    assert "comparisons.B vs A.p_holm" in group.data.metrics
    files = {a.path for a in client.list_artifacts(group.info.run_id)}
    on_disk = {p.name for p in ablation.iterdir() if p.suffix in (".png", ".csv", ".json", ".yaml")}
    assert files == on_disk and {"metrics.json", "training_curves.png"} <= files

    # a seed: its training's config and seed, its metrics, its history with one step per epoch
    env = json.loads((ablation / "env.json").read_text())
    seed_run = next(
        r
        for r in by_kind["seed"]
        if r.data.tags["qmoe.variant"] == "B" and r.data.tags["qmoe.seed"] == "1"
    )
    folder = ablation / "variants" / "B" / "seed-1"
    assert seed_run.info.run_name == "B seed 1"
    assert seed_run.data.params["model.router.type"] == "quantum"
    assert seed_run.data.params["train.epochs"] == "2" and seed_run.data.params["seed"] == "1"
    measured = json.loads((folder / "metrics.json").read_text())
    assert seed_run.data.metrics["test_accuracy"] == measured["test_accuracy"]
    assert seed_run.data.metrics["params.router"] == measured["params"]["router"]
    history = read_csv(folder / "history.csv")
    steps = client.get_metric_history(seed_run.info.run_id, "val_loss")
    assert [(m.step, m.value) for m in sorted(steps, key=lambda m: m.step)] == [
        (int(r["epoch"]), float(r["val_loss"])) for r in history
    ]
    artifacts = {a.path for a in client.list_artifacts(seed_run.info.run_id)}
    assert artifacts == {"history.csv", "metrics.json"}
    tags = seed_run.data.tags
    assert tags["qmoe.version"] == env["packages"]["qmoe-cli"]
    if env.get("git"):
        assert tags["mlflow.source.git.commit"] == env["git"]["revision"]
        assert tags["qmoe.git"].startswith(env["git"]["revision"])
    assert tags["qmoe.folder"] == str(folder)


def test_exporting_again_makes_only_the_missing_runs(ablation, store, cli):
    export(cli, store, ablation)
    assert "(0 new, 7 already there)" in export(cli, store, ablation)
    client, runs = runs_of(store, "rec-ablate")
    assert len(runs) == 7
    seeds = [r for r in runs if r.data.tags["qmoe.kind"] == "seed"]
    client.delete_run(seeds[0].info.run_id)  # gone
    client.update_run(seeds[1].info.run_id, status="RUNNING")  # as an interrupted export leaves
    assert "(2 new, 5 already there)" in export(cli, store, ablation)
    _, again = runs_of(store, "rec-ablate")
    assert len(again) == 7 and all(r.info.status == "FINISHED" for r in again)
    assert seeds[1].info.run_id not in {r.info.run_id for r in again}
    keys = [r.data.tags["qmoe.key"] for r in again]
    assert len(set(keys)) == 7


def test_mlflows_own_uri_the_experiment_option_and_a_folder_of_run_folders(
    ablation, store, cli, monkeypatch
):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store)  # as MLflow itself would use
    result = cli("export", ablation.parent, "--format", "mlflow", "--experiment", "mine")
    assert result.exit_code == 0, result.output
    assert f"tracking store: {store}" in result.output
    assert len(runs_of(store, "mine")[1]) == 7


@pytest.mark.slow
@pytest.mark.parametrize("case", ["train", "noise-evaluate", "noise-train", "efficiency", "sweep"])
def test_every_kind_of_run_folder_exports(tmp_path, store, cli, case):
    if case == "sweep":
        (tmp_path / "base.yaml").write_text(yaml.safe_dump(CONFIGS["train"][1]))
        sweep = {"kind": "sweep", "name": "s", "base": "base.yaml", "command": "train"}
        sweep |= {"seeds": [0, 1], "grid": {"model.experts.count": [2, 3]}}
        (tmp_path / "sweep.yaml").write_text(yaml.safe_dump(sweep))
        result = cli("sweep", tmp_path / "sweep.yaml", "--out", tmp_path / "sw", "--jobs", "1")
        assert result.exit_code == 0, result.output
        top, name = tmp_path / "sw" / "s", "s"
    else:
        command, cfg = CONFIGS[case]
        (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
        jobs = [] if command == "train" else ["--jobs", "1"]
        result = cli(command, tmp_path / "c.yaml", "--out", tmp_path / "runs", *jobs)
        assert result.exit_code == 0, result.output
        top, name = only_complete_run(tmp_path / "runs"), cfg["name"]
    folders = {p.parent for p in top.rglob("metrics.json")} | {top}
    export(cli, store, top)
    _, runs = runs_of(store, name)
    assert sorted(r.data.tags["qmoe.folder"] for r in runs) == sorted(map(str, folders))
    ids = {r.info.run_id for r in runs}
    tops = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert len(tops) == 1 and tops[0].data.tags["qmoe.folder"] == str(top)
    assert all(r.data.tags["mlflow.parentRunId"] in ids for r in runs if r not in tops)
    assert "(0 new," in export(cli, store, top)


def _one_line_error(result, code, needle):
    lines = result.output.strip().splitlines()
    assert result.exit_code == code, result.output
    assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], lines


def test_without_mlflow_one_line_says_how_to_install_it(ablation, store, cli, monkeypatch):
    monkeypatch.setitem(sys.modules, "mlflow", None)  # import mlflow -> ImportError
    result = cli("export", ablation, "--format", "mlflow", "--tracking-uri", store)
    _one_line_error(result, 1, "pip install 'qmoe-cli[mlflow]'")


def test_bad_use_is_one_line(ablation, store, cli, tmp_path):
    mlflow_args = ("--format", "mlflow", "--tracking-uri", store)
    _one_line_error(cli("export", ablation, *mlflow_args, "--seed", 1), 2, "--seed")
    _one_line_error(cli("export", ablation, "--tracking-uri", store), 2, "--tracking-uri")
    _one_line_error(cli("export", ablation, ablation, "--format", "qiskit"), 2, "one run folder")
    _one_line_error(cli("export", tmp_path, *mlflow_args), 1, "not a run folder")
    (tmp_path / "file").write_text("")
    blocked = f"sqlite:///{tmp_path / 'file' / 'mlflow.db'}"  # its folder is a file
    result = cli("export", ablation, "--format", "mlflow", "--tracking-uri", blocked)
    _one_line_error(result, 1, "cannot open")


def test_mlflow_is_imported_only_when_an_export_to_it_runs():
    script = (
        "import sys, qmoe_cli.cli, qmoe_cli.experiments.export_mlflow; "
        "print('mlflow' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


def test_artifacts_go_beside_the_sqlite_store_not_into_the_working_folder(
    ablation, tmp_path, monkeypatch, cli
):
    """MLflow's default artifact root is ./mlruns of wherever the command runs: a store
    given as a SQLite file keeps its artifacts beside it."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    db = tmp_path / "store" / "mlflow.db"
    export(cli, f"sqlite:///{db}", ablation)
    assert list(elsewhere.iterdir()) == []
    assert any((db.parent / "mlartifacts").rglob("metrics.json"))
