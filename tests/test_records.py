"""qmoe_cli/records.py: every kind's metrics.json, as tiny real runs write it, parses into its
record and back unchanged; a bad file is one line naming it and the key; folders written
before `schema_version` migrate."""

import json
import math
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError
from typer.testing import CliRunner

from qmoe_cli.cli import app
from qmoe_cli.errors import RunFolderError
from qmoe_cli.records import (
    SCHEMA_VERSION,
    AblateRecord,
    EfficiencyRecord,
    LevelRecord,
    NoiseSweepRecord,
    SeedRecord,
    TrainRecord,
    as_json,
    migrate,
    parse_record,
    read_record,
    write_record,
)

from .conftest import TINY, only_complete_run

DATA = {"name": "two_moons", "n_samples": 120}
TRAIN = {"epochs": 2, "batch_size": 32, "patience": 2}
CONFIGS = {
    "train": ("train", {**TINY, "seeds": [0, 1]}),
    "ablate": (
        "ablate",
        {
            "kind": "ablate",
            "name": "rec-ablate",
            "data": DATA,
            "model": {"experts": {"count": 2}},
            "train": TRAIN,
            "seeds": [0, 1],
            "reference": "B",
            "plateau": 0.5,
            "variants": {
                "A": {"router": {"type": "linear"}},
                "B": {"router": {"type": "quantum", "qubits": 2, "layers": 1}},
            },
        },
    ),
    "noise-evaluate": (
        "noise-sweep",
        {
            "kind": "noise-sweep",
            "name": "rec-noise",
            "data": DATA,
            "model": {
                "router": {"type": "quantum", "qubits": 2, "layers": 1},
                "experts": {"count": 2},
            },
            "train": TRAIN,
            "seeds": [0, 1],
            "levels": [0.0, 0.05],
            "baselines": {"A": {"router": {"type": "linear"}}},
        },
    ),
    "efficiency": (
        "efficiency",
        {
            "kind": "efficiency",
            "name": "rec-eff",
            "data": DATA,
            "model": {"experts": {"count": 2}},
            "train": TRAIN,
            "seeds": [0],  # one seed: std and intervals are null
            "thresholds": [0.5, 0.999],
            "variants": {
                "lin": {"router": {"type": "linear"}},
                "q2": {"router": {"type": "quantum", "qubits": 2, "layers": 1}},
            },
        },
    ),
}
CONFIGS["noise-train"] = (
    "noise-sweep",
    {**CONFIGS["noise-evaluate"][1], "name": "rec-noise-train", "mode": "train", "baselines": {}},
)
CONFIGS["efficiency-skipped"] = (
    "efficiency",
    {
        **CONFIGS["efficiency"][1],
        "name": "rec-eff-skipped",
        "data": {"name": "fashion_mnist", "classes": [0, 1], "pca_components": 2},
    },
)
RECORD_OF = {
    "train": TrainRecord,
    "ablate": AblateRecord,
    "noise-evaluate": NoiseSweepRecord,
    "noise-train": NoiseSweepRecord,
    "efficiency": EfficiencyRecord,
    "efficiency-skipped": EfficiencyRecord,
}


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict[str, Path]:
    """One tiny real run folder per kind (and mode, and the skipped efficiency form)."""
    root = tmp_path_factory.mktemp("records")
    out = {}
    with pytest.MonkeyPatch.context() as mp:  # no Fashion-MNIST files: skipped
        mp.setenv("QMOE_DATA_DIR", str(root / "nothing-here"))
        mp.setenv("XDG_CACHE_HOME", str(root / "no-cache"))
        for case, (command, cfg) in CONFIGS.items():
            path = root / f"{case}.yaml"
            path.write_text(yaml.safe_dump(cfg))
            jobs = [] if command == "train" else ["--jobs", "1"]
            args = [command, str(path), "--out", str(root / case), *jobs]
            result = CliRunner().invoke(app, args)
            assert result.exit_code == 0, result.output
            out[case] = only_complete_run(root / case)
    return out


@pytest.mark.parametrize("case", list(CONFIGS))
def test_every_kinds_real_output_parses_and_round_trips(folders, case):
    folder = folders[case]
    raw = json.loads((folder / "metrics.json").read_text())
    record = read_record(folder)
    assert type(record) is RECORD_OF[case] and record.schema_version == SCHEMA_VERSION
    assert raw["schema_version"] == SCHEMA_VERSION and list(raw)[:2] == [
        "command",
        "schema_version",
    ]
    # what was written is exactly the record's mapping (NaN written as null)
    assert json.loads(json.dumps(as_json(record)).replace("NaN", "null")) == raw
    # every sub-folder's metrics.json too, and every seed's
    for sub in folder.glob("*/**/metrics.json"):
        data = json.loads(sub.read_text())
        if sub.parent.name.startswith("seed-"):
            assert SeedRecord.model_validate(data).seed == int(sub.parent.name[5:])
        elif sub.parent.parent.name == "levels" and case == "noise-evaluate":
            assert isinstance(read_record(sub), LevelRecord)
        else:
            assert isinstance(read_record(sub), TrainRecord), sub


def test_the_records_hold_what_each_kind_measured(folders):
    ablate = read_record(folders["ablate"])
    assert [r.variant for r in ablate.summary] == ["A", "B"]
    assert all(r.plateau == 0.5 and r.share_above_plateau is not None for r in ablate.summary)
    assert [(c.a, c.b) for c in ablate.comparisons] == [("B", "A")]
    noise = read_record(folders["noise-evaluate"])
    assert noise.mode == "evaluate" and noise.breakdown is not None
    assert list(noise.table[0].baseline_means) == ["A"] and list(noise.per_seed.baselines) == ["A"]
    assert set(noise.per_seed.quantum) == {"0.0", "0.05"}
    train_mode = read_record(folders["noise-train"])
    assert train_mode.best_baseline is None and train_mode.breakdown is None
    assert "breakdown" not in json.loads((folders["noise-train"] / "metrics.json").read_text())
    eff = read_record(folders["efficiency"])
    assert eff.skipped is None and {p.variant for p in eff.points} == {"lin", "q2"}
    assert all(p.test_acc_std is None for p in eff.points)  # one seed: null, read as None
    skipped = read_record(folders["efficiency-skipped"])
    assert "fashion" in skipped.skipped.lower() and skipped.points == [] and skipped.data is None
    assert skipped.seeds is None and skipped.eta_definition is None
    train = read_record(folders["train"])
    assert [s.seed for s in train.per_seed] == [0, 1] and train.aggregate.test_accuracy.n == 2


def _broken(folder: Path, tmp_path: Path, edit) -> Path:
    raw = json.loads((folder / "metrics.json").read_text())
    edit(raw)
    path = tmp_path / "metrics.json"
    path.write_text(json.dumps(raw))
    return path


@pytest.mark.parametrize(
    "case, edit, message",
    [
        (
            "ablate",
            lambda m: m["summary"][0].pop("test_acc_mean"),
            "summary.0.test_acc_mean: required key is missing",
        ),
        (
            "train",
            lambda m: m["per_seed"][1]["usage"].pop("gate_entropy"),
            "per_seed.1.usage.gate_entropy: required key is missing",
        ),
        ("train", lambda m: m.update(colour="blue"), "colour: unknown key"),
        (
            "noise-evaluate",
            lambda m: m["breakdown"].update(seeds_never="many"),
            "breakdown.seeds_never: Input should be a valid integer",
        ),
        (
            "efficiency",
            lambda m: m.pop("seeds"),
            "seeds: required key is missing (the run is not skipped)",
        ),
        ("train", lambda m: m.update(command="nope"), "command: 'nope' is unknown"),
        ("train", lambda m: m.update(schema_version=2), "schema_version: 2 is not one"),
    ],
)
def test_a_bad_metrics_json_is_one_line_naming_the_file_and_key(
    folders, tmp_path, case, edit, message
):
    path = _broken(folders[case], tmp_path, edit)
    with pytest.raises(RunFolderError) as info:
        read_record(path)
    text = str(info.value)
    assert text.startswith(f"{path}: {message}"), text
    assert "\n" not in text


def test_a_folder_without_schema_version_migrates(folders, tmp_path):
    for case in ("train", "ablate", "noise-evaluate", "efficiency", "efficiency-skipped"):
        raw = json.loads((folders[case] / "metrics.json").read_text())
        del raw["schema_version"]
        old = tmp_path / case / "metrics.json"
        old.parent.mkdir()
        old.write_text(json.dumps(raw))
        record = read_record(old)
        assert record.schema_version == SCHEMA_VERSION
        assert as_json(record) == as_json(read_record(folders[case]))
    # noise sweeps from before the experiment knew no paper: Table II's value in every row
    raw = json.loads((folders["noise-evaluate"] / "metrics.json").read_text())
    for row in raw["table"]:
        row["paper_quantum"] = 0.9
    with pytest.raises(RunFolderError, match=r"table\.0: paper_quantum: unknown key"):
        parse_record(raw)  # a folder of this version must not have it
    del raw["schema_version"]
    assert "paper_quantum" not in migrate(raw)["table"][0]
    assert read_record_from(raw, tmp_path).table[0].quantum_mean == raw["table"][0]["quantum_mean"]
    # keys that do not validate are still an error after the migration
    del raw["table"][0]["quantum_std"]
    with pytest.raises(RunFolderError, match=r"table\.0\.quantum_std: required key is missing"):
        parse_record(raw)


def read_record_from(raw: dict, tmp_path: Path):
    path = tmp_path / "raw" / "metrics.json"
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(raw))
    return read_record(path)


def test_a_writer_that_forgets_a_key_fails(folders, tmp_path):
    train = read_record(folders["train"])
    fields = {k: getattr(train, k) for k in TrainRecord.model_fields if k != "aggregate"}
    with pytest.raises(ValidationError, match="aggregate"):
        TrainRecord(**fields)
    seed = as_json(train.per_seed[0])
    del seed["epochs_to_90_val"]  # None is a value; a missing key is not
    with pytest.raises(ValidationError, match="epochs_to_90_val"):
        SeedRecord.model_validate(seed)
    with pytest.raises(ValidationError, match="extra"):
        SeedRecord.model_validate({**as_json(train.per_seed[0]), "router_type": "linear"})


def test_nan_is_written_as_null_and_read_back_as_none(folders, tmp_path):
    record = read_record(folders["train"])
    record.aggregate.test_accuracy.std = math.nan
    path = tmp_path / "metrics.json"
    write_record(path, record)
    assert json.loads(path.read_text())["aggregate"]["test_accuracy"]["std"] is None
    assert read_record(path).aggregate.test_accuracy.std is None
