"""The review loop: a batch whose last open review item is resolved gets its records rebuilt."""

import dagster as dg

from pipelines.resources import ReviewDatabaseResource
from pipelines.review.store import batch_counts, last_resolved


def finished_batches(engine) -> dict[str, str]:
    """Batches with review items, none open or claimed: batch → time of the last resolution.

    The time goes into the run key, so a batch reopened and finished again (a second-review
    disagreement, a late correction) runs again, and an unchanged one never twice."""

    last = last_resolved(engine)
    return {batch: last[batch].isoformat() if last.get(batch) else "none"
            for batch, c in batch_counts(engine).items() if not (c.get("open", 0) or c.get("claimed", 0))}


@dg.sensor(
    name="reviews_done_sensor",
    job_name="accepted_records_job",
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="When a scan batch has no open review item left, rebuilds its accepted_records "
    "with the reviewers' corrections (once per set of corrections).",
)
def reviews_done_sensor(context: dg.SensorEvaluationContext, review_db: ReviewDatabaseResource):
    done = finished_batches(review_db.engine())
    if not done:
        return dg.SkipReason("no batch has finished its reviews")
    return [dg.RunRequest(partition_key=b, run_key=f"reviews_done:{b}:{t}") for b, t in sorted(done.items())]
