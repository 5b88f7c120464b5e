"""Small circuits as one autograd node, compiled: the forward pass and the gradient in Numba.

For routers of a few qubits the unitary has 4..4096 entries and a training step's cost is
the number of array operations, not arithmetic: torch's dispatching and recording of each
small op (NumPy's is less) make a router built from a few dozen of them as costly as the
rest of the MoE step (docs/performance.md, "Where the code's choices were measured"). So
for small circuits on CPU the whole circuit
(embedding, U, probabilities, readout) is one compiled function inside a single
torch.autograd.Function, computed in float64/complex128 whatever the weights' dtype.

The backward pass uses the exact shift rule on U: every gate is exp(-i t G / 2) with
G^2 = 1, hence dU/dt_p = U(t + pi e_p) / 2, so the forward pass also builds the P shifted
unitaries, and the backward pass is two contractions. The conventions (big-endian basis,
gate definitions) are spec.py's and the entangler, embedding and readout tables gates.py's,
shared with TorchStatevector; the tests hold this kernel to agree with torch autograd,
PennyLane and Qiskit Aer.

Numba compiles on first use, slowly (docs/performance.md; `make install` does it ahead,
see compile_ahead), and caches the machine code next to this file.
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

    def run(self, weights, x, grouped, adapter_weight=None, adapter_bias=None):
        """run_kernel with this kernel."""
        return run_kernel(self, weights, x, grouped, adapter_weight, adapter_bias)


class SmallCircuitFunction(torch.autograd.Function):
    """Torch in, torch out, one autograd node: weights (and x, without gradient) -> outputs.

    With an adapter (weight, bias), the outputs <Z> pass through softmax(W <Z> + b) inside
    the same node, so the expval router is one node too.
    """

    @staticmethod
    def forward(ctx, weights, x, kernel, grouped, need_grad, adapter_weight, adapter_bias):
        # NumPy allocations and views: cheaper than torch.empty (docs/performance.md)
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


# ----------------------------------------------------------------- many parameter sets
#
# The stacked engine (qmoe_cli/training/stacked.py) trains S models of one circuit at once, its
# activations laid out (S, width, B) with the batch innermost: inputs x (S, F, B), outputs
# (S, E, B). Its kernel loops over the S parameter sets inside one compiled call, and
# differentiates by an adjoint sweep over the layers instead of P shifted unitaries: with
# U = M_L ... M_1 (M_l a layer: its single-qubit gates' Kronecker product K_l, then the
# entangler, row r of M_l being signs[l, r] K_l[rows[l, r]]), prefixes P_l = M_l ... M_1 and
# G_l = (M_L ... M_{l+1})^T h (h as in _backward), the shifted unitary of a weight of layer
# l enters the gradient only through Y_l = G_l P_{l-1}^T, contracted with the shifted gate
# over its qubit: Re sum_ab M'_l[a, b] Y_l[a, b]. That is O(L d^3) per set instead of
# O(P L n d^2), the same gradient as the shift-rule kernel to rounding (tests hold them to
# 1e-12); that kernel stays the one-model path. For ry_cz, whose unitary is real, the sweep
# runs in real arithmetic (`_adjoint_forward_real`, `_adjoint_backward_real`).


@numba.njit(cache=True)
def _layers_and_prefixes(gates, s, n, n_layers, signs, rows, layers, prefix):
    """Set s's layer matrices M_l (row r: signs[l, r] times row rows[l, r] of the layer's
    gates' Kronecker product) and prefixes P_l = M_l ... M_1 (P_0 = I), into `layers` and
    `prefix` (complex, or real for ry_cz: the arithmetic follows their dtype)."""
    d = layers.shape[2]
    prefix[s, 0] = 0
    for i in range(d):
        prefix[s, 0, i, i] = 1
    for layer in range(n_layers):
        for r in range(d):
            source = rows[layer, r]
            for c in range(d):
                layers[s, layer, r, c] = signs[layer, r]
                for q in range(n):
                    shift = n - 1 - q
                    entry = 2 * ((source >> shift) & 1) + ((c >> shift) & 1)
                    layers[s, layer, r, c] *= gates[s, layer * n + q, entry]
        for i in range(d):
            for j in range(d):
                prefix[s, layer + 1, i, j] = 0
                for k in range(d):
                    prefix[s, layer + 1, i, j] += layers[s, layer, i, k] * prefix[s, layer, k, j]


@numba.njit(cache=True)
def _gate_contractions(h, prefix, gates, s, layer, n, signs, rows, y, yp, t):
    """t[q] (2 x 2) for each qubit q of `layer`: Y = G_l P_{l-1}^T (G_l in h), its rows
    permuted and signed as the entangler does (Y'), contracted with every gate of the layer
    but qubit q's; the gradient of a weight of gate q is then Re sum M'_q * t[q]."""
    d = h.shape[0]
    for a in range(d):
        for b in range(d):
            y[a, b] = 0
            for k in range(d):
                y[a, b] += h[a, k] * prefix[s, layer, b, k]
    for a in range(d):
        for b in range(d):
            yp[rows[layer, a], b] = signs[layer, a] * y[a, b]
    t[:, :, :] = 0
    for a in range(d):
        for b in range(d):
            for q in range(n):
                v = yp[a, b]
                for r in range(n):
                    if r != q:
                        shift = n - 1 - r
                        entry = 2 * ((a >> shift) & 1) + ((b >> shift) & 1)
                        v *= gates[s, layer * n + r, entry]
                shift = n - 1 - q
                t[q, (a >> shift) & 1, (b >> shift) & 1] += v


@numba.njit(cache=True)
def _step_back(layers, s, layer, h, update):
    """G_{l-1} = M_l^T G_l, in place in h."""
    d = h.shape[0]
    for a in range(d):
        for j in range(d):
            update[a, j] = 0
            for i in range(d):
                update[a, j] += layers[s, layer, i, a] * h[i, j]
    h[:, :] = update


@numba.njit(cache=True)
def _adjoint_forward_stacked(
    weights,
    cos_half,
    sin_half,
    ansatz,
    embedding,
    n,
    n_layers,
    signs,
    rows,
    features,
    readout,
    out,
):
    """Per set s: write the outputs into out (S, E, B) from weights (S, P) and the inputs'
    cos(x / 2), sin(x / 2) (S, F, B); return what the backward pass needs: gate entries,
    layer matrices M_l, prefixes (P_0 = I, U = P_L), embedded inputs psi and amplitudes
    U psi (S, B, d)."""
    models, batch, d, n_gates = weights.shape[0], cos_half.shape[2], 1 << n, n * n_layers
    gates = np.empty((models, n_gates, 4), dtype=np.complex128)
    layers = np.empty((models, n_layers, d, d), dtype=np.complex128)
    prefix = np.empty((models, n_layers + 1, d, d), dtype=np.complex128)
    psi = np.empty((models, batch, d), dtype=np.complex128)
    amps = np.empty((models, batch, d), dtype=np.complex128)
    factors = np.empty((n, 2), dtype=np.complex128)
    re, im = np.empty(d), np.empty(d)
    for s in range(models):
        w = weights[s].astype(np.float64)
        for g in range(n_gates):
            gates[s, g, 0], gates[s, g, 1], gates[s, g, 2], gates[s, g, 3] = _gate(ansatz, w, g, -1)
        _layers_and_prefixes(gates, s, n, n_layers, signs, rows, layers, prefix)
        for b in range(batch):
            _embed_parts(cos_half, sin_half, s, b, embedding, n, features, factors, re, im)
            for i in range(d):
                psi[s, b, i] = complex(re[i], im[i])
            for i in range(d):
                acc = complex(0.0)
                for j in range(d):
                    acc += prefix[s, n_layers, i, j] * psi[s, b, j]
                amps[s, b, i] = acc
            for e in range(out.shape[1]):
                total = 0.0
                for i in range(d):
                    total += (amps[s, b, i].real ** 2 + amps[s, b, i].imag ** 2) * readout[i, e]
                out[s, e, b] = total
    return gates, layers, prefix, psi, amps


@numba.njit(cache=True)
def _adjoint_backward_stacked(
    grad_out,
    weights,
    ansatz,
    n,
    n_layers,
    signs,
    rows,
    readout,
    gates,
    layers,
    prefix,
    psi,
    amps,
    grad,
):
    """dL/dweights (S, P) into `grad` from dL/doutputs (S, E, B), by the adjoint sweep."""
    models, batch, d = psi.shape[0], psi.shape[1], psi.shape[2]
    per_gate = weights.shape[1] // (n * n_layers)
    h = np.empty((d, d), dtype=np.complex128)
    update = np.empty((d, d), dtype=np.complex128)
    y = np.empty((d, d), dtype=np.complex128)
    yp = np.empty((d, d), dtype=np.complex128)
    t = np.empty((n, 2, 2), dtype=np.complex128)
    for s in range(models):
        w = weights[s].astype(np.float64)
        # h[i, j] = sum_b conj(A[b, i]) g[b, i] psi[b, j], as _backward
        h[:, :] = 0
        for b in range(batch):
            for i in range(d):
                g = 0.0
                for e in range(grad_out.shape[1]):
                    g += grad_out[s, e, b] * readout[i, e]
                weight = amps[s, b, i].conjugate() * g
                for j in range(d):
                    h[i, j] += weight * psi[s, b, j]
        for layer in range(n_layers - 1, -1, -1):  # h holds G_l
            _gate_contractions(h, prefix, gates, s, layer, n, signs, rows, y, yp, t)
            for q in range(n):
                gate = layer * n + q
                for p in range(per_gate * gate, per_gate * (gate + 1)):
                    m00, m01, m10, m11 = _gate(ansatz, w, gate, p)
                    total = m00 * t[q, 0, 0] + m01 * t[q, 0, 1]
                    total += m10 * t[q, 1, 0] + m11 * t[q, 1, 1]
                    grad[s, p] = total.real
            _step_back(layers, s, layer, h, update)


@numba.njit(cache=True)
def _embed_parts(cos_half, sin_half, s, b, embedding, n, features, factors, re, im):
    """Real and imaginary parts (d,) of set s's embedded input b (product state)."""
    for q in range(n):
        c, sn = cos_half[s, features[q], b], sin_half[s, features[q], b]
        if embedding == 0:  # RX|0> = cos|0> - i sin|1>
            factors[q, 0], factors[q, 1] = c, complex(0.0, -sn)
        elif embedding == 1:  # RY|0> = cos|0> + sin|1>
            factors[q, 0], factors[q, 1] = c, sn
        else:  # RZ|0> = exp(-i x/2)|0>
            factors[q, 0], factors[q, 1] = complex(c, -sn), 0.0
    for i in range(re.shape[0]):
        amp = complex(1.0)
        for q in range(n):
            amp *= factors[q, (i >> (n - 1 - q)) & 1]
        re[i], im[i] = amp.real, amp.imag


@numba.njit(cache=True)
def _adjoint_forward_real(
    weights, cos_half, sin_half, embedding, n, n_layers, signs, rows, features, readout, out
):
    """_adjoint_forward_stacked for ry_cz, whose gates and entanglers are real: U is real,
    so the layer products are real and U acts on the states' real and imaginary parts
    apart (about a quarter of the complex arithmetic). Returns gate entries (S, G, 4),
    M_l, P_l and the states' and amplitudes' parts (S, B, d), all float64."""
    models, batch, d, n_gates = weights.shape[0], cos_half.shape[2], 1 << n, n * n_layers
    gates = np.empty((models, n_gates, 4))
    layers = np.empty((models, n_layers, d, d))
    prefix = np.empty((models, n_layers + 1, d, d))
    psi_re, psi_im = np.empty((models, batch, d)), np.empty((models, batch, d))
    amp_re, amp_im = np.empty((models, batch, d)), np.empty((models, batch, d))
    factors = np.empty((n, 2), dtype=np.complex128)
    for s in range(models):
        for g in range(n_gates):  # RY(t) = [[c, -s], [s, c]], c, s = cos, sin of t / 2
            c, sn = math.cos(weights[s, g] / 2.0), math.sin(weights[s, g] / 2.0)
            gates[s, g, 0], gates[s, g, 1], gates[s, g, 2], gates[s, g, 3] = c, -sn, sn, c
        _layers_and_prefixes(gates, s, n, n_layers, signs, rows, layers, prefix)
        for b in range(batch):
            _embed_parts(
                cos_half, sin_half, s, b, embedding, n, features, factors, psi_re[s, b],
                psi_im[s, b],
            )  # fmt: skip
            for i in range(d):
                re, im = 0.0, 0.0
                for j in range(d):
                    u = prefix[s, n_layers, i, j]
                    re += u * psi_re[s, b, j]
                    im += u * psi_im[s, b, j]
                amp_re[s, b, i], amp_im[s, b, i] = re, im
            for e in range(out.shape[1]):
                total = 0.0
                for i in range(d):
                    total += (amp_re[s, b, i] ** 2 + amp_im[s, b, i] ** 2) * readout[i, e]
                out[s, e, b] = total
    return gates, layers, prefix, psi_re, psi_im, amp_re, amp_im


@numba.njit(cache=True)
def _adjoint_backward_real(
    grad_out,
    n,
    n_layers,
    signs,
    rows,
    readout,
    gates,
    layers,
    prefix,
    psi_re,
    psi_im,
    amp_re,
    amp_im,
    grad,
):
    """_adjoint_backward_stacked for ry_cz: with U real only Re h matters,
    Re h[i, j] = sum_b g[b, i] (Re A[b, i] Re psi[b, j] + Im A[b, i] Im psi[b, j]),
    and the sweep is real. The shifted RY(t + pi) is [[-s, -c], [c, -s]]."""
    models, batch, d = psi_re.shape[0], psi_re.shape[1], psi_re.shape[2]
    h = np.empty((d, d))
    update = np.empty((d, d))
    y = np.empty((d, d))
    yp = np.empty((d, d))
    t = np.empty((n, 2, 2))
    for s in range(models):
        h[:, :] = 0.0
        for b in range(batch):
            for i in range(d):
                g = 0.0
                for e in range(grad_out.shape[1]):
                    g += grad_out[s, e, b] * readout[i, e]
                wr, wi = amp_re[s, b, i] * g, amp_im[s, b, i] * g
                for j in range(d):
                    h[i, j] += wr * psi_re[s, b, j] + wi * psi_im[s, b, j]
        for layer in range(n_layers - 1, -1, -1):  # h holds G_l
            _gate_contractions(h, prefix, gates, s, layer, n, signs, rows, y, yp, t)
            for q in range(n):
                gate = layer * n + q
                c, sn = gates[s, gate, 0], gates[s, gate, 2]
                grad[s, gate] = -sn * t[q, 0, 0] - c * t[q, 0, 1] + c * t[q, 1, 0] - sn * t[q, 1, 1]
            _step_back(layers, s, layer, h, update)


@numba.njit(cache=True)
def _adapter_columns(z, weight, bias):
    """softmax(W z + b) per set and input: z (S, n, B), weight (S, E, n) -> (S, E, B)."""
    models, n_out, batch = z.shape[0], weight.shape[1], z.shape[2]
    out = np.empty((models, n_out, batch), dtype=z.dtype)
    for s in range(models):
        for b in range(batch):
            largest = -np.inf
            for e in range(n_out):
                logit = bias[s, e]
                for q in range(z.shape[1]):
                    logit += z[s, q, b] * weight[s, e, q]
                out[s, e, b] = logit
                largest = max(largest, logit)
            total = 0.0
            for e in range(n_out):
                out[s, e, b] = math.exp(out[s, e, b] - largest)
                total += out[s, e, b]
            for e in range(n_out):
                out[s, e, b] /= total
    return out


@numba.njit(cache=True)
def _adapter_columns_backward(grad_out, gates, z, weight):
    """(dL/dW, dL/db, dL/dz) of the adapter from dL/dgates, all (S, ..., B) as above."""
    grad_weight = np.zeros(weight.shape, dtype=weight.dtype)
    grad_bias = np.zeros(weight.shape[:2], dtype=weight.dtype)
    grad_z = np.zeros(z.shape, dtype=z.dtype)
    for s in range(z.shape[0]):
        for b in range(z.shape[2]):
            inner = 0.0
            for e in range(gates.shape[1]):
                inner += grad_out[s, e, b] * gates[s, e, b]
            for e in range(gates.shape[1]):
                grad_logit = gates[s, e, b] * (grad_out[s, e, b] - inner)
                grad_bias[s, e] += grad_logit
                for q in range(z.shape[1]):
                    grad_weight[s, e, q] += grad_logit * z[s, q, b]
                    grad_z[s, q, b] += grad_logit * weight[s, e, q]
    return grad_weight, grad_bias, grad_z


class StackedCircuitFunction(torch.autograd.Function):
    """SmallCircuitFunction for S parameter sets of one circuit, in the stacked layout:
    weights (S, *weight_shape), x (S, F, B) (each set its own inputs), adapter (S, E, n) and
    (S, E) -> (S, outputs, B), one compiled call for all sets (the adjoint gradient above)."""

    @staticmethod
    def forward(ctx, weights, x, kernel, grouped, adapter_weight, adapter_bias):
        w = weights.detach().reshape(weights.shape[0], -1).numpy()
        readout = kernel.readout if grouped else kernel.identity
        out = np.empty((w.shape[0], readout.shape[1], x.shape[2]), dtype=w.dtype)
        ansatz, embedding, n, n_layers, signs, rows, features = kernel.args
        # the embedding's angles, in float64 as the one-model kernel computes them (torch's
        # vectorised cos/sin: the compiled loop's scalar ones cost more than the rest)
        half = x.detach().double() / 2.0
        cos_half, sin_half = torch.cos(half).numpy(), torch.sin(half).numpy()
        if ansatz == ANSATZ_CODES["ry_cz"]:  # a real unitary: the real-arithmetic sweep
            saved = _adjoint_forward_real(
                w, cos_half, sin_half, embedding, n, n_layers, signs, rows, features,
                readout, out,
            )  # fmt: skip
        else:
            saved = _adjoint_forward_stacked(
                w, cos_half, sin_half, ansatz, embedding, n, n_layers, signs, rows,
                features, readout, out,
            )  # fmt: skip
        ctx.saved = (w, saved, readout, weights.shape, kernel)
        ctx.adapter = None
        if adapter_weight is None:
            return torch.from_numpy(out)
        weight = adapter_weight.detach().numpy().copy()  # as autograd would save it
        gates = _adapter_columns(out, weight, adapter_bias.detach().numpy())
        ctx.adapter = (gates.copy(), out, weight)  # the caller may change what it gets
        return torch.from_numpy(gates)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_out):
        w, saved, readout, weight_shape, kernel = ctx.saved
        grad_out = np.ascontiguousarray(grad_out.numpy())
        grad_weight = grad_bias = None
        if ctx.adapter is not None:
            result, z, weight = ctx.adapter
            grad_weight, grad_bias, grad_out = _adapter_columns_backward(
                grad_out, result, z, weight
            )
            grad_weight, grad_bias = torch.from_numpy(grad_weight), torch.from_numpy(grad_bias)
        ansatz, _, n, n_layers, signs, rows, _ = kernel.args
        grad = np.empty(w.shape, dtype=w.dtype)
        if ansatz == ANSATZ_CODES["ry_cz"]:
            _adjoint_backward_real(grad_out, n, n_layers, signs, rows, readout, *saved, grad)
        else:
            _adjoint_backward_stacked(
                grad_out, w, ansatz, n, n_layers, signs, rows, readout, *saved, grad
            )
        grad = torch.from_numpy(grad).reshape(weight_shape)
        return grad, None, None, None, grad_weight, grad_bias


def run_stacked_kernel(kernel, weights, x, grouped, adapter_weight=None, adapter_bias=None):
    """`run_kernel` for S parameter sets in the stacked layout: weights (S, ...), x (S, F, B)
    (made contiguous here) -> (S, outputs, B)."""
    x = x.to(weights.dtype).contiguous()
    if adapter_weight is not None:
        adapter_weight, adapter_bias = adapter_weight.contiguous(), adapter_bias.contiguous()
    return StackedCircuitFunction.apply(
        weights.contiguous(), x, kernel, grouped, adapter_weight, adapter_bias
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
        # the stacked engine's (qmoe_cli/training/stacked.py): S parameter sets at once, by the
        # complex sweep (strongly entangling) and the real one (ry_cz)
        for circuit in (kernel, SmallCircuitKernel(CircuitSpec(2, 1, 2, 2, "ry_cz"))):
            shape = (2, *circuit.spec.weight_shape)
            stacked = torch.zeros(shape, dtype=dtype, requires_grad=True)
            adapters = torch.zeros(2, 2, 2, dtype=dtype, requires_grad=True)
            biases = torch.zeros(2, 2, dtype=dtype, requires_grad=True)
            xs = torch.zeros(2, 2, 3, dtype=dtype)  # (S, F, B)
            run_stacked_kernel(circuit, stacked, xs, True, adapters, biases).sum().backward()
            run_stacked_kernel(circuit, stacked, xs, True).sum().backward()
