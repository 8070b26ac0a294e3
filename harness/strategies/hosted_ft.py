"""Strategy `hosted_ft`: fine-tune a hosted model through a fine-tuning API, then answer zero-shot.

It speaks OpenAI's protocol (files API + fine-tuning jobs) through the official `openai` client, at
the endpoint and with the key of the cell's `openai/` backend:

1. Export the train split as chat fine-tuning JSONL (`harness/hosted_ft_data.py`: the same
   conversations as the `lora` strategy) under `<results>/hosted_ft/`, validate it, count its
   tokens and estimate the training cost; `<name>.validation.json` beside it holds the figures.
   With `dry_run=true` it stops here: it prints the estimate and writes no cell record (nothing was
   evaluated), and needs no endpoint, key or network.
2. Upload the file (purpose `fine-tune`), create a job for the base model (`base_model=`, else the
   `--model openai/<name>`) with the hyper-parameters that were set (unset ones stay "auto"), and
   poll it with exponential backoff, showing its status and latest event.
3. On success, evaluate the fine-tuned model id through the same openai backend (same endpoint,
   key, retries), with exactly the training turns and JSON mode off: the model learned to reply
   with the bare answer to those turns. A failed or cancelled job raises the API's error.

Jobs are remembered in `<cache root>/hosted_ft/jobs/<key>.json`, keyed by the endpoint, the
training file's sha256, the base model, the hyper-parameters, the suffix and the seed (sent as the
job's seed). A re-run with the same key reuses the finished job's model instead of paying for
training again, and resumes polling a job that an interrupted run left running. A failed job stays there, with
the API's error, but is not reused: the next run starts a new job in its place.

The training cost is the job's trained tokens x the price table's training price for the base
model (a dated snapshot such as gpt-4.1-mini-2025-04-14 is priced by its alias's row), or
`training_usd_per_1m`; "unknown" when neither has one. The API key never reaches a file, record,
log line or key: the job registry and the records hold the endpoint without credentials.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filelock import FileLock

from harness.backends.openai_compat import OpenAIBackend
from harness.cache import canonical_json
from harness.errors import CellSkipped, FineTuneFailed, FineTuneTimeout, UsageError
from harness.hosted_ft_data import Validation, auto_epochs, token_counter, validate_file, write_export
from harness.paths import cache_root
from harness.pricing import OFFICIAL_ENDPOINT, PriceTable
from harness.records import atomic_write
from harness.strategies.lora import finetuned_requests, select_train, train_size_notes
from harness.types import (
    Backend,
    GenerationRequest,
    ModelRole,
    PrepareContext,
    Prepared,
    Sample,
    Task,
    TrainingInfo,
)

# Estimates for a dry run without an openai/ model or base_model: a cheap model that the
# fine-tuning API accepts and the price table has a training price for.
DEFAULT_BASE_MODEL = "gpt-4.1-mini-2025-04-14"
JOB_FORMAT = 1  # bump when what a job is trained on changes meaning: old jobs stop matching
POLL_MAX_S = 60.0  # backoff cap between polls
CLIENT_RETRIES = 3  # the SDK's own retries for the few job-management calls
EVENTS_PER_POLL = 10
EVENTS_KEPT = 50  # newest job events kept in the job registry and the record
FAILED = ("failed", "cancelled")


def now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def training_price(base: str, endpoint: str, override: float | None) -> tuple[float | None, str]:
    """USD per 1M trained tokens and where it comes from; None with the reason when unknown."""
    if override is not None:
        return override, f"${override:g} per 1M trained tokens (strategy argument training_usd_per_1m)"
    prices = PriceTable.load()
    row = prices.lookup(base, endpoint)
    if row is None:
        return None, (f"unknown: no price row for {base!r} at {endpoint} "
                      "(set the strategy argument training_usd_per_1m)")
    if row.training_per_1m is None:
        return None, (f"unknown: the price table has no training price for {row.model} "
                      "(set the strategy argument training_usd_per_1m)")
    return row.training_per_1m, (f"${row.training_per_1m:g} per 1M trained tokens for "
                                 f"{row.model} ({row.source}, as of {row.as_of})")


def estimate(validation: Validation, n_epochs: int | None, price: float | None,
             basis: str) -> dict[str, Any]:
    """Expected trained tokens (tokens per epoch x epochs) and training cost, before training."""
    epochs = n_epochs or auto_epochs(validation.examples)
    trained = validation.tokens * epochs
    return {"n_epochs": epochs,
            "n_epochs_basis": "set" if n_epochs else "auto: OpenAI's rule for this many examples",
            "estimated_trained_tokens": trained,
            "estimated_training_cost_usd": None if price is None else round(trained * price / 1e6, 6),
            "training_cost_basis": basis}


def dry_run_report(task: Task, base: str, validation: Validation, est: dict[str, Any],
                   report: Path) -> str:
    """What a dry run prints: the file, its tokens, the trained tokens and the cost estimate."""
    approx = "" if validation.model_tokenizer else "~"
    usd = est["estimated_training_cost_usd"]
    cost = "unknown" if usd is None else f"~${usd:,.2f}"
    return (f"hosted_ft dry run, {task.name}: {validation.examples:,} examples, valid, in "
            f"{validation.file}\n"
            f"  tokens: {approx}{validation.tokens:,} per epoch ({approx}{validation.tokens_mean:g} "
            f"mean, {approx}{validation.tokens_max:,} max per example), counted with "
            f"{validation.tokenizer}\n"
            f"  training {base}: {est['n_epochs']} epochs ({est['n_epochs_basis']}) = "
            f"{approx}{est['estimated_trained_tokens']:,} trained tokens\n"
            f"  estimated training cost: {cost} ({est['training_cost_basis']})\n"
            f"  figures: {report}; no job created, no cell record written (dry_run=true)")


# -- the job registry ---------------------------------------------------------------------------

def jobs_dir() -> Path:
    return cache_root() / "hosted_ft" / "jobs"


def job_key(request: dict[str, Any]) -> str:
    """Everything that makes the trained model: endpoint, file hash, base, hyper-parameters,
    suffix, seed. Not in it: poll settings and prices (they change no weight)."""
    return hashlib.sha256(canonical_json({"format": JOB_FORMAT, **request}).encode()
                          ).hexdigest()[:24]


def read_job(key: str) -> dict[str, Any] | None:
    path = jobs_dir() / f"{key}.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def save_job(key: str, job: dict[str, Any]) -> None:
    atomic_write(jobs_dir() / f"{key}.json", json.dumps(job, indent=2) + "\n")


# -- the job flow -------------------------------------------------------------------------------

def failure_message(job: dict[str, Any]) -> str:
    error = job.get("error") or {}
    detail = (f"{error.get('message') or 'no error message'} (code {error.get('code')}"
              + (f", param {error['param']}" if error.get("param") else "") + ")")
    history = " -> ".join(h["status"] for h in job["status_history"])
    return (f"hosted_ft: fine-tuning job {job['job_id']} of {job['model']} {job['status']}: "
            f"{detail}; statuses {history}. A re-run starts a new job")


def observe(job: dict[str, Any], api_job: Any, events: Sequence[Any]) -> bool:
    """Fold one poll into the registry entry; True when something changed."""
    before = canonical_json(job)
    if api_job.status != job["status"]:
        job["status"] = api_job.status
        job["status_history"].append({"status": api_job.status, "at": now()})
    error = getattr(api_job, "error", None)
    job.update(fine_tuned_model=api_job.fine_tuned_model, trained_tokens=api_job.trained_tokens,
               created_at=api_job.created_at, finished_at=api_job.finished_at,
               error=error.model_dump() if error is not None and error.message else None)
    if getattr(api_job, "hyperparameters", None) is not None:
        job["api_hyperparameters"] = api_job.hyperparameters.model_dump(exclude_none=True)
    seen = {e["id"] for e in job["events"]}
    new = [{"id": e.id, "at": e.created_at, "level": e.level, "message": e.message}
           for e in reversed(events) if e.id not in seen]  # the API lists newest first
    job["events"] = (job["events"] + new)[-EVENTS_KEPT:]
    return canonical_json(job) != before


async def create_job(client: Any, path: Path, request: dict[str, Any]) -> dict[str, Any]:
    """Upload the training file and create the job; the new registry entry."""
    uploaded = await client.files.create(file=(path.name, path.read_bytes(), "application/jsonl"),
                                         purpose="fine-tune")
    kwargs: dict[str, Any] = {"model": request["model"], "training_file": uploaded.id,
                              "seed": request["seed"]}
    if request["suffix"]:
        kwargs["suffix"] = request["suffix"]
    if request["hyperparameters"]:
        kwargs["method"] = {"type": "supervised",
                            "supervised": {"hyperparameters": request["hyperparameters"]}}
    api_job = await client.fine_tuning.jobs.create(**kwargs)
    return {**request, "job_id": api_job.id, "training_file_id": uploaded.id,
            "status": api_job.status, "status_history": [{"status": api_job.status, "at": now()}],
            "events": [], "fine_tuned_model": None, "trained_tokens": None, "error": None}


async def poll(client: Any, key: str, job: dict[str, Any], interval_s: float,
               timeout_s: float) -> dict[str, Any]:
    """Poll until the job ends: exponential backoff from `interval_s`, capped at POLL_MAX_S."""
    from rich.progress import TextColumn

    from harness.progress import progress_bar

    began, delay = time.monotonic(), interval_s
    with progress_bar(f"hosted_ft {job['job_id']}", None,
                      TextColumn("{task.fields[status]}  {task.fields[event]}"),
                      status=job["status"], event="") as update:
        while True:
            api_job = await client.fine_tuning.jobs.retrieve(job["job_id"])
            page = await client.fine_tuning.jobs.list_events(job["job_id"], limit=EVENTS_PER_POLL)
            if observe(job, api_job, page.data):
                save_job(key, job)
            latest = job["events"][-1]["message"] if job["events"] else ""
            update(status=job["status"], event=latest[:80])
            if job["status"] == "succeeded":
                if not job["fine_tuned_model"]:
                    raise FineTuneFailed(f"hosted_ft: job {job['job_id']} succeeded without a "
                                         "fine_tuned_model id")
                return job
            if job["status"] in FAILED:
                raise FineTuneFailed(failure_message(job))
            waited = time.monotonic() - began
            if waited >= timeout_s:
                raise FineTuneTimeout(
                    f"hosted_ft: job {job['job_id']} is still {job['status']} after {waited:.0f} s "
                    f"(poll_timeout_s={timeout_s:g}); it keeps running at the API, and the same "
                    "command resumes polling it")
            await asyncio.sleep(min(delay, timeout_s - waited))
            delay = min(delay * 2, POLL_MAX_S)


async def run_job(backend: OpenAIBackend, path: Path, key: str, request: dict[str, Any],
                  previous: dict[str, Any] | None, interval_s: float,
                  timeout_s: float) -> dict[str, Any]:
    """Create a job (or resume polling an unfinished one) and wait for it; API errors become
    rvf errors with the key scrubbed: a refused request is bad usage, a server error fails."""
    import openai

    try:
        async with backend.client(max_retries=CLIENT_RETRIES) as client:
            job = previous
            if job is None or job["status"] in FAILED:
                job = await create_job(client, path, request)
                save_job(key, job)
            return await poll(client, key, job, interval_s, timeout_s)
    except openai.APIStatusError as exc:
        message = (f"hosted_ft: {backend.base_url} answered {exc.status_code}: "
                   f"{backend.scrub(str(exc))[:500]}")
        raise (UsageError if exc.status_code < 500 else FineTuneFailed)(message) from None
    except (openai.APIConnectionError, openai.APITimeoutError) as exc:
        raise UsageError(f"hosted_ft: cannot reach {backend.base_url} ({type(exc).__name__}); "
                         "check --base-url / OPENAI_BASE_URL") from None


@dataclass
class HostedFTStrategy:
    """The `hosted_ft` strategy; see the module docstring."""

    base_model: str | None
    hyperparameters: dict[str, Any]  # only the ones set: the API picks the rest ("auto")
    suffix: str | None
    train_size: int | None
    dry_run: bool
    poll_interval_s: float
    poll_timeout_s: float
    training_usd_per_1m: float | None
    name: str = "hosted_ft"
    model_role: ModelRole = ModelRole.MODEL
    own_model: str | None = None

    def base_for(self, backend: Backend) -> str:
        """base_model=, else the openai/ model, else (a dry run only) DEFAULT_BASE_MODEL."""
        if self.base_model:
            return self.base_model
        return backend.model if isinstance(backend, OpenAIBackend) else DEFAULT_BASE_MODEL

    def prepare(self, task: Task, backend: Backend, ctx: PrepareContext) -> Prepared:
        seed = ctx.seed
        hosted = isinstance(backend, OpenAIBackend)
        if not hosted and not self.dry_run:
            raise UsageError(f"hosted_ft: trains and evaluates through an openai/ model's "
                             f"endpoint; got {backend.spec!r} (dry_run=true needs none)")
        base = self.base_for(backend)
        endpoint = backend.base_url if hosted else OFFICIAL_ENDPOINT
        samples = select_train(task, self.train_size, seed, self.name)
        # The training file is for the user to inspect: beside the records when there are any.
        folder = ctx.results_dir / "hosted_ft" if ctx.results_dir else ctx.cache("hosted_ft")
        path, sha = write_export(folder, task, samples)
        validation = validate_file(path, token_counter(base))
        price, basis = training_price(base, endpoint, self.training_usd_per_1m)
        est = estimate(validation, self.hyperparameters.get("n_epochs"), price, basis)
        report = path.with_suffix(".validation.json")
        atomic_write(report, json.dumps({"base_model": base, **validation.facts(), **est},
                                        indent=2) + "\n")
        if self.dry_run:
            label = base if hosted or self.base_model else f"{base} (default; set base_model=)"
            raise CellSkipped(dry_run_report(task, label, validation, est, report))

        request = {"endpoint": endpoint, "model": base, "training_file_sha256": sha,
                   "hyperparameters": self.hyperparameters, "suffix": self.suffix, "seed": seed}
        key = job_key(request)
        jobs_dir().mkdir(parents=True, exist_ok=True)
        # One job per key even when two runs start together: the second waits, then reuses it.
        with FileLock(str(jobs_dir() / f"{key}.lock")):
            job = read_job(key)
            cache_hit = job is not None and job["status"] == "succeeded"
            if not cache_hit:
                job = asyncio.run(run_job(backend, path, key, request, job,
                                          self.poll_interval_s, self.poll_timeout_s))
        trained = job["trained_tokens"]
        training = TrainingInfo(
            kind="hosted fine-tune", artifact=f"-> {job['fine_tuned_model']}", **{
            "base_model": base, "endpoint": endpoint, "job_id": job["job_id"], "job_key": key,
            "cache_hit": cache_hit, "status": job["status"],
            "status_history": job["status_history"], "events": job["events"][-EVENTS_PER_POLL:],
            "fine_tuned_model": job["fine_tuned_model"], "trained_tokens": trained,
            "training_file": str(path), "training_file_sha256": sha,
            "training_file_id": job["training_file_id"], "train_examples": validation.examples,
            "train_size_requested": self.train_size, "hyperparameters": self.hyperparameters,
            "api_hyperparameters": job.get("api_hyperparameters"), "suffix": self.suffix,
            "validation": validation.facts(), "estimate": est,
            # from the API's timestamps: queueing included, as the user waits for it
            "wall_seconds": (job["finished_at"] - job["created_at"]
                             if job.get("finished_at") and job.get("created_at") else None),
            "training_usd_per_1m": price, "training_cost_basis": basis,
            "training_cost_usd": (None if price is None or trained is None
                                  else round(trained * price / 1e6, 6)),
        })
        # JSON mode off: the model learned to answer these turns with the bare answer, and a
        # JSON instruction would ask it something it was not trained on.
        return Prepared(backend.serving(job["fine_tuned_model"], json_mode="off"),
                        training=training, labelled_examples=training.train_examples)

    def requests(self, task: Task, samples: Sequence[Sample]
                 ) -> list[tuple[GenerationRequest, dict[str, Any]]]:
        return finetuned_requests(task, samples)

    def plan_notes(self, task: Task) -> list[str]:
        return train_size_notes(task, self.train_size)


def hosted_ft(base_model: str | None = None, n_epochs: int | None = None,
              batch_size: int | None = None, learning_rate_multiplier: float | None = None,
              suffix: str | None = None, train_size: int | None = None, dry_run: bool = False,
              poll_interval_s: float = 5.0, poll_timeout_s: float = 6 * 3600,
              training_usd_per_1m: float | None = None) -> HostedFTStrategy:
    """Fine-tune through a hosted fine-tuning API (OpenAI files + jobs), then answer zero-shot.

    base_model: the model to fine-tune (default: the --model openai/<name>; for a dry run without
    one, gpt-4.1-mini-2025-04-14). n_epochs, batch_size, learning_rate_multiplier: sent to the API
    when set, else it picks ("auto"). suffix: part of the fine-tuned model's name. train_size: a
    seeded random subset of train (None = all). dry_run: export, validate and estimate only.
    poll_interval_s: first wait between polls (doubles up to 60 s); poll_timeout_s: give up
    waiting (the job goes on; a re-run resumes it). training_usd_per_1m: price per 1M trained
    tokens when the price table has none for the base model.
    """
    checks = [(n_epochs is None or n_epochs >= 1, f"n_epochs must be >= 1, got {n_epochs}"),
              (batch_size is None or batch_size >= 1, f"batch_size must be >= 1, got {batch_size}"),
              (learning_rate_multiplier is None or learning_rate_multiplier > 0,
               f"learning_rate_multiplier must be > 0, got {learning_rate_multiplier}"),
              (train_size is None or train_size >= 10,
               f"train_size must be >= 10 (the API's minimum) or all, got {train_size}"),
              (poll_interval_s > 0, f"poll_interval_s must be > 0, got {poll_interval_s}"),
              (poll_timeout_s > 0, f"poll_timeout_s must be > 0, got {poll_timeout_s}"),
              (training_usd_per_1m is None or training_usd_per_1m >= 0,
               "training_usd_per_1m must be >= 0")]
    for ok, message in checks:
        if not ok:
            raise UsageError(f"hosted_ft: {message}")
    hyperparameters = {k: v for k, v in (("n_epochs", n_epochs), ("batch_size", batch_size),
                                         ("learning_rate_multiplier", learning_rate_multiplier))
                       if v is not None}
    return HostedFTStrategy(base_model=base_model, hyperparameters=hyperparameters,
                            suffix=suffix or None, train_size=train_size, dry_run=dry_run,
                            poll_interval_s=poll_interval_s, poll_timeout_s=poll_timeout_s,
                            training_usd_per_1m=training_usd_per_1m)
