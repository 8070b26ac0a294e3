"""Regenerate the lock files: `tox -e lock` (or `python locks/make.py [ENV ...]`).

One lock per tox environment that a README command or CI uses: every package, with every
transitive dependency, that pip resolves for that environment's extras and deps on this platform
(CPython 3.11, Linux x86-64), read from pip's own resolver (`pip install --dry-run --report`), so
nothing is installed or built. The environments install with the lock as pip constraints and then
`locks/check.py` fails when what is installed is not exactly the lock, so a lock that misses a
package fails the environment instead of letting pip pick the newest release.

The other locks agree with the tests lock: every environment but `tests` resolves with
locks/tests.txt as constraints, so a package that two environments share has the version the
test suite ran with (a new upstream release between two lock runs cannot split them). Regenerate
`tests` first when both change; `main` does so when it is given both.

torch is written without its `+cpu` local label: `torch==2.13.0` takes the local CPU wheel where
pip's find-links carry it (these machines) and the PyPI wheel elsewhere.
"""

from __future__ import annotations

import configparser
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOCKED = ("tests", "demo", "llamacpp", "bench")  # the environments that install from a lock
BASE = "tests"  # the lock the others are resolved against (see the module docstring)


def env_requirements(tox: configparser.ConfigParser, env: str) -> list[str]:
    """What tox installs into `env`: rvf with the env's extras, plus its `deps` lines."""
    section = tox[f"testenv:{env}"]
    extras = [e.strip() for e in section.get("extras", "").replace("\n", ",").split(",") if e.strip()]
    deps = [line.strip() for line in section.get("deps", "").splitlines()
            if line.strip() and not line.strip().startswith(("#", "-c", "-r"))]
    return [f"{ROOT}[{','.join(extras)}]" if extras else str(ROOT), *deps]


def resolve(requirements: list[str], constraints: Path | None = None) -> list[tuple[str, str]]:
    """(name, version) of every package pip would install for `requirements`, rvf excluded.

    `constraints` is a lock file the resolution must agree with (None: resolve afresh).
    """
    env = {k: v for k, v in os.environ.items() if k != "PIP_CONSTRAINT"}
    pinned = ["-c", str(constraints)] if constraints else []
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet",
         "--report", "-", *pinned, *requirements],
        capture_output=True, text=True, env=env, check=False)
    if done.returncode:
        sys.exit(f"pip could not resolve {requirements}:\n{done.stderr}")
    report = json.loads(done.stdout)
    pins = []
    for item in report["install"]:
        name = item["metadata"]["name"].lower().replace("_", "-").replace(".", "-")
        version = item["metadata"]["version"]
        if name == "rvf":
            continue
        pins.append((name, version.split("+")[0] if name == "torch" else version))
    return sorted(pins)


def main(envs: list[str]) -> None:
    tox = configparser.ConfigParser(interpolation=None)
    tox.read(ROOT / "tox.ini")
    base = ROOT / "locks" / f"{BASE}.txt"
    for env in sorted(envs or LOCKED, key=lambda e: e != BASE):  # the base lock first
        requirements = env_requirements(tox, env)
        pins = resolve(requirements, None if env == BASE else base)
        what = ", ".join(r.replace(str(ROOT), "rvf") for r in requirements)
        header = [f"# Lock for `tox -e {env}`: {what}",
                  f"# CPython {platform.python_version()} on {sys.platform} {platform.machine()}; "
                  "regenerate with `tox -e lock` (locks/make.py). Do not edit by hand."]
        path = ROOT / "locks" / f"{env}.txt"
        path.write_text("\n".join(header + [f"{n}=={v}" for n, v in pins]) + "\n")
        print(f"{path.relative_to(ROOT)}: {len(pins)} packages")


if __name__ == "__main__":
    main(sys.argv[1:])
