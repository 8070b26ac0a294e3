"""A loopback server for OpenAI's files and fine-tuning jobs protocol, and chat for its models.

`FaultServer` (tests/fault_server.py) serves `/v1/models` and `/v1/chat/completions`; this adds
what the `hosted_ft` strategy needs, over real sockets for the real `openai` client:

- `POST /v1/files`: a multipart upload (`file`, `purpose`); the bytes are kept.
- `POST /v1/fine_tuning/jobs`: a job for an uploaded file with purpose `fine-tune`.
- `GET /v1/fine_tuning/jobs/{id}`: each retrieval moves the job one step along `statuses`
  (validating_files -> queued -> running -> succeeded by default) and logs an event.
- `GET /v1/fine_tuning/jobs/{id}/events?limit=N`: the job's events, newest first.

A job that succeeds gets a model `ft:<base>:rvf-test::<job id>` and `trained_tokens` (epochs x
whitespace words of its file, a stand-in tokenizer). That model answers every chat request with
the most common assistant answer of its training file: a majority-class model, so its score is
predictable and differs from the base model's. With `fail_with` (an error object), the job ends
"failed" with it instead.
"""

from __future__ import annotations

import io
import json
import threading
import time
from collections import Counter
from email import policy
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.fault_server import FaultServer

SUCCESS = ("validating_files", "queued", "running", "running", "succeeded")
DEFAULT_EPOCHS = 3


def multipart_fields(content_type: str, raw: bytes) -> dict[str, tuple[str | None, bytes]]:
    """name -> (filename, bytes) of a multipart/form-data body."""
    message = BytesParser(policy=policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + raw)
    return {part.get_param("name", header="content-disposition"):
            (part.get_filename(), part.get_payload(decode=True)) for part in message.iter_parts()}


def file_words(content: bytes) -> int:
    return sum(len(m["content"].split()) + 4 for line in content.decode().splitlines()
               for m in json.loads(line)["messages"])


def majority_answer(content: bytes) -> str:
    answers = Counter(m["content"] for line in content.decode().splitlines()
                      for m in json.loads(line)["messages"] if m["role"] == "assistant")
    return answers.most_common(1)[0][0]


class FtServer(FaultServer):
    """`with FtServer() as server:`; `server.url` is the base URL; see the module docstring."""

    def __init__(self, statuses: tuple[str, ...] = SUCCESS,
                 fail_with: dict[str, Any] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.statuses, self.fail_with = statuses, fail_with
        self.files: dict[str, dict[str, Any]] = {}
        self.jobs: dict[str, dict[str, Any]] = {}
        self.job_requests: list[dict[str, Any]] = []  # bodies of POST /fine_tuning/jobs
        self.retrievals: Counter[str] = Counter()
        self.event_lists: Counter[str] = Counter()
        self.ft_chat_bodies: list[dict[str, Any]] = []
        self._events: dict[str, list[dict[str, Any]]] = {}
        self._ft_lock = threading.Lock()

    # -- the protocol's state changes (under the lock) -----------------------------------------
    def upload(self, fields: dict[str, tuple[str | None, bytes]]) -> dict[str, Any]:
        name, content = fields["file"]
        file = {"id": f"file-{len(self.files) + 1}", "object": "file", "bytes": len(content),
                "created_at": int(time.time()), "filename": name,
                "purpose": fields["purpose"][1].decode(), "status": "processed"}
        self.files[file["id"]] = {**file, "content": content}
        return file

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        hyper = ((body.get("method") or {}).get("supervised") or {}).get("hyperparameters") or {}
        job_id = f"ftjob-{len(self.jobs) + 1}"
        self.jobs[job_id] = {
            "id": job_id, "object": "fine_tuning.job", "model": body["model"],
            "created_at": int(time.time()), "finished_at": None, "fine_tuned_model": None,
            "organization_id": "org-test", "result_files": [], "status": self.statuses[0],
            "validation_file": None, "training_file": body["training_file"],
            "hyperparameters": {"n_epochs": hyper.get("n_epochs", DEFAULT_EPOCHS),
                                "batch_size": hyper.get("batch_size", 4),
                                "learning_rate_multiplier": hyper.get("learning_rate_multiplier",
                                                                      1.0)},
            "trained_tokens": None, "error": None, "seed": body.get("seed"),
            "method": body.get("method"), "_step": 0}
        self._events[job_id] = []
        self.event(job_id, f"Created fine-tuning job: {job_id}")
        return self.public(self.jobs[job_id])

    def advance(self, job_id: str) -> dict[str, Any]:
        job = self.jobs[job_id]
        if job["status"] in ("succeeded", "failed", "cancelled"):
            return self.public(job)
        job["_step"] += 1
        status = self.statuses[min(job["_step"], len(self.statuses) - 1)]
        if status == "succeeded" and self.fail_with is not None:
            status = "failed"
        if status == "running":
            self.event(job_id, f"Step {job['_step']}/{len(self.statuses)}: training loss=0.5")
        if status != job["status"]:
            job["status"] = status
            self.event(job_id, f"Job {status}")
        if status == "failed":
            job["error"], job["finished_at"] = self.fail_with, int(time.time())
        if status == "succeeded":
            content = self.files[job["training_file"]]["content"]
            job["fine_tuned_model"] = f"ft:{job['model']}:rvf-test::{job_id}"
            job["trained_tokens"] = job["hyperparameters"]["n_epochs"] * file_words(content)
            job["finished_at"] = int(time.time())
        return self.public(job)

    def event(self, job_id: str, message: str) -> None:
        events = self._events[job_id]
        events.append({"id": f"ftevent-{job_id}-{len(events) + 1}",
                       "object": "fine_tuning.job.event", "created_at": int(time.time()),
                       "level": "info", "message": message, "type": "message", "data": {}})

    def finished_models(self) -> dict[str, str]:
        """Fine-tuned model id -> the training file it learned."""
        return {job["fine_tuned_model"]: job["training_file"] for job in self.jobs.values()
                if job["fine_tuned_model"]}

    @staticmethod
    def public(job: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in job.items() if not k.startswith("_")}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        base = super()._handler()
        server = self

        class Handler(base):  # type: ignore[valid-type, misc]
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                url = urlsplit(self.path)
                parts = url.path.rstrip("/").split("/")  # '', v1, fine_tuning, jobs, id[, events]
                if parts[2:4] != ["fine_tuning", "jobs"] or len(parts) < 5:
                    super().do_GET()
                    return
                if not self._authorized():
                    return
                job_id = parts[4]
                with server._ft_lock:
                    if job_id not in server.jobs:
                        self._error(404, f"No such fine-tuning job: {job_id}", "not_found")
                        return
                    if parts[5:] == ["events"]:
                        server.event_lists[job_id] += 1
                        limit = int(parse_qs(url.query).get("limit", ["20"])[0])
                        newest = server._events[job_id][::-1][:limit]
                        payload: dict[str, Any] = {"object": "list", "data": newest,
                                                   "has_more": len(server._events[job_id]) > limit}
                    else:
                        server.retrievals[job_id] += 1
                        payload = server.advance(job_id)
                self._send(200, payload)

            def do_POST(self) -> None:  # noqa: N802
                path = urlsplit(self.path).path.rstrip("/")
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if path.endswith("/files"):
                    if self._authorized():
                        fields = multipart_fields(self.headers["Content-Type"], raw)
                        with server._ft_lock:
                            self._send(200, server.upload(fields))
                elif path.endswith("/fine_tuning/jobs"):
                    if self._authorized():
                        self._create(json.loads(raw))
                elif (body := json.loads(raw or b"{}")).get("model") in server.finished_models():
                    if self._authorized():
                        self._answer(body)
                else:  # the base server's chat: give it the body back to read
                    self.rfile = io.BytesIO(raw)
                    super().do_POST()

            def _create(self, body: dict[str, Any]) -> None:
                with server._ft_lock:
                    server.job_requests.append(body)
                    file = server.files.get(body.get("training_file"))
                    if file is None or file["purpose"] != "fine-tune":
                        self._error(400, f"invalid training_file: {body.get('training_file')}",
                                    "invalid_request_error")
                        return
                    self._send(200, server.create(body))

            def _answer(self, body: dict[str, Any]) -> None:
                with server._ft_lock:
                    server.ft_chat_bodies.append(body)
                    content = server.files[server.finished_models()[body["model"]]]["content"]
                answer = majority_answer(content)
                text = json.dumps({"answer": answer}) if "response_format" in body else answer
                words = sum(len(m["content"].split()) for m in body["messages"])
                self._send(200, {
                    "id": "chatcmpl-ft", "object": "chat.completion", "created": int(time.time()),
                    "model": body["model"], "system_fingerprint": "fp_ft_server",
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": text}}],
                    "usage": {"prompt_tokens": words, "completion_tokens": 2,
                              "total_tokens": words + 2}})

        return Handler
