"""The docs: every config field is described on the field, the generated files (the config
reference, README's dataset list) are current and complete, README stays short, and every
relative link in README.md and docs/*.md leads somewhere."""

import importlib
import pkgutil
import re
from pathlib import Path

import pytest
from pydantic import BaseModel

from qmoe_cli import config as config_module
from tools import config_reference as docs
from tools.docs import generated

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = ROOT / "docs"
README_MAX_BYTES = 12_000
PAGES = sorted(DOCS.glob("*.md"))


def config_models() -> list[type[BaseModel]]:
    """Every config model with fields, in the modules declaring them (qmoe_cli/config.py,
    the dataset registry, each router and experts kind) and the sweep module."""
    import qmoe_cli.experiments.sweep as sweep_module

    found: list[type[BaseModel]] = []
    for module in (*docs.config_modules(), sweep_module):
        for obj in vars(module).values():
            if (
                isinstance(obj, type)
                and issubclass(obj, BaseModel)
                and obj.__module__ == module.__name__
                and obj.model_fields
                and obj not in found
            ):
                found.append(obj)
    return found


def tables_by_model(text: str) -> dict[str, set[str]]:
    """'module.Model' -> the keys in its table, from the `Model: ...` line of each section."""
    out: dict[str, set[str]] = {}
    current = None
    for line in text.splitlines():
        if line.startswith("#"):
            current = None
        found = re.search(r"Model: `([\w.]+)`", line)
        if found:
            current = found.group(1)
            out.setdefault(current, set())
        elif current and line.startswith("| `"):
            out[current].add(line.split("`")[1])
    return out


@pytest.mark.parametrize("path", list(generated()), ids=lambda p: p.name)
def test_generated_docs_are_current(path):
    committed = path.read_text(encoding="utf-8") if path.exists() else ""
    assert committed == generated()[path], (
        f"{path.relative_to(ROOT)} is out of date with the code: run `make docs` and commit "
        "the result"
    )


def test_every_field_of_every_config_model_is_in_the_reference():
    tables = tables_by_model(docs.config_reference())
    shared = set(config_module.ExperimentConfig.model_fields)
    experiment = f"{config_module.ExperimentConfig.__module__}.ExperimentConfig"
    models = config_models()
    assert {"ExperimentConfig", "DataConfig", "NoiseConfig", "SweepConfig", "SlurmConfig"} <= {
        m.__name__ for m in models
    }
    missing = []
    for model in models:
        key = f"{model.__module__}.{model.__name__}"
        if key not in tables:
            missing.append(f"{model.__name__}: no section")
            continue
        for name in model.model_fields:
            in_shared = issubclass(model, config_module.ExperimentConfig) and name in shared
            if name not in (tables[experiment] if in_shared else tables[key]):
                missing.append(f"{model.__name__}.{name}")
    assert not missing, f"not in docs/configuration.md: {', '.join(missing)} (run `make docs`)"


def declared_config_models() -> list[type[BaseModel]]:
    """Every config model: the packages declaring them imported module by module, then every
    subclass of the strict config base (schema.Strict), wherever it was declared."""
    import qmoe_cli.data
    import qmoe_cli.models.experts
    import qmoe_cli.models.routers
    from qmoe_cli.schema import Strict

    for package in (config_module, qmoe_cli.data, qmoe_cli.models.routers, qmoe_cli.models.experts):
        for info in pkgutil.iter_modules(package.__path__, f"{package.__name__}."):
            importlib.import_module(info.name)
    found: list[type[BaseModel]] = []
    pending = [Strict]
    while pending:
        model = pending.pop()
        pending += model.__subclasses__()
        if model not in found:
            found.append(model)
    return found


def test_every_field_of_every_config_model_has_a_description():
    """Field descriptions live on the fields (Field(description=...)): the reference reads
    them from there, and nowhere else holds them."""
    models = declared_config_models()
    names = {m.__name__ for m in models}
    assert {"ExperimentConfig", "DataConfig", "NoiseConfig", "TwoMoons", "Generated"} <= names
    missing = [
        f"{model.__module__}.{model.__name__}.{name}"
        for model in models
        for name, field in model.model_fields.items()
        if not (field.description or "").strip()
    ]
    assert not missing, "fields without Field(description=...): " + ", ".join(missing)


def test_type_and_default_rendering():
    assert docs.type_text(int | None) == "int or null"
    field = config_module.QuantumRouterConfig.model_fields["qubits"]
    assert docs.type_text(field.annotation, field.metadata) == "int (1 to 20)"
    field = config_module.DataConfig.model_fields["test_fraction"]
    assert docs.type_text(field.annotation, field.metadata) == "float (0 < x < 1)"
    assert docs.default_text(config_module.ExperimentConfig.model_fields["seeds"]) == (
        "`[0, 1, 2, 3, 4]`"
    )
    assert docs.default_text(config_module.ModelConfig.model_fields["router"]) == (
        "`{type: linear}`"
    )
    assert docs.default_text(config_module.VariantConfig.model_fields["router"]) == "required"


def test_readme_is_short_and_names_the_test_command():
    size = README.stat().st_size
    assert size <= README_MAX_BYTES, f"README.md is {size} bytes; move reference into docs/"
    assert "make test" in README.read_text(encoding="utf-8")  # CI relies on it


def test_index_lists_every_page():
    index = (DOCS / "index.md").read_text(encoding="utf-8")
    unlisted = [p.name for p in PAGES if p.name != "index.md" and f"]({p.name})" not in index]
    assert not unlisted, f"docs/index.md does not link {', '.join(unlisted)}"


def test_datasets_page_has_a_row_for_every_dataset_of_the_registry():
    from qmoe_cli.data import DATASETS

    page = (DOCS / "datasets.md").read_text(encoding="utf-8")
    missing = [name for name in DATASETS if f"\n| `{name}` |" not in page]
    assert not missing, f"docs/datasets.md's table has no row for {', '.join(missing)}"


# --------------------------------------------------------------------------- links

FENCE = re.compile(r"^(```|~~~).*?^\1", re.S | re.M)
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")


def _prose(text: str) -> str:
    """The text without fenced code blocks and inline code spans."""
    return re.sub(r"`[^`\n]*`", "", FENCE.sub("", text))


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to '-'."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    out = set()
    for line in FENCE.sub("", path.read_text(encoding="utf-8")).splitlines():
        found = re.match(r"#{1,6}\s+(.*)", line)
        if found:
            base = slug(found.group(1))
            n = seen.get(base, 0)
            seen[base] = n + 1
            out.add(base if n == 0 else f"{base}-{n}")
    return out


@pytest.mark.parametrize("page", [README, *PAGES], ids=lambda p: p.name)
def test_relative_links_point_to_existing_files(page):
    broken = []
    for target in LINK.findall(_prose(page.read_text(encoding="utf-8"))):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
            continue
        file_part, _, anchor = target.partition("#")
        dest = (page.parent / file_part).resolve() if file_part else page
        if not dest.exists():
            broken.append(f"{target} (no such file)")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            broken.append(f"{target} (no heading #{anchor} in {dest.name})")
    assert not broken, f"{page.relative_to(ROOT)}: broken links: {'; '.join(broken)}"
