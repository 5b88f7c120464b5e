"""Held-out metrics: accuracy, macro F1, the paper's efficiency ratio, expert usage, the
router's effective parameter count, CIs and paired tests."""

from __future__ import annotations

import copy
import dataclasses
import math
import random

import numpy as np
import torch
from scipy import stats
from sklearn.metrics import accuracy_score, f1_score

from qmoe_cli.models import MixtureOfExperts

ETA_DEFINITION = "eta = test accuracy (fraction in [0, 1]) / ln(1 + router parameters)"


@torch.no_grad()
def predict(model: MixtureOfExperts, x: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Predicted classes and gate probabilities, as numpy arrays."""
    model.eval()
    out = model(x)
    return out.logits.argmax(dim=1).numpy(), out.gates.double().numpy()


def efficiency(accuracy: float, router_params: int) -> float:
    """The paper's eta = accuracy / log(1 + P), with the natural log and P = router params."""
    return accuracy / math.log1p(router_params) if router_params > 0 else float("nan")


def expert_usage(gates: np.ndarray) -> dict:
    """How the router spreads inputs over experts."""
    n_experts = gates.shape[1]
    top_share = np.bincount(gates.argmax(axis=1), minlength=n_experts) / len(gates)
    entropy = -(gates * np.log(np.clip(gates, 1e-12, 1.0))).sum(axis=1).mean()
    return {
        "mean_gate": gates.mean(axis=0).round(6).tolist(),
        "top_expert_share": top_share.round(6).tolist(),
        "gate_entropy": float(entropy),  # nats, mean over inputs; max is ln(experts)
        "gate_entropy_max": math.log(n_experts),
        "unused_experts": int((top_share == 0).sum()),
    }


def per_class_accuracy(y: np.ndarray, pred: np.ndarray, n_classes: int) -> list[float]:
    """The accuracy on each class's rows (its recall), class index 0..n_classes-1; NaN for a
    class with no rows."""
    y, pred = np.asarray(y), np.asarray(pred)
    out = []
    for c in range(n_classes):
        rows = y == c
        out.append(float((pred[rows] == c).mean()) if rows.any() else float("nan"))
    return out


def evaluate(model: MixtureOfExperts, x: torch.Tensor, y: torch.Tensor) -> dict:
    """Accuracy, macro-F1 (sklearn's: the unweighted mean of the per-class F1 over the
    classes in y or the predictions), per-class accuracy (per_class_accuracy, one entry per
    class the model outputs) and expert usage."""
    pred, gates = predict(model, x)
    y = y.numpy()
    # the classes the model outputs (LinearExperts says; other experts: those seen)
    n_out = getattr(getattr(model, "experts", None), "n_outputs", None)
    n_classes = int(n_out) if n_out else int(max(y.max(initial=0), pred.max(initial=0))) + 1
    return {
        "accuracy": float(accuracy_score(y, pred)),
        "f1_macro": float(f1_score(y, pred, average="macro")),
        "per_class_accuracy": per_class_accuracy(y, pred, n_classes),
        "usage": expert_usage(gates),
    }


# Singular values of the gate Jacobian at or below EFFECTIVE_RTOL * sigma_max count as zero.
# Structural degeneracies (softmax's shift invariance, a circuit's unreachable directions)
# give singular values at machine-epsilon level (~1e-16 relative) in float64, genuine
# directions far above 1e-8, so the count does not hinge on the threshold.
EFFECTIVE_RTOL = 1e-8
REFERENCE_BACKENDS = ("pennylane", "lightning")  # ranked on the torch simulator
EFFECTIVE_MIN_INPUTS = 64
EFFECTIVE_MAX_INPUTS = 256


def effective_inputs(n_train: int, nominal: int, n_experts: int) -> int:
    """How many training inputs the effective parameter count uses:
    n = min(n_train, max(64, ceil(2 P / E)), 256) for P router parameters and E experts.

    The gates of one input sum to 1, so each input gives at most E - 1 independent rows of
    the Jacobian; with n >= 2 P / E inputs there are n (E - 1) >= P of them for E >= 2, so
    the number of inputs does not cap the rank below P (at the cap of 256 inputs, as long as
    P <= 256 (E - 1)). At least 64 inputs, so that small routers see the data's spread.
    """
    wanted = max(EFFECTIVE_MIN_INPUTS, math.ceil(2 * nominal / max(n_experts, 1)))
    return min(n_train, wanted, EFFECTIVE_MAX_INPUTS)


def gate_jacobian(model: MixtureOfExperts, x: torch.Tensor) -> torch.Tensor:
    """(N E, P) Jacobian of the gate probabilities model(x).gates with respect to the router's
    trainable parameters (flattened in model.router.parameters() order), in the model's dtype.
    The model must be a copy the caller may change: it is put in eval mode.

    One forward pass, then one backward pass per output. The quantum router's compiled
    kernel (a custom autograd.Function) supports neither vmap nor forward mode; and for
    the other routers torch.func's first call in a process imports torch._dynamo, which
    costs more than the N E <= 256 E backward passes of these routers (docs/performance.md,
    "Where the code's choices were measured")."""
    model.eval()
    shifted = shift_rule_gate_jacobian(model, x)
    if shifted is not None:
        return shifted
    params = [p for p in model.router.parameters() if p.requires_grad]
    with torch.enable_grad():
        return jacobian(model(x).gates.reshape(-1), params)


def shift_rule_gate_jacobian(model: MixtureOfExperts, x: torch.Tensor) -> torch.Tensor | None:
    """gate_jacobian of a quantum router on the torch simulators by the parameter-shift rule,
    or None where it does not apply (an adapter's classical parameters, top-k gates, another
    router). Every weight of qmoe's circuits is the angle of one rotation exp(-i t G / 2) with
    G^2 = 1 (RY; Rot's three angles each), so every output, probabilities under channels and
    readout error included (linear in the state), is a + b cos t + c sin t in each weight,
    and d out / d t = (out(t + pi / 2) - out(t - pi / 2)) / 2 exactly: 2P circuit evaluations
    in one stacked call instead of N x E backward passes one at a time (the compiled
    kernel's autograd node has no batching rule)."""
    from qmoe_cli.models.stacked_forms import stacked_circuit_outputs
    from qmoe_cli.quantum.torch_backend import TorchStatevector
    from qmoe_cli.quantum.torch_density import TorchDensityMatrix
    from qmoe_cli.quantum.torch_dephased import TorchDephased

    router = model.router
    backend = getattr(router, "backend", None)
    simulators = (TorchStatevector, TorchDensityMatrix, TorchDephased)
    if model.top_k is not None or getattr(router, "adapter", True) is not None:
        return None
    if not isinstance(backend, simulators) or getattr(router.noise, "shots", None) is not None:
        return None
    weights = router.weights.detach()
    n_weights = weights.numel()
    shifts = torch.eye(n_weights, dtype=weights.dtype) * (math.pi / 2)
    sets = torch.cat([weights.reshape(-1) + shifts, weights.reshape(-1) - shifts])
    sets = sets.reshape(2 * n_weights, *weights.shape)
    inputs = x.detach().to(weights.dtype).mT.expand(2 * n_weights, *x.shape[::-1])
    with torch.no_grad():
        out = stacked_circuit_outputs(backend, sets, inputs.contiguous())  # (2P, E, N)
    jac = (out[:n_weights] - out[n_weights:]) / 2  # (P, E, N)
    return jac.permute(2, 1, 0).reshape(-1, n_weights)


def probs_jacobian(model: MixtureOfExperts, x: torch.Tensor) -> torch.Tensor:
    """(N C, P) Jacobian of the class probabilities softmax(model(x).logits) with respect to
    every trainable parameter of the model (a copy the caller may change: put in eval)."""
    model.eval()
    params = [p for p in model.parameters() if p.requires_grad]
    with torch.enable_grad():
        return jacobian(torch.softmax(model(x).logits, -1).reshape(-1), params)


# The batched pass's first use in a process imports torch.fx's symbolic shapes (sympy); the
# first rows of a process are cheaper one backward pass at a time (docs/performance.md,
# "Where the code's choices were measured"): a one-seed `qmoe train` (two ranks of at most
# 4 x 122 rows) never pays the import.
ROWS_BEFORE_BATCHING = 1024
_rows_one_by_one = 0


def jacobian(outputs: torch.Tensor, params: list[torch.Tensor]) -> torch.Tensor:
    """(len(outputs), P) Jacobian; zeros for constant outputs (no trainable parameter reaches
    them) and for parameters an output does not use. All rows in one batched backward pass
    (autograd's is_grads_batched) where every operation has a batching rule, else one
    backward pass per output (the quantum kernel's custom Function has none)."""
    if not outputs.requires_grad:
        return torch.zeros(len(outputs), sum(p.numel() for p in params), dtype=outputs.dtype)
    global _rows_one_by_one
    if _rows_one_by_one < ROWS_BEFORE_BATCHING:
        _rows_one_by_one += len(outputs)
        return _jacobian_rows(outputs, params)
    try:
        grads = torch.autograd.grad(
            outputs,
            params,
            grad_outputs=torch.eye(len(outputs), dtype=outputs.dtype),
            retain_graph=True,
            allow_unused=True,
            is_grads_batched=True,
        )
    except RuntimeError:  # no batching rule: row by row
        return _jacobian_rows(outputs, params)
    return torch.cat(
        [
            (torch.zeros(len(outputs), p.numel(), dtype=outputs.dtype) if g is None else g).reshape(
                len(outputs), -1
            )
            for p, g in zip(params, grads, strict=True)
        ],
        dim=1,
    )


def _jacobian_rows(outputs: torch.Tensor, params: list[torch.Tensor]) -> torch.Tensor:
    rows = []
    for k in range(len(outputs)):
        grads = torch.autograd.grad(outputs[k], params, retain_graph=True, allow_unused=True)
        rows.append(
            torch.cat(
                [
                    (torch.zeros_like(p) if g is None else g).reshape(-1)
                    for p, g in zip(params, grads, strict=True)
                ]
            )
        )
    return torch.stack(rows)


def effective_params(model: MixtureOfExperts, x: torch.Tensor) -> dict:
    """The router's effective parameter count at its current weights: the numerical rank of
    the Jacobian of the gate probabilities (model(x).gates, N x E) with respect to the
    router's trainable parameters, over the inputs x (use the first `effective_inputs(...)`
    rows of the training split).

    Rank = number of singular values > EFFECTIVE_RTOL (1e-8) x the largest one, computed in
    float64 on a deep copy: the model passed in (weights, dtype, noise, mode) and the global
    random generators (torch, NumPy, random) are left as they were. The copy keeps the
    router's noise channels and readout error but not its shots: sampled frequencies have
    no gradient, so the rank is that of the probabilities they estimate. A circuit on
    PennyLane is ranked on the torch simulator (`on_torch_simulator`).
    Returns {"rank", "nominal" (trainable router parameters), "n_inputs", "rtol"}; the rank
    is None for a router whose backend gives no gradients (qiskit-aer).
    """
    return _numerical_rank(
        model,
        x,
        list(model.router.parameters()),
        gate_jacobian,
        getattr(model.router, "trainable", True),
    )


def model_effective_params(model: MixtureOfExperts, x: torch.Tensor) -> dict:
    """The whole model's effective parameter count (router and experts): the numerical rank
    of the Jacobian of its class probabilities softmax(model(x).logits) (N x C) with respect
    to every trainable parameter, over the inputs x; rank rule, copy and generators as
    `effective_params` (a model with shots is ranked on the probabilities they estimate).
    The measure for models whose experts carry the circuits (the fully quantum QMoE, the
    monolithic QNN), where the router's count says little. Returns {"rank", "nominal",
    "n_inputs", "rtol"}; rank None when a circuit's backend gives no gradients."""
    trainable = all(getattr(m, "trainable", True) for m in model.modules())
    return _numerical_rank(model, x, list(model.parameters()), probs_jacobian, trainable)


def on_torch_simulator(model: torch.nn.Module) -> torch.nn.Module:
    """A deep copy whose PennyLane circuits run on the torch simulator: the same functions
    (tests/test_quantum_backends.py holds them to 1e-6), for the many-row work done after
    training (ranks, figure grids) that lightning runs one input at a time."""
    twin = copy.deepcopy(model)
    for m in twin.modules():
        if getattr(m, "backend_name", None) in REFERENCE_BACKENDS:
            m.set_noise(m.noise, "torch")
    return twin


def uses_reference_backend(model: torch.nn.Module) -> bool:
    return any(getattr(m, "backend_name", None) in REFERENCE_BACKENDS for m in model.modules())


def _numerical_rank(model, x, params, jacobian_of, trainable: bool) -> dict:
    """The rank of jacobian_of(copy, x) over `params` (the model's parameters it differs
    by), on a float64 deep copy without shots, the generators left as they were."""
    nominal = sum(p.numel() for p in params if p.requires_grad)
    result = {"rank": 0, "nominal": nominal, "n_inputs": len(x), "rtol": EFFECTIVE_RTOL}
    if not trainable:
        result["rank"] = None
        return result
    if nominal == 0 or len(x) == 0:
        return result
    py_state, np_state = random.getstate(), np.random.get_state()
    try:
        with torch.random.fork_rng(devices=[]):
            twin = on_torch_simulator(model).to(torch.float64)
            for m in twin.modules():  # sampled frequencies have no gradient
                noise = getattr(m, "noise", None)
                if hasattr(m, "set_noise") and getattr(noise, "shots", None) is not None:
                    m.set_noise(dataclasses.replace(noise, shots=None))
            jac = jacobian_of(twin, x.detach().to(torch.float64))
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)
    if not torch.isfinite(jac).all():  # non-finite inputs or weights: no rank to speak of
        result["rank"] = None
        return result
    sv = torch.linalg.svdvals(jac)
    if len(sv) and sv[0] > 0:
        result["rank"] = int((sv > EFFECTIVE_RTOL * sv[0]).sum())
    return result


ACCURACY_RANGE = (0.0, 1.0)
COUNT_RANGE = (0.0, math.inf)  # epochs, parameters


def _clip(x: float, bounds: tuple[float, float] | None) -> float:
    return x if bounds is None or math.isnan(x) else min(max(x, bounds[0]), bounds[1])


def mean_ci(values, confidence: float = 0.95, bounds: tuple[float, float] | None = None) -> dict:
    """Mean, sample std and the t-based confidence interval of the mean.

    With `bounds` (the quantity's range, e.g. ACCURACY_RANGE) the interval is truncated to
    it: a mean accuracy cannot lie above 1, so neither can its interval.
    """
    v = np.asarray(values, dtype=float)
    mean = float(v.mean())
    if len(v) < 2:
        return {
            "mean": mean,
            "std": float("nan"),
            "ci_low": float("nan"),
            "ci_high": float("nan"),
            "n": len(v),
        }
    std = float(v.std(ddof=1))
    half = float(stats.t.ppf(0.5 + confidence / 2, len(v) - 1) * std / math.sqrt(len(v)))
    return {
        "mean": mean,
        "std": std,
        "ci_low": _clip(mean - half, bounds),
        "ci_high": _clip(mean + half, bounds),
        "n": len(v),
    }


def prediction_interval(
    values, confidence: float = 0.95, bounds: tuple[float, float] | None = None
) -> tuple[float, float]:
    """Where one more run would fall: mean +- t(1 - a/2, n - 1) * s * sqrt(1 + 1/n).

    This, not the CI of the mean, is what a paper's single-run number is judged against.
    Truncated to `bounds`; NaN with fewer than 2 values.
    """
    v = np.asarray(values, dtype=float)
    if len(v) < 2:
        return float("nan"), float("nan")
    mean, std = float(v.mean()), float(v.std(ddof=1))
    half = float(stats.t.ppf(0.5 + confidence / 2, len(v) - 1) * std * math.sqrt(1 + 1 / len(v)))
    return _clip(mean - half, bounds), _clip(mean + half, bounds)


def holm(pvalues: list[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values (NaN stays NaN and is not counted as a test)."""
    finite = sorted((p, i) for i, p in enumerate(pvalues) if not math.isnan(p))
    adjusted = [float("nan")] * len(pvalues)
    running = 0.0
    for rank, (p, i) in enumerate(finite):
        running = max(running, min(1.0, (len(finite) - rank) * p))
        adjusted[i] = running
    return adjusted


T_TEST = "paired t-test"
WILCOXON_NO_VARIANCE = "Wilcoxon signed-rank (differences have no variance)"
NO_TEST = "none (every seed gives the same accuracy)"
# Differences spread by less than this are equal: accuracies k / n differ from one seed to
# the next by rounding errors of ~1e-16, which must not give a t statistic of 1e15.
NO_VARIANCE_ATOL = 1e-12


def paired_comparison(
    a,
    b,
    name_a: str,
    name_b: str,
    confidence: float = 0.95,
    p_holm: float | None = None,
    n_comparisons: int | None = None,
) -> dict:
    """Seed-by-seed comparison of two variants' accuracies (same splits per seed).

    The difference a - b is summarised by its mean and t-based CI. The primary test (`p`,
    named in `test`) is the paired t-test (scipy.stats.ttest_rel); when the differences have
    no variance (every seed differs by the same nonzero amount, so t is undefined) it is the
    exact Wilcoxon signed-rank test, whose p is then 2 / 2^n for n seeds (so at least 0.0625
    with n < 6). `t_test_p` (NaN when undefined) and `wilcoxon_p` (scipy's default method)
    are given beside it. With every difference 0 there is nothing to test: p is NaN.

    With `p_holm` (this p adjusted over a family of `n_comparisons` comparisons, see
    compare_to_reference) the verdict is reached on, and states, the adjusted p.
    """
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    diff = a - b
    ci = mean_ci(diff, confidence)
    t_p = wilcoxon = float("nan")
    if len(diff) and np.any(diff):
        try:
            wilcoxon = float(stats.wilcoxon(a, b).pvalue)
        except ValueError:
            pass
    if not len(diff) or not np.any(diff):
        p, test = float("nan"), NO_TEST
    elif np.ptp(diff) <= NO_VARIANCE_ATOL:
        p, test = float(stats.wilcoxon(diff, method="exact").pvalue), WILCOXON_NO_VARIANCE
    else:
        t_p = float(stats.ttest_rel(a, b).pvalue)
        p, test = t_p, T_TEST
    decisive = p if p_holm is None else p_holm
    stated = f"{test} p = {_p(p)}"
    if p_holm is not None:
        stated += f", Holm-adjusted p = {_p(p_holm)} over {n_comparisons} comparisons"
    points = 100 * ci["mean"]
    if math.isnan(decisive) or decisive >= 1 - confidence:
        verdict = (
            f"no significant difference between {name_a} and {name_b} "
            f"({name_a} - {name_b} = {points:+.1f} points, {stated})"
        )
    else:
        winner, loser = (name_a, name_b) if points > 0 else (name_b, name_a)
        sign = 1 if points > 0 else -1  # state the CI of winner - loser
        low, high = sorted((100 * sign * ci["ci_low"], 100 * sign * ci["ci_high"]))
        if math.isnan(low):  # one seed: no CI
            interval = ""
        else:
            interval = f"{100 * confidence:.0f}% CI {low:.1f} to {high:.1f}, "
        verdict = f"{winner} beats {loser} by {abs(points):.1f} points ({interval}{stated})"
    row = {
        "a": name_a,
        "b": name_b,
        "n_seeds": len(diff),
        "mean_diff": ci["mean"],
        "ci_low": ci["ci_low"],
        "ci_high": ci["ci_high"],
        "p": p,
        "test": test,
        "t_test_p": t_p,
        "wilcoxon_p": wilcoxon,
    }
    if p_holm is not None:
        row["p_holm"] = p_holm
        row["n_comparisons"] = n_comparisons
    row["verdict"] = verdict
    return row


def compare_to_reference(
    reference: str, accuracies: dict[str, list[float]], confidence: float = 0.95
) -> list[dict]:
    """paired_comparison of the reference with every other variant, in `accuracies` order,
    with Holm-adjusted p-values over this family (`p_holm`, `n_comparisons`: the comparisons
    with a defined p) and verdicts reached on them."""
    others = [name for name in accuracies if name != reference]
    ref = accuracies[reference]
    plain = [paired_comparison(ref, accuracies[o], reference, o, confidence) for o in others]
    adjusted = holm([c["p"] for c in plain])
    k = sum(not math.isnan(c["p"]) for c in plain)
    return [
        paired_comparison(ref, accuracies[o], reference, o, confidence, p_holm=q, n_comparisons=k)
        for o, q in zip(others, adjusted, strict=True)
    ]


def _p(p: float) -> str:
    return "n/a" if math.isnan(p) else (f"{p:.3g}" if p >= 1e-4 else f"{p:.1e}")


# --- The decision framework's primitives (issue 25): intervals a single run is judged
# against, non-inferiority and equivalence on paired differences, Holm within claims.


def accuracy_prediction_interval(
    accuracies, n_test, confidence: float = 0.95
) -> tuple[float, float]:
    """Where one more run's accuracy on n_test test rows would fall, on the grid k / n_test.

    The t interval (`prediction_interval`) ignores that an accuracy is a count of rows: five
    runs at 100 % give [1, 1], though a single run can miss a row. Here the counts
    k_i = round(acc_i n_i) (accuracies off the k / n grid are rounded onto it) give the mean
    by pooling with a Jeffreys prior, mu = (K + 1/2) / (N + 1) (the posterior
    Beta(K + 1/2, N - K + 1/2)); the seeds' variance beyond the binomial gives the
    intra-class correlation rho (method of moments, floored at 0). The run's true accuracy
    (before its n rows are drawn) then has variance mu (1 - mu) (rho + deff / (N + 2)): the
    seeds' spread plus the posterior's, widened by the design effect deff = 1 + (n - 1) rho;
    the beta-binomial with that intra-class correlation and mean mu gives the quantiles.
    Without overdispersion this is exactly the Jeffreys posterior predictive
    betabinom(n, K + 1/2, N - K + 1/2), so the interval is symmetric at 0 and 100 %. With
    seed spread it is close to the t interval, but shorter toward the nearer end of [0, 1]
    (a beta's skew) and narrower for few seeds (rho is taken as known, unlike t's s).

    `n_test`: an int, or one per seed (the predicted run has the median, rounded); None
    (unknown) falls back to `prediction_interval(accuracies, confidence, ACCURACY_RANGE)`.
    NaN with fewer than 2 runs, as `prediction_interval`.
    """
    acc = np.asarray(accuracies, dtype=float)
    if n_test is None:
        return prediction_interval(acc, confidence, ACCURACY_RANGE)
    if len(acc) < 2:
        return float("nan"), float("nan")
    if np.any((acc < 0) | (acc > 1)):
        raise ValueError(f"accuracies must lie in [0, 1], got {acc.tolist()}")
    n = np.broadcast_to(np.asarray(n_test, dtype=int), acc.shape)
    if np.any(n < 2):
        raise ValueError(f"n_test must be at least 2 rows, got {np.asarray(n_test).tolist()}")
    k = np.round(acc * n)
    big_k, big_n = k.sum(), n.sum()
    mu = (big_k + 0.5) / (big_n + 1)
    h = float(np.mean(1 / n))  # E var(k_i / n_i) = mu (1 - mu) (rho + (1 - rho) h)
    rho = max(0.0, (np.var(k / n, ddof=1) / (mu * (1 - mu)) - h) / (1 - h))
    m = int(round(float(np.median(n))))
    rho_run = rho + (1 + (m - 1) * rho) / (big_n + 2)
    concentration = max(1 / rho_run - 1, 1e-9)  # alpha + beta of the run's accuracy
    run = stats.betabinom(m, mu * concentration, (1 - mu) * concentration)
    tail = (1 - confidence) / 2
    return float(run.ppf(tail)) / m, float(run.ppf(1 - tail)) / m


def epochs_prediction_interval(epochs, confidence: float = 0.95) -> tuple[float, float]:
    """Where one more run's epoch count would fall: the t prediction interval of
    log(epochs), exponentiated.

    Early-stopped counts are right-skewed (a few seeds run several times longer), so the
    interval on the raw counts is too wide below (its lower end was -9.3 epochs) and too
    narrow above; on the log scale it is multiplicative, always > 0, and centred on the
    geometric mean. NaN with fewer than 2 runs; counts must be > 0.
    """
    e = np.asarray(epochs, dtype=float)
    if np.any(e <= 0):
        raise ValueError(f"epoch counts must be > 0, got {e.tolist()}")
    low, high = prediction_interval(np.log(e), confidence)
    return math.exp(low), math.exp(high)


def share_within(values, bound: float, confidence: float = 0.95) -> tuple[float, float, float]:
    """(share, low, high): the share of seeds with value <= bound and its Wilson score
    interval.

    For a claim about single runs ("converges within 20 epochs") the share of seeds that
    do it is the answer, not the mean; Wilson's interval stays inside [0, 1] and is not
    empty at a share of 0 or 1, where the Wald interval collapses. NaN for no values.
    """
    v = np.asarray(values, dtype=float)
    if not len(v):
        return float("nan"), float("nan"), float("nan")
    k = int((v <= bound).sum())
    ci = stats.binomtest(k, len(v)).proportion_ci(confidence_level=confidence, method="wilson")
    return k / len(v), float(ci.low), float(ci.high)


def _paired_t(a, b) -> tuple[float, float, int, bool]:
    """Mean and standard error of d = a - b, its degrees of freedom and whether d is
    constant (spread <= NO_VARIANCE_ATOL: no t statistic)."""
    d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    constant = len(d) >= 2 and np.ptp(d) <= NO_VARIANCE_ATOL
    se = float(d.std(ddof=1) / math.sqrt(len(d))) if len(d) >= 2 else float("nan")
    return float(d.mean()) if len(d) else float("nan"), se, len(d) - 1, constant


def non_inferiority(a, b, margin: float, alpha: float = 0.05) -> dict:
    """Is a no worse than b by more than `margin`? One-sided paired t-test of
    H0: mean(a - b) <= -margin against H1: mean(a - b) > -margin.

    Failing to find a difference is not evidence of none; this test puts the burden the
    other way: a passes only if the data rule out a loss as large as the margin. `ok`
    (p < alpha) is equivalently `lower_bound` (the one-sided 1 - alpha confidence bound of
    the mean difference) > -margin; `flip_margin` = max(-lower_bound, 0) is the margin at
    which the verdict flips (it passes for any larger one), for a referee who prefers
    another margin. Differences without variance (every seed differs by the same c): the
    bound is c itself, ok = c > -margin, p 0 or 1. Fewer than 2 seeds: NaN, not ok.
    """
    mean, se, dof, constant = _paired_t(a, b)
    if dof < 1:
        lower = p = float("nan")
    elif constant:
        lower, p = mean, float(mean <= -margin)
    else:
        lower = mean - float(stats.t.ppf(1 - alpha, dof)) * se
        p = float(stats.t.sf((mean + margin) / se, dof))
    return {
        "mean_diff": mean,
        "lower_bound": lower,
        "p": p,
        "ok": bool(p < alpha),
        "flip_margin": max(0.0, -lower) if not math.isnan(lower) else float("nan"),
        "margin": margin,
        "alpha": alpha,
        "n": dof + 1,
    }


def equivalence(a, b, margin: float, alpha: float = 0.05) -> dict:
    """Are a and b equal to within `margin`? TOST: two one-sided paired t-tests, of
    H0: mean(a - b) <= -margin (p_lower) and of H0: mean(a - b) >= margin (p_upper).

    Both must reject, so p = max(p_lower, p_upper) and `ok` = p < alpha; equivalently the
    (1 - 2 alpha) CI of the mean difference [ci_low, ci_high] lies inside (-margin, margin).
    `flip_margin` = max(|ci_low|, |ci_high|): the margin at which the verdict flips.
    Differences without variance (every seed differs by the same c): the CI is [c, c],
    ok = |c| < margin, p 0 or 1. Fewer than 2 seeds: NaN, not ok.
    """
    mean, se, dof, constant = _paired_t(a, b)
    if dof < 1:
        low = high = p_lower = p_upper = float("nan")
    elif constant:
        low = high = mean
        p_lower, p_upper = float(mean <= -margin), float(mean >= margin)
    else:
        half = float(stats.t.ppf(1 - alpha, dof)) * se
        low, high = mean - half, mean + half
        p_lower = float(stats.t.sf((mean + margin) / se, dof))
        p_upper = float(stats.t.cdf((mean - margin) / se, dof))
    p = max(p_lower, p_upper) if dof >= 1 else float("nan")
    return {
        "mean_diff": mean,
        "ci_low": low,
        "ci_high": high,
        "p": p,
        "p_lower": p_lower,
        "p_upper": p_upper,
        "ok": bool(p < alpha),
        "flip_margin": max(abs(low), abs(high)),
        "margin": margin,
        "alpha": alpha,
        "n": dof + 1,
    }


def margin_sensitivity(test, a, b, margins, alpha: float = 0.05) -> list[tuple[float, bool]]:
    """(margin, ok) of `test` (non_inferiority or equivalence) at each margin: whether a
    verdict hangs on the margin chosen, as a small table or curve."""
    return [(m, test(a, b, m, alpha)["ok"]) for m in margins]


def noise_floor(accuracy: float, n_test: int) -> float:
    """sqrt(p (1 - p) / n_test): the standard error of one run's accuracy p from the finite
    test set alone (its rows a binomial sample). A margin below it asks the data to settle
    differences the test set cannot resolve; it is 0 at p = 0 or 1."""
    return math.sqrt(accuracy * (1 - accuracy) / n_test)


def adjust_families(tests: list[tuple[str, float]]) -> list[float]:
    """Holm-adjusted p of each (family, p) in `tests`, adjusted only within its family (the
    claim it bears on), in the input order; NaN stays NaN and is not counted.

    A claim's error rate is controlled over the tests that decide it: adjusting over every
    test in the report would make each claim's verdict depend on how many others there are.
    """
    adjusted = [float("nan")] * len(tests)
    for family in dict.fromkeys(key for key, _ in tests):
        where = [i for i, (key, _) in enumerate(tests) if key == family]
        for i, q in zip(where, holm([tests[i][1] for i in where]), strict=True):
            adjusted[i] = q
    return adjusted


# --- the breakdown point of a noise sweep ---------------------------------------------------


def crossings(levels, curves, baselines) -> np.ndarray:
    """Where each curve (row of `curves`, accuracy per level) first falls to its baseline:
    linear interpolation between the two levels around the fall; the first level if it is
    at or below there already (left-censored); NaN if never within the levels
    (right-censored). Always within [levels[0], levels[-1]]."""
    lv = np.asarray(levels, dtype=float)
    q = np.atleast_2d(np.asarray(curves, dtype=float))
    c = np.broadcast_to(np.asarray(baselines, dtype=float), q.shape[:1])
    below = q <= c[:, None]
    first = np.argmax(below, axis=1)
    out = np.full(len(q), np.nan)
    out[below[:, 0]] = lv[0]
    rows = np.flatnonzero(below.any(axis=1) & (first > 0))
    i = first[rows]
    q0, q1, base = q[rows, i - 1], q[rows, i], c[rows]
    l0, l1 = lv[i - 1], lv[i]
    out[rows] = np.clip(l0 + (q0 - base) / (q0 - q1) * (l1 - l0), l0, l1)
    return out


def breakdown(levels: list[float], quantum: list[float], classical: float) -> float | None:
    """First eps where the quantum accuracy falls to the classical one (linear
    interpolation between levels); the first level if it starts at or below; None if never."""
    eps = float(crossings(levels, [quantum], [classical])[0])
    return None if np.isnan(eps) else eps


BOOTSTRAP_METHOD = (
    "percentile bootstrap over seeds ({resamples} resamples with replacement, numpy "
    "default_rng(0)): in each, where the mean quantum accuracy over the resampled seeds "
    "first falls to the best baseline's mean over the same seeds (linear interpolation "
    "between levels, the first level if already at or below there); resamples that never "
    "fall within the levels are placed above the last level, and a quantile among them is "
    "reported as the last level and flagged censored"
)


def _best_baseline(baseline: np.ndarray) -> np.ndarray:
    """Per row of seed-averaged baselines (..., K), the best of the K baselines."""
    return baseline.max(axis=-1)


def breakdown_interval(
    levels,
    quantum_per_seed,
    baseline_per_seed,
    confidence: float = 0.95,
    resamples: int = 2000,
) -> dict:
    """The breakdown point of a noise sweep and its percentile-bootstrap interval over seeds.

    `quantum_per_seed` is (seeds x levels) test accuracies; `baseline_per_seed` the best
    baseline's accuracy per seed (seeds,), or (baselines x seeds) to take the best baseline
    by mean within every resample (and per seed for the per-seed crossings). Returns
    {"eps", "per_seed", "seeds_never", "seeds_at_first_level", "interval"}: eps is the
    crossing of the mean curve (None if it never falls within the levels); per-seed
    crossings use the same rule (None: never); the interval is None with fewer than 2
    seeds. Interval bounds always lie within [levels[0], levels[-1]], low <= high.
    """
    lv = np.asarray(levels, dtype=float)
    if lv.ndim != 1 or len(lv) < 1 or np.any(np.diff(lv) <= 0):
        raise ValueError("levels: give increasing noise levels")
    q = np.asarray(quantum_per_seed, dtype=float)
    base = np.asarray(baseline_per_seed, dtype=float)
    base = base[:, None] if base.ndim == 1 else base.T  # (seeds, K)
    if q.ndim != 2 or q.shape[1] != len(lv) or base.shape[0] != q.shape[0]:
        raise ValueError("quantum (seeds x levels) and baselines (seeds) do not match")
    n_seeds = q.shape[0]
    per_seed = crossings(lv, q, _best_baseline(base))
    point = float(crossings(lv, q.mean(axis=0), _best_baseline(base.mean(axis=0)))[0])
    result = {
        "eps": None if np.isnan(point) else point,
        "per_seed": [None if np.isnan(e) else float(e) for e in per_seed],
        "seeds_never": int(np.isnan(per_seed).sum()),
        "seeds_at_first_level": int((q[:, 0] <= _best_baseline(base)).sum()),
        "interval": None,
    }
    if n_seeds < 2:
        return result
    rng = np.random.default_rng(0)
    idx = rng.integers(0, n_seeds, size=(resamples, n_seeds))
    boot = crossings(lv, q[idx].mean(axis=1), _best_baseline(base[idx].mean(axis=1)))
    never = np.isnan(boot)
    ordered = np.sort(np.where(never, np.inf, boot))  # censored ones above the last level
    n_finite = int((~never).sum())

    def quantile(p: float) -> tuple[float, bool]:
        """Linear-interpolated quantile of the resampled crossings; censored if it needs
        a resample that never crossed."""
        pos = p * (resamples - 1)
        lo, hi = int(np.floor(pos)), int(np.ceil(pos))
        if hi >= n_finite:
            return float(lv[-1]), True
        value = ordered[lo] + (pos - lo) * (ordered[hi] - ordered[lo])
        return float(np.clip(value, lv[0], lv[-1])), False

    alpha = (1 - confidence) / 2
    (low, low_censored), (high, high_censored) = quantile(alpha), quantile(1 - alpha)
    result["interval"] = {
        "low": low,
        "high": high,
        "low_censored": low_censored,
        "high_censored": high_censored,
        "confidence": confidence,
        "resamples": resamples,
        "share_never": float(never.mean()),
        "method": BOOTSTRAP_METHOD.format(resamples=resamples),
    }
    return result
