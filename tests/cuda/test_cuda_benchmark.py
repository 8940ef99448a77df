"""``benchmarks/gpu.py --smoke`` runs every code path of the GPU benchmark at a tiny size.

On the simulator its figures mean nothing (see conftest.py); the test only shows the
prepared script runs end to end and reports what it should.
"""

import importlib.util
import json
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_gpu_benchmark_smoke(tmp_path, monkeypatch):
    monkeypatch.setenv("OPTENGINE_CACHE", str(tmp_path / "cache"))
    spec = importlib.util.spec_from_file_location("gpu_benchmark", ROOT / "benchmarks" / "gpu.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    out = tmp_path / "gpu.json"
    assert bench.main(["--smoke", "--out", str(out)]) == 0
    res = json.loads(out.read_text())
    assert set(res["bandwidth"]["rules"]) == {"sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw"}
    assert res["sweep"]["trials"] == 7 and res["sweep"]["status"] == {"ok": 7}
    assert res["sweep"]["flop"] > 0
    on_gpu = os.environ.get("NUMBA_ENABLE_CUDASIM") != "1"
    assert max(res["cpu_agreement"]["max_rel_diff"].values()) <= (1e-4 if on_gpu else 1e-5)  # see test_cuda_pack
    assert res["cpu_agreement"]["same_status"]
    assert "| rule | ms | GB/s | of copy |" in res["markdown"]
