"""The inbox sensor: a batch folder with a manifest.csv becomes a partition and a run."""


import dagster as dg

from pipelines.ingest.inbox import ready_batches
from pipelines.partitions import scan_batches
from pipelines.resources import InboxResource


def new_batch_keys(inbox: InboxResource, known: set[str], log=None) -> list[str]:
    """Keys of new batch folders with a manifest.csv; a district, school or batch entry
    that is a link is never followed (it is logged, not registered)."""
    keys = []
    for key, refused in ready_batches(inbox.storage()):
        if refused is not None:
            if log is not None:
                log.warning(f"inbox/{key} is {refused.describe()}, not a folder: not followed")
        elif key not in known:
            keys.append(key)
    return keys


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
    keys = new_batch_keys(inbox, known, context.log)
    if not keys:
        return dg.SkipReason("no new batch folder with a manifest.csv")
    context.log.info(f"new scan batches: {len(keys)}")
    return dg.SensorResult(
        run_requests=[dg.RunRequest(partition_key=k, run_key=f"scan_batch:{k}") for k in keys],
        dynamic_partitions_requests=[scan_batches.build_add_request(keys)],
    )
