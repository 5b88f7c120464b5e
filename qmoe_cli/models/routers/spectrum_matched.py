"""The spectrum-matched classical router: the quantum router's frequency spectrum, no circuit.

A quantum router with angle encoding computes gate probabilities that are trigonometric
polynomials of its inputs whose frequencies the encoding fixes (Schuld, Sweke, Meyer 2021):
feature f sits on r_f qubits (cyclically, quantum/spec.py), each of its gates R(x_f) puts
exp(+-i x_f / 2) into the amplitudes, so the probabilities hold frequencies -r_f..r_f in
x_f, and every output is a linear combination of the real features

    prod over f of {1, cos(k x_f), sin(k x_f)},  1 <= k <= r_f,

prod_f (2 r_f + 1) of them, the constant included (9 for 2 features on 2 qubits, 25 on 4).
This router is a linear map on exactly those features, with a softmax readout, held to at
most the quantum router's parameter count (`max_params`).

Readout: softmax over E logits, the last one fixed at 0 (the softmax is unchanged by adding
one function to every logit, so E - 1 free logits lose nothing). Softmax, not a squared
amplitude: the logits are then linear in the spectrum's features, so where the router sends
an input (its largest gate) is decided by differences of trigonometric polynomials with
exactly the circuit's spectrum, as the quantum router's grouped probabilities are; a squared
readout of a map on these features would double their frequencies (a spectrum-matched
squared readout needs the half-frequency amplitude features, which is a circuit again).

How the budget is met (`map`):

* `truncated`: the features in order of total frequency (sum of k_f), then number of
  non-constant factors, then feature, frequency, cos before sin; the first T kept with
  (E - 1)(T + 1) <= max_params (2 qubits, 4 experts, 24: 7 of the 8 terms, 24 parameters;
  4 qubits: 7 of 24).
* `low_rank`: all features, coefficient tensor of CP rank R: logit_e = b_e + sum_j a_ej
  prod_f (u_jf . phi_f(x_f)) with phi_f = (1, cos x_f, sin x_f, ..., sin r_f x_f): every
  term a linear combination of the spectrum's features (the products expand into them),
  (E - 1) + R ((E - 1) + sum_f (2 r_f + 1)) parameters, R the largest that fits
  (2 qubits: R = 2, 21 parameters; 4 qubits: R = 1, 16).
* `full`: every feature, (E - 1) prod_f (2 r_f + 1) parameters, no budget (a reference).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from qmoe_cli.errors import ConfigError
from qmoe_cli.models.base import RouterConfigBase


def frequency_limits(qubits: int, n_features: int) -> tuple[int, ...]:
    """r_f: how many of `qubits` embed feature f (quantum/spec.py, `frequency_limits`)."""
    return tuple(len(range(f, qubits, n_features)) for f in range(n_features))


def spectrum_layout(
    qubits: int, n_features: int, n_experts: int, map_: str, max_params: int | None
) -> tuple[int, int, int]:
    """(terms kept, CP rank or 0, parameters) of the router; ValueError led by the key when
    the budget holds no map."""
    limits = frequency_limits(qubits, n_features)
    free = n_experts - 1
    terms = 1
    for r in limits:
        terms *= 2 * r + 1
    terms -= 1  # the constant is the bias
    if map_ == "full":
        return terms, 0, free * (terms + 1)
    assert max_params is not None
    if map_ == "truncated":
        kept = min(terms, max_params // free - 1)
        if kept < 1:
            raise ValueError(
                f"model.router.max_params: {max_params} parameters hold no term for "
                f"{n_experts} experts (the least is {2 * free})"
            )
        return kept, 0, free * (kept + 1)
    per_rank = free + sum(2 * r + 1 for r in limits)
    rank = (max_params - free) // per_rank
    if rank < 1:
        raise ValueError(
            f"model.router.max_params: {max_params} parameters hold no rank-1 map for "
            f"{n_experts} experts and {n_features} features (the least is {free + per_rank})"
        )
    return terms, rank, free + rank * per_rank


class SpectrumMatchedRouterConfig(RouterConfigBase):
    """Softmax of a linear map on exactly the trigonometric features a quantum router's angle
    encoding can produce, within its parameter count (module docstring)."""

    type: Literal["spectrum_matched"] = Field(description="selects this router")
    qubits: int = Field(
        2,
        ge=1,
        le=20,
        description="qubits of the quantum router it matches: feature f is on the qubits q "
        "with q mod features = f, which fixes its frequencies -r_f..r_f",
    )
    max_params: int | None = Field(
        24,
        ge=2,
        description="the budget, the matched quantum router's parameter count (the paper's "
        "Model B: 24); null only with `map: full`",
    )
    map: Literal["truncated", "low_rank", "full"] = Field(
        "truncated",
        description="how the budget is met: `truncated`, the lowest-frequency terms that "
        "fit with a full map; `low_rank`, all terms with a coefficient tensor of the largest "
        "CP rank that fits; `full`, all terms, no budget (a reference)",
    )

    stacked_form = "qmoe_cli.models.stacked_forms:spectrum_matched_router"

    @model_validator(mode="after")
    def _budget(self) -> SpectrumMatchedRouterConfig:
        if (self.max_params is None) != (self.map == "full"):
            raise ValueError(
                "max_params: set it (the matched quantum router's parameter count) for map "
                "truncated or low_rank, and null for map full"
            )
        return self

    def check_fit(self, n_experts: int, n_features: int | None) -> None:
        if n_features is None:
            return
        if n_features > self.qubits:
            raise ValueError(
                f"model.router.qubits: {self.qubits} qubits cannot embed {n_features} input "
                "features (one feature per qubit)"
            )
        spectrum_layout(self.qubits, n_features, n_experts, self.map, self.max_params)

    def build(self, n_features: int, n_experts: int):
        from qmoe_cli.models.torch_routers import SpectrumMatchedRouter

        try:
            self.check_fit(n_experts, n_features)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        kept, rank, _ = spectrum_layout(
            self.qubits, n_features, n_experts, self.map, self.max_params
        )
        limits = frequency_limits(self.qubits, n_features)
        return SpectrumMatchedRouter(n_experts, limits, kept, rank)
