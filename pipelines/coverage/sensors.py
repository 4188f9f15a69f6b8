"""Coverage follows the work: recomputed when anything it counts has changed."""

import dagster as dg

from pipelines.coverage.assets import UPSTREAM
from pipelines.issue.ledger import last_seq
from pipelines.resources import ReviewDatabaseResource
from pipelines.review.queries import activity


def fingerprint(instance: dg.DagsterInstance, engine) -> str:
    """Changes whenever a counted asset is materialized, a review item changes state, or the ledger grows."""

    ids = []
    for name in UPSTREAM:
        ev = instance.get_latest_materialization_event(dg.AssetKey(name))
        ids.append(f"{ev.run_id}@{ev.timestamp}" if ev is not None else "-")
    items = activity(engine)
    return ":".join([*ids, str(items.items), str(items.last_resolved_at), str(items.status_length),
                     str(last_seq(engine))])


@dg.sensor(
    name="coverage_sensor", job_name="coverage_job", minimum_interval_seconds=300,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Recomputes coverage (at most every 5 minutes) when a batch's tables, a review item or the "
    "ledger changed since it last ran.",
)
def coverage_sensor(context: dg.SensorEvaluationContext, review_db: ReviewDatabaseResource):
    fp = fingerprint(context.instance, review_db.engine())
    if fp == context.cursor:
        return dg.SkipReason("nothing coverage counts has changed")
    context.update_cursor(fp)
    return dg.RunRequest(run_key=f"coverage:{fp}")
