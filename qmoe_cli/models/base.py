"""What a router kind and an experts kind are.

A kind is one config class in a module of its own (models/routers/<type>.py,
models/experts/<type>.py), listed once in its registry (`ROUTERS` in
models/routers/__init__.py, `EXPERTS` in models/experts/__init__.py). The class is strict
pydantic: `type: Literal["<type>"]` selects it under `model.router` / `model.experts`, its
other fields are its keys (with ranges and descriptions), and its `build` method makes the
torch module. The registries build the config unions, and `build_model` calls `build`: no
other file names a kind.

Every kind also declares, beside its config, how the stacked engine trains it (many models
of one config as one, training/stacked.py), as exactly one of two class attributes:
`stacked_form = "<module>:<name>"`, the import path of its `StackedForm`
(models/stacked_forms.py: the shipped kinds' forms, e.g. "qmoe_cli.models.stacked_forms:
linear_router"), or `no_stacked_form = "<why not>"`, and its seeds train one model at a time
(`stacked.supports` says so, with that reason). A kind declaring neither, or both, is an error
(`stacked_declaration`; tests/test_registries.py checks every registered kind).

the config package imports these modules, so they import no torch at module level: `build` imports
the module it returns (torch_routers.py, torch_experts.py, quantum_router.py, or a module
of the new kind's own) when called.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, get_args

from pydantic import Field

from qmoe_cli.schema import Strict

if TYPE_CHECKING:
    from torch import nn


class RouterConfigBase(Strict):
    """A router: maps (batch, features) to gate probabilities (batch, experts), rows summing
    to 1. Its trainable parameters count as router parameters, and the effective parameter
    count differentiates its gates (a router whose outputs carry no gradient sets
    `trainable = False` on its module)."""

    stacked_form: ClassVar[str]  # its StackedForm's import path, or:
    no_stacked_form: ClassVar[str]  # why it has none (module docstring)

    def build(self, n_features: int, n_experts: int) -> nn.Module:
        """The router module, its parameters drawn from torch's (seeded) generator. A
        combination only detectable here is a ConfigError naming `model.router`."""
        raise NotImplementedError(f"{type(self).__name__}.build")

    def check_fit(self, n_experts: int, n_features: int | None) -> None:
        """Checks against the rest of the model, at validation time: raise ValueError led by
        the dotted key (`model.experts.count: ...`). `n_features` is the input width when
        known before loading (config.n_input_features), else None."""


class ExpertsConfigBase(Strict):
    """Experts: map (batch, features) to logits (batch, experts, classes). Every kind has
    `count`, the number of experts, and its module a `count` attribute."""

    stacked_form: ClassVar[str]  # its StackedForm's import path, or:
    no_stacked_form: ClassVar[str]  # why it has none (module docstring)

    type: str = Field(description="selects the experts kind")  # each kind narrows it
    count: int = Field(
        2,
        ge=2,
        le=1024,
        description="number of experts (at least 2); the shipped configs use 4, the notebook "
        "ones 2",
    )

    def build(self, n_features: int, n_classes: int) -> nn.Module:
        raise NotImplementedError(f"{type(self).__name__}.build")

    def check_fit(self, n_features: int | None) -> None:
        """Checks against the input width at validation time (None: known only once
        loaded): raise ValueError led by the dotted key, as routers do."""


def type_tag(kind: type[Strict]) -> str:
    """The value of `type` that selects a kind."""
    return get_args(kind.model_fields["type"].annotation)[0]


def stacked_declaration(kind: type[Strict]) -> tuple[str | None, str | None]:
    """(stacked_form, no_stacked_form) of a router or experts kind, exactly one of them not
    None: the nearest declaration along its classes (a subclass may redeclare). TypeError when
    it declares neither or both."""
    keys = ("stacked_form", "no_stacked_form")
    for cls in kind.__mro__:
        declared = [vars(cls).get(key) for key in keys]
        if all(declared):
            raise TypeError(f"{kind.__name__} declares both stacked_form and no_stacked_form")
        if any(declared):
            return declared[0], declared[1]
    raise TypeError(
        f"{kind.__name__} declares neither stacked_form (the import path of its stacked form) "
        "nor no_stacked_form (why it has none): see docs/extending.md"
    )
