"""The hosted_ft strategy: its training file on every built-in task, and its job flow.

Export and validation run in-process on the real built-in tasks. The job flow runs the real `rvf`
command (or the strategy in-process where only the flow matters) against tests/ft_server.py, a
loopback HTTP server speaking OpenAI's files and fine-tuning jobs protocol to the real `openai`
client: upload, create, poll, evaluate the fine-tuned model, reuse on a re-run, a failed job, an
interrupted poll. The server counts what arrived, so reuse is checked from its side too.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from pathlib import Path

import pytest

from harness.cell import limit_samples
from harness.errors import DataError, UsageError
from harness.hosted_ft_data import (
    MIN_EXAMPLES,
    auto_epochs,
    rough_counter,
    token_counter,
    validate_file,
    write_export,
)
from harness.pricing import OFFICIAL_ENDPOINT
from harness.records import read_records
from harness.strategies.hosted_ft import (
    FineTuneTimeout,
    hosted_ft,
    jobs_dir,
    read_job,
    training_price,
)
from harness.strategies.lora import lora_messages
from harness.types import PrepareContext, Sample
from tests.ft_server import FtServer, majority_answer
from tests.test_openai_backend import API_KEY, assert_key_nowhere, only_record, rvf

BUILTIN_TASKS = ("ticket_categorization", "icd10_coding", "hr_policy_qa")
BASE = "gpt-4.1-mini-2025-04-14"  # the dry run's default base model, priced in the shipped table
PRICES = json.loads((Path(__file__).resolve().parents[1] / "harness" / "data" / "prices.json")
                    .read_text())
FAST_POLL = ["--strategy-arg", "poll_interval_s=0.01"]


def shipped_training_price(model: str) -> float:
    return next(row["training_per_1m"] for row in PRICES["models"] if row["model"] == model)


def lines_of(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


# -- the training file ------------------------------------------------------------------------

@pytest.mark.parametrize("name", BUILTIN_TASKS)
def test_export_is_the_lora_conversations_and_validates(name, registry, tmp_path):
    task = registry.make("task", name)
    train = list(task.splits["train"])
    path, sha = write_export(tmp_path, task, train)
    rows = lines_of(path)
    assert len(rows) == len(train)
    for row, sample in zip(rows, train, strict=True):
        assert list(row) == ["messages"]
        assert row["messages"] == [*lora_messages(task, sample),
                                   {"role": "assistant", "content": task.format_answer(sample)}]
        assert [m["role"] for m in row["messages"]] == ["system", "user", "assistant"]
        assert all(m["content"].strip() for m in row["messages"])
    assert sha == hashlib.sha256(path.read_bytes()).hexdigest() and sha[:12] in path.name
    assert write_export(tmp_path, task, train) == (path, sha)  # deterministic

    exact = validate_file(path, token_counter(BASE))
    assert exact.examples == len(train) and exact.sha256 == sha and exact.over_limit == 0
    assert 0 < exact.tokens_min <= exact.tokens_mean <= exact.tokens_max
    # The rough counter, recomputed here from the cookbook formula: 3 per message + role + content.
    rough = validate_file(path, rough_counter("test"))
    expected = sum(3 + sum(3 + math.ceil(len(m["role"]) / 4) + math.ceil(len(m["content"]) / 4)
                           for m in row["messages"]) for row in rows)
    assert rough.tokens == expected and not rough.model_tokenizer
    assert "characters / 4" in rough.tokenizer


GOOD = {"messages": [{"role": "system", "content": "Answer."}, {"role": "user", "content": "q"},
                     {"role": "assistant", "content": "a"}]}


@pytest.mark.parametrize("bad, problem", [
    ('{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "  "}]}',
     "messages[1].content (assistant turn): empty"),
    ('{"messages": [{"role": "user", "content": ""}, {"role": "assistant", "content": "a"}]}',
     "messages[0].content (user turn): empty"),
    ('{"messages": [{"role": "bot", "content": "q"}, {"role": "assistant", "content": "a"}]}',
     "messages[0].role: 'bot'"),
    ('{"messages": [{"role": "user", "content": "q"}]}', "messages: the last turn must be the assistant"),
    ('{"messages": [{"role": "user", "content": 3}, {"role": "assistant", "content": "a"}]}',
     "messages[0].content (user turn): expected a string"),
    ('{"prompt": "q", "completion": "a"}', "expected an object with a 'messages' list"),
    ('{"messages": [', "not valid JSON"),
])
def test_validation_names_the_file_line_and_field(bad, problem, tmp_path):
    path = tmp_path / "train.jsonl"
    lines = [json.dumps(GOOD)] * 12
    lines[2] = bad
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError) as err:
        validate_file(path, rough_counter("test"))
    assert f"{path}:3: {problem}" in str(err.value)
    assert f"{path}:1:" not in str(err.value)  # the good lines are not blamed


def test_too_few_examples_is_refused(tmp_path):
    path = tmp_path / "train.jsonl"
    path.write_text((json.dumps(GOOD) + "\n") * (MIN_EXAMPLES - 1))
    with pytest.raises(DataError, match=f"{MIN_EXAMPLES - 1} examples.*at least {MIN_EXAMPLES}"):
        validate_file(path, rough_counter("test"))


def test_auto_epochs_follow_openais_rule():
    assert [auto_epochs(n) for n in (10, 20, 191, 2400, 10_000, 30_000)] == [10, 5, 3, 3, 2, 1]


def test_token_counter_says_when_it_is_a_rough_estimate():
    rough = token_counter("my-self-hosted-model")
    assert not rough.exact and "characters / 4" in rough.tokenizer
    assert rough.count("abcdefghi") == 3
    pytest.importorskip("tiktoken")
    exact = token_counter(BASE)
    assert exact.exact and exact.tokenizer == "tiktoken o200k_base"
    assert exact.count("hello world") == 2


def test_training_price_comes_from_the_table_or_is_unknown():
    price, basis = training_price(BASE, OFFICIAL_ENDPOINT, None)  # a snapshot: its alias's row
    assert price == shipped_training_price("gpt-4.1-mini") and "gpt-4.1-mini" in basis
    assert training_price("gpt-5", OFFICIAL_ENDPOINT, None)[0] is None  # no training price
    price, basis = training_price(BASE, "http://127.0.0.1:9/v1", None)  # rows name their endpoint
    assert price is None and basis.startswith("unknown")
    price, basis = training_price("anything", "http://127.0.0.1:9/v1", 2.5)  # the user's word
    assert price == 2.5 and "training_usd_per_1m" in basis


# -- dry run through the CLI ------------------------------------------------------------------

@pytest.mark.parametrize("name", BUILTIN_TASKS)
def test_dry_run_writes_the_file_and_prints_the_estimate(name, tmp_path):
    done = rvf("--task", name, "--strategy", "hosted_ft", "--strategy-arg", "dry_run=true",
               tmp=tmp_path, key=None)  # no key, no endpoint: nothing is contacted
    assert done.returncode == 0, done.stderr
    folder = tmp_path / "results" / "hosted_ft"
    [export] = folder.glob(f"{name}-*.jsonl")
    figures = json.loads(export.with_suffix(".validation.json").read_text())
    n = len(export.read_text().splitlines())
    assert figures["examples"] == n and figures["base_model"] == BASE
    assert figures["n_epochs"] == auto_epochs(n)
    assert figures["estimated_trained_tokens"] == figures["tokens"] * figures["n_epochs"]
    cost = figures["estimated_trained_tokens"] * shipped_training_price("gpt-4.1-mini") / 1e6
    assert figures["estimated_training_cost_usd"] == pytest.approx(cost)
    out = " ".join(done.stderr.split())  # rich wraps long lines
    for shown in (f"{n:,} examples, valid", f"{figures['tokens']:,} per epoch",
                  f"{figures['estimated_trained_tokens']:,} trained tokens", f"~${cost:,.2f}",
                  figures["tokenizer"], "no cell record written"):
        assert shown in out
    records, _ = read_records(tmp_path / "results")
    assert records == []  # a dry run evaluates nothing, so it records nothing


# -- the job flow ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """One full run (upload, job, poll, evaluation) and its re-run with --force, on one server."""
    tmp = tmp_path_factory.mktemp("hosted-ft")
    args = ("--task", "ticket_categorization", "--strategy", "hosted_ft", "--model",
            f"openai/{BASE}", "--limit", "30", *FAST_POLL, "--strategy-arg", "n_epochs=2",
            "--strategy-arg", "training_usd_per_1m=5")
    with FtServer() as server:
        first = rvf(*args, "--base-url", server.url, tmp=tmp)
        assert first.returncode == 0, first.stderr
        record = only_record(tmp)
        snapshot = {"jobs": len(server.jobs), "files": len(server.files),
                    "retrievals": sum(server.retrievals.values()),
                    "chat": len(server.ft_chat_bodies)}
        again = rvf(*args, "--base-url", server.url, "--force", tmp=tmp)
        yield tmp, server, first, record, snapshot, again


def test_job_flow_uploads_trains_evaluates_and_records(trained_run, registry):
    tmp, server, done, record, snapshot, _ = trained_run
    [export] = (tmp / "results" / "hosted_ft").glob("ticket_categorization-*.jsonl")
    # What the server saw: one upload of exactly the exported file, one job, several polls.
    assert snapshot["files"] == 1 and snapshot["jobs"] == 1
    file = server.files["file-1"]
    assert file["purpose"] == "fine-tune" and file["content"] == export.read_bytes()
    [request] = server.job_requests
    assert request["model"] == BASE and request["training_file"] == "file-1"
    assert request["method"] == {"type": "supervised",
                                 "supervised": {"hyperparameters": {"n_epochs": 2}}}
    assert request["seed"] == 0
    job = server.jobs["ftjob-1"]
    assert snapshot["retrievals"] == len(server.statuses) - 1  # polled until it succeeded
    assert server.event_lists["ftjob-1"] >= 1

    # The fine-tuned model answered the test subset, asked exactly the lora turns, without JSON.
    task = registry.make("task", "ticket_categorization")
    samples = limit_samples(list(task.splits["test"]), 30)
    bodies = server.ft_chat_bodies[:snapshot["chat"]]
    assert {b["model"] for b in bodies} == {job["fine_tuned_model"]}
    assert sorted(json.dumps(b["messages"]) for b in bodies) == \
        sorted(json.dumps(lora_messages(task, s)) for s in samples)
    assert not any("response_format" in b for b in bodies)
    majority = majority_answer(file["content"])
    expected = sum(s.target == majority for s in samples) / len(samples)
    assert record.metrics["accuracy"].value == pytest.approx(expected)

    # The record: job, trained tokens, status history, training cost.
    t = record.training.model_dump()
    assert t["job_id"] == "ftjob-1" and t["fine_tuned_model"] == job["fine_tuned_model"]
    assert t["trained_tokens"] == job["trained_tokens"] > 0
    assert [h["status"] for h in t["status_history"]] == ["validating_files", "queued",
                                                           "running", "succeeded"]
    assert t["training_cost_usd"] == pytest.approx(job["trained_tokens"] * 5 / 1e6)
    assert t["events"] and t["events"][-1]["message"] == "Job succeeded"
    assert t["training_file_sha256"] == hashlib.sha256(export.read_bytes()).hexdigest()
    assert t["cache_hit"] is False and t["base_model"] == BASE
    # Queries are priced as the fine-tuned model, which has no price row at this endpoint (the
    # shipped ft: rows are api.openai.com's): unknown, not the base's price.
    assert record.cost_usd is None and job["fine_tuned_model"] in record.cost_basis
    assert record.model.spec == f"openai/{BASE}"
    assert_key_nowhere(tmp, done.stdout, done.stderr)


def test_rerun_reuses_the_finished_job(trained_run):
    tmp, server, _, first, snapshot, again = trained_run
    assert again.returncode == 0, again.stderr
    assert len(server.jobs) == snapshot["jobs"] == 1 and len(server.files) == 1
    assert sum(server.retrievals.values()) == snapshot["retrievals"]  # not even polled
    record = only_record(tmp)
    t = record.training.model_dump()
    assert t["cache_hit"] is True and t["job_id"] == "ftjob-1"
    assert t["fine_tuned_model"] == first.training.model_dump()["fine_tuned_model"]
    assert record.usage.model_calls == 0  # the answers came from the request cache
    assert record.metrics["accuracy"].value == first.metrics["accuracy"].value
    assert_key_nowhere(tmp, again.stdout, again.stderr)


def test_failed_job_reports_the_api_error_and_is_not_reused(tmp_path):
    error = {"code": "invalid_training_file", "param": "training_file",
             "message": "The job failed due to an invalid training file."}
    args = ("--task", "hr_policy_qa", "--strategy", "hosted_ft", "--model", f"openai/{BASE}",
            "--limit", "10", *FAST_POLL)
    with FtServer(fail_with=error) as server:
        done = rvf(*args, "--base-url", server.url, tmp=tmp_path)
        again = rvf(*args, "--base-url", server.url, tmp=tmp_path)
    assert done.returncode == 1
    out = " ".join(done.stderr.split())
    for shown in ("ftjob-1", "failed", error["code"], error["message"], "param training_file"):
        assert shown in out
    assert read_records(tmp_path / "results")[0] == []
    assert server.ft_chat_bodies == []
    # The failure is kept for the record, and the next run trains anew instead of reusing it.
    [stored] = [json.loads(p.read_text()) for p in jobs_dir_under(tmp_path).glob("*.json")]
    assert again.returncode == 1 and len(server.jobs) == 2 and "ftjob-2" in again.stderr
    assert stored["error"]["code"] == error["code"]
    assert_key_nowhere(tmp_path, done.stdout, done.stderr, again.stdout, again.stderr)


def jobs_dir_under(tmp: Path) -> Path:
    return tmp / "cache" / "hosted_ft" / "jobs"  # rvf() sets RVF_CACHE_DIR=<tmp>/cache


def test_an_interrupted_poll_resumes_the_same_job(registry, tmp_path, monkeypatch):
    from harness.backends.openai_compat import openai_backend

    monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
    task = registry.make("task", "hr_policy_qa")
    slow = ("validating_files", "queued", *["running"] * 8, "succeeded")
    with FtServer(statuses=slow) as server:
        backend = openai_backend(BASE, base_url=server.url)
        impatient = hosted_ft(poll_interval_s=0.01, poll_timeout_s=0.05)
        with pytest.raises(FineTuneTimeout, match="ftjob-1 is still"):
            impatient.prepare(task, backend, PrepareContext(seed=0, results_dir=tmp_path))
        key = next(p.stem for p in jobs_dir().glob("*.json")
                   if read_job(p.stem)["endpoint"] == backend.base_url)
        assert read_job(key)["status"] in ("queued", "running")
        patient = hosted_ft(poll_interval_s=0.01)
        prepared = patient.prepare(task, backend, PrepareContext(seed=0, results_dir=tmp_path))
    assert len(server.jobs) == 1 and len(server.files) == 1  # resumed, not recreated
    t = prepared.training.model_dump()
    assert t["status"] == "succeeded" and t["cache_hit"] is False
    assert [h["status"] for h in t["status_history"]][0] == "validating_files"
    assert prepared.backend.model == server.jobs["ftjob-1"]["fine_tuned_model"]
    assert prepared.backend.identity()["json_mode"] == "off"


def test_an_empty_answer_stops_before_any_upload(registry, tmp_path, monkeypatch):
    from harness.backends.openai_compat import openai_backend

    monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
    task = registry.make("task", "hr_policy_qa")
    train = list(task.splits["train"])
    train[5] = Sample(train[5].id, train[5].text, "")
    task = dataclasses.replace(task, splits={**task.splits, "train": train})
    with FtServer() as server:
        strategy = hosted_ft()
        with pytest.raises(DataError, match=r"\.jsonl:6: messages\[2\]\.content \(assistant"):
            strategy.prepare(task, openai_backend(BASE, base_url=server.url),
                             PrepareContext(seed=0, results_dir=tmp_path))
    assert server.files == {} and server.jobs == {}


def test_a_local_model_only_does_a_dry_run(registry):
    class Local:
        spec = "local/smollm2-135m-instruct"

    with pytest.raises(UsageError, match="openai/"):
        hosted_ft().prepare(registry.make("task", "hr_policy_qa"), Local(), PrepareContext(seed=0))


@pytest.mark.parametrize("args", [{"n_epochs": 0}, {"batch_size": 0},
                                  {"learning_rate_multiplier": 0}, {"train_size": 5},
                                  {"poll_timeout_s": 0}, {"training_usd_per_1m": -1}])
def test_bad_arguments_are_usage_errors(args):
    with pytest.raises(UsageError, match="hosted_ft: "):
        hosted_ft(**args)


def test_arguments_parse_from_the_command_line(registry):
    strategy = registry.make("strategy", "hosted_ft", {
        "base_model": "gpt-4o-mini-2024-07-18", "n_epochs": "4", "dry_run": "true",
        "learning_rate_multiplier": "0.5", "train_size": "all"})
    assert strategy.base_model == "gpt-4o-mini-2024-07-18" and strategy.dry_run
    assert strategy.hyperparameters == {"n_epochs": 4, "learning_rate_multiplier": 0.5}
    assert strategy.train_size is None


def test_a_refused_request_is_bad_usage_without_the_key(registry, tmp_path, monkeypatch):
    from harness.backends.openai_compat import openai_backend

    monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
    with FtServer(require_key="sk-the-right-one") as server:
        strategy = hosted_ft()
        with pytest.raises(UsageError, match="answered 401") as err:
            strategy.prepare(registry.make("task", "hr_policy_qa"),
                             openai_backend(BASE, base_url=server.url),
                             PrepareContext(seed=0, results_dir=tmp_path))
    assert API_KEY not in str(err.value) and server.files == {} and server.jobs == {}
