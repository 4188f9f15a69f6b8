"""The hocba code location: every stage's definitions merged, global policies set once.

Dagster's loader wants exactly one Definitions object at module scope, so stage
definitions are reached through their modules, never imported by name here.
"""

import dagster as dg

from pipelines.ingest import definitions as ingest
from pipelines.resources import default_resources


def build_defs() -> dg.Definitions:
    """Definitions bound to the current settings (tests build them per HOCBA_HOME)."""
    return dg.Definitions.merge(
        ingest.defs,
        dg.Definitions(
            resources=default_resources(),
            # One step at a time per run: per-page parallelism lives inside steps
            # (worker pools), so running steps in parallel on 2 cores only oversubscribes.
            executor=dg.multiprocess_executor.configured({"max_concurrent": 1}),
        ),
    )


defs = build_defs()
