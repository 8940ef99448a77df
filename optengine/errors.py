"""The one error type for bad input: it names the field and what is allowed."""


class ConfigError(ValueError):
    """Invalid user input. ``field`` names the offending setting (dotted path)."""

    def __init__(self, field: str, message: str):
        self.field = field
        super().__init__(f"{field}: {message}")

    def __reduce__(self):
        # pickled whole (a worker process sends it back to the driver); the default would call
        # __init__ with the formatted message alone, which this and the subclasses do not take
        return _restore_error, (type(self), self.args, dict(self.__dict__))


def _restore_error(cls, args, state):
    exc = cls.__new__(cls)
    exc.args = args
    exc.__dict__.update(state)
    return exc


def closest(value, options) -> str:
    """`` (did you mean 'x'?)`` for the option closest to ``value``, or ``""``."""
    import difflib

    close = difflib.get_close_matches(str(value), [str(o) for o in options], n=3)
    if not close:
        return ""
    # a transposition ('adma') is closer to what was meant ('adam') than its ratio says ('adamax')
    best = min(close, key=lambda o: (sorted(o) != sorted(str(value)), close.index(o)))
    return f" (did you mean {best!r}?)"


def check_choice(field, value, allowed):
    """Raise ConfigError unless ``value`` is one of ``allowed`` (suggesting the closest)."""
    if value in allowed:
        return value
    raise ConfigError(field, f"unknown value {value!r}{closest(value, allowed)}; "
                             f"allowed: {', '.join(map(str, allowed))}")


def check_keys(prefix, keys, allowed, owner):
    """Raise ConfigError ``prefix.key`` (``key`` without a prefix) for the first of ``keys`` not in ``allowed``."""
    allowed = list(allowed)
    for key in keys:
        if key not in allowed:
            raise ConfigError(f"{prefix}.{key}" if prefix else key, f"{owner} does not take {key!r}{closest(key, allowed)}; "
                                                 f"allowed: {', '.join(allowed)}")


def check_number(field, value, *, low=None, high=None, low_open=False, high_open=False, integer=False):
    """Check a real number against an interval; return it as float (or int when ``integer``)."""
    import math
    import numbers

    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        kind = "an integer" if integer else "a number"
        raise ConfigError(field, f"must be {kind}, got {value!r}")
    if not math.isfinite(value):
        raise ConfigError(field, f"must be finite, got {value!r}")
    if integer and int(value) != value:
        raise ConfigError(field, f"must be an integer, got {value!r}")
    lo_bad = low is not None and (value <= low if low_open else value < low)
    hi_bad = high is not None and (value >= high if high_open else value > high)
    if lo_bad or hi_bad:
        lb = "(" if low_open or low is None else "["
        hb = ")" if high_open or high is None else "]"
        lo = "-inf" if low is None else _fmt(low)
        hi = "inf" if high is None else _fmt(high)
        raise ConfigError(field, f"must be in {lb}{lo}, {hi}{hb}, got {value!r}")
    return int(value) if integer else float(value)


def check_flat_array(field, a) -> None:
    """Raise ConfigError unless ``a`` is a flat, C-contiguous, writeable float32/float64 array."""
    import numpy as np

    if not isinstance(a, np.ndarray) or a.ndim != 1 or a.dtype not in (np.float32, np.float64):
        raise ConfigError(field, "must be a flat (1-D) float32 or float64 numpy array")
    if not a.flags.c_contiguous or not a.flags.writeable:
        raise ConfigError(field, "must be C-contiguous and writeable")


def _fmt(v) -> str:
    return str(v) if isinstance(v, int) else f"{v:g}"
