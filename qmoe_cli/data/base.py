"""What a dataset kind is, and the keys several kinds share.

A dataset kind is one subclass of `Dataset` in a module of its own (qmoe_cli/data/<name>.py),
listed once in `DATASET_KINDS` (qmoe_cli/data/__init__.py). The class holds everything
about the dataset:

- `name`: the value of `data.name` that selects it;
- `features`: its input width before PCA when known without loading it (None otherwise), so
  a quantum router with too few qubits is rejected when the config is validated;
- its own config keys, declared as pydantic fields with the dataset's defaults. `DataConfig`
  holds the keys of every kind: a key is null for the kinds that do not declare it (setting
  it there is an error, "'noise' does not apply to dataset 'mnist'"), and its default is
  filled in for the kinds that do;
- `check(cfg)`: checks across its own keys (raise ValueError with the key first);
- `load(cfg, seed) -> (X, y, source)`: the rows, their labels and exactly what was loaded
  (written into every run's metrics.json). Anything random is drawn from `seed`;
- `splits(cfg, seed) -> Splits`: loading and splitting in one; the default splits `load`'s
  rows by seed (common.split_and_preprocess). A kind with a fixed test set of its own
  (user files with `test_path`) overrides it;
- `input_width(cfg)`: the input width before PCA when known without loading: `features`,
  or, for a kind whose width is one of its keys (the literature's generators), that key;
- `path_keys`: the keys holding file paths; a config file's relative paths in them are
  resolved against the config file's folder when it is read (config.read_yaml), other
  relative paths (`--set`) against the working directory, so every resolved config (a run
  folder's config.yaml) holds absolute paths.

This module, the kinds' modules and qmoe_cli/data/__init__.py are imported by the config package,
so they import no numpy, sklearn or torch at module level: loaders import them inside.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, ClassVar, Literal

from pydantic import Field, create_model
from pydantic.fields import FieldInfo

from qmoe_cli.schema import Strict

if TYPE_CHECKING:
    import numpy as np

    from qmoe_cli.data import DataConfig
    from qmoe_cli.data.common import Splits


class Dataset(Strict):
    """One dataset kind: its own config keys (the fields) and its loader."""

    name: ClassVar[str]
    features: ClassVar[int | None] = None
    path_keys: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def load(cls, cfg: DataConfig, seed: int) -> tuple[np.ndarray, np.ndarray, str]:
        raise NotImplementedError(f"{cls.__name__}.load")

    @classmethod
    def splits(cls, cfg: DataConfig, seed: int) -> Splits:
        """The loaded rows split by seed, PCA and scaling fitted on the training rows."""
        from qmoe_cli.data.common import split_and_preprocess

        X, y, source = cls.load(cfg, seed)
        return split_and_preprocess(X, y, cfg, seed, source)

    @classmethod
    def input_width(cls, cfg: DataConfig) -> int | None:
        """The input width before PCA when known without loading (None otherwise)."""
        return cls.features

    @classmethod
    def check(cls, cfg: DataConfig) -> None:
        """Checks across this dataset's own keys, after each key's own: raise ValueError."""


class Generated(Dataset):
    """A synthetic dataset drawn from `seed`: n_samples points with Gaussian noise."""

    n_samples: int = Field(1000, ge=20, le=1_000_000, description="points generated")
    noise: float = Field(0.1, ge=0.0, le=10.0, description="std of the Gaussian noise")


class Images(Dataset):
    """Labelled images, flattened and scaled to [0, 1] by the loader, optionally filtered to
    some labels (`classes`, applied with `common.keep_classes` before the split)."""

    classes: list[Annotated[int, Field(ge=0, le=9)]] | None = Field(
        None,
        description="keep only these labels (default: all); at least two, distinct, e.g. `[0, 1]`",
    )

    @classmethod
    def check(cls, cfg: DataConfig) -> None:
        if cfg.classes is not None and (
            len(cfg.classes) < 2 or len(set(cfg.classes)) != len(cfg.classes)
        ):
            raise ValueError("classes: give at least two distinct labels, e.g. [0, 1]")


# --------------------------------------------------------------------------- the registry's keys


def own_fields(kind: type[Dataset]) -> dict[str, FieldInfo]:
    """A dataset kind's own config keys (those of `Dataset` itself excluded: it has none)."""
    return {k: f for k, f in kind.model_fields.items() if k not in Dataset.model_fields}


def dataset_keys(kinds: tuple[type[Dataset], ...]) -> dict[str, tuple[str, ...]]:
    """Each dataset key -> the datasets that declare it (in registry order)."""
    out: dict[str, tuple[str, ...]] = {}
    for kind in kinds:
        for key in own_fields(kind):
            out[key] = (*out.get(key, ()), kind.name)
    return out


def keys_model(kinds: tuple[type[Dataset], ...], default: str) -> type[Strict]:
    """A model holding `name` (one of the kinds, `default` if not given) and every kind's own
    keys, each null by default and described with the datasets it applies to (and, when
    they have a default, as null for the others).

    A key several kinds declare must be declared alike (type, constraints, description),
    as it is when they inherit it (`Generated`, `Images`); its default may differ.
    """
    names = tuple(kind.name for kind in kinds)
    if len(set(names)) != len(names):
        raise TypeError(f"dataset names repeat in the registry: {names}")
    name_field = Field(default, description="the dataset, see [datasets.md](datasets.md)")
    fields: dict = {"name": (Literal[names], name_field)}
    for key, applies in dataset_keys(kinds).items():
        decls = [(kind.name, own_fields(kind)[key]) for kind in kinds if kind.name in applies]
        first = decls[0][1]
        for name, info in decls[1:]:
            if _shape(info) != _shape(first):
                raise TypeError(
                    f"data key '{key}' is declared differently by datasets "
                    f"'{decls[0][0]}' and '{name}'"
                )
        defaults = {n: f.get_default(call_default_factory=True) for n, f in decls}
        defaults = {n: v for n, v in defaults.items() if v is not None}
        if len(set(map(repr, defaults.values()))) == 1:
            note = f" ({next(iter(defaults.values()))})"
        else:
            note = " (" + ", ".join(f"{n}: {v}" for n, v in defaults.items()) + ")"
        who = f"{applies[0]} only" if len(applies) == 1 else ", ".join(applies)
        description = f"{who}: {first.description or key}"
        if defaults:
            description += f"{note}; null for the other datasets"
        info = FieldInfo.merge_field_infos(first, default=None, description=description)
        fields[key] = (first.annotation | None, info)
    return create_model("DatasetKeys", __base__=Strict, __module__=__name__, **fields)


def _shape(info: FieldInfo) -> tuple[str, str, str | None]:
    return repr(info.annotation), repr(info.metadata), info.description
