"""The leakage audit (harness/audit.py) on hand-made splits and on the built-in data."""

from __future__ import annotations

import csv

from harness.audit import (
    audit_task,
    near_duplicate_warning,
    nearest_train,
    normalise,
    novelty_breakdown,
)
from harness.tasklib import classification_task
from harness.types import Sample
from tests.conftest import BANKING77
from tests.test_cli import rvf


def _jaccard(a: str, b: str) -> float:
    grams = lambda t: {f" {normalise(t)} "[i:i + 5] for i in range(len(normalise(t)) - 2)}  # noqa: E731
    x, y = grams(a), grams(b)
    return len(x & y) / len(x | y)


def test_nearest_train_is_the_brute_force_nearest():
    train = ["Where can I use my card?", "How do I top up my account?", "My card was stolen",
             "I want to cancel a transfer"]
    test = ["where can i use my CARD", "my card has been stolen!", "exchange rates please"]
    found = nearest_train(test, train)
    for text, (sim, j) in zip(test, found, strict=True):
        best = max(range(len(train)), key=lambda k: _jaccard(text, train[k]))
        assert abs(sim - _jaccard(text, train[best])) < 1e-9
        assert j == (best if sim > 0 else -1)  # -1: no train item shares a 5-gram
    assert found[0] == (1.0, 0)  # the same text after normalising
    assert 0 < found[1][0] < 1 and found[1][1] == 2
    assert found[2] == (0.0, -1)


def test_banking77_exact_copies_are_counted_as_a_brute_force_check_finds_them():
    def rows(split):
        with (BANKING77 / f"{split}.csv").open(encoding="utf-8") as fh:
            return list(csv.DictReader(fh))
    train = {normalise(r["text"]): r["category"] for r in rows("train")}
    test = rows("test")
    exact = [r for r in test if normalise(r["text"]) in train]
    task = classification_task(
        "b77", "1", [Sample(f"tr{i}", t, c) for i, (t, c) in enumerate(train.items())],
        [Sample(f"te{i}", r["text"], r["category"]) for i, r in enumerate(test)])
    found = audit_task(task)
    assert found.n_test == 3080 and found.exact == len(exact) == 25
    assert found.exact_same_label == sum(train[normalise(r["text"])] == r["category"] for r in exact)
    assert found.exact <= found.near <= found.similar
    assert [e["similarity"] for e in found.examples] == [1.0, 1.0, 1.0]


def test_novelty_buckets_split_the_scored_items():
    train = [Sample("a", "my card never arrived", "card_arrival"),
             Sample("b", "what is the exchange rate", "exchange_rate")]
    test = [Sample("t1", "my card never arrived", "card_arrival"),  # exact: >= 0.8
            Sample("t2", "my card never arrived yet?", "card_arrival"),
            Sample("t3", "completely different words here", "exchange_rate")]
    task = classification_task("toy", "1", train, test)
    found = audit_task(task)
    buckets = novelty_breakdown(task, test, ["card_arrival", "card_arrival", "card_arrival"],
                                found.nearest, seed=0)
    by = {b["bucket"]: b for b in buckets}
    assert by[">=0.8"]["n"] == 2 and by["<0.5"]["n"] == 1 and by["0.5-0.8"]["n"] == 0
    assert by["<0.5"]["value"] == 0.0 and by[">=0.8"]["value"] == 1.0
    assert by["0.5-0.8"]["value"] is None


def test_user_data_full_of_near_copies_gets_a_warning_with_three_pairs():
    train = [Sample(f"tr{i}", f"please help me with order number {i}", "help") for i in range(30)]
    train += [Sample("x", "cancel my subscription", "cancel")]
    test = [Sample(f"te{i}", f"please help me with order number {i}!", "help") for i in range(10)]
    warning = near_duplicate_warning(classification_task("mine", "1", train, test))
    assert warning is not None and "10 of 10 test items (100%) are near copies" in warning
    assert warning.count(" ~ ") == 3
    clean = [Sample("c", "how do I cancel", "cancel")]
    assert near_duplicate_warning(classification_task("mine", "1", train, clean)) is None


def test_rvf_audit_prints_the_counts_without_running_a_model(tmp_path):
    done = rvf("audit", "--task", "ticket_categorization", "--task", "hr_policy_qa")
    assert done.returncode == 0, done.stderr
    out = " ".join(done.stdout.split())
    assert "test (3080) against train (10003)" in out and "Banking77" in out
    assert "exact copies (normalised) │ 25 │ 0.8%" in out
    assert "reference answer verbatim in the corpus" in out
    missing = rvf("audit", "--split", "dev")
    assert missing.returncode == 2 and "has no 'dev' split" in missing.stderr


def test_run_on_user_data_with_near_copies_warns(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "train.csv").write_text("text,label\n" + "".join(
        f"please help me with order number {i},help\ncancel my plan {i},cancel\n" for i in range(20)))
    (folder / "test.csv").write_text("text,label\n" + "".join(
        f"please help me with order number {i}!,help\n" for i in range(5)))
    done = rvf("run", "--strategy", "prompt",
               "--results", str(tmp_path / "r"), "--task-arg", f"data={folder}",
               "--strategy-arg", "k=1", "--limit", "2")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "warning:" in done.stderr and "5 of 5 test items (100%) are near copies" in done.stderr
