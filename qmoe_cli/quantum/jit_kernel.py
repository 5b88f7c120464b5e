"""Small circuits as one autograd node, compiled: the forward pass and the gradient in Numba.

For routers of a few qubits the unitary has 4..4096 entries and a training step's cost is
the number of array operations, not arithmetic: torch spends ~10 us dispatching and
recording each small op, NumPy a few us, and a router built from 20-40 of them costs as
much as the rest of the MoE step. So for small circuits on CPU the whole circuit
(embedding, U, probabilities, readout) is one compiled function inside a single
torch.autograd.Function, computed in float64/complex128 whatever the weights' dtype.

The backward pass uses the exact shift rule on U: every gate is exp(-i t G / 2) with
G^2 = 1, hence dU/dt_p = U(t + pi e_p) / 2, so the forward pass also builds the P shifted
unitaries, and the backward pass is two contractions. The conventions (big-endian basis,
gate definitions) are spec.py's and the entangler, embedding and readout tables gates.py's,
shared with TorchStatevector; the tests hold this kernel to agree with torch autograd,
PennyLane and Qiskit Aer.

Numba compiles on first use (about 25 s; `make install` does it ahead, see compile_ahead)
and caches the machine code next to this file.
"""

from __future__ import annotations

import math

import numba
import numpy as np
import torch

from qmoe_cli.quantum.gates import CircuitTables, circuit_tables
from qmoe_cli.quantum.spec import CircuitSpec

ANSATZ_CODES = {"ry_cz": 0, "strongly_entangling": 1}
EMBEDDING_CODES = {"rx": 0, "ry": 1, "rz": 2}


@numba.njit(cache=True)
def _gate(ansatz, weights, gate, shifted_weight):
    """(m00, m01, m10, m11) of gate `gate` = l n + q; weight `shifted_weight` gets + pi."""
    if ansatz == 0:  # RY(t) = [[c, -s], [s, c]] with c, s = cos, sin of t / 2
        t = weights[gate] + (math.pi if gate == shifted_weight else 0.0)
        c, s = math.cos(t / 2), math.sin(t / 2)
        return complex(c), complex(-s), complex(s), complex(c)
    # Rot(phi, theta, omega) = RZ(omega) RY(theta) RZ(phi)
    phi, theta, omega = weights[3 * gate], weights[3 * gate + 1], weights[3 * gate + 2]
    if shifted_weight // 3 == gate:
        k = shifted_weight - 3 * gate
        phi += math.pi if k == 0 else 0.0
        theta += math.pi if k == 1 else 0.0
        omega += math.pi if k == 2 else 0.0
    a, b = (phi + omega) / 2, (phi - omega) / 2
    c, s = math.cos(theta / 2), math.sin(theta / 2)
    ea, eb = complex(math.cos(a), math.sin(a)), complex(math.cos(b), math.sin(b))
    return ea.conjugate() * c, -eb * s, eb.conjugate() * s, ea * c


@numba.njit(cache=True)
def _unitary(gates, shifted_gate, shifted_entries, n, n_layers, ansatz, signs, rows, u, scratch):
    """Write U into u (d, d): gate g's entries are gates[g], except shifted_gate's."""
    d = 1 << n
    u[:, :] = 0
    for i in range(d):
        u[i, i] = 1
    for layer in range(n_layers):
        for q in range(n):
            g = layer * n + q
            m = shifted_entries if g == shifted_gate else gates[g]
            m00, m01, m10, m11 = m[0], m[1], m[2], m[3]
            bit = 1 << (n - 1 - q)  # qubit 0 is the most significant bit
            for i0 in range(d):
                if i0 & bit:
                    continue
                i1 = i0 | bit
                for c in range(d):
                    a0, a1 = u[i0, c], u[i1, c]
                    u[i0, c] = m00 * a0 + m01 * a1
                    u[i1, c] = m10 * a0 + m11 * a1
        if ansatz == 0:  # the CZ chain: a sign per basis state
            for r in range(d):
                if signs[layer, r] < 0:
                    for c in range(d):
                        u[r, c] = -u[r, c]
        else:  # the CNOT ring: row r of the result is row rows[layer, r]
            for r in range(d):
                for c in range(d):
                    scratch[r, c] = u[r, c]
            for r in range(d):
                source = rows[layer, r]
                for c in range(d):
                    u[r, c] = scratch[source, c]


@numba.njit(cache=True)
def _forward(
    weights, x, need_grad, ansatz, embedding, n, n_layers, signs, rows, features, readout, out
):
    """Write the outputs into `out` (B, E); return (psi, amps, shifted unitaries)."""
    d, batch, n_weights, n_gates = 1 << n, x.shape[0], weights.shape[0], n * n_layers
    w = weights.astype(np.float64)
    gates = np.empty((n_gates, 4), dtype=np.complex128)
    for g in range(n_gates):
        gates[g, 0], gates[g, 1], gates[g, 2], gates[g, 3] = _gate(ansatz, w, g, -1)
    scratch = np.empty((d, d), dtype=np.complex128)
    u = np.empty((d, d), dtype=np.complex128)
    _unitary(gates, -1, gates[0], n, n_layers, ansatz, signs, rows, u, scratch)
    # the shift rule: U with weight p shifted by pi changes only the gate p belongs to
    shifted = np.empty((n_weights if need_grad else 0, d, d), dtype=np.complex128)
    per_gate = n_weights // n_gates
    entries = np.empty(4, dtype=np.complex128)
    for p in range(shifted.shape[0]):
        entries[0], entries[1], entries[2], entries[3] = _gate(ansatz, w, p // per_gate, p)
        _unitary(
            gates, p // per_gate, entries, n, n_layers, ansatz, signs, rows, shifted[p], scratch
        )
    # the embedding: per input and qubit, the amplitudes of |0> and |1>
    factors = np.empty((n, 2), dtype=np.complex128)
    psi = np.empty((batch, d), dtype=np.complex128)
    amps = np.empty((batch, d), dtype=np.complex128)
    for b in range(batch):
        for q in range(n):
            half = x[b, features[q]] / 2.0
            c, s = math.cos(half), math.sin(half)
            if embedding == 0:  # RX|0> = cos|0> - i sin|1>
                factors[q, 0], factors[q, 1] = c, complex(0.0, -s)
            elif embedding == 1:  # RY|0> = cos|0> + sin|1>
                factors[q, 0], factors[q, 1] = c, s
            else:  # RZ|0> = exp(-i x/2)|0>
                factors[q, 0], factors[q, 1] = complex(c, -s), 0.0
        for i in range(d):
            amp = complex(1.0)
            for q in range(n):
                amp *= factors[q, (i >> (n - 1 - q)) & 1]
            psi[b, i] = amp
        for i in range(d):
            acc = complex(0.0)
            for j in range(d):
                acc += u[i, j] * psi[b, j]
            amps[b, i] = acc
        for e in range(out.shape[1]):
            total = 0.0
            for i in range(d):
                total += (amps[b, i].real ** 2 + amps[b, i].imag ** 2) * readout[i, e]
            out[b, e] = total
    return psi, amps, shifted


@numba.njit(cache=True)
def _backward(grad_out, psi, amps, shifted, readout, grad):
    """Write dL/dweights into `grad` (P,) from dL/doutputs (B, E)."""
    batch, d = psi.shape
    # dL/dA = 2 A dL/dp; h[i, j] = sum_b conj(dL/dA[b, i]) psi[b, j] / 2, and
    # dL/dw_p = Re sum_ij h[i, j] 2 dU[i, j]/dw_p with 2 dU/dw_p = shifted[p].
    h = np.zeros((d, d), dtype=np.complex128)
    for b in range(batch):
        for i in range(d):
            g = 0.0
            for e in range(grad_out.shape[1]):
                g += grad_out[b, e] * readout[i, e]
            weight = amps[b, i].conjugate() * g
            for j in range(d):
                h[i, j] += weight * psi[b, j]
    for p in range(shifted.shape[0]):
        total = 0.0
        for i in range(d):
            for j in range(d):
                total += (shifted[p, i, j] * h[i, j]).real
        grad[p] = total


@numba.njit(cache=True)
def _softmax_adapter(z, weight, bias, out):
    """out = softmax(z W^T + b) row by row: the expval readout's trainable adapter."""
    for b in range(z.shape[0]):
        largest = -np.inf
        for e in range(weight.shape[0]):
            logit = bias[e]
            for q in range(z.shape[1]):
                logit += z[b, q] * weight[e, q]
            out[b, e] = logit
            largest = max(largest, logit)
        total = 0.0
        for e in range(weight.shape[0]):
            out[b, e] = math.exp(out[b, e] - largest)
            total += out[b, e]
        for e in range(weight.shape[0]):
            out[b, e] /= total


@numba.njit(cache=True)
def _softmax_adapter_backward(grad_out, gates, z, weight, grad_weight, grad_bias, grad_z):
    """dL/dW, dL/db and dL/dz of the adapter from dL/dgates."""
    grad_weight[:, :] = 0
    grad_bias[:] = 0
    grad_z[:, :] = 0
    for b in range(z.shape[0]):
        inner = 0.0
        for e in range(gates.shape[1]):
            inner += grad_out[b, e] * gates[b, e]
        for e in range(gates.shape[1]):
            grad_logit = gates[b, e] * (grad_out[b, e] - inner)
            grad_bias[e] += grad_logit
            for q in range(z.shape[1]):
                grad_weight[e, q] += grad_logit * z[b, q]
                grad_z[b, q] += grad_logit * weight[e, q]


class SmallCircuitKernel:
    """The spec's tables (gates.circuit_tables) in the compiled functions' terms."""

    def __init__(self, spec: CircuitSpec, tables: CircuitTables | None = None):
        tables = circuit_tables(spec) if tables is None else tables
        self.spec = spec
        self.args = (
            ANSATZ_CODES[spec.ansatz],
            EMBEDDING_CODES[spec.embedding],
            spec.n_qubits,
            spec.n_layers,
            np.ascontiguousarray(tables.signs, dtype=np.float64),
            np.ascontiguousarray(tables.rows, dtype=np.int64),
            np.ascontiguousarray(tables.features, dtype=np.int64),
        )
        d = 2**spec.n_qubits
        self.identity = np.eye(d)
        self.readout = self.identity if tables.readout is None else tables.readout
        self.readout = np.ascontiguousarray(self.readout, dtype=np.float64)


class SmallCircuitFunction(torch.autograd.Function):
    """Torch in, torch out, one autograd node: weights (and x, without gradient) -> outputs.

    With an adapter (weight, bias), the outputs <Z> pass through softmax(W <Z> + b) inside
    the same node, so the expval router is one node too.
    """

    @staticmethod
    def forward(ctx, weights, x, kernel, grouped, need_grad, adapter_weight, adapter_bias):
        # NumPy allocations and views: a few us each, against ~10 for torch.empty
        w = weights.detach().numpy()
        readout = kernel.readout if grouped else kernel.identity
        out = np.empty((len(x), readout.shape[1]), dtype=w.dtype)
        psi, amps, shifted = _forward(
            w.reshape(-1),
            x.detach().contiguous().numpy(),  # one compiled layout
            need_grad,
            *kernel.args,
            readout,
            out,
        )
        ctx.saved = (psi, amps, shifted, readout, weights.shape, w.dtype)
        ctx.adapter = None
        if adapter_weight is None:
            return torch.from_numpy(out)
        gates = np.empty((len(x), adapter_weight.shape[0]), dtype=w.dtype)
        weight = adapter_weight.detach().numpy().copy()  # as autograd would save it
        _softmax_adapter(out, weight, adapter_bias.detach().numpy(), gates)
        ctx.adapter = (gates.copy(), out, weight)  # the caller may change what it gets
        return torch.from_numpy(gates)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_out):
        psi, amps, shifted, readout, weight_shape, dtype = ctx.saved
        grad_out = grad_out.contiguous().numpy()
        grad_weight = grad_bias = None
        if ctx.adapter is not None:
            gates, z, weight = ctx.adapter
            grad_weight = np.empty(weight.shape, dtype=dtype)
            grad_bias = np.empty(weight.shape[0], dtype=dtype)
            grad_z = np.empty(z.shape, dtype=dtype)
            _softmax_adapter_backward(grad_out, gates, z, weight, grad_weight, grad_bias, grad_z)
            grad_out = grad_z
            grad_weight, grad_bias = torch.from_numpy(grad_weight), torch.from_numpy(grad_bias)
        grad = np.empty(shifted.shape[0], dtype=dtype)
        _backward(grad_out, psi, amps, shifted, readout, grad)
        grad = torch.from_numpy(grad).reshape(weight_shape)
        return grad, None, None, None, None, grad_weight, grad_bias


def run_kernel(kernel, weights, x, grouped, adapter_weight=None, adapter_bias=None):
    """The kernel's outputs (or gates, with an adapter) as a node of the autograd graph.

    Under torch.no_grad the P shifted unitaries are skipped (needs_input_grad alone does not
    say so: it follows requires_grad, not the grad mode).
    """
    params = [weights] if adapter_weight is None else [weights, adapter_weight, adapter_bias]
    need_grad = torch.is_grad_enabled() and any(p.requires_grad for p in params)
    return SmallCircuitFunction.apply(
        weights, x, kernel, grouped, need_grad, adapter_weight, adapter_bias
    )


def compile_ahead() -> None:
    """Compile every signature training and evaluation use (float32 and float64), or load
    them from the cache, so that the first run and parallel workers find them ready."""
    spec = CircuitSpec(2, 1, 2, 2, "strongly_entangling", "rx", "expval")
    kernel = SmallCircuitKernel(spec)
    for dtype in (torch.float32, torch.float64):
        weights = torch.zeros(spec.weight_shape, dtype=dtype, requires_grad=True)
        adapter = torch.zeros(2, 2, dtype=dtype, requires_grad=True)
        bias = torch.zeros(2, dtype=dtype, requires_grad=True)
        x = torch.zeros(3, 2, dtype=dtype)
        run_kernel(kernel, weights, x, True, adapter, bias).sum().backward()  # the router's
        run_kernel(kernel, weights, x, True).sum().backward()  # TorchStatevector.outputs
