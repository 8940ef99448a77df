"""optengine: Numba-JIT optimizer experiments.

    import optengine as oe
    opt = oe.optimizer("adam", lr=1e-3); state = opt.init(params); opt.step(params, grads, state)
    sched = oe.schedule("cosine", lr=0.1, total_steps=1000, warmup_steps=100)
    model = oe.model("mlp", sizes=[40, 100, 100, 10]); ds = oe.dataset("mnist1d")
    summary, curve = oe.train(model=model, dataset=ds, optimizer="adam", lr=1e-2, batch_size=100, epochs=20)
    runs = oe.run_sweep("sweeps/quickstart.toml"); runs, curves = oe.load("results/quickstart")

The names below are imported on first use (``lazy_names``), so that ``import optengine`` and
the command line start quickly: a sweep's driver starts its worker processes before it loads
numba, pandas and the engine.
"""

from .errors import ConfigError
from .lazy_names import install as _install_lazy_names

__version__ = "0.1.0"

__all__ = ["optimizer", "Optimizer", "schedule", "Schedule", "clip_by_value", "clip_by_norm", "model", "Model",
           "dataset", "Dataset", "train", "train_pack", "run_sweep", "load", "load_table", "gradient_noise_scale",
           "diagnose", "ConfigError", "__version__"]

_install_lazy_names(__name__, {
    "optimizer": ".optimizers", "Optimizer": ".optimizers",
    "schedule": ".schedules", "Schedule": ".schedules",
    "clip_by_value": ".clipping", "clip_by_norm": ".clipping",
    "model": ".models", "Model": ".models",
    "dataset": ".data", "Dataset": ".data",
    "train": ".train", "train_pack": ".train",
    "run_sweep": ".sweep",
    "load": ".results", "load_table": ".results",
    "gradient_noise_scale": ".noise_scale",
    "diagnose": ".diagnose",
})
