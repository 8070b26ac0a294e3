from __future__ import annotations

import pytest

from harness.errors import DataError
from harness.tasklib import label_parser, load_labelled_data
from tests.conftest import BANKING77

LABELS = ["refund_request", "billing_dispute", "bug_report", "bug"]


@pytest.mark.parametrize("raw, expected", [
    ("refund_request", "refund_request"),
    ("  Refund Request.\n", "refund_request"),
    ('"billing_dispute"', "billing_dispute"),
    ("Category: bug_report", "bug_report"),
    ("bug", "bug"),
    ("The answer is billing_dispute because the charge was wrong.", "billing_dispute"),
    ("refund_request or billing_dispute", None),
    ("", None),
    ("   \n  ", None),
    ("shipping_delay", None),
])
def test_label_parser(raw, expected):
    assert label_parser(LABELS)(raw) == expected


def test_banking77_folder_loads_with_its_label_set():
    splits = load_labelled_data(str(BANKING77))
    assert len(splits["train"]) == 10003 and len(splits["test"]) == 3080
    assert len({s.target for s in splits["train"]}) == 77
    assert splits["train"][0].target == "card_arrival"


def test_single_jsonl_file_is_split_by_seed(tmp_path):
    f = tmp_path / "all.jsonl"
    f.write_text("".join(f'{{"text": "msg {i}", "intent": "l{i % 3}"}}\n' for i in range(50)))
    a = load_labelled_data(str(f), seed=0)
    b = load_labelled_data(str(f), seed=0)
    assert [s.text for s in a["test"]] == [s.text for s in b["test"]]
    assert len(a["test"]) == 10 and len(a["train"]) == 40
    assert not {s.text for s in a["test"]} & {s.text for s in a["train"]}


@pytest.mark.parametrize("name, content, message", [
    ("bad.jsonl", '{"text": "a", "label": "x"}\n{"text": "b", "label"\n', r"bad.jsonl:2: not valid JSON"),
    ("arr.jsonl", '["a", "b"]\n', r"arr.jsonl:1: expected a JSON object"),
    ("cols.csv", "body,label\nhello,x\n", r"cols.csv: cannot find a text column"),
    ("empty.csv", "text,label\nhello,x\n,y\n", r"empty.csv:3: empty or missing 'text'"),
    ("wide.csv", "text,label\nhello,x\nhi,y,z\n", r"wide.csv:3: more fields than the header"),
    ("nolabel.jsonl", '{"text": "a", "label": ""}\n', r"nolabel.jsonl:1: empty or missing 'label'"),
    ("data.txt", "hello\n", r"data.txt: unsupported file type"),
])
def test_malformed_files_name_file_and_line(tmp_path, name, content, message):
    f = tmp_path / name
    f.write_text(content)
    with pytest.raises(DataError, match=message):
        load_labelled_data(str(f))


def test_non_utf8_file_is_a_clear_error(tmp_path):
    f = tmp_path / "latin.csv"
    f.write_bytes("text,label\ncaf\xe9,x\n".encode("latin-1"))
    with pytest.raises(DataError, match="latin.csv:2: not UTF-8"):
        load_labelled_data(str(f))


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_non_utf8_byte_far_into_a_file_names_its_line_and_file_offset(tmp_path, suffix):
    """Past the decoder's first 8 KB chunk the offset must still be the file's, not the chunk's."""
    row = "text,label\n" if suffix == ".csv" else ""
    lines = [('{"text": "query %04d", "label": "x"}' if suffix == ".jsonl" else "query %04d,x") % i
             for i in range(1000)]
    head = (row + "\n".join(lines[:700]) + "\n").encode()
    f = tmp_path / f"big{suffix}"
    f.write_bytes(head + b"bad \xff byte" + ("\n" + "\n".join(lines[700:])).encode())
    assert len(head) > 8192
    line = head.count(b"\n") + 1
    with pytest.raises(DataError, match=rf"big{suffix}:{line}: not UTF-8 text "
                                        rf"\(invalid start byte at byte {len(head) + 4} of the file"):
        load_labelled_data(str(f))


def test_one_row_file_names_the_file_and_the_empty_split(tmp_path):
    f = tmp_path / "one.csv"
    f.write_text("text,label\nhello,x\n")
    with pytest.raises(DataError, match=r"one.csv: 1 row\(s\); the 80%/20% train/test split left "
                                        "the train split empty"):
        load_labelled_data(str(f))


def test_unseen_test_labels_are_an_error_naming_them(tmp_path):
    from harness.tasklib import classification_task
    from harness.types import Sample

    train = [Sample(f"tr{i}", f"t{i}", "a" if i % 2 else "b") for i in range(6)]
    test = [Sample("te0", "x", "a"), Sample("te1", "y", "c"), Sample("te2", "z", "c")]
    with pytest.raises(DataError, match=r"2 test samples have a label that never occurs in "
                                        r"train.*'c' \(2\).*allow_unseen_labels=true"):
        classification_task("t", "1", train, test)
    task = classification_task("t", "1", train, test, allow_unseen_labels=True)
    assert len(task.splits["test"]) == 3 and "2 test samples with 1 labels unseen" in task.description


def test_folder_without_test_split(tmp_path):
    (tmp_path / "train.csv").write_text("text,label\na,x\n")
    with pytest.raises(DataError, match="expected train.csv and test.csv"):
        load_labelled_data(str(tmp_path))


def test_user_ids_and_columns_are_kept_through_the_seeded_split(tmp_path):
    """A file's own ids survive the train/test split (rows without ids are numbered per split),
    and its other columns ride along as `fields`."""
    f = tmp_path / "tickets.csv"
    f.write_text("ticket_id,text,label,queue\n"
                 + "".join(f"T-{i},text {i},{'ab'[i % 2]},q{i % 3}\n" for i in range(20)))
    splits = load_labelled_data(str(f), id_field="ticket_id")
    ids = [s.id for s in splits["train"] + splits["test"]]
    assert sorted(ids) == sorted(f"T-{i}" for i in range(20))
    sample = splits["test"][0]
    assert sample.meta == {"fields": {"queue": f"q{int(sample.id[2:]) % 3}"}}
    plain = tmp_path / "plain.csv"
    plain.write_text("text,label\n" + "".join(f"text {i},{'ab'[i % 2]}\n" for i in range(20)))
    numbered = load_labelled_data(str(plain))
    assert [s.id for s in numbered["test"]] == [f"test-{j:05d}" for j in range(4)]
    with pytest.raises(DataError, match=r"no id column 'nope'"):
        load_labelled_data(str(f), id_field="nope")
