"""Number formatting shared by the report's tables and claims (NaN / None -> "n/a")."""

from __future__ import annotations

import math
from typing import TypeGuard

from qmoe_cli.report.inputs import Stat

NA = "n/a"


def finite(x: object) -> TypeGuard[float]:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def num(x: object, digits: int = 3) -> str:
    if isinstance(x, float) and math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return f"{x:.{digits}f}" if finite(x) else NA


def pct(x: object, digits: int = 1) -> str:
    """An accuracy fraction as a percentage: 0.9412 -> '94.1 %'."""
    return f"{100 * x:.{digits}f} %" if finite(x) else NA


def eps(x: object) -> str:
    return f"{x:g}" if finite(x) else NA


def mean_std(s: Stat, unit: str = "accuracy") -> str:
    scale, digits, suffix = _style(unit)
    if not finite(s.mean):
        return NA
    std = f" ± {scale * s.std:.{digits}f}" if finite(s.std) else ""
    return f"{scale * s.mean:.{digits}f}{std}{suffix}"


def ci(s: Stat, unit: str = "accuracy") -> str:
    scale, digits, suffix = _style(unit)
    if not s.has_ci:
        return NA
    return f"[{scale * s.ci_low:.{digits}f}, {scale * s.ci_high:.{digits}f}]{suffix}"


def value(x: object, unit: str) -> str:
    scale, digits, suffix = _style(unit)
    if isinstance(x, tuple):
        return " to ".join(value(v, unit) for v in x)
    return f"{scale * x:.{digits}f}{suffix}" if finite(x) else NA


def with_ci(s: Stat, unit: str) -> str:
    """'60.4 % (95 % CI [33.9, 86.9] %, n = 2)'."""
    text = value(s.mean, unit)
    n = f", n = {s.n}" if s.n else ""
    return f"{text} (95 % CI {ci(s, unit)}{n})" if s.has_ci else f"{text} (no CI{n})"


def _style(unit: str) -> tuple[float, int, str]:
    return {
        "accuracy": (100.0, 1, " %"),
        "eta": (1.0, 3, ""),
        "epochs": (1.0, 1, ""),
        "eps": (1.0, 4, ""),
        "ratio": (1.0, 2, "x"),
        "params": (1.0, 0, ""),
    }.get(unit, (1.0, 3, ""))


def p_value(p: float) -> str:
    """A p-value: three significant digits, scientific below 1e-4; n/a when undefined."""
    return "n/a" if not finite(p) else (f"{p:.3g}" if p >= 1e-4 else f"{p:.1e}")


def censored_interval(low: float, high: float, low_censored: bool, high_censored: bool) -> str:
    """A bootstrap interval of a crossing point whose bounds may be censored: a censored
    bound lies beyond the last level swept (the value shown), so it reads ">= level"."""
    if low_censored and high_censored:
        return f"beyond the last level (>= {num(high, 4)})"
    lo = (">= " if low_censored else "") + num(low, 4)
    hi = (">= " if high_censored else "") + num(high, 4)
    return f"[{lo}, {hi}]"
