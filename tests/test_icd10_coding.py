"""The icd10_coding task: code-set helpers, generated notes, parser, scorer, user-data loader."""

from __future__ import annotations

import json
import re
from collections import Counter

import pytest
from rvf_tasks.icd10_coding import build_task, code_parser, icd10_coding
from rvf_tasks.icd10_coding import codes as icd
from rvf_tasks.icd10_coding.generator import generate_notes, label_codes

from harness.errors import DataError
from harness.scoring.codes import code_metrics, split_answer
from harness.types import Sample, ScoreInput

SYSTEM = icd.ICD10CM()


@pytest.fixture(scope="module")
def task():
    return icd10_coding()


@pytest.fixture(scope="module")
def all_samples(task):
    return list(task.splits["train"]) + list(task.splits["test"])


# -- code-set helpers ------------------------------------------------------------------------------


@pytest.mark.parametrize("raw, expected", [
    ("E11.9", "E11.9"), ("e119", "E11.9"), (" E11.9 ", "E11.9"), ("e11. 9", "E11.9"),
    ("E1165", "E11.65"), ("s060x1a", "S06.0X1A"), ("I10", "I10"), ("c7a.00", "C7A.00"),
    ("qa0.8", "QA0.8"), ("T2DM", None), ("A1c", None), ("4", None), ("E08-E13", None), ("", None),
    ("E11.123456", None),
])
def test_normalize(raw, expected):
    assert icd.normalize(raw) == expected


def test_validity_billability_hierarchy():
    assert icd.is_valid("E11.9") and icd.is_valid("e119") and icd.is_billable("E119")
    assert icd.is_valid("E11") and not icd.is_billable("E11")  # a category with children
    assert not icd.is_valid("E11.99") and not icd.is_billable("E11.99")  # code-like, not in the set
    assert not icd.is_valid("4") and not icd.is_valid("E08-E13")  # chapter and block are not codes
    assert icd.is_valid("C7A") and icd.is_billable("C7A.00")  # category alone in its block
    assert icd.description("e11.65") == "Type 2 diabetes mellitus with hyperglycemia"
    assert "Mild intermittent asthma NOS" in icd.inclusion_terms("J45.20")
    assert icd.category("E11.65") == "E11" and icd.category("e1165") == "E11"
    assert icd.category("E11.99") == "E11" and icd.category("Q9Z.1") is None
    assert icd.block("E11.9") == "E08-E13" and icd.block("I10") == "I10-I1A"
    assert icd.chapter("E11.65") == "4" and icd.chapter("M17.11") == "13"
    assert icd.chapter("S06.0X1A") == "19" and icd.chapter("U07.1") == "22"
    with pytest.raises(KeyError):
        icd.description("E11.99")


def test_code_documents_cover_every_billable_code_and_are_cached():
    docs = icd.code_documents()
    assert len(docs) > 74_000
    by_code = dict(docs)
    assert len(by_code) == len(docs)
    assert by_code["E11.9"].startswith("E11.9 Type 2 diabetes mellitus without complications")
    assert "Includes: Mild intermittent asthma NOS" in by_code["J45.20"]
    assert "E11" not in by_code  # not billable
    assert set(label_codes()) <= set(by_code)
    assert all(icd.is_billable(c) for c in list(by_code)[::997])
    again = icd.code_documents()
    assert again == docs and again is not docs  # a fresh list a caller may change...
    assert all(a is b for a, b in zip(again, docs, strict=True))  # ...over the cached tuples


# -- generated notes -------------------------------------------------------------------------------


def test_generation_is_deterministic_and_seeded():
    a = generate_notes(seed=3, n_train=150, n_test=40)
    b = generate_notes(seed=3, n_train=150, n_test=40)
    c = generate_notes(seed=4, n_train=150, n_test=40)
    assert json.dumps(a) == json.dumps(b)
    assert [r["text"] for r in a[0]] != [r["text"] for r in c[0]]


def test_sizes_and_label_space(task):
    train, test = task.splits["train"], task.splits["test"]
    assert len(train) >= 2000 and len(test) >= 500
    labels = task.answer_space.labels
    assert task.answer_space.kind == "codes"
    assert len(labels) >= 100 and all(icd.is_billable(c) for c in labels)
    assert {s.target for s in test} == set(labels) == {s.target for s in train}
    assert len({icd.chapter(c) for c in labels}) >= 10
    assert task.answer_space.descriptions["E11.65"] == icd.description("E11.65")
    siblings = Counter(icd.category(c) for c in labels)
    assert sum(1 for n in siblings.values() if n >= 2) >= 20
    for group in ({"E11.9", "E11.65", "E11.22"}, {"M17.11", "M17.12"}, {"J45.20", "J45.21"},
                  {"I50.22", "I50.23"}, {"N18.31", "N18.32"}, {"S93.401A", "S93.401D"}):
        assert group <= set(labels)
    assert len({s.id for s in train} | {s.id for s in test}) == len(train) + len(test)
    assert not {s.text for s in train} & {s.text for s in test}


def test_no_note_contains_its_codes_or_their_descriptions(all_samples):
    leaks = []
    for s in all_samples:
        low = s.text.lower()
        for code in (s.target, *s.meta["secondary"]):
            for needle in (code.lower(), code.replace(".", "").lower(), icd.description(code).lower()):
                if needle in low:
                    leaks.append((s.id, code, needle))
    assert leaks == []


def test_notes_look_like_encounter_notes(all_samples):
    secondary_seen = 0
    for s in all_samples:
        assert re.search(r"(CHIEF COMPLAINT|CC|Reason for visit|S):", s.text)
        assert re.search(r"(ASSESSMENT/PLAN|A/P|Impression and plan|MDM/Disposition):", s.text)
        # short: under 350 tokens (seed 0 measured with the SmolLM2 tokenizer: max 323, median 186)
        assert len(s.text) < 1000 and len(s.text.split()) < 160
        sec = s.meta["secondary"]
        assert s.target not in sec and len(set(sec)) == len(sec)
        assert all(icd.is_billable(c) for c in sec)
        secondary_seen += bool(sec)
    assert 0.3 < secondary_seen / len(all_samples) < 0.95
    texts = " ".join(s.text for s in all_samples[:600])
    for marker in ("HTN", "denies", "no ", "T2DM", "SOB"):
        assert marker in texts


def test_sibling_detail_is_in_the_note(all_samples):
    for s in all_samples:
        low = s.text.lower()
        if s.target == "M17.11":
            assert "right knee" in low and "left knee" not in low
        if s.target == "M17.12":
            assert "left knee" in low
        if s.target == "E11.22":
            assert "ckd" in low or "kidney" in low or "nephropathy" in low
        if s.target == "E11.65":
            assert re.search(r"hyperglyc|a1c|glucose|sugars", low)
        if s.target == "H66.93":
            assert "both ears" in low


# -- parser ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("raw, expected", [
    ("The code is E11.9.", "E11.9"),
    ("e11.65", "E11.65"),
    ("ICD-10: J45.20 (mild intermittent)", "J45.20"),
    ("none", None),
    ("", None),
    ("I cannot determine a code.", None),
    ("E119", "E11.9"),
    ("Code: S06.0X1A", "S06.0X1A"),
    ("E11.99", "E11.99"),  # code-like but not in the code set: kept, the scorer counts it invalid
    ("T2DM with CKD, so E11.22", "E11.22"),
    ("B12 deficiency -> D51.0", "D51.0"),  # a valid code beats an earlier code-like word
    ("I10\nE11.9", "I10"),
])
def test_parser_on_messy_outputs(task, raw, expected):
    assert task.parse(raw) == expected


def test_parser_all_codes():
    parse = code_parser(all_codes=True)
    assert split_answer(parse("E11.22, N18.31 and i10; e11.22 again")) == ["E11.22", "N18.31", "I10"]
    assert parse("no codes") is None


# -- scorer ----------------------------------------------------------------------------------------


def test_scorer_by_hand():
    gold = ["E11.65", "E11.65", "E11.65", "E11.65", "I10", "M17.11"]
    answers = ["E11.65", "E11.9", "E10.65", "E11.99", None, "M17"]
    m = code_metrics(SYSTEM, gold, [()] * 6, answers, seed=0)
    assert m["exact_accuracy"].value == pytest.approx(1 / 6)
    assert m["category_accuracy"].value == pytest.approx(4 / 6)  # E11.65, E11.9, E11.99, M17
    assert m["chapter_accuracy"].value == pytest.approx(5 / 6)  # + E10.65 (chapter 4)
    assert m["invalid_code_rate"].value == pytest.approx(1 / 6)  # E11.99
    assert m["no_answer_rate"].value == pytest.approx(1 / 6)
    assert m["nonbillable_rate"].value == pytest.approx(1 / 6)  # M17
    assert not m["invalid_code_rate"].higher_is_better and m["exact_accuracy"].higher_is_better
    for metric in m.values():
        assert metric.ci_low is not None and metric.ci_low <= metric.value <= metric.ci_high
    again = code_metrics(SYSTEM, gold, [()] * 6, answers, seed=0)
    assert again == m


def test_set_f1_by_hand():
    gold, secondary = ["E11.65", "J45.20"], [("I10",), ()]
    answers = ["E11.65, I10, E78.5", "J45.21"]
    m = code_metrics(SYSTEM, gold, secondary, answers, seed=1)
    # TP = E11.65, I10; FP = E78.5, J45.21; FN = J45.20
    assert m["micro_f1"].value == pytest.approx(4 / 7)
    assert m["macro_f1"].value == pytest.approx(2 / 5)
    assert m["exact_accuracy"].value == pytest.approx(1 / 2)
    # one code per note: still scored against primary + secondary
    single = code_metrics(SYSTEM, gold, secondary, ["E11.65", "J45.20"], seed=1)
    assert single["micro_f1"].value == pytest.approx(4 / 5)  # TP 2, FN 1 (I10)
    assert "one code per note" in single["micro_f1"].note


def test_candidate_metrics_by_hand(task):
    """rag over the code set: was the gold code retrieved, and did the model pick a candidate?"""
    def retrieved(*codes):
        return {"retrieved": [{"id": f"{c}#0", "doc": c, "score": 0.5} for c in codes]}

    samples = [Sample(f"t{i}", "note", g, {"secondary": ()})
               for i, g in enumerate(["E11.65", "I10", "M17.11", "J45.20"])]
    answers = ["E11.9", "I10", "M17.11", None]
    extras = [retrieved("E11.65", "E11.9"),  # gold retrieved, model picked the sibling candidate
              retrieved("I11.9", "I10"),  # gold retrieved and picked
              retrieved("M16.11", "M25.561"),  # gold missed, model answered it from elsewhere
              retrieved("J45.21", "J45.909")]  # gold missed, right category retrieved
    (scorer,) = task.scorers
    m = scorer(ScoreInput(task, samples, answers, extras))
    assert m["candidate_recall_at_k"].value == pytest.approx(2 / 4)
    assert m["candidate_category_recall_at_k"].value == pytest.approx(3 / 4)  # not M17 for M17.11
    assert m["answer_in_candidates_rate"].value == pytest.approx(2 / 4)  # E11.9 and I10
    assert m["candidate_recall_at_k"].note.startswith("k=2")
    assert m["exact_accuracy"].value == pytest.approx(2 / 4)  # the code metrics are unchanged
    none = scorer(ScoreInput(task, samples, answers, [{}] * len(samples)))  # nothing retrieved
    assert none["candidate_recall_at_k"].value is None and "retrieves no" in \
        none["candidate_recall_at_k"].note


def test_scorer_unscored_is_none_not_nan():
    m = code_metrics(SYSTEM, [], [], [], seed=0)
    assert m and all(x.value is None and x.note == "no samples" for x in m.values())


def test_task_scorer_and_details(task):
    samples = list(task.splits["test"][:20])
    answers = [s.target for s in samples[:10]] + ["E11.99"] * 5 + [None] * 5
    (scorer,) = task.scorers
    m = scorer(ScoreInput(task, samples, answers, [{}] * len(samples)))
    assert m[task.primary_metric].value == pytest.approx(0.5)
    assert m["invalid_code_rate"].value == pytest.approx(0.25)
    details = task.details(samples, answers)
    assert details["invalid_codes"] == [{"code": "E11.99", "count": 5}]


# -- instructions and answer formats ---------------------------------------------------------------


def _tiny(**kw):
    splits = {"train": [Sample("train-0", "note", "E11.65", {"secondary": ("I10",)})],
              "test": [Sample("test-0", "note", "E11.9", {"secondary": ()})]}
    return build_task(splits, ["E11.65", "E11.9"], "tiny", **kw)


def test_instructions_list_codes_only_when_asked(task):
    assert "single ICD-10-CM code" in task.instructions and "primary reason" in task.instructions
    assert "code only" in task.instructions
    assert "E11.65" not in task.instructions
    listed = _tiny(list_codes=True)
    assert "- E11.65: Type 2 diabetes mellitus with hyperglycemia" in listed.instructions
    both = _tiny(all_codes=True)
    assert both.format_answer(both.splits["train"][0]) == "E11.65, I10"
    assert _tiny().format_answer(both.splits["train"][0]) == "E11.65"


def test_registered_with_typed_args(registry):
    t = registry.make("task", "icd10_coding", {"n_train": "60", "n_test": "20", "list_codes": "true"})
    assert len(t.splits["train"]) == 60 and len(t.splits["test"]) == 20
    assert "Answer with one of these codes" in t.instructions


# -- user data -------------------------------------------------------------------------------------


def _write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


GOOD = [{"text": f"note {i}", "codes": ["I10", "e119"] if i % 2 else ["J45.20"]} for i in range(6)]


def test_user_jsonl_loads_with_secondary_codes(tmp_path):
    _write(tmp_path / "train.jsonl", GOOD)
    _write(tmp_path / "test.jsonl", GOOD[:3])
    t = icd10_coding(data=str(tmp_path))
    s = t.splits["train"][1]
    assert s.target == "I10" and s.meta["secondary"] == ("E11.9",)
    assert t.answer_space.labels == ("I10", "J45.20")


def test_user_custom_field_names_and_string_codes(tmp_path):
    f = tmp_path / "all.jsonl"
    _write(f, [{"note_body": f"n{i}", "dx": "I10;E11.9"} for i in range(10)])
    t = icd10_coding(data=str(f), text_field="note_body", codes_field="dx")
    assert len(t.splits["test"]) == 2 and t.splits["train"][0].meta["secondary"] == ("E11.9",)


@pytest.mark.parametrize("bad, message", [
    ({"text": "x", "codes": ["I10", "E11.99"]}, r"train.jsonl:4: unknown ICD-10-CM code 'E11.99'"),
    ({"text": "x", "codes": ["4019"]}, r"train.jsonl:4: malformed ICD-10-CM code '4019'"),
    ({"text": "x", "codes": []}, r"train.jsonl:4: no codes"),
])
def test_user_bad_gold_code_names_file_line_and_code(tmp_path, bad, message):
    _write(tmp_path / "train.jsonl", GOOD[:3] + [bad] + GOOD[3:])
    _write(tmp_path / "test.jsonl", GOOD[:2])
    with pytest.raises(DataError, match=message):
        icd10_coding(data=str(tmp_path))


def test_user_drop_invalid_records_count(tmp_path):
    bad = [{"text": "x", "codes": ["I10", "E11.99"]}, {"text": "y", "codes": ["ZZZ"]}]
    _write(tmp_path / "train.jsonl", GOOD[:3] + bad + GOOD[3:])
    _write(tmp_path / "test.jsonl", GOOD[:2] + [{"text": "z", "codes": ["Q99.99"]}])
    t = icd10_coding(data=str(tmp_path), drop_invalid=True)
    assert len(t.splits["train"]) == 6 and len(t.splits["test"]) == 2
    assert "3 rows dropped" in t.description
    details = t.details(t.splits["test"], [s.target for s in t.splits["test"]])
    assert details["dropped_rows"] == 3
    assert any("train.jsonl:4:" in d and "E11.99" in d for d in details["dropped_examples"])


def test_user_ids_and_columns_reach_the_predictions_and_non_billable_codes_warn(tmp_path):
    """A user's note ids (and their other columns) are the sample ids of the predictions, so
    results join back to the source records; a valid but non-billable gold code (a category,
    E11) is counted in a warning before the run."""
    import os
    import subprocess
    import sys

    notes = [{"note_id": f"MRN-{i:04d}", "encounter": f"enc-{100 + i}", "text": f"note {i}",
              "codes": ["E11" if i == 3 else "I10"] if i % 2 else ["J45.20"], "ward": "B"}
             for i in range(8)]
    _write(tmp_path / "train.jsonl", notes)
    _write(tmp_path / "test.jsonl", notes[:4])
    results = tmp_path / "results"
    done = subprocess.run(
        [sys.executable, "-m", "harness", "run", "--task", "icd10_coding", "--task-arg",
         f"data={tmp_path}", "--strategy-arg", "k=1",
         "--results", str(results)], capture_output=True, text=True, timeout=900,
        env={**os.environ, "COLUMNS": "200"})
    assert done.returncode == 0, done.stderr[-3000:]
    said = " ".join(done.stderr.split())
    assert "2 gold primary code(s) are valid but not billable (E11; first: sample MRN-0003" in said
    [record] = [p for p in (results / "cells").glob("*.json")]
    rows = [json.loads(line) for line in
            (results / "cells" / json.loads(record.read_text())["predictions_file"])
            .read_text().splitlines()]
    assert sorted(r["sample_id"] for r in rows) == [f"MRN-{i:04d}" for i in range(4)]
    assert {r["fields"]["encounter"] for r in rows} == {f"enc-{100 + i}" for i in range(4)}
    assert all(r["fields"]["ward"] == "B" for r in rows)


@pytest.mark.parametrize("rows, message", [
    ([{"id": "a", "text": "x", "codes": ["I10"]}, {"id": "a", "text": "y", "codes": ["I10"]}],
     r"train.jsonl:2: id 'a' repeats line 1"),
    ([{"id": "a", "text": "x", "codes": ["I10"]}, {"id": " ", "text": "y", "codes": ["I10"]}],
     r"train.jsonl:2: empty or missing id 'id'"),
])
def test_user_ids_must_be_unique_and_present(tmp_path, rows, message):
    _write(tmp_path / "train.jsonl", rows)
    _write(tmp_path / "test.jsonl", GOOD[:2])
    with pytest.raises(DataError, match=message):
        icd10_coding(data=str(tmp_path))


def test_every_code_in_the_code_set_normalises_to_itself():
    docs = icd.code_documents()
    assert all(icd.normalize(code) == code for code, _ in docs)
    assert all(icd.normalize(code.replace(".", "").lower()) == code for code, _ in docs[::50])
