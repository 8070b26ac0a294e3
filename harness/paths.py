"""Where rvf keeps what outlives a run: converted models, the request cache, adapters, indexes.

Everything lives under one cache root (`RVF_CACHE_DIR`, default the platform's user cache dir).
Converted model folders can be shared across cache roots with `RVF_MODELS_DIR`, so a test suite
can use a throw-away request cache without converting the bundled model again.
"""

from __future__ import annotations

import os
from pathlib import Path

from platformdirs import user_cache_dir


def cache_root() -> Path:
    return Path(os.environ.get("RVF_CACHE_DIR") or user_cache_dir("rvf")).expanduser()


def models_dir() -> Path:
    return Path(os.environ.get("RVF_MODELS_DIR") or cache_root() / "models").expanduser()


def request_cache_path() -> Path:
    """`RVF_REQUEST_CACHE`, else `<cache root>/requests.sqlite`.

    Separate from the cache root because SQLite's WAL mode is unsafe on network filesystems: a
    cluster can share indexes and adapters over NFS and keep each node's request cache local.
    """
    return Path(os.environ.get("RVF_REQUEST_CACHE") or cache_root() / "requests.sqlite").expanduser()
