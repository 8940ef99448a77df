"""Named models: ``oe.model(name, **settings)`` and the registry ``optengine list`` prints."""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError, check_choice, check_number
from . import dense, kernels, quadratic, surfaces
from .base import EVAL_CHUNK, Model
from .sparse_model import sparse_logreg
from .sequence_models import cnn1d, gru, rnn
from .layered import sequential

INITS = ("pytorch", "he", "glorot", "zeros")


class DenseModel(Model):
    """Linear regression, softmax regression and MLPs (``models/dense.py``)."""

    family = kernels.DENSE

    def __init__(self, name, spec, sizes, activation, loss, init):
        self.sizes = tuple(int(s) for s in sizes)
        self.activation = activation
        self.loss = loss
        self.init_scheme = init
        self.task = "classification" if loss == "cross_entropy" else "regression"
        self.metric = "accuracy" if loss == "cross_entropy" else "r2"
        super().__init__(name, spec, dense.arch(self.sizes, activation, loss), np.zeros(1),
                         dense.n_params(self.sizes), self.sizes[0], self.sizes[-1])

    def workspace_size(self, rows: int) -> int:
        return dense.workspace_size(self.sizes, rows)

    @property
    def layers(self) -> list:
        """The same network as a layer list: ``oe.model("sequential", layers=m.layers, ...)`` has the same
        flat layout (W stored (in, out): ``weight_layout = "in_out"``) and gives the same loss and gradient
        to float rounding. The dense family keeps its own kernel, shared with the CUDA trainer."""
        out = []
        for i, units in enumerate(self.sizes[1:]):
            out.append({"type": "dense", "units": units, "bias": True, "weight_layout": "in_out"})
            if i < len(self.sizes) - 2:
                out.append({"type": self.activation})
        return out

    def init(self, seed: int = 0, dtype=np.float64) -> np.ndarray:
        """Weights by the model's scheme, drawn in float64 from ``seed`` then cast to ``dtype``.

        pytorch: W, b ~ U(+-1/sqrt(fan_in)) (nn.Linear's default); he: W ~ U(+-sqrt(6/fan_in))
        in hidden layers, glorot on the output layer; glorot: W ~ U(+-sqrt(6/(fan_in+fan_out)));
        zeros. Biases are zero except under pytorch.
        """
        seed, dtype = self.check_init_args(seed, dtype)
        rng = np.random.default_rng([seed, 1])
        parts = []
        n_layers = len(self.sizes) - 1
        for layer in range(n_layers):
            fan_in, fan_out = self.sizes[layer], self.sizes[layer + 1]
            scheme = self.init_scheme
            if scheme == "he" and layer == n_layers - 1:
                scheme = "glorot"
            if scheme == "zeros":
                w = np.zeros(fan_in * fan_out)
                b = np.zeros(fan_out)
            elif scheme == "pytorch":
                bound = 1.0 / np.sqrt(fan_in)
                w = rng.uniform(-bound, bound, fan_in * fan_out)
                b = rng.uniform(-bound, bound, fan_out)
            else:
                bound = np.sqrt(6.0 / fan_in) if scheme == "he" else np.sqrt(6.0 / (fan_in + fan_out))
                w = rng.uniform(-bound, bound, fan_in * fan_out)
                b = np.zeros(fan_out)
            parts += [w, b]
        return np.ascontiguousarray(np.concatenate(parts), dtype=dtype)

    def forward(self, params, X) -> np.ndarray:
        """Raw outputs (logits or predicted values), one row per sample."""
        params = self._check_params(params)
        X = self.features(X, params.dtype)
        out = np.empty((X.shape[0], self.n_outputs), dtype=params.dtype)
        rows = min(EVAL_CHUNK, max(1, X.shape[0]))
        ws = np.empty(self.workspace_size(rows), dtype=params.dtype)
        dense.dense_forward(self.ai, params, X, ws, rows, out)
        return out


class SurfaceModel(Model):
    """A two-parameter test surface (``models/surfaces.py``)."""

    family = kernels.SURFACE
    task = "surface"
    metric = "distance"

    def __init__(self, name, spec, kind, p0, p1, minimum, start, noise, init_scale):
        self.start = tuple(float(v) for v in start)
        self.init_scale = init_scale
        af = np.array([noise, p0, p1, minimum[0], minimum[1]], dtype=np.float64)
        super().__init__(name, spec, np.array([kind], dtype=np.int64), af, 2, 2, 1)

    @property
    def minimum(self):
        return (float(self.af[surfaces.F_MINX]), float(self.af[surfaces.F_MINY]))

    def init(self, seed: int = 0, dtype=np.float64) -> np.ndarray:
        """The start point, plus ``init_scale`` * N(0, 1) jitter drawn from ``seed``."""
        seed, dtype = self.check_init_args(seed, dtype)
        p = np.array(self.start, dtype=np.float64)
        if self.init_scale:
            p += self.init_scale * np.random.default_rng([seed, 1]).standard_normal(2)
        return p.astype(dtype)

    def prepare(self, X, y, dtype, field: str = "X"):
        if X is None:
            X = np.zeros((1, 2))
        return super().prepare(X, None, dtype, field)

    def value(self, x, y) -> float:
        """f at (x, y), noise-free."""
        return float(surfaces.surface_value_grad(int(self.ai[0]), self.af, float(x), float(y))[0])

    def predict(self, params, X=None):
        """The noise-free surface value at ``params`` (surfaces have no outputs to predict)."""
        return self.value(*self._check_params(params))


class QuadraticModel(Model):
    """DeepOBS's noisy quadratic 0.5 (theta - x)^T Q (theta - x) (``models/quadratic.py``).

    A regression-shaped model for the trainer's plumbing: its dataset (``quadratic_deep``) has one
    all-zero target column, which the kernels ignore; the metric is 0 (no accuracy, as in DeepOBS)."""

    family = kernels.QUADRATIC
    task = "regression"
    metric = "none"

    def __init__(self, name, spec, dim, seed):
        Q, self.eigenvalues = quadratic.deepobs_hessian(dim, seed)
        self.hessian = Q
        super().__init__(name, spec, np.array([dim], dtype=np.int64), np.ascontiguousarray(Q.ravel()), dim, dim, 1)

    def workspace_size(self, rows: int) -> int:
        return self.n_params

    def init(self, seed: int = 0, dtype=np.float64) -> np.ndarray:
        """The vector of ones (DeepOBS's ``constant_initializer(1.0)``), whatever the seed."""
        seed, dtype = self.check_init_args(seed, dtype)
        return np.ones(self.n_params, dtype=dtype)

    def prepare(self, X, y, dtype, field: str = "X"):
        if y is None:
            y = np.zeros((np.shape(X)[0], 1))
        return super().prepare(X, y, dtype, field)

    def forward(self, params, X) -> np.ndarray:
        """Each row's loss 0.5 (theta - x)^T Q (theta - x), as a one-column output."""
        params = self._check_params(params)
        d = params.astype(np.float64)[None, :] - self.features(X, np.float64)
        return (0.5 * np.einsum("ij,jk,ik->i", d, self.hessian, d))[:, None]


# -- constructors -----------------------------------------------------------------

def _sizes(field, sizes):
    if not isinstance(sizes, (list, tuple)) or len(sizes) < 2:
        raise ConfigError(field, f"must be a list of at least 2 layer widths, got {sizes!r}")
    return [check_number(f"{field}[{i}]", s, low=1, integer=True) for i, s in enumerate(sizes)]


def _init(init, default):
    return check_choice("model.init", default if init is None else init, INITS)


def linear_regression(n_features=None, n_outputs=1, init=None):
    """Linear regression with MSE loss: y = X W + b (``init`` default zeros)."""
    nf = _need("model.n_features", n_features)
    no = check_number("model.n_outputs", n_outputs, low=1, integer=True)
    init = _init(init, "zeros")
    return DenseModel("linear_regression", {"n_features": nf, "n_outputs": no, "init": init},
                      [nf, no], "relu", "mse", init)


def softmax_regression(n_features=None, n_classes=None, init=None):
    """Softmax (multinomial logistic) regression with cross-entropy (``init`` default zeros)."""
    nf = _need("model.n_features", n_features)
    nc = check_number("model.n_classes", _need("model.n_classes", n_classes), low=2, integer=True)
    init = _init(init, "zeros")
    return DenseModel("softmax_regression", {"n_features": nf, "n_classes": nc, "init": init},
                      [nf, nc], "relu", "cross_entropy", init)


def mlp(sizes=None, activation="relu", loss="cross_entropy", init=None, hidden=None):
    """Multi-layer perceptron ``sizes = [in, hidden..., out]`` (relu or tanh, linear output).

    In a training run ``hidden = [100, 100]`` may stand in for ``sizes``: the input and
    output widths then come from the dataset.
    """
    if sizes is None:
        raise ConfigError("model.sizes", "is required: [inputs, hidden..., outputs] "
                                         "(or give hidden = [...] with a dataset)")
    if hidden is not None:
        raise ConfigError("model.hidden", "give either sizes or hidden, not both")
    sizes = _sizes("model.sizes", sizes)
    activation = check_choice("model.activation", activation, dense.ACTIVATIONS)
    loss = check_choice("model.loss", loss, dense.LOSSES)
    if loss == "cross_entropy" and sizes[-1] < 2:
        raise ConfigError("model.sizes", "a cross-entropy MLP needs at least 2 outputs (classes)")
    init = _init(init, "pytorch")
    return DenseModel("mlp", {"sizes": sizes, "activation": activation, "loss": loss, "init": init},
                      sizes, activation, loss, init)


def _need(field, value):
    """A required width (n_features, n_classes), an integer >= 1."""
    if value is None:
        raise ConfigError(field, "is required (or give a dataset so it can be inferred)")
    return check_number(field, value, low=1, integer=True)


def _point(field, value):
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise ConfigError(field, f"must be a pair [x, y], got {value!r}")
    return [check_number(f"{field}[{i}]", v) for i, v in enumerate(value)]


def _surface(name, kind, p0, p1, minimum, start, noise, init_scale, extra):
    start = _point("model.start", start)
    noise = check_number("model.noise", noise, low=0.0)
    init_scale = check_number("model.init_scale", init_scale, low=0.0)
    spec = {**extra, "start": start, "noise": noise, "init_scale": init_scale}
    return SurfaceModel(name, spec, kind, p0, p1, minimum, start, noise, init_scale)


def rosenbrock(a=1.0, b=100.0, start=(-1.5, 2.0), noise=0.0, init_scale=0.0):
    """Rosenbrock's banana valley f = (a - x)^2 + b (y - x^2)^2; minimum (a, a^2)."""
    a = check_number("model.a", a)
    b = check_number("model.b", b, low=0.0, low_open=True)
    return _surface("rosenbrock", surfaces.ROSENBROCK, a, b, (a, a * a), start, noise, init_scale,
                    {"a": a, "b": b})


def ravine(kappa=100.0, start=(-4.0, 1.0), noise=0.0, init_scale=0.0):
    """Ill-conditioned quadratic f = 0.5 (x^2 + kappa y^2); minimum (0, 0)."""
    kappa = check_number("model.kappa", kappa, low=1.0)
    return _surface("ravine", surfaces.RAVINE, 1.0, kappa, (0.0, 0.0), start, noise, init_scale,
                    {"kappa": kappa})


def beale(start=(1.0, 1.0), noise=0.0, init_scale=0.0):
    """Beale's function; minimum (3, 0.5)."""
    return _surface("beale", surfaces.BEALE, 0.0, 0.0, (3.0, 0.5), start, noise, init_scale, {})


def noisy_quadratic(scales=(1.0, 1.0), start=(2.0, 2.0), noise=1.0, init_scale=0.0):
    """f = 0.5 (h1 x^2 + h2 y^2) with seeded gradient noise of std ``noise`` per sample."""
    h = _point("model.scales", scales)
    for i, v in enumerate(h):
        check_number(f"model.scales[{i}]", v, low=0.0, low_open=True)
    return _surface("noisy_quadratic", surfaces.QUADRATIC, h[0], h[1], (0.0, 0.0), start, noise, init_scale,
                    {"scales": h})


def quadratic_deep(dim=quadratic.DIM, seed=quadratic.DEEPOBS_SEED):
    """DeepOBS's quadratic_deep: 0.5 (theta - x)^T Q (theta - x), Q with 90% eigenvalues in (0, 1) and 10% in
    (30, 60), a random rotation from RandomState(seed); theta starts at ones. Train it on dataset
    ``quadratic_deep`` (batch 128, 100 epochs in DeepOBS)."""
    dim = check_number("model.dim", dim, low=2, high=2000, integer=True)
    seed = check_number("model.seed", seed, low=0, high=2**32 - 1, integer=True)
    return QuadraticModel("quadratic_deep", {"dim": dim, "seed": seed}, dim, seed)


MODELS = {
    "linear_regression": linear_regression,
    "softmax_regression": softmax_regression,
    "mlp": mlp,
    "sparse_logreg": sparse_logreg,
    "rosenbrock": rosenbrock,
    "ravine": ravine,
    "beale": beale,
    "noisy_quadratic": noisy_quadratic,
    "quadratic_deep": quadratic_deep,
    "cnn1d": cnn1d,
    "rnn": rnn,
    "gru": gru,
    "sequential": sequential,
}
