"""The price table and cell cost: known prices by endpoint, user overrides, unknown never guessed."""

from __future__ import annotations

import json

import pytest

from harness.compute import HardwareRate
from harness.errors import DataError
from harness.pricing import OFFICIAL_ENDPOINT, PriceTable, cell_cost

ROWS = [{"input_tokens": 1000, "cached_input_tokens": 400, "output_tokens": 10, "compute_s": 1.5},
        {"input_tokens": 500, "cached_input_tokens": 0, "output_tokens": 20, "compute_s": 0.5}]


def test_shipped_rows_apply_to_their_endpoint_only() -> None:
    table = PriceTable.load()
    row = table.lookup("gpt-4o-mini", OFFICIAL_ENDPOINT + "/")
    assert row is not None and row.as_of and row.source.startswith("https://")
    assert table.lookup("gpt-4o-mini", "http://127.0.0.1:8000/v1") is None
    cost = cell_cost({"backend": "openai", "model": "gpt-4o-mini", "base_url": OFFICIAL_ENDPOINT},
                     ROWS, table, 0.1)
    # (600 uncached + 500) x 0.15 + 400 cached x 0.075 + 30 out x 0.60, per 1M tokens
    assert cost.usd == pytest.approx((1100 * 0.15 + 400 * 0.075 + 30 * 0.6) / 1e6)
    assert cost.per_1k(2) == pytest.approx(cost.usd / 2 * 1000)


def test_a_dated_snapshot_is_priced_by_its_alias_unless_it_has_its_own_row(tmp_path) -> None:
    table = PriceTable.load()
    assert table.lookup("gpt-4o-mini-2024-07-18", OFFICIAL_ENDPOINT) is \
        table.lookup("gpt-4o-mini", OFFICIAL_ENDPOINT)
    assert table.lookup("gpt-4o-mini-turbo", OFFICIAL_ENDPOINT) is None  # not a dated snapshot
    path = tmp_path / "prices.json"
    path.write_text(json.dumps({"models": [{"model": "gpt-4o-mini-2024-07-18",
                                            "input_per_1m": 9, "output_per_1m": 9}]}))
    assert PriceTable.load(path).lookup("gpt-4o-mini-2024-07-18", OFFICIAL_ENDPOINT).input_per_1m == 9


def test_a_fine_tuned_model_is_priced_by_its_bases_ft_row() -> None:
    table = PriceTable.load()
    tuned = table.lookup("ft:gpt-4.1-mini-2025-04-14:acme:tickets:AbC123", OFFICIAL_ENDPOINT)
    base = table.lookup("gpt-4.1-mini", OFFICIAL_ENDPOINT)
    assert tuned is not None and tuned.model == "ft:gpt-4.1-mini"
    assert tuned.input_per_1m == 2 * base.input_per_1m  # OpenAI's fine-tuned rate, not the base's
    assert table.lookup("ft:gpt-4o-mini:acme::x1", OFFICIAL_ENDPOINT).model == "ft:gpt-4o-mini"
    assert table.lookup("ft:gpt-4.1-mini:acme::x1", "http://127.0.0.1:8000/v1") is None
    assert table.lookup("ft:gpt-3.5-turbo:acme::x1", OFFICIAL_ENDPOINT) is None  # no row: unknown


def test_user_rows_win_and_unknown_models_stay_unknown(tmp_path) -> None:
    path = tmp_path / "prices.json"
    path.write_text(json.dumps({"models": [{"model": "mine", "input_per_1m": 1, "output_per_1m": 2}]}))
    table = PriceTable.load(path)
    ident = {"backend": "openai", "model": "mine", "base_url": "http://127.0.0.1:1/v1"}
    assert cell_cost(ident, ROWS, table, 0.1).usd == pytest.approx((1500 * 1 + 30 * 2) / 1e6)
    unknown = cell_cost({**ident, "model": "other"}, ROWS, table, 0.1)
    assert unknown.usd is None and "no price for 'other'" in unknown.basis
    path.write_text(json.dumps({"models": [{"model": "x", "input_per_1m": "cheap"}]}))
    with pytest.raises(DataError, match=r"prices.json: models\[0\]"):
        PriceTable.load(path)


def test_local_cost_is_cpu_time_at_the_core_rate_and_unmeasured_time_is_unknown() -> None:
    table = PriceTable.load()
    rate = HardwareRate(0.36, cores=2)  # $0.18 per core-hour
    rows = [{**ROWS[0], "cpu_s": 2.5}, {**ROWS[1], "cpu_s": 1.5}]
    cost = cell_cost({"backend": "hf"}, rows, table, rate)
    assert cost.usd == pytest.approx(4.0 / 3600 * 0.18) and "CPU 4.0 s" in cost.basis
    # Answers cached by an rvf that measured only wall time: priced by it, and it says so.
    wall = cell_cost({"backend": "hf"}, ROWS, table, rate)
    assert wall.usd == pytest.approx(2.0 / 3600 * 0.36) and "wall 2.0 s" in wall.basis
    assert "older rvf" in wall.basis
    old = cell_cost({"backend": "hf"}, [*ROWS, {**ROWS[0], "compute_s": None}], table, rate)
    assert old.usd is None and "without a compute time" in old.basis
    # A self-hosted endpoint with its own $/h: its wall time seen from here.
    endpoint = cell_cost({"backend": "openai", "usd_per_hour": 1.8}, rows, table, rate)
    assert endpoint.usd == pytest.approx(2.0 / 3600 * 1.8) and "endpoint wall" in endpoint.basis


def test_the_hardware_rate_comes_from_the_environment(monkeypatch) -> None:
    from harness.errors import UsageError
    from harness.pricing import DEFAULT_HARDWARE_USD_PER_HOUR, default_hardware_usd_per_hour

    monkeypatch.delenv("RVF_HARDWARE_USD_PER_HOUR", raising=False)
    assert default_hardware_usd_per_hour() == DEFAULT_HARDWARE_USD_PER_HOUR
    monkeypatch.setenv("RVF_HARDWARE_USD_PER_HOUR", "0.4")
    assert default_hardware_usd_per_hour() == 0.4
    monkeypatch.setenv("RVF_HARDWARE_USD_PER_HOUR", "cheap")
    with pytest.raises(UsageError, match="RVF_HARDWARE_USD_PER_HOUR.*'cheap'"):
        default_hardware_usd_per_hour()
