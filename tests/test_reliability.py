"""No work is lost and nothing is corrupted: kill -9 and resume, two runs at once, malformed
inputs, unwritable results dirs.

The run tests drive `rvf run` in subprocesses on the bundled model with a few samples; each run
gets its own request cache (RVF_CACHE_DIR) unless the test is about sharing one.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from harness.errors import DataError

RVF = [sys.executable, "-m", "harness"]

# Fields that legitimately differ between two computations of the same cell: when and where it
# ran, how long it took and how much CPU it used (and so its compute-time cost), the machine's
# load, and how much came from the cache.
VOLATILE_RECORD = {"created_at", "environment", "cost_usd", "cost_per_1k_queries_usd",
                   "cost_basis"}
VOLATILE_USAGE = {"latency_p50_s", "latency_p95_s", "wall_seconds", "peak_rss_mb",
                  "cpu_seconds", "load_avg_start", "load_avg_end", "model_calls", "cache_hits"}
VOLATILE_PREDICTION = {"latency_s", "compute_s", "cpu_s", "cached"}


def run_env(cache: Path, **extra: str) -> dict[str, str]:
    """The user's environment with its own request cache (RVF_MODELS_DIR stays shared)."""
    env = {**os.environ, "COLUMNS": "200", "RVF_CACHE_DIR": str(cache), **extra}
    env.pop("RAY_ADDRESS", None)  # a ray run in these tests always starts its own local Ray
    return env


def rvf(*args: str, cache: Path, **extra_env: str) -> subprocess.CompletedProcess:
    return subprocess.run([*RVF, *args], capture_output=True, text=True, timeout=900,
                          env=run_env(cache, **extra_env))


def comparable(results: Path) -> dict[str, tuple[dict, list[dict]]]:
    """cell key -> (record, prediction rows) without the fields that may differ between runs."""
    out = {}
    for path in sorted((results / "cells").glob("*.json")):
        record = json.loads(path.read_text())
        rows = [json.loads(line) for line in
                (path.parent / record["predictions_file"]).read_text().splitlines()]
        record = {k: v for k, v in record.items() if k not in VOLATILE_RECORD}
        record["usage"] = {k: v for k, v in record["usage"].items() if k not in VOLATILE_USAGE}
        out[record["cell_key"]] = (record, [{k: v for k, v in row.items()
                                             if k not in VOLATILE_PREDICTION} for row in rows])
    return out


def cached_answers(cache: Path) -> dict[str, float]:
    """Request-cache rows: request key -> time written (a recomputed answer gets a new time)."""
    path = cache / "requests.sqlite"
    if not path.exists():
        return {}
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    try:
        return dict(db.execute("SELECT key, created FROM generations"))
    except sqlite3.OperationalError:  # the table is not created yet
        return {}
    finally:
        db.close()


def leftovers(results: Path) -> list[Path]:
    """Temp files of interrupted atomic writes."""
    return list(results.rglob("*.tmp"))


# -- kill -9 and resume -------------------------------------------------------------------------

# Two cells of 4 samples; batch_size=1 commits each answer to the cache on its own, so the kill
# can land between the answers of the second cell.
KILL_PLAN = ["run", "--strategy", "prompt",
             "--limit", "4", "--seed", "1", "--seed", "2", "--strategy-arg", "k=1",
             "--backend-arg", "batch_size=1"]


def kill_once_half_done(args: list[str], results: Path, cache: Path) -> None:
    """Start `rvf run`, SIGKILL it once the first cell is written and the second has cached
    answers."""
    proc = subprocess.Popen([*RVF, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=run_env(cache))
    deadline = time.monotonic() + 600
    try:
        while time.monotonic() < deadline:
            assert proc.poll() is None, "the run ended before it could be killed"
            if list((results / "cells").glob("*.json")) and len(cached_answers(cache)) > 4:
                break
            time.sleep(0.05)
        else:
            pytest.fail("the run made no progress in 10 minutes")
    finally:
        proc.kill()  # SIGKILL: no chance to clean up
        proc.wait()


def test_killed_run_resumes_without_recomputing_anything(tmp_path):
    results, cache = tmp_path / "r", tmp_path / "cache"
    args = [*KILL_PLAN, "--results", str(results)]
    kill_once_half_done(args, results, cache)

    [first] = list((results / "cells").glob("*.json"))
    first_text = first.read_text()
    at_kill = cached_answers(cache)
    assert 4 < len(at_kill) <= 8  # cell 1's four answers and some of cell 2's
    assert not leftovers(results), "a half-written file was left behind"

    again = rvf(*args, cache=cache)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "reused" in again.stderr
    assert first.read_text() == first_text  # the finished cell was not recomputed
    [second] = [json.loads(p.read_text()) for p in (results / "cells").glob("*.json")
                if p != first]
    # Only the answers missing at the kill went to the model.
    assert second["usage"]["cache_hits"] == len(at_kill) - 4
    assert second["usage"]["model_calls"] == 8 - len(at_kill)
    after = cached_answers(cache)
    assert len(after) == 8
    assert {k: after[k] for k in at_kill} == at_kill  # cached answers were not rewritten

    # The same records as a run that was never interrupted (own results and cache).
    reference = rvf(*KILL_PLAN, "--results", str(tmp_path / "ref"), cache=tmp_path / "ref-cache")
    assert reference.returncode == 0, reference.stderr[-3000:]
    want, got = comparable(tmp_path / "ref"), comparable(results)
    assert len(want) == 2 and got == want
    assert len(cached_answers(tmp_path / "ref-cache")) == 8


# -- two runs at once ---------------------------------------------------------------------------

def test_two_runs_sharing_cache_and_results_both_finish_uncorrupted(tmp_path):
    """Both runs compute the same rag cell at once: they race to build the same Chroma index,
    write the same answers into one SQLite cache and the same record into one results dir."""
    from harness.index import COLLECTION, _client
    from harness.records import read_record

    results, cache = tmp_path / "results", tmp_path / "cache"
    args = ["run", "--task", "hr_policy_qa", "--strategy", "rag", "--limit", "4",
            "--strategy-arg", "k=1", "--results", str(results)]
    procs = [subprocess.Popen([*RVF, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=run_env(cache)) for _ in range(2)]
    outputs = [p.communicate(timeout=900) for p in procs]
    for proc, (_, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err[-3000:]

    db = sqlite3.connect(cache / "requests.sqlite")
    assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert db.execute("SELECT COUNT(*) FROM generations").fetchone() == (4,)  # one per sample
    db.close()

    [index] = [p for p in (cache / "indexes").iterdir() if p.is_dir()]  # built once, no partials
    facts = json.loads((index / "index.json").read_text())
    client = _client(index)
    try:
        collection = client.get_collection(COLLECTION, embedding_function=None)
        assert collection.count() == facts["n_chunks"] > 0
        stored = collection.get(limit=1, include=["embeddings"])
        hits = collection.query(query_embeddings=stored["embeddings"], n_results=1)
        assert hits["ids"][0] == stored["ids"]
    finally:
        client.close()

    paths = sorted((results / "cells").glob("*.json"))
    assert len(paths) == 1 and not leftovers(results)
    for path in paths:
        record = read_record(path)  # validates against the schema
        rows = (path.parent / record.predictions_file).read_text().splitlines()
        assert len(rows) == record.task.n == 4
        assert all(json.loads(row)["error"] is None for row in rows)


# Loaded by the first run of each trial (PYTHONPATH): after it has read the records for its
# leaderboard, it waits until the test says go, so the second run's record lands in between: the
# interleaving that lost a row, made certain instead of left to the scheduler.
STALL_AFTER_READING_RECORDS = """
import os, pathlib, time
import harness.records as records
_read, _go = records.read_records, pathlib.Path(os.environ["RVF_TEST_GO"])

def read_records(results):
    out = _read(results)
    while not _go.exists():
        time.sleep(0.05)
    return out

records.read_records = read_records
"""


def test_two_runs_finishing_together_both_reach_the_leaderboard(tmp_path):
    """Two `rvf run` processes, one cell each, into one results dir, five times. The first reads
    the records for its leaderboard, then stalls while the second writes its record (and, before
    the fix, its whole leaderboard); then the first writes its own. Before, the board lost the
    second row (3 of 6 unstaged trials did), and later runs called it up to date because it
    was newer than every record."""
    cache, hook = tmp_path / "cache", tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(STALL_AFTER_READING_RECORDS)
    plan = ["run", "--strategy", "prompt", "--limit", "4", "--backend-arg", "batch_size=4"]
    warm = rvf(*plan, "--strategy-arg", "k=1,2", "--results", str(tmp_path / "warm"), cache=cache)
    assert warm.returncode == 0, warm.stderr[-3000:]

    def start(k: int, results: Path, **env: str) -> subprocess.Popen:
        return subprocess.Popen([*RVF, *plan, "--strategy-arg", f"k={k}", "--results",
                                 str(results)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, env=run_env(cache, **env))

    for trial in range(5):
        results, go = tmp_path / f"trial-{trial}", tmp_path / f"go-{trial}"
        path = os.pathsep.join(p for p in (str(hook), os.environ.get("PYTHONPATH")) if p)
        first = start(1, results, PYTHONPATH=path, RVF_TEST_GO=str(go))
        deadline = time.monotonic() + 600
        while not list((results / "cells").glob("*.json")) and time.monotonic() < deadline:
            assert first.poll() is None, first.communicate()[1][-3000:]
            time.sleep(0.05)
        second = start(2, results)
        # Go once the second run has finished, or (with the fix) has waited on the first's
        # render for a few seconds after writing its record.
        records_seen = None
        while second.poll() is None and time.monotonic() < deadline:
            if len(list((results / "cells").glob("*.json"))) == 2:
                records_seen = records_seen or time.monotonic()
                if time.monotonic() - records_seen > 5:
                    break
            time.sleep(0.05)
        go.touch()
        for proc in (first, second):
            _, err = proc.communicate(timeout=900)
            assert proc.returncode == 0, err[-3000:]
        board = (results / "LEADERBOARD.md").read_text()
        # Both cells' rows: the secondary table ends each row with its arguments.
        assert " | k=1 |" in board and " | k=2 |" in board, f"trial {trial}: a row is missing"
        again = rvf(*plan, "--strategy-arg", "k=1", "--results", str(results), cache=cache)
        assert again.returncode == 0 and "up to date" in again.stderr, again.stderr[-3000:]


# -- unwritable results dirs --------------------------------------------------------------------

def test_results_under_a_regular_file_exits_2_before_any_work(tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the results dir should go\n")
    done = rvf("run", "--strategy", "prompt",
               "--limit", "4", "--results", str(blocker / "results"), cache=tmp_path / "c")
    assert done.returncode == 2, done.stderr[-3000:]
    assert f"cannot write the run's outputs under {blocker / 'results'}" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "c" / "requests.sqlite").exists() or not cached_answers(tmp_path / "c")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders; the "
                    "regular-file and directory-in-the-way tests cover this path as root")
def test_read_only_results_dir_exits_2(tmp_path):
    results = tmp_path / "results"
    (results / "cells").mkdir(parents=True)
    (results / "cells").chmod(0o500)
    try:
        done = rvf("run", "--strategy", "prompt",
                   "--limit", "4", "--results", str(results), cache=tmp_path / "c")
    finally:
        (results / "cells").chmod(0o700)
    assert done.returncode == 2, done.stderr[-3000:]
    assert f"cannot write the run's outputs under {results / 'cells'}" in done.stderr
    assert not list((results / "cells").iterdir())


def test_plots_folder_that_cannot_be_made_exits_2_before_any_work(tmp_path):
    """`cells/` is writable but `plots/` cannot be made (a file in its place, as a read-only
    results root would also do): before, the record was written and then drawing the plots
    failed with a traceback, exit 1."""
    results = tmp_path / "results"
    results.mkdir()
    (results / "plots").write_text("a file where the plots folder should go\n")
    done = rvf("run", "--strategy", "prompt", "--limit", "4", "--results", str(results), cache=tmp_path / "c")
    assert done.returncode == 2, done.stderr[-3000:]
    assert f"cannot write the run's outputs under {results / 'plots'}" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (results / "cells").exists()  # nothing computed, no empty folder left behind


def test_failed_record_write_fails_the_cell_cleanly_and_keeps_its_answers(tmp_path, registry):
    """A directory where the cell's predictions file should go makes the write fail after the
    cell was computed (as a full disk or a revoked permission would): exit 1 naming the path, no
    temp file, no record; the answers are cached, so the re-run makes no model call."""
    from harness.cell import plan

    [cell] = plan(registry, ["ticket_categorization"], ["prompt"], ["local/smollm2-135m-instruct"],
                  ["local/smollm2-135m-instruct"], [0], {}, {"": {"k": "1"}}, {}, 2)
    results, cache = tmp_path / "results", tmp_path / "cache"
    in_the_way = results / "cells" / f"{cell.key}.predictions.jsonl"
    in_the_way.mkdir(parents=True)
    args = ["run", "--strategy", "prompt", "--limit", "2", "--strategy-arg", "k=1", "--results", str(results)]

    done = rvf(*args, cache=cache)
    assert done.returncode == 1, done.stderr[-3000:]
    assert "failed:" in done.stderr and in_the_way.name in done.stderr
    assert "Traceback" not in done.stderr
    assert not leftovers(results) and not any(in_the_way.iterdir())
    assert not (results / "cells" / f"{cell.key}.json").exists()
    assert len(cached_answers(cache)) == 2

    in_the_way.rmdir()
    again = rvf(*args, cache=cache)
    assert again.returncode == 0, again.stderr[-3000:]
    usage = json.loads((results / "cells" / f"{cell.key}.json").read_text())["usage"]
    assert usage["model_calls"] == 0 and usage["cache_hits"] == 2


# -- malformed inputs (property-based) ----------------------------------------------------------

FUZZ = settings(max_examples=120, deadline=timedelta(seconds=5),
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
HUGE = "x" * 200_000  # above csv's default field limit (131,072 characters)

values = st.one_of(st.text(max_size=30), st.just(""), st.just("   "), st.just(HUGE),
                   st.integers(), st.floats(allow_nan=True), st.booleans(), st.none(),
                   st.lists(st.one_of(st.text(max_size=8), st.integers()), max_size=3),
                   st.dictionaries(st.text(max_size=4), st.integers(), max_size=2))
keys = st.sampled_from(["text", "label", "query", "intent", "note", "codes", "x", ""])
json_lines = st.one_of(
    st.dictionaries(keys, values, max_size=4).map(json.dumps),
    values.map(json.dumps),  # valid JSON that is not an object
    st.text(max_size=40),  # not JSON at all
)
raw_bytes = st.binary(max_size=60)  # mostly not UTF-8


@st.composite
def file_bytes(draw, lines):
    """A file: some lines, maybe a stretch of random (usually non-UTF-8) bytes among them."""
    body = "\n".join(draw(st.lists(lines, max_size=6))).encode("utf-8", "surrogatepass")
    if draw(st.booleans()):
        cut = draw(st.integers(0, len(body)))
        body = body[:cut] + draw(raw_bytes) + body[cut:]
    return body


csv_lines = st.one_of(
    st.lists(st.one_of(st.text(max_size=15), st.just(HUGE), st.just('"unterminated')),
             min_size=1, max_size=4).map(",".join),
    st.just("text,label"), st.just("text,label,extra"), st.just("hello,a"),
    st.just("bad\x00nul,a"))


def write_split(folder: Path, name: str, content: bytes) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(content)


def loads_or_names_the_file(load, suffix: str, train: bytes, test: bytes) -> None:
    """The property: given a folder with these train and test files, a loader returns samples
    with text and a target, or raises a DataError that names the file (or folder) at fault.
    Anything else escapes and fails the test."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        write_split(folder, f"train{suffix}", train)
        write_split(folder, f"test{suffix}", test)
        try:
            splits = load(str(folder))
        except DataError as exc:
            assert str(folder) in str(exc), exc
            return
    splits = splits[0] if isinstance(splits, tuple) else splits  # icd10 also returns dropped rows
    for samples in splits.values():
        for s in samples:
            assert isinstance(s.text, str) and s.text.strip()
            assert isinstance(s.target, str) and s.target.strip()


@FUZZ
@given(train=file_bytes(csv_lines), test=file_bytes(csv_lines))
@example(train=b"text,label\nhello,a\n", test=b"text,label\n" + HUGE.encode() + b",a\n")
@example(train=b"text,label\nhello,a\n", test=b"text,label\n\xff\xfe,a\n")
def test_ticket_csv_loader_never_crashes(train, test):
    from harness.tasklib import load_labelled_data

    loads_or_names_the_file(load_labelled_data, ".csv", train, test)


@FUZZ
@given(train=file_bytes(json_lines), test=file_bytes(json_lines))
@example(train=b'{"text": "hi", "label": 1.5}\n', test=b'{"text": "hi", "label": "a"}\n')
@example(train=b'{"text": ["a"], "label": "a"}\n', test=b'{"text": "hi", "label": "a"}\n')
def test_ticket_jsonl_loader_never_crashes(train, test):
    from harness.tasklib import load_labelled_data

    loads_or_names_the_file(load_labelled_data, ".jsonl", train, test)


def test_deeply_nested_jsonl_line_is_a_data_error(tmp_path):
    """json.loads raises RecursionError (not JSONDecodeError) on deep nesting: a traceback."""
    from harness.tasklib import load_labelled_data

    write_split(tmp_path, "train.jsonl", b'{"text": "hi", "label": "a"}\n')
    write_split(tmp_path, "test.jsonl", b"[" * 100_000 + b"\n")
    with pytest.raises(DataError, match="test.jsonl:1"):
        load_labelled_data(str(tmp_path))


code_values = st.one_of(values, st.sampled_from(["E11.9", "e119", "I10", "Z99.99", "E11",
                                                 "E11.9;I10", "not a code", ""]),
                        st.lists(st.sampled_from(["E11.9", "I10", "XYZ", "", "J45.20"]),
                                 max_size=3))
icd_lines = st.one_of(
    st.fixed_dictionaries({"text": values, "codes": code_values}).map(json.dumps), json_lines)


@FUZZ
@given(train=file_bytes(icd_lines), test=file_bytes(icd_lines), drop_invalid=st.booleans())
@example(train=b'{"text": "note", "codes": ["E11.9"]}\n',
         test=b'{"text": "note", "codes": [{"a": 1}]}\n', drop_invalid=False)
def test_icd10_jsonl_loader_never_crashes(train, test, drop_invalid):
    from rvf_tasks.icd10_coding import load_coded_data

    loads_or_names_the_file(lambda d: load_coded_data(d, drop_invalid=drop_invalid), ".jsonl",
                            train, test)


# Model output: any text, including huge answers and undecodable bytes (decoded with
# surrogateescape, which leaves lone surrogates in the string).
model_text = st.one_of(st.text(), st.just(""), st.just("\n\n  \n"), st.just(HUGE),
                       st.text(max_size=20).map(lambda t: "Answer: " + t * 5000),
                       st.binary(max_size=200).map(lambda b: b.decode("utf-8", "surrogateescape")))


@FUZZ
@given(labels=st.lists(st.text(min_size=1, max_size=20), min_size=1, max_size=12, unique=True),
       raw=model_text)
def test_label_parser_answers_a_label_or_none(labels, raw):
    from harness.tasklib import label_parser

    answer = label_parser(labels)(raw)
    assert answer is None or answer in labels


@FUZZ
@given(raw=model_text, all_codes=st.booleans())
@example(raw="E11.9 and then " + "A1" * 50_000, all_codes=False)
def test_icd_code_parser_answers_a_code_or_none(raw, all_codes):
    from rvf_tasks.icd10_coding import code_parser
    from rvf_tasks.icd10_coding.codes import normalize

    answer = code_parser(all_codes)(raw)
    if answer is not None:
        codes = answer.split(",") if all_codes else [answer]
        assert all(normalize(c.strip()) == c.strip() for c in codes), answer


@FUZZ
@given(raw=model_text)
@example(raw="The answer is:" + " " * 100_000 + ":")
def test_hr_answer_parser_answers_text_or_none(raw):
    from harness.tasklib import parse_short_answer as parse_answer

    answer = parse_answer(raw)
    assert answer is None or (answer.strip() == answer and answer and answer in raw)


# -- damaged caches and results (issue: a fault-and-bad-input pass) --------------------------------

def test_corrupt_request_cache_exits_2_naming_the_file_and_the_way_out(tmp_path):
    garbage = tmp_path / "garbage.sqlite"
    garbage.write_bytes(b"this is not a database " * 200)
    done = rvf("run", "--strategy", "prompt",
               "--limit", "4", "--results", str(tmp_path / "r"), cache=tmp_path / "c",
               RVF_REQUEST_CACHE=str(garbage))
    assert done.returncode == 2, done.stderr[-3000:]
    said = " ".join(done.stderr.split())
    assert str(garbage) in said and "--no-cache" in said and "Traceback" not in said
    again = rvf("run", "--strategy", "prompt", "--limit", "4", "--results", str(tmp_path / "r"), "--no-cache",
                cache=tmp_path / "c", RVF_REQUEST_CACHE=str(garbage))
    assert again.returncode == 0, again.stderr[-3000:]


def test_damaged_predictions_and_records_are_caught_and_recomputed_from_the_cache(tmp_path):
    results, cache = tmp_path / "r", tmp_path / "c"
    args = ["run", "--strategy", "prompt", "--limit", "4", "--strategy-arg", "k=1", "--results", str(results)]
    first = rvf(*args, cache=cache)
    assert first.returncode == 0, first.stderr[-3000:]
    [record_path] = list((results / "cells").glob("*.json"))
    predictions = record_path.with_name(json.loads(record_path.read_text())["predictions_file"])
    whole = predictions.read_text()

    # Cut short (as by a crash during a copy): the leaderboard leaves the record out and says
    # why; a re-run recomputes the cell, every answer from the request cache.
    predictions.write_text("".join(whole.splitlines(keepends=True)[:2]))
    board = subprocess.run([*RVF, "leaderboard", "--results", str(results)], capture_output=True,
                           text=True, env=run_env(cache), timeout=300)
    assert board.returncode == 0, board.stderr
    said = " ".join(board.stderr.split())
    assert "2 rows, its record says 4 (truncated?)" in said and "left out" in said
    again = rvf(*args, cache=cache)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "recomputing" in again.stderr and "model calls: 0;" in again.stderr
    assert len(predictions.read_text().splitlines()) == 4

    # A record cut short blocks the run, and says how to get past it.
    record_path.write_text(record_path.read_text()[:200])
    blocked = rvf(*args, cache=cache)
    assert blocked.returncode == 2
    said = " ".join(blocked.stderr.split())
    assert record_path.name in said and "--force" in said and "Traceback" not in said
    forced = rvf(*args, "--force", cache=cache)
    assert forced.returncode == 0, forced.stderr[-3000:]

    # A predictions_file that points outside the results dir is refused, never read.
    record = json.loads(record_path.read_text())
    record["predictions_file"] = "../../outside.jsonl"
    record_path.write_text(json.dumps(record))
    (tmp_path / "outside.jsonl").write_text(whole)
    board = subprocess.run([*RVF, "leaderboard", "--results", str(results)], capture_output=True,
                           text=True, env=run_env(cache), timeout=300)
    said = " ".join(board.stderr.split())
    assert board.returncode == 0 and "predictions_file '../../outside.jsonl'" in said


def test_outputs_take_the_umask_mode_like_the_plots(tmp_path):
    """Records and LEADERBOARD.md were 0600 (mkstemp's mode) while plots were 0644."""
    results = tmp_path / "r"
    done = subprocess.run(["sh", "-c", 'umask 022 && exec "$@"', "sh", *RVF, "run", "--strategy", "prompt",
                           "--limit", "4",
                           "--strategy-arg", "k=1", "--results", str(results)],
                          capture_output=True, text=True, env=run_env(tmp_path / "c"), timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    written = [*(results / "cells").iterdir(), results / "LEADERBOARD.md",
               *(results / "plots").iterdir()]
    assert len(written) >= 4
    assert {oct(p.stat().st_mode & 0o777) for p in written} == {oct(0o644)}


# -- interrupting a run -----------------------------------------------------------------------------

@pytest.mark.parametrize("parent_ignores_sigint", [False, True],
                         ids=["interactive", "started-with-&"])
def test_sigint_mid_run_exits_130_with_the_resume_line(tmp_path, parent_ignores_sigint):
    """Before, click turned the interrupt into `Aborted!` without the resume line; and a run
    started with SIGINT ignored (`cmd &` in a script) could not be interrupted at all."""
    import signal

    results, cache = tmp_path / "r", tmp_path / "c"
    ignore = (lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)) if parent_ignores_sigint \
        else None
    proc = subprocess.Popen([*RVF, *KILL_PLAN, "--results", str(results)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=run_env(cache),
                            preexec_fn=ignore)
    deadline = time.monotonic() + 600
    while not cached_answers(cache) and time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 130, err[-3000:]
    assert "run the same command again to resume" in " ".join(err.split())
    resumed = rvf(*KILL_PLAN, "--results", str(results), cache=cache)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
