"""End to end against a real OpenAI-compatible server: llama.cpp's, serving the bundled SmolLM2 GGUF.

The server (`llama-cpp-python[server]`, the `llamacpp` extra) runs in its own process on
127.0.0.1, started and stopped by the fixture; rvf reaches it through the real `openai` client,
exactly as it would reach vLLM or api.openai.com.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from harness.records import read_records
from tasks.icd10_coding import CODE_SCHEMA_PATTERN

# Needs llama-cpp-python (the llamacpp extra): run by `tox -e llamacpp` (tests/conftest.py).
pytestmark = pytest.mark.llamacpp

ALIAS = "smollm2-llamacpp"


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory: pytest.TempPathFactory):
    from harness.backends.local import bundled_gguf

    try:
        import llama_cpp  # noqa: F401
    except ImportError:
        pytest.fail("llama-cpp-python is missing: the tests need the `llamacpp` extra "
                    "(pip install -e '.[llamacpp]'; tox -e llamacpp installs it)")
    gguf = bundled_gguf("smollm2-135m-instruct")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    log = tmp_path_factory.mktemp("llama") / "server.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--model_alias",
             ALIAS, "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048",
             "--n_threads", str(min(os.cpu_count() or 1, 4))],
            stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 180
    while True:
        try:
            with urllib.request.urlopen(f"{url}/models", timeout=2) as resp:
                if resp.status == 200:
                    break
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"llama.cpp server did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.5)
    yield url
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()


def test_builtin_tasks_through_llamacpp_server(llama_server: str, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    env["RVF_CACHE_DIR"] = str(tmp_path / "cache")
    cmd = [sys.executable, "-m", "harness", "run", "--results", str(tmp_path / "results"),
           "--task", "ticket_categorization", "--task", "icd10_coding", "--task", "hr_policy_qa",
           "--limit", "4", "--model", f"openai/{ALIAS}", "--base-url", llama_server,
           "--max-concurrency", "2", "--backend-arg", "openai.usd_per_hour=0.1"]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    records, skipped = read_records(tmp_path / "results")
    assert not skipped
    assert sorted(r.task.name for r in records) == ["hr_policy_qa", "icd10_coding",
                                                    "ticket_categorization"]
    for r in records:
        assert r.usage.errors == 0 and r.task.n == 4
        assert r.usage.input_tokens_per_query > 50 and r.usage.output_tokens_per_query > 0
        assert r.model.identity["base_url"] == llama_server
        assert r.cost_per_1k_queries_usd is not None and r.cost_per_1k_queries_usd > 0
        assert r.cost_basis.startswith("endpoint wall")  # its own machine, seen from here
        rows = [json.loads(x) for x in (tmp_path / "results" / "cells" / r.predictions_file)
                .read_text().splitlines()]
        assert all(row["input_tokens"] > 0 and row["raw"] is not None for row in rows)
        assert r.decoding["mode"] == ("none" if r.task.name == "hr_policy_qa" else "labels")
        if r.task.name == "icd10_coding":  # the code pattern reached llama.cpp as a grammar
            codes = [row["raw"] for row in rows]
            assert all(re.fullmatch(CODE_SCHEMA_PATTERN, c) for c in codes), codes
    # Same command again: every answer from the request cache, no request to the server.
    again = subprocess.run(cmd + ["--force"], env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "model calls: 0" in again.stderr
