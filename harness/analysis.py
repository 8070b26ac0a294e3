"""What the records say, before any rendering: rows ranked per table, paired tests against the
top row, the Pareto front on quality vs cost, break-even volumes, learning curves and monthly
cost projections.

Consumed by the markdown leaderboard (harness/leaderboard.py), the plots (harness/plots.py) and
`rvf cost`; none of those imports another. Rows are ranked together only when they were scored on
the same samples of the same data: each (task, version, dataset hash, scored sample ids) is its
own table (`TableKey`).

Break-even volume: the number of queries after which a row's total cost (training + queries) is
below that of every alternative that is cheaper to start and of equal or better quality (higher
primary metric, or not significantly different); "never" when its per-query cost is not lower;
"—" when no such alternative exists.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import UsageError
from harness.formats import fmt, model_label, usd
from harness.records import CellRecord, cells_dir, sample_ids_sha256
from harness.scoring.paired import PairedTest, paired_test
from harness.types import TrainingInfo

ALPHA = 0.05


@dataclass(frozen=True)
class CostAssumptions:
    """What no record can know, given by the user: what labelling an example costs, and how often
    a trained model is retrained (None: trained once)."""

    label_usd_per_example: float = 0.0
    retrain_every_months: int | None = None

    def __post_init__(self) -> None:
        if self.label_usd_per_example < 0:
            raise UsageError(f"label_usd_per_example must be >= 0, got {self.label_usd_per_example}")
        if self.retrain_every_months is not None and self.retrain_every_months < 1:
            raise UsageError(f"retrain_every_months must be >= 1, got {self.retrain_every_months}")


@dataclass(frozen=True)
class StartCosts:
    """What a row costs before its first query, each part on its own (None = unknown)."""

    training: float | None
    index: float | None
    labelling: float | None
    labelled_examples: int | None

    @property
    def total(self) -> float:
        """The known parts (an unknown part counts 0: `unknown` says which are missing)."""
        return sum(x for x in (self.training, self.index, self.labelling) if x is not None)

    @property
    def recurring(self) -> float:
        """What each retraining pays again: the training compute and fresh labelled data (the
        index is built once)."""
        return (self.training or 0.0) + (self.labelling or 0.0)

    @property
    def unknown(self) -> list[str]:
        parts = {"training": self.training, "index": self.index, "labelling": self.labelling}
        return [name for name, usd in parts.items() if usd is None]


def start_costs(record: CellRecord, assumptions: CostAssumptions) -> StartCosts:
    """Training compute, index build compute and labelling of the examples the row used; a part
    the strategy does not have is 0, a part it has without a figure is None."""
    t = record.training
    training = 0.0 if t is None else t.training_cost_usd
    index = 0.0 if record.index is None else record.index.cost_usd
    n = record.labelled_examples
    price = assumptions.label_usd_per_example
    labelling = 0.0 if price == 0 else (None if n is None else n * price)
    return StartCosts(training, index, labelling, n)


@dataclass
class Row:
    """One cell record with what the leaderboard derives from it."""

    record: CellRecord
    scores: dict[str, float] = field(default_factory=dict)  # sample id -> per-sample score
    rank: int = 0
    versus_top: PairedTest | None = None
    assumptions: CostAssumptions = field(default_factory=CostAssumptions)

    @property
    def quality(self) -> float | None:
        m = self.record.metrics.get(self.record.primary_metric)
        return None if m is None else m.value

    @property
    def higher_is_better(self) -> bool:
        m = self.record.metrics.get(self.record.primary_metric)
        return True if m is None else m.higher_is_better

    @property
    def training(self) -> TrainingInfo | None:
        return self.record.training

    @property
    def start_costs(self) -> StartCosts:
        return start_costs(self.record, self.assumptions)

    @property
    def start_cost(self) -> float:
        """What it costs before the first query: training, index build and labelling."""
        return self.start_costs.total

    @property
    def per_query(self) -> float | None:
        c = self.record.cost_per_1k_queries_usd
        return None if c is None else c / 1000

    @property
    def label(self) -> str:
        return f"#{self.rank} {self.record.strategy.name} / {model_label(self.record)}"


def _sort_key(row: Row) -> tuple:
    q = row.quality
    if q is None:
        return (1, 0.0)
    return (0, -q if row.higher_is_better else q)


def load_scores(results: Path, record: CellRecord) -> dict[str, float]:
    """Per-sample scores from the record's predictions file (empty when it has none)."""
    path = cells_dir(results) / record.predictions_file
    scores: dict[str, float] = {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return scores
    for line in lines:
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(row.get("score"), int | float):
            scores[row["sample_id"]] = float(row["score"])
    return scores


def rank_rows(rows: list[Row], seed: int = 0) -> None:
    """Rank in place by quality and test every row against the top one."""
    rows.sort(key=_sort_key)
    for i, row in enumerate(rows, 1):
        row.rank = i
    top = rows[0]
    for row in rows[1:]:
        row.versus_top = paired_test(top.scores, row.scores, seed) if top.scores and row.scores \
            else None


def equal_or_better(alt: Row, row: Row) -> bool:
    """Is `alt` at least as good as `row`: better primary metric, or no significant difference."""
    if alt.quality is None or row.quality is None:
        return False
    better = alt.quality >= row.quality if row.higher_is_better else alt.quality <= row.quality
    if better:
        return True
    test = paired_test(alt.scores, row.scores) if alt.scores and row.scores else None
    return test is not None and test.p_value >= ALPHA


def payback_queries(row: Row, alt: Row, gap: float | None = None) -> float | None:
    """Queries after which `row`'s lower $/query has paid back `gap` against `alt` (default: its
    extra start-up cost); None when its $/query is not lower. Both prices must be known."""
    if row.per_query >= alt.per_query:
        return None
    gap = row.start_cost - alt.start_cost if gap is None else gap
    return max(gap, 0.0) / (alt.per_query - row.per_query)


def break_even(row: Row, rows: list[Row]) -> str:
    """Queries after which `row` costs less in total than every cheaper-to-start, as-good row.

    Every start-up cost counts (`StartCosts`). With a retraining cadence of M months, a trained
    row pays its recurring costs (`StartCosts.recurring`) again every M months, so the answer is
    a steady-state monthly volume: the queries one cycle needs to pay the recurring difference
    back, divided by M.
    """
    rivals = [a for a in rows if a is not row and a.start_cost < row.start_cost
              and equal_or_better(a, row)]
    if not rivals:
        return "—"
    months = row.assumptions.retrain_every_months if row.training is not None else None
    worst: tuple[float, Row] | None = None
    for alt in rivals:
        if row.per_query is None or alt.per_query is None:
            return "unknown (no price)"
        gap = (row.start_costs.recurring - alt.start_costs.recurring) / months if months \
            else None
        volume = payback_queries(row, alt, gap)
        if volume is None:
            return f"never (vs {alt.label})"
        if worst is None or volume > worst[0]:
            worst = (volume, alt)
    if months:
        return (f"{math.ceil(worst[0]):,} q/month, retrained every {months} month(s) "
                f"(vs {worst[1].label})")
    return f"{math.ceil(worst[0]):,} q (vs {worst[1].label})"


def pareto(rows: list[Row]) -> list[Row]:
    """Rows with a known cost that no other row beats on both quality and $/1k queries."""
    known = [r for r in rows if r.quality is not None and r.per_query is not None]

    def beats(a: Row, b: Row) -> bool:
        qa, qb = (a.quality, b.quality) if a.higher_is_better else (-a.quality, -b.quality)
        return qa >= qb and a.per_query <= b.per_query and (qa > qb or a.per_query < b.per_query)

    return [r for r in known if not any(beats(o, r) for o in known if o is not r)]


def learning_curves(rows: list[Row]) -> list[list[Row]]:
    """Trained rows that differ only in training-set size, one curve per strategy, model and
    other arguments (a Q4 or differently configured row is not a point on the fp32 curve), each
    by size; a curve needs two sizes or more."""
    groups: dict[str, list[Row]] = {}
    for r in rows:
        if r.training is not None and r.training.train_examples and r.quality is not None:
            args = {k: v for k, v in r.record.strategy.args.items() if k != "train_size"}
            key = json.dumps([r.record.strategy.name, r.record.model.spec, args,
                              r.record.decoding.get("mode", "none")], sort_keys=True, default=str)
            groups.setdefault(key, []).append(r)
    return [sorted(g, key=lambda r: r.training.train_examples) for g in groups.values()
            if len({r.training.train_examples for r in g}) > 1]


@dataclass(frozen=True, order=True)
class TableKey:
    """What rows must share to be ranked in one table: the task, its version and data, and the
    exact set of test samples scored (a --limit 20 row and a --limit 40 row are not compared)."""

    task: str
    version: str
    dataset_sha256: str
    sample_ids_sha256: str  # "" when unknown (an old record without its predictions file)
    n: int

    @property
    def stem(self) -> str:
        """A short, file-name-safe id of the table (plot file names)."""
        return f"{self.dataset_sha256[:8]}-{self.sample_ids_sha256[:6] or 'unknown'}"


def group_rows(records: list[CellRecord], results: Path | None = None,
               assumptions: CostAssumptions | None = None) -> dict[TableKey, list[Row]]:
    """Ranked rows per table (see TableKey); per-sample scores read from `results`."""
    groups: dict[TableKey, list[Row]] = defaultdict(list)
    for r in records:
        scores = load_scores(results, r) if results is not None else {}
        ids = r.task.sample_ids_sha256 or (sample_ids_sha256(scores) if scores else "")
        key = TableKey(r.task.name, r.task.version, r.task.dataset_sha256, ids, r.task.n)
        groups[key].append(Row(r, scores, assumptions=assumptions or CostAssumptions()))
    for rows in groups.values():
        rank_rows(rows)
    return dict(sorted(groups.items(), key=lambda kv: (kv[0].task, -kv[0].n, kv[0])))


def table_detail(key: TableKey, keys: list[TableKey]) -> str:
    """"vN", plus what tells a task's tables apart when it has several: the data, when versions
    or datasets differ, and n with the sample set."""
    siblings = [k for k in keys if k.task == key.task]
    parts = [f"v{key.version}"]
    if len({(k.version, k.dataset_sha256) for k in siblings}) > 1:
        parts.append(f"data {key.dataset_sha256[:12]}")
    if len(siblings) > 1:
        parts.append(f"n = {key.n}, samples {key.sample_ids_sha256[:8] or 'unknown'}")
    return ", ".join(parts)


def table_title(key: TableKey, keys: list[TableKey]) -> str:
    return f"{key.task} ({table_detail(key, keys)})"


# -- monthly cost at a query volume (`rvf cost`) -------------------------------------------------------

# Training is a one-off; spreading it over a year is the usual budgeting horizon for a model that
# is retrained about yearly. `--amortize-months` overrides it (1 = pay it all in the first month).
DEFAULT_AMORTIZE_MONTHS = 12


@dataclass(frozen=True)
class Projection:
    """One row's projected monthly cost at `volume` queries per month."""

    task: str
    rank: int
    strategy: str
    model: str
    quality: float | None
    primary_metric: str
    per_1k_usd: float | None  # measured $/1k queries; None = no price
    start: StartCosts  # one-off training, index and labelling costs
    queries_usd: float | None  # volume x per-query cost
    monthly_usd: float | None  # queries + start-up costs spread over the months
    first_month_usd: float | None  # queries + every start-up cost
    reason: str  # why a cost is unknown ("" when known)


def project(row: Row, volume: int, amortize_months: int) -> Projection:
    """Monthly cost of `row` at `volume` queries a month. One-off costs are spread over
    `amortize_months`; with a retraining cadence of M months, training and labelling recur and
    are spread over M instead."""
    if volume < 0:
        raise UsageError(f"volume must be >= 0, got {volume}")
    if amortize_months < 1:
        raise UsageError(f"amortize_months must be >= 1, got {amortize_months}")
    r, start = row.record, row.start_costs
    queries = None if row.per_query is None else volume * row.per_query
    monthly = first = None
    reason = ""
    if queries is None:
        reason = r.cost_basis or "no price for this model"
    elif start.unknown:
        reason = f"{' and '.join(start.unknown)} cost unknown"
    else:
        cycle = row.assumptions.retrain_every_months if row.training is not None else None
        monthly = (queries + start.recurring / (cycle or amortize_months)
                   + start.index / amortize_months)
        first = queries + start.total
    return Projection(task=r.task.name, rank=row.rank, strategy=r.strategy.name,
                      model=model_label(r), quality=row.quality, primary_metric=r.primary_metric,
                      per_1k_usd=r.cost_per_1k_queries_usd, start=start, queries_usd=queries,
                      monthly_usd=monthly, first_month_usd=first, reason=reason)


def cheapest_sentence(projections: list[Projection], volume: int) -> str:
    """One line per task: each strategy's best-quality row and its monthly cost."""
    best: dict[str, Projection] = {}
    for p in sorted(projections, key=lambda p: p.rank):
        best.setdefault(p.strategy, p)
    parts = [f"{p.strategy} ({p.model}, {p.primary_metric} {fmt(p.quality)}) "
             + ("unknown" if p.monthly_usd is None else f"${usd(p.monthly_usd)}")
             for p in best.values()]
    return f"at {volume:,} queries/month: " + "; ".join(parts)

