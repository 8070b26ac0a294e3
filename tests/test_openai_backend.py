"""The openai/ backend against a real HTTP server on 127.0.0.1 that injects faults.

Every test drives the real `rvf` command in a subprocess, which talks to the server through the
real `openai` client; the server counts what arrived, so retries, fail-fast and resume are checked
from both ends.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.backends.openai_compat import (
    AdaptiveLimit,
    RetryPolicy,
    parse_json_reply,
    retry_after_seconds,
)
from harness.records import read_records
from tests.fault_server import FaultServer

API_KEY = "sk-test-7f3a9c1e5b2d4f6a8c0e"  # must never appear in results, cache or logs
RVF = [sys.executable, "-m", "harness"]


def rvf(*args: str, tmp: Path, key: str | None = API_KEY, base_url_env: str | None = None,
        timeout: float = 300) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    env["RVF_CACHE_DIR"] = str(tmp / "cache")
    env["COLUMNS"] = "200"
    if key:
        env["OPENAI_API_KEY"] = key
    if base_url_env:
        env["OPENAI_BASE_URL"] = base_url_env
    return subprocess.run([*RVF, "run", "--results", str(tmp / "results"), *args], env=env,
                          capture_output=True, text=True, timeout=timeout)


def fast_retries(*extra: str) -> list[str]:
    return ["--backend-arg", "openai.backoff_base_s=0.05",
            "--backend-arg", "openai.attempt_timeout_s=3", *extra]


def assert_key_nowhere(tmp: Path, *outputs: str) -> None:
    for out in outputs:
        assert API_KEY not in out
    hits = subprocess.run(["grep", "-r", "-l", API_KEY, str(tmp)], capture_output=True, text=True)
    assert hits.stdout == "", f"API key found in {hits.stdout}"


def only_record(tmp: Path):
    records, skipped = read_records(tmp / "results")
    assert not skipped and len(records) == 1
    return records[0]


def test_faults_retried_until_every_sample_is_scored(tmp_path: Path) -> None:
    """30% of requests answer 429 or 500 (plus drops and garbage), one stalls 10 s: all 200 score."""
    def fault(n: int, body: dict) -> str | None:
        if n == 7:
            return "stall"
        return {0: "429", 3: "500", 5: "429", 8: "drop", 9: "malformed"}.get(n % 10) if n % 20 < 10 \
            else {0: "500", 3: "429s", 6: "500"}.get(n % 10)

    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({"models": [
        {"model": "gpt-4o-mini", "input_per_1m": 0.15, "cached_input_per_1m": 0.075,
         "output_per_1m": 0.6, "source": "test", "as_of": "2026-11-22"}]}))
    with FaultServer(fault, stall_s=10) as server:
        began = time.monotonic()
        done = rvf("--limit", "200", "--model", "openai/gpt-4o-mini", "--base-url", server.url,
                   "--prices", str(prices), *fast_retries(), tmp=tmp_path)
        elapsed = time.monotonic() - began
    assert done.returncode == 0, done.stderr
    record = only_record(tmp_path)
    assert record.task.n == 200 and record.usage.errors == 0
    failed_attempts = sum(server.faults.values())
    assert server.chat_requests == 200 + failed_attempts
    assert failed_attempts / server.chat_requests >= 0.25
    assert record.usage.retries == failed_attempts
    assert server.faults["stall"] == 1 and elapsed < 120
    assert record.usage.system_fingerprints == ["fp_fault_server"]
    assert record.usage.input_tokens_per_query > 100
    assert record.usage.cached_input_tokens_per_query > 0
    # Token cost with the user's price row: uncached and cached input plus output tokens.
    rows = [json.loads(line) for line in
            (tmp_path / "results" / "cells" / record.predictions_file).read_text().splitlines()]
    expected = sum((r["input_tokens"] - r["cached_input_tokens"]) * 0.15
                   + r["cached_input_tokens"] * 0.075 + r["output_tokens"] * 0.6
                   for r in rows) / 1e6
    assert record.cost_usd == pytest.approx(expected)
    assert record.cost_per_1k_queries_usd == pytest.approx(expected / 200 * 1000)
    assert "test" in record.cost_basis
    board = (tmp_path / "results" / "LEADERBOARD.md").read_text()
    assert "$/1k queries" in board and f"{record.cost_per_1k_queries_usd:.3g}" in board
    assert_key_nowhere(tmp_path, done.stdout, done.stderr)
    # The key went to the server as a bearer token, and only there.
    assert server.auth_headers and all(h == f"Bearer {API_KEY}" for h in server.auth_headers)


def test_rejected_key_fails_fast_with_a_clear_message(tmp_path: Path) -> None:
    with FaultServer(require_key="sk-the-right-one") as server:
        done = rvf("--limit", "20", "--model", "openai/m", "--base-url", server.url, tmp=tmp_path)
    assert done.returncode == 2
    assert "OPENAI_API_KEY" in done.stderr and "rejected" in done.stderr
    # Fast because nothing waits: one pre-flight request, no chat request, no retry.
    assert len(server.auth_headers) == 1 and server.chat_requests == 0
    assert_key_nowhere(tmp_path, done.stdout, done.stderr)


def test_unknown_model_fails_fast_without_retries(tmp_path: Path) -> None:
    with FaultServer(models=("served-model",)) as server:
        done = rvf("--limit", "20", "--model", "openai/no-such-model", "--base-url", server.url,
                   *fast_retries(), tmp=tmp_path)
    assert done.returncode == 2
    assert "no-such-model" in done.stderr and "404" in done.stderr
    assert server.chat_requests <= 8  # the requests already in flight, none retried


def test_exhausted_quota_is_not_retried(tmp_path: Path) -> None:
    with FaultServer(lambda n, body: "quota") as server:
        done = rvf("--limit", "20", "--model", "openai/m", "--base-url", server.url,
                   *fast_retries(), tmp=tmp_path)
    assert done.returncode == 2 and "quota" in done.stderr
    assert server.chat_requests <= 8


def test_dead_url_names_the_url(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    url = f"http://127.0.0.1:{port}/v1"
    done = rvf("--limit", "5", "--model", "openai/m", "--base-url", url, tmp=tmp_path)
    assert done.returncode == 2
    assert url in done.stderr and "cannot reach" in done.stderr


def test_endpoint_that_never_answers_fails_on_the_preflight_timeout(tmp_path: Path) -> None:
    """The kernel accepts the connection (a listening socket nobody reads); no HTTP reply ever
    comes. At the defaults this took 65-180 s and said `(APITimeoutError: )`."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/v1"
        done = rvf("--limit", "5", "--model", "openai/m", "--base-url", url, tmp=tmp_path)
    assert done.returncode == 2, done.stderr
    said = " ".join(done.stderr.split())  # rich wraps long lines
    assert url in said and "GET /models got no answer within 10 s" in said
    assert "--backend-arg openai.preflight_timeout_s=S" in said


def test_first_chat_request_that_times_out_stops_the_run(tmp_path: Path) -> None:
    """/models answers, every chat request stalls: the first timeout says which timeout fired and
    how to raise it, instead of retrying for the whole total budget."""
    with FaultServer(lambda n, body: "stall", stall_s=20) as server:
        done = rvf("--limit", "5", "--model", "openai/m", "--base-url", server.url,
                   *fast_retries(), tmp=tmp_path)
    assert done.returncode == 2, done.stderr
    said = " ".join(done.stderr.split())
    assert "the first chat request" in said and "got no answer within 3 s" in said
    assert "--backend-arg openai.attempt_timeout_s=S" in said
    assert server.chat_requests <= 5  # the requests in flight, none retried


def test_no_key_and_no_base_url_names_both_variables(tmp_path: Path) -> None:
    done = rvf("--limit", "5", "--model", "openai/gpt-4o-mini", tmp=tmp_path, key=None)
    assert done.returncode == 2
    assert "OPENAI_API_KEY" in done.stderr and "OPENAI_BASE_URL" in done.stderr


def test_error_rate_fails_the_cell_and_a_rerun_retries_only_failed_samples(tmp_path: Path) -> None:
    """Samples that keep failing are errors, not wrong answers; the re-run asks only for them."""
    doomed = {"test-00005", "test-00017", "test-00033"}

    def user_text(body: dict) -> str:
        return body["messages"][-1]["content"]

    from harness.registry import default_registry
    # The generated queue: --limit 600 is all of its test split, so the three are among them.
    task = default_registry().make("task", "ticket_categorization", {"data": "synthetic"})
    texts = {s.text for s in task.splits["test"] if s.id in doomed}
    assert len(texts) == 3
    def args(url: str) -> list[str]:
        return ["--limit", "600", "--task-arg", "data=synthetic", "--model", "openai/m",
                "--base-url", url,
                *fast_retries("--backend-arg", "openai.max_attempts=2")]

    with FaultServer(lambda n, body: "500" if user_text(body) in texts else None) as server:
        done = rvf(*args(server.url), tmp=tmp_path)
        assert done.returncode == 0, done.stderr  # 3 / 600 = 0.5% <= the default 2%
        record = only_record(tmp_path)
        assert record.usage.errors == 3 and record.task.n == 597
        assert server.faults["500"] == 6  # two attempts each
        assert server.chat_requests == 600 + 3
    # The endpoint recovers (same URL, new server process): only the three are asked again.
    port = int(server.url.rsplit(":", 1)[1].split("/")[0])
    with FaultServer(port=port) as healthy:
        again = rvf(*args(healthy.url), tmp=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "retrying the 3 failed samples" in again.stderr
    assert healthy.chat_requests == 3
    record = only_record(tmp_path)
    assert record.usage.errors == 0 and record.task.n == 600 and record.usage.cache_hits == 597


def test_cell_fails_above_the_max_error_rate(tmp_path: Path) -> None:
    with FaultServer(lambda n, body: "500" if n % 4 == 0 else None) as server:
        done = rvf("--limit", "40", "--model", "openai/m", "--base-url", server.url,
                   "--max-error-rate", "0.05", *fast_retries("--backend-arg",
                                                             "openai.max_attempts=1"), tmp=tmp_path)
    assert done.returncode == 1
    assert "10 of 40 samples failed" in done.stderr and "re-run" in done.stderr
    assert read_records(tmp_path / "results") == ([], [])  # no record for a failed cell
    # The failed cell's requests count in the run's summary (it used to say 0).
    assert server.chat_requests == 40 and "model calls: 40;" in done.stderr


def test_endpoint_without_json_mode_falls_back_to_text(tmp_path: Path) -> None:
    with FaultServer(lambda n, body: "no_json_mode") as server:
        done = rvf("--limit", "10", "--model", "openai/m", "--base-url", server.url, tmp=tmp_path)
    assert done.returncode == 0, done.stderr
    record = only_record(tmp_path)
    assert record.usage.errors == 0 and record.metric("invalid_rate") == 0.0
    assert "plain text" in record.model.facts["json_mode"]
    assert "response_format" not in server.bodies[-1]


def test_endpoint_without_json_schema_steps_down_to_json_object(tmp_path: Path) -> None:
    with FaultServer(lambda n, body: "no_json_schema") as server:
        done = rvf("--limit", "10", "--model", "openai/m", "--base-url", server.url, tmp=tmp_path)
    assert done.returncode == 0, done.stderr
    record = only_record(tmp_path)
    assert record.usage.json_parse_failures == 0 and record.metric("invalid_rate") == 0.0
    assert record.model.facts["json_mode"] == "schema not supported by the endpoint; " \
                                                     "used object"
    assert server.bodies[0]["response_format"]["type"] == "json_schema"
    assert server.bodies[-1]["response_format"]["type"] == "json_object"


def test_retry_after_headers() -> None:
    assert retry_after_seconds({"retry-after-ms": "250"}) == pytest.approx(0.25)
    assert retry_after_seconds({"retry-after": "3"}) == 3.0
    future = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 30))
    assert 25 < retry_after_seconds({"retry-after": future}) <= 30
    assert retry_after_seconds({}) is None
    policy = RetryPolicy(backoff_base_s=1, backoff_max_s=8)
    assert all(0 <= policy.delay(10, None) <= 8 for _ in range(100))
    assert 2.0 <= policy.delay(0, 2.0) <= 2.1


def test_adaptive_limit_halves_on_rate_limits_and_grows_back() -> None:
    async def scenario() -> list[int]:
        limit = AdaptiveLimit(8)
        seen = []
        for rate_limited in (True, True):
            await limit.acquire()
            await limit.release(rate_limited=rate_limited, ok=False)
            seen.append(limit.limit)
        for _ in range(2 + 3):  # 2 successes grow 2 -> 3, then 3 more grow 3 -> 4
            await limit.acquire()
            await limit.release(rate_limited=False, ok=True)
        seen.append(limit.limit)
        return seen

    assert asyncio.run(scenario()) == [4, 2, 4]


def test_judge_metrics_through_an_openai_endpoint(tmp_path: Path) -> None:
    """--judge wires ragas' faithfulness and answer correctness to an openai/ endpoint.

    The server answers ragas' JSON prompts with the smallest instance of the schema they embed, so
    the expected scores are known: every statement supported (faithfulness 1.0), one true positive,
    one false positive and one false negative (answer correctness F1 0.5).
    """
    with FaultServer() as server:
        done = rvf("--task", "hr_policy_qa", "--strategy", "prompt", "--strategy", "rag",
                   "--limit", "3", "--model", "openai/m", "--base-url", server.url,
                   "--judge", "openai/judge-model", tmp=tmp_path)
    assert done.returncode == 0, done.stderr
    records = {r.strategy.name: r for r in read_records(tmp_path / "results")[0]}
    for record in records.values():
        assert record.metric("answer_correctness") == pytest.approx(0.5)
        assert "judged by openai/judge-model" in record.metrics["answer_correctness"].note
    assert records["rag"].metric("faithfulness") == pytest.approx(1.0)
    # prompt retrieves nothing: faithfulness has no contexts to check against
    assert records["prompt"].metric("faithfulness") is None
    assert "retrieved no contexts" in records["prompt"].metrics["faithfulness"].note
    judged = [b for b in server.bodies if b["model"] == "judge-model"]
    assert len(judged) >= 3 * 2 * 2 + 3 * 2  # correctness: 2 calls per item and cell; faithfulness
    assert_key_nowhere(tmp_path, done.stdout, done.stderr)


def test_json_answers_are_unwrapped_even_when_cut_off() -> None:
    assert parse_json_reply('{"answer": "refund_request"}') == ("refund_request", True)
    assert parse_json_reply('{"answer": 7}') == ("7", True)
    assert parse_json_reply('{ "answer": "Thanks for the \\"update\\", I') == \
        ('Thanks for the "update", I', False)
    assert parse_json_reply('{"label": "x"}') == (None, False)  # valid JSON, not the asked shape
    assert parse_json_reply("refund_request") == (None, False)


def test_a_label_set_is_sent_as_a_json_schema_enum(tmp_path: Path) -> None:
    """constrain=auto on an openai/ model: structured outputs restrict `answer` to the labels;
    constrain=none sends the plain answer schema."""
    from rvf_tasks.ticket_categorization import ticket_categorization

    labels = list(ticket_categorization().answer_space.labels)
    with FaultServer() as server:
        done = rvf("--limit", "4", "--model", "openai/m", "--base-url", server.url, tmp=tmp_path)
        assert done.returncode == 0, done.stderr
        schema = server.bodies[-1]["response_format"]["json_schema"]["schema"]
        assert schema["properties"]["answer"] == {"type": "string", "enum": labels}
        assert only_record(tmp_path).decoding == {"constrain": "auto", "mode": "labels",
                                                  "choices": 77, "unconstrained":
                                                  "no unconstrained run of these requests in "
                                                  "the request cache"}
        done = rvf("--limit", "4", "--model", "openai/m", "--base-url", server.url,
                   "--constrain", "none", "--results", str(tmp_path / "free"), tmp=tmp_path)
        assert done.returncode == 0, done.stderr
        free = server.bodies[-1]["response_format"]["json_schema"]["schema"]
        assert free["properties"]["answer"] == {"type": "string"}


def test_a_code_set_too_large_for_an_enum_is_sent_as_a_pattern(tmp_path: Path) -> None:
    """icd10_coding's 74,719 billable codes: the schema holds the code pattern, not an enum."""
    from rvf_tasks.icd10_coding import CODE_SCHEMA_PATTERN

    with FaultServer() as server:
        done = rvf("--limit", "2", "--task", "icd10_coding", "--model", "openai/m",
                   "--base-url", server.url, tmp=tmp_path)
        assert done.returncode == 0, done.stderr
    schema = server.bodies[-1]["response_format"]["json_schema"]["schema"]
    assert schema["properties"]["answer"] == {"type": "string", "pattern": CODE_SCHEMA_PATTERN}
    assert only_record(tmp_path).decoding["choices"] == 74_719
