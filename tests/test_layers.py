"""The layering is enforced (import-linter's contract in pyproject.toml, ruff's rules), and
docs/architecture.md shows the diagram printed from that contract."""
import os
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_architecture_page_shows_the_contracts_diagram():
    out = subprocess.run([sys.executable, os.path.join(ROOT, "docs", "img", "make_layer_diagram.py")],
                         capture_output=True, text=True, check=True).stdout
    page = open(os.path.join(ROOT, "docs", "architecture.md")).read()
    assert "```\n" + out + "```" in page, "docs/architecture.md: rerun docs/img/make_layer_diagram.py"


@pytest.mark.parametrize("tool, args", [("lint-imports", []), ("ruff", ["check", "."])])
def test_layers_and_lint_hold(tool, args):
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} is not installed (pip install -e '.[dev]')")
    res = subprocess.run([tool] + args, cwd=ROOT, capture_output=True, text=True)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-2000:]
