"""Hooks the rvf pytest plugin calls, for conftest.py files and other pytest plugins.

Added to pytest with `pytest_addhooks`, so implement them like any pytest hook: a function of
that name in a conftest.py (or plugin), taking any subset of the arguments by name. Their names
start with `pytest_` because pytest only collects undecorated hook functions with that prefix.

This module is imported at pytest start-up in every session of an environment with rvf: it
must import nothing but pytest (the types below are for annotations only).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from harness.cell import Cell
    from harness.records import CellRecord


@pytest.hookspec
def pytest_rvf_adjust_cell(cell: Cell, config: pytest.Config) -> None:
    """Change a planned cell before rvf looks for its record or runs it.

    Called once per cell a test asks for (through `rvf_cell` or the `rvf` marker), before the
    cell key is computed, so whatever you change is part of the key: a record computed with other
    settings is never reused by mistake. Change the cell in place; the return value is ignored.
    Fields worth changing: `limit`, `seed`, `task_args`, `strategy_args`, `backend_args`
    (string values, as on the command line).

    Example, in conftest.py: score fewer samples on CI and use two few-shot examples::

        import os

        def pytest_rvf_adjust_cell(cell):
            if os.environ.get("CI"):
                cell.limit = min(cell.limit or 50, 50)
            if cell.strategy_name == "prompt":
                cell.strategy_args["k"] = "2"
    """


@pytest.hookspec
def pytest_rvf_record_written(record: CellRecord, path: Path, reused: bool,
                              config: pytest.Config) -> None:
    """A cell's record is on disk: just written by a run, or found there (`reused=True`).

    `path` is the record's JSON file under `<results>/cells/`; its per-sample predictions sit
    beside it (`record.predictions_file`). Use it to publish figures, copy records to an
    artifact store, or log metrics to an experiment tracker.

    Example, in conftest.py: print each cell's primary metric::

        def pytest_rvf_record_written(record, reused):
            value = record.metric(record.primary_metric)
            print(f"{record.task.name}/{record.strategy.name}: "
                  f"{record.primary_metric}={value} ({'reused' if reused else 'computed'})")
    """
