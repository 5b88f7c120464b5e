"""Sweep points that differ only in seed, lr and weight decay train as one stacked model:
one worker call for all of them, the same numbers as one at a time, a folder each."""

from __future__ import annotations

import csv

import yaml

from qmoe_cli.experiments import sweep as sweep_module
from tests.conftest import TINY


def _rows(folder):
    with (folder / "sweep.csv").open() as fh:
        return {
            (float(r["train.lr"]), int(r["seed"])): float(r["test_accuracy"])
            for r in csv.DictReader(fh)
        }


def test_stacked_sweep_points_equal_one_at_a_time(cli, tmp_path, monkeypatch):
    base = tmp_path / "base.yaml"
    base.write_text(yaml.safe_dump({**TINY, "train": {"epochs": 6, "batch_size": 16}}))
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text(
        yaml.safe_dump(
            {
                "kind": "sweep",
                "name": "st",
                "base": str(base),
                "grid": {"train.lr": [0.01, 0.1]},
                "seeds": [0, 1, 2],
            }
        )
    )
    units = []
    real = sweep_module.run_points

    def counted(root, pts, cmd):
        units.append(len(pts))
        return real(root, pts, cmd)

    monkeypatch.setattr(sweep_module, "run_points", counted)
    stacked = cli("sweep", sweep, "--out", tmp_path / "a", "--jobs", "1")
    assert stacked.exit_code == 0, stacked.output
    assert units == [6]  # one call, one stack of 6 points
    assert "6 done, 0 running, 0 failed, 0 pending" in stacked.output
    units.clear()
    alone = cli(
        "sweep", sweep, "--out", tmp_path / "b", "--jobs", "1",
        "--set", "base.train.engine=sequential",
    )  # fmt: skip
    assert alone.exit_code == 0, alone.output
    a, b = _rows(tmp_path / "a" / "st"), _rows(tmp_path / "b" / "st")
    assert len(a) == 6 and a == b
    points = [p for p in (tmp_path / "a" / "st" / "points").iterdir()]
    assert len(points) == 6 and all((p / "point.json").is_file() for p in points)


def test_only_train_points_that_differ_in_seed_lr_or_weight_decay_share_a_stack():
    def point(seed, **train):
        cfg = {**TINY, "seeds": [seed], "train": {**TINY["train"], **train}}
        return {"id": f"{seed}{train}", "config": yaml.safe_dump(cfg), "seed": seed}

    pts = [point(0, lr=0.1), point(1, lr=0.2, weight_decay=0.01), point(0, epochs=5)]
    groups = sweep_module.stackable_groups(pts, "train")
    assert sorted(len(g) for g in groups) == [1, 2]
    assert sweep_module.stackable_groups(pts, "ablate") == [[p] for p in pts]
