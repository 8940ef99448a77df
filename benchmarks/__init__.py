"""optengine's benchmark harness: ``python benchmarks/run.py [--quick]`` (see benchmarks/README.md)."""
