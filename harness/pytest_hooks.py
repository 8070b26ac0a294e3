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
    from harness.cell import CellSpec
    from harness.records import CellRecord


@pytest.hookspec(firstresult=True)
def pytest_rvf_adjust_cell(spec: CellSpec, config: pytest.Config) -> CellSpec | None:
    """Return a changed cell spec before rvf looks for its record or runs it (None: keep it).

    Called once per cell a test asks for (through `rvf_cell` or the `rvf` marker), before the
    cell key is computed, so whatever you change is part of the key: a record computed with other
    settings is never reused by mistake. The spec is frozen: return `dataclasses.replace(spec,
    ...)`; the first implementation that returns a spec wins. Fields worth changing: `limit`,
    `seed`, `task_args`, `strategy_args`, `backend_args` (see `harness.cell.CellSpec`).

    Example, in conftest.py: score fewer samples on CI and use two few-shot examples::

        import dataclasses
        import os

        def pytest_rvf_adjust_cell(spec):
            if os.environ.get("CI"):
                spec = dataclasses.replace(spec, limit=min(spec.limit or 50, 50))
            if spec.strategy == "prompt":
                spec = dataclasses.replace(spec, strategy_args={**spec.strategy_args, "k": 2})
            return spec
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
