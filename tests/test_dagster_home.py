"""The embedded instance's dagster.yaml: it loads, queues runs and retries failed ones; an
old one hocba wrote is upgraded, anyone else's is left alone."""

from __future__ import annotations

import logging

import dagster as dg
import pytest

from pipelines import dagster_home
from pipelines.dagster_home import PREVIOUS_DAGSTER_YAMLS, ensure_dagster_home
from pipelines.settings import get_settings


@pytest.fixture
def dhome(hocba_home, monkeypatch):
    home = hocba_home / "dagster"
    monkeypatch.setenv("DAGSTER_HOME", str(home))  # restored after the test
    return home


def _load(home) -> dg.DagsterInstance:
    assert dg.DagsterInstance.get().root_directory == str(home)
    return dg.DagsterInstance.get()


def test_written_instance_loads_with_run_retries_and_a_run_queue(dhome):
    home = ensure_dagster_home(get_settings())
    assert home == dhome and (home / "dagster.yaml").read_text().startswith("# Written by hocba.")
    with _load(home) as inst:
        assert inst.run_retries_enabled
        assert inst.run_retries_max_retries == 1
        assert inst.get_concurrency_config().run_queue_config.max_concurrent_runs == 2
        assert inst.get_settings("telemetry") == {"enabled": False}
        # The daemon that re-executes failed runs is one `hocba ui` starts.
        assert "EVENT_LOG_CONSUMER" in inst.get_required_daemon_types()


def test_a_file_an_old_hocba_wrote_is_upgraded_keeping_max_concurrent_runs(dhome):
    dhome.mkdir(parents=True)
    (dhome / "dagster.yaml").write_text(PREVIOUS_DAGSTER_YAMLS[0].format(max_concurrent_runs=3))
    ensure_dagster_home(get_settings())
    with _load(dhome) as inst:
        assert inst.run_retries_enabled
        assert inst.get_concurrency_config().run_queue_config.max_concurrent_runs == 3
    assert "run_coordinator" not in (dhome / "dagster.yaml").read_text()


def test_someone_elses_dagster_yaml_is_left_alone(dhome, caplog):
    dhome.mkdir(parents=True)
    theirs = "telemetry:\n  enabled: false\nrun_queue:\n  max_concurrent_runs: 7\n"
    (dhome / "dagster.yaml").write_text(theirs)
    with caplog.at_level(logging.INFO, logger=dagster_home.__name__):
        ensure_dagster_home(get_settings())
    assert (dhome / "dagster.yaml").read_text() == theirs
    assert caplog.records == []
    with _load(dhome) as inst:
        assert not inst.run_retries_enabled


def test_a_hocba_file_edited_by_hand_is_kept_with_a_warning(dhome, caplog):
    dhome.mkdir(parents=True)
    edited = (PREVIOUS_DAGSTER_YAMLS[0].format(max_concurrent_runs=2)
              + "python_logs:\n  python_log_level: INFO\n")
    (dhome / "dagster.yaml").write_text(edited)
    with caplog.at_level(logging.WARNING, logger=dagster_home.__name__):
        ensure_dagster_home(get_settings())
    assert (dhome / "dagster.yaml").read_text() == edited
    assert "run_retries" in caplog.text and "kept" in caplog.text
