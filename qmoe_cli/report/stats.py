"""Numbers as the report reads them: a mean over seeds with its interval (`Stat`), eta
from an accuracy, and a record's or a CSV cell's number as a float."""

from __future__ import annotations

import math
from dataclasses import dataclass

from qmoe_cli import records
from qmoe_cli.metrics import mean_ci


def to_float(value: float | str | None) -> float:
    """A record's number (or a CSV cell), NaN for null / empty (NaN is written as null)."""
    if value is None or isinstance(value, bool):
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


@dataclass(frozen=True)
class Stat:
    """A mean over seeds with its sample std and 95 % t-interval (NaN when not defined)."""

    mean: float
    std: float = math.nan
    ci_low: float = math.nan
    ci_high: float = math.nan
    n: int | None = None

    @classmethod
    def of(cls, s: records.Stat) -> Stat:
        """A record's mean_ci (None in the file: NaN)."""
        return cls.of_values(s.mean, s.std, s.ci_low, s.ci_high, s.n)

    @classmethod
    def of_values(
        cls,
        mean: float | str | None,
        std: float | str | None,
        ci_low: float | str | None,
        ci_high: float | str | None,
        n: int | None = None,
    ) -> Stat:
        """From a record's (or a CSV row's) columns; null or empty: NaN."""
        return cls(to_float(mean), to_float(std), to_float(ci_low), to_float(ci_high), n)

    @classmethod
    def over(cls, values: list[float], bounds: tuple[float, float]) -> Stat:
        """metrics.mean_ci of these values, the interval truncated to `bounds`."""
        return cls.of(records.Stat.model_validate(mean_ci(values, bounds=bounds)))

    @property
    def has_ci(self) -> bool:
        return math.isfinite(self.ci_low) and math.isfinite(self.ci_high)

    def contains(self, value: float) -> bool:
        return self.has_ci and self.ci_low <= value <= self.ci_high

    def scaled(self, factor: float) -> Stat:
        return Stat(
            self.mean * factor,
            self.std * factor,
            self.ci_low * factor,
            self.ci_high * factor,
            self.n,
        )


def eta_of(acc: Stat, router_params: int | None) -> Stat:
    """eta = accuracy / ln(1 + P): with P fixed across seeds, its CI is the accuracy CI scaled."""
    if not router_params or router_params <= 0:
        return Stat(math.nan)
    return acc.scaled(1.0 / math.log1p(router_params))
