"""The README's quick start and CI stay in step."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _bash_blocks(text):
    return re.findall(r"```bash\n(.*?)\n```", text, flags=re.S)


def test_ci_runs_exactly_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    test_cmd = [b for b in _bash_blocks(readme) if "pytest" in b]
    assert len(test_cmd) == 1, "README.md must hold one test command"
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert test_cmd[0].strip() in [line.strip() for line in ci]


def test_readme_quick_start_runs_the_quickstart_spec_and_its_report():
    from optengine.cli import _parser
    from optengine.sweep import expand, load_spec

    readme = (ROOT / "README.md").read_text()
    run = [b for b in _bash_blocks(readme) if "optengine run" in b]
    assert len(run) == 1, "README.md must hold one quick-start sweep command"
    commands = [c.split(".venv/bin/optengine ", 1)[1].split() for c in run[0].split("&&") if "optengine " in c]
    run_args, report_args = (_parser().parse_args(argv) for argv in commands)
    assert run_args.command == "run" and run_args.spec == "sweeps/quickstart.toml"
    assert report_args.command == "report" and report_args.folder == "results/quickstart"
    spec = load_spec(ROOT / run_args.spec)
    assert spec.name == "quickstart" and len(expand(spec)) == 28


def test_readme_sweep_example_is_a_valid_spec():
    from optengine.sweep import expand, load_spec
    from optengine.sweep.spec import is_model_search

    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```toml\n(.*?)\n```", readme, flags=re.S)
    assert blocks, "README.md shows a sweep spec"
    for text in blocks:
        spec = load_spec(text + "\n")
        assert is_model_search(spec) or len(expand(spec)) > 0  # a model-based search has no trials before it runs


def test_readme_points_at_nothing_outside_the_repository():
    readme = (ROOT / "README.md").read_text()
    assert "../" not in readme, "README.md must stand alone in a clone (no ../ paths)"
    for path in re.findall(r"`((?:sweeps|experiments|benchmarks|tests|optengine)/[\w./-]+\.(?:py|toml|md))`", readme):
        assert (ROOT / path).exists(), f"README.md names {path}, which is not in the repository"
