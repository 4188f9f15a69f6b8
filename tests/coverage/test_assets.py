"""The coverage asset through Dagster on an installation with nothing yet, and its sensor."""

from __future__ import annotations

import dagster as dg


def _sensor(defs, instance, cursor=None):
    sensor = defs.resolve_sensor_def("coverage_sensor")
    with dg.build_sensor_context(instance=instance, resources=defs.resources or {}, cursor=cursor) as ctx:
        return sensor(ctx), ctx.cursor


def test_coverage_materializes_on_an_empty_installation_and_the_sensor_follows_changes(hocba_home):
    from pipelines.coverage_tables import load_coverage
    from pipelines.dagster_home import instance as get_instance
    from pipelines.definitions import build_defs
    from pipelines.runner import compute_coverage
    from pipelines.settings import get_settings
    from pipelines.storage import Storage

    defs, instance = build_defs(), get_instance(get_settings())
    first, cursor = _sensor(defs, instance)
    assert isinstance(first, dg.RunRequest) and cursor
    again, _ = _sensor(defs, instance, cursor)
    assert isinstance(again, dg.SkipReason)  # nothing changed

    run = compute_coverage(defs, instance)
    assert run.success and run.failed_checks == (), run
    tables = load_coverage(Storage(get_settings().storage_root))
    assert tables.materialized is False  # no school yet: empty tables, with their columns
    assert list(tables.schools.columns)[:2] == ["district", "school"]
    assert tables.headline() == {"records_issued": 0, "students_expected": 0, "coverage_pct": 0.0}
    ev = instance.get_latest_materialization_event(dg.AssetKey("coverage_schools"))
    assert ev.asset_materialization.metadata["coverage_pct"].value == 0.0

    # A materialization of something coverage counts changes the fingerprint: the sensor asks again.
    instance.report_runless_asset_event(dg.AssetMaterialization(dg.AssetKey("page_layouts"), partition=None))
    after, _ = _sensor(defs, instance, cursor)
    assert isinstance(after, dg.RunRequest)
