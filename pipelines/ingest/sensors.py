"""The inbox sensor: a batch folder with a manifest.csv becomes a partition and a run."""


import dagster as dg

from pipelines.partitions import scan_batches
from pipelines.resources import InboxResource


def new_batch_keys(inbox: InboxResource, known: set[str]) -> list[str]:
    return [k for k in inbox.ready_batches() if k not in known]


@dg.sensor(
    name="inbox_sensor",
    job_name="scan_batch_job",
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Registers each new inbox/<district>/<school>/<batch>/ with a manifest.csv "
    "as a scan_batches partition and requests its run (scan_batch_job).",
)
def inbox_sensor(context: dg.SensorEvaluationContext, inbox: InboxResource):
    known = set(context.instance.get_dynamic_partitions(scan_batches.name))
    keys = new_batch_keys(inbox, known)
    if not keys:
        return dg.SkipReason("no new batch folder with a manifest.csv")
    context.log.info(f"new scan batches: {len(keys)}")
    return dg.SensorResult(
        run_requests=[dg.RunRequest(partition_key=k, run_key=f"scan_batch:{k}") for k in keys],
        dynamic_partitions_requests=[scan_batches.build_add_request(keys)],
    )
