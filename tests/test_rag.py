"""rag and the persistent index: real Chroma, the bundled MiniLM, real generation on a few questions."""

from __future__ import annotations

import multiprocessing as mp
from pathlib import Path

import pytest

from harness import index as index_module
from harness.compute import machine_cores

# No importorskip: the tests environment installs rvf[rag]; a missing package must fail here.
from harness.errors import DataError, UsageError
from harness.index import (
    Embedder,
    IndexSpec,
    open_or_build,
    recall_vs_exact,
)
from harness.strategies.rag import rag
from harness.types import AnswerSpace, Document, PrepareContext, Sample, ScoreInput, Task


@pytest.fixture(scope="module")
def hr():
    from rvf_tasks.hr_policy_qa import hr_policy_qa

    return hr_policy_qa()


@pytest.fixture(scope="module")
def embedder():
    return Embedder()


def small_corpus(n: int = 24, tag: str = "") -> list[Document]:
    topics = ["leave", "travel", "laptops", "pay", "security", "benefits"]
    return [Document(f"D-{i:02d}", f"Policy {i} about {topics[i % 6]}{tag}. Employees get {i + 3} "
                     f"units of {topics[i % 6]} per year, approved by manager {i}.") for i in range(n)]


def test_index_built_once_then_reused_without_embedding(hr, monkeypatch):
    first = rag()
    prepared = first.prepare(hr, None, PrepareContext(seed=0, hardware_usd_per_hour=0.36))
    facts = prepared.facts
    # The build is a start-up cost at the one hardware rate; the handbook holds no labels, the
    # two worked examples do.
    assert prepared.index.cpu_seconds == facts["cpu_seconds"] and not prepared.index.cache_hit
    assert prepared.index.cost_usd == pytest.approx(
        facts["cpu_seconds"] / 3600 * 0.36 / machine_cores())
    assert prepared.labelled_examples == 2
    assert facts["index_cache_hit"] is False and facts["embedded_chunks"] == facts["n_chunks"] >= 50
    assert facts["build_seconds"] > 0 and facts["ann_recall_vs_exact"]["recall"] >= 0.95
    assert 0 < facts["cpu_seconds"]  # what the build is priced by
    assert facts["ef_search"] >= IndexSpec().ef_search

    def no_corpus_embedding(self, texts, what="texts", progress=True):
        raise AssertionError(f"re-embedded {len(texts)} {what} on a reuse")

    monkeypatch.setattr(Embedder, "encode", no_corpus_embedding)
    second = rag(shots=0)
    reused = second.prepare(hr, None, PrepareContext(seed=0, hardware_usd_per_hour=0.36))
    again = reused.facts
    assert again["index_cache_hit"] is True and again["embedded_chunks"] == 0
    # A reused index cost what its build cost: the start-up cost is the same.
    assert reused.index.cache_hit and reused.index.cost_usd == prepared.index.cost_usd
    assert again["key"] == facts["key"] and again["build_seconds"] == facts["build_seconds"]


def test_recall_against_brute_force_on_the_handbook(hr, embedder):
    index, _ = open_or_build(hr.corpus(), embedder, IndexSpec(), where="handbook")
    questions = embedder.encode([s.text for s in hr.splits["test"]], progress=False)
    assert recall_vs_exact(index, questions, 5) >= 0.95
    assert recall_vs_exact(index, questions, 10) >= 0.95


def _sparse_hnsw(path: Path, n: int = 3000, dim: int = 32):
    """A real Chroma collection built so coarsely (M=4, ef 2) that its ANN recall starts low."""
    import numpy as np

    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(n, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    client = index_module._client(path)
    collection = client.create_collection(
        index_module.COLLECTION, embedding_function=None,
        configuration={"hnsw": {"space": "cosine", "ef_construction": 8, "max_neighbors": 4,
                                "ef_search": 2}})
    collection.add(ids=[f"c{i}" for i in range(n)], embeddings=vectors, documents=["x"] * n,
                   metadatas=[{"doc_id": f"d{i}"} for i in range(n)])
    client.close()
    return vectors


def test_ef_search_is_raised_until_recall_meets_the_target(tmp_path, monkeypatch):
    vectors = _sparse_hnsw(tmp_path / "a")
    probes = index_module._probe_queries(vectors, 200)
    ef, trials = index_module.tune_ef_search(tmp_path / "a", probes, 10, start=2)
    assert trials[0] == (2, trials[0][1]) and trials[0][1] < 0.5  # the coarse graph misses most
    assert [e for e, _ in trials] == [2 * 2 ** i for i in range(len(trials))]  # doubling
    assert trials[-1][1] >= index_module.RECALL_TARGET > trials[-2][1] and ef == trials[-1][0]
    reopened = index_module._client(tmp_path / "a")  # the chosen value persists in the collection
    assert reopened.get_collection(index_module.COLLECTION).configuration_json["hnsw"][
        "ef_search"] == ef
    reopened.close()

    _sparse_hnsw(tmp_path / "b")
    monkeypatch.setattr(index_module, "EF_SEARCH_MAX", 16)
    capped, steps = index_module.tune_ef_search(tmp_path / "b", probes, 10, start=2)
    assert capped == 16 and steps[-1][0] == 16 and steps[-1][1] < index_module.RECALL_TARGET


def test_corpus_change_builds_a_new_index(embedder, tmp_path):
    docs = small_corpus()
    a, fa = open_or_build(docs, embedder, IndexSpec(), root=tmp_path)
    _, fa2 = open_or_build(docs, embedder, IndexSpec(), root=tmp_path)
    changed = docs[:-1] + [Document(docs[-1].id, docs[-1].text + " Amended in 2026.")]
    b, fb = open_or_build(changed, embedder, IndexSpec(), root=tmp_path)
    assert fa2["index_cache_hit"] and fa2["key"] == fa["key"]
    assert fb["key"] != fa["key"] and fb["corpus_sha256"] != fa["corpus_sha256"]
    assert not fb["index_cache_hit"] and a.path != b.path
    _, fc = open_or_build(docs, embedder, IndexSpec(chunk_size=64), root=tmp_path)
    assert fc["key"] not in (fa["key"], fb["key"])  # chunking is part of the key too
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_dir()) == sorted(
        [fa["key"], fb["key"], fc["key"]])  # no partial folders left behind


def _build_in_child(root: str, out) -> None:
    _, facts = open_or_build(small_corpus(40, " (concurrent)"), Embedder(), IndexSpec(),
                             root=Path(root))
    out.put((facts["key"], facts["index_cache_hit"], facts["n_chunks"]))


def test_concurrent_builders_build_once_and_do_not_corrupt(tmp_path, embedder):
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    procs = [ctx.Process(target=_build_in_child, args=(str(tmp_path), out)) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=600)
        assert p.exitcode == 0
    results = [out.get(timeout=5) for _ in procs]
    assert len({key for key, _, _ in results}) == 1
    assert sorted(hit for _, hit, _ in results) == [False, True]  # exactly one process built it
    index, facts = open_or_build(small_corpus(40, " (concurrent)"), embedder, IndexSpec(),
                                 root=tmp_path)
    assert facts["index_cache_hit"] and index.collection.count() == facts["n_chunks"] == results[0][2]
    assert [p.name for p in tmp_path.iterdir() if p.is_dir()] == [facts["key"]]


def test_bad_corpora_are_data_errors(embedder, tmp_path):
    with pytest.raises(DataError, match="handbook: the corpus is empty"):
        open_or_build([], embedder, IndexSpec(), where="handbook", root=tmp_path)
    with pytest.raises(DataError, match="document 2 has no id"):
        open_or_build([Document("A", "x"), Document("", "y")], embedder, IndexSpec(), root=tmp_path)
    with pytest.raises(DataError, match="duplicate document id 'A'"):
        open_or_build([Document("A", "x"), Document("A", "y")], embedder, IndexSpec(), root=tmp_path)


def test_bad_arguments_and_free_text_task_without_corpus():
    with pytest.raises(UsageError, match="chunk_overlap"):
        rag(chunk_size=64, chunk_overlap=64)
    with pytest.raises(UsageError, match="k must be"):
        rag(k=0)
    task = Task("notes", "1", {"train": [Sample("a", "q", "free answer")],
                               "test": [Sample("b", "q", "x")]},
                "Answer.", AnswerSpace("text"), parse=str.strip, scorers=[], primary_metric="f1")
    with pytest.raises(UsageError, match="declares no corpus"):
        rag().prepare(task, None, PrepareContext(seed=0))


def test_ticket_categorization_gets_labelled_neighbours():
    from rvf_tasks.ticket_categorization import ticket_categorization

    task = ticket_categorization(data="synthetic", n_train=150, n_test=10)
    strategy = rag(k=4)
    prepared = strategy.prepare(task, None, PrepareContext(seed=0))
    facts = prepared.facts
    assert facts["mode"] == "few_shot" and facts["n_documents"] == 150
    assert prepared.labelled_examples == 150  # every indexed train item is a labelled example
    train = {s.id: s for s in task.splits["train"]}
    planned = strategy.requests(task, task.splits["test"][:3])
    for (request, extra), sample in zip(planned, task.splits["test"][:3], strict=True):
        msgs = request.messages
        assert msgs[0]["role"] == "system" and msgs[-1] == {"role": "user", "content": sample.text}
        shots = msgs[1:-1]
        assert len(shots) == 8 and len(extra["retrieved"]) == 4
        ids = [r["doc"] for r in extra["retrieved"]]
        assert all(i in train for i in ids) and len(set(ids)) == 4
        scores = [r["score"] for r in extra["retrieved"]]
        assert scores == sorted(scores, reverse=True)
        for i, doc_id in enumerate(reversed(ids)):  # most similar right before the question
            assert shots[2 * i] == {"role": "user", "content": train[doc_id].text}
            assert shots[2 * i + 1] == {"role": "assistant", "content": train[doc_id].target}
            assert shots[2 * i + 1]["content"] in task.answer_space.labels


@pytest.mark.slow
def test_rag_on_hr_policy_qa_generates_from_retrieved_context(hr, smol):
    strategy = rag(shots=1)
    strategy.prepare(hr, smol, PrepareContext(seed=0))
    samples = [s for s in hr.splits["test"] if s.meta["kind"] == "single"][:2]
    planned = strategy.requests(hr, samples)
    for (request, extra), sample in zip(planned, samples, strict=True):
        user = request.messages[-1]["content"]
        assert user.startswith("Context:\n[") and user.endswith(f"Question: {sample.text}")
        assert len(extra["retrieved"]) == 5 == len(extra["contexts"])
        assert all(f"[{r['id']}]" in user for r in extra["retrieved"])
    gens = dict(smol.generate([r for r, _ in planned]))
    assert all(gens[i].error is None and gens[i].text.strip() for i in range(len(samples)))
    from harness.scoring.text import QAScorer

    answers = [hr.parse(gens[i].text) for i in range(len(samples))]
    m = QAScorer(ragas=False)(ScoreInput(hr, samples, answers, [e for _, e in planned], 0))
    assert m["token_f1"].value is not None and m["recall_at_k"].value is not None


def test_a_killed_build_resumes_from_its_embedding_checkpoint(embedder, tmp_path, monkeypatch):
    docs = small_corpus(150)  # > 2 batches of 64 chunks
    model = embedder.model
    real_encode = type(model).encode
    calls = {"n": 0}

    def dies_on_the_third_batch(self, texts, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt  # what Ctrl-C or a kill does mid-build
        return real_encode(self, texts, *args, **kwargs)

    monkeypatch.setattr(type(model), "encode", dies_on_the_third_batch)
    with pytest.raises(KeyboardInterrupt):
        open_or_build(docs, embedder, IndexSpec(), root=tmp_path)
    assert not [p for p in tmp_path.iterdir() if p.is_dir()]  # no half-built index
    assert list(tmp_path.glob(".*.embeddings.sqlite"))  # but the two finished batches are kept
    monkeypatch.setattr(type(model), "encode", real_encode)

    before = embedder.embedded
    index, facts = open_or_build(docs, embedder, IndexSpec(), root=tmp_path)
    assert facts["embeddings_from_checkpoint"] == 128
    assert facts["embedded_chunks"] == embedder.embedded - before == facts["n_chunks"] - 128
    assert not list(tmp_path.glob(".*.embeddings.sqlite*"))  # deleted once the index exists
    # The resumed index answers like one built in a single go.
    fresh, _ = open_or_build(docs, embedder, IndexSpec(), root=tmp_path / "fresh")
    probe = embedder.encode(["units of travel approved by manager 7"], progress=False)
    assert [h.id for h in index.query(probe, 5)[0]] == [h.id for h in fresh.query(probe, 5)[0]]


def test_more_results_than_sqlite_has_variables_are_queried_in_slices(embedder, tmp_path):
    """A full Banking77 test split asks for 3,080 x 15 results: one Chroma query of that many
    failed with SQLite's "too many SQL variables" (32,766)."""
    index, _ = open_or_build(small_corpus(), embedder, IndexSpec(), root=tmp_path)
    queries = embedder.encode([d.text for d in small_corpus()] * 100, what="questions")
    assert len(queries) * 24 > 32_766
    hits = index.query(queries, 24)
    assert len(hits) == len(queries) and {len(h) for h in hits} == {24}
    assert [h[0].doc_id for h in hits] == [d.id for d in small_corpus()] * 100  # itself first
