"""The review stage's definitions: the items loaded for the console, and the loop back."""

import dagster as dg

from pipelines.review.assets import accepted_records, review_items
from pipelines.review.sensors import reviews_done_sensor

review_job = dg.define_asset_job(
    "review_job", selection=dg.AssetSelection.groups("review"),
    description="Load a batch's flagged fields into the review database and build the records of "
    "its books that need no review.",
)
accepted_records_job = dg.define_asset_job(
    "accepted_records_job", selection=dg.AssetSelection.assets("accepted_records", "issued_records"),
    description="Rebuild a batch's accepted records from its decisions and the reviewers' corrections, "
    "and issue the books that became complete.",
)

defs = dg.Definitions(assets=[review_items, accepted_records], sensors=[reviews_done_sensor],
                      jobs=[review_job, accepted_records_job])
