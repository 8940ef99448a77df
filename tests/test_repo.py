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


def test_readme_quick_start_command_parses():
    from optengine.cli import _parser

    readme = (ROOT / "README.md").read_text()
    run = [b for b in _bash_blocks(readme) if "optengine train" in b][0]
    argv = run.split(".venv/bin/optengine ", 1)[1].split()
    args = _parser().parse_args(argv)
    assert args.command == "train" and len(args.optimizer) == 7
