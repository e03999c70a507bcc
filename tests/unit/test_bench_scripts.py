"""Every benchmark runs as bench/README.md says (``python -m bench.NAME`` from the repository
root): its imports still resolve after the code it measures moved, and it parses its options."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = sorted(
    p.stem for p in (ROOT / "bench").glob("*.py") if "ArgumentParser(" in p.read_text()
)


def test_there_are_benchmarks() -> None:
    assert {"ingest", "rescore", "health_quality"} <= set(SCRIPTS)


@pytest.mark.parametrize("name", SCRIPTS)
def test_benchmark_starts(name: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", f"bench.{name}", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "usage:" in result.stdout
