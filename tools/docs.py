"""`make docs`: every generated page of the documentation, written from the code.

    python -m tools.docs        (from the repository root, what `make docs` runs)

* docs/configuration.md: every config key, from the pydantic models (config_reference.py);
* README.md's list of datasets, from the dataset registry (readme.py).

tests/test_docs.py fails when a committed file differs from `generated()`.
"""

from __future__ import annotations

import os
from pathlib import Path

from tools.config_reference import config_reference
from tools.readme import with_datasets

ROOT = Path(__file__).resolve().parent.parent


def generated() -> dict[Path, str]:
    """Each generated file -> the text the code gives it."""
    readme = ROOT / "README.md"
    return {
        ROOT / "docs" / "configuration.md": config_reference(),
        readme: with_datasets(readme.read_text(encoding="utf-8")),
    }


def main() -> None:
    for path, text in generated().items():
        if path.exists() and path.read_text(encoding="utf-8") == text:
            continue
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
        print(f"wrote {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
