"""IDX image datasets (MNIST and Fashion-MNIST): reading the files, finding them, and
downloading them for `qmoe data fetch`.

A dataset stored as the four standard IDX files is a subclass of `IdxImages` naming its
`ImageSet` (title, fetch name, torchvision folder, mirrors, published MD5s): see mnist.py
and fashion_mnist.py. Images are flattened, scaled to [0, 1] (/ 255) and filtered to
`data.classes` before the split. numpy is imported inside the functions (the config package imports
this module through the dataset registry).
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import math
import os
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from pydantic import Field

from qmoe_cli import files
from qmoe_cli.data.base import Images
from qmoe_cli.data.common import keep_classes
from qmoe_cli.errors import DataError, QmoeError

if TYPE_CHECKING:
    import numpy as np

    from qmoe_cli.data import DataConfig

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
    # Where `qmoe data fetch` downloads from, tried in order, and the MD5 of each gzipped
    # file as published.
    mirrors: tuple[str, ...] = ()
    md5: dict[str, str] = field(default_factory=dict)


class IdxImages(Images):
    """28x28 images in the four standard IDX files (train and t10k, pooled)."""

    image_set: ClassVar[ImageSet]

    data_dir: str | None = Field(
        None,
        description="directory of the IDX files (default: lookup); relative to the working "
        "directory; null: `$QMOE_DATA_DIR/<name>`, else the user cache, else an offline copy "
        "(see [datasets.md](datasets.md))",
    )

    @classmethod
    def load(cls, cfg: DataConfig, seed: int):
        import numpy as np

        info = cls.image_set
        files, folder = find_idx_files(cls.name, cfg.data_dir, info)
        where = f" --dir {folder}" if cfg.data_dir else ""
        fetch_hint = f"run `qmoe data fetch {info.command}{where}` (downloads into {folder})"
        if files is None and cfg.data_dir:
            raise DataError(
                f"data.data_dir: no {info.title} IDX files ({IDX_FILES[0]}[.gz] ...) in "
                f"{folder}; " + fetch_hint
            )
        if files is not None:
            X, y, source = read_idx_folder(info, files, folder)
        else:
            offline = cls.offline(folder, fetch_hint)
            if offline is None:
                raise DataError(
                    f"data.name: {info.title} has no offline copy and its IDX files are not "
                    f"in {folder}; {fetch_hint} (or set data.data_dir)"
                )
            X, y, source = offline
        X, y, note = keep_classes(X, y, cfg)
        return X.astype(np.float32) / np.float32(255.0), y, source + note + ")"  # -> [0, 1]

    @classmethod
    def offline(cls, folder: Path, fetch_hint: str) -> tuple[np.ndarray, np.ndarray, str] | None:
        """A copy used when the IDX files are not found: (uint8 pixels, labels, the start
        of `source`, its parenthesis left open), or None when there is none."""
        return None


def read_idx_folder(
    image_set: ImageSet, files: dict[str, Path], folder: Path, what: str = ""
) -> tuple[np.ndarray, np.ndarray, str]:
    """The pooled images and labels of `files` and the start of `source` naming `folder` (and
    `what` copy it is), its parenthesis left open."""
    X, y, (n_train, n_t10k) = load_idx_dataset(files)
    counts = f"{len(y)} images: {n_train} train + {n_t10k} t10k, pooled"
    return X, y, f"{image_set.title} IDX files in {folder} ({what + '; ' if what else ''}{counts}"


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


# The largest real IDX file, MNIST's training images, is 47 MB unpacked.
MAX_IDX_BYTES = 256 * 2**20


@functools.lru_cache(maxsize=8)
def _read_idx_cached(path: str, magic: int, mtime_ns: int, size: int) -> np.ndarray:
    p = Path(path)
    try:
        if p.name.endswith(".gz"):
            files.check_regular(p)
            with gzip.open(p, "rb") as fh:
                raw = fh.read(MAX_IDX_BYTES + 1)  # a gzip bomb stops here
            if len(raw) > MAX_IDX_BYTES:
                raise files.Refused(f"larger than {files.describe_size(MAX_IDX_BYTES)} unpacked")
        else:
            raw = files.read_bytes(p, MAX_IDX_BYTES)
    except files.Refused as exc:
        raise DataError(f"cannot read IDX file {p}: {exc.reason}") from None
    except EOFError:
        raise DataError(f"cannot read IDX file {p}: truncated gzip stream") from None
    except (OSError, zlib.error) as exc:  # gzip.BadGzipFile is an OSError
        raise DataError(f"cannot read IDX file {p}: {exc}") from None
    return parse_idx(raw, magic, str(p))


def parse_idx(raw: bytes, magic: int, where: str) -> np.ndarray:
    """The bytes of an IDX file -> a read-only uint8 array; `where` names it in errors."""
    import numpy as np

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


def idx_files_at(folder: Path, image_set: ImageSet) -> dict[str, Path] | None:
    """The four IDX files in `folder` (each raw or gzipped), or None when none is there; some
    but not all four is an error naming the missing one."""
    files = _files_in(folder)
    if not any(files.values()):
        return None
    missing = [stem for stem, f in files.items() if f is None]
    if missing:
        raise DataError(
            f"{folder}: {image_set.title} IDX file {missing[0]}(.gz) is missing "
            f"(found {', '.join(f.name for f in files.values() if f)})"
        )
    return files  # type: ignore[return-value]


def find_idx_files(
    name: str, data_dir: str | None, image_set: ImageSet
) -> tuple[dict[str, Path] | None, Path]:
    """The four IDX files of dataset `name` (None when none is there) and the folder looked in.

    data.data_dir if set: that folder, or its `<name>/` subfolder, or torchvision's
    `MNIST/raw` (`FashionMNIST/raw`) layout under it. Otherwise $QMOE_DATA_DIR/<name> (or
    torchvision's layout under $QMOE_DATA_DIR), else the per-user cache folder. Each file may
    be gzipped (`.gz`). Some but not all four files present is an error naming the missing one.
    """
    tv = image_set.torchvision
    if data_dir:
        root = Path(data_dir).expanduser()
        folders = [root, root / name, root / tv / "raw"]
    elif os.environ.get("QMOE_DATA_DIR"):
        root = Path(os.environ["QMOE_DATA_DIR"]).expanduser()
        folders = [root / name, root / tv / "raw"]
    else:
        folders = [default_data_dir(name)]
    for folder in folders:
        files = idx_files_at(folder, image_set)
        if files is not None:
            return files, folder
    if not data_dir and os.environ.get("QMOE_DATA_DIR") and any(_files_in(root).values()):
        raise DataError(
            f"$QMOE_DATA_DIR={root} holds IDX files itself; it is a root with one folder per "
            f"dataset: move them into {root / name}"
        )
    return None, folders[0]


def load_idx_dataset(files: dict[str, Path]) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """Train and t10k files, checked and pooled: (N, 784) uint8 images, (N,) labels and the
    number of images of each part."""
    import numpy as np

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


# --------------------------------------------------------------------------- qmoe data fetch


class FetchError(QmoeError):
    """A download failed (network, server or checksum): exit code 1."""

    exit_code = 1


def fetch_files(
    title: str, mirrors: tuple[str, ...], md5s: dict[str, str], folder: Path, progress=None
) -> list[str]:
    """Download the gzipped IDX files named in `md5s` into `folder`, each verified against
    its published MD5 and parsed as IDX before it is kept; one status line per file.

    Files already there with the right checksum are kept as they are. `progress(description,
    total_bytes)` -> callable(advance) is an optional progress-bar factory.
    """
    from http.client import HTTPException

    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise FetchError(f"cannot create data folder {folder}: {exc.strerror or exc}") from None
    status = []
    for fname, md5 in md5s.items():
        target = folder / fname
        if target.is_file() and _md5(target) == md5:
            status.append(f"{fname}: already present, MD5 verified")
            continue
        part = folder / (fname + ".part")
        problems = []
        for mirror in mirrors:
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
                f"cannot download {title} file {fname}: "
                + "; ".join(problems)
                + f" (no network? copy the four IDX files into {folder} by hand)"
            )
    return status


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
