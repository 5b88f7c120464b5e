"""`qmoe report DIR`: run and sweep folders found under a folder, the others skipped and listed."""

import json
import re
import shutil

import pytest
import yaml

from qmoe_cli.errors import ConfigError
from qmoe_cli.report.inputs import discover, gather

from .conftest import TINY, only_complete_run


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    """runs/ as a user has it: complete runs (one nested, one with a run-like sub-folder of its
    own), a sweep folder, a report folder, and failed / unfinished / broken folders."""
    from typer.testing import CliRunner

    from qmoe_cli.cli import app

    def cli(*args):
        result = CliRunner().invoke(app, [str(a) for a in args])
        assert result.exit_code == 0, result.output
        return result

    root = tmp_path_factory.mktemp("discovery")
    (root / "base.yaml").write_text(yaml.safe_dump(TINY))
    cli("train", root / "base.yaml", "--out", root / "made")
    run = only_complete_run(root / "made")
    sweep = {"kind": "sweep", "name": "s", "base": "base.yaml", "seeds": [0]}
    sweep["grid"] = {"model.experts.count": [2, 3]}
    (root / "s.yaml").write_text(yaml.safe_dump(sweep))
    cli("sweep", root / "s.yaml", "--out", root / "runs" / "sweeps", "--jobs", "1")

    runs = root / "runs"
    a = runs / "20260101-000000-a-1111"
    shutil.copytree(run, a)
    shutil.copytree(run, a / "variants" / "X")  # a complete run's own sub-folder: part of it
    shutil.copytree(run, runs / "group" / "20260101-000004-e-5555")  # nested one level
    failed = runs / "20260101-000001-b-2222.failed"
    shutil.copytree(run, failed)
    (failed / "error.txt").write_text("boom")
    shutil.copytree(run, runs / ".20260101-000002-c-3333.tmp")
    unfinished = runs / "20260101-000003-d-4444"
    unfinished.mkdir()
    (unfinished / "config.yaml").write_text(yaml.safe_dump(TINY))
    broken = runs / "20260101-000006-f-6666"
    shutil.copytree(run, broken)
    (broken / "metrics.json").write_text(json.dumps({"command": "train", "name": 3}))
    report = runs / "20260101-000005-report"
    report.mkdir()
    (report / "metrics.json").write_text(json.dumps({"command": "report"}))
    (runs / ".git" / "objects").mkdir(parents=True)
    return root


def test_discover_finds_complete_runs_and_sweeps_in_name_order_and_lists_the_others(tree):
    runs = tree / "runs"
    found, skipped = discover(runs)
    assert [p.relative_to(runs).as_posix() for p in found] == [
        "20260101-000000-a-1111",
        "20260101-000006-f-6666",  # complete by its marker; read (and skipped) by gather
        "group/20260101-000004-e-5555",
        "sweeps/s",
    ]
    assert {s.path.name: s.why for s in skipped} == {
        "20260101-000001-b-2222.failed": "the run failed (see error.txt)",
        ".20260101-000002-c-3333.tmp": "unfinished (still being written, or was killed)",
        "20260101-000003-d-4444": "unfinished: config.yaml but no metrics.json",
    }
    assert discover(runs) == (found, skipped)  # stable


def test_gather_reads_what_it_found_and_skips_what_it_cannot_read(tree):
    runs = tree / "runs"
    got = gather([runs])
    assert [(r.label, r.kind, r.path.relative_to(runs).as_posix()) for r in got.runs] == [
        ("R1", "train", "20260101-000000-a-1111"),
        ("R2", "train", "group/20260101-000004-e-5555"),
        ("R3", "sweep", "sweeps/s"),
    ]
    skipped = {s.path.name: s.why for s in got.skipped}
    assert "name" in skipped.pop("20260101-000006-f-6666")  # the metrics.json key at fault
    assert set(skipped) == {
        "20260101-000001-b-2222.failed",
        ".20260101-000002-c-3333.tmp",
        "20260101-000003-d-4444",
    }
    # a folder given and also found is read once, under its first label
    again = gather([runs / "sweeps" / "s", runs])
    assert [r.path.name for r in again.runs] == [
        "s",
        "20260101-000000-a-1111",
        "20260101-000004-e-5555",
    ]


def test_a_failed_folder_given_explicitly_is_still_an_error(tree):
    with pytest.raises(ConfigError, match=r"\.failed \(the run failed \(see error.txt\); give"):
        gather([tree / "runs" / "20260101-000001-b-2222.failed"])


def test_a_folder_with_nothing_to_read_is_one_error_naming_it(tree, tmp_path):
    only_bad = tmp_path / "only-bad"
    (only_bad / "x.failed").mkdir(parents=True)
    with pytest.raises(ConfigError) as err:
        gather([only_bad])
    assert f"neither a complete run folder nor a sweep folder: {only_bad} (" in str(err.value)
    assert "1 skipped: x.failed" in str(err.value)


def test_report_of_a_folder_lists_the_runs_read_and_the_folders_skipped(tree, cli):
    out = tree / "rep"
    result = cli("report", tree / "runs", "--out", out)
    assert result.exit_code == 0, result.output
    assert "report: skipped 4 folder(s) that are not complete runs" in result.output
    md = (out / "report.md").read_text()
    for label, kind, rel in (
        ("R1", "train", "20260101-000000-a-1111"),
        ("R2", "train", "group/20260101-000004-e-5555"),
        ("R3", "sweep", "sweeps/s"),
    ):
        assert re.search(
            rf"^\| {label} \| {kind} \| .* \| {re.escape(str(tree / 'runs' / rel))} \|$", md, re.M
        )
    assert "Skipped 4 folder(s) found that are not complete runs:" in md
    assert f"- {tree / 'runs' / '20260101-000001-b-2222.failed'}: the run failed" in md
    assert "variants/X" not in md and "-report" not in md.split("## How each claim")[0]
    claims = json.loads((out / "claims.json").read_text())
    assert len(claims["skipped"]) == 4 and len(claims["runs"]) == 3
