"""The compiled pack trainer: the notes' section 12 loop for K trials in one call.

Every trial of a pack shares the model architecture, data, batch size, epochs and dtype;
each has its own rule, hyperparameters, schedule, clipping and seed. Trials run in
parallel (Python threads that each take the next untrained trial and train it in compiled
code without the GIL) and never read each other's memory, so a trial's numbers are the
same alone or in any pack, on any number of threads.

Per step:  g = grad(loss(theta; B)); norm = clip(g); divergence check (non-finite loss
           or gradient, or loss > diverge_factor * max(1, |training loss at the start|));
           lr = schedule(t); theta, S = update(theta, g, S).
Per epoch: mean train loss, validation loss and metric, mean pre-clip gradient norm,
           the lr of the epoch's last step; optional early stopping on validation loss.

Optional records (``Loop.log_every``, ``eval_every``, ``trajectory``; 0 = off, and then the step
loop does no work for them beyond a branch):
- every ``log_every`` steps, one row of ``Outputs.step_log`` (``L_*``): the lr of the window's last
  step, the mean mini-batch loss and mean pre-clip gradient norm over the window's steps, and the
  fraction of them whose gradient was clipped; row r covers steps r*N+1 .. (r+1)*N;
- every ``eval_every`` steps, the validation loss and metric after that step (``Outputs.step_val``
  row step/M - 1); an epoch end that falls on such a step reuses them (same parameters, same numbers);
- with ``trajectory``, the two parameters and the full training loss at the start (row 0) and
  after every step (row t) (``Outputs.trajectory``; 2-parameter models).
Rows not reached (a trial that stopped early) stay NaN. Evaluating never changes the training.

A diverged trial records why (``result[R_REASON]``, one of the ``DIV_*`` codes) and the
offending values (``info`` = [loss or validation loss, gradient norm, starting loss]); when
it diverged inside an epoch, that epoch's row holds the means over the mini-batches seen,
the offending one included, the lr of the offending step and no validation numbers.

Arguments are a few named records (``Model``, ``Data``, ``Loop``, ``Trials``, ``Outputs``; ``Split``
for the test split), built in one place, ``train.train_pack`` (``trials_record``,
``outputs_record``, ``settings.PackSettings.loop``); the CUDA trainer takes the same records. A new
per-trial setting is one field of ``Trials`` and one line of ``train.trials_record``, read where the
kernel uses it.
"""

import threading
import time
from collections import namedtuple
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from numba import literally

from .clipping import CLIP_NORM, CLIP_VALUE, clip
from .jit import kernel
from .models.kernels import family_evaluate, family_loss_grad
from .optimizers import COST, initial_scalars, state_rows, update
from .rng import new_state, shuffle, _STREAM_SHUFFLE
from .schedules import S_UNIT, schedule_lr

# -- the kernels' arguments: a few named records (numba types a namedtuple field by field) -----------
# Built in one place (``train.train_pack``); a new per-trial setting is a field of ``Trials`` there
# and here. The models' own arrays keep their names: ``layout`` is a model's integer layout (its
# ``ai``: sizes, offsets, activation ...), ``settings`` its float settings (its ``af``).
Model = namedtuple("Model", ["layout", "settings"])
# the training and validation splits in the model's form (class labels or regression targets)
Data = namedtuple("Data", ["X", "y_class", "y_reg", "X_val", "y_val_class", "y_val_reg"])
# the test split (same form), evaluated once after training
Split = namedtuple("Split", ["X", "y_class", "y_reg"])
# what the pack's trials share: batch size, epochs, workspace and evaluation chunk sizes, divergence
# bound, early stopping, and the optional records (0 = off): step log every log_every steps,
# validation every eval_every steps, the parameter path (trajectory: 1 = on)
Loop = namedtuple("Loop", ["batch", "epochs", "workspace_size", "eval_chunk", "diverge_factor", "patience",
                           "min_delta", "log_every", "eval_every", "trajectory"])
# one row per trial: rule id, hyperparameter vector (optimizers.HYPER), schedule vector
# (schedules.S_*), clipping mode and threshold, seed, parameters (trained in place)
Trials = namedtuple("Trials", ["rules", "hypers", "schedules", "clip_modes", "clip_cs", "seeds", "params"])
# per trial (rows) and epoch (columns); results K x N_RESULTS (R_*), infos K x N_INFO (I_*); the optional
# records (K x 0 x ... when off): step_log K x (steps // log_every) x N_LOG (L_*), step_val
# K x (steps // eval_every) x 2 (validation loss, metric), trajectory K x (steps + 1) x 3 (p0, p1, loss)
Outputs = namedtuple("Outputs", ["train_loss", "val_loss", "val_metric", "grad_norm", "lr", "steps_at", "results",
                                 "infos", "step_log", "step_val", "trajectory"])
# exact checkpoints (train.checkpoint_record; the CUDA trainer reads and writes the same record): train epochs [start, stop_epoch) of the
# trial (``loop.epochs`` stays its total length: the schedule's T, the outputs' columns). ``load[k]`` = 1
# continues trial k from the state below (its ``Outputs`` rows and parameters filled by the caller); with
# ``save`` = 1 the state is written back when the call ends. Per trial: completed epochs, steps, best
# validation loss and its epoch (early stopping), the shuffling stream's state, the batch order (shuffled
# in place from epoch to epoch), the rule's buffers (rows x P) and scalars, the step log's open window
# (loss sum, norm sum, clipped count). Arrays are K x 0 when ``save`` = 0 and nothing is loaded.
Ckpt = namedtuple("Ckpt", ["stop_epoch", "save", "load", "epoch", "step", "best", "best_epoch", "rng", "order",
                           "state", "scalars", "window"])

OK, DIVERGED, EARLY_STOPPED = 0, 1, 2
# result columns: status, step of divergence (-1), steps applied, completed epochs, divergence reason
R_STATUS, R_DIVERGED_AT, R_STEPS, R_EPOCHS, R_REASON = range(5)
N_RESULTS = 5
# why a trial diverged: loss above the bound, non-finite loss, non-finite gradient norm, non-finite validation loss
DIV_NONE, DIV_EXPLODED, DIV_LOSS, DIV_NORM, DIV_VAL = range(5)
# info columns: the offending (validation) loss, the offending gradient norm, the training loss at the start
I_LOSS, I_NORM, I_START = range(3)
N_INFO = 3
# step-log columns: lr of the window's last step, mean loss, mean pre-clip gradient norm, fraction clipped
L_LR, L_LOSS, L_NORM, L_CLIPPED = range(4)
N_LOG = 4


@kernel
def step_key(seed, step):
    """The random key of a trial's step (dropout masks): a function of its seed and step only."""
    return seed * 2654435761 + step


@kernel
def exceeds(g, c):
    """True when an entry of ``g`` lies outside [-c, c] (``c`` in ``g``'s dtype, as clip_value_kernel)."""
    hi = g.dtype.type(c)
    for i in range(g.size):
        if g[i] > hi or g[i] < -hi:
            return True
    return False


@kernel
def train_one(family, model, data, loop, rule, hyper, sched, clip_mode, clip_c, seed, theta, out, k, ck):
    """Train trial ``k`` in place (``theta``: its own copy of its parameters; ``hyper``, ``sched``: of
    its settings); fill its rows of ``out`` (see the module's docstring). ``ck``: the checkpoint record
    (``Ckpt``): where to start and stop, and the state to continue from and to save."""
    layout = model.layout
    settings = model.settings
    X = data.X
    y_class = data.y_class
    y_reg = data.y_reg
    batch = loop.batch
    diverge_factor = loop.diverge_factor
    patience = loop.patience
    min_delta = loop.min_delta
    eval_chunk = loop.eval_chunk
    train_loss = out.train_loss[k]
    grad_norm = out.grad_norm[k]
    lrs = out.lr[k]
    steps_at = out.steps_at[k]
    result = out.results[k]
    info = out.infos[k]
    n = X.shape[0]
    n_batches = (n + batch - 1) // batch
    grad = np.zeros_like(theta)
    state = np.zeros((state_rows(rule, hyper), theta.size), dtype=theta.dtype)  # the rule's buffers
    scalars = initial_scalars(rule)
    ws = np.empty(loop.workspace_size, dtype=theta.dtype)
    order = np.arange(n)
    rng = new_state(seed, _STREAM_SHUFFLE)
    per_epoch = sched[S_UNIT] == 1.0
    step = 0
    start = 0
    loading = ck.load[k] != 0
    best = np.inf
    best_epoch = -1
    w_loss = 0.0
    w_norm = 0.0
    w_clipped = 0
    if loading:
        if result[R_STATUS] != OK:
            return  # it ended (diverged or stopped early) before the checkpoint: nothing to continue
        start = ck.epoch[k]
        step = ck.step[k]
        best = ck.best[k]
        best_epoch = ck.best_epoch[k]
        rng[0] = ck.rng[k]
        order[:] = ck.order[k]
        state[:, :] = ck.state[k, :state.shape[0], :]
        scalars[:, :] = ck.scalars[k]
        w_loss = ck.window[k, 0]
        w_norm = ck.window[k, 1]
        w_clipped = int(ck.window[k, 2])
        init_loss = info[I_START]  # the start's loss as measured then (the parameters have moved since)
    else:
        # "Exploding" is judged against the full training loss at the start (one forward pass).
        init_loss, _ = family_evaluate(family, layout, settings, theta, X, y_class, y_reg, ws, eval_chunk)
        info[I_START] = init_loss
        result[R_STATUS] = OK
        result[R_DIVERGED_AT] = -1
        result[R_REASON] = DIV_NONE
    ref_loss = max(abs(init_loss), 1.0)
    # the optional records (module docstring): off (0) costs a branch per step
    log_every = loop.log_every
    eval_every = loop.eval_every
    record_path = loop.trajectory != 0
    extras = log_every > 0 or eval_every > 0 or record_path
    step_log = out.step_log[k]
    step_val = out.step_val[k]
    path = out.trajectory[k]
    if record_path and not loading:
        path[0, 0] = theta[0]
        path[0, 1] = theta[1]
        path[0, 2] = init_loss
    clipped = False
    evaluated_at = -1  # the step of the last mid-epoch validation, reused at an epoch end on the same step
    last_vl = 0.0
    last_vm = 0.0
    stop = min(ck.stop_epoch, loop.epochs)
    for epoch in range(start, stop):
        if n_batches > 1:
            shuffle(order, rng)
        lr = schedule_lr(sched, float(epoch)) if per_epoch else 0.0
        loss_sum = 0.0
        norm_sum = 0.0
        for b in range(n_batches):
            lo = b * batch
            hi = min(n, lo + batch)
            loss = family_loss_grad(family, layout, settings, theta, X, y_class, y_reg, order[lo:hi], grad, ws,
                                    step_key(seed, step))
            if log_every > 0 and clip_mode == CLIP_VALUE:
                clipped = exceeds(grad, clip_c)  # before clipping: does any entry lie outside [-c, c]?
            norm = clip(grad, clip_mode, clip_c)
            if not (np.isfinite(loss) and np.isfinite(norm)) or loss > diverge_factor * ref_loss:
                result[R_STATUS] = DIVERGED
                result[R_DIVERGED_AT] = step
                result[R_STEPS] = step
                result[R_EPOCHS] = epoch
                result[R_REASON] = DIV_LOSS if not np.isfinite(loss) else (
                    DIV_NORM if not np.isfinite(norm) else DIV_EXPLODED)
                info[I_LOSS] = loss
                info[I_NORM] = norm
                # the partial epoch's row: means over the mini-batches seen, the offending one included
                train_loss[epoch] = (loss_sum + loss * (hi - lo)) / hi
                grad_norm[epoch] = (norm_sum + norm) / (b + 1)
                lrs[epoch] = lr if per_epoch else schedule_lr(sched, float(step))
                steps_at[epoch] = step
                return
            if not per_epoch:
                lr = schedule_lr(sched, float(step))
            update(rule, theta, grad, state, scalars, hyper, lr, step + 1)
            step += 1
            loss_sum += loss * (hi - lo)
            norm_sum += norm
            if extras:
                if log_every > 0:
                    if clip_mode == CLIP_NORM:
                        clipped = clip_c / (norm + 1e-6) < 1.0  # clip_norm_kernel's test
                    w_loss += loss
                    w_norm += norm
                    if clipped:
                        w_clipped += 1
                    if step % log_every == 0:
                        row = step // log_every - 1
                        step_log[row, L_LR] = lr
                        step_log[row, L_LOSS] = w_loss / log_every
                        step_log[row, L_NORM] = w_norm / log_every
                        step_log[row, L_CLIPPED] = w_clipped / log_every
                        w_loss = 0.0
                        w_norm = 0.0
                        w_clipped = 0
                if eval_every > 0 and step % eval_every == 0:
                    last_vl, last_vm = family_evaluate(family, layout, settings, theta, data.X_val, data.y_val_class,
                                                       data.y_val_reg, ws, eval_chunk)
                    evaluated_at = step
                    step_val[step // eval_every - 1, 0] = last_vl
                    step_val[step // eval_every - 1, 1] = last_vm
                if record_path:
                    path[step, 0] = theta[0]
                    path[step, 1] = theta[1]
                    path_loss, _ = family_evaluate(family, layout, settings, theta, X, y_class, y_reg, ws,
                                                   eval_chunk)
                    path[step, 2] = path_loss
        if evaluated_at == step:
            vl, vm = last_vl, last_vm
        else:
            vl, vm = family_evaluate(family, layout, settings, theta, data.X_val, data.y_val_class, data.y_val_reg,
                                     ws, eval_chunk)
        train_loss[epoch] = loss_sum / n
        out.val_loss[k, epoch] = vl
        out.val_metric[k, epoch] = vm
        grad_norm[epoch] = norm_sum / n_batches
        lrs[epoch] = lr
        steps_at[epoch] = step
        result[R_STEPS] = step
        result[R_EPOCHS] = epoch + 1
        if not np.isfinite(vl):
            result[R_STATUS] = DIVERGED
            result[R_DIVERGED_AT] = step
            result[R_REASON] = DIV_VAL
            info[I_LOSS] = vl
            return
        if vl < best - min_delta:
            best = vl
            best_epoch = epoch
        elif patience > 0 and epoch - best_epoch >= patience:
            result[R_STATUS] = EARLY_STOPPED
            return
    if ck.save != 0:  # the state at the stop (theta: the caller's copy, written back by train_trials)
        ck.epoch[k] = max(stop, start)
        ck.step[k] = step
        ck.best[k] = best
        ck.best_epoch[k] = best_epoch
        ck.rng[k] = rng[0]
        ck.order[k, :] = order
        ck.state[k, :state.shape[0], :] = state
        ck.scalars[k, :, :] = scalars
        ck.window[k, 0] = w_loss
        ck.window[k, 1] = w_norm
        ck.window[k, 2] = w_clipped


@kernel
def train_trials(family, ks, model, data, loop, trials, out, ck):
    """Train the trials (rows of ``trials.params``) listed in ``ks``, one after another: one thread's share.

    ``family`` becomes a compile-time constant (``literally``): one compiled trainer per model
    family, holding that family's model code only."""
    fam = literally(family)
    params = trials.params
    for k in ks:
        # The trial works on its own copies of its parameters and settings, so that slicing them
        # in the step loop touches only this trial's memory (reference counts included).
        theta = params[k].copy()
        train_one(fam, model, data, loop, trials.rules[k], trials.hypers[k].copy(), trials.schedules[k].copy(),
                  trials.clip_modes[k], trials.clip_cs[k], trials.seeds[k], theta, out, k, ck)
        params[k, :] = theta


def train_pack(family, model: Model, data: Data, loop: Loop, trials: Trials, out: Outputs, threads=None, ck=None):
    """Train every row of ``trials.params`` (K x P) as its own trial; ``out``'s per-epoch arrays are
    K x epochs, ``results`` K x N_RESULTS (int64), ``infos`` K x N_INFO (float64). Returns the seconds
    spent compiling (or loading from the cache) the trainer, a part of the call's time.

    ``threads`` (default: numba's thread count) threads take the next untrained trial until
    none is left, each trial one compiled call that releases the GIL; trials never share
    memory, so the numbers do not depend on the number of threads or on who trains what."""
    import numba

    K = trials.params.shape[0]
    rules = trials.rules
    n_threads = max(1, min(K, threads if threads is not None else numba.get_num_threads()))
    if ck is None:
        ck = no_checkpoint(K, loop.epochs, trials.params.dtype)
    args = (model, data, loop, trials, out, ck)
    t0 = time.perf_counter()
    run = _compiled(train_trials, family, args)
    compile_s = time.perf_counter() - t0
    if n_threads == 1:
        run(family, np.arange(K, dtype=np.int64), *args)
        return compile_s
    lock = threading.Lock()
    stop = threading.Event()  # set when the caller is interrupted: no new trial starts
    # Costliest update first (the records' cost), so the last trials to start are short ones
    # and the threads finish together.
    todo = iter(int(k) for k in np.argsort(-COST[np.asarray(rules)], kind="stable"))

    def work():
        while not stop.is_set():
            with lock:
                k = next(todo, None)
            if k is None:
                return
            run(family, np.array([k], dtype=np.int64), *args)

    with ThreadPoolExecutor(n_threads, thread_name_prefix="optengine-trainer") as pool:
        try:
            for done in [pool.submit(work) for _ in range(n_threads)]:
                done.result()
        except BaseException:  # Ctrl-C, or an error: let the running trials end, start no more
            stop.set()
            raise
    return compile_s


def no_checkpoint(K: int, epochs: int, dtype) -> Ckpt:
    """The checkpoint record of a pack trained from the start to the end, saving nothing."""
    return Ckpt(int(epochs), 0, np.zeros(K, dtype=np.int64), np.zeros(0, dtype=np.int64),
                np.zeros(0, dtype=np.int64), np.zeros(0), np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.uint64),
                np.zeros((0, 0), dtype=np.int64), np.zeros((0, 0, 0), dtype=dtype), np.zeros((0, 2, 0)),
                np.zeros((0, 3)))


@kernel
def evaluate_trials(family, ks, model, split, workspace_size, eval_chunk, params, losses, metrics):
    """(mean loss, metric) over every row of ``split`` with the parameters of each trial (row of
    ``params``) listed in ``ks``, into ``losses[k]``, ``metrics[k]``: the test split after training."""
    fam = literally(family)
    ws = np.empty(workspace_size, dtype=params.dtype)
    for k in ks:
        theta = params[k].copy()
        loss, metric = family_evaluate(fam, model.layout, model.settings, theta, split.X, split.y_class,
                                       split.y_reg, ws, eval_chunk)
        losses[k] = loss
        metrics[k] = metric


def evaluate_pack(family, model: Model, split: Split, workspace_size, eval_chunk, params, ks, losses, metrics):
    """``evaluate_trials`` for the trials ``ks``; returns the seconds spent compiling (or loading) it."""
    args = (model, split, workspace_size, eval_chunk, params, losses, metrics)
    t0 = time.perf_counter()
    run = _compiled(evaluate_trials, family, args)
    compile_s = time.perf_counter() - t0
    run(family, np.ascontiguousarray(ks, dtype=np.int64), *args)
    return compile_s


def _compiled(dispatcher, family, args):
    """``dispatcher`` (``train_trials`` or ``evaluate_trials``) for ``family`` and these argument
    types, without per-call dispatch.

    The family is a literal (``literally``), so every dispatcher call from Python would first
    try a plain integer and retype the trainer (~20 ms a call). The first call here compiles
    or loads that version; later calls go straight to its compiled entry point, looked up by
    the exact argument types numba's dispatcher would use (so a mismatch cannot happen)."""
    from numba import typeof, types

    sig = (types.literal(family), typeof(np.empty(0, dtype=np.int64))) + tuple(typeof(a) for a in args)
    cres = dispatcher.overloads.get(sig)
    if cres is None:
        dispatcher(family, np.empty(0, dtype=np.int64), *args)  # compile, or load from the cache
        cres = dispatcher.overloads.get(sig)
    return cres.entry_point if cres is not None else dispatcher
