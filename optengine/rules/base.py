"""What a rule record is: ``Rule`` (name, hyperparameters, state, formula, kernels) and ``Hyper``.

A rule lives in one module of this package, which defines ``RULE = Rule(...)`` with two plain
Python functions marked ``@kernel`` (``base.kernel``: only a mark, so that reading the records
imports neither numba nor NumPy; ``optimizers.py`` compiles them into its ``@kernel`` update for
the CPU, ``cuda/optimizers.py`` into device functions, from the same source). Use ``math``
(``math.sqrt``), ``abs`` and ``max``, which compile for both.

- ``coefficients(h, lr, t, prev, new)``: the step's scalars, in float64, once per step and
  trial. ``h`` is the tuple of the rule's hyperparameter values in the order of ``Rule.hyper``,
  ``lr`` the scheduled learning rate, ``t`` the step counted from 1; ``prev`` holds the rule's
  per-trial scalar state (``Rule.scalars``) after step t-1, and the function writes the state
  after step t into ``new`` (never into ``prev``: on a GPU many threads compute the same step).
  Returns a tuple of floats; the engine casts every entry to the parameters' dtype.
- ``element(co, th, g, b0, b1, b2)``: one parameter's update. ``co`` is that tuple in the
  parameters' dtype, ``th`` the parameter, ``g`` its gradient (after clipping), ``b0..b2``
  its state buffers (``Rule.buffers``, in order; unused ones are 0). Returns the new
  ``(th, b0, b1, b2)``. Write only arithmetic on these values (no float literals such as
  ``1.0``, which would turn float32 arithmetic into float64: put constants into ``co``);
  ``tests/test_ptx.py`` checks that a float32 update stays float32 on the GPU.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable


def kernel(fn):
    """Marks a record's function as kernel source (compiled by optimizers.py and cuda/optimizers.py).

    The mark also puts the text ``@kernel`` into the module, so ``jit.py``'s fingerprint of the
    kernel sources covers the records and a changed rule drops the cached update kernels."""
    fn.kernel_source = True
    return fn

# Allowed ranges of the hyperparameters, shared by every rule that takes one (the kernels read
# one vector per trial; a name means one thing). (low, high, low_open, high_open, text).
RANGES = {
    "lr": (0.0, None, True, False, "(0, inf)"),
    "momentum": (0.0, 1.0, False, True, "[0, 1)"),
    "beta1": (0.0, 1.0, False, True, "[0, 1)"),
    "beta2": (0.0, 1.0, False, True, "[0, 1)"),
    "eps": (0.0, None, True, False, "(0, inf)"),
    "decay": (0.0, 1.0, False, True, "[0, 1)"),
    "weight_decay": (0.0, None, False, False, "[0, inf)"),
    "l2": (0.0, None, False, False, "[0, inf)"),
    "amsgrad": (0.0, 1.0, False, False, "false or true"),
    "dampening": (0.0, 1.0, False, False, "[0, 1]"),
    "rho": (0.0, 1.0, False, True, "[0, 1)"),
    "momentum_decay": (0.0, None, False, False, "[0, inf)"),
    "schedule_decay": (0.0, 1.0, False, False, "false or true"),
}
FLAGS = ("amsgrad", "schedule_decay")  # hyperparameters that are booleans (stored as 0.0 / 1.0)


@dataclass(frozen=True)
class Hyper:
    """One hyperparameter of a rule: name, default (None: required), one-line meaning.

    ``added`` marks a hyperparameter added to a rule after results were first written
    (results format 2): a trial with it at its default is the same trial as before, so the
    canonical form (``optimizers.canonical_hyper``) leaves it out."""

    name: str
    default: float | None
    meaning: str
    added: bool = False

    @property
    def range(self):
        return RANGES[self.name][:4]

    @property
    def range_text(self) -> str:
        return RANGES[self.name][4]


@dataclass(frozen=True)
class Rule:
    """One update rule: everything the engine, the CLI, sweeps, docs and benchmarks know of it."""

    name: str
    order: int                  # position in ``optimizers.RULES`` (the kernels' rule id)
    summary: str                # one line, for tables and ``optengine list``
    hyper: tuple                # Hyper records; their order is ``h``'s in ``coefficients``
    buffers: tuple = ()         # (name, meaning) of each per-parameter state buffer, in order
    optional_buffer: str | None = None  # a flag hyperparameter without which the last buffer is unused
    scalars: tuple = ()         # (name, initial value, meaning) of per-trial float64 state
    coefficients: Callable = None
    element: Callable = None
    notes: str = ""             # where the formula comes from (notes' section, paper, torch class)
    torch: str = ""             # the torch.optim class it equals (documentation)

    @property
    def formula(self) -> str:
        """The rule's formula: its module's docstring."""
        import sys

        return (sys.modules[self.coefficients.__module__].__doc__ or "").strip()

    def defaults(self) -> dict:
        return {h.name: h.default for h in self.hyper}

    @property
    def max_buffers(self) -> int:
        return len(self.buffers)

    def n_buffers(self, hyper: dict) -> int:
        """State buffers a trial with these (validated) hyperparameters uses."""
        if self.optional_buffer and not hyper.get(self.optional_buffer, 0.0):
            return len(self.buffers) - 1
        return len(self.buffers)

    def traffic(self, hyper: dict | None = None) -> int:
        """Memory traffic of one update per parameter, in elements: theta read and written, the
        gradient read, each buffer in use read and written (``hyper``: a trial's settings; None:
        the defaults)."""
        return 3 + 2 * self.n_buffers(self.defaults() if hyper is None else hyper)

    @property
    def cost(self) -> int:
        """Relative cost of one update (the pack trainer starts the costliest trials first): its
        traffic at the defaults."""
        return self.traffic()
