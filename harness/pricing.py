"""What a query costs, so that API rows and self-hosted rows meet on one $/1k-queries axis.

Two bases, and the record says which one it used:
- **tokens x price table** for hosted models: `harness/data/prices.json` (a versioned data file,
  one row per model id with its source and as-of date, valid for the endpoint it names) plus an
  optional user file (`--prices`). A model without a row has an *unknown* cost, never a guess.
- **hardware $/core-hour x CPU seconds** for models rvf runs itself (hf/, local/, gguf/): each
  generation carries its share of process CPU time (a batch's split over its rows, the shared
  prompt prefix's over every request), which the request cache keeps, so a cell answered from
  the cache costs what it cost to compute (harness/compute.py says why CPU, not wall, time);
- **$/hour x wall seconds** for a self-hosted endpoint given `usd_per_hour` (its machine is not
  this one: rvf sees only how long each request took).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from harness.compute import HardwareRate
from harness.errors import DataError, UsageError

# About an AWS m7i.large (2 vCPU, 8 GiB) on demand in us-east-1, $0.1008/h (2025): the machine
# class rvf's figures are measured on. Override with --hardware-usd-per-hour or
# RVF_HARDWARE_USD_PER_HOUR; it prices inference, training and index builds alike.
DEFAULT_HARDWARE_USD_PER_HOUR = 0.10
OFFICIAL_ENDPOINT = "https://api.openai.com/v1"
SNAPSHOT = re.compile(r"-\d{4}-\d{2}-\d{2}$")  # a dated model snapshot's suffix


@dataclass(frozen=True)
class TokenPrice:
    """USD per 1M tokens for one model id, and where the figure comes from."""

    model: str
    input_per_1m: float
    cached_input_per_1m: float
    output_per_1m: float
    source: str
    as_of: str
    endpoint: str | None = None  # None: any endpoint (user rows)
    training_per_1m: float | None = None

    def cost(self, input_tokens: int, cached_input_tokens: int, output_tokens: int) -> float:
        uncached = max(input_tokens - cached_input_tokens, 0)
        return (uncached * self.input_per_1m + cached_input_tokens * self.cached_input_per_1m
                + output_tokens * self.output_per_1m) / 1e6


def normalize_endpoint(url: str) -> str:
    return url.rstrip("/")


class PriceTable:
    """Shipped rows, overridden by user rows (a user row for a model wins at every endpoint)."""

    def __init__(self, rows: Sequence[TokenPrice]) -> None:
        self.rows = list(rows)

    @classmethod
    def load(cls, user_file: Path | None = None) -> PriceTable:
        shipped = resources.files("harness").joinpath("data/prices.json").read_text("utf-8")
        rows = _parse_rows(json.loads(shipped), "harness/data/prices.json")
        if user_file is not None:
            try:
                data = json.loads(Path(user_file).read_text("utf-8"))
            except (OSError, json.JSONDecodeError) as exc:
                raise DataError(f"{user_file}: cannot read price file ({exc})") from None
            rows = _parse_rows(data, str(user_file), user=True) + rows  # first match wins
        return cls(rows)

    def lookup(self, model: str, endpoint: str) -> TokenPrice | None:
        """The row for `model` at `endpoint`; a dated snapshot (gpt-4.1-mini-2025-04-14) without a
        row of its own is priced by its alias's row, as OpenAI prices them, and a fine-tuned model
        (ft:gpt-4.1-mini-2025-04-14:org:suffix:id) by its base's `ft:` row."""
        endpoint = normalize_endpoint(endpoint)
        names = [model, SNAPSHOT.sub("", model)]
        if model.startswith("ft:"):
            base = model[3:].split(":", 1)[0]
            names += [f"ft:{base}", f"ft:{SNAPSHOT.sub('', base)}"]
        for name in dict.fromkeys(names):
            for row in self.rows:
                if row.model == name and (row.endpoint is None or
                                          normalize_endpoint(row.endpoint) == endpoint):
                    return row
        return None


def _parse_rows(data: Any, where: str, user: bool = False) -> list[TokenPrice]:
    if not isinstance(data, dict) or not isinstance(data.get("models"), list):
        raise DataError(f"{where}: expected an object with a 'models' list")
    rows = []
    for i, row in enumerate(data["models"]):
        what = f"{where}: models[{i}]"
        if not isinstance(row, dict):
            raise DataError(f"{what}: expected an object")
        for key in ("model", "input_per_1m", "output_per_1m"):
            if key not in row:
                raise DataError(f"{what}: missing field {key!r}")
        try:
            rows.append(TokenPrice(
                model=str(row["model"]), input_per_1m=float(row["input_per_1m"]),
                cached_input_per_1m=float(row.get("cached_input_per_1m", row["input_per_1m"])),
                output_per_1m=float(row["output_per_1m"]),
                source=str(row.get("source", "user price file" if user else "")),
                as_of=str(row.get("as_of", "")), endpoint=row.get("endpoint"),
                training_per_1m=(float(row["training_per_1m"])
                                 if row.get("training_per_1m") is not None else None)))
        except (TypeError, ValueError) as exc:
            raise DataError(f"{what}: {exc}") from None
    return rows


@dataclass(frozen=True)
class CellCost:
    """A cell's inference cost: total USD (None = unknown) and how it was computed."""

    usd: float | None
    basis: str

    def per_1k(self, queries: int) -> float | None:
        return None if self.usd is None or queries == 0 else self.usd / queries * 1000


def cell_cost(identity: dict[str, Any], usage_rows: Sequence[dict[str, Any]], prices: PriceTable,
              hardware: HardwareRate) -> CellCost:
    """Price a cell's successful generations (`usage_rows`: token counts and compute seconds)."""
    rate = identity.get("usd_per_hour")
    if identity.get("backend") == "openai" and rate is None:
        model, endpoint = identity.get("model", ""), identity.get("base_url", "")
        price = prices.lookup(model, endpoint)
        if price is None:
            return CellCost(None, f"unknown: no price for {model!r} at {endpoint} "
                                  "(add a row with --prices FILE)")
        usd = sum(price.cost(r["input_tokens"], r.get("cached_input_tokens", 0),
                             r["output_tokens"]) for r in usage_rows)
        return CellCost(usd, f"tokens x {price.model} price ({price.source}, as of {price.as_of})")
    unmeasured = sum(1 for r in usage_rows if r.get("compute_s") is None)
    if unmeasured:
        return CellCost(None, f"unknown: {unmeasured} answers came from the request cache without "
                              "a compute time (cached by an older rvf); --no-cache measures them")
    wall = sum(r["compute_s"] for r in usage_rows)
    if rate is not None:  # a self-hosted endpoint: its machine's time, seen from here as wall time
        rate = float(rate)
        return CellCost(wall / 3600 * rate, f"endpoint wall {wall:.1f} s x ${rate:g}/h")
    cpu = None if any(r.get("cpu_s") is None for r in usage_rows) else \
        sum(r["cpu_s"] for r in usage_rows)
    usd, basis = hardware.price(cpu, wall)
    return CellCost(usd, basis)


def default_hardware_usd_per_hour() -> float:
    """`RVF_HARDWARE_USD_PER_HOUR` when set, else DEFAULT_HARDWARE_USD_PER_HOUR."""
    text = os.environ.get("RVF_HARDWARE_USD_PER_HOUR")
    if not text:
        return DEFAULT_HARDWARE_USD_PER_HOUR
    try:
        value = float(text)
        if value < 0:
            raise ValueError
    except ValueError:
        raise UsageError(f"RVF_HARDWARE_USD_PER_HOUR must be a number >= 0, got {text!r}") from None
    return value
