"""Fashion-MNIST (Zalando Research: 70,000 28x28 images of clothing, 10 classes) from its IDX
files; there is no offline copy (`qmoe data fetch fashion-mnist` downloads them)."""

from __future__ import annotations

from qmoe_cli.data.idx import IdxImages, ImageSet


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
