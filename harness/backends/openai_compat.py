"""Backend `openai/<model>`: any OpenAI-compatible chat-completions endpoint.

The official `openai` client (async) with its own retries off: rvf owns the one retry layer, so
retry counts, backoff and give-up rules are the same against OpenAI, vLLM, llama.cpp or Ollama,
and are visible in the records.

- Requests run concurrently, at most `max_concurrency` in flight. The limit halves on a 429 and
  grows back by one after as many successes in a row (additive increase, multiplicative decrease).
- Retried with jittered exponential backoff (honouring `Retry-After`): connection errors,
  timeouts, malformed responses, 408, 409, 429 and 5xx. Not retried: 400 (that sample fails),
  and 401, 403, 404 and an exhausted quota, which stop the run at once with what to fix.
- A request gives up after `max_attempts` or `total_budget_s`, whichever comes first; the sample is
  then recorded as an error (not as a wrong answer) and the runner's `--max-error-rate` decides
  whether the cell stands. Errors are never cached, so a re-run retries only those samples.
- Before the first request, `GET /models` checks that the endpoint answers and accepts the key,
  so a wrong URL fails after the connect timeout and a bad key fails in well under a second.

The API key comes from `OPENAI_API_KEY` only, and never reaches the identity (the request-cache
and cell keys), a record, a log line or an error message (messages are scrubbed).
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import os
import queue
import random
import re
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from harness.errors import EndpointError, UsageError
from harness.pricing import OFFICIAL_ENDPOINT
from harness.types import Generation, GenerationRequest

JSON_INSTRUCTION = ('Reply with a JSON object of the form {"answer": "..."} whose value is exactly '
                    'the answer you would otherwise give, and nothing else.')
# Structured-answer modes, strongest first; on a 400 about response_format the backend steps down.
# "schema" constrains the reply to exactly {"answer": string} (OpenAI structured outputs, vLLM and
# llama.cpp grammars), which small models need: asked for free-form JSON they invent other keys.
JSON_MODES = ("schema", "object", "off")
# Most choices sent as a JSON-schema enum (OpenAI's structured outputs allow up to 1,000 enum
# values and, past 250, 15,000 characters of them); larger sets (a code set) are not constrained.
MAX_ENUM = 500
ANSWER_SCHEMA = {"type": "json_schema", "json_schema": {
    "name": "answer", "strict": True,
    "schema": {"type": "object", "properties": {"answer": {"type": "string"}},
               "required": ["answer"], "additionalProperties": False}}}
RETRYABLE_STATUS = frozenset({408, 409, 429})


@dataclass(frozen=True)
class RetryPolicy:
    """When to try again and how long to wait."""

    max_attempts: int = 8
    attempt_timeout_s: float = 60.0
    connect_timeout_s: float = 10.0
    preflight_timeout_s: float = 10.0  # GET /models: a server that never answers fails in this
    total_budget_s: float = 600.0
    backoff_base_s: float = 0.5
    backoff_max_s: float = 30.0

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """Seconds to wait before attempt `attempt + 1` (full jitter, or the server's word)."""
        if retry_after is not None:
            return min(retry_after, self.backoff_max_s) + random.uniform(0, 0.1)
        return random.uniform(0, min(self.backoff_max_s, self.backoff_base_s * 2 ** attempt))


def retry_after_seconds(headers: Any) -> float | None:
    """`retry-after-ms` or `Retry-After` (seconds or an HTTP date), when the server sent one."""
    if headers is None:
        return None
    raw_ms = headers.get("retry-after-ms")
    if raw_ms:
        try:
            return max(float(raw_ms) / 1000, 0.0)
        except ValueError:
            pass
    raw = headers.get("retry-after")
    if not raw:
        return None
    try:
        return max(float(raw), 0.0)
    except ValueError:
        when = email.utils.parsedate_to_datetime(raw) if raw else None
        return max(when.timestamp() - time.time(), 0.0) if when else None


class AdaptiveLimit:
    """Bounded in-flight requests: halve on rate limits, +1 after `limit` successes in a row."""

    def __init__(self, maximum: int) -> None:
        self.maximum = self.limit = self.lowest = maximum
        self.in_flight = 0
        self._streak = 0
        self._cond = asyncio.Condition()

    async def acquire(self) -> None:
        async with self._cond:
            await self._cond.wait_for(lambda: self.in_flight < self.limit)
            self.in_flight += 1

    async def release(self, rate_limited: bool, ok: bool) -> None:
        async with self._cond:
            self.in_flight -= 1
            if rate_limited:
                self.limit = max(1, self.limit // 2)
                self.lowest = min(self.lowest, self.limit)
                self._streak = 0
            elif ok:
                self._streak += 1
                if self._streak >= self.limit and self.limit < self.maximum:
                    self.limit += 1
                    self._streak = 0
            self._cond.notify_all()


def public_url(url: str) -> str:
    """The base URL without credentials, query or trailing slash: safe for keys and records."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = host + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))


class OpenAIBackend:
    """Chat completions against one model at one endpoint."""

    def __init__(self, model: str, base_url: str, api_key: str | None, max_concurrency: int = 8,
                 retry: RetryPolicy | None = None, json_mode: str = "schema",
                 temperature: float | None = 0.0, usd_per_hour: float | None = None,
                 reasoning_effort: str | None = None) -> None:
        self.spec = f"openai/{model}"
        self.model = model
        self.base_url = public_url(base_url)
        self._raw_base_url = base_url
        self._api_key = api_key
        self.max_concurrency = max_concurrency
        self.retry = retry or RetryPolicy()
        self.json_mode = json_mode
        self.temperature = temperature
        self.usd_per_hour = usd_per_hour
        self.reasoning_effort = reasoning_effort
        self._json_mode = json_mode  # may step down during a run (see JSON_MODES)
        self._checked = False
        self._answered = False  # a chat request succeeded: later timeouts are worth retrying
        self.facts: dict[str, Any] = {}

    def serving(self, model: str, json_mode: str | None = None) -> OpenAIBackend:
        """This endpoint, key, retry policy and limits serving another model (e.g. the `ft:` model
        a fine-tuning job made), with fresh per-run state."""
        return OpenAIBackend(model, self._raw_base_url, self._api_key, self.max_concurrency,
                             self.retry, json_mode or self.json_mode, self.temperature,
                             self.usd_per_hour, self.reasoning_effort)

    def identity(self) -> dict[str, Any]:
        ident: dict[str, Any] = {"backend": "openai", "model": self.model, "base_url": self.base_url,
                                 "json_mode": self.json_mode, "temperature": self.temperature}
        if self.reasoning_effort is not None:
            ident["reasoning_effort"] = self.reasoning_effort
        if self.usd_per_hour is not None:
            ident["usd_per_hour"] = self.usd_per_hour  # cost basis, not answers; kept for pricing
        return ident

    # -- the sync face the runner sees ---------------------------------------------------------
    def generate(self, requests: Sequence[GenerationRequest]) -> Iterator[tuple[int, Generation]]:
        """Run the requests on an event loop in a worker thread; yield each as it finishes."""
        if not requests:
            return
        out: queue.Queue = queue.Queue()
        stop = threading.Event()
        done = object()

        def work() -> None:
            try:
                asyncio.run(self._run_all(requests, out, stop))
            except BaseException as exc:  # noqa: BLE001 - handed to the consumer thread
                out.put(exc)
            finally:
                out.put(done)

        thread = threading.Thread(target=work, name="rvf-openai", daemon=True)
        thread.start()
        try:
            while (item := out.get()) is not done:
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            stop.set()
            thread.join(timeout=5)

    # -- async core -----------------------------------------------------------------------------
    def client(self, max_retries: int = 0) -> Any:
        """An AsyncOpenAI client for this endpoint: generation uses it with our retry layer (SDK
        retries off); the ragas judge, which drives the client itself, with the SDK's."""
        try:
            import httpx
            from openai import AsyncOpenAI
        except ImportError as exc:
            raise UsageError("the openai backend needs the `openai` extra: "
                             "pip install 'rvf[openai]'") from exc
        timeout = httpx.Timeout(self.retry.attempt_timeout_s, connect=self.retry.connect_timeout_s)
        return AsyncOpenAI(api_key=self._api_key or "not-needed", base_url=self._raw_base_url,
                           max_retries=max_retries, timeout=timeout)

    async def _run_all(self, requests: Sequence[GenerationRequest], out: queue.Queue,
                       stop: threading.Event) -> None:
        async with self.client() as client:
            if not self._checked:
                await self._preflight(client)
                self._checked = True
            limit = AdaptiveLimit(self.max_concurrency)

            async def one(i: int, request: GenerationRequest) -> None:
                if not stop.is_set():
                    out.put((i, await self._complete(client, limit, request)))

            tasks = [asyncio.create_task(one(i, r)) for i, r in enumerate(requests)]
            try:
                for finished in asyncio.as_completed(tasks):
                    await finished  # an EndpointError surfaces here and cancels the rest
                    if stop.is_set():
                        break
            finally:
                for t in tasks:
                    t.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
            self.facts["concurrency_lowest"] = min(limit.lowest,
                                                   self.facts.get("concurrency_lowest", limit.lowest))

    async def _preflight(self, client: Any) -> None:
        """Fail fast on a dead URL or a rejected key, before hundreds of requests retry."""
        import httpx
        import openai

        try:
            await client.models.list(timeout=httpx.Timeout(
                self.retry.preflight_timeout_s, connect=self.retry.connect_timeout_s))
        except openai.APITimeoutError as exc:
            raise EndpointError(
                f"cannot use {self.base_url}: GET /models {self.timeout_detail(exc, preflight=True)}"
                "; is it the right URL, and has the server finished starting? Check --base-url / "
                "OPENAI_BASE_URL") from None
        except openai.APIConnectionError as exc:
            raise EndpointError(f"cannot reach {self.base_url} ({type(exc).__name__}: "
                                f"{self.scrub(str(exc.__cause__ or exc))}); is the server "
                                "running? Check --base-url / OPENAI_BASE_URL") from None
        except openai.APIStatusError as exc:
            if exc.status_code in (401, 403):
                raise self._fatal(exc) from None
            # Some compatible servers do not implement /models; chat requests will tell.

    def timeout_detail(self, exc: Exception, preflight: bool = False) -> str:
        """Which timeout fired, its value, and the argument that changes it."""
        import httpx

        if isinstance(exc.__cause__, httpx.ConnectTimeout):
            return (f"timed out connecting (connect_timeout_s={self.retry.connect_timeout_s:g}; "
                    "--backend-arg openai.connect_timeout_s=S)")
        name = "preflight_timeout_s" if preflight else "attempt_timeout_s"
        value = self.retry.preflight_timeout_s if preflight else self.retry.attempt_timeout_s
        return (f"got no answer within {value:g} s: the connection was accepted, the reply never "
                f"came ({name}={value:g}; --backend-arg openai.{name}=S)")

    def _fatal(self, exc: Any) -> EndpointError:
        status = exc.status_code
        detail = self.scrub(str(getattr(exc, "message", exc)))
        if status == 401:
            hint = f"the API key was rejected by {self.base_url}: set OPENAI_API_KEY to a valid key"
        elif status == 403:
            hint = (f"{self.base_url} refused access to {self.model!r} for this key (403): check "
                    "the key's project, organization or model permissions")
        elif status == 404:
            hint = (f"{self.base_url} does not know model {self.model!r} (404): check the name "
                    "after openai/ and --base-url")
        else:
            hint = (f"{self.base_url}: quota exhausted for this key (429 insufficient_quota): add "
                    "credit or raise the limit; retrying will not help")
        return EndpointError(f"{hint} [{detail}]")

    def scrub(self, text: str) -> str:
        """The text with the API key masked: for every message that may reach a log."""
        return text.replace(self._api_key, "***") if self._api_key else text

    def constraint_modes(self, n_choices: int, pattern: str | None = None) -> tuple[str, ...]:
        """`labels` as a JSON-schema enum of the answer when JSON mode is on and the set is small
        enough, else as the answer space's `pattern` (the task's parser and scorers then judge
        the code); an endpoint without JSON mode steps down to free text (recorded)."""
        fits = n_choices <= MAX_ENUM or pattern is not None
        return ("labels",) if self.json_mode != "off" and fits else ()

    def _body(self, request: GenerationRequest, json_mode: str) -> dict[str, Any]:
        messages = [dict(m) for m in request.messages]
        max_tokens = request.max_new_tokens
        body: dict[str, Any] = {"model": self.model}
        if json_mode != "off":
            if messages and messages[0]["role"] == "system":
                messages[0]["content"] += "\n\n" + JSON_INSTRUCTION
            else:
                messages.insert(0, {"role": "system", "content": JSON_INSTRUCTION})
            # In "object" mode the schema rides along under llama.cpp's own `schema` key, which
            # its server turns into a grammar; servers that do not know the key ignore it.
            schema = ANSWER_SCHEMA["json_schema"]["schema"]
            c = request.constraint
            if c is not None:
                answer = ({"type": "string", "enum": list(c.choices)} if len(c.choices) <= MAX_ENUM
                          else {"type": "string", "pattern": c.pattern})
                schema = {**schema, "properties": {"answer": answer}}
            body["response_format"] = (
                {"type": "json_schema", "json_schema": {**ANSWER_SCHEMA["json_schema"],
                                                        "schema": schema}}
                if json_mode == "schema" else {"type": "json_object", "schema": schema})
        elif request.constraint is not None:
            self.facts["constraint"] = "not applied: the endpoint has no JSON mode"
            max_tokens += 16  # room for the braces and the key
        body["messages"] = messages
        # OpenAI's own endpoint wants max_completion_tokens (reasoning models reject max_tokens);
        # compatible servers mostly know only max_tokens.
        token_param = "max_completion_tokens" if self.base_url == OFFICIAL_ENDPOINT else "max_tokens"
        body[token_param] = max_tokens
        if self.temperature is not None:
            body["temperature"] = self.temperature
        if self.reasoning_effort is not None:
            body["reasoning_effort"] = self.reasoning_effort
        return body

    def _on_status(self, exc: Any, json_mode: str) -> tuple[str, str]:
        """What an HTTP error answer means: ("again", "") to resend at once (the JSON mode was
        stepped down), ("fail", why) for this sample, ("retry", why) after a wait; raises for a
        refusal no retry fixes (auth, unknown model, no quota)."""
        status = exc.status_code
        if status in (401, 403, 404) or exc.code == "insufficient_quota":
            raise self._fatal(exc) from None
        message = str(exc).lower()
        # Servers refuse an unknown response_format with 400, 422 or even a 500
        # (llama-cpp-python's validation error); none of that is worth retrying.
        if json_mode != "off" and ("response_format" in message or
                                   (status == 400 and "json" in message)):
            # The endpoint lacks this mode: step down for the rest of the run.
            self._json_mode = JSON_MODES[JSON_MODES.index(json_mode) + 1]
            self.facts["json_mode"] = (f"{json_mode} not supported by the endpoint; used "
                                       f"{self._json_mode}" + (" (plain text parsing)"
                                                               if self._json_mode == "off" else ""))
            return "again", ""
        if status == 400:
            return "fail", f"400 bad request: {self.scrub(str(exc))[:300]}"
        if status not in RETRYABLE_STATUS and status < 500:
            return "fail", f"HTTP {status}: {self.scrub(str(exc))[:300]}"
        return "retry", f"HTTP {status}"

    async def _complete(self, client: Any, limit: AdaptiveLimit,
                        request: GenerationRequest) -> Generation:
        import openai

        began = time.monotonic()
        retries, last_error = 0, ""
        for attempt in range(self.retry.max_attempts):
            json_mode = self._json_mode
            retry_after: float | None = None
            rate_limited = False
            await limit.acquire()
            sharing = limit.in_flight
            sent = time.monotonic()
            ok = False
            try:
                response = await client.chat.completions.create(**self._body(request, json_mode))
                gen = self._generation(response, json_mode)
                ok = True
            except openai.APIStatusError as exc:
                action, text = self._on_status(exc, json_mode)
                if action == "again":
                    continue
                if action == "fail":
                    return Generation(error=text, latency_s=time.monotonic() - began,
                                      retries=retries)
                rate_limited = exc.status_code == 429
                retry_after = retry_after_seconds(exc.response.headers)
                last_error = text
            except openai.APITimeoutError as exc:
                if not self._answered:  # the endpoint has answered nothing in this run
                    raise EndpointError(
                        f"the first chat request to {self.base_url} "
                        f"{self.timeout_detail(exc)}; if the model is slow to answer, raise the "
                        "timeout, else check that the server is not stuck") from None
                last_error = self.timeout_detail(exc)
            except openai.APIConnectionError as exc:
                last_error = f"{type(exc).__name__} ({self.scrub(str(exc.__cause__ or exc))})"
            except (openai.APIResponseValidationError, json.JSONDecodeError, ValueError,
                    KeyError, TypeError, AttributeError) as exc:
                last_error = f"malformed response ({type(exc).__name__})"
            finally:
                await limit.release(rate_limited, ok)
            if ok:
                self._answered = True
                gen.latency_s = time.monotonic() - began
                gen.compute_s = (time.monotonic() - sent) / max(sharing, 1)
                gen.retries = retries
                return gen
            wait = self.retry.delay(attempt, retry_after)
            if attempt + 1 >= self.retry.max_attempts or \
                    time.monotonic() - began + wait > self.retry.total_budget_s:
                break
            retries += 1
            await asyncio.sleep(wait)
        return Generation(error=f"gave up after {retries + 1} attempts "
                                f"({time.monotonic() - began:.1f} s): last error {last_error}",
                          latency_s=time.monotonic() - began, retries=retries)

    def _generation(self, response: Any, json_mode: str) -> Generation:
        choice = response.choices[0]
        text = choice.message.content or ""
        meta: dict[str, Any] = {}
        if response.system_fingerprint:
            meta["system_fingerprint"] = response.system_fingerprint
        if json_mode != "off":
            answer, complete = parse_json_reply(text)
            if not complete:
                meta["json_parse_failed"] = True  # parse the raw (or the cut-off) text instead
            if answer is not None:
                text = answer
        usage = response.usage
        cached = 0
        if usage is not None and getattr(usage, "prompt_tokens_details", None) is not None:
            cached = usage.prompt_tokens_details.cached_tokens or 0
        return Generation(text=text.strip(), input_tokens=usage.prompt_tokens if usage else 0,
                          output_tokens=usage.completion_tokens if usage else 0,
                          cached_input_tokens=cached, meta=meta)


_TRUNCATED_ANSWER = re.compile(r'^\s*\{\s*"answer"\s*:\s*"((?:[^"\\]|\\.)*)')


def parse_json_reply(text: str) -> tuple[str | None, bool]:
    """(answer, complete) of a reply asked for as `{"answer": ...}`.

    complete is True only for a whole JSON object with an `answer`. A reply cut off by the token
    limit (`{"answer": "a long rambl`) still yields what it has: it counts as a parse failure,
    and the task's parser decides whether the text is a valid answer.
    """
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, TypeError):
        cut = _TRUNCATED_ANSWER.match(text or "")
        return (None if cut is None else cut.group(1).replace('\\"', '"')), False
    if isinstance(data, dict) and isinstance(data.get("answer"), str | int | float):
        return str(data["answer"]), True
    return None, False


def openai_backend(name: str, base_url: str | None = None, max_concurrency: int = 8,
                   json_mode: str = "schema", temperature: float | None = 0.0,
                   attempt_timeout_s: float = 60.0, connect_timeout_s: float = 10.0,
                   preflight_timeout_s: float = 10.0, total_budget_s: float = 600.0, max_attempts: int = 8,
                   backoff_base_s: float = 0.5, usd_per_hour: float | None = None,
                   reasoning_effort: str | None = None) -> OpenAIBackend:
    """Any OpenAI-compatible endpoint (openai/<model>); key from OPENAI_API_KEY only."""
    base_url = base_url or os.environ.get("OPENAI_BASE_URL")
    api_key = os.environ.get("OPENAI_API_KEY") or None
    if not base_url and not api_key:
        raise UsageError("openai/ needs an endpoint: set OPENAI_API_KEY (for api.openai.com) or "
                         "OPENAI_BASE_URL / --base-url (for a compatible server such as vLLM, "
                         "llama.cpp or Ollama)")
    if json_mode not in JSON_MODES:
        raise UsageError(f"json_mode must be one of {', '.join(JSON_MODES)}, got {json_mode!r}")
    if max_concurrency < 1:
        raise UsageError(f"max_concurrency must be >= 1, got {max_concurrency}")
    if max_attempts < 1:
        raise UsageError(f"max_attempts must be >= 1, got {max_attempts}")
    policy = RetryPolicy(max_attempts=max_attempts, attempt_timeout_s=attempt_timeout_s,
                         connect_timeout_s=connect_timeout_s,
                         preflight_timeout_s=preflight_timeout_s, total_budget_s=total_budget_s,
                         backoff_base_s=backoff_base_s)
    return OpenAIBackend(name, base_url or OFFICIAL_ENDPOINT, api_key, max_concurrency, policy,
                         json_mode, temperature, usd_per_hour, reasoning_effort)
