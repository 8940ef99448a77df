"""The pack trainer on the GPU: the CPU's ``pack_kernel.train_pack`` for the dense family.

Same signature and same outputs as the CPU twin (the per-epoch arrays and ``results`` are
filled in place, ``params`` ends as the trained parameters), for linear regression,
softmax regression and MLPs. Other model families raise ``ConfigError("device", ...)``.

Design
------
- **One thread block per trial.** All trials of a pack advance together, one kernel
  launch per optimisation step (``step_kernel``, K blocks): the block runs the trial's
  forward pass, loss, backward pass, global-norm reduction, clipping, divergence check,
  schedule and update rule, so nothing is shared between trials and a trial's numbers
  depend on its own settings and seed only.
- **Tiled matrix products** (``gemm.py``): each layer is a block-level GEMM through 16-deep
  shared-memory chunks, 16 outputs per thread in registers; per step a trial does
  forward (X_batch @ W + b), weight gradients (A^T @ delta) and input deltas
  (delta @ W^T, masked by the activation's derivative).
- **Everything stays on the device**: X, labels, every trial's parameters, gradient,
  optimiser state, batch order and scratch (activations and two delta buffers). Each
  epoch is: one shuffle launch (one thread per trial, the CPU's SplitMix64 stream),
  one step launch per mini-batch, one evaluation launch (validation loss and metric,
  epoch bookkeeping, early stopping). Only the per-epoch metrics come back.
- **Same numbers as the CPU**: every sum the CPU does in float32 is done in the same order
  by one thread; the float64 sums (loss, norm) are block reductions, which differ by float64
  rounding only. Divergence is the CPU's rule: non-finite loss or gradient norm, or loss above
  ``diverge_factor * max(1, |initial training loss|)``; the trial stops before the bad
  gradient is applied, with status, step, epochs, reason code, offending values and the
  partial epoch's row as on the CPU.
- Compile time is reported apart: the kernels are compiled for the pack's argument types
  before the first launch, and ``train_pack`` returns the seconds that took.
- Big packs are split into groups of trials that fit in the device's free memory.
"""

from __future__ import annotations

import math
import time
import warnings
from collections import namedtuple

import numpy as np
from numba import cuda, float32 as nb_float32, float64 as nb_float64

from ..errors import ConfigError
from ..models.dense import A_ACT, A_LAYERS, A_LOSS, A_SIZES, CROSS_ENTROPY
from ..models.kernels import DENSE
from ..optimizers import pack_buffers
from ..pack_kernel import (DIV_EXPLODED, DIV_LOSS, DIV_NONE, DIV_NORM, DIV_VAL, DIVERGED, EARLY_STOPPED, I_LOSS,
                           I_NORM, I_START, N_INFO, N_RESULTS, OK, R_DIVERGED_AT, R_EPOCHS, R_REASON, R_STATUS,
                           R_STEPS, no_checkpoint)
from ..rng import _STREAM_SHUFFLE, new_state
from ..schedules import S_UNIT
from . import require_device, simulating
from .clipping import block_sum, clip_row
from .gemm import EPI_ACT, EPI_DACT, EPI_STORE, KC, MAX_THREADS, TM_PAD, TN_PAD, TX, build as build_gemm
from .optimizers import pack_state, rule_update
from .rng import shuffle
from .schedules import schedule_lr

# -- the kernels' arguments: named records of device arrays (numba-cuda passes a namedtuple field by field)
# a split of the data: rows, class labels or regression targets, the targets' total sum of squares (R^2)
DeviceSplit = namedtuple("DeviceSplit", ["X", "y_class", "y_reg", "ss_tot"])
# every trial's parameters, gradient, the rule's two state buffers, scratch (activations, deltas), batch order
DeviceState = namedtuple("DeviceState", ["theta", "grad", "opt_state", "scalars", "scratch", "orders"])
# the per-trial settings (pack_kernel.Trials without seeds and parameters)
DeviceTrials = namedtuple("DeviceTrials", ["rules", "hypers", "schedules", "clip_modes", "clip_cs"])
# per-trial bookkeeping: results (R_*), infos (I_*), divergence reference, the epoch's running sums and
# last lr, early stopping's best loss and epoch, the regression metric's per-output residual sums
DeviceProgress = namedtuple("DeviceProgress", ["results", "infos", "ref_loss", "loss_sum", "norm_sum", "last_lr",
                                               "best", "best_epoch", "ssres"])
# per trial and epoch, as pack_kernel.Outputs
DeviceCurves = namedtuple("DeviceCurves", ["train_loss", "val_loss", "val_metric", "grad_norm", "lr", "steps_at"])
# what every launch shares: batch size, rows per evaluation pass, training rows and batches, divergence
# bound, early stopping
LoopConstants = namedtuple("LoopConstants", ["batch", "chunk", "n_train", "n_batches", "diverge_factor", "patience",
                                             "min_delta"])

EVAL_ROWS = 128  # rows per forward pass when evaluating a whole split (at least the batch size)
THREADS = 256  # threads per block on a GPU
SIM_THREADS = 16  # ... and in the simulator (Python threads: fewer is faster)
SUPPORTED = "linear_regression, softmax_regression and mlp (the dense family)"

_KERNELS: dict = {}
# At most 256 threads and at least 2 resident blocks per SM: caps ptxas at 128 registers per
# thread (it takes ~170 otherwise, one block per SM; measured with ptxas -v for sm_90: 128
# registers cost ~60 bytes of spills). The simulator's jit takes no launch bounds.
MIN_BLOCKS_PER_SM = 2
_LAUNCH = {} if simulating() else {"launch_bounds": (MAX_THREADS, MIN_BLOCKS_PER_SM)}


def kernels(dtype):
    """(step_kernel, eval_kernel) compiled for float32 or float64 parameters."""
    name = np.dtype(dtype).name
    if name not in _KERNELS:
        _KERNELS[name] = _build(nb_float32 if name == "float32" else nb_float64)
    return _KERNELS[name]


def _build(dt):
    gemm = build_gemm(dt)
    zero = np.dtype(dt.name).type(0.0)

    @cuda.jit(device=True)
    def forward(layout, X, orders, k, row0, rows, use_orders, theta, S, As, Bs):
        """The network on ``rows`` samples; layer l's outputs (rows x width) follow layer l-1's in
        row k of S from offset 0; returns the offset of the network's output."""
        n_layers = layout[A_LAYERS]
        act = layout[A_ACT]
        p_off = 0
        z_off = 0
        prev = 0
        for l in range(n_layers):
            din = layout[A_SIZES + l]
            dout = layout[A_SIZES + l + 1]
            epi = EPI_ACT if l < n_layers - 1 else EPI_STORE
            gemm(rows, dout, din,
                 X, orders, k, row0, use_orders, l == 0, True, S, prev, din, 1,
                 theta, p_off, dout, 1,
                 theta, True, p_off + din * dout,
                 epi, act, S, z_off, dout, S, 0,
                 As, Bs)
            prev = z_off
            z_off += rows * dout
            p_off += din * dout + dout
        return prev

    @cuda.jit(device=True)
    def row_loss(loss_kind, S, k, out_off, n_out, y_class, y_reg, r, i, want, d_off, sc):
        """Loss of output row i (data row r), as the CPU's ``_output_loss``; with ``want``, writes
        sc * d(loss)/d(out) for the row into S at d_off."""
        base = out_off + i * n_out
        if loss_kind == CROSS_ENTROPY:
            zmax = S[k, base]
            for j in range(1, n_out):
                if S[k, base + j] > zmax:
                    zmax = S[k, base + j]
            s = 0.0
            for j in range(n_out):
                s += math.exp(float(S[k, base + j] - zmax))
            label = y_class[r]
            # float() on every float32 term: float64 arithmetic in the simulator too, as numba types it
            total = math.log(s) + float(zmax) - float(S[k, base + label])
            if want:
                for j in range(n_out):
                    d = dt(math.exp(float(S[k, base + j] - zmax)) / s)
                    if j == label:
                        d = dt(float(d) - 1.0)
                    S[k, d_off + i * n_out + j] = d * sc
            return total
        total = 0.0
        for j in range(n_out):
            rr = S[k, base + j] - y_reg[r, j]
            total += float(rr) * float(rr)
            if want:
                S[k, d_off + i * n_out + j] = dt(2.0 * rr) * sc
        return total

    @cuda.jit(**_LAUNCH)
    def step_kernel(layout, split, state, trials, progress, curves, const, row0, rows, epoch, step):
        """One optimisation step of every trial still training: block k = trial k, on rows
        [row0, row0 + rows) of its batch order. A trial that diverges records why
        (``progress.results[k, R_REASON]``, ``progress.infos[k]``) and its partial epoch's row."""
        X, y_class, y_reg, orders = split.X, split.y_class, split.y_reg, state.orders
        theta, grad, opt_state, scal, S = state.theta, state.grad, state.opt_state, state.scalars, state.scratch
        rules, hypers, scheds, clip_modes, clip_cs = (trials.rules, trials.hypers, trials.schedules,
                                                      trials.clip_modes, trials.clip_cs)
        results, info, ref_loss = progress.results, progress.infos, progress.ref_loss
        loss_sum, norm_sum, last_lr = progress.loss_sum, progress.norm_sum, progress.last_lr
        train_loss, grad_norm, lrs, steps_at = curves.train_loss, curves.grad_norm, curves.lr, curves.steps_at
        batch, rows_cap, diverge_factor = const.batch, const.chunk, const.diverge_factor
        k = cuda.blockIdx.x
        if k >= theta.shape[0] or results[k, R_STATUS] != OK:
            return
        As = cuda.shared.array((KC, TM_PAD), dt)
        Bs = cuda.shared.array((KC, TN_PAD), dt)
        red = cuda.shared.array(MAX_THREADS, nb_float64)
        tid = cuda.threadIdx.x
        nt = cuda.blockDim.x
        n_layers = layout[A_LAYERS]
        act = layout[A_ACT]
        loss_kind = layout[A_LOSS]
        n_out = layout[A_SIZES + n_layers]
        sum_w = 0
        max_w = 0
        for l in range(1, n_layers + 1):
            sum_w += layout[A_SIZES + l]
            max_w = max(max_w, layout[A_SIZES + l])
        n_params = theta.shape[1]

        out_off = forward(layout, X, orders, k, row0, rows, True, theta, S, As, Bs)
        d_cur = rows_cap * sum_w
        d_other = d_cur + batch * max_w
        scale = 1.0 / rows if loss_kind == CROSS_ENTROPY else 1.0 / (rows * n_out)
        sc = dt(scale)
        part = 0.0
        for i in range(tid, rows, nt):
            part += row_loss(loss_kind, S, k, out_off, n_out, y_class, y_reg, orders[k, row0 + i], i, True, d_cur, sc)
        loss = block_sum(red, part) * scale  # block_sum synchronises: the deltas are in place

        p_end = n_params
        a_end = rows * (sum_w - n_out)
        for l in range(n_layers - 1, -1, -1):
            din = layout[A_SIZES + l]
            dout = layout[A_SIZES + l + 1]
            p_off = p_end - (din * dout + dout)
            a_prev = a_end - rows * din
            # dW (din x dout) = A_prev^T @ delta
            gemm(din, dout, rows,
                 X, orders, k, row0, True, l == 0, False, S, a_prev, 1, din,
                 S, d_cur, dout, 1,
                 theta, False, 0,
                 EPI_STORE, act, grad, p_off, dout, S, 0,
                 As, Bs)
            for n in range(tid, dout, nt):
                s = zero
                for i in range(rows):
                    s += S[k, d_cur + i * dout + n]
                grad[k, p_off + din * dout + n] = s
            if l > 0:
                # delta_prev (rows x din) = (delta @ W^T) * act'(A_prev)
                gemm(rows, din, dout,
                     X, orders, k, row0, True, False, True, S, d_cur, dout, 1,
                     theta, p_off, 1, dout,
                     theta, False, 0,
                     EPI_DACT, act, S, d_other, din, S, a_prev,
                     As, Bs)
                tmp = d_cur
                d_cur = d_other
                d_other = tmp
                a_end = a_prev
            p_end = p_off
        cuda.syncthreads()  # the whole gradient is written

        norm = clip_row(grad, k, clip_modes[k], clip_cs[k], red)
        sp = scheds[k]
        if not (math.isfinite(loss) and math.isfinite(norm)) or loss > diverge_factor * ref_loss[k]:
            if tid == 0:
                results[k, R_STATUS] = DIVERGED
                results[k, R_DIVERGED_AT] = step
                results[k, R_STEPS] = step
                results[k, R_EPOCHS] = epoch
                if not math.isfinite(loss):
                    results[k, R_REASON] = DIV_LOSS
                elif not math.isfinite(norm):
                    results[k, R_REASON] = DIV_NORM
                else:
                    results[k, R_REASON] = DIV_EXPLODED
                info[k, I_LOSS] = loss
                info[k, I_NORM] = norm
                # the partial epoch's row: means over the mini-batches seen, the offending one included
                train_loss[k, epoch] = (loss_sum[k] + loss * rows) / (row0 + rows)
                grad_norm[k, epoch] = (norm_sum[k] + norm) / (row0 // batch + 1)
                if sp[S_UNIT] == 1.0:
                    lrs[k, epoch] = schedule_lr(sp, float(epoch))
                else:
                    lrs[k, epoch] = schedule_lr(sp, float(step))
                steps_at[k, epoch] = step
            return
        if sp[S_UNIT] == 1.0:
            lr = schedule_lr(sp, float(epoch))
        else:
            lr = schedule_lr(sp, float(step))
        # the same j per thread as clip_row (tid, tid + nt, ...): no barrier needed
        rule_update(rules[k], theta, grad, opt_state, scal, k, tid, n_params, nt, hypers[k], lr, step + 1)
        if tid == 0:
            loss_sum[k] += loss * rows
            norm_sum[k] += norm
            last_lr[k] = lr

    @cuda.jit(**_LAUNCH)
    def eval_kernel(layout, split, state, progress, curves, const, mode, epoch, step):
        """(mean loss, metric) of every trial still training over all rows of ``split``; mode 0 sets the
        divergence reference from it, mode 1 closes the epoch (the CPU trainer's per-epoch block)."""
        X, y_class, y_reg, ss_tot = split.X, split.y_class, split.y_reg, split.ss_tot
        orders, theta, S = state.orders, state.theta, state.scratch
        results, info, ref_loss, ssres = progress.results, progress.infos, progress.ref_loss, progress.ssres
        loss_sum, norm_sum, last_lr = progress.loss_sum, progress.norm_sum, progress.last_lr
        best, best_epoch = progress.best, progress.best_epoch
        train_loss, val_loss, val_metric = curves.train_loss, curves.val_loss, curves.val_metric
        grad_norm, lrs, steps_at = curves.grad_norm, curves.lr, curves.steps_at
        chunk, n_train, n_batches = const.chunk, const.n_train, const.n_batches
        patience, min_delta = const.patience, const.min_delta
        k = cuda.blockIdx.x
        if k >= theta.shape[0] or results[k, R_STATUS] != OK:
            return
        As = cuda.shared.array((KC, TM_PAD), dt)
        Bs = cuda.shared.array((KC, TN_PAD), dt)
        red = cuda.shared.array(MAX_THREADS, nb_float64)
        tid = cuda.threadIdx.x
        nt = cuda.blockDim.x
        n = X.shape[0]
        n_layers = layout[A_LAYERS]
        loss_kind = layout[A_LOSS]
        n_out = layout[A_SIZES + n_layers]
        part = 0.0
        correct = 0
        for j in range(tid, n_out, nt):
            ssres[k, j] = 0.0
        for lo in range(0, n, chunk):
            rows = min(chunk, n - lo)
            out_off = forward(layout, X, orders, k, lo, rows, False, theta, S, As, Bs)
            for i in range(tid, rows, nt):
                part += row_loss(loss_kind, S, k, out_off, n_out, y_class, y_reg, lo + i, i, False, 0, zero)
                if loss_kind == CROSS_ENTROPY:
                    base = out_off + i * n_out
                    bj = 0
                    for j in range(1, n_out):
                        if S[k, base + j] > S[k, base + bj]:
                            bj = j
                    if bj == y_class[lo + i]:
                        correct += 1
            if loss_kind != CROSS_ENTROPY:
                for j in range(tid, n_out, nt):  # one thread per output, rows in order: the CPU's sum
                    acc = ssres[k, j]
                    for i in range(rows):
                        r = float(S[k, out_off + i * n_out + j]) - float(y_reg[lo + i, j])
                        acc += r * r
                    ssres[k, j] = acc
            cuda.syncthreads()  # S is overwritten by the next chunk
        total = block_sum(red, part)
        n_correct = block_sum(red, float(correct))
        if tid != 0:
            return
        if loss_kind == CROSS_ENTROPY:
            vl = total / n
            vm = n_correct / n
        else:
            vl = total / (n * n_out)
            r2 = 0.0
            for j in range(n_out):
                if ss_tot[j] > 0:
                    r2 += 1.0 - ssres[k, j] / ss_tot[j]
                elif ssres[k, j] == 0:
                    r2 += 1.0
            vm = r2 / n_out
        if mode == 0:
            ref_loss[k] = max(abs(vl), 1.0)
            info[k, I_START] = vl
            return
        train_loss[k, epoch] = loss_sum[k] / n_train
        val_loss[k, epoch] = vl
        val_metric[k, epoch] = vm
        grad_norm[k, epoch] = norm_sum[k] / n_batches
        lrs[k, epoch] = last_lr[k]
        steps_at[k, epoch] = step
        results[k, R_STEPS] = step
        results[k, R_EPOCHS] = epoch + 1
        loss_sum[k] = 0.0
        norm_sum[k] = 0.0
        if not math.isfinite(vl):
            results[k, R_STATUS] = DIVERGED
            results[k, R_DIVERGED_AT] = step
            results[k, R_REASON] = DIV_VAL
            info[k, I_LOSS] = vl
        elif vl < best[k] - min_delta:
            best[k] = vl
            best_epoch[k] = epoch
        elif patience > 0 and epoch - best_epoch[k] >= patience:
            results[k, R_STATUS] = EARLY_STOPPED

    return step_kernel, eval_kernel


# -- host side ---------------------------------------------------------------------------------

def _ss_tot(yr) -> np.ndarray:
    """Per-output total sum of squares of the targets, summed in the CPU's order (float64)."""
    n, n_out = yr.shape
    out = np.zeros(max(n_out, 1))
    for j in range(n_out):
        col = yr[:, j].astype(np.float64)
        mean = np.cumsum(col)[-1] / n  # cumsum adds sequentially, as the CPU kernel does
        d = yr[:, j] - mean
        out[j] = np.cumsum(d * d)[-1]
    return out


def _nonempty(a, dtype):
    """A device-friendly array: kernels index (0-sized) label arrays they never read."""
    a = np.ascontiguousarray(a, dtype=dtype)
    if a.size == 0:
        a = np.zeros((1,) * a.ndim, dtype=dtype)
    return a


def _threads(threads) -> int:
    nt = threads if threads is not None else (SIM_THREADS if simulating() else THREADS)
    if not (TX <= nt <= MAX_THREADS and nt % TX == 0):
        raise ConfigError("threads", f"CUDA threads per block must be a multiple of {TX} in [{TX}, {MAX_THREADS}], "
                                     f"got {nt!r}")
    return int(nt)


def _group_size(K: int, bytes_per_trial: int) -> int:
    """Trials per group so that a group's buffers fit in 80% of the device's free memory."""
    if simulating():
        return K
    try:
        free, _ = cuda.current_context().get_memory_info()
    except Exception:  # pragma: no cover - no context information
        return K
    return max(1, min(K, int(0.8 * free) // max(1, bytes_per_trial)))


def train_pack(family, model, data, loop, trials, out, threads=None, ck=None):
    """Train every row of ``trials.params`` (K x P) as its own trial on the GPU; the CPU twin's contract
    (the records ``pack_kernel.Model``, ``Data``, ``Loop``, ``Trials``, ``Outputs``, ``Ckpt``), returning the
    seconds spent compiling the kernels.

    ``loop.workspace_size`` is unused (the GPU sizes its own scratch); ``loop.eval_chunk`` caps the rows
    of one evaluation pass. ``threads`` is the CUDA block size (default 256, 16 in the simulator).

    ``ck`` (``pack_kernel.Ckpt``, as the CPU trainer's; None: from the start to the end, saving nothing):
    trials continued from a checkpoint (``ck.load[k]``) are trained in groups that start at the same epoch
    (the launches share the epoch and step), from the state the checkpoint holds (parameters, the rule's
    buffers and scalars, batch order, shuffling stream, early stopping's best, the outputs so far); with
    ``ck.save`` the state of every trial still training at ``ck.stop_epoch`` is written back to ``ck``, in
    the CPU's format, so either device continues the other's checkpoints.
    """
    require_device()
    if family != DENSE:
        raise ConfigError("device", f"the CUDA trainer supports {SUPPORTED}; train this model with device=\"cpu\"")
    nt = _threads(threads)
    layout = model.layout
    rules = trials.rules
    K, P = trials.params.shape
    dtype = trials.params.dtype
    step_kernel, eval_kernel = kernels(dtype)
    n = data.X.shape[0]
    batch = int(loop.batch)
    epochs = int(loop.epochs)
    n_batches = (n + batch - 1) // batch
    n_layers = int(layout[A_LAYERS])
    widths = [int(w) for w in layout[A_SIZES + 1:A_SIZES + 1 + n_layers]]
    n_out = widths[-1]
    chunk = max(batch, min(EVAL_ROWS, int(loop.eval_chunk)))
    s_cols = chunk * sum(widths) + 2 * batch * max(widths)
    state_rows = max(1, pack_buffers(rules, trials.hypers))  # the rules' buffers (derived from the records)
    itemsize = np.dtype(dtype).itemsize
    per_trial = itemsize * (P * (2 + state_rows) + s_cols) + 4 * n + 8 * (26 + 6 * epochs + n_out)

    # the data on the device, shared by every group; the training split's targets' total sum of
    # squares (R^2 of the starting evaluation) and the validation split's
    dev = _DeviceData(layout=cuda.to_device(np.ascontiguousarray(layout, dtype=np.int64)),
                      train=_device_split(data.X, data.y_class, data.y_reg, dtype),
                      val=_device_split(data.X_val, data.y_val_class, data.y_val_reg, dtype))
    sizes = _Sizes(n=n, batch=batch, n_batches=n_batches, epochs=epochs, chunk=chunk, s_cols=s_cols, n_out=n_out,
                   diverge_factor=float(loop.diverge_factor),
                   patience=int(loop.patience), min_delta=float(loop.min_delta))

    if ck is None:
        ck = no_checkpoint(K, epochs, dtype)
    stop = min(int(ck.stop_epoch), epochs)
    # trials that start together: fresh ones, and continued ones by the epoch (and step) they continue at; a
    # continued trial that had ended (diverged or stopped early) is not trained again (as on the CPU)
    starts: dict = {}
    for k in range(K):
        if ck.load[k] == 0:
            starts.setdefault(None, []).append(k)
        elif out.results[k, R_STATUS] == OK:
            starts.setdefault((int(ck.epoch[k]), int(ck.step[k])), []).append(k)
    group = _group_size(K, per_trial)
    compile_s = 0.0
    for start, ks in starts.items():
        for g0 in range(0, len(ks), group):
            idx = np.array(ks[g0:g0 + group], dtype=np.int64)
            g_trials = type(trials)(*(a[idx] for a in trials))  # copies, written back below
            g_out = type(out)(*(a[idx] for a in out))
            compile_s += _train_group(step_kernel, eval_kernel, nt, dev, sizes, g_trials, g_out, ck, idx, start, stop)
            trials.params[idx] = g_trials.params
            for host, part in zip(out, g_out):
                host[idx] = part
    return compile_s


_DeviceData = namedtuple("_DeviceData", ["layout", "train", "val"])
_Sizes = namedtuple("_Sizes", ["n", "batch", "n_batches", "epochs", "chunk", "s_cols", "n_out",
                               "diverge_factor", "patience", "min_delta"])


def _device_split(X, y_class, y_reg, dtype) -> DeviceSplit:
    return DeviceSplit(cuda.to_device(np.ascontiguousarray(X)), cuda.to_device(_nonempty(y_class, np.int64)),
                       cuda.to_device(_nonempty(y_reg, dtype)),
                       cuda.to_device(_ss_tot(y_reg) if y_reg.size else np.zeros(1)))


def kernel_signatures(dtype) -> dict:
    """``{"step_kernel": sig, "eval_kernel": sig}``: the argument types of a launch for ``dtype``
    parameters, for compiling the kernels without a GPU (``cuda.compile_ptx``). Built from the
    same records as a launch, so they cannot drift from it."""
    from numba import typeof

    dt = np.dtype(dtype)
    f2, i1, d1, d2 = np.zeros((1, 1), dt), np.zeros(1, np.int64), np.zeros(1), np.zeros((1, 1))
    i2 = np.zeros((1, 1), np.int64)
    split = DeviceSplit(f2, i1, f2, d1)
    state = DeviceState(f2, f2, np.zeros((1, 1, 1), dt), np.zeros((1, 2, 1)), f2, np.zeros((1, 1), np.int32))
    trials = DeviceTrials(i1, d2, d2, i1, d1)
    progress = DeviceProgress(i2, d2, d1, d1, d1, d1, d1, i1, d2)
    curves = DeviceCurves(d2, d2, d2, d2, d2, i2)
    const = LoopConstants(1, 1, 1, 1, 1.0, 1, 1.0)
    step = (i1, split, state, trials, progress, curves, const, 1, 1, 1, 1)
    ev = (i1, split, state, progress, curves, const, 1, 1, 1)
    return {"step_kernel": tuple(typeof(a) for a in step), "eval_kernel": tuple(typeof(a) for a in ev)}


def _precompile(kernel, args) -> None:
    """Compile ``kernel`` for the types a launch with ``args`` would use, as numba's dispatcher does on a
    launch (a no-op when done, and in the simulator, which compiles nothing). Should numba-cuda's
    dispatcher differ, the launch compiles instead: its time then counts as training, and a real
    error is raised by the launch."""
    if not hasattr(kernel, "typeof_pyval"):
        return
    try:
        kernel.compile(tuple(kernel.typeof_pyval(a) for a in args))
    except Exception:  # noqa: BLE001 - the launch will compile (or raise) as before
        pass


def _train_group(step_kernel, eval_kernel, nt, dev, sizes, trials, out, ck, idx, start, stop):
    """Train one group of trials (``trials``, ``out``: their rows; rows ``idx`` of the checkpoint record
    ``ck``) on the device data ``dev``, from the start (``start`` None) or from their checkpoints at
    ``start`` = (epoch, step), up to epoch ``stop``."""
    K, P = trials.params.shape
    dtype = trials.params.dtype
    n, batch, n_batches, chunk = sizes.n, sizes.batch, sizes.n_batches, sizes.chunk
    epochs = sizes.epochs
    rules = trials.rules
    loaded = start is not None
    first_epoch, step0 = start if loaded else (0, 0)
    theta = cuda.to_device(np.ascontiguousarray(trials.params))
    grad = cuda.device_array((K, P), dtype=dtype)
    h_state, h_scal = pack_state(rules, trials.hypers, P, dtype)  # the optimizer state
    rows = min(h_state.shape[1], ck.state.shape[1])  # buffers beyond a trial's own stay zero and unread
    if loaded:
        h_state[:, :rows] = ck.state[idx, :rows]
        h_scal[:] = ck.scalars[idx]
    opt_state, scal = cuda.to_device(h_state), cuda.to_device(h_scal)
    S = cuda.device_array((K, sizes.s_cols), dtype=dtype)
    orders = cuda.to_device(ck.order[idx].astype(np.int32) if loaded else
                            np.tile(np.arange(n, dtype=np.int32), (K, 1)))
    states = cuda.to_device(ck.rng[idx].astype(np.uint64) if loaded else
                            np.array([new_state(int(s), _STREAM_SHUFFLE)[0] for s in trials.seeds], dtype=np.uint64))
    d_trials = DeviceTrials(
        rules=cuda.to_device(np.ascontiguousarray(rules, dtype=np.int64)),
        hypers=cuda.to_device(np.ascontiguousarray(trials.hypers, dtype=np.float64)),
        schedules=cuda.to_device(np.ascontiguousarray(trials.schedules, dtype=np.float64)),
        clip_modes=cuda.to_device(np.ascontiguousarray(trials.clip_modes, dtype=np.int64)),
        clip_cs=cuda.to_device(np.ascontiguousarray(trials.clip_cs, dtype=np.float64)))
    if loaded:  # the outputs so far (restored by the caller), the start's loss as measured then
        init, infos = np.ascontiguousarray(out.results), np.ascontiguousarray(out.infos, dtype=np.float64)
        ref_loss = np.maximum(np.abs(infos[:, I_START]), 1.0)
        best, best_epoch = ck.best[idx].astype(np.float64), ck.best_epoch[idx].astype(np.int64)
        h_curves = [np.ascontiguousarray(a, dtype=np.float64) for a in out[:5]] + \
            [np.ascontiguousarray(out.steps_at, dtype=np.int64)]
    else:
        init = np.zeros((K, N_RESULTS), dtype=np.int64)
        init[:, R_STATUS] = OK
        init[:, R_DIVERGED_AT] = -1
        init[:, R_REASON] = DIV_NONE
        infos, ref_loss = np.full((K, N_INFO), np.nan), np.ones(K)
        best, best_epoch = np.full(K, np.inf), np.full(K, -1, dtype=np.int64)
        h_curves = [np.full((K, epochs), np.nan) for _ in range(5)] + [np.zeros((K, epochs), dtype=np.int64)]
    progress = DeviceProgress(
        results=cuda.to_device(init), infos=cuda.to_device(infos),
        ref_loss=cuda.to_device(ref_loss), loss_sum=cuda.to_device(np.zeros(K)),
        norm_sum=cuda.to_device(np.zeros(K)), last_lr=cuda.to_device(np.zeros(K)),
        best=cuda.to_device(best), best_epoch=cuda.to_device(best_epoch),
        ssres=cuda.device_array((K, max(sizes.n_out, 1)), dtype=np.float64))
    curves = DeviceCurves(*(cuda.to_device(a) for a in h_curves))
    state = DeviceState(theta, grad, opt_state, scal, S, orders)
    const = LoopConstants(batch, chunk, n, n_batches, sizes.diverge_factor, sizes.patience, sizes.min_delta)
    d_results = progress.results

    def eval_args(split, mode, epoch, step):
        return (dev.layout, split, state, progress, curves, const, mode, epoch, step)

    def step_args(row0, rows, epoch, step):
        return (dev.layout, dev.train, state, d_trials, progress, curves, const, row0, rows, epoch, step)

    t0 = time.perf_counter()
    _precompile(eval_kernel, eval_args(dev.train, 0, 0, 0))
    _precompile(step_kernel, step_args(0, min(n, batch), 0, 0))
    _precompile(shuffle, (orders, states, d_results))  # (d_results: progress.results)
    compile_s = time.perf_counter() - t0

    # "Exploding" is judged against the full training loss at the start (one forward pass; a continued
    # trial keeps the one measured then).
    if not loaded:
        eval_kernel[K, nt](*eval_args(dev.train, 0, 0, 0))
    shuffle_blocks = (K + 127) // 128
    step = step0
    for epoch in range(first_epoch, stop):
        if n_batches > 1:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # the simulator's uint64 wrap-around
                shuffle[shuffle_blocks, 128](orders, states, d_results)
        for b in range(n_batches):
            row0 = b * batch
            rows = min(n, row0 + batch) - row0
            step_kernel[K, nt](*step_args(row0, rows, epoch, step))
            step += 1
        eval_kernel[K, nt](*eval_args(dev.val, 1, epoch, step))
        status = d_results.copy_to_host()[:, R_STATUS]
        if not np.any(status == OK):
            break
    trials.params[:] = theta.copy_to_host()
    for host, device in zip(out, (*curves, progress.results, progress.infos)):
        host[:] = device.copy_to_host()
    if ck.save != 0:  # the state at the stop of the trials still training, as the CPU trainer saves it
        ok = np.flatnonzero(out.results[:, R_STATUS] == OK)
        at = idx[ok]
        ck.epoch[at] = max(stop, first_epoch)
        ck.step[at] = step
        ck.best[at] = progress.best.copy_to_host()[ok]
        ck.best_epoch[at] = progress.best_epoch.copy_to_host()[ok]
        ck.rng[at] = states.copy_to_host()[ok]
        ck.order[at] = orders.copy_to_host()[ok]
        ck.state[at, :rows] = opt_state.copy_to_host()[ok, :rows]
        ck.scalars[at] = scal.copy_to_host()[ok]
    return compile_s


__all__ = ["train_pack", "kernels", "SUPPORTED", "EARLY_STOPPED"]
