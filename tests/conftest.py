"""Shared fixtures. Tests use a throw-away request cache and results dir, but share the converted
bundled model with the user's cache (RVF_MODELS_DIR), so it is converted once per machine."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from platformdirs import user_cache_dir

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
BANKING77 = SHARED / "data" / "banking77"


@pytest.fixture(scope="session", autouse=True)
def isolated_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cache = tmp_path_factory.mktemp("rvf-cache")
    os.environ["RVF_CACHE_DIR"] = str(cache)
    os.environ.setdefault("RVF_MODELS_DIR", str(Path(user_cache_dir("rvf")) / "models"))
    return cache


@pytest.fixture(scope="session")
def smol():
    """The bundled SmolLM2 through the real hf backend (fp32: exact and fastest on most CPUs)."""
    from harness.backends.local import local

    return local("smollm2-135m-instruct", dtype="fp32")


@pytest.fixture(scope="session")
def registry():
    from harness.registry import default_registry

    return default_registry()
