"""Check that an environment holds exactly the packages of a lock file, at the locked versions.

    python .ci/check_lock.py LOCK [TARGET_PYTHON]

TARGET_PYTHON (default: this interpreter) is asked for its installed distributions and its
marker environment; the lock's entries whose markers hold there must all be installed at exactly
their version, and nothing else may be (beside the installer itself and the project). Needs
``packaging`` in the interpreter that runs it (hatchling brings it to the build stage, the dev
lock to CI), not in the target.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from packaging.markers import Marker

# The installer and the project itself are not dependencies.
NOT_LOCKED = {"pip", "setuptools", "wheel", "holdfast"}
_ENTRY = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)\s*(?:;\s*([^\\]+?))?\s*\\?$")

_PROBE = """
import importlib.metadata, json, os, platform, sys
impl = sys.implementation
version = "{0.major}.{0.minor}.{0.micro}".format(impl.version)
env = {
    "implementation_name": impl.name,
    "implementation_version": version,
    "os_name": os.name,
    "platform_machine": platform.machine(),
    "platform_release": platform.release(),
    "platform_system": platform.system(),
    "platform_version": platform.version(),
    "python_full_version": platform.python_version(),
    "platform_python_implementation": platform.python_implementation(),
    "python_version": ".".join(platform.python_version_tuple()[:2]),
    "sys_platform": sys.platform,
}
installed = {d.metadata["Name"]: d.version for d in importlib.metadata.distributions()}
print(json.dumps({"env": env, "installed": installed}))
"""


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def locked(lock: Path, env: dict[str, str]) -> dict[str, str]:
    """``{package: version}`` of the lock's entries whose markers hold in ``env``."""
    out: dict[str, str] = {}
    for line in lock.read_text().splitlines():
        match = _ENTRY.match(line.strip())
        if match is None:
            continue
        name, version, marker = match.groups()
        if marker is None or Marker(marker).evaluate(env):
            out[canonical(name)] = version
    return out


def main(argv: list[str]) -> int:
    if not 1 <= len(argv) <= 2:
        print(__doc__, file=sys.stderr)
        return 2
    lock = Path(argv[0])
    python = argv[1] if len(argv) == 2 else sys.executable
    probe = json.loads(
        subprocess.run(  # noqa: S603  (the interpreter named on our own command line)
            [python, "-c", _PROBE], check=True, capture_output=True, text=True
        ).stdout
    )
    expected = locked(lock, probe["env"])
    installed = {
        canonical(name): version
        for name, version in probe["installed"].items()
        if canonical(name) not in NOT_LOCKED
    }
    problems = [
        f"{name}: locked {version}, installed {installed.get(name, 'nothing')}"
        for name, version in sorted(expected.items())
        if installed.get(name) != version
    ] + [
        f"{name}: installed {version}, not in {lock}"
        for name, version in sorted(installed.items())
        if name not in expected
    ]
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print(f"{lock}: {len(problems)} differences; run .ci/lock or reinstall", file=sys.stderr)
        return 1
    print(f"{lock}: {len(installed)} packages installed exactly as locked")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
