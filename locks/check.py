"""Fail unless the running environment holds exactly the packages of its lock file.

`python locks/check.py locks/tests.txt`: every locked package installed at its locked version, and
nothing installed that the lock does not name (besides rvf and pip's own tools). Run by each tox
environment before its commands, so a lock that misses a dependency, or a stale environment, is an
error naming the packages instead of a silently different set of versions.
"""

from __future__ import annotations

import sys
from importlib.metadata import distributions
from pathlib import Path

IGNORED = {"rvf", "pip", "setuptools", "wheel"}  # the project itself and the venv's seed packages


def canonical(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def read_lock(path: Path) -> dict[str, str]:
    pins = {}
    for lineno, line in enumerate(path.read_text().splitlines(), 1):
        line = line.split("#")[0].strip()
        if not line:
            continue
        name, sep, version = line.partition("==")
        if not sep:
            sys.exit(f"{path}:{lineno}: expected name==version, got {line!r}")
        pins[canonical(name)] = version.strip()
    return pins


def main(lock: Path) -> int:
    pins = read_lock(lock)
    installed = {canonical(d.metadata["Name"]): d.version.split("+")[0] for d in distributions()}
    problems = []
    for name, version in sorted(pins.items()):
        if name not in installed:
            problems.append(f"  {name}=={version} is locked but not installed")
        elif installed[name] != version:
            problems.append(f"  {name} is {installed[name]}, the lock says {version}")
    for name in sorted(set(installed) - set(pins) - IGNORED):
        problems.append(f"  {name}=={installed[name]} is installed but not in the lock")
    if problems:
        print(f"{lock}: the environment is not the lock:\n" + "\n".join(problems) + "\n"
              "Recreate the environment (tox -r -e ENV), or regenerate the locks (tox -e lock) "
              "after changing dependencies in pyproject.toml or tox.ini.", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
