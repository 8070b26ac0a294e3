"""The rvf pytest plugin (entry point `pytest11`): benchmark cells as pytest tests, with gates.

- fixture `rvf_cell(task, strategy, ...)` runs one cell, or loads its record when it already
  exists, and returns the `CellRecord`: `assert rvf_cell("ticket_categorization", "prompt")
  .metric("macro_f1") >= 0.6`;
- marker `@pytest.mark.rvf(tasks=[...], strategies=[...], models=[...])` turns a test taking the
  argument `rvf_record` into one item per cell, e.g. `test_x[ticket_categorization-prompt]`;
- options `--rvf-model`, `--rvf-small-model`, `--rvf-limit`, `--rvf-results`, `--rvf-no-cache`,
  and `--rvf-compare <results-dir>` with `--rvf-compare-fail=<metric>:<tolerance>` gates that fail
  the item whose record got worse than its baseline by more than the tolerance;
- at the end of a session that ran cells, `<results>/LEADERBOARD.md` is written and a summary
  line says where. Hooks for conftest files are in `harness/pytest_hooks.py`.

pytest imports this module in every session of an environment where rvf is installed, so it is
inert until used: at start-up it imports pytest and the standard library only. The registry,
runner and models (torch) are imported inside the fixtures and hooks, when a test asks for a cell.
Guide: docs/pytest.md.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import pytest

from harness.errors import RvfError

if TYPE_CHECKING:
    from harness.cell import Cell
    from harness.compare import Baseline, Gate
    from harness.records import CellRecord
    from harness.registry import Registry

T = TypeVar("T")
MARKER_ARGS = ("tasks", "strategies", "models", "small_models", "seeds", "limit", "task_args",
               "strategy_args", "backend_args")


# -- pytest hooks: registration and options ---------------------------------------------------------

def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    from harness import pytest_hooks

    pluginmanager.add_hookspecs(pytest_hooks)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("rvf", "rvf benchmark cells (see docs/pytest.md)")
    group.addoption("--rvf-model", action="append", default=[], metavar="BACKEND/NAME",
                    help="Model for cells whose test does not name one (repeatable; default "
                         "local/smollm2-135m-instruct).")
    group.addoption("--rvf-small-model", action="append", default=[], metavar="BACKEND/NAME",
                    help="Model that fine-tuning strategies (lora) train, when the test does not "
                         "name one (repeatable).")
    group.addoption("--rvf-limit", type=int, default=None, metavar="N",
                    help="Score a fixed random subset of N test samples, when the test sets no "
                         "limit.")
    group.addoption("--rvf-results", default="results", metavar="DIR",
                    help="Results directory for cell records and LEADERBOARD.md (default: "
                         "results).")
    group.addoption("--rvf-compare", default=None, metavar="RESULTS_DIR",
                    help="Compare each cell record with the matching record in this results "
                         "directory.")
    group.addoption("--rvf-compare-fail", action="append", default=[], metavar="METRIC:TOL",
                    help="Fail a test whose record is worse than its baseline by more than TOL "
                         "(absolute, e.g. macro_f1:0.05, or relative, e.g. latency_p50_s:20%%). "
                         "Repeatable; needs --rvf-compare. Fails closed: a figure no record "
                         "has is a usage error, and a cell without a baseline record or a "
                         "figure without a value fails its test.")
    group.addoption("--rvf-compare-allow-missing", action="store_true",
                    help="With --rvf-compare-fail: a cell without a baseline record, or a figure "
                         "without a value, is a note instead of a failure.")
    group.addoption("--rvf-no-cache", action="store_true",
                    help="Do not read or write the request cache.")
    group.addoption("--rvf-max-error-rate", type=float, default=None, metavar="RATE",
                    help="Fail a cell when more of its samples than this fraction fail to generate "
                         "(default: as rvf run).")
    group.addoption("--rvf-prices", default=None, metavar="FILE",
                    help="JSON price file that overrides and extends the shipped table.")
    group.addoption("--rvf-hardware-usd-per-hour", type=float, default=None, metavar="USD",
                    help="Prices local models' compute and training time (default: as rvf run).")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "rvf(tasks, strategies=['prompt'], models=None, small_models=None, seeds=[0], "
                   "limit=None, task_args=None, strategy_args=None, backend_args=None): run the "
                   "test once per rvf cell, passing each cell's record as `rvf_record`")
    config.stash[STATE] = RvfSession.from_config(config)


# -- fixtures and the marker ------------------------------------------------------------------------

@pytest.fixture
def rvf_cell(request: pytest.FixtureRequest) -> Callable[..., CellRecord]:
    """A function that runs one rvf cell (or loads its existing record) and returns its record.

    `rvf_cell(task, strategy, model=None, small_model=None, seed=0, limit=None, task_args=None,
    strategy_args=None, backend_args=None)`; argument dicts take any values (converted to the
    strings the command line would give). Unset model and limit come from `--rvf-model`,
    `--rvf-small-model` and `--rvf-limit`.
    """
    state = _state(request.config)

    def run(task: str, strategy: str, model: str | None = None, small_model: str | None = None,
            seed: int = 0, limit: int | None = None, task_args: dict | None = None,
            strategy_args: dict | None = None, backend_args: dict | None = None) -> CellRecord:
        if model is None and len(state.models) > 1:
            _fail("rvf_cell runs one cell, but several --rvf-model were given: pass model=")
        cells = state.plan([task], [strategy], [model] if model else None,
                           [small_model] if small_model else None, [seed], task_args or {},
                           strategy_args or {}, backend_args or {}, limit)
        if len(cells) != 1:
            _fail(f"rvf_cell runs one cell, but these arguments plan {len(cells)} (a comma in a "
                  "numeric strategy argument sweeps it): use @pytest.mark.rvf")
        return state.record_for(cells[0], request.node)

    return run


@pytest.fixture
def rvf_record(request: pytest.FixtureRequest) -> CellRecord:
    """The record of this item's cell; the item comes from `@pytest.mark.rvf(...)` on the test."""
    try:
        cell = request.param  # set by pytest_generate_tests below
    except AttributeError:
        _fail("rvf_record is given by @pytest.mark.rvf(tasks=[...], strategies=[...]) on the "
              "test; without the marker, use the rvf_cell fixture")
    return _state(request.config).record_for(cell, request.node)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """One item per planned cell for tests marked `rvf`, with readable ids."""
    marker = metafunc.definition.get_closest_marker("rvf")
    if marker is None:
        return
    name = metafunc.definition.name
    if "rvf_record" not in metafunc.fixturenames:
        _fail(f"{name}: @pytest.mark.rvf needs the test to take the argument rvf_record")
    unknown = sorted(set(marker.kwargs) - set(MARKER_ARGS))
    if marker.args or unknown or "tasks" not in marker.kwargs:
        _fail(f"{name}: @pytest.mark.rvf takes keyword arguments only, tasks=[...] required "
              f"(accepted: {', '.join(MARKER_ARGS)}; got {', '.join(unknown) or 'no tasks'})")
    kw = marker.kwargs
    cells = _state(metafunc.config).plan(
        list(kw["tasks"]), list(kw.get("strategies", ["prompt"])), kw.get("models"),
        kw.get("small_models"), list(kw.get("seeds", [0])), kw.get("task_args") or {},
        kw.get("strategy_args") or {}, kw.get("backend_args") or {}, kw.get("limit"))
    metafunc.parametrize("rvf_record", cells, ids=cell_ids(cells), indirect=True)


def cell_ids(cells: list[Cell]) -> list[str]:
    """`task-strategy`, plus what tells cells apart when it varies: swept strategy arguments,
    the model, the seed."""
    specs = [c.spec for c in cells]
    several_models = len({s.model for s in specs}) > 1
    several_seeds = len({s.seed for s in specs}) > 1
    ids = []
    for spec in specs:
        siblings = [s for s in specs if (s.task, s.strategy) == (spec.task, spec.strategy)]
        parts = [spec.task, spec.strategy]
        parts += [f"{k}={v}" for k, v in sorted(spec.strategy_args.items())
                  if len({str(s.strategy_args.get(k)) for s in siblings}) > 1]
        parts += [spec.model] if several_models else []
        parts += [f"seed{spec.seed}"] if several_seeds else []
        ids.append("-".join(parts))
    return ids


# -- gates: report breaches on the item, summary at the end ------------------------------------------

BREACHES = pytest.StashKey[list[str]]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator:
    """Fail a passing item whose record breached a `--rvf-compare-fail` gate."""
    report = yield
    breaches = item.stash.get(BREACHES, [])
    if call.when == "call" and breaches:
        text = "rvf compare gate breached:\n" + "\n".join(f"  {b}" for b in breaches)
        if report.passed:
            report.outcome = "failed"
            report.longrepr = text
        else:
            report.sections.append(("rvf compare", text))
    return report


def pytest_sessionfinish(session: pytest.Session) -> None:
    state = session.config.stash.get(STATE, None)
    if state is not None:
        state.finish()


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    state = config.stash.get(STATE, None)
    if state is None or not (state.ran or state.notes):
        return
    terminalreporter.section("rvf", sep="-")
    for line in state.summary_lines():
        terminalreporter.write_line(line)


# -- the session: options, registry, request cache, records ------------------------------------------

@dataclass
class RvfSession:
    """What the plugin knows in one pytest session; built from the options, inert until used."""

    results: Path
    models: list[str]
    small_models: list[str]
    limit: int | None
    use_cache: bool
    run_options: dict[str, Any] = field(default_factory=dict)  # for RunOptions: error rate, prices
    baseline: Baseline | None = None
    gates: list[Gate] = field(default_factory=list)  # --rvf-compare-fail, see harness/compare.py
    allow_missing: bool = False  # --rvf-compare-allow-missing
    ran: dict[str, CellRecord] = field(default_factory=dict)  # cell key -> record, this session
    computed: set[str] = field(default_factory=set)  # keys of the cells run (not reused) here
    notes: list[str] = field(default_factory=list)
    leaderboard: tuple[Path, int] | None = None
    _registry: Registry | None = None

    @classmethod
    def from_config(cls, config: pytest.Config) -> RvfSession:
        opt = config.getoption
        here = config.invocation_params.dir
        limit = opt("rvf_limit")
        if limit is not None and limit < 1:
            raise pytest.UsageError(f"--rvf-limit must be at least 1, got {limit}")
        run_options = {k: v for k, v in (("max_error_rate", opt("rvf_max_error_rate")),
                                         ("hardware_usd_per_hour",
                                          opt("rvf_hardware_usd_per_hour"))) if v is not None}
        if opt("rvf_prices"):
            run_options["prices_file"] = here / opt("rvf_prices")
        session = cls(results=here / opt("rvf_results"), models=opt("rvf_model"),
                      small_models=opt("rvf_small_model"), limit=limit,
                      use_cache=not opt("rvf_no_cache"), run_options=run_options)
        if opt("rvf_compare") or opt("rvf_compare_fail"):
            session._set_baseline(opt("rvf_compare"), opt("rvf_compare_fail"), here)
            session.allow_missing = opt("rvf_compare_allow_missing")
        return session

    def _set_baseline(self, folder: str | None, gates: list[str], here: Path) -> None:
        """Read --rvf-compare and its gates (imports rvf's record code: only when asked for)."""
        from harness.compare import Baseline, Gate, unknown_gates

        try:
            self.gates = [Gate.parse(text, "--rvf-compare-fail") for text in gates]
            if folder is None:
                raise pytest.UsageError("--rvf-compare-fail needs --rvf-compare <baseline "
                                        "results dir>")
            self.baseline = Baseline(here / folder, "--rvf-compare")
            unknown = unknown_gates(self.gates, self.baseline.records)
            if unknown:
                raise pytest.UsageError("--rvf-compare-fail " + "; ".join(unknown))
        except RvfError as exc:
            raise pytest.UsageError(str(exc)) from None

    def registry(self) -> Registry:
        if self._registry is None:
            from harness.registry import default_registry

            self._registry = default_registry()
            self.notes += [f"plugin error: {e}" for e in self._registry.plugin_errors]
        return self._registry

    def plan(self, tasks: list[str], strategies: list[str], models: list[str] | None,
             small_models: list[str] | None, seeds: list[int], task_args: dict,
             strategy_args: dict, backend_args: dict, limit: int | None) -> list[Cell]:
        """Cells as `rvf run` plans them; unset models and limit come from the options."""
        from harness.cell import plan
        from harness.cli import DEFAULT_MODEL

        def planned() -> list[Cell]:
            registry = self.registry()
            for task in tasks:
                registry.get("task", task)  # an unknown name fails here, with suggestions
            return plan(registry, tasks, strategies, models or self.models or [DEFAULT_MODEL],
                        small_models or self.small_models or [DEFAULT_MODEL], seeds,
                        _scoped(task_args), _scoped(strategy_args), _strings(backend_args),
                        limit if limit is not None else self.limit)

        return _or_fail(planned)

    def record_for(self, cell: Cell, item: pytest.Item) -> CellRecord:
        """Adjust (hook), then load or run the cell; check its gates against the item."""
        config = item.config
        spec = config.hook.pytest_rvf_adjust_cell(spec=cell.spec, config=config)
        if spec is not None and spec != cell.spec:
            from harness.cell import Cell

            cell = Cell(cell.registry, spec)
        record, path, reused = _or_fail(self._load_or_run, cell)
        self.ran[record.cell_key] = record
        config.hook.pytest_rvf_record_written(record=record, path=path, reused=reused,
                                              config=config)
        if self.baseline is not None:
            item.stash.setdefault(BREACHES, []).extend(self.compare(record))
        return record

    def _load_or_run(self, cell: Cell) -> tuple[CellRecord, Path, bool]:
        """(record, its path, whether it was reused): `rvf run`'s reuse rule and options."""
        from rich.console import Console

        from harness.records import cells_dir
        from harness.runner import run_cells

        summary = run_cells([cell], self.options(), Console(stderr=True, quiet=True))
        if summary.failed:
            raise RvfError(f"{cell.label}: {summary.failed[0][1]}")
        if not summary.finished and not summary.reused:
            raise RvfError(f"{cell.label}: skipped, no record (a dry run)")
        record = (summary.finished or summary.reused)[0]
        if summary.finished:
            self.computed.add(record.cell_key)
        return record, cells_dir(self.results) / f"{record.cell_key}.json", not summary.finished

    def options(self):
        """The RunOptions of this session (as `rvf run` builds them from its options)."""
        from harness.pricing import PriceTable
        from harness.runner import RunOptions

        given = dict(self.run_options)
        prices = PriceTable.load(given.pop("prices_file", None))
        return RunOptions(results=self.results, use_cache=self.use_cache, prices=prices, **given)

    def compare(self, record: CellRecord) -> list[str]:
        """Gate breaches of a record against its baseline (fail closed, see gate_record)."""
        from harness.compare import gate_record

        breaches, notes = gate_record(record, self.baseline.find(record), self.gates,
                                      self.baseline.folder, self.allow_missing)
        self.notes += notes
        return breaches

    def finish(self) -> None:
        """Write the leaderboard if this session ran any cell."""
        if self.ran:
            from harness.publish import write_leaderboard

            path, rows, _ = write_leaderboard(self.results)
            self.leaderboard = (path, rows)

    def summary_lines(self) -> list[str]:
        lines = []
        if self.ran:
            calls = sum(self.ran[key].usage.model_calls for key in self.computed)
            lines.append(f"rvf: {len(self.ran)} cell(s): {len(self.computed)} computed "
                         f"({calls} model calls), {len(self.ran) - len(self.computed)} reused, "
                         f"records in {self.results}")
        if self.leaderboard:
            path, rows = self.leaderboard
            lines.append(f"rvf: leaderboard written to {path} ({rows} rows)")
        return lines + [f"rvf: {note}" for note in self.notes]


STATE = pytest.StashKey[RvfSession]()


def _state(config: pytest.Config) -> RvfSession:
    return config.stash[STATE]


def _fail(message: str) -> NoReturn:
    """Fail the test (or its collection) with a message for the user, without a traceback."""
    pytest.fail(f"rvf: {message}", pytrace=False)


def _or_fail(fn: Callable[..., T], *args: Any) -> T:
    """`fn(*args)`; rvf's own errors (unknown name, bad argument, bad data) fail the test with
    their message instead of a traceback."""
    try:
        return fn(*args)
    except RvfError as exc:
        message = str(exc)
    _fail(message)  # outside the except block: no "during handling of the above" chain


def _strings(args: dict) -> dict[str, str]:
    """Argument values as the command line would give them: `{"k": 2}` -> `{"k": "2"}`."""
    return {str(k): str(v) for k, v in args.items()}


def _scoped(args: dict) -> dict[str, dict[str, str]]:
    """`{"k": 2}` applies to every task or strategy; `{"prompt": {"k": 2}}` to the one named."""
    flat = {k: v for k, v in args.items() if not isinstance(v, dict)}
    return {"": _strings(flat),
            **{name: _strings(v) for name, v in args.items() if isinstance(v, dict)}}
