"""The stacked engine's compiled epoch: which stacks take it, and its state.

A stack whose router and experts this path covers trains each epoch by one compiled call
(training/epoch_kernel.py: every batch's forward pass, gradient and Adam update for every
model, then the validation pass) instead of a dozen torch operations, autograd and the
optimizer per batch (docs/performance.md, "A whole epoch compiled"). The stacked engine
(training/stacked.py) keeps everything else: the shuffling (each model's own generator, its
`randperm` per epoch, passed in), the history rows, early stopping, the divergence checks.

Covered (`refusal` says why a config is not, and its stacks then take the torch stacked
path, which covers every kind): Adam; no top-k routing, no balance loss; linear experts;
a linear, MLP (any widths and activation, with or without biases) or Fourier-feature
router, or the paper's quantum router (ry_cz, basis-state probabilities, the torch backend,
up to KERNEL_MAX_QUBITS qubits): noiseless and with the full mechanism as a circuit; under
depolarizing noise or readout error (placement paper or notebook; any mechanism) as a
channel on density matrices (the noisy torch path's superoperators; no shots, no fake
backend: sampling draws from torch's generator). A noiseless dephased or entangler-free
router takes the torch path, faster there (its Markov chain, its product state). The
numbers are the torch path's to rounding (tests/test_stacked.py: 1e-6 against the
sequential `fit`, float64).

State: the stack's parameters and Adam moments as one float64 row per model (S, P), in the
stack's ParamLayout order; the engine's parameter tensors are views of it.
"""

from __future__ import annotations

import numpy as np
import torch

from qmoe_cli.config import ModelConfig, TrainConfig
from qmoe_cli.imports import heavy_imports
from qmoe_cli.models import MixtureOfExperts
from qmoe_cli.quantum.torch_backend import KERNEL_MAX_QUBITS
from qmoe_cli.training.stacked_modules import ParamLayout


def refusal(model: ModelConfig, train: TrainConfig) -> str | None:
    """None when the compiled epoch trains stacks of this config; else why not (they take
    the torch stacked path)."""
    if train.layerwise is not None:  # stacked.supports refuses it first: sequential
        return "train.layerwise is set (its stages train one seed at a time)"
    if train.optimizer != "adam":
        return f"train.optimizer is {train.optimizer} (the compiled epoch does Adam)"
    if model.top_k is not None:
        return "model.top_k is set (the compiled epoch routes densely)"
    if model.balance_weight:
        return "model.balance_weight is set (the compiled epoch has no balance loss)"
    if model.experts.type != "linear":
        return f"model.experts.type is {model.experts.type} (the compiled epoch: linear)"
    router = model.router
    if router.type in ("linear", "mlp", "fourier"):
        return None
    if router.type != "quantum":
        return (
            f"model.router.type is {router.type} (the compiled epoch: linear, mlp, fourier, "
            "quantum)"
        )
    noise = router.noise
    noisy = noise.depolarizing or noise.depolarizing_2q or noise.readout_error
    if router.mechanism != "full" and not noisy:
        return (
            f"model.router.mechanism is {router.mechanism} without noise (the torch path: "
            "its Markov chain or product state is faster than the compiled channel on "
            "density matrices, 4-50x at 4 qubits)"
        )
    if router.backend != "torch":
        return f"model.router.backend is {router.backend} (the compiled epoch: torch)"
    if router.ansatz != "ry_cz" or router.readout != "probs":
        return (
            f"model.router: ansatz {router.ansatz}, readout {router.readout} (the compiled "
            "epoch: ry_cz with probs)"
        )
    if noise.shots is not None or noise.fake_backend is not None:
        what = "shots" if noise.shots is not None else "fake_backend"
        return (
            f"model.router.noise.{what} is set (the compiled epoch: exact probabilities, "
            "depolarizing noise and readout error)"
        )
    if router.qubits > KERNEL_MAX_QUBITS:
        return f"model.router.qubits: more than {KERNEL_MAX_QUBITS} (the compiled epoch)"
    return None


def channel_router(router) -> bool:
    """Whether a quantum router trains as a channel on density matrices (under noise) rather
    than as a unitary circuit."""
    return not router.noise.is_noiseless


class FusedEpoch:
    """A stack's state for the compiled epoch, built from its first model (the architecture),
    the stacked parameters (S, *shape) in `layout` order, the stacked data: x (S, F, rows),
    y (S, rows), and the stacked buffers `consts` (a Fourier router's terms)."""

    def __init__(
        self,
        model: MixtureOfExperts,
        layout: ParamLayout,
        params: list[torch.Tensor],
        x_train: torch.Tensor,
        y_train: torch.Tensor,
        x_val: torch.Tensor,
        y_val: torch.Tensor,
        batch_size: int,
        n_classes: int,
        consts: dict[str, torch.Tensor],
    ):
        # Imported here, with the collector paused: Numba is a slow import with many objects
        # (docs/performance.md, "Start-up")
        with heavy_imports():
            from qmoe_cli.training import epoch_kernel

        self.kernel = epoch_kernel
        self.layout, self.batch_size, self.n_classes = layout, batch_size, n_classes
        S = len(x_train)
        starts = dict(zip(layout.names, np.cumsum([0, *layout.sizes[:-1]]).tolist(), strict=True))
        router, experts = model.router, model.experts
        self.n_experts = experts.count
        # the dense router's layers (in width, out width, weight start, bias start or -1),
        # its activation, and its inputs: the data, or the Fourier router's terms of them
        dense: list[tuple[int, int, int, int]] = []
        self.activation = epoch_kernel.RELU
        x_router = [x_train, x_val]
        self.channel = (np.zeros((1, 1, 1)), np.zeros((1, 1)))  # a channel's A_l, T
        if hasattr(router, "spec") and channel_router(router):
            self.router = epoch_kernel.ROUTER_CHANNEL
            self._channel(router, x_train, x_val)
            offsets = [starts["router.weights"]]
        elif hasattr(router, "spec"):  # the quantum router
            self.router = epoch_kernel.ROUTER_QUANTUM
            ansatz, embedding, n, n_layers, signs, rows, features = router.backend._kernel.args
            self.circuit = (n, n_layers, signs, rows, router.backend._kernel.readout)
            offsets = [starts["router.weights"]]
            # embedded inputs, once: cos, sin of x / 2 by torch's functions, as the stacked
            # circuit kernel computes them per batch
            self.psi = [self._embed(t, embedding, n, features) for t in (x_train, x_val)]
        else:
            self.router = epoch_kernel.ROUTER_DENSE
            self.circuit = (0, 0, np.zeros((1, 1)), np.zeros((1, 1), np.int64), np.zeros((1, 1)))
            offsets = [0]
            empty = np.zeros((S, 1, 1))
            self.psi = [(empty, empty), (empty, empty)]
            named = list(router.net.named_children()) if hasattr(router, "net") else []
            for i, layer in named:  # the MLP router: Linear, activation, ..., Linear
                if isinstance(layer, torch.nn.Linear):
                    bias = starts[f"router.net.{i}.bias"] if layer.bias is not None else -1
                    at = (starts[f"router.net.{i}.weight"], bias)
                    dense.append((layer.in_features, layer.out_features, *at))
                else:
                    name = type(layer).__name__.lower()
                    self.activation = epoch_kernel.ACTIVATIONS[name]
            if not named:  # the linear router, or the Fourier router: one layer
                linear = router.linear
                at = (starts["router.linear.weight"], starts["router.linear.bias"])
                dense.append((linear.in_features, linear.out_features, *at))
            if hasattr(router, "freq"):  # the Fourier router's terms, once
                x_router = [self._fourier_terms(t, consts) for t in (x_train, x_val)]
        self.dense = np.array(dense, dtype=np.int64).reshape(len(dense), 4)
        offsets += [starts["experts.linear.weight"], starts["experts.linear.bias"]]
        self.offsets = np.array(offsets, dtype=np.int64)
        flat = torch.cat([t.detach().reshape(S, -1) for t in params], dim=1)
        self.params = np.ascontiguousarray(flat.numpy(), dtype=np.float64)
        self.exp_avg = np.zeros_like(self.params)
        self.exp_avg_sq = np.zeros_like(self.params)
        self.x, self.x_val = (np.ascontiguousarray(t.numpy()) for t in (x_train, x_val))
        self.y, self.y_val = (np.ascontiguousarray(t.numpy(), np.int64) for t in (y_train, y_val))
        self.xr, self.xr_val = (np.ascontiguousarray(t.numpy(), np.float64) for t in x_router)

    def _channel(self, router, x_train: torch.Tensor, x_val: torch.Tensor) -> None:
        """A noisy or dephased circuit's state: the torch path's constant superoperators
        (A_l, the trailing T or the identity), vec(rho) of every embedded input (the real
        part: Phi is a real map and p real, so the imaginary part never contributes), and
        the readout table with the readout error folded in (clamp(p) C R = clamp(p) (C R))."""
        from qmoe_cli.quantum.gates import circuit_tables
        from qmoe_cli.quantum.noise import readout_confusion
        from qmoe_cli.quantum.torch_density import TorchDensityMatrix

        spec, noise = router.spec, router.noise
        n, d = spec.n_qubits, 2**spec.n_qubits
        density = TorchDensityMatrix(spec, noise, strategy="superoperator")
        supers, tail = density._superoperators(torch.float64)
        tail = torch.eye(d * d, dtype=torch.float64) if tail is None else tail
        self.channel = tuple(np.ascontiguousarray(t.numpy()) for t in (supers, tail))
        readout = circuit_tables(spec).readout
        readout = np.eye(d) if readout is None else readout
        if noise.readout_error:
            readout = readout_confusion(n, noise.readout_error) @ readout
        self.circuit = (n, spec.n_layers, np.zeros((1, 1)), np.zeros((1, 1), np.int64),
                        np.ascontiguousarray(readout, dtype=np.float64))  # fmt: skip
        empty = np.zeros((len(x_train), 1, 1))

        def vec(x: torch.Tensor) -> np.ndarray:  # (S, F, rows) -> (S, rows, d^2)
            rows = x.detach().double().transpose(1, 2)
            rho = density.embedded(rows.reshape(-1, rows.shape[-1]), torch.float64)
            rho = rho.real if rho.is_complex() else rho
            return np.ascontiguousarray(rho.reshape(*rows.shape[:2], d * d).numpy())

        self.psi = [(vec(x_train), empty), (vec(x_val), empty)]

    @staticmethod
    def _fourier_terms(x: torch.Tensor, consts: dict[str, torch.Tensor]) -> torch.Tensor:
        """The Fourier router's terms (S, T, rows) of x (S, F, rows), each model's own, by the
        stacked form's torch operations (models/stacked_forms.py)."""
        freq, phase, constant = (consts[f"router.{k}"] for k in ("freq", "phase", "constant"))
        factors = torch.sin(x.unsqueeze(1) * freq.unsqueeze(-1) + phase.unsqueeze(-1))
        factors = torch.where(constant.unsqueeze(-1), torch.ones_like(factors), factors)
        return factors.prod(dim=2)

    def _embed(self, x: torch.Tensor, embedding: int, n: int, features: np.ndarray):
        half = x.detach().double() / 2.0
        cos, sin = torch.cos(half).numpy(), torch.sin(half).numpy()
        return self.kernel.embed_all(cos, sin, embedding, n, features)

    def views(self, flat: np.ndarray) -> list[torch.Tensor]:
        """The per-parameter tensors (S, *shape), views of a flat state (S, P)."""
        whole, out, lo = torch.from_numpy(flat), [], 0
        for size, shape in zip(self.layout.sizes, self.layout.shapes, strict=True):
            out.append(whole[:, lo : lo + size].unflatten(1, shape))
            lo += size
        return out

    def row(self, row: int) -> torch.Tensor:
        """A model's parameters (P,), a copy (ParamLayout.row's)."""
        return torch.from_numpy(self.params[row].copy())

    def run(self, order: np.ndarray, first_step: int, lr: np.ndarray, weight_decay: np.ndarray):
        """One epoch of every row: (batch losses (S, batches), the summed batch losses x
        lengths (S,), right training answers (S,), validation losses (S,), right validation
        answers (S,)); the parameters and moments updated in place."""
        S, n = self.y.shape
        batches = -(-n // self.batch_size)
        batch_losses, train_loss = np.empty((S, batches)), np.empty(S)
        val_loss = np.empty(S)
        train_correct, val_correct = np.empty(S, np.int64), np.empty(S, np.int64)
        (psi_re, psi_im), (val_re, val_im) = self.psi
        self.kernel.train_epoch(
            self.params, self.exp_avg, self.exp_avg_sq, first_step, lr, weight_decay,
            self.x, self.y, order, self.batch_size, self.x_val, self.y_val, self.xr, self.xr_val,
            self.router, self.offsets, self.dense, self.activation, self.n_experts, self.n_classes,
            psi_re, psi_im, val_re, val_im, *self.circuit, *self.channel,
            batch_losses, train_loss, train_correct, val_loss, val_correct,
        )  # fmt: skip
        return batch_losses, train_loss, train_correct, val_loss, val_correct

    def keep(self, index: np.ndarray) -> None:
        """Only these rows go on (the others stopped)."""
        names = ("params", "exp_avg", "exp_avg_sq", "x", "y", "x_val", "y_val", "xr", "xr_val")
        for name in names:
            setattr(self, name, np.ascontiguousarray(getattr(self, name)[index]))
        self.psi = [tuple(np.ascontiguousarray(p[index]) for p in pair) for pair in self.psi]
