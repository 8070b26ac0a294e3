"""The request cache: a generation is computed once per (model identity, prompt, settings), ever.

SQLite in WAL mode, so several rvf processes can share it and a kill mid-run loses at most the
batch in flight (each answer is committed as it arrives). Errors are never cached. The key holds
the backend's identity (name, weights fingerprint or endpoint, dtype) and the full request, and
nothing else: no API keys, no timeouts, no headers.
"""

from __future__ import annotations

import hashlib
import json
import random
import sqlite3
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import DataError
from harness.types import Backend, Generation, GenerationRequest

_SCHEMA = """
CREATE TABLE IF NOT EXISTS generations (
    key TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    text TEXT NOT NULL,
    input_tokens INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL,
    latency_s REAL NOT NULL,
    created REAL NOT NULL
)
"""
# Columns added after the first release; an older cache file gets them on open (defaults 0/{}).
_ADDED_COLUMNS = {"cached_input_tokens": "INTEGER NOT NULL DEFAULT 0",
                  "compute_s": "REAL",  # NULL: cached before rvf measured it (cost unknown)
                  "cpu_s": "REAL",  # NULL: cached before rvf measured CPU time (wall-priced)
                  "meta": "TEXT NOT NULL DEFAULT '{}'"}


def canonical_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def request_key(identity: dict[str, Any], request: GenerationRequest) -> str:
    payload = {"model": identity, "messages": list(request.messages),
               "max_new_tokens": request.max_new_tokens, "decoding": "greedy"}
    if request.constraint is not None:  # absent when unconstrained: old keys stay valid
        payload["constraint"] = request.constraint.key()
    return hashlib.sha256(canonical_json(payload).encode()).hexdigest()


class RequestCache:
    """A persistent map from request key to generation."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, timeout=60, isolation_level=None)
            self._db.execute("PRAGMA busy_timeout=60000")
            self._use_wal()
            self._db.execute(_SCHEMA)
            have = {row[1] for row in self._db.execute("PRAGMA table_info(generations)")}
        except (sqlite3.DatabaseError, OSError) as exc:
            if _is_busy(exc):
                raise
            raise self.unusable(exc) from None
        for name, decl in _ADDED_COLUMNS.items():
            if name not in have:
                try:
                    self._db.execute(f"ALTER TABLE generations ADD COLUMN {name} {decl}")
                except sqlite3.OperationalError:  # another process added it first
                    pass

    def _use_wal(self) -> None:
        """Switch to WAL. Two runs opening a new cache file at the same moment race for the
        exclusive lock this takes, and SQLite answers "locked" at once instead of waiting for the
        busy timeout: wait and try again."""
        deadline = time.monotonic() + 60
        while True:
            try:
                self._db.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05 + random.random() * 0.1)

    def unusable(self, exc: Exception) -> DataError:
        """The error for a cache file SQLite cannot use; finished records are never at risk."""
        return DataError(
            f"request cache {self.path}: {exc} ({type(exc).__name__}). Move or delete that file "
            "(answers it held are computed again), point RVF_REQUEST_CACHE elsewhere, or run "
            "with --no-cache")

    def get_many(self, keys: Sequence[str]) -> dict[str, Generation]:
        found: dict[str, Generation] = {}
        try:
            for start in range(0, len(keys), 500):
                chunk = list(keys[start:start + 500])
                marks = ",".join("?" * len(chunk))
                rows = self._db.execute(
                    "SELECT key, text, input_tokens, output_tokens, latency_s, cached_input_tokens, "
                    f"compute_s, cpu_s, meta FROM generations WHERE key IN ({marks})", chunk)
                for key, text, tin, tout, lat, tcached, compute, cpu, meta in rows:
                    found[key] = Generation(text, tin, tout, lat, cached=True,
                                            cached_input_tokens=tcached, compute_s=compute,
                                            cpu_s=cpu, meta=json.loads(meta))
        except sqlite3.DatabaseError as exc:  # a file damaged after it was opened
            if _is_busy(exc):
                raise
            raise self.unusable(exc) from None
        return found

    def put(self, key: str, model: str, gen: Generation) -> None:
        if gen.error is not None:
            return
        try:
            self._db.execute(
                "INSERT OR REPLACE INTO generations (key, model, text, input_tokens, "
                "output_tokens, latency_s, created, cached_input_tokens, compute_s, cpu_s, meta) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (key, model, gen.text, gen.input_tokens, gen.output_tokens, gen.latency_s,
                 time.time(), gen.cached_input_tokens, gen.compute_s, gen.cpu_s,
                 canonical_json(gen.meta)))
        except sqlite3.DatabaseError as exc:
            if _is_busy(exc):
                raise
            raise self.unusable(exc) from None

    def close(self) -> None:
        self._db.close()


def _is_busy(exc: Exception) -> bool:
    """Another process holding the file past the busy timeout: not damage, so no advice to
    delete it."""
    return isinstance(exc, sqlite3.Error) and exc.sqlite_errorname in ("SQLITE_BUSY",
                                                                        "SQLITE_LOCKED")


@dataclass
class CacheStats:
    hits: int = 0
    model_calls: int = 0


class CachedBackend:
    """Wraps a backend: answers from the cache first, sends only the misses to the model."""

    def __init__(self, inner: Backend, cache: RequestCache | None) -> None:
        self.inner = inner
        self.spec = inner.spec
        self.cache = cache
        self.stats = CacheStats()

    def identity(self) -> dict[str, Any]:
        return self.inner.identity()

    def peek(self, requests: Sequence[GenerationRequest]) -> list[Generation | None]:
        """The cached answers to `requests` (None where there is none); sends nothing."""
        if self.cache is None:
            return [None] * len(requests)
        identity = self.inner.identity()
        keys = [request_key(identity, r) for r in requests]
        found = self.cache.get_many(keys)
        return [found.get(k) for k in keys]

    def generate(self, requests: Sequence[GenerationRequest]) -> Iterator[tuple[int, Generation]]:
        if self.cache is None:
            for i, gen in self.inner.generate(requests):
                self.stats.model_calls += 1
                yield i, gen
            return
        identity = self.inner.identity()
        keys = [request_key(identity, r) for r in requests]
        found = self.cache.get_many(keys)
        missing = [i for i, k in enumerate(keys) if k not in found]
        for i, key in enumerate(keys):
            if key in found:
                self.stats.hits += 1
                yield i, found[key]
        model = self.inner.spec
        for j, gen in self.inner.generate([requests[i] for i in missing]):
            self.stats.model_calls += 1
            self.cache.put(keys[missing[j]], model, gen)
            yield missing[j], gen
