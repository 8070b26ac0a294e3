"""hr_policy_qa: data validity, loader errors, answer parsing, and the QA scorer by hand."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from rvf_corpora.hr_handbook import build, data_dir
from rvf_tasks.hr_policy_qa import ABSTAIN, hr_policy_qa

from harness.errors import DataError
from harness.scoring.text import (
    QAScorer,
    answer_scores,
    exact_match,
    is_abstention,
    normalize,
    reciprocal_rank,
    section_recall,
    token_f1,
)
from harness.tasklib import parse_short_answer as parse_answer
from harness.types import Sample, ScoreInput


@pytest.fixture(scope="module")
def task():
    return hr_policy_qa()


def test_committed_files_are_what_build_writes(tmp_path):
    build.write(tmp_path)
    for name in ("handbook.md", "questions.jsonl"):
        assert (tmp_path / name).read_bytes() == (data_dir() / name).read_bytes(), (
            f"{name} is stale: run python corpora/hr_handbook/build.py")


def test_data_validity(task):
    docs = task.corpus()
    ids = [d.id for d in docs]
    assert len(ids) >= 40 and len(set(ids)) == len(ids)
    train, test = task.splits["train"], task.splits["test"]
    assert len(train) + len(test) >= 300
    everything = list(train) + list(test)
    assert len({s.id for s in everything}) == len(everything)
    kinds = Counter(s.meta["kind"] for s in test)
    assert kinds["combined"] >= 10 and kinds["unanswerable"] >= 10 and kinds["single"] >= 100
    for s in everything:
        assert set(s.meta["sections"]) <= set(ids)
        if s.meta["kind"] == "unanswerable":
            assert s.target == ABSTAIN and not s.meta["sections"]
        else:
            assert s.meta["sections"] and len(s.target.split()) <= 8, s
        if s.meta["kind"] == "combined":
            assert len(set(s.meta["sections"])) == 2
    # train and test share facts, never wording
    train_q = {normalize(s.text) for s in train}
    assert not [s.text for s in test if normalize(s.text) in train_q]
    rows = [json.loads(line) for line in (data_dir() / "questions.jsonl").read_text().splitlines()]
    facts = {split: {r["fact"] for r in rows if r["split"] == split} for split in ("train", "test")}
    assert facts["test"] <= facts["train"]
    # each single-fact reference answer is written in the section it cites
    text = {d.id: d.text.lower() for d in docs}
    for s in everything:
        if s.meta["kind"] == "single":
            assert s.target.lower() in text[s.meta["sections"][0]], s


def _write(folder: Path, handbook: str, questions: list[dict]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "handbook.md").write_text(handbook)
    (folder / "questions.jsonl").write_text("".join(json.dumps(q) + "\n" for q in questions))
    return folder


GOOD_HANDBOOK = "# Handbook\n\n## AB-01 Leave\n\nYou get 9 days.\n\n## AB-02 Pay\n\nPaid on the 3rd.\n"
GOOD_QUESTIONS = [
    {"id": "t1", "split": "train", "question": "Days?", "answer": "9 days", "sections": ["AB-01"]},
    {"id": "t2", "split": "test", "question": "How many days?", "answer": "9 days",
     "sections": ["AB-01"]},
]


def test_user_data_folder_loads(tmp_path):
    t = hr_policy_qa(data=str(_write(tmp_path, GOOD_HANDBOOK, GOOD_QUESTIONS)))
    assert [d.id for d in t.corpus()] == ["AB-01", "AB-02"]
    assert t.splits["test"][0].meta == {"sections": ["AB-01"], "kind": "single"}


@pytest.mark.parametrize("handbook, questions, message", [
    ("# Handbook\n\nno sections at all\n", GOOD_QUESTIONS, r"handbook\.md: no sections"),
    ("## AB-01 Leave\n\nx\n\n## Pay without id\n\ny\n", GOOD_QUESTIONS,
     r"handbook\.md:5: section 'Pay without id' has no id"),
    ("## AB-01 Leave\n\n## AB-02 Pay\n\ny\n", GOOD_QUESTIONS,
     r"handbook\.md:1: section 'AB-01' \(Leave\) has no text"),
    (GOOD_HANDBOOK, GOOD_QUESTIONS[:1] + [{**GOOD_QUESTIONS[1], "sections": ["ZZ-09"]}],
     r"questions\.jsonl:2: question 't2': supporting section id\(s\) 'ZZ-09' do not exist"),
    (GOOD_HANDBOOK, GOOD_QUESTIONS[:1] + [{**GOOD_QUESTIONS[1], "answer": " "}],
     r"questions\.jsonl:2: question 't2': empty or missing 'answer'"),
    (GOOD_HANDBOOK, GOOD_QUESTIONS[:1], r"questions\.jsonl: no 'test' questions"),
])
def test_bad_input_names_file_and_item(tmp_path, handbook, questions, message):
    folder = _write(tmp_path / "data", handbook, questions)
    with pytest.raises(DataError, match=message):
        hr_policy_qa(data=str(folder))


def test_parse_answer():
    assert parse_answer("The answer is: 6 months\nbecause...") == "6 months"
    assert parse_answer("  \nAnswer: \"12 days\"") == "12 days"
    assert parse_answer("A lot of days") == "A lot of days"
    assert parse_answer("   ") is None


def test_token_f1_and_exact_match_by_hand():
    assert normalize("The Finance Controller.") == "finance controller"
    assert token_f1("12 days", "12 days") == 1.0
    # pred tokens: answer is 12 days (article dropped) -> precision 2/4, recall 2/2
    assert token_f1("The answer is 12 days", "12 days") == pytest.approx(2 * 0.5 * 1 / 1.5)
    assert token_f1("14 weeks", "12 days") == 0.0
    assert token_f1(None, "12 days") == 0.0
    assert exact_match("the Finance Controller!", "Finance controller") == 1.0
    assert exact_match("12 days.", "12 days a year") == 0.0


def test_abstention_rules():
    assert is_abstention("The handbook doesn't say.", ABSTAIN)
    assert is_abstention("It is not mentioned", ABSTAIN)
    assert not is_abstention("12 days", ABSTAIN) and not is_abstention(None, ABSTAIN)
    assert answer_scores("The handbook does not specify this", ABSTAIN, ABSTAIN) == (1.0, 1.0)
    assert answer_scores("12 days", ABSTAIN, ABSTAIN) == (0.0, 0.0)
    assert answer_scores("The handbook does not say.", "12 days", ABSTAIN) == (0.0, 0.0)
    # A task without an abstention string has no abstentions: the phrase is scored as text.
    assert not is_abstention("The handbook does not say.", None)
    assert answer_scores("It is not mentioned", "not mentioned", None)[0] > 0


def test_retrieval_measures_by_hand():
    assert section_recall(["A", "B", "C"], {"B", "Z"}) == 0.5
    assert reciprocal_rank(["A", "B", "C"], {"B", "Z"}) == 0.5
    assert reciprocal_rank(["A"], {"Z"}) == 0.0


def _samples():
    return [Sample("q1", "Days?", "12 days", {"sections": ["AB-01"], "kind": "single"}),
            Sample("q2", "Who?", "the Finance Controller", {"sections": ["AB-02"], "kind": "single"}),
            Sample("q3", "Dogs?", ABSTAIN, {"sections": [], "kind": "unanswerable"})]


def test_qa_scorer_without_retrieval_records_not_scored(tmp_path):
    task = hr_policy_qa(data=str(_write(tmp_path, GOOD_HANDBOOK, GOOD_QUESTIONS)))
    answers = ["12 days", "the CFO", "The handbook does not say."]
    m = QAScorer()(ScoreInput(task, _samples(), answers, [{}, {}, {}], 0))
    assert m["token_f1"].value == pytest.approx((1 + 0 + 1) / 3)
    assert m["exact_match"].value == pytest.approx(2 / 3)
    assert m["token_f1"].ci_low <= m["token_f1"].value <= m["token_f1"].ci_high
    assert m["abstention_accuracy"].value == 1.0
    for name in ("recall_at_k", "mrr", "context_recall", "context_precision", "faithfulness"):
        assert m[name].value is None and m[name].note.startswith("not scored")
    assert m["recall_at_k"].note == "not scored: this strategy retrieves nothing"
    assert m["faithfulness"].note == "not scored: needs --judge (an LLM judge model)"

    assert "answer_relevancy" not in m  # no metric is listed that is never computed
    assert m["rouge_l"].value is not None and 0 < m["rouge_l"].value < 1
    assert m["string_similarity"].value is not None


def test_abstention_accuracy_is_not_scored_without_unanswerable_items(tmp_path):
    """Never a perfect 1.000 when there was nothing to abstain on."""
    task = hr_policy_qa(data=str(_write(tmp_path, GOOD_HANDBOOK, GOOD_QUESTIONS)))
    m = QAScorer()(ScoreInput(task, _samples()[:2], ["12 days", "the CFO"], [{}, {}], 0))
    assert m["abstention_accuracy"].value is None
    assert m["abstention_accuracy"].note == ("not scored: none of the 2 items is unanswerable "
                                             "(the model abstained on 0)")


def test_qa_scorer_with_retrieval_extras(tmp_path):
    task = hr_policy_qa(data=str(_write(tmp_path, GOOD_HANDBOOK, GOOD_QUESTIONS)))
    texts = {d.id: d.text for d in task.corpus()}
    extras = [
        {"retrieved": [{"id": "AB-01#0", "doc": "AB-01", "score": 0.9},
                       {"id": "AB-02#0", "doc": "AB-02", "score": 0.1}],
         "contexts": [texts["AB-01"], texts["AB-02"]]},
        {"retrieved": [{"id": "AB-01#0", "doc": "AB-01", "score": 0.5},
                       {"id": "AB-02#0", "doc": "AB-02", "score": 0.4}],
         "contexts": [texts["AB-01"], texts["AB-02"]]},
        {"retrieved": [{"id": "AB-01#0", "doc": "AB-01", "score": 0.2}],
         "contexts": [texts["AB-01"]]},  # unanswerable: not in retrieval metrics
    ]
    m = QAScorer()(ScoreInput(task, _samples(), ["12 days", "x", "no idea"], extras, 0))
    assert m["recall_at_k"].value == 1.0 and "k=2" in m["recall_at_k"].note
    assert m["mrr"].value == pytest.approx((1 + 0.5) / 2)
    assert m["context_recall"].value == 1.0  # the reference section text was retrieved verbatim
    # item 1: relevant at rank 1 -> AP 1; item 2: relevant at rank 2 -> AP 0.5
    assert m["context_precision"].value == pytest.approx(0.75, abs=1e-6)
    assert m["abstention_accuracy"].value == pytest.approx(2 / 3)
