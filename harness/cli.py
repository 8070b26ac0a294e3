"""The `rvf` command: run, leaderboard, report, cost, compare, audit, list.

Exit codes: 0 success; 2 bad usage or bad input (unknown names, malformed data); 1 a cell or the
run failed; 130 interrupted (finished cells and cached answers are kept: re-run to resume).
"""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape
from rich.measure import Measurement
from rich.table import Table

from harness.errors import DEFAULT_MAX_ERROR_RATE, DataError, RvfError, UsageError
from harness.pricing import DEFAULT_HARDWARE_USD_PER_HOUR

DEFAULT_TASK = "ticket_categorization"
DEFAULT_STRATEGY = "prompt"
DEFAULT_MODEL = "local/smollm2-135m-instruct"
# `rvf run` with no --task, --strategy, --model or --small-model is the demo: every built-in way
# of doing the default task, compared on a fixed, seeded test subset, with a lora budget that
# lets a 2-core CPU finish in minutes. Options given (--limit, --strategy-arg) replace its values.
DEMO_STRATEGIES = ("prompt", "rag", "lora", "classifier")
DEMO_LIMIT = 200
DEMO_STRATEGY_ARGS = {"lora": {"train_size": "1000"}}

console = Console(stderr=True)


def _parse_kv(pairs: tuple[str, ...], option: str) -> dict[str, dict[str, str]]:
    """`k=v` pairs, optionally scoped as `name.k=v`; '' holds the unscoped ones."""
    out: dict[str, dict[str, str]] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"{option} expects [NAME.]KEY=VALUE, got {pair!r}")
        scope, dot, name = key.rpartition(".")
        if dot and not (scope and name):
            raise UsageError(f"{option} expects [NAME.]KEY=VALUE, got {key!r}=...")
        out.setdefault(scope if dot else "", {})[name if dot else key] = value
    return out


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="rvf")
def cli() -> None:
    """rvf: prompt, RAG or fine-tune? Run every strategy on the same task and compare."""


@cli.command()
@click.option("--task", "tasks", multiple=True, help=f"Task name (repeatable). Default: {DEFAULT_TASK}.")
@click.option("--strategy", "strategies", multiple=True,
              help=f"Strategy name (repeatable). Default: {DEFAULT_STRATEGY}; with no --task, "
                   f"--strategy or --model, the demo: {', '.join(DEMO_STRATEGIES)} on "
                   f"{DEMO_LIMIT} test samples, lora on "
                   f"{DEMO_STRATEGY_ARGS['lora']['train_size']} train samples.")
@click.option("--model", "models", multiple=True,
              help=f"Model as <backend>/<name> (repeatable). Default: {DEFAULT_MODEL}.")
@click.option("--small-model", "small_models", multiple=True,
              help="Model that fine-tuning strategies (lora) train and evaluate (repeatable). "
                   f"Default: {DEFAULT_MODEL}.")
@click.option("--seed", "seeds", multiple=True, type=int, help="Seed (repeatable). Default: 0.")
@click.option("--limit", type=click.IntRange(min=1), default=None,
              help="Score a fixed random subset of this many test samples.")
@click.option("--results", type=click.Path(file_okay=False, path_type=Path),
              default=Path("results"), show_default=True, help="Results directory.")
@click.option("--task-arg", "task_args", multiple=True, metavar="[TASK.]K=V",
              help="Task factory argument (repeatable), e.g. data=../shared/data/banking77.")
@click.option("--strategy-arg", "strategy_args", multiple=True, metavar="[STRATEGY.]K=V",
              help="Strategy argument (repeatable), e.g. prompt.k=8; a comma-separated value of a "
                   "numeric argument sweeps it (lora.train_size=100,300,all).")
@click.option("--backend-arg", "backend_args", multiple=True, metavar="K=V",
              help="Backend argument (repeatable), e.g. dtype=fp32 or batch_size=16.")
@click.option("--base-url", default=None, metavar="URL",
              help="OpenAI-compatible endpoint for openai/ models (default: $OPENAI_BASE_URL, "
                   "else api.openai.com). The key is read from $OPENAI_API_KEY only.")
@click.option("--max-concurrency", type=click.IntRange(min=1), default=None,
              help="Most requests in flight per openai/ model (default 8; halves on rate limits).")
@click.option("--max-error-rate", type=click.FloatRange(0, 1), default=DEFAULT_MAX_ERROR_RATE,
              show_default=True,
              help="Fail a cell when more of its samples than this fraction fail to generate.")
@click.option("--prices", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              default=None, help="JSON price file that overrides and extends the shipped table.")
@click.option("--hardware-usd-per-hour", type=click.FloatRange(min=0),
              default=DEFAULT_HARDWARE_USD_PER_HOUR, show_default=True,
              envvar="RVF_HARDWARE_USD_PER_HOUR", show_envvar=True,
              help="What this machine costs an hour, shared by its cores: prices local "
                   "inference, training and index builds by their CPU seconds.")
@click.option("--judge", default=None, metavar="openai/MODEL",
              help="LLM judge for ragas' judge metrics (faithfulness, answer correctness); uses "
                   "the same endpoint settings as openai/ models.")
@click.option("--no-cache", is_flag=True, help="Do not read or write the request cache.")
@click.option("--force", is_flag=True, help="Recompute cells that already have a record.")
@click.option("--executor", type=click.Choice(["local", "ray"]), default="local",
              show_default=True,
              help="Where cells run: one after another in this process, or as Ray tasks "
                   "(needs rvf[ray]; see docs/ray.md).")
@click.option("--ray-address", default=None, metavar="ADDR",
              help="Ray cluster to join with --executor ray (default: $RAY_ADDRESS, else a "
                   "local Ray started for this run with this machine's CPUs).")
@click.option("--ray-gpus-per-cell", type=click.FloatRange(min=0), default=0, show_default=True,
              help="GPUs each cell of an in-process model (hf/, local/: lora training and "
                   "inference) asks Ray for; other cells ask for one CPU.")
@click.option("--constrain", type=click.Choice(["auto", "labels", "score", "none"]),
              default="auto", show_default=True,
              help="Keep answers inside a closed answer space: labels (token trie), score (rank "
                   "every label by log-likelihood), auto (labels where the backend can), none "
                   "(free generation). Part of the cell key.")
@click.option("--plan", "plan_only", is_flag=True,
              help="Print each planned cell's spec and key (JSON lines on stdout) and run nothing.")
@click.option("--no-report", is_flag=True,
              help="Do not write report.html (the HTML report) next to LEADERBOARD.md.")
def run(tasks, strategies, models, small_models, seeds, limit, results, task_args, strategy_args,
        backend_args, base_url, max_concurrency, max_error_rate, prices, hardware_usd_per_hour,
        judge, no_cache, force, executor, ray_address, ray_gpus_per_cell, constrain,
        plan_only, no_report) -> None:
    """Plan cells (tasks x strategies x models x seeds), run the unfinished ones, and write
    cell records and LEADERBOARD.md."""
    from harness.cell import plan
    from harness.pricing import PriceTable
    from harness.runner import LocalExecutor, RunOptions, run_cells

    began = time.perf_counter()
    if executor == "ray":
        from harness.executors import RayExecutor, require_ray

        try:  # before planning: a missing extra should not cost the planning time
            require_ray()
        except UsageError as exc:  # click prints it verbatim (rich would eat "[ray]")
            raise click.BadParameter(str(exc), param_hint="'--executor'") from None
    registry = _registry()
    strategy_kv = _parse_kv(strategy_args, "--strategy-arg")
    if not (tasks or strategies or models or small_models):
        strategies, limit, strategy_kv = _demo(limit, strategy_kv)
    tasks, strategies = tasks or (DEFAULT_TASK,), strategies or (DEFAULT_STRATEGY,)
    for name in tasks:
        registry.get("task", name)
    for name in strategies:
        registry.get("strategy", name)
    cells = plan(registry, tasks, strategies, models or (DEFAULT_MODEL,),
                 small_models or (DEFAULT_MODEL,), seeds or (0,),
                 _parse_kv(task_args, "--task-arg"), strategy_kv,
                 _backend_kv(backend_args, base_url, max_concurrency), limit, judge, constrain)
    _check_plan(cells, limit)
    if plan_only:
        _print_plan(cells)
        return
    options = RunOptions(results=results, use_cache=not no_cache, force=force,
                         max_error_rate=max_error_rate, prices=PriceTable.load(prices),
                         hardware_usd_per_hour=hardware_usd_per_hour)
    chosen = (RayExecutor(ray_address, ray_gpus_per_cell) if executor == "ray"
              else LocalExecutor())
    summary = run_cells(cells, options, console, chosen)
    _finish_run(summary, results, began, registry, report=not no_report)


def _demo(limit: int | None, strategy_kv: dict[str, dict[str, str]]
          ) -> tuple[tuple[str, ...], int, dict[str, dict[str, str]]]:
    """The demo's strategies, limit and strategy arguments, the user's options winning."""
    merged = {**strategy_kv}
    for name, args in DEMO_STRATEGY_ARGS.items():
        merged[name] = {**args, **strategy_kv.get(name, {})}
    limit = DEMO_LIMIT if limit is None else limit
    lora = merged["lora"].get("train_size", "all")
    console.print(f"demo: {DEFAULT_TASK} x {', '.join(DEMO_STRATEGIES)} on {DEFAULT_MODEL}, "
                  f"{limit} seeded test samples, lora trained on {lora} train samples "
                  "(--task, --strategy or --model choose your own run)")
    return DEMO_STRATEGIES, limit, merged


def _backend_kv(backend_args: tuple[str, ...], base_url: str | None,
                max_concurrency: int | None) -> dict[str, str]:
    """Backend arguments, possibly scoped to one backend (openai.max_concurrency=4); the openai
    options are shorthands for such scoped arguments."""
    kv = {(f"{scope}.{k}" if scope else k): v
          for scope, pairs in _parse_kv(backend_args, "--backend-arg").items()
          for k, v in pairs.items()}
    if base_url:
        kv["openai.base_url"] = base_url
    if max_concurrency:
        kv["openai.max_concurrency"] = str(max_concurrency)
    return kv


def _print_plan(cells) -> None:
    import json

    for cell in cells:
        click.echo(json.dumps({"key": cell.key, "spec": cell.spec.to_dict(),
                               "n": len(cell.samples)}, sort_keys=True, default=str))
    console.print(f"{len(cells)} cell(s) planned; nothing run (--plan)")


def _check_plan(cells, limit: int | None) -> None:
    """Notes before any compute: a limit above the split, a dataset full of near copies, the
    task's own warnings about its data."""
    from harness.audit import near_duplicate_warning
    from harness.types import NotesBeforeRun

    warned: set[str] = set()
    for cell in cells:
        split = cell.task.splits.get(cell.spec.split, [])
        if limit and limit > len(split):
            console.print(f"[yellow]note:[/] --limit {limit} is above the {len(split)} "
                          f"{cell.spec.split} samples of {cell.spec.task}; scoring all of them")
        if isinstance(cell.strategy, NotesBeforeRun):
            for note in cell.strategy.plan_notes(cell.task):
                console.print(f"[yellow]note:[/] {cell.spec.strategy}: {escape(note)}")
        if cell.dataset_sha256 not in warned:  # built-in data stays under the threshold
            warned.add(cell.dataset_sha256)
            warnings = [near_duplicate_warning(cell.task, cell.dataset_sha256),
                        *(f"task {cell.spec.task}: {w}" for w in cell.task.warnings)]
            for warning in filter(None, warnings):
                console.print(f"[yellow]warning:[/] {escape(warning)}")


def _finish_run(summary, results: Path, began: float, registry, report: bool = True) -> None:
    """Render the leaderboard and the HTML report (unless no record changed), print the
    summary, exit 1 on failure."""
    from harness.publish import leaderboard_is_current, write_leaderboard
    from harness.report import REPORT_NAME

    wanted = report and not (results / REPORT_NAME).exists()
    if leaderboard_is_current(results) and not wanted:
        path, rows, skipped = results / "LEADERBOARD.md", None, []
    else:
        path, rows, skipped = write_leaderboard(results, report=report)
    _print_summary(summary, registry)
    console.print(f"model calls: {summary.model_calls}; wall time {time.perf_counter() - began:.1f} s")
    console.print(f"leaderboard: {path} ("
                  + ("up to date: no record changed" if rows is None else f"{rows} rows") + ")"
                  + (f"; report: {results / REPORT_NAME}" if report else ""))
    for msg in skipped:
        console.print(f"[yellow]left out:[/] {msg}")
    if summary.failed:
        for cell, err in summary.failed:
            console.print(f"[red]failed:[/] {escape(cell.label)}: {escape(err)}")
        sys.exit(1)


def _print_summary(summary, registry) -> None:
    """One line per cell: its quality with the 95% CI, n, $ per 1k queries, the strategy's
    arguments that differ from its defaults (a demo's lora budget), and whether it ran now.
    The task, seed and metric columns appear only when the cells differ in them."""
    records = summary.finished + summary.reused
    if not records:
        return
    varies = {name: len({key(r) for r in records}) > 1 for name, key in (
        ("task", lambda r: r.task.name), ("seed", lambda r: r.seed),
        ("metric", lambda r: r.primary_metric))}
    metric = "metric" if varies["metric"] else records[0].primary_metric
    table = Table(title="cells" if varies["task"] else f"{records[0].task.name}: cells")
    columns = [c for c in ("task", "strategy", "model", "seed") if varies.get(c, True)]
    for col in (*columns, f"{metric} [95% CI]", "n", "$/1k queries", "model calls", "status"):
        table.add_column(col)
    for r in records:
        m = r.metrics.get(r.primary_metric)
        value = "not scored" if m is None or m.value is None else (
            f"{m.value:.3f} [{m.ci_low:.3f}, {m.ci_high:.3f}]" if m.ci_low is not None
            else f"{m.value:.3f}")
        if varies["metric"]:
            value = f"{r.primary_metric} {value}"
        status = "reused" if r in summary.reused else "computed"
        cost = r.cost_per_1k_queries_usd
        cells = {"task": r.task.name, "strategy": r.strategy.name + _changed_args(registry, r.strategy),
                 "model": r.model.spec, "seed": str(r.seed)}
        table.add_row(*(cells[c] for c in columns), value, str(r.task.n),
                      "unknown" if cost is None else f"{cost:.5f}",
                      str(r.usage.model_calls if status == "computed" else 0), status)
    # A log file or CI has no terminal width (rich assumes 80 and wraps every cell): print the
    # table at its natural width there; a terminal keeps its own width.
    natural = Measurement.get(console, console.options.update_width(1000), table).maximum
    width = console.width if console.is_terminal else max(console.width, natural)
    Console(stderr=True, width=width).print(table)


def _changed_args(registry, strategy) -> str:
    """` k=v` for each argument of a record's strategy that differs from its default."""
    try:
        defaults = registry.normalized_args("strategy", strategy.name, {})
    except RvfError:  # a plugin no longer installed: show every argument
        defaults = {}
    return "".join(f" {k}={v}" for k, v in sorted(strategy.args.items())
                   if defaults.get(k) != v)


def cost_assumptions(func):
    """--label-usd-per-example and --retrain-every-months: start-up costs no record can know."""
    func = click.option("--retrain-every-months", type=click.IntRange(min=1), default=None,
                        help="Retrain trained rows every M months: their training and labelling "
                             "recur, and break-even becomes queries per month.")(func)
    return click.option("--label-usd-per-example", type=click.FloatRange(min=0), default=0.0,
                        show_default=True,
                        help="What labelling one example costs: prices the labelled examples "
                             "each strategy used (few-shot, indexed, training).")(func)


@cli.command()
@click.option("--results", type=click.Path(file_okay=False, path_type=Path),
              default=Path("results"), show_default=True, help="Results directory.")
@cost_assumptions
def leaderboard(results: Path, label_usd_per_example: float,
                retrain_every_months: int | None) -> None:
    """Render <results>/LEADERBOARD.md from the cell records."""
    from harness.analysis import CostAssumptions
    from harness.publish import write_leaderboard

    if not results.is_dir():
        raise UsageError(f"results directory {results} does not exist")
    path, rows, skipped = write_leaderboard(
        results, assumptions=CostAssumptions(label_usd_per_example, retrain_every_months))
    console.print(f"leaderboard: {path} ({rows} rows)")
    for msg in skipped:
        console.print(f"[yellow]left out:[/] {msg}")


@cli.command()
@click.option("--results", type=click.Path(file_okay=False, path_type=Path),
              default=Path("results"), show_default=True, help="Results directory.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Where to write the page. Default: <results>/report.html.")
def report(results: Path, out: Path | None) -> None:
    """Write one self-contained HTML page of a results dir: sortable tables, plots, and every
    sample's answers across strategies (opens from disk, no server)."""
    from harness.report import write_report

    if not results.is_dir():
        raise UsageError(f"results directory {results} does not exist")
    began = time.perf_counter()
    path = write_report(results, out)
    console.print(f"report: {path} ({path.stat().st_size / 1e6:.1f} MB, "
                  f"{time.perf_counter() - began:.1f} s)")


@cli.command()
@click.option("--volume", type=click.IntRange(min=0), required=True,
              help="Queries per month to project the cost at.")
@click.option("--results", type=click.Path(file_okay=False, path_type=Path),
              default=Path("results"), show_default=True, help="Results directory.")
@click.option("--amortize-months", type=click.IntRange(min=1), default=None,
              help="Months to spread one-off start-up costs over (default 12; 1 = all in the "
                   "first month).")
@cost_assumptions
def cost(volume: int, results: Path, amortize_months: int | None, label_usd_per_example: float,
         retrain_every_months: int | None) -> None:
    """Monthly cost of every measured row at --volume queries a month, with every start-up cost
    (training, index build, labelling) in its own column and spread over the months."""
    from harness.analysis import (
        DEFAULT_AMORTIZE_MONTHS,
        CostAssumptions,
        cheapest_sentence,
        group_rows,
        project,
    )
    from harness.records import read_records

    if not results.is_dir():
        raise UsageError(f"results directory {results} does not exist")
    months = amortize_months or DEFAULT_AMORTIZE_MONTHS
    records, skipped = read_records(results)
    for msg in skipped:
        console.print(f"[yellow]left out:[/] {escape(msg)}")
    if not records:
        raise UsageError(f"no cell records under {results}: run `rvf run --results {results}`")
    assumptions = CostAssumptions(label_usd_per_example, retrain_every_months)
    out = Console(width=220)
    for key, rows in group_rows(records, results, assumptions).items():
        out.print(cost_table(key, rows, volume, months, assumptions))
        out.print(escape(cheapest_sentence([project(r, volume, months) for r in rows], volume))
                  + "\n")


def cost_table(key, rows, volume: int, months: int, assumptions) -> Table:
    from harness.analysis import break_even, project
    from harness.formats import fmt, usd

    retrain = assumptions.retrain_every_months
    table = Table(title=f"{key.task} (v{key.version}): {volume:,} queries/month; one-off costs "
                        f"spread over {months} month(s)"
                        + (f"; trained rows retrained every {retrain} month(s)" if retrain else ""),
                  title_justify="left")
    for col in ("#", "strategy", "model", rows[0].record.primary_metric, "$/1k queries",
                "queries $/month", "training $", "index $",
                f"labelling $ (${assumptions.label_usd_per_example:g}/example)", "$/month",
                "first month $", "break-even", "note"):
        table.add_column(col)
    for row in rows:
        p = project(row, volume, months)
        table.add_row(str(p.rank), p.strategy, p.model, fmt(p.quality), usd(p.per_1k_usd),
                      usd(p.queries_usd), usd(p.start.training), usd(p.start.index),
                      usd(p.start.labelling), usd(p.monthly_usd), usd(p.first_month_usd),
                      escape(break_even(row, rows)), escape(p.reason))
    return table


@cli.command()
@click.argument("baseline", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.argument("new", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--fail-on", "gates", multiple=True, metavar="METRIC:TOLERANCE",
              help="Exit 1 when METRIC got worse than the baseline by more than TOLERANCE, "
                   "absolute (macro_f1:0.02) or relative (macro_f1:2%, "
                   "cost_per_1k_queries_usd:+10%). Repeatable. Fails closed: a figure no "
                   "record has, a cell without a baseline record or a figure without a value "
                   "exits 1 too.")
@click.option("--allow-missing", is_flag=True,
              help="With --fail-on: a cell without a baseline record, or a figure without a "
                   "value, is a note instead of a failure.")
def compare(baseline: Path, new: Path, gates: tuple[str, ...], allow_missing: bool) -> None:
    """Per-cell deltas of every metric, cost and latency between two results directories."""
    from harness.compare import Gate, compare_dirs

    parsed = [Gate.parse(g) for g in gates]
    deltas, breaches, notes = compare_dirs(baseline, new, parsed, allow_missing)
    out = Console(width=200)
    table = Table(title=f"{baseline} -> {new}", title_justify="left")
    for col in ("cell", "figure", "baseline", "new", "change", "change %"):
        table.add_column(col)
    for d in deltas:
        rel = "n/a" if d.relative is None else f"{d.relative:+.1%}"
        table.add_row(d.cell, d.figure, f"{d.old:.4g}", f"{d.new:.4g}", f"{d.change:+.3f}", rel)
    out.print(table)
    for note in notes:
        console.print(f"[yellow]note:[/] {note}")
    for message in breaches:
        console.print(f"[red]gate failed:[/] {escape(message)}")
    if breaches:
        sys.exit(1)


@cli.command()
@click.option("--task", "tasks", multiple=True, help=f"Task name (repeatable). Default: {DEFAULT_TASK}.")
@click.option("--task-arg", "task_args", multiple=True, metavar="[TASK.]K=V",
              help="Task factory argument (repeatable), as for `rvf run`.")
@click.option("--split", default="test", show_default=True, help="The split to audit against train.")
def audit(tasks: tuple[str, ...], task_args: tuple[str, ...], split: str) -> None:
    """Leakage audit: exact and near duplicates between a task's test split and train (and, for
    free-text tasks with a corpus, answers found verbatim in it). Runs no model."""
    from harness.audit import MEASURE, NEAR, SIMILAR, audit_task
    from harness.cell import check_scopes

    registry = _registry()
    kv = _parse_kv(task_args, "--task-arg")
    tasks = tasks or (DEFAULT_TASK,)
    check_scopes(registry, "task", kv, tasks, "--task-arg")
    out = Console()
    for name in tasks:
        task = registry.make("task", name, {**kv.get("", {}), **kv.get(name, {})})
        if split not in task.splits:
            raise UsageError(f"task {name!r} has no {split!r} split (it has "
                             f"{', '.join(task.splits)})")
        found = audit_task(task, split=split)
        table = Table(title=f"{name}: {split} ({found.n_test}) against train ({found.n_train})"
                            + (f" — {task.source}" if task.source else ""), title_justify="left")
        for col in ("test items", "count", "share", "same label as the train item"):
            table.add_column(col)
        for what, n, same in (("exact copies (normalised)", found.exact, found.exact_same_label),
                              (f"near copies (>= {NEAR})", found.near, found.near_same_label),
                              (f"similar (>= {SIMILAR})", found.similar, None)):
            table.add_row(what, f"{n:,}", f"{n / max(found.n_test, 1):.1%}",
                          "" if same is None else f"{same:,}")
        if found.answer_in_corpus is not None:
            table.add_row("reference answer verbatim in the corpus", f"{found.answer_in_corpus:,}",
                          f"{found.answer_in_corpus / max(found.n_test, 1):.1%}", "")
        out.print(table)
        out.print(f"measure: {MEASURE}", soft_wrap=True)
        for e in found.examples:
            out.print(f"  {e['similarity']:.2f}  {e['test_id']}: {escape(e['test_text'][:70])!r}"
                      f"  ~  {e['train_id']}: {escape(e['train_text'][:70])!r}", soft_wrap=True)
        out.print()


@cli.command(name="list")
def list_() -> None:
    """Show every task, strategy, backend and scorer, and which plugin provides it."""
    registry = _registry()
    kinds = (("task", "tasks"), ("strategy", "strategies"),
             ("backend", "backends (model prefix)"), ("scorer", "scorers"))
    entries = [e for kind, _ in kinds for e in registry.entries(kind)]
    # Wide enough for every name and origin in full, with room for the description: on a narrow
    # terminal the lines wrap instead of a cut origin.
    needed = max(len(e.name) + 4 for e in entries) + max(len(e.origin) for e in entries) + 40
    out = Console(width=max(Console().width, needed))
    for kind, title in kinds:
        table = Table(title=title, title_justify="left")
        # Names and origins are what a user copies: never cut or wrapped; descriptions wrap.
        table.add_column("name", no_wrap=True, overflow="fold")
        table.add_column("origin", no_wrap=True, overflow="fold")
        table.add_column("description", ratio=1)
        for e in registry.entries(kind):
            table.add_row(e.name + ("/..." if kind == "backend" else ""), e.origin, e.description)
        out.print(table)
    for err in registry.plugin_errors:
        out.print(f"[red]{err}[/]")


def _registry():
    from harness.registry import default_registry

    registry = default_registry()
    for err in registry.plugin_errors:
        console.print(f"[yellow]warning:[/] {err}")
    return registry


RESUME_LINE = ("[yellow]interrupted:[/] finished cells and cached answers are kept; run the same "
               "command again to resume")


def main() -> None:
    # A shell that starts a job with `&` non-interactively sets SIGINT to "ignore", and Python
    # keeps that: rvf could then not be interrupted (kill -INT, Ctrl-C after `fg`).
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        rc = cli.main(standalone_mode=False)
    except click.exceptions.Abort:  # click's name for a KeyboardInterrupt inside a command
        console.print(RESUME_LINE)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except (UsageError, DataError) as exc:
        console.print(f"[red]error:[/] {escape(str(exc))}")
        sys.exit(2)
    except KeyboardInterrupt:
        console.print(RESUME_LINE)
        sys.exit(130)
    except RvfError as exc:
        console.print(f"[red]error:[/] {escape(str(exc))}")
        sys.exit(1)
    sys.exit(rc if isinstance(rc, int) else 0)
