"""Fashion-MNIST (Zalando Research: 70,000 28x28 images of clothing, 10 classes) from its IDX
files; when they are not found (and data.data_dir is null), the copy Debian's package
`dataset-fashion-mnist` installs (`apt-get install dataset-fashion-mnist`, or
`make data-fashion-mnist`): Zalando's four gzipped IDX files, MIT licence."""

from __future__ import annotations

from pathlib import Path

from qmoe_cli.data.idx import IdxImages, ImageSet, idx_files_at, read_idx_folder
from qmoe_cli.errors import DataError

# Where Debian's dataset-fashion-mnist puts the files; a module constant so tests can move it.
SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")
SYSTEM_COPY = "Debian's dataset-fashion-mnist"


class FashionMnist(IdxImages):
    name = "fashion_mnist"
    features = 784
    image_set = ImageSet(
        "Fashion-MNIST",
        "fashion-mnist",
        "FashionMNIST",
        # Zalando's S3 bucket and GitHub repository; MD5s from the fashion-mnist README
        # (torchvision publishes the same)
        mirrors=(
            "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
            "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
        ),
        md5={
            "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
            "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
            "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
            "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
        },
    )

    @classmethod
    def offline(cls, folder: Path, fetch_hint: str):
        files = idx_files_at(SYSTEM_DIR, cls.image_set)
        if files is None:
            raise DataError(
                f"data.name: Fashion-MNIST IDX files not found in {folder} nor in {SYSTEM_DIR} "
                f"({SYSTEM_COPY}); {fetch_hint}, or on Debian/Ubuntu: apt-get install "
                "dataset-fashion-mnist (or set data.data_dir)"
            )
        # Debian's build recompressed the files (their gzip MD5s differ from the published
        # ones), so they are checked as any copy is: IDX headers, sizes, labels.
        return read_idx_folder(cls.image_set, files, SYSTEM_DIR, f"{SYSTEM_COPY}; none in {folder}")
