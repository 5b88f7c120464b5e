"""README.md's generated block: the list of datasets, from the dataset registry
(qmoe_cli.data.DATASET_KINDS), between `<!-- datasets ... -->` and `<!-- /datasets -->`.

The README lists no docs pages: it links docs/index.md, the one list of them.
"""

from __future__ import annotations

import re
import textwrap

from qmoe_cli.data import DATASET_KINDS

BLOCK = re.compile(r"(<!-- datasets\b[^\n]*-->\n)(.*?)(<!-- /datasets -->)", re.S)
WIDTH = 95  # the README's prose width


def dataset_list() -> str:
    names = ", ".join(f"`{kind.name}`" for kind in DATASET_KINDS)
    text = f"Datasets ([docs/datasets.md](docs/datasets.md)): {names}."
    return textwrap.fill(text, WIDTH, break_long_words=False, break_on_hyphens=False)


def with_datasets(readme: str) -> str:
    """The README with its dataset block rewritten from the registry."""
    if not BLOCK.search(readme):
        raise ValueError("README.md: no <!-- datasets --> ... <!-- /datasets --> block")
    return BLOCK.sub(lambda m: f"{m.group(1)}{dataset_list()}\n{m.group(3)}", readme, count=1)
