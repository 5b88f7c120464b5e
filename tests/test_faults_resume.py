"""Resuming over damaged seed folders, loading checkpoints that are not what they claim, and
resuming what is already done.

A seed folder that cannot be read back is moved aside (never deleted: it may be looked at)
and trained again, with one line saying so; a checkpoint is loaded with weights_only=True,
so nothing in it runs, and one that does not load is one line naming it and the command
that trains that seed again (never torch's advice to load it unsafely).
"""

import json
import pickle
import shutil

import pytest

from qmoe_cli.runs import is_complete_run

from .conftest import TINY

ABLATE = {
    **{k: v for k, v in TINY.items() if k != "model"},
    "kind": "ablate",
    "name": "tinyab",
    "model": {"experts": {"count": 2}},
    "seeds": [0, 1],
    "reference": "B",
    "variants": {
        "A": {"router": {"type": "linear"}},
        "B": {"router": {"type": "quantum", "qubits": 2, "layers": 1}},
    },
}


class Payload:
    """Unpickling this would create `marker`: a checkpoint that runs code when loaded."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _run(cli, config, out):
    result = cli("ablate", config, "--out", out, "--jobs", "1")
    assert result.exit_code == 0, result.output
    (run,) = [p for p in out.iterdir() if is_complete_run(p)]
    return run, result.output


def _accuracies(run):
    seeds = sorted(run.glob("variants/*/seed-*/metrics.json"))
    assert len(seeds) == 4
    return {str(p.relative_to(run)): json.loads(p.read_text())["test_accuracy"] for p in seeds}


@pytest.fixture(scope="module")
def clean_run(tmp_path_factory):
    from typer.testing import CliRunner
    from yaml import safe_dump

    from qmoe_cli.cli import app

    root = tmp_path_factory.mktemp("clean")
    (root / "cfg.yaml").write_text(safe_dump(ABLATE))
    args = ["ablate", str(root / "cfg.yaml"), "--out", str(root / "r"), "--jobs", "1"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    (run,) = [p for p in (root / "r").iterdir() if is_complete_run(p)]
    return root / "cfg.yaml", run


def _unfinished_copy(run, tmp_path):
    """The clean run as an interrupted one would leave it: every seed done, the group not."""
    out = tmp_path / "runs"
    out.mkdir()
    failed = out / f"{run.name}.failed"
    shutil.copytree(run, failed)
    (failed / "metrics.json").unlink()
    return out, failed


@pytest.mark.parametrize(
    "file, damage, says",
    [
        ("model.pt", b"not a checkpoint", "model.pt: corrupt"),
        ("model.pt", None, "model.pt: corrupt, or not a state dict of tensors"),
        ("metrics.json", b"{", "metrics.json: not valid JSON"),
        ("metrics.json", b'{"seed": "x"}', "metrics.json: not a seed record"),
        ("history.csv", b"epoch,train_loss\nx,y\n", "history.csv: not a history"),
    ],
)
def test_a_damaged_seed_is_moved_aside_and_trained_again(
    clean_run, tmp_path, cli, file, damage, says
):
    config, run = clean_run
    out, failed = _unfinished_copy(run, tmp_path)
    seed_dir = failed / "variants" / "B" / "seed-1"
    marker = tmp_path / "ran"
    data = pickle.dumps({"w": Payload(marker)}) if damage is None else damage
    (seed_dir / file).write_bytes(data)
    resumed, output = _run(cli, config, out)
    assert not marker.exists()  # the file's code never ran
    lines = [line for line in output.splitlines() if "moved to" in line]
    assert len(lines) == 1 and says in lines[0], output
    assert lines[0].endswith("moved to .seed-1.corrupt, training it again"), lines[0]
    assert "weights_only=False" not in output and "Traceback" not in output
    aside = resumed / "variants" / "B" / ".seed-1.corrupt"
    assert (aside / file).read_bytes() == data  # kept for a look
    assert _accuracies(resumed) == _accuracies(run)  # the retrained seed is the same seed


def test_a_checkpoint_that_would_run_code_is_refused_by_export(clean_run, tmp_path, cli):
    _, run = clean_run
    copy = tmp_path / run.name
    shutil.copytree(run, copy)
    marker = tmp_path / "ran"
    model = copy / "variants" / "B" / "seed-0" / "model.pt"
    model.write_bytes(pickle.dumps({"router.weights": Payload(marker)}))
    result = cli("export", copy / "variants" / "B", "--seed", "0", "--out", tmp_path / "x.qasm")
    assert result.exit_code == 1 and not marker.exists()
    line = result.output.strip()
    assert "\n" not in line and "weights_only=False" not in line, line
    assert line.startswith(f"error: cannot load {model}: corrupt, or not a state dict"), line
    config = copy / "variants" / "B" / "config.yaml"
    assert line.endswith(f"train it again with `qmoe run {config} --seeds 0`"), line


def test_resume_of_a_complete_run_has_nothing_to_do_and_exits_0(clean_run, tmp_path, cli):
    config, run = clean_run
    out = tmp_path / "runs"
    out.mkdir()
    copy = out / run.name
    shutil.copytree(run, copy)
    result = cli("ablate", config, "--out", out, "--jobs", "1", "--resume", copy)
    assert result.exit_code == 0, result.output
    assert result.output.strip() == (f"nothing to do: {copy} is complete (every training is done)")
    assert sorted(p.name for p in out.iterdir()) == [run.name]  # nothing new written
    other = cli("ablate", config, "--out", out, "--resume", copy, "--set", "train.epochs=2")
    assert other.exit_code == 1 and "is not the config given" in other.output
