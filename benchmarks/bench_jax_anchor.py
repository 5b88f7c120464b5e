"""qmoe's stacked training against a JAX anchor: the same Model B training in JAX, vmap over
the models and lax.scan over each epoch's batches, compiled per epoch by XLA.

    .venv/bin/python -m pip install jax   # optional, for benchmarks only (never at runtime)
    .venv/bin/python benchmarks/bench_jax_anchor.py                # S = 5, 20, 100, 500; 20 epochs
    .venv/bin/python benchmarks/bench_jax_anchor.py --quick        # S = 5, 20; 5 epochs
    .venv/bin/python benchmarks/bench_jax_anchor.py --sizes 5 20 --repeats 5 --json out.json

Model B of the paper's ablation (2 qubits x 12 ry_cz layers, RY embedding, basis-state
probabilities as the gates of 4 linear experts), Two Moons 1000 points (each seed's own 700
training rows, as qmoe splits them), batch 32, Adam lr 0.01, float64, no early stopping,
one thread each (torch's and XLA's). Per model-epoch wall time of S models trained together:
qmoe's `fit_stacked` (the stacked engine as it runs by default) and the JAX program, which
per epoch draws each model's permutation (jax.random), scans its 22 batches (forward,
jax.grad, Adam) and evaluates the validation rows, all models at once by vmap; one jitted
call per epoch, compiled before timing (its compile time is printed apart). The two sides
alternate, `--repeats` times per S, and the medians' ratio qmoe / JAX is printed per S.
The JAX side starts from its own initialisation (the arithmetic per step is the same; the
numbers trained are not compared).
"""

from __future__ import annotations

import os

# one thread for XLA, before jax is imported (torch: set_num_threads(1) below)
os.environ.setdefault(
    "XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
)
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import argparse  # noqa: E402
import copy  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from qmoe_cli.config import validate_config  # noqa: E402
from qmoe_cli.data import load_dataset  # noqa: E402
from qmoe_cli.models import build_model  # noqa: E402
from qmoe_cli.training import seed_everything  # noqa: E402
from qmoe_cli.training.stacked import fit_stacked, supports  # noqa: E402

console = Console(width=140)
ROUTER = {
    "type": "quantum",
    "qubits": 2,
    "layers": 12,
    "ansatz": "ry_cz",
    "embedding": "ry",
    "readout": "probs",
}
N_QUBITS, N_LAYERS, N_EXPERTS, BATCH, LR = 2, 12, 4, 32, 0.01


def config(epochs: int):
    return validate_config(
        {
            "data": {"name": "two_moons", "n_samples": 1000, "scaling": "minmax_pi"},
            "model": {"router": ROUTER, "experts": {"count": N_EXPERTS}},
            "train": {"epochs": epochs, "batch_size": BATCH, "lr": LR, "early_stopping": False},
        }
    )


def build(cfg, seeds):
    models, splits = [], []
    for seed in seeds:
        split = load_dataset(cfg.data, seed)
        seed_everything(seed)
        models.append(build_model(cfg.model, split.n_features, split.n_classes))
        splits.append(split)
    return models, splits


def qmoe_ms(cfg, built, seeds) -> float:
    models, splits = copy.deepcopy(built[0]), built[1]
    start = time.perf_counter()
    fit_stacked(models, cfg.model, splits, cfg.train, seeds)
    return (time.perf_counter() - start) * 1e3 / (len(seeds) * cfg.train.epochs)


# ----------------------------------------------------------------- the JAX anchor


def jax_trainer(splits):
    """(init(S) -> state, epoch(state) -> state, jitted): Model B for every split at once."""
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
    x = jnp.asarray(np.stack([s.X_train for s in splits]), dtype=jnp.float64)  # (S, n, F)
    y = jnp.asarray(np.stack([s.y_train for s in splits]))
    xv = jnp.asarray(np.stack([s.X_val for s in splits]), dtype=jnp.float64)
    yv = jnp.asarray(np.stack([s.y_val for s in splits]))
    n = x.shape[1]
    batches = -(-n // BATCH)
    pad = batches * BATCH - n
    # each padded slot's weight in its batch's mean: 1/B, 0 for the padding
    lengths = np.full(batches, BATCH)
    lengths[-1] = BATCH - pad
    slot_weight = np.repeat(1.0 / lengths, BATCH)
    slot_weight[n:] = 0.0
    slot_weight = jnp.asarray(slot_weight.reshape(batches, BATCH))
    cz = jnp.asarray([1.0, 1.0, 1.0, -1.0])

    def unitary(theta):  # theta (L, 2): RY on each qubit, then CZ, per layer
        def layer(u, t):
            c, s = jnp.cos(t / 2), jnp.sin(t / 2)
            ry = jnp.stack([jnp.stack([c, -s], -1), jnp.stack([s, c], -1)], -2)  # (2, 2, 2)
            k = jnp.kron(ry[0], ry[1])
            return (cz[:, None] * k) @ u, None

        return jax.lax.scan(layer, jnp.eye(4), theta)[0]

    def logits_of(p, xb):  # xb (B, F)
        half = xb / 2
        c, s = jnp.cos(half), jnp.sin(half)
        q0 = jnp.stack([c[:, 0], s[:, 0]], -1)
        q1 = jnp.stack([c[:, 1], s[:, 1]], -1)
        psi = (q0[:, :, None] * q1[:, None, :]).reshape(-1, 4)  # RY embedding: real
        gates = (psi @ unitary(p["theta"]).T) ** 2  # (B, 4)
        experts = (xb @ p["w"].T + p["b"]).reshape(-1, N_EXPERTS, 2)
        return jnp.einsum("be,bec->bc", gates, experts)

    def loss_fn(p, xb, yb, wb):
        logp = jax.nn.log_softmax(logits_of(p, xb))
        return -(jnp.take_along_axis(logp, yb[:, None], 1)[:, 0] * wb).sum()

    grad_fn = jax.grad(loss_fn)

    def one_model_epoch(state, xs, ys, xvs, yvs):
        params, m, v, step, key = state
        key, sub = jax.random.split(key)
        perm = jax.random.permutation(sub, n)
        perm = jnp.concatenate([perm, perm[:pad]]).reshape(batches, BATCH)

        def step_fn(carry, batch):
            p, m, v, t = carry
            idx, wb = batch
            g = grad_fn(p, xs[idx], ys[idx], wb)
            t = t + 1
            m = jax.tree.map(lambda a, b: 0.9 * a + 0.1 * b, m, g)
            v = jax.tree.map(lambda a, b: 0.999 * a + 0.001 * b * b, v, g)
            c1, c2 = 1 - 0.9**t, 1 - 0.999**t
            p = jax.tree.map(
                lambda p, a, b: p - LR / c1 * a / (jnp.sqrt(b) / jnp.sqrt(c2) + 1e-8), p, m, v
            )
            return (p, m, v, t), None

        (params, m, v, step), _ = jax.lax.scan(step_fn, (params, m, v, step), (perm, slot_weight))
        logp = jax.nn.log_softmax(logits_of(params, xvs))
        val_loss = -jnp.take_along_axis(logp, yvs[:, None], 1).mean()
        return (params, m, v, step, key), val_loss

    @jax.jit
    def epoch(state):
        return jax.vmap(one_model_epoch)(state, x, y, xv, yv)

    def init(S):
        rng = np.random.default_rng(0)
        params = {
            "theta": jnp.asarray(rng.uniform(0, 2 * np.pi, (S, N_LAYERS, N_QUBITS))),
            "w": jnp.asarray(rng.uniform(-0.7, 0.7, (S, 2 * N_EXPERTS, 2))),
            "b": jnp.asarray(rng.uniform(-0.7, 0.7, (S, 2 * N_EXPERTS))),
        }
        zeros = jax.tree.map(jnp.zeros_like, params)
        keys = jax.random.split(jax.random.PRNGKey(0), S)
        return (params, zeros, zeros, jnp.zeros(S), keys)

    return init, epoch


def jax_ms(init, epoch, S: int, epochs: int) -> float:
    state = init(S)
    start = time.perf_counter()
    for _ in range(epochs):
        state, val_loss = epoch(state)
    val_loss.block_until_ready()
    return (time.perf_counter() - start) * 1e3 / (S * epochs)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="S = 5, 20 and 5 epochs")
    ap.add_argument("--sizes", type=int, nargs="+", help="stack sizes (default 5 20 100 500)")
    ap.add_argument("--epochs", type=int, help="epochs (default 20, quick 5)")
    ap.add_argument("--repeats", type=int, help="alternating timings per S (default 3)")
    ap.add_argument("--json", type=Path, help="write every figure to this JSON file")
    args = ap.parse_args(argv)
    try:
        import jax
    except ImportError:
        console.print("jax is not installed: pip install jax (an optional benchmark dependency)")
        return 2
    sizes = args.sizes or ([5, 20] if args.quick else [5, 20, 100, 500])
    epochs = args.epochs or (5 if args.quick else 20)
    repeats = args.repeats or 3
    torch.set_num_threads(1)
    cfg = config(epochs)
    assert supports(cfg) is None, supports(cfg)
    rows = []
    for S in sizes:
        seeds = list(range(S))
        built = build(cfg, seeds)
        init, epoch = jax_trainer(built[1])
        start = time.perf_counter()
        jax.block_until_ready(epoch(init(S)))  # compile
        compile_s = time.perf_counter() - start
        qmoe_ms(cfg, build(cfg, seeds[:2]), seeds[:2])  # warm: the compiled kernels loaded
        times: dict[str, list[float]] = {"qmoe": [], "jax": []}
        for _ in range(repeats):
            times["qmoe"].append(qmoe_ms(cfg, built, seeds))
            times["jax"].append(jax_ms(init, epoch, S, epochs))
        q, j = (statistics.median(t) for t in times.values())
        rows.append({"S": S, "qmoe_ms": q, "jax_ms": j, "ratio": q / j, "jax_compile_s": compile_s})
        console.log(
            f"S={S:4d}: qmoe {q:.3f} ms, JAX {j:.3f} ms per model-epoch: qmoe / JAX "
            f"{q / j:.2f} (JAX compile {compile_s:.1f} s)"
        )
    table = Table(
        title=f"Model B per model-epoch (median of {repeats}; {epochs} epochs, 700 rows, "
        "batch 32, Adam, float64, 1 thread each)"
    )
    for col in ("S", "qmoe stacked", "JAX vmap + scan", "qmoe / JAX", "JAX compile"):
        table.add_column(col, justify="right")
    for r in rows:
        table.add_row(
            str(r["S"]),
            f"{r['qmoe_ms']:.3f} ms",
            f"{r['jax_ms']:.3f} ms",
            f"{r['ratio']:.2f}",
            f"{r['jax_compile_s']:.1f} s",
        )
    console.print(table)
    console.print("target: qmoe / JAX <= 1 at S = 5, 20 and 100")
    if args.json:
        args.json.write_text(json.dumps({"epochs": epochs, "repeats": repeats, "rows": rows}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
