"""The lock files cover pyproject and are what the Docker image and CI install.

There is no Docker engine in CI, so the Dockerfile is checked as text here, and the image
itself refuses to build unless ``.ci/check_lock.py`` finds exactly the locked versions in it
(``.ci/run`` runs the same check on CI's own environment against the dev lock).
"""

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
ENTRY = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+?)\s*(?:;\s*(.+?))?\s*\\$")


def entries(lock: str) -> dict[str, list[tuple[str, list[str]]]]:
    """``{package: [(version, [hashes])]}`` (a package may be locked once per marker)."""
    out: dict[str, list[tuple[str, list[str]]]] = {}
    current: list[str] | None = None
    for line in (ROOT / lock).read_text().splitlines():
        if match := ENTRY.match(line):
            current = []
            out.setdefault(canonicalize_name(match[1]), []).append((match[2], current))
        elif current is not None and (found := re.search(r"--hash=sha256:([0-9a-f]{64})", line)):
            current.append(found[1])
    return out


def requirements(group: str) -> list[Requirement]:
    project = PYPROJECT["project"]
    if group == "runtime":
        raw = project["dependencies"]
    elif group == "dev":
        raw = project["optional-dependencies"]["dev"]
    else:
        raw = PYPROJECT["build-system"]["requires"]
    return [Requirement(r) for r in raw]


@pytest.mark.parametrize(
    ("lock", "groups"),
    [
        ("requirements.lock", ["runtime"]),
        ("requirements-dev.lock", ["runtime", "dev"]),
        ("requirements-build.lock", ["build"]),
    ],
)
def test_every_dependency_of_pyproject_is_locked_at_an_allowed_version(
    lock: str, groups: list[str]
) -> None:
    locked = entries(lock)
    missing, outside = [], []
    for group in groups:
        for req in requirements(group):
            versions = [v for v, _ in locked.get(canonicalize_name(req.name), [])]
            if not versions:
                missing.append(req.name)
            elif not any(req.specifier.contains(v, prereleases=True) for v in versions):
                outside.append(f"{req.name}{req.specifier}: locked {versions}")
    assert missing == [], f"not in {lock}; run .ci/lock"
    assert outside == [], f"{lock} is older than pyproject; run .ci/lock"


@pytest.mark.parametrize(
    "lock", ["requirements.lock", "requirements-dev.lock", "requirements-build.lock"]
)
def test_every_locked_package_is_pinned_with_hashes(lock: str) -> None:
    locked = entries(lock)
    assert locked
    assert [name for name, pins in locked.items() if any(not h for _, h in pins)] == []


def test_the_dev_lock_holds_the_images_versions() -> None:
    """CI tests with the versions the image ships: the dev lock is constrained by the runtime
    lock."""
    runtime, dev = entries("requirements.lock"), entries("requirements-dev.lock")
    differ = {
        name: (pins, dev.get(name))
        for name, pins in runtime.items()
        if [v for v, _ in pins] != [v for v, _ in dev.get(name, [])]
    }
    assert differ == {}


def test_the_dockerfile_installs_only_from_the_locks_with_hashes() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    commands = re.sub(r"\\\n\s*", " ", dockerfile)
    installs = re.findall(r"pip install [^&\n]*", commands)
    assert installs, "no pip install in the Dockerfile?"
    for install in installs:
        from_lock = "--require-hashes -r requirements" in install
        own_wheel = "--no-deps /wheels/holdfast-" in install
        assert from_lock or own_wheel, install
    assert "--require-hashes -r requirements.lock" in commands
    assert "--require-hashes -r requirements-build.lock" in commands
    assert "--no-build-isolation" in commands  # the wheel is built with the locked backend
    # The build fails unless the image holds exactly the locked versions.
    assert "check_lock.py requirements.lock /opt/holdfast/bin/python" in commands


def test_ci_installs_the_dev_lock_and_compares_what_it_installed() -> None:
    run = (ROOT / ".ci" / "run").read_text()
    assert "--require-hashes -r requirements-dev.lock" in run
    assert ".ci/check_lock.py requirements-dev.lock" in run
    assert "-e '.[dev]'" not in run


def _check(lock: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / ".ci" / "check_lock.py"), str(lock)],
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_check_refuses_other_versions_and_unlocked_packages(tmp_path: Path) -> None:
    import importlib.metadata

    pytest_version = importlib.metadata.version("pytest")
    wrong = tmp_path / "wrong.lock"
    wrong.write_text(f"pytest=={pytest_version}.post99 \\\n    --hash=sha256:{'0' * 64}\n")
    result = _check(wrong)
    assert result.returncode == 1
    assert f"pytest: locked {pytest_version}.post99, installed {pytest_version}" in result.stderr
    # Everything else installed here is not in that lock either.
    assert "not in" in result.stderr
