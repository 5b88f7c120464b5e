"""The user's own data: CSV and NPZ files, the label mapping, fixed test files, paths
relative to the config file, and one clear line for every bad file."""

import json
import math
from pathlib import Path

import numpy as np
import pytest
import yaml

from qmoe_cli.config import load_config, validate_config
from qmoe_cli.data import DataConfig, load_dataset
from qmoe_cli.errors import ConfigError, DataError

from .conftest import ROOT


def write_csv(path: Path, rows, header="x1,x2,label") -> Path:
    lines = ([header] if header else []) + [",".join(map(str, r)) for r in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def blobs(n=60, labels=(-1, 1), seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        c = i % len(labels)
        x = rng.normal(loc=2.0 * c, scale=0.5, size=2)
        rows.append([round(x[0], 4), round(x[1], 4), labels[c]])
    return rows


def csv_cfg(path, **kw):
    return DataConfig(name="csv", path=str(path), **kw)


# --- reading and mapping ----------------------------------------------------------------------


def test_csv_labels_are_mapped_in_sorted_order_and_recorded(tmp_path):
    f = write_csv(tmp_path / "d.csv", blobs(90, labels=("setosa", "versicolor", "virginica")))
    s = load_dataset(csv_cfg(f), 0)
    assert s.labels == ["setosa", "versicolor", "virginica"] and s.n_classes == 3
    assert s.info()["labels"] == s.labels
    assert (len(s.y_train), len(s.y_val), len(s.y_test)) == (63, 9, 18)  # the usual split
    assert "90 rows, 2 features, 3 classes, sha256" in s.source


def test_numeric_labels_sort_numerically(tmp_path):
    f = write_csv(tmp_path / "d.csv", blobs(60, labels=(10, 9, -1)), header=None)
    s = load_dataset(csv_cfg(f), 0)
    assert s.labels == ["-1", "9", "10"]  # not text order ("-1", "10", "9")
    X, y = np.array([[0.0, 1.0]] * 40), np.array([1.5, -0.5] * 20)
    np.savez(tmp_path / "d.npz", X=X + np.arange(40)[:, None], y=y)
    assert load_dataset(DataConfig(name="npz", path=str(tmp_path / "d.npz")), 0).labels == [
        "-0.5",
        "1.5",
    ]


def test_label_column_by_index_or_name_and_header_choices(tmp_path):
    rows = [[lab, a, b] for a, b, lab in blobs(40)]
    f = write_csv(tmp_path / "d.csv", rows, header="class,u,v")
    a = load_dataset(csv_cfg(f, label_column=0), 1)
    b = load_dataset(csv_cfg(f, label_column="class", header=True), 1)
    np.testing.assert_array_equal(a.X_train, b.X_train)
    assert a.labels == ["-1", "1"] and a.n_features == 2
    with pytest.raises(DataError, match=r"line 1, column 2 \('u'|line 1, column 2: 'u' is not"):
        load_dataset(csv_cfg(f, label_column=0, header=False), 1)
    with pytest.raises(DataError, match="no column named 'klass'"):
        load_dataset(csv_cfg(f, label_column="klass"), 1)
    with pytest.raises(ConfigError, match="label_column: the name 'class' needs a header"):
        validate_config({"data": {"name": "csv", "path": "x", "label_column": "class",
                                  "header": False}})  # fmt: skip


def test_fixed_test_file_and_training_only_scaling(tmp_path):
    train = write_csv(tmp_path / "train.csv", blobs(80, seed=1))
    test = write_csv(tmp_path / "test.csv", blobs(30, seed=2))
    cfg = csv_cfg(train, test_path=str(test), scaling="minmax_pi")
    s = load_dataset(cfg, 0)
    assert len(s.y_test) == 30 and len(s.y_train) + len(s.y_val) == 80
    assert len(s.y_val) == math.ceil(0.1 * 80)
    # the test rows are the test file's, in its order, scaled with the training fit
    raw = np.array([r[:2] for r in blobs(30, seed=2)], dtype=float)
    np.testing.assert_allclose(s.preprocessor.inverse_transform(s.X_test), raw, atol=1e-9)
    np.testing.assert_array_equal(s.y_test, [(r[2] + 1) // 2 for r in blobs(30, seed=2)])
    np.testing.assert_allclose(s.X_train.min(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(s.X_train.max(axis=0), math.pi, atol=1e-12)
    # validation is carved by seed; the test set does not move
    t = load_dataset(cfg, 1)
    np.testing.assert_array_equal(t.y_test, s.y_test)
    assert not np.array_equal(t.rows["val"], s.rows["val"])
    assert "test file" in s.source and str(test) in s.source


def test_npz_with_and_without_its_own_test_arrays(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 3))
    y = np.array(["no", "yes"] * 25)
    np.savez(tmp_path / "a.npz", X=X, y=y)
    s = load_dataset(DataConfig(name="npz", path=str(tmp_path / "a.npz")), 0)
    assert s.labels == ["no", "yes"] and s.n_features == 3 and len(s.y_test) == 10
    np.savez(tmp_path / "b.npz", X=X, y=y, X_test=X[:8], y_test=y[:8])
    s = load_dataset(DataConfig(name="npz", path=str(tmp_path / "b.npz"), scaling="none"), 0)
    np.testing.assert_array_equal(s.X_test, X[:8])
    assert "its X_test, y_test (8 rows)" in s.source
    np.savez(tmp_path / "t.npz", X=X[:6], y=y[:6])
    s = load_dataset(
        DataConfig(name="npz", path=str(tmp_path / "a.npz"), test_path=str(tmp_path / "t.npz")),
        0,
    )
    assert len(s.y_test) == 6


# --- paths ------------------------------------------------------------------------------------


def test_paths_resolve_against_the_config_file_and_are_written_absolute(tmp_path, monkeypatch):
    folder = tmp_path / "project"
    (folder / "data").mkdir(parents=True)
    write_csv(folder / "data" / "train.csv", blobs(60))
    write_csv(folder / "data" / "test.csv", blobs(20, seed=3))
    cfg_file = folder / "exp.yaml"
    cfg_file.write_text(
        yaml.safe_dump(
            {
                "kind": "train",
                "data": {"name": "csv", "path": "data/train.csv", "test_path": "data/test.csv"},
                "model": {"experts": {"count": 2}},
                "train": {"epochs": 2},
                "seeds": [0],
            }
        )
    )
    monkeypatch.chdir(tmp_path)  # not the config's folder
    cfg = load_config(cfg_file)
    assert cfg.data.path == str(folder / "data" / "train.csv")
    assert cfg.data.test_path == str(folder / "data" / "test.csv")
    # --set values are relative to the working directory
    cfg = load_config(cfg_file, ["data.test_path=project/data/test.csv"])
    assert cfg.data.test_path == str(folder / "data" / "test.csv")


def test_a_run_records_the_mapping_and_absolute_paths(tmp_path, write_config, cli, monkeypatch):
    write_csv(tmp_path / "train.csv", blobs(60, labels=("b", "a")))
    cfg = write_config(
        {
            "kind": "train",
            "name": "mine",
            "data": {"name": "csv", "path": "train.csv"},
            "model": {"experts": {"count": 2}},
            "train": {"epochs": 2},
            "seeds": [0],
        }
    )
    monkeypatch.chdir(ROOT)
    result = cli("train", cfg, "--out", tmp_path / "runs")
    assert result.exit_code == 0, result.output
    (run,) = (tmp_path / "runs").iterdir()
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["data"]["labels"] == ["a", "b"]
    assert metrics["per_seed"][0]["data"]["labels"] == ["a", "b"]
    written = yaml.safe_load((run / "config.yaml").read_text())
    assert written["data"]["path"] == str(tmp_path / "train.csv")


# --- one clear line per bad file ---------------------------------------------------------------


def bad(tmp_path, text, **kw):
    f = tmp_path / "bad.csv"
    f.write_text(text)
    with pytest.raises(DataError) as info:
        load_dataset(csv_cfg(f, **kw), 0)
    message = str(info.value)
    assert "\n" not in message
    return message


GOOD = "x1,x2,label\n" + "".join(f"{i},{i % 3},{i % 2}\n" for i in range(40))


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match=r"^data\.path: file not found: .*nope\.csv$"):
        load_dataset(csv_cfg(tmp_path / "nope.csv"), 0)
    f = write_csv(tmp_path / "ok.csv", blobs(40))
    with pytest.raises(DataError, match=r"^data\.test_path: file not found"):
        load_dataset(csv_cfg(f, test_path=str(tmp_path / "t.csv")), 0)


def test_non_numeric_cell_names_line_and_column(tmp_path):
    text = GOOD.replace("\n7,1,1\n", "\n7,abc,1\n")
    assert bad(tmp_path, text).endswith("bad.csv, line 9, column 2 (\"x2\"): 'abc' is not a number")
    text = GOOD.replace("\n7,1,1\n", "\n7,,1\n")
    assert 'line 9, column 2 ("x2"): an empty cell is not a number' in bad(tmp_path, text)


@pytest.mark.parametrize("value", ["nan", "inf", "-Infinity"])
def test_non_finite_cell(tmp_path, value):
    text = GOOD.replace("\n5,2,1\n", f"\n{value},2,1\n")
    message = bad(tmp_path, text)
    assert f"line 7, column 1 (\"x1\"): '{value}' is not a finite number" in message


def test_single_class(tmp_path):
    text = "a,b,c\n" + "".join(f"{i},{i},1\n" for i in range(30))
    assert "every row has label '1'; a classifier needs at least two classes" in bad(tmp_path, text)


def test_test_labels_unseen_in_training(tmp_path):
    write_csv(tmp_path / "test.csv", [[0.1, 0.2, 1], [0.3, 0.1, 2]])
    message = bad(tmp_path, GOOD, test_path=str(tmp_path / "test.csv"))
    assert message.startswith(f"{tmp_path / 'test.csv'}, line 3, column 3 (\"label\"): label '2'")
    assert "does not occur in the training file" in message and "(its labels: 0, 1)" in message


def test_column_counts_differ_between_files(tmp_path):
    write_csv(tmp_path / "test.csv", [[0.1, 0.2, 0.3, 1]], header="a,b,c,label")
    message = bad(tmp_path, GOOD, test_path=str(tmp_path / "test.csv"))
    assert message == (f"{tmp_path / 'test.csv'}, line 1: 4 columns, but the training file has 3")


def test_ragged_row_names_its_line(tmp_path):
    text = GOOD.replace("\n9,0,1\n", "\n9,0,1,5\n")
    assert bad(tmp_path, text).endswith("bad.csv, line 11: 4 columns, but line 1 has 3")


@pytest.mark.parametrize("text", ["", "\n\n", "x1,x2,label\n"])
def test_empty_file(tmp_path, text):
    message = bad(tmp_path, text)
    assert "the file is empty" in message or "a header but no data rows" in message


@pytest.mark.parametrize("column", [3, -4])
def test_label_column_out_of_range(tmp_path, column):
    message = bad(tmp_path, GOOD, label_column=column)
    assert message.startswith(f"data.label_column: {column} is out of range for the 3 columns")


def test_binary_and_non_utf8_files(tmp_path):
    f = tmp_path / "bin.csv"
    f.write_bytes(b"\xff\xfe\x00\x01garbage")
    with pytest.raises(DataError, match="not UTF-8 text"):
        load_dataset(csv_cfg(f), 0)
    f = tmp_path / "quotes.csv"
    f.write_text('a,b,y\n1,2,0\n1,"2"x,1\n')
    with pytest.raises(DataError, match=r"quotes\.csv, line 3: not valid CSV"):
        load_dataset(csv_cfg(f), 0)


def test_tab_separated_files(tmp_path):
    f = tmp_path / "d.tsv"
    f.write_text("x1\tx2\tlabel\n" + "".join(f"{i}\t{i % 3}\t{i % 2}\n" for i in range(40)))
    assert load_dataset(csv_cfg(f), 0).n_features == 2


def test_npz_errors_name_the_array_and_cell(tmp_path):
    X = np.ones((30, 2))
    X[4, 1] = np.nan
    np.savez(tmp_path / "n.npz", X=X, y=np.arange(30) % 2)
    with pytest.raises(DataError, match=r"n\.npz: X\[4, 1\] \(row 4, column 1\) is nan"):
        load_dataset(DataConfig(name="npz", path=str(tmp_path / "n.npz")), 0)
    np.savez(tmp_path / "m.npz", features=X)
    with pytest.raises(DataError, match=r"holds no array 'X' \(its arrays: features\)"):
        load_dataset(DataConfig(name="npz", path=str(tmp_path / "m.npz")), 0)
    (tmp_path / "z.npz").write_text("not a zip")
    with pytest.raises(DataError, match="z.npz: "):
        load_dataset(DataConfig(name="npz", path=str(tmp_path / "z.npz")), 0)
    np.savez(tmp_path / "w.npz", X=np.ones((30, 2)), y=np.arange(30) % 2, X_test=np.ones((3, 3)),
             y_test=np.zeros(3))  # fmt: skip
    with pytest.raises(DataError, match="X_test has 3 columns, but the training file has 2"):
        load_dataset(DataConfig(name="npz", path=str(tmp_path / "w.npz")), 0)


def test_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="data: path: required for dataset 'csv'"):
        validate_config({"data": {"name": "csv"}})
    with pytest.raises(ConfigError, match="'label_column' does not apply to dataset 'npz'"):
        validate_config({"data": {"name": "npz", "path": "a.npz", "label_column": 0}})
    with pytest.raises(ConfigError, match="with test_path the test rows are that file's"):
        validate_config(
            {"data": {"name": "csv", "path": "a", "test_path": "b", "n_train": 5, "n_test": 2}}
        )


def test_cli_error_is_one_line_with_exit_2(tmp_path, write_config):
    from .conftest import run_qmoe

    f = tmp_path / "d.csv"
    f.write_text(GOOD.replace("\n3,0,1\n", "\n3,zz,1\n"))
    cfg = write_config({"kind": "train", "data": {"name": "csv", "path": "d.csv"}, "seeds": [0]})
    result = run_qmoe("train", cfg, "--out", tmp_path / "runs")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "d.csv, line 5, column 2 (\"x2\"): 'zz' is not a number" in lines[0]


def test_shipped_example_config_loads():
    from qmoe_cli.kinds import load

    cfg = load(ROOT / "configs" / "examples" / "csv_xor.yaml")
    s = load_dataset(cfg.data, 0)
    assert s.labels == ["-1", "1"] and len(s.y_test) == 80 and s.n_features == 2
