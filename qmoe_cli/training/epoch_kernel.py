"""A stacked training epoch as one compiled call: every batch's forward pass, gradient and
Adam update for every model of a stack, then each model's validation pass.

The stacked engine's epoch (training/stacked.py) runs a dozen torch operations, autograd
and the optimizer per batch; for the tiny models qmoe trains, that per-step overhead, not
the arithmetic, is the cost of a small stack (docs/performance.md, "A whole epoch compiled").
Here the epoch loops in Numba over the models and, per model, over its batches (in the
order its own generator drew: the caller passes each model's `randperm`), so the overhead
is paid once per epoch.

What it computes, per model, is what the torch path computes (training/fused_epoch.py
says which kinds; tests/test_stacked.py holds the two to the sequential `fit` to 1e-6):

* the router: the paper's quantum circuit (RY + CZ layers, real unitary, basis-state
  probabilities through the grouped readout table) or a dense one, softmax of a chain of
  linear layers (with or without biases) with an activation (ReLU, tanh, GELU) between
  them, on the inputs or on fixed features of them: the linear router (one layer), the MLP
  router, the Fourier-feature router (one layer on its terms, computed once by the caller),
  a batch at a time with the batch as the inner axis (the loops vectorise; row by row the
  MLP router's epoch took about twice as long);
* the same circuit under noise or dephasing (a channel on density matrices): vec(rho) of
  each embedded input (its embedding's channels included, computed once by the caller) and
  the channel Phi = T A_L (K_L (x) K_L) ... A_1 (K_1 (x) K_1), the constant superoperators
  A_l of each layer's channels and entanglers and the trailing T built by
  quantum/torch_density.py (the noisy torch path's own matrices); the kernel carries only
  the d diagonal rows of Phi (p_i = <i|Phi(rho)|i>), never Phi itself, and the readout
  error folded into the readout table;
* linear experts z_e = W_e x + b_e, the mixture sum_e g_e z_e, each batch's mean
  cross-entropy;
* its gradient by hand: the softmax's, the dense layers' (backpropagation through the
  chain) and the experts' in closed form, the circuit's by the adjoint sweep of
  quantum/jit_kernel.py (the same compiled helpers the stacked circuit kernel uses), the
  channel's by the same sweep on the d rows (`_channel_rows`, `_channel_backward`);
* Adam with L2 weight decay, as torch's fused Adam kernel (training.make_optimizer) does,
  each model with its own lr and weight decay.

Parameters and Adam's moments are one float64 row per model (S, P), in the stack's
ParamLayout order; `offsets` gives where the circuit's parameters, the experts' weights and
their biases start, `dense` each dense layer's (in width, out width, weight start, bias
start or -1).
"""

from __future__ import annotations

import math

import numba
import numpy as np

from qmoe_cli.optim import ADAM_BETAS, ADAM_EPS
from qmoe_cli.quantum.jit_kernel import _embed_parts, _gate_contractions, _layers_and_prefixes

ROUTER_QUANTUM, ROUTER_DENSE, ROUTER_CHANNEL = 0, 1, 2
RELU, TANH, GELU = 0, 1, 2  # the dense router's activation between layers
ACTIVATIONS = {"relu": RELU, "tanh": TANH, "gelu": GELU}
SQRT_HALF, INV_SQRT_2PI = math.sqrt(0.5), 1.0 / math.sqrt(2.0 * math.pi)
BETA1, BETA2 = ADAM_BETAS


@numba.njit(cache=True)
def embed_all(cos_half, sin_half, embedding, n, features):
    """Embedded product states of every input: cos, sin of x / 2 (S, F, rows) -> real and
    imaginary parts (S, rows, 2^n)."""
    models, rows, d = cos_half.shape[0], cos_half.shape[2], 1 << n
    psi_re, psi_im = np.empty((models, rows, d)), np.empty((models, rows, d))
    factors = np.empty((n, 2), dtype=np.complex128)
    for s in range(models):
        for b in range(rows):
            _embed_parts(
                cos_half, sin_half, s, b, embedding, n, features, factors, psi_re[s, b],
                psi_im[s, b],
            )  # fmt: skip
    return psi_re, psi_im


@numba.njit(cache=True)
def _circuit(params, s, r_w, n, n_layers, signs, rows, gates, layers, prefix):
    """Set s's RY gate entries and layer products (P_L = U) into the scratch arrays."""
    for g in range(n * n_layers):
        half = params[s, r_w + g] / 2.0
        c, sn = math.cos(half), math.sin(half)
        gates[0, g, 0], gates[0, g, 1], gates[0, g, 2], gates[0, g, 3] = c, -sn, sn, c
    _layers_and_prefixes(gates, 0, n, n_layers, signs, rows, layers, prefix)


@numba.njit(cache=True, inline="always")
def _bit_op(v, mask, m00, m01, m10, m11):
    """v <- the 2 x 2 matrix [[m00, m01], [m10, m11]] on the bit `mask` of v's index."""
    for i in range(v.shape[0]):
        if i & mask == 0:
            a, b = v[i], v[i | mask]
            v[i], v[i | mask] = m00 * a + m01 * b, m10 * a + m11 * b


@numba.njit(cache=True)
def _layer_gates(params, s, r_w, layer, n, v, transpose, skip):
    """v (vec of a density matrix, row-major: ket bits above bra bits) <- (K (x) K) v, K the
    layer's RY gates (K^T with `transpose`: a row vector times K (x) K), qubit `skip`'s
    gate left out (-1: none)."""
    for q in range(n):
        if q == skip:
            continue
        half = params[s, r_w + layer * n + q] / 2.0
        c, sn = math.cos(half), math.sin(half)
        if transpose:
            sn = -sn
        for mask in (1 << (2 * n - 1 - q), 1 << (n - 1 - q)):  # its ket bit, its bra bit
            _bit_op(v, mask, c, -sn, sn, c)


@numba.njit(cache=True)
def _channel_rows(params, s, r_w, n, n_layers, supers, tail, qa, rows_out, tmp):
    """The d diagonal rows of the channel, R = P T S_L ... S_1 (S_l = A_l (K_l (x) K_l)),
    into rows_out (d, d^2); qa[l] (d, d^2) gets P T S_L ... S_{l+1} A_l, the rows the
    gradient of layer l's gates needs."""
    d, big = rows_out.shape[0], rows_out.shape[1]
    for i in range(d):
        rows_out[i, :] = tail[i * d + i, :]
    for layer in range(n_layers - 1, -1, -1):
        for i in range(d):
            tmp[:] = 0.0
            for y in range(big):
                c = rows_out[i, y]
                if c != 0.0:
                    for x in range(big):
                        tmp[x] += c * supers[layer, y, x]
            qa[layer, i, :] = tmp
            _layer_gates(params, s, r_w, layer, n, tmp, True, -1)
            rows_out[i, :] = tmp


@numba.njit(cache=True)
def _channel_backward(params, s, r_w, n, n_layers, supers, qa, zt, grad, tmp, one, two):
    """The gates' gradient from zt[i] = sum_b (d loss / d p_bi) vec(rho_b) (d, d^2): layer by
    layer from the first, d loss / d theta_lq = sum_i qa[l, i] . (d(K_l (x) K_l)/d theta_lq)
    Z_{l-1}[i], then Z_l = S_l Z_{l-1} (zt is overwritten)."""
    d, big = zt.shape[0], zt.shape[1]
    for layer in range(n_layers):
        for q in range(n):
            half = params[s, r_w + layer * n + q] / 2.0
            c, sn = math.cos(half), math.sin(half)
            ket, bra = 1 << (2 * n - 1 - q), 1 << (n - 1 - q)
            total = 0.0
            for i in range(d):  # d(R (x) R) = R' (x) R + R (x) R', R' = dR / d theta
                one[:] = zt[i]
                _layer_gates(params, s, r_w, layer, n, one, False, q)
                two[:] = one
                _bit_op(one, ket, -0.5 * sn, -0.5 * c, 0.5 * c, -0.5 * sn)
                _bit_op(one, bra, c, -sn, sn, c)
                _bit_op(two, ket, c, -sn, sn, c)
                _bit_op(two, bra, -0.5 * sn, -0.5 * c, 0.5 * c, -0.5 * sn)
                for x in range(big):
                    total += qa[layer, i, x] * (one[x] + two[x])
            grad[r_w + layer * n + q] = total
        for i in range(d):
            tmp[:] = zt[i]
            _layer_gates(params, s, r_w, layer, n, tmp, False, -1)
            for x in range(big):
                acc = 0.0
                for y in range(big):
                    acc += supers[layer, x, y] * tmp[y]
                zt[i, x] = acc


@numba.njit(cache=True, inline="always")
def _activate(v, activation):
    if activation == RELU:
        return v if v > 0.0 else 0.0
    if activation == TANH:
        return math.tanh(v)
    return 0.5 * v * (1.0 + math.erf(v * SQRT_HALF))  # GELU, torch's exact form


@numba.njit(cache=True, inline="always")
def _activation_slope(v, out, activation):
    """The activation's derivative at v (its input; out its output), as torch's backward."""
    if activation == RELU:
        return 1.0 if v > 0.0 else 0.0
    if activation == TANH:
        return 1.0 - out * out
    return 0.5 * (1.0 + math.erf(v * SQRT_HALF)) + v * INV_SQRT_2PI * math.exp(-0.5 * v * v)


@numba.njit(cache=True, fastmath={"reassoc", "contract"})
def _dot(a, b, count):
    """sum a[j] b[j] over j < count, in any order (vectorised)."""
    total = 0.0
    for j in range(count):
        total += a[j] * b[j]
    return total


@numba.njit(cache=True)
def _dense_forward(params, s, dense, activation, act, pre, count):
    """The dense chain on a batch: act[0, :, :count] (inputs, one column per row) in, each
    layer's pre-activations into pre[layer] and activations into act[layer + 1]; the
    logits are pre[L - 1]. The batch is the inner axis, so the loops vectorise."""
    n_dense = dense.shape[0]
    for layer in range(n_dense):
        width_in, width_out = dense[layer, 0], dense[layer, 1]
        w_at, b_at = dense[layer, 2], dense[layer, 3]
        a_in = act[layer]
        for o in range(width_out):
            out = pre[layer, o]
            bias = params[s, b_at + o] if b_at >= 0 else 0.0
            for j in range(count):
                out[j] = bias
            for i in range(width_in):
                w, a = params[s, w_at + o * width_in + i], a_in[i]
                for j in range(count):
                    out[j] += w * a[j]
            if layer < n_dense - 1:
                a_out = act[layer + 1, o]
                for j in range(count):
                    a_out[j] = _activate(out[j], activation)


@numba.njit(cache=True)
def _dense_backward(params, s, dense, activation, act, pre, delta, below, grad, count):
    """The dense chain's gradient on a batch, from delta[:E, :count] (d loss / d logits, one
    column per row) down: each layer's weight and bias gradients added into grad."""
    for layer in range(dense.shape[0] - 1, -1, -1):
        width_in, width_out = dense[layer, 0], dense[layer, 1]
        w_at, b_at = dense[layer, 2], dense[layer, 3]
        for o in range(width_out):
            if b_at >= 0:
                total = 0.0
                for j in range(count):
                    total += delta[o, j]
                grad[b_at + o] += total
            for i in range(width_in):
                grad[w_at + o * width_in + i] += _dot(delta[o], act[layer, i], count)
        if layer == 0:
            break
        for i in range(width_in):  # through the weights, then the activation
            back = below[i]
            for j in range(count):
                back[j] = 0.0
            for o in range(width_out):
                w, d_o = params[s, w_at + o * width_in + i], delta[o]
                for j in range(count):
                    back[j] += w * d_o[j]
            z, a = pre[layer - 1, i], act[layer, i]
            for j in range(count):
                back[j] *= _activation_slope(z[j], a[j], activation)
        for i in range(width_in):
            for j in range(count):
                delta[i, j] = below[i, j]


@numba.njit(cache=True, inline="always")
def _forward_row(
    params, s, x, idx, router, offsets, n_experts, n_classes, u, readout, psi_re, psi_im,
    imag, amp_re, amp_im, top, col, g, z, logits,
):  # fmt: skip
    """One input's gates g (E), expert logits z (E, C) and mixture logits (C); a dense
    router's logits are column col of top (E, batch). `imag`: whether the embedded inputs
    have an imaginary part (not with an RY embedding: half the circuit's per-row work)."""
    n_features = x.shape[1]
    e_w, e_b = offsets[1], offsets[2]
    if router == ROUTER_CHANNEL:  # u: the channel's d rows, psi_re: vec(rho) of the inputs
        d = u.shape[0]
        for i in range(d):
            amp_re[i] = 0.0
            for j in range(u.shape[1]):
                amp_re[i] += u[i, j] * psi_re[s, idx, j]
        for e in range(n_experts):
            total = 0.0
            for i in range(d):  # the torch path clamps rounding's negative probabilities
                total += max(amp_re[i], 0.0) * readout[i, e]
            g[e] = total
    elif router == ROUTER_QUANTUM:
        d = u.shape[0]
        for i in range(d):
            re, im = 0.0, 0.0
            if imag:
                for j in range(d):
                    re += u[i, j] * psi_re[s, idx, j]
                    im += u[i, j] * psi_im[s, idx, j]
            else:
                for j in range(d):
                    re += u[i, j] * psi_re[s, idx, j]
            amp_re[i], amp_im[i] = re, im
        for e in range(n_experts):
            total = 0.0
            for i in range(d):
                total += (amp_re[i] ** 2 + amp_im[i] ** 2) * readout[i, e]
            g[e] = total
    else:  # softmax of the dense chain's logits, computed for the batch (_dense_forward)
        for e in range(n_experts):
            g[e] = top[e, col]
        largest = -np.inf
        for e in range(n_experts):
            largest = max(largest, g[e])
        total = 0.0
        for e in range(n_experts):
            g[e] = math.exp(g[e] - largest)
            total += g[e]
        for e in range(n_experts):
            g[e] /= total
    for c in range(n_classes):
        logits[c] = 0.0
    for e in range(n_experts):
        for c in range(n_classes):
            k = e * n_classes + c
            value = params[s, e_b + k]
            for f in range(n_features):
                value += params[s, e_w + k * n_features + f] * x[s, f, idx]
            z[e, c] = value
            logits[c] += g[e] * value


@numba.njit(cache=True, inline="always")
def _log_softmax_at(logits, label, probs):
    """log p(label), the softmax into probs, and whether the first maximum is the label."""
    largest, first = logits[0], 0
    for c in range(1, logits.shape[0]):
        if logits[c] > largest:
            largest, first = logits[c], c
    total = 0.0
    for c in range(logits.shape[0]):
        probs[c] = math.exp(logits[c] - largest)
        total += probs[c]
    for c in range(logits.shape[0]):
        probs[c] /= total
    return logits[label] - largest - math.log(total), first == label


@numba.njit(cache=True)
def train_epoch(
    params, exp_avg, exp_avg_sq, first_step, lr, weight_decay,
    x, y, order, batch_size, x_val, y_val, xr, xr_val,
    router, offsets, dense, activation, n_experts, n_classes,
    psi_re, psi_im, val_psi_re, val_psi_im, n, n_layers, signs, rows, readout, supers, tail,
    batch_losses, train_loss, train_correct, val_loss, val_correct,
):  # fmt: skip
    """One epoch of every model: params, exp_avg, exp_avg_sq (S, P) updated in place;
    batch_losses (S, batches), train_loss (S, the sum of batch loss x batch length, in
    batch order, as fit sums), train_correct, val_loss, val_correct (S,) written.

    x (S, F, rows) and y (S, rows) are each model's training data, order (S, rows) its
    epoch's permutation; first_step the Adam step count before the epoch; the circuit's
    embedded inputs psi (S, rows, 2^n) were computed once (embed_all); a dense router reads
    xr, xr_val (S, dense[0, 0], rows): the inputs, or features of them. A channel router
    reads vec(rho) of its embedded inputs from psi_re, val_psi_re (S, rows, 4^n) and its
    layers' superoperators A_l from supers (L, 4^n, 4^n), the trailing one from tail.
    """
    models, n_rows, n_features = x.shape[0], x.shape[2], x.shape[1]
    n_params = params.shape[1]
    r_w, e_w, e_b = offsets[0], offsets[1], offsets[2]
    quantum, channel = router == ROUTER_QUANTUM, router == ROUTER_CHANNEL
    # an RY embedding's states are real: their (zero) imaginary parts are skipped, exactly
    imag_train, imag_val = np.any(psi_im != 0.0), np.any(val_psi_im != 0.0)
    n_dense, width = dense.shape[0], 1
    for layer in range(n_dense):
        width = max(width, dense[layer, 0], dense[layer, 1])
    # the dense router's batch: inputs and activations, pre-activations, deltas (one column
    # per row of the batch, or of the validation set)
    rows_max = max(batch_size, x_val.shape[2]) if not (quantum or channel) else 1
    act = np.empty((n_dense + 1, width, rows_max))
    pre = np.empty((max(n_dense, 1), width, rows_max))
    delta, below = np.empty((width, rows_max)), np.empty((width, rows_max))
    d = (1 << n) if quantum or channel else 1
    big = d * d if channel else 1  # the channel's vec(rho) length
    qa = np.empty((max(n_layers, 1) if channel else 1, d, big))
    channel_rows, zt = np.empty((d, big)), np.empty((d, big))
    tmp, one, two = np.empty(big), np.empty(big), np.empty(big)
    gates = np.empty((1, max(n * n_layers, 1), 4))
    layers = np.empty((1, max(n_layers, 1), d, d))
    prefix = np.empty((1, n_layers + 1, d, d))
    h, update = np.empty((d, d)), np.empty((d, d))
    yy, yp = np.empty((d, d)), np.empty((d, d))
    t = np.empty((max(n, 1), 2, 2))
    amp_re, amp_im = np.empty(d), np.empty(d)
    g, dg = np.empty(n_experts), np.empty(n_experts)
    z = np.empty((n_experts, n_classes))
    logits, probs, dl = np.empty(n_classes), np.empty(n_classes), np.empty(n_classes)
    grad = np.empty(n_params)
    n_batches = (n_rows + batch_size - 1) // batch_size
    for s in range(models):
        train_loss[s], train_correct[s] = 0.0, 0
        for k in range(n_batches):
            lo = k * batch_size
            hi = min(lo + batch_size, n_rows)
            weight = -1.0 / (hi - lo)  # the mean's: -1/B at the label
            grad[:] = 0.0
            if channel:
                _channel_rows(params, s, r_w, n, n_layers, supers, tail, qa, channel_rows, tmp)
                zt[:, :] = 0.0
            elif quantum:
                _circuit(params, s, r_w, n, n_layers, signs, rows, gates, layers, prefix)
                h[:, :] = 0.0
            else:
                for j in range(hi - lo):
                    for f in range(dense[0, 0]):
                        act[0, f, j] = xr[s, f, order[s, lo + j]]
                _dense_forward(params, s, dense, activation, act, pre, hi - lo)
            loss = 0.0
            for b in range(lo, hi):
                idx, label = order[s, b], y[s, order[s, b]]
                _forward_row(
                    params, s, x, idx, router, offsets, n_experts, n_classes,
                    channel_rows if channel else prefix[0, n_layers], readout, psi_re, psi_im,
                    imag_train, amp_re, amp_im, pre[n_dense - 1], b - lo, g, z, logits,
                )  # fmt: skip
                log_p, right = _log_softmax_at(logits, label, probs)
                loss += log_p * weight
                train_correct[s] += right
                for c in range(n_classes):  # d(log p(label) * weight) / d logits
                    dl[c] = weight * ((1.0 if c == label else 0.0) - probs[c])
                for e in range(n_experts):
                    dg[e] = 0.0
                    for c in range(n_classes):
                        kk = e * n_classes + c
                        dz = g[e] * dl[c]
                        grad[e_b + kk] += dz
                        for f in range(n_features):
                            grad[e_w + kk * n_features + f] += dz * x[s, f, idx]
                        dg[e] += dl[c] * z[e, c]
                if channel:  # zt[i] += d loss / d p_i vec(rho) (none where p_i was clamped)
                    for i in range(d):
                        if amp_re[i] >= 0.0:
                            gi = 0.0
                            for e in range(n_experts):
                                gi += dg[e] * readout[i, e]
                            for j in range(big):
                                zt[i, j] += gi * psi_re[s, idx, j]
                elif quantum:  # h[i, j] = sum_b g_i (Re A_i Re psi_j + Im A_i Im psi_j)
                    for i in range(d):
                        gi = 0.0
                        for e in range(n_experts):
                            gi += dg[e] * readout[i, e]
                        wr, wi = amp_re[i] * gi, amp_im[i] * gi
                        if imag_train:
                            for j in range(d):
                                h[i, j] += wr * psi_re[s, idx, j] + wi * psi_im[s, idx, j]
                        else:
                            for j in range(d):
                                h[i, j] += wr * psi_re[s, idx, j]
                else:  # the softmax's backward; the dense layers' after the batch
                    inner = 0.0
                    for e in range(n_experts):
                        inner += dg[e] * g[e]
                    for e in range(n_experts):
                        delta[e, b - lo] = g[e] * (dg[e] - inner)
            if not (quantum or channel):
                _dense_backward(params, s, dense, activation, act, pre, delta, below, grad, hi - lo)
            if channel:
                _channel_backward(
                    params, s, r_w, n, n_layers, supers, qa, zt, grad, tmp, one, two
                )  # fmt: skip
            if quantum:  # the adjoint sweep (jit_kernel._adjoint_backward_real)
                for layer in range(n_layers - 1, -1, -1):
                    _gate_contractions(h, prefix, gates, 0, layer, n, signs, rows, yy, yp, t)
                    for q in range(n):
                        gate = layer * n + q
                        c, sn = gates[0, gate, 0], gates[0, gate, 2]
                        grad[r_w + gate] = (
                            -sn * t[q, 0, 0] - c * t[q, 0, 1] + c * t[q, 1, 0] - sn * t[q, 1, 1]
                        )
                    for a in range(d):  # G_{l-1} = M_l^T G_l
                        for j in range(d):
                            update[a, j] = 0.0
                            for i in range(d):
                                update[a, j] += layers[0, layer, i, a] * h[i, j]
                    h[:, :] = update
            batch_losses[s, k] = loss
            train_loss[s] += loss * (hi - lo)
            # Adam, as torch's fused kernel: L2 decay into the gradient, bias corrections
            step = float(first_step + k + 1)
            bias1 = 1.0 - BETA1**step
            bias2_sqrt = math.sqrt(1.0 - BETA2**step)
            step_size = lr[s] / bias1
            decay = weight_decay[s]
            for p in range(n_params):
                gp = grad[p]
                if decay != 0.0:
                    gp += params[s, p] * decay
                m = exp_avg[s, p]
                m += (1.0 - BETA1) * (gp - m)
                v = exp_avg_sq[s, p] * BETA2 + (1.0 - BETA2) * gp * gp
                exp_avg[s, p], exp_avg_sq[s, p] = m, v
                params[s, p] -= step_size * m / (math.sqrt(v) / bias2_sqrt + ADAM_EPS)
        # validation with the epoch's final parameters: mean cross-entropy, right answers
        if channel:
            _channel_rows(params, s, r_w, n, n_layers, supers, tail, qa, channel_rows, tmp)
        elif quantum:
            _circuit(params, s, r_w, n, n_layers, signs, rows, gates, layers, prefix)
        else:
            for j in range(x_val.shape[2]):
                for f in range(dense[0, 0]):
                    act[0, f, j] = xr_val[s, f, j]
            _dense_forward(params, s, dense, activation, act, pre, x_val.shape[2])
        total, right_count = 0.0, 0
        for b in range(x_val.shape[2]):
            _forward_row(
                params, s, x_val, b, router, offsets, n_experts, n_classes,
                channel_rows if channel else prefix[0, n_layers], readout, val_psi_re,
                val_psi_im, imag_val, amp_re, amp_im, pre[n_dense - 1], b, g, z, logits,
            )  # fmt: skip
            log_p, right = _log_softmax_at(logits, y_val[s, b], probs)
            total += log_p
            right_count += right
        val_loss[s] = -total / x_val.shape[2]
        val_correct[s] = right_count
