"""Sweeps: TOML spec -> validated trials -> packs -> joblib workers -> Parquet results.

``spec.py`` parses and validates, ``expand.py`` makes the trials (grid or random search),
``packs.py`` groups them, ``worker.py`` trains one pack, ``runner.py`` runs and resumes,
``plan.py`` describes a sweep without running it, ``model_search.py`` runs ``[search] kind = "tpe"``
(and Optuna's other samplers) in rounds of packs.
"""

from ..lazy_names import install as _install_lazy_names

__all__ = ["Interrupted", "Pack", "Spec", "SpecError", "Trial", "expand", "load_spec", "make_packs", "plan",
           "run_sweep"]

# imported on first use: a worker process needs only ``worker``
_install_lazy_names(__name__, {
    "expand": ".expand", "Pack": ".packs", "make_packs": ".packs", "plan": ".plan", "SpecError": ".problems",
    "Interrupted": ".runner", "run_sweep": ".runner", "Spec": ".spec", "load_spec": ".spec", "Trial": ".trial",
})
