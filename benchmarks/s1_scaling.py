"""S1: scaling of the engine on W1-like packs (MNIST-1D MLP, the 7 rules x 4 learning rates x
1 / 4 / 16 seeds = 28, 112, 448 trials; --quick: 1 / 2 / 4 seeds), in process, warm.

- trials: per-trial time of each pack (threads=2) relative to the 28-trial pack; "proportional
  within 15%" = that ratio within [0.85, 1.15];
- workers: the 28-trial pack with trainer threads=1 vs threads=2 in one process (the engine's
  parallelism inside a pack: trainer threads that each take the next trial); speed-up = time(1) / time(2).

Epochs: W1's 20 by default (--s1-epochs; quick 1); with fewer, a trial's fixed costs (the
start-of-training loss, the last trial of one thread running alone) weigh more.
"""

from __future__ import annotations

import math

from .common import RULES, W1_BATCH, Ctx, Measurement, Target, interleaved, ratio


def run(ctx: Ctx) -> None:
    import optengine as oe

    from . import w1_sweep

    epochs = ctx.sizes.s1_epochs
    ds, model, _ = w1_sweep.problem(ctx)
    kw = dict(batch_size=W1_BATCH, epochs=epochs, dtype="float32")
    ctx.log(f"S1: packs of {', '.join(str(28 * s) for s in ctx.sizes.s1_seeds)} trials, {epochs} epochs")
    oe.train_pack(model, ds, w1_sweep.trials()[:2], batch_size=W1_BATCH, epochs=1, dtype="float32", threads=2)

    # One round: every pack size once (the larger ones in fewer rounds), then threads=1 and 2.
    packs = {28 * n: w1_sweep.trials(tuple(range(n))) for n in ctx.sizes.s1_seeds}
    base_n = min(packs)
    calls, reps = {}, {}
    for n, tr in packs.items():
        calls[f"n{n}"] = (lambda tr=tr: oe.train_pack(model, ds, tr, threads=2, **kw))
        reps[f"n{n}"] = max(1, math.ceil(ctx.repeats * base_n / n))
    tr28 = w1_sweep.trials((0,))
    for threads in (1, 2):
        calls[f"t{threads}"] = (lambda threads=threads: oe.train_pack(model, ds, tr28, threads=threads, **kw))
        reps[f"t{threads}"] = ctx.repeats
    tm = interleaved(calls, reps)

    per_trial = {n: tm[f"n{n}"].median / n for n in packs}
    for n, tr in packs.items():
        timing = tm[f"n{n}"]
        r = ratio(per_trial[n], per_trial[base_n])
        ctx.log(f"  {n} trials: {timing.median:.2f} s ({per_trial[n] * 1e3:.1f} ms per trial)")
        ctx.add(Measurement.timed("S1", f"{n} trials", "optengine train_pack", "time per trial", timing,
                                  per_trial[n], "s", baseline=f"{base_n} trials", ratio=r,
                                  ratio_meaning="time per trial / time per trial of the smallest pack",
                                  note=f"threads=2, {epochs} epoch(s), {n // 28} seed(s); whole pack "
                                       f"{timing.median:.2f} s"))
        if n != base_n:
            ctx.target(Target("S1", f"{n} trials: time per trial / {base_n}-trial pack's", r, "within",
                              (0.85, 1.15), note=f"{per_trial[n] * 1e3:.1f} vs {per_trial[base_n] * 1e3:.1f} ms"))

    times = {t: tm[f"t{t}"] for t in (1, 2)}
    speedup = ratio(times[1].median, times[2].median)
    for threads in (1, 2):
        ctx.log(f"  28 trials, threads={threads}: {times[threads].median:.2f} s")
        ctx.add(Measurement.timed("S1", "28 trials, workers", f"optengine train_pack threads={threads}",
                                  "pack wall time", times[threads], times[threads].median, "s",
                                  baseline="threads=1", ratio=ratio(times[1].median, times[threads].median),
                                  ratio_meaning="speed-up over threads=1",
                                  note=f"trainer threads in one process, {epochs} epoch(s)"))
    ctx.target(Target("S1", "2 workers vs 1: speed-up (trainer threads=2 vs 1, one pack of 28)", speedup, ">=", 1.8,
                      note=f"{times[1].median:.2f} s vs {times[2].median:.2f} s"))
    ctx.section("S1", f"W1's problem with {epochs} epoch(s) (--s1-epochs), the {len(RULES)} rules x 4 learning rates x "
                      f"{'/'.join(map(str, ctx.sizes.s1_seeds))} seeds, one `oe.train_pack` call per pack, warm, "
                      "in the harness process, timed in interleaved rounds (larger packs in fewer rounds: repeats "
                      "shown). Workers = trainer threads of one process (the runner's jobs are not compared "
                      "here; W1 reports the runner with jobs=2).")
