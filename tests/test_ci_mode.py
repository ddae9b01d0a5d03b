"""In CI (``QTRADE_CI=1``) a test that skips for a missing tool fails, naming the tool; elsewhere it skips."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("ci", ["1", ""])
def test_a_skip_for_a_missing_tool_fails_in_ci_and_names_it(tmp_path: Path, ci: str) -> None:
    (tmp_path / "test_needs.py").write_text(
        "import pytest\n\n\ndef test_needs_a_tool():\n    pytest.skip('frobnicator is not installed')\n\n\n"
        "def test_plain():\n    assert 1 + 1 == 2\n",
        encoding="utf-8",
    )
    env = {**os.environ, "QTRADE_CI": ci}
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "tests.conftest",
            "-p",
            "no:cacheprovider",
            "-q",
            "--rootdir",
            str(tmp_path),
            "-o",
            "addopts=",
            str(tmp_path / "test_needs.py"),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if ci:
        assert run.returncode == 1, run.stdout
        assert "1 failed, 1 passed" in run.stdout
        assert "skipped in CI" in run.stdout and "frobnicator is not installed" in run.stdout
    else:
        assert run.returncode == 0, run.stdout
        assert "1 passed, 1 skipped" in run.stdout
