"""The hocba code location: every stage's definitions merged, global policies set once."""

import dagster as dg

from pipelines.ingest.definitions import defs as ingest_defs
from pipelines.resources import default_resources

defs = dg.Definitions.merge(
    ingest_defs,
    dg.Definitions(
        resources=default_resources(),
        # One process per step: per-page parallelism lives inside steps (worker pools),
        # so stacking Dagster's multiprocess executor on a 2-core box only oversubscribes.
        executor=dg.multiprocess_executor.configured({"max_concurrent": 1}),
    ),
)
