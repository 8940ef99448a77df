"""optengine: Numba-JIT optimizer experiments.

    import optengine as oe
    opt = oe.optimizer("adam", lr=1e-3); state = opt.init(params); opt.step(params, grads, state)
    sched = oe.schedule("cosine", lr=0.1, total_steps=1000, warmup_steps=100)
    model = oe.model("mlp", sizes=[40, 100, 100, 10]); ds = oe.dataset("mnist1d")
    summary, curve = oe.train(model=model, dataset=ds, optimizer="adam", lr=1e-2, batch_size=100, epochs=20)
    runs = oe.run_sweep("sweeps/quickstart.toml"); runs, curves = oe.load("results/quickstart")
"""

from .clipping import clip_by_norm, clip_by_value
from .data import Dataset, dataset
from .errors import ConfigError
from .models import Model, model
from .optimizers import Optimizer, optimizer
from .schedules import Schedule, schedule
from .results import load
from .sweep import run_sweep
from .train import train, train_pack

__version__ = "0.1.0"

__all__ = ["optimizer", "Optimizer", "schedule", "Schedule", "clip_by_value", "clip_by_norm", "model", "Model",
           "dataset", "Dataset", "train", "train_pack", "run_sweep", "load", "ConfigError", "__version__"]
