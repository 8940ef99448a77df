"""Sweeps: TOML spec -> validated trials -> packs -> joblib workers -> Parquet results.

``spec.py`` parses and validates, ``expand.py`` makes the trials (grid or random search),
``packs.py`` groups them, ``worker.py`` trains one pack, ``runner.py`` runs and resumes,
``plan.py`` describes a sweep without running it.
"""

from .expand import expand
from .packs import Pack, make_packs
from .plan import plan
from .problems import SpecError
from .runner import Interrupted, run_sweep
from .spec import Spec, load_spec
from .trial import Trial

__all__ = ["Interrupted", "Pack", "Spec", "SpecError", "Trial", "expand", "load_spec", "make_packs", "plan",
           "run_sweep"]
