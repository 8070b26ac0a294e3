"""The lock files agree with each other (locks/make.py resolves every lock against tests.txt)."""

from __future__ import annotations

import re
from pathlib import Path

LOCKS = Path(__file__).resolve().parents[1] / "locks"
PIN = re.compile(r"^([a-z0-9][a-z0-9-]*)==([^\s=]+)$")


def read_lock(path: Path) -> dict[str, str]:
    """name -> version of one lock; a line that is not `name==version` fails, naming the line."""
    pins: dict[str, str] = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line or line.startswith("#"):
            continue
        match = PIN.match(line)
        assert match, f"{path.name}:{number}: not a normalized `name==version` pin: {line!r}"
        name, version = match.groups()
        assert name not in pins, f"{path.name}:{number}: {name} is pinned twice"
        pins[name] = version
    return pins


def test_every_lock_pins_a_shared_package_at_the_tests_version():
    base = read_lock(LOCKS / "tests.txt")
    others = sorted(p for p in LOCKS.glob("*.txt") if p.name != "tests.txt")
    assert {p.stem for p in others} >= {"demo", "llamacpp", "bench"}
    split = [f"{path.name}: {name}=={version}, tests.txt: {base[name]}"
             for path in others for name, version in read_lock(path).items()
             if name in base and base[name] != version]
    assert not split, "locks disagree (regenerate with `tox -e lock`):\n" + "\n".join(split)
    assert {"torch", "transformers", "peft"} <= base.keys()
