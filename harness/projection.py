"""`rvf cost`: what each measured row would cost per month at a given query volume.

The statement a team wants ("prompting costs $X a month at our volume, the fine-tuned model $Y")
comes straight from the cell records: the measured $/1k queries (tokens x the price table for
hosted models, compute time x hardware $/h for local ones) times the volume, plus training spread
over an amortisation period. Nothing is re-priced here: a row without a price stays unknown, with
its record's `cost_basis` as the reason, rather than being guessed.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.leaderboard import Row, fmt, model_label, usd

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
    training_usd: float  # one-off training cost (0 when the strategy does not train)
    queries_usd: float | None  # volume x per-query cost
    monthly_usd: float | None  # queries + training / amortize_months
    first_month_usd: float | None  # queries + the whole training cost
    reason: str  # why a cost is unknown ("" when known)


def project(row: Row, volume: int, amortize_months: int) -> Projection:
    """Monthly cost of `row` at `volume` queries a month, training amortised over the months."""
    if volume < 0:
        raise ValueError("volume must be >= 0")
    if amortize_months < 1:
        raise ValueError("amortize_months must be >= 1")
    r = row.record
    training = row.start_cost
    unknown_training = bool(row.training) and row.training.get("training_cost_usd") is None
    queries = None if row.per_query is None else volume * row.per_query
    monthly = first = None
    reason = ""
    if queries is None:
        reason = r.cost_basis or "no price for this model"
    elif unknown_training:
        reason = "training cost unknown"
    else:
        monthly = queries + training / amortize_months
        first = queries + training
    return Projection(task=r.task.name, rank=row.rank, strategy=r.strategy.name,
                      model=model_label(r), quality=row.quality, primary_metric=r.primary_metric,
                      per_1k_usd=r.cost_per_1k_queries_usd, training_usd=training,
                      queries_usd=queries, monthly_usd=monthly, first_month_usd=first,
                      reason=reason)


def cheapest_sentence(projections: list[Projection], volume: int) -> str:
    """One line per task: each strategy's best-quality row and its monthly cost."""
    best: dict[str, Projection] = {}
    for p in sorted(projections, key=lambda p: p.rank):
        best.setdefault(p.strategy, p)
    parts = [f"{p.strategy} ({p.model}, {p.primary_metric} {fmt(p.quality)}) "
             + ("unknown" if p.monthly_usd is None else f"${usd(p.monthly_usd)}")
             for p in best.values()]
    return f"at {volume:,} queries/month: " + "; ".join(parts)

